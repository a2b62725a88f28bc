"""Caseload files: read what case-management exports really look like, write results safely.

Reading: UTF-8 with or without a byte-order mark, falling back to Windows-1252; headers in any
common spelling ("Post Code", "POSTCODE", "postcode "); duplicate column names and multi-line
quoted cells kept; streamed in chunks so millions of rows use bounded memory.

Writing: every input row and column kept in order with the result columns added; cells a
spreadsheet would run as a formula neutralised; written to a temporary file and renamed, so a
failure never leaves half a file; the input is never overwritten.

No cell content ever reaches a log line or an error message: only column names and row numbers.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .settings import RESULT_COLUMNS

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

__all__ = [
    "LocationColumns",
    "allocate_frame",
    "detect_encoding",
    "find_location_columns",
    "iter_caseload",
    "neutralise_formulas",
    "read_header",
    "write_csv_atomic",
]

_POSTCODE_NAMES = ["postcode", "postcodes", "postalcode", "pcode", "pc", "homepostcode",
                   "addresspostcode", "postcodeofresidence", "zip", "zipcode"]
_ADDRESS_NAMES = ["address", "homeaddress", "fulladdress", "addressline", "addr", "residentialaddress"]
_X_NAMES = ["easting", "eastings", "x", "bngx", "ea", "xcoord"]
_Y_NAMES = ["northing", "northings", "y", "bngy", "no", "ycoord"]
_LON_NAMES = ["longitude", "lon", "long", "lng"]
_LAT_NAMES = ["latitude", "lat"]


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


@dataclass(frozen=True)
class LocationColumns:
    """Which input columns locate each row: a postcode/address column, or x and y (with a CRS)."""

    postcode: int | None = None
    x: int | None = None
    y: int | None = None
    crs: str = "EPSG:27700"
    kind: str = "postcode"  # {"postcode", "address", "points"}

    def describe(self, header: list[str]) -> str:
        if self.kind == "points":
            return f"coordinates from columns {header[self.x]!r}, {header[self.y]!r} ({self.crs})"
        return f"{self.kind} from column {header[self.postcode]!r}"


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
        Column names as in the file (duplicates allowed).
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
        if k in keys:
            return keys.index(k)
        raise InputError(f"column {name!r} not found in {source}; columns are {header}")

    def first(names: list[str]) -> int | None:
        for n in names:
            if n in keys:
                return keys.index(n)
        return None

    if postcode is not None:
        return LocationColumns(postcode=find(postcode), kind="postcode")
    if x is not None or y is not None:
        if x is None or y is None:
            raise InputError("give both --x-col and --y-col for coordinates")
        return LocationColumns(x=find(x), y=find(y), crs=crs or "EPSG:27700", kind="points")
    i = first(_POSTCODE_NAMES)
    if i is None:
        i = next((j for j, k in enumerate(keys) if "postcode" in k), None)
    if i is not None:
        return LocationColumns(postcode=i, kind="postcode")
    i = first(_ADDRESS_NAMES)
    if i is None:
        i = next((j for j, k in enumerate(keys) if "address" in k), None)
    if i is not None:
        return LocationColumns(postcode=i, kind="address")
    xi, yi = first(_X_NAMES), first(_Y_NAMES)
    if xi is not None and yi is not None:
        return LocationColumns(x=xi, y=yi, crs=crs or "EPSG:27700", kind="points")
    lo, la = first(_LON_NAMES), first(_LAT_NAMES)
    if lo is not None and la is not None:
        return LocationColumns(x=lo, y=la, crs=crs or "EPSG:4326", kind="points")
    raise InputError(
        f"no location column in {source}: expected a postcode column (e.g. 'postcode', 'Post Code'), "
        f"an address column, or easting/northing or latitude/longitude columns; columns are {header}"
    )


def detect_encoding(path: str | os.PathLike) -> str:
    """'utf-8-sig' if the whole file decodes as UTF-8 (with or without BOM), else 'cp1252'."""
    dec = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                dec.decode(block)
            dec.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8-sig"


def read_header(path: str | os.PathLike, encoding: str) -> list[str]:
    """The header row as written (duplicates kept). Raises InputError for an empty file."""
    with open(path, encoding=encoding, newline="") as fh:
        for row in csv.reader(fh):
            if any(c.strip() for c in row):
                return [c for c in row]
    raise InputError(f"{Path(path).name} is empty: expected a header row and at least one row")


def iter_caseload(path: str | os.PathLike, *, chunksize: int = 100_000, encoding: str | None = None
                  ) -> tuple[list[str], str, Iterator[pd.DataFrame]]:
    """Stream a caseload CSV as text chunks with positional columns.

    Returns
    -------
    header, encoding, chunks
        ``chunks`` yields DataFrames whose columns are 0..n-1 (so duplicate names survive), every
        value a string ("" for empty), blank lines skipped.
    """
    enc = encoding or detect_encoding(path)
    header = read_header(path, enc)
    n = len(header)

    def gen():
        reader = pd.read_csv(
            path, encoding=enc, dtype=str, keep_default_na=False, na_filter=False, header=None,
            skiprows=1, names=list(range(n)), chunksize=chunksize, skip_blank_lines=True,
            engine="python" if n == 0 else "c", on_bad_lines="error", index_col=False,
        )
        try:
            yield from reader
        except pd.errors.ParserError as exc:
            m = re.search(r"line (\d+)", str(exc))
            where = f" near line {m.group(1)}" if m else ""
            raise InputError(
                f"{Path(path).name}: a row has more fields than the header's {n}{where}; "
                "expected every row to have the header's columns"
            ) from None
        except pd.errors.EmptyDataError:
            return

    return header, enc, gen()


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix with ``'`` every text cell a spreadsheet would run as a formula.

    Cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return are neutralised; plain
    numbers ("-5", "+3.2") are left alone.

    Examples
    --------
    >>> neutralise_formulas(pd.DataFrame({"a": ["=1+1", "-5", "@SUM(A1)", "ok", "+44 1563"]}))["a"].tolist()
    ["'=1+1", '-5', "'@SUM(A1)", 'ok', "'+44 1563"]
    """
    out = df.copy()
    for c in range(out.shape[1]):
        col = out.iloc[:, c]
        if col.dtype != object and not pd.api.types.is_string_dtype(col):
            continue
        s = col.astype(object)
        text = s.where(s.notna(), "").astype(str)
        risky = text.str.match(r"^[=+\-@\t\r]", na=False)
        if not risky.any():
            continue
        numeric = pd.to_numeric(text.where(risky, ""), errors="coerce").notna() & text.str.match(
            r"^[+-]?\d", na=False)
        fix = risky & ~numeric
        s = s.where(~fix, "'" + text)
        out.isetitem(c, s)
    return out


