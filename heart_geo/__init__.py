"""heart_geo: which children's wellbeing locality team supports a family, from where it lives.

One flat public namespace. Load a council profile, then allocate postcodes or coordinates::

    import heart_geo
    p = heart_geo.load_profile("east_ayrshire")
    p.allocate(["KA18 1FQ"])
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version

from .allocate import Allocator
from .errors import (
    CRSMismatchError,
    DataFormatError,
    DataNotFoundError,
    HeartGeoError,
    InputError,
    ProfileError,
)
from .links import LinkReport, council_wide_links, links_from_enrolments, school_localities
from .postcodes import normalise_postcode, normalise_postcodes
from .profiles import Profile, Team, list_profiles, load_profile, profiles_dir
from .query import parse_query
from .services import service_counts, service_locations, services_for_team, services_table, team_hubs
from .settings import CRS, STATUSES
from .sources import (
    read_care_services,
    read_catchments,
    read_council_boundary,
    read_gp_practices,
    read_hospitals,
    read_postcodes,
    read_schools,
    repair_geometry,
    resolve_data_dir,
)

try:
    __version__ = version("heart-geo")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "CRS",
    "STATUSES",
    "Allocator",
    "CRSMismatchError",
    "DataFormatError",
    "DataNotFoundError",
    "HeartGeoError",
    "InputError",
    "LinkReport",
    "Profile",
    "ProfileError",
    "Team",
    "__version__",
    "council_wide_links",
    "links_from_enrolments",
    "list_profiles",
    "load_profile",
    "normalise_postcode",
    "normalise_postcodes",
    "parse_query",
    "profiles_dir",
    "read_care_services",
    "read_catchments",
    "read_council_boundary",
    "read_gp_practices",
    "read_hospitals",
    "read_postcodes",
    "read_schools",
    "repair_geometry",
    "resolve_data_dir",
    "school_localities",
    "service_counts",
    "service_locations",
    "services_for_team",
    "services_table",
    "team_hubs",
]
