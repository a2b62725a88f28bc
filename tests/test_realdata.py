"""Integration tests on the official datasets (HEART_GEO_DATA; .ci/run points it at ../shared/data)."""

import numpy as np
import pandas as pd
import pytest

import heart_geo
from heart_geo.validate import validate_profile

pytestmark = pytest.mark.realdata

EA_TEAMS = ["Stewarton", "William McIlvanney", "Grange", "Loudon", "Barony", "Doon Valley"]


def test_every_east_ayrshire_postcode_has_a_team_or_explicit_status(east):
    a = east.postcode_allocations()
    assert len(a) == 3951
    assert set(a["status"].astype(str)) <= {"allocated", "nearest_team", "missing_location"}
    assert a["team"].notna().sum() + (a["status"] == "missing_location").sum() == 3951
    counts = a[a["status"] == "allocated"].groupby("team", observed=False).size().to_dict()
    # the catchment counts measured independently in the data's PROVENANCE.md
    assert counts == {"Stewarton": 444, "William McIlvanney": 938, "Grange": 619, "Loudon": 620,
                      "Barony": 1106, "Doon Valley": 139}
    near = a[a["status"] == "nearest_team"]
    assert len(near) == 3951 - sum(counts.values())
    assert near["team"].notna().all() and (near["distance_m"] >= 0).all()
    assert (near["method"] == "nearest").all()


def test_in_any_spelling(east):
    a = east.postcode_allocations().sample(300, random_state=1)
    pcs = a["postcode"].tolist()
    spellings = [
        [p.lower() for p in pcs],
        [p.replace(" ", "") for p in pcs],
        [f"  {p.lower().replace(' ', '   ')} " for p in pcs],
        [f"Flat 1, 2 High Street, Somewhere {p}" for p in pcs],
    ]
    base = east.allocate(pcs)[["team", "status"]]
    for s in spellings:
        pd.testing.assert_frame_equal(east.allocate(s)[["team", "status"]], base)


@pytest.mark.parametrize("query, team", [("KA18 1FQ", "Barony"), ("ka6 7sj", "Doon Valley"),
                                         ("KA3 5QF", "Stewarton"), ("KA1 2EW", "Grange"),
                                         ("KA4 8PD", "Loudon"), ("KA3 7DF", "William McIlvanney")])
def test_known_schools_postcodes(east, query, team):
    r = east.lookup(query)
    assert (r["team"], r["status"]) == (team, "allocated")


def test_stair_gap_and_dalrymple_are_nearest_team(east):
    import shapely

    a = east.postcode_allocations()
    gaps = east.gaps[east.gaps["kind"] == "gap"]
    stair_gap = gaps[gaps.contains(shapely.Point(244739, 621281))]  # the gap around Stair
    assert len(stair_gap) == 1
    inside = shapely.contains_xy(stair_gap.geometry.iloc[0], a["easting"], a["northing"])
    stair = a[inside]
    assert len(stair) >= 5
    assert (stair["status"] == "nearest_team").all()
    # Stair lies between Barony's catchment and Doon Valley's: Barony is the nearest, within 2.5 km
    assert (stair["team"] == "Barony").all()
    assert (stair["distance_m"] < 2500).all()
    # the East Ayrshire postcodes that fall inside North Ayrshire catchments, near Stewarton
    r = east.lookup("KA3 4DX")
    assert (r["team"], r["status"]) == ("Stewarton", "nearest_team")
    assert r["distance_m"] < 100
    assert east.allocate_points([244739], [621281])["status"].iloc[0] == "nearest_team"
    carrick = a[a["catchment_school"] == "CARRICK ACADEMY (SOUTH AYRSHIRE)"]
    assert len(carrick) == 57
    assert (carrick["status"] == "nearest_team").all()
    assert set(carrick["team"]) <= set(EA_TEAMS)
    assert (carrick["distance_m"] > 0).all()


def test_no_postcode_outside_the_council_gets_a_team(east):
    pcs = east.postcodes
    others = pcs.loc[pcs["council_code"] != "S12000008", "postcode"]
    out = east.allocate(others.tolist())
    assert (out["status"] == "outside_area").all()
    assert out["team"].isna().all()
    glasgow = pcs.loc[pcs["council_code"] == "S12000049", "postcode"].head(500).tolist()
    assert (east.allocate(glasgow)["status"] == "outside_area").all()


