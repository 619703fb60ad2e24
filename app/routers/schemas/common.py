"""Schemas shared by every resource: pages and base config."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, Generic, TypeVar

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

CENT = Decimal("0.01")

T = TypeVar("T")


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")


class PatchSchema(Schema):
    """A partial update: unset fields stay as they are; these may not be set to null."""

    not_nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> PatchSchema:
        nulled = sorted(n for n in self.model_fields_set & self.not_nullable
                        if getattr(self, n) is None)
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


def _money(value: Any) -> Decimal:
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValueError("must be a decimal amount like \"12500.00\"") from exc
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
    WithJsonSchema({"type": "string", "format": "decimal", "pattern": MONEY_PATTERN,
                    "examples": ["12500.00"]}),
]
# Any other exact number (rates, factors, thresholds, days) travels as a decimal string too.
DECIMAL_PATTERN = r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$"
DECIMAL_SCHEMA = {"type": "string", "format": "decimal", "pattern": DECIMAL_PATTERN, "examples": ["0.25"]}
DecimalString = Annotated[Decimal, WithJsonSchema(DECIMAL_SCHEMA)]
PositiveMoney = Annotated[Money, Field(gt=0)]


def _to_utc(value: dt.datetime) -> dt.datetime:
    try:
        return value.astimezone(dt.UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+05:00 has no UTC equivalent
        raise ValueError("the time is out of range once converted to UTC") from exc


# A timestamp with a time zone, kept in UTC (answers echo "Z" whatever offset came in).
UtcDateTime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
# The incremental-pull filter's meaning, wherever a list takes ``updated_since``.
UPDATED_SINCE = ("Only records created or changed at or after this time (incremental pull; "
                 "see docs/integration.md for the overlap to allow)")
