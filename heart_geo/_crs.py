"""Coordinate transformers, built once per (source, target) CRS pair.

Building a :class:`pyproj.Transformer` costs tens of milliseconds; using one costs microseconds.
"""

from __future__ import annotations

import functools

from .errors import InputError

__all__ = ["transformer"]


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
