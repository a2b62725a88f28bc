"""The dashboard's answers, as library functions the app, the command line and a notebook share.

* :func:`lookup_answer` / :func:`click_answer`: one query or one map click, answered as a dict with
  the team's services and link workers and a one-line ``answer`` ("KA18 1FQ → Barony");
* :func:`lookup_json`: one query answered as ``heart-geo lookup --json`` prints it (the JSON API's
  ``/v1/lookup`` gives the same dict);
* :func:`team_details`, :func:`service_counts_table`: the teams panel;
* :func:`community_services`: what is in a family's community (services present, hubs);
* :func:`council_wide_matrix`: the council-wide schools against the teams they link with;
* :func:`data_notes`: where the data came from and its known flaws;
* :func:`for_people`: a link table with its headings and codes in words.

Nothing here draws a map (that is :mod:`heart_geo.explore`) or reads an upload (that is
:mod:`heart_geo.uploads`).
"""

from __future__ import annotations

import pandas as pd

from . import _util
from ._ready import zone_line  # noqa: F401 - the dashboard's lookup panel says it as the CLI does
from .codes import status_label, status_words
from .figures import no_team_areas
from .population import notes_text
from .services import service_counts, services_present, team_services
from .settings import WGS84

__all__ = [
    "click_answer",
    "community_services",
    "council_wide_matrix",
    "data_notes",
    "for_people",
    "lookup_answer",
    "lookup_json",
    "service_counts_table",
    "team_details",
]


# --------------------------------------------------------------------------------------------------
# answers
# --------------------------------------------------------------------------------------------------
def _team_services(profile, team: str | None) -> tuple[list[str], list[dict]]:
    if not team or team not in profile.team_names:
        return [], []
    return team_services(profile, team)


def _latlon(easting, northing) -> tuple[float, float] | None:
    if easting is None or northing is None or pd.isna(easting) or pd.isna(northing):
        return None
    from ._crs import transform_point

    lon, lat = transform_point("EPSG:27700", WGS84, easting, northing)  # not a PROJ object per script thread
    return float(lat), float(lon)


_clean = _util.nan_to_none


def lookup_json(profile, query: str) -> dict:
    """Answer one query as ``heart-geo lookup --json`` prints it, and the JSON API's ``/v1/lookup`` returns it.

    :meth:`Profile.lookup`'s fields, every value JSON-safe (None for a missing value, plain numbers).
    A mistake in the query is an answer with its status and reason, as :meth:`Profile.lookup` gives it.

    Examples
    --------
    >>> from heart_geo.testing import make_profile
    >>> r = lookup_json(make_profile(), "TT1 1AA")
    >>> r["team"], r["status"], r["likely_team"]
    ('North', 'allocated', None)
    """
    return {k: _clean(v) for k, v in profile.lookup(query).items()}


def lookup_answer(profile, query: str) -> dict:
    """Answer one query from the "Postcode or address" box.

    Returns
    -------
    dict
        :meth:`Profile.lookup`'s fields (``team`` ``status`` ``distance_m`` ``detail``...) plus
        ``answer`` (the headline, "<query> — <team>"), ``sentence`` (one plain sentence saying
        what the answer means, no status code), ``ok`` (a team was found), ``map_team`` (the team to
        highlight on the map: the team, or the likely team of a new postcode), ``from_point`` (the
        query was a point, not a postcode), ``latlon`` (for a map marker, or None),
        ``services_in_team`` and ``link_workers`` (list of {service, shared_with}) and
        ``community`` (:func:`community_services`). Every mistake gets the status and detail
        :meth:`Profile.lookup` gives it (coordinates that cannot be right: "invalid_coordinates"
        with the reason); nothing is raised for bad input.
    """
    q = str(query or "").strip()
    row = {k: _clean(v) for k, v in profile.lookup(q).items()}  # a mistake is an answer, never an error
    row["query"] = q
    row["from_point"] = not row.get("postcode") and row.get("easting") is not None
    return _complete(profile, row)


