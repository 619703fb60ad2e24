"""The integration change feed: every change to the pulled collections, in commit order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from app.domain import changes as feed
from app.domain import errors
from app.domain.roles import Principal
from app.routers.deps import Cursor, UoW, allow
from app.routers.problems import PAGED, responses
from app.routers.schemas.changes import ChangePage, ChangeRead
from app.routers.schemas.contracts import ContractRead, payment_read, receivable_read
from app.routers.schemas.customers import ContactRead, CustomerRead, activity_read
from app.routers.schemas.tasks import TaskRead
from app.services import changes as changes_service

router = APIRouter(prefix="/changes", tags=["changes"])

Reader = Annotated[Principal, allow(*changes_service.FEED_READERS)]

# Each record travels as its own GET answers it.
_READ: dict[str, Callable[[Any], Any]] = {
    "customer": CustomerRead.model_validate,
    "contact": ContactRead.model_validate,
    "activity": activity_read,
    "task": TaskRead.model_validate,
    "contract": ContractRead.model_validate,
    "receivable": receivable_read,
    "payment": payment_read,
}


def _read(entry: changes_service.FeedEntry) -> ChangeRead:
    data = None if entry.record is None else _READ[entry.type](entry.record).model_dump(mode="json")
    return ChangeRead(
        seq=entry.seq,
        type=entry.type,
        op=entry.op,
        id=entry.id,  # type: ignore[arg-type]
        at=entry.at,
        version=entry.version,
        data=data,
        merged_into=entry.merged_into,
    )


@router.get(
    "",
    operation_id="changes_list",
    response_model=ChangePage,
    response_model_exclude_none=True,
    responses=responses(errors.Forbidden, errors.ChangesScopeRestricted, errors.CursorExpired, *PAGED),
)
async def list_changes(
    actor: Reader,
    uow: UoW,
    cursor: Cursor = None,
    limit: Annotated[
        int, Query(ge=1, le=feed.MAX_LIMIT, description="Entries per page")
    ] = feed.DEFAULT_LIMIT,
    types: Annotated[
        str | None, Query(max_length=200, description="Comma-separated: " + ",".join(feed.FEED_TYPES))
    ] = None,
    from_: Annotated[
        Literal["now"] | None,
        Query(alias="from", description="`now`: no entries, just a cursor at the current end (for a resync)"),
    ] = None,
) -> ChangePage:
    """Every create, update, delete and merge of customers, contacts, activities, tasks,
    contracts, receivables and payments, in commit order, without gaps. Without a cursor it
    starts at the oldest entry kept. A cursor older than `CRM_CHANGE_RETENTION_DAYS` answers 410
    `changes.cursor_expired`: resync as docs/integration.md says."""
    page = await changes_service.read(
        uow, actor, cursor=cursor, limit=limit, types=types, from_now=from_ == "now"
    )
    return ChangePage(
        items=[_read(e) for e in page.items], next_cursor=page.next_cursor, has_more=page.has_more
    )
