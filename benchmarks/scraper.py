"""A Prometheus-like scraper for the relay benchmark's ``--admin-compare``: polls
``/metrics`` and ``/api/sessions`` every ``interval`` seconds in a thread, until stopped
(every request bounded by a timeout), and counts what it got."""

from __future__ import annotations

import threading
import urllib.request

TOKEN = "bench-admin-token"


class Scraper:
    def __init__(self, port: int, interval: float = 1.0) -> None:
        self.port = port
        self.interval = interval
        self.scrapes = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _get(self, path: str, token: bool) -> None:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        if token:
            req.add_header("Authorization", f"Bearer {TOKEN}")
        with urllib.request.urlopen(req, timeout=2) as resp:
            resp.read()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._get("/metrics", token=False)
                self._get("/api/sessions", token=True)
                self.scrapes += 1
            except OSError:
                self.failures += 1

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)
