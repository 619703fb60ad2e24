"""Funnel transitions over HTTP (SPEC §4): entry conditions, skips, backward steps, abandonment
into the pool with cooldown, reactivation, the stored history and abandonment reviews."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from app.db.base import utcnow
from app.db.models import OwnershipEvent
from app.domain.funnel import Stage, replay
from tests.support.builders import (
    access_headers,
    assert_problem,
    make_activity,
    make_funnel_customer,
    make_sales_org,
    set_pool_policy,
    update_customer_row,
    walk_pages,
)

CUSTOMERS = "/api/v1/customers"
GRADED = {"grade": "A", "recommended_products": ["ERP"], "target_amount": Decimal("50000.00")}


def transitions_url(customer_id) -> str:
    return f"{CUSTOMERS}/{customer_id}/transitions"


def review_url(customer_id) -> str:
    return f"{CUSTOMERS}/{customer_id}/abandonment-review"


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


async def move(client, user, customer_id, to_stage: str, **body):
    return await client.post(
        transitions_url(customer_id), headers=access_headers(user), json={"to_stage": to_stage, **body}
    )


async def history_of(client, user, customer_id) -> list[dict]:
    return await walk_pages(client, transitions_url(customer_id), access_headers(user), limit=2)


def replayed(rows: list[dict]) -> Stage:
    """The stage the stored rows lead to; the first must be the ``created`` row."""
    assert rows[0]["kind"] == "created" and rows[0]["from_stage"] is None, rows[0]
    moves = [
        SimpleNamespace(from_stage=Stage(r["from_stage"]), to_stage=Stage(r["to_stage"])) for r in rows[1:]
    ]
    return replay(moves, start=Stage(rows[0]["to_stage"]))  # type: ignore[arg-type]


def close_to(value: str | None, expected: dt.datetime, seconds: float = 60) -> bool:
    assert value is not None
    return abs(dt.datetime.fromisoformat(value) - expected) < dt.timedelta(seconds=seconds)


class TestTransitionCustomer:
    async def test_anonymous(self, client):
        response = await client.post(transitions_url(uuid.uuid4()), json={"to_stage": "graded"})
        assert_problem(response, 401, "unauthorized")

    @pytest.mark.parametrize("role", ["finance", "admin"])
    async def test_roles_without_funnel_powers(self, client, uow_factory, org, role):
        customer = await make_funnel_customer(uow_factory, owner=org.rep, **GRADED)
        response = await move(client, getattr(org, role), customer.id, "graded")
        assert_problem(response, 403, "forbidden")

    async def test_unknown_customer(self, client, org):
        assert_problem(await move(client, org.rep, uuid.uuid4(), "graded"), 404, "not_found")

    async def test_rep_cannot_move_another_reps_customer(self, client, uow_factory, org):
        customer = await make_funnel_customer(uow_factory, owner=org.rep2, **GRADED)
        assert_problem(await move(client, org.rep, customer.id, "graded"), 404, "not_found")

    async def test_rep_cannot_move_a_pool_customer(self, client, uow_factory, org):
        customer = await make_funnel_customer(uow_factory, **GRADED)
        assert_problem(await move(client, org.rep, customer.id, "graded"), 403, "forbidden")

    async def test_manager_cannot_move_another_teams_customer(self, client, uow_factory, org):
        customer = await make_funnel_customer(uow_factory, owner=org.other_rep, **GRADED)
        assert_problem(await move(client, org.manager, customer.id, "graded"), 404, "not_found")

    async def test_manager_moves_a_team_customer_and_support_a_pool_one(self, client, uow_factory, org):
        owned = await make_funnel_customer(uow_factory, owner=org.rep2, **GRADED)
        pooled = await make_funnel_customer(uow_factory, **GRADED)
        assert (await move(client, org.manager, owned.id, "graded")).status_code == 200
        assert (await move(client, org.support, pooled.id, "graded")).status_code == 200

    async def test_graded_needs_grade_products_and_target(self, client, uow_factory, org):
        customer = await make_funnel_customer(uow_factory, owner=org.rep)
        body = assert_problem(
            await move(client, org.rep, customer.id, "graded"), 422, "funnel.requirement_unmet"
        )
        assert body["missing"] == ["grade", "recommended_products", "target_amount"]
        assert body["from"] == "resource" and body["to"] == "graded"
        rows = await history_of(client, org.rep, customer.id)
        assert [r["kind"] for r in rows] == ["created"]

    async def test_graded_with_the_values_in_the_body(self, client, uow_factory, org):
        customer = await make_funnel_customer(uow_factory, owner=org.rep)
        response = await move(
            client,
            org.rep,
            customer.id,
            "graded",
            grade="B",
            recommended_products=["CRM"],
            target_amount="1200.50",
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["stage"], body["grade"], body["recommended_products"], body["target_amount"]) == (
            "graded",
            "B",
            ["CRM"],
            "1200.50",
        )
        assert body["out_of_funnel"] is False
        assert response.headers["ETag"] == f'"{body["version"]}"'
        last = (await history_of(client, org.rep, customer.id))[-1]
        assert (last["from_stage"], last["to_stage"], last["kind"], last["skipped"]) == (
            "resource",
            "graded",
            "forward",
            [],
        )
        assert last["actor_id"] == str(org.rep.id) and last["owner_id"] == str(org.rep.id)

    async def test_partial_grading_names_only_what_is_still_missing(self, client, uow_factory, org):
        customer = await make_funnel_customer(uow_factory, owner=org.rep)
        body = assert_problem(
            await move(client, org.rep, customer.id, "graded", grade="A"), 422, "funnel.requirement_unmet"
        )
        assert body["missing"] == ["recommended_products", "target_amount"]
        # The refused move changed nothing, the grade in the body included.
        detail = (await client.get(f"{CUSTOMERS}/{customer.id}", headers=access_headers(org.rep))).json()
        assert (detail["stage"], detail["grade"]) == ("resource", None)

    async def test_the_grading_change_is_audited_with_its_old_value(self, client, uow_factory, org):
        customer = await make_funnel_customer(uow_factory, owner=org.rep, **{**GRADED, "grade": "C"})
        response = await move(client, org.rep, customer.id, "graded", grade="A")
        assert response.status_code == 200, response.text
        history = await client.get(f"{CUSTOMERS}/{customer.id}/history", headers=access_headers(org.rep))
        entry = next(h for h in history.json()["items"] if h["action"] == "transition")
        assert entry["changes"]["stage"] == ["resource", "graded"]
        assert entry["changes"]["grade"] == ["C", "A"]

    async def test_forward_skip_is_recorded_out_of_funnel(self, client, uow_factory, org):
        customer = await make_funnel_customer(uow_factory, owner=org.rep, **GRADED)
        response = await move(client, org.rep, customer.id, "lead")
        assert response.status_code == 200, response.text
        assert response.json()["stage"] == "lead"
        assert response.json()["out_of_funnel"] is True
        last = (await history_of(client, org.rep, customer.id))[-1]
        assert last["skipped"] == ["graded", "contacted"]
        assert last["out_of_funnel"] is True

    async def test_out_of_funnel_stays_set_after_a_regular_step(self, client, uow_factory, org):
        customer = await make_funnel_customer(uow_factory, owner=org.rep, **GRADED)
        assert (await move(client, org.rep, customer.id, "lead")).status_code == 200
        response = await move(client, org.rep, customer.id, "intent")
        assert response.json()["out_of_funnel"] is True
        assert (await history_of(client, org.rep, customer.id))[-1]["out_of_funnel"] is False

    async def test_skipping_checks_only_the_targets_condition(self, client, uow_factory, org):
        # contacted needs an activity; jumping from resource straight to contacted does too.
        customer = await make_funnel_customer(uow_factory, owner=org.rep)
        body = assert_problem(
            await move(client, org.rep, customer.id, "contacted"), 422, "funnel.requirement_unmet"
        )
        assert body["missing"] == ["activity"]

    async def test_contacted_needs_an_activity(self, client, uow_factory, org):
        customer = await make_funnel_customer(uow_factory, owner=org.rep, stage="graded", **GRADED)
        body = assert_problem(
            await move(client, org.rep, customer.id, "contacted"), 422, "funnel.requirement_unmet"
        )
        assert body["missing"] == ["activity"]
        await make_activity(uow_factory, customer=customer, created_by=org.rep)
        response = await move(client, org.rep, customer.id, "contacted")
        assert response.status_code == 200, response.text
        assert response.json()["out_of_funnel"] is False

    @pytest.mark.parametrize(
        ("target", "missing"),
        [
            ("signed", ["signed_contract"]),
            ("implemented", ["contract_fully_paid", "acceptance"]),
        ],
    )
    async def test_signing_needs_contracts_that_do_not_exist_yet(
        self, client, uow_factory, org, target, missing
    ):
        customer = await make_funnel_customer(uow_factory, owner=org.rep, stage="intent", **GRADED)
        body = assert_problem(
            await move(client, org.rep, customer.id, target), 422, "funnel.requirement_unmet"
        )
        assert body["missing"] == missing

    async def test_backward_one_step_needs_a_reason(self, client, uow_factory, org):
        customer = await make_funnel_customer(uow_factory, owner=org.rep, stage="lead", **GRADED)
        for blank in ({}, {"reason": "   "}):
            body = assert_problem(
                await move(client, org.rep, customer.id, "contacted", **blank),
                422,
                "funnel.requirement_unmet",
            )
            assert body["missing"] == ["reason"]
        response = await move(client, org.rep, customer.id, "contacted", reason=" went quiet ")
        assert response.status_code == 200, response.text
        last = (await history_of(client, org.rep, customer.id))[-1]
        assert (last["kind"], last["reason"]) == ("backward", "went quiet")

    @pytest.mark.parametrize(
        ("current", "target", "allowed"),
        [
            ("lead", "graded", ["contacted", "intent", "signed", "implemented", "abandoned"]),
            ("intent", "contacted", ["lead", "signed", "implemented", "abandoned"]),
            ("graded", "resource", ["contacted", "lead", "intent", "signed", "implemented", "abandoned"]),
            ("lead", "lead", ["contacted", "intent", "signed", "implemented", "abandoned"]),
            ("signed", "abandoned", ["implemented"]),
            ("signed", "intent", ["implemented"]),
        ],
    )
    async def test_invalid_moves_answer_409_with_the_allowed_targets(
        self, client, uow_factory, org, current, target, allowed
    ):
        customer = await make_funnel_customer(uow_factory, owner=org.rep, stage=current, **GRADED)
        body = assert_problem(
            await move(client, org.rep, customer.id, target, reason="x", note="y"),
            409,
            "funnel.invalid_transition",
        )
        assert body["allowed"] == allowed
        assert (body["from"], body["to"]) == (current, target)

    async def test_unknown_stage_is_a_validation_error(self, client, uow_factory, org):
        customer = await make_funnel_customer(uow_factory, owner=org.rep)
        body = assert_problem(await move(client, org.rep, customer.id, "won"), 422, "validation_error")
        assert body["errors"][0]["loc"] == ["body", "to_stage"]

    async def test_abandon_needs_a_listed_reason_code_and_a_note(self, client, uow_factory, org):
        customer = await make_funnel_customer(uow_factory, owner=org.rep, stage="lead", **GRADED)
        body = assert_problem(
            await move(client, org.rep, customer.id, "abandoned"), 422, "funnel.requirement_unmet"
        )
        assert body["missing"] == ["reason", "note"]
        assert body["abandon_reasons"] == [
            "refused",
            "unreachable",
            "unsuitable",
            "bought_competitor",
            "duplicate",
            "other",
        ]
        body = assert_problem(
            await move(client, org.rep, customer.id, "abandoned", reason="bored", note="n"),
            422,
            "funnel.requirement_unmet",
        )
        assert body["missing"] == ["reason"]
        body = assert_problem(
            await move(client, org.rep, customer.id, "abandoned", reason="refused", note="  "),
            422,
            "funnel.requirement_unmet",
        )
        assert body["missing"] == ["note"]

    async def test_abandon_sends_the_customer_to_the_pool_in_cooldown(self, client, uow_factory, org):
        await set_pool_policy(uow_factory, org.director, cooldown_days=30)
        customer = await make_funnel_customer(uow_factory, owner=org.rep, stage="intent", **GRADED)
        await update_customer_row(uow_factory, customer.id, stage_entered_at=utcnow() - dt.timedelta(days=3))
        response = await move(
            client,
            org.rep,
            customer.id,
            "abandoned",
            reason="bought_competitor",
            note="Went with the competitor's offer",
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["stage"], body["owner_id"], body["team_id"], body["claimed_at"]) == (
            "abandoned",
            None,
            None,
            None,
        )
        assert close_to(body["cooldown_until"], utcnow() + dt.timedelta(days=30))

        last = (await history_of(client, org.director, customer.id))[-1]
        assert (last["from_stage"], last["to_stage"], last["kind"]) == ("intent", "abandoned", "abandon")
        assert (last["reason"], last["note"]) == ("bought_competitor", "Went with the competitor's offer")
        assert last["owner_id"] == str(org.rep.id) and last["team_id"] == str(org.group.id)
        assert Decimal("2.99") <= Decimal(last["days_in_from_stage"]) <= Decimal("3.01")

        async with uow_factory() as uow:
            events = (
                await uow.session.scalars(
                    select(OwnershipEvent).where(OwnershipEvent.customer_id == customer.id)
                )
            ).all()
        assert [(e.event, e.from_owner_id, e.to_owner_id) for e in events] == [("abandon", org.rep.id, None)]
        # In the pool but not claimable: nobody sees it in GET /pool, nobody can claim it.
        pool = await client.get("/api/v1/pool", headers=access_headers(org.support))
        assert str(customer.id) not in [c["id"] for c in pool.json()["items"]]
        assert_problem(
            await client.post(f"{CUSTOMERS}/{customer.id}/claim", headers=access_headers(org.rep2)),
            409,
            "pool.not_claimable",
        )

    async def test_abandoning_a_pool_customer_records_no_owner(self, client, uow_factory, org):
        customer = await make_funnel_customer(uow_factory, **GRADED)
        response = await move(
            client,
            org.support,
            customer.id,
            "abandoned",
            reason="duplicate",
            note="Same as the Shanghai branch",
        )
        assert response.status_code == 200, response.text
        last = (await history_of(client, org.support, customer.id))[-1]
        assert last["owner_id"] is None


class TestReactivation:
    @pytest.fixture
    async def abandoned(self, client, uow_factory, org):
        customer = await make_funnel_customer(uow_factory, owner=org.rep, stage="lead", **GRADED)
        response = await move(
            client, org.rep, customer.id, "abandoned", reason="unreachable", note="Number disconnected"
        )
        assert response.status_code == 200, response.text
        return customer

    async def test_rep_may_not_reactivate(self, client, org, abandoned):
        assert_problem(await move(client, org.rep, abandoned.id, "resource"), 403, "forbidden")

    @pytest.mark.parametrize("role", ["support", "manager", "director"])
    async def test_during_cooldown(self, client, org, abandoned, role):
        body = assert_problem(
            await move(client, getattr(org, role), abandoned.id, "resource"), 409, "funnel.cooldown_active"
        )
        assert close_to(body["cooldown_until"], utcnow() + dt.timedelta(days=90))

    async def test_director_override(self, client, org, abandoned):
        response = await move(client, org.director, abandoned.id, "resource", director_override=True)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["stage"], body["cooldown_until"], body["owner_id"]) == ("resource", None, None)
        last = (await history_of(client, org.director, abandoned.id))[-1]
        assert (last["kind"], last["director_override"]) == ("reactivate", True)
        pool = await client.get("/api/v1/pool", headers=access_headers(org.rep2))
        assert str(abandoned.id) in [c["id"] for c in pool.json()["items"]]

    @pytest.mark.parametrize("role", ["support", "manager", "rep"])
    async def test_only_a_director_may_send_the_override(self, client, org, abandoned, role):
        response = await move(client, getattr(org, role), abandoned.id, "resource", director_override=True)
        assert_problem(response, 403, "forbidden")

    async def test_after_the_cooldown(self, client, uow_factory, org, abandoned):
        await update_customer_row(
            uow_factory, abandoned.id, cooldown_until=utcnow() - dt.timedelta(minutes=1)
        )
        response = await move(client, org.support, abandoned.id, "resource")
        assert response.status_code == 200, response.text
        last = (await history_of(client, org.support, abandoned.id))[-1]
        assert (last["kind"], last["director_override"]) == ("reactivate", False)

    async def test_only_back_to_resource(self, client, uow_factory, org, abandoned):
        await update_customer_row(uow_factory, abandoned.id, cooldown_until=None)
        body = assert_problem(
            await move(client, org.support, abandoned.id, "lead"), 409, "funnel.invalid_transition"
        )
        assert body["allowed"] == ["resource"]


class TestListTransitions:
    async def test_anonymous(self, client):
        assert_problem(await client.get(transitions_url(uuid.uuid4())), 401, "unauthorized")

    async def test_out_of_scope(self, client, uow_factory, org):
        customer = await make_funnel_customer(uow_factory, owner=org.rep2)
        response = await client.get(transitions_url(customer.id), headers=access_headers(org.rep))
        assert_problem(response, 404, "not_found")
        response = await client.get(transitions_url(customer.id), headers=access_headers(org.other_manager))
        assert_problem(response, 404, "not_found")

    async def test_a_customer_created_through_the_api_replays_to_its_stage(self, client, uow_factory, org):
        created = await client.post(
            CUSTOMERS,
            headers=access_headers(org.rep),
            json={"name": "Replay Trading Co", **{**GRADED, "target_amount": "500"}},
        )
        assert created.status_code == 201, created.text
        customer_id = created.json()["id"]
        customer = SimpleNamespace(id=uuid.UUID(customer_id))
        steps = [
            ("graded", {}),
            ("lead", {}),
            ("intent", {}),
            ("lead", {"reason": "budget freeze"}),
            ("abandoned", {"reason": "refused", "note": "Said no twice"}),
        ]
        await make_activity(uow_factory, customer=customer, created_by=org.rep)
        for to_stage, extra in steps:
            response = await move(client, org.rep, customer_id, to_stage, **extra)
            assert response.status_code == 200, (to_stage, response.text)

        rows = await history_of(client, org.manager, customer_id)
        assert [r["kind"] for r in rows] == [
            "created",
            "forward",
            "forward",
            "forward",
            "backward",
            "abandon",
        ]
        assert rows[0]["to_stage"] == "resource" and rows[0]["owner_id"] == str(org.rep.id)
        assert replayed(rows) is Stage.abandoned
        current = await client.get(f"{CUSTOMERS}/{customer_id}", headers=access_headers(org.manager))
        assert current.json()["stage"] == "abandoned"
        assert current.json()["out_of_funnel"] is True  # graded → lead skipped contacted
        assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)

    async def test_the_review_is_embedded_in_the_abandon_row(self, client, uow_factory, org):
        customer = await make_funnel_customer(uow_factory, owner=org.rep, stage="contacted", **GRADED)
        await move(client, org.rep, customer.id, "abandoned", reason="unsuitable", note="Too small")
        review = await client.post(
            review_url(customer.id),
            headers=access_headers(org.manager),
            json={"verdict": "disagree", "comment": "Call them again in spring"},
        )
        assert review.status_code == 201, review.text
        rows = await history_of(client, org.rep, customer.id)
        assert [r["review"] for r in rows[:-1]] == [None]
        embedded = rows[-1]["review"]
        assert embedded == review.json()
        assert (embedded["verdict"], embedded["reviewer_id"]) == ("disagree", str(org.manager.id))


class TestAbandonmentReview:
    @pytest.fixture
    async def abandoned(self, client, uow_factory, org):
        customer = await make_funnel_customer(uow_factory, owner=org.rep, stage="intent", **GRADED)
        response = await move(client, org.rep, customer.id, "abandoned", reason="refused", note="No budget")
        assert response.status_code == 200, response.text
        return customer

    async def test_anonymous(self, client):
        assert_problem(
            await client.post(review_url(uuid.uuid4()), json={"verdict": "agree"}), 401, "unauthorized"
        )

    @pytest.mark.parametrize("role", ["rep", "support", "finance", "admin"])
    async def test_roles_that_do_not_review(self, client, org, abandoned, role):
        response = await client.post(
            review_url(abandoned.id), headers=access_headers(getattr(org, role)), json={"verdict": "agree"}
        )
        assert_problem(response, 403, "forbidden")

    async def test_unknown_customer(self, client, org):
        response = await client.post(
            review_url(uuid.uuid4()), headers=access_headers(org.manager), json={"verdict": "agree"}
        )
        assert_problem(response, 404, "not_found")

    async def test_another_teams_manager(self, client, org, abandoned):
        response = await client.post(
            review_url(abandoned.id), headers=access_headers(org.other_manager), json={"verdict": "agree"}
        )
        assert_problem(response, 403, "forbidden")

    @pytest.mark.parametrize(("reviewer", "verdict"), [("manager", "agree"), ("director", "disagree")])
    async def test_the_owners_manager_or_a_director_reviews(self, client, org, abandoned, reviewer, verdict):
        user = getattr(org, reviewer)
        response = await client.post(
            review_url(abandoned.id),
            headers=access_headers(user),
            json={"verdict": verdict, "comment": "  Fair call  "},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["verdict"], body["comment"], body["reviewer_id"]) == (verdict, "Fair call", str(user.id))

    async def test_second_review(self, client, org, abandoned):
        first = await client.post(
            review_url(abandoned.id), headers=access_headers(org.manager), json={"verdict": "agree"}
        )
        assert first.status_code == 201
        second = await client.post(
            review_url(abandoned.id), headers=access_headers(org.director), json={"verdict": "disagree"}
        )
        assert_problem(second, 409, "funnel.already_reviewed")

    async def test_never_abandoned(self, client, uow_factory, org):
        customer = await make_funnel_customer(uow_factory, owner=org.rep, stage="lead", **GRADED)
        response = await client.post(
            review_url(customer.id), headers=access_headers(org.manager), json={"verdict": "agree"}
        )
        assert_problem(response, 422, "funnel.not_abandoned")

    async def test_bad_verdict(self, client, org, abandoned):
        response = await client.post(
            review_url(abandoned.id), headers=access_headers(org.manager), json={"verdict": "maybe"}
        )
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"][0]["loc"] == ["body", "verdict"]
