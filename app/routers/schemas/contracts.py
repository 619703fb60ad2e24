"""Schemas for contracts, receivables and payments."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from app.domain.contracts import ContractStatus
from app.domain.credit import receivable_standing
from app.routers.schemas.common import (
    UPDATED_SINCE,
    Money,
    PatchSchema,
    PositiveMoney,
    Schema,
    UtcDateTime,
)

ContractNumber = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
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


class ContractUpdate(PatchSchema):
    not_nullable = frozenset({"number", "amount", "payment_terms_days"})

    number: ContractNumber | None = None
    amount: PositiveMoney | None = None
    payment_terms_days: Terms | None = None


class CreditOverride(Schema):
    reason: Reason


class SignRequest(Schema):
    signed_at: UtcDateTime | None = Field(default=None, description="Past dates record history; "
                                            "future ones are refused. Default: now")
    override: CreditOverride | None = Field(default=None, description="Sign despite a credit block "
                                            "(finance, director; a manager within the threshold)")


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
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class ReceivableCreate(Schema):
    contract_id: uuid.UUID
    amount: PositiveMoney
    issued_at: UtcDateTime
    due_at: UtcDateTime


class WriteOffRequest(Schema):
    reason: Reason


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


class PaymentApplicationIn(Schema):
    """Part of a payment applied to one open receivable."""

    receivable_id: uuid.UUID
    amount: PositiveMoney


class PaymentCreate(Schema):
    customer_id: uuid.UUID
    amount: PositiveMoney
    received_at: UtcDateTime
    reference: Annotated[str, StringConstraints(max_length=100)] | None = None
    allocations: Annotated[list[PaymentApplicationIn], Field(max_length=200)] | None = Field(
        default=None, description="Where the payment goes (payment application); default: oldest due first")


class PaymentApplicationRead(Schema):
    """Part of a payment applied to one receivable."""

    receivable_id: uuid.UUID
    amount: Money


class PaymentRead(Schema):
    id: uuid.UUID
    customer_id: uuid.UUID
    amount: Money
    unallocated_amount: Money = Field(description="Kept as the customer's credit")
    received_at: dt.datetime
    reference: str | None
    created_by: uuid.UUID | None
    created_at: dt.datetime
    allocations: list[PaymentApplicationRead]


def receivable_read(receivable: object) -> ReceivableRead:
    status, outstanding = receivable_standing(
        receivable.amount, receivable.paid_amount,  # type: ignore[attr-defined]
        written_off=receivable.written_off_at is not None)  # type: ignore[attr-defined]
    data = {name: getattr(receivable, name) for name in ReceivableRead.model_fields
            if name not in ("outstanding", "status")}
    return ReceivableRead(**data, outstanding=outstanding, status=status)


def payment_read(view: object) -> PaymentRead:
    payment = view.payment  # type: ignore[attr-defined]
    data = {name: getattr(payment, name) for name in PaymentRead.model_fields if name != "allocations"}
    return PaymentRead(**data, allocations=[PaymentApplicationRead.model_validate(a)
                                            for a in view.applications])  # type: ignore[attr-defined]
