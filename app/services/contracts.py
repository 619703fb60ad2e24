"""Use cases for contracts: drafting, signing under a race-free credit check, cancelling,
and implementation acceptance — each moving the customer through the funnel as it should."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.db.base import utcnow
from app.db.models import Contract, Customer
from app.db.repositories.pagination import Page
from app.db.uow import UnitOfWork
from app.domain.contracts import (
    ContractStatus,
    ServicedContract,
    check_acceptable,
    check_draftable,
    check_editable,
    check_service_period,
    decide_cancel,
    decide_sign,
    is_complete,
    renewal_cohort,
    renewal_due,
    renewal_rate,
    stage_after_cancel,
    stage_after_complete,
)
from app.domain.credit import Override, business_date, decide_signing
from app.domain.errors import (
    ContractNumberTaken,
    Forbidden,
    InvalidInput,
)
from app.domain.funnel import Stage
from app.domain.roles import Principal, Role
from app.services import credit as credit_service
from app.services import funnel as funnel_service
from app.services import settings as settings_service
from app.services.common import apply_changes, business_tz, check_version, found, jsonable

DRAFTERS = frozenset({Role.rep, Role.manager, Role.director, Role.finance})
SIGNERS = frozenset({Role.rep, Role.manager, Role.director, Role.finance})
ACCEPTORS = frozenset({Role.rep, Role.manager, Role.director, Role.support})


def _future(field: str, value: dt.datetime, now: dt.datetime) -> InvalidInput:
    return InvalidInput(
        f"{field} cannot be in the future",
        errors=[
            {
                "loc": ["body", field],
                "msg": f"{field} is later than now ({value.isoformat()})",
                "type": "value_error.future",
            }
        ],
    )


async def _customer_for(uow: UnitOfWork, actor: Principal, customer_id: uuid.UUID) -> Customer:
    customer = found(await uow.customers.get(customer_id, principal=actor, for_update=True), "Customer")
    if actor.role is Role.rep and customer.owner_id != actor.user_id:
        raise Forbidden("Reps handle contracts of their own customers only")
    return customer


async def locked_contract_in(
    uow: UnitOfWork, actor: Principal, contract_id: uuid.UUID
) -> tuple[Contract, Customer]:
    """The contract and its customer, both locked — the customer first, as every
    credit-changing use case does, so that none of them can deadlock another."""
    unlocked = found(await uow.contracts.get(contract_id, principal=actor), "Contract")
    customer = await _customer_for(uow, actor, unlocked.customer_id)
    contract = found(await uow.contracts.get_unscoped(contract_id, for_update=True), "Contract")
    return contract, customer


async def list_contracts(
    uow: UnitOfWork,
    actor: Principal,
    *,
    customer_id: uuid.UUID | None,
    status: ContractStatus | None,
    updated_since: dt.datetime | None = None,
    cursor: str | None,
    limit: int,
) -> Page[Contract]:
    async with uow:
        return await uow.contracts.list(
            actor,
            customer_id=customer_id,
            status=status,
            updated_since=updated_since,
            cursor=cursor,
            limit=limit,
        )


async def get_contract(uow: UnitOfWork, actor: Principal, *, contract_id: uuid.UUID) -> Contract:
    async with uow:
        return found(await uow.contracts.get(contract_id, principal=actor), "Contract")


async def create_contract(
    uow: UnitOfWork,
    actor: Principal,
    *,
    customer_id: uuid.UUID,
    number: str,
    amount: Decimal,
    payment_terms_days: int | None = None,
    service_start: dt.date | None = None,
    service_end: dt.date | None = None,
) -> Contract:
    check_service_period(service_start, service_end)
    now = utcnow()
    async with uow:
        customer = await _customer_for(uow, actor, customer_id)
        check_draftable(customer_stage=Stage(customer.stage))
        if await uow.contracts.number_taken(number):
            raise ContractNumberTaken("That contract number is taken", number=number)
        if payment_terms_days is None:
            profile = await uow.credit.profile(customer.id)
            payment_terms_days = (
                profile.payment_terms_days
                if profile is not None
                else (await settings_service.credit_policy_in(uow)).default_payment_terms_days
            )
        contract = Contract(
            customer_id=customer.id,
            number=number,
            amount=amount,
            payment_terms_days=payment_terms_days,
            service_start=service_start,
            service_end=service_end,
            status=ContractStatus.draft,
            created_by=actor.user_id,
            owner_id=customer.owner_id,
            team_id=customer.team_id,
            created_at=now,
            updated_at=now,
        )
        uow.contracts.add(contract)
        await uow.flush()
        uow.history.record(
            customer_id=customer.id,
            actor_id=actor.user_id,
            action="contract_create",
            entity="contract",
            entity_id=contract.id,
            at=now,
            changes={"number": [None, number], "amount": [None, jsonable(amount)]},
        )
        await uow.commit()
        return contract


async def update_contract(
    uow: UnitOfWork,
    actor: Principal,
    *,
    contract_id: uuid.UUID,
    expected_version: int | None,
    changes: dict[str, Any],
) -> Contract:
    async with uow:
        contract, _ = await locked_contract_in(uow, actor, contract_id)
        check_version(contract, expected_version)
        check_editable(ContractStatus(contract.status))
        if "number" in changes and await uow.contracts.number_taken(changes["number"], exclude=contract.id):
            raise ContractNumberTaken("That contract number is taken")
        diff = apply_changes(contract, changes)
        check_service_period(contract.service_start, contract.service_end)
        if diff:
            uow.history.record(
                customer_id=contract.customer_id,
                actor_id=actor.user_id,
                action="contract_update",
                entity="contract",
                entity_id=contract.id,
                changes=diff,
            )
            await uow.commit()
        return contract


async def sign_contract(
    uow: UnitOfWork,
    actor: Principal,
    *,
    contract_id: uuid.UUID,
    signed_at: dt.datetime | None = None,
    override_reason: str | None = None,
) -> Contract:
    """Sign a draft: the credit check and the signing happen in one transaction holding the
    customer's credit row, so concurrent signings cannot both spend the same credit."""
    now = utcnow()
    if signed_at is not None and signed_at > now:
        raise _future("signed_at", signed_at, now)
    async with uow:
        contract, customer = await locked_contract_in(uow, actor, contract_id)
        to_stage = decide_sign(ContractStatus(contract.status), customer_stage=Stage(customer.stage))
        policy = await settings_service.credit_policy_in(uow)
        profile = await uow.credit.lock_profile(
            customer.id,
            default_limit=await settings_service.default_credit_limit_in(uow, customer.grade),
            default_terms=policy.default_payment_terms_days,
        )
        _, state = await credit_service.credit_state_in(
            uow, customer.id, limit=profile.credit_limit, on_hold_flag=profile.on_hold, now=now
        )
        # Without an override of the caller's own, an approved override request is used.
        request = None if override_reason is not None else await uow.credit.approved_override_for(contract.id)
        override = (
            Override(reason=override_reason)
            if override_reason is not None
            else None
            if request is None
            else Override(reason=request.reason, approved_role=request.decided_role)
        )
        decision = decide_signing(
            state=state, amount=contract.amount, policy=policy, actor_role=actor.role.value, override=override
        )
        contract.status = ContractStatus.signed
        contract.signed_at = signed_at or now
        contract.signed_by = actor.user_id
        contract.owner_id = customer.owner_id
        contract.team_id = customer.team_id
        if decision.override_used:
            contract.override_reason = decision.override_reason
            contract.override_by = actor.user_id if request is None else request.decided_by
            if request is not None:
                request.status, request.used_at = "used", now
        await uow.flush()
        if to_stage is not None:
            await funnel_service.apply_transition_in(
                uow,
                actor_id=actor.user_id,
                customer=customer,
                to_stage=to_stage,
                now=now,
                extra_changes={"contract": [None, contract.number]},
            )
        uow.history.record(
            customer_id=customer.id,
            actor_id=actor.user_id,
            action="contract_sign",
            entity="contract",
            entity_id=contract.id,
            at=now,
            changes={
                "status": [ContractStatus.draft, ContractStatus.signed],
                "amount": [None, jsonable(contract.amount)],
                "available_before": [None, jsonable(decision.available)],
                **(
                    {
                        "override": [
                            None,
                            {
                                "reason": decision.override_reason,
                                "lifted": list(decision.overridden),
                                **({"request": str(request.id)} if request is not None else {}),
                            },
                        ]
                    }
                    if decision.override_used
                    else {}
                ),
            },
        )
        await uow.commit()
        return contract


