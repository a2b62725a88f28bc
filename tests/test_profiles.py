"""Profiles and allocation on the made-up Testshire council (see heart_geo/testing.py)."""

import numpy as np
import pandas as pd
import pytest

import heart_geo
from heart_geo import ProfileError
from heart_geo.testing import ANSWERS, POSTCODES, X0, Y0

EXPECTED = ANSWERS


def test_every_fixture_postcode(testshire):
    out = testshire.allocate(list(POSTCODES))
    got = {q: (t if isinstance(t, str) else None, s, m)
           for q, t, s, m in zip(out["query"], out["team"], out["status"], out["method"], strict=True)}
    assert got == EXPECTED


def test_result_columns_and_order(testshire):
    q = ["TT1 1AC", None, "nonsense", "TT1 1AA", "", "TT1 1ZZ"]
    out = testshire.allocate(q)
    assert list(out.columns) == ["query", *heart_geo.settings.RESULT_COLUMNS]
    assert out["query"].tolist() == q
    assert out["status"].tolist() == ["allocated", "missing_location", "invalid_postcode", "allocated",
                                      "missing_location", "unknown_postcode"]


def test_distances_and_near_boundary(testshire):
    out = testshire.allocate(["TT1 1AE", "TT1 1AD", "TT1 1AJ", "TT1 1AA", "TT1 1AH"]).set_index("query")
    assert out.loc["TT1 1AE", "distance_m"] == pytest.approx(300.0)
    assert out.loc["TT1 1AD", "distance_m"] == pytest.approx(300.0)
    assert out.loc["TT1 1AD", "catchment_school"] == "OTHER ACADEMY (NEIGHBOUR COUNCIL)"
    assert bool(out.loc["TT1 1AJ", "near_boundary"]) is True
    assert bool(out.loc["TT1 1AA", "near_boundary"]) is False
    assert bool(out.loc["TT1 1AH", "near_boundary"]) is True


@pytest.mark.parametrize(
    "x, y, team, status",
    [
        (X0 + 500, Y0 + 1500, "North", "allocated"),  # inside
        (X0 + 1000, Y0 + 1500, "North", "allocated"),  # on the North/East edge: North is listed first
        (X0 + 500, Y0 + 1000, "North", "allocated"),  # on the North/South edge
        (X0 + 1000, Y0 + 1000, "North", "allocated"),  # the corner of North, East, South and D
        (X0 + 1000, Y0 + 500, "South", "allocated"),  # South/D edge: D belongs to no team
        (X0, Y0 + 1500, "North", "allocated"),  # on the outer edge: the boundary counts as inside
        (X0 + 2000, Y0 + 2000, "East", "allocated"),  # outer corner
        (X0 - 100, Y0 + 1500, "North", "nearest_team"),  # gap ring
        (X0 + 1500, Y0 + 500, "East", "nearest_team"),  # D: East and South equidistant? no: 500/500
        (X0 + 5000, Y0 + 5000, None, "outside_area"),
    ],
)
def test_points_on_edges_and_corners(testshire, x, y, team, status):
    for exact in (False, True):
        r = testshire.allocate_points([x], [y], exact=exact).iloc[0]
        assert r["status"] == status
        if team is None:
            assert pd.isna(r["team"])
        elif status == "allocated":
            assert r["team"] == team


def test_fast_path_equals_exact_on_random_points(testshire):
    rng = np.random.default_rng(1)
    x = rng.uniform(X0 - 1000, X0 + 3000, 20_000)
    y = rng.uniform(Y0 - 1000, Y0 + 3000, 20_000)
    # and points exactly on grid lines, edges and vertices
    edge = np.arange(X0 - 500, X0 + 2501, 50.0)
    x = np.concatenate([x, edge, np.full(edge.size, X0 + 1000)])
    y = np.concatenate([y, np.full(edge.size, Y0 + 1000), edge])
    fast = testshire.allocate_points(x, y)
    exact = testshire.allocate_points(x, y, exact=True)
    pd.testing.assert_frame_equal(fast, exact)


def test_wgs84_points_and_bad_coordinates(testshire):
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(27700, 4326, always_xy=True).transform(X0 + 500, Y0 + 1500)
    out = testshire.allocate_points([lon, lat, np.nan, 200.0, lon], [lat, lon, lat, 95.0, lat], crs="EPSG:4326")
    assert out["status"].tolist() == ["allocated", "invalid_coordinates", "missing_location",
                                      "invalid_coordinates", "allocated"]
    assert "swapped" in out["detail"].iloc[1]
    deg = testshire.allocate_points([-4.5], [55.6])  # degrees passed as metres
    assert deg["status"].iloc[0] == "invalid_coordinates"
    assert "look like degrees" in deg["detail"].iloc[0]
    far = testshire.allocate_points([900_000], [100])
    assert "outside the British National Grid" in far["detail"].iloc[0]


