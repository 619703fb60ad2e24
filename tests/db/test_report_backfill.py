"""The migration that adds the funnel report aggregates back-fills them from the transitions
already stored: a database at the previous revision with a history, upgraded, holds the
aggregates a from-scratch computation gives (on a scratch SQLite file of its own)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.db import report_aggregates
from app.db.engine import make_engine
from app.db.models import ReportFunnelCount, ReportFunnelDuration, StageTransition, User
from app.domain.reports import recompute
from tests.conftest import ROOT
from tests.support.builders import _customer_row

PREVIOUS = "c4e8f2a6b1d3"


def _upgrade(connection: Any, revision: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def test_the_migration_back_fills_the_aggregates(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/old.db")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade, PREVIOUS)
            session = AsyncSession(bind=conn)  # no unit of work: no aggregate listener
            user = User(username="rep", role="rep", password_hash="x", full_name="Rep")
            session.add(user)
            await session.flush()
            rep = user.id
            start = dt.datetime(2026, 5, 4, 2, 0, tzinfo=dt.UTC)
            for number in range(3):
                row = _customer_row(
                    name=f"c{number}",
                    owner=user,
                    team=None,
                    stage="lead",
                    kind="company",
                    uscc=None,
                    source="other",
                    fields={},
                )
                session.add(row)
                await session.flush()
                customer = row.id
                path = [(None, "resource"), ("resource", "graded"), ("graded", "lead")][: number + 1]
                for hours, (from_stage, to_stage) in enumerate(path):
                    await conn.execute(
                        insert(StageTransition.__table__).values(
                            id=uuid.uuid4(),
                            customer_id=customer,
                            from_stage=from_stage,
                            to_stage=to_stage,
                            kind="x",
                            at=start + dt.timedelta(hours=30 * hours),
                            owner_id=rep,
                            skipped=[],
                            out_of_funnel=to_stage == "lead",
                            director_override=False,
                        )
                    )
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade, "head")
        async with engine.connect() as conn:
            expected = await conn.run_sync(
                lambda c: recompute(report_aggregates.histories(c), get_settings().tz).cleaned()
            )
            counts = {
                (r.day, r.metric, r.key): r.count
                for r in await conn.execute(select(ReportFunnelCount.__table__))
            }
            durations = {
                (r.day, r.stage, r.centidays): r.count
                for r in await conn.execute(select(ReportFunnelDuration.__table__))
            }
    finally:
        await engine.dispose()
    assert counts == {(day, metric, key): n for (day, _, _, metric, key), n in expected.counts.items()}
    assert durations == {(day, stage, c): n for (day, _, _, stage, c), n in expected.durations.items()}
    # Hand-counted: three customers entered resource on 4 May, two of them converted.
    assert counts[(dt.date(2026, 5, 4), "entered", "resource")] == 3
    assert counts[(dt.date(2026, 5, 4), "converted", "resource")] == 2
    assert durations[(dt.date(2026, 5, 4), "resource", 125)] == 2