async def cancel_contract(
    uow: UnitOfWork, actor: Principal, *, contract_id: uuid.UUID, reason: str
) -> Contract:
    """Cancel a draft or signed contract; a customer left with no live contract steps back
    from `signed` to `intent`."""
    now = utcnow()
    async with uow:
        contract, customer = await locked_contract_in(uow, actor, contract_id)
        was = ContractStatus(contract.status)
        decide_cancel(was, billed=await uow.contracts.billed(contract.id))
        contract.status = ContractStatus.cancelled
        contract.cancelled_at = now
        contract.cancel_reason = reason
        await uow.flush()
        to_stage = stage_after_cancel(
            was,
            customer_stage=Stage(customer.stage),
            other_signed=(await uow.contracts.facts(customer.id)).has_signed_contract,
        )
        if to_stage is not None:
            await funnel_service.apply_transition_in(
                uow,
                actor_id=actor.user_id,
                customer=customer,
                to_stage=to_stage,
                reason="contract_cancelled",
                note=reason,
                now=now,
            )
        uow.history.record(
            customer_id=customer.id,
            actor_id=actor.user_id,
            action="contract_cancel",
            entity="contract",
            entity_id=contract.id,
            at=now,
            changes={"status": [was, ContractStatus.cancelled], "reason": [None, reason]},
        )
        await uow.commit()
        return contract


