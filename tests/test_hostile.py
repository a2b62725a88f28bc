"""Hostile input, hostile files, hostile neighbours: one table of cases per class of attack.

* the derived-data cache: planted files never run code, temporary files are unpredictable, never
  follow a symlink and never outlive a failure, older entries are pruned;
* queries: no input makes the parser hang; forms people type (full-width, zero-width, ``GIR 0AA``,
  hemisphere letters, comma decimals) are understood;
* names from data files never reach the map's HTML as markup;
* output paths that are devices or FIFOs are written into, never replaced; SIGTERM leaves no
  ``.part`` file;
* files that are not what they seem (HTML saved as .xls, headerless files, stray Windows-1252 bytes,
  separators inside headers, several location columns, two postcodes in one address, the tool's
  own output read again);
* consent that disagrees with itself is never released;
* profile values of the wrong type are a ProfileError naming the key.
"""

from __future__ import annotations

import codecs
import csv
import errno
import io
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from heart_geo import _cache, caseload, testing
from heart_geo.cli import main
from heart_geo.errors import InputError, ProfileError
from heart_geo.links import links_from_enrolments
from heart_geo.postcodes import normalise_postcode, normalise_postcodes
from heart_geo.query import MAX_QUERY_CHARS, parse_query
from heart_geo.testing import write_test_data

P = "TT1 1AA"


pytestmark = pytest.mark.usefixtures("cache_dir")


def prof(d):
    return ["--profile", str(d / "testshire.toml"), "--data-dir", str(d)]


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def crlf(*rows: str) -> bytes:
    return ("\r\n".join(rows) + "\r\n").encode("utf-8")


