"""Tables for offices: CSV that Excel opens correctly and XLSX, both written row by row.

- CSV: UTF-8 with a byte-order mark (without it Excel on a Chinese Windows reads UTF-8 as
  GBK and garbles every name), CRLF line ends, and cells that a spreadsheet would run as a
  formula (starting with = + - @, tab or carriage return) neutralised with a leading
  apostrophe (OWASP "CSV injection").
- XLSX: openpyxl in write-only mode (constant memory), the same neutralisation, a frozen
  header row; written to a spooled temporary file and streamed from there.

Reading what offices upload (asset register, attendance sheets): ``read_xlsx_rows`` (zip
bomb guard, read-only openpyxl, every failure a clear 422), ``read_csv_rows`` (UTF-8 with or
without BOM, else GBK/GB18030; delimiter sniffed), ``cell_text`` and ``header_keys``.
"""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import IO, Any

from collector.services.errors import Invalid

__all__ = [
    "CSV_MEDIA_TYPE",
    "XLSX_MEDIA_TYPE",
    "cell_text",
    "csv_chunks",
    "file_chunks",
    "header_keys",
    "read_csv_rows",
    "read_xlsx_rows",
    "safe_cell",
    "xlsx_file",
]

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


# -- reading uploads ----------------------------------------------------------------------------
_MAX_UNPACKED = 64 * 1024 * 1024
_MAX_MEMBERS = 500


def cell_text(value: Any) -> str:
    """A cell as text: whole floats without ".0", dates as ISO dates, NUL removed, trimmed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value).replace("\x00", "").strip()


def header_keys(cells: Sequence[Any], headers: dict[str, str]) -> dict[int, str]:
    """Column index -> key for the cells that name a known column (``headers``: normalised
    header text, lower case without spaces -> key); the first column of each key wins."""
    found: dict[int, str] = {}
    for index, value in enumerate(cells):
        key = headers.get(cell_text(value).lower().replace(" ", ""))
        if key and key not in found.values():
            found[index] = key
    return found


def read_xlsx_rows(data: bytes, *, max_col: int, max_row: int | None = None) -> Iterator[tuple[Any, ...]]:
    """The first sheet's rows (values), refusing archives that unpack to too much; 422 otherwise."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > _MAX_MEMBERS or sum(m.file_size for m in members) > _MAX_UNPACKED:
                raise Invalid("the workbook unpacks to too much data", "file_too_large")
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise Invalid("not an XLSX workbook", "not_xlsx") from exc
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a damaged file
        raise Invalid("not a readable XLSX workbook", "not_xlsx") from exc
    try:
        yield from book.worksheets[0].iter_rows(max_col=max_col, max_row=max_row, values_only=True)
    except Exception as exc:  # a damaged sheet fails while it is read
        raise Invalid("the workbook could not be read", "not_xlsx") from exc
    finally:
        book.close()


def read_csv_rows(data: bytes, *, max_col: int, max_rows: int) -> list[tuple[Any, ...]]:
    """Rows of a CSV file in UTF-8 (with or without BOM) or GBK, delimiter sniffed."""
    if data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8", errors="strict")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = data.decode("gb18030")  # a superset of GBK and GB2312
            except UnicodeDecodeError:
                raise Invalid("the CSV file is neither UTF-8 nor GBK text", "bad_encoding") from None
    if "\x00" in text:
        raise Invalid("the CSV file contains NUL characters", "bad_encoding")
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows: list[tuple[Any, ...]] = []
    try:
        for cells in csv.reader(io.StringIO(text), dialect):
            rows.append(tuple(cells[:max_col]))
            if len(rows) > max_rows:
                break
    except csv.Error as exc:
        raise Invalid(f"the CSV file could not be read: {exc}", "bad_csv") from None
    return rows
