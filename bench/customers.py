"""Customer benchmark: bulk-load N customers into PostgreSQL, then measure the HTTP API.

    .venv/bin/python bench/customers.py --size 10000 \
        --db-url postgresql+asyncpg://postgres@127.0.0.1:5432/crm_bench_10k
    .venv/bin/python bench/customers.py --size 1000000 \
        --db-url postgresql+asyncpg://postgres@127.0.0.1:5432/crm_bench_1m

Steps (see bench/README.md and docs/benchmarks.md):

1. Drop and create the database, run the migrations (``crm migrate``), create a director,
   a support user, 5 team managers and 40 reps in 5 teams (plain SQL), then bulk-load N
   customers with 2 contacts each with PostgreSQL COPY (asyncpg ``copy_records_to_table``),
   including the ``contact_point`` rows and ``name_key`` that search and dedup use. The
   secondary indexes the migrations created are dropped for the load and rebuilt from their
   own definitions afterwards; foreign-key triggers are off for the loading session only
   (the data is consistent by construction). Then VACUUM ANALYZE.
2. Start ``crm serve`` on a free loopback port against that database, log in, and measure
   with C concurrent keep-alive clients (httpx) a fixed number of requests per scenario
   after a warm-up, each scenario also bounded in time. Write a JSON result file under
   bench/results/ and print a markdown table.

``--skip-load`` measures an already loaded database again (e.g. after adding an index).
The database name must start with ``crm_bench`` (it is dropped and re-created).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import platform
import random
import secrets
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.demo.words import (  # noqa: E402  (after the sys.path tweak)
    CITIES,
    GIVEN_NAMES,
    INDUSTRIES,
    MOBILE_PREFIXES,
    PRODUCTS,
    ROADS,
    SIZES,
    STEMS,
    SURNAMES,
    TAGS,
    TITLES,
)
from app.domain import normalize  # noqa: E402
from bench.common import (  # noqa: E402
    BenchOrg,
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

RESULTS_DIR = ROOT / "bench" / "results"
PASSWORD = "bench-pass-2026"
P95_TARGET_MS = 50.0
NOISY_CORES = 0.3  # a scenario during which other processes used more CPU is measured again

# ------------------------------------------------------------------------------------------
# Vocabulary: the word lists come from app/demo/words.py (shared with the demo data); the
# weights below are this benchmark's own
# ------------------------------------------------------------------------------------------

LEGAL_FORMS = [
    ("有限公司", 55),
    ("股份有限公司", 15),
    ("有限责任公司", 20),
    ("集团有限公司", 6),
    ("有限公司分公司", 4),
]
SOURCES = [
    ("import", 40),
    ("web", 15),
    ("exhibition", 10),
    ("referral", 8),
    ("self_discovered", 17),
    ("inbound_call", 5),
    ("other", 5),
]

# Stages of unowned (pool) customers and of a rep's own active ones (SPEC funnel).
POOL_STAGES = [("resource", 72), ("graded", 10), ("contacted", 6), ("abandoned", 12)]
ACTIVE_STAGES = [("graded", 30), ("contacted", 35), ("lead", 20), ("intent", 15)]
WON_STAGES = [("signed", 60), ("implemented", 40)]
OWNED_SHARE = 0.05  # 5 % of customers have an owner (the rest sit in the pool)
ACTIVE_PER_REP = 25  # under the holding limit of 30 active customers
TEAM_NAMES = ["华北一组", "华东一组", "华南一组", "华中一组", "西部一组"]

N_STEMS, N_IND, N_CITIES = len(STEMS), len(INDUSTRIES), len(CITIES)
N_PAIRS = N_STEMS * (N_STEMS - 1)
NAME_SPACE = N_CITIES * N_PAIRS * N_IND  # distinct name cores (city, stem pair, industry)
NAME_MULT = 7_368_787  # prime, coprime with NAME_SPACE: i -> (a*i + b) mod T is a permutation
NAME_ADD = 1_234_577
PHONE_SPACE = len(MOBILE_PREFIXES) * 10**8
PHONE_MULT = 982_451_653  # prime, coprime with PHONE_SPACE
PHONE_ADD = 314_159
USCC_SPACE = 31**9
USCC_MULT = 2_654_435_761  # coprime with 31**9


def _weighted(pairs: list[tuple[Any, int]]) -> tuple[list[Any], list[int]]:
    return [p[0] for p in pairs], list(itertools.accumulate(p[1] for p in pairs))


_LEGAL = _weighted(LEGAL_FORMS)
_SOURCES = _weighted(SOURCES)
_POOL_STAGES = _weighted(POOL_STAGES)
_ACTIVE_STAGES = _weighted(ACTIVE_STAGES)
_WON_STAGES = _weighted(WON_STAGES)


def pick(rng: random.Random, table: tuple[list[Any], list[int]]) -> Any:
    return rng.choices(table[0], cum_weights=table[1])[0]


@dataclass(frozen=True, slots=True)
class NameParts:
    city: int
    stem1: int
    stem2: int
    industry: int


def name_parts(i: int) -> NameParts:
    """The i-th distinct name core: unique (city, stem pair, industry) for i < NAME_SPACE."""
    j = (NAME_MULT * i + NAME_ADD) % NAME_SPACE
    industry = j % N_IND
    j //= N_IND
    pair = j % N_PAIRS
    city = j // N_PAIRS
    stem1, s2 = divmod(pair, N_STEMS - 1)
    stem2 = s2 + (s2 >= stem1)
    return NameParts(city, stem1, stem2, industry)


def company_name(i: int, rng: random.Random) -> tuple[str, NameParts, str]:
    """A unique, realistic company name; returns (name, parts, core) where the core is
    stem1+stem2+industry (what users type fragments of)."""
    p = name_parts(i)
    city = CITIES[p.city][0]
    core = STEMS[p.stem1][0] + STEMS[p.stem2][0] + INDUSTRIES[p.industry][0]
    legal = pick(rng, _LEGAL)
    if legal == "有限公司分公司":
        # A branch: "<core>有限公司<city>分公司" (a different customer from the head office).
        other = CITIES[(p.city + 1) % N_CITIES][0]
        return f"{city}{core}有限公司{other}分公司", p, core
    if rng.random() < 0.2:
        return f"{core}（{city}）{legal}", p, core
    return f"{city}{core}{legal}", p, core


def uscc_for(i: int, division: str) -> str:
    n = (USCC_MULT * i + 7) % USCC_SPACE
    org = []
    for _ in range(9):
        n, r = divmod(n, 31)
        org.append(normalize.USCC_CHARSET[r])
    first17 = "91" + division + "".join(org)
    return first17 + normalize.uscc_check_char(first17)


def mobile_for(c: int) -> str:
    """The c-th contact's mobile number, unique for every c, in E.164."""
    n = (PHONE_MULT * c + PHONE_ADD) % PHONE_SPACE
    prefix, rest = divmod(n, 10**8)
    return f"+86{MOBILE_PREFIXES[prefix]}{rest:08d}"