# ==================================================================================================
# 1. the derived-data cache
# ==================================================================================================
class _Boom:
    """Unpickling this writes a marker file: proof that code ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "code ran"))


def _entry(cache: Path) -> Path:
    [e] = [p for p in cache.iterdir() if p.suffix == ".hgc"]
    return e


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for k, v in members.items():
            zf.writestr(k, v)


def _header(digest: str) -> bytes:
    import json

    return json.dumps({"magic": "heart_geo-cache", "format": _cache.FORMAT, "digest": digest}).encode()


def _npy_object(marker: Path) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.array([_Boom(str(marker))], dtype=object), allow_pickle=True)
    return buf.getvalue()


def _plant(kind: str, entry: Path, digest: str, marker: Path) -> None:
    import json

    if kind == "pickle":
        entry.write_bytes(pickle.dumps({"_digest": digest, "x": _Boom(str(marker))}))
    elif kind == "pickle-named-pkl":  # the old format's name: never read at all any more
        entry.with_suffix(".pkl").write_bytes(pickle.dumps(_Boom(str(marker))))
        entry.write_bytes(pickle.dumps(_Boom(str(marker))))
    elif kind == "npy-with-objects":
        _zip(entry, {"header.json": _header(digest), "tree.json": json.dumps({"t": "nd", "m": "m0"}).encode(),
                     "m0": _npy_object(marker)})
    elif kind == "npz-with-objects":
        buf = io.BytesIO()
        np.savez(buf, a=np.array([_Boom(str(marker))], dtype=object))
        entry.write_bytes(buf.getvalue())
    elif kind == "class-not-allowed":
        tree = {"t": "dc", "cls": "subprocess.Popen", "f": {"args": ["touch", str(marker)]}}
        _zip(entry, {"header.json": _header(digest), "tree.json": json.dumps(tree).encode()})
    elif kind == "wrong-digest-first":  # a poisoned tree behind a header of another key: never read
        _zip(entry, {"header.json": _header("not-this-one"), "tree.json": b"{", "m0": _npy_object(marker)})
    elif kind == "compressed-member":
        with zipfile.ZipFile(entry, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("header.json", _header(digest))
            zf.writestr("tree.json", b"1" * 10_000)
    elif kind == "symlink-to-elsewhere":
        elsewhere = entry.parent.parent / "elsewhere.hgc"
        elsewhere.write_bytes(entry.read_bytes())
        entry.unlink()
        entry.symlink_to(elsewhere)
    else:
        raise AssertionError(kind)


PLANTED = ["pickle", "pickle-named-pkl", "npy-with-objects", "npz-with-objects", "class-not-allowed",
           "wrong-digest-first", "compressed-member", "symlink-to-elsewhere"]


@pytest.mark.parametrize("kind", PLANTED)
def test_planted_cache_file_never_runs_code_and_is_rebuilt(ts, tmp_path, caplog, kind):
    from heart_geo.profiles import load_profile

    caplog.set_level(logging.WARNING, logger="heart_geo")
    cache = tmp_path / "cache"
    good = load_profile(ts / "testshire.toml", data_dir=ts)
    entry = _entry(cache)
    digest = entry.stem.rsplit("-", 1)[1]
    marker = tmp_path / "marker"
    _plant(kind, entry, digest, marker)
    p = load_profile(ts / "testshire.toml", data_dir=ts)
    assert not marker.exists(), "a planted cache file ran code"
    assert p.lookup(P)["team"] == good.lookup(P)["team"] == "North"
    assert "rebuilding" in caplog.text
    assert entry.is_file() and not entry.is_symlink()  # replaced by a good entry
    assert _cache.load(entry, digest) is not None
    assert not list(cache.glob("*.pkl"))  # old-format files of this profile are pruned


def test_cache_load_checks_the_digest_before_reading_anything_else(tmp_path, monkeypatch):
    path = tmp_path / "e.hgc"
    _cache.save(path, {"_digest": "abc", "x": np.arange(3)})
    reads = []
    real = zipfile.ZipFile.read

    def spy(self, name, *a, **k):
        reads.append(getattr(name, "filename", name))
        return real(self, name, *a, **k)

    monkeypatch.setattr(zipfile.ZipFile, "read", spy)
    assert _cache.load(path, "other") is None
    assert reads == ["header.json"]


def _names():
    yield from ["aaaaaaaa", "bbbbbbbb", "cccccccc", "dddddddd"]


def test_cache_temp_file_never_follows_a_symlink(tmp_path, monkeypatch):
    """A symlink planted at the temporary name is skipped (O_EXCL), its target untouched."""
    folder = tmp_path / "c"
    folder.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    path = folder / "k-0123.hgc"
    # mkstemp's names come from this generator: plant a symlink at the first one it will try
    monkeypatch.setattr("tempfile._get_candidate_names", _names)
    (folder / f".{path.name}.aaaaaaaa.tmp").symlink_to(victim)
    _cache.save(path, {"_digest": "d", "v": [1, 2.5, None, "x"]})
    assert victim.read_text() == "precious"
    assert (folder / f".{path.name}.aaaaaaaa.tmp").is_symlink()
    assert _cache.load(path, "d")["v"] == [1, 2.5, None, "x"]


@pytest.mark.parametrize("fail_at", ["first-member", "tree", "replace"])
def test_cache_full_disk_leaves_no_temp_file(ts, tmp_path, monkeypatch, caplog, fail_at):
    from heart_geo.profiles import load_profile

    caplog.set_level(logging.WARNING, logger="heart_geo")
    def enospc(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    if fail_at == "replace":
        monkeypatch.setattr(_cache.os, "replace", enospc)
    else:
        real = _cache._Writer.member

        def member(self, data, name=None):
            if fail_at == "first-member" or name == "tree.json":
                enospc()
            return real(self, data, name)

        monkeypatch.setattr(_cache._Writer, "member", member)
    p = load_profile(ts / "testshire.toml", data_dir=ts)  # still works, from a fresh build
    assert p.lookup(P)["team"] == "North"
    assert "Could not write cache" in caplog.text
    cache = tmp_path / "cache"
    assert list(cache.iterdir()) == []  # no temporary file, no half entry


def test_cache_prunes_older_entries_of_the_same_profile_only(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    keep_other = [folder / f"other-{'1' * 24}.hgc", folder / f"testshire_two-{'2' * 24}.hgc", folder / "notes.txt"]
    old = [folder / f"testshire-{'a' * 24}.hgc", folder / f"testshire-{'b' * 24}.pkl"]
    stale_tmp = folder / f".testshire-{'c' * 24}.hgc.xyz12345.tmp"
    fresh_tmp = folder / f".testshire-{'d' * 24}.hgc.abc98765.tmp"  # another process writing now
    for f in keep_other + old + [stale_tmp, fresh_tmp]:
        f.write_bytes(b"x")
    long_ago = time.time() - 2 * 3600
    os.utime(stale_tmp, (long_ago, long_ago))
    new = folder / f"testshire-{'e' * 24}.hgc"
    _cache.save(new, {"_digest": "e"}, prune_pattern=r"testshire-[0-9a-f]{24}\.(hgc|pkl)")
    left = {p.name for p in folder.iterdir()}
    assert left == {p.name for p in keep_other} | {new.name, fresh_tmp.name}


ROUND_TRIP = {
    "scalars": {"a": None, "b": True, "c": 3, "d": 2.5, "e": float("nan"), "f": "Zoë", 7: (1, "x")},
    "numpy": {"i": np.arange(5, dtype=np.int8), "f": np.array([[1.5, np.nan]]), "b": np.array([True, False]),
              "s": np.float32(1.25), "u": np.array(["ab", "c"]), "o": np.array(["x", None, "ü"], dtype=object),
              "dt": np.array(["2024-01-01"], dtype="datetime64[D]")},
    "nested-grid": {"grid": {"shape": (3, 4), "coarse": np.zeros((3, 4), np.int32), "cell": 200.0,
                             "seg": np.ones((2, 4)), "nested": {"deeper": [np.arange(2)]}}, "origin": (1.0, 2.0)},
    "geometry": {"g": shapely.box(0, 0, 1, 1), "m": shapely.MultiPolygon([shapely.box(0, 0, 1, 1)]),
                 "empty": shapely.Point(), "list": [shapely.Point(1, 2), None]},
    "frame": {"df": pd.DataFrame({"a": [1, 2], "b": ["x", None], "c": pd.Categorical(["p", "q"]),
                                  "d": pd.array([1, None], dtype="Int64"), "e": [True, False],
                                  "t": pd.to_datetime(["2024-01-01", "2024-06-01"]).tz_localize("Europe/London")},
                                 index=pd.Index([10, 20], name="id"))},
    "frame-positional-columns": {"df": pd.DataFrame([["a", "b"]], columns=[0, 1])},
    "geoframe": {"gdf": gpd.GeoDataFrame({"name": ["A", "B"], "n": [1.5, 2.0]},
                                         geometry=[shapely.box(0, 0, 1, 1), shapely.Point(5, 5)], crs="EPSG:27700")},
    "series": {"s": pd.Series([1.0, 2.0], index=["a", "b"], name="v"),
               "gs": gpd.GeoSeries([shapely.Point(1, 1)], crs="EPSG:4326")},
}


def _same(a, b):
    if isinstance(a, gpd.GeoDataFrame):
        assert isinstance(b, gpd.GeoDataFrame) and a.crs == b.crs and a.geometry.name == b.geometry.name
        pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns=a.geometry.name)),
                                      pd.DataFrame(b.drop(columns=b.geometry.name)))
        assert all(x.equals(y) for x, y in zip(a.geometry, b.geometry, strict=True))
    elif isinstance(a, gpd.GeoSeries):
        assert isinstance(b, gpd.GeoSeries) and a.crs == b.crs
        assert all(x.equals(y) for x, y in zip(a, b, strict=True))
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b)
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
        assert a.dtype.hasobject and list(a) == list(b) or np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, shapely.Geometry):
        assert isinstance(b, shapely.Geometry) and (a.equals(b) or (a.is_empty and b.is_empty))
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b)
    else:
        assert type(a) is type(b) and a == b


@pytest.mark.parametrize("case", list(ROUND_TRIP), ids=list(ROUND_TRIP))
def test_cache_round_trips_every_value_type(tmp_path, case):
    built = ROUND_TRIP[case]
    path = tmp_path / "e.hgc"
    _cache.save(path, {"_digest": "d", **built})
    back = _cache.load(path, "d")
    assert back.pop("_digest") == "d"
    _same(built, back)


@pytest.mark.parametrize("value", [object(), {1, 2}, b"raw bytes", lambda: 1], ids=["object", "set", "bytes", "lambda"])
def test_cache_refuses_types_it_cannot_hold(tmp_path, value):
    with pytest.raises(TypeError, match="cannot cache"):
        _cache.save(tmp_path / "e.hgc", {"_digest": "d", "v": value})
    assert list(tmp_path.iterdir()) == []


def test_no_pickle_in_the_cache_code():
    src = (Path(_cache.__file__)).read_text() + (Path(_cache.__file__).parent / "profiles.py").read_text()
    assert "import pickle" not in src and "allow_pickle=True" not in src


# ==================================================================================================
# 2. queries: no hang, the forms people type
# ==================================================================================================
SLOW_QUERIES = {
    "spaces-between-digits": "5" + " " * (MAX_QUERY_CHARS - 2) + "5",
    "spaces-then-text": "5" + " " * (MAX_QUERY_CHARS - 3) + "5x",
    # the old pattern backtracked over both runs (400 + 400 spaces: 0.7 s; 5,000: minutes)
    "two-space-runs": "5" + " " * (MAX_QUERY_CHARS // 2 - 2) + "5" + " " * (MAX_QUERY_CHARS // 2 - 2) + "x",
    "two-space-runs-10kb": "5" + " " * 5000 + "5" + " " * 5000 + "x",
    "digits-and-separators": "5," * (MAX_QUERY_CHARS // 2),
    "digit-space-runs": "1 " * (MAX_QUERY_CHARS // 2),
    "decimal-runs": "1." * (MAX_QUERY_CHARS // 2 - 1) + "5",
    "open-parens": "(" * MAX_QUERY_CHARS,
    "postcode-like-runs": "KA1 " * (MAX_QUERY_CHARS // 4),
    "outward-then-spaces": "A1" + " " * (MAX_QUERY_CHARS - 3) + "x",
    "hemisphere-letters": "N" * MAX_QUERY_CHARS,
    "zero-width": "\u200b" * MAX_QUERY_CHARS,
    "full-width-digits": "５" * MAX_QUERY_CHARS,
    "10kb-of-spaces": "5" + " " * 10_000 + "5",
    "1mb": "5 " * 500_000,
}


@pytest.mark.parametrize("name", list(SLOW_QUERIES), ids=list(SLOW_QUERIES))
def test_no_query_takes_long(testshire, name):
    q = SLOW_QUERIES[name]
    t = time.perf_counter()
    try:
        testshire.lookup(q)
    except InputError as exc:
        assert len(q) > MAX_QUERY_CHARS or "coordinates" in str(exc)
    # A guard against a runaway regular expression, not a latency budget: each query takes 1-20 ms
    # even on a busy machine, a catastrophic backtrack takes seconds to hours; the bound is 100x.
    assert time.perf_counter() - t < 1.0


def test_query_too_long_says_so(testshire):
    with pytest.raises(InputError, match=rf"10,002 characters long; expected at most {MAX_QUERY_CHARS}"):
        parse_query("5" + " " * 10_000 + "5")
    from heart_geo import explore

    a = explore.lookup_answer(testshire, "x" * 5000)
    assert a["status"] == "invalid_postcode" and "at most" in a["detail"] and a["team"] is None


QUERY_FORMS = [
    ("55.45, -4.26", ("point", (-4.26, 55.45, "EPSG:4326"))),
    ("55.4N 4.3W", ("point", (-4.3, 55.4, "EPSG:4326"))),
    ("4.3W 55.4N", ("point", (-4.3, 55.4, "EPSG:4326"))),
    ("55.4 N, 4.3 W", ("point", (-4.3, 55.4, "EPSG:4326"))),
    ("55.4°N 4.3°W", ("point", (-4.3, 55.4, "EPSG:4326"))),
    ("n55.4 w4.3", ("point", (-4.3, 55.4, "EPSG:4326"))),
    ("55,45; -4,26", ("point", (-4.26, 55.45, "EPSG:4326"))),
    ("55,45;-4,26", ("point", (-4.26, 55.45, "EPSG:4326"))),
    ("55,45 -4,26", ("point", (-4.26, 55.45, "EPSG:4326"))),
    ("(55.45, -4.26)", ("point", (-4.26, 55.45, "EPSG:4326"))),
    ("５５.４５, −４.２６", ("point", (-4.26, 55.45, "EPSG:4326"))),  # full width, Unicode minus
    ("257000 620000", ("point", (257000.0, 620000.0, "EPSG:27700"))),
    ("257000E 620000N", ("point", (257000.0, 620000.0, "EPSG:27700"))),
    ("257000; 620000", ("point", (257000.0, 620000.0, "EPSG:27700"))),
    ("ka18 1fq", ("text", "ka18 1fq")),
    ("12 Main St, KA18 1FQ", ("text", "12 Main St, KA18 1FQ")),
    ("55.4N 4.3N", InputError),  # two latitudes
    ("-4.26, 55.45", InputError),  # swapped
    ("95.0S 4.3W", InputError),  # outside Great Britain
]


@pytest.mark.parametrize("query,expected", QUERY_FORMS, ids=[q for q, _ in QUERY_FORMS])
def test_query_forms(query, expected):
    if expected is InputError:
        with pytest.raises(InputError):
            parse_query(query)
    else:
        kind, value = parse_query(query)
        assert kind == expected[0]
        if kind == "point":
            assert value[2] == expected[1][2] and np.allclose(value[:2], expected[1][:2])
        else:
            assert value == expected[1]


POSTCODE_FORMS = [
    ("ＫＡ１８ １ＦＱ", "KA18 1FQ"),  # full width
    ("KA1\u200d8 1FQ", "KA18 1FQ"),  # zero-width joiner inside
    ("\u200bKA18\u200c1FQ\u2060", "KA18 1FQ"),  # zero-width space, non-joiner, word joiner
    ("\ufeffKA18 1FQ", "KA18 1FQ"),  # byte-order mark pasted in
    ("KA18\u00a01FQ", "KA18 1FQ"),  # non-breaking space
    ("KA18\u20031FQ", "KA18 1FQ"),  # em space
    ("ka18\u00ad1fq", "KA18 1FQ"),  # soft hyphen
    ("GIR 0AA", "GIR 0AA"),
    ("gir0aa", "GIR 0AA"),
    ("National Girobank, Bootle, GIR 0AA", "GIR 0AA"),
    ("GIR 1AB", None),  # GIR is only ever 0AA
    ("1 Main St KA1 1AA, was KA2 2BB", None),  # two different postcodes: none taken
    ("1 Main St KA1 1AA (KA1 1AA)", "KA1 1AA"),  # the same one twice is one
]


@pytest.mark.parametrize("text,expected", POSTCODE_FORMS, ids=[repr(t) for t, _ in POSTCODE_FORMS])
def test_postcode_forms(text, expected):
    assert normalise_postcode(text) == expected
    # the batch path (plain Python for a few, pandas for many) agrees
    for n in (1, 100):
        pcs, _kind = normalise_postcodes([text] * n)
        assert pcs.tolist() == [expected] * n


def test_two_postcodes_in_an_address_is_explicit(testshire):
    out = testshire.allocate(["1 High St, TT1 1AA and TT1 1AB", "TT1 1AA"] + ["x"] * 70)
    assert out["status"].tolist()[:2] == ["invalid_postcode", "allocated"]
    assert "two different postcodes" in out["detail"].iloc[0]
    assert pd.isna(out["team"].iloc[0])
    r = testshire.lookup("1 High St, TT1 1AA and TT1 1AB")
    assert r["status"] == "invalid_postcode" and "two different postcodes" in r["detail"]
    _pcs, kind = normalise_postcodes(["TT1 1AA or TT1 1AB"] * 100)
    assert set(kind) == {"ambiguous"}


# ==================================================================================================
# 3. HTML injection into the map
# ==================================================================================================
EVIL = [
    "<img src=x onerror=alert(1)>",
    "</script><script>alert(2)</script>",
    "\"><svg onload=alert(3)>",
    "<b onmouseover='alert(4)'>St Evil's</b>",
]


@pytest.mark.parametrize("evil", EVIL)
def test_names_from_data_files_are_escaped_on_the_map(tmp_path, monkeypatch, evil):
    from heart_geo import explore
    from heart_geo.profiles import load_profile

    schools = [(s[0], evil if s[0] in ("8000009", "8000020") else s[1], *s[2:]) for s in testing.SCHOOLS]
    monkeypatch.setattr(testing, "SCHOOLS", schools)
    toml = write_test_data(tmp_path / "d")
    p = load_profile(toml, data_dir=tmp_path / "d", cache=False)
    assert evil in set(p.schools["name"])
    page = explore.coverage_map(p, point=(55.0, -4.0), point_label=evil).get_root().render()
    assert evil not in page
    # the name is there, as text
    import html

    assert html.escape(evil, quote=True) in page or html.escape(evil, quote=True).replace("/", "\\/") in page


# ==================================================================================================
# 4. output paths and signals
# ==================================================================================================
def test_output_to_a_fifo_is_written_into_not_replaced(ts, tmp_path, capsys):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got = {}

    def reader():
        with open(fifo, "rb") as fh:
            got["data"] = fh.read()

    t = threading.Thread(target=reader)
    t.start()
    src = tmp_path / "in.csv"
    src.write_bytes(crlf("name,postcode", f"a,{P}"))
    code, _out, err = run(["assign", *prof(ts), src, "-o", fifo], capsys)
    t.join(10)
    assert code == 0, err
    assert fifo.is_fifo()  # still a FIFO: never replaced by a regular file
    assert got["data"].decode("utf-8-sig").splitlines()[1].startswith("a,TT1 1AA,North,allocated")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


@pytest.mark.parametrize("path,special", [("/dev/null", True), ("/dev/zero", True), ("/dev/stdout", True),
                                          ("/dev/fd/2", True), (".", False)])
def test_special_paths_are_recognised(path, special, tmp_path):
    # only inspected, never written: /dev/null belongs to the whole machine
    assert caseload._is_special(Path(path)) is special
    f = tmp_path / "f.csv"
    f.write_text("x")
    assert caseload._is_special(f) is False and caseload._is_special(tmp_path / "missing") is False


def test_sigterm_mid_run_leaves_no_part_file(ts, tmp_path):
    src = tmp_path / "big.csv"
    with open(src, "w", encoding="utf-8", newline="") as fh:
        fh.write("name,postcode\r\n")
        fh.writelines(f"child {i},TT1 1AA\r\n" for i in range(400_000))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    env = dict(os.environ, HEART_GEO_CACHE=str(tmp_path / "cache"),
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, "-m", "heart_geo", "assign", *prof(ts), str(src), "-o",
                             str(out_dir / "out.csv"), "--chunk-size", "500", "-q"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and not list(out_dir.glob("*.part")):
        time.sleep(0.02)
    assert list(out_dir.glob("*.part")), "the run never started writing"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert list(out_dir.iterdir()) == []  # no .part left holding personal data, no half output


def test_sigterm_while_the_temporary_file_is_made_still_cleans_up(tmp_path, monkeypatch):
    """The signal lands inside mkstemp, before the file's name is known: held, then raised once the
    clean-up can run, so the file is still removed."""
    import tempfile

    real = tempfile.mkstemp

    def mkstemp_then_signal(*a, **k):
        got = real(*a, **k)
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, inside "mkstemp"
        return got

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp_then_signal)
    out = tmp_path / "out" / "o.csv"
    out.parent.mkdir()
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as exc:
        caseload.write_csv_atomic([pd.DataFrame([["a"]])], out, ["name"])
    assert exc.value.code == 128 + signal.SIGTERM
    assert list(out.parent.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back


# ==================================================================================================
# 5. files that are not what they seem
# ==================================================================================================
NAME = "Zoë Ó'Brien"
# id, bytes, extra args, exit code, stderr regex, statuses (None: skip), output header start (None: skip),
#     words that must never reach stderr
FILE_CASES = [
    ("html-saved-as-xls",
     f"<html><head><meta charset='utf-8'></head><body><table><tr><td>name</td><td>postcode</td></tr>"
     f"<tr><td>{NAME}</td><td>{P}</td></tr></table></body></html>".encode(), [], 2,
     r"is a web page, XML or RTF document, not a CSV file", None, None, [NAME, P, "<td>"]),
    ("html-with-doctype-and-bom", codecs.BOM_UTF8 + f"\r\n  <!DOCTYPE html><table><tr><td>{NAME}</td></tr>".encode(),
     [], 2, r"is a web page", None, None, [NAME]),
    ("excel-single-file-web-page", f"MIME-Version: 1.0\r\nX-Document-Type: Workbook\r\n\r\n{NAME},{P}\r\n".encode(),
     [], 2, r"is a web page", None, None, [NAME, P]),
    ("excel-2003-xml", f'<?xml version="1.0"?>\r\n<Workbook><Row><Cell>{NAME}</Cell></Row></Workbook>'.encode(),
     [], 2, r"is a web page, XML", None, None, [NAME]),
    ("rtf", f"{{\\rtf1\\ansi {NAME}}}".encode(), [], 2, r"RTF document", None, None, [NAME]),
    ("headerless-address-first", crlf(f"{NAME},12 High Street Testtown,{P}", "Bart Quigg,3 Low Road,TT1 1AB"), [], 2,
     r"3 columns, not shown: the first row looks like data", None, None, [NAME, "High Street", P, "Testtown"]),
    ("headerless-address-no-postcode", crlf(f"{NAME},12 High Street", "Bart Quigg,3 Low Road"), [], 2,
     r"the first row looks like data", None, None, [NAME, "High Street"]),
    ("headerless-street-name-only", crlf(f"{NAME},Main Street,Testtown", "Bart Quigg,Low Road,Testtown"), [], 2,
     r"the first row looks like data", None, None, [NAME, "Main Street", "Testtown"]),
    ("headerless-flat", crlf(f"{NAME},Flat 2/1,Testtown", "Bart Quigg,Flat 0/2,Testtown"), [], 2,
     r"the first row looks like data", None, None, [NAME, "Flat", "Testtown"]),
    ("header-street-name-column", crlf("Name,Street name,Town,Post code", f"a,Main Street,Testtown,{P}"), [], 0, r"",
     ["allocated"], ["Name", "Street name", "Town", "Post code"], []),
    ("headerless-email", crlf(f"{NAME},zoe@example.org", "Bart,b@example.org"), [], 2,
     r"the first row looks like data", None, None, [NAME, "example.org"]),
    ("headerless-numbers", crlf("1,2", "3,4"), [], 2, r"the first row looks like data", None, None, []),
    ("header-with-id-column", crlf("id,postcode", f"1,{P}"), [], 0, r"", ["allocated"], ["id", "postcode"], []),
    ("header-of-years", crlf("name,2023,2024,postcode", f"a,x,y,{P}"), [], 0, r"", ["allocated"], None, []),
    ("stray-cp1252-byte-in-utf8",
     "name,postcode\r\nZoë,TT1 1AA\r\nRenée,TT1 1AC\r\n".encode() + b"Sin\xe9ad,TT1 1AB\r\n", [], 0,
     r"", ["allocated"] * 3, ["name", "postcode"], []),
    ("header-with-comma-in-parentheses-semicolons",
     crlf("Name;Address (street, town);Postcode", f"a;1 High St, Testtown;{P}"), [], 0, r"",
     ["allocated"], ["Name", "Address (street, town)", "Postcode", "team"], []),
    ("header-with-comma-in-parentheses-commas",
     crlf("Name,Address (street, town),Postcode", f'a,"1 High St, Testtown",{P}', f'b,"2 Low Rd, Testtown",{P}'),
     [], 0, r"", ["allocated"] * 2, ["Name", "Address (street, town)", "Postcode", "team"], []),
    ("one-column-address-with-commas",
     crlf("Address (street, town)", f"1 High St, Testtown {P}", "2 Low Rd, Testtown TT1 1AC"), [], 0, r"",
     ["allocated"] * 2, ["Address (street, town)", "team"], []),
    ("separator-decided-by-rows-not-one-line",
     crlf("name|notes, if any|postcode", f"a|x, y|{P}", f"b|z|{P}"), [], 0, r"", ["allocated"] * 2,
     ["name", "notes, if any", "postcode"], []),
    ("previous-and-current-postcode",
     crlf("name,Previous postcode,Current postcode", f"a,TT1 1AB,{P}"), [], 0,
     r"used 'Current postcode'; not \['Previous postcode'\]", ["allocated"], None, []),
    ("old-and-plain-postcode", crlf("name,Old Postcode,Postcode", f"a,TT1 1AB,{P}"), [], 0,
     r"used 'Postcode'", ["allocated"], None, []),
    ("school-and-home-postcode", crlf("school postcode,HomePostcode", f"TT1 1AB,{P}"), [], 0,
     r"used 'HomePostcode'", ["allocated"], None, []),
    ("two-postcode-columns-ambiguous", crlf("name,Postcode 1,Postcode 2", f"a,TT1 1AB,{P}"), [], 2,
     r"3 columns|2 columns in .* could hold the family's postcode: \['Postcode 1', 'Postcode 2'\]", None, None, [P]),
    ("only-a-previous-postcode", crlf("name,Previous postcode", f"a,{P}"), [], 2,
     r"name a place other than the family's home", None, None, [P]),
    ("previous-postcode-named-explicitly", crlf("name,Previous postcode", f"a,{P}"),
     ["--postcode-col", "Previous postcode"], 0, r"", ["allocated"], None, []),
    ("comma-decimal-coordinates", crlf("name;latitude;longitude", "a;55,45;-4,26", "b;55,4;−4,3", "c;1,5;2,5"),
     [], 0, r"", ["outside_area", "outside_area", "invalid_coordinates"], ["name", "latitude", "longitude"], []),
    ("comma-decimal-eastings", crlf("name;easting;northing", "a;300500,0;601500,0", "b;300500;601500"), [], 0, r"",
     ["allocated", "allocated"], None, []),
    ("two-postcodes-in-an-address", crlf("name,address", f'a,"1 High St {P}, was TT1 1AB"', f"b,{P}"), [], 0, r"",
     ["invalid_postcode", "allocated"], None, []),
]


@pytest.mark.parametrize("case", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_files_that_are_not_what_they_seem(case, ts, tmp_path, capsys, testshire):
    _id, data, extra, code, pattern, statuses, header, secret = case
    src = tmp_path / "caseload.csv"
    src.write_bytes(data)
    out = tmp_path / "out.csv"
    got, stdout, err = run(["assign", *prof(ts), src, "-o", out, *extra], capsys)
    assert got == code, err
    assert "Traceback" not in err
    import re

    assert re.search(pattern, err), err
    for s in secret:
        assert s not in err and s not in stdout
    if code == 2:
        assert not out.exists()
        opts = {k.lstrip("-").replace("-", "_"): v for k, v in zip(extra[::2], extra[1::2], strict=True)}
        with pytest.raises(InputError, match=pattern):
            caseload.allocate_csv_bytes(testshire, data, name="caseload.csv", **opts)
        return
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"), newline="")))
    if header is not None:
        assert rows[0][: len(header)] == header
    status_at = rows[0].index("status", len(rows[0]) - len(caseload.RESULT_COLUMNS))
    assert [r[status_at] for r in rows[1:]] == statuses
    assert all(len(r) == len(rows[0]) for r in rows)


def test_stray_cp1252_byte_keeps_every_other_name(testshire):
    data = "name,postcode\r\nZoë Ó'Brien,TT1 1AA\r\nRenée,TT1 1AC\r\n".encode() + b"Sin\xe9ad \x80,TT1 1AB\r\n"
    assert caseload.detect_encoding(data) == caseload.MIXED_ENCODING
    out, summary = caseload.allocate_csv_bytes(testshire, data)
    names = [r[0] for r in csv.reader(io.StringIO(out.decode("utf-8-sig")))][1:]
    assert names == ["Zoë Ó'Brien", "Renée", "Sinéad €"]
    assert summary["encoding"] == caseload.MIXED_ENCODING
    # a whole Windows-1252 file is still read as Windows-1252
    assert caseload.detect_encoding("Zoë,TT1 1AA\r\n".encode("cp1252")) == "cp1252"


def test_rerunning_on_its_own_output(ts, tmp_path, capsys):
    src = tmp_path / "run0.csv"
    src.write_bytes(crlf("name,Post Code", f"a,{P}", "b,TT1 1AB"))
    n = len(caseload.RESULT_COLUMNS)
    for i in range(1, 4):
        out = tmp_path / f"run{i}.csv"
        code, _o, err = run(["assign", *prof(ts), src, "-o", out], capsys)
        assert code == 0, err
        rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
        header = rows[0]
        assert len(set(header)) == len(header), header  # never a repeated column name
        assert len(header) == 2 + n * i
        assert header[-n] == ("team" if i == 1 else "team_heart_geo" if i == 2 else "team_heart_geo_2")
        assert [r[-n + 1] for r in rows[1:]] == ["allocated", "allocated"]
        assert [r[-n] for r in rows[1:]] == ["North", "East"]
        if i > 1:
            assert "result columns of an earlier run" in err
        src = out


@pytest.mark.parametrize("n_old", [10, len(caseload.RESULT_COLUMNS)], ids=["older-version", "this-version"])
def test_earlier_results_are_recognised(n_old):
    old = caseload.RESULT_COLUMNS[:n_old]
    header = ["name", "Post Code", *old, *[f"{c}_heart_geo" for c in old]]
    assert caseload.previous_result_columns(header) == set(range(2, 2 + 2 * n_old))
    loc = caseload.find_location_columns(header)
    assert header[loc.postcode] == "Post Code" and loc.note == ""
    assert caseload.previous_result_columns(["team", "status", "postcode"]) == set()


def test_enrolment_file_with_the_tools_own_column_names(ts, tmp_path, capsys):
    cols = ["school", "postcode", "consent", "risk_of_harm", "row", "row_heart_geo", "link_school",
            "link_school_heart_geo", "shared_because", "team", "status", "detail"]
    src = tmp_path / "enrol.csv"
    src.write_bytes(crlf(",".join(cols), ",".join(["8000009", P, "yes", "", *["mine"] * 8])))
    detail = tmp_path / "detail.csv"
    code, _o, err = run(["links", *prof(ts), "--enrolments", src, "-o", tmp_path / "links.csv",
                         "--detail-output", detail], capsys)
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(detail.read_text(encoding="utf-8-sig"))))
    assert len(set(rows[0])) == len(rows[0])
    d = dict(zip(rows[0], rows[1], strict=True))
    assert d["row"] == "mine" and d["row_heart_geo"] == "mine" and d["row_heart_geo_2"] == "1"
    assert d["shared_because"] == "mine" and d["shared_because_heart_geo"] == "consent"


def test_dashboard_upload_row_cap(testshire):
    from heart_geo import explore

    data = b"postcode\n" + b"TT1 1AA\n" * 50
    assert explore.allocate_caseload_bytes(testshire, data, max_rows=50).rows == 50
    with pytest.raises(InputError, match="more than 49 rows; expected at most 49"):
        explore.allocate_caseload_bytes(testshire, data, max_rows=49)
    enrol = b"school,postcode\n" + b"8000009,TT1 1AA\n" * 20
    with pytest.raises(InputError, match="more than 10 rows"):
        explore.enrolment_links_bytes(testshire, enrol, max_rows=10)


def test_dashboard_launch_caps_uploads(monkeypatch, ts):
    from heart_geo import cli
    from heart_geo.settings import UPLOAD_MAX_MB

    seen = {}
    monkeypatch.setattr(cli, "_run_until_stopped", lambda cmd, _env: seen.setdefault("cmd", cmd) and 0)
    assert main(["dashboard", *prof(ts)]) == 0
    cmd = seen["cmd"]
    assert cmd[cmd.index("--server.maxUploadSize") + 1] == str(UPLOAD_MAX_MB) and UPLOAD_MAX_MB < 200
    root = Path(__file__).resolve().parents[1]
    assert f"maxUploadSize = {UPLOAD_MAX_MB}" in (root / ".streamlit" / "config.toml").read_text()


# ==================================================================================================
# 6. consent that disagrees with itself
# ==================================================================================================
def enrol(rows, columns):
    return pd.DataFrame(rows, columns=columns)


C = ["name", "school", "postcode"]
# id, frame, released rows (1-based), consent_conflicts, risk_conflicts
CONSENT_CASES = [
    ("repeated-column-yes-no", enrol([("A", "8000009", P, "yes", "no")], [*C, "consent", "consent"]), [], 1, 0),
    ("repeated-column-no-yes", enrol([("A", "8000009", P, "no", "yes")], [*C, "consent", "consent"]), [], 1, 0),
    ("repeated-column-yes-blank", enrol([("A", "8000009", P, "yes", "")], [*C, "consent", "consent"]), [], 1, 0),
    ("repeated-column-yes-yes", enrol([("A", "8000009", P, "yes", "Y")], [*C, "consent", "consent"]), [1], 0, 0),
    ("two-spellings-disagree", enrol([("A", "8000009", P, "yes", "no")], [*C, "consent", "Consent Given"]),
     [], 1, 0),
    ("repeated-pupil-by-id", enrol([("A", "8000009", P, "1", "yes"), ("A", "8000009", P, "1", "no")],
                                   [*C, "Pupil ID", "consent"]), [], 1, 0),
    ("repeated-pupil-by-id-agrees", enrol([("A", "8000009", P, "1", "yes"), ("A", "8000009", "TT1 1AB", "1", "yes")],
                                          [*C, "Pupil ID", "consent"]), [1, 2], 0, 0),
    ("repeated-pupil-no-id", enrol([("A", "8000009", P, "no"), ("A", "8000009", P, "yes")], [*C, "consent"]),
     [], 1, 0),
    ("different-pupils-no-id", enrol([("A", "8000009", P, "no"), ("B", "8000009", P, "yes")], [*C, "consent"]),
     [2], 0, 0),
    ("risk-repeated-column", enrol([("A", "8000009", P, "", "yes", "no")], [*C, "consent", "risk_of_harm", "cp"]),
     [], 0, 1),
    ("risk-repeated-pupil", enrol([("A", "8000009", P, "7", "", "yes"), ("A", "8000009", P, "7", "", "")],
                                  [*C, "SCN", "consent", "risk_of_harm"]), [], 0, 1),
    ("risk-holds-where-consent-conflicts",
     enrol([("A", "8000009", P, "yes", "no", "yes")], [*C, "consent", "consent", "risk_of_harm"]), [1], 1, 0),
]


@pytest.mark.parametrize("case", CONSENT_CASES, ids=[c[0] for c in CONSENT_CASES])
def test_conflicting_consent_is_never_released(testshire, case):
    _id, df, released, c_conf, r_conf = case
    r = links_from_enrolments(testshire, df, suppress=False)  # exact counts, not "<5"
    assert r.detail["row"].tolist() == released
    assert r.summary["consent_conflicts"] == c_conf and r.summary["risk_conflicts"] == r_conf
    assert r.summary["released"] + r.summary["withheld"] == len(df)


def test_conflicting_consent_through_the_cli(ts, tmp_path, capsys):
    src = tmp_path / "enrol.csv"
    src.write_bytes(crlf("name,school,postcode,consent,consent", f"A,8000009,{P},yes,no", f"B,8000009,{P},yes,yes"))
    detail = tmp_path / "detail.csv"
    code, _o, err = run(["links", *prof(ts), "--enrolments", src, "--detail-output", detail], capsys)
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(detail.read_text(encoding="utf-8-sig"))))
    assert [r[rows[0].index("name")] for r in rows[1:]] == ["B"]
    assert '"consent_conflicts": 1' in err
    assert "note: 1 rows withheld because their consent values disagree" in err


@pytest.fixture
def app(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    folder = tmp_path / "d"
    toml = write_test_data(folder)
    monkeypatch.setenv("HEART_GEO_PROFILE", str(toml))
    monkeypatch.setenv("HEART_GEO_DATA", str(folder))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "heart_geo" / "app" / "dashboard.py"),
                           default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def test_dashboard_links_tab_neutralises_formulas(app):
    app.session_state["tab"] = "Links"
    app.run()
    app.radio(key="links_source").set_value("An enrolment file (pupils' home postcodes)").run()
    data = crlf("school,postcode,consent,name,notes", f"8000009,{P},yes,=HYPERLINK(\"http://x\"),@SUM(A1)",
                f"8000009,{P},yes,-2+3,+44 1563")
    app.file_uploader(key="enrolment_file").upload("e.csv", data, "text/csv").run()
    assert not app.exception, app.exception
    detail = next(df.value for df in app.dataframe if "Shared because" in df.value.columns)
    assert detail["name"].tolist() == ["'=HYPERLINK(\"http://x\")", "'-2+3"]
    assert detail["notes"].tolist() == ["'@SUM(A1)", "'+44 1563"]
    downloads = list(app.get("download_button"))
    assert len(downloads) >= 2  # the link table and the released rows can be downloaded
    assert "disagree" not in " ".join(w.value for w in app.warning)


# ==================================================================================================
# 7. profiles with values of the wrong type
# ==================================================================================================
# id, text replaced in the test profile, new text, key the message must name
PROFILE_CASES = [
    ("schools-a-string", 'schools = [{ seed_code = "8000001"', 'schools = "8000001"\nx = [{ seed_code = "8000001"',
     r"'teams\[0\]\.schools' is a string, expected a list of tables"),
    ("team-name-a-number", 'name = "North"', "name = 5", r"'teams\[0\]\.name' is a number, expected a string"),
    ("patterns-a-string", None, None, r"'sources\.catchments\.patterns' is a string, expected a list of strings"),
    ("council-a-string", None, None, r"'council' is a string, expected a table"),
    ("sector-a-number", None, None, r"'overrides\[0\]\.sector' is a number, expected a string"),
    ("covers-a-string", None, None, r"'services\[0\]\.link_workers\[0\]\.covers' is a string, expected a list"),
    ("effective-from-a-string", "effective_from = 2022-04-04", 'effective_from = "4 April 2022"',
     r"'council\.effective_from' is a string, expected a date"),
    ("faith-a-table", None, None, r"'council_wide_schools\.faith' is a table, expected a list of tables"),
    ("teams-a-table", None, None, r"'teams' is a table, expected a list of tables"),
]


def _mutate(conf: dict, case: str) -> dict:
    if case == "patterns-a-string":
        conf["sources"]["catchments"]["patterns"] = "*.gpkg"
    elif case == "council-a-string":
        conf["council"] = "Testshire"
    elif case == "sector-a-number":
        conf["overrides"] = [{"team": "North", "sector": 5}]
    elif case == "covers-a-string":
        conf["services"] = [{"name": "S", "mode": "link_worker", "link_workers": [{"covers": "North"}]}]
    elif case == "faith-a-table":
        conf["council_wide_schools"]["faith"] = {"seed_code": "8000009"}
    elif case == "teams-a-table":
        conf["teams"] = {"name": "North"}
    return conf


@pytest.mark.parametrize("case", PROFILE_CASES, ids=[c[0] for c in PROFILE_CASES])
def test_wrongly_typed_profile_values(case, ts, tmp_path, capsys):
    import tomllib

    from heart_geo.profiles import _check_config

    name, old, new, pattern = case
    text = (ts / "testshire.toml").read_text(encoding="utf-8-sig")
    if old is not None:
        assert old in text
        text = text.replace(old, new, 1)
        conf = tomllib.loads(text)
    else:
        conf = _mutate(tomllib.loads(text), name)
    with pytest.raises(ProfileError, match=pattern):
        _check_config(conf, tmp_path / "p.toml")
    if old is not None:  # through the command line: exit 2 naming the key, not an unexpected failure
        p = tmp_path / "p.toml"
        p.write_text(text, encoding="utf-8")
        code, _o, err = run(["teams", "--profile", p, "--data-dir", ts], capsys)
        assert code == 2 and "unexpected failure" not in err
        import re

        assert re.search(pattern, err), err


@pytest.mark.parametrize("evil", ["![x](http://evil.example/x.png)", "[click](javascript:alert(1))", "**loud** `code`"])
def test_dashboard_shows_file_and_query_text_as_text(app, evil):
    """Column names from an upload and the user's query reach Streamlit markdown escaped: never an
    image fetched from a network, a link or formatting."""
    app.session_state["tab"] = "Caseload"
    app.run()
    app.file_uploader(key="caseload_file").upload("c.csv", crlf(f"name,{evil}", "a,b"), "text/csv").run()
    assert not app.exception, app.exception
    raw = " ".join(e.value for e in app.error)
    assert "no location column" in raw
    assert evil not in raw and "](" not in raw and "**" not in raw
    app.session_state["tab"] = "Map & lookup"
    app.run()
    app.text_input(key="query").input(evil).run()
    shown = " ".join(m.value for m in app.markdown) + " ".join(e.value for e in app.error)
    assert evil not in shown and "](" not in shown
