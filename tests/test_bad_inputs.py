"""Bad input, clear answers, nothing lost: a table of hostile inputs and the exact answer each gets.

Four tables, each one row per case:

* ``API_CASES``: ``Profile.allocate``, ``allocate_points``, ``lookup`` and the postcode reader;
* ``CATCHMENT_CASES``: boundary files with broken geometry or CRS, through ``read_catchments``;
* ``CSV_CASES``: caseload files, each run through the CLI (``heart-geo assign``, in-process) *and*
  the dashboard's upload path (``caseload.allocate_csv_bytes`` on the same bytes): same exit code
  or error, same output bytes;
* ``CLI_CASES``: command-line misuse (paths, options, profiles, links) and its exit code.

Exit codes: 0 done, 2 usable-but-wrong input (the message says what and what was expected), never a
traceback. Decisions recorded here: an empty file is exit 2; a header-only file gives an output with
the header only and a note, exit 0; blank lines are skipped and counted (they are not rows); a row
with more non-empty cells than the header is exit 2 naming the row; short rows are padded.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from heart_geo import caseload
from heart_geo.cli import main
from heart_geo.errors import CRSMismatchError, DataFormatError, DataNotFoundError, InputError
from heart_geo.sources import read_catchments, read_postcodes
from heart_geo.testing import X0, Y0, geojson_square, write_test_data

# --------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ts_dir(ts):
    """Testshire's Code-Point Open folder (the conftest's ``ts``), by the name this module's tests use."""
    return ts


@pytest.fixture(scope="module")
def onspd_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("ts_onspd")
    write_test_data(d, onspd=True)
    return d


@pytest.fixture(scope="module")
def profiles(ts_dir, onspd_dir):
    from heart_geo.profiles import load_profile

    return {
        "codepoint": load_profile(ts_dir / "testshire.toml", data_dir=ts_dir, cache=False),
        "onspd": load_profile(onspd_dir / "testshire.toml", data_dir=onspd_dir, cache=False),
    }


pytestmark = pytest.mark.usefixtures("cache_dir")


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def prof_args(d: Path) -> list[str]:
    return ["--profile", str(d / "testshire.toml"), "--data-dir", str(d)]


# --------------------------------------------------------------------------------------------------
# 1. the API
# --------------------------------------------------------------------------------------------------
BNG_N = (X0 + 500, Y0 + 1500)  # inside North


def _to(crs, x, y):
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:27700", crs, always_xy=True).transform(x, y)


