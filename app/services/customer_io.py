"""The customer import and export use cases: a CSV/XLSX upload becomes customers in one
transaction (with a report of created, duplicate and rejected rows), and the customers in
scope stream out as CSV/NDJSON. Reading the file is ``app.services.spreadsheets``; validating
its rows is ``app.services.customer_rows``."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from app.db.base import utcnow
from app.db.models import Contact, Customer
from app.db.repositories.customers import CustomerFilters
from app.db.uow import UnitOfWork
from app.domain.errors import DomainError, Forbidden, ImportRowsRejected, QuotaExceeded
from app.domain.funnel import Stage
from app.domain.ownership import PoolPolicy, check_quota, decide_initial_owner
from app.domain.roles import DUPLICATE_OVERRIDERS, Principal, masks_contact_details
from app.services import customers as customers_service
from app.services import exports
from app.services import funnel as funnel_service
from app.services import settings as settings_service
from app.services.customer_rows import ImportRow, parse_upload, row_error
from app.services.spreadsheets import MAX_BYTES, MAX_ROWS

ImportMode = Literal["all_or_nothing", "partial"]

# The upload limits the route applies while reading the request (MAX_BYTES) and the tests use.
__all__ = ["MAX_BYTES", "MAX_ROWS", "ImportReport", "export_customers", "import_customers"]

INSERT_BATCH = 500
MAX_CANDIDATES = 20


# ----------------------------------------------------------------------------------------
# What the import answers
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportCandidate:
    id: uuid.UUID
    name: str
    matched_on: tuple[str, ...]


@dataclass(slots=True)
class ImportDuplicate:
    row: int
    name: str | None
    candidates: list[ImportCandidate]
    duplicate_of_row: int | None
    matched_on: list[str]  # the keys shared with ``duplicate_of_row``
    created_id: uuid.UUID | None = None  # set when allow_duplicate imported it anyway


@dataclass(frozen=True, slots=True)
class ImportRejected:
    row: int
    name: str | None
    errors: list[dict[str, Any]]


@dataclass(slots=True)
class ImportReport:
    mode: ImportMode
    committed: bool
    format: str
    encoding: str | None
    total_rows: int
    created: int
    created_ids: list[uuid.UUID]
    duplicates: list[ImportDuplicate]
    rejected: list[ImportRejected]
    unknown_columns: list[str]
    ignored_columns: list[str]


# ----------------------------------------------------------------------------------------
# Import
# ----------------------------------------------------------------------------------------


async def _resolve_owners(
    uow: UnitOfWork, actor: Principal, rows: list[ImportRow]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Owners named in the file, locked like create locks them (their row guards the holding
    limit); answers {username: user} and {username: why they cannot own customers}."""
    users, problems = {}, {}
    for username in sorted({r.owner_username for r in rows if r.owner_username}):
        user = await uow.users.get_by_username(username)
        if user is None:
            problems[username] = f"no user named {username!r}"
        else:
            users[username] = user
    for username, user in sorted(users.items(), key=lambda item: item[1].id):  # one lock order
        try:
            await customers_service.check_owner_in(uow, actor, user.id)
        except DomainError as exc:
            problems[username] = exc.detail
    return {u: user for u, user in users.items() if u not in problems}, problems


def _candidates(row: ImportRow, matches: dict[tuple[str, str], list[Any]]) -> list[ImportCandidate]:
    found: dict[uuid.UUID, tuple[Any, set[str]]] = {}
    for key in row.dedup_keys():
        for match in matches.get(key, ()):
            found.setdefault(match.customer_id, (match, set()))[1].add(match.matched_on)
    ordered = sorted(found.values(), key=lambda item: (item[0].created_at, str(item[0].customer_id)))
    return [
        ImportCandidate(m.customer_id, m.name, tuple(sorted(reasons)))
        for m, reasons in ordered[:MAX_CANDIDATES]
    ]


def _new_customer(
    row: ImportRow, actor: Principal, policy: PoolPolicy, now: dt.datetime
) -> tuple[Customer, list[Contact]]:
    assert row.id is not None
    # The owner named in the file found a self-discovered customer, not the uploading steward.
    owner = decide_initial_owner(
        creator=actor,
        requested_owner_id=row.owner_id,
        source=row.fields["source"],
        policy=policy,
        found_by_owner=True,
    )
    return customers_service.build_customer(
        customer_id=row.id,
        fields=row.fields,
        stage=Stage.resource,
        owner=owner,
        team_id=row.team_id,
        created_by=actor.user_id,
        now=now,
        contacts=[row.contact] if row.contact is not None else [],
    )


