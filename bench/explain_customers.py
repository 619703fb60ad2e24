"""EXPLAIN ANALYZE the SQL that the customer repository generates for the benchmark's reads.

    .venv/bin/python bench/explain_customers.py \
        --db-url postgresql+asyncpg://postgres@127.0.0.1:5432/crm_bench_1m [--only q_name,...]

Runs the real ``CustomerRepository`` (as the director, and as a rep for the own-scope
case) against a database loaded by bench/customers.py, captures each statement it sends
(with its parameters) and prints ``EXPLAIN (ANALYZE, BUFFERS)`` of it. ``--app-dir`` points
at another source tree (e.g. a patched copy) to compare plans.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def asyncpg_url(url: str) -> str:
    return re.sub(r"^postgres(?:ql)?(?:\+\w+)?://", "postgresql://", url)


async def main_async(args: argparse.Namespace) -> None:
    import asyncpg
    from sqlalchemy import event

    from app.db.engine import make_engine, make_session_factory
    from app.db.repositories.customers import CustomerFilters, CustomerRepository
    from app.domain.roles import Principal, Role
    from app.services.customers import _search_filters

    raw = await asyncpg.connect(asyncpg_url(args.db_url))
    if args.generic:
        # What a prepared statement runs with after its first executions (plan_cache_mode
        # auto may switch to the generic plan; asyncpg and SQLAlchemy prepare every statement).
        await raw.execute("SET plan_cache_mode = force_generic_plan")
    rng = random.Random(args.seed)
    director = await raw.fetchval("SELECT id FROM user_account WHERE username = 'director'")
    rep = await raw.fetchrow(
        "SELECT u.id FROM user_account u JOIN customer c ON c.owner_id = u.id WHERE u.role = 'rep' "
        "GROUP BY u.id ORDER BY count(*) DESC LIMIT 1"
    )
    owned = await raw.fetchrow(
        "SELECT owner_id, stage FROM customer WHERE owner_id = $1 GROUP BY owner_id, stage "
        "ORDER BY count(*) DESC LIMIT 1",
        rep["id"],
    )
    sample = await raw.fetchrow(
        "SELECT c.id, c.name, c.uscc, p.value AS phone FROM customer c "
        "JOIN contact_point p ON p.customer_id = c.id AND p.kind = 'phone' "
        "WHERE c.uscc IS NOT NULL ORDER BY c.id LIMIT 1 OFFSET $1",
        rng.randrange(1000),
    )
    name = sample["name"]
    core = name[:6] if "（" in name else re.sub(r"^(.*?)(..)(..)(..)(有限|股份|集团).*$", r"\2\3\4", name)
    fragment = core[1:5]

    engine = make_engine(args.db_url)
    captured: list[tuple[str, Any]] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def capture(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        captured.append((statement, parameters))

    director_p = Principal(user_id=director, role=Role.director, team_id=None)
    rep_p = Principal(user_id=rep["id"], role=Role.rep, team_id=None)
    factory = make_session_factory(engine)

    async def cursor_for_page(page: int) -> str | None:
        cursor = None
        async with factory() as session:
            repo = CustomerRepository(session)
            for _ in range(page - 1):
                result = await repo.list(
                    director_p, CustomerFilters(), sort="-updated_at", cursor=cursor, limit=50
                )
                cursor = result.next_cursor
        return cursor

    page200 = await cursor_for_page(args.page)
    cases: list[tuple[str, Principal, CustomerFilters, str | None]] = [
        (
            "list_stage_owner",
            director_p,
            CustomerFilters(owner_id=owned["owner_id"], stage=owned["stage"]),
            None,
        ),
        (
            "list_stage_owner_rep",
            rep_p,
            CustomerFilters(owner_id=owned["owner_id"], stage=owned["stage"]),
            None,
        ),
        ("list_page1", director_p, CustomerFilters(), None),
        ("list_page200", director_p, CustomerFilters(), page200),
        (
            "q_phone",
            director_p,
            CustomerFilters(
                **_search_filters(f"{sample['phone'][3:6]} {sample['phone'][6:10]} {sample['phone'][10:]}")
            ),
            None,
        ),
        ("q_uscc", director_p, CustomerFilters(**_search_filters(sample["uscc"])), None),
        ("q_name", director_p, CustomerFilters(**_search_filters(fragment)), None),
        ("q_name_2chars", director_p, CustomerFilters(**_search_filters(core[:2])), None),
    ]
    for key, principal, filters, cursor in cases:
        if args.only and key not in args.only:
            continue
        captured.clear()
        async with factory() as session:
            t = time.perf_counter()
            page = await CustomerRepository(session).list(
                principal, filters, sort="-updated_at", cursor=cursor, limit=50
            )
            took = (time.perf_counter() - t) * 1000
        statement, params = captured[-1]
        given = {
            f.name: getattr(filters, f.name)
            for f in dataclasses.fields(filters)
            if getattr(filters, f.name) not in (None, False)
        }
        print(f"\n=== {key}: {len(page.items)} rows, {took:.1f} ms through SQLAlchemy; {given}")
        print(statement)
        print("params:", params)
        if args.generic:
            await raw.execute("DEALLOCATE ALL")
            await raw.execute(f"PREPARE bench_stmt AS {statement}")
            # Untyped literals take the prepared statement's parameter types.
            literals = ", ".join("'" + str(p).replace("'", "''") + "'" for p in params)
            plan = await raw.fetch(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_stmt({literals})")
        else:
            plan = await raw.fetch("EXPLAIN (ANALYZE, BUFFERS) " + statement, *params)
        print("\n".join(r[0] for r in plan))
    await engine.dispose()
    await raw.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db-url", required=True)
    p.add_argument("--only", type=lambda s: set(s.split(",")), default=None)
    p.add_argument("--page", type=int, default=200)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--app-dir", default=str(ROOT))
    p.add_argument("--generic", action="store_true", help="show the generic (prepared) plans")
    args = p.parse_args()
    sys.path.insert(0, str(Path(args.app_dir).resolve()))
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
