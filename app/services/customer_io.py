"""Customer import (CSV/XLSX, validated row by row into a report) and streamed export (CSV/NDJSON)."""

from __future__ import annotations

import asyncio
import codecs
import csv
import dataclasses
import datetime as dt
import io
import re
import uuid
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Literal

from app.db.base import utcnow
from app.db.models import Contact, Customer
from app.db.repositories.customers import CustomerFilters
from app.db.uow import UnitOfWork
from app.domain import normalize
from app.domain.customers import Source
from app.domain.errors import DomainError, Forbidden, RuleViolation, TooLarge
from app.domain.funnel import Stage, is_out_of_funnel_on_create
from app.domain.grading import SIZE_BANDS
from app.domain.ownership import QuotaExceeded, check_quota
from app.domain.roles import DUPLICATE_OVERRIDERS, Principal, masks_contact_details
from app.services import customers as customers_service
from app.services import exports
from app.services import funnel as funnel_service
from app.services import settings as settings_service

ImportMode = Literal["all_or_nothing", "partial"]

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 10_000
# Blank lines are skipped but still read; a sheet padded with a million empty rows is refused.
MAX_LINES = 5 * MAX_ROWS
MAX_COLUMNS = 100
INSERT_BATCH = 500
MAX_CANDIDATES = 20
# The same per-value limits as the API's CustomerCreate / ContactIn.
MAX_TAGS, MAX_TAG_LENGTH, MAX_PHONES, MAX_EMAILS, MAX_NOTES = 30, 50, 10, 10, 5000

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Windows browsers send .csv files as application/vnd.ms-excel; the bytes decide, not the label.
_CSV_MEDIA_TYPES = frozenset({"text/csv", "application/csv", "text/plain", "text/tab-separated-values",
                              "application/vnd.ms-excel", "application/octet-stream", ""})
_CSV_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (BIFF)


# ----------------------------------------------------------------------------------------
# File layout: header names (English or the Chinese labels) and value vocabularies
# ----------------------------------------------------------------------------------------

HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("name", "customer_name", "company", "company_name", "客户名称", "客户名", "公司名称",
             "企业名称"),
    "kind": ("kind", "customer_kind", "客户类型"),
    "uscc": ("uscc", "credit_code", "统一社会信用代码", "社会信用代码", "信用代码"),
    "industry": ("industry", "行业"),
    "region": ("region", "地区", "区域", "所在地区"),
    "size": ("size", "headcount", "规模", "人员规模", "公司规模"),
    "address": ("address", "地址", "公司地址", "详细地址"),
    "website": ("website", "url", "网址", "官网"),
    "source": ("source", "来源", "客户来源"),
    "tags": ("tags", "tag", "标签"),
    "notes": ("notes", "备注"),
    "contact_name": ("contact_name", "contact", "联系人", "联系人姓名"),
    "contact_title": ("contact_title", "title", "职务", "职位"),
    "phone": ("phone", "phones", "mobile", "tel", "手机", "电话", "手机号", "手机号码", "联系电话"),
    "email": ("email", "emails", "e-mail", "邮箱", "电子邮箱", "电子邮件"),
    "wechat": ("wechat", "微信", "微信号"),
    "owner_username": ("owner_username", "owner", "负责人"),
}
# Columns whose cells hold several values; repeating such a column adds values.
_MULTI_VALUED = frozenset({"tags", "phone", "email"})

SOURCE_LABELS: dict[str, str] = {
    "网站": "web", "官网": "web", "展会": "exhibition", "转介绍": "referral", "介绍": "referral",
    "自主开发": "self_discovered", "导入": "import", "来电": "inbound_call", "其他": "other",
    "其它": "other",
}
SOURCES = tuple(s.value for s in Source)
KIND_LABELS: dict[str, str] = {"company": "company", "individual": "individual", "企业": "company",
                               "公司": "company", "单位": "company", "个人": "individual"}