# id, profile ("codepoint" / "onspd"), call, expected: ("status", [..], detail regex) or ("raises", exc, regex)
API_CASES = [
    ("pc-malformed", "codepoint", lambda p: p.allocate(["XX", "12345", "TT1", "1AA TT1"]),
     ("status", ["invalid_postcode"] * 4, r"no postcode found|an incomplete postcode \(TT1\)")),
    ("pc-unknown", "codepoint", lambda p: p.allocate(["TT1 1ZZ", "tt11zz"]),
     ("status", ["unknown_postcode"] * 2, r"not in the postcode data")),
    ("pc-unknown-sector-not-in-council", "codepoint", lambda p: p.allocate(["TT9 9ZZ", "tt99zz"]),
     ("status", ["outside_area"] * 2, r"no known postcode of sector TT9 9")),
    ("pc-unknown-sector-of-other-council", "codepoint", lambda p: p.allocate(["TT2 9ZY"]),
     ("status", ["outside_area"], r"its sector TT2 9 is in council S99000002")),
    ("pc-terminated-onspd", "onspd", lambda p: p.allocate(["TT1 9ZA", "tt19za"]),
     ("status", ["terminated_postcode"] * 2, r"no longer in use")),
    ("pc-terminated-other-council", "onspd", lambda p: p.allocate(["TT2 9ZB"]),
     ("status", ["outside_area"], r"in council S99000002")),
    ("pc-live-in-onspd", "onspd", lambda p: p.allocate(["TT1 1AA"]), ("status", ["allocated"], r"catchment")),
    ("pc-empty-and-none", "codepoint", lambda p: p.allocate(["", None, "   ", np.nan, "\t"]),
     ("status", ["missing_location"] * 5, r"no postcode or coordinates")),
    ("pc-not-text", "codepoint", lambda p: p.allocate([5, 3.5, True]), ("status", ["invalid_postcode"] * 3, r"")),
    ("pc-no-grid-reference", "codepoint", lambda p: p.allocate(["TT1 1AG"]),
     ("status", ["missing_location"], r"no grid reference")),
    ("pc-other-council", "codepoint", lambda p: p.allocate(["TT2 9ZZ"]), ("status", ["outside_area"], r"S99000002")),
    ("pc-single-string", "codepoint", lambda p: p.allocate("TT1 1AA"),
     ("raises", InputError, r"takes a list of postcodes.*got a single str")),
    ("pc-none-list", "codepoint", lambda p: p.allocate(None), ("raises", InputError, r"takes a list")),
    ("pc-empty-list", "codepoint", lambda p: p.allocate([]), ("status", [], r"")),
    ("xy-swapped-latlon", "codepoint",
     lambda p: p.allocate_points([55.45], [-4.26], crs="EPSG:4326"),
     ("status", ["invalid_coordinates"], r"look swapped")),
    ("xy-lat-out-of-range", "codepoint", lambda p: p.allocate_points([-4.2], [95.0], crs="EPSG:4326"),
     ("status", ["invalid_coordinates"], r"outside Great Britain")),
    ("xy-bng-out-of-range", "codepoint", lambda p: p.allocate_points([900_000, -5], [100, 2_000_000]),
     ("status", ["invalid_coordinates"] * 2, r"outside the British National Grid")),
    ("xy-nan-none-empty", "codepoint", lambda p: p.allocate_points([np.nan, None, "", 300500], [1, 2, 3, np.nan]),
     ("status", ["missing_location"] * 4, r"coordinate missing")),
    ("xy-text-inf", "codepoint", lambda p: p.allocate_points(["abc", np.inf, "1,5"], [600500, 600500, 600500]),
     ("status", ["invalid_coordinates"] * 3, r"not a number|outside")),
    ("xy-degrees-as-metres", "codepoint", lambda p: p.allocate_points([-4.26], [55.45]),
     ("status", ["invalid_coordinates"], r"look like degrees")),
    ("xy-metres-as-degrees", "codepoint", lambda p: p.allocate_points([BNG_N[0]], [BNG_N[1]], crs="EPSG:4326"),
     ("status", ["invalid_coordinates"], r"outside Great Britain")),
    ("xy-other-crs-declared", "codepoint",
     lambda p: p.allocate_points(*[[v] for v in _to("EPSG:3857", *BNG_N)], crs="EPSG:3857"),
     ("status", ["allocated"], r"catchment")),
    ("xy-unknown-crs", "codepoint", lambda p: p.allocate_points([1], [1], crs="EPSG:99999"),
     ("raises", InputError, r"crs 'EPSG:99999' not understood")),
    ("xy-length-mismatch", "codepoint", lambda p: p.allocate_points([1, 2], [1]),
     ("raises", InputError, r"x and y differ in length: 2 and 1")),
    ("xy-2d", "codepoint", lambda p: p.allocate_points(np.ones((2, 2)), np.ones((2, 2))),
     ("raises", InputError, r"one-dimensional")),
    ("xy-outside-council", "codepoint", lambda p: p.allocate_points([X0 + 9000], [Y0 + 9000]),
     ("status", ["outside_area"], r"outside the council")),
    ("lookup-none", "codepoint", lambda p: [p.lookup(None)], ("status", ["missing_location"], r"")),
    ("lookup-empty", "codepoint", lambda p: [p.lookup("  ")], ("status", ["missing_location"], r"")),
    ("lookup-swapped", "codepoint", lambda p: [p.lookup("-4.26, 55.45")],
     ("status", ["invalid_coordinates"], r"look swapped: latitude .* comes first")),
    ("lookup-out-of-range", "codepoint", lambda p: [p.lookup("95, 200")],
     ("status", ["invalid_coordinates"], r"outside Great Britain")),
    ("lookup-address", "codepoint", lambda p: [p.lookup("Flat 2, 3 High St, Testtown, tt1 1aa")],
     ("status", ["allocated"], r"")),
    ("lookup-terminated", "onspd", lambda p: [p.lookup("tt1 9za")], ("status", ["terminated_postcode"], r"")),
    ("lookup-number", "codepoint", lambda p: [p.lookup(12345)], ("status", ["invalid_postcode"], r"")),
]


@pytest.mark.parametrize("case", API_CASES, ids=[c[0] for c in API_CASES])
def test_api_bad_input(case, profiles):
    _id, which, call, want = case
    p = profiles[which]
    if want[0] == "raises":
        with pytest.raises(want[1], match=want[2]):
            call(p)
        return
    out = call(p)
    rows = out.to_dict("records") if isinstance(out, pd.DataFrame) else list(out)
    assert [str(r["status"]) for r in rows] == want[1]
    for r in rows:
        assert re.search(want[2], str(r["detail"])), r["detail"]
        has_team = isinstance(r["team"], str)
        assert has_team == (r["status"] in ("allocated", "nearest_team", "terminated_postcode"))


