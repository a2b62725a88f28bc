"""Reading one free-text query: a postcode, an address, or a pair of coordinates."""

from __future__ import annotations

import re

from .errors import InputError
from .settings import CRS, GB_LAT, GB_LON, WGS84

__all__ = ["parse_query"]

_PAIR = re.compile(r"^\s*\(?\s*(-?\d+(?:\.\d+)?)\s*[,;\s]\s*(-?\d+(?:\.\d+)?)\s*\)?\s*$")


def parse_query(query: object) -> tuple[str, object]:
    """Classify a query.

    Returns
    -------
    ("point", (x, y, crs)) or ("text", str)
        Two numbers are coordinates: "lat,lon" in degrees (WGS84), or "easting,northing" in metres
        (British National Grid). Anything else is text to search for a postcode.

    Raises
    ------
    InputError
        For two numbers that are neither: swapped latitude/longitude or out-of-range values.

    Examples
    --------
    >>> parse_query("55.45, -4.26")
    ('point', (-4.26, 55.45, 'EPSG:4326'))
    >>> parse_query("257000 620000")
    ('point', (257000.0, 620000.0, 'EPSG:27700'))
    >>> parse_query("ka18 1fq")
    ('text', 'ka18 1fq')
    """
    if query is None:
        return "text", ""
    text = str(query).strip()
    m = _PAIR.match(text)
    if not m:
        return "text", text
    a, b = float(m.group(1)), float(m.group(2))
    if abs(a) > 1000 or abs(b) > 1000:
        return "point", (a, b, CRS)
    if GB_LAT[0] <= a <= GB_LAT[1] and GB_LON[0] <= b <= GB_LON[1]:
        return "point", (b, a, WGS84)
    if GB_LON[0] <= a <= GB_LON[1] and GB_LAT[0] <= b <= GB_LAT[1]:
        raise InputError(
            "the coordinates look swapped: give latitude first, then longitude "
            "(for example '55.45, -4.26')"
        )
    raise InputError(
        "the coordinates are outside Great Britain: expected 'latitude, longitude' with "
        f"latitude {GB_LAT[0]}..{GB_LAT[1]} and longitude {GB_LON[0]}..{GB_LON[1]}, or "
        "'easting, northing' in metres (British National Grid)"
    )
