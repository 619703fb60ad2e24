"""Management reports benchmark: realistic funnel histories in PostgreSQL, then report p95s
at 8 concurrent clients, and proof that the aggregates equal a from-scratch computation.

    .venv/bin/python bench/reports.py --customers 20000
    .venv/bin/python bench/reports.py --customers 1000000 --clients 8   # the SPEC target

Steps (results in docs/benchmarks.md, "Management reports"):

1. Drop and create the database (default ``crm_bench_reports``; the name must start with
   ``crm_bench``), run the migrations, create the benchmark organisation (5 teams × 8 reps,
   bench/common.py), then generate, with a seeded random generator, N customers with a
   funnel history each over the last two years: created in ``resource`` (some directly
   further: out of funnel), forward one stage (sometimes skipping one), now and then one
   step back, abandoned with a reason (some reactivated later), an owner change for some,
   and a contract per signed customer. About 5 transitions per customer. Rows go in with
   PostgreSQL COPY; then ``VACUUM ANALYZE``.
2. Build the aggregates from the stored transitions with ``report_aggregates.rebuild`` (the
   code path of the migration and ``crm rebuild-report-aggregates``), timed.
3. Start ``crm serve`` (``--workers``), log in as the director, a manager and a rep, and move
   ``--live`` customers through the real transition endpoint while the load runs (the flush
   listener keeps the aggregates current in each transition's transaction).
4. With ``--clients`` concurrent keep-alive clients, for ``--seconds``: the funnel report of
   the company, a team and a rep, for a month and a year, the weekly series, anomalies,
   performance, targets; p50/p95/p99 per kind.
5. Recompute the aggregates from scratch (``app.domain.reports.recompute``, written apart
   from the incremental rule) over every stored transition and compare them with the
   stored ones, row by row. Print a markdown table; write bench/results/reports-N.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import secrets
import sys
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    CpuMeter,
    HttpConnection,
    Server,
    asyncpg_url,
    create_org,
    db_name,
    drop_database,
    log,
    make_org,
    percentile,
    recreate_database,
    run_migrations,
)

PASSWORD = "bench-password-1"
FUNNEL = ["resource", "graded", "contacted", "lead", "intent", "signed", "implemented"]
REASONS = ["refused", "unreachable", "unsuitable", "bought_competitor", "duplicate", "other"]
CUSTOMER_COLUMNS = [
    "id",
    "name",
    "name_key",
    "kind",
    "stage",
    "owner_id",
    "team_id",
    "source",
    "interests",
    "tags",
    "recommended_products",
    "target_amount",
    "grade",
    "stage_entered_at",
    "out_of_funnel",
    "completeness",
    "created_at",
    "updated_at",
    "version",
]
TRANSITION_COLUMNS = [
    "id",
    "customer_id",
    "from_stage",
    "to_stage",
    "kind",
    "at",
    "owner_id",
    "team_id",
    "reason",
    "skipped",
    "out_of_funnel",
    "director_override",
]
CONTRACT_COLUMNS = [
    "id",
    "customer_id",
    "number",
    "amount",
    "payment_terms_days",
    "status",
    "owner_id",
    "team_id",
    "signed_at",
    "created_at",
    "updated_at",
    "version",
]


def history(
    rng: random.Random,
    owners: list[uuid.UUID],
    team_of: dict[uuid.UUID, uuid.UUID],
    start: dt.datetime,
    now: dt.datetime,
) -> tuple[list[tuple], dict[str, Any]]:
    """One customer's transitions (rows) and final state."""
    owner = rng.choice(owners)
    at = start + dt.timedelta(seconds=rng.uniform(0, (now - start).total_seconds() * 0.9))
    stage = "resource" if rng.random() > 0.04 else rng.choice(["lead", "intent"])
    out = stage != "resource"
    rows = [(None, stage, "created", at, owner, None, out)]
    while True:
        at += dt.timedelta(hours=rng.expovariate(1 / 60))
        if at >= now:
            break
        roll = rng.random()
        position = FUNNEL.index(stage) if stage != "abandoned" else -1
        if stage == "abandoned":
            if roll < 0.1:
                owner = rng.choice(owners)
                rows.append(("abandoned", "resource", "reactivate", at, None, None, False))
                stage = "resource"
                continue
            break
        if stage == "implemented" or (stage == "signed" and roll < 0.3):
            if stage == "signed" and roll < 0.3:
                rows.append(("signed", "implemented", "forward", at, owner, None, False))
                stage = "implemented"
            break
        if stage in FUNNEL[:5] and roll < 0.18:
            rows.append((stage, "abandoned", "abandon", at, owner, rng.choice(REASONS), False))
            stage, owner = "abandoned", None
            continue
        if stage in FUNNEL[2:5] and roll < 0.25:
            back = FUNNEL[position - 1]
            rows.append((stage, back, "backward", at, owner, "not ready", False))
            stage = back
            continue
        if roll > 0.85:
            break  # stays where it is
        step = 2 if rng.random() < 0.05 and position + 2 < len(FUNNEL) else 1
        target = FUNNEL[min(position + step, len(FUNNEL) - 1)]
        rows.append((stage, target, "forward", at, owner, None, step == 2))
        out = out or step == 2
        stage = target
    return rows, {
        "stage": stage,
        "owner": owner,
        "team": team_of.get(owner) if owner else None,
        "entered": rows[-1][3],
        "out": out,
    }


