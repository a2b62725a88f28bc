"""The grid path (``Allocator.locate``) gives exactly the answers of the exact path (``exact``).

Synthetic catchments made here, plus the real East and North Ayrshire profiles (``realdata``).
No timing assertions: see ``benchmarks/bench_allocate.py`` for speed.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely import affinity

from heart_geo.allocate import ALLOCATED, M_OVERRIDE, NEAREST, OUTSIDE, Allocator, Grid, PointResult

FIELDS = ("catchment", "team", "status", "method", "near")


def assert_same(fast: PointResult, exact: PointResult, what: str = "") -> None:
    for f in FIELDS:
        a, b = getattr(fast, f), getattr(exact, f)
        bad = np.flatnonzero(a != b)
        assert bad.size == 0, f"{what}: {f} differs at {bad.size} points, e.g. index {bad[:5]}"
    da, db = fast.distance, exact.distance
    assert np.array_equal(np.isnan(da), np.isnan(db)), f"{what}: distance NaN pattern differs"
    ok = ~np.isnan(db)
    if ok.any():
        worst = np.max(np.abs(da[ok] - db[ok]))
        assert worst <= 1e-6, f"{what}: distance differs by {worst} m"


def check(alloc: Allocator, x, y, what: str = "") -> PointResult:
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    fast = alloc.locate(x, y)
    ex = alloc.exact(x, y)
    assert_same(fast, ex, what)
    return ex


# --------------------------------------------------------------------------------------------------
# synthetic catchments
# --------------------------------------------------------------------------------------------------
# 3 x 3 grid of 1 km squares, origin (300000, 600000). Square (i, j) has lower-left corner
# (X0 + 1000 i, Y0 + 1000 j). Teams: 0 = column 0, 1 = column 1 except the centre, 2 = column 2;
# the centre square (1, 1) is a catchment of no team. The council outline is 1.5 km larger all
# round, so there is a gap between the squares and the outline.
X0, Y0 = 300_000.0, 600_000.0
TEAM_OF = {(0, 0): 0, (0, 1): 0, (0, 2): 0, (1, 0): 1, (1, 2): 1, (2, 0): 2, (2, 1): 2, (2, 2): 2}


def square(i, j, size=1000.0):
    return shapely.box(X0 + i * size, Y0 + j * size, X0 + (i + 1) * size, Y0 + (j + 1) * size)


def synthetic(cell=200.0, sub=16, overrides=(), rotate=0.0, extra=()):
    cats, teams = [], []
    for (i, j), t in sorted(TEAM_OF.items(), key=lambda kv: (kv[1], kv[0])):
        cats.append(square(i, j))
        teams.append(t)
    for g, t in extra:  # more catchments (e.g. overlapping), before the unassigned one
        cats.append(g)
        teams.append(t)
    cats.append(square(1, 1))
    teams.append(-1)
    outline = shapely.box(X0 - 1500, Y0 - 1500, X0 + 4500, Y0 + 4500)
    if rotate:
        cats = [affinity.rotate(g, rotate, origin=(X0, Y0)) for g in cats]
        outline = affinity.rotate(outline, rotate, origin=(X0, Y0))
    council = shapely.union_all([*cats, outline])
    return Allocator(
        catchments=cats, catchment_team=teams, n_teams=3, council_area=council,
        overrides=list(overrides), near_m=100.0, cell=cell, sub=sub,
    )


GRIDS = [(200.0, 16), (100.0, 8), (250.0, 4), (1000.0, 2), (137.0, 5)]


@pytest.fixture(scope="module", params=GRIDS, ids=lambda p: f"cell{p[0]:g}-sub{p[1]}")
def alloc(request):
    cell, sub = request.param
    return synthetic(cell, sub)


def test_random_points(alloc):
    rng = np.random.default_rng(1)
    n = 200_000
    x = rng.uniform(X0 - 2500, X0 + 5500, n)
    y = rng.uniform(Y0 - 2500, Y0 + 5500, n)
    ex = check(alloc, x, y, "random")
    # every kind of answer occurs
    assert {ALLOCATED, NEAREST, OUTSIDE} <= set(np.unique(ex.status).tolist())
    assert ex.near.any() and (~ex.near).any()


def test_edges_vertices_corners(alloc):
    rng = np.random.default_rng(2)
    lines = np.arange(-1, 5) * 1000.0  # square edges at 0..3 km, plus lines through the gap
    t = rng.uniform(-1600, 4600, 2000)
    xs = [np.repeat(X0 + lines, t.size), X0 + np.tile(t, lines.size)]
    ys = [Y0 + np.tile(t, lines.size), np.repeat(Y0 + lines, t.size)]
    # vertices of the squares and of the council outline
    gx, gy = np.meshgrid(np.arange(0, 4) * 1000.0, np.arange(0, 4) * 1000.0)
    xs += [X0 + gx.ravel(), X0 + np.array([-1500.0, -1500, 4500, 4500])]
    ys += [Y0 + gy.ravel(), Y0 + np.array([-1500.0, 4500, -1500, 4500])]
    check(alloc, np.concatenate(xs), np.concatenate(ys), "edges")


def test_exactly_near_m_from_boundary(alloc):
    # points exactly 100 m (and 100 m +- tiny) from team boundaries, inside teams and in the gap
    offs = np.array([100.0, np.nextafter(100.0, 0), np.nextafter(100.0, 200), 99.999999, 100.000001])
    ys = Y0 + np.linspace(50, 2950, 59)
    x, y = [], []
    for edge in (0.0, 1000.0, 2000.0, 3000.0):
        for o in offs:
            for sgn in (-1, 1):
                x.append(np.full(ys.size, X0 + edge + sgn * o))
                y.append(ys)
    # diagonally off the outer corners (distance to the corner vertex) and along the outer edges
    for cx, cy, dx, dy in ((0, 0, -1, -1), (3000, 3000, 1, 1), (0, 3000, -1, 1), (3000, 0, 1, -1)):
        for o in offs:
            x.append(np.array([X0 + cx + dx * o / np.sqrt(2), X0 + cx + dx * o]))
            y.append(np.array([Y0 + cy + dy * o / np.sqrt(2), Y0 + cy]))
    ex = check(alloc, np.concatenate(x), np.concatenate(y), "100 m")
    gap = ex.status == NEAREST
    assert gap.any() and (ex.distance[gap] == 100.0).any()


def test_gap_ties_between_teams(alloc):
    # below the squares' shared corner (1000, 0): teams 0 and 1 are equidistant
    d = np.linspace(1, 1400, 300)
    x = np.concatenate([np.full(d.size, X0 + 1000.0), np.full(d.size, X0 + 2000.0), X0 + 1000 - d])
    y = np.concatenate([Y0 - d, Y0 + 3000 + d, Y0 - d])
    ex = check(alloc, x, y, "ties")
    assert (ex.status == NEAREST).all()


def test_unassigned_catchment_is_gap(alloc):
    x = X0 + np.array([1500.0, 1000.5, 1001.0, 1100.0, 1999.0])
    y = Y0 + np.array([1500.0, 1500.0, 1500.0, 1500.0, 1999.0])
    ex = check(alloc, x, y, "unassigned")
    assert (ex.status == NEAREST).all()
    assert (ex.catchment[x > X0 + 1000.0] == 8).all()


def test_outside_and_odd_input(alloc):
    x = np.array([0.0, 1e7, -1e7, X0 - 1e5, np.nan, X0 + 500, np.inf, -np.inf, X0 + 500])
    y = np.array([0.0, 1e7, Y0, Y0, Y0, np.nan, Y0, Y0, Y0 + 500])
    ex = check(alloc, x, y, "odd")
    assert (ex.status[:8] == OUTSIDE).all()
    assert ex.status[8] == ALLOCATED
    check(alloc, np.empty(0), np.empty(0), "empty")


def test_rotated_geometry():
    # edges at an angle: points on edges are then not exactly representable
    a = synthetic(200.0, 16, rotate=17.0)
    rng = np.random.default_rng(3)
    n = 200_000
    x = rng.uniform(X0 - 3500, X0 + 5500, n)
    y = rng.uniform(Y0 - 2500, Y0 + 6500, n)
    check(a, x, y, "rotated random")
    rings = shapely.get_exterior_ring(np.array(a.catchments + [a.council_area], dtype=object))
    pts = [shapely.line_interpolate_point(r, np.linspace(0, 1, 2001), normalized=True) for r in rings]
    c = shapely.get_coordinates(np.concatenate(pts))
    verts = shapely.get_coordinates(np.array(a.catchments, dtype=object))
    c = np.vstack([c, verts, verts + [100.0, 0.0], verts - [0.0, 100.0]])
    check(a, c[:, 0], c[:, 1], "rotated edges")


def test_overlapping_catchments_and_overrides():
    # a catchment of team 2 overlapping team 0's squares; an override polygon across three areas
    extra = [(shapely.box(X0 + 500, Y0 + 500, X0 + 1500, Y0 + 1200), 2)]
    ov = shapely.Polygon([(X0 + 2500, Y0 - 800), (X0 + 3300, Y0 + 400), (X0 + 2600, Y0 + 900)])
    a = synthetic(200.0, 16, overrides=[(ov, 0)], extra=extra)
    rng = np.random.default_rng(4)
    n = 200_000
    x = rng.uniform(X0 - 2000, X0 + 5000, n)
    y = rng.uniform(Y0 - 2000, Y0 + 5000, n)
    ex = check(a, x, y, "overrides")
    assert (ex.method == M_OVERRIDE).any()
    v = shapely.get_coordinates(ov)
    check(a, v[:, 0], v[:, 1], "override vertices")


def test_grid_round_trips_through_the_cache_and_is_reused(tmp_path):
    from heart_geo import _cache

    a = synthetic(200.0, 16)
    _cache.save(tmp_path / "g.hgc", {"grid": a.grid, "origin": a.origin}, digest="d")
    back = _cache.load(tmp_path / "g.hgc", "d")
    grid, origin = back["grid"], back["origin"]
    b = Allocator(
        catchments=a.catchments, catchment_team=a.catchment_team, n_teams=3,
        council_area=a.council_area, near_m=100.0, grid=grid, origin=origin,
    )
    assert b.grid is grid  # reused, not rebuilt
    rng = np.random.default_rng(5)
    x = rng.uniform(X0 - 2000, X0 + 5000, 50_000)
    y = rng.uniform(Y0 - 2000, Y0 + 5000, 50_000)
    assert_same(b.locate(x, y), a.exact(x, y), "cached grid")
    # a grid that does not match the parameters (or an old format) is rebuilt
    c = Allocator(
        catchments=a.catchments, catchment_team=a.catchment_team, n_teams=3,
        council_area=a.council_area, near_m=50.0, grid=grid, origin=origin,
    )
    assert c.grid is not grid
    assert_same(c.locate(x, y), c.exact(x, y), "rebuilt grid")
    d = Allocator(
        catchments=a.catchments, catchment_team=a.catchment_team, n_teams=3,
        council_area=a.council_area, grid=np.zeros((3, 3), np.int32), origin=(0.0, 0.0),
    )
    assert isinstance(d.grid, Grid)  # a built grid replaced the wrong one


def test_no_team_polygons():
    # every catchment unassigned: gap points have no team (exact path semantics)
    a = Allocator(
        catchments=[square(0, 0)], catchment_team=[-1], n_teams=1,
        council_area=shapely.box(X0 - 500, Y0 - 500, X0 + 1500, Y0 + 1500),
    )
    rng = np.random.default_rng(6)
    x = rng.uniform(X0 - 1000, X0 + 2000, 5000)
    y = rng.uniform(Y0 - 1000, Y0 + 2000, 5000)
    check(a, x, y, "no teams")


# --------------------------------------------------------------------------------------------------
# real data
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["east_ayrshire", "north_ayrshire"])
def profile(request, data_dir):
    """The real profiles, from the data folder (skipped without one: see the conftest's ``data_dir``)."""
    import heart_geo

    return heart_geo.load_profile(request.param, data_dir=data_dir)


@pytest.mark.realdata
class TestRealData:
    def test_random_points(self, profile):
        a = profile.allocator
        xmin, ymin, xmax, ymax = profile.team_areas.total_bounds
        rng = np.random.default_rng(7)
        n = 500_000
        x = rng.uniform(xmin - 2000, xmax + 2000, n)
        y = rng.uniform(ymin - 2000, ymax + 2000, n)
        ex = check(a, x, y, f"{profile.key} random")
        assert {ALLOCATED, NEAREST, OUTSIDE} <= set(np.unique(ex.status).tolist())

    def test_boundaries(self, profile):
        a = profile.allocator
        geoms = [*a.catchments, a.council_area, *a.team_polygons]
        verts = shapely.get_coordinates(np.array(geoms, dtype=object))
        rings = shapely.get_rings(shapely.get_parts(np.array(geoms, dtype=object)))
        along = shapely.get_coordinates(
            shapely.line_interpolate_point(
                np.repeat(rings, 50), np.tile(np.linspace(0, 1, 50), len(rings)), normalized=True
            )
        )
        c = np.vstack([verts, along])
        offs = [np.zeros(2), [100.0, 0.0], [-100.0, 0.0], [0.0, 100.0], [0.0, -100.0],
                [70.71067811865476, 70.71067811865476], [0.5, 0.5], [1e-9, 0.0]]
        c = np.vstack([c + o for o in offs])
        check(a, c[:, 0], c[:, 1], f"{profile.key} boundaries")

    def test_postcodes(self, profile):
        pc = profile.postcodes
        x = pc["easting"].to_numpy(float)
        y = pc["northing"].to_numpy(float)
        ok = ~(np.isnan(x) | np.isnan(y))
        check(profile.allocator, x[ok], y[ok], f"{profile.key} postcodes")

    def test_allocate_points_frame(self, profile):
        xmin, ymin, xmax, ymax = profile.team_areas.total_bounds
        rng = np.random.default_rng(8)
        x = rng.uniform(xmin, xmax, 20_000)
        y = rng.uniform(ymin, ymax, 20_000)
        fast = profile.allocate_points(x, y)
        ex = profile.allocate_points(x, y, exact=True)
        assert fast.equals(ex)


def test_locate_in_chunks(monkeypatch):
    import heart_geo.allocate as allocate_mod

    a = synthetic(200.0, 16)
    monkeypatch.setattr(allocate_mod, "_CHUNK", 997)
    rng = np.random.default_rng(9)
    x = rng.uniform(X0 - 2500, X0 + 5500, 20_000)
    y = rng.uniform(Y0 - 2500, Y0 + 5500, 20_000)
    check(a, x, y, "chunked")


# --------------------------------------------------------------------------------------------------
# the grid's candidate segments: found by groups of cells, the same arrays as by one query per cell
# --------------------------------------------------------------------------------------------------
def assert_same_grid(new: Grid, old: Grid) -> None:
    """Every field of two grids equal: numbers, and arrays by dtype and value."""
    for name, a in vars(new).items():
        b = getattr(old, name)
        for key, x, y in ([(f"{name}.{k}", v, getattr(b, k)) for k, v in vars(a).items()]
                          if name == "leaves" else [(name, a, b)]):
            if isinstance(x, np.ndarray):
                assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), key
            else:
                assert x == y, key


