"""Small rules the whole package shares, each written once.

* :func:`nan_to_none`: a missing value is ``None`` (not NaN) and numbers are plain Python numbers,
  wherever a value leaves a table for a person or for JSON;
* :func:`plural`: the plural of a profile's unit ("team", "locality");
* :func:`sha256_file` and :func:`sha256_files`: a file's SHA-256, read in blocks;
* :func:`where_raised`: where in heart_geo an exception was raised, for a one-line report that never
  carries the exception's message (which could hold a row's content).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

__all__ = ["nan_to_none", "plural", "sha256_file", "sha256_files", "where_raised"]

_BLOCK = 1 << 20


def nan_to_none(v):
    """Return a value fit to show or to write as JSON: NaN becomes None, NumPy scalars plain Python ones.

    Parameters
    ----------
    v : object
        Any value read from a table cell.

    Returns
    -------
    object
        ``None`` for a float NaN, a Python ``float``/``int``/``bool`` for a NumPy number, else ``v``.

    Examples
    --------
    >>> import numpy as np
    >>> nan_to_none(float("nan")) is None, nan_to_none(np.float32(2.5)), nan_to_none(np.int64(3))
    (True, 2.5, 3)
    >>> nan_to_none(np.bool_(True)) is True, nan_to_none("South")
    (True, 'South')
    """
    if isinstance(v, float | np.floating):
        return None if np.isnan(v) else float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def plural(word: str) -> str:
    """Return the plural of a unit's name: "locality" -> "localities", "team" -> "teams".

    Examples
    --------
    >>> plural("team"), plural("locality"), plural("key")
    ('teams', 'localities', 'keys')
    """
    if len(word) > 1 and word.endswith("y") and word[-2].lower() not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def _blocks(path: str | os.PathLike) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        yield from iter(lambda: fh.read(_BLOCK), b"")


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    for block in _blocks(path):
        h.update(block)
    return h.hexdigest()


def sha256_files(paths: Iterable[str | os.PathLike]) -> str:
    """One SHA-256 (hex) over several files: each file's path, then its bytes, in the order given."""
    h = hashlib.sha256()
    for p in paths:
        h.update(str(p).encode())
        for block in _blocks(p):
            h.update(block)
    return h.hexdigest()


def where_raised(exc: BaseException) -> str:
    """Return where in heart_geo an exception was raised (" at file.py:line"), never its message; "" if not in it.

    Examples
    --------
    >>> where_raised(ValueError("a family's postcode"))
    ''
    """
    tb, last = exc.__traceback__, None
    while tb is not None:
        if "heart_geo" in tb.tb_frame.f_code.co_filename:
            last = tb
        tb = tb.tb_next
    if last is None:
        return ""
    return f" at {Path(last.tb_frame.f_code.co_filename).name}:{last.tb_lineno}"