async def load(url: str, n: int, seed: int) -> dict[str, Any]:
    import asyncpg

    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - dt.timedelta(days=730)
    org = make_org(rng, staff_role="finance")
    conn = await asyncpg.connect(asyncpg_url(url))
    counts = Counter()
    try:
        await create_org(
            conn,
            org,
            now,
            password=PASSWORD,
            team_names=["华东一组", "华东二组", "华南组", "华北组", "西南组"],
        )
        chunk = 20_000
        for first in range(0, n, chunk):
            customers, transitions, contracts = [], [], []
            for k in range(first, min(first + chunk, n)):
                rows, final = history(rng, org.rep_ids, org.rep_team, start, now)
                cid = uuid.UUID(int=rng.getrandbits(128), version=4)
                name = f"基准客户{k:07d}"
                created = rows[0][3]
                customers.append(
                    (
                        cid,
                        name,
                        name,
                        "company",
                        final["stage"],
                        final["owner"],
                        final["team"],
                        "import",
                        "[]",
                        "[]",
                        '["CRM标准版"]',
                        Decimal(rng.randrange(1, 200) * 1000),
                        "B",
                        final["entered"],
                        final["out"],
                        50,
                        created,
                        final["entered"],
                        1,
                    )
                )
                for from_stage, to_stage, kind, at, owner, reason, skipped in rows:
                    transitions.append(
                        (
                            uuid.uuid4(),
                            cid,
                            from_stage,
                            to_stage,
                            kind,
                            at,
                            owner,
                            org.rep_team.get(owner) if owner else None,
                            reason,
                            "[]",
                            skipped,
                            False,
                        )
                    )
                    if to_stage == "signed":
                        contracts.append(
                            (
                                uuid.uuid4(),
                                cid,
                                f"B-{cid.hex[:16]}-{len(contracts)}",
                                Decimal(rng.randrange(5, 500) * 1000),
                                30,
                                "signed",
                                owner,
                                org.rep_team.get(owner) if owner else None,
                                at,
                                at,
                                at,
                                1,
                            )
                        )
            await conn.copy_records_to_table("customer", records=customers, columns=CUSTOMER_COLUMNS)
            await conn.copy_records_to_table(
                "stage_transition", records=transitions, columns=TRANSITION_COLUMNS
            )
            await conn.copy_records_to_table("contract", records=contracts, columns=CONTRACT_COLUMNS)
            counts.update(customers=len(customers), transitions=len(transitions), contracts=len(contracts))
            log(f"loaded {counts['customers']} customers, {counts['transitions']} transitions")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return {"org": org, "counts": dict(counts), "now": now}


def _engine(url: str) -> Any:
    from app.db.engine import make_engine

    return make_engine(url)


async def rebuild(url: str) -> float:
    from app.config import get_settings
    from app.db import report_aggregates

    engine = _engine(url)
    began = time.perf_counter()
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: report_aggregates.rebuild(c, get_settings().tz))
    await engine.dispose()
    return time.perf_counter() - began


