"""Reading one free-text query: a postcode, an address, or a pair of coordinates.

The parser is linear in the length of the query (string splits and bounded, anchored patterns per
token: no pattern can backtrack over the whole text) and refuses queries longer than
:data:`MAX_QUERY_CHARS` with a clear message.
"""

from __future__ import annotations

import re

from .errors import InputError
from .postcodes import clean_text
from .settings import CRS, GB_LAT, GB_LON, WGS84

__all__ = ["MAX_QUERY_CHARS", "OUTSIDE_GB", "SWAPPED", "parse_query"]

#: Longest query accepted: a full address fits many times over.
MAX_QUERY_CHARS = 300

# One coordinate: optional hemisphere letter before or after, optional sign, a number with a point
# or a comma as decimal mark, optional degree sign. Bounded quantifiers only, matched per token.
_NUMBER = re.compile(
    r"([NSEW])?\s?([+-]?)(\d{1,7})(?:[.,](\d{1,20}))?\s?°?\s?([NSEW])?", re.IGNORECASE
)


def _coordinate(token: str) -> tuple[float, str] | None:
    """Return a number and its hemisphere letter ("" if none), or None if the token is not one number."""
    m = _NUMBER.fullmatch(token.strip())
    if not m:
        return None
    before, sign, whole, frac, after = m.groups()
    if before and after:
        return None
    hemi = (before or after or "").upper()
    value = float(f"{whole}.{frac}" if frac else whole)
    if sign == "-" or hemi in ("S", "W"):
        value = -abs(value)
    return value, hemi


def _split_pair(text: str) -> list[str] | None:
    """Return the query split into two coordinate tokens, or None if it is not two numbers."""
    if text[:1] == "(" and text[-1:] == ")":
        text = text[1:-1]
    if ";" in text:  # "55,45; -4,26": European spreadsheets use ";" between, "," inside numbers
        parts = text.split(";")
    elif text.count(",") == 1:
        parts = text.split(",")
    elif text.count(",") == 0:
        parts = text.split()
    else:  # "55,45 -4,26": comma decimals separated by spaces
        parts = [p.strip(",") for p in text.split()]
    parts = [p.strip() for p in parts]
    if len(parts) != 2 or not all(parts):
        return None
    return parts


def parse_query(query: object) -> tuple[str, object]:
    """Classify a query.

    Returns
    -------
    ("point", (x, y, crs)) or ("text", str)
        Two numbers are coordinates: "lat,lon" in degrees (WGS84), or "easting,northing" in metres
        (British National Grid). Hemisphere letters ("55.4N 4.3W", either order), comma decimals
        ("55,45; -4,26") and full-width or zero-width characters are understood. Anything else is
        text to search for a postcode.

    Raises
    ------
    InputError
        For two numbers that are neither (swapped latitude/longitude, out-of-range values), or a
        query longer than :data:`MAX_QUERY_CHARS`.

    Examples
    --------
    >>> parse_query("55.45, -4.26")
    ('point', (-4.26, 55.45, 'EPSG:4326'))
    >>> parse_query("257000 620000")
    ('point', (257000.0, 620000.0, 'EPSG:27700'))
    >>> parse_query("55.4N 4.3W")
    ('point', (-4.3, 55.4, 'EPSG:4326'))
    >>> parse_query("ka18 1fq")
    ('text', 'ka18 1fq')
    """
    if query is None:
        return "text", ""
    raw = str(query)
    if len(raw) > MAX_QUERY_CHARS:
        exc = InputError(
            f"the query is {len(raw):,} characters long; expected at most {MAX_QUERY_CHARS}: a postcode, "
            "an address containing one, 'latitude, longitude' or 'easting, northing'"
        )
        exc.status = "invalid_postcode"
        raise exc
    text = clean_text(raw).strip()
    parts = _split_pair(text)
    coords = [_coordinate(p) for p in parts] if parts else None
    if not coords or None in coords:
        return "text", text
    (a, ha), (b, hb) = coords
    if ha or hb:
        if (ha in _NS and hb in _NS) or (ha in _EW and hb in _EW):
            raise InputError("the coordinates give two latitudes or two longitudes: expected one of "
                             "each, for example '55.45N 4.26W'")
        lat_first = ha in _NS or hb in _EW
        if abs(a) > 1000 or abs(b) > 1000:  # "257000E 620000N": easting and northing in metres
            e, n = (b, a) if lat_first else (a, b)
            return "point", (abs(e), abs(n), CRS)
        lat, lon = (a, b) if lat_first else (b, a)
        if GB_LAT[0] <= lat <= GB_LAT[1] and GB_LON[0] <= lon <= GB_LON[1]:
            return "point", (lon, lat, WGS84)
        raise InputError(OUTSIDE_GB)
    if abs(a) > 1000 or abs(b) > 1000:
        return "point", (a, b, CRS)
    if GB_LAT[0] <= a <= GB_LAT[1] and GB_LON[0] <= b <= GB_LON[1]:
        return "point", (b, a, WGS84)
    if GB_LON[0] <= a <= GB_LON[1] and GB_LAT[0] <= b <= GB_LAT[1]:
        raise InputError(SWAPPED)
    raise InputError(OUTSIDE_GB)


_NS = ("N", "S")
_EW = ("E", "W")
#: The reason given for coordinates outside Great Britain, by every path (text, points, caseloads).
OUTSIDE_GB = (
    "coordinates outside Great Britain: expected latitude "
    f"{GB_LAT[0]}..{GB_LAT[1]} and longitude {GB_LON[0]}..{GB_LON[1]} in degrees ('55.45, -4.26'), or "
    "easting and northing in metres (British National Grid)"
)
#: The reason given for latitude and longitude in each other's place, by every path.
SWAPPED = (
    f"latitude and longitude look swapped: latitude ({GB_LAT[0]}..{GB_LAT[1]} in Great Britain) comes first "
    "in text such as '55.45, -4.26', and is the y value of a pair of columns or arrays"
)
