"""router.policy.numbers: every MSISDN form customers send, TON/NPI, operator prefixes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from router.policy.numbers import Invalid, Normalised, normalise
from router.policy.plans import DEFAULT_PREFIX_DIR, Operators, PrefixTableError, default_operators

IR = "989121234567"
CN = "8613812345678"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Iranian mobile in every form
        ("09121234567", IR),
        ("+98 912 123 4567", IR),
        ("+989121234567", IR),
        ("00989121234567", IR),
        ("989121234567", IR),
        ("9121234567", IR),  # Excel lost the leading 0
        ("0912-123-4567", IR),
        ("0912.123.4567", IR),
        ("(0912) 123 4567", IR),
        ("+98 (0) 912 123 4567", IR),
        ("  09121234567  ", IR),
        ("\t09121234567\r\n", IR),
        ("'09121234567", IR),  # Excel text marker
        ('"09121234567"', IR),
        ("0912\u200c123\u200c4567", IR),  # ZWNJ
        ("\u200f09121234567\u200e", IR),  # RLM / LRM
        ("0912\u00a0123\u00a04567", IR),  # NBSP
        ("\ufeff09121234567", IR),  # BOM
        ("0912–123—4567", IR),  # en/em dashes
        # Persian (U+06F0-06F9) and Arabic-Indic (U+0660-0669) digits, fullwidth
        ("۰۹۱۲۱۲۳۴۵۶۷", IR),
        ("٠٩١٢١٢٣٤٥٦٧", IR),
        ("۹۱۲۱۲۳۴۵۶۷", IR),
        ("+۹۸ ۹۱۲ ۱۲۳ ۴۵۶۷", IR),
        ("۰۹۱۲-۱۲۳-۴۵۶۷", IR),
        ("０９１２１２３４５６７", IR),
        # spreadsheet leftovers
        ("9121234567.0", IR),
        ("989121234567.0", IR),
        ("9121234567.00", IR),
        ("۹۱۲۱۲۳۴۵۶۷٫۰", IR),  # Arabic decimal separator
        ("9.89121234567E+11", IR),
        ("9.89121234567e11", IR),
        ("9.121234567E+09", IR),
        ("9.891212345670E+11", IR),
        # Chinese mobiles in international form are accepted with default_country 98
        ("+86 138 1234 5678", CN),
        ("008613812345678", CN),
        ("8613812345678", CN),
        ("+86-138-1234-5678", CN),
        ("＋８６ １３８ １２３４ ５６７８", CN),
        # other operators
        ("09351234567", "989351234567"),
        ("09901234567", "989901234567"),
        ("09981234567", "989981234567"),
    ],
)
def test_iranian_default_country(raw: str, expected: str) -> None:
    result = normalise(raw)
    assert isinstance(result, Normalised), result
    assert result.e164 == expected
    assert result.number == int(expected)
    assert result.country_code == expected[:2]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", CN),
        ("138 1234 5678", CN),
        ("138-1234-5678", CN),
        ("+86 138 1234 5678", CN),
        ("008613812345678", CN),
        ("8613812345678", CN),
        ("１３８１２３４５６７８", CN),
        ("1.3812345678E+10", CN),
        ("13812345678.0", CN),
        # Iranian numbers in international form still read with default_country 86
        ("+989121234567", IR),
        ("00989121234567", IR),
        ("989121234567", IR),
    ],
)
def test_chinese_default_country(raw: str, expected: str) -> None:
    result = normalise(raw, default_country="86")
    assert isinstance(result, Normalised), result
    assert result.e164 == expected
    assert result.region == ("CN" if expected.startswith("86") else "IR")


@pytest.mark.parametrize(
    ("raw", "code", "words"),
    [
        ("", "empty", "empty"),
        ("   ", "empty", "no digits"),
        ("\u200c\u200f", "empty", "no digits"),
        ("hello", "letters", "letters"),
        ("0912abc4567", "letters", "'a'"),
        ("Mobile", "letters", "not a phone number"),
        ("09121234567#", "bad_characters", "'#'"),
        ("98+9121234567", "bad_characters", "'+'"),
        ("0912123456", "too_short", "9 digits after the leading 0"),
        ("091212345678", "too_long", "11 digits after the leading 0"),
        ("912123456", "too_short", "9 digits"),
        ("12345", "too_short", "5 digits"),
        ("02112345678", "not_mobile", "start with 9"),
        ("+98 21 1234 5678", "not_mobile", "start with 9"),
        ("+98 912 123 456", "too_short", "after +98"),
        ("98912123456", "too_short", "after +98"),
        ("+44 7700 900123", "unsupported_country", "+86, +98"),
        ("0044 7700 900123", "unsupported_country", "no supported country code"),
        ("13812345678", "not_mobile", "write it with +86"),
        ("9.89121E+11", "precision_lost", "lost"),
        ("9121234567.5", "not_integer", "fractional"),
        ("9.5E-3", "not_integer", "fraction"),
        ("09121234567, 09121234568", "too_long", "digits"),
        ("9" * 100, "too_long", "characters"),
        ("+", "empty", "no digits"),
    ],
)
def test_invalid_inputs_say_why(raw: str, code: str, words: str) -> None:
    result = normalise(raw)
    assert isinstance(result, Invalid), result
    assert result.code == code, result
    assert words in result.reason, result.reason
    assert result.raw == raw


def test_chinese_national_number_with_iranian_default_is_not_guessed() -> None:
    # default_country decides how a bare national number is read
    assert isinstance(normalise("13812345678"), Invalid)
    result = normalise("09121234567", default_country="86")
    assert isinstance(result, Invalid)
    assert "+98" in result.reason


@pytest.mark.parametrize(
    ("raw", "ton", "npi", "expected"),
    [
        ("989121234567", 1, 1, IR),  # international: digits carry the country code
        ("+989121234567", 1, 1, IR),
        ("00989121234567", 1, 1, IR),
        ("8613812345678", 1, 1, CN),
        ("09121234567", 0, 1, IR),  # unknown: national rules
        ("09121234567", 2, 1, IR),  # national
        ("9121234567", 2, 8, IR),
        ("989121234567", 0, 0, IR),
        ("09121234567", 4, 1, IR),  # subscriber number
        ("13812345678", 2, 1, None),  # national Chinese under default 98 is not Iranian
    ],
)
def test_ton_npi_accepted(raw: str, ton: int, npi: int, expected: str | None) -> None:
    result = normalise(raw, ton=ton, npi=npi)
    if expected is None:
        assert isinstance(result, Invalid)
    else:
        assert isinstance(result, Normalised), result
        assert result.e164 == expected


@pytest.mark.parametrize(
    ("raw", "ton", "npi", "code", "words"),
    [
        ("Chapar", 5, 0, "alphanumeric", "alphanumeric address is not a number"),
        ("989121234567", 5, 0, "alphanumeric", "alphanumeric"),
        ("1000", 6, 0, "abbreviated", "short code"),
        ("09121234567", 1, 1, "unsupported_country", "starts with 0"),
        ("9121234567", 1, 1, "unsupported_country", "+9121"),  # 91 is not a supported code
        ("989121234567", 7, 1, "bad_ton", "TON"),
        ("989121234567", 1, 9, "bad_npi", "NPI"),
        ("989121234567", 1, 14, "bad_npi", "NPI"),
    ],
)
def test_ton_npi_refused(raw: str, ton: int, npi: int, code: str, words: str) -> None:
    result = normalise(raw, ton=ton, npi=npi)
    assert isinstance(result, Invalid), result
    assert result.code == code
    assert words in result.reason


@pytest.mark.parametrize(
    ("e164", "operator"),
    [
        ("989121234567", "IR-MCI"),  # 9891
        ("989011234567", "Irancell"),  # 9890
        ("989201234567", "Rightel"),  # 9892
        ("989301234567", "Irancell"),  # 9893
        ("989311234567", "MTCE"),  # 98931 beats 9893
        ("989321234567", "Taliya"),
        ("989341234567", "TeleKish"),
        ("989351234567", "Irancell"),
        ("989411234567", "Irancell"),  # community range 941
        ("989901234567", "IR-MCI"),
        ("989921234567", "IR-MCI"),  # community range 992
        ("989961234567", "IR-MCI"),
        ("989981234567", "Shatel Mobile"),  # 989981
        ("989990012345", "LOTUSTEL"),  # 9899900 beats everything shorter
        ("989990212345", "IR-MCI"),  # 9899902
        ("989991123456", "Irancell"),  # 989991
        ("989999612345", "Rightel"),  # 9899996
        ("989971234567", None),  # 98997: unassigned
        ("989990112345", None),  # 9899901: unassigned
        ("8613812345678", "China Mobile"),
        ("8613012345678", "China Unicom"),
        ("8613312345678", "China Telecom"),
        ("8619212345678", "China Broadnet"),
        ("8617012345678", None),
        ("4477009001234", None),
    ],
)
def test_operator_longest_prefix(e164: str, operator: str | None) -> None:
    assert default_operators().operator_of(e164) == operator


def test_tables_are_data() -> None:
    ops = Operators.load(DEFAULT_PREFIX_DIR)
    assert set(ops.plans) == {"98", "86"}
    assert {"IR-MCI", "Irancell", "Rightel", "China Mobile", "China Broadnet"} <= ops.names
    iran = ops.plans["98"]
    assert (iran.nsn_length, iran.nsn_prefixes, iran.national_prefix) == (10, ("9",), "0")
    assert ops.plans["86"].nsn_length == 11


def _write(folder: Path, name: str, doc: object) -> None:
    (folder / name).write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")


def _doc(**overrides: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "country": "XX",
        "country_code": "99",
        "national_prefix": "0",
        "international_prefixes": ["00"],
        "mobile": {"nsn_length": 8, "nsn_prefixes": ["7"]},
        "operators": {"997": "Seven", "9971": "Seven-One"},
    }
    doc.update(overrides)
    return doc


def test_loader_reads_every_yaml_in_folder(tmp_path: Path) -> None:
    _write(tmp_path, "xx.yaml", _doc())
    _write(tmp_path, "yy.yaml", _doc(country="YY", country_code="55", operators={"557": "Y"}))
    ops = Operators.load(tmp_path)
    assert ops.operator_of("9971234567") == "Seven-One"
    assert ops.operator_of("9972234567") == "Seven"
    assert ops.operator_of("5571234567") == "Y"
    result = normalise("071234567", default_country="99", operators=ops)
    assert result == Normalised("9971234567", "99", "XX")


@pytest.mark.parametrize(
    ("docs", "message"),
    [
        ([_doc(operators={"887": "Elsewhere"})], "does not start with country code"),
        ([_doc(operators={"99x": "Bad"})], "digits"),
        ([_doc(), _doc(country="ZZ", operators={})], "defined twice"),
        ([_doc(), _doc(country="ZZ", country_code="98", operators={"997": "Again"})], "997"),
        ([_doc(mobile={"nsn_length": 2, "nsn_prefixes": ["7"]})], "out of range"),
    ],
)
def test_loader_rejects_bad_tables(docs: list[dict[str, object]], message: str) -> None:
    with pytest.raises(PrefixTableError, match=message):
        Operators.from_documents(docs)


def test_loader_rejects_duplicate_yaml_keys(tmp_path: Path) -> None:
    text = (DEFAULT_PREFIX_DIR / "ir.yaml").read_text(encoding="utf-8")
    (tmp_path / "ir.yaml").write_text(text + '  "9891": Irancell\n', encoding="utf-8")
    with pytest.raises(PrefixTableError, match="duplicate key"):
        Operators.load(tmp_path)


def test_loader_needs_files(tmp_path: Path) -> None:
    with pytest.raises(PrefixTableError, match="no prefix tables"):
        Operators.load(tmp_path)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_never_raises_on_any_text(raw: str) -> None:
    result = normalise(raw)
    assert isinstance(result, Normalised | Invalid)
    if isinstance(result, Normalised):
        assert result.e164.isascii() and result.e164.isdigit()


_DIGITY = st.text(
    alphabet=st.sampled_from("0123456789۰۱۲۳۴۵۶۷۸۹٠١٢+-. ()eE\u200c\u200fa#"), max_size=24
)


@settings(max_examples=500, deadline=None)
@given(_DIGITY, st.sampled_from(["98", "86"]), st.sampled_from([None, 0, 1, 2, 5, 6, 9]))
def test_never_raises_on_number_like_text(raw: str, country: str, ton: int | None) -> None:
    result = normalise(raw, default_country=country, ton=ton, npi=1)
    assert isinstance(result, Normalised | Invalid)
    if isinstance(result, Normalised):
        plan = default_operators().plans[result.country_code]
        assert len(result.e164) == len(plan.country_code) + plan.nsn_length


@settings(max_examples=1000, deadline=None)
@given(
    st.sampled_from(["", "0", "00", "98", "86", "0098", "0086", "9", "1", "09", "01", "989"]),
    st.text(alphabet="0123456789", min_size=0, max_size=13),
    st.sampled_from(["98", "86"]),
    st.sampled_from([None, 0, 1, 2]),
)
def test_fast_path_agrees_with_full_normaliser(
    head: str, tail: str, country: str, ton: int | None
) -> None:
    raw = head + tail
    fast = normalise(raw, default_country=country, ton=ton)
    slow = normalise(raw + " ", default_country=country, ton=ton)  # not clean: full path
    if isinstance(fast, Normalised) or isinstance(slow, Normalised):
        assert fast == slow


def test_fast_rules_match_the_plan() -> None:
    rules = default_operators().fast_rules("98")
    assert [r.head for r in rules[11]] == ["09"]
    assert [r.head for r in rules[10]] == ["9"]
    assert [r.head for r in rules[12]] == ["989"]
    assert [r.head for r in rules[13]] == ["861"]
    for length, by_len in rules.items():
        for rule in by_len:
            sample = (rule.head + "1" * 20)[:length]
            result = normalise(sample + " ")
            assert isinstance(result, Normalised)
            assert int(sample) + rule.offset == result.number


def test_unknown_default_country_is_invalid_not_an_error() -> None:
    result = normalise("09121234567", default_country="44")
    assert isinstance(result, Invalid) and result.code == "unsupported_country"