def test_bad_strings(east):
    out = east.allocate(["KA99 9ZZ", "not a postcode", "", None])
    assert out["status"].tolist() == ["unknown_postcode", "invalid_postcode", "missing_location",
                                      "missing_location"]


def test_points_match_postcodes(east):
    a = east.postcode_allocations()
    a = a[a["status"] == "allocated"]
    pts = east.allocate_points(a["easting"].to_numpy(), a["northing"].to_numpy())
    assert (pts["team"].astype(str).to_numpy() == a["team"].astype(str).to_numpy()).all()


def test_fast_equals_exact_on_real_polygons(east, north):
    rng = np.random.default_rng(7)
    for p in (east, north):
        xmin, ymin, xmax, ymax = p.team_areas.total_bounds
        x, y = rng.uniform(xmin, xmax, 200_000), rng.uniform(ymin, ymax, 200_000)
        pd.testing.assert_frame_equal(p.allocate_points(x, y), p.allocate_points(x, y, exact=True))


def test_north_ayrshire_localities(north):
    a = north.postcode_allocations()
    assert len(a) == 4182
    assert set(a["team"].dropna()) == {"Arran", "Garnock Valley", "Irvine", "Kilwinning", "North Coast",
                                       "Three Towns"}
    assert (a["team"].notna() | (a["status"] == "missing_location")).all()
    wk = a[a["postcode"].str.startswith("KA23 9")]
    assert len(wk) > 0 and (wk["team"] == "North Coast").all() and (wk["method"] == "override").all()
    assert north.lookup("KA27 8NG")["team"] == "Arran"  # Arran High School
    assert north.lookup("KA30 9DR")["team"] == "North Coast"  # Largs Academy


def test_validation_reports_the_known_flaws(east):
    rep = validate_profile(east)
    assert rep["ok"]
    assert len(rep["repaired"]) == 6  # six multipolygons with touching parts
    big = sorted((g["area_km2"] for g in rep["gaps"]), reverse=True)
    assert big[0] == pytest.approx(45.7, abs=1.5)  # south of Dalmellington
    assert any(13 <= g <= 15 for g in big)  # around Stair
    assert rep["other_catchments"] and "Carrick" in rep["other_catchments"][0]["note"]
    assert rep["overlaps"] == []


def test_original_codepoint_file_loads_as_published(data_dir):
    orig = heart_geo.read_postcodes(data_dir / "os_codepoint_open_2020_08" / "original" / "ka.csv")
    assert len(orig) == 11611
    sub = heart_geo.read_postcodes(
        data_dir / "os_codepoint_open_2020_08" / "codepoint_open_2020_08_east_north_ayrshire_plus_bbox.csv")
    m = orig.merge(sub, on="postcode", suffixes=("", "_sub"))
    assert len(m) == 11511
    assert (m["easting"] == m["easting_sub"]).all() and (m["northing"] == m["northing_sub"]).all()


def test_school_workbook_equals_csv(data_dir):
    d = data_dir / "sg_school_roll_locations_2023"
    x = heart_geo.read_schools(d / "SG_SchoolRoll_2023.xlsx", council_code="S12000008")
    c = heart_geo.read_schools(d / "SG_SchoolRoll_2023_east_north_ayrshire.csv", council_code="S12000008")
    assert len(x) == len(c) == 54
    assert sorted(x["seed_code"]) == sorted(c["seed_code"])


def test_per_school_geojson_equals_gpkg(data_dir):
    d = data_dir / "spatialhub_school_catchments"
    g = heart_geo.read_catchments(d / "secondary_catchments_east_north_ayrshire.gpkg", layer="pub_schlsn",
                                  council_code="S12000008").set_index("school_name")
    j = heart_geo.read_catchments(sorted((d / "original_geojson").glob("scotland_sn_east_ayrshire_*.geojson"))
                                  ).set_index("school_name")
    assert sorted(g.index) == sorted(j.index)
    for name in g.index:
        assert g.geometry[name].symmetric_difference(j.geometry[name]).area < 1.0


def test_council_wide_schools_and_links(east):
    s = heart_geo.school_localities(east)
    cw = s[s["council_wide"]]
    assert "St Joseph's Academy" in set(cw["name"])
    assert len(cw) == 8  # St Joseph's + 7 special schools
    assert set(s.loc[s["name"] == "Robert Burns Academy", "team"]) == {"Barony"}
    assert set(s.loc[s["name"] == "Kilmarnock Academy", "team"]) == {"William McIlvanney"}
