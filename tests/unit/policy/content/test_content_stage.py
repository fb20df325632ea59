"""The content stage itself, as a table (issue 13 "Done when": table-driven tests for each
action), and the reassembly of long messages it does before judging them.

requirements.md §3: "Rules are keyword/phrase lists and regular expressions grouped by
category, each with an action: reject, hold for human review (quarantine), or flag";
issue 13 item 1: concatenated messages are judged on the joined text, the verdict
applies to every part, an incomplete message is judged on what came at the timeout.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.model.holds import Holds
from router.model.lines import LineBook
from router.model.numbersets import ListSnapshot
from router.model.status import REFUSALS
from router.policy.content.assembly import Assembly, Concat
from router.policy.content.chinese import ChineseStage
from router.policy.content.matcher import RuleSet
from router.policy.content.normalise import Normaliser
from router.policy.content.rules import Category, Scope
from router.policy.content.stage import ContentStage, one_part_texts, text_of
from router.policy.settings import (
    ChineseSettings,
    MarketingWindow,
    PolicySettings,
    SignatureSettings,
)
from router.policy.stage import Snapshot
from router.smpp import codec
from router.smpp.pdu import SubmitSm, Tag
from router.smpp.segments import split_message
from router.smpp.session import Submit
from router.smpp.text import TextEncodeError, encode_text

SHIPPED = Path(__file__).resolve().parents[4] / "config" / "content"
PREFIXES = SHIPPED.parent / "prefixes"
CLEAN = "سلام، سفارش شما ارسال شد"


def submit(text: str | bytes, seq: int = 1, destination: str = "989121000001",
           **fields: object) -> Submit:
    short = text if isinstance(text, bytes) else text.encode("utf-16-be")
    pdu = SubmitSm(seq, source_addr="3000", destination_addr=destination,
                   data_coding=8, short_message=short, **fields)  # type: ignore[arg-type]
    return codec.scan_submit(seq, codec.encode_body(pdu))


def snapshot(wall: float = 1000.0) -> Snapshot:
    return Snapshot("acc", wall, LineBook([]), ListSnapshot())


@pytest.fixture
def stage() -> ContentStage:
    return ContentStage(PolicySettings(content_dir=str(SHIPPED),
                                       content_assembly_timeout=30.0), Holds())


@pytest.mark.parametrize(("text", "accepted", "refusal", "held", "counted"), [
    (CLEAN, True, None, None, None),
    ("فردا دعوت به تجمع", False, "content:protest_calls", None, ("protest_calls", "reject")),
    ("تبریک! شما برنده جایزه شدید", True, None, "fake_prizes_jobs",
     ("fake_prizes_jobs", "quarantine")),
    ("لطفا برای همه ارسال کنید", True, None, None, ("chain_rumours", "flag")),
])
def test_each_action(stage: ContentStage, text: str, accepted: bool, refusal: str | None,
                     held: str | None, counted: tuple[str, str] | None) -> None:
    """reject is refused with content:CATEGORY (0x0406); quarantine is accepted and held;
    flag is accepted and counted; a clean text passes untouched."""
    one = submit(text)
    ok, refused = stage.decide([one], snapshot())
    assert (ok == [one]) is accepted
    assert [r.reason for _, r in refused] == ([refusal] if refusal else [])
    if refusal:
        assert refused[0][1].vendor == REFUSALS["content_rejected"].vendor
    holds = stage._holds.take(ok)
    assert [h.category for _, h, _ in holds] == ([held] if held else [])
    assert list(stage.counts) == ([counted] if counted else [])


def _parts(text: str, reference: int, method: str = "udh8") -> list[Submit]:
    out = []
    for seq, segment in enumerate(split_message(text, coding=8, method=method,  # type: ignore[arg-type]
                                                reference=reference), start=1):
        if segment.sar is None:
            out.append(submit(segment.short_message, seq, esm_class=0x40))
        else:
            ref, total, number = segment.sar
            out.append(submit(segment.short_message, seq, tlvs=[
                (Tag.SAR_MSG_REF_NUM, ref.to_bytes(2, "big")),
                (Tag.SAR_TOTAL_SEGMENTS, bytes([total])),
                (Tag.SAR_SEGMENT_SEQNUM, bytes([number]))]))
    return out


LONG = ("سلام دوست عزیز، این یک پیام طولانی برای آزمایش است " * 2)[:60] + "دعوت به تجمع" \
    + " و متن آن ادامه دارد" * 5


@pytest.mark.parametrize("method", ["udh8", "udh16", "sar"])
def test_long_message_judged_on_joined_text(stage: ContentStage, method: str) -> None:
    """The phrase straddles parts 1 and 2: parts before the last are held as ``part``
    (answered once journalled); the last part brings the verdict, settled for them."""
    parts = _parts(LONG, 5, method)
    assert len(parts) == 3
    for index, part in enumerate(parts[:-1]):
        ok, refused = stage.decide([part], snapshot(1000.0 + index))
        assert ok == [part] and not refused
        taken = stage._holds.take(ok)
        assert taken[0][1].state == "part"
        taken[0][2].message_id = 100 + index  # what the intake does
    ok, refused = stage.decide([parts[-1]], snapshot(1002.0))
    assert not ok and [r.reason for _, r in refused] == ["content:protest_calls"]
    [settled] = stage._holds.settled
    assert settled.state == "rejected"
    assert sorted(p.message_id for p in settled.parts) == [100, 101]
    assert stage.counts == {("protest_calls", "reject"): 1}


def test_whole_long_message_in_one_batch(stage: ContentStage) -> None:
    """All parts in one read: every part gets the verdict at once, nothing to settle."""
    parts = _parts(LONG, 6)
    ok, refused = stage.decide(parts, snapshot())
    assert not ok and len(refused) == 3 and not stage._holds.settled


def test_incomplete_message_judged_at_timeout(stage: ContentStage) -> None:
    parts = _parts(LONG, 7)
    ok, _ = stage.decide(parts[:2], snapshot(1000.0))
    for i, (_, _, part) in enumerate(stage._holds.take(ok)):
        assert part is not None
        part.message_id = 200 + i
    stage.tick(1029.0)
    assert not stage._holds.settled
    stage.tick(1030.5)
    [settled] = stage._holds.settled
    assert settled.state == "rejected" and settled.reason == "protest_calls"


def test_clean_long_message_released_together(stage: ContentStage) -> None:
    parts = _parts("متن پاک " * 40, 8)
    ok, _ = stage.decide(parts[:1], snapshot())
    stage._holds.take(ok)[0][2].message_id = 300  # type: ignore[union-attr]
    ok, refused = stage.decide(parts[1:], snapshot())
    assert ok == parts[1:] and not refused and not stage._holds.pending
    [settled] = stage._holds.settled
    assert settled.state == "released" and [p.message_id for p in settled.parts] == [300]


def test_buffer_is_bounded_in_bytes() -> None:
    """Past the byte bound the oldest message is pushed out (to be judged on what came);
    a part sent again replaces the one with its number."""
    from router.model.holds import Part

    assembly = Assembly(60.0, 250)
    first = Part(submit("a"), 1, b"x" * 200, 1)
    _, pushed = assembly.add(("a", "s", "d", "udh", 1), Concat("udh", 1, 2, 1, b""), 8,
                             first, 0.0)
    assert not pushed and assembly.size == 200
    again = Part(submit("a"), 1, b"y" * 100, 1)
    assembly.add(("a", "s", "d", "udh", 1), Concat("udh", 1, 2, 1, b""), 8, again, 0.0)
    assert assembly.size == 100
    other = Part(submit("b"), 1, b"z" * 200, 1)
    message, pushed = assembly.add(("a", "s", "e", "udh", 2), Concat("udh", 2, 2, 1, b""),
                                   8, other, 1.0)
    assert [m.key[2] for m in pushed] == ["d"] and assembly.size == 200
    assert len(assembly) == 1 and not message.complete


# --- Chinese traffic rules (seed 004, domain.md §(c)) ----------------------------------

def _chinese(**settings: object) -> ChineseStage:
    from router.policy.addresses import Addresses
    from router.policy.plans import Operators

    policy = PolicySettings(default_country="86")
    chinese = ChineseSettings(signatures=(SignatureSettings(account="acc",
                                                            signatures=("阿里云",)),),
                              marketing_windows=(MarketingWindow(hours="08:00-22:00"),
                                                 MarketingWindow(operator="China Mobile",
                                                                 hours="09:00-21:00")),
                              **settings)  # type: ignore[arg-type]
    return ChineseStage(chinese, Addresses(policy, Operators.load(PREFIXES)))


NOON = 1_767_240_000.0  # 2026-01-01 12:00 Asia/Shanghai
EVENING = NOON + 9 * 3600 + 1800  # 21:30 Asia/Shanghai


@pytest.mark.parametrize(("text", "line_kind", "wall", "destination", "refusal"), [
    ("【阿里云】您的验证码是1234", "service", NOON, "8613412345678", None),
    ("您的验证码是1234", "service", NOON, "8613412345678", "signature_missing"),
    ("【某公司】您的验证码是1234", "service", NOON, "8613412345678",
     "signature_unregistered"),
    ("您的验证码是1234【阿里云】", "service", NOON, "8613412345678", None),
    ("【阿里云】新品上市，全场八折", "advertising", NOON, "8613412345678", "optout_missing"),
    ("【阿里云】新品上市，全场八折 回T退订", "advertising", NOON, "8613412345678", None),
    ("【阿里云】新品上市，全场八折 回T退订", "advertising", EVENING, "8613412345678",
     "outside_marketing_window"),
    ("【阿里云】新品上市，全场八折 回T退订", "advertising", EVENING, "8613012345678", None),
    ("【阿里云】新品上市，全场八折 回T退订", "service", EVENING, "8613412345678", None),
    ("hello without a signature", "advertising", EVENING, "8613412345678", None),
])
def test_chinese_rules(text: str, line_kind: str, wall: float, destination: str,
                       refusal: str | None) -> None:
    """Seed 004: a registered 【signature】 on every Chinese text; marketing lines carry
    回T退订 and send within their destination operator's window (China Mobile 09-21,
    others 08-22); service lines and non-Chinese texts are not concerned."""
    from router.model.lines import Line

    stage = _chinese()
    one = Submit(1, codec.encode_body(SubmitSm(
        1, source_addr="106900", destination_addr=destination, data_coding=8,
        short_message=text.encode("utf-16-be"))), "106900", destination, 0, 1, 1)
    lines = LineBook([Line(number="106900", account="acc", kind=line_kind)])  # type: ignore[arg-type]
    ok, refused = stage.decide([one], Snapshot("acc", wall, lines, ListSnapshot()))
    assert [r.reason for _, r in refused] == ([refusal] if refusal else [])
    assert (ok == [one]) is (refusal is None)


_STRICT = RuleSet.build([
    Category("spam", "reject", ("spam", "free", "تجمع", "@win"), (r"bank[\w-]*\.top",)),
    Category("local", "reject", ("promo",), (), allow=Scope(lines=frozenset({"3000"}))),
], Normaliser())
_TEXTS = ["hello from 4x64 #1", "hello from 4x64 #1", "free stuff", "promo today",
          "@win now", "mail me@home", "ok", "s p a m", "bank-pay.top", "دعوت به تجمع",
          "caf\u00e9 promo", ""]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_TEXTS), st.sampled_from([0, 3, 8]),
                          st.sampled_from(["3000", "1000"])), max_size=12))
def test_the_batch_path_decides_every_submit_as_its_own_verdict(
        batch: list[tuple[str, int, str]]) -> None:
    """requirements §3: every message is judged on its own text and its own line's
    overrides; the batch path (texts read where the intake found them, a run of one
    text scanned once, GSM texts decoded in one call, "@" = GSM's NUL) changes no
    verdict: GSM, Latin-1 and UCS2 texts, repeated texts from lines a category exempts."""
    stage = ContentStage(PolicySettings(content_dir=str(SHIPPED)), Holds(), rules=_STRICT)
    submits = []
    for seq, (text, coding, line) in enumerate(batch, start=1):
        try:
            short = encode_text(text, coding)
        except TextEncodeError:  # Persian: UCS2
            coding, short = 8, encode_text(text, 8)
        pdu = SubmitSm(seq, source_addr=line, destination_addr="989121000001",
                       data_coding=coding, short_message=short)
        submits.append(codec.scan_submit(seq, codec.encode_body(pdu)))
    expected = [_STRICT.verdict(text_of(s), "acc", s.source_addr) for s in submits]
    accepted, refused = stage.decide(submits, snapshot())
    assert accepted == [s for s, v in zip(submits, expected, strict=True) if v is None]
    assert [(s, r.reason) for s, r in refused] == [
        (s, f"content:{v.category}") for s, v in zip(submits, expected, strict=True) if v]


def test_a_run_of_one_text_is_scanned_once() -> None:
    """A campaign's batch (one text to many numbers) costs one scan, not one a message."""
    same = [submit("سلام", seq) for seq in range(1, 5)]
    other = submit("hello", 5)
    slots, raws, codings = one_part_texts([*same, other, *same])
    assert slots == [0, 0, 0, 0, 1, 2, 2, 2, 2]
    assert raws == [t.encode("utf-16-be") for t in ("سلام", "hello", "سلام")]
    assert codings == [8, 8, 8]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["hi", "hi!", "سلام", ""]), st.sampled_from([0, 8]),
                          st.booleans()), max_size=12))
