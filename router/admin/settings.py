"""Settings of the admin HTTP API and the metrics endpoint (validated by router.config)."""

from __future__ import annotations

from dataclasses import dataclass

from router.web import ListenerSettings


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminSettings(ListenerSettings):
    """Off loopback: ``tls_cert``/``tls_key`` and a token are required."""

    port: int = 9775
    token: str = ""
    """Bearer token for /api/.  ``CHAPAR_ADMIN_TOKEN`` overrides it; with neither, one is
    generated at first start into ``token_file`` (mode 0600) and its path logged."""
    token_file: str = "var/admin.token"
    metrics: bool = True
    """Serve Prometheus /metrics (no token on loopback, the token elsewhere)."""
    import_max_bytes: int = 1 << 30
    """The largest list file ``POST /api/lists/{kind}/import`` takes (a 10 M-row blacklist
    CSV is ~130 MB)."""
    top_accounts: int = 20
    """Per-account metric series: the busiest N accounts, the rest summed as ``other``."""