async def _insert(
    uow: UnitOfWork, actor: Principal, rows: list[ImportRow], policy: PoolPolicy, now: dt.datetime
) -> None:
    """Batched inserts: a few statements per ``INSERT_BATCH`` rows, not several per row."""
    for start in range(0, len(rows), INSERT_BATCH):
        built = [_new_customer(row, actor, policy, now) for row in rows[start : start + INSERT_BATCH]]
        for customer, _ in built:
            uow.customers.add(customer)
        await uow.flush()
        contacts = [contact for _, row_contacts in built for contact in row_contacts]
        for contact in contacts:
            uow.contacts.add(contact)
        await uow.flush()
        await uow.contacts.add_points(contacts)
        for customer, row_contacts in built:
            funnel_service.record_entry_in(uow, customer, actor_id=actor.user_id, now=now)
            uow.history.record(
                customer_id=customer.id,
                actor_id=actor.user_id,
                action="import",
                at=now,
                changes=customers_service.created_changes(customer, len(row_contacts)),
            )
        await uow.flush()
        # The identity map would otherwise hold every imported row until the commit.
        uow.session.expunge_all()


async def import_customers(
    uow: UnitOfWork,
    actor: Principal,
    *,
    content: bytes,
    filename: str | None,
    content_type: str | None,
    mode: ImportMode = "all_or_nothing",
    allow_duplicate: bool = False,
) -> ImportReport:
    """Validate every row of a CSV/XLSX file and create the customers in one transaction.

    ``all_or_nothing`` creates nothing if any row is rejected or a duplicate (the report
    travels in the ``import.rejected`` problem); ``partial`` creates the valid rows.
    """
    if allow_duplicate and actor.role not in DUPLICATE_OVERRIDERS:
        raise Forbidden("Only support and directors may import known duplicates")
    parsed = await asyncio.to_thread(parse_upload, content, filename=filename, content_type=content_type)
    rows = parsed.rows
    report = ImportReport(
        mode=mode,
        committed=False,
        format=parsed.sheet.format,
        encoding=parsed.sheet.encoding,
        total_rows=len(rows),
        created=0,
        created_ids=[],
        duplicates=[],
        rejected=[],
        unknown_columns=parsed.columns.unknown,
        ignored_columns=parsed.columns.ignored,
    )
    now = utcnow()
    async with uow:
        valid = [r for r in rows if not r.errors]
        # Keys first, owners second: the order create takes its locks in.
        await uow.customers.lock_keys(value for r in valid for _, value in r.dedup_keys())
        found = await uow.customers.find_key_matches(
            usccs=[v for r in valid for k, v in r.dedup_keys() if k == "uscc"],
            name_keys=[r.fields["name_key"] for r in valid],
            phones=[v for r in valid for k, v in r.dedup_keys() if k == "phone"],
            emails=[v for r in valid for k, v in r.dedup_keys() if k == "email"],
        )
        matches: dict[tuple[str, str], list[Any]] = {}
        for match in found:
            matches.setdefault((match.matched_on, match.key), []).append(match)
        owners, owner_problems = await _resolve_owners(uow, actor, rows)
        policy = await settings_service.pool_policy_in(uow)
        held = {user.id: await uow.customers.count_active_owned(user.id) for user in owners.values()}

        first_row_of: dict[tuple[str, str], int] = {}
        to_create: list[ImportRow] = []
        imported_duplicates: list[tuple[ImportDuplicate, ImportRow]] = []
        for row in rows:
            if row.owner_username in owner_problems:
                row.errors.append(
                    row_error(["owner_username"], owner_problems[row.owner_username], "value_error.owner")
                )
            if row.errors:
                report.rejected.append(ImportRejected(row.number, row.name, row.errors))
                continue
            earlier: dict[int, set[str]] = {}
            for kind, value in row.dedup_keys():
                if (kind, value) in first_row_of:
                    earlier.setdefault(first_row_of[kind, value], set()).add(kind)
            candidates = _candidates(row, matches)
            duplicate = None
            if candidates or earlier:
                of_row = min(earlier) if earlier else None
                duplicate = ImportDuplicate(
                    row.number, row.name, candidates, of_row, sorted(earlier[of_row]) if of_row else []
                )
                if not allow_duplicate:
                    report.duplicates.append(duplicate)
                    continue
            owner = owners.get(row.owner_username or "")
            if owner is not None:
                try:
                    check_quota(held[owner.id], policy=policy)
                except QuotaExceeded as exc:
                    report.rejected.append(
                        ImportRejected(
                            row.number,
                            row.name,
                            [row_error(["owner_username"], f"{row.owner_username}: {exc.detail}", exc.code)],
                        )
                    )
                    continue
                held[owner.id] += 1
                row.owner_id, row.team_id = owner.id, owner.team_id
            row.id = uuid.uuid4()
            if duplicate is not None:
                imported_duplicates.append((duplicate, row))
                report.duplicates.append(duplicate)
            for key in row.dedup_keys():
                first_row_of.setdefault(key, row.number)
            to_create.append(row)

        report.rejected.sort(key=lambda r: r.row)
        refused_duplicates = len(report.duplicates) - len(imported_duplicates)
        if mode == "all_or_nothing" and (report.rejected or refused_duplicates):
            raise ImportRowsRejected(
                f"{len(report.rejected)} rejected and {refused_duplicates} duplicate rows: nothing "
                "was imported. Fix them, or import the valid rows with mode=partial.",
                report=dataclasses.asdict(report),
            )
        await _insert(uow, actor, to_create, policy, now)
        await uow.commit()
    for duplicate, row in imported_duplicates:
        duplicate.created_id = row.id
    report.committed = True
    report.created_ids = [row.id for row in to_create if row.id is not None]
    report.created = len(report.created_ids)
    return report


