"""Status and method codes: the one home for the words an answer carries, their numbers, and what people read.

Every answer has one status (:data:`STATUSES`) and one method (:data:`METHODS`). Inside the
library they travel as small integers (``int8`` arrays in :class:`heart_geo.allocate.PointResult`):
the index of the word in its tuple. The named integers below are those indices, checked against the
tuples when this module is imported, so a word and its number cannot drift apart. New words are
added at the end, so an existing word keeps its number.

A status code (``nearest_team``) is for files and programs; a person reads :data:`STATUS_WORDS`
instead: a headline and one plain sentence per status (:func:`status_words`) and a short label for
tables (:func:`status_label`).
"""

from __future__ import annotations

import re

__all__ = [
    "ALLOCATED",
    "STATUS_WORDS",
    "distance_words",
    "status_label",
    "status_words",
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
    "PSEUDO",
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
    "pseudo_postcode",  # a published pseudo-postcode (ZZ99 ..., NF1 1AB, BFPO): says no place; detail says what
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
PSEUDO = 8

# method codes: index into METHODS
M_CATCHMENT = 0
M_OVERRIDE = 1
M_NEAREST = 2
M_NONE = 3
M_UPRN = 4

_STATUS_CODES = {"allocated": ALLOCATED, "nearest_team": NEAREST, "outside_area": OUTSIDE,
                 "unknown_postcode": UNKNOWN, "terminated_postcode": TERMINATED,
                 "invalid_postcode": INVALID_POSTCODE, "invalid_coordinates": INVALID_COORDINATES,
                 "missing_location": MISSING,
                 "pseudo_postcode": PSEUDO}
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
    "pseudo_postcode": "a pseudo-postcode: it gives no place, so no team",
}


# --------------------------------------------------------------------------------------------------
# Words for people: one table, status -> a label, a headline and one plain sentence
# --------------------------------------------------------------------------------------------------
#: What a person reads for each status: ``label`` (a few words, for a table of counts), ``headline``
#: (the answer in one line) and ``sentence`` (what it means and what to do). The one table the
#: dashboard, the command line and any API share: a new status or a new kind of answer is a new row
#: here. A key ``status/variant`` is a variant of a status (see :func:`status_words`). Fields:
#: ``{query}`` (as typed), ``{team}``, ``{unit}`` ("team"), ``{units}``, ``{council}``, ``{distance}``
#: ("205 m"), ``{share}`` ("All 107", "205 of 209"), ``{sector}`` and ``{reason}`` (the answer's own
#: detail as a sentence, codes removed).
STATUS_WORDS: dict[str, tuple[str, str, str]] = {
    "allocated": (
        "In a {unit}'s area",
        "{query} — {team}",
        "This place is inside {team}'s area: the {team} {unit} supports a family living here.",
    ),
    "allocated/override": (
        "In a {unit}'s area",
        "{query} — {team}",
        "The council placed this area in {team} by hand: the {team} {unit} supports a family living here.",
    ),
    "allocated/uprn": (
        "In a {unit}'s area",
        "{query} — {team}",
        "This address's own point is inside {team}'s area: the {team} {unit} supports a family living here.",
    ),
    "nearest_team": (
        "Nearest {unit}: check by hand",
        "{query} — nearest {unit}: {team}",
        "No {unit}'s catchment covers this place in the data; {team} is the nearest {unit}, {distance} "
        "away: check by hand.",
    ),
    "outside_area": (
        "Outside the council",
        "{query} — outside {council}",
        "{reason}: no {unit} of {council} covers it.",
    ),
    "unknown_postcode/likely": (
        "New postcode, not yet in the data",
        "{query} — probably {team}: a new postcode, not yet in the data",
        "{share} known postcodes of its sector ({sector}) are in {team}: check the address before you "
        "pass the family on.",
    ),
    "unknown_postcode": (
        "New postcode, not yet in the data",
        "{query} — a new postcode, not yet in the data",
        "No known postcode shares its sector, so there is no likely {unit}: check the address by hand.",
    ),
    "terminated_postcode": (
        "Postcode no longer in use",
        "{query} — {team}: a postcode no longer in use",
        "{reason}; the {unit} is where the postcode last was: check the family's current address.",
    ),
    "invalid_postcode": (
        "Not a postcode",
        "{query} — not a postcode",
        "{reason}: type a postcode, an address containing one, or a latitude and longitude.",
    ),
    "invalid_postcode/slip": (
        "Not a postcode",
        "{query} — not a postcode as written",
        "{reason}.",
    ),
    "invalid_postcode/incomplete": (
        "Incomplete postcode",
        "{query} — an incomplete postcode",
        "{reason}.",
    ),
    "invalid_coordinates": (
        "Coordinates that cannot be right",
        "{query} — coordinates that cannot be right",
        "{reason}.",
    ),
    "missing_location": (
        "No place given",
        "{query} — no place to look up",
        "{reason}: type a postcode, an address containing one, or a latitude and longitude.",
    ),
    "pseudo_postcode": (
        "Pseudo-postcode: no place",
        "{query} — a pseudo-postcode, not a place",
        "{reason}: ask the family, or the worker who knows them, where they are staying now.",
    ),
}

