"""A full disk leaves nothing behind (issue 22): every temporary file the project writes is removed.

The derived-data cache entry, the ready answers of ``heart-geo lookup`` (a SQLite file, and the
journal SQLite may start beside it), a caseload output and a GeoPackage export are each written to a
disk with no room left: a real one (a 1 MB tmpfs mounted for the test, when the tests run as root
and may mount) and, everywhere, a writer patched to fail with ENOSPC at the write. Afterwards the
folder is listed: only what was there before.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from heart_geo import _cache, _ready, export, writing
from heart_geo.cli import main
from heart_geo.profiles import load_profile
from heart_geo.testing import write_test_data


def _full(*_a, **_k):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("full_disk")
    write_test_data(d)
    return d


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs filled to the last byte; skipped where the tests may not mount one."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small disk needs root; the patched-writer tests below still run")
    got = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=64", "tmpfs", str(disk)],
                         capture_output=True, check=False)
    if got.returncode != 0:
        pytest.skip("this machine does not allow mounting a tmpfs")
    try:
        (disk / "cache").mkdir()
        fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:  # fill it, unbuffered: every later write fails with ENOSPC
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _left(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


def test_a_full_disk_keeps_only_what_was_there(small_disk, folder, monkeypatch, capsys):
    cache = small_disk / "cache"
    monkeypatch.setenv("HEART_GEO_CACHE", str(cache))
    toml = folder / "testshire.toml"
    p = load_profile(toml, data_dir=folder)  # the cache entry cannot be written: the profile still loads
    assert p.lookup("TT1 1AA")["team"] == "North"
    _ready.remember(p, str(toml), str(folder))  # the ready answers and their journal cannot be written
    src = folder / "caseload.csv"
    src.write_text("ref,postcode\n" + "".join(f"{i},TT1 1AA\n" for i in range(5000)), encoding="utf-8")
    code = main(["assign", "--profile", str(toml), "--data-dir", str(folder), str(src), "-o",
                 str(small_disk / "out.csv"), "-q"])
    assert code == 2 and "No space left on device" in capsys.readouterr().err
    with pytest.raises(OSError):
        export.export(p, small_disk / "teams.gpkg")
    assert _left(small_disk) == ["cache", "filler"]


# --------------------------------------------------------------------------------------------------
# the same failures from a patched writer: on every machine
# --------------------------------------------------------------------------------------------------
@pytest.mark.usefixtures("cache_dir")
def test_ready_answers_removed_with_their_journal(folder, cache_dir, monkeypatch):
    toml = folder / "testshire.toml"
    p = load_profile(toml, data_dir=folder, cache=False)

    def replace_after_a_journal(src, _dst):  # SQLite left a journal, then the rename failed
        Path(f"{src}-journal").write_bytes(b"\0" * 512)
        _full()

    with monkeypatch.context() as m:
        m.setattr(_ready.os, "replace", replace_after_a_journal)
        _ready.remember(p, str(toml), str(folder))
    assert cache_dir.is_dir() and _left(cache_dir) == []  # the folder was made and written to, then emptied
    _ready.remember(p, str(toml), str(folder))  # and with room: one file, no journal beside it
    assert [n for n in _left(cache_dir) if n.endswith(".sqlite")] and not [
        n for n in _left(cache_dir) if "journal" in n or n.endswith(".tmp")]


def test_cache_entry_removed_when_the_write_fails(folder, cache_dir, monkeypatch):
    monkeypatch.setattr(_cache._Writer, "member", _full)
    p = load_profile(folder / "testshire.toml", data_dir=folder)
    assert p.lookup("TT1 1AB")["team"] == "East"
    assert _left(cache_dir) == []


def test_outputs_removed_when_the_write_fails(tmp_path, monkeypatch, testshire):
    out = tmp_path / "out"
    out.mkdir()

    def gpkg_then_full(_df, path, **_k):  # GDAL's GeoPackage is SQLite: a journal beside it, then no room
        Path(path).write_bytes(b"\0")
        Path(f"{path}-journal").write_bytes(b"\0")
        _full()

    monkeypatch.setattr("pyogrio.write_dataframe", gpkg_then_full)
    with pytest.raises(OSError):
        export.export(testshire, out / "teams.gpkg")
    monkeypatch.setattr(writing, "write_csv", _full)
    with pytest.raises(OSError):
        writing.write_csv_atomic([], out / "o.csv", ["a"])
    assert _left(out) == []
