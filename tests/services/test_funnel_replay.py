"""Property test of the transition service on a real database: random sequences of valid and
invalid moves on one customer, checked against a small independent model of SPEC §4.

After every attempt: the outcome (accepted, or which error) is the model's; the customer's
stage and owner are the model's; the stored transitions replay to the current stage; and
``out_of_funnel`` is set exactly when some stored transition skipped a stage.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.db.models import StageTransition
from app.domain.errors import Forbidden
from app.domain.funnel import (
    FUNNEL_ORDER,
    CooldownActive,
    InvalidTransition,
    RequirementUnmet,
    Stage,
    replay,
)
from app.services import funnel as funnel_service
from tests.support.builders import make_activity, make_funnel_customer, make_sales_org, principal_of

ACTIVE = FUNNEL_ORDER[:5]
ABANDON_CODES = {"refused", "unreachable", "unsuitable", "bought_competitor", "duplicate", "other"}

attempts = st.lists(
    st.fixed_dictionaries(
        {
            # A stage, or a step relative to the current one (so that neighbours are tried often).
            "target": st.one_of(st.sampled_from(list(Stage)), st.sampled_from([-2, -1, 1, 1, 2])),
            # Biased towards the owner, so that the funnel is really walked.
            "actor": st.sampled_from(["owner", "owner", "owner", "manager", "support", "director"]),
            "reason": st.sampled_from([None, " ", "refused", "other", "budget frozen"]),
            "note": st.sampled_from([None, "", "spoke to the buyer"]),
            "grading": st.booleans(),
            "log_activity": st.booleans(),
            "override": st.booleans(),
        }
    ),
    min_size=1,
    max_size=14,
)


@pytest.fixture
async def org(uow_factory):
    org = await make_sales_org(uow_factory)
    org.principals = {
        name: await principal_of(uow_factory, getattr(org, name))
        for name in ("rep", "manager", "support", "director")
    }
    return org


class Model:
    """What SPEC §4 says happens, written independently of app.domain.funnel."""

    def __init__(self, owner: uuid.UUID) -> None:
        self.stage = Stage.resource
        self.owner: uuid.UUID | None = owner
        self.graded = False  # grade, products and target amount known
        self.activities = 0
        self.cooling = False
        self.out_of_funnel = False

    def resolve(self, target: Stage | int) -> Stage:
        if isinstance(target, Stage):
            return target
        if self.stage is Stage.abandoned:
            return Stage.resource
        index = min(max(FUNNEL_ORDER.index(self.stage) + target, 0), len(FUNNEL_ORDER) - 1)
        return FUNNEL_ORDER[index]

    def expect(
        self,
        *,
        actor: str,
        actor_id: uuid.UUID,
        target: Stage,
        reason: str | None,
        note: str | None,
        grading: bool,
        override: bool,
    ) -> type[Exception] | None:
        if override and actor != "director":
            return Forbidden
        if actor == "owner" and (self.stage is Stage.abandoned or self.owner != actor_id):
            return Forbidden
        reason = (reason or "").strip() or None
        note = (note or "").strip() or None
        if self.stage is Stage.abandoned:
            if target is not Stage.resource:
                return InvalidTransition
            return CooldownActive if self.cooling and not override else None
        position, goal = FUNNEL_ORDER.index(self.stage), target
        if goal is Stage.abandoned:
            if self.stage not in ACTIVE:
                return InvalidTransition
            return None if reason in ABANDON_CODES and note else RequirementUnmet
        if FUNNEL_ORDER.index(goal) > position:
            if goal is Stage.graded:
                return None if self.graded or grading else RequirementUnmet
            if goal is Stage.contacted:
                return None if self.activities else RequirementUnmet
            if goal in (Stage.signed, Stage.implemented):
                return RequirementUnmet  # no contracts in this test
            return None
        if FUNNEL_ORDER.index(goal) == position - 1 and self.stage in (
            Stage.contacted,
            Stage.lead,
            Stage.intent,
        ):
            return None if reason else RequirementUnmet
        return InvalidTransition

    def apply(self, target: Stage, *, grading: bool) -> None:
        self.graded = self.graded or grading
        if target is Stage.abandoned:
            self.owner, self.cooling = None, True
        elif self.stage is Stage.abandoned:
            self.cooling = False
        elif FUNNEL_ORDER.index(target) > FUNNEL_ORDER.index(self.stage) + 1:
            self.out_of_funnel = True
        self.stage = target


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=attempts)
async def test_stored_history_always_replays_to_the_current_stage(uow_factory, org, steps):
    customer = await make_funnel_customer(uow_factory, owner=org.rep)
    model = Model(owner=org.rep.id)
    for number, step in enumerate(steps):
        step = {**step, "target": model.resolve(step["target"])}
        actor = "rep" if step["actor"] == "owner" else step["actor"]
        principal = org.principals[actor]
        if step["log_activity"]:
            await make_activity(uow_factory, customer=customer, created_by=org.rep)
            model.activities += 1
        grading = (
            {"grade": "B", "recommended_products": ["ERP"], "target_amount": Decimal("900.00")}
            if step["grading"]
            else None
        )
        expected = model.expect(
            actor=step["actor"],
            actor_id=principal.user_id,
            target=step["target"],
            reason=step["reason"],
            note=step["note"],
            grading=step["grading"],
            override=step["override"],
        )
        try:
            await funnel_service.transition_customer(
                uow_factory(),
                principal,
                customer_id=customer.id,
                to_stage=step["target"],
                reason=step["reason"],
                note=step["note"],
                grading=grading,
                director_override=step["override"],
            )
            outcome: type[Exception] | None = None
        except (Forbidden, InvalidTransition, RequirementUnmet, CooldownActive) as exc:
            outcome = type(exc)
        assert outcome is expected, (number, step, model.stage)
        if outcome is None:
            model.apply(step["target"], grading=step["grading"])

        async with uow_factory() as uow:
            stored = await uow.customers.get_unscoped(customer.id)
            rows = (
                await uow.session.scalars(
                    select(StageTransition)
                    .where(StageTransition.customer_id == customer.id)
                    .order_by(StageTransition.at, StageTransition.id)
                )
            ).all()
        assert (Stage(stored.stage), stored.owner_id) == (model.stage, model.owner)
        assert rows[0].kind == "created" and rows[0].from_stage is None
        assert replay(rows[1:], start=Stage(rows[0].to_stage)) == Stage(stored.stage)  # type: ignore[arg-type]
        assert stored.out_of_funnel == any(row.skipped for row in rows) == model.out_of_funnel
        # Never a state the rules forbid: no signing without a contract, no owner while abandoned,
        # a cooldown exactly while abandoned and not reactivated.
        assert stored.stage not in (Stage.signed, Stage.implemented)
        assert stored.stage != Stage.abandoned or stored.owner_id is None
        assert (stored.cooldown_until is not None) == model.cooling
