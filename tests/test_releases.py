"""Several releases of one dataset in the data folder: the newest answers, older ones give history.

Made-up Testshire releases in Code-Point Open's published layout (``Doc/metadata.txt`` beside the
data; fixed 7-character postcodes in the older release, one-space postcodes in the newer).
"""

from __future__ import annotations

import datetime as dt
import shutil

import pandas as pd
import pytest

import heart_geo
from heart_geo.cli import main
from heart_geo.sources import describe_release, find_releases
from heart_geo.testing import CODE, POSTCODES, X0, Y0, write_codepoint_release, write_test_data

OLD = dict(POSTCODES)
OLD["TT1 1AZ"] = (X0 + 600, Y0 + 300, CODE, "retired since: last inside C (South)")
OLD["TT1 1AY"] = (X0 + 5200, Y0 + 5200, "S99000002", "retired, was in another council")
OLD["TT1 1AB"] = (X0 + 500, Y0 + 1700, CODE, "moved: was inside A (North), now in B")
NEW = dict(POSTCODES)
NEW["TT1 1BA"] = (X0 + 1500, Y0 + 1200, CODE, "new since the older release: inside B (East)")
NEW["TT2 9ZC"] = (X0 + 400, Y0 + 400, CODE, "moved council: was elsewhere, now inside C")
OLD["TT2 9ZC"] = (X0 + 5300, Y0 + 5300, "S99000002", "was in another council")


@pytest.fixture
def two_releases(tmp_path):
    write_test_data(tmp_path)
    shutil.rmtree(tmp_path / "postcodes")
    # folder names deliberately sort the wrong way round: the metadata decides the order
    write_codepoint_release(tmp_path / "a_codepoint_2025_10", NEW)
    write_codepoint_release(tmp_path / "z_codepoint_2020_08", OLD, version="2020.3.0",
                            copyright_date="20200720", spaced=False)
    return tmp_path


def _load(folder):
    return heart_geo.load_profile(folder / "testshire.toml", data_dir=folder, cache=False)


def test_releases_are_recognised_and_ordered_by_the_data(two_releases):
    rels = find_releases(two_releases, ["**/postcodes/*.csv"], what="postcodes")
    assert [r.label for r in rels] == ["2020-08", "2025-10"]
    assert [r.version for r in rels] == ["2020.3.0", "2025.4.0"]
    assert rels[-1].published == dt.date(2025, 10, 20) and rels[-1].how == "Doc/metadata.txt"
    assert rels[-1].describe() == "2025-10 (version 2025.4.0, copyright 2025-10-20)"


def test_the_newest_release_answers(two_releases):
    p = _load(two_releases)
    assert p.release("postcodes").label == "2025-10"
    out = p.allocate(["TT1 1AB", "TT1 1BA", "TT2 9ZC", "TT1 1AA"]).set_index("query")
    assert out.loc["TT1 1AB", "team"] == "East"  # its newest point, not its 2020 one in North
    assert (out.loc["TT1 1BA", "team"], out.loc["TT1 1BA", "status"]) == ("East", "allocated")
    assert (out.loc["TT2 9ZC", "team"], out.loc["TT2 9ZC", "status"]) == ("South", "allocated")
    assert out.loc["TT1 1AA", "team"] == "North"


def test_a_postcode_only_older_releases_hold_is_terminated_with_its_last_team(two_releases):
    p = _load(two_releases)
    out = p.allocate(["TT1 1AZ", "tt11az", "TT1 1AY"])
    assert out["status"].tolist() == ["terminated_postcode", "terminated_postcode", "outside_area"]
    assert out["team"].tolist()[:2] == ["South", "South"] and pd.isna(out["team"].iloc[2])
    assert out["detail"].iloc[0] == (
        "postcode not in Made-up postcodes in Code-Point Open format 2025-10; last seen in 2020-08: team "
        "from its location then (check the family's current postcode)")
    r = p.lookup("TT1 1AZ")
    assert (r["team"], r["status"], r["detail"]) == ("South", "terminated_postcode", out["detail"].iloc[0])
    a = p.postcode_allocations().set_index("postcode")
    assert a.loc["TT1 1AZ", "terminated"] and not a.loc["TT1 1AA", "terminated"]
    assert "TT1 1AY" not in a.index  # another council's retired postcode is not this council's


def test_one_release_only_has_no_terminated_postcodes(testshire):
    a = testshire.postcode_allocations()
    assert not a["terminated"].any()
    assert testshire.release("postcodes").label == "undated"


def test_attribution_names_the_release_and_its_year(two_releases):
    p = _load(two_releases)
    toml = two_releases / "testshire.toml"
    toml.write_text(toml.read_text().replace(
        'attribution = "Made-up test data."\npatterns = ["**/postcodes/*.csv"]',
        'attribution = "Made-up data © {year}."\npatterns = ["**/postcodes/*.csv"]'))
    p = _load(two_releases)
    src = {a["dataset"]: a for a in p.attribution()}
    assert src["postcodes"]["attribution"] == "Made-up data © 2025."
    assert src["postcodes"]["release"].startswith("2025-10") and src["postcodes"]["older_releases"] == "2020-08"
    assert "2025-10" in p.data_in_use()


