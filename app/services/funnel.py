"""Use cases for moving customers through the funnel (SPEC §4) and reviewing abandonments."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from app.db.base import utcnow
from app.db.models import AbandonmentReview, Customer, StageTransition
from app.db.repositories.pagination import Page
from app.db.uow import UnitOfWork
from app.domain.errors import AlreadyReviewed, Forbidden, NotAbandoned, ReactivationOutOfScope
from app.domain.funnel import (
    Stage,
    StageFacts,
    TransitionKind,
    TransitionRequest,
    days_in_stage,
    decide_transition,
)
from app.domain.ownership import cooldown_end
from app.domain.roles import Principal, Role
from app.services import settings as settings_service
from app.services.common import found, jsonable

# Reactivating an abandoned customer is a pool decision, not the former rep's.
REACTIVATORS = frozenset({Role.support, Role.manager, Role.director})
MOVERS = frozenset({Role.rep, Role.manager, Role.director, Role.support})


@dataclass(frozen=True, slots=True)
class TransitionView:
    transition: StageTransition
    review: AbandonmentReview | None


async def stage_facts_in(uow: UnitOfWork, customer: Customer) -> StageFacts:
    """What the funnel rules need to know about a customer, read from the database."""
    contracts = await uow.contracts.facts(customer.id)
    return StageFacts(
        grade=customer.grade,
        recommended_products=tuple(customer.recommended_products),
        target_amount=customer.target_amount,
        activity_count=await uow.activities.count_for_customer(customer.id),
        cooldown_until=customer.cooldown_until,
        has_signed_contract=contracts.has_signed_contract,
        contract_cancelled=contracts.contract_cancelled,
        contract_fully_paid=contracts.contract_fully_paid,
        acceptance_recorded=contracts.acceptance_recorded,
    )


def record_entry_in(
    uow: UnitOfWork, customer: Customer, *, actor_id: uuid.UUID | None, now: dt.datetime
) -> None:
    """The stage a customer is created in, so its history replays from the start."""
    uow.funnel.add_transition(
        StageTransition(
            customer_id=customer.id,
            from_stage=None,
            to_stage=customer.stage,
            kind="created",
            at=now,
            actor_id=actor_id,
            owner_id=customer.owner_id,
            team_id=customer.team_id,
            out_of_funnel=customer.out_of_funnel,
        )
    )


async def apply_transition_in(
    uow: UnitOfWork,
    *,
    actor_id: uuid.UUID | None,
    customer: Customer,
    to_stage: Stage,
    reason: str | None = None,
    note: str | None = None,
    director_override: bool = False,
    now: dt.datetime,
    extra_changes: dict[str, list[Any]] | None = None,
) -> StageTransition:
    """Decide a move with the funnel rules and store it: the customer's stage fields, the
    transition row, the ownership release of an abandonment, and a history entry.
    Used by HTTP transitions and by contract signing, cancelling and completion alike."""
    current = Stage(customer.stage)
    facts = await stage_facts_in(uow, customer)
    decision = decide_transition(
        TransitionRequest(
            current=current,
            target=to_stage,
            reason=reason,
            note=note,
            now=now,
            director_override=director_override,
        ),
        facts,
    )
    policy = await settings_service.pool_policy_in(uow)
    owner_before, team_before = customer.owner_id, customer.team_id
    stored = StageTransition(
        customer_id=customer.id,
        from_stage=current.value,
        to_stage=to_stage.value,
        kind=decision.kind.value,
        at=now,
        actor_id=actor_id,
        reason=None if decision.reason is None else str(decision.reason),
        note=decision.note,
        owner_id=owner_before,
        team_id=team_before,
        days_in_from_stage=days_in_stage(customer.stage_entered_at, now=now),
        skipped=[s.value for s in decision.skipped],
        out_of_funnel=decision.out_of_funnel,
        director_override=director_override and decision.kind is TransitionKind.reactivate,
    )
    uow.funnel.add_transition(stored)
    changes: dict[str, list[Any]] = {"stage": [current.value, to_stage.value], **(extra_changes or {})}
    customer.stage = to_stage.value
    customer.stage_entered_at = now
    if decision.out_of_funnel and not customer.out_of_funnel:
        customer.out_of_funnel = True
        changes["out_of_funnel"] = [False, True]
    if decision.cooldown:
        customer.cooldown_until = cooldown_end(now, policy=policy)
        changes["cooldown_until"] = [None, jsonable(customer.cooldown_until)]
    if decision.kind is TransitionKind.reactivate:
        changes["cooldown_until"] = [jsonable(customer.cooldown_until), None]
        customer.cooldown_until = None
    if decision.releases_owner and owner_before is not None:
        customer.owner_id = None
        customer.team_id = None
        customer.claimed_at = None
        changes["owner_id"] = [str(owner_before), None]
        uow.pool.record_ownership(
            customer_id=customer.id,
            event="abandon",
            from_owner_id=owner_before,
            to_owner_id=None,
            actor_id=actor_id,
            reason=stored.reason,
            at=now,
        )
    uow.history.record(
        customer_id=customer.id, actor_id=actor_id, action="transition", changes=changes, at=now
    )
    return stored


async def transition_customer(
    uow: UnitOfWork,
    actor: Principal,
    *,
    customer_id: uuid.UUID,
    to_stage: Stage,
    reason: str | None = None,
    note: str | None = None,
    grading: dict[str, Any] | None = None,
    director_override: bool = False,
) -> Customer:
    """Move a customer to ``to_stage`` if the funnel rules allow it; store the move."""
    if director_override and actor.role is not Role.director:
        raise Forbidden("Only a director may override a cooldown")
    now = utcnow()
    async with uow:
        customer = found(await uow.customers.get(customer_id, principal=actor, for_update=True), "Customer")
        _check_mover(actor, customer, Stage(customer.stage), to_stage)
        if Stage(customer.stage) is Stage.abandoned and actor.role is Role.manager:
            await _check_reactivation_scope(uow, actor, customer)
        grading_changes: dict[str, list[Any]] = {}
        for name, value in (grading or {}).items():
            # Grade, products and target are what entering `graded` needs; take them along.
            grading_changes[name] = [jsonable(getattr(customer, name)), jsonable(value)]
            setattr(customer, name, value)
        await apply_transition_in(
            uow,
            actor_id=actor.user_id,
            customer=customer,
            to_stage=to_stage,
            reason=reason,
            note=note,
            director_override=director_override,
            now=now,
            extra_changes=grading_changes,
        )
        await uow.commit()
        return customer


def _check_mover(actor: Principal, customer: Customer, current: Stage, target: Stage) -> None:
    if current is Stage.abandoned:
        if actor.role not in REACTIVATORS:
            raise Forbidden("Support, managers and directors reactivate abandoned customers")
        return
    if actor.role not in MOVERS:
        raise Forbidden("Your role does not move customers through the funnel")
    if actor.role is Role.rep and customer.owner_id != actor.user_id:
        raise Forbidden("Reps move only their own customers; claim it first")


async def _check_reactivation_scope(uow: UnitOfWork, actor: Principal, customer: Customer) -> None:
    """A manager reactivates only customers whose last owner is in their team tree."""
    last_owner = await uow.pool.last_owner(customer.id)
    if last_owner is None or last_owner.team_id not in actor.team_ids:
        raise ReactivationOutOfScope("Managers reactivate only customers last owned in their own teams")


async def list_transitions(
    uow: UnitOfWork, actor: Principal, *, customer_id: uuid.UUID, cursor: str | None, limit: int
) -> Page[TransitionView]:
    async with uow:
        found(await uow.customers.get(customer_id, principal=actor, include_deleted=True), "Customer")
        page = await uow.funnel.transitions(customer_id, cursor=cursor, limit=limit)
        reviews = await uow.funnel.reviews_for([t.id for t in page.items if t.to_stage == "abandoned"])
        return Page(
            items=[TransitionView(t, reviews.get(t.id)) for t in page.items], next_cursor=page.next_cursor
        )


async def review_abandonment(
    uow: UnitOfWork, actor: Principal, *, customer_id: uuid.UUID, agree: bool, comment: str | None
) -> AbandonmentReview:
    """The owner's manager (or a director) evaluates the customer's latest abandonment."""
    now = utcnow()
    async with uow:
        found(await uow.customers.get(customer_id, principal=actor, for_update=True), "Customer")
        transition = await uow.funnel.last_transition(customer_id, to_stage=Stage.abandoned.value)
        if transition is None:
            raise NotAbandoned("The customer has never been abandoned")
        if actor.role is Role.manager and transition.team_id not in actor.team_ids:
            raise Forbidden("Only the manager of the rep who abandoned it reviews an abandonment")
        if (await uow.funnel.reviews_for([transition.id])).get(transition.id) is not None:
            raise AlreadyReviewed("This abandonment has been reviewed already")
        review = AbandonmentReview(
            transition_id=transition.id,
            customer_id=customer_id,
            reviewer_id=actor.user_id,
            verdict="agree" if agree else "disagree",
            comment=(comment or "").strip() or None,
            at=now,
        )
        uow.funnel.add_review(review)
        uow.history.record(
            customer_id=customer_id,
            actor_id=actor.user_id,
            action="abandonment_review",
            changes={"verdict": [None, review.verdict], "comment": [None, review.comment]},
            at=now,
        )
        await uow.commit()
        return review