# --------------------------------------------------------------------------------------------------
# 2. boundary and postcode files
# --------------------------------------------------------------------------------------------------
def _bowtie(tmp):
    g = {"type": "Polygon", "coordinates": [[[X0, Y0], [X0 + 1000, Y0 + 1000], [X0 + 1000, Y0], [X0, Y0 + 1000],
                                             [X0, Y0]]]}
    return geojson_square(tmp / "bow.geojson", geometry=g)


def _shp_without_prj(tmp):
    import geopandas as gpd

    gdf = gpd.GeoDataFrame({"school_nam": ["A"]}, geometry=[shapely.box(X0, Y0, X0 + 1e3, Y0 + 1e3)],
                           crs="EPSG:27700")
    gdf.to_file(tmp / "a.shp")
    (tmp / "a.prj").unlink()
    return tmp / "a.shp"


def _gpkg(tmp, crs, geom, cols=None):
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(cols or {"school_nam": ["A"]}, geometry=[geom], crs=crs)
    gdf.to_file(tmp / "x.gpkg")
    return tmp / "x.gpkg"


def _write(tmp, name, text):
    (tmp / name).write_text(text)
    return tmp / name


CATCHMENT_CASES = [
    ("self-intersecting-repaired", _bowtie, None, r"make_valid \(Self-intersection"),
    ("empty-geometry", lambda t: geojson_square(t / "e.geojson", geometry={"type": "Polygon", "coordinates": []}),
     DataFormatError, r"row 1: empty geometry"),
    ("null-geometry", lambda t: _write(t, "n.geojson", json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"school_nam": "X"}, "geometry": None}]})),
     DataFormatError, r"row 1: empty geometry"),
    ("point-geometry", lambda t: geojson_square(t / "p.geojson", geometry={"type": "Point", "coordinates": [X0, Y0]}),
     DataFormatError, r"row 1: Point \(expected Polygon or MultiPolygon\)"),
    ("line-geometry", lambda t: geojson_square(t / "l.geojson", geometry={
        "type": "LineString", "coordinates": [[X0, Y0], [X0 + 1, Y0 + 1]]}),
     DataFormatError, r"LineString \(expected Polygon"),
    ("shapefile-without-prj", _shp_without_prj, DataFormatError, r"has no CRS; expected a declared CRS"),
    ("metres-declared-4326", lambda t: geojson_square(t / "m.geojson", crs="EPSG:4326"),
     CRSMismatchError, r"declares EPSG:4326 \(degrees\).*look like metres"),
    ("geojson-no-crs-member-metres", lambda t: geojson_square(t / "nc.geojson", crs=None),
     CRSMismatchError, r"look like metres"),
    ("wrong-crs-off-gb", lambda t: _gpkg(t, "EPSG:27700", shapely.box(-4.3, 55.4, -4.2, 55.5)),
     CRSMismatchError, r"declares EPSG:27700 \(metres\).*look like degrees"),
    ("wrong-crs-3857-as-27700", lambda t: _gpkg(t, "EPSG:27700", shapely.box(-470_000, 7_400_000, -460_000, 7_410_000)),
     CRSMismatchError, r"does not fall in Great Britain"),
    ("no-name-column", lambda t: _gpkg(t, "EPSG:27700", shapely.box(X0, Y0, X0 + 9, Y0 + 9), {"other": ["A"]}),
     DataFormatError, r"no school name column.*columns are \['other', 'geometry'\]"),
    ("not-vector-data", lambda t: _write(t, "g.geojson", "this is not json"),
     DataFormatError, r"not a vector file GDAL can read"),
    ("zero-byte-gpkg", lambda t: _write(t, "z.gpkg", ""), DataFormatError, r"not a vector file"),
    ("no-features", lambda t: _write(t, "f.geojson", json.dumps({"type": "FeatureCollection", "features": []})),
     DataFormatError, r"has no features"),
    ("missing-file", lambda t: t / "nope.gpkg", DataNotFoundError, r"does not exist"),
    ("empty-folder", lambda t: (t / "d").mkdir() or t / "d", DataNotFoundError, r"no vector files in folder"),
]


@pytest.mark.parametrize("case", CATCHMENT_CASES, ids=[c[0] for c in CATCHMENT_CASES])
def test_catchment_file(case, tmp_path):
    _id, make, exc, pattern = case
    path = make(tmp_path)
    if exc is None:
        gdf = read_catchments(path)
        assert gdf.geometry.is_valid.all() and re.search(pattern, gdf["repair"].iloc[0])
        assert gdf.geometry.iloc[0].area == pytest.approx(500_000)  # both triangles kept
        return
    with pytest.raises(exc, match=pattern):
        read_catchments(path)


POSTCODE_FILE_CASES = [
    ("onspd-missing-columns", "pcds,oseast1m\nTT1 1AA,1\n", r"ONS Postcode Directory but has no column for"),
    ("neither-format", "a,b,c\n1,2,3\n", r"neither Code-Point Open"),
]


