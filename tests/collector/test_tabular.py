"""CSV and XLSX for offices (issue 4): Excel-safe encoding, formula cells neutralised, XLSX readable."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import openpyxl
from hypothesis import given
from hypothesis import strategies as st

from collector.services.tabular import csv_chunks, safe_cell, xlsx_file


def test_csv_has_a_bom_crlf_and_neutralised_formulas() -> None:
    raw = b"".join(
        csv_chunks(["主机名", "备注"], [['=HYPERLINK("http://x")', "+1"], ["张三", None]], batch=1)
    )
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows == [["主机名", "备注"], ['\'=HYPERLINK("http://x")', "'+1"], ["张三", ""]]


def test_numbers_and_dates_stay_what_they_are() -> None:
    assert safe_cell(-5) == -5 and safe_cell(date(2026, 1, 2)) == date(2026, 1, 2)
    assert safe_cell("-5") == "'-5" and safe_cell("@x") == "'@x" and safe_cell("a=b") == "a=b"


def test_xlsx_opens_with_the_right_rows() -> None:
    when = datetime(2026, 11, 27, 8, 30, tzinfo=UTC)
    handle = xlsx_file(
        "资产清单", ["单位", "主机名", "最近上报"], [["歙县", "=cmd", when], ["休宁县", "pc-2", None]]
    )
    sheet = openpyxl.load_workbook(handle).active
    assert sheet is not None and sheet.title == "资产清单"
    assert list(sheet.values) == [
        ("单位", "主机名", "最近上报"),
        ("歙县", "'=cmd", when.replace(tzinfo=None)),
        ("休宁县", "pc-2", None),
    ]


@given(
    st.lists(st.lists(st.one_of(st.none(), st.text(), st.integers()), min_size=2, max_size=2), max_size=20)
)
def test_any_cells_round_trip_through_csv(rows: list[list[object]]) -> None:
    raw = b"".join(csv_chunks(["a", "b"], rows))
    back = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert len(back) == len(rows) + 1
    for sent, got in zip(rows, back[1:], strict=True):
        for value, cell in zip(sent, got, strict=True):
            text = "" if value is None else str(value).replace("\x00", "")
            assert cell in (text, "'" + text)
