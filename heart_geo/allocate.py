"""Point allocation: which catchment, which team, and how sure.

Two paths give identical answers:

* the **exact path** tests points against the prepared catchment polygons (``intersects_xy``),
  in profile order;
* the **grid path** (the default for batches) looks points up in a precomputed grid. A cell whose
  centre is further than ``near_m`` + half a cell diagonal from every boundary lies wholly in one
  catchment (or wholly outside the council) and answers at once; every other cell (near a boundary,
  in a gap, or touching an override polygon) falls back to the exact path.

Rules, documented in the README:

* A point **on** a catchment boundary is inside it (``intersects``, i.e. the boundary counts).
  A point on the boundary shared by two catchments belongs to the one listed first in the profile
  (team order, then school order); catchments that belong to no team come last.
* ``near_boundary`` is true when the point is within ``near_m`` metres of a team boundary.
* A point in the council but in no team catchment gets the nearest team and ``distance_m`` to it.

All coordinates are EPSG:27700 metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

__all__ = ["Allocator", "PointResult"]

# status codes (index into settings.STATUSES)
ALLOCATED, NEAREST, OUTSIDE = 0, 1, 2
INVALID_COORDS, MISSING = 6, 7
# method codes (index into settings.METHODS)
M_CATCHMENT, M_OVERRIDE, M_NEAREST, M_NONE = 0, 1, 2, 3

_GRID_MIXED = -1
_GRID_OUTSIDE = -2


@dataclass
class PointResult:
    """Arrays describing the allocation of n points (one entry per point)."""

    catchment: np.ndarray  # int32, index into the allocator's catchments, -1 none
    team: np.ndarray  # int32, index into teams, -1 none
    status: np.ndarray  # int8, index into settings.STATUSES
    method: np.ndarray  # int8, index into settings.METHODS
    distance: np.ndarray  # float64, metres to the nearest team where status is nearest_team
    near: np.ndarray  # bool, within near_m of a team boundary

    @classmethod
    def empty(cls, n: int) -> PointResult:
        return cls(
            catchment=np.full(n, -1, np.int32),
            team=np.full(n, -1, np.int32),
            status=np.full(n, OUTSIDE, np.int8),
            method=np.full(n, M_NONE, np.int8),
            distance=np.full(n, np.nan),
            near=np.zeros(n, bool),
        )

    def put(self, idx: np.ndarray, other: PointResult) -> None:
        for name in ("catchment", "team", "status", "method", "distance", "near"):
            getattr(self, name)[idx] = getattr(other, name)


@dataclass
class Allocator:
    """Allocate EPSG:27700 points to catchments and teams.

    Parameters
    ----------
    catchments : list of shapely polygons
        In priority order (team order, then school order; unassigned catchments last).
    catchment_team : sequence of int
        Team index of each catchment, -1 for a catchment that belongs to no team.
    n_teams : int
    council_area : shapely geometry
        Outline of the council: a point covered by it, or by any catchment, is inside the council.
    overrides : list of (polygon, team index)
        Polygon override rules; a point in one takes that team, method ``override``.
    near_m : float
        Distance that makes a point ``near_boundary``.
    cell : float
        Grid cell size in metres.
    """

    catchments: list
    catchment_team: np.ndarray
    n_teams: int
    council_area: shapely.Geometry
    overrides: list = field(default_factory=list)
    near_m: float = 100.0
    cell: float = 100.0
    grid: np.ndarray | None = None
    origin: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        self.catchment_team = np.asarray(self.catchment_team, dtype=np.int32)
        for g in self.catchments:
            shapely.prepare(g)
        shapely.prepare(self.council_area)
        for poly, _ in self.overrides:
            shapely.prepare(poly)
        teams = []
        for t in range(self.n_teams):
            parts = [g for g, k in zip(self.catchments, self.catchment_team, strict=True) if k == t]
            teams.append(shapely.union_all(parts) if parts else shapely.Polygon())
        self.team_polygons = teams
        self.team_boundary = shapely.union_all([shapely.boundary(t) for t in teams if not t.is_empty])
        shapely.prepare(self.team_boundary)
        self._segments = None
        if self.grid is None:
            self.grid, self.origin = self._build_grid()

    # ----------------------------------------------------------------------------------------------
    # exact path
    # ----------------------------------------------------------------------------------------------
    def exact(self, x: np.ndarray, y: np.ndarray) -> PointResult:
        """Allocate points with exact prepared-polygon tests (no grid)."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        n = len(x)
        res = PointResult.empty(n)
        cat = res.catchment
        for k, poly in enumerate(self.catchments):
            idx = np.flatnonzero(cat < 0)
            if idx.size == 0:
                break
            hit = shapely.intersects_xy(poly, x[idx], y[idx])
            cat[idx[hit]] = k
        has = cat >= 0
        res.team[has] = self.catchment_team[cat[has]]
        in_team = res.team >= 0
        res.status[in_team] = ALLOCATED
        res.method[in_team] = M_CATCHMENT
        if in_team.any():
            ti = np.flatnonzero(in_team)
            pts = shapely.points(x[ti], y[ti])
            res.near[ti] = shapely.dwithin(self.team_boundary, pts, self.near_m)
        # not in a team catchment: inside the council?
        rest = np.flatnonzero(~in_team)
        if rest.size:
            inside = (cat[rest] >= 0) | shapely.intersects_xy(self.council_area, x[rest], y[rest])
            gap = rest[inside]
            if gap.size:
                team, dist = self.nearest_team(x[gap], y[gap])
                res.team[gap] = team
                res.distance[gap] = dist
                res.status[gap] = NEAREST
                res.method[gap] = M_NEAREST
                res.near[gap] = dist <= self.near_m
        self._apply_overrides(x, y, res)
        return res

    def _apply_overrides(self, x, y, res: PointResult) -> None:
        for poly, team in self.overrides:
            hit = shapely.intersects_xy(poly, x, y)
            if hit.any():
                res.team[hit] = team
                res.status[hit] = ALLOCATED
                res.method[hit] = M_OVERRIDE
                res.distance[hit] = np.nan

    def nearest_team(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest team polygon and the distance to it (metres) for points outside every team."""
        if self._segments is None:
            segs, owner = [], []
            for t, poly in enumerate(self.team_polygons):
                for ring in shapely.get_rings(poly) if not poly.is_empty else []:
                    c = shapely.get_coordinates(ring)
                    segs.append(shapely.linestrings(np.stack([c[:-1], c[1:]], axis=1)))
                    owner.append(np.full(len(c) - 1, t, np.int32))
            self._segments = (shapely.STRtree(np.concatenate(segs)), np.concatenate(owner))
        tree, owner = self._segments
        pts = shapely.points(x, y)
        (qi, ti), dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
        team = np.full(len(x), -1, np.int32)
        d = np.full(len(x), np.nan)
        team[qi] = owner[ti]
        d[qi] = dist
        return team, d

    # ----------------------------------------------------------------------------------------------
    # grid path
    # ----------------------------------------------------------------------------------------------
    def _build_grid(self) -> tuple[np.ndarray, tuple[float, float]]:
        geoms = list(self.catchments) + [self.council_area] + [p for p, _ in self.overrides]
        xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
        pad = self.near_m + 2 * self.cell
        x0 = np.floor((xmin - pad) / self.cell) * self.cell
        y0 = np.floor((ymin - pad) / self.cell) * self.cell
        nx = int(np.ceil((xmax + pad - x0) / self.cell))
        ny = int(np.ceil((ymax + pad - y0) / self.cell))
        cx = x0 + (np.arange(nx) + 0.5) * self.cell
        cy = y0 + (np.arange(ny) + 0.5) * self.cell
        gx, gy = np.meshgrid(cx, cy)  # shape (ny, nx)
        gx, gy = gx.ravel(), gy.ravel()
        # every edge that can change an answer: catchments, council outline, overrides
        edges = shapely.union_all([shapely.boundary(g) for g in geoms if not g.is_empty])
        shapely.prepare(edges)
        reach = self.near_m + self.cell * np.sqrt(0.5) + 1.0  # +1 m for rounding
        mixed = shapely.dwithin(edges, shapely.points(gx, gy), reach)
        # override polygons always go through the exact path
        for poly, _ in self.overrides:
            mixed |= shapely.dwithin(poly, shapely.points(gx, gy), reach)
        grid = np.full(gx.size, _GRID_MIXED, np.int32)
        clear = np.flatnonzero(~mixed)
        r = self.exact(gx[clear], gy[clear])
        code = np.where(r.status == ALLOCATED, r.catchment, _GRID_MIXED)
        code = np.where(r.status == OUTSIDE, _GRID_OUTSIDE, code)
        grid[clear] = code
        return grid.reshape(ny, nx), (float(x0), float(y0))

    def locate(self, x: np.ndarray, y: np.ndarray) -> PointResult:
        """Allocate points through the grid, falling back to :meth:`exact` near boundaries."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        n = len(x)
        ny, nx = self.grid.shape
        x0, y0 = self.origin
        ix = np.floor((x - x0) * (1.0 / self.cell))
        iy = np.floor((y - y0) * (1.0 / self.cell))
        ingrid = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
        code = np.full(n, _GRID_OUTSIDE, np.int32)
        code[ingrid] = self.grid[iy[ingrid].astype(np.intp), ix[ingrid].astype(np.intp)]
        res = PointResult.empty(n)  # default: outside, method none
        inner = code >= 0
        ci = code[inner]
        res.catchment[inner] = ci
        res.team[inner] = self.catchment_team[ci]
        res.status[inner] = ALLOCATED
        res.method[inner] = M_CATCHMENT
        mixed = np.flatnonzero(code == _GRID_MIXED)
        if mixed.size:
            res.put(mixed, self.exact(x[mixed], y[mixed]))
        return res