@pytest.mark.parametrize("case", POSTCODE_FILE_CASES, ids=[c[0] for c in POSTCODE_FILE_CASES])
def test_postcode_file(case, tmp_path):
    _id, text, pattern = case
    (tmp_path / "pc.csv").write_text(text)
    with pytest.raises(DataFormatError, match=pattern):
        read_postcodes(tmp_path / "pc.csv")


def test_broken_catchments_reach_cli_as_exit_2(tmp_path, capsys):
    write_test_data(tmp_path)
    (tmp_path / "catchments.gpkg").write_bytes(b"not a geopackage")
    code, out, err = run_cli(["teams", *prof_args(tmp_path)], capsys)
    assert code == 2 and "not a vector file GDAL can read" in err and "Traceback" not in err


# --------------------------------------------------------------------------------------------------
# 3. caseload files: the CLI and the dashboard's bytes path
# --------------------------------------------------------------------------------------------------
def crlf(*rows: str) -> bytes:
    return ("\r\n".join(rows) + "\r\n").encode("utf-8")


LONG = "x" * 1_000_000
WIDE_HEADER = ",".join(["postcode", *[f"c{i}" for i in range(3000)]])
WIDE_ROW = ",".join(["TT1 1AA", *["v"] * 3000])
P = "TT1 1AA"

