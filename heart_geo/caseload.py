"""Caseload files: read what case-management exports really look like, write results safely.

Reading (:func:`read_caseload`, from a path, bytes or a binary file-like object):

* UTF-8 with or without a byte-order mark, UTF-16 with a byte-order mark (Excel's "Unicode text"),
  UTF-8 with a few stray Windows-1252 bytes (each read as Windows-1252, the rest as UTF-8), else
  Windows-1252 (names like "Zoë Ó'Brien" from older exports);
* comma, semicolon, tab or pipe separated (guessed from the header and the lines after it; a
  separator inside parentheses in the header does not count; Excel's ``sep=;`` line honoured);
* web pages, XML and RTF saved as ``.xls``/``.csv`` refused; a first row that looks like a family's
  details rather than a header refused (never echoed);
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
import contextlib
import csv
import dataclasses
import io
import logging
import os
import re
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
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
    "CaseloadSummary",
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
_UPRN_NAMES = ["uprn", "propertyuprn", "uprnnumber", "addressuprn", "homeuprn", "chopuprn"]

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
    """Return the column names for an error message, unless the "header" looks like a row of data.

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
    kind: str = "postcode"  # {"postcode", "address", "points", "uprn"}
    #: Tried in order for rows this one cannot locate (empty or invalid cell): address columns, then
    #: coordinates.
    fallbacks: tuple[LocationColumns, ...] = ()
    #: The file's column names, for details naming the column that answered.
    header: tuple[str, ...] = dataclasses.field(default=(), compare=False, repr=False)
    note: str = ""  # how a choice between several candidate columns was made (column names only)

    def describe(self, header: list[str]) -> str:
        """Describe the columns rows are located from, then the fallbacks, named from ``header``."""
        if self.kind == "points":
            text = f"coordinates from columns {header[self.x]!r}, {header[self.y]!r} ({self.crs})"
        elif self.kind == "uprn":
            text = f"UPRN from column {header[self.postcode]!r} (its own address point)"
        else:
            text = f"{self.kind} from column {header[self.postcode]!r}"
        if self.fallbacks:
            text += "; where empty or invalid, " + ", then ".join(f.describe(header) for f in self.fallbacks)
        return text

    def columns(self, header: list[str]) -> str:
        """Return the column name(s) this reads, for a detail line."""
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
    uprn: str | None = None,
    find_uprn: bool = False,
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
    uprn : str, optional
        A column of UPRNs (address references) given by the user; with ``find_uprn`` one named like
        "UPRN" is found by itself. Rows are then answered from the UPRN's own address point first,
        and a row whose UPRN is missing or unknown from the postcode, address or coordinate columns.

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

    if uprn is not None or find_uprn:
        earlier = previous_result_columns(header)
        ui = find(uprn) if uprn is not None else next(
            (j for j, k in enumerate(keys) if k in _UPRN_NAMES and j not in earlier), None)
        if ui is not None:
            try:
                rest = find_location_columns(header, postcode=postcode, x=x, y=y, crs=crs, source=source)
                chain = (dataclasses.replace(rest, fallbacks=()), *rest.fallbacks)
                note = rest.note
            except InputError:
                chain, note = (), ""
            return LocationColumns(postcode=ui, kind="uprn", fallbacks=tuple(chain), note=note)
    if postcode is not None:
        pi = find(postcode)
        return LocationColumns(postcode=pi, kind="postcode", fallbacks=_fallbacks(
            keys, crs, skip=pi, exclude=_not_home(header, previous_result_columns(header))))
    if x is not None or y is not None:
        if x is None or y is None:
            raise InputError("give both --x-col and --y-col for coordinates")
        xi, yi = find(x), find(y)
        guess = "EPSG:4326" if _key(x) in _LON_NAMES or _key(y) in _LAT_NAMES else "EPSG:27700"
        return LocationColumns(x=xi, y=yi, crs=crs or guess, kind="points")
    earlier = previous_result_columns(header)
    cands = [j for j, k in enumerate(keys) if j not in earlier and (k in _POSTCODE_NAMES or "postcode" in k)]
    i, note = _choose_column(header, cands, "postcode", source) if cands else (None, "")
    found = ([LocationColumns(postcode=i, kind="postcode")] if i is not None else []) + list(
        _fallbacks(keys, crs, skip=i, exclude=_not_home(header, earlier)))
    if found:
        return dataclasses.replace(found[0], fallbacks=tuple(found[1:]), note=note)
    raise InputError(
        f"no location column in {source}: expected a postcode column (e.g. 'postcode', 'Post Code'), "
        f"an address column, or easting/northing or latitude/longitude columns (or name one with "
        f"--postcode-col, or --x-col and --y-col); {describe_columns(header)}"
    )


