"""Caseload files: read what case-management exports really look like, write results safely.

Reading (:func:`read_caseload`, from a path, bytes or a binary file-like object):

* UTF-8 with or without a byte-order mark, UTF-16 with a byte-order mark (Excel's "Unicode text"),
  else Windows-1252 (names like "Zoë Ó'Brien" from older exports);
* comma, semicolon, tab or pipe separated (guessed from the header row; Excel's ``sep=;`` line
  honoured);
* headers in any common spelling ("Post Code", "POSTCODE", "postcode "), duplicate names kept;
* multi-line quoted cells kept; blank lines (nothing, or only spaces in a file of several columns)
  skipped and counted; short rows padded with empty cells; a row with more non-empty cells than
  the header is an error naming the row, never a silent truncation;
* streamed in chunks, so millions of rows use bounded memory.

Writing (:func:`write_csv_atomic`, :func:`csv_bytes`): every input row and column kept in order with
the result columns added; cells a spreadsheet would run as a formula neutralised; files written to a
temporary file and renamed, so a failure never leaves half a file; the input is never overwritten.

Decisions: an empty file (no header) is an :class:`InputError`; a header-only file gives an output with
just the header and ``summary["note"]`` saying there were no rows.

No cell content ever reaches a log line or an error message: only column names, row and line numbers.
A header row that looks like data (it holds a postcode, an e-mail address or a date) is not echoed.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from .errors import InputError
from .settings import RESULT_COLUMNS

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

__all__ = [
    "Caseload",
    "LocationColumns",
    "allocate_caseload",
    "allocate_bytes",
    "allocate_csv_bytes",
    "allocate_frame",
    "csv_bytes",
    "describe_columns",
    "detect_encoding",
    "find_column",
    "find_location_columns",
    "iter_caseload",
    "neutralise_formulas",
    "read_caseload",
    "read_header",
    "same_file",
    "write_csv_atomic",
]

_POSTCODE_NAMES = ["postcode", "postcodes", "postalcode", "pcode", "pc", "homepostcode",
                   "addresspostcode", "postcodeofresidence", "zip", "zipcode"]
_ADDRESS_NAMES = ["address", "homeaddress", "fulladdress", "addressline", "addr", "residentialaddress"]
_X_NAMES = ["easting", "eastings", "x", "bngx", "ea", "xcoord"]
_Y_NAMES = ["northing", "northings", "y", "bngy", "no", "ycoord"]
_LON_NAMES = ["longitude", "lon", "long", "lng"]
_LAT_NAMES = ["latitude", "lat"]

_DELIMITERS = ",;\t|"
_FIELD_LIMIT = 1 << 30  # one cell may be very long (free-text notes); the csv default is 128 KiB

Source = str | os.PathLike | bytes | bytearray | memoryview | IO[bytes]


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


_LOOKS_LIKE_DATA = re.compile(
    r"[A-Za-z]{1,2}[0-9][A-Za-z0-9]?\s*[0-9][A-Za-z]{2}"  # a postcode
    r"|@"  # an e-mail address
    r"|\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}"  # a date
    r"|^\s*[-+]?\d+(\.\d+)?\s*$"  # a number
)


def describe_columns(header: list[str]) -> str:
    """The column names for an error message, unless the "header" looks like a row of data.

    A file without a header row would otherwise put a family's details in the message.
    """
    if any(_LOOKS_LIKE_DATA.search(str(h)) for h in header):
        return (f"{len(header)} columns, not shown: the first row looks like data (a postcode, date, "
                "number or e-mail address), not a header; add a header row naming the columns")
    shown = [str(h) if len(str(h)) <= 60 else str(h)[:57] + "..." for h in header[:50]]
    more = f" and {len(header) - 50} more" if len(header) > 50 else ""
    return f"columns are {shown}{more}"


@dataclass(frozen=True)
class LocationColumns:
    """Which input columns locate each row: a postcode/address column, or x and y (with a CRS)."""

    postcode: int | None = None
    x: int | None = None
    y: int | None = None
    crs: str = "EPSG:27700"
    kind: str = "postcode"  # {"postcode", "address", "points"}
    #: Tried in order for rows this one cannot locate (empty or invalid cell): address columns, then
    #: coordinates.
    fallbacks: tuple[LocationColumns, ...] = ()
    #: The file's column names, for details naming the column that answered.
    header: tuple[str, ...] = dataclasses.field(default=(), compare=False, repr=False)

    def describe(self, header: list[str]) -> str:
        if self.kind == "points":
            text = f"coordinates from columns {header[self.x]!r}, {header[self.y]!r} ({self.crs})"
        else:
            text = f"{self.kind} from column {header[self.postcode]!r}"
        if self.fallbacks:
            text += "; where empty or invalid, " + ", then ".join(f.describe(header) for f in self.fallbacks)
        return text

    def columns(self, header: list[str]) -> str:
        """The column name(s) this reads, for a detail line."""
        if self.kind == "points":
            return f"columns {header[self.x]!r}, {header[self.y]!r}"
        return f"column {header[self.postcode]!r}"


#: Other spellings accepted for the enrolment columns (compared ignoring case and punctuation).
SCHOOL_NAMES = ("school", "schoolname", "seedcode", "schoolseedcode", "schoolattended")
CONSENT_NAMES = ("consentgiven", "consentrecorded", "consented")
RISK_NAMES = ("risk", "riskofharm", "childprotection", "cp", "cprisk", "riskflag")


def find_column(header: list[str], given: str | None, default: str, alternatives: tuple[str, ...] = (), *,
                what: str = "", option: str = "", source: str = "input") -> str | None:
    """Resolve a column name: exactly, then ignoring case/spaces/punctuation, then alternatives.

    A column the user named (``given``) that is not there is an error; a default that is not there
    gives None.
    """
    want = given if given is not None else default
    if want in header:
        return want
    keys = {_key(h): h for h in reversed(header)}
    if _key(want) in keys:
        return keys[_key(want)]
    if given is not None:
        raise InputError(f"{what} column {given!r} ({option}) not found in {source}; "
                         f"{describe_columns(header)}")
    for alt in alternatives:
        if _key(alt) in keys:
            return keys[_key(alt)]
    return None


def find_location_columns(
    header: list[str],
    *,
    postcode: str | None = None,
    x: str | None = None,
    y: str | None = None,
    crs: str | None = None,
    source: str = "input",
) -> LocationColumns:
    """Find the columns that locate each row, or say clearly why none do.

    Parameters
    ----------
    header : list of str
        Column names as in the file (duplicates allowed: the first is used).
    postcode, x, y : str, optional
        Column names given by the user (matched exactly first, then ignoring case, spaces and
        punctuation).
    crs : str, optional
        CRS of x/y columns; guessed from the names (latitude/longitude -> EPSG:4326) when omitted.

    Raises
    ------
    InputError
        Naming the columns found and what was expected.
    """
    keys = [_key(h) for h in header]

    def find(name: str) -> int:
        if name in header:
            return header.index(name)
        k = _key(name)
        if k and k in keys:
            return keys.index(k)
        raise InputError(f"column {name!r} not found in {source}; {describe_columns(header)}")

    if postcode is not None:
        pi = find(postcode)
        return LocationColumns(postcode=pi, kind="postcode", fallbacks=_fallbacks(keys, crs, skip=pi))
    if x is not None or y is not None:
        if x is None or y is None:
            raise InputError("give both --x-col and --y-col for coordinates")
        xi, yi = find(x), find(y)
        guess = "EPSG:4326" if _key(x) in _LON_NAMES or _key(y) in _LAT_NAMES else "EPSG:27700"
        return LocationColumns(x=xi, y=yi, crs=crs or guess, kind="points")
    i = next((keys.index(n) for n in _POSTCODE_NAMES if n in keys), None)
    if i is None:
        i = next((j for j, k in enumerate(keys) if "postcode" in k), None)
    found = ([LocationColumns(postcode=i, kind="postcode")] if i is not None else []) + list(
        _fallbacks(keys, crs, skip=i))
    if found:
        return dataclasses.replace(found[0], fallbacks=tuple(found[1:]))
    raise InputError(
        f"no location column in {source}: expected a postcode column (e.g. 'postcode', 'Post Code'), "
        f"an address column, or easting/northing or latitude/longitude columns (or name one with "
        f"--postcode-col, or --x-col and --y-col); {describe_columns(header)}"
    )


def _address_columns(keys: list[str], skip: int | None) -> list[int]:
    """Address columns in file order: the usual names first, then any name with "address" in it."""
    named = [j for j, k in enumerate(keys) if k in _ADDRESS_NAMES]
    loose = [j for j, k in enumerate(keys) if "address" in k and not any(w in k for w in ("email", "web", "ip"))]
    return [j for j in dict.fromkeys(named + loose) if j != skip]


def _fallbacks(keys: list[str], crs: str | None, *, skip: int | None) -> tuple[LocationColumns, ...]:
    """Address columns, then easting/northing or longitude/latitude, found from the header."""
    out = [LocationColumns(postcode=j, kind="address") for j in _address_columns(keys, skip)]

    def first(names: list[str]) -> int | None:
        return next((keys.index(n) for n in names if n in keys), None)

    xi, yi = first(_X_NAMES), first(_Y_NAMES)
    lo, la = first(_LON_NAMES), first(_LAT_NAMES)
    if xi is not None and yi is not None:
        out.append(LocationColumns(x=xi, y=yi, crs=crs or "EPSG:27700", kind="points"))
    elif lo is not None and la is not None:
        out.append(LocationColumns(x=lo, y=la, crs=crs or "EPSG:4326", kind="points"))
    return tuple(out)


# --------------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------------
_BINARY_MAGIC = [
    (b"PK\x03\x04", "a zip archive or Excel workbook (.xlsx)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls)"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
]


def _as_bytes_or_path(src: Source, name: str | None) -> tuple[bytes | None, Path | None, str]:
    if isinstance(src, bytes | bytearray | memoryview):
        return bytes(src), None, name or "upload"
    if hasattr(src, "read"):
        data = src.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        return bytes(data), None, name or getattr(src, "name", None) or "upload"
    p = Path(src)
    if not p.exists():
        raise InputError(f"input file {str(src)!r} does not exist")
    if not p.is_file():
        raise InputError(f"input {str(src)!r} is not a file (a folder?); expected a CSV file")
    return None, p, name or p.name


def _binary(data: bytes | None, path: Path | None) -> IO[bytes]:
    return io.BytesIO(data) if data is not None else open(path, "rb")  # noqa: SIM115


def detect_encoding(src: Source) -> str:
    """'utf-16' for a UTF-16 byte-order mark, 'utf-8-sig' if all of it decodes as UTF-8 (with or
    without a byte-order mark), else 'cp1252'."""
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
            return "cp1252"
    return "utf-8-sig"


def _sniff_delimiter(line: str) -> str:
    counts = dict.fromkeys(_DELIMITERS, 0)
    inq = False
    for ch in line:
        if ch == '"':
            inq = not inq
        elif not inq and ch in counts:
            counts[ch] += 1
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


@dataclass
class Caseload:
    """A caseload being read: header, how it was read, and its rows in chunks.

    ``chunks`` yields DataFrames with positional columns 0..n-1 (so duplicate names survive), every
    value a string ("" for empty). ``stats`` counts ``rows`` and ``blank_lines`` as they are read.
    """

    header: list[str]
    encoding: str
    delimiter: str
    name: str
    chunks: Iterator[pd.DataFrame]
    stats: dict = field(default_factory=lambda: {"rows": 0, "blank_lines": 0})
    format: str = "csv"  # {"csv", "xlsx"}
    sheet: str | None = None  # the sheet read, for a workbook


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
    with _binary(data, path) as fh:
        head = fh.read(8)
    if head.startswith(b"PK\x03\x04"):
        from . import excel

        if excel.is_workbook(data, path):
            return excel.read_workbook(data, path, name=name, sheet=sheet, chunksize=chunksize)
    for magic, what in _BINARY_MAGIC:
        if head.startswith(magic):
            raise InputError(f"{name} is {what}, not a CSV file or .xlsx workbook: save it as "
                             "'Excel Workbook (.xlsx)' or 'CSV UTF-8 (comma delimited)'")
    enc = encoding or detect_encoding(data if data is not None else path)
    if csv.field_size_limit() < _FIELD_LIMIT:
        csv.field_size_limit(_FIELD_LIMIT)

    def text() -> IO[str]:
        return io.TextIOWrapper(_binary(data, path), encoding=enc, errors="replace", newline="")

    # header: first non-blank line (after an Excel "sep=;" line)
    delimiter = ","
    skip_sep = False
    with text() as fh:
        for line in fh:
            if not line.strip():
                continue
            m = re.fullmatch(r'"?sep=(.)"?\s*', line.strip("\r\n"), flags=re.I)
            if m:
                delimiter, skip_sep = m.group(1), True
                continue
            if "\x00" in line:
                raise InputError(f"{name} holds NUL bytes: it is not a text CSV file (a binary file, "
                                 "or UTF-16 without a byte-order mark); save it as 'CSV UTF-8'")
            if not skip_sep:
                delimiter = _sniff_delimiter(line)
            break
    fh = text()
    reader = csv.reader(fh, delimiter=delimiter)
    header = None
    try:
        for row in reader:
            if skip_sep and re.fullmatch(r"sep=.", ",".join(row).strip(), flags=re.I):
                continue
            if any(c.strip() for c in row):
                header = row
                break
    except BaseException:
        fh.close()
        raise
    if header is None:
        fh.close()
        raise InputError(f"{name} is empty: expected a header row naming the columns, then one row "
                         "per family")
    n = len(header)
    case = Caseload(header=header, encoding=enc, delimiter=delimiter, name=name, chunks=iter(()))

    def gen() -> Iterator[pd.DataFrame]:
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
                if len(row) != n:
                    if len(row) < n:
                        row = row + [""] * (n - len(row))
                    elif any(c.strip() for c in row[n:]):
                        raise InputError(
                            f"{name}: row {stats['rows']} (line {reader.line_num}) has {len(row)} cells "
                            f"but the header has {n}; expected every row to fit the header's columns "
                            "(a stray separator or an unquoted cell?)"
                        )
                    else:
                        row = row[:n]  # trailing separators: the extra cells are empty
                rows.append(row)
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

    case.chunks = gen()
    return case


def _unclosed_quote(text: Callable[[], IO[str]], start: int, delimiter: str) -> bool:
    """Whether the record starting at line ``start`` (the file's last) runs off the end in a quote.

    Only called when the last record spans several lines, so the extra read is rare.
    """
    import itertools

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
    """The header row as written (duplicates kept). Raises InputError for an empty file."""
    c = read_caseload(path, encoding=encoding, sheet=sheet)
    c.chunks.close()
    return c.header


def read_caseload_frame(src: Source, *, name: str | None = None, sheet: str | int | None = None) -> pd.DataFrame:
    """A whole caseload (small files: enrolment lists; CSV or .xlsx) as one DataFrame of strings.

    Duplicate column names get ``.1``, ``.2`` suffixes so every column survives.
    """
    c = read_caseload(src, name=name, sheet=sheet)
    frames = list(c.chunks)
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=range(len(c.header)))
    df.columns = dedupe_names(c.header)
    return df


def dedupe_names(header: list[str]) -> list[str]:
    """Column names made unique by suffixing repeats (``name``, ``name.1``...)."""
    seen: dict[str, int] = {}
    out = []
    for h in header:
        h = str(h)
        if h in seen:
            seen[h] += 1
            cand = f"{h}.{seen[h]}"
            while cand in seen:
                seen[h] += 1
                cand = f"{h}.{seen[h]}"
            seen[cand] = 0
            out.append(cand)
        else:
            seen[h] = 0
            out.append(h)
    return out


# --------------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------------
_RISKY_FIRST = frozenset("=+-@\t\r")
_RISKY_RE = re.compile(r"[=+\-@\t\r]")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def neutralise_cell(v: Any) -> Any:
    """One cell: ``'`` in front of text a spreadsheet would run as a formula; numbers untouched."""
    if isinstance(v, str) and v[:1] in _RISKY_FIRST and not _NUMBER.match(v):
        return "'" + v
    return v


def _neutralise_values(vals: np.ndarray) -> np.ndarray | None:
    """A neutralised copy of an object array, or None when nothing needs it."""
    n = len(vals)
    if n > 64:
        codes, uniques = pd.factorize(vals, use_na_sentinel=True)
        if len(uniques) * 4 < n:  # few distinct values (result columns, codes): check each once
            fixed = _neutralise_values(np.asarray(uniques, dtype=object))
            if fixed is None:
                return None
            out = vals.copy()
            ok = codes >= 0
            out[ok] = fixed[codes[ok]]
            return out
    try:  # the common case, all text: the regex's C loop
        risky = np.fromiter((m is not None for m in map(_RISKY_RE.match, vals)), bool, n)
    except TypeError:
        risky = np.fromiter((isinstance(v, str) and v[:1] in _RISKY_FIRST for v in vals), bool, n)
    if not risky.any():
        return None
    out = vals.copy()
    for i in np.flatnonzero(risky):
        if not _NUMBER.match(out[i]):
            out[i] = "'" + out[i]
    return out


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix with ``'`` every text cell a spreadsheet would run as a formula.

    Cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return are neutralised; plain
    numbers ("-5", "+3.2", "-1e3") are left alone. Phone numbers written "+44 1563..." are
    neutralised too (they are not numbers).

    Examples
    --------
    >>> neutralise_formulas(pd.DataFrame({"a": ["=1+1", "-5", "@SUM(A1)", "ok", "+44 1563"]}))["a"].tolist()
    ["'=1+1", '-5', "'@SUM(A1)", 'ok', "'+44 1563"]
    """
    out = df.copy()
    for c in range(out.shape[1]):
        col = out.iloc[:, c]
        if col.dtype != object and not pd.api.types.is_string_dtype(col) \
                and not isinstance(col.dtype, pd.CategoricalDtype):
            continue
        fixed = _neutralise_values(col.to_numpy(dtype=object))
        if fixed is not None:
            out.isetitem(c, pd.Series(fixed, index=out.index, dtype=object))
    return out


def _rows_of(df: pd.DataFrame) -> Iterable[tuple]:
    cols = []
    for c in range(df.shape[1]):
        col = df.iloc[:, c]
        vals = col.to_numpy(dtype=object)
        if col.dtype == object or pd.api.types.is_string_dtype(col) or isinstance(col.dtype, pd.CategoricalDtype):
            fixed = _neutralise_values(vals)
            vals = fixed if fixed is not None else vals
        na = pd.isna(vals)
        if na.any():
            vals = np.where(na, "", vals)
        cols.append(vals)
    return zip(*cols, strict=True) if cols else iter([()] * len(df))


def write_csv(frames: Iterable[pd.DataFrame], fh: IO[str], header: list[str]) -> int:
    """Write a header and DataFrames (by position) to an open text file, formulas neutralised."""
    w = csv.writer(fh, lineterminator="\r\n")
    w.writerow([neutralise_cell(h) for h in header])
    rows = 0
    for df in frames:
        w.writerows(_rows_of(df))
        rows += len(df)
    return rows


def check_output_path(path: str | os.PathLike, *inputs: str | os.PathLike) -> Path:
    """Raise InputError unless ``path`` can be written and is none of ``inputs``."""
    p = Path(path)
    for i in inputs:
        if i is not None and same_file(i, p):
            raise InputError(f"output path {str(path)!r} is the input file: choose another output; "
                             "heart-geo never overwrites its input")
    if p.is_dir():
        raise InputError(f"output path {str(path)!r} is a folder; expected a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"output folder {str(parent)!r} does not exist; create it or choose another "
                         "output path")
    return p


def write_csv_atomic(frames: Iterable[pd.DataFrame], path: str | os.PathLike, header: list[str], *,
                     encoding: str = "utf-8", inputs: tuple = (), bom: bool = True) -> int:
    """Write DataFrames (positional columns) to ``path`` via a temporary file and rename.

    Formulas are neutralised. Returns the number of data rows written. On any error the temporary
    file is removed and ``path`` is untouched. The file is readable by its owner only (it holds
    personal data). ``inputs`` are paths ``path`` must not be. A path ending ``.xlsx`` is written as an
    Excel workbook; otherwise UTF-8 CSV, with a byte-order mark unless ``bom=False`` (Excel needs it
    to read accented names).
    """
    path = check_output_path(path, *inputs)
    xlsx = path.suffix.lower() == ".xlsx"
    if bom and not xlsx and encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        if xlsx:
            from .excel import write_workbook

            with open(fd, "wb") as fh:
                rows = write_workbook(_all_rows(frames), fh, [neutralise_cell(h) for h in header])
        else:
            with open(fd, "w", encoding=encoding, newline="") as fh:
                rows = write_csv(frames, fh, header)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rows


def _all_rows(frames: Iterable[pd.DataFrame]) -> Iterator[tuple]:
    for df in frames:
        yield from _rows_of(df)


def csv_bytes(df: pd.DataFrame, *, encoding: str = "utf-8", bom: bool = True) -> bytes:
    """A DataFrame as CSV bytes for a download, formulas neutralised (no index; UTF-8 with a
    byte-order mark unless ``bom=False``)."""
    buf = io.StringIO()
    write_csv([df], buf, [str(c) for c in df.columns])
    out = buf.getvalue().encode(encoding)
    return codecs.BOM_UTF8 + out if bom and encoding.lower().replace("_", "-") in ("utf-8", "utf8") else out


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True if two paths name the same file (through symlinks, hard links, ``..`` or ``./``)."""
    pa, pb = Path(a), Path(b)
    try:
        if pa.exists() and pb.exists():
            return os.path.samefile(pa, pb)
    except OSError:
        return False
    return pa.resolve() == pb.resolve()


# --------------------------------------------------------------------------------------------------
# allocation of a whole caseload
# --------------------------------------------------------------------------------------------------
def _allocate_by(profile, chunk: pd.DataFrame, loc: LocationColumns) -> pd.DataFrame:
    if loc.kind == "points":
        return profile.allocate_points(chunk[loc.x].to_numpy(), chunk[loc.y].to_numpy(), crs=loc.crs)
    return profile.allocate(chunk[loc.postcode].tolist()).drop(columns="query")


#: Statuses that send a row on to the next location column (the cell was empty or unusable).
_RETRY = ("missing_location", "invalid_postcode", "invalid_coordinates")


def allocate_frame(profile, chunk: pd.DataFrame, loc: LocationColumns, header: list[str] | None = None
                   ) -> pd.DataFrame:
    """Allocate one chunk (positional columns) with the chosen location columns.

    Rows the first column cannot locate (empty or invalid) are tried with ``loc.fallbacks`` in
    order; ``detail`` then names the column that answered (``header`` gives the names).
    """
    res = _allocate_by(profile, chunk, loc).reset_index(drop=True)
    todo = res["status"].astype(str).isin(_RETRY).to_numpy().copy()
    if not loc.fallbacks or not todo.any():
        return res
    header = list(header if header is not None else loc.header or [str(c) for c in range(chunk.shape[1])])
    res = res.astype(object)
    if loc.kind == "points":
        empty = chunk[loc.x].astype(str).str.strip().eq("").to_numpy() | chunk[loc.y].astype(str).str.strip().eq(
            "").to_numpy()
    else:
        empty = chunk[loc.postcode].astype(str).str.strip().eq("").to_numpy()
    for fb in loc.fallbacks:
        idx = np.flatnonzero(todo)
        if not idx.size:
            break
        sub = _allocate_by(profile, chunk.iloc[idx], fb).reset_index(drop=True)
        ok = ~sub["status"].astype(str).isin(_RETRY).to_numpy()
        if not ok.any():
            continue
        rows = idx[ok]
        for c in RESULT_COLUMNS:
            res.iloc[rows, res.columns.get_loc(c)] = sub[c].astype(object).to_numpy()[ok]
        why = np.where(empty[rows], "empty", "not a usable location")
        first = loc.columns(header)
        res.iloc[rows, res.columns.get_loc("detail")] = [
            f"{d} (located from {fb.columns(header)}: {first} was {w})"
            for d, w in zip(res["detail"].to_numpy()[rows], why, strict=True)]
        todo[rows] = False
        res.attrs.setdefault("fallbacks", {})[fb.columns(header)] = int(rows.size)
    return res


def result_names(header: list[str]) -> list[str]:
    """Result column names, suffixed where the input already uses the name."""
    taken = set(header)
    return [c if c not in taken else f"{c}_heart_geo" for c in RESULT_COLUMNS]


def _fmt(values: np.ndarray, spec: str) -> np.ndarray:
    out = np.full(len(values), "", dtype=object)
    ok = ~np.isnan(values)
    if ok.any():
        out[ok] = np.char.mod(spec, values[ok]).astype(object)
    return out


def finish_chunk(chunk: pd.DataFrame, res: pd.DataFrame, n_in: int) -> pd.DataFrame:
    """Input columns (positional) then result columns, positionally numbered."""
    res = res.reset_index(drop=True)
    out = chunk.reset_index(drop=True).copy()
    for j, c in enumerate(RESULT_COLUMNS):
        v = res[c]
        if c == "distance_m":
            v = _fmt(v.to_numpy(dtype=float), "%.1f")
        elif c in ("easting", "northing"):
            v = _fmt(v.to_numpy(dtype=float), "%.0f")
        elif c == "near_boundary":
            v = np.where(res["status"].astype(str).isin(["allocated", "nearest_team", "terminated_postcode"]),
                         np.where(v, "yes", "no"), "")
        else:
            v = v.astype(object).where(v.notna(), "")
        out[n_in + j] = np.asarray(v, dtype=object)
    return out


def allocate_caseload(
    profile,
    src: Source,
    out: str | os.PathLike | IO[str],
    *,
    postcode_col: str | None = None,
    x_col: str | None = None,
    y_col: str | None = None,
    crs: str | None = None,
    chunk_size: int = 100_000,
    name: str | None = None,
    progress: Callable[[int], None] | None = None,
    sheet: str | int | None = None,
    bom: bool = True,
    out_format: str | None = None,
) -> dict:
    """Allocate every row of a caseload and write it with the result columns added.

    Parameters
    ----------
    profile : Profile
    src : path, bytes or binary file-like
        The caseload: CSV, or an Excel workbook (.xlsx; ``sheet`` names or numbers the sheet).
    out : path or file-like
        A path is written atomically (never the input): an Excel workbook if it ends ``.xlsx``, else
        CSV (UTF-8 with a byte-order mark unless ``bom=False``). A file-like object is written as is:
        text CSV, or with ``out_format="xlsx"`` a workbook to a binary file.
    postcode_col, x_col, y_col, crs : str, optional
        Location columns (found from the header when omitted). Rows whose postcode cell is empty or
        invalid are tried with the address column(s), then coordinates, found from the header.
    progress : callable, optional
        Called with the number of rows of each chunk as it is done.

    Returns
    -------
    dict
        Counts only: ``rows``, ``blank_lines``, ``status`` {status: n}, ``team`` {team: n},
        ``encoding``, ``delimiter``, ``location`` (which columns), ``located_by`` {fallback columns:
        rows they located}, ``format`` and ``sheet`` of the input, ``note``.

    Raises
    ------
    InputError
        Saying what was wrong with the input and what was expected.
    """
    case = read_caseload(src, chunksize=chunk_size, name=name, sheet=sheet)
    header = case.header
    try:
        loc = find_location_columns(header, postcode=postcode_col, x=x_col, y=y_col, crs=crs,
                                    source=case.name)
    except BaseException:
        case.chunks.close()
        raise
    loc = dataclasses.replace(loc, header=tuple(header))
    # the file name is not logged: case files are often named after the family
    log.info("Reading the input (%s, %r separated); locating rows by %s", case.encoding,
             case.delimiter, loc.describe(header))
    out_header = header + result_names(header)
    status_counts: dict[str, int] = {}
    team_counts: dict[str, int] = {}
    located_by: dict[str, int] = {}

    def frames():
        for i, chunk in enumerate(case.chunks):
            res = allocate_frame(profile, chunk, loc)
            for k, v in res.attrs.get("fallbacks", {}).items():
                located_by[k] = located_by.get(k, 0) + v
            for k, v in res["status"].astype(str).value_counts().items():
                status_counts[k] = status_counts.get(k, 0) + int(v)
            teams = res["team"].astype(object).where(res["team"].notna(), "(none)")
            for k, v in teams.value_counts().items():
                team_counts[str(k)] = team_counts.get(str(k), 0) + int(v)
            log.debug("chunk %d: %d rows", i + 1, len(chunk))
            if progress is not None:
                progress(len(chunk))
            yield finish_chunk(chunk, res, len(header))

    inputs = (src,) if isinstance(src, str | os.PathLike) else ()
    if hasattr(out, "write") and out_format == "xlsx":
        from .excel import write_workbook

        rows = write_workbook(_all_rows(frames()), out, [neutralise_cell(h) for h in out_header])
    elif hasattr(out, "write"):
        rows = write_csv(frames(), out, out_header)
    else:
        rows = write_csv_atomic(frames(), out, out_header, inputs=inputs, bom=bom)
    if rows != case.stats["rows"]:  # pragma: no cover - a guard, never expected
        raise RuntimeError("row count changed during allocation")
    note = "" if rows else "the file has a header but no rows: the output has the header only"
    return {
        "rows": rows,
        "blank_lines": case.stats["blank_lines"],
        "status": status_counts,
        "team": team_counts,
        "encoding": case.encoding,
        "delimiter": case.delimiter,
        "location": loc.describe(header),
        "located_by": located_by,
        "format": case.format,
        "sheet": case.sheet,
        "note": note,
    }


def allocate_csv_bytes(profile, data: bytes | IO[bytes], *, name: str = "upload", **opts
                       ) -> tuple[bytes, dict]:
    """Allocate an uploaded caseload held in memory; return ``(csv_bytes, summary)``.

    For the dashboard's upload and download: same reading, formula neutralising and summary as
    ``heart-geo assign`` (see :func:`allocate_caseload` for ``opts`` and the summary). The bytes are
    UTF-8 CSV.

    Examples
    --------
    >>> from heart_geo.testing import make_profile
    >>> out, summary = allocate_csv_bytes(make_profile(), b"name,postcode\\r\\n=cmd,tt1 1aa\\r\\n")
    >>> out.decode("utf-8-sig").splitlines()[1].split(",")[:4]
    ["'=cmd", 'tt1 1aa', 'North', 'allocated']
    >>> summary["rows"], summary["status"]
    (1, {'allocated': 1})
    """
    return allocate_bytes(profile, data, name=name, **opts)


def allocate_bytes(profile, data: bytes | IO[bytes], *, name: str = "upload", out_format: str = "csv",
                   bom: bool = True, **opts) -> tuple[bytes, dict]:
    """Allocate an uploaded caseload (CSV or .xlsx) held in memory; return ``(bytes, summary)``.

    ``out_format`` "csv" gives UTF-8 CSV (with a byte-order mark unless ``bom=False``); "xlsx" an
    Excel workbook. See :func:`allocate_caseload` for ``opts`` and the summary.
    """
    if out_format == "xlsx":
        bbuf = io.BytesIO()
        summary = allocate_caseload(profile, data, bbuf, name=name, out_format="xlsx", **opts)
        return bbuf.getvalue(), summary
    if out_format != "csv":
        raise InputError(f"output format {out_format!r}: expected 'csv' or 'xlsx'")
    buf = io.StringIO(newline="")
    summary = allocate_caseload(profile, data, buf, name=name, **opts)
    return (codecs.BOM_UTF8 if bom else b"") + buf.getvalue().encode("utf-8"), summary