# id, bytes, extra CLI args, profile, exit code, stderr/error regex, expected statuses (None: skip),
#     expected output header (None: skip)
CSV_CASES = [
    ("empty-file", b"", [], "codepoint", 2, r"is empty: expected a header row", None, None),
    ("blank-lines-only", b"\r\n\n   \n", [], "codepoint", 2, r"is empty", None, None),
    ("bom-only", codecs.BOM_UTF8, [], "codepoint", 2, r"is empty", None, None),
    ("header-only", crlf("name,postcode"), [], "codepoint", 0, r"header but no rows", [],
     ["name", "postcode", "team"]),
    ("no-location-column", crlf("name,date_of_birth", "Zoë,2015-01-02"), [], "codepoint", 2,
     r"no location column in .*expected a postcode column.*2 columns: 1, 2 \(other names are not shown", None, None),
    ("headerless-file", crlf("Zoë Ó'Brien,TT1 1AA"), [], "codepoint", 2,
     r"2 columns, not shown: the first row looks like data", None, None),
    ("bom-utf8-post-code", codecs.BOM_UTF8 + crlf("Name,Post Code", "Zoë,tt1 1ab"), [], "codepoint", 0, r"",
     ["allocated"], ["Name", "Post Code", "team"]),
    ("cp1252-names", "Name,Postcode\r\nZoë Ó'Brien,TT1 1AA\r\nRenée Œuvre,TT1 1AC\r\n".encode("cp1252"), [],
     "codepoint", 0, r"", ["allocated", "allocated"], ["Name", "Postcode"]),
    ("header-POSTCODE", crlf("NAME,POSTCODE", f"a,{P}"), [], "codepoint", 0, r"", ["allocated"], None),
    ("header-trailing-space", crlf("name,postcode ", f"a,{P}"), [], "codepoint", 0, r"", ["allocated"], None),
    ("header-Home-Post-Code", crlf("name,Home Post Code", f"a,{P}"), [], "codepoint", 0, r"", ["allocated"], None),
    ("address-column", crlf("name,Address", "a,\"1 High St, Testtown, tt1 1ac\""), [], "codepoint", 0, r"",
     ["allocated"], None),
    ("multi-line-cells", crlf("name,postcode,notes", 'a,"TT1\n1AA","line 1\nline 2\r\nline 3"', f"b,{P},x"), [],
     "codepoint", 0, r"", ["allocated", "allocated"], None),
    ("blank-lines-between", crlf("name,postcode", "", f"a,{P}", "", "", f"b,{P}", ""), [], "codepoint", 0,
     r"; 4 blank lines skipped", ["allocated", "allocated"], None),
    ("duplicate-column-names", crlf("name,postcode,name,postcode", f"a,{P},b,XX"), [], "codepoint", 0, r"",
     ["allocated"], ["name", "postcode", "name", "postcode", "team"]),
    ("very-long-cell", crlf("name,postcode,notes", f"a,{P},{LONG}"), [], "codepoint", 0, r"", ["allocated"], None),
    ("very-wide-row", crlf(WIDE_HEADER, WIDE_ROW), [], "codepoint", 0, r"", ["allocated"], None),
    ("short-rows-padded", crlf("postcode,name,notes", P, f"{P},b"), [], "codepoint", 0, r"",
     ["allocated", "allocated"], None),
    ("row-with-extra-cells", crlf("name,postcode,notes", f"a,{P},x", f"b,{P},x,surplus"), [], "codepoint", 2,
     r"row 2 \(line 3\) has 4 cells but the header has 3", None, None),
    ("trailing-separators", crlf("name,postcode", f"a,{P},", f"b,{P},,"), [], "codepoint", 0, r"",
     ["allocated", "allocated"], None),
    ("quote-never-closed", crlf("name,postcode", f"a,{P}", f'"b,{P}', f"c,{P}"), [], "codepoint", 2,
     r"a quoted cell in row 2 \(from line 3\) is never closed", None, None),
    ("formula-cells", crlf("name,postcode,notes", f'=HYPERLINK("http://x"),{P},@SUM(A1)', f"+cmd,{P},-5"), [],
     "codepoint", 0, r"", ["allocated", "allocated"], None),
    ("semicolon-separated", crlf("name;postcode", f"a;{P}"), [], "codepoint", 0, r"", ["allocated"], None),
    ("excel-sep-line", crlf("sep=;", "name;postcode", f"a;{P}"), [], "codepoint", 0, r"", ["allocated"],
     ["name", "postcode"]),
    ("utf16-tab-separated", codecs.BOM_UTF16_LE + f"name\tpostcode\r\nZoë\t{P}\r\n".encode("utf-16-le"), [],
     "codepoint", 0, r"", ["allocated"], ["name", "postcode"]),
    ("old-mac-line-endings", f"name,postcode\ra,{P}\rb,{P}\r".encode(), [], "codepoint", 0, r"",
     ["allocated", "allocated"], None),
    ("excel-workbook", b"PK\x03\x04" + b"\x00" * 100, [], "codepoint", 2, r"Excel workbook \(.xlsx\), not a CSV",
     None, None),
    ("nul-bytes", b"name,postcode\r\na\x00b,TT1 1AA\r\n\x00\x00", [], "codepoint", 0, r"",
     ["allocated", "missing_location"], None),
    ("nul-in-header", b"n\x00a\x00m\x00e\x00,\x00p\x00c\x00\r\x00\n\x00", [], "codepoint", 2,
     r"holds NUL bytes", None, None),
    ("postcode-col-missing", crlf("name,postcode", f"a,{P}"), ["--postcode-col", "home_pc"], "codepoint", 2,
     r"column 'home_pc' not found in .*2 columns: 1, 2 'postcode' \(other names are not shown", None, None),
    ("postcode-col-other-spelling", crlf("name,Home PC", f"a,{P}"), ["--postcode-col", "home pc"], "codepoint", 0,
     r"", ["allocated"], None),
    ("x-col-without-y", crlf("e,n", "1,2"), ["--x-col", "e"], "codepoint", 2, r"give both --x-col and --y-col",
     None, None),
    ("bad-coordinates", crlf("e,n", f"{X0 + 500},{Y0 + 1500}", f"{Y0 + 1500},{X0 + 500}", "nan,1", ",", "abc,1",
                             "-4.26,55.45"),
     ["--x-col", "e", "--y-col", "n"], "codepoint", 0, r"",
     # swapped easting/northing is still a place in Great Britain: outside the council
     ["allocated", "outside_area", "invalid_coordinates", "missing_location", "invalid_coordinates",
      "invalid_coordinates"], None),
    ("latlon-swapped-columns", crlf("latitude,longitude", "-4.26,55.45", "55.459,-4.26"),
     ["--x-col", "latitude", "--y-col", "longitude"], "codepoint", 0, r"",
     ["invalid_coordinates", "invalid_coordinates"], None),
    ("latlon-found-by-name", crlf("lat,lon", "95,-4.2", ","), [], "codepoint", 0, r"",
     ["invalid_coordinates", "missing_location"], None),
    ("unknown-crs", crlf("e,n", "1,2"), ["--x-col", "e", "--y-col", "n", "--crs", "EPSG:99999"], "codepoint", 2,
     r"crs 'EPSG:99999' not understood", None, None),
    ("postcodes-of-every-kind", crlf("postcode", "xx", "TT1 1ZZ", '""', "  ", "TT2 9ZZ", "TT1 1AG", "tt101aa"),
     [], "codepoint", 0, r"",
     ["invalid_postcode", "unknown_postcode", "missing_location", "missing_location", "outside_area",
      "missing_location", "allocated"], None),
    ("terminated-postcodes", crlf("postcode", "TT1 9ZA", "tt1 1aa"), [], "onspd", 0, r"",
     ["terminated_postcode", "allocated"], None),
    ("result-name-clash", crlf("team,status,postcode", f"mine,open,{P}"), [], "codepoint", 0, r"",
     ["allocated"], ["team", "status", "postcode", "team_heart_geo", "status_heart_geo"]),
]


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize("case", CSV_CASES, ids=[c[0] for c in CSV_CASES])
def test_caseload_file(case, tmp_path, capsys, ts_dir, onspd_dir, profiles):
    _id, data, extra, which, code, pattern, statuses, header = case
    folder = ts_dir if which == "codepoint" else onspd_dir
    src = tmp_path / "caseload.csv"
    src.write_bytes(data)
    out = tmp_path / "out.csv"
    got, stdout, err = run_cli(["assign", *prof_args(folder), src, "-o", out, *extra], capsys)
    assert "Traceback" not in err + stdout
    assert got == code, err
    assert re.search(pattern, err), err
    assert src.read_bytes() == data  # the input is never touched
    # the dashboard's path on the same bytes: the same verdict and, when it works, the same output
    opts = {}
    for k, v in zip(extra[::2], extra[1::2], strict=True):
        opts[k.lstrip("-").replace("-", "_")] = v
    if code == 2:
        assert not out.exists() and list(tmp_path.glob(".out.csv*")) == []
        assert err.startswith("heart-geo: error: ") and err.count("\n") == 1
        with pytest.raises(InputError, match=pattern):
            caseload.allocate_csv_bytes(profiles[which], data, name="caseload.csv", **opts)
        return
    written = out.read_bytes()
    mem, summary = caseload.allocate_csv_bytes(profiles[which], io.BytesIO(data), **opts)
    assert mem == written
    rows = _rows(written)
    n_results = len(caseload.RESULT_COLUMNS)
    if header is not None:
        assert rows[0][: len(header)] == header
    assert all(len(r) == len(rows[0]) for r in rows)
    status_at = len(rows[0]) - n_results + 1
    assert [r[status_at] for r in rows[1:]] == statuses
    assert summary["rows"] == len(statuses)
    assert sum(summary["status"].values()) == len(statuses)