# ----------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "id",
    "name",
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
    "tags",
    "contacts",
    "phones",
    "emails",
    "completeness",
    "created_at",
    "updated_at",
    "deleted_at",
    "merged_into",
)
# Free text a spreadsheet could take for a formula ("=HYPERLINK(...)"); ids, codes, phones,
# enums and timestamps never start with these characters.
_FORMULA_GUARDED = frozenset(
    {"name", "industry", "region", "address", "website", "tags", "contacts", "emails"}
)


def _record(customer: Customer, contacts: list[customers_service.ContactView]) -> dict[str, Any]:
    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    return {
        "id": str(customer.id),
        "name": customer.name,
        "kind": customer.kind,
        "uscc": customer.uscc,
        "industry": customer.industry,
        "region": customer.region,
        "size": customer.size,
        "address": customer.address,
        "website": customer.website,
        "stage": customer.stage,
        "grade": customer.grade,
        "owner_id": text(customer.owner_id),
        "team_id": text(customer.team_id),
        "source": customer.source,
        "tags": list(customer.tags or []),
        "contacts": [
            {
                "id": str(c.id),
                "name": c.name,
                "title": c.title,
                "phones": c.phones,
                "emails": c.emails,
                "wechat": c.wechat,
                "is_primary": c.is_primary,
                "masked": c.masked,
            }
            for c in contacts
        ],
        "completeness": customer.completeness,
        "created_at": exports.timestamp(customer.created_at),
        "updated_at": exports.timestamp(customer.updated_at),
        "deleted_at": exports.timestamp(customer.deleted_at),
        "merged_into": text(customer.merged_into),
    }


def _csv_cells(record: dict[str, Any]) -> list[str]:
    contacts = record["contacts"]
    flat = {
        **record,
        "tags": ";".join(record["tags"]),
        "contacts": ";".join(c["name"] for c in contacts),
        "phones": ";".join(p for c in contacts for p in c["phones"]),
        "emails": ";".join(e for c in contacts for e in c["emails"]),
    }
    return exports.csv_cells(flat, EXPORT_COLUMNS, _FORMULA_GUARDED)


def _customer_chunks(uow: UnitOfWork, actor: Principal, filters: CustomerFilters) -> exports.FetchChunk:
    async def fetch(after: uuid.UUID | None) -> tuple[list[dict[str, Any]], uuid.UUID | None]:
        # A short transaction per chunk: the response streams long after the request's
        # dependencies are done, and no snapshot is held open for the whole download.
        async with uow:
            customers = await uow.customers.chunk_after(
                actor, filters, after_id=after, limit=exports.EXPORT_CHUNK
            )
            contacts = await uow.contacts.for_customers([c.id for c in customers])
        by_customer: dict[uuid.UUID, list[Contact]] = {}
        for contact in contacts:
            by_customer.setdefault(contact.customer_id, []).append(contact)
        records = []
        for customer in customers:
            masked = masks_contact_details(actor, owner_id=customer.owner_id)
            views = [
                customers_service.contact_view(c, masked=masked) for c in by_customer.get(customer.id, [])
            ]
            records.append(_record(customer, views))
        return records, (customers[-1].id if len(customers) == exports.EXPORT_CHUNK else None)

    return fetch


def export_customers(
    uow: UnitOfWork,
    actor: Principal,
    *,
    filters: CustomerFilters,
    fmt: exports.ExportFormat,
    now: dt.datetime | None = None,
) -> exports.Export:
    """Every customer in the caller's scope matching the list filters, streamed in keyset
    chunks of ``exports.EXPORT_CHUNK`` (contacts masked as in the API)."""
    fetch = _customer_chunks(uow, actor, customers_service.customer_filters(filters, actor))
    chunks = exports.stream(fetch, fmt=fmt, columns=EXPORT_COLUMNS, to_cells=_csv_cells)
    return exports.export_of("customers", fmt, chunks, now=now)
