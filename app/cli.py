"""The ``crm`` command: migrate, serve, create-user, seed-demo, openapi."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from app.config import get_settings

ROOT = Path(__file__).resolve().parent.parent
OPENAPI_FILE = ROOT / "openapi" / "openapi.json"


def _alembic_config():  # type: ignore[no-untyped-def]
    from alembic.config import Config

    settings = get_settings()
    candidates = [settings.migrations_dir, ROOT / "migrations", Path.cwd() / "migrations"]
    script_location = next(p for p in candidates if p is not None and (p / "env.py").exists())
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", settings.database_url)
    return config


def migrate(revision: str = "head") -> None:
    from alembic import command

    command.upgrade(_alembic_config(), revision)


def openapi_document() -> str:
    from app.main import create_app

    schema = create_app().openapi()
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def cmd_openapi(check: bool) -> int:
    document = openapi_document()
    if check:
        current = OPENAPI_FILE.read_text(encoding="utf-8") if OPENAPI_FILE.exists() else ""
        if current != document:
            print(f"{OPENAPI_FILE} is out of date; run 'crm openapi' and commit it", file=sys.stderr)
            return 1
        print("openapi/openapi.json is current")
        return 0
    OPENAPI_FILE.parent.mkdir(parents=True, exist_ok=True)
    OPENAPI_FILE.write_text(document, encoding="utf-8")
    print(f"wrote {OPENAPI_FILE}")
    return 0


def cmd_serve(host: str, port: int, workers: int, reload: bool) -> None:
    import uvicorn

    uvicorn.run("app.main:build_app", factory=True, host=host, port=port, workers=workers,
                reload=reload, log_config=None, proxy_headers=True)


def cmd_create_user(args: argparse.Namespace) -> int:
    import uuid

    from app.services import setup

    user = asyncio.run(setup.create_user(
        username=args.username, password=args.password, role=args.role,
        team_id=uuid.UUID(args.team) if args.team else None, full_name=args.full_name or "",
    ))
    print(f"created user {user.username} ({user.role}) id={user.id}")
    return 0


def cmd_seed_demo(if_empty: bool) -> int:
    from app.services import setup

    result = asyncio.run(setup.seed_demo(if_empty=if_empty))
    if result is None:
        print("database already has users; demo data not seeded")
        return 0
    print("Demo organisation created. Log in with any of these (password for all: "
          f"{result.password}):")
    for username, role in result.users:
        print(f"  {username:<12} {role}")
    for line in result.summary:
        print(f"  {line}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crm", description="Sales CRM API service")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations")
    serve = sub.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--reload", action="store_true")
    create = sub.add_parser("create-user", help="create a user account")
    create.add_argument("--username", required=True)
    create.add_argument("--password", required=True)
    create.add_argument("--role", required=True,
                        choices=["admin", "director", "manager", "rep", "support", "finance",
                                 "integration"])
    create.add_argument("--team")
    create.add_argument("--full-name")
    seed = sub.add_parser("seed-demo", help="create a demo organisation")
    seed.add_argument("--if-empty", action="store_true",
                      help="do nothing when the database already has users")
    sub.add_parser("worker", help="deliver webhooks (as its own process; the server runs one too)")
    api = sub.add_parser("openapi", help="write openapi/openapi.json")
    api.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args(argv)

    if args.command == "migrate":
        migrate()
        return 0
    if args.command == "serve":
        cmd_serve(args.host, args.port, args.workers, args.reload)
        return 0
    if args.command == "create-user":
        return cmd_create_user(args)
    if args.command == "seed-demo":
        return cmd_seed_demo(args.if_empty)
    if args.command == "openapi":
        return cmd_openapi(args.check)
    if args.command == "worker":
        return cmd_worker()
    return 2


def cmd_worker() -> int:
    """Deliver webhooks until interrupted."""
    import asyncio
    import contextlib

    from app import logs
    from app.config import get_settings
    from app.db.engine import make_engine, make_session_factory
    from app.services import webhook_worker

    settings = get_settings()
    logs.configure(settings.log_level)

    async def run() -> None:
        engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
        try:
            await webhook_worker.run_forever(make_session_factory(engine))
        finally:
            await engine.dispose()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
