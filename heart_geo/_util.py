"""Small rules the whole package shares, each written once.

* :func:`nan_to_none`: a missing value is ``None`` (not NaN) and numbers are plain Python numbers,
  wherever a value leaves a table for a person or for JSON;
* :func:`plural`: the plural of a profile's unit ("team", "locality");
* :func:`sha256_file` and :func:`sha256_files`: a file's SHA-256, read in blocks;
* :func:`where_raised`: where in heart_geo an exception was raised, for a one-line report that never
  carries the exception's message (which could hold a row's content);
* :func:`usual_case` and :func:`usual_case_in`: names the data gives in capitals, in their usual case;
* :func:`remove_written`: a temporary file removed with the journal files a database writer (SQLite,
  GDAL's GeoPackage driver) may have left beside it, whatever failed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

__all__ = ["counted", "nan_to_none", "plural", "remove_written", "sha256_file", "sha256_files", "usual_case",
           "usual_case_in", "where_raised"]

#: Files SQLite (and so GDAL's GeoPackage driver) may create beside a database while writing it.
SIDECARS = ("-journal", "-wal", "-shm")


def remove_written(path: str | os.PathLike) -> None:
    """Remove a temporary file and any journal files beside it (``-journal``, ``-wal``, ``-shm``); never raise."""
    for suffix in ("", *SIDECARS):
        with contextlib.suppress(OSError):
            os.unlink(f"{os.fspath(path)}{suffix}")

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


_SMALL_WORDS = frozenset({"and", "of", "the", "for", "in", "on", "at", "by", "de"})
_KEEP_UPPER = frozenset({"RC", "ASN", "UK", "NHS", "HSCP", "GP", "II", "III", "IV"})


def _word_case(word: str, first: bool) -> str:
    if word.upper() in _KEEP_UPPER:
        return word.upper()
    if not first and word.lower() in _SMALL_WORDS:
        return word.lower()
    out = "-".join(p[:1].upper() + p[1:].lower() for p in word.split("-"))
    out = re.sub(r"'(S|T)\b", lambda m: "'" + m.group(1).lower(), out)  # Joseph's, not Joseph'S
    return re.sub(r"\b(Mc|Mac(?=[bcdfghjklmnpqrstvwxz]{2}))([a-z])", lambda m: m.group(1) + m.group(2).upper(), out)


def usual_case(name) -> str:
    """Return a name in its usual case when the data gives it in capitals; other names unchanged.

    Examples
    --------
    >>> usual_case("ST JOSEPH'S ACADEMY"), usual_case("WILLIAM MCILVANNEY CAMPUS")
    ("St Joseph's Academy", 'William McIlvanney Campus')
    >>> usual_case("SCHOOL OF THE HOLY ROSARY RC PRIMARY"), usual_case("Dalmellington Primary")
    ('School of the Holy Rosary RC Primary', 'Dalmellington Primary')
    """
    text = "" if name is None else str(name)
    if not any(c.isalpha() for c in text) or text != text.upper():
        return text
    return " ".join(_word_case(w, i == 0) for i, w in enumerate(text.split(" ")))


_CAPS_RUN = re.compile(r"\b[A-Z][A-Z'’&.]*[A-Z](?:[ -]+[A-Z][A-Z'’&.]*[A-Z])+\b")


def usual_case_in(text) -> str:
    """Return text with every run of two or more words in capitals put in its usual case.

    For sentences that quote a name from the data ("repaired catchment STEWARTON ACADEMY");
    a single word in capitals (an acronym: NHS, CAMHS) is left as it is.

    Examples
    --------
    >>> usual_case_in("catchment of CARRICK ACADEMY (SOUTH AYRSHIRE): NHS data")
    'catchment of Carrick Academy (South Ayrshire): NHS data'
    """
    return _CAPS_RUN.sub(lambda m: usual_case(m.group(0)), "" if text is None else str(text))


def counted(n, word: str) -> str:
    """Return a count with its noun in the right number: "1 row", "1,234 rows", "<5 rows".

    Examples
    --------
    >>> counted(1, "row"), counted(1234, "area"), counted("<5", "family")
    ('1 row', '1,234 areas', '<5 families')
    """
    if isinstance(n, (int, np.integer)):
        return f"{int(n):,} {word if n == 1 else plural(word)}"
    return f"{n} {plural(word)}"
