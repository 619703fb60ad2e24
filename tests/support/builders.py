"""Small async builders for test data: ``await make_user(uow_factory, role="rep")``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import lru_cache

import httpx

from app.db.models import Team, User
from app.db.uow import UnitOfWork
from app.services import security

PASSWORD = "correct-horse-battery"


@lru_cache(maxsize=1)
def _password_hash() -> str:
    # Argon2 is slow on purpose; hash the shared test password once.
    return security.hash_password(PASSWORD)


async def make_team(
    uow_factory: Callable[[], UnitOfWork],
    *,
    name: str | None = None,
    parent: Team | None = None,
    manager: User | None = None,
) -> Team:
    async with uow_factory() as uow:
        team_id = uuid.uuid4()
        team = Team(
            id=team_id,
            name=name or f"team-{team_id.hex[:6]}",
            parent_id=parent.id if parent else None,
            path=f"{parent.path if parent else '/'}{team_id}/",
            manager_id=manager.id if manager else None,
        )
        uow.teams.add(team)
        await uow.commit()
        return team


async def make_user(
    uow_factory: Callable[[], UnitOfWork],
    *,
    role: str = "rep",
    team: Team | None = None,
    username: str | None = None,
    is_active: bool = True,
) -> User:
    async with uow_factory() as uow:
        user = User(
            username=username or f"{role}-{uuid.uuid4().hex[:8]}",
            role=role,
            team_id=team.id if team else None,
            password_hash=_password_hash(),
            full_name=f"Test {role}",
            is_active=is_active,
        )
        uow.users.add(user)
        await uow.commit()
        return user


async def set_team_manager(uow_factory: Callable[[], UnitOfWork], team: Team, manager: User) -> None:
    async with uow_factory() as uow:
        stored = await uow.teams.get_unscoped(team.id)
        assert stored is not None
        stored.manager_id = manager.id
        await uow.commit()


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Log in and answer the token pair."""
    response = await client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


async def auth_headers(client: httpx.AsyncClient, user: User) -> dict[str, str]:
    tokens = await login(client, user.username)
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def access_headers(user: User) -> dict[str, str]:
    """Bearer headers with an access token minted directly: no login, no Argon2 verify."""
    from app.config import get_settings
    from app.db.base import utcnow

    settings = get_settings()
    token, _ = security.issue_access_token(
        user_id=user.id,
        role=user.role,
        secret=settings.effective_secret_key(),
        minutes=settings.access_token_minutes,
        now=utcnow(),
    )
    return {"Authorization": f"Bearer {token}"}


PROBLEM_KEYS = frozenset({"type", "title", "status", "detail", "code"})


