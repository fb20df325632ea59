"""The throttle stage on a fake clock: token buckets per account, per line and per
account x operator, and quotas in segments (requirements.md §6: "Throttle per account,
per line and per upstream connector (token buckets …) … over-limit submits get
ESME_RTHROTTLED (0x58), never silent loss")."""

from __future__ import annotations

from pathlib import Path

from router.model.limits import Limit, LimitBook, operator_key
from router.model.lines import LineBook
from router.model.numbersets import ListSnapshot
from router.model.status import REFUSALS
from router.policy.addresses import Addresses
from router.policy.plans import Operators
from router.policy.settings import PolicySettings
from router.policy.sizing import segments_of
from router.policy.stage import Snapshot
from router.policy.throttle import Quotas, ThrottleStage
from router.smpp import codec
from router.smpp.pdu import SubmitSm
from router.smpp.session import Submit

PREFIXES = Path(__file__).resolve().parents[3] / "config" / "prefixes"
MCI, IRANCELL = "989121234567", "989351234567"
WALL = 1_800_000_000.0


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def submit(source: str = "3000", destination: str = MCI, text: bytes = b"hi",
           data_coding: int = 0) -> Submit:
    pdu = SubmitSm(sequence=1, source_addr=source, destination_addr=destination,
                   dest_addr_ton=1, dest_addr_npi=1, short_message=text,
                   data_coding=data_coding)
    body = codec.encode(pdu)[16:]
    return Submit(1, body, source, destination, 0, 1, 1)


def make(book: LimitBook) -> tuple[ThrottleStage, Clock, Snapshot]:
    settings = PolicySettings(prefixes_dir=str(PREFIXES))
    addresses = Addresses(settings, Operators.load(PREFIXES))
    clock = Clock()
    stage = ThrottleStage(settings, addresses, None, Quotas(settings.timezone), clock)
    return stage, clock, Snapshot("acc", WALL, LineBook(), ListSnapshot(), book)


def counts(stage: ThrottleStage, snap: Snapshot, submits: list[Submit]) -> tuple[int, int]:
    accepted, refused = stage.decide(submits, snap)
    return len(accepted), len(refused)


def test_burst_then_rate() -> None:
    stage, clock, snap = make(LimitBook(accounts={"acc": Limit(100.0, 500)}))
    assert counts(stage, snap, [submit()] * 600) == (500, 100)
    clock.now += 1.0
    accepted, refused = stage.decide([submit()] * 300, snap)
    assert len(accepted) == 100
    assert {r.reason for _, r in refused} == {"throttled"}
    assert REFUSALS["throttled"].standard == 0x58


def test_no_limits_passes_the_batch_untouched() -> None:
    stage, _, snap = make(LimitBook())
    batch = [submit()] * 10
    accepted, refused = stage.decide(batch, snap)
    assert accepted is batch and refused == []


def test_line_and_operator_limits_are_independent() -> None:
    book = LimitBook(lines={"3000": Limit(10.0, 10)},
                     operators={operator_key("acc", "IR-MCI"): Limit(5.0, 5)})
    stage, _, snap = make(book)
    # the operator bucket: 5 to MCI, Irancell unlimited (line 3001 has no limit)
    assert counts(stage, snap, [submit("3001", MCI)] * 8) == (5, 3)
    assert counts(stage, snap, [submit("3001", IRANCELL)] * 8) == (8, 0)
    # the line bucket: 10 from 3000 whatever the operator
    assert counts(stage, snap, [submit("3000", IRANCELL)] * 12) == (10, 2)


def test_refused_by_a_later_stage_costs_nothing() -> None:
    stage, _, snap = make(LimitBook(accounts={"acc": Limit(1.0, 5, daily=5)}))
    accepted, _ = stage.decide([submit()] * 5, snap)
    stage.release(accepted[:3], snap)
    assert counts(stage, snap, [submit()] * 5) == (3, 2)


