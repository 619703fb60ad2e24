"""Grading benchmark: bulk-load N trading customers into PostgreSQL, then time the batch.

    .venv/bin/python bench/grading.py --size 100000
    .venv/bin/python bench/grading.py --size 100000 --profile     # + per-query breakdown

Steps (results in docs/benchmarks.md, "Grading batch"):

1. Drop and create the database (default ``crm_bench_grading``; the name must start with
   ``crm_bench``), run the migrations (``crm migrate``), create a director, 5 team managers
   and 40 reps (plain SQL), then bulk-load with PostgreSQL COPY (asyncpg
   ``copy_records_to_table``):

   * N *trading* customers (stage ``signed``/``implemented``, owned by a rep, a random
     initial grade) with 1-3 signed or completed contracts signed over the last ~2 years
     (about 12 % first signed within the last 180 days, so not yet eligible), receivables
     issued in the last 12 months (1-3 per contract, 30-day terms, some overdue, a few
     written off), payments received for them and payment_allocations consistent with the
     receivables (``paid_amount`` = sum of allocations; a few overpayments stay unallocated).
     Three customer profiles (strong / ordinary / weak) spread the grades over A, B and C.
   * a few thousand *non-trading* customers (earlier stages, some with a draft or cancelled
     contract), which the batch must skip;
   * one contact, one history row and one change-log row per customer, as the app keeps them.

   No timestamp lies within two days of a window edge (12 months back, 180 days back), so
   a re-run minutes later sees exactly the same facts. Secondary indexes are dropped for the
   load and rebuilt from their own definitions; FK triggers are off for the loading session
   only (the data is consistent by construction). Then VACUUM ANALYZE.
2. Start ``--servers`` (2) × ``crm serve --workers 1`` on free loopback ports, log in as the
   director and time ``POST /api/v1/grading/run`` end to end on the first: the first run
   (many grade changes) and a re-run (idempotent: nothing changes, nothing is stored).
   Row counts before/after prove it. The CPU used by the servers, PostgreSQL and every
   other process meanwhile is recorded (the machine may be shared). The servers run with
   ``CRM_RECYCLE_INTERVAL_SECONDS=0`` so no pool-recycling sweep writes meanwhile.
3. Time ``GET /api/v1/customers/{id}/grade`` with C concurrent keep-alive clients spread
   over the servers, for a bounded number of requests (and seconds); p50/p95/p99.
4. ``--profile``: reset the gradings to the loaded state, run the same batch in this process
   (first run and re-run) with every SQL statement timed by kind and every repository call
   timed, then EXPLAIN (ANALYZE, BUFFERS) each statement of the middle chunk twice: with a
   custom plan and with the generic plan PostgreSQL uses for a prepared statement after
   five executions (asyncpg prepares and caches every statement).
5. Stop the servers, drop the database (``--keep`` keeps it), write bench/results/*.json and
   print a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import math
import os
import platform
import random
import re
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.demo.words import PRODUCTS, SIZES  # noqa: E402  (after the sys.path tweak)
from app.domain import normalize  # noqa: E402
from app.domain.contracts import ContractStatus  # noqa: E402
from bench.common import (  # noqa: E402
    BenchOrg,
    CpuMeter,
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

RESULTS_DIR = ROOT / "bench" / "results"
PASSWORD = "bench-pass-2026"
DEFAULT_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/crm_bench_grading"
TARGET_SECONDS = 60.0
DAY = dt.timedelta(days=1)

# ------------------------------------------------------------------------------------------
# Small helpers (same approach as bench/customers.py, kept local so this script stands alone)
# ------------------------------------------------------------------------------------------


def cents(value: int) -> Decimal:
    return Decimal(value).scaleb(-2)


# ------------------------------------------------------------------------------------------
# Organisation
# ------------------------------------------------------------------------------------------

TEAM_NAMES = [f"销售{k + 1}组" for k in range(5)]


# ------------------------------------------------------------------------------------------
# Rows
# ------------------------------------------------------------------------------------------

CUSTOMER_COLUMNS = [
    "id",
    "name",
    "name_key",
    "kind",
    "industry",
    "region",
    "size",
    "stage",
    "grade",
    "owner_id",
    "team_id",
    "source",
    "interests",
    "tags",
    "recommended_products",
    "last_contact_at",
    "claimed_at",
    "stage_entered_at",
    "out_of_funnel",
    "completeness",
    "created_by",
    "created_at",
    "updated_at",
    "version",
]
CONTACT_COLUMNS = [
    "id",
    "customer_id",
    "name",
    "title",
    "phones",
    "emails",
    "is_primary",
    "created_at",
    "updated_at",
    "version",
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
    "created_by",
    "signed_at",
    "signed_by",
    "accepted_at",
    "completed_at",
    "cancelled_at",
    "cancel_reason",
    "created_at",
    "updated_at",
    "version",
]
RECEIVABLE_COLUMNS = [
    "id",
    "contract_id",
    "customer_id",
    "amount",
    "paid_amount",
    "issued_at",
    "due_at",
    "written_off_at",
    "write_off_reason",
    "written_off_by",
    "created_by",
    "created_at",
    "updated_at",
    "version",
]
PAYMENT_COLUMNS = [
    "id",
    "customer_id",
    "amount",
    "unallocated_amount",
    "received_at",
    "reference",
    "created_by",
    "created_at",
]
ALLOCATION_COLUMNS = ["id", "payment_id", "receivable_id", "amount"]
HISTORY_COLUMNS = ["id", "customer_id", "at", "actor_id", "action", "entity", "entity_id", "changes"]
CHANGE_LOG_COLUMNS = ["seq", "entity", "entity_id", "customer_id", "op", "owner_id", "team_id", "at"]

TABLES = [
    "customer",
    "contact",
    "contract",
    "receivable",
    "payment",
    "payment_allocation",
    "customer_history",
    "change_log",
]
COLUMNS = {
    "customer": CUSTOMER_COLUMNS,
    "contact": CONTACT_COLUMNS,
    "contract": CONTRACT_COLUMNS,
    "receivable": RECEIVABLE_COLUMNS,
    "payment": PAYMENT_COLUMNS,
    "payment_allocation": ALLOCATION_COLUMNS,
    "customer_history": HISTORY_COLUMNS,
    "change_log": CHANGE_LOG_COLUMNS,
}

SOURCES = (
    ["import"] * 8
    + ["web"] * 3
    + ["exhibition"] * 2
    + ["referral"] * 2
    + ["self_discovered"] * 3
    + ["inbound_call", "other"]
)
INDUSTRIES = [
    "信息技术",
    "装备制造",
    "批发零售",
    "医药健康",
    "化工材料",
    "建筑建材",
    "新能源",
    "交通物流",
    "文化传媒",
    "教育培训",
]
REGIONS = [
    "北京市",
    "上海市",
    "广东省深圳市",
    "浙江省杭州市",
    "江苏省苏州市",
    "四川省成都市",
    "湖北省武汉市",
    "山东省青岛市",
]
EARLY_STAGES = ["resource", "graded", "contacted", "lead", "intent"]

# Customer profiles: (share, contract amount range in CNY (log-uniform), billed share range,
# probability a receivable is paid in full / in part once due, same before it is due).
PROFILES = {
    "strong": (0.30, (2_000_000, 9_000_000), (0.6, 1.0), (0.95, 0.04), 0.55),
    "ordinary": (0.40, (300_000, 3_000_000), (0.4, 1.0), (0.75, 0.15), 0.30),
    "weak": (0.30, (50_000, 1_500_000), (0.3, 1.0), (0.30, 0.30), 0.05),
}
INELIGIBLE_SHARE = 0.12  # first contract signed within min_trading_days (180)
MARGIN = 2 * DAY  # no timestamp within this of a window edge


@dataclass
class Rows:
    tables: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: {t: [] for t in TABLES})


def _avoid(moment: dt.datetime, edges: list[dt.datetime], lo: dt.datetime, hi: dt.datetime) -> dt.datetime:
    """Move ``moment`` out of ±MARGIN around each edge, staying within [lo, hi]."""
    for edge in edges:
        if abs(moment - edge) < MARGIN:
            moved = edge + MARGIN * 1.5 if moment >= edge else edge - MARGIN * 1.5
            if lo <= moved <= hi:
                moment = moved
            else:
                moment = edge - MARGIN * 1.5 if moment >= edge else edge + MARGIN * 1.5
    return moment


def _log_uniform(rng: random.Random, lo: int, hi: int) -> int:
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def generate(
    start: int, stop: int, *, trading: bool, org: BenchOrg, seed: int, now: dt.datetime, seq_start: int
) -> tuple[Rows, dict[str, int]]:
    """Rows for customers start..stop-1 of one kind (deterministic for a seed and chunk)."""
    rng = random.Random(f"{seed}:{trading}:{start}")
    out = Rows()
    t = out.tables
    profiles = {"strong": 0, "ordinary": 0, "weak": 0, "ineligible": 0}
    year_ago, half_year_ago = now - 365 * DAY, now - 180 * DAY
    edges = [year_ago, half_year_ago]
    seq = seq_start
    for i in range(start, stop):
        cid = uuid.UUID(int=rng.getrandbits(128), version=4)
        rep = org.rep_ids[rng.randrange(len(org.rep_ids))]
        team = org.rep_team[rep]
        name = f"{'评级' if trading else '潜客'}测试{i:07d}有限公司"
        size = rng.choice(SIZES) if rng.random() < 0.85 else None
        source = rng.choice(SOURCES)
        tags = ["trial"] if rng.random() < 0.05 else []
        products = rng.sample(PRODUCTS, rng.randint(1, 2)) if rng.random() < 0.8 else []
        created = now - (800 + rng.random() * 200) * DAY
        contracts: list[tuple[Any, ...]] = []
        if trading:
            stage = rng.choice(("signed", "signed", "implemented"))
            grade = rng.choice("AABBBCC") if rng.random() < 0.95 else None
            owner, owner_team = rep, team
            roll = rng.random()
            if roll < INELIGIBLE_SHARE:
                kind = "ineligible"
                p_name = rng.choice(("strong", "ordinary", "weak"))
                first = now - (3 + rng.random() * 175) * DAY
            else:
                cum, p_name = INELIGIBLE_SHARE, "weak"
                for key, spec in PROFILES.items():
                    cum += spec[0] * (1 - INELIGIBLE_SHARE)
                    if roll < cum:
                        p_name = key
                        break
                kind = p_name
                first = now - (185 + rng.random() * 545) * DAY  # ~6 months to 2 years ago
            first = _avoid(first, edges, now - 730 * DAY, now - 3 * DAY)
            profiles[kind] += 1
            _, amount_range, billed_range, (p_full, p_part), p_early = PROFILES[p_name]
            signings = [first]
            for _ in range(rng.choice((0, 0, 1, 1, 2))):
                extra = first + (now - first) * rng.random()
                signings.append(_avoid(extra, edges, first, now - DAY))
            for k, signed_at in enumerate(sorted(signings)):
                contract_id = uuid.UUID(int=rng.getrandbits(128), version=4)
                amount = _log_uniform(rng, *amount_range) // 100 * 10_000  # whole hundreds, cents
                completed = signed_at < year_ago and rng.random() < 0.7
                contracts.append(
                    (
                        contract_id,
                        cid,
                        f"HT-{i:07d}-{k + 1}",
                        cents(amount),
                        30,
                        (ContractStatus.completed if completed else ContractStatus.signed).value,
                        owner,
                        owner_team,
                        owner,
                        signed_at,
                        owner,
                        signed_at + 20 * DAY if completed else None,
                        signed_at + 40 * DAY if completed else None,
                        None,
                        None,
                        signed_at - 3 * DAY,
                        signed_at + (40 * DAY if completed else DAY),
                        2,
                    )
                )
                # Receivables issued in the last 12 months (never within the window edges).
                issue_from = max(signed_at + DAY, now - 355 * DAY)
                if issue_from >= now - DAY:
                    continue
                billed = int(amount * rng.uniform(*billed_range)) // 100 * 100
                parts = rng.choice((1, 1, 2, 3))
                shares = sorted(rng.random() for _ in range(parts - 1))
                bounds = [0, *[int(billed * s) // 100 * 100 for s in shares], billed]
                issues = sorted(issue_from + (now - DAY - issue_from) * rng.random() for _ in range(parts))
                for r_amount, issued in zip(
                    (b - a for a, b in itertools.pairwise(bounds)), issues, strict=True
                ):
                    if r_amount <= 0:
                        continue
                    rid = uuid.UUID(int=rng.getrandbits(128), version=4)
                    due = issued + 30 * DAY
                    is_due = due < now
                    roll = rng.random()
                    if is_due:
                        paid = (
                            r_amount
                            if roll < p_full
                            else (int(r_amount * rng.uniform(0.2, 0.9)) if roll < p_full + p_part else 0)
                        )
                    else:
                        paid = r_amount if roll < p_early else 0
                    written_off = None
                    if paid < r_amount and is_due and now - due > 90 * DAY and rng.random() < 0.03:
                        written_off = due + 60 * DAY
                    t["receivable"].append(
                        (
                            rid,
                            contract_id,
                            cid,
                            cents(r_amount),
                            cents(paid),
                            issued,
                            due,
                            written_off,
                            "uncollectable" if written_off else None,
                            org.staff_id if written_off else None,
                            org.staff_id,
                            issued,
                            issued,
                            1,
                        )
                    )
                    if paid:
                        pid = uuid.UUID(int=rng.getrandbits(128), version=4)
                        latest = min(due + 20 * DAY, now - dt.timedelta(hours=1))
                        received = issued + (latest - issued) * rng.uniform(0.05, 1.0)
                        over = rng.choice((0, 0, 0, 0, 0, 0, 0, 0, 0, 50_000)) if paid == r_amount else 0
                        t["payment"].append(
                            (
                                pid,
                                cid,
                                cents(paid + over),
                                cents(over),
                                received,
                                f"BANK-{pid.hex[:12]}",
                                org.staff_id,
                                received,
                            )
                        )
                        t["payment_allocation"].append(
                            (uuid.UUID(int=rng.getrandbits(128), version=4), pid, rid, cents(paid))
                        )
            t["contract"].extend(contracts)
            last_contact = now - rng.random() * 60 * DAY
            claimed = first - 60 * DAY
        else:
            stage = rng.choice(EARLY_STAGES)
            grade = rng.choice("ABC") if stage != "resource" else None
            owner, owner_team = (rep, team) if stage in ("lead", "intent") else (None, None)
            last_contact = now - rng.random() * 20 * DAY if owner else None
            claimed = now - 30 * DAY if owner else None
            if stage in ("lead", "intent") and rng.random() < 0.3:
                status = rng.choice((ContractStatus.draft, ContractStatus.cancelled)).value
                contract_id = uuid.UUID(int=rng.getrandbits(128), version=4)
                when = now - rng.random() * 100 * DAY
                t["contract"].append(
                    (
                        contract_id,
                        cid,
                        f"HT-P{i:07d}-1",
                        cents(_log_uniform(rng, 50_000, 2_000_000) * 100),
                        30,
                        status,
                        owner,
                        owner_team,
                        owner,
                        None,
                        None,
                        None,
                        None,
                        when + DAY if status == ContractStatus.cancelled else None,
                        "customer withdrew" if status == ContractStatus.cancelled else None,
                        when,
                        when,
                        1,
                    )
                )
        t["customer"].append(
            (
                cid,
                name,
                normalize.dedup_name_key(name),
                "company",
                rng.choice(INDUSTRIES),
                rng.choice(REGIONS),
                size,
                stage,
                grade,
                owner,
                owner_team,
                source,
                "[]",
                json.dumps(tags),
                json.dumps(products, ensure_ascii=False),
                last_contact,
                claimed,
                now - rng.random() * 100 * DAY,
                False,
                70,
                org.director_id,
                created,
                now - DAY,
                1,
            )
        )
        t["contact"].append(
            (
                uuid.UUID(int=rng.getrandbits(128), version=4),
                cid,
                "张伟",
                "采购经理",
                json.dumps([f"+861380{i % 10_000_000:07d}"]) if rng.random() < 0.9 else "[]",
                json.dumps([f"buyer{i}@bench.example"]) if rng.random() < 0.6 else "[]",
                True,
                created,
                created,
                1,
            )
        )
        t["customer_history"].append(
            (
                uuid.UUID(int=rng.getrandbits(128), version=4),
                cid,
                created,
                org.director_id,
                "create",
                "customer",
                cid,
                json.dumps({"name": [None, name]}, ensure_ascii=False),
            )
        )
        seq += 1
        t["change_log"].append((seq, "customer", cid, cid, "upsert", owner, owner_team, created))
    return out, profiles


# ------------------------------------------------------------------------------------------
# Load
# ------------------------------------------------------------------------------------------


async def secondary_indexes(conn: Any) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        "SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_class t ON t.oid = i.indrelid "
        "WHERE t.relname = ANY($1::text[]) AND NOT i.indisprimary AND NOT i.indisunique "
        "ORDER BY c.relname",
        TABLES,
    )
    return [(r["name"], r["def"]) for r in rows]


async def load(url: str, size: int, non_trading: int, seed: int, chunk: int) -> dict[str, Any]:
    import asyncpg

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    log(f"creating database {db_name(url)} and running migrations")
    await recreate_database(url)
    run_migrations(url)
    timings["create_and_migrate_s"] = time.perf_counter() - t0

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    org = make_org(random.Random(seed), staff_role="finance")
    counts: dict[str, int] = defaultdict(int)
    profiles: dict[str, int] = defaultdict(int)
    conn = await asyncpg.connect(asyncpg_url(url))
    try:
        await create_org(conn, org, now, password=PASSWORD, team_names=TEAM_NAMES)
        indexes = await secondary_indexes(conn)
        log(f"dropping {len(indexes)} secondary indexes for the load")
        for name, _ in indexes:
            await conn.execute(f'DROP INDEX "{name}"')
        await conn.execute("SET session_replication_role = replica")  # FK triggers off here only
        await conn.execute("SET synchronous_commit = off")
        t1 = time.perf_counter()
        seq = 0
        for trading, total in ((True, size), (False, non_trading)):
            for start in range(0, total, chunk):
                stop = min(start + chunk, total)
                rows, prof = await asyncio.to_thread(
                    generate, start, stop, trading=trading, org=org, seed=seed, now=now, seq_start=seq
                )
                seq += stop - start
                async with conn.transaction():
                    for table in TABLES:
                        if rows.tables[table]:
                            await conn.copy_records_to_table(
                                table, records=rows.tables[table], columns=COLUMNS[table]
                            )
                            counts[table] += len(rows.tables[table])
                for k, v in prof.items():
                    profiles[k] += v
                log(f"  {'trading' if trading else 'non-trading'} {stop:>9,} / {total:,} copied")
        await conn.execute("UPDATE change_counter SET value = $1 WHERE id = 1", seq)
        if await conn.fetchval("SELECT count(*) FROM change_counter") == 0:
            await conn.execute("INSERT INTO change_counter (id, value) VALUES (1, $1)", seq)
        # The loaded grades, so --profile can start again from the same state.
        await conn.execute("CREATE TABLE bench_initial_grade AS SELECT id, grade FROM customer")
        await conn.execute("RESET session_replication_role")
        timings["copy_s"] = time.perf_counter() - t1
    finally:
        await conn.close()

    t2 = time.perf_counter()
    log(f"rebuilding {len(indexes)} secondary indexes (2 connections)")
    queue = sorted(indexes, key=lambda nd: ("USING gin" not in nd[1], nd[0]))

    async def builder() -> None:
        c = await asyncpg.connect(asyncpg_url(url))
        try:
            await c.execute("SET maintenance_work_mem = '512MB'")
            while queue:
                _name, definition = queue.pop(0)
                await c.execute(definition)
        finally:
            await c.close()

    await asyncio.gather(builder(), builder())
    timings["index_build_s"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    conn = await asyncpg.connect(asyncpg_url(url))
    try:
        if sorted(await secondary_indexes(conn)) != sorted(indexes):
            raise RuntimeError("index set differs after the rebuild")
        for table in [*TABLES, "user_account", "team", "customer_grading", "change_counter"]:
            await conn.execute(f"VACUUM (ANALYZE) {table}")
        db_size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    finally:
        await conn.close()
    timings["vacuum_analyze_s"] = time.perf_counter() - t3
    timings["total_s"] = time.perf_counter() - t0
    log(f"loaded {dict(counts)} in {timings['total_s']:.0f}s; database size {db_size}")
    return {
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "rows": dict(counts),
        "profiles": dict(profiles),
        "database_size": db_size,
        "data_as_of": now.isoformat(),
    }


# ------------------------------------------------------------------------------------------
# Server and CPU accounting
# ------------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------------
# Measurement over HTTP
# ------------------------------------------------------------------------------------------


async def db_state(url: str) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_url(url))
    try:
        grades = {
            r["grade"] or "-": r["n"]
            for r in await conn.fetch(
                "SELECT c.grade, count(*) AS n FROM customer c WHERE EXISTS (SELECT 1 FROM contract k "
                "WHERE k.customer_id = c.id AND k.status IN ('signed', 'completed')) "
                "GROUP BY c.grade ORDER BY 1"
            )
        }
        return {
            "gradings": await conn.fetchval("SELECT count(*) FROM customer_grading"),
            "regrade_history": await conn.fetchval(
                "SELECT count(*) FROM customer_history WHERE action = 'regrade'"
            ),
            "change_log": await conn.fetchval("SELECT count(*) FROM change_log"),
            "drops_logged": await conn.fetchval(
                "SELECT count(*) FROM customer_grading WHERE change = 'down'"
            ),
            "trading_grades": grades,
        }
    finally:
        await conn.close()


async def timed_batch(
    client: Any, url: str, meter: CpuMeter, quiet_wait: float, label: str
) -> dict[str, Any]:
    waited = await meter.wait_quiet(quiet_wait) if quiet_wait > 0 else 0.0
    before = await db_state(url)
    await meter.refresh_pg_pids()
    cpu0 = meter.snapshot()
    t = time.perf_counter()
    r = await client.post("/api/v1/grading/run")
    seconds = time.perf_counter() - t
    await meter.refresh_pg_pids()
    cpu = meter.cores(cpu0, meter.snapshot())
    if r.status_code != 200:
        raise RuntimeError(f"{label}: POST /grading/run answered {r.status_code}: {r.text[:500]}")
    after = await db_state(url)
    body = r.json()
    stored = {k: after[k] - before[k] for k in ("gradings", "regrade_history", "change_log")}
    log(f"{label}: {seconds:.1f}s  {body}  stored {stored}  cpu {cpu}")
    return {
        "label": label,
        "seconds": round(seconds, 2),
        "response": body,
        "stored": stored,
        "grades_after": after["trading_grades"],
        "cpu_cores": cpu,
        "quiet_wait_s": waited,
    }


async def sample_ids(url: str, seed: int, n: int = 2000) -> list[str]:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_url(url))
    try:
        total = await conn.fetchval("SELECT count(*) FROM customer")
        pct = min(100.0, 100.0 * n * 1.3 / max(total, 1))
        rows = await conn.fetch(
            f"SELECT id FROM customer TABLESAMPLE BERNOULLI ({pct}) REPEATABLE ({seed}) LIMIT {n}"
        )
    finally:
        await conn.close()
    return [str(r["id"]) for r in rows]


async def grade_latency(
    bases: list[str],
    token: str,
    ids: list[str],
    *,
    concurrency: int,
    requests: int,
    warmup: int,
    max_seconds: float,
    seed: int,
    meter: CpuMeter,
) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}
    # Client k talks to server k mod n, as behind a load balancer.
    clients = [
        httpx.AsyncClient(
            base_url=bases[k % len(bases)],
            headers=headers,
            timeout=60,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        for k in range(concurrency)
    ]

    async def loop(k: int, count: int, record: bool, deadline: float) -> bool:
        rng = random.Random(f"{seed}:{k}:{record}")
        for _ in range(count):
            if time.monotonic() > deadline:
                return True
            path = f"/api/v1/customers/{rng.choice(ids)}/grade"
            t = time.perf_counter()
            r = await clients[k].get(path)
            elapsed = (time.perf_counter() - t) * 1000
            if r.status_code != 200:
                errors.append(f"{r.status_code} {path}: {r.text[:200]}")
            if record:
                latencies.append(elapsed)
        return False

    try:
        deadline = time.monotonic() + max_seconds / 3
        await asyncio.gather(
            *(loop(k, max(1, warmup // concurrency), False, deadline) for k in range(concurrency))
        )
        warm_errors = list(errors)
        errors.clear()
        await meter.refresh_pg_pids()
        cpu0 = meter.snapshot()
        started = time.perf_counter()
        deadline = time.monotonic() + max_seconds
        stopped = await asyncio.gather(
            *(loop(k, max(1, requests // concurrency), True, deadline) for k in range(concurrency))
        )
        seconds = time.perf_counter() - started
        await meter.refresh_pg_pids()
        cpu = meter.cores(cpu0, meter.snapshot())
    finally:
        for c in clients:
            await c.aclose()
    lat = sorted(latencies)
    return {
        "n": len(lat),
        "errors": len(errors),
        "seconds": round(seconds, 2),
        "rps": round(len(lat) / seconds, 1) if seconds else 0.0,
        "p50_ms": round(percentile(lat, 0.50), 1),
        "p95_ms": round(percentile(lat, 0.95), 1),
        "p99_ms": round(percentile(lat, 0.99), 1),
        "max_ms": round(lat[-1], 1) if lat else 0,
        "mean_ms": round(statistics.fmean(lat), 1) if lat else 0,
        "concurrency": concurrency,
        "stopped_by_time": any(stopped),
        "cpu_cores": cpu,
        "error_sample": (errors or warm_errors or [None])[0],
    }


async def measure_http(args: argparse.Namespace, stamp: str) -> dict[str, Any]:
    import httpx

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # No periodic pool-recycling sweep writing in the middle of a measurement.
    servers = [
        Server(
            args.db_url,
            args.workers,
            RESULTS_DIR / f"server-grading-{args.size}-{stamp}-{k}.log",
            secret,
            extra_env={"CRM_RECYCLE_INTERVAL_SECONDS": "0"},
        )
        for k in range(args.servers)
    ]
    try:
        for server in servers:
            await server.wait_ready()
        log(
            f"{args.servers} server(s) × {args.workers} worker(s) ready: "
            + ", ".join(s.base for s in servers)
        )
        meter = CpuMeter([s.proc.pid for s in servers], args.db_url)
        async with httpx.AsyncClient(base_url=servers[0].base, timeout=args.batch_timeout) as client:
            r = await client.post("/api/v1/auth/token", data={"username": "director", "password": PASSWORD})
            r.raise_for_status()
            token = r.json()["access_token"]
            client.headers["Authorization"] = f"Bearer {token}"
            policy = (await client.get("/api/v1/settings/grading")).json()
            first = await timed_batch(client, args.db_url, meter, args.quiet_wait, "first run")
            rerun = await timed_batch(client, args.db_url, meter, args.quiet_wait, "re-run")
        ids = await sample_ids(args.db_url, args.seed)
        waited = await meter.wait_quiet(args.quiet_wait) if args.quiet_wait > 0 else 0.0
        get = await grade_latency(
            [s.base for s in servers],
            token,
            ids,
            concurrency=args.concurrency,
            requests=args.requests,
            warmup=args.warmup,
            max_seconds=args.max_seconds,
            seed=args.seed,
            meter=meter,
        )
        get["quiet_wait_s"] = waited
        log(f"GET grade: {get}")
    finally:
        for server in servers:
            server.stop()
    return {"policy": policy, "runs": [first, rerun], "get_grade": get}


# ------------------------------------------------------------------------------------------
# --profile: the same batch in-process, every statement and repository call timed
# ------------------------------------------------------------------------------------------

KINDS: list[tuple[str, str]] = [
    # (label, regex on the lower-cased SQL), first match wins
    ("ids: trading_customer_ids", r"^select contract\.customer_id\s+from contract join customer"),
    ("facts: signed (sum contract.amount)", r"sum\(contract\.amount\)"),
    ("facts: first (min contract.signed_at)", r"min\(contract\.signed_at\)"),
    ("facts: outstanding (receivable - allocations)", r"receivable\.amount - "),
    ("facts: billed (sum receivable.amount)", r"sum\(receivable\.amount\)"),
    ("facts: paid (allocations x payment)", r"from payment_allocation join payment"),
    ("facts: grades (customer.grade)", r"^select customer\.id, customer\.grade"),
    ("latest (newest grading)", r"from customer_grading join \(select customer_grading"),
    ("add_many (insert customer_grading)", r"^insert into customer_grading"),
    ("set_grades (update customer)", r"^update customer set grade"),
    ("history (insert customer_history)", r"^insert into customer_history"),
    ("change log: counter", r"change_counter"),
    ("change log: insert", r"^insert into change_log"),
    ("change log: routing reads", r"change_log|from customer where customer\.id in"),
    ("settings", r"from setting"),
]


class SqlTimer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.capture_chunk: int | None = None
        self.chunk = 0
        self.captured: list[tuple[str, str, Any]] = []

    def kind(self, statement: str) -> str:
        s = " ".join(statement.lower().split())
        for label, pattern in KINDS:
            if re.search(pattern, s):
                return label
        return "other: " + s[:60]

    def install(self, engine: Any) -> None:
        from sqlalchemy import event

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _before(
            conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
        ) -> None:
            conn.info.setdefault("bench_t", []).append(time.perf_counter())

        @event.listens_for(engine.sync_engine, "after_cursor_execute")
        def _after(
            conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
        ) -> None:
            elapsed = time.perf_counter() - conn.info["bench_t"].pop()
            kind = self.kind(statement)
            if kind.startswith("ids:"):
                self.chunk += 1
            self.seconds[kind] += elapsed
            self.calls[kind] += 1
            if self.chunk == self.capture_chunk and not executemany:
                self.captured.append((kind, statement, parameters))


class CallTimer:
    """Wall time of repository and unit-of-work calls (SQL + driver + ORM + Python)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        async def timed(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return await original(*a, **kw)
            finally:
                self.seconds[label] += time.perf_counter() - t
                self.calls[label] += 1

        setattr(owner, name, timed)
        self._undo.append((owner, name, original))

    def restore(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)


async def reset_gradings(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_url(url))
    try:
        base = await conn.fetchval("SELECT count(*) FROM customer")
        await conn.execute("TRUNCATE customer_grading")
        await conn.execute("DELETE FROM customer_history WHERE action = 'regrade'")
        await conn.execute(
            "UPDATE customer c SET grade = b.grade, version = 1 FROM "
            "bench_initial_grade b WHERE b.id = c.id AND "
            "(c.grade IS DISTINCT FROM b.grade OR c.version <> 1)"
        )
        await conn.execute("DELETE FROM change_log WHERE seq > $1", base)
        await conn.execute("UPDATE change_counter SET value = $1 WHERE id = 1", base)
        for table in ("customer", "customer_grading", "customer_history", "change_log"):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
    finally:
        await conn.close()


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return f"'{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def _plan_lines(rows: list[Any]) -> list[str]:
    # The 2000 ids of the chunk, as one literal array, would drown the plan.
    return [re.sub(r"'\{[0-9a-f,-]{200,}\}'", "'{<ids>}'", r[0]) for r in rows]


def _execution_ms(plan: list[str]) -> float | None:
    for line in plan:
        m = re.search(r"Execution Time: ([\d.]+) ms", line)
        if m:
            return float(m.group(1))
    return None


async def explain(url: str, captured: list[tuple[str, str, Any]]) -> list[dict[str, Any]]:
    """EXPLAIN ANALYZE each kind of statement of one chunk twice: with a custom plan (the
    parameters known to the planner) and with the generic plan PostgreSQL switches a
    prepared statement to after five executions (asyncpg prepares and caches statements)."""
    import asyncpg

    out = []
    conn = await asyncpg.connect(asyncpg_url(url))
    try:
        seen: set[str] = set()
        for kind, statement, parameters in captured:
            if (
                kind in seen
                or not statement.lstrip().upper().startswith(("SELECT", "UPDATE"))
                or kind.startswith(("change log", "settings", "other"))
            ):
                continue
            seen.add(kind)
            params = list(parameters) if isinstance(parameters, list | tuple) else []
            plans: dict[str, list[str]] = {}
            tr = conn.transaction()
            await tr.start()
            try:  # rolled back: the UPDATE must not stick
                await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
                plans["custom"] = _plan_lines(
                    await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + statement, *params)
                )
                await conn.execute("PREPARE bench_q AS " + statement)
                await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                plans["generic"] = _plan_lines(
                    await conn.fetch(
                        "EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_q("
                        + ", ".join(_literal(v) for v in params)
                        + ")"
                    )
                )
            finally:
                await tr.rollback()
                with contextlib.suppress(asyncpg.PostgresError):
                    await conn.execute("DEALLOCATE bench_q")
            short = re.sub(r"\$\d+::UUID(, )?", "", statement)
            short = re.sub(r"IN \(\s*\)", "IN (<ids>)", short)
            out.append(
                {
                    "kind": kind,
                    "sql": " ".join(short.split())[:700],
                    "custom_ms": _execution_ms(plans["custom"]),
                    "generic_ms": _execution_ms(plans["generic"]),
                    "plans": plans,
                }
            )
    finally:
        await conn.close()
    return out