def test_caseload_contents_survive(tmp_path, capsys, ts_dir):
    """Every cell of every row comes back in order, formulas neutralised, names in UTF-8."""
    rows = [["name", "postcode", "notes", "phone"],
            ["Zoë Ó'Brien", "tt1 1aa", '=HYPERLINK("http://evil","x")', "+44 1563 555555"],
            ["Bob", "TT1\n1AB", "line 1\nline 2", "-5"],
            ["", "", "", ""],
            ["Ann", "XX", "@SUM(A1:A9)", "\t=1"],
            ["Cy", "TT1 1AC", "-1+2", "+3.5"]]
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    src = tmp_path / "in.csv"
    src.write_bytes(buf.getvalue().encode("cp1252"))
    out = tmp_path / "out.csv"
    code, _, err = run_cli(["assign", *prof_args(ts_dir), src, "-o", out], capsys)
    assert code == 0, err
    got = _rows(out.read_bytes())
    assert [r[:4] for r in got] == [
        rows[0],
        ["Zoë Ó'Brien", "tt1 1aa", "'=HYPERLINK(\"http://evil\",\"x\")", "'+44 1563 555555"],
        ["Bob", "TT1\n1AB", "line 1\nline 2", "-5"],
        ["", "", "", ""],
        ["Ann", "XX", "'@SUM(A1:A9)", "'\t=1"],
        ["Cy", "TT1 1AC", "'-1+2", "+3.5"],
    ]
    assert [r[5] for r in got[1:]] == ["allocated", "allocated", "missing_location", "invalid_postcode",
                                       "allocated"]


# --------------------------------------------------------------------------------------------------
# 4. command-line misuse
# --------------------------------------------------------------------------------------------------
def _caseload(tmp: Path) -> Path:
    p = tmp / "in.csv"
    p.write_bytes(crlf("name,postcode", "a,TT1 1AA"))
    return p


def _enrol(tmp: Path, header="school,postcode,consent,risk_of_harm", rows=("8000009,TT1 1AB,yes,",)) -> Path:
    p = tmp / "enrol.csv"
    p.write_bytes(crlf(header, *rows))
    return p


def _symlink(tmp: Path) -> Path:
    _caseload(tmp)
    os.symlink(tmp / "in.csv", tmp / "link.csv")
    return tmp / "link.csv"


def _hardlink(tmp: Path) -> Path:
    _caseload(tmp)
    os.link(tmp / "in.csv", tmp / "hard.csv")
    return tmp / "hard.csv"


