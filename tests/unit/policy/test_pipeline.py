"""The per-message decision table: every line kind x list state x exemption."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from router.model.accounts import Account
from router.model.lines import Line, LineBook
from router.model.numbersets import ExpiringNumberSet, ListSnapshot, NumberSet
from router.model.status import REFUSALS, Refusal, status_for
from router.policy.addresses import Addresses
from router.policy.line_stage import LineStage, signature_of
from router.policy.lists import ListRegistry
from router.policy.pipeline import Pipeline, StageKit
from router.policy.plans import Operators
from router.policy.rules import Rules
from router.policy.settings import PolicySettings
from router.smpp.session import Submit
from router.store.lines import LineStore
from router.store.registry import Registry
from router.store.writer import RegistryWriter

PREFIXES = Path(__file__).resolve().parents[3] / "config" / "prefixes"
CUSTOMER, STRANGER, BLOCKED, OPTED, EXPIRED = (989121111111, 989122222222, 989123333333,
                                               989124444444, 989125555555)


def submit(source: str, destination: str, ton: int = 1, npi: int = 1) -> Submit:
    return Submit(7, b"", source, destination, 0, ton, npi)


LINES = [
    Line(number="2000", account="acc", kind="service"),
    Line(number="2001", account="acc", kind="service", exemption="bank_transaction"),
    Line(number="2002", account="acc", kind="service", status="demoted"),
    Line(number="3000", account="acc", kind="advertising"),
    Line(number="3001", account="acc", kind="advertising", status="suspended"),
    Line(number="3002", account="acc", kind="advertising", hours=(0, 1)),
    Line(number="4000", account="other", kind="advertising"),
]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Path]:
    """A real registry holding the lines, for what the line stage writes."""
    path = tmp_path / "registry.db"
    with Registry(path) as accounts:
        for system_id in ("acc", "other"):
            accounts.add_account(Account(system_id=system_id, password_hash="$argon2id$x"))
    with LineStore(path) as store:
        for line in LINES:
            store.add_line(line)
    yield path


@pytest.fixture
def writer(registry: Path) -> Iterator[RegistryWriter]:
    writer = RegistryWriter(registry)
    yield writer
    writer.close()


@pytest.fixture
def pipeline(writer: RegistryWriter) -> Pipeline:
    now = time.time()
    lists = ListRegistry(ListSnapshot(
        blacklist=NumberSet([BLOCKED]),
        whitelists={"2000": ExpiringNumberSet([CUSTOMER, BLOCKED], {EXPIRED: now - 1}),
                    "2002": ExpiringNumberSet([CUSTOMER])},
        optouts={"3000": NumberSet([OPTED]), "2000": NumberSet([CUSTOMER])}))
    settings = PolicySettings(violations_threshold=3)
    addresses = Addresses(settings, Operators.load(PREFIXES))
    return Pipeline(Rules(LineBook(LINES), lists), StageKit(settings, addresses, writer))


def line_stage(pipeline: Pipeline) -> LineStage:
    stage = pipeline.stages[0]
    assert isinstance(stage, LineStage)
    return stage


def decide(pipeline: Pipeline, source: str, destination: int | str,
           account: str = "acc") -> str:
    accepted, refused = pipeline.decide(account, [submit(source, str(destination))])
    if accepted:
        return "ok"
    return refused[0][1].reason


@pytest.mark.parametrize(("source", "destination", "expected"), [
    # service line: only its customers; the blacklist and opt-outs do not apply
    ("2000", CUSTOMER, "ok"),
    ("2000", BLOCKED, "ok"),
    ("2000", STRANGER, "not_in_whitelist"),
    ("2000", EXPIRED, "not_in_whitelist"),
    # exempt service line (bank transactions): no customer list needed
    ("2001", STRANGER, "ok"),
    ("2001", BLOCKED, "ok"),
    # demoted service line: advertising rules
    ("2002", STRANGER, "ok"),
    ("2002", BLOCKED, "blacklisted"),
    # advertising line: anyone but the blacklist and its opt-outs
    ("3000", STRANGER, "ok"),
    ("3000", CUSTOMER, "ok"),
    ("3000", BLOCKED, "blacklisted"),
    ("3000", OPTED, "opted_out"),
    ("3001", STRANGER, "line_suspended"),
    # not a line of this account, or no line at all
    ("4000", STRANGER, "not_own_line"),
    ("9999", STRANGER, "not_own_line"),
    # the destination must be a mobile number
    ("3000", "982112345678", "invalid_destination"),
    ("3000", "hello", "invalid_destination"),
])
def test_decision_table(pipeline: Pipeline, source: str, destination: int | str,
                        expected: str) -> None:
    assert decide(pipeline, source, destination) == expected


def test_national_forms_are_normalised(pipeline: Pipeline) -> None:
    accepted, _ = pipeline.decide("acc", [submit("2000", "09121111111", ton=2)])
    assert accepted
    _, refused = pipeline.decide("acc", [submit("3000", "09123333333", ton=0)])
    assert refused[0][1].reason == "blacklisted"


def test_sending_hours(pipeline: Pipeline) -> None:
    line_stage(pipeline)._minute_cache = (time.time(), 0)
    assert decide(pipeline, "3002", STRANGER) == "ok"
    line_stage(pipeline)._minute_cache = (time.time(), 600)
    assert decide(pipeline, "3002", STRANGER) == "outside_hours"
    overnight = Line(number="x", account="a", hours=(22 * 60, 6 * 60))
    assert overnight.open_at(23 * 60) and overnight.open_at(60) and not overnight.open_at(600)


def test_violations_reach_the_threshold_once(pipeline: Pipeline, registry: Path,
                                              writer: RegistryWriter) -> None:
    """requirements §2: a service line caught sending to non-customers is demoted, once,
    through the registry writer (never a registry write on the event loop)."""
    for _ in range(3):
        decide(pipeline, "2000", STRANGER)
    violations = line_stage(pipeline).violations
    assert len(violations.pending) == 3
    pipeline.flush()
    assert violations.pending == []
    decide(pipeline, "3000", BLOCKED)  # advertising refusals are not violations
    assert violations.pending == []
    writer.submit("wait", lambda stores: None).result(timeout=10)
    with LineStore(registry) as store:
        line = store.get_line("2000")
        assert line is not None and line.status == "demoted"
        assert store.violation_counts(0) == {"2000": 3}


def test_status_styles() -> None:
    for refusal in REFUSALS.values():
        assert status_for(refusal, "vendor") == refusal.vendor
        standard = status_for(refusal, "standard")
        assert standard < 0x100, f"{refusal.reason}: standard status must be a 3.4 code"
    vendor_codes = [r.vendor for r in REFUSALS.values() if r.vendor >= 0x400]
    assert all(0x400 <= c <= 0x4FF for c in vendor_codes)
    assert len(set(vendor_codes)) == len(vendor_codes)
    assert isinstance(REFUSALS["blacklisted"], Refusal)


def test_one_snapshot_per_batch(pipeline: Pipeline) -> None:
    batch = [submit("3000", str(STRANGER)), submit("3000", str(BLOCKED)),
             submit("2000", str(CUSTOMER))]
    accepted, refused = pipeline.decide("acc", batch)
    assert [s.destination_addr for s in accepted] == [str(STRANGER), str(CUSTOMER)]
    assert [r.reason for _, r in refused] == ["blacklisted"]


def test_npi_is_respected(pipeline: Pipeline) -> None:
    _, refused = pipeline.decide("acc", [submit("3000", str(STRANGER), npi=9)])  # private plan
    assert refused[0][1].reason == "invalid_destination"


@pytest.mark.parametrize(("text", "signature"), [
    ("【Acme】您的验证码是1234", "Acme"), ("您的验证码是1234【阿里云】", "阿里云"),
    ("no signature", None), ("【broken", None)])
def test_signature_of(text: str, signature: str | None) -> None:
    assert signature_of(text) == signature


def test_signature_optouts(pipeline: Pipeline) -> None:
    from router.smpp import codec
    from router.smpp.pdu import SubmitSm
    from router.smpp.text import ucs2_encode

    pipeline.rules.lists.replace_optouts("3000", NumberSet([STRANGER]), signature="【Acme】")

    def signed(text: str) -> Submit:
        body = codec.encode(SubmitSm(source_addr="3000", destination_addr=str(STRANGER),
                                     dest_addr_ton=1, data_coding=8,
                                     short_message=ucs2_encode(text)))[16:]
        return Submit(9, body, "3000", str(STRANGER), 0, 1, 1)

    accepted, refused = pipeline.decide("acc", [signed("【Acme】上新了，回T退订"),
                                                signed("【Other】上新了，回T退订")])
    assert [r.reason for _, r in refused] == ["opted_out"]
    assert len(accepted) == 1 and "Other" in accepted[0].decode().short_message.decode(
        "utf-16-be")


@pytest.mark.parametrize("destination", [
    "9891\xb20000000",  # canonical length and head: the fast path's int() refused it
    "98912123456\xb9", "0912\xb2234567", "\xb9\xb2",
])
def test_digits_int_refuses_are_invalid_destinations(pipeline: Pipeline,
                                                    destination: str) -> None:
    """str.isdigit() is true for '²'/'¹'; such a destination is refused as invalid, never
    raised (a raise here ended the ESME's connection)."""
    assert decide(pipeline, "3000", destination) == "invalid_destination"
    addresses = Addresses(PolicySettings(), Operators.load(PREFIXES))
    assert addresses.number_of(destination, 1, 1) is None