def grid_both_ways(a: Allocator, monkeypatch) -> tuple[Grid, Grid]:
    """The grid of ``a`` built as now, and built with one GEOS query per cell (the reference)."""
    import heart_geo.allocate as allocate_mod
    from heart_geo import _segments

    new, origin = a._build_grid()
    with monkeypatch.context() as m:
        m.setattr(allocate_mod, "_gap_candidates", _segments._gap_candidates_by_queries)
        old, old_origin = a._build_grid()
    assert origin == old_origin
    return new, old


@pytest.mark.parametrize("rotate", [0.0, 17.0])
def test_grid_arrays_equal_the_reference(alloc, monkeypatch, rotate):
    a = alloc if not rotate else synthetic(alloc.cell, alloc.sub, rotate=rotate)
    new, old = grid_both_ways(a, monkeypatch)
    assert new.gap_seg.size > 0  # the gaps have candidates: the comparison covers them
    assert_same_grid(new, old)


def test_testshire_grid_arrays_equal_the_reference(testshire, monkeypatch):
    new, old = grid_both_ways(testshire.allocator, monkeypatch)
    assert new.gap_seg.size > 0
    assert_same_grid(new, old)


@pytest.mark.parametrize("group", [1.0, 20.0, 50.0, 333.0])
@pytest.mark.parametrize("pairs", [7, 1000, 4_000_000])
def test_gap_candidates_equal_the_reference_for_any_grouping(monkeypatch, group, pairs):
    """Groups of any size, worked in pieces of any size: the arrays of one query per cell."""
    from heart_geo import _segments

    a = synthetic(200.0, 16, rotate=17.0)
    seg, _owner = a._team_segments()
    rng = np.random.default_rng(11)
    x = rng.uniform(X0 - 2500, X0 + 5500, 3000)
    y = rng.uniform(Y0 - 2500, Y0 + 5500, 3000)
    monkeypatch.setattr(_segments, "_GROUP_M", group)
    monkeypatch.setattr(_segments, "_PAIRS", pairs)
    for reach in (0.0, 9.84, 142.4):
        new = _segments._gap_candidates(seg, x, y, reach)
        old = _segments._gap_candidates_by_queries(seg, x, y, reach)
        assert new[0].dtype == old[0].dtype and np.array_equal(new[0], old[0])
        assert new[1].dtype == old[1].dtype and np.array_equal(new[1], old[1])
    assert _segments._gap_candidates(seg, x[:0], y[:0], 5.0)[0].tolist() == [0]
    assert _segments._gap_candidates(seg[:0], x[:3], y[:3], 5.0)[0].tolist() == [0, 0, 0, 0]


@pytest.mark.realdata
def test_real_grid_arrays_equal_the_reference(profile, monkeypatch):
    new, old = grid_both_ways(profile.allocator, monkeypatch)
    assert new.gap_seg.size > 1000
    assert_same_grid(new, old)
