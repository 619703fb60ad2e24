"""Streamed CSV/NDJSON exports: the shared streaming, and the contract, receivable and
payment exports an integrator pulls (the customer export lives in ``customer_io``)."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from app.db.base import utcnow
from app.db.models import Contract, Payment, Receivable
from app.db.uow import UnitOfWork
from app.domain.credit import overdue_before, receivable_standing
from app.domain.roles import Principal
from app.services.common import business_tz

ExportFormat = Literal["csv", "ndjson"]
EXPORT_CHUNK = 1_000
MEDIA_TYPES: dict[str, str] = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
# A cell a spreadsheet could take for a formula ("=HYPERLINK(...)") gets a leading quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Record = dict[str, Any]
# Reads the chunk after the given id in a short transaction: answers its records and the
# id to continue after, or None when this was the last chunk.
FetchChunk = Callable[[uuid.UUID | None], Awaitable[tuple[list[Record], uuid.UUID | None]]]


@dataclass(frozen=True, slots=True)
class Export:
    filename: str
    media_type: str
    chunks: AsyncIterator[bytes]


def timestamp(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def plain(value: Any) -> Any:
    """A column value as JSON carries it: ids and money as strings, times as ISO 8601 UTC."""
    if isinstance(value, dt.datetime):
        return timestamp(value)
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    return value


def csv_cells(record: Record, columns: Sequence[str], guarded: frozenset[str]) -> list[str]:
    cells = []
    for column in columns:
        value = record[column]
        cell = "" if value is None else str(value)
        if column in guarded and cell.startswith(FORMULA_START):
            cell = "'" + cell
        cells.append(cell)
    return cells


def _encode(records: list[Record], fmt: ExportFormat, to_cells: Callable[[Record], list[str]]) -> bytes:
    if fmt == "ndjson":
        return "".join(
            json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records
        ).encode()
    buffer = io.StringIO()
    csv.writer(buffer).writerows(to_cells(r) for r in records)
    return buffer.getvalue().encode()


async def stream(
    fetch: FetchChunk, *, fmt: ExportFormat, columns: Sequence[str], to_cells: Callable[[Record], list[str]]
) -> AsyncIterator[bytes]:
    """The export's bytes: for CSV a header row (after a BOM, so Excel reads UTF-8), then each
    chunk's records as CSV rows or NDJSON lines."""
    if fmt == "csv":
        header = io.StringIO()
        csv.writer(header).writerow(columns)
        yield codecs.BOM_UTF8 + header.getvalue().encode()
    after: uuid.UUID | None = None
    while True:
        records, after = await fetch(after)
        if records:
            yield _encode(records, fmt, to_cells)
        if after is None:
            return


def export_of(
    name: str, fmt: ExportFormat, chunks: AsyncIterator[bytes], *, now: dt.datetime | None = None
) -> Export:
    stamp = (now or utcnow()).astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return Export(filename=f"{name}-{stamp}.{fmt}", media_type=MEDIA_TYPES[fmt], chunks=chunks)


# ----------------------------------------------------------------------------------------
# Contracts, receivables, payments
# ----------------------------------------------------------------------------------------

CONTRACT_COLUMNS = (
    "id",
    "customer_id",
    "number",
    "amount",
    "payment_terms_days",
    "status",
    "owner_id",
    "team_id",
    "created_by",
    "signed_at",
    "signed_by",
    "override_reason",
    "override_by",
    "accepted_at",
    "completed_at",
    "cancelled_at",
    "cancel_reason",
    "created_at",
    "updated_at",
    "version",
)
RECEIVABLE_COLUMNS = (
    "id",
    "contract_id",
    "customer_id",
    "amount",
    "paid_amount",
    "outstanding",
    "status",
    "issued_at",
    "due_at",
    "written_off_at",
    "write_off_reason",
    "created_at",
    "updated_at",
    "version",
)
PAYMENT_COLUMNS = (
    "id",
    "customer_id",
    "amount",
    "unallocated_amount",
    "received_at",
    "reference",
    "created_by",
    "created_at",
    "allocations",
)
_FREE_TEXT = frozenset({"number", "override_reason", "cancel_reason", "write_off_reason", "reference"})


def _fields(row: Any, columns: Iterable[str]) -> Record:
    return {column: plain(getattr(row, column)) for column in columns}


def _contract_record(contract: Contract) -> Record:
    return _fields(contract, CONTRACT_COLUMNS)


def _receivable_record(receivable: Receivable) -> Record:
    status, outstanding = receivable_standing(
        receivable.amount, receivable.paid_amount, written_off=receivable.written_off_at is not None
    )
    stored = [c for c in RECEIVABLE_COLUMNS if c not in ("status", "outstanding")]
    return {**_fields(receivable, stored), "status": status, "outstanding": plain(outstanding)}


