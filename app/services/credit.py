"""Use cases for credit control: a customer's credit position and terms, credit-limit requests
and their approval, and the receivables reports (AR aging, bad-debt provision)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from app.db.base import utcnow
from app.db.models import (
    CreditLimitChange,
    CreditLimitRequest,
    CreditOverrideRequest,
    CreditProfile,
    Customer,
)
from app.db.repositories.credit import ExposureFacts
from app.db.repositories.pagination import Page
from app.db.uow import UnitOfWork
from app.domain.contracts import ContractStatus, check_editable
from app.domain.credit import (
    ZERO,
    AgingBucket,
    CreditPolicy,
    CreditState,
    CreditWarning,
    SuggestedLimit,
    bucket_for,
    business_date,
    business_day_start,
    check_can_approve,
    check_can_approve_override,
    collection_action,
    credit_warnings,
    days_overdue,
    exposure,
    is_on_hold,
    money,
    overdue_before,
    provision,
    provision_rate,
    required_approver_role,
    suggested_limit,
)
from app.domain.errors import Forbidden, InvalidInput, RequestNotPending
from app.domain.roles import Principal, Role
from app.services import grading as grading_service
from app.services import settings as settings_service
from app.services.common import apply_changes, business_tz, check_version, found, jsonable

# Who may do what (the routes declare the same sets; the service enforces them too).
CREDIT_READERS = frozenset({Role.director, Role.finance, Role.manager, Role.rep})
CREDIT_EDITORS = frozenset({Role.director, Role.finance})
LIMIT_REQUESTERS = frozenset({Role.director, Role.finance, Role.manager, Role.rep})
# Which of these may approve a given request is the domain's call (thresholds by role).
LIMIT_APPROVERS = frozenset({Role.director, Role.finance, Role.manager})
REPORT_READERS = frozenset({Role.director, Role.finance, Role.manager, Role.rep})

GroupBy = Literal["customer", "owner", "team"]
RequestStatus = Literal["pending", "approved", "rejected"]


def _require(actor: Principal, roles: frozenset[Role]) -> None:
    if actor.role not in roles:
        raise Forbidden(f"Your role ({actor.role}) may not do this")


# ----------------------------------------------------------------------------------------
# The credit view
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreditView:
    customer_id: uuid.UUID
    credit_limit: Decimal
    exposure: Decimal
    available: Decimal
    on_hold: bool
    manual_hold: bool
    hold_reason: str | None
    payment_terms_days: int
    open_receivables: Decimal
    signed_unbilled: Decimal
    overdue_count: int
    max_days_overdue: int
    credit_balance: Decimal
    warnings: list[CreditWarning]
    suggested_limit: SuggestedLimit
    version: int  # of the credit profile; 0 while the customer still has the defaults


def _billing_window_start(now: dt.datetime) -> dt.datetime:
    """First instant of the month eleven months back: with the current one, 12 calendar months."""
    month_index = now.year * 12 + now.month - 1 - 11
    return dt.datetime(month_index // 12, month_index % 12 + 1, 1, tzinfo=dt.UTC)


async def _credit_view(
    uow: UnitOfWork,
    customer: Customer,
    profile: CreditProfile | None,
    *,
    policy: CreditPolicy,
    now: dt.datetime,
) -> CreditView:
    """The customer's credit position now, warnings included (a recent grade drop too)."""
    grade_dropped = await grading_service.recent_drop_in(uow, customer.id)
    if profile is None:
        limit = await settings_service.default_credit_limit_in(uow, customer.grade)
        terms, manual_hold, manual_reason, version = policy.default_payment_terms_days, False, None, 0
    else:
        limit, terms = profile.credit_limit, profile.payment_terms_days
        manual_hold, manual_reason, version = profile.on_hold, profile.hold_reason, profile.version
    # Built exactly as the signing check builds it, so the view never disagrees with it.
    facts, state = await credit_state_in(uow, customer.id, limit=limit, on_hold_flag=manual_hold, now=now)
    max_days = state.max_days_overdue
    on_hold = is_on_hold(state, policy)
    hold_reason = None
    if manual_hold:
        hold_reason = manual_reason or "manual hold"
    elif on_hold:
        hold_reason = f"a receivable is {max_days} days overdue (hold after {policy.hold_after_overdue_days})"

    monthly, billed, paid = await uow.receivables.monthly_billed(
        customer.id, since=_billing_window_start(now)
    )
    grade = customer.grade if customer.grade in policy.grade_factors else None
    suggestion = suggested_limit(
        grade=grade,
        monthly_billed=monthly,
        billed_total=billed,
        paid_total=paid,
        payment_terms_days=terms,
        policy=policy,
    )
    return CreditView(
        customer_id=customer.id,
        credit_limit=money(limit),
        exposure=state.exposure,
        available=state.available,
        on_hold=on_hold,
        manual_hold=manual_hold,
        hold_reason=hold_reason,
        payment_terms_days=terms,
        open_receivables=money(facts.open_receivables),
        signed_unbilled=money(facts.signed_unbilled),
        overdue_count=facts.overdue_count,
        max_days_overdue=max_days,
        credit_balance=money(facts.credit_balance),
        warnings=credit_warnings(
            state=state, policy=policy, grade_dropped=grade_dropped, overdue_count=facts.overdue_count
        ),
        suggested_limit=suggestion,
        version=version,
    )