def click_answer(profile, lat: float, lon: float) -> dict:
    """Answer a map click (latitude, longitude in WGS84) exactly as :func:`lookup_answer` answers a query.

    The same fields, services and community; ``query`` is the point ("55.45012, -4.26034").
    """
    res = profile.allocate_points([lon], [lat], crs=WGS84).iloc[0].to_dict()
    row = {k: _clean(v) for k, v in res.items()}
    row["query"] = f"{lat:.5f}, {lon:.5f}"
    row["from_point"] = True
    return _complete(profile, row)


def _complete(profile, row: dict) -> dict:
    """Add the words, the map's team and point, and the team's services to an answer."""
    row["team"] = row.get("team") if isinstance(row.get("team"), str) else None
    row["likely_share"] = profile.likely_team(row["postcode"]) if row["status"] == "unknown_postcode" and \
        row.get("postcode") else None
    row["ok"] = row["team"] is not None
    row["map_team"] = row["team"] or (row["likely_share"][0] if row["likely_share"] else None)
    row["answer"], row["sentence"] = status_words(row, unit=profile.unit, council=profile.name)
    if row.get("catchment_school"):
        row["catchment_school"] = _util.usual_case(row["catchment_school"])
    row["latlon"] = _latlon(row.get("easting"), row.get("northing"))
    row["services_in_team"], row["link_workers"] = _team_services(profile, row["team"])
    row["community"] = community_services(profile, row["team"], row.get("easting"), row.get("northing"))
    return row


# --------------------------------------------------------------------------------------------------
# panels: teams, data notes, services present ("in this community", counts by team), council-wide links
# --------------------------------------------------------------------------------------------------
def team_details(profile) -> list[dict]:
    """Per team: postcodes, area, schools, services in the team, link-worker services.

    Also the council-wide schools it must link with and the services present
    (``Profile.team_summary`` joined to the services table).
    """
    summary = profile.team_summary()
    out = []
    for _, r in summary.iterrows():
        team = r[profile.unit]
        in_team, link = _team_services(profile, team)
        colour = profile.teams[profile.team_names.index(team)].colour
        out.append(
            {
                "team": team,
                "colour": colour,
                "catchment_schools": _util.usual_case_in(r["catchment_schools"]),
                "postcodes": int(r["postcodes"]),
                "postcodes_nearest": int(r["postcodes_nearest"]),
                "area_km2": float(r["area_km2"]),
                "schools": int(r["schools"]) if "schools" in r else None,
                "school_names": [_util.usual_case(s) for s in str(r.get("school_names", "")).split(", ") if s],
                "services_in_team": in_team,
                "link_workers": link,
                "council_wide_schools": [_util.usual_case(s) for s in
                                         str(r.get("links_with_council_wide_schools", "")).split(", ") if s],
                **_team_services_present(profile, team),
                **_population_fields(r),
            }
        )
    return out


#: What the Teams tab says under its population columns.
POPULATION_CAPTION = (
    "Children 0-17: NRS small-area estimates by data zone, each zone shared between teams in proportion "
    "to its postcodes (see Data notes for how many live in zones split between teams: the uncertainty). "
    "In most deprived fifth: children living in SIMD quintile 1 data zones. Services per 1,000 children: "
    "services present divided by children 0-17."
)


def _population_fields(r: pd.Series) -> dict:
    """Return a team's children and deprivation from its summary row (empty when population is not loaded)."""
    if "children" not in r:
        return {}
    share = r.get("children_simd_q1_share")
    return {"children": int(r["children"]), "children_in_split_zones": int(r["children_in_split_zones"]),
            "children_simd_q1_share": None if share is None or pd.isna(share) else float(share),
            "services_per_1000_children": _util.nan_to_none(r.get("services_per_1000_children"))}


