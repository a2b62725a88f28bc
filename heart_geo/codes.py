"""Status and method codes: the one home for the words an answer carries and their numbers.

Every answer has one status (:data:`STATUSES`) and one method (:data:`METHODS`). Inside the
library they travel as small integers (``int8`` arrays in :class:`heart_geo.allocate.PointResult`):
the index of the word in its tuple. The named integers below are those indices, checked against the
tuples when this module is imported, so a word and its number cannot drift apart.
"""

from __future__ import annotations

__all__ = [
    "ALLOCATED",
    "INVALID_COORDINATES",
    "INVALID_POSTCODE",
    "METHODS",
    "MISSING",
    "M_CATCHMENT",
    "M_NEAREST",
    "M_NONE",
    "M_OVERRIDE",
    "M_UPRN",
    "NEAREST",
    "OUTSIDE",
    "STATUSES",
    "TERMINATED",
    "UNKNOWN",
]

#: Statuses an allocation can carry. Every answer has exactly one.
STATUSES = (
    "allocated",  # inside a team catchment (or placed by an override rule)
    "nearest_team",  # inside the council but in no team catchment: nearest team and distance given
    "outside_area",  # not in the council
    "unknown_postcode",  # well-formed postcode not in the postcode data
    "terminated_postcode",  # postcode no longer in use (ONS Postcode Directory); team from its last location
    "invalid_postcode",  # text that is not a postcode and contains none
    "invalid_coordinates",  # coordinates out of range, swapped, or not numbers
    "missing_location",  # nothing to locate: empty input, or a postcode with no grid reference
)

#: Methods: how a team was decided.
METHODS = ("catchment", "override", "nearest", "none", "uprn")

# status codes: index into STATUSES
ALLOCATED = 0
NEAREST = 1
OUTSIDE = 2
UNKNOWN = 3
TERMINATED = 4
INVALID_POSTCODE = 5
INVALID_COORDINATES = 6
MISSING = 7

# method codes: index into METHODS
M_CATCHMENT = 0
M_OVERRIDE = 1
M_NEAREST = 2
M_NONE = 3
M_UPRN = 4

_STATUS_CODES = {"allocated": ALLOCATED, "nearest_team": NEAREST, "outside_area": OUTSIDE,
                 "unknown_postcode": UNKNOWN, "terminated_postcode": TERMINATED,
                 "invalid_postcode": INVALID_POSTCODE, "invalid_coordinates": INVALID_COORDINATES,
                 "missing_location": MISSING}
_METHOD_CODES = {"catchment": M_CATCHMENT, "override": M_OVERRIDE, "nearest": M_NEAREST, "none": M_NONE,
                 "uprn": M_UPRN}
if [STATUSES.index(s) for s in _STATUS_CODES] != list(_STATUS_CODES.values()) \
        or [METHODS.index(m) for m in _METHOD_CODES] != list(_METHOD_CODES.values()):  # pragma: no cover
    raise ImportError("heart_geo.codes: a code does not match its word's position")


# --------------------------------------------------------------------------------------------------
# the sentence an answer's ``detail`` gives for each status
# --------------------------------------------------------------------------------------------------
_TWO_POSTCODES = "two different postcodes in the text: give only the one where the family lives"

_OVERRIDE_DETAIL = "placed in this team by an override rule in the council's profile (decided by hand)"

_DETAIL = {
    "allocated": "inside the team's catchment",
    "nearest_team": "inside the council but in no team catchment: nearest team given, check by hand",
    "outside_area": "outside the council area",
    "unknown_postcode": "well-formed postcode not found in the postcode data",
    "terminated_postcode": "postcode no longer in use; team from its last known location",
    "invalid_postcode": "no postcode found in the text",
    "invalid_coordinates": "coordinates cannot be right",
    "missing_location": "no postcode or coordinates given",
}
