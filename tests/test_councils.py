"""Working the way councils work (issue 12): Excel in and out, fallback location columns, GIS export,
disclosure control, pandas conventions. All on the made-up Testshire council (plus real-data checks
marked ``realdata``)."""

from __future__ import annotations

import datetime as dt
import re

import geopandas as gpd
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely

from heart_geo import caseload, disclosure, excel
from heart_geo.cli import main
from heart_geo.errors import CRSMismatchError, InputError
from heart_geo.export import data_release, field_names, layers
from heart_geo.testing import X0, Y0

pytestmark = pytest.mark.usefixtures("cache_dir")


def _cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _workbook(path, rows, *, title="Cases", formats=None, extra_sheet=False):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = title
    for r in rows:
        ws.append(r)
    for cell, fmt in (formats or {}).items():
        ws[cell].number_format = fmt
    if extra_sheet:
        other = wb.create_sheet("Second")
        other.append(["id", "postcode"])
        other.append(["s1", "TT1 1AC"])
    wb.save(path)
    return path


CASES = [
    [],  # a blank first row: the header is the first row that is not blank
    ["Case ID", "Post Code", "Address", "Referral date", "Amount", "Code", "Worker"],
    [1, "tt1 1aa", "", dt.datetime(2024, 4, 3), 12.5, 123, "Zoë Ó'Brien"],
    [2, None, "12 Test Road, Testtown TT1 1AB", dt.datetime(2024, 1, 2), 3, 45, "@SUM(A1)"],
    [],
    [3, "rubbish", "nowhere", None, None, None, "-x"],
    [4, "TT2 9ZZ", "", None, None, None, "François"],
]


# --------------------------------------------------------------------------------------------------
# Excel
# --------------------------------------------------------------------------------------------------
def test_assign_xlsx_in_and_out(ts, tmp_path, capsys):
    src = _workbook(tmp_path / "caseload.xlsx", CASES,
                    formats={"D3": "dd/mm/yyyy", "D4": "dd/mm/yyyy", "E3": "0.00", "F3": "00000"})
    out = tmp_path / "allocated.xlsx"
    code, _, err = _cli(["assign", src, "-o", out, "--profile", ts / "testshire.toml", "--data-dir", ts],
                        capsys)
    assert code == 0, err
    rows = list(openpyxl.load_workbook(out).active.iter_rows(values_only=True))
    header, data = rows[0], rows[1:]
    assert header[:7] == ("Case ID", "Post Code", "Address", "Referral date", "Amount", "Code", "Worker")
    assert header[7:] == tuple(caseload.RESULT_COLUMNS)
    assert [r[0] for r in data] == [1, 2, 3, 4]  # every row, in order; the blank one skipped
    col = {n: i for i, n in enumerate(header)}
    assert [r[col["team"]] for r in data] == ["North", "East", None, None]
    assert [r[col["status"]] for r in data] == ["allocated", "allocated", "invalid_postcode", "outside_area"]
    # dates and numbers kept as the user typed (saw) them
    assert data[0][3] == "03/04/2024" and data[1][3] == "02/01/2024"
    assert data[0][5] == "00123"
    assert data[0][6] == "Zoë Ó'Brien"
    assert data[1][6] == "'@SUM(A1)" and data[2][6] == "'-x"  # formulas neutralised in the workbook too
    assert "2 blank lines skipped" not in err and "1 blank lines skipped" in err
    assert "sheet 'Cases'" in err


def test_assign_xlsx_to_csv_has_a_bom_and_no_bom_turns_it_off(ts, tmp_path, capsys):
    src = _workbook(tmp_path / "c.xlsx", CASES)
    base = ["--profile", ts / "testshire.toml", "--data-dir", ts, "-q"]
    code, _, err = _cli(["assign", src, "-o", tmp_path / "o.csv", *base], capsys)
    assert code == 0, err
    raw = (tmp_path / "o.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfCase ID,Post Code")
    assert "Zoë Ó'Brien" in raw.decode("utf-8-sig")
    df = pd.read_csv(tmp_path / "o.csv", dtype=str, keep_default_na=False)
    assert len(df) == 4 and df["Amount"].tolist()[:2] == ["12.5", "3"]
    code, _, err = _cli(["assign", src, "-o", tmp_path / "n.csv", "--no-bom", *base], capsys)
    assert code == 0, err
    assert (tmp_path / "n.csv").read_bytes().startswith(b"Case ID,")


