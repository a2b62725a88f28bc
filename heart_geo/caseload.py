"""Caseload files: every row of a case-management export given its team, and written back safely.

The work is done in four modules, in the order the data flows, and their public names are all
importable from here as before:

* :mod:`heart_geo.reading`: read a CSV or workbook (sniff the bytes, decode, find the separator and
  the header, stream the rows in chunks) into a :class:`Caseload`;
* :mod:`heart_geo.columns`: choose the columns that locate each row (:func:`find_location_columns`);
* this module: allocate each chunk (:func:`allocate_frame`, :func:`allocate_caseload`,
  :func:`allocate_bytes`) and count what was done (:class:`CaseloadSummary`);
* :mod:`heart_geo.writing`: write the result safely (formulas neutralised, a temporary file renamed,
  signals handled; :func:`write_csv_atomic`, :func:`csv_bytes`).

Decisions: an empty file (no header) is an :class:`InputError`; a header-only file gives an output with
just the header and ``summary["note"]`` saying there were no rows.

No cell content ever reaches a log line or an error message: only column names, row and line numbers.
A header row that looks like data (it holds a postcode, an e-mail address or a date) is not echoed.
"""

from __future__ import annotations

import codecs
import dataclasses
import io
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO

import numpy as np
import pandas as pd

from .columns import (  # noqa: F401 - re-exported: importable from heart_geo.caseload as before
    CONSENT_NAMES,
    RISK_NAMES,
    SCHOOL_NAMES,
    LocationColumns,
    _key,
    dedupe_names,
    describe_columns,
    find_column,
    find_location_columns,
    previous_result_columns,
)
from .disclosure import suppress_counts
from .errors import InputError
from .excel import write_workbook
from .reading import (  # noqa: F401 - re-exported
    MIXED_ENCODING,
    _check_rows,
    check_input_file,
    detect_encoding,
    iter_caseload,
    read_caseload,
    read_caseload_frame,
    read_header,
    source_label,
)
from .settings import RESULT_COLUMNS
from .tabular import _NUMBER, Caseload, Source, _rows_of, neutralise_cell, neutralise_formulas  # noqa: F401
from .writing import (  # noqa: F401 - re-exported
    _all_rows,
    _is_special,
    check_output_path,
    csv_bytes,
    same_file,
    write_csv,
    write_csv_atomic,
)

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
        counts = suppress_counts(self.team) if suppress else self.team
        order = [t for t in [*team_names, "(none)"] if t in counts]
        return pd.DataFrame({"team": order, "rows": pd.Series([counts[t] for t in order], dtype=object)})

    def by_status(self, *, suppress: bool = True) -> pd.DataFrame:
        """Rows per status, most first (suppressed as :meth:`by_team`)."""
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
