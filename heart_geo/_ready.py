"""Ready answers for ``heart-geo lookup``: the file of answers for the postcodes a profile holds.

A person at a terminal waits for the interpreter, pandas, geopandas and the profile before the first
answer. For a postcode the profile already holds, the answer does not depend on any of that at call
time, so the first full ``heart-geo lookup`` writes every such answer (made by ``Profile.lookup``
itself: there is one rule, not two) into a small SQLite file in the derived-data cache, and later
calls read one row of it, importing only the standard library.

The file is used only while its *stamp* matches: the profile's TOML, and the path, size and
modification time of every file and folder under the data folder (a new release folder changes it),
under ``boundaries/`` (the profiles and the council names) and of every module of this package.
Anything else (a query that is not a plain postcode, a postcode the file does not hold, options the
quick parser does not know, a missing or stale file) falls back to the full command, which gives the
same answer it always has. The file holds open data only (the postcodes of the official postcode file
and their answers); queries are never written.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
from pathlib import Path

from . import _paths
from .settings import EXIT_OK, EXIT_USAGE

__all__ = ["data_stamp", "print_lookup", "read_answer", "remember", "zone_line"]

FORMAT = 1
#: Statuses that make ``lookup`` exit with the usage code.
_BAD = ("invalid_postcode", "invalid_coordinates", "missing_location")
#: A data folder with more entries than this is not stamped (the walk would cost more than it saves).
_MAX_ENTRIES = 20_000


# --------------------------------------------------------------------------------------------------
# printing: the one way a lookup answer is shown (the full command calls this too)
# --------------------------------------------------------------------------------------------------
def zone_line(row: dict) -> str | None:
    """Say which data zone an answer lies in and how deprived it is, in words (None without one).

    Examples
    --------
    >>> zone_line({"data_zone": "S01007919", "data_zone_name": "Cumnock North - 04", "simd_decile": 10,
    ...            "simd_decile_words": "among the 10% least deprived areas in Scotland"})
    'Data zone S01007919 (Cumnock North - 04): among the 10% least deprived areas in Scotland (SIMD decile 10).'
    """
    if not row.get("data_zone"):
        return None
    name = f" ({row['data_zone_name']})" if row.get("data_zone_name") else ""
    simd = f": {row['simd_decile_words']} (SIMD decile {row['simd_decile']})" if row.get("simd_decile") else ""
    return f"Data zone {row['data_zone']}{name}{simd}."


def print_lookup(row: dict, as_json: bool) -> int:
    """Print one lookup answer (a dict of JSON values) and return the command's exit code."""
    if as_json:
        print(json.dumps(row, indent=2, ensure_ascii=False))
    else:
        team = row["team"] or "-"
        extra = f", {row['distance_m']:.0f} m from the team" if row.get("distance_m") else ""
        print(f"{row['query']}: {team} ({row['status']}{extra})")
        if row.get("catchment_school"):
            print(f"  catchment school: {row['catchment_school']}")
        if row.get("near_boundary"):
            print("  near a catchment boundary: addresses in this postcode may straddle it; check by hand")
        if row.get("likely_team"):
            print(f"  likely team: {row['likely_team']} (not given as the team: the postcode is not in the data)")
        if row.get("data_zone"):
            print(f"  {zone_line(row)}")
        print(f"  {row['detail']}")
    return EXIT_USAGE if row["status"] in _BAD else EXIT_OK


# --------------------------------------------------------------------------------------------------
# where the answers are kept, and whether they still hold
# --------------------------------------------------------------------------------------------------
def _profile_file(name: str) -> Path | None:
    """Return the profile TOML named by ``--profile`` when it is a file or a profile key; else None."""
    try:
        path = _paths.named_profile(name)
    except Exception:  # no boundaries/ folder: the full path reports it
        return None
    return path.resolve() if path is not None else None


def _walk(root: Path) -> list | None:
    """Path, size and modification time of every folder and file under ``root`` (links followed)."""
    out: list = []
    for here, dirs, files in os.walk(root, followlinks=True):
        dirs.sort()
        for name in [".", *sorted(files)]:
            p = os.path.join(here, name)
            try:
                st = os.stat(p)
            except OSError:
                return None
            out.append((os.path.relpath(p, root), st.st_size, st.st_mtime_ns))
            if len(out) > _MAX_ENTRIES:
                return None
    return out


