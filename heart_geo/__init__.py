"""heart_geo: which children's wellbeing locality team supports a family, from where it lives.

One flat public namespace. Load a council profile, then allocate postcodes or coordinates::

    import heart_geo
    p = heart_geo.load_profile("east_ayrshire")
    p.allocate(["KA18 1FQ"])
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

from .errors import (
    CRSMismatchError,
    DataFormatError,
    DataNotFoundError,
    HeartGeoError,
    InputError,
    ProfileError,
)
from .settings import CRS, STATUSES

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs; at run time names load on first use
    from .allocate import Allocator
    from .links import LinkReport, council_wide_links, links_from_enrolments, school_localities
    from .population import team_population
    from .postcodes import normalise_postcode, normalise_postcodes
    from .profiles import Profile, Team, list_profiles, load_profile, profiles_dir
    from .query import parse_query
    from .services import service_counts, service_locations, services_for_team, services_table, team_hubs
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

#: Public names and the module each comes from: imported on first use, so ``import heart_geo`` (and
#: the ``heart-geo`` command) does not pay for pandas, geopandas and GDAL until something needs them.
_LAZY = {
    "Allocator": "allocate",
    **dict.fromkeys(["LinkReport", "council_wide_links", "links_from_enrolments", "school_localities"], "links"),
    **dict.fromkeys(["normalise_postcode", "normalise_postcodes"], "postcodes"),
    **dict.fromkeys(["Profile", "Team", "list_profiles", "load_profile", "profiles_dir"], "profiles"),
    "parse_query": "query",
    "team_population": "population",
    **dict.fromkeys(["service_counts", "service_locations", "services_for_team", "services_table", "team_hubs"],
                    "services"),
    **dict.fromkeys(["read_care_services", "read_catchments", "read_council_boundary", "read_gp_practices",
                     "read_hospitals", "read_postcodes", "read_schools", "repair_geometry", "resolve_data_dir"],
                    "sources"),
}

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str):
    """Public names on first use (PEP 562), then the package's modules by name."""
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("heart-geo")
        except PackageNotFoundError:  # running from a source tree without installing
            value = "0+unknown"
    elif name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    else:
        try:
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
    "team_population",
]