def person(rng: random.Random) -> tuple[str, str, str]:
    surname, s_py = rng.choice(SURNAMES)
    given, g_py = rng.choice(GIVEN_NAMES)
    return surname + given, s_py, g_py


def domain_for(p: NameParts, rng: random.Random) -> str:
    tld = rng.choice([".com", ".com.cn", ".cn", ".net"])
    return f"{STEMS[p.stem1][1]}{STEMS[p.stem2][1]}-{INDUSTRIES[p.industry][2]}{tld}"


def email_for(c: int, s_py: str, g_py: str, domain: str, rng: random.Random) -> str:
    style = rng.random()
    tag = format(c, "x")[-5:]
    if style < 0.4:
        local = f"{g_py}.{s_py}{tag}"
    elif style < 0.8:
        local = f"{s_py}{g_py}{tag}"
    else:
        local = f"{s_py[0]}{g_py}{tag}"
    return f"{local}@{domain}"


# Fragments many names contain (a legal form, or part of one): at 1M, 有限公司 and 有限公 are
# in 80 % of the names, 股份有限 in 15 % and 科技有限 in 2 %.
COMMON_FRAGMENTS = ("有限公司", "有限公", "股份有限", "科技有限")


def fmt_phone(e164: str, rng: random.Random) -> str:
    """An E.164 CN mobile in one of the formats people type."""
    n = e164[3:]
    return rng.choice(
        [
            n,
            f"{n[:3]} {n[3:7]} {n[7:]}",
            f"{n[:3]}-{n[3:7]}-{n[7:]}",
            f"+86 {n[:3]} {n[3:7]} {n[7:]}",
            e164,
            f"0086 {n}",
            f"+86-{n}",
            f"86 {n[:3]} {n[3:7]} {n[7:]}",
            f"(+86) {n[:3]}-{n[3:7]}-{n[7:]}",
        ]
    )


# ------------------------------------------------------------------------------------------
# Organisation and rows
# ------------------------------------------------------------------------------------------


CUSTOMER_COLUMNS = [
    "id",
    "name",
    "name_key",
    "kind",
    "uscc",
    "industry",
    "region",
    "size",
    "address",
    "website",
    "stage",
    "grade",
    "owner_id",
    "team_id",
    "source",
    "discovered_by",
    "referred_by",
    "interests",
    "tags",
    "recommended_products",
    "target_amount",
    "notes",
    "last_contact_at",
    "claimed_at",
    "stage_entered_at",
    "out_of_funnel",
    "cooldown_until",
    "completeness",
    "created_by",
    "deleted_at",
    "merged_into",
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
    "wechat",
    "is_primary",
    "notes",
    "deleted_at",
    "created_at",
    "updated_at",
    "version",
]
POINT_COLUMNS = ["contact_id", "kind", "value", "customer_id"]
YEARS_OF_HISTORY = 3


@dataclass
class Chunk:
    customers: list[tuple[Any, ...]] = field(default_factory=list)
    contacts: list[tuple[Any, ...]] = field(default_factory=list)
    points: list[tuple[Any, ...]] = field(default_factory=list)


