"""Writing results safely: formulas neutralised, a temporary file renamed, signals handled.

Every input row and column is kept in order with the result columns added; cells a spreadsheet would
run as a formula are neutralised; a file is written to a temporary file beside it and renamed, so a
failure or an interrupt (Ctrl-C, SIGTERM) never leaves half a file; the input is never overwritten.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import pandas as pd

from .errors import InputError
from .excel import write_workbook
from .tabular import _rows_of, neutralise_cell


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
            with open(path, "wb") as fh:
                return write_workbook(_all_rows(frames), fh, [neutralise_cell(h) for h in header])
        with open(path, "w", encoding=encoding, newline="") as fh:
            return write_csv(frames, fh, header)
    with _signals_raise() as signals:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        try:
            signals.arm()  # from here a signal raises; one that came during mkstemp raises now
            if xlsx:
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