#: Words in a column name that mark a place other than where the family lives now: such a column
#: is never chosen automatically when another candidate exists, nor alone (name it to use it).
_OTHER_PLACE = ("previous", "prev", "old", "former", "prior", "past", "earlier", "moved", "school",
                "work", "employer", "gp", "surgery", "correspondence", "billing", "forwarding",
                "emergency", "nextofkin", "kin", "placement", "birth", "origin", "pre")
#: Words that mark the current home.
_CURRENT_PLACE = ("current", "home", "present", "now", "residence", "residential", "living", "new",
                  "latest", "curr")


def _words(name: str) -> set[str]:
    return set(re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name)).lower()))


def _marks(name: str, words: tuple[str, ...]) -> bool:
    w = _words(name)
    k = _key(name)
    return any(x in w or (len(x) >= 4 and x in k) for x in words)


def _choose_column(header: list[str], cands: list[int], what: str, source: str) -> tuple[int, str]:
    """One column among several that could locate the family, by an explicit rule.

    Columns with the same name: the first (duplicates are kept, the first is used). Otherwise a
    column whose name marks another place (previous, old, school, work...) is never chosen; of the
    rest, one marked current (current, home, present...) or the only one left wins. Anything else
    is ambiguous: an error asking the user to name the column.
    """
    names = [str(header[j]) for j in cands]
    if len(set(names)) == 1 and not _marks(names[0], _OTHER_PLACE):
        note = "" if len(cands) == 1 else (f"{len(cands)} columns are named {names[0]!r}: the first is used")
        return cands[0], note
    other = [j for j in cands if _marks(header[j], _OTHER_PLACE)]
    rest = [j for j in cands if j not in other]
    current = [j for j in rest if _marks(header[j], _CURRENT_PLACE)]
    shown = _safe_names(names)
    pick = current if len(current) == 1 else rest
    if len({str(header[j]) for j in pick}) == 1 and pick:
        others = [str(header[j]) for j in cands if j != pick[0]]
        return pick[0], (f"{len(cands)} columns could hold the {what}: used {str(header[pick[0]])!r}; "
                         f"not {_safe_names(others)} (a column named previous, old, school, work... is never "
                         "chosen automatically); name another with --postcode-col")
    if not rest:
        raise InputError(
            f"the only {what} columns in {source}, {shown}, name a place other than the family's home "
            "(previous, old, school, work...); expected the column of where the family lives: if it is "
            "this one, name it with --postcode-col"
        )
    raise InputError(
        f"{len(cands)} columns in {source} could hold the family's {what}: {shown}; expected one: name "
        "the column of where the family lives now with --postcode-col (or name it 'current ...')"
    )


def _safe_names(names: list[str]) -> str:
    """Column names for a message, unless one looks like data (then only the count)."""
    if any(_LOOKS_LIKE_DATA.search(n) for n in names):
        return f"{len(names)} columns (names not shown: they look like data)"
    return str([n if len(n) <= 60 else n[:57] + "..." for n in names])


_RESULT_KEYS = [_key(c) for c in RESULT_COLUMNS]
_SUFFIX = re.compile(r"(heartgeo\d*)+$")