def test_lookup_scalar_matches_batch(testshire):
    for pc in POSTCODES:
        one = testshire.lookup(pc)
        row = testshire.allocate([pc]).iloc[0]
        assert one["status"] == row["status"]
        assert (one["team"] or None) == (row["team"] if isinstance(row["team"], str) else None)
        assert one["detail"] == row["detail"]


def test_lookup_coordinates(testshire):
    assert testshire.lookup(f"{X0 + 500:.0f}, {Y0 + 1500:.0f}")["team"] == "North"
    swapped, far = testshire.lookup("-4.5, 55.6"), testshire.lookup("10, 10")
    assert (swapped["status"], far["status"]) == ("invalid_coordinates", "invalid_coordinates")
    assert "look swapped" in swapped["detail"] and "outside Great Britain" in far["detail"]
    assert swapped["team"] is None and far["team"] is None


def test_team_summary_services_links(testshire):
    t = testshire.team_summary()
    assert t["team"].tolist() == ["North", "East", "South"]
    assert t["postcodes"].tolist() == [3, 2, 1]
    assert t["area_km2"].tolist() == [1.0, 1.0, 1.0]
    s = heart_geo.services_for_team(testshire, "South")
    assert s == {"in_team": ["Social work"], "link_workers": ["Speech and language therapy"]}
    with pytest.raises(ValueError, match="not one of"):
        heart_geo.services_for_team(testshire, "Nowhere")
    schools = heart_geo.school_localities(testshire).set_index("name")
    assert schools.loc["St Test RC Academy", "kind"] == "faith"
    assert schools.loc["Test Special School", "kind"] == "asn"
    assert bool(schools.loc["Test Special School", "council_wide"]) is True
    assert schools.loc["St Test RC Academy", "team"] == "South"


def test_gaps(testshire):
    g = testshire.gaps
    assert sorted(g["kind"]) == ["gap", "other_catchment"]
    assert g.loc[g["kind"] == "gap", "area_km2"].iloc[0] == pytest.approx(5.0, rel=1e-3)


