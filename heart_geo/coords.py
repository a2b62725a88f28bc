"""Points as callers give them: checked, and turned into British National Grid coordinates.

:func:`_to_bng` gives each point a verdict (ok, missing, or invalid with the reason: not a number,
outside Great Britain, latitude and longitude swapped, degrees given as metres); :func:`_xy_input`
takes arrays or a GeoSeries/GeoDataFrame of points; :func:`_finish` gives an answer frame the
caller's index and, if asked, point geometry. Used by :class:`heart_geo.profiles.Profile`.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._crs import transformer
from .errors import CRSMismatchError, InputError
from .query import OUTSIDE_GB, SWAPPED
from .settings import BNG_BOUNDS, CRS, GB_LAT, GB_LON

__all__: list[str] = []


def _to_bng(x, y, crs: str):
    """Coordinates to EPSG:27700 with a per-point verdict: 0 ok, 1 missing, 2 invalid (+detail)."""
    def blank(s: pd.Series) -> np.ndarray:  # nothing given: None, NaN, "" or spaces
        return (s.isna() | s.map(lambda v: isinstance(v, str) and not v.strip())).to_numpy(dtype=bool)

    xn, yn = np.asarray(x), np.asarray(y)
    numeric = (xn.ndim == 1 and yn.ndim == 1 and np.issubdtype(xn.dtype, np.number)
               and np.issubdtype(yn.dtype, np.number))
    if numeric:  # the bulk path: numbers already, NaN means missing
        xa, ya = xn.astype(float, copy=False), yn.astype(float, copy=False)
    else:
        try:
            xs, ys = pd.Series(x, dtype=object), pd.Series(y, dtype=object)
            xa = np.asarray(pd.to_numeric(xs, errors="coerce"), dtype=float)
            ya = np.asarray(pd.to_numeric(ys, errors="coerce"), dtype=float)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"coordinates must be one-dimensional lists of numbers ({type(exc).__name__})"
            ) from None
    if xa.shape != ya.shape:
        raise InputError(f"x and y differ in length: {xa.size} and {ya.size}")
    n = xa.size
    bad = np.zeros(n, np.int8)
    detail = np.full(n, "", dtype=object)
    miss = np.isnan(xa) | np.isnan(ya)
    given = np.zeros(n, bool) if numeric else (~blank(xs) & ~blank(ys))
    bad[miss] = np.where(given[miss], 2, 1)
    detail[miss] = np.where(given[miss], "coordinate is not a number", "coordinate missing")
    crs_norm = str(crs).upper()
    if crs_norm in ("EPSG:4326", "WGS84", "OGC:CRS84"):
        lon, lat = xa, ya
        okrange = (lat >= GB_LAT[0]) & (lat <= GB_LAT[1]) & (lon >= GB_LON[0]) & (lon <= GB_LON[1])
        swapped = (lon >= GB_LAT[0]) & (lon <= GB_LAT[1]) & (lat >= GB_LON[0]) & (lat <= GB_LON[1])
        b = ~miss & ~okrange
        bad[b] = 2
        detail[b] = OUTSIDE_GB
        detail[b & swapped] = SWAPPED
        tr = transformer("EPSG:4326", CRS)
        xe, ye = tr.transform(np.where(bad == 0, lon, 0.0), np.where(bad == 0, lat, 0.0))
        return np.asarray(xe), np.asarray(ye), bad, detail
    if crs_norm != CRS:
        tr = transformer(crs, CRS)
        xa, ya = (np.asarray(v) for v in tr.transform(xa, ya))
    xmin, ymin, xmax, ymax = BNG_BOUNDS
    inr = (xa >= xmin) & (xa <= xmax) & (ya >= ymin) & (ya <= ymax)
    b = ~miss & ~inr
    bad[b] = 2
    detail[b] = (
        f"easting/northing outside the British National Grid (expected easting {xmin:.0f}..{xmax:.0f}"
        f", northing {ymin:.0f}..{ymax:.0f} metres)"
    )
    deg = ~miss & (np.abs(xa) <= 180) & (np.abs(ya) <= 180)
    bad[deg] = 2
    detail[deg] = "values look like degrees, not metres: pass crs='EPSG:4326' for latitude/longitude"
    return xa, ya, bad, detail


def _xy_input(x, y, crs):
    """``(x, y, crs)`` from arrays, or from a GeoSeries/GeoDataFrame of points (its CRS used)."""
    if isinstance(x, gpd.GeoDataFrame | gpd.GeoSeries):
        if y is not None:
            raise InputError("give a GeoSeries/GeoDataFrame alone, without y")
        geo = x.geometry
        if geo.crs is not None and crs is not None and _crs_differs(geo.crs, crs):
            raise CRSMismatchError(f"crs={crs!r} given, but the geometries are in {geo.crs.to_string()}")
        kinds = geo.geom_type.dropna().unique()
        if len(set(kinds) - {"Point"}):
            raise InputError(f"allocate_points takes points, got {sorted(kinds)}: pass "
                             "geometry.representative_point() for areas or lines")
        empty = geo.isna().to_numpy() | geo.is_empty.to_numpy()
        xs = np.where(empty, np.nan, shapely.get_x(geo.to_numpy()))
        ys = np.where(empty, np.nan, shapely.get_y(geo.to_numpy()))
        return xs, ys, crs or (geo.crs.to_string() if geo.crs is not None else CRS)
    if y is None:
        raise InputError("allocate_points needs x and y, or a GeoSeries/GeoDataFrame of points")
    return x, y, crs or CRS


def _crs_differs(a, b) -> bool:
    from pyproj import CRS as PCRS

    return not PCRS.from_user_input(a).equals(PCRS.from_user_input(b))


def _finish(out: pd.DataFrame, source, geometry: bool) -> pd.DataFrame:
    """Return the caller's index (from a Series or frame) and, if asked, point geometry."""
    index = getattr(source, "index", None)
    if isinstance(source, pd.Series | pd.DataFrame) and len(index) == len(out):
        out.index = index
    if geometry:
        e, n = out["easting"].to_numpy(dtype=float), out["northing"].to_numpy(dtype=float)
        pts = np.where(np.isnan(e) | np.isnan(n), None, shapely.points(np.nan_to_num(e), np.nan_to_num(n)))
        return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(pts, index=out.index, crs=CRS), crs=CRS)
    return out