async def profile(args: argparse.Namespace) -> dict[str, Any]:
    from app.db.engine import make_engine, make_session_factory
    from app.db.repositories.grading import GradingRepository
    from app.db.repositories.sync import ChangeLogRepository
    from app.db.uow import UnitOfWork
    from app.services import grading as grading_service

    log("profile: resetting gradings to the loaded state")
    await reset_gradings(args.db_url)
    engine = make_engine(args.db_url, pool_size=2)
    sql = SqlTimer()
    sql.install(engine)
    calls = CallTimer()
    for name in ("trading_customer_ids", "trading_facts", "latest", "add_many", "set_grades"):
        calls.wrap(GradingRepository, name, f"GradingRepository.{name}")
    calls.wrap(ChangeLogRepository, "append", "ChangeLogRepository.append (in commit)")
    calls.wrap(UnitOfWork, "commit", "UnitOfWork.commit (flush history, change log, COMMIT)")
    runs = []
    try:
        chunks = math.ceil(args.size / grading_service.CHUNK)
        for label, capture in (("first run", chunks // 2 + 1), ("re-run", None)):
            for counter in (sql.seconds, sql.calls, calls.seconds, calls.calls):
                counter.clear()
            sql.chunk, sql.capture_chunk = 0, capture
            t = time.perf_counter()
            result = await grading_service.run_batch(UnitOfWork(make_session_factory(engine)), None)
            seconds = time.perf_counter() - t
            sql_total = sum(sql.seconds.values())
            runs.append(
                {
                    "label": label,
                    "seconds": round(seconds, 2),
                    "result": {
                        k: getattr(result, k) for k in ("scored", "ineligible", "up", "down", "same", "new")
                    },
                    "sql_seconds": round(sql_total, 2),
                    "sql": sorted(
                        (
                            {"kind": k, "seconds": round(v, 2), "calls": sql.calls[k]}
                            for k, v in sql.seconds.items()
                        ),
                        key=lambda d: -d["seconds"],
                    ),
                    "calls": sorted(
                        (
                            {"call": k, "seconds": round(v, 2), "calls": calls.calls[k]}
                            for k, v in calls.seconds.items()
                        ),
                        key=lambda d: -d["seconds"],
                    ),
                }
            )
            log(f"profile {label}: {seconds:.1f}s, SQL {sql_total:.1f}s")
            for row in runs[-1]["calls"]:
                log(f"    {row['seconds']:>7.2f}s  {row['calls']:>6}x  {row['call']}")
            for row in runs[-1]["sql"]:
                log(f"    {row['seconds']:>7.2f}s  {row['calls']:>6}x  SQL {row['kind']}")
    finally:
        calls.restore()
        await engine.dispose()
    plans = await explain(args.db_url, sql.captured)
    for p in plans:
        log(f"EXPLAIN {p['kind']}: custom plan {p['custom_ms']} ms, generic plan {p['generic_ms']} ms")
        for mode in ("custom", "generic"):
            log(f"  {mode}:\n      " + "\n      ".join(p["plans"][mode]))
    return {"runs": runs, "explain_chunk": chunks // 2 + 1, "explain": plans}


# ------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    mem_kb, cpu = 0, "unknown"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "ram_gb": round(mem_kb / 1024**2, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


async def pg_info(url: str) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_url(url))
    try:
        return {
            "version": await conn.fetchval("SHOW server_version"),
            "settings": {
                r["name"]: f"{r['setting']}{r['unit'] or ''}"
                for r in await conn.fetch(
                    "SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1::text[])",
                    [
                        "shared_buffers",
                        "work_mem",
                        "effective_cache_size",
                        "random_page_cost",
                        "jit",
                        "synchronous_commit",
                        "max_parallel_workers_per_gather",
                    ],
                )
            },
        }
    finally:
        await conn.close()


def markdown(size: int, http: dict[str, Any]) -> str:
    lines = [
        "| run | customers | up | down | same | new | ineligible | gradings stored | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in http["runs"]:
        b = run["response"]
        customers = b["scored"] + b["ineligible"]
        lines.append(
            f"| {run['label']} | {customers:,} | {b['up']:,} | {b['down']:,} | "
            f"{b['same']:,} | {b['new']:,} | {b['ineligible']:,} | "
            f"{run['stored']['gradings']:,} | {run['seconds']:.1f} |"
        )
    g = http["get_grade"]
    lines += [
        "",
        "Trading customers by grade after each run: "
        + "; ".join(
            f"{run['label']}: " + ", ".join(f"{k} {v:,}" for k, v in run["grades_after"].items())
            for run in http["runs"]
        ),
    ]
    lines += [
        "",
        f"GET /customers/{{id}}/grade, {g['concurrency']} clients: n={g['n']} "
        f"p50={g['p50_ms']} ms p95={g['p95_ms']} ms p99={g['p99_ms']} ms "
        f"{g['rps']} req/s errors={g['errors']}",
    ]
    return "\n".join(lines)


def git_rev() -> str | None:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "app", "migrations"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


async def main_async(args: argparse.Namespace) -> int:
    if not db_name(args.db_url).startswith("crm_bench"):
        print("the database name must start with 'crm_bench' (it is dropped and re-created)", file=sys.stderr)
        return 2
    stamp = time.strftime("%Y%m%d-%H%M%S")
    doc: dict[str, Any] = {
        "benchmark": "grading",
        "size": args.size,
        "non_trading": args.non_trading,
        "started": stamp,
        "git": git_rev(),
        "label": args.label,
        "config": {k: v for k, v in vars(args).items() if k != "db_url"},
        "machine": machine_info(),
    }
    try:
        if not args.skip_load:
            doc["load"] = await load(args.db_url, args.size, args.non_trading, args.seed, args.chunk)
        doc["postgres"] = await pg_info(args.db_url)
        http = await measure_http(args, stamp)
        doc["http"] = http
        if args.profile:
            try:
                doc["profile"] = await profile(args)
            except Exception as exc:  # keep the HTTP results even if profiling fails
                log(f"profile failed: {exc!r}")
                doc["profile"] = {"error": repr(exc)}
    finally:
        if not args.keep:
            await drop_database(args.db_url)
            log(f"dropped {db_name(args.db_url)}")
    first = http["runs"][0]
    doc["verdict"] = {
        "target_seconds": TARGET_SECONDS,
        "first_run_seconds": first["seconds"],
        "target_met": args.size >= 100_000 and first["seconds"] < TARGET_SECONDS,
        "rerun_stored_nothing": http["runs"][1]["stored"]["gradings"] == 0,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    label = f"-{args.label}" if args.label else ""
    out = RESULTS_DIR / f"grading-{args.size}-{stamp}{label}.json"
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
    print()
    print(f"### Grading batch — {args.size:,} trading customers (+{args.non_trading:,} non-trading)\n")
    print(markdown(args.size, http))
    print()
    print(
        f"first run {first['seconds']:.1f}s: target (100,000 in < {TARGET_SECONDS:g}s) "
        f"{'met' if doc['verdict']['target_met'] else 'NOT met'}"
        f"{'' if args.size >= 100_000 else ' (smaller size: not the target run)'}; re-run stored "
        f"{http['runs'][1]['stored']['gradings']} gradings"
    )
    if "load" in doc:
        print(f"load: {doc['load']['timings_s']}  rows: {doc['load']['rows']}")
    print(f"results: {out.relative_to(ROOT)}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=100_000, help="trading customers to load")
    p.add_argument("--non-trading", type=int, default=5_000, help="customers without trading")
    p.add_argument(
        "--db-url",
        default=DEFAULT_DB,
        help="postgresql+asyncpg://… URL; the database name must start with crm_bench",
    )
    p.add_argument(
        "--skip-load",
        action="store_true",
        help="use an already loaded database (kept by an earlier --keep run)",
    )
    p.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    p.add_argument(
        "--profile",
        action="store_true",
        help="also time every query of the batch in-process and EXPLAIN one chunk",
    )
    p.add_argument(
        "--servers",
        type=int,
        default=2,
        help="server processes; the batch runs on the first, GET clients are spread "
        "over all (one 2-worker server lets one worker take most connections)",
    )
    p.add_argument("--workers", type=int, default=1, help="uvicorn workers per server")
    p.add_argument("--concurrency", type=int, default=8, help="clients for GET grade")
    p.add_argument("--requests", type=int, default=800, help="measured GET grade requests")
    p.add_argument("--warmup", type=int, default=80, help="warm-up GET grade requests")
    p.add_argument("--max-seconds", type=float, default=60, help="time bound of the GET loop")
    p.add_argument("--batch-timeout", type=float, default=900, help="HTTP timeout of a batch run")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=60,
        help="before each measurement wait up to this long for other processes to go "
        "(nearly) idle; 0 disables",
    )
    p.add_argument("--chunk", type=int, default=20_000, help="customers per COPY batch")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--label", default="", help="suffix for the result file name")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import uvloop

        return uvloop.run(main_async(args))
    except ImportError:
        return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