def test_csv_in_xlsx_out(ts, tmp_path, capsys):
    src = tmp_path / "c.csv"
    src.write_text("id,postcode,note\r\n1,TT1 1AC,=1+1\r\n2,,x\r\n", encoding="utf-8")
    code, _, err = _cli(["assign", src, "-o", tmp_path / "o.xlsx", "--profile", ts / "testshire.toml",
                         "--data-dir", ts, "-q"], capsys)
    assert code == 0, err
    ws = openpyxl.load_workbook(tmp_path / "o.xlsx").active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[1][:4] == (1, "TT1 1AC", "'=1+1", "South")
    assert ws["C2"].data_type == "s"  # text, not a formula
    assert rows[2][3] is None and rows[2][4] == "missing_location"


def test_sheet_by_name_or_number(ts, tmp_path, capsys):
    src = _workbook(tmp_path / "two.xlsx", CASES, extra_sheet=True)
    base = ["--profile", ts / "testshire.toml", "--data-dir", ts, "-q"]
    for sheet in ("Second", "2", "second"):
        code, _, err = _cli(["assign", src, "-o", tmp_path / "o.csv", "--sheet", sheet, *base],
                            capsys)
        assert code == 0, err
        df = pd.read_csv(tmp_path / "o.csv", dtype=str)
        assert df["id"].tolist() == ["s1"] and df["team"].tolist() == ["South"]
    code, _, err = _cli(["assign", src, "-o", tmp_path / "o.csv", "--sheet", "Missing", *base],
                        capsys)
    assert code == 2 and "no sheet 'Missing'" in err and "'Cases', 'Second'" in err
    code, _, err = _cli(["assign", src, "-o", tmp_path / "o.csv", "--sheet", "3", *base], capsys)
    assert code == 2 and "2 sheet(s)" in err


def test_empty_workbook_and_old_xls_are_clear_errors(tmp_path):
    _workbook(tmp_path / "empty.xlsx", [])
    with pytest.raises(InputError, match="is empty: expected a header row"):
        caseload.read_header(tmp_path / "empty.xlsx")
    with pytest.raises(InputError, match=r"old Excel workbook \(.xls\).*Excel Workbook \(.xlsx\)"):
        caseload.read_header(b"\xd0\xcf\x11\xe0" + b"\x00" * 100)


def test_cell_text_as_typed():
    assert excel.cell_text(dt.datetime(2024, 4, 3), "mm-dd-yy") == "03/04/2024"  # Excel's short date, UK
    assert excel.cell_text(dt.datetime(2024, 4, 3), "yyyy-mm-dd") == "2024-04-03"
    assert excel.cell_text(dt.datetime(2024, 4, 3, 14, 5), "dd/mm/yyyy hh:mm") == "03/04/2024 14:05"
    assert excel.cell_text(dt.datetime(2024, 4, 3), "d mmm yyyy") == "3 Apr 2024"
    assert excel.cell_text(7.0) == "7" and excel.cell_text(0.1) == "0.1" and excel.cell_text(True) == "TRUE"
    assert excel.cell_text(0.5, "0.00") == "0.50" and excel.cell_text(42, "00000") == "00042"


def test_enrolments_xlsx_with_capitalised_columns(ts, tmp_path, capsys):
    src = _workbook(tmp_path / "pupils.xlsx", [
        ["Pupil", "School", "Postcode", "Consent", "Risk of harm"],
        ["A", 8000009, "TT1 1AA", "Yes", ""], ["B", 8000009, "TT1 1AA", "", ""],
        ["C", "St Test RC Academy", "TT1 1AB", "", "Y"]])
    code, _, err = _cli(["links", "--profile", ts / "testshire.toml", "--data-dir", ts, "--enrolments", src,
                         "--detail-output", tmp_path / "d.xlsx", "-o", tmp_path / "l.csv"],
                        capsys)
    assert code == 0, err
    d = list(openpyxl.load_workbook(tmp_path / "d.xlsx").active.iter_rows(values_only=True))
    assert [r[1] for r in d[1:]] == ["A", "C"]
    links = pd.read_csv(tmp_path / "l.csv", dtype=str)
    assert set(links["pupils"]) == {"<5"} and "<5" in links["disclosure"].iloc[0]