def data_notes(profile) -> dict:
    """Where the data came from (sources, licences, attribution) and its known flaws."""
    gaps = profile.gaps
    n = no_team_areas(profile)
    by_kind = pd.DataFrame({"kind": ["gap", "other_catchment"], "areas": [n["gaps"], n["catchments_of_no_team"]],
                            "km2": [n["gap_km2"], round(float(gaps.loc[gaps["kind"] == "other_catchment",
                                                                       "area_km2"].sum()), 2)]})
    by_kind = by_kind[by_kind["areas"] > 0].reset_index(drop=True)
    other = _for_people(gaps[gaps["kind"] == "other_catchment"])
    largest = _for_people(gaps[gaps["kind"] == "gap"].head(10))
    attribution = profile.attribution()
    return {
        "council": profile.name,
        "code": profile.code,
        "effective_from": profile.effective_from,
        "data_dir": str(profile.data_dir),
        "sources": pd.DataFrame(
            [{label: a.get(key, "") for key, label in _SOURCE_COLUMNS.items()} for a in attribution],
            columns=list(_SOURCE_COLUMNS.values()),
        ),
        "attribution": list(dict.fromkeys(a["attribution"] for a in attribution if a.get("attribution"))),
        "data_in_use": [
            f"{a['description']}: release {a['release']}"
            + (f"; older releases kept for history: {a['older_releases']}" if a["older_releases"] else "")
            for a in attribution
        ],
        "gap_summary": by_kind,
        "other_council": other,
        "largest_gaps": largest,
        "problems": [_util.usual_case_in(p) for p in [*profile.problems, *_service_problems(profile)]],
        "population": notes_text(profile),
        "address_points": (f"{len(profile.addresses):,} address points loaded (OS Open UPRN / ONSUD): postcodes "
                           "whose addresses fall in more than one team say so, and UPRNs are answered from "
                           "their own points" if len(profile.addresses) else
                           "Address points are not loaded (no OS Open UPRN or ONSUD file in the data folder): "
                           "every postcode is answered from its centroid."),
    }



#: The sources table for people: what each dataset is, its release, publisher and licence (no file
#: names, no keys).
_SOURCE_COLUMNS = {"description": "Dataset", "release": "Release", "older_releases": "Older releases kept",
                   "publisher": "Publisher", "licence": "Licence"}


def _for_people(gaps: pd.DataFrame) -> pd.DataFrame:
    """Gap rows as a table for people: "Where" (the note, names in their usual case) and "km²"."""
    return pd.DataFrame({"Where": [_util.usual_case_in(n) for n in gaps["note"]],
                         "km²": gaps["area_km2"].astype(float).round(2).to_numpy()})


def community_services(profile, team: str | None, easting=None, northing=None) -> dict | None:
    """Return what is in a family's community: the team's services present and its hubs.

    The publishable services come nearest first (distance in metres from the family's postcode or
    point), count-only kinds as counts.

    Returns None when there is no team. See :func:`heart_geo.services.services_present`.
    """
    if not team or team not in profile.team_names:
        return None
    near = None
    if easting is not None and northing is not None and not (pd.isna(easting) or pd.isna(northing)):
        near = (float(easting), float(northing))
    return services_present(profile, team, near=near)


def service_counts_table(profile) -> pd.DataFrame:
    """Services present per team by kind (plural labels), with the council-only row: for the Teams tab."""
    from .services import SERVICE_KINDS

    t = service_counts(profile).reset_index()
    plural = {k.label: k.plural for k in SERVICE_KINDS.values()}
    return t.rename(columns={**plural, "total": "Services present"})


def _team_services_present(profile, team: str) -> dict:
    counts = service_counts(profile)
    row = counts.loc[team] if team in counts.index else None
    pres = services_present(profile, team)
    return {
        "services_present": int(row["total"]) if row is not None else 0,
        "services_by_kind": {k: int(v) for k, v in row.drop("total").items() if v} if row is not None else {},
        "services_listed": pres["listed"],
        "services_counted": pres["counted"],
        "hubs": pres["hubs"],
    }


def _service_problems(profile) -> list[str]:
    from .services import service_problems

    return service_problems(profile)


