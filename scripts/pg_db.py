"""Create, drop or name a throw-away PostgreSQL database for tests and CI (no psql needed).

    python scripts/pg_db.py create NAME   # drop NAME if it exists, then create it empty
    python scripts/pg_db.py drop NAME     # drop NAME if it exists (closing its connections)
    python scripts/pg_db.py url NAME      # print the app's URL for NAME (postgresql+asyncpg://…)

Connects as an administrator to ``CRM_PG_ADMIN_URL``
(default ``postgresql://postgres@127.0.0.1:5432/test``); the new database lives on the
same server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from urllib.parse import urlsplit, urlunsplit

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def admin_url() -> str:
    url = os.environ.get("CRM_PG_ADMIN_URL") or DEFAULT_ADMIN_URL
    # Accept the SQLAlchemy spelling too; asyncpg wants a plain postgresql:// URL.
    return re.sub(r"^postgres(?:ql)?(?:\+\w+)?://", "postgresql://", url)


def app_url(name: str) -> str:
    parts = urlsplit(admin_url())
    return urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{name}", parts.query, ""))


async def _run(action: str, name: str) -> None:
    import asyncpg

    admin = admin_url()
    if name == urlsplit(admin).path.lstrip("/"):
        raise SystemExit(f"refusing to {action} the administration database {name!r}")
    conn = await asyncpg.connect(admin)
    try:
        # The name is checked against _NAME, so quoting it as an identifier is safe.
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if action == "create":
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["create", "drop", "url"])
    parser.add_argument("name", help="database name: lower-case letters, digits, underscores")
    args = parser.parse_args(argv)
    if not _NAME.match(args.name):
        parser.error(f"invalid database name {args.name!r}")
    if args.action == "url":
        print(app_url(args.name))
        return 0
    asyncio.run(_run(args.action, args.name))
    print(f"{'created' if args.action == 'create' else 'dropped'} database {args.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
