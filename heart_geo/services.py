"""Services in each team, and the one rule that decides what may be published about them.

The model's services and link workers (from the profile), and the services actually present in each
team's area (from the official service datasets), with the one publication rule
(:data:`SERVICE_KINDS`, :func:`publication_rule`).
"""

from __future__ import annotations

import logging
import weakref
from pathlib import Path

import numpy as np
import pandas as pd

from .config import service_config_problems
from .errors import DataFormatError, DataNotFoundError
from .kinds import PUBLISH, SERVICE_KINDS, ServiceKind, is_public, service_kind  # noqa: F401 - re-exported

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

__all__ = [
    "EXPORT_COLUMNS",
    "LOCATION_COLUMNS",
    "PUBLISH",
    "SERVICE_KINDS",
    "ServiceKind",
    "check_service_config",
    "counts_text",
    "is_public",
    "publication_rule",
    "service_counts",
    "service_export",
    "service_kind",
    "service_locations",
    "service_problems",
    "services_for_team",
    "services_present",
    "services_table",
    "team_hubs",
    "team_services",
    "withheld_counts",
]


def services_table(profile) -> pd.DataFrame:
    """One row per (team, service): how the service reaches the team.

    Returns
    -------
    pandas.DataFrame
        Columns ``team``, ``service``, ``mode`` ({"team", "link_worker"}), ``link_worker_covers``
        (the teams one link worker serves, for link-worker services), ``description``.

    Examples
    --------
    >>> from heart_geo.testing import make_profile
    >>> t = services_table(make_profile())
    >>> sorted(t["mode"].unique())
    ['link_worker', 'team']
    """
    rows = []
    for svc in profile.services:
        if svc.mode == "team":
            for team in profile.team_names:
                rows.append((team, svc.name, "team", "", svc.description))
            continue
        for covers in svc.link_workers:
            for team in covers:
                rows.append((team, svc.name, "link_worker", ", ".join(covers), svc.description))
    return pd.DataFrame(rows, columns=["team", "service", "mode", "link_worker_covers", "description"])


def _check_team(profile, team: str) -> None:
    if team not in profile.team_names:
        raise ValueError(f"team {team!r} is not one of {profile.team_names}")


def services_for_team(profile, team: str) -> dict[str, list[str]]:
    """Return the services a team has in it and those it reaches through link workers.

    Raises
    ------
    ValueError
        If ``team`` is not one of the profile's teams.
    """
    _check_team(profile, team)
    in_team, links = team_services(profile, team)
    return {"in_team": in_team, "link_workers": [lw["service"] for lw in links]}


def team_services(profile, team: str) -> tuple[list[str], list[dict]]:
    """Return the services in a team, and those it reaches through link workers with whom they are shared.

    Returns
    -------
    in_team : list of str
        Names of the services every team has in it.
    links : list of dict
        One per link-worker service covering ``team``: ``service``, ``shared_with`` (the other teams
        the link worker covers) and ``description``. An unknown team has none of either.

    Examples
    --------
    >>> from heart_geo.testing import make_profile
    >>> p = make_profile()
    >>> in_team, links = team_services(p, "South")
    >>> [lw["service"] for lw in links] == services_for_team(p, "South")["link_workers"]
    True
    """
    t = services_table(profile)
    t = t[t["team"] == team]
    in_team = t.loc[t["mode"] == "team", "service"].tolist()
    links = [
        {
            "service": r["service"],
            "shared_with": [
                c.strip() for c in str(r["link_worker_covers"]).split(",") if c.strip() and c.strip() != team
            ],
            "description": r["description"],
        }
        for _, r in t[t["mode"] == "link_worker"].iterrows()
    ]
    return in_team, links


# --------------------------------------------------------------------------------------------------
# Services present: real service locations per team, and what may be published about them
# --------------------------------------------------------------------------------------------------
#: Columns of :func:`service_locations`, in order. The first seven are what ``--locations`` exports.
LOCATION_COLUMNS = ["service_name", "service_kind", "provider", "postcode", "team", "status", "source",
                    "kind", "publish", "distance_m", "easting", "northing", "dataset"]
EXPORT_COLUMNS = LOCATION_COLUMNS[:7]

_LOCATIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PROBLEMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def publication_rule(frame: pd.DataFrame) -> pd.DataFrame:
    """Apply the publication rule to service rows: the one place it is decided.

    Rows whose kind is count-only (childminders, children's houses, fostering, adoption, anything
    unreviewed) lose their name, provider, postcode and coordinates; their team and status stay,
    so they can be counted. ``publish`` says which rule applied.

    Examples
    --------
    >>> f = pd.DataFrame({"kind": ["childminder", "hospital"], "service_name": ["A Person", "X Hospital"],
    ...                   "provider": ["A Person", "NHS"], "postcode": ["TT1 1AA", "TT1 1AB"],
    ...                   "easting": [1.0, 2.0], "northing": [1.0, 2.0]})
    >>> publication_rule(f)[["service_name", "postcode", "publish"]].values.tolist()
    [[None, None, 'count'], ['X Hospital', 'TT1 1AB', 'public']]
    """
    out = frame.copy()
    public = out["kind"].map(is_public).to_numpy(dtype=bool)
    out["publish"] = np.where(public, "public", "count")
    for c in ("service_name", "provider", "postcode"):
        if c in out:
            out[c] = out[c].astype(object).where(public, None)
    for c in ("easting", "northing", "distance_m"):
        if c in out:
            out[c] = out[c].astype(float).where(public, np.nan)
    return out


def check_service_config(conf: dict) -> list[str]:
    """Problems in a profile's service sources and team hubs (called when a profile is read).

    The checks live with the rest of the profile's in :mod:`heart_geo.config`.
    """
    return service_config_problems(conf)


def service_sources(profile) -> dict:
    """Return the profile's service datasets (``[sources.*]`` entries with a ``kind``), in profile order.

    As a dict: key -> :class:`heart_geo.config.Source`.
    """
    return {k: s for k, s in profile.sources.items() if s.is_service}


def service_locations(profile) -> pd.DataFrame:
    """Every service in the profile's service datasets, with its team, after the publication rule.

    Each dataset is read in its publisher's format from the files the profile found, its rows for
    this council kept (active services only, unless ``active_only = false``; only the ``kinds``
    listed, when given), and each row located as the profile says: by postcode
    (:meth:`Profile.allocate`), by coordinates (:meth:`Profile.allocate_points`; a row with no
    coordinates falls back to its postcode), or not at all (``missing_location``). The statuses are
    the allocator's. Then :func:`publication_rule` removes what may not be published. A dataset
    that cannot be read is left out and reported by :func:`service_problems`.

    Returns
    -------
    pandas.DataFrame
        :data:`LOCATION_COLUMNS`: ``service_name``, ``service_kind`` (label), ``provider``,
        ``postcode`` (normalised), ``team``, ``status``, ``source`` (file name), ``kind`` (key),
        ``publish`` ({"public", "count"}), ``distance_m``, ``easting``, ``northing``, ``dataset``
        (the profile's source key). Count-only rows have no name, provider, postcode or place.
        Computed once per profile.
    """
    cached = _LOCATIONS.get(profile)
    if cached is not None:
        return cached
    from .sources import SERVICE_READERS

    frames = []
    problems: list[str] = []
    for key, src in service_sources(profile).items():
        files = profile.files.get(key) or []
        if not files:
            log.info("No files for service dataset %s; looked for %s", key, list(src.patterns))
            continue
        try:
            raw = SERVICE_READERS[src.kind]([Path(f) for f in files], council=[profile.name, profile.code])
        except (DataFormatError, DataNotFoundError) as exc:  # one unreadable list must not stop the rest
            problems.append(f"service dataset {key!r} left out: {exc}")
            log.warning("Service dataset %s left out: %s", key, exc)
            continue
        if src.active_only:
            raw = raw[raw["active"]]
        if src.kinds:
            raw = raw[raw["kind"].isin(list(src.kinds))]
        frames.append(_locate(profile, raw.reset_index(drop=True), src.located_by, key))
        log.debug("Service dataset %s: %d rows located", key, len(frames[-1]))
    if frames:
        out = pd.concat(frames, ignore_index=True)
    else:
        out = pd.DataFrame({c: pd.Series(dtype=float if c in ("distance_m", "easting", "northing") else object)
                            for c in LOCATION_COLUMNS})
    out = publication_rule(out)[LOCATION_COLUMNS]
    _LOCATIONS[profile] = out
    _PROBLEMS[profile] = problems
    return out


def service_problems(profile) -> list[str]:
    """Service datasets that could not be read (file and what was wrong; never row content)."""
    service_locations(profile)
    return list(_PROBLEMS.get(profile, []))