# id, args(tmp, ts_dir) -> argv, exit code, stderr regex
CLI_CASES = [
    ("assign-input-missing", lambda t, d: ["assign", *prof_args(d), t / "none.csv", "-o", t / "o.csv"], 2,
     r"input file '.*none.csv' does not exist"),
    ("assign-input-is-folder", lambda t, d: ["assign", *prof_args(d), t, "-o", t / "o.csv"], 2,
     r"is not a file \(a folder\?\)"),
    ("assign-output-is-input", lambda t, d: ["assign", *prof_args(d), _caseload(t), "-o", t / "in.csv"], 2,
     r"is the input file.*never overwrites its input"),
    ("assign-output-other-spelling", lambda t, d: ["assign", *prof_args(d), _caseload(t), "-o",
                                                   f"{t}/./sub/../in.csv"], 2, r"never overwrites its input"),
    ("assign-output-symlink-to-input", lambda t, d: ["assign", *prof_args(d), t / "in.csv", "-o", _symlink(t)], 2,
     r"never overwrites its input"),
    ("assign-input-symlink-output-target", lambda t, d: ["assign", *prof_args(d), _symlink(t), "-o", t / "in.csv"],
     2, r"never overwrites its input"),
    ("assign-output-hard-link", lambda t, d: ["assign", *prof_args(d), t / "in.csv", "-o", _hardlink(t)], 2,
     r"never overwrites its input"),
    ("assign-output-folder-missing", lambda t, d: ["assign", *prof_args(d), _caseload(t), "-o", t / "no/o.csv"], 2,
     r"output folder '.*no' does not exist"),
    ("assign-output-is-folder", lambda t, d: ["assign", *prof_args(d), _caseload(t), "-o", t], 2,
     r"is a folder; expected a file name"),
    ("assign-chunk-size-zero", lambda t, d: ["assign", *prof_args(d), _caseload(t), "-o", t / "o.csv",
                                             "--chunk-size", "0"], 2, r"--chunk-size must be at least 1"),
    ("assign-chunk-size-text", lambda t, d: ["assign", *prof_args(d), _caseload(t), "-o", t / "o.csv",
                                             "--chunk-size", "lots"], 2, r"invalid int value"),
    ("assign-no-output", lambda t, d: ["assign", *prof_args(d), _caseload(t)], 2, r"-o/--output"),
    ("unknown-profile", lambda t, _d: ["assign", "--profile", "atlantis", _caseload(t), "-o", t / "o.csv"], 2,
     r"no council profile 'atlantis'; profiles are"),
    ("data-dir-missing", lambda t, d: ["assign", "--profile", d / "testshire.toml", "--data-dir", t / "nodata",
                                       _caseload(t), "-o", t / "o.csv"], 2, r"data folder .* does not exist"),
    ("lookup-swapped", lambda _t, d: ["lookup", *prof_args(d), "-4.26,55.45"], 2, r"look swapped"),
    ("lookup-malformed", lambda _t, d: ["lookup", *prof_args(d), "not a postcode"], 2, r""),
    ("lookup-empty", lambda _t, d: ["lookup", *prof_args(d), ""], 2, r""),
    ("links-enrolments-missing", lambda t, d: ["links", *prof_args(d), "--enrolments", t / "none.csv"], 2,
     r"enrolment file .* does not exist"),
    ("links-detail-without-enrolments", lambda t, d: ["links", *prof_args(d), "--detail-output", t / "d.csv"], 2,
     r"--detail-output needs --enrolments"),
    ("links-no-school-column", lambda t, d: ["links", *prof_args(d), "--enrolments",
                                             _enrol(t, "pupil,postcode", ("a,TT1 1AA",))], 2,
     r"no school column in enrol.csv.*2 columns: 1, 2 'postcode' \(other names"),
    ("links-consent-col-not-found", lambda t, d: ["links", *prof_args(d), "--enrolments", _enrol(t),
                                                  "--consent-col", "Consent Given"], 2,
     r"consent column 'Consent Given' \(--consent-col\) not found"),
    ("links-risk-col-not-found", lambda t, d: ["links", *prof_args(d), "--enrolments", _enrol(t),
                                               "--risk-col", "cp_flag"], 2, r"risk-of-harm column 'cp_flag'"),
    ("links-output-is-enrolments", lambda t, d: ["links", *prof_args(d), "--enrolments", _enrol(t),
                                                 "--detail-output", t / "enrol.csv"], 2, r"never overwrites"),
    ("links-outputs-same-file", lambda t, d: ["links", *prof_args(d), "--enrolments", _enrol(t), "-o", t / "a.csv",
                                              "--detail-output", f"{t}/./a.csv"], 2, r"are the same file"),
    ("links-empty-enrolments", lambda t, d: ["links", *prof_args(d), "--enrolments", _enrol(t, "", ())], 2,
     r"is empty"),
    ("links-no-location", lambda t, d: ["links", *prof_args(d), "--enrolments",
                                        _enrol(t, "school,name", ("8000009,a",))], 2, r"no location column"),
    ("no-command", lambda _t, _d: [], 2, r"required: COMMAND"),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_misuse(case, tmp_path, capsys, ts_dir):
    _id, argv, code, pattern = case
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    args = argv(tmp_path, ts_dir)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and not p.is_symlink()}
    got, out, err = run_cli(args, capsys)
    assert got == code, err
    assert re.search(pattern, err + out if _id.startswith("lookup") else err), err  # a lookup answers on stdout
    assert "Traceback" not in err + out
    for p, b in before.items():  # nothing that existed was changed
        assert p.read_bytes() == b
    assert not list(tmp_path.glob("**/.*.part"))