# --------------------------------------------------------------------------------------------------
# fallback location columns
# --------------------------------------------------------------------------------------------------
def test_empty_postcode_falls_back_to_address_then_coordinates(ts, tmp_path, capsys):
    src = tmp_path / "c.csv"
    src.write_text(
        "id,Postcode,Address,Easting,Northing\r\n"
        "1,,\"1 Test Road, Testtown TT1 1AB\",,\r\n"  # address answers
        f"2,not a postcode,no postcode here,{X0 + 500:.0f},{Y0 + 500:.0f}\r\n"  # coordinates answer
        "3,TT1 1AA,\"2 Test Road TT1 1AB\",,\r\n"  # the postcode answers: the address is not used
        "4,,,,\r\n", encoding="utf-8")
    code, _, err = _cli(["assign", src, "-o", tmp_path / "o.csv", "--profile", ts / "testshire.toml",
                         "--data-dir", ts], capsys)
    assert code == 0, err
    df = pd.read_csv(tmp_path / "o.csv", dtype=str, keep_default_na=False)
    assert df["team"].tolist() == ["East", "South", "North", ""]
    assert df["status"].tolist() == ["allocated", "allocated", "allocated", "missing_location"]
    assert "located from column 'Address': column 'Postcode' was empty" in df["detail"][0]
    assert "located from columns 'Easting', 'Northing'" in df["detail"][1] and "not a usable" in df["detail"][1]
    assert df["detail"][2] == "inside the team's catchment"
    assert "1 rows located from column 'Address'" in err
    assert "where empty or invalid, address from column 'Address', then coordinates" in err


# --------------------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------------------
def test_export_gpkg_layers(ts, tmp_path, capsys):
    out = tmp_path / "teams.gpkg"
    code, _, err = _cli(["export", "-o", out, "--profile", ts / "testshire.toml", "--data-dir", ts],
                        capsys)
    assert code == 0, err
    names = [n for n, _ in pyogrio.list_layers(out)]
    assert names == ["teams", "catchments", "gaps", "schools", "postcodes", "model_services", "about"]
    teams = gpd.read_file(out, layer="teams")
    assert teams.crs.to_epsg() == 27700 and teams["team"].tolist() == ["North", "East", "South"]
    assert teams["postcodes"].tolist() == [3, 2, 1]  # postcode counts are not about families: exact
    assert teams.area.round().tolist() == [1e6, 1e6, 1e6]
    pcs = gpd.read_file(out, layer="postcodes")
    assert "TT2 9ZZ" not in set(pcs["postcode"]) and pcs.crs.to_epsg() == 27700
    assert pcs.set_index("postcode").loc["TT1 1AB", "team"] == "East"
    gaps = gpd.read_file(out, layer="gaps")
    assert set(gaps["kind"]) == {"gap", "other_catchment"}
    for layer in names:
        cols = list(pyogrio.read_info(out, layer=layer)["fields"])
        assert cols == field_names(cols), layer  # every field name is already safe


def test_export_lookup_csv_and_geojson(ts, tmp_path, capsys):
    base = ["--profile", ts / "testshire.toml", "--data-dir", ts, "-q"]
    code, _, err = _cli(["export", "-o", tmp_path / "pc.csv", *base], capsys)
    assert code == 0, err
    raw = (tmp_path / "pc.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfpostcode,team,status")
    df = pd.read_csv(tmp_path / "pc.csv", dtype=str, keep_default_na=False)
    assert df.set_index("postcode").loc["TT1 1AD", "team"] == "East"
    assert df.set_index("postcode").loc["TT1 1AD", "status"] == "nearest_team"
    assert df["data_release"].nunique() == 1 and "tt.csv" in df["data_release"].iloc[0]
    code, _, err = _cli(["export", "-o", tmp_path / "t.geojson", *base], capsys)
    assert code == 0, err
    g = gpd.read_file(tmp_path / "t.geojson")
    assert g.crs.to_epsg() == 4326 and len(g) == 3
    code, _, err = _cli(["export", "-o", tmp_path / "t.geojson", "--layer", "model_services", *base],
                        capsys)
    assert code == 2 and "expected one of" in err
    code, _, err = _cli(["export", "-o", tmp_path / "t.shp", *base], capsys)
    assert code == 2 and ".gpkg" in err


