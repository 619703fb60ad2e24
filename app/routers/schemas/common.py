"""Schemas shared by every resource: pages and base config."""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, Final, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

CENT = Decimal("0.01")

T = TypeVar("T")


# ------------------------------------------------------------------------------------------
# The one rule for text input
# ------------------------------------------------------------------------------------------

# Line breaks and tabs are fine in free text (notes); every other control character is not.
_TEXT_CONTROLS_ALLOWED: Final = frozenset("\t\n\r")
# Characters that reorder how text is displayed (bidi embeddings, overrides and isolates, and
# the direction marks): in a name they can make "evil.exe" read as "exe.live".
BIDI_CONTROLS: Final = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def text_fault(value: str, *, name: bool = False) -> str | None:
    """Why ``value`` may not be stored as text, or None when it may.

    No text holds NUL (PostgreSQL cannot store it), a lone surrogate (not encodable as
    UTF-8) or a control character other than tab and line breaks; a name (``name=True``)
    holds no control character at all and no bidi control either.
    """
    for ch in value:
        if ch == "\x00":
            return "must not contain a NUL character (U+0000)"
        if "\ud800" <= ch <= "\udfff":
            return f"must not contain a lone surrogate (U+{ord(ch):04X})"
        if unicodedata.category(ch) == "Cc" and (name or ch not in _TEXT_CONTROLS_ALLOWED):
            return f"must not contain the control character U+{ord(ch):04X}"
        if name and ch in BIDI_CONTROLS:
            return f"must not contain the bidi control character U+{ord(ch):04X}"
    return None


def _first_fault(data: Any, path: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], str] | None:
    if isinstance(data, str):
        fault = text_fault(data)
        return (path, fault) if fault else None
    if isinstance(data, dict):
        items: Any = data.items()
    elif isinstance(data, list | tuple):
        items = enumerate(data)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and (fault := text_fault(key)):
            return (*path, key), f"the key {fault}"
        if found := _first_fault(item, (*path, key)):
            return found
    return None


def _name(value: str) -> str:
    if fault := text_fault(value, name=True):
        raise PydanticCustomError("text_name_character", fault)
    return value


class Schema(BaseModel):
    """Every request and response body. A request body whose text (at any depth, including
    free-form objects) breaks the text rule of ``text_fault`` is refused with a 422 naming
    the field."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")
    # Fields whose parts are validated one by one later (a sync push's changes).
    text_checked_later: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _text_rule(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        checked = (
            {k: v for k, v in data.items() if k not in cls.text_checked_later}
            if cls.text_checked_later
            else data
        )
        if found := _first_fault(checked, ()):
            path, fault = found
            where = ".".join(str(p) for p in path)
            # ``path`` lets the error answer point at the field itself (problems.py).
            raise PydanticCustomError(
                "text_character", "{where}: {fault}", {"where": where, "fault": fault, "path": list(path)}
            )
        return data


class PatchSchema(Schema):
    """A partial update: unset fields stay as they are; these may not be set to null."""

    not_nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> PatchSchema:
        nulled = sorted(n for n in self.model_fields_set & self.not_nullable if getattr(self, n) is None)
        if nulled:
            raise ValueError(f"cannot be null: {', '.join(nulled)}")
        return self


class Page(BaseModel, Generic[T]):
    """One page of a collection; pass ``next_cursor`` back as ``?cursor=`` for the next."""

    items: list[T]
    next_cursor: str | None

    @classmethod
    def model_parametrized_name(cls, params: tuple[type[Any], ...]) -> str:
        return f"{params[0].__name__}Page"


# A single-line name (of a customer, contact, team, user, task...): no controls, no bidi tricks.
# Put it after the length constraints: ``Annotated[str, StringConstraints(...), NameRule]``.
NameRule: Final = AfterValidator(_name)


def _money(value: Any) -> Decimal:
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValueError('must be a decimal amount like "12500.00"') from exc
    if not amount.is_finite():
        raise ValueError("must be a finite amount")
    # Size first: quantizing a huge number overflows the decimal context.
    if abs(amount) >= Decimal("1e16"):
        raise ValueError("amount too large")
    if amount != amount.quantize(CENT):
        raise ValueError("at most two decimal places")
    return amount.quantize(CENT)


# Money travels as a decimal string with two places ("12500.00"). The schema says string in
# requests and responses alike, so generated clients never turn an amount into a float; a JSON
# number is still read, for the clients that send one today.
MONEY_PATTERN = r"^-?\d+(\.\d{1,2})?$"
Money = Annotated[
    Decimal,
    BeforeValidator(_money),
    PlainSerializer(lambda d: f"{d:.2f}", return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "format": "decimal", "pattern": MONEY_PATTERN, "examples": ["12500.00"]}
    ),
]
# Any other exact number (rates, factors, thresholds, days) travels as a decimal string too.
DECIMAL_PATTERN = r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$"
DECIMAL_SCHEMA = {"type": "string", "format": "decimal", "pattern": DECIMAL_PATTERN, "examples": ["0.25"]}
DecimalString = Annotated[Decimal, WithJsonSchema(DECIMAL_SCHEMA)]
PositiveMoney = Annotated[Money, Field(gt=0)]


def _is_number(value: Any) -> bool:
    if isinstance(value, int | float):
        return True
    try:
        float(value)  # "0.5", "1700000000", "1e9", "nan"; never an ISO date
    except (TypeError, ValueError):
        return False
    return True


def _no_epoch_numbers(value: Any) -> Any:
    # pydantic would read a number, or a string of digits, as seconds since 1970:
    # "updated_since=0.5" must be a mistake, not 1970-01-01T00:00:00.5Z.
    if _is_number(value):
        raise ValueError("must be an ISO 8601 date-time with a time zone, like 2026-03-01T09:30:00Z")
    return value


def _to_utc(value: dt.datetime) -> dt.datetime:
    try:
        return value.astimezone(dt.UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+05:00 has no UTC equivalent
        raise ValueError("the time is out of range once converted to UTC") from exc


# A timestamp with a time zone, kept in UTC (answers echo "Z" whatever offset came in).
UtcDateTime = Annotated[AwareDatetime, BeforeValidator(_no_epoch_numbers), AfterValidator(_to_utc)]

# When something happened or is due: year 1 or 9999 is a typo or an attack, not a record.
EARLIEST_RECORD_TIME: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST_RECORD_TIME: Final = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def _in_record_window(value: dt.datetime) -> dt.datetime:
    if not EARLIEST_RECORD_TIME <= value < LATEST_RECORD_TIME:
        raise ValueError(
            f"must be between {EARLIEST_RECORD_TIME:%Y-%m-%d} and {LATEST_RECORD_TIME:%Y-%m-%d} (UTC)"
        )
    return value


# A stored timestamp (an activity, a due date, a signing, a payment), within the window above.
RecordDateTime = Annotated[UtcDateTime, AfterValidator(_in_record_window)]
# The incremental-pull filter's meaning, wherever a list takes ``updated_since``.
UPDATED_SINCE = (
    "Only records created or changed at or after this time (incremental pull; "
    "see docs/integration.md for the overlap to allow)"
)