async def credit_state_in(
    uow: UnitOfWork, customer_id: uuid.UUID, *, limit: Decimal, on_hold_flag: bool, now: dt.datetime
) -> tuple[ExposureFacts, CreditState]:
    """The customer's credit position at ``now``, days overdue counted in the business
    time zone (``domain.credit.days_overdue``)."""
    tz = business_tz()
    facts = await uow.credit.exposure(customer_id, overdue_before=overdue_before(now, tz))
    oldest = facts.oldest_overdue_due_at
    state = CreditState(
        credit_limit=limit,
        open_receivables=facts.open_receivables,
        signed_unbilled=facts.signed_unbilled,
        credit_balance=facts.credit_balance,
        on_hold_flag=on_hold_flag,
        max_days_overdue=0 if oldest is None else days_overdue(oldest, now, tz),
    )
    return facts, state


async def get_credit(uow: UnitOfWork, actor: Principal, *, customer_id: uuid.UUID) -> CreditView:
    """Limit, exposure, available credit, hold, terms, warnings and a suggested limit."""
    _require(actor, CREDIT_READERS)
    async with uow:
        customer = found(await uow.customers.get(customer_id, principal=actor), "Customer")
        policy = await settings_service.credit_policy_in(uow)
        profile = await uow.credit.profile(customer.id)
        return await _credit_view(uow, customer, profile, policy=policy, now=utcnow())


async def _locked_customer_and_profile(
    uow: UnitOfWork, actor: Principal, customer_id: uuid.UUID, policy: CreditPolicy
) -> tuple[Customer, CreditProfile, bool]:
    """Customer, then credit profile, both locked — the order every credit-changing use case
    takes, so none can deadlock another. Also answers whether the profile existed before."""
    customer = found(await uow.customers.get(customer_id, principal=actor, for_update=True), "Customer")
    existed = await uow.credit.profile(customer.id) is not None
    profile = await uow.credit.lock_profile(
        customer.id,
        default_limit=await settings_service.default_credit_limit_in(uow, customer.grade),
        default_terms=policy.default_payment_terms_days,
    )
    return customer, profile, existed


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()  # a field left out of a partial update (``None`` clears it)


