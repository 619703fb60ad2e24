"""Reading an uploaded spreadsheet: bytes → (row number, cells), CSV or XLSX.

The format is told by the bytes (a zip is a workbook; anything else must decode as UTF-8,
GB18030/GBK or UTF-16 text); the name and media type only explain a refusal. Blank lines are
skipped, sizes are bounded (``MAX_BYTES``, ``MAX_ROWS``, ``MAX_LINES``, ``MAX_COLUMNS``), and
every problem is a coded ``import.*`` error. No database, no knowledge of customers: the
caller says which header cells it knows, which picks the CSV delimiter.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from app.domain.errors import (
    DomainError,
    ImportEmpty,
    ImportTooLarge,
    ImportUnreadable,
    ImportUnsupportedFormat,
    RuleViolation,
    TooLarge,
)

MAX_BYTES = 10 * 1024 * 1024
# An XLSX is a zip of XML parts: a small upload can unpack to gigabytes. Every part's
# declared size is checked before anything is unpacked (zipfile never inflates a part beyond
# its declared size), so the parsing work is bounded whatever the upload holds.
MAX_XLSX_PART_BYTES = 32 * 1024 * 1024
MAX_XLSX_UNPACKED_BYTES = 64 * 1024 * 1024
MAX_XLSX_PARTS = 1_000
MAX_ROWS = 10_000
# Blank lines are skipped but still read; a sheet padded with a million empty rows is refused.
MAX_LINES = 5 * MAX_ROWS
MAX_COLUMNS = 100

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Windows browsers send .csv files as application/vnd.ms-excel; the bytes decide, not the label.
_CSV_MEDIA_TYPES = frozenset(
    {
        "text/csv",
        "application/csv",
        "text/plain",
        "text/tab-separated-values",
        "application/vnd.ms-excel",
        "application/octet-stream",
        "",
    }
)
_CSV_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (BIFF)


@dataclass(slots=True)
class Sheet:
    format: str
    encoding: str | None
    rows: list[tuple[int, list[str]]]  # non-blank rows only, the header first


def _unsupported(detail: str) -> RuleViolation:
    return ImportUnsupportedFormat(
        detail, accepted=["text/csv (UTF-8, UTF-8 with BOM, GBK/GB18030)", XLSX_MEDIA_TYPE]
    )


def _unreadable(detail: str) -> RuleViolation:
    return ImportUnreadable(detail)


def _too_large(detail: str) -> TooLarge:
    return ImportTooLarge(detail, max_bytes=MAX_BYTES, max_rows=MAX_ROWS)


def _detect_format(content: bytes, filename: str | None, content_type: str | None) -> str:
    suffix = PurePath(filename or "").suffix.lower()
    media_type = (content_type or "").split(";")[0].strip().lower()
    if content.startswith(_ZIP_MAGIC):
        return "xlsx"
    if content.startswith(_OLE_MAGIC) or suffix == ".xls":
        raise _unsupported("Legacy Excel (.xls) files are not supported; save the sheet as .xlsx or CSV")
    if suffix in (".xlsx", ".xlsm") or media_type == XLSX_MEDIA_TYPE:
        raise _unreadable("The file is named or labelled as XLSX but is not a valid workbook")
    if (
        suffix in _CSV_SUFFIXES
        or (not suffix and media_type in _CSV_MEDIA_TYPES)
        or (media_type.startswith("text/") and suffix not in (".json", ".xml", ".html"))
    ):
        return "csv"
    raise _unsupported(
        f"Unsupported file type ({filename or 'unnamed'}, {media_type or 'no type'}); upload CSV or XLSX"
    )


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


def _delimiter(text: str, known_header: Callable[[str], bool]) -> str:
    """Comma unless the header line reads better split by ; or a tab (some Excel locales)."""
    first = next((line for line in text.splitlines() if line.strip()), "")

    def known(delimiter: str) -> int:
        cells = next(csv.reader([first], delimiter=delimiter), [])
        return sum(known_header(c) for c in cells)

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


def _read_csv(content: bytes, known_header: Callable[[str], bool]) -> Sheet:
    text, encoding = _decode(content)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text, known_header))
    try:
        rows = list(_non_blank(reader))
    except csv.Error as exc:
        raise _unreadable(f"The CSV cannot be read near line {reader.line_num}: {exc}") from exc
    return Sheet("csv", encoding, rows)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone typed as a number: 13800138000.0
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _check_xlsx_package(content: bytes) -> None:
    """Refuse, before openpyxl parses anything, a workbook that unpacks too large or whose
    XML declares a DOCTYPE (entities could expand or reach out); defusedxml reads only each
    part's prolog, never expanding an entity."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as package:
            parts = package.infolist()
            if len(parts) > MAX_XLSX_PARTS:
                raise _too_large(f"The workbook has more than {MAX_XLSX_PARTS} parts")
            biggest = max((p.file_size for p in parts), default=0)
            if biggest > MAX_XLSX_PART_BYTES or sum(p.file_size for p in parts) > MAX_XLSX_UNPACKED_BYTES:
                raise _too_large(
                    f"The workbook unpacks to more than {MAX_XLSX_UNPACKED_BYTES // 2**20} "
                    f"MB (or a part to more than {MAX_XLSX_PART_BYTES // 2**20} MB); split it"
                )
            for part in parts:
                if not part.filename.endswith((".xml", ".rels")):
                    continue
                with package.open(part) as stream:
                    # The first element ends the prolog, where a DOCTYPE would have to be.
                    next(iter(iterparse(stream, events=("start",), forbid_dtd=True)), None)
    except DefusedXmlException as exc:
        raise _unreadable(
            "The XLSX workbook declares a DOCTYPE or entities, which a workbook "
            "saved by Excel/WPS never does; it was not read"
        ) from exc
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        OSError,
        EOFError,
        ValueError,
        SyntaxError,
    ) as exc:  # ParseError is a SyntaxError
        raise _unreadable("The XLSX workbook cannot be opened; save it again from Excel/WPS") from exc


def _read_xlsx(content: bytes) -> Sheet:
    import openpyxl  # only imports pay for it
    from openpyxl.utils.exceptions import InvalidFileException

    _check_xlsx_package(content)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise _unreadable("The XLSX workbook cannot be opened; save it again from Excel/WPS") from exc
    try:
        if not workbook.worksheets:
            raise _unreadable("The workbook has no worksheet")
        sheet = workbook.worksheets[0]
        values = (
            [_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS)
        )
        return Sheet("xlsx", None, list(_non_blank(values)))
    except DomainError:
        raise
    except Exception as exc:  # a corrupt part inside a valid zip surfaces while iterating
        raise _unreadable("The XLSX workbook cannot be read; save it again from Excel/WPS") from exc
    finally:
        workbook.close()


def read_sheet(
    content: bytes, *, filename: str | None, content_type: str | None, known_header: Callable[[str], bool]
) -> Sheet:
    """The non-blank rows of the first sheet, the header first; ``known_header`` tells a
    header cell the caller recognises (a CSV's delimiter is the one that finds most)."""
    if len(content) > MAX_BYTES:
        raise _too_large(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it")
    if not content.strip():
        raise ImportEmpty("The file is empty")
    kind = _detect_format(content, filename, content_type)
    return _read_xlsx(content) if kind == "xlsx" else _read_csv(content, known_header)
