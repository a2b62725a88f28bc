"""``heart-geo lookup`` from ready answers: the same output as the full command, or the full command.

The quick path (``heart_geo._quick``) answers a plain postcode from a SQLite file written by the
first full lookup; everything else, and any change to the profile, the data folder or the code,
takes the full path. These tests compare the two paths' printed output and exit codes directly.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from heart_geo import _quick
from heart_geo.cli import main as full_main
from heart_geo.testing import POSTCODES, write_test_data


@pytest.fixture
def ts(tmp_path, monkeypatch):
    d = tmp_path / "data"
    toml = write_test_data(d)
    monkeypatch.setenv("HEART_GEO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HEART_GEO_PROFILE", raising=False)
    return toml, d


def _args(ts, *extra):
    toml, d = ts
    return ["lookup", "--profile", str(toml), "--data-dir", str(d), *extra]


def _run(fn, argv, capsys):
    code = fn(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _index(cache: Path) -> list[Path]:
    return sorted(cache.glob("lookup-*.sqlite"))


QUERIES = [*(pc for pc in POSTCODES if pc != "TT101AA"), "tt1 1aa", "TT11AB", " TT1 1AJ "]


def test_first_full_lookup_writes_ready_answers_that_print_the_same(ts, tmp_path, capsys):
    assert _quick.answer(_args(ts, "TT1 1AA")) is None  # nothing written yet: the full path answers
    full = _run(full_main, _args(ts, "TT1 1AA"), capsys)
    assert full[0] == 0 and "North" in full[1]
    files = _index(tmp_path / "cache")
    assert len(files) == 1
    for q in QUERIES:
        for extra in ([], ["--json"]):
            argv = _args(ts, *extra, q)
            quick_code = _quick.answer(argv)
            quick_out = capsys.readouterr().out
            assert quick_code is not None, f"{q!r} should be answered from the ready answers"
            code, out, _ = _run(full_main, argv, capsys)
            assert (quick_code, quick_out) == (code, out), q


def test_missing_location_keeps_its_exit_code(ts, capsys):
    _run(full_main, _args(ts, "TT1 1AA"), capsys)
    code = _quick.answer(_args(ts, "TT1 1AG"))
    out = capsys.readouterr().out
    assert code == 2 and "missing_location" in out


@pytest.mark.parametrize("query", ["TT9 9ZZ", "1 Test Road, TT1 1AA", "55.45, -4.26", "UPRN 123456789",
                                   "TT1  1AA", "DROP TABLE answers", "x" * 400])
def test_other_queries_take_the_full_path(ts, capsys, query):
    _run(full_main, _args(ts, "TT1 1AA"), capsys)
    assert _quick.answer(_args(ts, query)) is None
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("argv", [["lookup"], ["lookup", "--profile"], ["lookup", "TT1 1AA", "-v"],
                                  ["lookup", "TT1 1AA", "TT1 1AB"], ["assign", "x.csv"], []])
@pytest.mark.usefixtures("ts")
def test_options_it_does_not_know_take_the_full_path(argv):
    assert _quick.answer(argv) is None


def test_a_changed_data_folder_is_never_answered_from_old_answers(ts, capsys):
    toml, d = ts
    _run(full_main, _args(ts, "TT1 1AA"), capsys)
    assert _quick.answer(_args(ts, "TT1 1AB")) is not None
    capsys.readouterr()
    (d / "newer_release").mkdir()  # a new release folder arrives
    assert _quick.answer(_args(ts, "TT1 1AB")) is None
    _run(full_main, _args(ts, "TT1 1AA"), capsys)  # the full path writes them again
    assert _quick.answer(_args(ts, "TT1 1AB")) is not None
    capsys.readouterr()
    f = d / "school_roll.csv"
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a file rewritten
    assert _quick.answer(_args(ts, "TT1 1AB")) is None
    _run(full_main, _args(ts, "TT1 1AA"), capsys)
    toml.write_text(toml.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")  # the profile edited
    assert _quick.answer(_args(ts, "TT1 1AB")) is None


def test_a_planted_or_broken_file_is_ignored(ts, tmp_path, capsys):
    _run(full_main, _args(ts, "TT1 1AA"), capsys)
    (path,) = _index(tmp_path / "cache")
    con = sqlite3.connect(path)
    with con:  # a forged answer under a forged stamp is still refused: the stamp is recomputed
        con.execute("UPDATE answers SET row = '{\"team\": \"Forged\", \"status\": \"allocated\", \"detail\": \"x\"}'")
        con.execute("UPDATE meta SET stamp = 'forged'")
    con.close()
    assert _quick.answer(_args(ts, "TT1 1AB")) is None
    path.write_bytes(b"not a database")
    assert _quick.answer(_args(ts, "TT1 1AB")) is None
    code, out, _ = _run(_quick.main, _args(ts, "TT1 1AB"), capsys)  # the command still answers
    assert code == 0 and "East" in out and "Forged" not in out


def test_a_read_only_cache_costs_nothing_but_the_shortcut(ts, tmp_path, capsys):
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.rmtree(cache)
    cache.write_text("a file where the cache folder should be")
    code, out, _ = _run(full_main, _args(ts, "TT1 1AA"), capsys)
    assert code == 0 and "North" in out
    assert _quick.answer(_args(ts, "TT1 1AA")) is None


def test_the_command_imports_no_pandas_on_a_ready_answer(ts, tmp_path, capsys):
    _run(full_main, _args(ts, "TT1 1AA"), capsys)
    code = ("import sys; from heart_geo.__main__ import main; rc = main(sys.argv[1:]); "
            "assert 'pandas' not in sys.modules and 'geopandas' not in sys.modules, 'heavy import'; sys.exit(rc)")
    env = dict(os.environ, HEART_GEO_CACHE=str(tmp_path / "cache"), PYTHONPATH=str(Path(__file__).parents[1]))
    got = subprocess.run([sys.executable, "-c", code, *_args(ts, "TT1 1AB")], env=env, capture_output=True,
                         text=True, timeout=120)
    assert got.returncode == 0, got.stderr[-500:]
    assert "East" in got.stdout


@pytest.mark.realdata
def test_real_postcodes_of_every_status_print_the_same_both_ways(data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HEART_GEO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HEART_GEO_PROFILE", raising=False)
    base = ["lookup", "--profile", "east_ayrshire", "--data-dir", str(data_dir)]
    code, out, _ = _run(full_main, [*base, "KA18 1FQ"], capsys)
    assert code == 0
    import heart_geo

    p = heart_geo.load_profile("east_ayrshire", data_dir=data_dir)
    table = p.allocate(p.postcodes["postcode"].tolist())
    sample = []
    for _, rows in table.groupby("status", observed=True):  # every status the table holds, a few of each
        sample += rows["postcode"].head(3).tolist() + rows["postcode"].tail(2).tolist()
    sample += table.loc[table["near_boundary"].astype(bool), "postcode"].head(3).tolist()
    assert len(set(table["status"])) >= 3
    for pc in sample:
        for spelling in (pc, pc.lower().replace(" ", "")):
            argv = [*base, "--json", spelling]
            quick = _quick.answer(argv)
            quick_out = capsys.readouterr().out
            assert quick is not None, pc
            assert (quick, quick_out) == _run(full_main, argv, capsys)[:2], pc
