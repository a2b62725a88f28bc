"""Coordinate transformers, built once per (source, target) CRS pair.

Building a :class:`pyproj.Transformer` costs tens of milliseconds; using one costs microseconds. pyproj
also builds a transformer's PROJ object once per *thread* (about 40 ms): a server that runs each
request in a new thread (Streamlit runs every script run in one) transforms single points with
:func:`transform_point`, in one long-lived thread.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor

from .errors import InputError

__all__ = ["in_proj_thread", "transform_point", "transformer"]


@functools.lru_cache(maxsize=32)
def _cached(src: str, dst: str):
    from pyproj import CRS as PCRS
    from pyproj import Transformer

    try:
        return Transformer.from_crs(PCRS.from_user_input(src), PCRS.from_user_input(dst), always_xy=True)
    except Exception as exc:  # pyproj raises CRSError, a ValueError subclass, on bad input
        raise InputError(f"crs {src!r} not understood: {exc}") from None


def transformer(src, dst="EPSG:27700"):
    """Return an ``always_xy`` Transformer from ``src`` to ``dst`` (cached; CRS objects or strings)."""
    return _cached(_key(src), _key(dst))


def _key(crs) -> str:
    if isinstance(crs, str):
        return crs
    to_string = getattr(crs, "to_string", None)  # pyproj.CRS
    return to_string() if to_string else str(crs)


#: One long-lived thread for single-point transforms: its PROJ objects are built once, not per request.
_PROJ_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="heart-geo-proj")


def in_proj_thread(fn, *args):
    """Run ``fn(*args)`` in the long-lived transform thread and return its result."""
    return _PROJ_THREAD.submit(fn, *args).result()


def transform_point(src, dst, x: float, y: float) -> tuple[float, float]:
    """Transform one point (``always_xy``) in the long-lived transform thread.

    Examples
    --------
    >>> lon, lat = transform_point("EPSG:27700", "EPSG:4326", 250000, 620000)
    >>> round(lat, 2), round(lon, 2)
    (55.45, -4.37)
    """
    return in_proj_thread(transformer(src, dst).transform, x, y)
