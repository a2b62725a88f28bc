"""Data checks for a profile: what the real data gets wrong, measured and reported, never hidden."""

from __future__ import annotations

import itertools

import shapely

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
        maps that the data lacks); ``name_mismatches``; ``postcodes_in_no_team`` (the council's
        postcodes in no team catchment, by status and nearest team); ``ok`` (False if a mapped
        school is missing).
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
    rep["gaps"] = [
        {"area_km2": round(g.area_km2, 2), "near_easting": round(g.geometry.centroid.x),
         "near_northing": round(g.geometry.centroid.y)}
        for g in gaps[gaps["kind"] == "gap"].itertuples()
    ]
    rep["gap_km2_total"] = round(float(gaps.loc[gaps["kind"] == "gap", "area_km2"].sum()), 2)
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
    alloc = profile.postcode_allocations()
    mine = alloc[alloc["status"] != "allocated"]
    rep["postcodes"] = int(len(alloc))
    rep["postcodes_allocated"] = int((alloc["status"] == "allocated").sum())
    rep["postcodes_in_no_team"] = {
        f"{s} -> {t}": int(n)
        for (s, t), n in mine.groupby(["status", "team"], observed=True, dropna=False).size().items()
    }
    rep["ok"] = not rep["missing_schools"]
    return rep
