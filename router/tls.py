"""TLS contexts: the ESME listener's second port and the admin API (server side), carrier
connections (client side).  TLS 1.2 and 1.3 only.  Both reload their files on SIGHUP; a
reload that cannot read them raises and leaves the certificates in use as they were."""

from __future__ import annotations

import ssl

MINIMUM = ssl.TLSVersion.TLSv1_2


def server_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MINIMUM
    context.load_cert_chain(cert, key)
    return context


def client_context(ca: str) -> ssl.SSLContext:
    """Verifies the carrier's certificate and name against ``ca`` (a PEM file), or against
    the system's trust store when ``ca`` is empty."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca or None)
    context.minimum_version = MINIMUM
    return context


class ServerTls:
    """One context for a listener's whole life: a reload loads the new certificate into it
    in place, so the running server hands it to the next handshake."""

    def __init__(self, cert: str, key: str) -> None:
        self.cert = cert
        self.key = key
        self.context = server_context(cert, key)

    def reload(self) -> None:
        server_context(self.cert, self.key)  # the files are whole and match, or this raises
        self.context.load_cert_chain(self.cert, self.key)


class ClientTls:
    """The context a carrier connection is opened with; a reload replaces it for the next
    connection (connections already up keep theirs)."""

    def __init__(self, ca: str, server_name: str) -> None:
        self.ca = ca
        self.server_name = server_name
        self.context = client_context(ca)

    def reload(self) -> None:
        self.context = client_context(self.ca)