def _stamp(profile_file: Path, data_root: Path) -> str | None:
    """Return what the answers depend on, as one digest; None if it cannot be taken."""
    code = Path(__file__).resolve().parent
    try:
        shipped = _paths.profiles_dir()
    except Exception:  # no boundaries/ folder: the full path reports it
        return None
    code_files = sorted(code.rglob("*.py"))
    try:
        state = {
            "format": FORMAT,
            "profile": [str(profile_file), hashlib.sha256(profile_file.read_bytes()).hexdigest()],
            "profiles": [str(shipped), _walk(shipped)],  # council names (council_areas.csv) and the profiles
            "code": [(str(p.relative_to(code)), p.stat().st_size, p.stat().st_mtime_ns) for p in code_files],
            "data": [str(data_root), _walk(data_root)],
        }
    except OSError:
        return None
    if state["data"][1] is None or state["profiles"][1] is None:
        return None
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()


def data_stamp(profile: str, data_dir: str | None = None) -> str | None:
    """Return one digest of what a profile's answers depend on (its TOML, the data folder, the code).

    It changes when a new data release is put in the data folder or the profile is edited, so a
    server can key what it builds once per profile on it. None when it cannot be taken.
    """
    where = _where(profile, data_dir)
    return _stamp(*where) if where is not None else None


def _index_path(profile_file: Path, data_root: Path) -> Path:
    key = hashlib.sha256(f"{profile_file}\0{data_root}".encode()).hexdigest()[:16]
    return _paths.cache_dir() / f"lookup-{profile_file.stem}-{key}.sqlite"


def _where(profile: str, data_dir: str | None) -> tuple[Path, Path] | None:
    pf = _profile_file(profile)
    if pf is None:
        return None
    root, _ = _paths.choose_data_dir(data_dir)
    if not root.is_dir():
        return None
    return pf, root.resolve()


# --------------------------------------------------------------------------------------------------
# writing (after a full lookup) and reading (before one)
# --------------------------------------------------------------------------------------------------
def remember(profile, profile_arg: str, data_dir: str | None) -> None:
    """Write every answer ``profile`` holds for its postcodes, unless a current file already has them.

    Failures (a read-only cache, a full disk) are ignored: the quick path is only a shortcut.
    """
    where = _where(profile_arg, data_dir)
    if where is None:
        return
    stamp = _stamp(*where)
    if stamp is None:
        return
    path = _index_path(*where)
    if _read_stamp(path) == stamp:
        return
    from ._util import nan_to_none, remove_written  # numpy: only on the full path, which has it loaded already

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError:  # a read-only or full cache folder: no shortcut this time
        return
    tmp = Path(name)
    try:
        rows = []
        for pc in dict.fromkeys(profile.postcodes["postcode"].tolist()):
            row = profile.lookup(pc)
            rows.append((pc, json.dumps({k: nan_to_none(v) for k, v in row.items() if k != "query"},
                                        ensure_ascii=False)))
        con = sqlite3.connect(tmp)
        try:
            con.execute("PRAGMA journal_mode=OFF")  # a new file renamed into place: no journal to leave behind
            with con:
                con.execute("CREATE TABLE meta (stamp TEXT NOT NULL)")
                con.execute("CREATE TABLE answers (postcode TEXT PRIMARY KEY, row TEXT NOT NULL) WITHOUT ROWID")
                con.executemany("INSERT INTO answers VALUES (?, ?)", rows)
                con.execute("INSERT INTO meta VALUES (?)", (stamp,))
        finally:
            con.close()
        os.replace(tmp, path)
    except Exception:  # a shortcut only: the answer was given; nothing of the query is kept
        pass
    finally:
        remove_written(tmp)  # and any journal SQLite left beside it (a full disk, an interrupted write)


def _one(path: Path, sql: str, params: tuple = ()) -> str | None:
    """Return the first column of the first row ``sql`` gives from the file at ``path``, read-only; None if none."""
    if not path.is_file():
        return None
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        got = con.execute(sql, params).fetchone()
    except sqlite3.Error:
        return None
    finally:
        con.close()
    return got[0] if got else None


def _read_stamp(path: Path) -> str | None:
    return _one(path, "SELECT stamp FROM meta")


def read_answer(postcode: str, query: str, profile_arg: str, data_dir: str | None) -> dict | None:
    """Return the ready answer for a normalised ``postcode`` (shown as ``query``); None if there is none.

    None when the file is missing or stale, does not hold the postcode, or holds something that is
    not an answer: the full command then answers.
    """
    where = _where(profile_arg, data_dir)
    if where is None:
        return None
    path, stamp = _index_path(*where), _stamp(*where)
    if stamp is None or _read_stamp(path) != stamp:
        return None
    hit = _one(path, "SELECT row FROM answers WHERE postcode = ?", (postcode,))
    if hit is None:
        return None
    try:
        row = {"query": query, **json.loads(hit)}
    except (ValueError, TypeError):
        return None
    if not isinstance(row.get("status"), str) or "team" not in row or "detail" not in row:
        return None
    return row