def generate_chunk(
    start: int, stop: int, org: BenchOrg, seed: int, now: dt.datetime, owned_counts: dict[uuid.UUID, int]
) -> Chunk:
    """Rows for customers start..stop-1 (deterministic for a seed and chunk)."""
    rng = random.Random(f"{seed}:{start}")
    span = YEARS_OF_HISTORY * 365 * 86400.0
    out = Chunk()
    reps = org.rep_ids
    for i in range(start, stop):
        cid = uuid.UUID(int=rng.getrandbits(128), version=4)
        name, parts, _core = company_name(i, rng)
        _, region, division = CITIES[parts.city]
        created = now - dt.timedelta(seconds=rng.random() * span)
        updated = created + (now - created) * rng.random()
        source = pick(rng, _SOURCES)
        owner = team = claimed = discovered = last_contact = cooldown = None
        active = False
        if rng.random() < OWNED_SHARE:
            owner = reps[rng.randrange(len(reps))]
            team = org.rep_team[owner]
            k = owned_counts.get(owner, 0)
            owned_counts[owner] = k + 1
            active = k < ACTIVE_PER_REP
            stage = pick(rng, _ACTIVE_STAGES) if active else pick(rng, _WON_STAGES)
        else:
            stage = pick(rng, _POOL_STAGES)
        if active:
            # Steady state: an owned active customer was contacted within the protection
            # period (7 days), or the pool recycler would already have taken it back.
            last_contact = now - dt.timedelta(seconds=rng.random() * 6.5 * 86400)
            created = min(created, last_contact - dt.timedelta(hours=1))
            claimed = created + (last_contact - created) * rng.random()
            updated = max(updated, last_contact)
        elif owner is not None:
            claimed = created + (updated - created) * rng.random() * 0.5
        if source == "self_discovered":
            discovered = owner or reps[rng.randrange(len(reps))]
        created_by = discovered or (
            org.staff_id if source == "import" else rng.choice((org.staff_id, org.director_id))
        )
        graded = stage not in ("resource",)
        grade = rng.choice("AABBBCC") if graded and stage != "abandoned" else None
        products = json.dumps(rng.sample(PRODUCTS, rng.randint(1, 2)), ensure_ascii=False) if grade else "[]"
        target = Decimal(rng.randrange(20, 2000) * 500).quantize(Decimal("0.01")) if grade else None
        has_uscc = rng.random() < 0.92
        uscc = uscc_for(i, division) if has_uscc else None
        size = rng.choice(SIZES) if rng.random() < 0.8 else None
        address = f"{region}{rng.choice(ROADS)}{rng.randint(1, 999)}号" if rng.random() < 0.7 else None
        domain = domain_for(parts, rng)
        website = f"https://www.{domain}" if rng.random() < 0.4 else None
        tags = rng.sample(TAGS, rng.choice((0, 0, 0, 1, 1, 2)))
        if last_contact is None and stage not in ("resource", "graded"):
            last_contact = updated - (updated - created) * rng.random() * 0.3
        stage_entered = created + (updated - created) * rng.random()
        if stage == "abandoned" and stage_entered + dt.timedelta(days=90) > now:
            cooldown = stage_entered + dt.timedelta(days=90)  # 冷处理 still running
        industry = INDUSTRIES[parts.industry][1]

        contacts_have_phone_or_email = False
        for k in range(2):
            c = 2 * i + k
            contact_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            pname, s_py, g_py = person(rng)
            phones = [mobile_for(c)] if (k == 0 or rng.random() < 0.9) else []
            emails = (
                [email_for(c, s_py, g_py, domain, rng)] if rng.random() < (0.85 if k == 0 else 0.5) else []
            )
            contacts_have_phone_or_email |= bool(phones or emails)
            wechat = f"wxid_{s_py}{g_py}{format(c, 'x')[-4:]}" if rng.random() < 0.3 else None
            out.contacts.append(
                (
                    contact_id,
                    cid,
                    pname,
                    rng.choice(TITLES),
                    json.dumps(phones),
                    json.dumps(emails),
                    wechat,
                    k == 0,
                    None,
                    None,
                    created,
                    created,
                    1,
                )
            )
            for p in phones:
                out.points.append((contact_id, "phone", p, cid))
            for e in emails:
                out.points.append((contact_id, "email", e, cid))
        completeness = normalize.completeness(
            kind="company",
            fields={
                "name": name,
                "uscc": uscc,
                "industry": industry,
                "region": region,
                "size": size,
                "address": address,
                "website": website,
                "source": source,
                "has_contact": True,
                "has_contact_phone_or_email": contacts_have_phone_or_email,
            },
        )
        out.customers.append(
            (
                cid,
                name,
                normalize.dedup_name_key(name),
                "company",
                uscc,
                industry,
                region,
                size,
                address,
                website,
                stage,
                grade,
                owner,
                team,
                source,
                discovered,
                None,
                "[]",
                json.dumps(tags, ensure_ascii=False),
                products,
                target,
                None,
                last_contact,
                claimed,
                stage_entered,
                False,
                cooldown,
                completeness,
                created_by,
                None,
                None,
                created,
                updated,
                1,
            )
        )
    return out


# ------------------------------------------------------------------------------------------
# Database set-up and bulk load
# ------------------------------------------------------------------------------------------


LOADED_TABLES = ["customer", "contact", "contact_point"]


async def secondary_indexes(conn: Any) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        "SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_class t ON t.oid = i.indrelid "
        "WHERE t.relname = ANY($1::text[]) AND NOT i.indisprimary AND NOT i.indisunique "
        "ORDER BY c.relname",
        LOADED_TABLES,
    )
    return [(r["name"], r["def"]) for r in rows]


