"""Excel workbooks (.xlsx) in and out, for caseloads and enrolment lists.

Reading (:func:`read_workbook`): the first sheet, or the one named or numbered (1-based); the header
is the first row that is not blank; every cell is read as the text the user sees: dates in the
cell's own date format ("03/04/2024"), numbers as typed ("1234", "0.50" for a two-decimal format,
"00123" for a zero-padded format), TRUE/FALSE, a formula's last calculated value. Blank rows are
skipped and counted; a cell to the right of the header's last name gets a column named after its
letter ("Column F"), so no data is dropped.

Writing (:func:`write_workbook`): one sheet, the header then the rows; cells a spreadsheet would run as
a formula are neutralised as in CSV output, characters a workbook cannot hold are dropped, and text
that is a plain number (no leading zero, at most 15 digits) is written as a number.

No cell content reaches a log line or an error message.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from .errors import InputError
from .tabular import Caseload, _rows_of, neutralise_cell

__all__ = ["MAX_ROWS", "is_workbook", "read_workbook", "write_workbook", "workbook_bytes"]

#: Rows an Excel sheet holds, header included.
MAX_ROWS = 1_048_576


def is_workbook(data: bytes | None, path: Path | None) -> bool:
    """Whether the bytes or file are an Office Open XML workbook (a zip holding ``xl/workbook.xml``)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data) if data is not None else path) as z:
            return "xl/workbook.xml" in z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


# --------------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------------
_DATE_TOKENS = [
    ("yyyy", "%Y"), ("yy", "%y"), ("mmmm", "%B"), ("mmm", "%b"), ("dddd", "%A"), ("ddd", "%a"),
    ("dd", "%d"), ("d", "%-d"), ("hh", "%H"), ("h", "%-H"), ("ss", "%S"), ("s", "%-S"),
    ("am/pm", "%p"), ("a/p", "%p"),
]


def _strftime_pattern(fmt: str) -> str | None:
    """Return an Excel date format code as a strftime pattern (None if it is not a date format)."""
    f = re.sub(r"\[[^\]]*\]", "", fmt or "")  # [$-809] locale, [Red] colour, [h] elapsed
    f = f.split(";")[0]
    f = re.sub(r'"([^"]*)"', r"\1", f).replace("\\", "")
    if f.lower() in ("mm-dd-yy", "general", ""):  # Excel's built-in short date: shown per locale
        return None
    out, i, low = [], 0, f.lower()
    last_hour = False
    while i < len(f):
        if low.startswith("mm", i) and not low.startswith("mmm", i):
            minute = last_hour or low[i + 2:].lstrip(":").startswith("s")
            out.append("%M" if minute else "%m")
            i += 2
            continue
        if low[i] == "m" and not low.startswith("mm", i):
            minute = last_hour or low[i + 1:].lstrip(":").startswith("s")
            out.append("%-M" if minute else "%-m")
            i += 1
            continue
        for tok, code in _DATE_TOKENS:
            if low.startswith(tok, i):
                out.append(code)
                last_hour = tok in ("hh", "h")
                i += len(tok)
                break
        else:
            out.append(f[i].replace("%", "%%"))
            i += 1
    return "".join(out)


def _fmt_date(v: dt.datetime | dt.date | dt.time, fmt: str) -> str:
    pattern = _strftime_pattern(fmt)
    if pattern is None or "%" not in pattern:  # the built-in short date: UK councils see dd/mm/yyyy
        if isinstance(v, dt.time):
            return v.strftime("%H:%M:%S")
        has_time = isinstance(v, dt.datetime) and (v.hour or v.minute or v.second)
        return v.strftime("%d/%m/%Y %H:%M" if has_time else "%d/%m/%Y")
    try:
        return v.strftime(pattern)
    except ValueError:
        return v.isoformat()


