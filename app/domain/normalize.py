"""Normalisation, validation, duplicate keys, masking and completeness for customer data."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Final

import phonenumbers

from app.domain.errors import InvalidInput

Loc = Sequence[str | int]

# --------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------

# Only the full-width ASCII block and the ideographic space: full NFKC would also rewrite
# CJK compatibility characters (㈱ → (株), ① → 1) that users meant literally.
_HALF_WIDTH: Final = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: " "}
# Invisible characters that arrive with copy-paste and would defeat equality checks.
_INVISIBLE: Final = dict.fromkeys((0x200B, 0x2060, 0xFEFF))


def clean_text(s: str | None) -> str | None:
    """Trim, collapse whitespace runs and fold full-width ASCII to half-width; "" → None."""
    if s is None:
        return None
    s = s.translate(_HALF_WIDTH).translate(_INVISIBLE)
    # PostgreSQL refuses NUL in text and other control characters are never intended;
    # str.split() below already treats the whitespace controls (\t, \n, ...) as spaces.
    s = "".join(ch for ch in s if ch.isspace() or unicodedata.category(ch) != "Cc")
    return " ".join(s.split()) or None


def _invalid(detail: str, *, loc: Loc, msg: str, type_: str) -> InvalidInput:
    return InvalidInput(detail, errors=[{"loc": list(loc), "msg": msg, "type": type_}])


# --------------------------------------------------------------------------------------
# Phones
# --------------------------------------------------------------------------------------

# phonenumbers happily reads letters ("1-800-FLOWERS"), "tel:" URIs and extensions;
# a contact phone is digits and the usual separators, nothing else. The country code may
# sit in brackets: "(+86) 138-0013-8000".
_PHONE_CHARS: Final = re.compile(r"\(?\+?[0-9 ()\-.‐‑‒–—―]+")


def _parse_phone(text: str, *, default_region: str) -> phonenumbers.PhoneNumber | None:
    if not _PHONE_CHARS.fullmatch(text):
        return None
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return None
    if number.extension or not phonenumbers.is_valid_number(number):
        return None
    return number


def normalize_phone(raw: str, *, default_region: str = "CN", loc: Loc = ("phone",)) -> str:
    """Return the phone number in E.164 ("+8613800138000") or raise ``InvalidInput``.

    National formats are read for ``default_region``; "86…" without "+" and "0086…" are
    recognised as international. Extensions are refused rather than silently dropped.
    """
    text = clean_text(raw)
    number = _parse_phone(text, default_region=default_region) if text else None
    if number is None:
        raise _invalid(
            "Invalid phone number.",
            loc=loc,
            msg=f"not a valid phone number (digits, spaces and + - ( ) only; "
            f"national numbers are read as {default_region})",
            type_="value_error.phone",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_search_key(raw: str | None, *, default_region: str = "CN") -> str | None:
    """E.164 form of a search query if it is a complete valid phone number, else None.

    Stored phones are all valid E.164, so a query that does not parse to a valid number
    cannot equal one; partial numbers are left to other search strategies.
    """
    text = clean_text(raw)
    number = _parse_phone(text, default_region=default_region) if text else None
    if number is None:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --------------------------------------------------------------------------------------
# Emails
# --------------------------------------------------------------------------------------

_EMAIL_MAX: Final = 254
_LOCAL_MAX: Final = 64
_LOCAL_FORBIDDEN: Final = frozenset(' <>()[]\\,;:"@')
_DOMAIN_LABEL: Final = re.compile(r"(?!-)(?:[^\W_]|-){1,63}(?<!-)")


def _email_problem(text: str | None) -> str | None:
    if text is None:
        return "email is empty"
    if len(text) > _EMAIL_MAX:
        return f"email is longer than {_EMAIL_MAX} characters"
    if text.count("@") != 1:
        return "email must contain exactly one @"
    local, domain = text.split("@")
    if not local:
        return "local part before @ is empty"
    if len(local) > _LOCAL_MAX:
        return f"local part is longer than {_LOCAL_MAX} characters"
    if any(ch in _LOCAL_FORBIDDEN or ch.isspace() for ch in local):
        return "local part contains a space or a forbidden character"
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return "local part has a misplaced dot"
    labels = domain.split(".")
    if len(labels) < 2:
        return "domain must contain a dot"
    if not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        return "domain is not a valid host name"
    if len(labels[-1]) < 2 or labels[-1].isdigit():
        return "top-level domain is not valid"
    return None


def normalize_email(raw: str, *, loc: Loc = ("email",)) -> str:
    """Return the cleaned, lower-cased email or raise ``InvalidInput``.

    A syntax check only, deliberately looser than RFC 5322 (no quoted local parts, no IP
    literals); lower() not casefold() because casefold rewrites letters such as ß → ss.
    """
    text = clean_text(raw)
    text = text.lower() if text else None
    problem = _email_problem(text)
    if problem is not None or text is None:
        raise _invalid(
            "Invalid email address.", loc=loc, msg=problem or "email is empty", type_="value_error.email"
        )
    return text


# --------------------------------------------------------------------------------------
# Unified social credit code (统一社会信用代码, GB 32100-2015)
# --------------------------------------------------------------------------------------

USCC_CHARSET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE: Final = {ch: i for i, ch in enumerate(USCC_CHARSET)}
_USCC_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
USCC_LENGTH: Final = 18


def uscc_check_char(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a code.

    Raises ``ValueError`` for input that is not 17 characters of the code's charset.
    """
    if len(first17) != USCC_LENGTH - 1 or any(ch not in _USCC_VALUE for ch in first17):
        raise ValueError("expected 17 characters from the USCC charset")
    total = sum(_USCC_VALUE[ch] * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def _uscc_problem(code: str | None) -> str | None:
    if code is None or len(code) != USCC_LENGTH:
        return f"length: must be {USCC_LENGTH} characters, got {len(code or '')}"
    for position, ch in enumerate(code, start=1):
        if ch not in _USCC_VALUE:
            return (
                f"character: {ch!r} at position {position} is not allowed "
                "(digits and capital letters except I, O, S, V, Z)"
            )
    if uscc_check_char(code[:-1]) != code[-1]:
        return "check character: the last character does not match the first 17"
    return None


def validate_uscc(code: str, *, loc: Loc = ("uscc",)) -> str:
    """Return the cleaned, upper-cased code or raise ``InvalidInput`` naming the failed rule."""
    text = clean_text(code)
    text = text.upper() if text else None
    problem = _uscc_problem(text)
    if problem is not None or text is None:
        problem = problem or "length: empty"
        raise _invalid(
            f"Invalid unified social credit code: {problem}.", loc=loc, msg=problem, type_="value_error.uscc"
        )
    return text


def is_valid_uscc(code: str | None) -> bool:
    """Whether ``code`` passes ``validate_uscc``."""
    text = clean_text(code)
    return _uscc_problem(text.upper() if text else None) is None


# --------------------------------------------------------------------------------------
# Duplicate detection key for names
# --------------------------------------------------------------------------------------

# Longest first: "股份有限公司" must win over "有限公司". 集团 is kept on purpose, a group
# and its operating company are different customers.
_CN_SUFFIXES: Final = ("股份有限公司", "有限责任公司", "有限公司", "公司")
# Matched as whole ASCII words at the end, never inside one ("zinc" keeps its "inc").
_LATIN_SUFFIXES: Final = frozenset(
    {"ltd", "limited", "inc", "corp", "corporation", "llc", "gmbh", "co", "company"}
)
_NON_ASCII_GAP: Final = re.compile(r"(?<=[^\x00-\x7f])\s+(?=[^\x00-\x7f])")
_SCRIPT_BOUNDARY: Final = re.compile(r"(?<=[a-z0-9])(?=[^\x00-\x7f])|(?<=[^\x00-\x7f])(?=[a-z0-9])")


def _name_tokens(name: str) -> list[str]:
    text = (clean_text(name) or "").casefold()
    # Punctuation and symbols (brackets of either width, "co.,ltd", ㈱) only separate words.
    text = "".join(ch if unicodedata.category(ch)[0] in "LNM" else " " for ch in text)
    # Chinese has no word spaces, so a space inside it is noise; splitting at the script
    # boundary lets "星辰科技Co.,Ltd." expose its Latin suffix as words.
    text = _NON_ASCII_GAP.sub("", text)
    return _SCRIPT_BOUNDARY.sub(" ", text).split()


def _strip_cn_suffix(token: str) -> str | None:
    for suffix in _CN_SUFFIXES:
        # "分公司" is a branch: a different customer from its head office.
        if token.endswith(suffix) and not (suffix == "公司" and token.endswith("分公司")):
            return token[: -len(suffix)]
    return None


def dedup_name_key(name: str) -> str:
    """Normalised name for duplicate detection; legal-form suffixes, case, width,
    punctuation and whitespace do not count ("Acme Co., Ltd." and "ＡＣＭＥ" match).

    A name that is nothing but a legal form keeps it rather than becoming "".
    """
    tokens = _name_tokens(name)
    while tokens:
        last = tokens[-1]
        if last in _LATIN_SUFFIXES:
            if len(tokens) == 1:
                break
            tokens.pop()
            continue
        stripped = _strip_cn_suffix(last)
        if stripped is None or (not stripped and len(tokens) == 1):
            break
        if stripped:
            tokens[-1] = stripped
        else:
            tokens.pop()
    return "".join(tokens)


# --------------------------------------------------------------------------------------
# Masking for roles that may not see contact details
# --------------------------------------------------------------------------------------


def mask_text(s: str) -> str:
    """Keep the first and last character ("wxid_abc9" → "w*******9").

    Strings of one or two characters keep only the first ("ab" → "a*", "a" → "*"), so the
    whole value is never shown.
    """
    if len(s) <= 1:
        return "*" * len(s)
    if len(s) == 2:
        return s[0] + "*"
    return s[0] + "*" * (len(s) - 2) + s[-1]


def mask_phone(e164: str) -> str:
    """Keep the country code, the first 3 and last 4 national digits ("+86138****8000")."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        # Legacy or foreign data still gets masked, just without knowing the country code.
        return mask_text(e164)
    national = phonenumbers.national_significant_number(number)
    if len(national) >= 8:
        masked = national[:3] + "*" * (len(national) - 7) + national[-4:]
    else:
        masked = "*" * (len(national) - 2) + national[-2:]
    return f"+{number.country_code}{masked}"


def mask_email(email: str) -> str:
    """Keep the first character and the domain ("zhang.san@example.com" → "z***@example.com").

    A fixed three stars, so the mask does not reveal the length of the local part.
    """
    local, at, domain = email.rpartition("@")
    if not at or not local:
        return mask_text(email)
    return f"{local[0]}***@{domain}"


# --------------------------------------------------------------------------------------
# Completeness
# --------------------------------------------------------------------------------------

KEY_FIELDS: Final = (
    "name",
    "kind",
    "uscc",
    "industry",
    "region",
    "size",
    "address",
    "website",
    "source",
    "has_contact",
    "has_contact_phone_or_email",
)
_COMPANY_ONLY: Final = frozenset({"uscc"})
CUSTOMER_KINDS: Final = frozenset({"company", "individual"})


def _is_filled(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple | set | frozenset | dict):
        return bool(value)
    return True


def completeness(*, kind: str, fields: Mapping[str, object]) -> int:
    """Share of the customer's key fields that are filled, 0-100.

    Counted fields (``KEY_FIELDS``): name, kind, uscc, industry, region, size, address,
    website, source, and the caller-computed booleans has_contact (at least one contact)
    and has_contact_phone_or_email (some contact has a phone or an email). ``uscc`` counts
    for companies only: individuals are scored out of 10 fields, companies out of 11.
    ``kind`` itself is taken from the argument. A field is filled when it is not None,
    not blank, not an empty collection, and, for booleans, True. Missing keys and keys
    outside ``KEY_FIELDS`` are ignored.
    """
    if kind not in CUSTOMER_KINDS:
        raise ValueError(f"unknown customer kind {kind!r}")
    values = {**fields, "kind": kind}
    applicable = [f for f in KEY_FIELDS if kind == "company" or f not in _COMPANY_ONLY]
    filled = sum(_is_filled(values.get(f)) for f in applicable)
    return round(100 * filled / len(applicable))