def council_wide_matrix(profile, links: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return the council-wide schools as rows, the teams as columns: "stands here" or "link".

    Parameters
    ----------
    profile : Profile
    links : pandas.DataFrame, optional
        :func:`heart_geo.links.council_wide_links` of the profile (computed when omitted).

    Returns
    -------
    pandas.DataFrame
        ``school``, ``kind``, ``stands in <unit>``, then one column per team in the profile's order.
    """
    from .links import council_wide_links

    cw = council_wide_links(profile) if links is None else links
    pivot = cw.assign(mark=cw["same_locality"].map({True: "stands here", False: "link"}))
    pivot = pivot.pivot_table(
        index=["school", "kind", "school_team"], columns="links_with", values="mark", aggfunc="first"
    ).reset_index()
    pivot = pivot[["school", "kind", "school_team", *[t for t in profile.team_names if t in pivot.columns]]]
    return pivot.rename(columns={"school_team": f"stands in {profile.unit}"})


# --------------------------------------------------------------------------------------------------
# link tables for people: the tool's column names and codes in words (downloads keep the codes)
# --------------------------------------------------------------------------------------------------
_SCHOOL_KIND_WORDS = {"faith": "Roman Catholic / faith", "asn": "ASN / special", "secondary": "Secondary",
                      "primary": "Primary", "other": "Other"}
_YES_NO = {True: "yes", False: "no"}
_SHARED_WORDS = {"consent": "recorded consent", "risk_of_harm": "risk of harm"}


def _people_columns(unit: str) -> dict[str, tuple[str, object]]:
    """Tool column -> (heading for people, how its values read: a dict, a function or None)."""
    u = unit
    return {
        "school": ("School", _util.usual_case), "kind": ("Kind", _SCHOOL_KIND_WORDS),
        "school_team": (f"School's {u}", None), f"stands in {u}": (f"School's {u}", None),
        "team": (f"Home {u}", None), "pupils": ("Pupils", None), "same_locality": (f"Same {u}", _YES_NO),
        "row": ("Row", None), "link_school": ("School (as matched)", _util.usual_case),
        "link_school_team": (f"School's {u}", None), "link_home_team": (f"Home {u}", None),
        "link_home_status": ("Home answer", lambda s: status_label(s, u)),
        "link_cross_locality": ("Cross-locality", _YES_NO), "shared_because": ("Shared because", _SHARED_WORDS),
    }


def for_people(frame: pd.DataFrame, unit: str = "team", *, columns: list[str] | None = None) -> pd.DataFrame:
    """Return a link table as a person reads it: headings and codes in words, names in their usual case.

    Parameters
    ----------
    frame : pandas.DataFrame
        :func:`council_wide_matrix`, a :class:`heart_geo.links.LinkReport`'s ``links`` or ``detail``.
    unit : str
        The profile's word for a team.
    columns : list of str, optional
        Only these of the tool's columns are renamed (for a table that also holds a file's own
        columns); by default every tool column present. ``seed_code`` is left out.

    Examples
    --------
    >>> f = pd.DataFrame({"school": ["ST JOSEPH'S ACADEMY"], "kind": ["faith"], "same_locality": [False]})
    >>> for_people(f).to_dict("records")
    [{'School': "St Joseph's Academy", 'Kind': 'Roman Catholic / faith', 'Same team': 'no'}]
    """
    spec = _people_columns(unit)
    wanted = set(spec) if columns is None else set(columns) & set(spec)
    out = frame.drop(columns=[c for c in ("seed_code",) if columns is None and c in frame.columns])
    names = {}
    for c in out.columns:
        if c not in wanted:
            continue
        label, how = spec[c]
        if isinstance(how, dict):
            out[c] = out[c].map(lambda v, h=how: h.get(v, v))
        elif how is not None:
            out[c] = out[c].map(lambda v, h=how: h(v) if isinstance(v, str) else v)
        names[c] = label
    return out.rename(columns=names)


#: The columns :func:`heart_geo.links.enrolment_links` adds to an enrolment file's own (for :func:`for_people`).
RELEASED_COLUMNS = ["row", "link_school", "link_school_team", "link_home_team", "link_home_status",
                    "link_cross_locality", "shared_because"]
