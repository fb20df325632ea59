"""The admin API's bearer token and the rule for where the API may listen.

The token comes from ``CHAPAR_ADMIN_TOKEN``, else ``admin.token`` in the config, else
the file ``admin.token_file`` (generated at first start, mode 0600).  Comparison is
constant-time (``hmac.compare_digest``) so response times do not leak a prefix.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from pathlib import Path

from router.admin.settings import AdminSettings

ENV = "CHAPAR_ADMIN_TOKEN"


class AdminConfigError(Exception):
    """The admin API cannot start as configured; the message is meant for the operator."""


def resolve_token(settings: AdminSettings, environ: dict[str, str] | None = None
                  ) -> tuple[str, str]:
    """(token, where it came from: ``env``, ``config`` or the token file's path)."""
    env = os.environ if environ is None else environ
    if env.get(ENV):
        return env[ENV], "env"
    if settings.token:
        return settings.token, "config"
    path = Path(settings.token_file)
    if path.exists():
        token = path.read_text(encoding="ascii").strip()
        if token:
            return token, str(path.resolve())
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(token + "\n")
    os.chmod(path, 0o600)
    return token, str(path.resolve())


def token_matches(expected: str, header: str | None) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), expected.encode())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(settings: AdminSettings, token: str) -> None:
    """Refuse a non-loopback address without TLS and a token."""
    if is_loopback(settings.host):
        return
    if not (settings.tls_cert and settings.tls_key):
        raise AdminConfigError(f"admin.host {settings.host!r} is not loopback: "
                               "admin.tls_cert and admin.tls_key are required")
    if not token:
        raise AdminConfigError(f"admin.host {settings.host!r} is not loopback: a token "
                               "is required")
