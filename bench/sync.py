"""Sync benchmark: a push of 500 activities and a rep's full first pull, p95 on PostgreSQL.

    .venv/bin/python bench/sync.py --db-url postgresql+asyncpg://postgres@127.0.0.1:5432/crm_bench_sync

Steps (see the "Sync" section of docs/benchmarks.md):

1. Drop and create the database (its name must start with ``crm_bench``), run the
   migrations (``crm migrate``), and load through the application's own unit of work (so
   the change log is written as in production): one team, a manager and two reps. The
   *pulling* rep owns 30 customers with 2 contacts and 1 open task each and 3,000 activities
   (100 per customer); the *pushing* rep owns 30 customers of their own, so pushes never
   change the pulling rep's scope.
2. Start ``crm serve`` on a free loopback port against that database, log both reps in,
   and measure, one request at a time on a keep-alive connection, after a warm-up:
   - ``push``: ``POST /sync/push`` with 500 new activities (10 % with a follow-up, so a
     task too) spread over the pusher's customers;
   - ``push re-sent``: the same 500 again (a lost response): answered from receipts;
   - ``first pull``: ``GET /sync/pull`` without a cursor, then every page (limit 1000) until
     ``has_more`` is false: the complete snapshot of 30 customers, 60 contacts, 30 tasks and
     3,000 activities (3,120 changes), timed from the first request to the last answer;
   - ``incremental pull``: one ``GET /sync/pull`` with a current cursor after the other
     rep's push (nothing in scope changed: the page is empty).
   Each scenario runs a fixed number of rounds and stops early past a time budget. Before
   each round it waits (up to ``--quiet-wait`` seconds) until the machine is nearly idle,
   since other processes on a small shared machine skew the tail; the CPU share others
   used just before each round is recorded.
3. Print a markdown table and write a JSON result file under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import re
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Server, db_name, recreate_database, run_migrations  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"
PASSWORD = "bench-pass-2026"
CUSTOMERS = 30
ACTIVITIES_PER_CUSTOMER = 100
PUSH_SIZE = 500


def nearest_rank(values: list[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (``q`` in 0-100) of unsorted ``values``: always one
    of the values. Not ``bench.common.percentile``, which interpolates between neighbours; the
    sync results have always been reported this way, so they stay comparable."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _cpu_sample() -> tuple[int, int]:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return fields[3] + fields[4], sum(fields)  # idle + iowait, total


async def wait_quiet(max_wait: float, *, threshold: float = 0.2) -> float:
    """Wait until the whole machine is busy less than ``threshold``; answers the last share.

    Unlike ``bench.common.CpuMeter.wait_quiet`` (cores used by processes other than ours,
    answering the seconds waited), this answers the whole machine's busy share, which the
    result file records for each round."""
    deadline = time.monotonic() + max_wait
    busy = 1.0
    while True:
        idle0, total0 = _cpu_sample()
        await asyncio.sleep(0.5)
        idle1, total1 = _cpu_sample()
        busy = 1 - (idle1 - idle0) / max(1, total1 - total0)
        if busy < threshold or time.monotonic() > deadline:
            return busy


async def load(url: str) -> dict[str, Any]:
    """Users, customers, contacts, tasks and activities, through the unit of work."""
    from app.db.engine import make_engine, make_session_factory
    from app.db.models import Activity, Contact, Customer, Task, Team, User
    from app.db.uow import UnitOfWork
    from app.domain.normalize import dedup_name_key
    from app.services import security

    engine = make_engine(url)
    factory = make_session_factory(engine)
    rng = random.Random(2026)
    now = dt.datetime.now(dt.UTC)
    password_hash = security.hash_password(PASSWORD)
    team_id = uuid.uuid4()
    async with UnitOfWork(factory) as uow:
        uow.teams.add(Team(id=team_id, name="华东一组", path=f"/{team_id}/"))
        await uow.flush()
        users = {
            name: User(
                id=uuid.uuid4(),
                username=f"bench-{name}",
                role=role,
                team_id=team_id,
                password_hash=password_hash,
                full_name=name,
            )
            for name, role in (("manager", "manager"), ("puller", "rep"), ("pusher", "rep"))
        }
        for user in users.values():
            uow.users.add(user)
        await uow.commit()
    owned: dict[str, list[uuid.UUID]] = {}
    for who in ("puller", "pusher"):
        owner = users[who]
        async with UnitOfWork(factory) as uow:
            ids = []
            for i in range(CUSTOMERS):
                name = f"{who}客户{i:02d}有限公司"
                customer = Customer(
                    id=uuid.uuid4(),
                    name=name,
                    name_key=dedup_name_key(name),
                    kind="company",
                    stage=rng.choice(["graded", "contacted", "lead", "intent"]),
                    source="import",
                    owner_id=owner.id,
                    team_id=team_id,
                    claimed_at=now,
                    stage_entered_at=now,
                    tags=["重点客户"],
                    interests=[],
                    recommended_products=["CRM专业版"],
                    region="上海市",
                    industry="信息技术",
                    completeness=60,
                    created_at=now,
                    updated_at=now,
                )
                uow.customers.add(customer)
                ids.append(customer.id)
            await uow.flush()
            for cid in ids:
                for k in range(2):
                    uow.contacts.add(
                        Contact(
                            id=uuid.uuid4(),
                            customer_id=cid,
                            name=f"联系人{k}",
                            title="采购经理",
                            phones=[f"+86138{rng.randrange(10**8):08d}"],
                            emails=[],
                            created_at=now,
                            updated_at=now,
                        )
                    )
                uow.tasks.add(
                    Task(
                        id=uuid.uuid4(),
                        assignee_id=owner.id,
                        customer_id=cid,
                        title="回访",
                        due_at=now + dt.timedelta(days=3),
                        status="open",
                        source="manual",
                        created_by=owner.id,
                        created_at=now,
                        updated_at=now,
                    )
                )
            if who == "puller":
                for cid in ids:
                    for k in range(ACTIVITIES_PER_CUSTOMER):
                        at = now - dt.timedelta(hours=k * 7 + rng.randrange(6))
                        uow.activities.add(
                            Activity(
                                id=uuid.uuid4(),
                                customer_id=cid,
                                type=rng.choice(["call", "visit", "email"]),
                                occurred_at=at,
                                duration_minutes=rng.randrange(5, 90),
                                subject=f"第{k}次跟进",
                                notes="客户关注价格与实施周期，约下周演示。",
                                outcome="有兴趣",
                                created_by=owner.id,
                                device_id="bench-phone",
                                received_at=at,
                                created_at=at,
                                updated_at=at,
                            )
                        )
            await uow.commit()
        owned[who] = ids
    await engine.dispose()
    return {"users": {k: u.username for k, u in users.items()}, "customers": owned}


def push_batch(customer_ids: list[uuid.UUID], rng: random.Random) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    changes = []
    for i in range(PUSH_SIZE):
        data: dict[str, Any] = {
            "customer_id": str(customer_ids[i % len(customer_ids)]),
            "type": rng.choice(["call", "visit"]),
            "occurred_at": (now - dt.timedelta(minutes=rng.randrange(1, 60 * 24))).isoformat(),
            "duration_minutes": rng.randrange(5, 60),
            "subject": "离线拜访",
            "notes": "演示后客户要报价",
        }
        if i % 10 == 0:
            data["next_follow_up_at"] = (now + dt.timedelta(days=2)).isoformat()
        if i % 3 == 0:
            data["location"] = {"lat": 31.23 + rng.random() / 100, "lng": 121.47, "accuracy": 12.0}
        changes.append(
            {
                "entity": "activity",
                "op": "upsert",
                "id": str(uuid.uuid4()),
                "base_version": None,
                "data": data,
            }
        )
    return changes


async def measure(
    base: str, loaded: dict[str, Any], *, rounds: int, warmup: int, budget_s: float, quiet_wait: float
) -> dict[str, dict[str, Any]]:
    import httpx

    rng = random.Random(7)
    results: dict[str, list[float]] = {
        "push": [],
        "push re-sent": [],
        "first pull": [],
        "incremental pull": [],
    }
    sizes: dict[str, Any] = {}
    noise: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        tokens = {}
        for who in ("puller", "pusher"):
            response = await client.post(
                "/api/v1/auth/token", data={"username": loaded["users"][who], "password": PASSWORD}
            )
            response.raise_for_status()
            tokens[who] = {"Authorization": f"Bearer {response.json()['access_token']}"}

        async def push(changes: list[dict[str, Any]]) -> float:
            started = time.perf_counter()
            response = await client.post(
                "/api/v1/sync/push",
                headers=tokens["pusher"],
                json={"device_id": "bench-tablet", "changes": changes},
            )
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            statuses = {r["status"] for r in response.json()["results"]}
            assert statuses == {"applied"}, statuses
            return elapsed

        async def first_pull() -> tuple[float, int, int, str]:
            started = time.perf_counter()
            cursor, changes, pages = None, 0, 0
            while True:
                params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
                response = await client.get("/api/v1/sync/pull", params=params, headers=tokens["puller"])
                response.raise_for_status()
                body = response.json()
                changes += len(body["changes"])
                pages += 1
                cursor = body["next_cursor"]
                if not body["has_more"]:
                    return time.perf_counter() - started, changes, pages, cursor

        deadline = time.monotonic() + budget_s
        for i in range(warmup + rounds):
            if time.monotonic() > deadline:
                break
            batch = push_batch(loaded["customers"]["pusher"], rng)
            busy = await wait_quiet(quiet_wait)
            push_s = await push(batch)
            resend_s = await push(batch)
            pull_s, changes, pages, cursor = await first_pull()
            started = time.perf_counter()
            response = await client.get(
                "/api/v1/sync/pull", params={"cursor": cursor}, headers=tokens["puller"]
            )
            incremental_s = time.perf_counter() - started
            response.raise_for_status()
            if i < warmup:
                continue
            noise.append(busy)
            results["push"].append(push_s * 1000)
            results["push re-sent"].append(resend_s * 1000)
            results["first pull"].append(pull_s * 1000)
            results["incremental pull"].append(incremental_s * 1000)
            sizes = {"pull_changes": changes, "pull_pages": pages}
    summary = {}
    for name, values in results.items():
        summary[name] = {
            "n": len(values),
            "p50_ms": round(statistics.median(values), 1),
            "p95_ms": round(nearest_rank(values, 95), 1),
            "max_ms": round(max(values), 1),
        }
    summary["first pull"].update(changes=sizes.get("pull_changes"), pages=sizes.get("pull_pages"))
    summary["machine"] = {
        "busy_before_round_median": round(statistics.median(noise), 2),
        "busy_before_round_max": round(max(noise), 2),
    }
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/crm_bench_sync")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--budget", type=float, default=900, help="seconds, all rounds together")
    parser.add_argument(
        "--quiet-wait", type=float, default=20, help="seconds to wait for an idle machine before each round"
    )
    args = parser.parse_args()
    name = db_name(args.db_url)
    if not name.startswith("crm_bench") or not args.db_url.startswith("postgresql"):
        parser.error("--db-url must be a PostgreSQL database whose name starts with crm_bench")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):  # it is quoted into DROP/CREATE DATABASE
        parser.error("the database name may hold only lower-case letters, digits and underscores")

    secret = "bench-" + "k" * 40
    # load() runs the application in this process; the server and `crm migrate` inherit these.
    os.environ.update(CRM_DATABASE_URL=args.db_url, CRM_SECRET_KEY=secret)
    print(f"== database {name}: create, migrate, load", flush=True)
    asyncio.run(recreate_database(args.db_url))
    run_migrations(args.db_url)
    started = time.perf_counter()
    loaded = asyncio.run(load(args.db_url))
    print(f"   loaded in {time.perf_counter() - started:.1f}s", flush=True)

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    server = Server(
        args.db_url,
        1,
        RESULTS_DIR / f"server-sync-{stamp}.log",
        secret,
        extra_env={"CRM_RECYCLE_INTERVAL_SECONDS": "0"},
    )
    try:
        asyncio.run(server.wait_ready())
        print(
            f"== measuring against {server.base}: {args.rounds} rounds after {args.warmup} warm-up",
            flush=True,
        )
        summary = asyncio.run(
            measure(
                server.base,
                loaded,
                rounds=args.rounds,
                warmup=args.warmup,
                budget_s=args.budget,
                quiet_wait=args.quiet_wait,
            )
        )
    finally:
        server.stop()

    result = {
        "benchmark": "sync",
        "at": stamp,
        "database": "postgresql",
        "rounds": args.rounds,
        "warmup": args.warmup,
        "push_size": PUSH_SIZE,
        "customers": CUSTOMERS,
        "activities": CUSTOMERS * ACTIVITIES_PER_CUSTOMER,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "scenarios": summary,
    }
    out = RESULTS_DIR / f"sync-{stamp}.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print("\n| scenario | n | p50 ms | p95 ms | max ms |\n| --- | --- | --- | --- | --- |")
    for scenario, row in summary.items():
        if scenario != "machine":
            print(f"| {scenario} | {row['n']} | {row['p50_ms']} | {row['p95_ms']} | {row['max_ms']} |")
    machine = summary["machine"]
    print(
        f"\nmachine busy (other processes) before a round: median "
        f"{machine['busy_before_round_median']:.0%}, max {machine['busy_before_round_max']:.0%}"
    )
    print(
        f"\nfirst pull: {summary['first pull']['changes']} changes in "
        f"{summary['first pull']['pages']} pages; results in {out.relative_to(ROOT)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