def _locate(profile, raw: pd.DataFrame, located_by: str, dataset: str) -> pd.DataFrame:
    n = len(raw)
    res = pd.DataFrame({"team": np.full(n, None, dtype=object), "status": "missing_location",
                        "postcode": np.full(n, None, dtype=object), "distance_m": np.nan,
                        "easting": np.nan, "northing": np.nan})
    if n:
        by_xy = np.zeros(n, dtype=bool)
        if located_by == "coordinates":
            by_xy = (raw["x"].notna() & raw["y"].notna()).to_numpy()
            if by_xy.any():
                r = profile.allocate_points(raw.loc[by_xy, "x"].to_numpy(float), raw.loc[by_xy, "y"].to_numpy(float))
                _put(res, by_xy, r)
        by_pc = ~by_xy & (located_by != "none")
        if by_pc.any():
            _put(res, by_pc, profile.allocate(raw.loc[by_pc, "postcode"].tolist()))
        # a postcode given with coordinates is still shown (normalised), never used to move the point
        from .postcodes import normalise_postcodes

        pcs, _ = normalise_postcodes(raw["postcode"])
        res["postcode"] = res["postcode"].where(res["postcode"].notna(), pcs.to_numpy())
    kind = raw["kind"].astype(object)
    return pd.DataFrame({
        "service_name": _blank_to_none(raw["service_name"]),
        "service_kind": [service_kind(k).label for k in kind],
        "provider": _blank_to_none(raw["provider"]),
        "postcode": res["postcode"],
        "team": res["team"],
        "status": res["status"],
        "source": raw["source"],
        "kind": kind,
        "distance_m": res["distance_m"],
        "easting": res["easting"],
        "northing": res["northing"],
        "dataset": dataset,
    })


def _blank_to_none(values: pd.Series) -> pd.Series:
    v = values.astype(object)
    return v.where(v.notna() & (v.astype(str).str.strip() != ""), None)


def _put(res: pd.DataFrame, mask: np.ndarray, r: pd.DataFrame) -> None:
    idx = np.flatnonzero(mask)
    res.loc[idx, "team"] = r["team"].astype(object).where(r["team"].notna(), None).to_numpy()
    res.loc[idx, "status"] = r["status"].astype(str).to_numpy()
    res.loc[idx, "postcode"] = r["postcode"].to_numpy(dtype=object)
    res.loc[idx, "distance_m"] = r["distance_m"].to_numpy(dtype=float)
    res.loc[idx, "easting"] = r["easting"].to_numpy(dtype=float)
    res.loc[idx, "northing"] = r["northing"].to_numpy(dtype=float)


def service_counts(profile) -> pd.DataFrame:
    """Services present per team, counted by kind (every kind, public or count-only).

    Returns
    -------
    pandas.DataFrame
        One row per team in profile order, then ``"(not placed: council only)"`` for services of
        this council the data cannot place in a team (no postcode, an unknown one), then
        ``"(outside the council)"`` for rows the data places in another council; one column per
        kind label (in :data:`SERVICE_KINDS` order, kinds present only) and ``total``.
    """
    loc = service_locations(profile)
    teams = [*profile.team_names, NOT_PLACED, OUTSIDE]
    row = loc["team"].astype(object).where(loc["team"].notna(), None)
    row = np.where(row.notna(), row, np.where(loc["status"] == "outside_area", OUTSIDE, NOT_PLACED))
    labels = _kind_labels(loc)
    t = pd.crosstab(pd.Categorical(row, categories=teams), pd.Categorical(loc["service_kind"], categories=labels),
                    dropna=False)
    t = t.reindex(index=teams, columns=labels, fill_value=0)
    t["total"] = t.sum(axis=1)
    t.index.name = profile.unit
    t.columns.name = None
    if not t.loc[OUTSIDE].any():
        t = t.drop(index=OUTSIDE)
    return t.astype(int)


NOT_PLACED = "(not placed: council only)"
OUTSIDE = "(outside the council)"


def _kind_labels(loc: pd.DataFrame) -> list[str]:
    present = set(loc["service_kind"])
    labels = [k.label for k in SERVICE_KINDS.values() if k.label in present]
    return labels + sorted(present - set(labels))


