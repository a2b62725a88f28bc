"""Distances from grid cells to boundary segments, for building the grid in :mod:`heart_geo.allocate`.

Rasterised minimum distances (:func:`_raster_min`) and, for the cells of gaps, every segment that can
be nearest to a point of the cell (:func:`_gap_candidates`). Point-to-segment distances are computed
as GEOS computes them (``Distance::pointToSegment``), so the numbers are GEOS's to the last bit.
"""

from __future__ import annotations

import numpy as np
import shapely

__all__: list[str] = []

_MARGIN = 1.0  # metres added to every reach (cell index rounding, buffer arithmetic)
#: Cells are grouped in squares of this many metres to find their candidate segments together.
_GROUP_M = 50.0
#: Point-segment pairs measured at once while candidates are found (bounds the temporary arrays).
_PAIRS = 4_000_000


def _ring_segments(geoms) -> np.ndarray:
    """All segments of all rings of the (multi)polygons, (n, 4): ax, ay, bx, by."""
    out = [np.empty((0, 4))]
    for geom in geoms:
        if geom is None or geom.is_empty:
            continue
        for ring in shapely.get_rings(shapely.get_parts(geom)):
            c = shapely.get_coordinates(ring)
            if len(c) > 1:
                out.append(np.hstack([c[:-1], c[1:]]))
    return np.concatenate(out)