async def compare(url: str) -> dict[str, Any]:
    """Stored aggregates against a from-scratch recomputation over every transition."""
    from sqlalchemy import select

    from app.config import get_settings
    from app.db import report_aggregates
    from app.db.models import ReportFunnelCount, ReportFunnelDuration
    from app.db.models.reports import NIL
    from app.domain.reports import recompute

    def back(value: uuid.UUID) -> uuid.UUID | None:
        return None if value == NIL else value

    engine = _engine(url)
    async with engine.connect() as conn:
        expected = await conn.run_sync(
            lambda c: recompute(report_aggregates.histories(c), get_settings().tz).cleaned()
        )
        counts = Counter(
            {
                (r.day, back(r.owner_id), back(r.team_id), r.metric, r.key): r.count
                for r in await conn.execute(select(ReportFunnelCount.__table__))
            }
        )
        durations = Counter(
            {
                (r.day, back(r.owner_id), back(r.team_id), r.stage, r.centidays): r.count
                for r in await conn.execute(select(ReportFunnelDuration.__table__))
            }
        )
    await engine.dispose()
    return {
        "count_rows": len(counts),
        "duration_rows": len(durations),
        "counts_equal": counts == expected.counts,
        "durations_equal": durations == expected.durations,
        "count_differences": len(set(counts.items()) ^ set(expected.counts.items())),
        "duration_differences": len(set(durations.items()) ^ set(expected.durations.items())),
    }


async def token(base: str, username: str) -> str:
    import httpx

    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
        response.raise_for_status()
        return str(response.json()["access_token"])