def test_one_part_texts_keep_each_run_of_one_text_once(
        batch: list[tuple[str, int, bool]]) -> None:
    """The sliced paths (every text its own, one text for all) and the loop give what
    keeping each run of one (text, coding) once gives; a submit with UDH is -1."""
    def one(seq: int, text: str, coding: int, udh: bool) -> Submit:
        short = text.encode("utf-16-be") if coding == 8 else text.encode()
        pdu = SubmitSm(seq, source_addr="3000", destination_addr="989121000001",
                       data_coding=coding, esm_class=0x40 if udh else 0,
                       short_message=b"\x05\x00\x03\x01\x02\x01" + short if udh else short)
        return codec.scan_submit(seq, codec.encode_body(pdu))

    submits = [one(seq, *each) for seq, each in enumerate(batch, 1)]
    slots, raws, codings = one_part_texts(submits)
    want_slots: list[int] = []
    want: list[tuple[bytes, int]] = []
    for each in submits:
        if each.text_at < 0:
            want_slots.append(-1)
            continue
        pair = (each.body[each.text_at:], each.body[each.text_at - 3])
        if not want or want[-1] != pair:
            want.append(pair)
        want_slots.append(len(want) - 1)
    assert (slots, list(zip(raws, codings, strict=True))) == (want_slots, want)


