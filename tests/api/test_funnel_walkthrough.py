"""A manager runs a whole funnel through the API (issue 5, "done when"): support imports
resources and grades them, the manager allocates by the fat-man principle, reps contact, move
and abandon, a lapsed customer returns to the pool on its own, a departing rep's customers are
handed over. docs/funnel.md walks through the same story with curl."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from types import SimpleNamespace

from app.db.base import utcnow
from app.domain.funnel import Stage, replay
from app.services import maintenance
from tests.support.builders import (
    access_headers,
    add_transition_row,
    make_contract,
    make_customer,
    make_sales_org,
    update_customer_row,
)

API = "/api/v1"


async def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


async def test_a_manager_runs_a_whole_funnel(client, uow_factory, session_factory):
    org = await make_sales_org(uow_factory)
    h = {
        name: access_headers(getattr(org, name))
        for name in ("rep", "rep2", "manager", "director", "support", "admin")
    }

    # Settings: a small holding limit so capacity matters.
    pool_settings = await ok(await client.get(f"{API}/settings/pool", headers=h["director"]))
    await ok(
        await client.put(
            f"{API}/settings/pool",
            headers={**h["director"], "If-Match": '"0"'},
            json={**pool_settings, "max_active_customers": 2},
        )
    )

    # 1. Support imports four resources; they land in the pool.
    csv = "name,contact_name,phone,region\n" + "\n".join(
        f"{name},Buyer {i},1380013800{i},Shanghai"
        for i, name in enumerate(
            ["Alpha Machinery Co", "Beta Foods Co", "Gamma Textiles Co", "Delta Logistics Co"]
        )
    )
    report = await ok(
        await client.post(
            f"{API}/customers/import",
            headers=h["support"],
            files={"file": ("resources.csv", csv.encode(), "text/csv")},
        )
    )
    assert report["created"] == 4
    ids = dict(zip(["alpha", "beta", "gamma", "delta"], map(str, report["created_ids"]), strict=True))
    pool = await ok(await client.get(f"{API}/pool", headers=h["rep"]))
    assert set(ids.values()) <= {c["id"] for c in pool["items"]}

    # 2. Support verifies and grades them (resource → graded).
    for key, grade in (("alpha", "A"), ("beta", "B"), ("gamma", "A"), ("delta", "C")):
        await ok(
            await client.post(
                f"{API}/customers/{ids[key]}/transitions",
                headers=h["support"],
                json={
                    "to_stage": "graded",
                    "grade": grade,
                    "recommended_products": ["ERP"],
                    "target_amount": "80000.00",
                },
            )
        )

    # 3. rep2 signed the most lately: the fat-man principle gives them the grade A customers.
    past = await make_customer(uow_factory, owner=org.rep2, stage="signed", target_amount=Decimal("90000"))
    await add_transition_row(
        uow_factory, customer=past, to_stage="signed", owner=org.rep2, at=utcnow() - dt.timedelta(days=20)
    )
    await make_contract(
        uow_factory,
        customer=past,
        amount="90000",
        status="signed",
        signed_at=utcnow() - dt.timedelta(days=20),
    )
    plan = await ok(
        await client.post(
            f"{API}/pool/allocate", headers=h["manager"], json={"strategy": "fat_man", "dry_run": True}
        )
    )
    expected = {
        ids["alpha"]: str(org.rep2.id),
        ids["gamma"]: str(org.rep2.id),
        ids["beta"]: str(org.rep.id),
        ids["delta"]: str(org.rep.id),
    }
    assert {a["customer_id"]: a["owner_id"] for a in plan["assignments"]} == expected
    done = await ok(
        await client.post(f"{API}/pool/allocate", headers=h["manager"], json={"strategy": "fat_man"})
    )
    assert all(a["applied"] for a in done["assignments"])

    # 4. The rep is full: a claim is refused until a slot frees up.
    extra = await ok(
        await client.post(f"{API}/customers", headers=h["support"], json={"name": "Epsilon Paper Co"}), 201
    )
    claim = await client.post(f"{API}/customers/{extra['id']}/claim", headers=h["rep"])
    assert claim.json()["code"] == "pool.quota_exceeded"

    # 5. The rep calls beta and moves it down the funnel; delta refuses and is abandoned.
    await ok(
        await client.post(
            f"{API}/activities",
            headers=h["rep"],
            json={
                "customer_id": ids["beta"],
                "type": "call",
                "occurred_at": utcnow().isoformat(),
                "subject": "Introduction",
            },
        ),
        201,
    )
    for stage in ("contacted", "lead", "intent"):
        await ok(
            await client.post(
                f"{API}/customers/{ids['beta']}/transitions", headers=h["rep"], json={"to_stage": stage}
            )
        )
    abandoned = await ok(
        await client.post(
            f"{API}/customers/{ids['delta']}/transitions",
            headers=h["rep"],
            json={"to_stage": "abandoned", "reason": "refused", "note": "Has a supplier under contract"},
        )
    )
    assert abandoned["owner_id"] is None and abandoned["cooldown_until"] is not None
    await ok(
        await client.post(
            f"{API}/customers/{ids['delta']}/abandonment-review",
            headers=h["manager"],
            json={"verdict": "agree"},
        ),
        201,
    )
    # The freed slot lets the rep claim.
    await ok(await client.post(f"{API}/customers/{extra['id']}/claim", headers=h["rep"]))

    # 6. rep2 never calls gamma: eight days later the scheduled sweep returns it to the pool.
    await update_customer_row(
        uow_factory, uuid.UUID(ids["gamma"]), claimed_at=utcnow() - dt.timedelta(days=8)
    )
    await maintenance.run_once(session_factory)
    gamma = await ok(await client.get(f"{API}/customers/{ids['gamma']}", headers=h["support"]))
    assert gamma["owner_id"] is None
    history = await ok(await client.get(f"{API}/customers/{ids['gamma']}/history", headers=h["support"]))
    assert "recycle" in [entry["action"] for entry in history["items"]]

    # 7. The rep leaves: their intent customer goes to rep2, the rest to the pool; then deactivation.
    refused = await client.post(f"{API}/users/{org.rep.id}/deactivate", headers=h["admin"])
    assert refused.json()["code"] == "user.owns_customers"
    handover = await ok(
        await client.post(
            f"{API}/users/{org.rep.id}/handover", headers=h["manager"], json={"strategy": "fat_man"}
        )
    )
    went = {item["customer_id"]: item["to_owner_id"] for item in handover["items"]}
    assert went == {ids["beta"]: str(org.rep2.id), extra["id"]: None}
    await ok(await client.post(f"{API}/users/{org.rep.id}/deactivate", headers=h["admin"]))

    # Every customer's stored history replays to where it stands.
    for customer_id in ids.values():
        rows = (
            await ok(await client.get(f"{API}/customers/{customer_id}/transitions", headers=h["director"]))
        )["items"]
        moves = [
            SimpleNamespace(from_stage=Stage(r["from_stage"]), to_stage=Stage(r["to_stage"]))
            for r in rows[1:]
        ]
        current = await ok(await client.get(f"{API}/customers/{customer_id}", headers=h["director"]))
        assert rows[0]["kind"] == "created"
        assert replay(moves, start=Stage(rows[0]["to_stage"])) == Stage(current["stage"])  # type: ignore[arg-type]