def test_quota_in_segments_is_its_own_reason() -> None:
    stage, clock, snap = make(LimitBook(accounts={"acc": Limit(daily=4)}))
    long_ucs2 = submit(text=("س" * 100).encode("utf-16-be"), data_coding=8)
    assert segments_of(long_ucs2) == 2
    accepted, refused = stage.decide([long_ucs2, submit(), long_ucs2], snap)
    assert len(accepted) == 2 and [r.reason for _, r in refused] == ["quota_spent"]
    clock.now += 3600
    assert counts(stage, snap, [submit()] * 2) == (1, 1)
    assert stage.quotas.take_pending()  # counted for the store
    tomorrow = Snapshot("acc", WALL + 86400, snap.lines, snap.lists, snap.limits)
    assert counts(stage, tomorrow, [submit()] * 2) == (2, 0)


def test_changed_limits_apply_to_existing_buckets() -> None:
    stage, _, snap = make(LimitBook(accounts={"acc": Limit(100.0, 100)}))
    assert counts(stage, snap, [submit()] * 50) == (50, 0)
    tighter = Snapshot("acc", WALL, snap.lines, snap.lists,
                       LimitBook(accounts={"acc": Limit(1.0, 10)}))
    assert counts(stage, tighter, [submit()] * 50) == (10, 40)
    looser = Snapshot("acc", WALL, snap.lines, snap.lists, LimitBook())
    assert counts(stage, looser, [submit()] * 50) == (50, 0)


def test_whole_batch_fast_path_takes_the_same_as_one_by_one() -> None:
    """A batch every bucket covers is taken at once: the same tokens and quota as
    deciding each submit, across two lines and two operators."""
    book = LimitBook(accounts={"acc": Limit(1.0, 100, daily=1000)},
                     lines={"3000": Limit(1.0, 50), "3001": Limit(1.0, 50)},
                     operators={operator_key("acc", "IR-MCI"): Limit(1.0, 60)})
    batch = [submit("3000")] * 10 + [submit("3001", IRANCELL)] * 5 + [submit("3001")] * 3
    whole, clock, snap = make(book)
    single, _, _ = make(book)
    single._clock = whole._clock = clock
    assert counts(whole, snap, batch) == (18, 0)
    for one in batch:
        assert counts(single, snap, [one]) == (1, 0)
    assert {k: b.tokens for k, b in whole.buckets.items()} == {
        k: b.tokens for k, b in single.buckets.items()}
    assert whole.buckets["account", "acc"].tokens == 82
    assert whole.buckets["operator", operator_key("acc", "IR-MCI")].tokens == 47
    assert whole.quotas.used == single.quotas.used


def test_an_empty_batch_takes_nothing() -> None:
    stage, _, snap = make(LimitBook(accounts={"acc": Limit(1.0, 5)},
                                    lines={"3000": Limit(1.0, 5)}))
    assert counts(stage, snap, []) == (0, 0)


def test_a_batch_from_one_line_to_one_operator_takes_the_same_as_one_by_one() -> None:
    """The usual read (one line, one operator) takes its route's buckets at once: the
    same tokens and quota as deciding each submit; a bucket that runs out within the
    batch falls back to submit by submit (0x58 for the rest), and new limits give a new
    route."""
    book = LimitBook(accounts={"acc": Limit(1.0, 100, daily=1000)},
                     lines={"3000": Limit(1.0, 40)},
                     operators={operator_key("acc", "IR-MCI"): Limit(1.0, 60)})
    whole, clock, snap = make(book)
    single, _, _ = make(book)
    single._clock = whole._clock = clock
    assert counts(whole, snap, [submit()] * 30) == (30, 0)
    for _ in range(30):
        assert counts(single, snap, [submit()]) == (1, 0)
    assert {k: b.tokens for k, b in whole.buckets.items()} == {
        k: b.tokens for k, b in single.buckets.items()} == {
        ("account", "acc"): 70, ("line", "3000"): 10,
        ("operator", operator_key("acc", "IR-MCI")): 30}
    assert whole.quotas.used == single.quotas.used
    assert counts(whole, snap, [submit()] * 15) == (10, 5)  # the line's bucket runs out
    wider = Snapshot("acc", WALL, snap.lines, snap.lists,
                     LimitBook(accounts=book.accounts, lines={"3000": Limit(10.0, 100)},
                               operators=book.operators))
    clock.now += 20.0
    assert counts(whole, wider, [submit()] * 25) == (25, 0)
    assert whole.buckets["line", "3000"].tokens == 75  # 0, refilled at 10/s to 100