def test_profile_errors(tmp_path):
    with pytest.raises(ProfileError, match="no council profile 'atlantis'"):
        heart_geo.load_profile("atlantis", data_dir=tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text('[council]\nname = "X"\n[[teams]]\nname = "A"\nschools = []\n'
                   '[[services]]\nname = "S"\nmode = "sometimes"\n')
    with pytest.raises(ProfileError) as e:
        heart_geo.load_profile(bad, data_dir=tmp_path)
    msg = str(e.value)  # every problem at once
    assert "needs 'code'" in msg and "has no schools" in msg and "mode 'sometimes'" in msg


def test_shipped_profiles_hold_no_code_specific_council():
    assert heart_geo.list_profiles() == ["east_ayrshire", "north_ayrshire"]


def test_override_rules(tmp_path):
    from heart_geo.testing import write_test_data

    toml = write_test_data(tmp_path)
    text = toml.read_text().replace(
        "overrides = []",
        'overrides = [{ team = "South", postcode = "TT1 1AA", reason = "test" },'
        f' {{ team = "East", wkt = "POLYGON(({X0 - 400} {Y0 + 1400}, {X0 - 200} {Y0 + 1400}, '
        f'{X0 - 200} {Y0 + 1600}, {X0 - 400} {Y0 + 1600}, {X0 - 400} {Y0 + 1400}))" }}]',
    )
    toml.write_text(text)
    p = heart_geo.load_profile(toml, data_dir=tmp_path, cache=False)
    out = p.allocate(["TT1 1AA", "TT1 1AE"]).set_index("query")
    assert (out.loc["TT1 1AA", "team"], out.loc["TT1 1AA", "method"]) == ("South", "override")
    assert (out.loc["TT1 1AE", "team"], out.loc["TT1 1AE", "method"]) == ("East", "override")
    pts = p.allocate_points([X0 - 300, X0 - 300], [Y0 + 1500, Y0 + 1800])
    assert pts["method"].tolist() == ["override", "nearest"]
    pd.testing.assert_frame_equal(pts, p.allocate_points([X0 - 300, X0 - 300], [Y0 + 1500, Y0 + 1800], exact=True))


def test_cache_rebuilds_when_data_changes(tmp_path, cache_dir):
    from heart_geo.testing import write_test_data

    data = tmp_path / "data"
    toml = write_test_data(data)
    a = heart_geo.load_profile(toml, data_dir=data)
    [first] = list(cache_dir.glob("*.hgc"))
    b = heart_geo.load_profile(toml, data_dir=data)  # from cache
    pd.testing.assert_frame_equal(a.postcode_allocations(), b.postcode_allocations())
    with open(data / "postcodes" / "tt.csv", "a") as fh:
        fh.write('"TT1 1ZZ",10,300100,600100,"S92000003","","S08000099","","S99000001","S13009999"\n')
    c = heart_geo.load_profile(toml, data_dir=data)
    assert c.lookup("TT1 1ZZ")["team"] == "South"
    [second] = list(cache_dir.glob("*"))  # the entry for the old data is pruned
    assert second.suffix == ".hgc" and second.name != first.name


def test_nearest_team_considers_every_part_of_a_multipart_team():
    """Regression: a team whose area has two separate parts (an island, a detached area)."""
    import shapely

    from heart_geo.allocate import Allocator

    a = shapely.MultiPolygon([shapely.box(0, 0, 100, 100), shapely.box(1000, 0, 1100, 100)])  # two parts
    b = shapely.box(400, 0, 500, 100)
    alloc = Allocator(catchments=[a, b], catchment_team=[0, 1], n_teams=2,
                      council_area=shapely.box(-200, -200, 1300, 300))
    team, dist = alloc.nearest_team(np.array([980.0, 560.0]), np.array([50.0, 50.0]))
    assert team.tolist() == [0, 1]  # 20 m from A's second part; 60 m from B
    assert dist.tolist() == pytest.approx([20.0, 60.0])
    for fn in (alloc.exact, alloc.locate):
        r = fn(np.array([980.0]), np.array([50.0]))
        assert r.team.tolist() == [0] and r.distance.tolist() == pytest.approx([20.0])


def test_result_frames_never_share_the_callers_arrays(testshire):
    from heart_geo.testing import X0, Y0

    x, y = np.array([X0 + 500.0, X0 + 1500.0]), np.array([Y0 + 1500.0, Y0 + 1500.0])
    out = testshire.allocate_points(x, y)
    out.loc[0, "easting"] = -1.0
    out.loc[1, "northing"] = -1.0
    assert x.tolist() == [X0 + 500.0, X0 + 1500.0] and y.tolist() == [Y0 + 1500.0, Y0 + 1500.0]


def _few_and_bulk(monkeypatch, call):
    """The answer of ``call()`` by the path for a few values, and by the bulk path (forced)."""
    from heart_geo import population, profiles

    few = call()
    with monkeypatch.context() as m:
        m.setattr(profiles, "_FEW", -1)  # every call takes the bulk path
        m.setattr(population, "_FEW_ROWS", -1)  # and its data-zone columns are joined by concat
        bulk = call()
    return few, bulk


def assert_same_frame(few: pd.DataFrame, bulk: pd.DataFrame) -> None:
    """Equal column by column: values, dtypes (categories included), column order and index."""
    pd.testing.assert_frame_equal(few, bulk, check_exact=True, check_column_type=True, check_index_type=True)
    assert list(few.dtypes) == list(bulk.dtypes)
    assert few.columns.dtype == bulk.columns.dtype


ODD_VALUES = ["", None, float("nan"), "nonsense", "tt11aa", " TT1   1AB ", "Flat 2, Long Road, TT1 1AC",
              "TT1 1AA or TT1 1AB", "ＴＴ１ １ＡＡ", "TT1 1ZZ", "ZZ9 9ZZ"]


def test_one_value_answers_as_the_bulk_path_does(testshire, monkeypatch):
    for q in [*POSTCODES, *ODD_VALUES]:
        assert_same_frame(*_few_and_bulk(monkeypatch, lambda q=q: testshire.allocate([q])))
    few, bulk = _few_and_bulk(monkeypatch, lambda: testshire.allocate([*POSTCODES, *ODD_VALUES]))
    assert_same_frame(few, bulk)
    assert len(few) <= 64  # the whole list went by the path for a few too
    s = pd.Series(list(POSTCODES)[:5], index=[10, 11, 12, 13, 14])
    assert_same_frame(*_few_and_bulk(monkeypatch, lambda: testshire.allocate(s)))
    assert_same_frame(*_few_and_bulk(monkeypatch, lambda: testshire.allocate(s.astype("string"))))
    assert_same_frame(*_few_and_bulk(monkeypatch, lambda: testshire.allocate(iter(list(POSTCODES)[:3]))))
    assert_same_frame(*_few_and_bulk(monkeypatch, lambda: testshire.allocate(["TT1 1AA"], geometry=True)))


def test_one_point_answers_as_the_bulk_path_does(testshire, monkeypatch):
    for x, y, crs in [(X0 + 1000, Y0 + 1000, None), (0.0, 0.0, None), (float("nan"), 1.0, None),
                      (-4.4, 55.5, "EPSG:4326"), (55.5, -4.4, "EPSG:4326"), (X0 - 5000, Y0, None)]:
        assert_same_frame(*_few_and_bulk(monkeypatch, lambda x=x, y=y, crs=crs:
                                         testshire.allocate_points([x], [y], crs=crs)))