async def complete_if_settled_in(
    uow: UnitOfWork, contract: Contract, customer: Customer, *, actor_id: uuid.UUID | None, now: dt.datetime
) -> None:
    """A signed contract fully paid and accepted is completed, and its customer implemented."""
    status = ContractStatus(contract.status)
    if status is not ContractStatus.signed or contract.accepted_at is None:
        return  # not completable: spare the sum
    if not is_complete(
        status, accepted=True, paid=await uow.contracts.paid(contract.id), amount=contract.amount
    ):
        return
    contract.status = ContractStatus.completed
    contract.completed_at = now
    await uow.flush()
    to_stage = stage_after_complete(Stage(customer.stage))
    if to_stage is not None:
        await funnel_service.apply_transition_in(
            uow,
            actor_id=actor_id,
            customer=customer,
            to_stage=to_stage,
            now=now,
            extra_changes={"contract": [None, contract.number]},
        )


async def accept_contract(uow: UnitOfWork, actor: Principal, *, contract_id: uuid.UUID) -> Contract:
    """Record that the implementation was accepted; completes the contract once fully paid."""
    now = utcnow()
    async with uow:
        contract, customer = await locked_contract_in(uow, actor, contract_id)
        check_acceptable(ContractStatus(contract.status))
        if contract.accepted_at is None:
            contract.accepted_at = now
            uow.history.record(
                customer_id=customer.id,
                actor_id=actor.user_id,
                action="contract_accept",
                entity="contract",
                entity_id=contract.id,
                at=now,
                changes={"accepted_at": [None, now.isoformat()]},
            )
        await complete_if_settled_in(uow, contract, customer, actor_id=actor.user_id, now=now)
        await uow.commit()
        return contract


# --- renewals (续费) ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RenewalDue:
    customer: Customer
    contract: Contract
    service_end: dt.date
    days_left: int  # negative once the service has ended


@dataclass(frozen=True, slots=True)
class RenewalsReport:
    as_of: dt.date
    renewal_notice_days: int
    due: list[RenewalDue]
    date_from: dt.date
    date_to: dt.date
    due_count: int
    renewed_count: int
    renewal_rate: Decimal | None


def _serviced(contract: Contract) -> ServicedContract:
    signed_at = contract.signed_at or contract.created_at
    return ServicedContract(
        contract_id=contract.id,
        signed_on=business_date(signed_at, business_tz()),
        service_end=contract.service_end,
    )