def test_export_with_caseload_counts_suppressed(tmp_path):
    from heart_geo.testing import make_profile

    p = make_profile(tmp_path / "ts")
    rows = "".join(f"{i},TT1 1AA\r\n" for i in range(7)) + "7,TT1 1AB\r\n8,TT1 1AB\r\n9,\r\n"
    data, _ = caseload.allocate_bytes(p, ("id,postcode\r\n" + rows).encode())
    got = layers(p, caseload=data)
    assert got["teams"]["caseload_rows"].tolist() == ["7", "<5", "0"]
    about = got["about"].set_index("key")["value"]
    assert about["caseload_rows_without_team"] == "<5" and "'<5'" in about["disclosure"]
    exact = layers(p, caseload=data, suppress=False)
    assert exact["teams"]["caseload_rows"].tolist() == ["7", "2", "0"]
    assert "internal use only" in exact["about"].set_index("key")["value"]["disclosure"]


def test_field_names():
    assert field_names(["Team", "team", "Area km²", "fid", "2nd", "", "x" * 80]) == [
        "team", "team_2", "area_km2", "fid_1", "f_2nd", "field", "x" * 63]


@pytest.mark.realdata
def test_real_export_has_six_teams_in_bng(east, data_dir, tmp_path, capsys):
    code, _, err = _cli(["export", "-o", tmp_path / "teams.gpkg", "--data-dir", data_dir], capsys)
    assert code == 0, err
    teams = gpd.read_file(tmp_path / "teams.gpkg", layer="teams")
    assert len(teams) == 6 and teams.crs.to_epsg() == 27700
    assert teams["team"].tolist() == ["Stewarton", "William McIlvanney", "Grange", "Loudon", "Barony", "Doon Valley"]
    assert data_release(east)


# --------------------------------------------------------------------------------------------------
# disclosure control
# --------------------------------------------------------------------------------------------------
def test_assign_summary_suppressed_unless_asked(ts, tmp_path, capsys):
    src = tmp_path / "c.csv"
    src.write_text("id,postcode\r\n" + "".join(f"{i},TT1 1AA\r\n" for i in range(6)) + "9,TT1 1AB\r\n",
                   encoding="utf-8")
    base = [src, "-o", tmp_path / "o.csv", "--profile", ts / "testshire.toml", "--data-dir", ts]
    code, _, err = _cli(["assign", *base], capsys)
    assert code == 0, err
    assert re.search(r"\n  East +<5\n", err) and re.search(r"\n  allocated +7\n", err)
    assert re.search(r"\n  North +\* \(hidden, 5 or more\)\n", err)  # 7 - 6 would give East's 1 away
    assert "Disclosure control:" in err
    code, _, err = _cli(["assign", *base, "--no-suppress"], capsys)
    assert re.search(r"\n  East +1\n", err) and re.search(r"\n  North +6\n", err) and "internal use only" in err


def test_secondary_suppression_protects_every_total():
    t = pd.DataFrame({"school": ["A", "A", "A", "B", "B"], "team": ["x", "y", "z", "x", "y"],
                      "pupils": [3, 8, 20, 6, 9]})
    s = disclosure.suppress_frame(t, "pupils", by=[("school",), ("team",), ()])
    hidden = s["pupils"].map(lambda v: isinstance(v, str)).to_numpy()
    for cols in (["school"], ["team"]):
        for _, g in pd.DataFrame({"h": hidden, **{c: t[c] for c in cols}}).groupby(cols):
            assert g["h"].sum() != 1  # no group has a single hidden cell its total would reveal
    assert s["pupils"].iloc[0] == "<5" and hidden.sum() >= 2
    assert not any(v in ("<5",) for v, h in zip(s["pupils"], t["pupils"] >= 5, strict=True) if h)  # never "<5" for 5+
    assert disclosure.suppress_counts({"a": 0, "b": 12}) == {"a": 0, "b": 12}  # zero is shown


# --------------------------------------------------------------------------------------------------
# pandas conventions
# --------------------------------------------------------------------------------------------------
def test_allocate_keeps_the_callers_index(testshire):
    df = pd.DataFrame({"pc": ["TT1 1AC", "TT1 1AA", "TT1 1AB", "", "TT1 1AD"], "name": list("abcde")},
                      index=[10, 11, 12, 13, 14]).sort_values("pc")
    res = testshire.allocate(df["pc"])
    assert res.index.tolist() == df.index.tolist()
    df["team"] = testshire.allocate(df.pc)["team"]  # the idiom, on a sorted frame
    got = df.set_index("name")["team"].astype(object)
    assert got.where(got.notna(), None).to_dict() == {"a": "South", "b": "North", "c": "East", "d": None,
                                                       "e": "East"}
    assert testshire.allocate(["TT1 1AA"]).index.tolist() == [0]  # a list: a fresh index


