"""Follow-up tasks: statuses, when a task counts as completed, and the follow-up an activity asks for."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum


class TaskStatus(StrEnum):
    open = "open"
    done = "done"
    cancelled = "cancelled"


class TaskSource(StrEnum):
    manual = "manual"
    # Created from an activity's ``next_follow_up_at``; it follows that field.
    follow_up = "follow_up"


def completed_at_for(
    *, old_status: str | None, new_status: str, current: dt.datetime | None, now: dt.datetime
) -> dt.datetime | None:
    """A task is completed when it leaves ``open`` (done or cancelled), and no longer once it
    is reopened; closing an already closed task keeps the first time."""
    if new_status == TaskStatus.open:
        return None
    if old_status is None or old_status == TaskStatus.open or current is None:
        return now
    return current


FOLLOW_UP_TITLE_LENGTH = 200


def follow_up_title(*, activity_type: str, subject: str | None) -> str:
    """The title of the task an activity's ``next_follow_up_at`` creates."""
    title = f"Follow up: {subject.strip()}" if subject and subject.strip() else f"Follow up ({activity_type})"
    return title[:FOLLOW_UP_TITLE_LENGTH]


__all__ = ["TaskSource", "TaskStatus", "completed_at_for", "follow_up_title"]
