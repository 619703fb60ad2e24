"""The ``crm`` command: migrate, serve, create-user, seed-demo, rebuild-report-aggregates,
openapi."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path

from app.config import get_settings

ROOT = Path(__file__).resolve().parent.parent
OPENAPI_FILE = ROOT / "openapi" / "openapi.json"
CONVENTIONS_FILE = ROOT / "docs" / "api-conventions.md"


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


def conventions_document() -> str:
    """docs/api-conventions.md with its error catalogue table generated from the code."""
    from app.routers.problems import with_catalogue

    return with_catalogue(CONVENTIONS_FILE.read_text(encoding="utf-8"))


def cmd_openapi(check: bool) -> int:
    """Write (or check) openapi/openapi.json and the error table of docs/api-conventions.md."""
    generated = {OPENAPI_FILE: openapi_document(), CONVENTIONS_FILE: conventions_document()}
    if check:
        stale = [
            path
            for path, text in generated.items()
            if (path.read_text(encoding="utf-8") if path.exists() else "") != text
        ]
        for path in stale:
            print(f"{path} is out of date; run 'crm openapi' and commit it", file=sys.stderr)
        if not stale:
            print("openapi/openapi.json and the error catalogue are current")
        return 1 if stale else 0
    for path, text in generated.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


def _port_taken(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be served on, or None. Checked before uvicorn starts, which
    would log the bind error and exit without saying what to do."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot resolve host {host!r}: {exc.strerror}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return f"cannot listen on {host}:{port}: {exc.strerror}"
    return None


def cmd_serve(host: str, port: int, workers: int, reload: bool) -> int:
    import uvicorn

    if problem := _port_taken(host, port):
        print(f"crm serve: {problem}. Is another server running? Stop it or pass --port.", file=sys.stderr)
        return 1

    uvicorn.run(
        "app.main:build_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        log_config=None,
        proxy_headers=True,
    )


async def _with_uow(work):  # type: ignore[no-untyped-def]
    """Run ``work(uow)`` against the configured database, then dispose of the engine."""
    from app.db.engine import make_engine, make_session_factory
    from app.db.uow import UnitOfWork

    engine = make_engine(get_settings().database_url)
    try:
        return await work(UnitOfWork(make_session_factory(engine)))
    finally:
        await engine.dispose()


def cmd_create_user(args: argparse.Namespace) -> int:
    import uuid

    from app.domain.roles import Principal, Role
    from app.services import users as users_service

    system = Principal(user_id=uuid.UUID(int=0), role=Role.admin, team_id=None)
    user = asyncio.run(
        _with_uow(
            lambda uow: users_service.create_user(
                uow,
                system,
                username=args.username,
                password=args.password,
                role=Role(args.role),
                team_id=uuid.UUID(args.team) if args.team else None,
                full_name=args.full_name or "",
            )
        )
    )
    print(f"created user {user.username} ({user.role}) id={user.id}")
    return 0


def cmd_seed_demo(if_empty: bool) -> int:
    from app.demo import seed_demo_with

    result = asyncio.run(_with_uow(lambda uow: seed_demo_with(uow, if_empty=if_empty)))
    if result is None:
        print("database already has users; demo data not seeded")
        return 0
    print(f"Demo organisation created. Log in with any of these (password for all: {result.password}):")
    for username, role in result.users:
        print(f"  {username:<12} {role}")
    for line in result.summary:
        print(f"  {line}")
    return 0


def cmd_rebuild_report_aggregates() -> int:
    from app.services import reports_funnel

    replayed = asyncio.run(reports_funnel.rebuild_aggregates_now())
    print(f"report aggregates rebuilt from the transitions of {replayed} customers")
    return 0


def _reporting_failures(command: str, run: Callable[[], int]) -> int:
    """Run a command that writes data; a refusal or an unreachable database is one line on
    stderr and exit status 1, not a traceback."""
    from app.db.engine import is_unavailable
    from app.domain.errors import DomainError, IntegrityConflict, UsernameTaken

    try:
        return run()
    except DomainError as exc:
        seeded = command == "seed-demo" and isinstance(exc, IntegrityConflict | UsernameTaken)
        hint = SEED_HINT if seeded else ""
        print(f"crm {command}: {exc.detail}{hint}", file=sys.stderr)
    except Exception as exc:
        if is_unavailable(exc):
            print(
                f"crm {command}: the database is not reachable ({type(exc).__name__}); "
                "is it running, and is CRM_DATABASE_URL right?",
                file=sys.stderr,
            )
        elif _schema_missing(exc):
            print(f"crm {command}: the database has no tables yet; run 'crm migrate' first", file=sys.stderr)
        else:
            raise
    return 1


def _schema_missing(exc: BaseException) -> bool:
    # SQLite: "no such table"; PostgreSQL: SQLSTATE 42P01 (undefined table).
    orig = getattr(exc, "orig", None)
    return "no such table" in str(orig) or getattr(orig, "sqlstate", None) == "42P01"


SEED_HINT = (
    " — the database already holds demo data (or users with its usernames); seed an empty "
    "database, or pass --if-empty to skip quietly when it has users"
)


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
    create.add_argument(
        "--role",
        required=True,
        choices=["admin", "director", "manager", "rep", "support", "finance", "integration"],
    )
    create.add_argument("--team")
    create.add_argument("--full-name")
    seed = sub.add_parser("seed-demo", help="create a demo organisation")
    seed.add_argument(
        "--if-empty", action="store_true", help="do nothing when the database already has users"
    )
    sub.add_parser("worker", help="deliver webhooks (as its own process; the server runs one too)")
    sub.add_parser(
        "rebuild-report-aggregates", help="recompute the funnel report aggregates from the stored transitions"
    )
    api = sub.add_parser("openapi", help="write openapi/openapi.json and the error table in docs")
    api.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args(argv)

    if args.command == "migrate":
        migrate()
        return 0
    if args.command == "serve":
        return cmd_serve(args.host, args.port, args.workers, args.reload)
    writers: dict[str, Callable[[], int]] = {
        "create-user": lambda: cmd_create_user(args),
        "seed-demo": lambda: cmd_seed_demo(args.if_empty),
        "rebuild-report-aggregates": cmd_rebuild_report_aggregates,
    }
    if args.command in writers:
        return _reporting_failures(args.command, writers[args.command])
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
