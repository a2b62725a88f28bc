"""Address points (OS Open UPRN, ONSUD) in the published layouts, made up here: readers, the
postcode split table, UPRN input; and nothing changes when the files are absent."""

from __future__ import annotations

import io
import zipfile

import geopandas as gpd
import pandas as pd
import pytest

import heart_geo
from heart_geo.errors import DataFormatError
from heart_geo.testing import ADDRESSES, CODE, ONSUD_HEADER, write_onsud, write_open_uprn, write_test_data
from heart_geo.uprn import read_onsud, read_open_uprn
from heart_geo.validate import validate_profile


@pytest.fixture
def with_addresses(tmp_path):
    toml = write_test_data(tmp_path)
    write_onsud(tmp_path / "onsud_2025_11")
    write_open_uprn(tmp_path / "open_uprn_2025_11", zipped=True)
    return heart_geo.load_profile(toml, data_dir=tmp_path, cache=False)


def test_open_uprn_reads_csv_zip_and_gpkg_alike(tmp_path):
    csv_ = read_open_uprn(write_open_uprn(tmp_path / "a"))
    zipped = read_open_uprn(write_open_uprn(tmp_path / "b", zipped=True))
    pts = gpd.GeoDataFrame({"UPRN": list(ADDRESSES)}, crs="EPSG:27700",
                           geometry=gpd.points_from_xy([v[0] for v in ADDRESSES.values()],
                                                       [v[1] for v in ADDRESSES.values()]))
    pts.to_file(tmp_path / "osopenuprn_202511.gpkg", layer="osopenuprn_address", driver="GPKG")
    gpkg = read_open_uprn(tmp_path / "osopenuprn_202511.gpkg")
    for df in (csv_, zipped, gpkg):
        assert df["uprn"].tolist() == list(ADDRESSES)
        assert df["easting"].round(2).tolist() == [v[0] for v in ADDRESSES.values()]
    box = read_open_uprn(write_open_uprn(tmp_path / "c"), bbox=(299000, 599000, 303000, 603000))
    assert 100000000099 not in set(box["uprn"]) and len(box) == len(ADDRESSES) - 1


def test_onsud_reads_regions_keeping_the_council(tmp_path):
    f = write_onsud(tmp_path)
    d = read_onsud(f)
    assert len(d) == len(ADDRESSES) and d["postcode"].iloc[0] == "TT1 1AA"
    mine = read_onsud(f, council_codes=[CODE])
    assert set(mine["council_code"]) == {CODE} and 100000000099 not in set(mine["uprn"])
    both = read_onsud(f, council_codes=[CODE], bbox=(304000, 604000, 306000, 606000))
    assert 100000000099 in set(both["uprn"])
    z = tmp_path / "ONSUD_NOV_2025.zip"
    with zipfile.ZipFile(z, "w") as zf:  # as published: one CSV per region under Data/
        zf.write(f, "Data/ONSUD_NOV_2025_SC.csv")
        zf.writestr("Data/ONSUD_NOV_2025_WA.csv", ",".join(ONSUD_HEADER) + "\n")
        zf.writestr("User Guide/readme.txt", "x")
    assert read_onsud(z, council_codes=[CODE])["uprn"].tolist() == mine["uprn"].tolist()


@pytest.mark.parametrize("text, reader, match", [
    ("UPRN,EASTING,NORTHING\n1,2,3\n", read_open_uprn, r"lacks columns \['X_COORDINATE', 'Y_COORDINATE'\]"),
    ("UPRN,GRIDGB1E,GRIDGB1N,PCDS\n1,2,3,TT1 1AA\n", read_onsud, r"LADyyCD"),
    ("UPRN,X_COORDINATE,Y_COORDINATE\nabc,1,2\n", read_open_uprn, "not a whole number"),
])
def test_bad_address_files_say_what_was_expected(tmp_path, text, reader, match):
    f = tmp_path / ("osopenuprn_1.csv" if reader is read_open_uprn else "ONSUD_1.csv")
    f.write_text(text)
    with pytest.raises(DataFormatError, match=match):
        reader(f)


def test_split_postcode_reports_both_teams(with_addresses):
    p = with_addresses
    out = p.allocate(["TT1 1AJ", "TT1 1AH", "TT1 1AA"]).set_index("query")
    assert out.loc["TT1 1AJ", "split_teams"] == "North 3, East 2"
    assert (out.loc["TT1 1AJ", "team"], out.loc["TT1 1AJ", "status"]) == ("North", "allocated")
    assert "give the UPRN or the house" in out.loc["TT1 1AJ", "detail"]
    assert pd.isna(out.loc["TT1 1AH", "split_teams"])
    assert not out.loc["TT1 1AH", "near_boundary"]  # settled: every address is in North
    r = p.lookup("TT1 1AJ")
    assert r["split_teams"] == "North 3, East 2" and r["team"] == "North"
    rep = validate_profile(p)
    assert rep["split_postcodes"] == {"count": 1, "postcodes": {"TT1 1AJ": "North 3, East 2"}}