def team_hubs(profile) -> pd.DataFrame:
    """Each team's hub or base locations from the profile (``hubs = [{ name, postcode }]``), located.

    Returns
    -------
    pandas.DataFrame
        ``team`` (whose hub it is), ``name``, ``postcode``, ``easting``, ``northing``, ``status``
        and ``located_team`` (the team whose area the hub stands in: a hub may serve a team from
        outside its area). Empty when no team has hubs recorded.
    """
    rows = []
    for t in profile.teams:
        for h in t.hubs:
            rows.append({"team": t.name, "name": h.name, "postcode": h.postcode, "x": h.easting, "y": h.northing})
    cols = ["team", "name", "postcode", "easting", "northing", "status", "located_team"]
    if not rows:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame(rows)
    res = pd.DataFrame(index=df.index, columns=["team", "status", "postcode", "easting", "northing"], dtype=object)
    pc = df["postcode"].notna().to_numpy()
    if pc.any():
        r = profile.allocate(df.loc[pc, "postcode"].tolist())
        res.loc[pc, ["team", "status", "postcode", "easting", "northing"]] = r[
            ["team", "status", "postcode", "easting", "northing"]].astype(object).to_numpy()
    if (~pc).any():
        r = profile.allocate_points(df.loc[~pc, "x"].to_numpy(float), df.loc[~pc, "y"].to_numpy(float))
        res.loc[~pc, ["team", "status", "postcode", "easting", "northing"]] = r[
            ["team", "status", "postcode", "easting", "northing"]].astype(object).to_numpy()
    return pd.DataFrame({
        "team": df["team"], "name": df["name"], "postcode": res["postcode"],
        "easting": pd.to_numeric(res["easting"], errors="coerce"),
        "northing": pd.to_numeric(res["northing"], errors="coerce"),
        "status": res["status"].astype(str), "located_team": res["team"].where(res["team"].notna(), None),
    })[cols]


def services_present(profile, team: str, *, near: tuple[float, float] | None = None) -> dict:
    """Return the services present in one team: public ones by name, count-only kinds as counts.

    Public ones come nearest first when ``near`` is given as (easting, northing) in EPSG:27700.

    Returns
    -------
    dict
        ``listed``: list of {name, kind, provider, postcode, distance_m} (distance from ``near``,
        metres, or None); ``counted``: {kind plural: n} for count-only kinds placed in the team;
        ``council_only``: {kind plural: n} for services of the council the data cannot place in a
        team; ``hubs``: the team's hubs from the profile.

    Raises
    ------
    ValueError
        If ``team`` is not one of the profile's teams.
    """
    _check_team(profile, team)
    loc = service_locations(profile)
    here = loc[loc["team"] == team]
    pub = here[here["publish"] == "public"].copy()
    if near is not None and len(pub):
        pub["distance_m"] = np.hypot(pub["easting"] - near[0], pub["northing"] - near[1]).round(0)
        pub = pub.sort_values(["distance_m", "service_name"], na_position="last", kind="stable")
    else:
        pub["distance_m"] = np.nan
        pub = pub.sort_values(["service_kind", "service_name"], kind="stable")
    listed = [
        {"name": r.service_name, "kind": r.service_kind, "provider": r.provider, "postcode": r.postcode,
         "distance_m": None if pd.isna(r.distance_m) else float(r.distance_m)}
        for r in pub.itertuples(index=False)
    ]
    cnt = here[here["publish"] == "count"]
    counted = {service_kind(k).plural: int(n) for k, n in cnt.groupby("kind").size().items()}
    rest = loc[loc["team"].isna() & (loc["status"] != "outside_area") & (loc["publish"] == "count")]
    council_only = {service_kind(k).plural: int(n) for k, n in rest.groupby("kind").size().items()}
    hubs = team_hubs(profile)
    hubs = hubs[hubs["team"] == team]
    return {
        "listed": listed,
        "counted": counted,
        "council_only": council_only,
        "hubs": [{"name": h.name, "postcode": h.postcode, "located_team": h.located_team}
                 for h in hubs.itertuples(index=False)],
    }


def counts_text(row: pd.Series) -> str:
    """One row of :func:`service_counts` as text ("Day care of children 9, Childminders 2")."""
    plural = {k.label: k.plural for k in SERVICE_KINDS.values()}
    return ", ".join(f"{plural.get(k, k)} {int(v)}" for k, v in row.drop("total", errors="ignore").items() if v)


def service_export(profile) -> pd.DataFrame:
    """Return the services that may be exported: one row per public service (:data:`EXPORT_COLUMNS`).

    Each is located or not (with its status). Count-only kinds are never in it.
    """
    loc = service_locations(profile)
    out = loc.loc[loc["publish"] == "public", EXPORT_COLUMNS].reset_index(drop=True)
    return out.astype(object).where(out.notna(), None)


def withheld_counts(profile) -> dict[str, int]:
    """Count-only services left out of every export and map, by kind (plural label)."""
    loc = service_locations(profile)
    cnt = loc[loc["publish"] == "count"]
    return {service_kind(k).plural: int(n) for k, n in cnt.groupby("kind").size().items()}