async def load(url: str, size: int, seed: int, chunk_size: int) -> dict[str, Any]:
    import asyncpg

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    log(f"creating database {db_name(url)} and running migrations")
    await recreate_database(url)
    run_migrations(url)
    timings["create_and_migrate_s"] = time.perf_counter() - t0

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    org = make_org(random.Random(seed), staff_role="support")
    conn = await asyncpg.connect(asyncpg_url(url))
    try:
        await create_org(conn, org, now, password=PASSWORD, team_names=TEAM_NAMES)
        indexes = await secondary_indexes(conn)
        log(f"dropping {len(indexes)} secondary indexes for the load: " + ", ".join(n for n, _ in indexes))
        for name, _ in indexes:
            await conn.execute(f'DROP INDEX "{name}"')
        # Foreign-key triggers off in this session only: rows are consistent by construction.
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("SET synchronous_commit = off")

        t1 = time.perf_counter()
        owned: dict[uuid.UUID, int] = {}
        counts = {"customer": 0, "contact": 0, "contact_point": 0}
        pending = asyncio.create_task(
            asyncio.to_thread(generate_chunk, 0, min(chunk_size, size), org, seed, now, owned)
        )
        start = 0
        while pending is not None:
            chunk = await pending
            stop = min(start + chunk_size, size)
            nxt = min(stop + chunk_size, size)
            # Generate the next chunk in a thread while PostgreSQL ingests this one.
            pending = (
                asyncio.create_task(asyncio.to_thread(generate_chunk, stop, nxt, org, seed, now, owned))
                if stop < size
                else None
            )
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "customer", records=chunk.customers, columns=CUSTOMER_COLUMNS
                )
                await conn.copy_records_to_table("contact", records=chunk.contacts, columns=CONTACT_COLUMNS)
                await conn.copy_records_to_table("contact_point", records=chunk.points, columns=POINT_COLUMNS)
            counts["customer"] += len(chunk.customers)
            counts["contact"] += len(chunk.contacts)
            counts["contact_point"] += len(chunk.points)
            start = stop
            if stop % (chunk_size * 4) == 0 or stop == size:
                rate = stop / (time.perf_counter() - t1)
                log(f"  {stop:>9,} customers copied ({rate:,.0f}/s)")
        timings["copy_s"] = time.perf_counter() - t1
        await conn.execute("RESET session_replication_role")
    finally:
        await conn.close()

    t2 = time.perf_counter()
    log("rebuilding the secondary indexes (2 connections, maintenance_work_mem=1GB each)")
    queue = list(indexes)
    # The GIN (trigram) builds are single-threaded and the slowest: start them first.
    queue.sort(key=lambda nd: ("USING gin" not in nd[1], nd[0]))

    async def builder() -> None:
        c = await asyncpg.connect(asyncpg_url(url))
        try:
            await c.execute("SET maintenance_work_mem = '1GB'")
            await c.execute("SET max_parallel_maintenance_workers = 0")
            while queue:
                name, definition = queue.pop(0)
                t = time.perf_counter()
                await c.execute(definition)
                log(f"  {name}: {time.perf_counter() - t:.1f}s")
        finally:
            await c.close()

    await asyncio.gather(builder(), builder())
    timings["index_build_s"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    log("VACUUM ANALYZE")
    conn = await asyncpg.connect(asyncpg_url(url))
    try:
        after = await secondary_indexes(conn)
        if sorted(after) != sorted(indexes):
            raise RuntimeError(f"index set differs after the rebuild: {after} vs {indexes}")
        for table in [*LOADED_TABLES, "user_account", "team"]:
            await conn.execute(f"VACUUM (ANALYZE) {table}")
        sizes = {
            r["t"]: r["s"]
            for r in await conn.fetch(
                "SELECT relname AS t, pg_size_pretty(pg_total_relation_size(oid)) AS s "
                "FROM pg_class WHERE relname = ANY($1::text[])",
                LOADED_TABLES,
            )
        }
        db_size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    finally:
        await conn.close()
    timings["vacuum_analyze_s"] = time.perf_counter() - t3
    timings["total_s"] = time.perf_counter() - t0
    log(f"loaded {counts} in {timings['total_s']:.0f}s; database size {db_size}")
    return {
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "rows": counts,
        "table_sizes": sizes,
        "database_size": db_size,
    }


# ------------------------------------------------------------------------------------------
# Server
# ------------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------------
# CPU accounting: this machine is shared, so record how much CPU others used meanwhile
# ------------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------------
# Measurement
# ------------------------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] | None = None
    expect: int = 200
    variant: str | None = None  # which result row of an interleaved scenario it counts for


@dataclass
class Scenario:
    key: str
    title: str
    make: Callable[[int, random.Random], Request]
    user: str = "director"
    target: bool = True  # a read with the p95 target
    requests: int | None = None  # overrides the default count (slow informational ones)
    # Interleaved variants (key -> title): requests alternate between them in one run, so
    # they are compared under identical conditions; each gets its own result row.
    variants: dict[str, str] | None = None


@dataclass
class Result:
    key: str
    title: str
    user: str
    target: bool
    n: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    mean_items: float
    stopped_by_time: bool
    cpu_cores: dict[str, float] = field(default_factory=dict)
    quiet_wait_s: float = 0.0
    error_sample: str | None = None


async def login(client: Any, username: str) -> str:
    r = await client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    r.raise_for_status()
    return str(r.json()["access_token"])


async def run_scenario(
    bases: list[str],
    token: str,
    sc: Scenario,
    *,
    concurrency: int,
    requests: int,
    warmup: int,
    max_seconds: float,
    seed: int,
    meter: CpuMeter,
) -> list[Result]:
    per_client = max(1, requests // concurrency)
    warm_per_client = max(0, warmup // concurrency)
    latencies: dict[str | None, list[float]] = {}
    items: dict[str | None, list[int]] = {}
    errors: list[str] = []
    counter = iter(range(10**9))
    headers = {"Authorization": f"Bearer {token}"}

    async def one(client: HttpConnection, rng: random.Random, record: bool) -> None:
        req = sc.make(next(counter), rng)
        t = time.perf_counter()
        status, data = await client.request(
            req.method, req.path, params=req.params, json_body=req.json, headers=req.headers
        )
        elapsed = (time.perf_counter() - t) * 1000
        if status != req.expect:
            text = data[:300].decode(errors="replace")
            errors.append(f"{status} {req.method} {req.path} {req.params}: {text}")
        elif record:
            body = json.loads(data)
            items.setdefault(req.variant, []).append(
                len(body["items"]) if isinstance(body, dict) and "items" in body else 1
            )
        if record:
            latencies.setdefault(req.variant, []).append(elapsed)

    async def client_loop(k: int, count: int, record: bool, deadline: float) -> bool:
        rng = random.Random(f"{seed}:{sc.key}:{k}:{record}")
        for _ in range(count):
            if time.monotonic() > deadline:
                return True
            await one(clients[k], rng, record)
        return False

    # Client k talks to server k mod n: with several server processes the connections are
    # spread evenly, as a load balancer would.
    clients = [HttpConnection(bases[k % len(bases)], headers) for k in range(concurrency)]
    try:
        deadline = time.monotonic() + max_seconds / 3
        await asyncio.gather(*(client_loop(k, warm_per_client, False, deadline) for k in range(concurrency)))
        errors.clear()
        await meter.refresh_pg_pids()
        cpu_before = meter.snapshot()
        started = time.perf_counter()
        deadline = time.monotonic() + max_seconds
        stopped = await asyncio.gather(
            *(client_loop(k, per_client, True, deadline) for k in range(concurrency))
        )
        seconds = time.perf_counter() - started
        cpu = meter.cores(cpu_before, meter.snapshot())
    finally:
        for c in clients:
            await c.close()
    total = sum(len(v) for v in latencies.values())
    out = []
    for variant, title in (sc.variants or {None: sc.title}).items():
        lat = sorted(latencies.get(variant, []))
        its = items.get(variant, [])
        out.append(
            Result(
                key=variant or sc.key,
                title=title,
                user=sc.user,
                target=sc.target,
                n=len(lat),
                errors=len(errors),
                seconds=round(seconds, 2),
                # For interleaved variants this is the throughput of the whole mix.
                rps=round(total / seconds, 1) if seconds else 0.0,
                p50_ms=round(percentile(lat, 0.50), 1),
                p95_ms=round(percentile(lat, 0.95), 1),
                p99_ms=round(percentile(lat, 0.99), 1),
                mean_ms=round(statistics.fmean(lat), 1) if lat else 0,
                max_ms=round(lat[-1], 1) if lat else 0,
                mean_items=round(statistics.fmean(its), 1) if its else 0.0,
                stopped_by_time=any(stopped),
                cpu_cores=cpu,
                error_sample=errors[0] if errors else None,
            )
        )
    return out


@dataclass
class Samples:
    ids: list[str]
    owner_stage: list[tuple[str, str]]
    rep_stages: list[str]
    phones: list[str]
    usccs: list[str]
    fragments: list[str]
    short_fragments: list[str]
    start_index: int
    rep_username: str
    rep_id: str


def core_of(name: str) -> str | None:
    """stem1+stem2+industry of a generated name (strip the city and the legal form)."""
    for city, _, _ in sorted(CITIES, key=lambda c: -len(c[0])):
        if name.startswith(city):
            return name[len(city) : len(city) + 6]
    return name[:6] if "（" in name else None


async def take_samples(url: str, seed: int) -> Samples:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_url(url))
    try:
        total = await conn.fetchval("SELECT count(*) FROM customer")
        pct = min(100.0, 100.0 * 4000 / max(total, 1))
        rows = await conn.fetch(
            f"SELECT id, name, uscc FROM customer TABLESAMPLE BERNOULLI ({pct}) "
            f"REPEATABLE ({seed}) WHERE deleted_at IS NULL"
        )
        ids = [r["id"] for r in rows]
        phones = [
            r["value"]
            for r in await conn.fetch(
                "SELECT value FROM contact_point WHERE kind = 'phone' AND customer_id = ANY($1::uuid[])", ids
            )
        ]
        owned = await conn.fetch(
            f"SELECT owner_id, stage FROM customer TABLESAMPLE BERNOULLI ({min(100.0, pct * 20)}) "
            f"REPEATABLE ({seed}) WHERE owner_id IS NOT NULL AND deleted_at IS NULL"
        )
        # The rep with the most customers logs in for the own-scope variant.
        rep = await conn.fetchrow(
            "SELECT u.id, u.username FROM user_account u JOIN customer c ON c.owner_id = u.id "
            "WHERE u.role = 'rep' GROUP BY u.id, u.username ORDER BY count(*) DESC, u.username "
            "LIMIT 1"
        )
        rep_stages = [
            r["stage"]
            for r in await conn.fetch(
                "SELECT stage FROM customer WHERE owner_id = $1 AND deleted_at IS NULL", rep["id"]
            )
        ]
    finally:
        await conn.close()
    rng = random.Random(seed)
    fragments, short = [], []
    for r in rows:
        core = core_of(r["name"])
        if not core:
            continue
        length = rng.choice((3, 3, 4, 4, 5))
        start = rng.randrange(0, 6 - length + 1)
        fragments.append(core[start : start + length])
        # 1 or 2 characters, anywhere in the stems and industry: what people type first.
        width = rng.choice((1, 2, 2, 2))
        at = rng.randrange(0, 6 - width + 1)
        short.append(core[at : at + width])
    return Samples(
        ids=[str(i) for i in ids],
        owner_stage=[(str(r["owner_id"]), r["stage"]) for r in owned],
        rep_stages=rep_stages,
        phones=phones,
        usccs=[r["uscc"] for r in rows if r["uscc"]],
        fragments=fragments,
        short_fragments=short,
        start_index=int(total),
        rep_username=rep["username"],
        rep_id=str(rep["id"]),
    )


def scenarios(s: Samples, page200_cursor: str | None, seed: int) -> list[Scenario]:
    create_counter = iter(range(10**9))
    run_tag = secrets.token_hex(3)

    def create(_: int, rng: random.Random, *, idem: bool = False) -> Request:
        i = s.start_index + next(create_counter)
        name, parts, _core = company_name(i, rng)
        c = 2 * i
        pname, s_py, g_py = person(rng)
        domain = domain_for(parts, rng)
        body = {
            "name": name,
            "uscc": uscc_for(i, CITIES[parts.city][2]),
            "industry": INDUSTRIES[parts.industry][1],
            "region": CITIES[parts.city][1],
            "size": rng.choice(SIZES),
            "source": "web",
            "tags": rng.sample(TAGS, 1),
            "contacts": [
                {
                    "name": pname,
                    "title": rng.choice(TITLES),
                    "is_primary": True,
                    "phones": [fmt_phone(mobile_for(c), rng)],
                    "emails": [email_for(c, s_py, g_py, domain, rng)],
                }
            ],
        }
        headers = {"Idempotency-Key": f"bench-{run_tag}-{i}"} if idem else None
        return Request("POST", "/api/v1/customers", json=body, headers=headers, expect=201)

    out = [
        Scenario(
            "get_by_id",
            "GET customer by id (with contacts)",
            lambda k, r: Request("GET", f"/api/v1/customers/{r.choice(s.ids)}"),
        ),
        Scenario(
            "list_stage_owner",
            "List 50, stage+owner filter (director)",
            lambda k, r: Request(
                "GET",
                "/api/v1/customers",
                params=dict(zip(("owner_id", "stage"), r.choice(s.owner_stage), strict=True)),
            ),
        ),
        Scenario(
            "list_stage_owner_rep",
            "List 50, stage+owner filter (rep, own scope)",
            lambda k, r: Request(
                "GET", "/api/v1/customers", params={"owner_id": s.rep_id, "stage": r.choice(s.rep_stages)}
            ),
            user="rep",
        ),
        # SPEC §5 work priority: the rep with the most customers (about 1,250 at 1M) opens
        # their worklist; every one of their customers is looked at to find today's work.
        Scenario(
            "worklist_rep",
            "GET /me/worklist, first page (rep with the most customers)",
            lambda k, r: Request("GET", "/api/v1/me/worklist"),
            user="rep",
        ),
    ]
    if page200_cursor:
        # Page 1 and page 200 alternate within one run: compared under the same conditions.
        def page(k: int, _: random.Random) -> Request:
            if k % 2:
                return Request(
                    "GET", "/api/v1/customers", params={"cursor": page200_cursor}, variant="list_page200"
                )
            return Request("GET", "/api/v1/customers", variant="list_page1")

        out.append(
            Scenario(
                "list_pages",
                "List 50, default sort: page 1 / page 200",
                page,
                variants={
                    "list_page1": "List 50, default sort, page 1",
                    "list_page200": "List 50, default sort, page 200 (cursor)",
                },
            )
        )
    else:
        out.append(
            Scenario(
                "list_page1",
                "List 50, default sort, page 1",
                lambda k, r: Request("GET", "/api/v1/customers"),
            )
        )
    out += [
        Scenario(
            "q_phone",
            "q = phone (mixed formats)",
            lambda k, r: Request("GET", "/api/v1/customers", params={"q": fmt_phone(r.choice(s.phones), r)}),
        ),
        Scenario(
            "q_uscc",
            "q = USCC",
            lambda k, r: Request("GET", "/api/v1/customers", params={"q": r.choice(s.usccs)}),
        ),
        Scenario(
            "q_name",
            "q = name fragment (3-5 CJK chars)",
            lambda k, r: Request("GET", "/api/v1/customers", params={"q": r.choice(s.fragments)}),
        ),
        Scenario(
            "q_name_2chars",
            "q = 1-2 char fragment (grams index; informational)",
            lambda k, r: Request("GET", "/api/v1/customers", params={"q": r.choice(s.short_fragments)}),
            target=False,
        ),
        Scenario(
            "q_name_common",
            "q = fragment in most names, e.g. 有限公司 (informational)",
            lambda k, r: Request("GET", "/api/v1/customers", params={"q": r.choice(COMMON_FRAGMENTS)}),
            target=False,
            requests=40,
        ),
        Scenario("create", "POST create customer + 1 contact", create, target=False),
        Scenario(
            "create_idem",
            "POST create with Idempotency-Key",
            lambda k, r: create(k, r, idem=True),
            target=False,
        ),
    ]
    return out


async def walk_to_page(base: str, token: str, page: int) -> tuple[str | None, float]:
    """Follow next_cursor from page 1 to ``page``; the cursor that fetches that page."""
    import httpx

    cursor: str | None = None
    t = time.perf_counter()
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120
    ) as client:
        for _ in range(page - 1):
            params = {"cursor": cursor} if cursor else None
            r = await client.get("/api/v1/customers", params=params)
            r.raise_for_status()
            cursor = r.json()["next_cursor"]
            if cursor is None:
                return None, time.perf_counter() - t
    return cursor, time.perf_counter() - t


def machine_info(url: str) -> dict[str, Any]:
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    cpu = "unknown"
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
        version = await conn.fetchval("SHOW server_version")
        settings = {
            r["name"]: r["value"]
            for r in await conn.fetch(
                "SELECT name, current_setting(name) AS value FROM pg_settings WHERE name = ANY($1::text[])",
                [
                    "shared_buffers",
                    "work_mem",
                    "effective_cache_size",
                    "random_page_cost",
                    "jit",
                    "max_connections",
                    "max_parallel_workers_per_gather",
                ],
            )
        }
        indexes = [
            r["def"]
            for r in await conn.fetch(
                "SELECT pg_get_indexdef(indexrelid) AS def FROM pg_index i JOIN pg_class t "
                "ON t.oid = i.indrelid WHERE t.relname = ANY($1::text[]) ORDER BY 1",
                LOADED_TABLES,
            )
        ]
        counts = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in LOADED_TABLES}
    finally:
        await conn.close()
    return {"version": version, "settings": settings, "indexes": indexes, "rows": counts}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    samples = await take_samples(args.db_url, args.seed)
    log(
        f"samples: {len(samples.ids)} ids, {len(samples.phones)} phones, "
        f"{len(samples.fragments)} fragments, {len(samples.owner_stage)} owner/stage pairs; "
        f"rep {samples.rep_username} owns {len(samples.rep_stages)}"
    )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    secret = secrets.token_urlsafe(48)
    servers = [
        Server(
            args.db_url,
            args.workers,
            RESULTS_DIR / f"server-{args.size}-{stamp}-{k}.log",
            secret,
            app_dir=Path(args.app_dir),
        )
        for k in range(args.servers)
    ]
    bases = [s.base for s in servers]
    results: list[Result] = []
    extra: dict[str, Any] = {}
    try:
        for server in servers:
            await server.wait_ready()
        log(f"{args.servers} server process(es) with {args.workers} worker(s) each: {', '.join(bases)}")
        async with httpx.AsyncClient(base_url=bases[0], timeout=60) as c:
            tokens = {"director": await login(c, "director"), "rep": await login(c, samples.rep_username)}
        cursor, walk_s = await walk_to_page(bases[0], tokens["director"], args.page)
        extra["walk_to_page_s"] = round(walk_s, 2)
        log(f"walked to page {args.page} in {walk_s:.1f}s")
        if cursor is None:
            log(f"WARNING: fewer than {args.page} pages; the deep-page scenario is skipped")
        meter = CpuMeter([s.proc.pid for s in servers], args.db_url)
        for sc in scenarios(samples, cursor, args.seed):
            if args.only and sc.key not in args.only and not (set(sc.variants or ()) & args.only):
                continue
            best: list[Result] | None = None
            for attempt in range(1 + args.retry_noisy):
                waited = await meter.wait_quiet(args.quiet_wait) if args.quiet_wait > 0 else 0.0
                rows = await run_scenario(
                    bases,
                    tokens[sc.user],
                    sc,
                    concurrency=args.concurrency,
                    requests=sc.requests or args.requests,
                    warmup=min(args.warmup, sc.requests or args.warmup),
                    max_seconds=args.max_seconds,
                    seed=args.seed,
                    meter=meter,
                )
                for row in rows:
                    row.quiet_wait_s = waited
                other = rows[0].cpu_cores.get("other", 0)
                p95 = max(row.p95_ms for row in rows)
                if best is None or other < best[0].cpu_cores.get("other", 0):
                    best = rows
                # Far over the target the noise does not matter: no point measuring again.
                hopeless = p95 > 3 * P95_TARGET_MS
                if other <= NOISY_CORES or not sc.target or hopeless or attempt == args.retry_noisy:
                    break
                log(
                    f"{sc.key}: other processes used {other} cores meanwhile (p95 {p95} ms); "
                    f"measuring again ({attempt + 1}/{args.retry_noisy})"
                )
            assert best is not None
            for res in best:
                results.append(res)
                log(
                    f"{res.key:<22} n={res.n:<5} p50={res.p50_ms:>7.1f} p95={res.p95_ms:>7.1f} "
                    f"p99={res.p99_ms:>7.1f} ms  {res.rps:>6.1f} req/s  items={res.mean_items:<5} "
                    f"errors={res.errors}  cpu={res.cpu_cores}"
                    + (f"  e.g. {res.error_sample}" if res.error_sample else "")
                )
    finally:
        for server in servers:
            server.stop()
    return {"results": results, "stamp": stamp, **extra}


