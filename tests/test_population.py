"""Whom each team serves: data zones, population and SIMD joined to the teams (heart_geo.population).

Testshire's made-up zones (heart_geo.testing.DATA_ZONES) split across teams with answers worked out
by hand; the real-data tests compare with an apportionment of their own made with a geopandas sjoin.
"""

from __future__ import annotations

import csv
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import heart_geo
from heart_geo import load_profile, testing
from heart_geo.cli import main
from heart_geo.errors import DataFormatError, InputError
from heart_geo.population import parse_ages, team_population, zone_table
from heart_geo.smallareas import decile_words, read_data_zones, read_population, read_simd

pytestmark = pytest.mark.usefixtures("cache_dir")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Testshire with its data zones, population and SIMD: (folder, profile)."""
    d = tmp_path_factory.mktemp("ts-small")
    toml = testing.write_test_data(d, small_areas=True)
    return d, load_profile(toml, data_dir=d, cache=False)


def _csv_children(path, zones) -> int:
    """People aged 0-17 in ``zones``, newest year, sex All: summed straight from the CSV."""
    with open(path, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    year = max(r["Year"] for r in rows)
    return sum(int(r[f"Age{a}"]) for r in rows for a in range(18)
               if r["Year"] == year and r["Sex"] == "All" and r["DataZone"] in zones)


def test_testshire_teams_get_the_answers_worked_out_by_hand(small):
    _, p = small
    df = team_population(p).set_index("team")
    for team, (pop, q1, zones, split, in_split) in testing.POPULATION_ANSWERS.items():
        row = df.loc[team]
        assert (row["population"], row["simd_q1_population"], row["zones"], row["split_zones"],
                row["split_zone_population"]) == (pop, q1, zones, split, in_split), team
        assert row["simd_q1_share"] == pytest.approx(q1 / pop, abs=1e-4)
    # bands: each zone has the same number at every age 0-17, so the bands are 5, 7, 4 and 2 of 18
    assert (df["0-4"] + df["5-11"] + df["12-15"] + df["16-17"] == df["0-17"]).all()
    assert df.loc["North", "5-11"] == 7 * (10 + 3)  # TZ01 whole, TZ03 (6 a year) half


def test_council_total_is_the_csv_total_of_the_councils_zones(small):
    d, p = small
    mine = {z for z, v in testing.DATA_ZONES.items() if v[2] == "Testshire"}
    df = team_population(p)
    total = _csv_children(d / "dz2011_population_tt.csv", mine)
    assert df.attrs["council_total"] == total == df["population"].sum()
    assert df.attrs["year"] == 2020  # the newest year of the file, not 2019


def test_other_bands_and_bad_bands(small):
    _, p = small
    df = team_population(p, ages="90+").set_index("team")
    assert df["population"].sum() == 2 * 5  # two people of 90+ in each of the council's five zones
    assert parse_ages("5 - 11") == (5, 11) and parse_ages([0, 4]) == (0, 4)
    for bad in ("17-0", "abc", "0-17-3", "-1"):
        with pytest.raises(InputError, match="ages"):
            parse_ages(bad)


def test_repairs_methods_and_council_zones_are_reported(small):
    _, p = small
    notes = " ".join(p.small_areas.notes)
    assert "repaired data zone S01990005" in notes
    assert "the zone its point lies in: 8" in notes
    assert "5 data zones in the council (named as the council's by the SIMD file)" in notes


def test_lookup_and_allocate_name_the_zone_and_its_decile_in_words(small):
    _, p = small
    row = p.lookup("tt1 1ac")
    assert (row["data_zone"], row["data_zone_name"], row["simd_decile"]) == ("S01990003", "Testtown Middle", 2)
    assert row["simd_decile_words"] == "among the 20% most deprived areas in Scotland"
    assert p.lookup("TT2 9ZZ")["data_zone"] == "S01990099"  # another council's postcode: its own zone
    a = p.allocate(["TT1 1AA", "TT1 1AD", "not a postcode"])
    assert a["data_zone"].tolist()[:2] == ["S01990001", "S01990004"] and pd.isna(a.loc[2, "data_zone"])
    pts = p.allocate_points([testing.X0 + 1750], [testing.Y0 - 50])  # no postcode: in TZ05
    assert pts.loc[0, "data_zone"] == "S01990005" and pts.loc[0, "team"] == "South"
    assert p.lookup(f"{testing.X0 + 1750:.0f}, {testing.Y0 - 50:.0f}")["data_zone"] == "S01990005"


def test_without_small_area_files_everything_works_and_population_says_not_loaded(testshire):
    assert testshire.small_areas is None
    assert "data_zone" not in testshire.lookup("TT1 1AA")
    assert "data_zone" not in testshire.allocate(["TT1 1AA"]).columns
    with pytest.raises(InputError, match="population is not loaded"):
        team_population(testshire)


def test_cli_population_json_and_text(small, capsys):
    d, _ = small
    toml = str(d / "testshire.toml")
    assert main(["population", "--profile", toml, "--data-dir", str(d), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["council_total"] == out["teams_total"] == 414
    north = next(t for t in out["teams"] if t["team"] == "North")
    assert north["population"] == 234 and north["age_bands"]["0-4"] == 5 * 13
    assert set(north) == {"team", "population", "simd_q1_population", "simd_q1_share", "zones", "split_zones",
                          "split_zone_population", "age_bands"}
    assert main(["population", "--profile", toml, "--data-dir", str(d), "--ages", "5-11"]) == 0
    text = capsys.readouterr().out
    assert "people aged 5-11" in text and "uncertainty" in text
    assert main(["population", "--profile", toml, "--data-dir", str(d), "--ages", "old"]) == 2
    assert main(["lookup", "TT1 1AC", "--profile", toml, "--data-dir", str(d)]) == 0
    assert "Data zone S01990003 (Testtown Middle)" in capsys.readouterr().out


def test_cli_population_not_loaded_exits_2(ts, capsys):
    assert main(["population", "--profile", str(ts / "testshire.toml"), "--data-dir", str(ts)]) == 2
    assert "population is not loaded" in capsys.readouterr().err


def test_address_points_split_zones_by_addresses(tmp_path):
    testing.write_test_data(tmp_path, small_areas=True)
    testing.write_onsud(tmp_path)
    p = load_profile(tmp_path / "testshire.toml", data_dir=tmp_path, cache=False)
    df = team_population(p).set_index("team")
    # TZ01 by its address points: TT1 1AA 2 and TT1 1AJ 3 in North, TT1 1AJ 2 in East (180 x 5/7, 2/7);
    # TZ03 by TT1 1AH's two addresses, both North (108 whole); TZ05 has none: South, at its centre
    assert df["population"].to_dict() == {"North": 237, "East": 159, "South": 18}
    assert set(p.small_areas.weights["basis"]) == {"address points", "postcodes", "zone centre"}


def test_the_postcode_files_own_data_zone_column_is_preferred(tmp_path):
    testing.write_test_data(tmp_path, onspd=True, small_areas=True)
    f = tmp_path / "postcodes" / "onspd_tt.csv"
    df = pd.read_csv(f, dtype=str, keep_default_na=False)
    df["lsoa11"] = np.where(df["pcds"] == "TT1 1AC", "S01990005", "")  # TT1 1AC's file says TZ05
    df.to_csv(f, index=False)
    p = load_profile(tmp_path / "testshire.toml", data_dir=tmp_path, cache=False)
    assert p.lookup("TT1 1AC")["data_zone"] == "S01990005"
    assert "the postcode file's own data-zone column: 1" in " ".join(p.small_areas.notes)
    got = team_population(p).set_index("team")["population"].to_dict()
    # TZ03 now holds only TT1 1AH (North): whole to North; TZ05's TT1 1AC: South
    assert got == {"North": 180 + 108, "East": 108, "South": 18}


# --------------------------------------------------------------------------------------------------
# the readers
# --------------------------------------------------------------------------------------------------
def test_zone_reader_any_format_and_crs_and_code_column_by_name_or_values(tmp_path):
    testing.write_small_area_data(tmp_path)
    base, repairs = read_data_zones(tmp_path / "tt_data_zones.gpkg")
    assert len(base) == 6 and repairs == ["repaired data zone S01990005: unioned 2 touching/overlapping parts"]
    g = gpd.read_file(tmp_path / "tt_data_zones.gpkg")
    g = g.rename(columns={"DZ2011_Code": "DataZone", "DZ2011_Name": "Name"})
    g.to_crs("EPSG:4326").to_file(tmp_path / "dz.geojson", driver="GeoJSON")
    z, _ = read_data_zones(tmp_path / "dz.geojson")
    assert z["data_zone"].tolist() == base["data_zone"].tolist() and z["name"].tolist() == base["name"].tolist()
    assert np.allclose(z.geometry.area, base.geometry.area, rtol=1e-3)
    g.rename(columns={"DataZone": "zz"}).to_file(tmp_path / "byvalue.gpkg", driver="GPKG")
    assert read_data_zones(tmp_path / "byvalue.gpkg")[0]["data_zone"].tolist() == base["data_zone"].tolist()
    near, _ = read_data_zones(tmp_path / "tt_data_zones.gpkg", bbox=(299_000, 599_000, 301_000, 601_000))
    assert "S01990099" not in set(near["data_zone"])
    g.drop(columns="DataZone").to_file(tmp_path / "nocode.gpkg", driver="GPKG")
    with pytest.raises(DataFormatError, match="no data zone code column"):
        read_data_zones(tmp_path / "nocode.gpkg")
    g.assign(DataZone="x").to_file(tmp_path / "nozones.gpkg", driver="GPKG")
    with pytest.raises(DataFormatError, match=r"no data zones \(S01 codes\)"):
        read_data_zones(tmp_path / "nozones.gpkg")


def test_population_reader_with_and_without_qualifiers_and_all_rows(tmp_path):
    testing.write_small_area_data(tmp_path)
    f = tmp_path / "dz2011_population_tt.csv"
    full, year = read_population(f)
    assert year == 2020 and full.loc["S01990001", 0] == 10 and full.loc["S01990001", 90] == 2
    assert "S92000003" not in full.index
    df = pd.read_csv(f, dtype=str)
    df.drop(columns=["DataZoneQF", "SexQF"]).to_csv(tmp_path / "noqf.csv", index=False)
    assert read_population(tmp_path / "noqf.csv")[0].equals(full)
    df[df["Sex"] != "All"].to_csv(tmp_path / "sexes.csv", index=False)  # Male + Female only
    assert read_population(tmp_path / "sexes.csv")[0].equals(full)
    df[["Year", "DataZone", "Sex"]].to_csv(tmp_path / "noages.csv", index=False)
    with pytest.raises(DataFormatError, match="single-year age columns"):
        read_population(tmp_path / "noages.csv")


def test_simd_reader_csv_and_ranks_workbook_agree(tmp_path):
    testing.write_small_area_data(tmp_path)
    csv_simd = read_simd(tmp_path / "simd2020_withinds_tt.csv")
    assert csv_simd.loc["S01990002", ["rank", "decile", "quintile"]].tolist() == [100, 1, 1]
    assert csv_simd.loc["S01990099", "council_area"] == "Otherslaw"
    ranks = pd.read_csv(tmp_path / "simd2020_withinds_tt.csv")[["Data_Zone", "Intermediate_Zone", "Council_area",
                                                                 "SIMD2020v2_Rank"]]
    with pd.ExcelWriter(tmp_path / "SIMD_2020v2_ranks.xlsx") as xw:
        pd.DataFrame({"a": ["SIMD 2020v2"]}).to_excel(xw, sheet_name="Notes", index=False)
        ranks.to_excel(xw, sheet_name="SIMD 2020v2 ranks", index=False, startrow=2)
    wb = read_simd(tmp_path / "SIMD_2020v2_ranks.xlsx")
    pd.testing.assert_frame_equal(wb[["rank", "decile", "quintile", "council_area"]],
                                  csv_simd[["rank", "decile", "quintile", "council_area"]])


def test_decile_words_cover_every_decile():
    words = [decile_words(d) for d in range(1, 11)]
    assert words[0] == "among the 10% most deprived areas in Scotland"
    assert words[-1] == "among the 10% least deprived areas in Scotland"
    assert len(set(words)) == 10 and decile_words(None) is None and decile_words(11) is None


def test_zone_table_names_each_zones_teams_and_share(small):
    _, p = small
    z = zone_table(p).set_index("data_zone")
    assert len(z) == 5 and z.crs.to_epsg() == 27700
    assert z.loc["S01990003", "teams"] == "North 0.50, South 0.50" and bool(z.loc["S01990003", "split"])
    assert z.loc["S01990001", "main_team"] == "North" and z.loc["S01990001", "children"] == 180


def test_built_small_areas_come_back_from_the_cache(tmp_path, cache_dir):
    toml = testing.write_test_data(tmp_path, small_areas=True)
    first = team_population(load_profile(toml, data_dir=tmp_path))
    assert list(cache_dir.glob("*.hgc"))
    again = load_profile(toml, data_dir=tmp_path)
    assert again.small_areas is not None
    pd.testing.assert_frame_equal(team_population(again), first)


# --------------------------------------------------------------------------------------------------
# the real data
# --------------------------------------------------------------------------------------------------
def _independent(profile, data_dir, ages=(0, 17)):
    """A postcode-weighted apportionment of our own: sjoin postcodes to zones, population from the CSV."""
    zones = gpd.read_file(next(data_dir.glob("**/SG_DataZone_Bdry_2011*.gpkg"))).to_crs(heart_geo.CRS)
    zones["geometry"] = shapely.make_valid(zones.geometry.to_numpy())
    simd = pd.read_csv(next(data_dir.glob("**/simd2020v2_withinds*.csv")))
    mine = set(simd.loc[simd["Council_area"] == profile.name, "Data_Zone"])
    pop = pd.read_csv(next(data_dir.glob("**/dz2011_population*.csv")))
    pop = pop[(pop["Sex"] == "All") & pop["DataZone"].isin(mine)].set_index("DataZone")
    people = pop[[f"Age{a}" for a in range(ages[0], ages[1] + 1)]].sum(axis=1)
    a = profile.postcode_allocations()
    a = a[~a["terminated"] & a["team"].notna()]  # the council's current postcodes with a team
    pts = gpd.GeoDataFrame(a[["postcode", "team"]].astype(str), crs=heart_geo.CRS,
                           geometry=gpd.points_from_xy(a["easting"], a["northing"]))
    hit = gpd.sjoin(pts, zones[zones["DataZone"].isin(mine)][["DataZone", "geometry"]], predicate="within")
    w = hit.groupby(["DataZone", "team"]).size().unstack(fill_value=0)
    share = w.div(w.sum(axis=1), axis=0)
    per = share.mul(people.reindex(share.index), axis=0).sum()
    q1 = set(simd.loc[simd["SIMD2020v2_Quintile"] == 1, "Data_Zone"])
    per_q1 = share[share.index.isin(q1)].mul(people.reindex(share.index[share.index.isin(q1)]), axis=0).sum()
    return per, per_q1, int(people.sum()), hit


@pytest.mark.realdata
@pytest.mark.parametrize("council", ["east", "north"])
def test_real_teams_match_an_independent_sjoin_apportionment(council, request, data_dir):
    p = request.getfixturevalue(council)
    per, per_q1, total, _ = _independent(p, data_dir)
    df = team_population(p).set_index("team")
    assert df.attrs["council_total"] == total == df["population"].sum()  # every locality adds to the council
    for team in p.team_names:
        assert df.loc[team, "population"] == pytest.approx(per.get(team, 0), rel=0.005), team
        assert df.loc[team, "simd_q1_share"] == pytest.approx(per_q1.get(team, 0) / per[team], abs=0.01), team


@pytest.mark.realdata
def test_real_lookup_names_the_zone_the_postcode_lies_in(east, data_dir, capsys):
    _, _, _, hit = _independent(east, data_dir)
    want = hit.set_index("postcode")["DataZone"]
    assert east.lookup("KA18 1FQ")["data_zone"] == want["KA18 1FQ"]
    sample = want.sample(200, random_state=1)
    got = east.allocate(list(sample.index))["data_zone"].tolist()
    assert got == sample.tolist()
    assert main(["lookup", "KA18 1FQ", "--json", "--data-dir", str(data_dir)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["data_zone"] == want["KA18 1FQ"] and out["simd_decile_words"]


@pytest.mark.realdata
def test_real_cli_population_json_and_export_teams_fields(east, data_dir, capsys):
    per, per_q1, total, _ = _independent(east, data_dir)
    assert main(["population", "--ages", "0-17", "--json", "--data-dir", str(data_dir)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["council_total"] == total == out["teams_total"]
    for t in out["teams"]:
        assert t["population"] == pytest.approx(per[t["team"]], rel=0.005), t["team"]
        assert t["simd_q1_share"] == pytest.approx(per_q1.get(t["team"], 0) / per[t["team"]], abs=0.01)
        # each band is rounded to add up to the council's total for that band: a team's may differ by rounding
        assert abs(sum(t["age_bands"][b] for b in ("0-4", "5-11", "12-15", "16-17")) - t["age_bands"]["0-17"]) <= 2
    from heart_geo.export import layers

    teams = layers(east)["teams"].set_index("team")
    got = {t["team"]: t["population"] for t in out["teams"]}
    assert teams["children"].astype(int).to_dict() == got
    assert {"population", "children_simd_q1_share", "children_in_split_zones"} <= set(teams.columns)


def test_ready_answers_carry_the_data_zone(small, capsys):
    from heart_geo import _quick

    d, _ = small
    args = ["lookup", "TT1 1AC", "--profile", str(d / "testshire.toml"), "--data-dir", str(d), "--json"]
    assert main(args) == 0  # the full path, which writes the ready answers
    full = json.loads(capsys.readouterr().out)
    assert _quick.answer(args) == 0  # answered from the ready answers, no profile loaded
    quick = json.loads(capsys.readouterr().out)
    assert quick == full and quick["data_zone"] == "S01990003"


def test_the_scottish_postcode_directorys_data_zone_column_is_preferred(tmp_path):
    testing.write_test_data(tmp_path, small_areas=True)
    (tmp_path / "postcodes" / "tt.csv").unlink()
    with open(tmp_path / "postcodes" / "SmallUser.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Postcode", "PostcodeDistrict", "DateOfIntroduction", "DateOfDeletion", "GridReferenceEasting",
                    "GridReferenceNorthing", "CouncilArea2019Code", "DataZone2011Code"])
        for pc, (e, n, code, _) in testing.POSTCODES.items():
            dz = "S01990005" if pc == "TT1 1AC" else ""  # TT1 1AC's directory entry says TZ05
            w.writerow([pc, pc.split()[0] if " " in pc else pc[:-3], "198001", "",
                        int(e) if e else "", int(n) if n else "", code, dz])
    p = load_profile(tmp_path / "testshire.toml", data_dir=tmp_path, cache=False)
    assert p.lookup("TT1 1AA")["team"] == "North"  # the directory is read as a postcode file
    assert p.lookup("TT1 1AC")["data_zone"] == "S01990005"
    assert "the postcode file's own data-zone column: 1" in " ".join(p.small_areas.notes)
    assert team_population(p).set_index("team")["population"].to_dict() == {"North": 288, "East": 108, "South": 18}
