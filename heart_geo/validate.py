"""Data checks for a profile: what the real data gets wrong, measured and reported, never hidden."""

from __future__ import annotations

import itertools

import shapely

from . import figures
from .population import small_area_report

__all__ = ["validate_profile"]


def validate_profile(profile) -> dict:
    """Check a loaded profile against its data.

    Returns
    -------
    dict
        ``repaired`` (catchments whose geometry was repaired, and how); ``gaps`` (parts of the
        council in no catchment, with km²); ``other_catchments`` (council catchments that belong to
        no team); ``overlaps`` (pairs of team catchments that overlap, m²); ``outside_council``
        (catchment area beyond the council outline, km²); ``missing_schools`` (schools the profile
        maps that the data lacks); ``name_mismatches``; ``postcodes`` (the council's current
        postcodes), ``postcodes_allocated``, ``postcodes_nearest_team`` and ``postcodes_terminated``
        (:func:`heart_geo.figures.postcode_counts`); ``postcodes_in_no_team`` (current postcodes in no
        team catchment, by status and the team given); ``terminated_by_team`` (terminated postcodes,
        each answered with the team of its last location); ``areas_in_no_team`` (gaps plus
        catchments of no team: the export's ``gaps`` layer); ``releases`` (the release of
        each dataset that answers and the older ones kept); ``postcode_changes`` (new, gone and moved
        postcodes since the previous release); ``override_areas`` and ``override_conflicts`` (where
        the postcode overrides hold for points); ``small_areas`` (data zones, how postcodes were
        placed in them, population in zones split between teams); ``ok`` (False if a mapped school is missing).
    """
    cat = profile.catchments
    rep = {
        "profile": profile.key,
        "council": f"{profile.name} ({profile.code})",
        "repaired": [
            {"school": r["school_name"], "repair": r["repair"]} for _, r in cat.iterrows() if r["repair"]
        ],
    }
    gaps = profile.gaps
    areas = figures.no_team_areas(profile)
    rep["gaps"] = [
        {"area_km2": round(g.area_km2, 2), "near_easting": round(g.geometry.centroid.x),
         "near_northing": round(g.geometry.centroid.y)}
        for g in gaps[gaps["kind"] == "gap"].itertuples()
    ]
    rep["gap_km2_total"] = areas["gap_km2"]
    rep["areas_in_no_team"] = areas["areas"]
    rep["other_catchments"] = [
        {"note": g.note, "area_km2": round(g.area_km2, 2)}
        for g in gaps[gaps["kind"] == "other_catchment"].itertuples()
    ]
    overlaps = []
    rows = list(cat.itertuples())
    for a, b in itertools.combinations(rows, 2):
        inter = shapely.intersection(a.geometry, b.geometry).area
        if inter > 1.0:
            overlaps.append({"a": a.school_name, "b": b.school_name, "area_m2": round(inter, 1)})
    rep["overlaps"] = overlaps
    outside = []
    if profile.council_boundary is not None:
        outline = profile.council_boundary.geometry.iloc[0]
        for r in rows:
            out = shapely.difference(r.geometry, outline).area
            if out > 10_000:
                outside.append({"school": r.school_name, "km2": round(out / 1e6, 2)})
    rep["outside_council"] = outside
    rep["missing_schools"] = [p for p in profile.problems if "not in the catchment data" in p]
    rep["name_mismatches"] = [p for p in profile.problems if "profile names" in p]
    rep["unmapped_catchments"] = [p for p in profile.problems if "mapped to no team" in p]
    n = figures.postcode_counts(profile)
    rep["postcodes"] = n["current"]
    rep["postcodes_allocated"] = n["allocated"]
    rep["postcodes_nearest_team"] = n["nearest_team"]
    rep["postcodes_terminated"] = n["terminated"]
    rep["postcodes_in_no_team"] = _not_allocated(profile)
    rep["terminated_by_team"] = {t: c["terminated"] for t, c in n["by_team"].items() if c["terminated"]}
    rep["releases"] = _releases(profile)
    rep["postcode_changes"] = _postcode_changes(profile)
    areas = getattr(profile, "override_areas", None)
    rep["override_areas"] = [] if areas is None else [
        {"team": profile.team_names[int(r.team_index)], "region": r.region, "postcodes": int(r.postcodes),
         "km2": round(r.geometry.area / 1e6, 2)}
        for r in areas.itertuples()
    ]
    rep["override_conflicts"] = [p for p in profile.problems if p.startswith("override:")]
    split = {pc: t for pc, t in zip(profile.postcodes["postcode"], getattr(profile, "_pc_split", []), strict=False)
             if t}
    rep["address_points"] = int(len(getattr(profile, "addresses", [])))
    rep["split_postcodes"] = {"count": len(split), "postcodes": dict(sorted(split.items()))}
    rep["small_areas"] = small_area_report(profile)
    rep["ok"] = not rep["missing_schools"]
    return rep


def _not_allocated(profile) -> dict:
    """Count the council's current postcodes in no team catchment, by status and the team given (if any)."""
    alloc = profile.postcode_allocations()
    rest = alloc[(alloc["status"] != "allocated") & ~alloc["terminated"].astype(bool)]
    return {
        f"{s} -> {t}": int(c)
        for (s, t), c in rest.groupby(["status", "team"], observed=True, dropna=False).size().items()
    }


def _releases(profile) -> dict:
    """Which release of each dataset answers, and which older ones are kept for history."""
    out = {}
    for key, rels in getattr(profile, "releases", {}).items():
        if not rels:
            out[key] = {"in_use": "not in the data folder", "older": [], "folder": ""}
            continue
        out[key] = {"in_use": rels[-1].describe(), "how": rels[-1].how,
                    "older": [r.label for r in reversed(rels[:-1])], "folder": str(rels[-1].root)}
    return out


def _postcode_changes(profile) -> dict:
    """How the council's postcodes changed from the previous release to the one in use."""
    from .sources import read_postcodes

    rels = getattr(profile, "releases", {}).get("postcodes") or []
    pcs = profile.postcodes
    mine = pcs[(pcs["council_code"] == profile.code)]
    cur = mine[~mine["terminated"].astype(bool)]
    rep = {"release": rels[-1].label if rels else "", "current": int(len(cur)),
           "terminated_kept_from_older_releases": int(mine["terminated"].astype(bool).sum())}
    if len(rels) < 2:
        return rep
    prev = read_postcodes(list(rels[-2].files))
    prev_mine = prev[prev["council_code"] == profile.code].set_index("postcode")
    now = pcs[~pcs["terminated"].astype(bool)].set_index("postcode")
    both = cur.merge(prev[["postcode", "easting", "northing", "council_code"]], on="postcode",
                     suffixes=("", "_prev"), how="inner")
    moved = ((both["easting"] - both["easting_prev"]) ** 2 + (both["northing"] - both["northing_prev"]) ** 2) ** 0.5
    rep.update({
        "previous_release": rels[-2].label,
        "new_since_previous": int((~cur["postcode"].isin(prev["postcode"])).sum()),
        "gone_since_previous": int((~prev_mine.index.isin(now.index)).sum()),
        "moved_in_from_other_councils": int((both["council_code_prev"] != profile.code).sum()),
        "moved_out_to_other_councils": int(prev_mine.index.isin(now.index[now["council_code"] != profile.code]).sum()),
        "centroid_moved_over_50m": int((moved > 50).sum()),
        "centroid_moved_over_200m": int((moved > 200).sum()),
    })
    return rep
