"""Settings of the customers' HTTP API (validated by router.config)."""

from __future__ import annotations

from dataclasses import dataclass

from router.web import ListenerSettings


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpApiSettings(ListenerSettings):
    """Loopback by default: production puts a TLS proxy in front, or sets the cert."""

    enabled: bool = False
    port: int = 8080
    max_recipients: int = 1000
    """Numbers in one ``POST /v1/messages``."""
    max_segments: int = 10
    """Parts one message may take (a longer text is refused, naming the count)."""
    max_body_bytes: int = 1 << 20
    client_ref_ttl: float = 86400.0
    """Seconds a ``client_ref`` keeps its answer (a resend within it is never sent)."""
    answer_timeout: float = 10.0
    """Seconds a send waits for the journal's commit before it answers 503."""
