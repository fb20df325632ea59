"""The HTTP API's keys as the router holds them: loaded from the registry at start and
again on an ``api_key`` change row (app/changes.py), so a new key works and a revoked
one stops within the registry poll."""

from __future__ import annotations

import structlog

from router.model.apikeys import ApiKeyBook
from router.store.api_keys import ApiKeyStore

log = structlog.get_logger("chapar.api_keys")


class ApiKeys:
    def __init__(self, store: ApiKeyStore) -> None:
        self._store = store
        self.book = ApiKeyBook(store.keys())

    def reload(self) -> None:
        self.book = ApiKeyBook(self._store.keys())
        log.info("api_keys_loaded", active=len(self.book))