async def update_credit_terms(
    uow: UnitOfWork,
    actor: Principal,
    *,
    customer_id: uuid.UUID,
    expected_version: int | None,
    payment_terms_days: int | None = None,
    on_hold: bool | None = None,
    hold_reason: str | _Unset | None = UNSET,
) -> CreditView:
    """Payment terms and the manual credit hold (finance, director). The limit itself only
    changes through an approved limit request."""
    _require(actor, CREDIT_EDITORS)
    if payment_terms_days is not None and not 0 <= payment_terms_days <= 3650:
        raise InvalidInput(
            "Payment terms must be between 0 and 3650 days",
            errors=[
                {
                    "loc": ["body", "payment_terms_days"],
                    "msg": "must be between 0 and 3650",
                    "type": "value_error",
                }
            ],
        )
    hold_reason_set = not isinstance(hold_reason, _Unset)
    reason = hold_reason.strip() or None if isinstance(hold_reason, str) else None
    now = utcnow()
    async with uow:
        policy = await settings_service.credit_policy_in(uow)
        customer, profile, existed = await _locked_customer_and_profile(uow, actor, customer_id, policy)
        # A profile created just now still holds the defaults the client saw as version 0.
        current = profile.version if existed or profile.version != 1 else 0
        if expected_version is not None and current != expected_version:
            check_version(profile, expected_version)
        changes: dict[str, object] = {}
        if payment_terms_days is not None:
            changes["payment_terms_days"] = payment_terms_days
        if hold_reason_set:
            changes["hold_reason"] = reason
        if on_hold is not None:
            changes["on_hold"] = on_hold
            if on_hold and not profile.on_hold and not (reason if hold_reason_set else None):
                raise InvalidInput(
                    "Putting a customer on hold needs a reason",
                    errors=[
                        {
                            "loc": ["body", "hold_reason"],
                            "msg": "required when on_hold is set",
                            "type": "value_error",
                        }
                    ],
                )
            if not on_hold and not hold_reason_set:
                changes["hold_reason"] = None
        diff = apply_changes(profile, changes)
        if diff:
            uow.history.record(
                customer_id=customer.id,
                actor_id=actor.user_id,
                action="credit_terms_update",
                entity="credit_profile",
                entity_id=customer.id,
                at=now,
                changes=diff,
            )
        await uow.flush()
        view = await _credit_view(uow, customer, profile, policy=policy, now=now)
        await uow.commit()
        return view


# ----------------------------------------------------------------------------------------
# Credit-limit requests and approvals
# ----------------------------------------------------------------------------------------


async def request_limit(
    uow: UnitOfWork, actor: Principal, *, customer_id: uuid.UUID, requested_limit: Decimal, reason: str
) -> CreditLimitRequest:
    """Ask for a new limit; who must approve it follows from the amount and the policy."""
    _require(actor, LIMIT_REQUESTERS)
    reason = reason.strip()
    if not reason:
        raise InvalidInput(
            "A limit request needs a reason",
            errors=[{"loc": ["body", "reason"], "msg": "must not be empty", "type": "value_error"}],
        )
    now = utcnow()
    async with uow:
        customer = found(await uow.customers.get(customer_id, principal=actor), "Customer")
        if actor.role is Role.rep and customer.owner_id != actor.user_id:
            raise Forbidden("Reps request limits for their own customers only")
        policy = await settings_service.credit_policy_in(uow)
        required = required_approver_role(requested_limit, policy)
        profile = await uow.credit.profile(customer.id)
        current = (
            profile.credit_limit
            if profile is not None
            else await settings_service.default_credit_limit_in(uow, customer.grade)
        )
        request = CreditLimitRequest(
            customer_id=customer.id,
            current_limit=current,
            requested_limit=requested_limit,
            reason=reason,
            status="pending",
            required_role=required,
            requested_by=actor.user_id,
            created_at=now,
            updated_at=now,
        )
        uow.credit.add(request)
        await uow.flush()
        uow.history.record(
            customer_id=customer.id,
            actor_id=actor.user_id,
            action="credit_limit_request",
            entity="credit_limit_request",
            entity_id=request.id,
            at=now,
            changes={
                "requested_limit": [jsonable(current), jsonable(requested_limit)],
                "required_role": [None, required],
                "reason": [None, reason],
            },
        )
        await uow.commit()
        return request


