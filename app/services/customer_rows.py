"""Import rows: a spreadsheet's header mapped to customer fields (English names or the Chinese
labels), and every row validated into normalised customer and contact values, each problem
of a row collected with its column. No database (``parse_upload`` runs in a worker thread);
the import use case is ``app.services.customer_io``."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from app.db.models import Contact, Customer
from app.domain import normalize
from app.domain.customers import Source
from app.domain.errors import ImportEmpty, ImportMissingColumns
from app.domain.grading import SIZE_BANDS
from app.services import customers as customers_service
from app.services.spreadsheets import Sheet, read_sheet

# The same per-value limits as the API's CustomerCreate / ContactIn.
MAX_TAGS, MAX_TAG_LENGTH, MAX_PHONES, MAX_EMAILS, MAX_NOTES = 30, 50, 10, 10, 5000


# ----------------------------------------------------------------------------------------
# File layout: header names (English or the Chinese labels) and value vocabularies
# ----------------------------------------------------------------------------------------

HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "name": (
        "name",
        "customer_name",
        "company",
        "company_name",
        "客户名称",
        "客户名",
        "公司名称",
        "企业名称",
    ),
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
    "网站": "web",
    "官网": "web",
    "展会": "exhibition",
    "转介绍": "referral",
    "介绍": "referral",
    "自主开发": "self_discovered",
    "导入": "import",
    "来电": "inbound_call",
    "其他": "other",
    "其它": "other",
}
SOURCES = tuple(s.value for s in Source)
KIND_LABELS: dict[str, str] = {
    "company": "company",
    "individual": "individual",
    "企业": "company",
    "公司": "company",
    "单位": "company",
    "个人": "individual",
}

_TAG_SEPARATORS = re.compile(r"[,;，；、|]")
_PHONE_SEPARATORS = re.compile(r"[,;，；、/]")
_EMAIL_SEPARATORS = re.compile(r"[,;，；、\s]")


def header_key(text: str) -> str:
    """ "Contact Name", "contact-name", "联系人（必填）" and "*客户名称" all find their field."""
    key = (normalize.clean_text(text) or "").lower().strip("*").strip()
    key = re.sub(r"\s*\([^)]*\)$", "", key)  # a trailing "(note)"; full-width () are folded already
    return re.sub(r"[\s\-]+", "_", key)


FIELD_BY_HEADER = {header_key(alias): name for name, aliases in HEADER_ALIASES.items() for alias in aliases}


def _column_limit(model: Any, name: str) -> int:
    return int(model.__table__.c[name].type.length)


_LENGTH_LIMITS = {
    **{name: _column_limit(Customer, name) for name in ("name", "industry", "region", "address", "website")},
    "contact_name": _column_limit(Contact, "name"),
    "contact_title": _column_limit(Contact, "title"),
    "wechat": _column_limit(Contact, "wechat"),
    "notes": MAX_NOTES,
}


# ----------------------------------------------------------------------------------------
# Rows: cells → normalised values, with every problem of the row collected
# ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Columns:
    fields: list[tuple[int, str]]  # (cell index, field)
    unknown: list[str]
    ignored: list[str]  # a repeated single-valued column: the first one counts


def _map_header(header: list[str]) -> Columns:
    columns = Columns([], [], [])
    seen: set[str] = set()
    for index, title in enumerate(header):
        if not title:
            continue
        name = FIELD_BY_HEADER.get(header_key(title))
        if name is None:
            columns.unknown.append(title)
        elif name in seen and name not in _MULTI_VALUED:
            columns.ignored.append(title)
        else:
            seen.add(name)
            columns.fields.append((index, name))
    if "name" not in seen:
        raise ImportMissingColumns(
            "The header row has no customer name column (name / 客户名称)",
            missing=["name"],
            unknown_columns=columns.unknown,
        )
    return columns


@dataclass(slots=True)
class ImportRow:
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


def row_error(loc: list[str | int], msg: str, type_: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": type_}


def _split(values: list[str], separators: re.Pattern[str]) -> list[str]:
    return [part.strip() for value in values for part in separators.split(value) if part.strip()]


def _vocabulary(
    raw: str | None, labels: dict[str, str], *, loc: str, allowed: str, errors: list[dict[str, Any]]
) -> str | None:
    text = normalize.clean_text(raw)
    if text is None:
        return None
    value = labels.get(text) or labels.get(text.lower())
    if value is None:
        errors.append(row_error([loc], f"unknown value {text!r}; expected {allowed}", f"value_error.{loc}"))
    return value


def _size(raw: str | None, errors: list[dict[str, Any]]) -> str | None:
    text = normalize.clean_text(raw)
    if text is None:
        return None
    band = re.sub(r"\s+", "", text).replace("人", "").replace("以上", "+").replace("~", "-")
    if band not in SIZE_BANDS:
        errors.append(
            row_error(
                ["size"],
                f"unknown size {text!r}; expected one of {', '.join(SIZE_BANDS)}",
                "value_error.size",
            )
        )
        return None
    return band


_SOURCE_VALUES = {**{s: s for s in SOURCES}, **SOURCE_LABELS}
_CONTACT_LOCS = {"name": "contact_name", "phones": "phone", "emails": "email"}


def _parse_row(number: int, cells: list[str], columns: Columns) -> ImportRow:
    raw: dict[str, list[str]] = {}
    for index, name in columns.fields:
        value = cells[index] if index < len(cells) else ""
        if value:
            raw.setdefault(name, []).append(value)

    def single(name: str) -> str | None:
        return raw.get(name, [None])[0]

    errors: list[dict[str, Any]] = []
    kind = (
        _vocabulary(
            single("kind"), KIND_LABELS, loc="kind", allowed="company/individual (企业/个人)", errors=errors
        )
        or "company"
    )
    source = (
        _vocabulary(
            single("source"),
            _SOURCE_VALUES,
            loc="source",
            allowed=", ".join([*SOURCES, *SOURCE_LABELS]),
            errors=errors,
        )
        or "import"
    )
    data = {
        "name": single("name") or "",
        "kind": kind,
        "uscc": single("uscc"),
        "industry": single("industry"),
        "region": single("region"),
        "size": _size(single("size"), errors),
        "address": single("address"),
        "website": single("website"),
        "notes": single("notes"),
        "tags": _split(raw.get("tags", []), _TAG_SEPARATORS),
        "source": source,
    }
    body_errors: list[dict[str, Any]] = []
    fields = customers_service.normalize_customer_fields(data, kind=kind, errors=body_errors)
    errors += [{**e, "loc": [p for p in e["loc"] if p != "body"]} for e in body_errors]
    if len(fields.get("tags", [])) > MAX_TAGS:
        errors.append(row_error(["tags"], f"at most {MAX_TAGS} tags", "too_long"))
    errors += [
        row_error(["tags", i], f"a tag has at most {MAX_TAG_LENGTH} characters", "string_too_long")
        for i, tag in enumerate(fields.get("tags", []))
        if len(tag) > MAX_TAG_LENGTH
    ]

    contact = None
    phones = _split(raw.get("phone", []), _PHONE_SEPARATORS)
    emails = _split(raw.get("email", []), _EMAIL_SEPARATORS)
    if any(raw.get(n) for n in ("contact_name", "contact_title", "phone", "email", "wechat")):
        contact_errors: list[dict[str, Any]] = []
        contact = customers_service.normalize_contact(
            customers_service.ContactInput(
                name=single("contact_name") or "",
                title=single("contact_title"),
                phones=phones,
                emails=emails,
                wechat=single("wechat"),
                is_primary=True,
            ),
            loc=(),
            errors=contact_errors,
        )
        errors += [
            {**e, "loc": [_CONTACT_LOCS.get(str(e["loc"][0]), e["loc"][0]), *e["loc"][1:]]}
            for e in contact_errors
        ]
        for loc, values, limit in (("phone", phones, MAX_PHONES), ("email", emails, MAX_EMAILS)):
            if len(values) > limit:
                errors.append(row_error([loc], f"at most {limit} values", "too_long"))
    texts = {
        **fields,
        "contact_name": contact and contact["name"],
        "contact_title": contact and contact["title"],
        "wechat": contact and contact["wechat"],
    }
    for name, limit in _LENGTH_LIMITS.items():
        value = texts.get(name)
        if isinstance(value, str) and len(value) > limit:
            errors.append(row_error([name], f"at most {limit} characters", "string_too_long"))
    return ImportRow(
        number=number,
        name=fields.get("name") or normalize.clean_text(single("name")),
        errors=errors,
        fields=fields,
        contact=contact,
        owner_username=normalize.clean_text(single("owner_username")),
    )


@dataclass(slots=True)
class ParsedUpload:
    sheet: Sheet
    columns: Columns
    rows: list[ImportRow]


def parse_upload(content: bytes, *, filename: str | None, content_type: str | None) -> ParsedUpload:
    """Read and validate every row; no database involved (runs in a worker thread)."""
    sheet = read_sheet(
        content,
        filename=filename,
        content_type=content_type,
        known_header=lambda cell: header_key(cell) in FIELD_BY_HEADER,
    )
    if not sheet.rows:
        raise ImportEmpty("The file has no header row")
    (_, header), *body = sheet.rows
    columns = _map_header(header)
    return ParsedUpload(sheet, columns, [_parse_row(number, cells, columns) for number, cells in body])