def test_data_where_names_the_release_in_use(two_releases, capsys):
    code = main(["data", "where", "--profile", str(two_releases / "testshire.toml"),
                 "--data-dir", str(two_releases)])
    out = capsys.readouterr().out
    assert code == 0
    assert "postcodes: 2025-10 (version 2025.4.0, copyright 2025-10-20)" in out
    assert "older: 2020-08" in out


@pytest.mark.parametrize("name, label", [
    ("ONSPD_NOV_2025_UK.csv", "2025-11"), ("onspd_2024_05.csv", "2024-05"), ("codepo_gb_202510", "2025-10"),
    ("SG_SchoolRoll_2023.xlsx", "2023"), ("catchments.gpkg", "undated"),
])
def test_release_from_names(tmp_path, name, label):
    f = tmp_path / name
    f.write_text("x")
    assert describe_release("any", f, [f], tmp_path).label == label


def test_metadata_outranks_a_misleading_folder_name(tmp_path):
    folder = write_codepoint_release(tmp_path / "codepoint_2019_01", POSTCODES)
    r = describe_release("postcodes", folder, [folder / "postcodes" / "tt.csv"], tmp_path)
    assert r.label == "2025-10" and r.version == "2025.4.0"


def test_codepoint_zip_metadata(tmp_path):
    import zipfile

    z = tmp_path / "dl" / "codepo_gb.zip"
    z.parent.mkdir()
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("Doc/metadata.txt", "DATASET VERSION NUMBER: 2026.1.0\nCOPYRIGHT DATE: 20260120\n")
        zf.writestr("Data/CSV/tt.csv", '"TT1 1AA",10,300500,601500,"S92000003","","S08000099","","S99000001",""\n')
    r = find_releases(tmp_path, ["**/codepo_gb.zip"], what="postcodes")[-1]
    assert (r.label, r.version) == ("2026-01", "2026.1.0")
    assert heart_geo.read_postcodes(z)["postcode"].tolist() == ["TT1 1AA"]


def test_unknown_postcode_gets_a_likely_team_from_its_sector(testshire):
    out = testshire.allocate(["TT1 1ZZ", "TT9 9ZZ"])
    assert out["status"].tolist() == ["unknown_postcode", "outside_area"]
    assert out["team"].isna().all()
    # Testshire's sector TT1 1 is mixed: the largest team and its share
    a = testshire.postcode_allocations()
    counts = a[a["postcode"].str.startswith("TT1 1") & a["team"].notna()]["team"].astype(str).value_counts()
    assert out["likely_team"].iloc[0] == counts.index[0]
    assert f"{counts.iloc[0]} of {counts.sum()} known postcodes in sector TT1 1" in out["detail"].iloc[0]
    assert pd.isna(out["likely_team"].iloc[1])


def test_override_by_postcode_holds_for_points_too(tmp_path):
    toml = write_test_data(tmp_path)
    toml.write_text(toml.read_text().replace(
        "overrides = []", 'overrides = [{ team = "South", postcode = "TT1 1AA", reason = "test" }]'))
    p = heart_geo.load_profile(toml, data_dir=tmp_path, cache=False)
    a = p.postcode_allocations()
    a = a[a["easting"].notna()]
    pts = p.allocate_points(a["easting"].to_numpy(), a["northing"].to_numpy())
    assert pts["team"].astype(str).tolist() == a["team"].astype(str).tolist()
    # a point nearer TT1 1AA than any other postcode of catchment A takes its override
    near = p.allocate_points([X0 + 450, X0 + 900], [Y0 + 1550, Y0 + 1500])
    assert near["team"].tolist() == ["South", "North"]
    assert near["method"].tolist() == ["override", "catchment"]
    # ... and the exact path agrees with the grid
    pd.testing.assert_frame_equal(near, p.allocate_points([X0 + 450, X0 + 900], [Y0 + 1550, Y0 + 1500],
                                                           exact=True))
    assert len(p.override_areas) == 1 and p.override_areas["postcodes"].iloc[0] == 1


def test_cli_names_the_data_and_the_likely_team(two_releases, tmp_path, capsys):
    args = ["--profile", str(two_releases / "testshire.toml"), "--data-dir", str(two_releases)]
    src = tmp_path / "in.csv"
    src.write_text("name,postcode\r\nA,TT1 1AZ\r\nB,TT1 1ZZ\r\n", encoding="utf-8")
    assert main(["assign", *args, str(src), "-o", str(tmp_path / "out.csv")]) == 0
    err = capsys.readouterr().err
    assert "data: " in err and "postcodes: Made-up postcodes in Code-Point Open format 2025-10" in err
    assert "terminated_postcode" in err and "unknown_postcode" in err
    out = (tmp_path / "out.csv").read_text(encoding="utf-8-sig")
    assert "last seen in 2020-08" in out
    assert main(["lookup", *args, "TT1 1ZZ"]) == 0
    text = capsys.readouterr().out
    assert "TT1 1ZZ: - (unknown_postcode)" in text and "likely team: " in text