def previous_result_columns(header: list[str]) -> set[int]:
    """Positions of result columns from an earlier run of this tool (its output read again).

    A block is the result columns from ``team`` to ``detail`` in order (and those after them, such
    as ``likely_team``, when they follow), each name as written or with a ``_heart_geo`` suffix:
    outputs of older versions, with fewer columns, are recognised too. They are kept in the output
    as they are, never used to locate a row, and the new result columns get names not yet taken.
    """
    keys = [_SUFFIX.sub("", _key(h)) for h in header]
    core = _RESULT_KEYS.index(_key("detail")) + 1
    out: set[int] = set()
    for i in range(len(keys) - core + 1):
        if keys[i:i + core] == _RESULT_KEYS[:core]:
            m = core
            while m < len(_RESULT_KEYS) and i + m < len(keys) and keys[i + m] == _RESULT_KEYS[m]:
                m += 1
            out.update(range(i, i + m))
    return out


def _address_columns(keys: list[str], skip: int | None, exclude: frozenset[int] = frozenset()) -> list[int]:
    """Return the address columns in file order.

    The usual names first, then any name with "address" in it (never one in ``exclude``: earlier
    results, a previous or other place).
    """
    named = [j for j, k in enumerate(keys) if k in _ADDRESS_NAMES]
    loose = [j for j, k in enumerate(keys) if "address" in k and not any(w in k for w in ("email", "web", "ip"))]
    return [j for j in dict.fromkeys(named + loose) if j != skip and j not in exclude]


def _not_home(header: list[str], earlier: set[int]) -> frozenset[int]:
    """Return the columns never used automatically to locate a row.

    These are result columns of an earlier run, and columns whose names mark a place other than the
    home (previous address, school address...).
    """
    return frozenset(earlier | {j for j, h in enumerate(header) if _marks(str(h), _OTHER_PLACE)})


def _fallbacks(keys: list[str], crs: str | None, *, skip: int | None,
               exclude: frozenset[int] = frozenset()) -> tuple[LocationColumns, ...]:
    """Return the address columns, then easting/northing or longitude/latitude, found from the header.

    The columns in ``exclude`` are never among them.
    """
    out = [LocationColumns(postcode=j, kind="address") for j in _address_columns(keys, skip, exclude)]

    def first(names: list[str]) -> int | None:
        return next((j for n in names for j, k in enumerate(keys) if k == n and j not in exclude), None)

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


def _first_row_is_data(first: list[str], rest: list[list[str]]) -> bool:
    """Return whether the first row is a family's details rather than a header.

    It is judged with the rows after it: a header names at least one location column, or holds no
    postcode, e-mail address, date or street address, and no number over a column of numbers.
    """
    from .postcodes import clean_text

    cells = [clean_text(str(c)) for c in first]
    keys = [_key(c) for c in cells]
    if any(k in _LOCATION_KEYS or "postcode" in k or "address" in k for k in keys):
        return False
    for j, cell in enumerate(cells):
        if _DATA_CELL.search(cell):
            return True
        if _NUMBER_CELL.match(cell):
            below = [r[j] for r in rest if j < len(r) and r[j].strip()]
            if not below or sum(bool(_NUMBER_CELL.match(b)) for b in below) >= 0.8 * len(below):
                return True
    return False


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
    workbook = _workbook_or_refuse_binary(data, path, name, sheet=sheet, chunksize=chunksize)
    if workbook is not None:
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
        if _first_row_is_data(header, sample_rows[1:]):
            raise InputError(
                f"{name}: {len(header)} columns, not shown: the first row looks like data (a postcode, "
                "address, date, number or e-mail address), not a header; expected a header row naming the "
                "columns (e.g. 'name,address,postcode'): add one, so no family is taken for the header"
            )
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
    if head.startswith(b"PK\x03\x04"):
        from . import excel

        if excel.is_workbook(data, path):
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
    """Return a neutralised copy of an object array, or None when nothing needs it."""
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
    if _is_special(path):  # a device, FIFO or socket (/dev/null, /dev/stdout): write into it, never replace it
        if xlsx:
            from .excel import write_workbook

            with open(path, "wb") as fh:
                return write_workbook(_all_rows(frames), fh, [neutralise_cell(h) for h in header])
        with open(path, "w", encoding=encoding, newline="") as fh:
            return write_csv(frames, fh, header)
    with _signals_raise() as signals:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        try:
            signals.arm()  # from here a signal raises; one that came during mkstemp raises now
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