def _cells(columns: Sequence[str]) -> Callable[[Record], list[str]]:
    return lambda record: csv_cells(record, columns, _FREE_TEXT)


def _payment_cells(record: Record) -> list[str]:
    flat = {
        **record,
        "allocations": ";".join(f"{a['receivable_id']}:{a['amount']}" for a in record["allocations"]),
    }
    return csv_cells(flat, PAYMENT_COLUMNS, _FREE_TEXT)


def _fetcher(
    uow: UnitOfWork,
    build: Callable[[UnitOfWork], Any],
    id_column: Any,
    to_records: Callable[[UnitOfWork, list[Any]], Awaitable[list[Record]]],
) -> FetchChunk:
    async def fetch(after: uuid.UUID | None) -> tuple[list[Record], uuid.UUID | None]:
        # A short transaction per chunk: the response streams long after the request's
        # dependencies are done.
        async with uow:
            rows = await uow.exports.chunk_after(
                build(uow), id_column=id_column, after_id=after, limit=EXPORT_CHUNK
            )
            records = await to_records(uow, rows)
        return records, (rows[-1].id if len(rows) == EXPORT_CHUNK else None)

    return fetch


def _each(convert: Callable[[Any], Record]) -> Callable[[UnitOfWork, list[Any]], Awaitable[list[Record]]]:
    async def records(uow: UnitOfWork, rows: list[Any]) -> list[Record]:
        return [convert(row) for row in rows]

    return records


def export_contracts(
    uow: UnitOfWork,
    actor: Principal,
    *,
    customer_id: uuid.UUID | None,
    status: str | None,
    updated_since: dt.datetime | None,
    fmt: ExportFormat,
) -> Export:
    """Every contract in the caller's scope matching the list filters, streamed by id."""
    fetch = _fetcher(
        uow,
        lambda u: u.contracts.filtered(
            actor, customer_id=customer_id, status=status, updated_since=updated_since
        ),
        Contract.id,
        _each(_contract_record),
    )
    return export_of(
        "contracts", fmt, stream(fetch, fmt=fmt, columns=CONTRACT_COLUMNS, to_cells=_cells(CONTRACT_COLUMNS))
    )


def export_receivables(
    uow: UnitOfWork,
    actor: Principal,
    *,
    customer_id: uuid.UUID | None,
    contract_id: uuid.UUID | None,
    status: Literal["open", "paid", "written_off"] | None,
    overdue: bool | None,
    updated_since: dt.datetime | None,
    fmt: ExportFormat,
) -> Export:
    """Every receivable in the caller's scope matching the list filters, streamed by id."""
    # "Overdue" as the list means it: past due by calendar days in the business time zone.
    overdue_at = overdue_before(utcnow(), business_tz()) if overdue else None
    fetch = _fetcher(
        uow,
        lambda u: u.receivables.filtered(
            actor,
            customer_id=customer_id,
            contract_id=contract_id,
            status=status,
            overdue_at=overdue_at,
            updated_since=updated_since,
        ),
        Receivable.id,
        _each(_receivable_record),
    )
    return export_of(
        "receivables",
        fmt,
        stream(fetch, fmt=fmt, columns=RECEIVABLE_COLUMNS, to_cells=_cells(RECEIVABLE_COLUMNS)),
    )


async def _payment_records(uow: UnitOfWork, payments: list[Payment]) -> list[Record]:
    by_payment: dict[uuid.UUID, list[Record]] = {}
    for row in await uow.receivables.applications_of([p.id for p in payments]):
        by_payment.setdefault(row.payment_id, []).append(
            {"receivable_id": str(row.receivable_id), "amount": plain(row.amount)}
        )
    stored = [c for c in PAYMENT_COLUMNS if c != "allocations"]
    return [{**_fields(p, stored), "allocations": by_payment.get(p.id, [])} for p in payments]


def export_payments(
    uow: UnitOfWork,
    actor: Principal,
    *,
    customer_id: uuid.UUID | None,
    updated_since: dt.datetime | None,
    fmt: ExportFormat,
) -> Export:
    """Every payment in the caller's scope (with its allocations), streamed by id."""
    fetch = _fetcher(
        uow,
        lambda u: u.receivables.payments_filtered(
            actor, customer_id=customer_id, updated_since=updated_since
        ),
        Payment.id,
        _payment_records,
    )
    return export_of(
        "payments", fmt, stream(fetch, fmt=fmt, columns=PAYMENT_COLUMNS, to_cells=_payment_cells)
    )
