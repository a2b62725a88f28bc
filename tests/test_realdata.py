"""Integration tests on the official datasets (HEART_GEO_DATA; .ci/run points it at ../shared/data)."""

import numpy as np
import pandas as pd
import pytest

import heart_geo
from heart_geo.validate import validate_profile

pytestmark = pytest.mark.realdata

EA_TEAMS = ["Stewarton", "William McIlvanney", "Grange", "Loudon", "Barony", "Doon Valley"]


def _current(profile):
    """The council's postcodes in the newest release, read straight from its files."""
    rel = profile.release("postcodes")
    pcs = heart_geo.read_postcodes(list(rel.files))
    return pcs[pcs["council_code"] == profile.code]


def _independent_teams(profile, pcs):
    """Team of each postcode point by a plain geopandas spatial join (not the allocator)."""
    import geopandas as gpd

    pts = gpd.GeoDataFrame(pcs[["postcode"]].reset_index(drop=True),
                           geometry=gpd.points_from_xy(pcs["easting"], pcs["northing"]), crs=heart_geo.CRS)
    areas = profile.team_areas[["team", "geometry"]]
    hit = gpd.sjoin(pts, areas, predicate="intersects", how="left")
    hit = hit[~hit.index.duplicated(keep="first")]  # a point on a shared edge: first team, as the rule says
    return hit.set_index("postcode")["team"]


def test_every_east_ayrshire_postcode_of_the_newest_release_has_a_team_or_explicit_status(east):
    a = east.postcode_allocations()
    cur = _current(east)
    now = a[~a["terminated"]]
    assert sorted(now["postcode"]) == sorted(cur["postcode"])  # the newest release answers, all of it
    assert set(now["status"].astype(str)) <= {"allocated", "nearest_team", "missing_location"}
    assert (now["team"].notna() | (now["status"] == "missing_location")).all()
    # each postcode's team is the team its newest point lies in (an independent spatial join)
    want = _independent_teams(east, cur)
    got = now.set_index("postcode")
    inside = got["status"] == "allocated"
    assert (got.loc[inside, "team"].astype(str) == want[got.index[inside]].astype(str)).all()
    # nearest_team only where the point is in no team area
    assert want[got.index[got["status"] == "nearest_team"]].isna().all()
    near = now[now["status"] == "nearest_team"]
    assert near["team"].notna().all() and (near["distance_m"] >= 0).all()
    assert (near["method"] == "nearest").all()


def test_postcodes_retired_since_an_older_release_are_terminated_with_a_team(east):
    rels = east.releases["postcodes"]
    a = east.postcode_allocations().set_index("postcode")
    newest = set(heart_geo.read_postcodes(list(rels[-1].files))["postcode"])
    retired = {}
    for rel in rels[:-1]:  # oldest first: a later older release has the last word
        old = heart_geo.read_postcodes(list(rel.files))
        for pc, code in zip(old["postcode"], old["council_code"], strict=True):
            if pc not in newest:
                retired[pc] = (code, rel.label)
    mine = {pc: label for pc, (code, label) in retired.items() if code == east.code}
    if len(rels) > 1:
        assert mine, "two releases of one council always differ by some postcodes"
    term = a[a["status"] == "terminated_postcode"]
    assert set(term.index) == set(mine)
    assert term["team"].notna().all()
    for pc in list(mine)[:50]:
        r = east.lookup(pc)
        assert r["status"] == "terminated_postcode" and r["team"] in EA_TEAMS
        assert rels[-1].label in r["detail"] and f"last seen in {mine[pc]}" in r["detail"]


def test_data_in_use_names_the_newest_release(east):
    rel = east.release("postcodes")
    assert rel is east.releases["postcodes"][-1]
    assert all(r.sort_key() <= rel.sort_key() for r in east.releases["postcodes"])
    src = {a["dataset"]: a for a in east.attribution()}
    assert src["postcodes"]["release"].startswith(rel.label)
    assert f"database right {rel.year}" in src["postcodes"]["attribution"]
    assert "{year}" not in " ".join(a["attribution"] for a in src.values())


