"""A table as the package reads and writes it: the :class:`Caseload` a reader returns, and safe cells.

Every reader (CSV in :mod:`heart_geo.reading`, workbooks in :mod:`heart_geo.excel`) returns a
:class:`Caseload`; every writer (CSV in :mod:`heart_geo.writing`, workbooks) writes rows through
:func:`neutralise_cell` / :func:`neutralise_formulas`, so a cell a spreadsheet would run as a formula
is written as text. This module sits below all of them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
import pandas as pd

Source = str | os.PathLike | bytes | bytearray | memoryview | IO[bytes]


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