def _is_special(path: Path) -> bool:
    """Return True for an output to open and write into rather than replace.

    That is an existing device, FIFO or socket, or anything reached through ``/dev`` or ``/proc``
    (``/dev/stdout`` redirected to a file is a regular file, but replacing it would replace the
    machine's ``/dev/stdout`` link).
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return True
    here = os.path.abspath(path)
    return any(p == root or p.startswith(root + os.sep) for p in (here, os.path.realpath(path))
               for root in ("/dev", "/proc"))


class _Signals:
    """SIGTERM/SIGHUP arriving while a temporary file is made.

    They are held until :meth:`arm` (when the caller can remove the file), then raised as
    SystemExit(128 + signal).
    """

    def __init__(self):
        self.armed = False
        self.pending: int | None = None

    def handler(self, signum, _frame):
        if not self.armed:  # the temporary file's name is not known yet: raise once it is
            self.pending = signum
            return
        raise SystemExit(128 + signum)

    def arm(self) -> None:
        self.armed = True
        if self.pending is not None:
            raise SystemExit(128 + self.pending)


@contextlib.contextmanager
def _signals_raise():
    """Make SIGTERM and SIGHUP raise SystemExit while personal data is written to a temporary file.

    The exit status is 128 + signal, so the clean-up removes the temporary file before the process
    ends. A signal arriving while the file is being created is held until the caller can clean up
    (:meth:`_Signals.arm`). Only in the main thread (signal handlers cannot be set elsewhere, e.g.
    in Streamlit): there, nothing is changed.
    """
    state = _Signals()
    if threading.current_thread() is not threading.main_thread():
        state.armed = True
        yield state
        return
    old = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        with contextlib.suppress(ValueError, OSError):  # not settable here: go on without
            old[sig] = signal.signal(sig, state.handler)
    try:
        yield state
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
    if state.pending is not None and not state.armed:  # never armed (mkstemp failed): still exit
        raise SystemExit(128 + state.pending)


def _all_rows(frames: Iterable[pd.DataFrame]) -> Iterator[tuple]:
    for df in frames:
        yield from _rows_of(df)


def csv_bytes(df: pd.DataFrame, *, encoding: str = "utf-8", bom: bool = True) -> bytes:
    """Return a DataFrame as CSV bytes for a download, formulas neutralised.

    No index; UTF-8 with a byte-order mark unless ``bom=False``.
    """
    buf = io.StringIO()
    write_csv([df], buf, [str(c) for c in df.columns])
    out = buf.getvalue().encode(encoding)
    return codecs.BOM_UTF8 + out if bom and encoding.lower().replace("_", "-") in ("utf-8", "utf8") else out


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Return True if two paths name the same file (through symlinks, hard links, ``..`` or ``./``)."""
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
    if loc.kind == "uprn":
        return profile.allocate_uprns(chunk[loc.postcode].tolist()).drop(columns="query").reset_index(drop=True)
    if loc.kind == "points":
        return profile.allocate_points(_decimal_point(chunk[loc.x]), _decimal_point(chunk[loc.y]), crs=loc.crs)
    return profile.allocate(chunk[loc.postcode].tolist()).drop(columns="query")


def unique_name(name: str, taken: set[str]) -> str:
    """Return ``name``, else ``name_heart_geo``, else ``name_heart_geo_2``, ``_3``...: the first not in ``taken``.

    The name returned joins ``taken``.
    """
    cand, i = name, 1
    while cand in taken:
        cand = f"{name}_heart_geo" if i == 1 else f"{name}_heart_geo_{i}"
        i += 1
    taken.add(cand)
    return cand


_COMMA_DECIMAL = r"\s*[+\-\u2212]?\d+,\d+\s*"


def _decimal_point(col: pd.Series) -> np.ndarray:
    """Return coordinates as European-locale spreadsheets write them ("55,45", "−4,26") read with a decimal point.

    A comma is never a thousands separator here (a value read so would be out of range).
    """
    if col.dtype != object and not pd.api.types.is_string_dtype(col):
        return col.to_numpy()
    text = col.astype(object).where(col.notna(), "").astype(str)
    comma = text.str.fullmatch(_COMMA_DECIMAL).to_numpy(dtype=bool)
    if not comma.any():
        return col.to_numpy()
    out = col.to_numpy(dtype=object).copy()
    out[comma] = text[comma].str.replace(",", ".", regex=False).str.replace("\u2212", "-", regex=False).to_numpy()
    return out