def test_made_up_postcodes_in_one_team_sectors_get_a_likely_team_and_no_team(east):
    from heart_geo.postcodes import postcode_sector

    a = east.postcode_allocations()
    a = a[~a["terminated"] & a["team"].notna()]
    a = a.assign(sector=a["postcode"].map(postcode_sector))
    by = a.groupby("sector")["team"].agg(lambda t: set(t.astype(str)))
    whole = [s for s, t in by.items() if len(t) == 1]
    assert whole
    known = set(east.postcodes["postcode"])
    queries, want = [], []
    for sec in whole:
        made = next(f"{sec}{a}{b}" for a in "ZYXWUT" for b in "ZYXWUT" if f"{sec}{a}{b}" not in known)
        queries.append(made)
        want.append(next(iter(by[sec])))
    out = east.allocate(queries)
    assert (out["status"] == "unknown_postcode").all()
    assert out["team"].isna().all()
    assert out["likely_team"].astype(str).tolist() == want
    assert out["detail"].str.contains("known postcodes in sector").all()
    r = east.lookup(queries[0])
    assert (r["status"], r["team"], r["likely_team"]) == ("unknown_postcode", None, want[0])


def test_made_up_postcode_in_another_councils_sector_is_outside_area(east):
    out = east.allocate(["G1 1ZZ" if "G1 1ZZ" not in set(east.postcodes["postcode"]) else "G1 1ZY"])
    assert out["status"].tolist() == ["outside_area"] and out["team"].isna().all()
    assert "Glasgow City" in out["detail"].iloc[0]


@pytest.mark.parametrize("profile_name", ["east", "north"])
def test_every_postcode_and_its_own_point_give_the_same_team(profile_name, request):
    p = request.getfixturevalue(profile_name)
    a = p.postcode_allocations()
    a = a[~a["terminated"] & a["easting"].notna()]
    pts = p.allocate_points(a["easting"].to_numpy(), a["northing"].to_numpy())
    assert (pts["team"].astype(str).to_numpy() == a["team"].astype(str).to_numpy()).all()
    assert (pts["method"].astype(str).to_numpy() == a["method"].astype(str).to_numpy()).all()


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
    assert len(carrick) >= 20  # the Dalrymple area
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
    assert out["status"].tolist() == ["outside_area", "invalid_postcode", "missing_location",
                                      "missing_location"]
    assert "no known postcode of sector KA99 9" in out["detail"].iloc[0]


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
    now = a[~a["terminated"]]
    assert sorted(now["postcode"]) == sorted(_current(north)["postcode"])
    assert set(a["team"].dropna()) == {"Arran", "Garnock Valley", "Irvine", "Kilwinning", "North Coast",
                                       "Three Towns"}
    assert (a["team"].notna() | (a["status"] == "missing_location")).all()
    wk = now[now["postcode"].str.startswith("KA23 9")]
    assert len(wk) > 0 and (wk["method"] == "override").mean() > 0.95
    assert (wk.loc[wk["method"] == "override", "team"] == "North Coast").all()
    # a KA23 9 postcode that shares its point with more postcodes outside the rule (a delivery office)
    # answers as that point does, and the profile's problems say so
    for _, r in wk[wk["method"] != "override"].iterrows():
        here = now[(now["easting"] == r["easting"]) & (now["northing"] == r["northing"])]
        assert (~here["postcode"].str.startswith("KA23 9")).sum() > (here["postcode"].str.startswith("KA23 9")).sum()
        assert any("share their point" in x for x in north.problems)
    assert north.lookup("KA27 8NG")["team"] == "Arran"  # Arran High School
    assert north.lookup("KA30 9DR")["team"] == "North Coast"  # Largs Academy
    wk_pts = now[now["method"] == "override"]
    pts = north.allocate_points(wk_pts["easting"].to_numpy(), wk_pts["northing"].to_numpy())
    assert (pts["team"] == "North Coast").all() and (pts["method"] == "override").all()
    assert len(north.override_areas) >= 1