_TAG_SEPARATORS = re.compile(r"[,;，；、|]")
_PHONE_SEPARATORS = re.compile(r"[,;，；、/]")
_EMAIL_SEPARATORS = re.compile(r"[,;，；、\s]")


def _header_key(text: str) -> str:
    """"Contact Name", "contact-name", "联系人（必填）" and "*客户名称" all find their field."""
    key = (normalize.clean_text(text) or "").lower().strip("*").strip()
    key = re.sub(r"\s*\([^)]*\)$", "", key)  # a trailing "(note)"; full-width () are folded already
    return re.sub(r"[\s\-]+", "_", key)


_FIELD_BY_HEADER = {_header_key(alias): name for name, aliases in HEADER_ALIASES.items()
                    for alias in aliases}


def _column_limit(model: Any, name: str) -> int:
    return int(model.__table__.c[name].type.length)


_LENGTH_LIMITS = {
    **{name: _column_limit(Customer, name) for name in ("name", "industry", "region", "address",
                                                        "website")},
    "contact_name": _column_limit(Contact, "name"), "contact_title": _column_limit(Contact, "title"),
    "wechat": _column_limit(Contact, "wechat"), "notes": MAX_NOTES,
}


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
# Reading the file: bytes → (row number, cells)
# ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Sheet:
    format: str
    encoding: str | None
    rows: list[tuple[int, list[str]]]  # non-blank rows only, the header first


def _unsupported(detail: str) -> RuleViolation:
    return RuleViolation(detail, code="import.unsupported_format",
                         accepted=["text/csv (UTF-8, UTF-8 with BOM, GBK/GB18030)", XLSX_MEDIA_TYPE])


def _unreadable(detail: str) -> RuleViolation:
    return RuleViolation(detail, code="import.unreadable")


def _too_large(detail: str) -> TooLarge:
    return TooLarge(detail, code="import.too_large", max_bytes=MAX_BYTES, max_rows=MAX_ROWS)


def _detect_format(content: bytes, filename: str | None, content_type: str | None) -> str:
    suffix = PurePath(filename or "").suffix.lower()
    media_type = (content_type or "").split(";")[0].strip().lower()
    if content.startswith(_ZIP_MAGIC):
        return "xlsx"
    if content.startswith(_OLE_MAGIC) or suffix == ".xls":
        raise _unsupported("Legacy Excel (.xls) files are not supported; save the sheet as .xlsx or CSV")
    if suffix in (".xlsx", ".xlsm") or media_type == XLSX_MEDIA_TYPE:
        raise _unreadable("The file is named or labelled as XLSX but is not a valid workbook")
    if suffix in _CSV_SUFFIXES or (not suffix and media_type in _CSV_MEDIA_TYPES) \
            or (media_type.startswith("text/") and suffix not in (".json", ".xml", ".html")):
        return "csv"
    raise _unsupported(f"Unsupported file type ({filename or 'unnamed'}, {media_type or 'no type'}); "
                       "upload CSV or XLSX")


def _decode(content: bytes) -> tuple[str, str]:
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates: tuple[str, ...] = ("utf-16",)
    else:
        # UTF-8 is strict enough that GBK text practically never passes for it.
        candidates = ("utf-8-sig", "gb18030")
    for encoding in candidates:
        try:
            text = content.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        if encoding == "utf-8-sig":
            encoding = "utf-8-sig" if content.startswith(codecs.BOM_UTF8) else "utf-8"
        return text, encoding
    raise _unreadable("The file is not text in UTF-8, GBK/GB18030 or UTF-16; is it really a CSV?")


def _delimiter(text: str) -> str:
    """Comma unless the header line reads better split by ; or a tab (some Excel locales)."""
    first = next((line for line in text.splitlines() if line.strip()), "")

    def known(delimiter: str) -> int:
        cells = next(csv.reader([first], delimiter=delimiter), [])
        return sum(_header_key(c) in _FIELD_BY_HEADER for c in cells)

    return max((",", ";", "\t"), key=known)  # max keeps the first on a tie


