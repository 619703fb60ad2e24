"""The upload reader on its own: bytes in, non-blank rows with their line numbers out."""

from __future__ import annotations

import pytest

from app.domain.errors import RuleViolation, TooLarge
from app.services import spreadsheets


def _known(cell: str) -> bool:
    return cell in {"name", "phone"}


def _read(content: bytes, filename: str = "a.csv", content_type: str = "text/csv"):
    return spreadsheets.read_sheet(content, filename=filename, content_type=content_type, known_header=_known)


def test_the_delimiter_is_the_one_that_finds_the_known_headers():
    sheet = _read("name;phone\n星辰科技;13800138000\n".encode())
    assert sheet.rows == [(1, ["name", "phone"]), (2, ["星辰科技", "13800138000"])]
    # Nothing known: a comma, even where another separator appears.
    assert _read(b"a;b,c\n").rows == [(1, ["a;b", "c"])]


def test_blank_lines_are_skipped_and_rows_keep_their_line_numbers():
    sheet = _read(b"name,phone\n\n , \nAcme,1\n")
    assert sheet.rows == [(1, ["name", "phone"]), (4, ["Acme", "1"])]
    assert (sheet.format, sheet.encoding) == ("csv", "utf-8")


def test_gbk_text_and_the_utf8_bom_are_recognised():
    assert _read("name\n华泰\n".encode("gb18030")).encoding == "gb18030"
    sheet = _read("\ufeffname\n华泰\n".encode())
    assert sheet.encoding == "utf-8-sig" and sheet.rows[0] == (1, ["name"])


@pytest.mark.parametrize(
    ("content", "filename", "code"),
    [
        (b"  \n", "a.csv", "import.empty"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "a.xls", "import.unsupported_format"),
        (b"not a workbook", "a.xlsx", "import.unreadable"),
        (b"name\n", "a.pdf", "import.unsupported_format"),
    ],
)
def test_unusable_files_answer_a_coded_error(content: bytes, filename: str, code: str):
    with pytest.raises(RuleViolation) as caught:
        _read(content, filename=filename, content_type="")
    assert caught.value.code == code


def test_too_many_rows_are_refused():
    content = b"name\n" + b"x\n" * (spreadsheets.MAX_ROWS + 1)
    with pytest.raises(TooLarge) as caught:
        _read(content)
    assert caught.value.code == "import.too_large"
