"""Contract lifecycle (SPEC §6): statuses and the decisions that move a contract between them.

    draft ──sign──▶ signed ──(accepted and fully paid)──▶ completed
      │               │
      └──cancel──▶ cancelled ◀──cancel (nothing billed yet)

Every function is pure: it takes the facts the service has read and either answers what
to do or raises a coded domain error that the service lets through unchanged.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from app.domain.errors import (
    ContractCustomerAbandoned,
    ContractHasReceivables,
    ContractNotCancellable,
    ContractNotDraft,
    ContractNotSigned,
    InvalidInput,
    ReceivableContractNotSigned,
)
from app.domain.funnel import Stage


class ContractStatus(StrEnum):
    draft = "draft"
    signed = "signed"
    completed = "completed"
    cancelled = "cancelled"


# Contracts that count as business done: they hold credit and count as trading for grading.
TRADING_STATUSES: frozenset[ContractStatus] = frozenset({ContractStatus.signed, ContractStatus.completed})
# Stages from which signing a contract moves the customer on to `signed`.
SIGNABLE_FROM: frozenset[Stage] = frozenset(
    {Stage.resource, Stage.graded, Stage.contacted, Stage.lead, Stage.intent}
)


def _abandoned(stage: Stage) -> None:
    if stage is Stage.abandoned:
        raise ContractCustomerAbandoned(
            "An abandoned customer gets no contract; reactivate it first",
        )


def check_draftable(*, customer_stage: Stage) -> None:
    """A new contract needs a customer that is still in the funnel."""
    _abandoned(customer_stage)


def check_editable(status: ContractStatus) -> None:
    """Only a draft's terms may change."""
    if status is not ContractStatus.draft:
        raise ContractNotDraft("Only a draft contract can be changed", contract_status=status.value)


def decide_sign(status: ContractStatus, *, customer_stage: Stage) -> Stage | None:
    """Check a draft may be signed; answer the stage the customer moves to, if any."""
    if status is not ContractStatus.draft:
        raise ContractNotDraft("Only a draft contract can be signed", contract_status=status.value)
    _abandoned(customer_stage)
    return Stage.signed if customer_stage in SIGNABLE_FROM else None


def decide_cancel(status: ContractStatus, *, billed: Decimal) -> None:
    """A draft or signed contract with nothing billed yet may be cancelled."""
    if status not in (ContractStatus.draft, ContractStatus.signed):
        raise ContractNotCancellable(
            f"A {status.value} contract cannot be cancelled",
            contract_status=status.value,
        )
    if billed > 0:
        raise ContractHasReceivables(
            "The contract has been billed; settle or write off its receivables first",
        )


def stage_after_cancel(was: ContractStatus, *, customer_stage: Stage, other_signed: bool) -> Stage | None:
    """A customer left with no live contract after a signed one is cancelled steps back
    from `signed` to `intent`."""
    if was is ContractStatus.signed and customer_stage is Stage.signed and not other_signed:
        return Stage.intent
    return None


def check_acceptable(status: ContractStatus) -> None:
    """Implementation acceptance is recorded on a signed contract only."""
    if status is not ContractStatus.signed:
        raise ContractNotSigned("Only a signed contract can be accepted", contract_status=status.value)


def check_billable(status: ContractStatus) -> None:
    """Receivables are issued against a signed contract only."""
    if status is not ContractStatus.signed:
        raise ReceivableContractNotSigned(
            f"A {status.value} contract cannot be billed",
            contract_status=status.value,
        )


def is_complete(status: ContractStatus, *, accepted: bool, paid: Decimal, amount: Decimal) -> bool:
    """A signed contract is completed once it is both accepted and fully paid."""
    return status is ContractStatus.signed and accepted and paid >= amount


def stage_after_complete(customer_stage: Stage) -> Stage | None:
    """Completing a contract implements a customer that is at `signed`."""
    return Stage.implemented if customer_stage is Stage.signed else None


__all__ = [
    "SIGNABLE_FROM",
    "TRADING_STATUSES",
    "ContractStatus",
    "check_acceptable",
    "check_billable",
    "check_draftable",
    "check_editable",
    "decide_cancel",
    "decide_sign",
    "is_complete",
    "stage_after_cancel",
    "stage_after_complete",
]


def check_service_period(start: date | None, end: date | None) -> None:
    """A service period ends on or after it starts."""
    if start is not None and end is not None and end < start:
        raise InvalidInput(
            "The service period ends before it starts",
            errors=[
                {
                    "loc": ["body", "service_end"],
                    "msg": "must not be before service_start",
                    "type": "value_error",
                }
            ],
        )


def renewal_window_start(service_end: date, notice_days: int) -> date:
    """The first day a customer whose service ends on ``service_end`` is renewal-due."""
    return service_end - timedelta(days=notice_days)


def is_renewal_due(
    *, stage: Stage, service_end: date | None, renewed: bool, today: date, notice_days: int
) -> bool:
    """SPEC §6 Renewals: an implemented customer whose (latest) service ends within
    ``notice_days`` — or has ended — and that has not signed a renewal in the window."""
    return (
        stage is Stage.implemented
        and service_end is not None
        and not renewed
        and today >= renewal_window_start(service_end, notice_days)
    )


def renewal_rate(due: int, renewed: int) -> Decimal | None:
    """Renewed ÷ due, to four places; None when nothing was due."""
    if due == 0:
        return None
    return (Decimal(renewed) / Decimal(due)).quantize(Decimal("0.0001"))


@dataclass(frozen=True, kw_only=True)
class ServicedContract:
    """A trading contract as renewals see it: when it was signed (business date) and the
    end of the service period it pays for, if any."""

    contract_id: Hashable
    signed_on: date
    service_end: date | None = None


def _renewed(
    contracts: Sequence[ServicedContract], ending: ServicedContract, *, notice_days: int, until: date | None
) -> bool:
    assert ending.service_end is not None
    since = renewal_window_start(ending.service_end, notice_days)
    return any(
        c.contract_id != ending.contract_id
        and c.signed_on >= since
        and (until is None or c.signed_on <= until)
        for c in contracts
    )


def renewal_due(
    contracts: Sequence[ServicedContract], *, stage: Stage, today: date, notice_days: int
) -> ServicedContract | None:
    """The contract a customer is renewal-due for (its latest service end), or None. A
    contract signed since the window opened renews it, whenever signed."""
    periods = [c for c in contracts if c.service_end is not None]
    if not periods:
        return None
    latest = max(periods, key=lambda c: (c.service_end, str(c.contract_id)))
    renewed = _renewed(contracts, latest, notice_days=notice_days, until=None)
    due = is_renewal_due(
        stage=stage, service_end=latest.service_end, renewed=renewed, today=today, notice_days=notice_days
    )
    return latest if due else None


def renewal_cohort(
    contracts: Sequence[ServicedContract], *, start: date, end: date, notice_days: int
) -> tuple[int, int]:
    """(due, renewed) for one customer's service periods ending in [start, end]: each is
    renewed when another contract was signed within its window (notice_days before its end
    up to the end)."""
    ending = [c for c in contracts if c.service_end is not None and start <= c.service_end <= end]
    renewed = sum(1 for c in ending if _renewed(contracts, c, notice_days=notice_days, until=c.service_end))
    return len(ending), renewed