def _non_blank(rows: Iterable[Sequence[str]]) -> Iterator[tuple[int, list[str]]]:
    data_rows = 0
    for number, cells in enumerate(rows, start=1):
        if number > MAX_LINES:
            raise _too_large(f"The file has more than {MAX_LINES} lines")
        values = [str(c).strip() for c in cells[:MAX_COLUMNS]]
        if not any(values):
            continue
        if data_rows > MAX_ROWS:  # the header is not a data row
            raise _too_large(f"The file has more than {MAX_ROWS} rows; split it")
        data_rows += 1
        yield number, values


def _read_csv(content: bytes) -> _Sheet:
    text, encoding = _decode(content)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        rows = list(_non_blank(reader))
    except csv.Error as exc:
        raise _unreadable(f"The CSV cannot be read near line {reader.line_num}: {exc}") from exc
    return _Sheet("csv", encoding, rows)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone typed as a number: 13800138000.0
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _read_xlsx(content: bytes) -> _Sheet:
    import openpyxl  # only imports pay for it
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise _unreadable("The XLSX workbook cannot be opened; save it again from Excel/WPS") from exc
    try:
        if not workbook.worksheets:
            raise _unreadable("The workbook has no worksheet")
        sheet = workbook.worksheets[0]
        values = ([_cell_text(v) for v in row]
                  for row in sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS))
        return _Sheet("xlsx", None, list(_non_blank(values)))
    except DomainError:
        raise
    except Exception as exc:  # a corrupt part inside a valid zip surfaces while iterating
        raise _unreadable("The XLSX workbook cannot be read; save it again from Excel/WPS") from exc
    finally:
        workbook.close()