async def live_moves(base: str, url: str, director: str, count: int) -> int:
    """Move customers through the real endpoint (graded → contacted needs an activity:
    intent → lead backward steps and abandonments need none)."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_url(url))
    rows = await conn.fetch(
        "SELECT id, stage FROM customer WHERE stage IN ('lead', 'intent', "
        "'contacted') AND owner_id IS NOT NULL ORDER BY id LIMIT $1",
        count,
    )
    await conn.close()
    client = HttpConnection(base, {"Authorization": f"Bearer {director}"})
    moved = 0
    for k, row in enumerate(rows):
        stage = row["stage"]
        if k % 3 == 0:
            body = {"to_stage": "abandoned", "reason": "refused", "note": "bench"}
        else:
            body = {
                "to_stage": {"lead": "contacted", "intent": "lead", "contacted": "graded"}[stage],
                "reason": "bench step back",
            }
        status, _ = await client.request("POST", f"/api/v1/customers/{row['id']}/transitions", json_body=body)
        moved += status == 200
    await client.close()
    return moved


async def measure(
    base: str, tokens: dict[str, str], org: Any, now: dt.datetime, clients: int, seconds: float
) -> dict[str, dict[str, float]]:
    this_month = now.date().replace(day=1)
    year_ago = now.date().replace(day=1) - dt.timedelta(days=365)
    month = {"from": this_month.isoformat()}
    year = {"from": year_ago.replace(day=1).isoformat(), "to": this_month.isoformat()}
    team, rep = str(org.team_ids[0]), str(org.rep_ids[0])
    kinds = [
        ("funnel company month", "director", "/api/v1/reports/funnel", month),
        ("funnel company year", "director", "/api/v1/reports/funnel", year),
        ("funnel team month", "director", "/api/v1/reports/funnel", {**month, "team_id": team}),
        ("funnel team year", "manager", "/api/v1/reports/funnel", year),
        ("funnel rep month", "rep", "/api/v1/reports/funnel", month),
        ("funnel rep year", "director", "/api/v1/reports/funnel", {**year, "owner_id": rep}),
        ("weekly company year", "director", "/api/v1/reports/funnel/weekly", year),
        ("anomalies company month", "director", "/api/v1/reports/anomalies", month),
        ("anomalies company year", "director", "/api/v1/reports/anomalies", year),
        ("performance reps year", "director", "/api/v1/reports/performance", year),
        ("performance teams month", "director", "/api/v1/reports/performance", {**month, "group_by": "team"}),
        ("targets", "director", "/api/v1/reports/targets", {}),
    ]
    timings: dict[str, list[float]] = {name: [] for name, *_ in kinds}
    errors: Counter[str] = Counter()
    deadline = time.monotonic() + seconds

    async def client_loop(number: int) -> None:
        connections = {
            who: HttpConnection(base, {"Authorization": f"Bearer {tokens[who]}"}) for who in tokens
        }
        k = number
        while time.monotonic() < deadline:
            name, who, path, params = kinds[k % len(kinds)]
            k += 1
            began = time.perf_counter()
            status, _ = await connections[who].request("GET", path, params=params)
            elapsed = (time.perf_counter() - began) * 1000
            if status != 200:
                errors[f"{name}: {status}"] += 1
            timings[name].append(elapsed)
        for connection in connections.values():
            await connection.close()

    await asyncio.gather(*(client_loop(i) for i in range(clients)))
    result = {}
    for name, values in timings.items():
        ordered = sorted(values)
        result[name] = {
            "n": len(ordered),
            "p50": percentile(ordered, 0.5),
            "p95": percentile(ordered, 0.95),
            "p99": percentile(ordered, 0.99),
        }
    result["_errors"] = dict(errors)  # type: ignore[assignment]
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--db-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/crm_bench_reports")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--live", type=int, default=200)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if not db_name(args.db_url).startswith("crm_bench"):
        raise SystemExit("the database name must start with crm_bench")
    os.environ["CRM_DATABASE_URL"] = args.db_url
    await recreate_database(args.db_url)
    run_migrations(args.db_url)
    began = time.perf_counter()
    loaded = await load(args.db_url, args.customers, args.seed)
    load_seconds = time.perf_counter() - began
    log(f"loaded in {load_seconds:.0f} s: {loaded['counts']}")
    rebuild_seconds = await rebuild(args.db_url)
    log(f"aggregates rebuilt in {rebuild_seconds:.0f} s")
    secret = secrets.token_urlsafe(40)
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(exist_ok=True)
    server = Server(
        args.db_url,
        args.workers,
        results_dir / "reports-server.log",
        secret,
        extra_env={"CRM_RECYCLE_INTERVAL_SECONDS": "0"},
    )
    org = loaded["org"]
    try:
        await server.wait_ready()
        tokens = {
            "director": await token(server.base, "director"),
            "manager": await token(server.base, "manager1"),
            "rep": await token(server.base, org.usernames[org.rep_ids[0]]),
        }
        # The reports need targets to track.
        period = loaded["now"].strftime("%Y-%m")
        director = HttpConnection(server.base, {"Authorization": f"Bearer {tokens['director']}"})
        await director.request(
            "POST",
            "/api/v1/targets",
            json_body={
                "period": period,
                "level": "company",
                "signed_amount": "50000000",
                "collected_amount": "40000000",
            },
        )
        for team in org.team_ids:
            await director.request(
                "POST",
                "/api/v1/targets",
                json_body={
                    "period": period,
                    "level": "team",
                    "team_id": str(team),
                    "signed_amount": "9000000",
                    "collected_amount": "8000000",
                },
            )
        await director.close()
        meter = CpuMeter([server.proc.pid], args.db_url)
        await meter.refresh_pg_pids()
        before = meter.snapshot()
        live = asyncio.create_task(live_moves(server.base, args.db_url, tokens["director"], args.live))
        timings = await measure(server.base, tokens, org, loaded["now"], args.clients, args.seconds)
        moved = await live
        await meter.refresh_pg_pids()
        cpu = CpuMeter.cores(before, meter.snapshot())
    finally:
        server.stop()
    log(f"{moved} live transitions through the API during the load")
    check = await compare(args.db_url)
    log(f"aggregates against a from-scratch computation: {check}")
    result = {
        "customers": args.customers,
        "counts": loaded["counts"],
        "clients": args.clients,
        "workers": args.workers,
        "seconds": args.seconds,
        "load_seconds": load_seconds,
        "rebuild_seconds": rebuild_seconds,
        "live_transitions": moved,
        "timings": timings,
        "cpu": cpu,
        "check": check,
    }
    (results_dir / f"reports-{args.customers}.json").write_text(json.dumps(result, indent=2, default=str))
    print(
        f"\n{args.customers} customers, {loaded['counts']['transitions']} transitions, "
        f"{args.clients} clients, {args.workers} workers\n"
    )
    print("| report | n | p50 ms | p95 ms | p99 ms |\n| --- | ---: | ---: | ---: | ---: |")
    for name, t in timings.items():
        if not name.startswith("_"):
            print(f"| {name} | {t['n']} | {t['p50']:.0f} | {t['p95']:.0f} | {t['p99']:.0f} |")
    print(f"\nerrors: {timings['_errors']}; cpu: {cpu}; check: {check}")
    if not args.keep:
        await drop_database(args.db_url)


if __name__ == "__main__":
    asyncio.run(main())
