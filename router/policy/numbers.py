"""MSISDN normalisation and operator lookup.

Why one function: every list (blacklist, whitelists, opt-outs) and every submit_sm
destination must land on the *same* key, or a blacklisted subscriber written
``0912 123 4567`` in one file and ``989121234567`` in a submit would slip through.  The
key is E.164 without ``+`` (``989121234567``); lists store it as an int.

Why data files: numbering plans and operator prefixes change with the regulator, not with
the code, so they live in ``config/prefixes/*.yaml`` (one country per file) and are read
by :class:`Operators`.

The normaliser never raises on a ``str``: bad input becomes :class:`Invalid` with a
human-readable ``reason`` (shown in rejection reports and logs) and a short ``code``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from router.policy.plans import CountryPlan, Operators, default_operators

__all__ = ["Invalid", "Normalised", "normalise"]

MAX_RAW_LENGTH = 64  # longer text is not a phone number; bounds the work per input

# SMPP 3.4 §5.2.5 / §5.2.6
TON_UNKNOWN, TON_INTERNATIONAL, TON_NATIONAL = 0, 1, 2
TON_NETWORK_SPECIFIC, TON_SUBSCRIBER, TON_ALPHANUMERIC, TON_ABBREVIATED = 3, 4, 5, 6
_TELEPHONE_NPIS = frozenset({0, 1, 8})  # unknown, ISDN (E.163/E.164), national
_NO_RULES: Mapping[int, tuple[Any, ...]] = {}


class Normalised(NamedTuple):
    """A valid mobile number: ``e164`` is digits only, country code first.

    A NamedTuple rather than a frozen dataclass: it is built per submit_sm destination,
    and a frozen dataclass costs twice as much to construct.
    """

    e164: str
    country_code: str
    region: str  # ISO 3166 alpha-2 of the numbering plan ("IR", "CN")

    @property
    def number(self) -> int:
        """The int key the number lists use."""
        return int(self.e164)


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why a value is not a usable mobile number (``code`` for machines, ``reason`` for
    people)."""

    code: str
    reason: str
    raw: str = ""


# --- text cleaning -------------------------------------------------------------------

_DIGIT_BLOCKS = (0x0660, 0x06F0, 0xFF10)  # Arabic-Indic, Persian (extended), fullwidth
_DELETE = (
    " \t\n\r\v\f-()[]{}/\\_,'\"`"
    "\u00a0\u00ad\u061c\u066c\u060c"  # NBSP, soft hyphen, ALM, Arabic thousands sep/comma
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"  # spaces
    "\u200b\u200c\u200d\u200e\u200f"  # ZWSP, ZWNJ, ZWJ, LRM, RLM
    "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"  # dashes, minus
    "\u2018\u2019\u201c\u201d"  # typographic quotes
    "\u202a\u202b\u202c\u202d\u202e\u202f\u205f\u2060"  # bidi embeddings, NNBSP, WJ
    "\u2066\u2067\u2068\u2069\u3000\ufeff\uff08\uff09"  # bidi isolates, ideographic space,
)  # BOM, fullwidth parentheses

_CLEAN: dict[int, int | None] = {ord(c): None for c in _DELETE}
for _block in _DIGIT_BLOCKS:
    for _i in range(10):
        _CLEAN[_block + _i] = ord("0") + _i
_CLEAN[0xFF0B] = ord("+")  # fullwidth plus
_CLEAN[0x066B] = ord(".")  # Arabic decimal separator
_CLEAN[0xFF0E] = ord(".")  # fullwidth full stop
_CLEAN[0xFF45] = ord("e")  # fullwidth e / E (scientific notation typed in CJK input)
_CLEAN[0xFF25] = ord("E")

_ZERO_FRACTION = re.compile(r"(\+?\d+)\.0*")
_FRACTION = re.compile(r"\+?\d+\.\d{1,2}")
_SCIENTIFIC = re.compile(r"(\d)(?:\.(\d*))?[eE]\+?(\d{1,2})")
_DOTTED = re.compile(r"\+?\d+(?:\.\d+)+")
_NEGATIVE_EXPONENT = re.compile(r"\d\s*[eE]\s*[-\u2212]")


def _scientific(text: str) -> str | Invalid:
    """``9.89121234567E+11`` -> ``989121234567``, exactly (no float arithmetic)."""
    m = _SCIENTIFIC.fullmatch(text)
    if m is None:
        return Invalid("bad_characters", "not a number")
    lead, fraction, exp_text = m.group(1), m.group(2) or "", m.group(3)
    exponent = int(exp_text)
    mantissa = lead + fraction
    if exponent < len(fraction):
        integral, rest = mantissa[: exponent + 1], mantissa[exponent + 1 :]
        if rest.strip("0"):
            return Invalid("not_integer", f"{text} is not a whole number")
        return integral
    if exponent > len(fraction):
        return Invalid(
            "precision_lost",
            f"scientific notation {text} keeps only {len(mantissa)} digits of a "
            f"{exponent + 1}-digit number; the rest were lost (format the column as text)",
        )
    return mantissa