def test_allocate_points_geoseries_and_geometry(testshire):
    from heart_geo._crs import transformer

    pts = gpd.GeoSeries([shapely.Point(X0 + 500, Y0 + 1500), None, shapely.Point(X0 + 1500, Y0 + 1500)],
                        index=["p", "q", "r"], crs="EPSG:27700")
    lonlat = pts.to_crs("EPSG:4326")
    for s in (pts, lonlat, gpd.GeoDataFrame({"n": [1, 2, 3]}, geometry=lonlat.values, index=lonlat.index, crs=4326)):
        res = testshire.allocate_points(s)
        assert res.index.tolist() == ["p", "q", "r"]
        assert res["team"].astype(object).where(res["team"].notna(), None).tolist() == ["North", None, "East"]
        assert res.loc["q", "status"] == "missing_location"
    with pytest.raises(CRSMismatchError):
        testshire.allocate_points(lonlat, crs="EPSG:27700")
    with pytest.raises(InputError, match="points"):
        testshire.allocate_points(gpd.GeoSeries([shapely.box(0, 0, 1, 1)], crs=27700))
    g = testshire.allocate(pd.Series(["TT1 1AA", "zz"], index=[5, 6]), geometry=True)
    assert isinstance(g, gpd.GeoDataFrame) and g.crs.to_epsg() == 27700 and g.index.tolist() == [5, 6]
    assert g.geometry.iloc[0].equals(shapely.Point(X0 + 500, Y0 + 1500)) and g.geometry.iloc[1] is None
    assert isinstance(testshire.allocate_points([X0 + 500], [Y0 + 500], geometry=True), gpd.GeoDataFrame)
    assert transformer("EPSG:4326") is transformer("EPSG:4326")  # built once per CRS


def test_latlon_lookup_builds_no_transformer_per_call(testshire, monkeypatch):
    """What keeps a "lat, lon" lookup fast: the transformer is built once, never per call.

    Building a pyproj Transformer (or parsing a CRS) costs tens of milliseconds, using one
    microseconds. The latency itself is a benchmark (``benchmarks/bench_latency.py``), not a test.
    """
    import pyproj

    from heart_geo._crs import _cached

    lon, lat = (float(v) for v in pyproj.Transformer.from_crs(
        "EPSG:27700", "EPSG:4326", always_xy=True).transform(X0 + 500, Y0 + 1500))
    q = f"{lat}, {lon}"
    assert testshire.lookup(q)["team"] == "North"  # the first call may build it
    built = []
    for cls, name in [(pyproj.Transformer, "from_crs"), (pyproj.Transformer, "from_pipeline"),
                      (pyproj.CRS, "from_user_input")]:
        real = getattr(cls, name)
        monkeypatch.setattr(cls, name, lambda *a, _real=real, _name=name, **k: built.append(_name) or _real(*a, **k))
    misses = _cached.cache_info().misses
    for _ in range(50):
        assert testshire.lookup(q)["team"] == "North"
        assert testshire.lookup(f"{X0 + 500}, {Y0 + 1500}")["team"] == "North"
    assert built == []  # no Transformer built and no CRS parsed per call
    assert _cached.cache_info().misses == misses
    _cached.cache_clear()  # the patch sees a build when one happens
    assert testshire.lookup(q)["team"] == "North"
    assert "from_crs" in built


def test_named_enrolment_column_missing_is_an_error(testshire):
    from heart_geo import links_from_enrolments

    df = pd.DataFrame({"School": ["8000009"], "Postcode": ["TT1 1AA"], "Consent": ["yes"]})
    r = links_from_enrolments(testshire, df, school="school", postcode="POSTCODE", risk=None)
    assert r.summary["released"] == "<5" and len(r.detail) == 1
    with pytest.raises(InputError, match="'home_pc'"):
        links_from_enrolments(testshire, df, postcode="home_pc")
    with pytest.raises(InputError, match="'Risk flag'"):
        links_from_enrolments(testshire, df, risk="Risk flag")
