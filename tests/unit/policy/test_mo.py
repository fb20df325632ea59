"""MO opt-out keywords: every default keyword and the variants subscribers type, and the
near-misses that must not opt anybody out.

requirements.md §2 ("Lines"): the router keeps per-line opt-out lists and "an
advertising line may not send to ... opted-out numbers"; domain.md "Opt-out keywords:
«لغو ۱۱»": an MO to a line whose text normalises to 11/۱۱/لغو/لغو۱۱ opts the sender out
of that line, 12 opts back in, and Chinese marketing uses T / TD / 退订 (回T退订).  The
README promises the whole text counts after folding digits, Arabic letter forms, case,
spaces and punctuation.  A missed variant sends advertising to someone who said stop (a
fine for the customer); a false match silently removes a subscriber.
"""

from __future__ import annotations

from typing import cast

import pytest

from router.model.lines import Line, LineBook
from router.model.numbersets import ListSnapshot
from router.policy.addresses import Addresses
from router.policy.lists import ListRegistry
from router.policy.mo import MoHandler, fold_keyword
from router.policy.plans import DEFAULT_PREFIX_DIR, Operators
from router.policy.rules import Rules
from router.policy.settings import PolicySettings
from router.smpp.pdu import DeliverSm, Tag
from router.smpp.text import DataCoding
from router.store.writer import RegistryWriter

LINE, SUBSCRIBER = "1000", 989121234567
DEFAULTS = PolicySettings()


class RecordingMo(MoHandler):
    """The real handler; what it would hand the registry writer is recorded instead."""

    persisted: list[tuple[str, int, bool]]

    def _persist(self, line: str, number: int, opted_out: bool) -> None:
        self.persisted.append((line, number, opted_out))


class World:
    def __init__(self, optout: tuple[str, ...] = DEFAULTS.optout_keywords,
                 optin: tuple[str, ...] = DEFAULTS.optin_keywords) -> None:
        self.lists = ListRegistry(ListSnapshot())
        rules = Rules(LineBook([Line(number=LINE, account="acc", kind="advertising")]),
                      self.lists)
        settings = PolicySettings(optout_keywords=optout, optin_keywords=optin)
        self.handler = RecordingMo(rules, Addresses(settings, Operators.load(
            DEFAULT_PREFIX_DIR)), settings, cast(RegistryWriter, None))
        self.persisted = self.handler.persisted = []
        self.delivered: list[tuple[str, DeliverSm]] = []

    def mo(self, text: str, data_coding: int | None = None, payload: bool = False) -> bool:
        """One MO from SUBSCRIBER to LINE; True when the subscriber is opted out after."""
        if data_coding is None:
            data_coding = DataCoding.DEFAULT if text.isascii() else DataCoding.UCS2
        raw = text.encode("ascii") if data_coding == DataCoding.DEFAULT \
            else text.encode("utf-16-be")
        pdu = DeliverSm(source_addr_ton=1, source_addr_npi=1, source_addr=str(SUBSCRIBER),
                        destination_addr=LINE, data_coding=data_coding,
                        short_message=b"" if payload else raw,
                        tlvs=[(Tag.MESSAGE_PAYLOAD, raw)] if payload else [])
        routed = self.handler.on_mo(pdu)
        assert routed is not None
        self.delivered.append(routed)
        assert self.delivered[-1][0] == "acc", "every MO is relayed to the line's owner"
        return self.lists.is_opted_out(LINE, SUBSCRIBER)


OPT_OUT = [
    # 11, in every digit set a phone keyboard produces, and spaced or punctuated
    "11", "۱۱", "١١", "１１", " 11 ", "11.", "«11»", "(11)", "1 1", "11!",
    # لغو, alone or with 11 in any digit set, spaced, joined, with ZWNJ or tatweel
    "لغو", " لغو ", "لغو.", "لغو ۱۱", "لغو۱۱", "لغو 11", "لغو١١", "لغو-۱۱", "«لغو ۱۱»",
    "لغو\u200c۱۱", "لـغـو", "لغو\n11",
    # Chinese marketing: T, TD, 退订 (any case, punctuation around them)
    "T", "t", " T ", "T.", "TD", "td", "Td", "TD!", "退订", " 退订 ", "退订。", "【退订】",
]
NEAR_MISSES = [
    "111", "1", "۱", "۱۱۱", "11 لطفا", "لغوی", "لغوها", "لغو ۱۱۱", "لغو 12", "لغ",
    "T-shirt", "TDD", "TT", "Test", "td1", "退", "退订吗", "不退订", "hello 11", "12 11",
]


@pytest.mark.parametrize("text", OPT_OUT)
def test_every_default_keyword_variant_opts_out(text: str) -> None:
    """Each variant, sent as a carrier would (GSM 7-bit when ASCII, else UCS2), opts the
    sender out of the line and is persisted once."""
    world = World()
    assert world.mo(text), f"{text!r} did not opt out"
    assert world.persisted == [(LINE, SUBSCRIBER, True)]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_do_not_opt_out(text: str) -> None:
    """Only the whole text is a keyword: a longer number, another word that starts the
    same (لغوی), or a sentence containing 11 must leave the subscriber alone."""
    world = World()
    assert not world.mo(text), f"{text!r} opted the subscriber out"
    assert world.persisted == []


def test_ucs2_and_message_payload_carry_keywords_too() -> None:
    """退订 and لغو ۱۱ only exist in UCS2; a carrier may put the text in message_payload."""
    for text in ("退订", "لغو ۱۱", "11", "TD"):
        world = World()
        assert world.mo(text, data_coding=DataCoding.UCS2, payload=True), text


def test_twelve_opts_back_in_in_any_digit_set() -> None:
    """12 (requirements: re-subscribe) removes the opt-out; ۱۲ and ١٢ are the same."""
    for text in ("12", "۱۲", "١٢", " 12."):
        world = World()
        assert world.mo("11")
        assert not world.mo(text), text
        assert world.persisted == [(LINE, SUBSCRIBER, True), (LINE, SUBSCRIBER, False)]


@pytest.mark.parametrize(("keyword", "typed"), [
    ("کنسل", "كنسل"),  # Persian keheh vs Arabic kaf
    ("یک", "يك"),  # Persian yeh vs Arabic yeh and kaf
    ("یک", "ىك"),  # Arabic alef maksura for yeh
    ("لغو یازده", "لغو يازده"),
])
def test_arabic_letter_forms_match_persian_keywords(keyword: str, typed: str) -> None:
    """Iranian phones send Arabic ي/ك as often as Persian ی/ک: a configured keyword
    written with one matches text typed with the other."""
    world = World(optout=(keyword,))
    assert world.mo(typed), f"{typed!r} did not match {keyword!r}"
    assert fold_keyword(typed) == fold_keyword(keyword)
    assert not World(optout=(keyword,)).mo(typed + "ی"), "a longer word matched"


def test_mo_to_an_unknown_line_changes_nothing() -> None:
    """An opt-out is per line: an MO to a number that is no line is not routed."""
    world = World()
    pdu = DeliverSm(source_addr=str(SUBSCRIBER), destination_addr="9999",
                    short_message=b"11")
    assert not world.handler.on_mo(pdu)
    assert world.persisted == [] and world.delivered == []