def _rebuilt(stage: ContentStage, before: RuleSet) -> bool:
    """Poll (as the stage does once a second) until a rebuild ended (20 s at most)."""
    deadline = time.monotonic() + 20
    stage.poll()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        stage.poll()
        if stage._building is None:
            return stage.rules is not before
    raise AssertionError("the rebuild did not end within 20 s")


def test_a_changed_rule_file_is_swapped_in_and_a_bad_one_refused(tmp_path: Path) -> None:
    """Issue 13 item 3: rules are rebuilt off the event loop (in a child process: the
    automaton's build holds the GIL) when a file changes and swapped whole; a bad file is
    refused and the old rules stay."""
    folder = tmp_path / "content"
    shutil.copytree(SHIPPED, folder)
    stage = ContentStage(PolicySettings(content_dir=str(folder)), Holds())
    assert stage.rules.verdict("zebra crossing", "acc", "1000") is None
    (folder / "zz_new.yaml").write_text("name: zoo\naction: reject\nphrases: [zebra]\n",
                                        encoding="utf-8")
    before = stage.rules
    assert _rebuilt(stage, before)
    verdict = stage.rules.verdict("zebra crossing", "acc", "1000")
    assert verdict is not None and verdict.category == "zoo"
    (folder / "zz_new.yaml").write_text("name: zoo\naction: explode\n", encoding="utf-8")
    kept = stage.rules
    assert not _rebuilt(stage, kept)
    assert stage.rules is kept  # the old rules stay


def test_a_rebuild_whose_child_process_dies_is_built_again(tmp_path: Path) -> None:
    """Issue 13 item 3: the rebuild's child process killed (out of memory, an operator):
    the stage keeps deciding with the rules it has and builds again at its next look."""
    folder = tmp_path / "content"
    shutil.copytree(SHIPPED, folder)
    stage = ContentStage(PolicySettings(content_dir=str(folder)), Holds())
    (folder / "zz_new.yaml").write_text("name: zoo\naction: reject\nphrases: [zebra]\n",
                                        encoding="utf-8")
    before = stage.rules
    stage.poll()
    deadline = time.monotonic() + 20
    while not multiprocessing.active_children():
        assert time.monotonic() < deadline, "no child process for the rebuild"
        time.sleep(0.005)
    for child in multiprocessing.active_children():
        os.kill(child.pid or 0, signal.SIGKILL)
    assert stage.rules is before
    assert _rebuilt(stage, before)
    verdict = stage.rules.verdict("zebra crossing", "acc", "1000")
    assert verdict is not None and verdict.category == "zoo"