#: Statuses that send a row on to the next location column (the cell was empty or unusable).
_RETRY = ("missing_location", "invalid_postcode", "invalid_coordinates")


def allocate_frame(profile, chunk: pd.DataFrame, loc: LocationColumns, header: list[str] | None = None
                   ) -> pd.DataFrame:
    """Allocate one chunk (positional columns) with the chosen location columns.

    Rows the first column cannot locate (empty or invalid) are tried with ``loc.fallbacks`` in
    order; ``detail`` then names the column that answered (``header`` gives the names).
    """
    if loc.kind == "uprn" and not len(getattr(profile, "addresses", ())) and loc.fallbacks:
        # no address points loaded: the UPRN column cannot answer, the other columns do as before
        loc = dataclasses.replace(loc.fallbacks[0], fallbacks=loc.fallbacks[1:], header=loc.header)
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
        why = np.where(empty[rows], "empty",
                       "not a UPRN in the address data" if loc.kind == "uprn" else "not a usable location")
        first = loc.columns(header)
        res.iloc[rows, res.columns.get_loc("detail")] = [
            f"{d} (located from {fb.columns(header)}: {first} was {w})"
            for d, w in zip(res["detail"].to_numpy()[rows], why, strict=True)]
        todo[rows] = False
        res.attrs.setdefault("fallbacks", {})[fb.columns(header)] = int(rows.size)
    return res


def result_names(header: list[str]) -> list[str]:
    """Return result column names, suffixed where the input already uses the name.

    A file that is this tool's own output gets ``_heart_geo``, then ``_heart_geo_2``...: never a
    repeated name.
    """
    taken = {str(h) for h in header}
    return [unique_name(c, taken) for c in RESULT_COLUMNS]


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


@dataclass
class CaseloadSummary(Mapping):
    """What :func:`allocate_caseload` did: counts and column names only, never a cell.

    The same result for ``heart-geo assign`` and the dashboard's upload. Read it as attributes
    (``summary.rows``) or, as the earlier dict, by key (``summary["rows"]``, ``summary.get("sheet")``,
    ``dict(summary)``).

    Attributes
    ----------
    rows : int
        Rows written (every input row, blank lines apart).
    blank_lines : int
        Blank lines skipped.
    status, team : dict
        Rows per status and per team (``"(none)"`` for rows with no team).
    encoding, delimiter : str
        How the input was read.
    location : str
        Which columns located the rows.
    located_by : dict
        Rows located by each fallback (address or coordinate columns).
    format : str
        Format of the input: {"csv", "xlsx"}.
    sheet : str or None
        Sheet read from a workbook.
    note : str
        What a person should know about the result (no rows, a choice between columns...).
    """

    rows: int
    blank_lines: int = 0
    status: dict[str, int] = field(default_factory=dict)
    team: dict[str, int] = field(default_factory=dict)
    encoding: str = ""
    delimiter: str = ""
    location: str = ""
    located_by: dict[str, int] = field(default_factory=dict)
    format: str = "csv"
    sheet: str | None = None
    note: str = ""

    def __getitem__(self, key: str):
        """Return a count by its key, as in the dict this used to be."""
        if key not in _SUMMARY_KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        """Return the keys."""
        return iter(_SUMMARY_KEYS)

    def __len__(self) -> int:
        """Return the number of keys."""
        return len(_SUMMARY_KEYS)

    __eq__ = Mapping.__eq__  # equal to the dict it used to be, and to another summary with the same counts
    __hash__ = None

    def by_team(self, team_names: list[str], *, suppress: bool = True) -> pd.DataFrame:
        """Rows per team in the profile's order, then "(none)".

        Counts of 1-4 show as ``<5`` with secondary suppression (:mod:`heart_geo.disclosure`) unless
        ``suppress=False``.
        """
        from .disclosure import suppress_counts

        counts = suppress_counts(self.team) if suppress else self.team
        order = [t for t in [*team_names, "(none)"] if t in counts]
        return pd.DataFrame({"team": order, "rows": pd.Series([counts[t] for t in order], dtype=object)})

    def by_status(self, *, suppress: bool = True) -> pd.DataFrame:
        """Rows per status, most first (suppressed as :meth:`by_team`)."""
        from .disclosure import suppress_counts

        counts = suppress_counts(self.status) if suppress else self.status
        order = sorted(self.status, key=lambda s: -self.status[s])
        return pd.DataFrame({"status": order, "rows": pd.Series([counts[s] for s in order], dtype=object)})