def test_uprn_input_answers_from_the_address_point(with_addresses):
    p = with_addresses
    out = p.allocate_uprns([100000000014, "100000000011", "UPRN 999", None, "  "],
                           fallback=["TT1 1AJ", "TT1 1AJ", "TT1 1AC", "tt1 1ab", ""])
    assert out["team"].astype(object).tolist()[:4] == ["East", "North", "South", "East"]
    assert out["method"].astype(str).tolist()[:4] == ["uprn", "uprn", "catchment", "catchment"]
    assert "UPRN not in the address data: answered from the postcode" in out["detail"].iloc[2]
    assert "no UPRN given" in out["detail"].iloc[3]
    assert out["status"].iloc[4] == "missing_location"
    assert out["postcode"].iloc[0] == "TT1 1AJ"  # the UPRN's own postcode (ONSUD)
    alone = p.allocate_uprns([100000000014, 999])
    assert alone["status"].astype(str).tolist() == ["allocated", "missing_location"]
    assert pd.isna(alone["team"].iloc[1])
    r = p.lookup("UPRN 100000000014")
    assert (r["team"], r["method"]) == ("East", "uprn")


def test_nothing_changes_without_address_files(tmp_path, testshire):
    from heart_geo.testing import POSTCODES

    out = testshire.allocate(list(POSTCODES))
    assert out["split_teams"].isna().all()
    assert testshire.addresses.empty
    r = testshire.allocate_uprns([100000000014])
    assert r["status"].iloc[0] == "missing_location"
    assert "no address points loaded" in r["detail"].iloc[0]
    toml = write_test_data(tmp_path)
    again = heart_geo.load_profile(toml, data_dir=tmp_path, cache=False).allocate(list(POSTCODES))
    pd.testing.assert_frame_equal(out, again)


def test_uprns_keep_the_callers_index(with_addresses):
    s = pd.Series([100000000014, 100000000011], index=[7, 3])
    out = with_addresses.allocate_uprns(s)
    assert out.index.tolist() == [7, 3]
    assert out["team"].astype(str).tolist() == ["East", "North"]


def test_caseload_with_a_uprn_column(tmp_path, capsys):
    from heart_geo import caseload
    from heart_geo.cli import main

    toml = write_test_data(tmp_path / "d")
    write_onsud(tmp_path / "d" / "onsud_2025_11")
    src = tmp_path / "cases.csv"
    src.write_text("ref,UPRN,Post Code\r\n1,100000000014,TT1 1AJ\r\n2,999,TT1 1AC\r\n3,,tt1 1ab\r\n"
                   "4,100000000011,\r\n5,abc,nonsense\r\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    assert main(["assign", "--profile", str(toml), "--data-dir", str(tmp_path / "d"), str(src), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "UPRN from column 'UPRN'" in err
    rows = pd.read_csv(out, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert rows["ref"].tolist() == ["1", "2", "3", "4", "5"]  # every row kept, in order
    assert rows["team"].tolist()[:4] == ["East", "South", "East", "North"]
    assert rows["method"].tolist()[:4] == ["uprn", "catchment", "catchment", "uprn"]
    assert "column 'UPRN' was not a UPRN in the address data" in rows["detail"].iloc[1]
    assert "column 'UPRN' was empty" in rows["detail"].iloc[2]
    assert rows["status"].iloc[4] in ("missing_location", "invalid_postcode")
    # the same bytes through the dashboard's path
    prof = heart_geo.load_profile(toml, data_dir=tmp_path / "d", cache=False)
    mem, summary = caseload.allocate_csv_bytes(prof, src.read_bytes(), name="cases.csv")
    assert mem == out.read_bytes() and summary["rows"] == 5


def test_uprn_column_without_address_points_changes_nothing(testshire):
    from heart_geo import caseload

    data = b"ref,UPRN,postcode\r\n1,100000000014,TT1 1AJ\r\n2,,TT1 1AC\r\n"
    plain = b"ref,UPRN,postcode\r\n1,,TT1 1AJ\r\n2,,TT1 1AC\r\n"
    a, _ = caseload.allocate_csv_bytes(testshire, data, name="a.csv")
    b, _ = caseload.allocate_csv_bytes(testshire, plain, name="b.csv")
    ra = pd.read_csv(io.BytesIO(a), encoding="utf-8-sig", dtype=str)
    rb = pd.read_csv(io.BytesIO(b), encoding="utf-8-sig", dtype=str)
    assert ra["team"].tolist() == rb["team"].tolist() == ["North", "South"]
    assert ra["method"].tolist() == ["catchment", "catchment"]
