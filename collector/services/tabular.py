"""Tables for offices: CSV that Excel opens correctly and XLSX, both written row by row.

- CSV: UTF-8 with a byte-order mark (without it Excel on a Chinese Windows reads UTF-8 as
  GBK and garbles every name), CRLF line ends, and cells that a spreadsheet would run as a
  formula (starting with = + - @, tab or carriage return) neutralised with a leading
  apostrophe (OWASP "CSV injection").
- XLSX: openpyxl in write-only mode (constant memory), the same neutralisation, a frozen
  header row; written to a spooled temporary file and streamed from there.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import IO, Any

__all__ = ["CSV_MEDIA_TYPE", "XLSX_MEDIA_TYPE", "csv_chunks", "file_chunks", "safe_cell", "xlsx_file"]

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A value a spreadsheet shows as it is: text that would start a formula gets an apostrophe.
    Numbers, dates and None pass unchanged (a negative number is a number, not a formula)."""
    if value is None or isinstance(value, (bool, int, float, date, datetime)):
        return value
    text = str(value).replace("\x00", "")
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_text(value: Any) -> str:
    value = safe_cell(value)
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[Any]], batch: int = 200) -> Iterator[bytes]:
    """The CSV as byte chunks, BOM first, ``batch`` rows at a time (for a streaming response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_csv_text(h) for h in header])
    yield "\ufeff".encode() + buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    pending = 0
    for row in rows:
        writer.writerow([_csv_text(v) for v in row])
        pending += 1
        if pending >= batch:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue().encode("utf-8")


def xlsx_file(title: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> IO[bytes]:
    """An XLSX workbook with one sheet, in a temporary file positioned at its start."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31] or "Sheet1")
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    cells = []
    for name in header:
        cell = WriteOnlyCell(sheet, value=safe_cell(name))
        cell.font = bold
        cells.append(cell)
    sheet.append(cells)
    for row in rows:
        sheet.append(
            [safe_cell(v.replace(tzinfo=None) if isinstance(v, datetime) and v.tzinfo else v) for v in row]
        )
    handle = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - returned open
    book.save(handle)
    handle.seek(0)
    return handle


def file_chunks(handle: IO[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    """Read a file in chunks and close it at the end (the body of a streaming response)."""
    try:
        while chunk := handle.read(size):
            yield chunk
    finally:
        handle.close()