async def walk_pages(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any
) -> list[dict]:
    """Every item of a cursor-paginated list, following ``next_cursor`` page by page."""
    items: list[dict] = []
    cursor = None
    while True:
        response = await client.get(
            path, headers=headers, params={**params, **({"cursor": cursor} if cursor else {})}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """Assert an RFC 9457 problem+json answer with ``status`` (and ``code``); answer the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert all(isinstance(body[k], str) and body[k] for k in ("type", "title", "detail", "code")), body
    if code is not None:
        assert body["code"] == code, body
    return body


# ----------------------------------------------------------------------------------------
# Customer master data: rows inserted directly through the unit of work (no HTTP, no
# service rules), so a test can set up dozens of customers in milliseconds.
# ----------------------------------------------------------------------------------------

from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402


def valid_uscc(first17: str) -> str:
    """A unified social credit code with the right GB 32100-2015 check character."""
    from app.domain.normalize import uscc_check_char

    return first17 + uscc_check_char(first17)


async def make_sales_org(uow_factory: Callable[[], UnitOfWork]) -> Any:
    """region → group (``manager`` manages region; ``rep``/``rep2`` in group) and a separate
    ``other`` team (``other_manager``, ``other_rep``), plus director, support, finance, admin."""
    from types import SimpleNamespace

    region = await make_team(uow_factory, name="region")
    group = await make_team(uow_factory, name="group", parent=region)
    other = await make_team(uow_factory, name="other")
    manager = await make_user(uow_factory, role="manager", team=region)
    await set_team_manager(uow_factory, region, manager)
    other_manager = await make_user(uow_factory, role="manager", team=other)
    await set_team_manager(uow_factory, other, other_manager)
    return SimpleNamespace(
        region=region,
        group=group,
        other=other,
        manager=manager,
        other_manager=other_manager,
        rep=await make_user(uow_factory, role="rep", team=group),
        rep2=await make_user(uow_factory, role="rep", team=group),
        other_rep=await make_user(uow_factory, role="rep", team=other),
        director=await make_user(uow_factory, role="director"),
        support=await make_user(uow_factory, role="support"),
        finance=await make_user(uow_factory, role="finance"),
        admin=await make_user(uow_factory, role="admin"),
    )


def _customer_row(
    *,
    name: str,
    owner: User | None,
    team: Any,
    stage: str,
    kind: str,
    uscc: str | None,
    source: str,
    fields: dict[str, Any],
) -> Any:
    from app.db.base import utcnow
    from app.db.models import Customer
    from app.domain.normalize import dedup_name_key

    now = utcnow()
    team_id = (owner.team_id if owner else None) if team is _OWNER_TEAM else (team.id if team else None)
    values: dict[str, Any] = {
        "created_at": now,
        "updated_at": now,
        "stage_entered_at": now,
        "claimed_at": now if owner else None,
        "tags": [],
        "interests": [],
        "recommended_products": [],
        **fields,
    }
    return Customer(
        id=uuid.uuid4(),
        name=name,
        name_key=dedup_name_key(name),
        kind=kind,
        uscc=uscc,
        stage=stage,
        source=source,
        owner_id=owner.id if owner else None,
        team_id=team_id,
        **values,
    )


_OWNER_TEAM: Any = object()


async def make_customer(
    uow_factory: Callable[[], UnitOfWork],
    *,
    name: str | None = None,
    owner: User | None = None,
    team: Any = _OWNER_TEAM,
    stage: str = "resource",
    kind: str = "company",
    uscc: str | None = None,
    source: str = "other",
    contacts: Sequence[dict[str, Any]] = (),
    deleted: bool = False,
    **fields: Any,
) -> Any:
    """One customer (team defaults to the owner's); ``contacts`` are dicts of Contact fields,
    their phones/emails normalised like the API does. Extra keyword arguments are columns."""
    from app.db.base import utcnow
    from app.db.models import Contact
    from app.domain import normalize

    customer = _customer_row(
        name=name or f"Customer {uuid.uuid4().hex[:8]}",
        owner=owner,
        team=team,
        stage=stage,
        kind=kind,
        uscc=uscc,
        source=source,
        fields={**fields, **({"deleted_at": utcnow()} if deleted else {})},
    )
    rows = []
    for data in contacts:
        data = dict(data)
        data["phones"] = [normalize.normalize_phone(p) for p in data.get("phones", ())]
        data["emails"] = [normalize.normalize_email(e) for e in data.get("emails", ())]
        rows.append(Contact(id=uuid.uuid4(), customer_id=customer.id, **data))
    customer.completeness = normalize.completeness(
        kind=kind,
        fields={
            "name": customer.name,
            "uscc": uscc,
            "industry": customer.industry,
            "region": customer.region,
            "size": customer.size,
            "address": customer.address,
            "website": customer.website,
            "source": source,
            "has_contact": bool(rows),
            "has_contact_phone_or_email": any(c.phones or c.emails for c in rows),
        },
    )
    async with uow_factory() as uow:
        uow.customers.add(customer)
        await uow.flush()
        for contact in rows:
            uow.contacts.add(contact)
        await uow.flush()
        for contact in rows:
            await uow.contacts.replace_points(contact)
        await uow.commit()
        customer.contacts_ = rows  # for the test's convenience; not a mapped attribute
        return customer


async def make_customers(
    uow_factory: Callable[[], UnitOfWork],
    count: int,
    *,
    owner: User | None = None,
    stage: str = "resource",
    name_prefix: str | None = None,
    **fields: Any,
) -> list[Any]:
    """``count`` bare customers in one transaction (e.g. to fill a rep's holding limit)."""
    prefix = name_prefix or f"Bulk {uuid.uuid4().hex[:6]}"
    rows = [
        _customer_row(
            name=f"{prefix} {i:04d}",
            owner=owner,
            team=_OWNER_TEAM,
            stage=stage,
            kind="company",
            uscc=None,
            source="other",
            fields=dict(fields),
        )
        for i in range(count)
    ]
    async with uow_factory() as uow:
        uow.session.add_all(rows)
        await uow.commit()
    return rows


async def make_activity(
    uow_factory: Callable[[], UnitOfWork],
    *,
    customer: Any,
    created_by: User,
    type: str = "call",
    occurred_at: Any = None,
    **fields: Any,
) -> Any:
    """An activity row (does not move the customer's ``last_contact_at``)."""
    import datetime as dt

    from app.db.base import utcnow
    from app.db.models import Activity

    now = utcnow()
    activity = Activity(
        id=uuid.uuid4(),
        customer_id=customer.id,
        created_by=created_by.id,
        type=type,
        occurred_at=occurred_at or now - dt.timedelta(hours=1),
        received_at=now,
        created_at=now,
        updated_at=now,
        **fields,
    )
    async with uow_factory() as uow:
        uow.activities.add(activity)
        await uow.commit()
    return activity


# ----------------------------------------------------------------------------------------
# Funnel and pool (SPEC §4-§5): stored transitions, direct row updates, policy settings
# and principals for calling services directly.
# ----------------------------------------------------------------------------------------


async def record_created(uow_factory: Callable[[], UnitOfWork], customer: Any, *, at: Any = None) -> None:
    """The ``created`` transition row the API writes when a customer is created, so the
    history of a builder-made customer replays from its first stage."""
    from app.db.models import StageTransition

    async with uow_factory() as uow:
        uow.funnel.add_transition(
            StageTransition(
                customer_id=customer.id,
                from_stage=None,
                to_stage=customer.stage,
                kind="created",
                at=at or customer.created_at,
                actor_id=None,
                owner_id=customer.owner_id,
                team_id=customer.team_id,
                out_of_funnel=customer.out_of_funnel,
            )
        )
        await uow.commit()


async def make_funnel_customer(uow_factory: Callable[[], UnitOfWork], **kwargs: Any) -> Any:
    """``make_customer`` plus its ``created`` transition row."""
    customer = await make_customer(uow_factory, **kwargs)
    await record_created(uow_factory, customer)
    return customer


async def add_transition_row(
    uow_factory: Callable[[], UnitOfWork],
    *,
    customer: Any,
    to_stage: str,
    at: Any,
    owner: User | None = None,
    from_stage: str | None = None,
    kind: str = "forward",
    days_in_from_stage: Any = None,
) -> None:
    """A stored transition inserted directly (e.g. past signings that rank sellers)."""
    from app.db.models import StageTransition

    async with uow_factory() as uow:
        uow.funnel.add_transition(
            StageTransition(
                customer_id=customer.id,
                from_stage=from_stage,
                to_stage=to_stage,
                kind=kind,
                at=at,
                owner_id=owner.id if owner else None,
                team_id=owner.team_id if owner else None,
                days_in_from_stage=days_in_from_stage,
            )
        )
        await uow.commit()


async def update_customer_row(uow_factory: Callable[[], UnitOfWork], customer_id: Any, **values: Any) -> None:
    """Set columns of a customer directly (no rules, no history): clocks, stages, owners."""
    from sqlalchemy import update

    from app.db.models import Customer

    async with uow_factory() as uow:
        await uow.session.execute(update(Customer).where(Customer.id == customer_id).values(**values))
        await uow.commit()


async def principal_of(uow_factory: Callable[[], UnitOfWork], user: User) -> Any:
    """The Principal the API would build for ``user`` (managers get their team tree)."""
    from app.services.auth import build_principal_in

    async with uow_factory() as uow:
        return await build_principal_in(uow, user)


async def set_pool_policy(uow_factory: Callable[[], UnitOfWork], actor: User, **changes: Any) -> Any:
    """Change the pool policy through the settings service (defaults for the rest)."""
    from app.services import settings as settings_service

    current = await settings_service.get_setting(
        uow_factory(), await principal_of(uow_factory, actor), key="pool"
    )
    return await settings_service.put_setting(
        uow_factory(),
        await principal_of(uow_factory, actor),
        key="pool",
        value={**current.value, **changes},
        expected_version=None,
    )


# ----------------------------------------------------------------------------------------
# Credit, contracts, receivables and payments (SPEC §6): credit profiles and rows set
# directly (tests need not go through the credit-limit request routes), plus thin HTTP
# helpers for the contract, receivable and payment paths.
# ----------------------------------------------------------------------------------------


async def set_credit_profile(
    uow_factory: Callable[[], UnitOfWork],
    customer_id: Any,
    *,
    credit_limit: Any = None,
    payment_terms_days: int | None = None,
    on_hold: bool | None = None,
) -> Any:
    """Create (or change) a customer's credit profile directly; unset values stay as they are
    (a new profile starts at limit 0.00, terms 30, no hold)."""
    from decimal import Decimal

    async with uow_factory() as uow:
        profile = await uow.credit.lock_profile(customer_id, default_limit=Decimal("0.00"), default_terms=30)
        if credit_limit is not None:
            profile.credit_limit = Decimal(str(credit_limit))
        if payment_terms_days is not None:
            profile.payment_terms_days = payment_terms_days
        if on_hold is not None:
            profile.on_hold = on_hold
        await uow.commit()
        return profile


async def set_credit_limit(uow_factory: Callable[[], UnitOfWork], customer_id: Any, amount: Any) -> Any:
    """Set a customer's credit limit directly, as an approved limit request would."""
    return await set_credit_profile(uow_factory, customer_id, credit_limit=amount)


async def make_contract(
    uow_factory: Callable[[], UnitOfWork],
    *,
    customer: Any,
    amount: Any,
    status: str = "draft",
    number: str | None = None,
    signed_at: Any = None,
    payment_terms_days: int = 30,
    accepted_at: Any = None,
    service_start: Any = None,
    service_end: Any = None,
) -> Any:
    """A contract row inserted directly (no credit check, no funnel move)."""
    from decimal import Decimal

    from app.db.base import utcnow
    from app.db.models import Contract

    now = utcnow()
    contract = Contract(
        id=uuid.uuid4(),
        customer_id=customer.id,
        number=number or f"C-{uuid.uuid4().hex[:10]}",
        amount=Decimal(str(amount)),
        payment_terms_days=payment_terms_days,
        status=status,
        owner_id=customer.owner_id,
        team_id=customer.team_id,
        created_at=now,
        updated_at=now,
        signed_at=signed_at or (now if status in ("signed", "completed") else None),
        accepted_at=accepted_at,
        service_start=service_start,
        service_end=service_end,
    )
    async with uow_factory() as uow:
        uow.contracts.add(contract)
        await uow.commit()
    return contract


async def make_receivable(
    uow_factory: Callable[[], UnitOfWork],
    *,
    contract: Any,
    amount: Any,
    due_at: Any,
    issued_at: Any = None,
    paid_amount: Any = "0.00",
) -> Any:
    """A receivable row inserted directly (no billing checks, no allocations)."""
    import datetime as dt
    from decimal import Decimal

    from app.db.base import utcnow
    from app.db.models import Receivable

    now = utcnow()
    receivable = Receivable(
        id=uuid.uuid4(),
        contract_id=contract.id,
        customer_id=contract.customer_id,
        amount=Decimal(str(amount)),
        paid_amount=Decimal(str(paid_amount)),
        issued_at=issued_at or due_at - dt.timedelta(days=30),
        due_at=due_at,
        created_at=now,
        updated_at=now,
    )
    async with uow_factory() as uow:
        uow.receivables.add(receivable)
        await uow.commit()
    return receivable


async def api_draft_contract(
    client: httpx.AsyncClient, user: User, customer_id: Any, amount: Any, **body: Any
) -> dict[str, Any]:
    """``POST /contracts`` as ``user``; asserts 201 and answers the contract."""
    body = {
        "customer_id": str(customer_id),
        "number": f"C-{uuid.uuid4().hex[:10]}",
        "amount": str(amount),
        **body,
    }
    response = await client.post("/api/v1/contracts", headers=access_headers(user), json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def api_sign_contract(
    client: httpx.AsyncClient, user: User, contract_id: Any, **body: Any
) -> dict[str, Any]:
    """``POST /contracts/{id}/sign`` as ``user``; asserts 200 and answers the contract."""
    response = await client.post(
        f"/api/v1/contracts/{contract_id}/sign", headers=access_headers(user), json=body
    )
    assert response.status_code == 200, response.text
    return response.json()


async def api_bill(
    client: httpx.AsyncClient,
    user: User,
    contract_id: Any,
    amount: Any,
    *,
    due_at: Any = None,
    issued_at: Any = None,
) -> dict[str, Any]:
    """``POST /receivables`` as ``user`` (finance); due in 30 days unless given."""
    import datetime as dt

    from app.db.base import utcnow

    now = utcnow()
    due_at = due_at or now + dt.timedelta(days=30)
    issued_at = issued_at or min(now, due_at)
    response = await client.post(
        "/api/v1/receivables",
        headers=access_headers(user),
        json={
            "contract_id": str(contract_id),
            "amount": str(amount),
            "issued_at": issued_at.isoformat(),
            "due_at": due_at.isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


async def api_pay(
    client: httpx.AsyncClient,
    user: User,
    customer_id: Any,
    amount: Any,
    *,
    received_at: Any = None,
    allocations: Any = None,
) -> dict[str, Any]:
    """``POST /payments`` as ``user`` (finance); asserts 201 and answers the payment."""
    import datetime as dt

    from app.db.base import utcnow

    body: dict[str, Any] = {
        "customer_id": str(customer_id),
        "amount": str(amount),
        "received_at": (received_at or utcnow() - dt.timedelta(minutes=1)).isoformat(),
    }
    if allocations is not None:
        body["allocations"] = [{"receivable_id": str(r), "amount": str(a)} for r, a in allocations]
    response = await client.post("/api/v1/payments", headers=access_headers(user), json=body)
    assert response.status_code == 201, response.text
    return response.json()