def read_sheet(content: bytes, *, filename: str | None, content_type: str | None) -> _Sheet:
    if len(content) > MAX_BYTES:
        raise _too_large(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it")
    if not content.strip():
        raise RuleViolation("The file is empty", code="import.empty")
    kind = _detect_format(content, filename, content_type)
    return _read_xlsx(content) if kind == "xlsx" else _read_csv(content)


# ----------------------------------------------------------------------------------------
# Rows: cells → normalised values, with every problem of the row collected
# ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Columns:
    fields: list[tuple[int, str]]  # (cell index, field)
    unknown: list[str]
    ignored: list[str]  # a repeated single-valued column: the first one counts


def _map_header(header: list[str]) -> _Columns:
    columns = _Columns([], [], [])
    seen: set[str] = set()
    for index, title in enumerate(header):
        if not title:
            continue
        name = _FIELD_BY_HEADER.get(_header_key(title))
        if name is None:
            columns.unknown.append(title)
        elif name in seen and name not in _MULTI_VALUED:
            columns.ignored.append(title)
        else:
            seen.add(name)
            columns.fields.append((index, name))
    if "name" not in seen:
        raise RuleViolation(
            "The header row has no customer name column (name / 客户名称)",
            code="import.missing_columns", missing=["name"], unknown_columns=columns.unknown)
    return columns


@dataclass(slots=True)
class _Row:
    number: int
    name: str | None
    errors: list[dict[str, Any]]
    fields: dict[str, Any] = field(default_factory=dict)
    contact: dict[str, Any] | None = None
    owner_username: str | None = None
    id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    _keys: list[tuple[str, str]] | None = None

    def dedup_keys(self) -> list[tuple[str, str]]:
        """The duplicate-detection keys, as create checks them (valid rows only)."""
        if self._keys is None:
            keys = [("uscc", self.fields["uscc"])] if self.fields.get("uscc") else []
            keys.append(("name", self.fields["name_key"]))
            if self.contact:
                keys += [("phone", p) for p in self.contact["phones"]]
                keys += [("email", e) for e in self.contact["emails"]]
            self._keys = keys
        return self._keys


def _error(loc: list[str | int], msg: str, type_: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": type_}


def _split(values: list[str], separators: re.Pattern[str]) -> list[str]:
    return [part.strip() for value in values for part in separators.split(value) if part.strip()]


def _vocabulary(raw: str | None, labels: dict[str, str], *, loc: str, allowed: str,
                errors: list[dict[str, Any]]) -> str | None:
    text = normalize.clean_text(raw)
    if text is None:
        return None
    value = labels.get(text) or labels.get(text.lower())
    if value is None:
        errors.append(_error([loc], f"unknown value {text!r}; expected {allowed}", f"value_error.{loc}"))
    return value


def _size(raw: str | None, errors: list[dict[str, Any]]) -> str | None:
    text = normalize.clean_text(raw)
    if text is None:
        return None
    band = re.sub(r"\s+", "", text).replace("人", "").replace("以上", "+").replace("~", "-")
    if band not in SIZE_BANDS:
        errors.append(_error(["size"], f"unknown size {text!r}; expected one of "
                             f"{', '.join(SIZE_BANDS)}", "value_error.size"))
        return None
    return band


_SOURCE_VALUES = {**{s: s for s in SOURCES}, **SOURCE_LABELS}
_CONTACT_LOCS = {"name": "contact_name", "phones": "phone", "emails": "email"}


def _parse_row(number: int, cells: list[str], columns: _Columns) -> _Row:
    raw: dict[str, list[str]] = {}
    for index, name in columns.fields:
        value = cells[index] if index < len(cells) else ""
        if value:
            raw.setdefault(name, []).append(value)

    def single(name: str) -> str | None:
        return raw.get(name, [None])[0]

    errors: list[dict[str, Any]] = []
    kind = _vocabulary(single("kind"), KIND_LABELS, loc="kind", allowed="company/individual "
                       "(企业/个人)", errors=errors) or "company"
    source = _vocabulary(single("source"), _SOURCE_VALUES, loc="source",
                         allowed=", ".join([*SOURCES, *SOURCE_LABELS]), errors=errors) or "import"
    data = {"name": single("name") or "", "kind": kind, "uscc": single("uscc"),
            "industry": single("industry"), "region": single("region"), "size": _size(single("size"), errors),
            "address": single("address"), "website": single("website"), "notes": single("notes"),
            "tags": _split(raw.get("tags", []), _TAG_SEPARATORS), "source": source}
    body_errors: list[dict[str, Any]] = []
    fields = customers_service.normalize_customer_fields(data, kind=kind, errors=body_errors)
    errors += [{**e, "loc": [p for p in e["loc"] if p != "body"]} for e in body_errors]
    if len(fields.get("tags", [])) > MAX_TAGS:
        errors.append(_error(["tags"], f"at most {MAX_TAGS} tags", "too_long"))
    errors += [_error(["tags", i], f"a tag has at most {MAX_TAG_LENGTH} characters", "string_too_long")
               for i, tag in enumerate(fields.get("tags", [])) if len(tag) > MAX_TAG_LENGTH]

    contact = None
    phones = _split(raw.get("phone", []), _PHONE_SEPARATORS)
    emails = _split(raw.get("email", []), _EMAIL_SEPARATORS)
    if any(raw.get(n) for n in ("contact_name", "contact_title", "phone", "email", "wechat")):
        contact_errors: list[dict[str, Any]] = []
        contact = customers_service.normalize_contact(customers_service.ContactInput(
            name=single("contact_name") or "", title=single("contact_title"), phones=phones,
            emails=emails, wechat=single("wechat"), is_primary=True), loc=(), errors=contact_errors)
        errors += [{**e, "loc": [_CONTACT_LOCS.get(str(e["loc"][0]), e["loc"][0]), *e["loc"][1:]]}
                   for e in contact_errors]
        for loc, values, limit in (("phone", phones, MAX_PHONES), ("email", emails, MAX_EMAILS)):
            if len(values) > limit:
                errors.append(_error([loc], f"at most {limit} values", "too_long"))
    texts = {**fields, "contact_name": contact and contact["name"],
             "contact_title": contact and contact["title"], "wechat": contact and contact["wechat"]}
    for name, limit in _LENGTH_LIMITS.items():
        value = texts.get(name)
        if isinstance(value, str) and len(value) > limit:
            errors.append(_error([name], f"at most {limit} characters", "string_too_long"))
    return _Row(number=number, name=fields.get("name") or normalize.clean_text(single("name")),
                errors=errors, fields=fields, contact=contact,
                owner_username=normalize.clean_text(single("owner_username")))


@dataclass(slots=True)
class _Parsed:
    sheet: _Sheet
    columns: _Columns
    rows: list[_Row]


def parse_upload(content: bytes, *, filename: str | None, content_type: str | None) -> _Parsed:
    """Read and validate every row; no database involved (runs in a worker thread)."""
    sheet = read_sheet(content, filename=filename, content_type=content_type)
    if not sheet.rows:
        raise RuleViolation("The file has no header row", code="import.empty")
    (_, header), *body = sheet.rows
    columns = _map_header(header)
    return _Parsed(sheet, columns, [_parse_row(number, cells, columns) for number, cells in body])


# ----------------------------------------------------------------------------------------
# Import
# ----------------------------------------------------------------------------------------


async def _resolve_owners(uow: UnitOfWork, actor: Principal,
                          rows: list[_Row]) -> tuple[dict[str, Any], dict[str, str]]:
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


def _candidates(row: _Row, matches: dict[tuple[str, str], list[Any]]) -> list[ImportCandidate]:
    found: dict[uuid.UUID, tuple[Any, set[str]]] = {}
    for key in row.dedup_keys():
        for match in matches.get(key, ()):
            found.setdefault(match.customer_id, (match, set()))[1].add(match.matched_on)
    ordered = sorted(found.values(), key=lambda item: (item[0].created_at, str(item[0].customer_id)))
    return [ImportCandidate(m.customer_id, m.name, tuple(sorted(reasons)))
            for m, reasons in ordered[:MAX_CANDIDATES]]


def _new_customer(row: _Row, actor: Principal, now: dt.datetime) -> tuple[Customer, Contact | None]:
    assert row.id is not None
    values = {k: v for k, v in row.fields.items() if k not in ("kind", "source")}
    source = row.fields["source"]
    customer = Customer(
        id=row.id, kind=row.fields["kind"], stage=Stage.resource.value, source=source,
        owner_id=row.owner_id, team_id=row.team_id,
        # The owner named in the file found the customer, not the steward who uploads it.
        discovered_by=row.owner_id if source == Source.self_discovered else None,
        created_by=actor.user_id, claimed_at=now if row.owner_id else None, stage_entered_at=now,
        out_of_funnel=is_out_of_funnel_on_create(Stage.resource), created_at=now, updated_at=now,
        interests=[], recommended_products=[], **values,
    )
    contact = None
    if row.contact is not None:
        contact = Contact(id=uuid.uuid4(), customer_id=customer.id, created_at=now, updated_at=now,
                          **row.contact)
    customer.completeness = customers_service.completeness_of(customer, [contact] if contact else [])
    return customer, contact


async def _insert(uow: UnitOfWork, actor: Principal, rows: list[_Row], now: dt.datetime) -> None:
    """Batched inserts: a few statements per ``INSERT_BATCH`` rows, not several per row."""
    for start in range(0, len(rows), INSERT_BATCH):
        built = [_new_customer(row, actor, now) for row in rows[start:start + INSERT_BATCH]]
        for customer, _ in built:
            uow.customers.add(customer)
        await uow.flush()
        contacts = [contact for _, contact in built if contact is not None]
        for contact in contacts:
            uow.contacts.add(contact)
        await uow.flush()
        await uow.contacts.add_points(contacts)
        for customer, contact in built:
            funnel_service.record_entry_in(uow, customer, actor_id=actor.user_id, now=now)
            uow.history.record(customer_id=customer.id, actor_id=actor.user_id, action="import",
                               at=now, changes=customers_service.created_changes(
                                   customer, 1 if contact else 0))
        await uow.flush()
        # The identity map would otherwise hold every imported row until the commit.
        uow.session.expunge_all()


async def import_customers(uow: UnitOfWork, actor: Principal, *, content: bytes,
                           filename: str | None, content_type: str | None,
                           mode: ImportMode = "all_or_nothing",
                           allow_duplicate: bool = False) -> ImportReport:
    """Validate every row of a CSV/XLSX file and create the customers in one transaction.

    ``all_or_nothing`` creates nothing if any row is rejected or a duplicate (the report
    travels in the ``import.rejected`` problem); ``partial`` creates the valid rows.
    """
    if allow_duplicate and actor.role not in DUPLICATE_OVERRIDERS:
        raise Forbidden("Only support and directors may import known duplicates")
    parsed = await asyncio.to_thread(parse_upload, content, filename=filename,
                                     content_type=content_type)
    rows = parsed.rows
    report = ImportReport(
        mode=mode, committed=False, format=parsed.sheet.format, encoding=parsed.sheet.encoding,
        total_rows=len(rows), created=0, created_ids=[], duplicates=[], rejected=[],
        unknown_columns=parsed.columns.unknown, ignored_columns=parsed.columns.ignored)
    now = utcnow()
    async with uow:
        valid = [r for r in rows if not r.errors]
        # Keys first, owners second: the order create takes its locks in.
        await uow.customers.lock_keys(value for r in valid for _, value in r.dedup_keys())
        found = await uow.customers.find_key_matches(
            usccs=[v for r in valid for k, v in r.dedup_keys() if k == "uscc"],
            name_keys=[r.fields["name_key"] for r in valid],
            phones=[v for r in valid for k, v in r.dedup_keys() if k == "phone"],
            emails=[v for r in valid for k, v in r.dedup_keys() if k == "email"])
        matches: dict[tuple[str, str], list[Any]] = {}
        for match in found:
            matches.setdefault((match.matched_on, match.key), []).append(match)
        owners, owner_problems = await _resolve_owners(uow, actor, rows)
        policy = await settings_service.pool_policy_in(uow)
        held = {user.id: await uow.customers.count_active_owned(user.id) for user in owners.values()}

        first_row_of: dict[tuple[str, str], int] = {}
        to_create: list[_Row] = []
        imported_duplicates: list[tuple[ImportDuplicate, _Row]] = []
        for row in rows:
            if row.owner_username in owner_problems:
                row.errors.append(_error(["owner_username"], owner_problems[row.owner_username],
                                         "value_error.owner"))
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
                duplicate = ImportDuplicate(row.number, row.name, candidates, of_row,
                                            sorted(earlier[of_row]) if of_row else [])
                if not allow_duplicate:
                    report.duplicates.append(duplicate)
                    continue
            owner = owners.get(row.owner_username or "")
            if owner is not None:
                try:
                    check_quota(held[owner.id], policy=policy)
                except QuotaExceeded as exc:
                    report.rejected.append(ImportRejected(row.number, row.name, [_error(
                        ["owner_username"], f"{row.owner_username}: {exc.detail}",
                        exc.instance_code)]))
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
            raise RuleViolation(
                f"{len(report.rejected)} rejected and {refused_duplicates} duplicate rows: nothing "
                "was imported. Fix them, or import the valid rows with mode=partial.",
                code="import.rejected", report=dataclasses.asdict(report))
        await _insert(uow, actor, to_create, now)
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

EXPORT_COLUMNS = ("id", "name", "kind", "uscc", "industry", "region", "size", "address", "website",
                  "stage", "grade", "owner_id", "team_id", "source", "tags", "contacts", "phones",
                  "emails", "completeness", "created_at", "updated_at", "deleted_at", "merged_into")
# Free text a spreadsheet could take for a formula ("=HYPERLINK(...)"); ids, codes, phones,
# enums and timestamps never start with these characters.
_FORMULA_GUARDED = frozenset({"name", "industry", "region", "address", "website", "tags",
                              "contacts", "emails"})
def _record(customer: Customer, contacts: list[customers_service.ContactView]) -> dict[str, Any]:
    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    return {
        "id": str(customer.id), "name": customer.name, "kind": customer.kind, "uscc": customer.uscc,
        "industry": customer.industry, "region": customer.region, "size": customer.size,
        "address": customer.address, "website": customer.website, "stage": customer.stage,
        "grade": customer.grade, "owner_id": text(customer.owner_id), "team_id": text(customer.team_id),
        "source": customer.source, "tags": list(customer.tags or []),
        "contacts": [{"id": str(c.id), "name": c.name, "title": c.title, "phones": c.phones,
                      "emails": c.emails, "wechat": c.wechat, "is_primary": c.is_primary,
                      "masked": c.masked} for c in contacts],
        "completeness": customer.completeness, "created_at": exports.timestamp(customer.created_at),
        "updated_at": exports.timestamp(customer.updated_at),
        "deleted_at": exports.timestamp(customer.deleted_at),
        "merged_into": text(customer.merged_into),
    }


def _csv_cells(record: dict[str, Any]) -> list[str]:
    contacts = record["contacts"]
    flat = {**record, "tags": ";".join(record["tags"]),
            "contacts": ";".join(c["name"] for c in contacts),
            "phones": ";".join(p for c in contacts for p in c["phones"]),
            "emails": ";".join(e for c in contacts for e in c["emails"])}
    return exports.csv_cells(flat, EXPORT_COLUMNS, _FORMULA_GUARDED)


def _customer_chunks(uow: UnitOfWork, actor: Principal, filters: CustomerFilters) -> exports.FetchChunk:
    async def fetch(after: uuid.UUID | None) -> tuple[list[dict[str, Any]], uuid.UUID | None]:
        # A short transaction per chunk: the response streams long after the request's
        # dependencies are done, and no snapshot is held open for the whole download.
        async with uow:
            customers = await uow.customers.chunk_after(actor, filters, after_id=after,
                                                        limit=exports.EXPORT_CHUNK)
            contacts = await uow.contacts.for_customers([c.id for c in customers])
        by_customer: dict[uuid.UUID, list[Contact]] = {}
        for contact in contacts:
            by_customer.setdefault(contact.customer_id, []).append(contact)
        records = []
        for customer in customers:
            masked = masks_contact_details(actor, owner_id=customer.owner_id)
            views = [customers_service.contact_view(c, masked=masked)
                     for c in by_customer.get(customer.id, [])]
            records.append(_record(customer, views))
        return records, (customers[-1].id if len(customers) == exports.EXPORT_CHUNK else None)

    return fetch


def export_customers(uow: UnitOfWork, actor: Principal, *, query: customers_service.CustomerQuery,
                     fmt: exports.ExportFormat, now: dt.datetime | None = None) -> exports.Export:
    """Every customer in the caller's scope matching the list filters, streamed in keyset
    chunks of ``exports.EXPORT_CHUNK`` (contacts masked as in the API)."""
    filters = customers_service.customer_filters(query)
    chunks = exports.stream(_customer_chunks(uow, actor, filters), fmt=fmt, columns=EXPORT_COLUMNS,
                            to_cells=_csv_cells)
    return exports.export_of("customers", fmt, chunks, now=now)