def allocate_frame(profile, chunk: pd.DataFrame, loc: LocationColumns) -> pd.DataFrame:
    """Allocate one chunk (positional columns) with the chosen location columns."""
    if loc.kind == "points":
        return profile.allocate_points(chunk[loc.x].to_numpy(), chunk[loc.y].to_numpy(), crs=loc.crs)
    return profile.allocate(chunk[loc.postcode].tolist()).drop(columns="query")


def result_names(header: list[str]) -> list[str]:
    """Result column names, suffixed where the input already uses the name."""
    taken = set(header)
    return [c if c not in taken else f"{c}_heart_geo" for c in RESULT_COLUMNS]


def write_csv_atomic(frames, path: str | os.PathLike, header: list[str], *, encoding: str = "utf-8"
                     ) -> int:
    """Write DataFrames (positional columns) to ``path`` via a temporary file and rename.

    Formulas are neutralised. Returns the number of data rows written. On any error the temporary
    file is removed and ``path`` is untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
    rows = 0
    try:
        with io.open(fd, "w", encoding=encoding, newline="") as fh:
            w = csv.writer(fh)
            w.writerow(neutralise_formulas(pd.DataFrame([header])).iloc[0].tolist())
            for df in frames:
                safe = neutralise_formulas(df)
                safe.to_csv(fh, header=False, index=False, lineterminator="\r\n")
                rows += len(df)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rows


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True if two paths name the same file (or b does not exist yet and resolves to a)."""
    pa, pb = Path(a), Path(b)
    if pb.exists():
        try:
            return os.path.samefile(pa, pb)
        except OSError:
            return False
    return pa.resolve() == pb.resolve()


def finish_chunk(chunk: pd.DataFrame, res: pd.DataFrame, n_in: int) -> pd.DataFrame:
    """Input columns (positional) then result columns, positionally numbered."""
    res = res.reset_index(drop=True)
    out = chunk.reset_index(drop=True).copy()
    for j, c in enumerate(RESULT_COLUMNS):
        v = res[c]
        if c == "distance_m":
            v = v.map(lambda d: "" if pd.isna(d) else f"{d:.1f}")
        elif c in ("easting", "northing"):
            v = v.map(lambda d: "" if pd.isna(d) else f"{d:.0f}")
        elif c == "near_boundary":
            v = np.where(res["status"].astype(str).isin(["allocated", "nearest_team", "terminated_postcode"]),
                         np.where(v, "yes", "no"), "")
        else:
            v = v.astype(object).where(v.notna(), "")
        out[n_in + j] = np.asarray(v, dtype=object)
    return out
