"""Every kind of service, and what may be published about each: the one list the package shares.

Read by :mod:`heart_geo.config` (to check a profile's ``kinds``), :mod:`heart_geo.services` (the
publication rule), the map and the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PUBLISH", "SERVICE_KINDS", "ServiceKind", "is_public", "service_kind"]


@dataclass(frozen=True)
class ServiceKind:
    """One kind of service: its label, what may be published about it, and its map colour."""

    label: str
    plural: str
    publish: str  # "public" or "count" (see PUBLISH)
    colour: str


#: What may be published, by level. The one rule every output (CLI, export, map, dashboard,
#: notebook, logs) goes through, by way of :func:`heart_geo.services.publication_rule` and
#: :func:`heart_geo.services.service_locations`.
PUBLISH = {
    "public": "name, provider, postcode and place may be shown, mapped and exported",
    "count": "counted only (per team where the data places it, otherwise per council); never named, "
             "mapped or exported, and its postcode is never shown",
}


#: Every service kind. A kind not listed here (a new category in a future release) is count-only.
SERVICE_KINDS: dict[str, ServiceKind] = {
    "day_care_of_children": ServiceKind("Day care of children", "Day care of children", "public", "#ffffff"),
    "childminder": ServiceKind("Childminder", "Childminders", "count", "#999999"),
    "childrens_house": ServiceKind("Children's house (care home for children)", "Children's houses", "count",
                                   "#999999"),
    "fostering": ServiceKind("Fostering service", "Fostering services", "count", "#999999"),
    "adoption": ServiceKind("Adoption service", "Adoption services", "count", "#999999"),
    "residential_special_school": ServiceKind("Residential special school", "Residential special schools",
                                              "public", "#a6dba0"),
    "child_care_agency": ServiceKind("Child care agency", "Child care agencies", "public", "#8c510a"),
    "support_service": ServiceKind("Support service", "Support services", "public", "#404040"),
    "housing_support": ServiceKind("Housing support service", "Housing support services", "public", "#7f7f7f"),
    "care_home_adults": ServiceKind("Care home (adults)", "Care homes (adults)", "public", "#b2abd2"),
    "adult_placement": ServiceKind("Adult placement service", "Adult placement services", "public", "#dfc27d"),
    "nurse_agency": ServiceKind("Nurse agency", "Nurse agencies", "public", "#c7eae5"),
    "hospital": ServiceKind("Hospital", "Hospitals", "public", "#b2182b"),
    "gp_practice": ServiceKind("GP practice", "GP practices", "public", "#000000"),
    "other_care_service": ServiceKind("Other registered care service", "Other registered care services", "count",
                                      "#999999"),
}
_UNLISTED = ServiceKind("Other service", "Other services", "count", "#999999")


def service_kind(kind: str) -> ServiceKind:
    """Return the :class:`ServiceKind` of a kind key; unknown keys are count-only."""
    return SERVICE_KINDS.get(kind, _UNLISTED)


def is_public(kind: str) -> bool:
    """Return whether services of this kind may be named, mapped and exported (the publication rule)."""
    return service_kind(kind).publish == "public"
