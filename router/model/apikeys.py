"""API keys of the HTTP API: ``chp_<key id>_<secret>``, shown once, kept as a digest.

The secret is 256 random bits, so a SHA-256 digest is as safe to keep as an argon2id
hash would be (nothing to guess) and costs a microsecond per request instead of the
~20 ms of CPU a password hash costs; the key id finds the row, the digest is compared
in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "chp"


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    system_id: str
    digest: bytes
    created_at: float
    note: str = ""
    revoked_at: float | None = None


def digest_of(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def new_key() -> tuple[str, str, bytes]:
    """(key id, the whole key to show once, its secret's digest to keep)."""
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    return key_id, f"{PREFIX}_{key_id}_{secret}", digest_of(secret)


def split_key(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or len(key_id) != 12 or not secret or len(presented) > 200:
        return None
    return key_id, secret


class ApiKeyBook:
    """The active keys by id, as the router holds them (reloaded on registry changes)."""

    def __init__(self, keys: list[ApiKey]) -> None:
        self._by_id = {k.key_id: k for k in keys if k.revoked_at is None}

    def __len__(self) -> int:
        return len(self._by_id)

    def match(self, presented: str) -> ApiKey | None:
        """The key ``presented`` is, when it is an active one."""
        parts = split_key(presented)
        if parts is None:
            return None
        found = self._by_id.get(parts[0])
        if found is None or not hmac.compare_digest(found.digest, digest_of(parts[1])):
            return None
        return found
