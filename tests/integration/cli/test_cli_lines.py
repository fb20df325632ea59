"""``chapar lines …`` run as an operator runs it (subprocesses), against a registry in a
temporary directory; results checked in the store itself."""

from __future__ import annotations

from pathlib import Path

from router.store.lines import LineStore
from router.store.registry import Registry
from tests.integration.cli.support import ok, refused


def store_of(registry_path: Path) -> LineStore:
    return LineStore(registry_path)


# --- lines ---------------------------------------------------------------------------------


def test_lines_lifecycle(config: Path, registry_path: Path) -> None:
    out = ok(
        "lines", "add", "30001234", "--account", "acme", "--kind", "service",
        "--purpose", "order tracking", "--operator", "IR-MCI", "--hours", "09:00-21:00",
        config=config,
    )  # fmt: skip
    assert "30001234" in out and "kind: service" in out and "hours: 09:00-21:00" in out
    ok("lines", "add", "2000", "--account", "bank", "--exemption", "bank_transaction",
       config=config)  # fmt: skip
    ok("lines", "add", "5000", "--account", "acme", config=config)
    got = store_of(registry_path).get_line("2000")
    assert got is not None and got.kind == "service" and got.exemption == "bank_transaction"

    listed = ok("lines", "list", config=config).splitlines()
    assert [line.split()[0] for line in listed] == ["2000", "30001234", "5000"]
    listed = ok("lines", "list", "--account", "acme", config=config).splitlines()
    assert [line.split()[0] for line in listed] == ["30001234", "5000"]
    assert "no lines" in ok("lines", "list", "--account", "nobody", config=config)

    shown = ok("lines", "show", "30001234", config=config)
    assert "account: acme" in shown and "operator: IR-MCI" in shown
    assert "whitelist: none" in shown and "opt-outs: 0" in shown
    assert "violations (24 h): 0" in shown

    ok("lines", "set", "30001234", "--hours", "22:00-06:00", "--purpose", "OTP",
       config=config)  # fmt: skip
    line = store_of(registry_path).get_line("30001234")
    assert line is not None and line.hours == (22 * 60, 6 * 60) and line.purpose == "OTP"
    ok("lines", "set", "30001234", "--hours", "", config=config)
    line = store_of(registry_path).get_line("30001234")
    assert line is not None and line.hours is None

    out = ok("lines", "demote", "30001234", "--reason", "advertised to non-customers",
             config=config)  # fmt: skip
    assert "demoted" in out
    line = store_of(registry_path).get_line("30001234")
    assert line is not None and line.status == "demoted"
    assert line.status_reason == "advertised to non-customers"
    assert "status: demoted: advertised" in ok("lines", "show", "30001234", config=config)
    ok("lines", "suspend", "5000", config=config)
    line = store_of(registry_path).get_line("5000")
    assert line is not None and line.status == "suspended" and line.status_reason
    ok("lines", "set", "5000", "--status", "active", config=config)
    line = store_of(registry_path).get_line("5000")
    assert line is not None and line.status == "active" and line.status_reason == ""
    ok("lines", "set", "2000", "--exemption", "none", "--kind", "advertising", config=config)
    line = store_of(registry_path).get_line("2000")
    assert line is not None and line.kind == "advertising" and line.exemption == ""

    changes = Registry(registry_path).changes_since(0)
    assert [key for _, kind, key in changes if kind == "line"] == [
        "30001234", "2000", "5000", "30001234", "30001234", "30001234", "5000", "5000", "2000",
    ]  # fmt: skip


def test_lines_refusals(config: Path) -> None:
    ok("lines", "add", "3000", "--account", "acme", config=config)
    refused("lines", "add", "3000", "--account", "acme", config=config, words="exists")
    refused("lines", "add", "3001", "--account", "nobody", config=config, words="no account")
    refused("lines", "add", "3001", "--account", "acme", "--hours", "9-21", config=config,
            words="HH:MM-HH:MM")  # fmt: skip
    refused("lines", "add", "3001", "--account", "acme", "--operator", "MCI", config=config,
            words="unknown operator 'MCI'")  # fmt: skip
    refused("lines", "add", "3001", "--account", "acme", "--kind", "advertising",
            "--exemption", "government", config=config, words="service lines only")  # fmt: skip
    refused("lines", "show", "9999", config=config, words="no line '9999'")
    refused("lines", "set", "9999", "--purpose", "x", config=config, words="no line")
    refused("lines", "set", "3000", config=config, words="nothing to change")
    refused("lines", "demote", "3000", config=config, words="only a service line")
    bad = config.parent / "bad.yaml"
    bad.write_text("store: [\n")
    refused("lines", "list", config=bad, words="not valid YAML")


def test_lines_violations(config: Path, registry_path: Path) -> None:
    import time

    ok("lines", "add", "3000", "--account", "acme", "--kind", "service", config=config)
    ok("lines", "add", "3001", "--account", "bank", "--kind", "service", config=config)
    now = time.time()
    store = store_of(registry_path)
    store.record_violations(
        [("3000", now - 60, "989121234567")] * 5
        + [("3001", now - 120, "989121234568")] * 2
        + [("3001", now - 3 * 86400, "989121234569")] * 9
    )
    out = ok("lines", "violations", config=config).splitlines()
    assert [line.split()[:3] for line in out] == [["3000", "5", "acme"], ["3001", "2", "bank"]]
    out = ok("lines", "violations", "--since-hours", "100", config=config).splitlines()
    assert [line.split()[:2] for line in out] == [["3001", "11"], ["3000", "5"]]
    assert "violations (24 h): 5" in ok("lines", "show", "3000", config=config)
    store.purge_violations(now + 1)
    assert "no violations" in ok("lines", "violations", config=config)
