"""Sales targets (销售目标分解, SPEC §9): periods, levels, decomposition and pace. Pure rules."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from app.domain.errors import InvalidInput, TargetInvalidParent
from app.domain.reports import Period

_CENT = Decimal("0.01")
_PERIOD = re.compile(r"^(?P<year>\d{4})(?:-(?:(?P<month>\d{2})|Q(?P<quarter>[1-4])))?$")


class Level(StrEnum):
    company = "company"
    team = "team"
    rep = "rep"


# A target's parent is one level up: company → team → rep (a sub-team's under its parent's).
PARENT_LEVELS: dict[Level, frozenset[Level]] = {
    Level.company: frozenset(),
    Level.team: frozenset({Level.company, Level.team}),
    Level.rep: frozenset({Level.team}),
}


def parse_period(text: str) -> Period:
    """``2026`` (a year), ``2026-Q4`` (a quarter) or ``2026-12`` (a month) as ``[start, end)``."""
    match = _PERIOD.match(text or "")
    month = None if match is None or match["month"] is None else int(match["month"])
    if match is None or (month is not None and not 1 <= month <= 12) or int(match["year"]) < 1900:
        raise InvalidInput(
            "The period is not valid.",
            errors=[
                {
                    "loc": ["period"],
                    "msg": "must be a year (2026), a quarter (2026-Q4) or a month (2026-12)",
                    "type": "value_error",
                }
            ],
        )
    year = int(match["year"])
    if month is not None:
        first, months = month, 1
    elif match["quarter"] is not None:
        first, months = 3 * (int(match["quarter"]) - 1) + 1, 3
    else:
        first, months = 1, 12
    start = dt.date(year, first, 1)
    after = first - 1 + months
    end = dt.date(year + after // 12, after % 12 + 1, 1)
    return Period(start=start, end=end)


def subject_key(
    *,
    period: str,
    level: Level,
    team_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
    product: str | None,
    region: str | None,
) -> str:
    parts = [period, level.value, str(team_id or ""), str(owner_id or ""), product or "", region or ""]
    return "|".join(parts)


def check_shape(level: Level, *, team_id: uuid.UUID | None, owner_id: uuid.UUID | None) -> None:
    """A company target names no team or rep, a team target a team, a rep target a rep."""
    errors = []
    if level is Level.company and (team_id or owner_id):
        errors.append(
            {
                "loc": ["body", "level"],
                "msg": "a company target has no team_id or owner_id",
                "type": "value_error",
            }
        )
    if level is Level.team and (team_id is None or owner_id is not None):
        errors.append(
            {
                "loc": ["body", "team_id"],
                "msg": "a team target needs team_id and no owner_id",
                "type": "value_error",
            }
        )
    if level is Level.rep and owner_id is None:
        errors.append(
            {"loc": ["body", "owner_id"], "msg": "a rep target needs owner_id", "type": "value_error"}
        )
    if errors:
        raise InvalidInput("The target is not valid.", errors=errors)


def check_parent(
    *, level: Level, period: str, parent_level: Level, parent_period: str, parent_covers_subject: bool
) -> None:
    """The parent is one level up, for the same period, and its subject contains the child's."""
    if parent_level not in PARENT_LEVELS[level]:
        raise TargetInvalidParent(
            f"A {level} target decomposes a "
            f"{' or '.join(sorted(PARENT_LEVELS[level])) or 'no'} target, "
            f"not a {parent_level} one."
        )
    if parent_period != period:
        raise TargetInvalidParent("A target decomposes a target of the same period.")
    if not parent_covers_subject:
        raise TargetInvalidParent("The parent target's team does not contain this team or rep.")


def elapsed_share(period: Period, *, today: dt.date) -> Decimal:
    """The share of the period's days gone by the end of ``today`` (0 before, 1 after)."""
    total = (period.end - period.start).days
    gone = min(max((today - period.start).days + 1, 0), total)
    return Decimal(gone) / Decimal(total)


def expected_to_date(amount: Decimal, period: Period, *, today: dt.date) -> Decimal:
    """What an even pace would have reached by the end of ``today``."""
    return (amount * elapsed_share(period, today=today)).quantize(_CENT, rounding=ROUND_HALF_UP)
