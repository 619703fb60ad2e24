"""Trading for the demo: limits, contracts, instalments, payments — through the real use
cases, so the credit checks, funnel moves and histories are exactly what the API would record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from app.db.models import Customer
from app.db.uow import UnitOfWork
from app.demo.org import REP_NAMES, Org
from app.domain.funnel import Stage
from app.services import auth as auth_service
from app.services import contracts as contracts_service
from app.services import credit as credit_service
from app.services import receivables as receivables_service

# (limit, contract amount, signed days ago, instalments as (share, issued days ago, due days
# ago), paid share of the billed total, accepted) — from fully paid and implemented down to
# a customer on credit hold with an invoice long overdue.
_TRADES: list[tuple[str, str, int, list[tuple[str, int, int]], str, bool]] = [
    ("500000", "320000.00", 300, [("0.5", 290, 260), ("0.5", 200, 170)], "1.00", True),
    ("300000", "180000.00", 240, [("0.6", 230, 200), ("0.4", 120, 90)], "0.80", True),
    ("200000", "150000.00", 210, [("0.3", 200, 170), ("0.3", 110, 80), ("0.4", 20, -10)], "0.45", False),
    ("100000", "86000.00", 190, [("1.0", 180, 150)], "0.20", False),
    ("800000", "560000.00", 120, [("0.5", 100, 70), ("0.5", 40, 10)], "0.60", False),
    ("150000", "98000.00", 60, [("0.5", 50, 20)], "0.00", False),
    ("1200000", "950000.00", 30, [], "0.00", False),
    ("50000", "42000.00", 15, [("1.0", 10, -20)], "0.00", False),
]


async def seed_trading(uow: UnitOfWork, org: Org, customers: Sequence[Customer], *, now: dt.datetime) -> str:
    """Give the reps' most advanced customers contracts, bills and payments."""
    async with uow:
        people = {
            u.username: await auth_service.build_principal_in(uow, u)
            for u in (*org.reps, *[await uow.users.get_by_username(n) for n in ("finance", "director")])
            if u is not None
        }
    finance, director = people["finance"], people["director"]
    rep_of = {u.user_id: u for name, u in people.items() if name in REP_NAMES}
    # rep2 stays at the holding limit, so the demo can show a refused claim.
    candidates = sorted(
        (
            c
            for c in customers
            if c.stage == Stage.intent.value and c.owner_id in rep_of and c.owner_id != people["rep2"].user_id
        ),
        key=lambda c: c.id,
    )
    day = dt.timedelta(days=1)
    billed_total = paid_total = Decimal(0)
    for n, (customer, trade) in enumerate(zip(candidates, _TRADES, strict=False)):
        limit, amount, signed_ago, instalments, paid_share, accepted = trade
        rep = rep_of[customer.owner_id]
        request = await credit_service.request_limit(
            uow, rep, customer_id=customer.id, requested_limit=Decimal(limit), reason="年度框架合同"
        )
        approver = director if Decimal(limit) > Decimal("1000000") else finance
        await credit_service.approve_request(uow, approver, request_id=request.id, note="信用良好")
        contract = await contracts_service.create_contract(
            uow, rep, customer_id=customer.id, number=f"HT-DEMO-{n + 1:03d}", amount=Decimal(amount)
        )
        await contracts_service.sign_contract(
            uow, rep, contract_id=contract.id, signed_at=now - signed_ago * day
        )
        billed = Decimal(0)
        for share, issued_ago, due_ago in instalments:
            part = (Decimal(amount) * Decimal(share)).quantize(Decimal("0.01"))
            await receivables_service.create_receivable(
                uow,
                finance,
                contract_id=contract.id,
                amount=part,
                issued_at=now - issued_ago * day,
                due_at=now - due_ago * day,
            )
            billed += part
        paid = (billed * Decimal(paid_share)).quantize(Decimal("0.01"))
        if paid:
            await receivables_service.record_payment(
                uow,
                finance,
                customer_id=customer.id,
                amount=paid,
                received_at=now - 5 * day,
                reference=f"BANK-{n + 1:04d}",
            )
        if accepted:
            await contracts_service.accept_contract(uow, rep, contract_id=contract.id)
        billed_total += billed
        paid_total += paid
    count = min(len(candidates), len(_TRADES))
    return (
        f"trading: {count} contracts, billed {billed_total:,.2f}, collected {paid_total:,.2f} — "
        "try GET /api/v1/reports/ar-aging as finance"
    )