async def _decide_in(
    uow: UnitOfWork, actor: Principal, *, request_id: uuid.UUID, approve: bool, note: str | None
) -> CreditLimitRequest:
    note = note.strip() or None if note is not None else None
    now = utcnow()
    unlocked = found(await uow.credit.limit_request(request_id, principal=actor), "Credit limit request")
    policy = await settings_service.credit_policy_in(uow)
    customer, profile, _ = await _locked_customer_and_profile(uow, actor, unlocked.customer_id, policy)
    request = found(
        await uow.credit.limit_request(request_id, principal=actor, for_update=True), "Credit limit request"
    )
    if request.status != "pending":
        raise RequestNotPending(f"The request is already {request.status}", request_status=request.status)
    # The thresholds in force now decide, not those when the request was made.
    check_can_approve(
        approver_role=actor.role.value,
        approver_id=actor.user_id,
        requester_id=request.requested_by,
        requested_limit=request.requested_limit,
        policy=policy,
    )
    request.status = "approved" if approve else "rejected"
    request.decided_by = actor.user_id
    request.decided_at = now
    request.decision_note = note
    changes: dict[str, object] = {"status": ["pending", request.status]}
    if approve:
        old = profile.credit_limit
        profile.credit_limit = request.requested_limit
        uow.credit.add(
            CreditLimitChange(
                customer_id=customer.id,
                old_limit=old,
                new_limit=request.requested_limit,
                request_id=request.id,
                actor_id=actor.user_id,
                reason=request.reason,
                at=now,
            )
        )
        changes["credit_limit"] = [jsonable(old), jsonable(request.requested_limit)]
    if note:
        changes["note"] = [None, note]
    uow.history.record(
        customer_id=customer.id,
        actor_id=actor.user_id,
        action="credit_limit_approve" if approve else "credit_limit_reject",
        entity="credit_limit_request",
        entity_id=request.id,
        at=now,
        changes=changes,
    )
    return request


async def approve_request(
    uow: UnitOfWork, actor: Principal, *, request_id: uuid.UUID, note: str | None = None
) -> CreditLimitRequest:
    """Approve a pending request within the approver's threshold: the limit changes at once
    (under the customer's credit-row lock) and the change is recorded in the limit history."""
    _require(actor, LIMIT_APPROVERS)
    async with uow:
        request = await _decide_in(uow, actor, request_id=request_id, approve=True, note=note)
        await uow.commit()
        return request


async def reject_request(
    uow: UnitOfWork, actor: Principal, *, request_id: uuid.UUID, note: str | None = None
) -> CreditLimitRequest:
    """Reject a pending request; the same roles and thresholds as approving apply."""
    _require(actor, LIMIT_APPROVERS)
    async with uow:
        request = await _decide_in(uow, actor, request_id=request_id, approve=False, note=note)
        await uow.commit()
        return request