def evaluate(results: list[Result], size: int) -> dict[str, Any]:
    by_key = {r.key: r for r in results}
    reads = [r for r in results if r.target]
    over = [r.key for r in reads if r.p95_ms > P95_TARGET_MS]
    p1, p200 = by_key.get("list_page1"), by_key.get("list_page200")
    return {
        "p95_target_ms": P95_TARGET_MS,
        "reads_over_p95_target": over,
        "p95_target_met": not over,
        "page200_vs_page1_p50_ratio": round(p200.p50_ms / p1.p50_ms, 2) if p1 and p200 else None,
        # "No slower": within measurement noise of page 1 (10 % or 1 ms at p50).
        "page200_no_slower": (p200.p50_ms <= max(p1.p50_ms * 1.10, p1.p50_ms + 1.0)) if p1 and p200 else None,
        "size": size,
    }


def markdown(results: list[Result]) -> str:
    lines = [
        "| Scenario | p50 ms | p95 ms | p99 ms | req/s | n | items/resp | errors "
        "| CPU cores: server / postgres / client / other |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        c = r.cpu_cores
        flag = "" if not r.target else (" ✅" if r.p95_ms <= P95_TARGET_MS else " ❌")
        lines.append(
            f"| {r.title} | {r.p50_ms:.1f} | {r.p95_ms:.1f}{flag} | {r.p99_ms:.1f} | "
            f"{r.rps:.0f} | {r.n} | {r.mean_items:g} | {r.errors} | "
            f"{c.get('server', 0):.2f} / {c.get('postgres', 0):.2f} / {c.get('client', 0):.2f}"
            f" / {c.get('other', 0):.2f} |"
        )
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
    # SIGINT/SIGTERM cancel the run, so the finally blocks stop the servers we started
    # (a background job has SIGINT ignored; this installs a handler anyway).
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    if not db_name(args.db_url).startswith("crm_bench"):
        print("the database name must start with 'crm_bench' (it is dropped and re-created)", file=sys.stderr)
        return 2
    load_info = None
    if args.skip_load:
        run_migrations(args.db_url)  # the schema may have moved on since the load
    else:
        load_info = await load(args.db_url, args.size, args.seed, args.chunk)
    pg = await pg_info(args.db_url)
    measured = await measure(args)
    results: list[Result] = measured.pop("results")
    stamp = measured.pop("stamp")
    verdict = evaluate(results, args.size)
    doc = {
        "benchmark": "customers",
        "size": args.size,
        "started": stamp,
        "git": git_rev(),
        "app_dir": str(args.app_dir),
        "label": args.label,
        "config": {
            "concurrency": args.concurrency,
            "requests_per_scenario": args.requests,
            "warmup_per_scenario": args.warmup,
            "max_seconds": args.max_seconds,
            "server_workers": args.workers,
            "server_processes": args.servers,
            "page": args.page,
            "seed": args.seed,
        },
        "machine": machine_info(args.db_url),
        "postgres": pg,
        "load": load_info,
        **measured,
        "results": [asdict(r) for r in results],
        "verdict": verdict,
    }
    label = f"-{args.label}" if args.label else ""
    out = RESULTS_DIR / f"customers-{args.size}-{stamp}{label}.json"
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
    print()
    print(
        f"### {args.size:,} customers — {args.concurrency} concurrent clients, "
        f"{args.servers} server process(es) × {args.workers} worker(s)\n"
    )
    print(markdown(results))
    print()
    print(
        f"p95 ≤ {P95_TARGET_MS:g} ms for every read: {'met' if verdict['p95_target_met'] else 'NOT met'}"
        + (
            f" (over: {', '.join(verdict['reads_over_p95_target'])})"
            if verdict["reads_over_p95_target"]
            else ""
        )
    )
    if verdict["page200_no_slower"] is not None:
        print(
            f"page {args.page} vs page 1 (p50 ratio {verdict['page200_vs_page1_p50_ratio']}): "
            f"{'no slower' if verdict['page200_no_slower'] else 'SLOWER'}"
        )
    if load_info:
        print(f"load: {load_info['timings_s']}")
    print(f"results: {out.relative_to(ROOT)}")
    if args.drop_after:
        await drop_database(args.db_url)
        log(f"dropped {db_name(args.db_url)}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, required=True, help="number of customers to load")
    p.add_argument(
        "--db-url",
        required=True,
        help="postgresql+asyncpg://… URL; the database name must start with crm_bench",
    )
    p.add_argument("--skip-load", action="store_true", help="measure an already loaded database")
    p.add_argument("--drop-after", action="store_true", help="drop the database at the end")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--requests", type=int, default=800, help="measured requests per scenario")
    p.add_argument("--warmup", type=int, default=80, help="warm-up requests per scenario")
    p.add_argument(
        "--max-seconds", type=float, default=90, help="time bound of each scenario's measured loop"
    )
    p.add_argument("--workers", type=int, default=1, help="uvicorn workers per server process")
    p.add_argument(
        "--servers", type=int, default=2, help="server processes (clients are spread over them evenly)"
    )
    p.add_argument(
        "--retry-noisy",
        type=int,
        default=2,
        help="measure a read again (up to N times) when other processes used more than "
        f"{NOISY_CORES} cores during it",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=45,
        help="before each scenario wait up to this many seconds for other processes "
        "on the machine to go (nearly) idle; 0 disables",
    )
    p.add_argument("--page", type=int, default=200, help="deep page for the cursor scenario")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--chunk", type=int, default=50_000, help="customers per COPY batch")
    p.add_argument(
        "--only", type=lambda s: set(s.split(",")), default=None, help="comma-separated scenario keys to run"
    )
    p.add_argument(
        "--app-dir", default=str(ROOT), help="source tree to run the server from (default: this checkout)"
    )
    p.add_argument("--label", default="", help="suffix for the result file name")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.app_dir = Path(args.app_dir).resolve()
    try:
        import uvloop

        runner: Callable[[Any], int] = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        return runner(main_async(args))
    except asyncio.CancelledError:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