_SUMMARY_KEYS = tuple(f.name for f in dataclasses.fields(CaseloadSummary))


def allocate_caseload(
    profile,
    src: Source,
    out: str | os.PathLike | IO[str],
    *,
    postcode_col: str | None = None,
    x_col: str | None = None,
    y_col: str | None = None,
    crs: str | None = None,
    uprn_col: str | None = None,
    chunk_size: int = 100_000,
    name: str | None = None,
    progress: Callable[[int], None] | None = None,
    max_rows: int | None = None,
    sheet: str | int | None = None,
    bom: bool = True,
    out_format: str | None = None,
) -> CaseloadSummary:
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
    uprn_col : str, optional
        A UPRN column (one named like "UPRN" is found by itself): rows are answered from the UPRN's
        own address point where address points are loaded, else from the other columns.
    progress : callable, optional
        Called with the number of rows of each chunk as it is done.
    max_rows : int, optional
        Refuse (InputError) a file with more rows than this, as soon as they are read (for uploads
        held in memory).

    Returns
    -------
    CaseloadSummary
        Counts only (read as attributes or, as before, as a dict: ``summary["rows"]``): ``rows``,
        ``blank_lines``, ``status`` {status: n}, ``team`` {team: n}, ``encoding``, ``delimiter``,
        ``location`` (which columns), ``located_by`` {fallback columns: rows they located},
        ``format`` and ``sheet`` of the input, ``note``.

    Raises
    ------
    InputError
        Saying what was wrong with the input and what was expected.
    """
    case = read_caseload(src, chunksize=chunk_size, name=name, sheet=sheet)
    header = case.header
    try:
        loc = find_location_columns(header, postcode=postcode_col, x=x_col, y=y_col, crs=crs,
                                    source=case.name, uprn=uprn_col, find_uprn=True)
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
            _check_rows(case, max_rows)
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
    notes = [] if rows else ["the file has a header but no rows: the output has the header only"]
    if loc.note:
        notes.append(loc.note)
    if previous_result_columns(header):
        notes.append("the input holds result columns of an earlier run: kept as they are, not used to "
                     "locate rows; the new results are in the columns after them")
    return CaseloadSummary(
        rows=rows,
        blank_lines=case.stats["blank_lines"],
        status=status_counts,
        team=team_counts,
        encoding=case.encoding,
        delimiter=case.delimiter,
        location=loc.describe(header),
        located_by=located_by,
        format=case.format,
        sheet=case.sheet,
        note="; ".join(notes),
    )


def allocate_csv_bytes(profile, data: bytes | IO[bytes], *, name: str = "upload", **opts
                       ) -> tuple[bytes, CaseloadSummary]:
    r"""Allocate an uploaded caseload held in memory; return ``(csv_bytes, summary)``.

    For the dashboard's upload and download: same reading, formula neutralising and summary as
    ``heart-geo assign`` (see :func:`allocate_caseload` for ``opts`` and the summary). The bytes are
    UTF-8 CSV.

    Examples
    --------
    >>> from heart_geo.testing import make_profile
    >>> out, summary = allocate_csv_bytes(make_profile(), b"name,postcode\r\n=cmd,tt1 1aa\r\n")
    >>> out.decode("utf-8-sig").splitlines()[1].split(",")[:4]
    ["'=cmd", 'tt1 1aa', 'North', 'allocated']
    >>> summary["rows"], summary["status"]
    (1, {'allocated': 1})
    """
    return allocate_bytes(profile, data, name=name, **opts)


def allocate_bytes(profile, data: bytes | IO[bytes], *, name: str = "upload", out_format: str = "csv",
                   bom: bool = True, **opts) -> tuple[bytes, CaseloadSummary]:
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
