"""Schemas for contracts, receivables and payments."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from app.domain.contracts import ContractStatus
from app.routers.schemas.common import (
    UPDATED_SINCE,
    Money,
    NameRule,
    PatchSchema,
    PositiveMoney,
    RecordDateTime,
    Schema,
    UtcDateTime,
)

ContractNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50), NameRule
]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Terms = Annotated[int, Field(ge=0, le=3650)]


class ContractFilterParams(BaseModel):
    """The contract filters, shared by the list and the export (query parameters)."""

    customer_id: uuid.UUID | None = None
    status: ContractStatus | None = None
    updated_since: UtcDateTime | None = Field(default=None, description=UPDATED_SINCE)


class ReceivableFilterParams(BaseModel):
    """The receivable filters, shared by the list and the export (query parameters)."""

    customer_id: uuid.UUID | None = None
    contract_id: uuid.UUID | None = None
    status: Literal["open", "paid", "written_off"] | None = None
    overdue: bool | None = None
    updated_since: UtcDateTime | None = Field(default=None, description=UPDATED_SINCE)


class PaymentFilterParams(BaseModel):
    """The payment filters, shared by the list and the export (query parameters). A payment
    never changes once recorded: ``updated_since`` selects those recorded since then."""

    customer_id: uuid.UUID | None = None
    updated_since: UtcDateTime | None = Field(default=None, description=UPDATED_SINCE)


class ContractCreate(Schema):
    customer_id: uuid.UUID
    number: ContractNumber
    amount: PositiveMoney
    payment_terms_days: Terms | None = Field(default=None, description="Defaults to the customer's terms")
    service_start: dt.date | None = Field(default=None, description="The service period it pays for")
    service_end: dt.date | None = Field(default=None, description="Drives renewals (SPEC §6)")


class ContractUpdate(PatchSchema):
    not_nullable = frozenset({"number", "amount", "payment_terms_days"})

    number: ContractNumber | None = None
    amount: PositiveMoney | None = None
    payment_terms_days: Terms | None = None
    service_start: dt.date | None = None
    service_end: dt.date | None = None


class CreditOverride(Schema):
    reason: Reason


class SignRequest(Schema):
    signed_at: RecordDateTime | None = Field(
        default=None, description="Past dates record history; future ones are refused. Default: now"
    )
    override: CreditOverride | None = Field(
        default=None,
        description="Sign despite a credit block (finance, director; a manager within the threshold)",
    )


class CancelRequest(Schema):
    reason: Reason


class ContractRead(Schema):
    id: uuid.UUID
    customer_id: uuid.UUID
    number: str
    amount: Money
    payment_terms_days: int
    status: ContractStatus
    owner_id: uuid.UUID | None
    team_id: uuid.UUID | None
    created_by: uuid.UUID | None
    signed_at: dt.datetime | None
    signed_by: uuid.UUID | None
    override_reason: str | None
    override_by: uuid.UUID | None
    accepted_at: dt.datetime | None
    completed_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    cancel_reason: str | None
    service_start: dt.date | None
    service_end: dt.date | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class ReceivableCreate(Schema):
    contract_id: uuid.UUID
    amount: PositiveMoney
    issued_at: RecordDateTime
    due_at: RecordDateTime | None = Field(
        default=None, description="Default: the issue date plus the contract's payment terms"
    )


class WriteOffRequest(Schema):
    reason: Reason


class PaymentApplicationRead(Schema):
    """Part of a payment applied to one receivable: when the payment arrived, or later from
    the customer's credit balance when the receivable was billed (``from_credit``)."""

    payment_id: uuid.UUID
    receivable_id: uuid.UUID
    amount: Money
    applied_at: dt.datetime
    from_credit: bool


class ReceivableRead(Schema):
    id: uuid.UUID
    contract_id: uuid.UUID
    customer_id: uuid.UUID
    amount: Money
    paid_amount: Money
    outstanding: Money
    status: Literal["open", "paid", "written_off"]
    issued_at: dt.datetime
    due_at: dt.datetime
    written_off_at: dt.datetime | None
    write_off_reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int
    applications: list[PaymentApplicationRead] = Field(
        description="The money applied to it: payments and credit balance, in order"
    )


class PaymentApplicationIn(Schema):
    """Part of a payment applied to one open receivable."""

    receivable_id: uuid.UUID
    amount: PositiveMoney


class PaymentCreate(Schema):
    customer_id: uuid.UUID
    amount: PositiveMoney
    received_at: RecordDateTime
    reference: Annotated[str, StringConstraints(max_length=100)] | None = None
    allocations: Annotated[list[PaymentApplicationIn], Field(max_length=200)] | None = Field(
        default=None, description="Where the payment goes (payment application); default: oldest due first"
    )


class PaymentRead(Schema):
    id: uuid.UUID
    customer_id: uuid.UUID
    amount: Money
    unallocated_amount: Money = Field(
        description="Still kept as the customer's credit balance (later bills and refunds take from it)"
    )
    refunded_amount: Money = Field(description="Credit balance from this payment paid back to the customer")
    received_at: dt.datetime
    reference: str | None
    created_by: uuid.UUID | None
    created_at: dt.datetime
    allocations: list[PaymentApplicationRead]


def receivable_read(view: object) -> ReceivableRead:
    receivable = view.receivable  # type: ignore[attr-defined]
    amount = receivable.amount  # type: ignore[attr-defined]
    paid = receivable.paid_amount  # type: ignore[attr-defined]
    written_off = receivable.written_off_at is not None  # type: ignore[attr-defined]
    outstanding = max(amount - paid, 0)
    status = "written_off" if written_off else ("paid" if outstanding == 0 else "open")
    data = {
        name: getattr(receivable, name)
        for name in ReceivableRead.model_fields
        if name not in ("outstanding", "status", "applications")
    }
    return ReceivableRead(
        **data,
        outstanding=outstanding,
        status=status,
        applications=[PaymentApplicationRead.model_validate(a) for a in view.applications],
    )  # type: ignore[attr-defined]


def payment_read(view: object) -> PaymentRead:
    payment = view.payment  # type: ignore[attr-defined]
    data = {name: getattr(payment, name) for name in PaymentRead.model_fields if name != "allocations"}
    return PaymentRead(
        **data, allocations=[PaymentApplicationRead.model_validate(a) for a in view.applications]
    )  # type: ignore[attr-defined]


class CreditRefundCreate(Schema):
    amount: PositiveMoney
    refunded_at: RecordDateTime | None = Field(default=None, description="Default: now")
    reason: Reason
    reference: Annotated[str, StringConstraints(max_length=100)] | None = None


class CreditRefundRead(Schema):
    id: uuid.UUID
    customer_id: uuid.UUID
    amount: Money
    refunded_at: dt.datetime
    reason: str
    reference: str | None
    created_by: uuid.UUID | None
    created_at: dt.datetime


class CreditRefundList(Schema):
    items: list[CreditRefundRead]