def _describe_chars(text: str, *, letters: bool = False) -> str:
    bad: list[str] = []
    for ch in text:
        wanted = ch.isalpha() if letters else not (ch.isascii() and ch.isdigit())
        if wanted and ch not in bad:
            bad.append(ch)
        if len(bad) == 3:
            break
    return ", ".join(f"'{c}' (U+{ord(c):04X})" if not c.isprintable() else repr(c) for c in bad)


def _parse_international(digits: str, ops: Operators, how: str) -> Normalised | Invalid:
    for plan in ops._plans_by_cc:
        cc = plan.country_code
        if not digits.startswith(cc):
            continue
        nsn = digits[len(cc) :]
        if plan.is_mobile_nsn(nsn):
            return Normalised(digits, cc, plan.region)
        np = plan.national_prefix
        if np and nsn.startswith(np) and plan.is_mobile_nsn(nsn[len(np) :]):
            # "+98 (0)912 ..." — the national 0 written after the country code
            return Normalised(cc + nsn[len(np) :], cc, plan.region)
        return _wrong_nsn(plan, nsn, f"after +{cc}")
    supported = ", ".join(f"+{p.country_code}" for p in ops._plans_by_cc)
    if digits.startswith("0"):
        return Invalid(
            "unsupported_country",
            f"{how} number starts with 0 (national format) instead of a country code "
            f"(supported: {supported})",
        )
    return Invalid(
        "unsupported_country",
        f"{how} number +{digits[:4]}… has no supported country code (supported: {supported})",
    )


def _wrong_nsn(plan: CountryPlan, nsn: str, where: str) -> Invalid:
    count = f"{len(nsn)} digits{' ' + where if where else ''}"
    expected = f"{plan.name} mobile numbers have {plan.nsn_length} (e.g. {plan.example})"
    if len(nsn) < plan.nsn_length:
        return Invalid("too_short", f"too short: {count}; {expected}")
    if not nsn.startswith(plan.nsn_prefixes):
        return Invalid(
            "not_mobile",
            f"not a mobile number: {plan.name} mobile numbers{' ' + where if where else ''} "
            f"start with {'/'.join(plan.nsn_prefixes)} and have {plan.nsn_length} digits "
            f"(e.g. {plan.example})",
        )
    return Invalid("too_long", f"too long: {count}; {expected}")


def _with_foreign_hint(invalid: Invalid, digits: str, plan: CountryPlan, ops: Operators) -> Invalid:
    """A national number of the *other* supported country: say so, and how to write it."""
    for foreign in ops._plans_by_cc:
        if foreign is plan:
            continue
        np = foreign.national_prefix
        if foreign.is_mobile_nsn(digits) or (
            np and digits.startswith(np) and foreign.is_mobile_nsn(digits[len(np) :])
        ):
            return Invalid(
                invalid.code,
                f"{invalid.reason}; looks like a mobile number of {foreign.name}: "
                f"write it with +{foreign.country_code}",
            )
    return invalid


def _parse_national(digits: str, plan: CountryPlan, ops: Operators) -> Normalised | Invalid:
    cc = plan.country_code
    for prefix in plan.international_prefixes:
        if digits.startswith(prefix) and len(digits) > len(prefix):
            return _parse_international(digits[len(prefix) :], ops, f"{prefix}-prefixed")
    np = plan.national_prefix
    if np and digits.startswith(np):
        nsn = digits[len(np) :]
        if plan.is_mobile_nsn(nsn):
            return Normalised(cc + nsn, cc, plan.region)
        invalid = _wrong_nsn(plan, nsn, f"after the leading {np}")
        return _with_foreign_hint(invalid, digits, plan, ops)
    if plan.is_mobile_nsn(digits):  # the national 0 was lost (typically by Excel)
        return Normalised(cc + digits, cc, plan.region)
    # a supported country's number written in international form without + / 00
    other = ops.plan_for(digits)
    if other is not None and len(digits) > other.nsn_length:
        return _parse_international(digits, ops, "international")
    return _with_foreign_hint(_wrong_nsn(plan, digits, ""), digits, plan, ops)