def _by_customer(rows: list[tuple[Contract, Customer]]) -> dict[uuid.UUID, tuple[Customer, list[Contract]]]:
    grouped: dict[uuid.UUID, tuple[Customer, list[Contract]]] = {}
    for contract, customer in rows:
        grouped.setdefault(customer.id, (customer, []))[1].append(contract)
    return grouped


def _due_in(
    grouped: dict[uuid.UUID, tuple[Customer, list[Contract]]], *, today: dt.date, notice_days: int
) -> list[RenewalDue]:
    due = []
    for customer, contracts in grouped.values():
        by_id = {c.id: c for c in contracts}
        ending = renewal_due(
            [_serviced(c) for c in contracts],
            stage=Stage(customer.stage),
            today=today,
            notice_days=notice_days,
        )
        if ending is not None and ending.service_end is not None:
            due.append(
                RenewalDue(
                    customer=customer,
                    contract=by_id[ending.contract_id],  # type: ignore[index]
                    service_end=ending.service_end,
                    days_left=(ending.service_end - today).days,
                )
            )
    due.sort(key=lambda d: (d.service_end, d.customer.name, str(d.customer.id)))
    return due


async def renewal_due_ids_in(
    uow: UnitOfWork, customer_ids: list[uuid.UUID], *, now: dt.datetime
) -> set[uuid.UUID]:
    """Which of these customers are renewal-due today (for a handover)."""
    if not customer_ids:
        return set()
    policy = await settings_service.credit_policy_in(uow)
    grouped = _by_customer(await uow.contracts.with_service_periods_unscoped(customer_ids))
    today = business_date(now, business_tz())
    return {d.customer.id for d in _due_in(grouped, today=today, notice_days=policy.renewal_notice_days)}


async def renewal_counts_in(
    uow: UnitOfWork, *, start: dt.date, end: dt.date, owner_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int]]:
    """(due, renewed) per current owner for the service periods of their customers that end
    in ``start``..``end`` (business dates), judged as ``GET /reports/renewals`` judges them."""
    policy = await settings_service.credit_policy_in(uow)
    counts: dict[uuid.UUID, tuple[int, int]] = {}
    rows = await uow.contracts.with_service_periods_owned_by(owner_ids)
    for customer, contracts in _by_customer(rows).values():
        if customer.owner_id is None:
            continue
        due, renewed = renewal_cohort(
            [_serviced(c) for c in contracts], start=start, end=end, notice_days=policy.renewal_notice_days
        )
        before = counts.get(customer.owner_id, (0, 0))
        counts[customer.owner_id] = (before[0] + due, before[1] + renewed)
    return counts


async def renewals(
    uow: UnitOfWork,
    actor: Principal,
    *,
    as_of: dt.date | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> RenewalsReport:
    """Renewal-due customers in the caller's scope at ``as_of`` (business date, default
    today), soonest end first; and the renewal rate of the service periods that ended in
    ``date_from``..``date_to`` (default: the twelve months up to ``as_of``)."""
    today = as_of or business_date(utcnow(), business_tz())
    end = date_to or today
    try:
        start = date_from or end - dt.timedelta(days=365)
    except OverflowError as exc:
        raise InvalidInput(
            "The period is out of range",
            errors=[{"loc": ["query", "from"], "msg": "date out of range", "type": "value_error"}],
        ) from exc
    if start > end:
        raise InvalidInput(
            "The period starts after it ends",
            errors=[{"loc": ["query", "from"], "msg": "must not be after 'to'", "type": "value_error"}],
        )
    async with uow:
        policy = await settings_service.credit_policy_in(uow)
        rows = await uow.contracts.with_service_periods(actor)
    notice = policy.renewal_notice_days
    grouped = _by_customer(rows)
    due_count = renewed_count = 0
    for _, contracts in grouped.values():
        due, renewed = renewal_cohort(
            [_serviced(c) for c in contracts], start=start, end=end, notice_days=notice
        )
        due_count, renewed_count = due_count + due, renewed_count + renewed
    return RenewalsReport(
        as_of=today,
        renewal_notice_days=notice,
        due=_due_in(grouped, today=today, notice_days=notice),
        date_from=start,
        date_to=end,
        due_count=due_count,
        renewed_count=renewed_count,
        renewal_rate=renewal_rate(due_count, renewed_count),
    )