# --------------------------------------------------------------------------------------------------
# 5. as a user runs it: `python -m heart_geo` in a subprocess
# --------------------------------------------------------------------------------------------------
SUBPROCESS_CASES = [
    ("empty-file", b"", 2, r"^heart-geo: error: caseload.csv is empty"),
    ("no-location-column", crlf("name,dob", "Zoë,2015-01-01"), 2, r"no location column"),
    ("hostile-but-fine", codecs.BOM_UTF8 + crlf("Name,Post Code", "=1+1,tt1 1aa"), 0, r"Allocated 1 rows"),
]


@pytest.mark.parametrize("case", SUBPROCESS_CASES, ids=[c[0] for c in SUBPROCESS_CASES])
def test_python_m_heart_geo(case, tmp_path, ts_dir):
    _id, data, code, pattern = case
    src = tmp_path / "caseload.csv"
    src.write_bytes(data)
    env = dict(os.environ, HEART_GEO_CACHE=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-m", "heart_geo", "assign", *prof_args(ts_dir), str(src), "-o",
                        str(tmp_path / "out.csv")], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == code, r.stderr
    assert re.search(pattern, r.stderr, flags=re.M), r.stderr
    assert "Traceback" not in r.stderr + r.stdout


# --------------------------------------------------------------------------------------------------
# 6. millions of rows: streamed, bounded memory, progress bar, every row kept
# --------------------------------------------------------------------------------------------------
_RSS_SCRIPT = """
import resource, sys
from heart_geo.cli import main
code = main(sys.argv[1:])
print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def _run_rss(tmp: Path, ts_dir: Path, src: Path, out: Path, *extra: str) -> tuple[int, str]:
    env = dict(os.environ, HEART_GEO_CACHE=str(tmp / "cache"))
    r = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, "assign", *prof_args(ts_dir), str(src), "-o",
                        str(out), *extra], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return int(re.search(r"MAXRSS_KB (\d+)", r.stderr).group(1)), r.stderr


@pytest.mark.slow
def test_two_million_rows_streamed(tmp_path, ts_dir):
    n = 2_000_000
    pcs = np.array(["TT1 1AA", "tt1 1ab", "TT11AC", "xx", "", "TT1 1AD", "TT9 9ZZ", "TT101AA"])
    big = tmp_path / "big.csv"
    with open(big, "w", newline="", encoding="utf-8") as fh:
        fh.write("id,name,postcode\r\n")
        step = 250_000
        for start in range(0, n, step):
            ids = np.arange(start, start + step)
            block = pd.DataFrame({"id": ids, "name": "Person " + pd.Series(ids).astype(str),
                                  "postcode": pcs[ids % len(pcs)]})
            block.to_csv(fh, header=False, index=False, lineterminator="\r\n")
    small = tmp_path / "small.csv"
    small.write_bytes(big.read_bytes()[:10_000].rsplit(b"\r\n", 1)[0] + b"\r\n")
    base, _ = _run_rss(tmp_path, ts_dir, small, tmp_path / "small_out.csv", "--chunk-size", "20000")
    peak, err = _run_rss(tmp_path, ts_dir, big, tmp_path / "big_out.csv", "--chunk-size", "50000", "--progress")
    # all 2M rows as Python strings would take well over 300 MB; streaming stays near the baseline
    print(f"peak RSS {peak / 1024:.0f} MB, {(peak - base) / 1024:.0f} MB over a small-file run")
    assert (peak - base) / 1024 < 120, f"peak RSS grew by {(peak - base) / 1024:.0f} MB"
    assert "allocating" in err and "2000000" in err.replace(",", "")  # the progress bar and the total
    assert f"Allocated {n:,} rows" in err
    rows = 0
    first = last = None
    with open(tmp_path / "big_out.csv", newline="", encoding="utf-8-sig") as fh:
        r = csv.reader(fh)
        header = next(r)
        for row in r:
            if first is None:
                first = row
            last = row
            rows += 1
    assert rows == n
    assert header[:3] == ["id", "name", "postcode"] and first[0] == "0" and last[0] == str(n - 1)
    assert first[4] == "allocated" and last[:3] == [str(n - 1), f"Person {n - 1}", "TT101AA"]