def test_validation_reports_the_known_flaws(east):
    rep = validate_profile(east)
    assert rep["ok"]
    assert len(rep["repaired"]) == 6  # six multipolygons with touching parts
    big = sorted((g["area_km2"] for g in rep["gaps"]), reverse=True)
    assert big[0] == pytest.approx(45.7, abs=1.5)  # south of Dalmellington
    assert any(13 <= g <= 15 for g in big)  # around Stair
    assert rep["other_catchments"] and "Carrick" in rep["other_catchments"][0]["note"]
    assert rep["overlaps"] == []
    rels = east.releases["postcodes"]
    assert rep["releases"]["postcodes"]["in_use"].startswith(rels[-1].label)
    assert rep["releases"]["postcodes"]["older"] == [r.label for r in reversed(rels[:-1])]
    ch = rep["postcode_changes"]
    assert ch["current"] == len(_current(east))
    if len(rels) > 1:
        assert ch["previous_release"] == rels[-2].label
        assert ch["gone_since_previous"] <= ch["terminated_kept_from_older_releases"]


def test_original_codepoint_files_load_as_published(data_dir):
    """Each release's whole published area file reads, and agrees with the subset beside it."""
    origs = sorted(data_dir.glob("*codepo*/original/*.csv"))
    if not origs:
        pytest.skip("no original Code-Point Open area file in the data folder")
    for path in origs:
        orig = heart_geo.read_postcodes(path)
        with open(path, "rb") as fh:
            assert len(orig) == sum(1 for line in fh if line.strip())  # every published row
        subs = sorted(path.parent.parent.glob("codepoint*.csv"))
        if subs:
            sub = heart_geo.read_postcodes(subs[0])
            m = orig.merge(sub, on="postcode", suffixes=("", "_sub"))
            assert len(m) == (sub["postcode"].str[:2].str.rstrip("0123456789") == orig["postcode"].str[:2]
                              .str.rstrip("0123456789").iloc[0]).sum()
            assert (m["easting"] == m["easting_sub"]).all() and (m["northing"] == m["northing_sub"]).all()


def test_both_codepoint_formats_read_alike(data_dir):
    """Fixed 7-character postcodes (2020) and one-space postcodes (2025) normalise to one key."""
    rels = heart_geo.sources.find_releases(data_dir, ["**/codepoint*.csv"], what="postcodes")
    frames = [heart_geo.read_postcodes(list(r.files)) for r in rels]
    for f in frames:
        assert f["postcode"].str.fullmatch(r"[A-Z]{1,2}[0-9][0-9A-Z]? [0-9][A-Z]{2}").all()
        assert f["postcode"].is_unique
    if len(frames) > 1:
        common = set(frames[0]["postcode"]) & set(frames[-1]["postcode"])
        assert len(common) > 0.9 * min(len(f) for f in frames)


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


def test_one_real_postcode_answers_as_the_bulk_path_does(east, monkeypatch):
    """Every status the real data gives, one value at a time: the same frame as the bulk path's."""
    from test_profiles import ODD_VALUES, _few_and_bulk, assert_same_frame

    table = east.allocate(east.postcodes["postcode"].tolist())
    sample = []
    for _, rows in table.groupby("status", observed=True):
        sample += rows["postcode"].head(4).tolist()
    sample += table.loc[table["near_boundary"].astype(bool), "postcode"].head(3).tolist()
    sample += east.postcodes.loc[east.postcodes["terminated"], "postcode"].head(3).tolist()
    assert len(set(table["status"])) >= 3
    for q in [*sample, *ODD_VALUES, "KA3 3ZZ", "G1 1AA", "KA18 9ZZ"]:
        assert_same_frame(*_few_and_bulk(monkeypatch, lambda q=q: east.allocate([q])))
