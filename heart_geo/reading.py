"""Reading caseload files: what case-management exports really look like, streamed in chunks.

:func:`read_caseload` reads from a path, bytes or a binary file-like object:

* UTF-8 with or without a byte-order mark, UTF-16 with a byte-order mark (Excel's "Unicode text"),
  UTF-8 with a few stray Windows-1252 bytes (each read as Windows-1252, the rest as UTF-8), else
  Windows-1252 (names like "Zoë Ó'Brien" from older exports);
* comma, semicolon, tab or pipe separated (guessed from the header and the lines after it; a
  separator inside parentheses in the header does not count; Excel's ``sep=;`` line honoured);
* web pages, XML and RTF saved as ``.xls``/``.csv`` refused; a first row that looks like a family's
  details rather than a header refused (never echoed);
* an Excel workbook (.xlsx) read by :mod:`heart_geo.excel`;
* multi-line quoted cells kept; blank lines (nothing, or only spaces in a file of several columns)
  skipped and counted; short rows padded with empty cells; a row with more non-empty cells than
  the header is an error naming the row, never a silent truncation;
* streamed in chunks, so millions of rows use bounded memory.

An empty file (no header) is an :class:`InputError`. No cell content ever reaches a log line or an
error message: only column names, row and line numbers.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pandas as pd

from . import excel
from .columns import (
    _ADDRESS_NAMES,
    _LAT_NAMES,
    _LON_NAMES,
    _POSTCODE_NAMES,
    _X_NAMES,
    _Y_NAMES,
    _key,
    dedupe_names,
)
from .errors import InputError
from .postcodes import clean_text
from .tabular import Caseload, Source

_DELIMITERS = ",;\t|"
_FIELD_LIMIT = 1 << 30  # one cell may be very long (free-text notes); the csv default is 128 KiB

_BINARY_MAGIC = [
    (b"PK\x03\x04", "a zip archive or Excel workbook (.xlsx)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls)"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
]


def source_label(src: Source, name: str | None = None) -> str:
    """Return what messages call a caseload source: ``name``, else a path's or an open file's name, else "upload"."""
    if name:
        return name
    if isinstance(src, bytes | bytearray | memoryview):
        return "upload"
    if hasattr(src, "read"):
        return getattr(src, "name", None) or "upload"
    return Path(src).name


def check_input_file(given: str | os.PathLike, what: str = "input file",
                     expected: str = "a CSV file or an .xlsx workbook") -> Path:
    """Return ``given`` as a path, or raise :class:`InputError` naming what is wrong: missing, or a folder."""
    p = Path(given)
    if not p.exists():
        raise InputError(f"{what} {str(given)!r} does not exist")
    if not p.is_file():
        raise InputError(f"{what} {str(given)!r} is not a file (a folder?); expected {expected}")
    return p


def _as_bytes_or_path(src: Source, name: str | None) -> tuple[bytes | None, Path | None, str]:
    if isinstance(src, bytes | bytearray | memoryview):
        return bytes(src), None, source_label(src, name)
    if hasattr(src, "read"):
        data = src.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        return bytes(data), None, source_label(src, name)
    return None, check_input_file(src), source_label(src, name)


def _binary(data: bytes | None, path: Path | None) -> IO[bytes]:
    return io.BytesIO(data) if data is not None else open(path, "rb")  # noqa: SIM115


#: Encoding name reported for UTF-8 text holding stray Windows-1252 bytes (read line by line: each
#: byte that is not valid UTF-8 is read as Windows-1252, the rest as UTF-8).
MIXED_ENCODING = "utf-8+cp1252"
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    if isinstance(exc, UnicodeDecodeError):
        return exc.object[exc.start:exc.end].decode("cp1252", errors="replace"), exc.end
    raise exc


codecs.register_error("heart_geo.cp1252", _cp1252_fallback)


def detect_encoding(src: Source) -> str:
    """Return the encoding to read ``src`` with.

    'utf-16' for a UTF-16 byte-order mark; 'utf-8-sig' if all of it decodes as UTF-8 (with or
    without a byte-order mark); :data:`MIXED_ENCODING` if it is UTF-8 with stray bytes that are not
    (an edit in an older program): those bytes are read as Windows-1252, the rest as UTF-8; else
    'cp1252' (no valid UTF-8 sequence beyond ASCII at all).
    """
    data, path, _ = _as_bytes_or_path(src, None)
    with _binary(data, path) as fh:
        head = fh.read(4)
        if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return "utf-16"
        fh.seek(0)
        dec = codecs.getincrementaldecoder("utf-8")()
        try:
            for block in iter(lambda: fh.read(1 << 20), b""):
                dec.decode(block)
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            fh.seek(0)
            utf8 = head.startswith(codecs.BOM_UTF8) or any(
                _UTF8_MULTIBYTE.search(block) for block in iter(lambda: fh.read(1 << 20), b""))
            return MIXED_ENCODING if utf8 else "cp1252"
    return "utf-8-sig"


def _text_codec(enc: str) -> tuple[str, str]:
    """(codec, errors) for io.TextIOWrapper."""
    if enc == MIXED_ENCODING:
        return "utf-8-sig", "heart_geo.cp1252"
    return enc, "replace"


_SNIFF_LINES = 50
_SNIFF_CHARS = 1 << 20
_MARKUP = re.compile(r"\s*(<(!doctype|html|table|head|body|meta|tr|td|div|\?xml|workbook|style|x:)|\{\\rtf"
                     r"|mime-version:)", re.IGNORECASE)  # MIME: Excel's "single file web page"


def _check_text(line: str, name: str) -> None:
    """Refuse a first line that shows the file is not a CSV: NUL bytes, HTML/XML, RTF."""
    if "\x00" in line:
        raise InputError(f"{name} holds NUL bytes: it is not a text CSV file (a binary file, "
                         "or UTF-16 without a byte-order mark); save it as 'CSV UTF-8'")
    if _MARKUP.match(line.lstrip("\ufeff")):
        raise InputError(f"{name} is a web page, XML or RTF document, not a CSV file (reports saved as "
                         "'.xls' are often HTML): open it in a spreadsheet and save it as "
                         "'CSV UTF-8 (comma delimited)'")


def _parse_sample(lines: list[str], delimiter: str) -> list[list[str]]:
    """Return the sample lines as CSV rows (blank rows left out; a record cut off at the end dropped)."""
    rows: list[list[str]] = []
    try:
        for row in csv.reader(lines, delimiter=delimiter):
            if any(c.strip() for c in row):
                rows.append(row)
    except csv.Error:
        pass
    return rows


def _merge_parentheses(cells: list[str], delimiter: str) -> list[str]:
    """Header cells split inside parentheses joined again: ``Address (street, town)``."""
    out: list[str] = []
    depth = 0
    for c in cells:
        if depth > 0 and out:
            out[-1] += delimiter + c
        else:
            out.append(c)
        depth = max(0, depth + c.count("(") - c.count(")"))
    return out


def _sniff_delimiter(lines: str | list[str]) -> str:
    """Return the separator that splits the header and the rows after it into the same number of cells.

    Each candidate (``,`` ``;`` tab ``|``) parses the sample with the csv module; the header's
    cells are counted with a separator inside parentheses not counting. The winner splits the header
    into more than one cell and the most rows into the header's count (ties: the order above). If
    none splits the header, the file has one column: a separator that appears nowhere is used, so
    a comma inside a cell never splits it.
    """
    if isinstance(lines, str):
        lines = [lines]
    best, best_key = None, None
    for pref, d in enumerate(_DELIMITERS):
        rows = _parse_sample(lines, d)
        if not rows:
            continue
        n = len(_merge_parentheses(rows[0], d))
        data = [len(r) for r in rows[1:]]
        fit = (sum(1 for c in data if c == n or (c > n and len(rows[0]) == c)) / len(data)) if data else 1.0
        key = (n > 1, fit >= 0.9, fit, n if not data else 0, -pref)
        if best_key is None or key > best_key:
            best, best_key = d, key
    if best is not None and best_key[0]:
        return best
    text = "".join(lines)
    return next((d for d in _DELIMITERS if d not in text), ",")


def _fit_header(header: list[str], rows: list[list[str]], delimiter: str) -> list[str]:
    """Return the header with cells split inside parentheses joined, when that is what fits the rows."""
    merged = _merge_parentheses(header, delimiter)
    if len(merged) == len(header):
        return header
    counts = [len(r) for r in rows]
    if not counts or sum(c <= len(merged) for c in counts) >= 0.9 * len(counts):
        return merged
    return header


_LOCATION_KEYS = frozenset([*_POSTCODE_NAMES, *_ADDRESS_NAMES, *_X_NAMES, *_Y_NAMES, *_LON_NAMES, *_LAT_NAMES])
_DATA_CELL = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{1,2}[0-9][A-Za-z0-9]?\s*[0-9][A-Za-z]{2}(?![A-Za-z0-9])"  # a postcode
    r"|[^\s@]@[^\s@]+\.[A-Za-z]"  # an e-mail address
    r"|\b\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b"  # a date
    r"|^\s*\d{1,4}[A-Za-z]?(/\d{1,3})?,?\s+[A-Za-z]{2,}.*\b(st|street|road|rd|ave|avenue|drive|dr|"
    r"lane|ln|court|crescent|place|terrace|gardens|way|close|view|park|square|wynd|brae|row)\b"  # an address
    r"|^\s*[A-Za-z][A-Za-z'.-]*(\s[A-Za-z'.-]+)*\s(street|road|avenue|drive|lane|crescent|terrace|gardens|"
    r"place|court|wynd|brae|close|square)\s*$"  # a street name ("Main Street", not "Street name")
    r"|\b(flat|apartment)\s*\d",  # a flat
    re.IGNORECASE,
)
_NUMBER_CELL = re.compile(r"^\s*[-+]?\d+([.,]\d+)?\s*$")


_VALUE_WORDS = re.compile(r"\b(no|none|not|unknown|nfa|n/?a|without)\b", re.IGNORECASE)


def first_row_kind(first: list[str], rest: list[list[str]]) -> str:
    """Return what the first row is: ``"header"``, ``"data"`` (a family's details) or ``"either"``.

    It is judged with the rows after it. Data: a cell holding a postcode (whatever else the row
    says, "No fixed address" included), an e-mail address, a date or a street address, or a number
    over a column of numbers. Header: otherwise, a row naming a location column exactly
    ("Postcode", "Home address"), or naming none. Either: a row that only mentions an address or
    postcode inside longer words ("No fixed address", "Address unknown") where a cell reads like a
    value (a "no", "not", "unknown"...) or comes again in its column below: it is refused, never
    guessed.
    """
    cells = [clean_text(str(c)) for c in first]
    for j, cell in enumerate(cells):
        if _DATA_CELL.search(cell):
            return "data"
        if _NUMBER_CELL.match(cell):
            below = [r[j] for r in rest if j < len(r) and r[j].strip()]
            if not below or sum(bool(_NUMBER_CELL.match(b)) for b in below) >= 0.8 * len(below):
                return "data"
    keys = [_key(c) for c in cells]
    if any(k in _LOCATION_KEYS for k in keys):
        return "header"
    if not any("postcode" in k or "address" in k for k in keys):
        return "header"
    again = any(cell.strip() and any(j < len(r) and r[j].strip().casefold() == cell.strip().casefold()
                                     for r in rest) for j, cell in enumerate(cells))
    return "either" if again or any(_VALUE_WORDS.search(c) for c in cells) else "header"


def check_first_row(first: list[str], rest: list[list[str]], name: str) -> None:
    """Refuse a first row that is (or may be) a family's details: InputError naming positions, never cells."""
    kind = first_row_kind(first, rest)
    if kind == "data":
        raise InputError(
            f"{name}: {len(first)} columns, not shown: the first row looks like data (a postcode, "
            "address, date, number or e-mail address), not a header; expected a header row naming the "
            "columns (e.g. 'name,address,postcode'): add one, so no family is taken for the header"
        )
    if kind == "either":
        raise InputError(
            f"{name}: {len(first)} columns, not shown: the first row could be a header or a family's details "
            "(it mentions an address or postcode inside a value such as 'no fixed address'); expected a header "
            "row naming the columns (e.g. 'name,address,postcode'): add one, or name the location column "
            "'postcode' or 'address', so no family is taken for the header"
        )


def read_caseload(src: Source, *, chunksize: int = 100_000, encoding: str | None = None,
                  name: str | None = None, sheet: str | int | None = None) -> Caseload:
    """Open a caseload CSV or Excel workbook (path, bytes or binary file-like) and stream its rows.

    A workbook (.xlsx) is read from its first sheet, or ``sheet`` (name or 1-based number): see
    :func:`heart_geo.excel.read_workbook`.

    Raises
    ------
    InputError
        For a file that is not text (a workbook, a PDF...), an empty file (no header row); while
        iterating, for a row with more non-empty cells than the header or a quote never closed.
    """
    if chunksize < 1:
        raise InputError(f"chunk size must be at least 1, got {chunksize}")
    data, path, name = _as_bytes_or_path(src, name)
    workbook = _workbook_or_refuse_binary(data, path, name, sheet=sheet, chunksize=chunksize)
    if workbook is not None:  # judged alone: the rows after it are not read yet
        check_first_row(workbook.header, [], name)
        return workbook
    enc = encoding or detect_encoding(data if data is not None else path)
    if csv.field_size_limit() < _FIELD_LIMIT:
        csv.field_size_limit(_FIELD_LIMIT)

    codec, errors = _text_codec(enc)

    def text() -> IO[str]:
        return io.TextIOWrapper(_binary(data, path), encoding=codec, errors=errors, newline="")

    delimiter, skip_sep, sample = _sniff_head(text, name)
    sample_rows = _parse_sample(sample, delimiter)
    fh = text()
    reader = csv.reader(fh, delimiter=delimiter)
    try:
        header = _header_row(reader, skip_sep, name)
        header = _fit_header(header, sample_rows[1:], delimiter)
        check_first_row(header, sample_rows[1:], name)
    except BaseException:
        fh.close()
        raise
    case = Caseload(header=header, encoding=enc, delimiter=delimiter, name=name, chunks=iter(()))
    case.chunks = _csv_chunks(case, reader, fh, text, n=len(header), chunksize=chunksize)
    return case


def _workbook_or_refuse_binary(data: bytes | None, path: Path | None, name: str, *, sheet: str | int | None,
                               chunksize: int) -> Caseload | None:
    """Return the caseload of an .xlsx workbook; None for anything else that may be text.

    Raises
    ------
    InputError
        For a file known by its first bytes not to be text (a PDF, an old .xls...).
    """
    with _binary(data, path) as fh:
        head = fh.read(8)
    if head.startswith(b"PK\x03\x04") and excel.is_workbook(data, path):
        return excel.read_workbook(data, path, name=name, sheet=sheet, chunksize=chunksize)
    for magic, what in _BINARY_MAGIC:
        if head.startswith(magic):
            raise InputError(f"{name} is {what}, not a CSV file or .xlsx workbook: save it as "
                             "'Excel Workbook (.xlsx)' or 'CSV UTF-8 (comma delimited)'")
    return None


def _sniff_head(text: Callable[[], IO[str]], name: str) -> tuple[str, bool, list[str]]:
    """``(delimiter, skip_sep, sample)`` from the first lines of a CSV text.

    The header is the first non-blank line (after an Excel "sep=;" line, which names the separator
    and is then skipped); otherwise the separator is guessed from the header and the lines after it
    together. The first line is checked for being text at all.
    """
    delimiter = ","
    skip_sep = False
    sample: list[str] = []
    with text() as fh:
        for line in fh:
            if not sample and not line.strip():
                continue
            m = None if sample else re.fullmatch(r'"?sep=(.)"?\s*', line.strip("\r\n"), flags=re.I)
            if m:
                delimiter, skip_sep = m.group(1), True
                continue
            if not sample:
                _check_text(line, name)
            sample.append(line)
            if len(sample) >= _SNIFF_LINES or sum(map(len, sample)) > _SNIFF_CHARS:
                break
    if sample and not skip_sep:
        delimiter = _sniff_delimiter(sample)
    return delimiter, skip_sep, sample


def _header_row(reader, skip_sep: bool, name: str) -> list[str]:
    """Return the first row with a non-empty cell (past a "sep=" line); InputError for an empty file."""
    for row in reader:
        if skip_sep and re.fullmatch(r"sep=.", ",".join(row).strip(), flags=re.I):
            continue
        if any(c.strip() for c in row):
            return row
    raise InputError(f"{name} is empty: expected a header row naming the columns, then one row "
                     "per family")


def _fit_row(row: list[str], n: int, case: Caseload, line_num: int) -> list[str]:
    """Return a row cut or padded to the header's ``n`` cells; InputError when it has more non-empty cells."""
    if len(row) < n:
        return row + [""] * (n - len(row))
    if any(c.strip() for c in row[n:]):
        raise InputError(
            f"{case.name}: row {case.stats['rows']} (line {line_num}) has {len(row)} cells "
            f"but the header has {n}; expected every row to fit the header's columns "
            "(a stray separator or an unquoted cell?)"
        )
    return row[:n]  # trailing separators: the extra cells are empty


def _csv_chunks(case: Caseload, reader, fh: IO[str], text: Callable[[], IO[str]], *, n: int,
                chunksize: int) -> Iterator[pd.DataFrame]:
    """Return the rows after the header, ``chunksize`` at a time, as frames of text cells (columns 0..n-1).

    Counts rows and blank lines in ``case.stats``; closes ``fh`` when done or abandoned. Each row
    is fitted to the header's ``n`` cells.
    """
    name, delimiter = case.name, case.delimiter
    rows: list[list[str]] = []
    stats = case.stats
    last_line = reader.line_num
    start = last_line + 1
    try:
        for row in reader:
            start, last_line = last_line + 1, reader.line_num
            if not row or (n > 1 and len(row) == 1 and not row[0].strip()):
                stats["blank_lines"] += 1
                continue
            stats["rows"] += 1
            rows.append(row if len(row) == n else _fit_row(row, n, case, reader.line_num))
            if len(rows) >= chunksize:
                yield pd.DataFrame(rows, columns=range(n), dtype=object)
                rows = []
        if last_line > start and _unclosed_quote(text, start, delimiter):
            # a quote never closed swallows the rest of the file into the last row's cell
            raise InputError(
                f"{name}: a quoted cell in row {stats['rows']} (from line {start}) is never "
                "closed; expected a closing \" before the end of the file"
            )
        if rows:
            yield pd.DataFrame(rows, columns=range(n), dtype=object)
    except csv.Error as exc:
        raise InputError(f"{name}: line {reader.line_num} cannot be read as CSV "
                         f"({_csv_reason(exc)})") from None
    finally:
        fh.close()


def _unclosed_quote(text: Callable[[], IO[str]], start: int, delimiter: str) -> bool:
    """Whether the record starting at line ``start`` (the file's last) runs off the end in a quote.

    Only called when the last record spans several lines, so the extra read is rare.
    """
    with text() as fh:
        try:
            for _ in csv.reader(itertools.islice(fh, start - 1, None), delimiter=delimiter, strict=True):
                pass
        except csv.Error as exc:
            return "unexpected end of data" in str(exc)
    return False


def _csv_reason(exc: Exception) -> str:
    msg = str(exc)
    for known in ("field larger than field limit", "new-line character seen in unquoted field",
                  "unexpected end of data", "line contains NUL"):
        if known in msg:
            return known
    return type(exc).__name__


def iter_caseload(path: Source, *, chunksize: int = 100_000, encoding: str | None = None
                  ) -> tuple[list[str], str, Iterator[pd.DataFrame]]:
    """``(header, encoding, chunks)`` of :func:`read_caseload` (kept for older callers)."""
    c = read_caseload(path, chunksize=chunksize, encoding=encoding)
    return c.header, c.encoding, c.chunks


def read_header(path: Source, encoding: str | None = None, sheet: str | int | None = None) -> list[str]:
    """Return the header row as written (duplicates kept). Raises InputError for an empty file."""
    c = read_caseload(path, encoding=encoding, sheet=sheet)
    c.chunks.close()
    return c.header


def _check_rows(case: Caseload, max_rows: int | None) -> None:
    if max_rows is not None and case.stats["rows"] > max_rows:
        case.chunks.close()
        raise InputError(f"{case.name} has more than {max_rows:,} rows; expected at most {max_rows:,} "
                         "here (results are held in memory): split the file, or use 'heart-geo assign', "
                         "which streams any size to disk")


def read_caseload_frame(src: Source, *, name: str | None = None, sheet: str | int | None = None,
                        max_rows: int | None = None) -> pd.DataFrame:
    """Return a whole caseload (small files: enrolment lists; CSV or .xlsx) as one DataFrame of strings.

    Duplicate column names get ``.1``, ``.2`` suffixes so every column survives. ``max_rows``: refuse
    a file with more rows (InputError), as soon as they are read.
    """
    c = read_caseload(src, name=name, sheet=sheet,
                      chunksize=min(100_000, max_rows + 1) if max_rows else 100_000)
    frames = []
    for f in c.chunks:
        frames.append(f)
        _check_rows(c, max_rows)
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=range(len(c.header)))
    df.columns = dedupe_names(c.header)
    return df
