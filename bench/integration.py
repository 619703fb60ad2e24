"""Integration benchmark on PostgreSQL: change-feed drain rate, a poller following the feed
under concurrent writers (exactly once, counted against the database), and webhook delivery
to a local receiver that fails 30% of first attempts (with a worker killed mid-run).

    .venv/bin/python bench/integration.py \
        --db-url postgresql+asyncpg://postgres@127.0.0.1:5432/crm_bench_integration \
        [--changes 20000] [--writers 8] [--seconds 20] [--events 2000] [--only drain,writers,webhooks]

The database named in --db-url is dropped and re-created (its name must start with
``crm_bench``). Scale is chosen by the flags; results are printed as a markdown table and
written to bench/results/integration-<time>.json. See docs/benchmarks.md for the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    HttpConnection,
    Server,
    db_name,
    free_port,
    log,
    percentile,
    recreate_database,
    run_migrations,
)

RESULTS_DIR = ROOT / "bench" / "results"
PASSWORD = "bench-pass-2026"
SECRET = "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
BATCH = 500


def _customer(name: str, now: dt.datetime) -> Any:
    from app.db.models import Customer
    from app.domain.normalize import dedup_name_key

    return Customer(
        id=uuid.uuid4(),
        name=name,
        name_key=dedup_name_key(name),
        kind="company",
        stage="resource",
        source="import",
        tags=[],
        interests=[],
        recommended_products=[],
        region="上海市",
        industry="信息技术",
        completeness=40,
        stage_entered_at=now,
        created_at=now,
        updated_at=now,
    )


async def setup(url: str) -> Any:
    """An admin account; answers a session factory on the database."""
    from app.db.engine import make_engine, make_session_factory
    from app.db.models import User
    from app.db.uow import UnitOfWork
    from app.services import security

    engine = make_engine(url, pool_size=12)
    factory = make_session_factory(engine)
    async with UnitOfWork(factory) as uow:
        uow.users.add(
            User(
                username="bench-admin",
                role="admin",
                full_name="bench",
                password_hash=security.hash_password(PASSWORD),
            )
        )
        await uow.commit()
    return engine, factory


async def create_customers(factory: Any, count: int, prefix: str) -> int:
    """``count`` customers through the unit of work (so the change log and outbox are written
    as in production), ``BATCH`` per transaction."""
    from app.db.uow import UnitOfWork

    now = dt.datetime.now(dt.UTC)
    made = 0
    while made < count:
        size = min(BATCH, count - made)
        async with UnitOfWork(factory) as uow:
            for i in range(size):
                uow.customers.add(_customer(f"{prefix}{made + i:07d}有限公司", now))
            await uow.commit()
        made += size
    return made


async def token(base: str) -> dict[str, str]:
    import httpx

    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post(
            "/api/v1/auth/token", data={"username": "bench-admin", "password": PASSWORD}
        )
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def follow(
    conn: HttpConnection, cursor: str | None, *, limit: int = 500
) -> tuple[list[dict], str, bool]:
    params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
    status, body = await conn.request("GET", "/api/v1/changes", params=params)
    if status != 200:
        raise RuntimeError(f"/changes answered {status}: {body[:300]!r}")
    page = json.loads(body)
    return page["items"], page["next_cursor"], page["has_more"]


# --- 1. drain ---------------------------------------------------------------------------


async def bench_drain(factory: Any, base: str, headers: dict[str, str], changes: int) -> dict[str, Any]:
    log(f"drain: writing {changes} changes")
    started = time.monotonic()
    await create_customers(factory, changes, "drain")
    load_s = time.monotonic() - started
    conn = HttpConnection(base, headers)
    runs = []
    for _ in range(2):
        seen, cursor, pages = 0, None, 0
        t0 = time.monotonic()
        while True:
            items, cursor, more = await follow(conn, cursor)
            seen += len(items)
            pages += 1
            if not more:
                break
        elapsed = time.monotonic() - t0
        runs.append(
            {
                "changes": seen,
                "pages": pages,
                "seconds": round(elapsed, 2),
                "changes_per_s": round(seen / elapsed),
            }
        )
        log(f"drain: {seen} changes in {elapsed:.1f} s ({seen / elapsed:.0f}/s)")
    await conn.close()
    return {"load_seconds": round(load_s, 1), "runs": runs}


# --- 2. concurrent writers and a poller ----------------------------------------------------


async def bench_writers(
    factory: Any, base: str, headers: dict[str, str], writers: int, seconds: float
) -> dict[str, Any]:
    from sqlalchemy import func, select

    from app.db.models import ChangeLog
    from app.db.uow import UnitOfWork

    conn = HttpConnection(base, headers)
    _, body = await conn.request("GET", "/api/v1/changes", params={"from": "now"})
    cursor = json.loads(body)["next_cursor"]
    async with UnitOfWork(factory) as uow:
        start_seq = await uow.change_log.head()
    stop = time.monotonic() + seconds
    commits = [0] * writers
    created: list[set[str]] = [set() for _ in range(writers)]

    async def write(n: int) -> None:
        now = dt.datetime.now(dt.UTC)
        k = 0
        while time.monotonic() < stop:
            async with UnitOfWork(factory) as uow:
                batch = [_customer(f"w{n}-{k}-{i}", now) for i in range(1 + k % 3)]
                for customer in batch:
                    uow.customers.add(customer)
                await uow.commit()
            created[n].update(str(c.id) for c in batch)
            commits[n] += 1
            k += 1

    seen: list[tuple[int, str]] = []
    done = asyncio.Event()

    async def poll() -> None:
        nonlocal cursor
        while True:
            finished = done.is_set()
            items, cursor, more = await follow(conn, cursor)
            seen.extend((i["seq"], i["id"]) for i in items)
            if finished and not more:
                return
            if not more:
                await asyncio.sleep(0.05)

    log(f"writers: {writers} writers for {seconds:.0f} s with a poller")
    poller = asyncio.create_task(poll())
    await asyncio.gather(*(write(n) for n in range(writers)))
    done.set()
    await poller
    await conn.close()
    async with UnitOfWork(factory) as uow:
        logged = (
            await uow.session.scalars(
                select(ChangeLog.seq).where(ChangeLog.seq > start_seq).order_by(ChangeLog.seq)
            )
        ).all()
        in_log = await uow.session.scalar(
            select(func.count()).select_from(ChangeLog).where(ChangeLog.seq > start_seq)
        )
    seqs = [s for s, _ in seen]
    all_created = set().union(*created)
    result = {
        "writers": writers,
        "seconds": seconds,
        "commits": sum(commits),
        "customers_created": len(all_created),
        "log_rows": int(in_log or 0),
        "poller_entries": len(seen),
        "duplicates": len(seqs) - len(set(seqs)),
        "missing": len(set(logged) - set(seqs)),
        "in_commit_order": seqs == sorted(seqs),
        "every_created_customer_seen": all_created <= {i for _, i in seen},
    }
    result["exactly_once"] = (
        result["duplicates"] == 0
        and result["missing"] == 0
        and result["poller_entries"] == result["log_rows"]
    )
    log(f"writers: {result}")
    return result


# --- 3. webhooks ----------------------------------------------------------------------------


class Receiver:
    """A local HTTP receiver: verifies every signature, fails 30% of first attempts (500)."""

    def __init__(self, secret: str) -> None:
        from standardwebhooks.webhooks import Webhook

        self.verifier = Webhook(secret)
        self.first_seen: dict[str, float] = {}
        self.delivered: dict[str, float] = {}
        self.event_time: dict[str, float] = {}
        self.bad_signatures = 0
        self.requests = 0
        self.successes = 0
        self.port = free_port()

    @staticmethod
    def fails_first(webhook_id: str) -> bool:
        return hashlib.sha256(webhook_id.encode()).digest()[0] < 77  # 77/256 ≈ 30%

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {}
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name:
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status = self.answer(body, headers)
                writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def answer(self, body: bytes, headers: dict[str, str]) -> int:
        now = time.time()
        self.requests += 1
        try:
            payload = self.verifier.verify(body, headers)
        except Exception:
            self.bad_signatures += 1
            return 400
        webhook_id = headers["webhook-id"]
        first = webhook_id not in self.first_seen
        if first:
            self.first_seen[webhook_id] = now
            self.event_time[webhook_id] = dt.datetime.fromisoformat(payload["timestamp"]).timestamp()
            if self.fails_first(webhook_id):
                return 500
        self.delivered.setdefault(webhook_id, now)
        self.successes += 1
        return 204


def start_worker(url: str, log_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CRM_DATABASE_URL": url,
        "CRM_ENV": "production",
        "CRM_SECRET_KEY": SECRET,
        "CRM_WEBHOOK_ALLOW_PRIVATE": "true",
        "CRM_WEBHOOK_POLL_SECONDS": "0.1",
        "CRM_WEBHOOK_LEASE_SECONDS": "10",
        "CRM_WEBHOOK_CONCURRENCY": "20",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"],
        cwd=ROOT,
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


async def bench_webhooks(
    url: str, factory: Any, base: str, headers: dict[str, str], events: int, workers: int, kill: bool
) -> dict[str, Any]:
    import httpx

    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        receiver_port = free_port()
        response = await client.post(
            "/api/v1/webhooks",
            json={"url": f"http://127.0.0.1:{receiver_port}/hook", "events": ["customer.created"]},
        )
        response.raise_for_status()
        secret = response.json()["secret"]
    receiver = Receiver(secret)
    receiver.port = receiver_port
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", receiver_port)
    procs = [start_worker(url, RESULTS_DIR / f"worker-{n}.log") for n in range(workers)]
    log(f"webhooks: {events} events, {workers} worker process(es), receiver on :{receiver_port}")
    t0 = time.monotonic()
    killed = None
    producer = asyncio.create_task(create_customers(factory, events, "hook"))
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            if kill and killed is None and len(receiver.delivered) >= events // 3 and len(procs) > 1:
                os.killpg(procs[0].pid, signal.SIGKILL)  # mid-run, no goodbye
                killed = {"after_delivered": len(receiver.delivered), "at_s": round(time.monotonic() - t0, 1)}
                log(f"webhooks: kill -9 of worker 0 after {killed['after_delivered']} deliveries")
            if producer.done() and len(receiver.delivered) >= events:
                break
        await producer
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(15)
        server.close()
    elapsed = time.monotonic() - t0
    first_latency = sorted(receiver.first_seen[i] - receiver.event_time[i] for i in receiver.first_seen)
    result = {
        "events": events,
        "worker_processes": workers,
        "killed": killed,
        "delivered": len(receiver.delivered),
        "all_delivered": len(receiver.delivered) == events,
        "requests": receiver.requests,
        "bad_signatures": receiver.bad_signatures,
        # At least once: a delivery whose worker was killed after sending is sent again.
        "duplicate_successes": receiver.successes - len(receiver.delivered),
        "first_attempt_failures": sum(1 for i in receiver.first_seen if receiver.fails_first(i)),
        "first_attempt_latency_p50_s": round(percentile(first_latency, 0.5), 3),
        "first_attempt_latency_p95_s": round(percentile(first_latency, 0.95), 3),
        "seconds": round(elapsed, 1),
    }
    log(f"webhooks: {result}")
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--changes", type=int, default=20_000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--events", type=int, default=2_000)
    parser.add_argument("--worker-processes", type=int, default=2)
    parser.add_argument("--no-kill", action="store_true", help="do not kill -9 a worker mid-run")
    parser.add_argument("--only", default="drain,writers,webhooks")
    args = parser.parse_args()
    if not db_name(args.db_url).startswith("crm_bench"):
        raise SystemExit("the database name must start with crm_bench (it is dropped and re-created)")
    only = set(args.only.split(","))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    log("creating the database")
    await recreate_database(args.db_url)
    run_migrations(args.db_url)
    engine, factory = await setup(args.db_url)
    server = Server(
        args.db_url,
        1,
        RESULTS_DIR / "integration-server.log",
        SECRET,
        extra_env={
            "CRM_WEBHOOK_WORKER": "false",
            "CRM_RECYCLE_INTERVAL_SECONDS": "0",
            "CRM_WEBHOOK_ALLOW_PRIVATE": "true",
        },
    )
    results: dict[str, Any] = {
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "args": vars(args),
        "cpus": os.cpu_count(),
    }
    try:
        await server.wait_ready()
        headers = await token(server.base)
        if "drain" in only:
            results["drain"] = await bench_drain(factory, server.base, headers, args.changes)
        if "writers" in only:
            results["writers"] = await bench_writers(
                factory, server.base, headers, args.writers, args.seconds
            )
        if "webhooks" in only:
            results["webhooks"] = await bench_webhooks(
                args.db_url,
                factory,
                server.base,
                headers,
                args.events,
                args.worker_processes,
                not args.no_kill,
            )
    finally:
        server.stop()
        await engine.dispose()
    path = RESULTS_DIR / f"integration-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, indent=2, default=str))
    log(f"wrote {path}")


if __name__ == "__main__":
    asyncio.run(main())
