"""Point allocation: which catchment, which team, and how sure.

Two paths give identical answers:

* the **exact path** tests points against the prepared catchment polygons (``intersects_xy``),
  in profile order;
* the **grid path** (the default for batches) looks points up in a precomputed two-level grid.
  A coarse cell (``cell`` metres) that no edge comes within ``reach`` of (half the cell diagonal
  plus a metre) lies wholly in one catchment, in a gap or outside the council; if its centre is
  within ``near_m - reach`` of a team boundary every point in it is ``near_boundary``, if further
  than ``near_m + reach`` none is. Such a cell answers at once. Any other coarse cell points to a
  block of ``sub`` x ``sub`` fine cells classified the same way. A cell that is still ambiguous:

  - in one team catchment but straddling the ``near_m`` band: ``near_boundary`` by GEOS ``dwithin``;
  - in a gap (inside the council, no team catchment): nearest team from the cell's candidate
    segments (every team-boundary segment within ``d(centre) + 2 reach`` of the centre, which must
    include the nearest segment of any point in the cell), point-to-segment distances computed as
    GEOS does; ties between teams within 1e-6 m, or a distance within 1e-6 m of ``near_m``, are
    handed to :meth:`Allocator.nearest_team`, so the answer is the exact path's;
  - crossed by an edge: the exact path (with the cell's candidate segments where it touches a gap);
  - touching an override polygon (coarse cells only): the exact path.

  The grid is a :class:`Grid` of numpy arrays (kept by the profile's data-only cache with ``origin``).

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

from ._segments import (
    _MARGIN,
    _block_slots,
    _gap_candidates,
    _point_segment_distance,
    _ranges,
    _raster_min,
    _ring_segments,
    _segment_tree,
)
from .codes import (  # noqa: F401 - MISSING and INVALID_COORDS stay importable from here
    ALLOCATED,
    INVALID_COORDINATES,
    M_CATCHMENT,
    M_NEAREST,
    M_NONE,
    M_OVERRIDE,
    MISSING,
    NEAREST,
    OUTSIDE,
)

__all__ = ["Allocator", "Grid", "GridLeaves", "PointResult"]

# status and method codes: one home, heart_geo.codes (names kept importable from here)
INVALID_COORDS = INVALID_COORDINATES


@dataclass
class PointResult:
    """Arrays describing the allocation of n points (one entry per point)."""

    catchment: np.ndarray  # int32, index into the allocator's catchments, -1 none
    team: np.ndarray  # int32, index into teams, -1 none
    status: np.ndarray  # int8, index into codes.STATUSES
    method: np.ndarray  # int8, index into codes.METHODS
    distance: np.ndarray  # float64, metres to the nearest team where status is nearest_team
    near: np.ndarray  # bool, within near_m of a team boundary

    @classmethod
    def empty(cls, n: int) -> PointResult:
        """Return a result for ``n`` points, all outside (no catchment, no team)."""
        return cls(
            catchment=np.full(n, -1, np.int32),
            team=np.full(n, -1, np.int32),
            status=np.full(n, OUTSIDE, np.int8),
            method=np.full(n, M_NONE, np.int8),
            distance=np.full(n, np.nan),
            near=np.zeros(n, bool),
        )

    def put(self, idx: np.ndarray, other: PointResult) -> None:
        """Write ``other``'s results into the positions ``idx`` of this result, in place."""
        for name in ("catchment", "team", "status", "method", "distance", "near"):
            getattr(self, name)[idx] = getattr(other, name)


@dataclass
class GridLeaves:
    """What each leaf code of the grid answers (one entry per code; see the module docstring)."""

    catchment: np.ndarray  # int32
    team: np.ndarray  # int32
    status: np.ndarray  # int8, index into codes.STATUSES
    method: np.ndarray  # int8, index into codes.METHODS
    near: np.ndarray  # bool