def normalise(
    raw: str,
    *,
    default_country: str = "98",
    ton: int | None = None,
    npi: int | None = None,
    operators: Operators | None = None,
) -> Normalised | Invalid:
    """Turn anything a customer may type, upload or submit into E.164 without ``+``.

    ``default_country`` (a country code) decides how a bare national number is read;
    numbers in international form (``+``, ``00``, or the country code itself) of any
    supported country are accepted.  With SMPP addresses, pass ``ton``/``npi``: TON=1 says
    the digits carry the country code, TON 0/2/3/4 apply the national rules,
    TON=5 (alphanumeric) and TON=6 (abbreviated) are not MSISDNs.
    """
    if not isinstance(raw, str):  # defensive: callers outside mypy's reach
        return Invalid("bad_characters", f"expected text, got {type(raw).__name__}", "")
    ops = operators if operators is not None else default_operators()
    fast = _fast_path(raw, default_country, ton, npi, ops)
    if fast is not None:
        return fast
    refused = _refuse_address(raw, ton, npi)
    if refused is not None:
        return refused
    plan = ops.plans.get(default_country.lstrip("+"))
    if plan is None:
        return Invalid("unsupported_country", f"country code {default_country} not configured", raw)
    if len(raw) > MAX_RAW_LENGTH:
        return Invalid("too_long", f"{len(raw)} characters is too long for a phone number", raw)
    cleaned = _clean_digits(raw)
    if isinstance(cleaned, Invalid):
        return cleaned
    international, digits = cleaned
    if international or ton == TON_INTERNATIONAL:
        if digits.startswith("00"):  # "+0098…" or TON=1 with an access code
            digits = digits[2:]
        how = "international" if international else "TON=1 (international)"
        result = _parse_international(digits, ops, how)
    else:
        result = _parse_national(digits, plan, ops)
    if isinstance(result, Invalid):
        return Invalid(result.code, result.reason, raw)
    return result


def _fast_path(raw: str, default_country: str, ton: int | None, npi: int | None,
               ops: Operators) -> Normalised | None:
    """ASCII digits in a telephone plan: the precomputed rules of the common forms."""
    if not (raw.isdigit() and raw.isascii() and (npi is None or npi in _TELEPHONE_NPIS)):
        return None
    if ton is None or ton in (TON_UNKNOWN, TON_NATIONAL):
        rules = ops.fast_rules(default_country)
    elif ton == TON_INTERNATIONAL:
        rules = ops.fast_rules(default_country, international=True)
    else:
        rules = _NO_RULES
    for rule in rules.get(len(raw), ()):
        if raw.startswith(rule.head):
            return Normalised(rule.add + raw[rule.cut :], rule.country_code, rule.region)
    return None


def _refuse_address(raw: str, ton: int | None, npi: int | None) -> Invalid | None:
    """SMPP addresses that are no MSISDN whatever their digits (by TON or NPI)."""
    if ton == TON_ALPHANUMERIC:
        return Invalid("alphanumeric", "alphanumeric address is not a number", raw)
    if ton == TON_ABBREVIATED:
        return Invalid("abbreviated", "abbreviated number (short code) is not an MSISDN", raw)
    if ton is not None and not 0 <= ton <= 4:
        return Invalid("bad_ton", f"unknown type of number (TON) {ton}", raw)
    if npi is not None and npi not in _TELEPHONE_NPIS:
        return Invalid(
            "bad_npi", f"numbering plan (NPI) {npi} is not a telephone numbering plan", raw
        )
    return None


def _clean_digits(raw: str) -> tuple[bool, str] | Invalid:
    """(written with +, the ASCII digits) from what a person or a spreadsheet wrote."""
    text = raw.translate(_CLEAN)
    if not text:
        return Invalid("empty", "empty value" if not raw else "no digits, only spaces/marks", raw)
    if text.isascii() and text.isdigit():
        return False, text
    if "." in text or "e" in text or "E" in text:
        if _NEGATIVE_EXPONENT.search(raw):
            return Invalid("not_integer", f"{raw.strip()} is a fraction, not a number", raw)
        converted = _numeric_forms(text)
        if isinstance(converted, Invalid):
            return Invalid(converted.code, converted.reason, raw)
        text = converted
    international = text.startswith("+")
    digits = text[1:] if international else text
    if digits.isascii() and digits.isdigit():
        return international, digits
    if not digits:
        return Invalid("empty", "no digits", raw)
    if any(ch.isalpha() for ch in digits):
        letters = _describe_chars(digits, letters=True)
        return Invalid("letters", f"not a phone number: contains letters {letters}", raw)
    return Invalid(
        "bad_characters",
        f"contains characters that are not digits: {_describe_chars(digits)}",
        raw,
    )


def _numeric_forms(text: str) -> str | Invalid:
    """Spreadsheet leftovers: ``9121234567.0``, ``9.89121234567E+11``, ``0912.123.4567``."""
    m = _ZERO_FRACTION.fullmatch(text)
    if m is not None:
        return m.group(1)
    if "e" in text or "E" in text:
        body = text[1:] if text.startswith("+") else text
        sci = _scientific(body)
        if isinstance(sci, Invalid) and sci.code == "bad_characters":
            return text  # letters: reported by the caller
        return sci
    if _FRACTION.fullmatch(text):
        return Invalid("not_integer", f"{text} has a fractional part; not a phone number")
    if _DOTTED.fullmatch(text):
        return text.replace(".", "")
    return text
