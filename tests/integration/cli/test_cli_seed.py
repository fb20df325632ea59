"""The registry seeded from the config before anything else happens: by ``chapar lines``
and ``chapar lists`` (subprocesses) before the router ever ran with that file, and by
``chapar run``, which keeps the public demo account off any registry a config file
names.  Routers listen on 127.0.0.1 only; the demo's embedded defaults on port 2775."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import smpplib.client
import smpplib.exceptions
import yaml

from router.store.lines import LineStore
from router.store.registry import Registry
from tests.conftest import PASSWORD, RouterProcess, router_config
from tests.integration.cli.support import (
    DEFAULT_PORT,
    embedded_router,
    log_events,
    ok,
    refused,
    summary,
    write_csv,
)

ROK, RBINDFAIL = 0x00, 0x0D


def test_lines_and_lists_before_the_router_ever_ran(tmp_path: Path, password_hash: str) -> None:
    """An account and a line named only in the YAML: the CLI seeds them as the router
    would, so adding a line to the account and a list to the line work at once."""
    registry_path = tmp_path / "var" / "registry.db"
    config = tmp_path / "chapar.yaml"
    config.write_text(yaml.safe_dump({
        "store": {"registry_path": str(registry_path)},
        "accounts": [{"system_id": "esme1", "password_hash": password_hash}],
        "lines": [{"number": "3000", "account": "esme1"}],
        "simulator": {"enabled": True},
    }))
    assert not registry_path.exists()
    assert "account: esme1" in ok("lines", "add", "4000", "--account", "esme1", config=config)
    numbers = write_csv(tmp_path / "customers.csv", [["09121234567"], ["09351234567"]])
    out = ok("lists", "import", "whitelist", str(numbers), "--line", "3000", config=config)
    assert summary(out)["accepted"] == "2"
    store = LineStore(registry_path)
    assert sorted(line.number for line in store.lines("esme1")) == ["3000", "4000"]
    whitelist = store.whitelist("3000")
    assert whitelist is not None and len(whitelist) == 2
    store.close()
    # a line neither the registry nor the YAML knows: the error says what to do
    refused("lists", "import", "optout", str(numbers), "--line", "5000", config=config,
            words="chapar lines add 5000")
    refused("lines", "add", "5000", "--account", "nobody", config=config,
            words="chapar accounts add nobody")


def bind(port: int, system_id: str, password: str) -> int:
    client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
    client.connect()
    try:
        client.bind_transceiver(system_id=system_id, password=password)
    except smpplib.exceptions.PDUError as exc:
        return int(exc.args[1])
    finally:
        client.disconnect()
    return ROK


def events_named(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("event") == name]


def test_config_file_suspends_the_demo_an_embedded_run_created(
        tmp_path: Path, password_hash: str) -> None:
    """``chapar run`` on the embedded defaults, then with a config file in the same
    directory (the same registry): the demo account, whose password the README prints,
    is suspended with a warning; the config's own accounts bind.  Back on the embedded
    defaults the demo stays suspended and the log says how to resume it."""
    first = tmp_path / "embedded.log"
    with embedded_router(tmp_path, first):
        assert bind(DEFAULT_PORT, "demo", "demo1234") == ROK
    assert events_named(log_events(first), "demo_account_enabled")

    router = RouterProcess(tmp_path, router_config(tmp_path, password_hash)).start()
    try:
        assert bind(router.port, "demo", "demo1234") == RBINDFAIL
        assert bind(router.port, "esme1", PASSWORD) == ROK
        warned = router.wait_event("demo_account_disabled")
        assert warned["level"] == "warning" and warned["system_id"] == "demo"
        assert not events_named(router.events(), "demo_account_enabled")
    finally:
        assert router.stop() == 0
    registry = Registry(tmp_path / "var" / "registry.db")
    demo = registry.get_account("demo")
    registry.close()
    assert demo is not None and demo.status == "suspended"

    again = tmp_path / "embedded-again.log"
    with embedded_router(tmp_path, again):
        assert bind(DEFAULT_PORT, "demo", "demo1234") == RBINDFAIL
    suspended = events_named(log_events(again), "demo_account_suspended")
    assert suspended and "chapar accounts resume demo" in suspended[0]["note"]