async def list_requests(
    uow: UnitOfWork,
    actor: Principal,
    *,
    status: RequestStatus | None,
    customer_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> Page[CreditLimitRequest]:
    _require(actor, LIMIT_REQUESTERS)
    async with uow:
        return await uow.credit.limit_requests(
            actor, status=status, customer_id=customer_id, cursor=cursor, limit=limit
        )


async def get_request(uow: UnitOfWork, actor: Principal, *, request_id: uuid.UUID) -> CreditLimitRequest:
    _require(actor, LIMIT_REQUESTERS)
    async with uow:
        return found(await uow.credit.limit_request(request_id, principal=actor), "Credit limit request")


async def limit_history(
    uow: UnitOfWork, actor: Principal, *, customer_id: uuid.UUID
) -> list[CreditLimitChange]:
    """Every limit the customer has had, newest first."""
    _require(actor, CREDIT_READERS)
    async with uow:
        customer = found(await uow.customers.get(customer_id, principal=actor), "Customer")
        return await uow.credit.limit_changes(customer.id)


# ----------------------------------------------------------------------------------------
# Credit override requests: a rep asks, someone with authority approves, the rep signs
# ----------------------------------------------------------------------------------------


async def _exposure_after_in(
    uow: UnitOfWork, customer: Customer, profile: CreditProfile, *, amount: Decimal, now: dt.datetime
) -> Decimal:
    """The customer's exposure once a contract of ``amount`` is signed (credit deducted)."""
    _, state = await credit_state_in(
        uow, customer.id, limit=profile.credit_limit, on_hold_flag=profile.on_hold, now=now
    )
    return exposure(state.open_receivables, state.signed_unbilled + amount, state.credit_balance)


async def request_override(
    uow: UnitOfWork, actor: Principal, *, contract_id: uuid.UUID, reason: str
) -> CreditOverrideRequest:
    """Ask to sign a draft despite a credit block (reps for their own customers). Whoever
    approves needs override authority over the exposure after signing (SPEC §6)."""
    _require(actor, LIMIT_REQUESTERS)
    reason = reason.strip()
    if not reason:
        raise InvalidInput(
            "An override request needs a reason",
            errors=[{"loc": ["body", "reason"], "msg": "must not be empty", "type": "value_error"}],
        )
    now = utcnow()
    async with uow:
        unlocked = found(await uow.contracts.get(contract_id, principal=actor), "Contract")
        policy = await settings_service.credit_policy_in(uow)
        customer, profile, _ = await _locked_customer_and_profile(uow, actor, unlocked.customer_id, policy)
        if actor.role is Role.rep and customer.owner_id != actor.user_id:
            raise Forbidden("Reps request overrides for their own customers only")
        contract = found(await uow.contracts.get_unscoped(contract_id, for_update=True), "Contract")
        check_editable(ContractStatus(contract.status))
        after = await _exposure_after_in(uow, customer, profile, amount=contract.amount, now=now)
        request = CreditOverrideRequest(
            contract_id=contract.id,
            customer_id=customer.id,
            reason=reason,
            status="pending",
            exposure_after=after,
            requested_by=actor.user_id,
            created_at=now,
            updated_at=now,
        )
        uow.credit.add(request)
        await uow.flush()
        uow.history.record(
            customer_id=customer.id,
            actor_id=actor.user_id,
            action="credit_override_request",
            entity="override_request",
            entity_id=request.id,
            at=now,
            changes={
                "contract": [None, contract.number],
                "reason": [None, reason],
                "exposure_after": [None, jsonable(after)],
            },
        )
        await uow.commit()
        return request


async def _decide_override_in(
    uow: UnitOfWork, actor: Principal, *, request_id: uuid.UUID, approve: bool, note: str | None
) -> CreditOverrideRequest:
    note = note.strip() or None if note is not None else None
    now = utcnow()
    unlocked = found(
        await uow.credit.override_request(request_id, principal=actor), "Credit override request"
    )
    policy = await settings_service.credit_policy_in(uow)
    customer, profile, _ = await _locked_customer_and_profile(uow, actor, unlocked.customer_id, policy)
    request = found(
        await uow.credit.override_request(request_id, principal=actor, for_update=True),
        "Credit override request",
    )
    if request.status != "pending":
        raise RequestNotPending(f"The request is already {request.status}", request_status=request.status)
    contract = found(await uow.contracts.get_unscoped(request.contract_id, for_update=True), "Contract")
    check_editable(ContractStatus(contract.status))
    # Measured now, on the exposure the signing would leave, not when it was asked for.
    after = await _exposure_after_in(uow, customer, profile, amount=contract.amount, now=now)
    check_can_approve_override(
        approver_role=actor.role.value,
        approver_id=actor.user_id,
        requester_id=request.requested_by,
        exposure_after=after,
        policy=policy,
    )
    request.status = "approved" if approve else "rejected"
    request.decided_by = actor.user_id
    request.decided_role = actor.role.value
    request.decided_at = now
    request.decision_note = note
    uow.history.record(
        customer_id=customer.id,
        actor_id=actor.user_id,
        action="credit_override_approve" if approve else "credit_override_reject",
        entity="override_request",
        entity_id=request.id,
        at=now,
        changes={
            "status": ["pending", request.status],
            "exposure_after": [None, jsonable(after)],
            **({"note": [None, note]} if note else {}),
        },
    )
    return request


async def approve_override(
    uow: UnitOfWork, actor: Principal, *, request_id: uuid.UUID, note: str | None = None
) -> CreditOverrideRequest:
    """Approve a pending override request within the approver's authority; the requester
    may then sign the contract without an override of their own."""
    _require(actor, LIMIT_APPROVERS)
    async with uow:
        request = await _decide_override_in(uow, actor, request_id=request_id, approve=True, note=note)
        await uow.commit()
        return request


async def reject_override(
    uow: UnitOfWork, actor: Principal, *, request_id: uuid.UUID, note: str | None = None
) -> CreditOverrideRequest:
    _require(actor, LIMIT_APPROVERS)
    async with uow:
        request = await _decide_override_in(uow, actor, request_id=request_id, approve=False, note=note)
        await uow.commit()
        return request


async def list_override_requests(
    uow: UnitOfWork,
    actor: Principal,
    *,
    status: str | None,
    customer_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> Page[CreditOverrideRequest]:
    _require(actor, LIMIT_REQUESTERS)
    async with uow:
        return await uow.credit.override_requests(
            actor, status=status, customer_id=customer_id, cursor=cursor, limit=limit
        )


async def get_override_request(
    uow: UnitOfWork, actor: Principal, *, request_id: uuid.UUID
) -> CreditOverrideRequest:
    _require(actor, LIMIT_REQUESTERS)
    async with uow:
        return found(
            await uow.credit.override_request(request_id, principal=actor), "Credit override request"
        )


# ----------------------------------------------------------------------------------------
# Reports: AR aging and bad-debt provision
# ----------------------------------------------------------------------------------------


def _bucket_bounds() -> tuple[tuple[AgingBucket, int | None, int | None], ...]:
    """(bucket, min, max days past due) derived from the domain's ``bucket_for``, so the
    SQL buckets can never disagree with it; the oldest bucket is open-ended."""
    uppers: dict[AgingBucket, int] = {}
    lowers: dict[AgingBucket, int] = {}
    for days in range(0, 3651):
        bucket = bucket_for(days)
        lowers.setdefault(bucket, days)
        uppers[bucket] = days
    buckets = list(AgingBucket)
    bounds = []
    for bucket in buckets:
        lower = None if bucket is buckets[0] else lowers[bucket]
        upper = None if bucket is buckets[-1] else uppers[bucket]
        bounds.append((bucket, lower, upper))
    return tuple(bounds)


BUCKET_BOUNDS = _bucket_bounds()


def _as_of_bounds(as_of: dt.date | None) -> tuple[dt.date, dt.datetime, list[tuple[str, dt.datetime | None]]]:
    """The report date, the instant it ends and each bucket's earliest due instant.

    Days past due are ``domain.credit.days_overdue``: calendar days in the business time
    zone from the due date to ``as_of`` (default today there). A receivable due on
    ``as_of`` is current, one due the day before is 1 day past due.
    """
    tz = business_tz()
    day = as_of or business_date(utcnow(), tz)
    try:
        end = (
            business_day_start(day + dt.timedelta(days=1), tz) - dt.timedelta(microseconds=1)
            if day < dt.date.max
            else dt.datetime.max.replace(tzinfo=dt.UTC)
        )
        edges = [
            (bucket.value, None if upper is None else business_day_start(day - dt.timedelta(days=upper), tz))
            for bucket, _, upper in BUCKET_BOUNDS
        ]
    except OverflowError as exc:  # a date at the very ends of the calendar
        raise InvalidInput(
            "as_of is out of range",
            errors=[{"loc": ["query", "as_of"], "msg": "date out of range", "type": "value_error"}],
        ) from exc
    return day, end, edges


@dataclass(frozen=True, slots=True)
class BucketInfo:
    bucket: AgingBucket
    label: str
    min_days_past_due: int | None
    max_days_past_due: int | None
    collection_action: str


@dataclass(frozen=True, slots=True)
class AgingRow:
    key: uuid.UUID | None
    name: str | None
    amounts: dict[AgingBucket, Decimal]
    total: Decimal
    oldest_bucket: AgingBucket
    collection_action: str  # for the oldest bucket with an amount: the most urgent step
    actions: dict[AgingBucket, str | None]  # per bucket, None where nothing is outstanding


@dataclass(frozen=True, slots=True)
class AgingReport:
    as_of: dt.date
    group_by: GroupBy
    buckets: list[BucketInfo]
    rows: list[AgingRow]
    totals: dict[AgingBucket, Decimal]
    total: Decimal


def _zero_buckets() -> dict[AgingBucket, Decimal]:
    return {bucket: money(ZERO) for bucket in AgingBucket}


async def ar_aging(
    uow: UnitOfWork, actor: Principal, *, group_by: GroupBy = "customer", as_of: dt.date | None = None
) -> AgingReport:
    """Outstanding receivables at the end of ``as_of`` (UTC; default today) by days past due,
    per customer, owner or team, with the suggested collection action. Computed in SQL."""
    _require(actor, REPORT_READERS)
    day, end, edges = _as_of_bounds(as_of)
    async with uow:
        policy = await settings_service.credit_policy_in(uow)
        raw = await uow.receivables.aging_rows(actor, as_of=end, bucket_edges=edges, group_by=group_by)
    groups: dict[uuid.UUID | None, tuple[str | None, dict[AgingBucket, Decimal]]] = {}
    for key, name, bucket, amount in raw:
        _, amounts = groups.setdefault(key, (name, _zero_buckets()))
        amounts[AgingBucket(bucket)] += amount
    rows = []
    totals = _zero_buckets()
    for key, (name, amounts) in groups.items():
        oldest = max((b for b in AgingBucket if amounts[b] > 0), key=list(AgingBucket).index)
        for bucket in AgingBucket:
            totals[bucket] += amounts[bucket]
        rows.append(
            AgingRow(
                key=key,
                name=name,
                amounts=amounts,
                total=money(sum(amounts.values(), ZERO)),
                oldest_bucket=oldest,
                collection_action=collection_action(oldest, policy),
                actions={b: collection_action(b, policy) if amounts[b] > 0 else None for b in AgingBucket},
            )
        )
    rows.sort(key=lambda r: (-r.total, r.name or "", str(r.key)))
    return AgingReport(
        as_of=day,
        group_by=group_by,
        buckets=[
            BucketInfo(
                bucket=b,
                label=b.label,
                min_days_past_due=lo,
                max_days_past_due=hi,
                collection_action=collection_action(b, policy),
            )
            for b, lo, hi in BUCKET_BOUNDS
        ],
        rows=rows,
        totals=totals,
        total=money(sum(totals.values(), ZERO)),
    )


@dataclass(frozen=True, slots=True)
class ProvisionLine:
    bucket: AgingBucket
    label: str
    outstanding: Decimal
    rate: Decimal
    provision: Decimal


@dataclass(frozen=True, slots=True)
class ProvisionReport:
    as_of: dt.date
    buckets: list[ProvisionLine]
    outstanding_total: Decimal
    written_off: Decimal
    written_off_rate: Decimal
    written_off_provision: Decimal
    total_provision: Decimal


async def bad_debt_provision(
    uow: UnitOfWork, actor: Principal, *, as_of: dt.date | None = None
) -> ProvisionReport:
    """Provision per aging bucket at the policy's rates, plus receivables written off by
    ``as_of`` at 100%. Amounts come from SQL; rates and rounding from the domain."""
    _require(actor, REPORT_READERS)
    day, end, edges = _as_of_bounds(as_of)
    async with uow:
        policy = await settings_service.credit_policy_in(uow)
        by_bucket = await uow.receivables.aging_bucket_totals(actor, as_of=end, bucket_edges=edges)
        written_off = await uow.receivables.written_off_total(actor, as_of=end)
    lines = []
    for bucket in AgingBucket:
        outstanding = money(by_bucket.get(bucket.value, ZERO))
        lines.append(
            ProvisionLine(
                bucket=bucket,
                label=bucket.label,
                outstanding=outstanding,
                rate=provision_rate(bucket, policy),
                provision=provision(outstanding, bucket, policy),
            )
        )
    written_off = money(written_off)
    # The bucket is irrelevant for a written-off amount: it is provided for in full.
    written_off_provision = provision(written_off, AgingBucket.over_180, policy, written_off=True)
    return ProvisionReport(
        as_of=day,
        buckets=lines,
        outstanding_total=money(sum((x.outstanding for x in lines), ZERO)),
        written_off=written_off,
        written_off_rate=provision_rate(AgingBucket.over_180, policy, written_off=True).quantize(
            Decimal("0.01")
        ),
        written_off_provision=written_off_provision,
        total_provision=money(sum((x.provision for x in lines), ZERO) + written_off_provision),
    )