def _fmt_number(v: float | int, fmt: str) -> str:
    f = re.sub(r"\[[^\]]*\]", "", fmt or "General").split(";")[0]
    if re.fullmatch(r"0+", f) and float(v).is_integer():  # zero-padded codes: 00123
        return f"{int(v):0{len(f)}d}"
    m = re.fullmatch(r"[#,]*0(\.(0+))?", f)
    if m and m.group(2):  # fixed decimals as shown: 0.50
        return f"{v:.{len(m.group(2))}f}"
    if "%" in f:
        m = re.search(r"\.(0+)", f)
        return f"{v * 100:.{len(m.group(1)) if m else 0}f}%"
    if isinstance(v, int) or float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def cell_text(value: Any, number_format: str = "General") -> str:
    """One cell as the text the user sees in Excel."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return _fmt_date(value, number_format)
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, int | float):
        return _fmt_number(value, number_format)
    return str(value)


def _sheet(wb, sheet: str | int | None, name: str):
    names = wb.sheetnames
    if sheet is None or sheet == "":
        return wb.worksheets[0]
    if isinstance(sheet, int) or str(sheet).strip().isdigit():
        i = int(sheet)
        if 1 <= i <= len(names):
            return wb.worksheets[i - 1]
        raise InputError(f"{name} has {len(names)} sheet(s); --sheet {i} is not one of 1..{len(names)}")
    for cand in (sheet, str(sheet).strip().lower()):
        for n in names:
            if n == cand or n.strip().lower() == cand:
                return wb[n]
    raise InputError(f"{name} has no sheet {sheet!r}; its sheets are {names}")


def _row_texts(row) -> list[str]:
    out = []
    for c in row:
        v = getattr(c, "value", None)
        out.append(cell_text(v, getattr(c, "number_format", "General")) if v is not None else "")
    return out


def _letter(i: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(i + 1)


def read_workbook(data: bytes | None, path: Path | None, *, name: str, sheet: str | int | None = None,
                  chunksize: int = 100_000):
    """Return a workbook's sheet as a :class:`heart_geo.tabular.Caseload` (every cell a string).

    Raises
    ------
    InputError
        A workbook that cannot be opened, a missing sheet, or a sheet with no header row.
    """
    import openpyxl

    src = io.BytesIO(data) if data is not None else path

    def open_sheet():
        try:
            wb = openpyxl.load_workbook(src, read_only=True, data_only=True)
        except Exception as exc:  # a damaged or encrypted workbook: say so, without its content
            raise InputError(f"{name} cannot be read as an Excel workbook ({type(exc).__name__}); "
                             "open it in Excel and save it again as .xlsx, or as 'CSV UTF-8'") from None
        return wb, _sheet(wb, sheet, name)

    # first pass: the header row, the widest row and the last row with data
    wb, ws = open_sheet()
    header_at = last = None
    width = 0
    try:
        for i, row in enumerate(ws.iter_rows(values_only=True)):
            filled = [j for j, v in enumerate(row) if v is not None and str(v).strip()]
            if not filled:
                continue
            if header_at is None:
                header_at = i
            last = i
            width = max(width, filled[-1] + 1)
    finally:
        wb.close()
    if header_at is None:
        raise InputError(f"{name} (sheet {ws.title!r}) is empty: expected a header row naming the columns, "
                         "then one row per family")
    if last - header_at + 1 > MAX_ROWS:  # pragma: no cover - Excel itself cannot hold more
        raise InputError(f"{name} has more rows than a sheet can hold")
    wb, ws = open_sheet()
    rows = ws.iter_rows(min_row=header_at + 1, max_row=last + 1)
    header = (_row_texts(next(rows)) + [""] * width)[:width]
    named = max((j + 1 for j, h in enumerate(header) if h.strip()), default=0)
    header = [h if j < named or h.strip() else f"Column {_letter(j)}" for j, h in enumerate(header)]
    case = Caseload(header=header, encoding="xlsx", delimiter="", name=name, chunks=iter(()), format="xlsx",
                    sheet=ws.title)

    def gen() -> Iterator[pd.DataFrame]:
        buf: list[list[str]] = []
        try:
            for row in rows:
                cells = (_row_texts(row) + [""] * width)[:width]
                if not any(c.strip() for c in cells):
                    case.stats["blank_lines"] += 1
                    continue
                case.stats["rows"] += 1
                buf.append(cells)
                if len(buf) >= chunksize:
                    yield pd.DataFrame(buf, columns=range(width), dtype=object)
                    buf = []
            if buf:
                yield pd.DataFrame(buf, columns=range(width), dtype=object)
        finally:
            wb.close()

    case.chunks = gen()
    return case


# --------------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------------
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_PLAIN_NUMBER = re.compile(r"^-?(0|[1-9]\d{0,14})(\.\d{1,10})?$")


def _cell(v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, str):
        if _PLAIN_NUMBER.match(v) and len(v.replace("-", "").replace(".", "").lstrip("0")) <= 15:
            return float(v) if "." in v else int(v)
        return _ILLEGAL.sub("", v)
    if isinstance(v, bool | int | float):
        return v
    return _ILLEGAL.sub("", str(v))


def write_workbook(rows: Iterable[Iterable], fh: IO[bytes] | str | Path, header: list[str], *,
                   sheet: str = "data", notes: list[str] | None = None) -> int:
    """Write a header and rows (already formula-neutralised) as a one-sheet workbook.

    ``notes`` (plain sentences) go on a second sheet named "about". Returns the number of data rows.

    Raises
    ------
    InputError
        More rows than an Excel sheet holds (write CSV instead).
    """
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_sheet_title(sheet))
    ws.append([_ILLEGAL.sub("", str(h)) for h in header])
    n = 0
    for row in rows:
        n += 1
        if n >= MAX_ROWS:
            raise InputError(f"more than {MAX_ROWS - 1:,} rows: too many for an Excel sheet; write a .csv "
                             "output instead")
        ws.append([_cell(v) for v in row])
    if notes:
        about = wb.create_sheet("about")
        for line in notes:
            about.append([_ILLEGAL.sub("", line)])
    wb.save(fh)
    return n


def _sheet_title(s: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", "_", s)[:31] or "data"


def workbook_bytes(df: pd.DataFrame, *, sheet: str = "data", notes: list[str] | None = None) -> bytes:
    """Return a DataFrame as .xlsx bytes for a download (formulas neutralised, no index)."""
    buf = io.BytesIO()
    write_workbook(_rows_of(df), buf, [neutralise_cell(str(c)) for c in df.columns], sheet=sheet, notes=notes)
    return buf.getvalue()
