"""Constants shared across heart_geo.

Everything here is council-neutral. Council facts live in the profiles in ``boundaries/``.
"""

from __future__ import annotations

from . import codes as _codes

#: Working CRS for every geometry and distance: British National Grid (metres).
CRS = "EPSG:27700"
#: Geographic CRS accepted for latitude/longitude input.
WGS84 = "EPSG:4326"

#: Postcodes whose centroid lies within this many metres of a catchment boundary are flagged
#: ``near_boundary``: the addresses of one postcode unit can straddle the line.
NEAR_BOUNDARY_M = 100.0

#: Environment variable naming the data folder (after ``--data-dir``, before the user cache).
DATA_ENV = "HEART_GEO_DATA"
#: Environment variable naming the cache folder for derived data (parsed tables, repaired geometry).
CACHE_ENV = "HEART_GEO_CACHE"

#: British National Grid extent accepted for easting/northing input (metres).
BNG_BOUNDS = (0.0, 0.0, 700_000.0, 1_300_000.0)
#: Latitude/longitude extent accepted for WGS84 input (Great Britain and surrounding waters).
GB_LAT = (49.0, 61.5)
GB_LON = (-9.0, 2.5)

#: Statuses and methods (their words and codes live in :mod:`heart_geo.codes`).
STATUSES = _codes.STATUSES
METHODS = _codes.METHODS

#: Result columns added by allocation, in order.
RESULT_COLUMNS = [
    "team",
    "status",
    "method",
    "catchment_school",
    "distance_m",
    "near_boundary",
    "postcode",
    "easting",
    "northing",
    "detail",
    "likely_team",  # only for unknown_postcode: the team holding the known postcodes of its sector
    "split_teams",  # only where address points are loaded and a postcode's addresses fall in 2+ teams
]

#: Largest upload the dashboard accepts (MB; Streamlit's own default is 200 MB). ``heart-geo
#: dashboard`` sets ``server.maxUploadSize`` to it and each upload widget checks it too.
UPLOAD_MAX_MB = 50
#: Most rows the dashboard allocates from one upload: its result is held in memory (about 150
#: bytes a row whatever the input's size), so a file of tiny rows must not grow a hundredfold.
#: ``heart-geo assign`` streams to disk and has no such limit.
UPLOAD_MAX_ROWS = 200_000
#: Rows allocated at a time from an upload (smaller than the CLI's chunks: several people may upload
#: at once, and each chunk's working memory is about 1 KB a row).
UPLOAD_CHUNK_ROWS = 20_000

#: Exit codes of the ``heart-geo`` command: success, a failure of the program, unusable input.
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
