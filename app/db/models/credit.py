"""Contracts, receivables, payments and credit: money is Money (exact) everywhere."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, IdMixin, TimestampMixin, VersionedMixin, utcnow
from app.db.types import Money, UTCDateTime
from app.domain.contracts import ContractStatus


class CreditProfile(TimestampMixin, VersionedMixin, Base):
    """A customer's credit terms. Its row is locked while a contract is checked and signed,
    so two signings cannot both spend the same available credit."""

    __tablename__ = "credit_profile"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customer.id"), primary_key=True)
    credit_limit: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    payment_terms_days: Mapped[int] = mapped_column(default=30)
    on_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    hold_reason: Mapped[str | None] = mapped_column(String(200))


class Contract(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "contract"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customer.id"))
    number: Mapped[str] = mapped_column(String(50), unique=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    payment_terms_days: Mapped[int] = mapped_column(default=30)
    status: Mapped[str] = mapped_column(String(20), default=ContractStatus.draft.value)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    team_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("team.id"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    signed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    signed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    override_reason: Mapped[str | None] = mapped_column(Text)
    override_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    # The service period the contract pays for (calendar dates); its end drives renewals.
    service_start: Mapped[dt.date | None] = mapped_column(Date)
    service_end: Mapped[dt.date | None] = mapped_column(Date)

    __table_args__ = (
        Index("ix_contract_customer_status", "customer_id", "status"),
        Index("ix_contract_status_signed_at", "status", "signed_at"),
        Index("ix_contract_owner_signed_at", "owner_id", "signed_at"),
    )


class Receivable(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "receivable"

    contract_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("contract.id"), index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customer.id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    # Kept equal to the sum of the payment applications to this receivable.
    paid_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    written_off_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    write_off_reason: Mapped[str | None] = mapped_column(Text)
    written_off_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))

    __table_args__ = (
        Index("ix_receivable_customer_due", "customer_id", "due_at"),
        Index("ix_receivable_due_at", "due_at"),
    )


class Payment(IdMixin, Base):
    __tablename__ = "payment"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customer.id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    # What is not (yet) applied to receivables stays with the customer as credit balance;
    # later bills take from it, and so do refunds. Always
    # amount = its applications + unallocated_amount + refunded_amount.
    unallocated_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    refunded_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal(0), server_default="0")
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reference: Mapped[str | None] = mapped_column(String(100))
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_payment_customer_received", "customer_id", "received_at"),)


class PaymentApplication(IdMixin, Base):
    """The part of a payment applied to one receivable ("allocation" is reserved for giving
    pool customers an owner; the table keeps its original name)."""

    __tablename__ = "payment_allocation"

    payment_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("payment.id"), index=True)
    receivable_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("receivable.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    # 0, 1, 2, … in the order the payment was applied (oldest due first, or as the caller
    # listed them); reads list the applications in this order.
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When the money reached the receivable: the payment's receipt, or for credit balance
    # applied to a later bill, the later of the receipt and the bill's issue date.
    applied_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # True when applied from the customer's credit balance as a later bill was issued.
    from_credit: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class CreditRefund(IdMixin, Base):
    """Credit balance paid back to the customer by finance (taken from the oldest credit
    first; each payment's ``refunded_amount`` says how much of it went back)."""

    __tablename__ = "credit_refund"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customer.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    refunded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(100))
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CreditLimitRequest(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "credit_limit_request"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customer.id"), index=True)
    current_limit: Mapped[Decimal] = mapped_column(Money)
    requested_limit: Mapped[Decimal] = mapped_column(Money)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    required_role: Mapped[str] = mapped_column(String(20))
    requested_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"))
    decided_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_credit_limit_request_status_created", "status", "created_at"),)


class CreditOverrideRequest(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A rep's request to sign a contract despite a credit block; approved by someone whose
    override authority covers the exposure after signing, then used by the signing."""

    __tablename__ = "credit_override_request"

    contract_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("contract.id"), index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customer.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    # pending → approved | rejected; approved → used once the contract is signed with it.
    status: Mapped[str] = mapped_column(String(20), default="pending")
    exposure_after: Mapped[Decimal] = mapped_column(Money)  # when requested, for the approver
    requested_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"))
    decided_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    decided_role: Mapped[str | None] = mapped_column(String(20))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_credit_override_request_status_created", "status", "created_at"),)


class CreditLimitChange(IdMixin, Base):
    """History of every credit limit a customer has had."""

    __tablename__ = "credit_limit_change"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customer.id"))
    old_limit: Mapped[Decimal] = mapped_column(Money)
    new_limit: Mapped[Decimal] = mapped_column(Money)
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("credit_limit_request.id"))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_credit_limit_change_customer_at", "customer_id", "at"),)