@dataclass
class Grid:
    """The two-level lookup grid (see the module docstring): plain numbers and numpy arrays.

    ``coarse`` holds a leaf code per coarse cell (with a ring of outside cells round the grid) or
    ``-1 - block``; block ``b`` has ``block_sub[b]`` cells a side from ``fine[block_off[b]:]``.
    Leaf codes: 0 outside; ``1 + 2k + near`` catchment k; ``nc0 + k`` catchment k, ``near_boundary``
    per point; ``exact``; from ``gap0`` a gap cell (from ``exact0`` a cell on the exact path) whose
    candidate segments are ``gap_seg[gap_ptr[c]:gap_ptr[c + 1]]``, rows of ``seg`` owned by
    ``seg_team``. The first six fields say what it was built for.
    """

    format: int
    cell: float
    sub: int
    near_m: float
    n_catchments: int
    n_overrides: int
    shape: tuple[int, int]
    coarse: np.ndarray
    fine: np.ndarray
    block_sub: np.ndarray
    block_off: np.ndarray
    leaves: GridLeaves
    nc0: int
    exact: int
    gap0: int
    exact0: int
    gap_ptr: np.ndarray
    gap_seg: np.ndarray
    seg: np.ndarray
    seg_team: np.ndarray


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
        Coarse grid cell size in metres.
    grid, origin
        A grid built earlier by this class (``allocator.grid``, ``allocator.origin``), e.g. from a
        cache; built when None, and rebuilt when it does not match these parameters.
    sub : int
        Each ambiguous coarse cell is split into ``sub`` x ``sub`` fine cells.
    lazy_grid : bool
        Build the grid on the first :meth:`locate`, not at construction (for one-off exact use).
    """

    catchments: list
    catchment_team: np.ndarray
    n_teams: int
    council_area: shapely.Geometry
    overrides: list = field(default_factory=list)
    near_m: float = 100.0
    cell: float = 200.0
    grid: Grid | None = None
    origin: tuple[float, float] | None = None
    sub: int = 16
    lazy_grid: bool = False

    def __post_init__(self) -> None:
        """Prepare the geometries, derive the team polygons and boundary, and build the grid.

        The lookup grid is built unless ``lazy_grid`` is set or the given ``grid`` fits.
        """
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
        if not self.lazy_grid and not self._grid_ok():
            self.grid, self.origin = self._build_grid()

    # ----------------------------------------------------------------------------------------------
    # exact path
    # ----------------------------------------------------------------------------------------------
    def exact(self, x: np.ndarray, y: np.ndarray) -> PointResult:
        """Allocate points with exact prepared-polygon tests (no grid)."""
        return self._exact(x, y, None)

    def _exact(self, x, y, nearest) -> PointResult:
        """:meth:`exact`; ``nearest(i)`` (if given) replaces :meth:`nearest_team` for points i."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        n = len(x)
        res = PointResult.empty(n)
        cat = res.catchment = self._catchment_of(x, y)
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
                if nearest is None:
                    team, dist = self.nearest_team(x[gap], y[gap])
                else:
                    team, dist = nearest(gap)
                res.team[gap] = team
                res.distance[gap] = dist
                res.status[gap] = NEAREST
                res.method[gap] = M_NEAREST
                res.near[gap] = dist <= self.near_m
        self._apply_overrides(x, y, res)
        return res

    def _catchment_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Index of the first catchment (profile order) intersecting each point, -1 for none."""
        cat = np.full(len(x), -1, np.int32)
        for k, poly in enumerate(self.catchments):
            idx = np.flatnonzero(cat < 0)
            if idx.size == 0:
                break
            hit = shapely.intersects_xy(poly, x[idx], y[idx])
            cat[idx[hit]] = k
        return cat

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
            seg, owner = self._team_segments()
            self._segments = (_segment_tree(seg), owner)
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
    def _team_segments(self) -> tuple[np.ndarray, np.ndarray]:
        """Every segment of every team polygon ring, (n, 4) as ax, ay, bx, by, and its team."""
        segs, owner = [np.empty((0, 4))], [np.empty(0, np.int32)]
        for t, poly in enumerate(self.team_polygons):
            s = _ring_segments([poly])
            segs.append(s)
            owner.append(np.full(len(s), t, np.int32))
        return np.concatenate(segs), np.concatenate(owner)

    def _region(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Catchment index (first in order, as :meth:`exact`) and whether in the council."""
        cat = self._catchment_of(x, y)
        inside = cat >= 0
        rest = np.flatnonzero(~inside)
        if rest.size:
            inside[rest] = shapely.intersects_xy(self.council_area, x[rest], y[rest])
        return cat, inside

    def _grid_ok(self) -> bool:
        g = self.grid
        return (
            isinstance(g, Grid)
            and g.format == _GRID_FORMAT
            and g.cell == float(self.cell)
            and g.sub == int(self.sub)
            and g.near_m == float(self.near_m)
            and g.n_catchments == len(self.catchments)
            and g.n_overrides == len(self.overrides)
            and self.origin is not None
        )

    def _build_grid(self) -> tuple[Grid, tuple[float, float]]:
        """Build the two-level lookup grid (see the module docstring).

        In steps: frame, coarse level, fine level, leaf tables.
        """
        b = self._grid_frame()
        self._coarse_level(b)
        fine, block_sub, block_off = self._fine_level(b)
        grid = Grid(
            format=_GRID_FORMAT,
            cell=b.cs,
            sub=b.sub,
            near_m=b.near_m,
            n_catchments=b.ncat,
            n_overrides=len(self.overrides),
            shape=(b.ny, b.nx),
            coarse=_padded(b.coarse, b.ny, b.nx),
            fine=fine.astype(np.int32),
            block_sub=block_sub,
            block_off=block_off.astype(np.intp),
            leaves=_leaf_tables(b, self.catchment_team),
            nc0=b.nc0,
            exact=b.exact_code,
            gap0=b.gap0,
            exact0=b.gap0 + b.n_plain_gap,
            gap_ptr=b.gap_ptr(),
            gap_seg=(np.concatenate(b.gap_seg_parts) if b.gap_seg_parts else np.empty(0)).astype(np.int32),
            seg=b.tseg,
            seg_team=b.towner,
        )
        return grid, (b.x0, b.y0)

    def _grid_frame(self) -> _GridBuild:
        """Return the grid's extent, cell sizes, reaches, the edges that can change a region and the codes."""
        cs, sub = float(self.cell), int(self.sub)
        near_m = float(self.near_m)
        geoms = list(self.catchments) + [self.council_area] + [p for p, _ in self.overrides]
        xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
        pad = near_m + 2 * cs
        x0 = float(np.floor((xmin - pad) / cs) * cs)
        y0 = float(np.floor((ymin - pad) / cs) * cs)
        tseg, towner = self._team_segments()
        return _GridBuild(
            cs=cs, sub=sub, near_m=near_m, ncat=len(self.catchments), x0=x0, y0=y0,
            nx=int(np.ceil((xmax + pad - x0) / cs)), ny=int(np.ceil((ymax + pad - y0) / cs)),
            edges=_ring_segments(geoms),  # every edge that can change a region
            tseg=tseg, towner=towner,
        )

    def _coarse_level(self, b: _GridBuild) -> None:
        """Classify the coarse cells.

        Each is answered at once, a gap cell with its candidates, the exact path, or a block to
        refine (``coarse`` -1) or a gap block (-2).
        """
        n = b.nx * b.ny
        ccx = b.x0 + (np.arange(b.nx) + 0.5) * b.cs
        ccy = b.y0 + (np.arange(b.ny) + 0.5) * b.cs
        gx, gy = (a.ravel() for a in np.meshgrid(ccx, ccy))  # row-major (ny, nx)
        rc = b.rc
        amb = _raster_min(b.edges, rc, b.x0, b.y0, b.cs, b.nx, b.ny, None, n) <= rc
        dt = _raster_min(b.tseg, b.near_m + rc, b.x0, b.y0, b.cs, b.nx, b.ny, None, n)
        b.near = np.where(dt <= b.near_m - rc, 1, np.where(dt > b.near_m + rc, 0, -1)).astype(np.int8)
        forced = np.zeros(n, bool)  # cells touching an override polygon: exact path
        for poly, _ in self.overrides:
            forced |= shapely.dwithin(poly, shapely.points(gx, gy), rc + _MARGIN)
        b.cat = np.full(n, -1, np.int32)
        ins = np.zeros(n, bool)
        known = np.flatnonzero(~amb & ~forced)
        b.cat[known], ins[known] = self._region(gx[known], gy[known])
        b.kind = _kinds(b.cat, ins, self.catchment_team)
        b.kind[amb] = _K_UNKNOWN

        coarse = np.full(n, -1, np.int64)  # -1: refine to a block
        coarse[forced] = b.exact_code
        free = ~forced
        coarse[free & (b.kind == _K_OUTSIDE)] = 0
        direct = free & (b.kind == _K_TEAM) & (b.near >= 0)
        coarse[direct] = 1 + 2 * b.cat[direct] + b.near[direct]
        gap_cells = np.flatnonzero(free & (b.kind == _K_GAP))
        if not b.have_teams:
            coarse[gap_cells] = b.exact_code
            gap_cells = gap_cells[:0]
        # coarse gap cells whose candidate lists are short stay coarse; the rest are refined
        c_ptr, c_seg = _gap_candidates(b.tseg, gx[gap_cells], gy[gap_cells], rc)
        short = np.diff(c_ptr) <= _MAX_GAP_CANDIDATES
        keep = gap_cells[short]
        lens = np.diff(c_ptr)[short]
        coarse[keep] = b.add_gap_cells(c_seg[_ranges(c_ptr[:-1][short], lens)], lens, b.cat[keep])
        b.gap_blocks = gap_cells[~short]  # refined into gsub x gsub cells, all in the gap
        coarse[b.gap_blocks] = -2
        b.coarse = coarse

    def _fine_level(self, b: _GridBuild) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Refine the coarse blocks into sub x sub cells and the gap blocks into coarser gap cells.

        Returns ``(fine leaf codes, cells a side of each block, offset of each block in fine)``.
        """
        sub, nx = b.sub, b.nx
        blocks = np.flatnonzero(b.coarse == -1)
        nb = blocks.size
        block_of = np.full(nx * b.ny, -1, np.int64)
        block_of[blocks] = np.arange(nb)
        nfine = nb * sub * sub
        loc = np.arange(sub * sub)
        fi = ((blocks % nx)[:, None] * sub + loc[None, :] % sub).ravel()
        fj = ((blocks // nx)[:, None] * sub + loc[None, :] // sub).ravel()
        fx = b.x0 + (fi + 0.5) * b.fs
        fy = b.y0 + (fj + 0.5) * b.fs
        fcat, fkind = self._fine_regions(b, blocks, block_of, fx, fy)
        fnear = self._fine_near(b, blocks, block_of)
        fine = np.full(nfine, b.exact_code, np.int64)
        fine[fkind == _K_OUTSIDE] = 0
        t = fkind == _K_TEAM
        d = t & (fnear >= 0)
        fine[d] = 1 + 2 * fcat[d] + fnear[d]
        u = t & (fnear < 0)
        fine[u] = b.nc0 + fcat[u]
        fg = np.flatnonzero(fkind == _K_GAP)
        if b.have_teams and fg.size:
            f_ptr, f_seg = _gap_candidates(b.tseg, fx[fg], fy[fg], b.rf)
            fine[fg] = b.add_gap_cells(f_seg, np.diff(f_ptr), fcat[fg])
        gfine, gsub = self._gap_block_cells(b)
        b.n_plain_gap = b.n_gap
        self._exact_cells_near_gaps(b, fine, fx, fy)
        ng = b.gap_blocks.size
        b.coarse[blocks] = -1 - np.arange(nb)
        b.coarse[b.gap_blocks] = -1 - (nb + np.arange(ng))
        block_sub = np.concatenate([np.full(nb, sub), np.full(ng, gsub)]).astype(np.intp)
        block_off = np.concatenate([np.arange(nb) * sub * sub, nfine + np.arange(ng) * gsub * gsub])
        return np.concatenate([fine, gfine]), block_sub, block_off

    def _fine_regions(self, b: _GridBuild, blocks, block_of, fx, fy) -> tuple[np.ndarray, np.ndarray]:
        """Catchment and kind of each fine cell: from its own edge distances where the block was ambiguous."""
        per = b.sub * b.sub
        fcat = np.repeat(b.cat[blocks], per)
        fkind = np.repeat(b.kind[blocks], per)
        amb_b = b.kind[blocks] == _K_UNKNOWN
        slots = _block_slots(block_of, amb_b, b.nx, b.sub)
        famb = _raster_min(b.edges, b.rf, b.x0, b.y0, b.fs, b.nx * b.sub, b.ny * b.sub, slots, fcat.size) <= b.rf
        famb &= np.repeat(amb_b, per)
        todo = np.flatnonzero((fkind == _K_UNKNOWN) & ~famb)
        c2, i2 = self._region(fx[todo], fy[todo])
        fcat[todo] = c2
        fkind[todo] = _kinds(c2, i2, self.catchment_team)
        return fcat, fkind

    def _fine_near(self, b: _GridBuild, blocks, block_of) -> np.ndarray:
        """``near_boundary`` state of each fine cell (1, 0, or -1 undecided) where the block's was undecided."""
        per = b.sub * b.sub
        fnear = np.repeat(b.near[blocks], per)
        und_b = b.near[blocks] < 0
        if und_b.any():
            slots = _block_slots(block_of, und_b, b.nx, b.sub)
            fdt = _raster_min(b.tseg, b.near_m + b.rf, b.x0, b.y0, b.fs, b.nx * b.sub, b.ny * b.sub, slots,
                              fnear.size)
            st = np.where(fdt <= b.near_m - b.rf, 1, np.where(fdt > b.near_m + b.rf, 0, -1))
            und = np.repeat(und_b, per)
            fnear[und] = st[und]
        return fnear

    def _gap_block_cells(self, b: _GridBuild) -> tuple[np.ndarray, int]:
        """Gap blocks: coarser sub-cells, all gap, each with its candidate segments."""
        gsub = max(1, b.sub // _GAP_SUB_DIV)
        gs = b.cs / gsub
        gb = b.gap_blocks
        gloc = np.arange(gsub * gsub)
        gfx = b.x0 + ((gb % b.nx)[:, None] * gsub + gloc % gsub + 0.5).ravel() * gs
        gfy = b.y0 + ((gb // b.nx)[:, None] * gsub + gloc // gsub + 0.5).ravel() * gs
        g_ptr, g_seg = _gap_candidates(b.tseg, gfx, gfy, gs * np.sqrt(0.5) + _MARGIN)
        return b.add_gap_cells(g_seg, np.diff(g_ptr), np.repeat(b.cat[gb], gsub * gsub)), gsub

    def _exact_cells_near_gaps(self, b: _GridBuild, fine, fx, fy) -> None:
        """Fine cells on the exact path that may hold gap points also get candidate segments."""
        fe = np.flatnonzero(fine == b.exact_code)
        if not (b.have_teams and fe.size):
            return
        gap_area = shapely.difference(self.council_area, shapely.union_all(self.team_polygons))
        if gap_area.is_empty:
            return
        shapely.prepare(gap_area)
        fe = fe[shapely.dwithin(gap_area, shapely.points(fx[fe], fy[fe]), b.rf + _MARGIN)]
        f_ptr, f_seg = _gap_candidates(b.tseg, fx[fe], fy[fe], b.rf)
        fine[fe] = b.add_gap_cells(f_seg, np.diff(f_ptr), np.full(fe.size, -1, np.int32))

    def locate(self, x: np.ndarray, y: np.ndarray) -> PointResult:
        """Allocate points through the grid; same answers as :meth:`exact`, much faster in bulk."""
        x = np.ascontiguousarray(x, dtype=float)
        y = np.ascontiguousarray(y, dtype=float)
        if not self._grid_ok():  # a lazy allocator builds its grid on first use
            self.grid, self.origin = self._build_grid()
        n = len(x)
        if n > _CHUNK:  # in cache-sized pieces: faster, and temporaries stay small
            res = PointResult.empty(n)
            for s in range(0, n, _CHUNK):
                part = self._locate(x[s : s + _CHUNK], y[s : s + _CHUNK])
                for name in ("catchment", "team", "status", "method", "distance", "near"):
                    getattr(res, name)[s : s + _CHUNK] = getattr(part, name)
            return res
        return self._locate(x, y)

    def _locate(self, x: np.ndarray, y: np.ndarray) -> PointResult:
        n = len(x)
        g = self.grid
        ny, nx = g.shape
        cs = g.cell
        x0, y0 = self.origin
        inv = 1.0 / cs
        # cell coordinates + 1 (the grid has a ring of "outside" cells), clipped into the ring
        fx = x * inv
        fx += 1.0 - x0 * inv
        np.clip(fx, 0.0, nx + 1.0, out=fx)
        fy = y * inv
        fy += 1.0 - y0 * inv
        np.clip(fy, 0.0, ny + 1.0, out=fy)
        bad = np.flatnonzero(np.isnan(fx) | np.isnan(fy)) if np.isnan(fx.sum() + fy.sum()) else None
        if bad is not None:
            fx[bad] = 0.0
            fy[bad] = 0.0
        ix = fx.astype(np.intp)
        iy = fy.astype(np.intp)
        flat = iy * (nx + 2)
        flat += ix
        code = g.coarse.ravel().take(flat).astype(np.intp)
        del flat
        blk = np.flatnonzero(code < 0)
        if blk.size:
            b = -1 - code[blk]
            s = g.block_sub.take(b)
            lx = ((fx[blk] - ix[blk]) * s).astype(np.intp)
            ly = ((fy[blk] - iy[blk]) * s).astype(np.intp)
            s1 = s - 1
            np.minimum(lx, s1, out=lx)
            np.minimum(ly, s1, out=ly)
            ly *= s
            ly += lx
            ly += g.block_off.take(b)
            code[blk] = g.fine.take(ly)
        del fx, fy, ix, iy
        if bad is not None:
            code[bad] = 0  # NaN: outside, as exact() says
        leaf = g.leaves
        res = PointResult(
            catchment=leaf.catchment.take(code),
            team=leaf.team.take(code),
            status=leaf.status.take(code),
            method=leaf.method.take(code),
            distance=np.full(n, np.nan),
            near=leaf.near.take(code),
        )
        nc0, ex, gap0, ex0 = g.nc0, g.exact, g.gap0, g.exact0
        spec = np.flatnonzero(code >= nc0)
        if spec.size:
            sc = code[spec]
            nc = spec[sc < ex]
            if nc.size:
                res.near[nc] = shapely.dwithin(self.team_boundary, shapely.points(x[nc], y[nc]), self.near_m)
            gp = (sc >= gap0) & (sc < ex0)
            if gp.any():
                i, c = spec[gp], sc[gp] - gap0
                t, d = self._gap_nearest(x[i], y[i], c)
                res.team[i] = t
                res.distance[i] = d
                res.near[i] = d <= self.near_m
            xc = sc >= ex0
            if xc.any():  # exact path, with the cell's candidates for points in a gap
                i, c = spec[xc], sc[xc] - gap0
                xi, yi = x[i], y[i]
                res.put(i, self._exact(xi, yi, lambda k: self._gap_nearest(xi[k], yi[k], c[k])))
            xe = spec[sc == ex]
            if xe.size:
                res.put(xe, self.exact(x[xe], y[xe]))
        return res

    def _gap_nearest(self, x, y, cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`nearest_team` for points in gap cells, from the cells' candidate segments."""
        g = self.grid
        ptr = g.gap_ptr
        start = ptr[cell]
        cnt = ptr[cell + 1] - start
        off = np.cumsum(cnt) - cnt
        si = g.gap_seg[_ranges(start, cnt)]
        pi = np.repeat(np.arange(x.size), cnt)
        s = g.seg[si]
        d = _point_segment_distance(x[pi], y[pi], s[:, 0], s[:, 1], s[:, 2], s[:, 3])
        dmin = np.minimum.reduceat(d, off)
        own = g.seg_team[si]
        close = d <= np.repeat(dmin, cnt) + _TIE_M
        big = np.iinfo(np.int32).max
        tlo = np.minimum.reduceat(np.where(close, own, big), off)
        thi = np.maximum.reduceat(np.where(close, own, -1), off)
        # equidistant teams, or a distance at the near_boundary threshold: ask GEOS, as exact() does
        unsure = (tlo != thi) | (np.abs(dmin - self.near_m) <= _TIE_M)
        if unsure.any():
            u = np.flatnonzero(unsure)
            tlo[u], dmin[u] = self.nearest_team(x[u], y[u])
        return tlo.astype(np.int32), dmin


# --------------------------------------------------------------------------------------------------
# helpers for the grid
# --------------------------------------------------------------------------------------------------
_GRID_FORMAT = 3
_CHUNK = 1 << 18  # points per piece in locate()
_TIE_M = 1e-6  # distances closer than this are treated as ties and resolved by GEOS
_MAX_GAP_CANDIDATES = 24  # coarse gap cells with more candidate segments are refined
_GAP_SUB_DIV = 4  # gap blocks are split sub // 4 times each way (candidates are per cell)
_K_OUTSIDE, _K_TEAM, _K_GAP, _K_UNKNOWN = 0, 1, 2, 3


@dataclass
class _GridBuild:
    """Working state while a grid is built: its frame, the coarse level, the gap cells so far."""

    cs: float
    sub: int
    near_m: float
    ncat: int
    x0: float
    y0: float
    nx: int
    ny: int
    edges: np.ndarray
    tseg: np.ndarray
    towner: np.ndarray
    # the coarse level (set by Allocator._coarse_level)
    coarse: np.ndarray = None
    cat: np.ndarray = None
    kind: np.ndarray = None
    near: np.ndarray = None
    gap_blocks: np.ndarray = None
    # gap cells, in code order: candidate segments, their counts, catchments
    gap_seg_parts: list = field(default_factory=list)
    gap_len_parts: list = field(default_factory=list)
    gap_cat: list = field(default_factory=list)
    n_gap: int = 0
    n_plain_gap: int = 0

    @property
    def fs(self) -> float:  # fine cell size
        return self.cs / self.sub

    @property
    def rc(self) -> float:
        # reach: a point assigned to a cell is within reach of its centre (half diagonal, +1 m for
        # rounding of the cell index; every bound also adds a metre or more)
        return self.cs * np.sqrt(0.5) + _MARGIN

    @property
    def rf(self) -> float:
        return self.fs * np.sqrt(0.5) + _MARGIN

    @property
    def have_teams(self) -> bool:
        return len(self.tseg) > 0

    # leaf codes: 0 outside; 1 + 2k + near allocated to catchment k; NC0 + k catchment k with
    # near_boundary decided per point; EXACT; GAP0 + j gap cell j (nearest team per point)
    @property
    def nc0(self) -> int:
        return 1 + 2 * self.ncat

    @property
    def exact_code(self) -> int:
        return self.nc0 + self.ncat

    @property
    def gap0(self) -> int:
        return self.exact_code + 1

    def add_gap_cells(self, seg: np.ndarray, lens: np.ndarray, cat: np.ndarray) -> np.ndarray:
        """Record gap cells (their candidate segments, counts and catchments); return their leaf codes."""
        self.gap_seg_parts.append(seg)
        self.gap_len_parts.append(lens)
        self.gap_cat.append(cat)
        codes = self.gap0 + self.n_gap + np.arange(len(lens))
        self.n_gap += len(lens)
        return codes

    def gap_ptr(self) -> np.ndarray:
        ptr = np.zeros(self.n_gap + 1, np.int64)
        if self.gap_len_parts:
            np.cumsum(np.concatenate(self.gap_len_parts), out=ptr[1:])
        return ptr


def _padded(coarse: np.ndarray, ny: int, nx: int) -> np.ndarray:
    padded = np.zeros((ny + 2, nx + 2), np.int32)  # a ring of "outside" cells round the grid
    padded[1:-1, 1:-1] = coarse.reshape(ny, nx)
    return padded


def _leaf_tables(b: _GridBuild, catchment_team: np.ndarray) -> GridLeaves:
    """Return what each leaf code answers."""
    ncat, nc0, exact_code, gap0 = b.ncat, b.nc0, b.exact_code, b.gap0
    nleaf = gap0 + b.n_gap
    lcat = np.full(nleaf, -1, np.int32)
    lcat[1:nc0] = np.repeat(np.arange(ncat), 2)
    lcat[nc0:exact_code] = np.arange(ncat)
    lcat[gap0:] = np.concatenate(b.gap_cat) if b.gap_cat else np.empty(0, np.int32)
    lteam = np.full(nleaf, -1, np.int32)
    lteam[1:exact_code] = catchment_team[lcat[1:exact_code]]
    lstatus = np.full(nleaf, OUTSIDE, np.int8)
    lstatus[1:exact_code] = ALLOCATED
    lstatus[gap0:] = NEAREST
    lmethod = np.full(nleaf, M_NONE, np.int8)
    lmethod[1:exact_code] = M_CATCHMENT
    lmethod[gap0:] = M_NEAREST
    lnear = np.zeros(nleaf, bool)
    lnear[2:nc0:2] = True
    return GridLeaves(catchment=lcat, team=lteam, status=lstatus, method=lmethod, near=lnear)


def _kinds(cat: np.ndarray, inside: np.ndarray, catchment_team: np.ndarray) -> np.ndarray:
    team = np.where(cat >= 0, catchment_team[np.maximum(cat, 0)], -1)
    return np.where(team >= 0, _K_TEAM, np.where(inside, _K_GAP, _K_OUTSIDE)).astype(np.int8)