#: Said for an answer whose status has no row in :data:`STATUS_WORDS` (a status added later).
_OTHER_WORDS = ("Other answer", "{query} — no {unit} found", "{reason}.")

#: A council's GSS code in parentheses ("(S12000028)"): a code, not a word for people.
_GSS = re.compile(r"\s*\([A-Z]\d{8}\)")
#: A GSS code on its own (a council the data names by code only).
_BARE_GSS = re.compile(r"\b[A-Z]\d{8}\b")


def _reason(detail) -> str:
    """Return the library's detail as the start of a sentence: codes removed, capital first, no full stop."""
    text = _GSS.sub("", str(detail or ""))
    text = _BARE_GSS.sub("another council", text.replace("in council ", "in ")).strip().rstrip(".")
    for code in STATUSES:  # a status code never reaches a person
        text = text.replace(code, code.replace("_", " "))
    return text[:1].upper() + text[1:] if text else "No reason given"


def distance_words(metres) -> str:
    """Return a distance for people: "205 m", "1.2 km".

    Examples
    --------
    >>> distance_words(204.6), distance_words(1234), distance_words(None)
    ('205 m', '1.2 km', 'some distance')
    """
    if metres is None or metres != metres:  # None or NaN
        return "some distance"
    return f"{metres:,.0f} m" if metres < 1000 else f"{metres / 1000:,.1f} km"


def status_label(status: str, unit: str = "team") -> str:
    """Return a status in a few plain words, for a table of counts.

    Examples
    --------
    >>> status_label("nearest_team"), status_label("outside_area")
    ('Nearest team: check by hand', 'Outside the council')
    """
    return STATUS_WORDS.get(status, _OTHER_WORDS)[0].format(unit=unit)


def status_words(row: dict, *, unit: str = "team", council: str = "the council") -> tuple[str, str]:
    """Return the headline and the one plain sentence that say an answer to a person.

    Parameters
    ----------
    row : dict
        An answer (:meth:`heart_geo.Profile.lookup`, a row of :meth:`heart_geo.Profile.allocate`):
        ``query``, ``status``, ``team``, ``method``, ``distance_m``, ``detail``, ``postcode``,
        ``likely_team`` and, for a new postcode, ``likely_share`` (team, count, total) when known.
    unit, council : str
        The profile's word for a team and the council's name.

    Returns
    -------
    (str, str)
        The headline ("KA3 3ZZ — probably Stewarton: a new postcode, not yet in the data") and the
        sentence; neither holds a status code.

    Examples
    --------
    >>> status_words({"query": "AB1 2CD", "status": "nearest_team", "team": "North", "distance_m": 300})
    ('AB1 2CD — nearest team: North', "No team's catchment covers this place in the data; North is the \
nearest team, 300 m away: check by hand.")
    """
    status = str(row.get("status") or "")
    share = row.get("likely_share")
    key = status
    if status == "allocated" and row.get("method") in ("override", "uprn"):
        key = f"allocated/{row['method']}"
    elif status == "unknown_postcode" and (share or row.get("likely_team")):
        key = "unknown_postcode/likely"
    elif status == "invalid_postcode" and str(row.get("detail") or "").startswith(("not a postcode as written",
                                                                                  "an incomplete postcode")):
        key = "invalid_postcode/slip" if str(row["detail"]).startswith("not") else "invalid_postcode/incomplete"
    _label, headline, sentence = STATUS_WORDS.get(key, _OTHER_WORDS)
    team = row.get("team") or row.get("likely_team") or (share[0] if share else None)
    pc = str(row.get("postcode") or "")
    fields = {
        "query": str(row.get("query") or "").strip() or "(nothing typed)",
        "team": team or f"no {unit}",
        "unit": unit,
        "council": council,
        "distance": distance_words(row.get("distance_m")),
        "share": (("All" if share[1] == share[2] else f"{share[1]:,} of") + f" {share[2]:,}") if share else "Most",
        "sector": pc[:-2] if len(pc) > 4 else pc,
        "reason": _reason(row.get("detail")),
    }
    return headline.format(**fields), sentence.format(**fields)