def _ranges(start: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Concatenation of arange(start[i], start[i] + count[i])."""
    count = np.asarray(count, np.int64)
    total = int(count.sum())
    if total == 0:
        return np.empty(0, np.int64)
    off = np.cumsum(count) - count
    return np.arange(total, dtype=np.int64) + np.repeat(np.asarray(start, np.int64) - off, count)


def _point_segment_distance(px, py, ax, ay, bx, by) -> np.ndarray:
    """Distance from points to segments, computed as GEOS does (``Distance::pointToSegment``)."""
    dx = bx - ax
    dy = by - ay
    len2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        r = ((px - ax) * dx + (py - ay) * dy) / len2
        s = ((ay - py) * dx - (ax - px) * dy) / len2
        d = np.abs(s) * np.sqrt(len2)
    da = np.sqrt((px - ax) ** 2 + (py - ay) ** 2)
    db = np.sqrt((px - bx) ** 2 + (py - by) ** 2)
    d = np.where(r >= 1.0, db, d)
    return np.where((r <= 0.0) | (len2 == 0), da, d)


def _split_long(seg: np.ndarray, max_len: float) -> np.ndarray:
    """Split segments longer than max_len (for rasterising; distances are unchanged)."""
    length = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
    k = np.maximum(np.ceil(length / max_len), 1).astype(np.int64)
    if (k == 1).all():
        return seg
    rep = np.repeat(np.arange(len(seg)), k)
    j = _ranges(np.zeros(len(seg), np.int64), k)
    t0 = j / k[rep]
    t1 = (j + 1) / k[rep]
    s = seg[rep]
    out = np.empty_like(s)
    out[:, 0] = s[:, 0] + (s[:, 2] - s[:, 0]) * t0
    out[:, 1] = s[:, 1] + (s[:, 3] - s[:, 1]) * t0
    out[:, 2] = s[:, 0] + (s[:, 2] - s[:, 0]) * t1
    out[:, 3] = s[:, 1] + (s[:, 3] - s[:, 1]) * t1
    return out


def _block_slots(block_of: np.ndarray, wanted: np.ndarray, nx: int, sub: int):
    """Return a function mapping fine cell indices (i, j) to positions in the fine array (-1: not wanted)."""
    bo = np.where(block_of >= 0, block_of, -1)
    bo[bo >= 0] = np.where(wanted[bo[bo >= 0]], bo[bo >= 0], -1)

    def slot(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        b = bo[(j // sub) * nx + i // sub]
        return np.where(b >= 0, b * sub * sub + (j % sub) * sub + i % sub, -1)

    return slot


def _raster_min(seg, radius, x0, y0, cs, nx, ny, slot, size, chunk=2_000_000) -> np.ndarray:
    """Distance from each cell centre to the nearest segment, for cells within radius (else inf).

    ``slot(i, j)`` maps cell column/row to an index into the output (-1: skip); None means the
    row-major index ``j * nx + i``.
    """
    out = np.full(size, np.inf)
    if len(seg) == 0 or size == 0:
        return out
    seg = _split_long(seg, max(2 * radius, 4 * cs))
    lo_x = np.minimum(seg[:, 0], seg[:, 2]) - radius
    hi_x = np.maximum(seg[:, 0], seg[:, 2]) + radius
    lo_y = np.minimum(seg[:, 1], seg[:, 3]) - radius
    hi_y = np.maximum(seg[:, 1], seg[:, 3]) + radius
    i0 = np.clip(np.ceil((lo_x - x0) / cs - 0.5) - 1, 0, nx).astype(np.int64)
    i1 = np.clip(np.floor((hi_x - x0) / cs - 0.5) + 1, -1, nx - 1).astype(np.int64)
    j0 = np.clip(np.ceil((lo_y - y0) / cs - 0.5) - 1, 0, ny).astype(np.int64)
    j1 = np.clip(np.floor((hi_y - y0) / cs - 0.5) + 1, -1, ny - 1).astype(np.int64)
    w = np.maximum(i1 - i0 + 1, 0)
    h = np.maximum(j1 - j0 + 1, 0)
    cnt = w * h
    cum = np.cumsum(cnt)
    a = 0
    while a < len(seg):
        b = int(np.searchsorted(cum, (cum[a - 1] if a else 0) + chunk, side="right"))
        b = max(b, a + 1)
        sl = slice(a, b)
        k = _ranges(np.zeros(b - a, np.int64), cnt[sl])
        rep = np.repeat(np.arange(a, b), cnt[sl])
        ww = w[rep]
        i = i0[rep] + k % ww
        j = j0[rep] + k // ww
        idx = j * nx + i if slot is None else slot(i, j)
        keep = idx >= 0
        if not keep.all():
            idx, i, j, rep = idx[keep], i[keep], j[keep], rep[keep]
        s = seg[rep]
        d = _point_segment_distance(x0 + (i + 0.5) * cs, y0 + (j + 0.5) * cs, s[:, 0], s[:, 1], s[:, 2], s[:, 3])
        near = d <= radius
        np.minimum.at(out, idx[near], d[near])
        a = b
    return out


def _gap_candidates(seg: np.ndarray, cx: np.ndarray, cy: np.ndarray, reach: float):
    """For cells (centre, reach) every segment that can be nearest to a point of the cell: CSR.

    For p within reach of c, the segment nearest p is within d(c) + 2 reach of c, where d(c) is the
    distance from c to its nearest segment. Returns ``(ptr, seg)``: cell i's candidates are
    ``seg[ptr[i]:ptr[i + 1]]``, in increasing order.

    The same arrays as one GEOS nearest query and one ``dwithin`` query per cell
    (:func:`_gap_candidates_by_queries`), found faster: the cells are grouped in squares of
    ``_GROUP_M``; GEOS answers for each group's centre r (group radius R) only, giving every segment
    within d(r) + 2 R + 2 reach of it, which holds both the nearest segment of every cell of the group
    (within d(c) <= d(r) + R of c) and every candidate (within d(c) + 2 reach of c). Each cell's
    distance to those segments is then computed as GEOS computes it, and its minimum and candidates
    taken from them.
    """
    n = cx.size
    if n == 0 or len(seg) == 0:
        return np.zeros(n + 1, np.int64), np.empty(0, np.int64)
    gx = np.floor(cx / _GROUP_M).astype(np.int64)
    gy = np.floor(cy / _GROUP_M).astype(np.int64)
    order = np.lexsort((gy, gx))  # cells of a group together
    gx, gy, px, py = gx[order], gy[order], cx[order], cy[order]
    starts = np.flatnonzero(np.r_[True, (gx[1:] != gx[:-1]) | (gy[1:] != gy[:-1])])
    gid = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, n]))
    rx = (np.minimum.reduceat(px, starts) + np.maximum.reduceat(px, starts)) / 2
    ry = (np.minimum.reduceat(py, starts) + np.maximum.reduceat(py, starts)) / 2
    radius = np.maximum.reduceat(np.hypot(px - rx[gid], py - ry[gid]), starts)
    tree = _segment_tree(seg)
    centres = shapely.points(rx, ry)
    (qi, _), dist = tree.query_nearest(centres, return_distance=True, all_matches=False)
    dr = np.empty(starts.size)
    dr[qi] = dist
    bound = (dr + 2 * radius + 2 * reach + 2 * _MARGIN) * (1 + 1e-9) + 1e-6  # rounding: never too tight
    gq, gs = tree.query(centres, predicate="dwithin", distance=bound)
    o = np.lexsort((gs, gq))
    gq, gs = gq[o], gs[o]
    gptr = np.zeros(starts.size + 1, np.int64)
    np.cumsum(np.bincount(gq, minlength=starts.size), out=gptr[1:])
    per = np.diff(gptr)[gid]  # pairs per cell, cells in group order
    cum = np.cumsum(per)
    keep_parts, count = [], np.zeros(n, np.int64)
    a = 0
    while a < n:  # in pieces of about _PAIRS pairs
        b = max(int(np.searchsorted(cum, (cum[a - 1] if a else 0) + _PAIRS, side="right")), a + 1)
        pl = per[a:b]
        rep = np.repeat(np.arange(b - a), pl)
        s = gs[_ranges(gptr[gid[a:b]], pl)]
        sg = seg[s]
        d = _point_segment_distance(px[a:b][rep], py[a:b][rep], sg[:, 0], sg[:, 1], sg[:, 2], sg[:, 3])
        dmin = np.full(b - a, np.inf)
        some = pl > 0
        dmin[some] = np.minimum.reduceat(d, (np.cumsum(pl) - pl)[some])
        keep = d <= (dmin + 2 * reach + _MARGIN)[rep]  # as dwithin(c, dmin + 2 reach + margin)
        keep_parts.append(s[keep])
        count[a:b] = np.bincount(rep[keep], minlength=b - a)
        a = b
    kept = np.concatenate(keep_parts)
    start_sorted = np.cumsum(count) - count
    back = np.empty(n, np.int64)
    back[order] = np.arange(n)  # the caller's cell i is cell back[i] in group order
    cnt = count[back]
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(cnt, out=ptr[1:])
    return ptr, kept[_ranges(start_sorted[back], cnt)].astype(np.int64)


def _gap_candidates_by_queries(seg: np.ndarray, cx: np.ndarray, cy: np.ndarray, reach: float):
    """Return what :func:`_gap_candidates` returns, by one GEOS nearest and one ``dwithin`` query per cell.

    The reference the tests compare it with (it was the grid's own until issue 23). For p within
    reach of c, the segment nearest p is within d(c) + 2 reach of c.
    """
    if cx.size == 0 or len(seg) == 0:
        return np.zeros(cx.size + 1, np.int64), np.empty(0, np.int64)
    tree = _segment_tree(seg)
    pts = shapely.points(cx, cy)
    (qi, _), dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    dc = np.empty(cx.size)
    dc[qi] = dist
    qi, ti = tree.query(pts, predicate="dwithin", distance=dc + 2 * reach + _MARGIN)
    order = np.lexsort((ti, qi))
    qi, ti = qi[order], ti[order]
    ptr = np.zeros(cx.size + 1, np.int64)
    np.cumsum(np.bincount(qi, minlength=cx.size), out=ptr[1:])
    return ptr, ti.astype(np.int64)


def _segment_tree(seg: np.ndarray) -> shapely.STRtree:
    return shapely.STRtree(shapely.linestrings(seg.reshape(-1, 2, 2)))
