"""Building and caching what a profile derives from the data.

Catchments matched to teams, the postcode table answered in advance, override areas, address points
and the allocator's grid.

:func:`load_built` is the one entry: it finds the releases, keys the cache entry by the checksums
of the profile, the data files and this code, and builds (then caches) only when no entry answers.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import _cache, _paths, _util, population, sources
from .allocate import Allocator, PointResult
from .codes import ALLOCATED, M_NEAREST, M_OVERRIDE, MISSING, NEAREST, OUTSIDE, TERMINATED
from .config import Override, ProfileConfig, Source
from .errors import ProfileError
from .postcodes import normalise_postcode
from .settings import CRS, NEAR_BOUNDARY_M

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

__all__ = ["area_overrides", "build", "load_built", "locate_releases", "polygon_overrides", "text_overrides"]

#: Bumped when what the cache holds changes shape (5: the grid is a :class:`heart_geo.allocate.Grid`).
CACHE_FORMAT = 5
#: Modules whose code decides what is built: a change to any of them rebuilds the cache.
_FINGERPRINTED = ("allocate.py", "_segments.py", "sources.py", "releases.py", "profiles.py", "config.py", "build.py",
                  "codes.py", "postcodes.py", "settings.py", "_cache.py", "smallareas.py", "population.py")


def load_built(cfg: ProfileConfig, root: Path, *, cache: bool = True) -> tuple[dict, dict]:
    """Return derived data for a profile, from the cache when an entry answers, else built (and cached).

    Returns ``(built, releases)``: the dict :func:`build` makes, and every release of every dataset
    found in ``root``, oldest first.
    """
    releases = locate_releases(cfg.sources, root)
    all_files = [p for k in sorted(releases) for r in releases[k] for p in r.files]
    digest = hashlib.sha256(
        cfg.text + _file_digest(all_files).encode() + _code_fingerprint().encode() + str(CACHE_FORMAT).encode()
    ).hexdigest()[:24]
    built = None
    cpath = _cache_dir() / f"{cfg.key}-{digest}{_cache.SUFFIX}"
    if cache:
        built = _cache.load(cpath, digest)  # data only (no pickle); digest checked before use
    if built is None:
        built = build(cfg, releases)
        built["_digest"] = digest
        if cache:
            try:
                _cache.save(cpath, built, prune_pattern=rf"{re.escape(cfg.key)}-[0-9a-f]{{24}}\.(hgc|pkl)")
            except (OSError, TypeError) as exc:
                log.warning("Could not write cache %s: %s", cpath.name, exc)
    return built, releases


_cache_dir = _paths.cache_dir


def _code_fingerprint() -> str:
    h = hashlib.sha256()
    for name in _FINGERPRINTED:
        h.update((Path(__file__).parent / name).read_bytes())
    return h.hexdigest()[:16]


_file_digest = _util.sha256_files



def _EMPTY_ADDRESSES() -> pd.DataFrame:  # noqa: N802 (a constant's factory)
    return pd.DataFrame({"uprn": pd.Series(dtype="int64"), "easting": pd.Series(dtype=float),
                         "northing": pd.Series(dtype=float), "postcode": pd.Series(dtype=object)})



def polygon_overrides(overrides: tuple[Override, ...], team_names: list[str]) -> list:
    """Return the polygon (WKT) overrides as ``(polygon, team index)`` pairs, in profile order."""
    out = []
    for o in overrides:
        if o.kind == "wkt":
            try:
                poly = shapely.from_wkt(o.value)
            except shapely.errors.GEOSException as exc:
                raise ProfileError(f"override {o.team!r}: bad WKT: {exc}") from None
            out.append((poly, team_names.index(o.team)))
    return out


def text_overrides(overrides: tuple[Override, ...], team_names: list[str]) -> list[tuple[str, str, int]]:
    """Return the postcode-unit, sector and district overrides as ``(kind, value, team index)``, in order."""
    return [(o.kind, normalise_postcode(o.value) if o.kind == "postcode" else o.value.upper().strip(),
             team_names.index(o.team)) for o in overrides if o.kind != "wkt"]


# --------------------------------------------------------------------------------------------------
# building (cached)
# --------------------------------------------------------------------------------------------------
def locate_releases(profile_sources: dict[str, Source], data_dir: Path) -> dict[str, list[sources.Release]]:
    """Every release of every source in the data folder, oldest first: the last one answers."""
    out = {}
    for key, src in profile_sources.items():
        if not src.patterns:
            out[key] = []
            continue
        try:
            out[key] = sources.find_releases(data_dir, list(src.patterns), what=f"{key} data", dataset=key)
        except FileNotFoundError:
            if key in ("catchments", "postcodes"):
                raise
            out[key] = []
    return out


#: Postcodes within this distance (metres) of the council's area are kept in full; the rest of a
#: national file is kept compactly (enough to say which council a postcode is in).
NEAR_MARGIN_M = 10_000.0


def _read_postcode_releases(releases: list[sources.Release], code: str, council_area) -> tuple[pd.DataFrame, dict]:
    """Return the newest release's postcodes, then those only older releases hold (marked terminated).

    A postcode in the newest release answers from it (its point and council follow the newest); one
    found only in older releases is kept from the most recent of them, ``terminated`` with its
    ``release`` naming where it was last seen. Only the council's postcodes and those within
    :data:`NEAR_MARGIN_M` of it are kept as a table; the rest of a national file is kept compactly.
    """
    xmin, ymin, xmax, ymax = shapely.bounds(council_area)
    box = (xmin - NEAR_MARGIN_M, ymin - NEAR_MARGIN_M, xmax + NEAR_MARGIN_M, ymax + NEAR_MARGIN_M)
    newest = releases[-1]
    pcs, rest = sources.read_postcode_table(list(newest.files), near_codes=[code], near_box=box)
    pcs["release"] = newest.label
    frames, known = [pcs], set(pcs["postcode"])
    for rel in reversed(releases[:-1]):
        old, old_rest = sources.read_postcode_table(list(rel.files), near_codes=[code], near_box=box)
        old = old[~old["postcode"].isin(known) & ~np.isin(old["postcode"].to_numpy(dtype="S8"), rest["keys"])].copy()
        rest = sources.merge_compact(rest, old_rest, exclude=list(known), terminated=True)
        if old.empty:
            continue
        old["terminated"] = True
        old["release"] = rel.label
        frames.append(old)
        known |= set(old["postcode"])
    return pd.concat(frames, ignore_index=True), rest


def build(cfg: ProfileConfig, releases: dict[str, list[sources.Release]]) -> dict:
    """Everything derived from the profile and the data files: the dict the cache keeps.

    Keys: ``catchments``, ``council``, ``council_area``, ``schools``, ``postcodes``, ``pc_result``,
    ``problems``, ``grid``, ``origin``, ``override_areas``, ``addresses``, ``postcode_split``,
    ``postcodes_elsewhere``, ``small_areas`` (data zones, population and SIMD joined to the teams:
    :func:`heart_geo.population.build_small_areas`; None when no data-zone file is loaded).
    """
    files = {k: list(v[-1].files) if v else [] for k, v in releases.items()}
    code = cfg.council.code
    cat, problems = _team_catchments(cfg, files["catchments"])
    council = None
    if files.get("council"):
        council = sources.read_council_boundary(files["council"][0], code,
                                                code_field=_code_field(cfg.sources["council"]))
    council_area = shapely.union_all(list(cat.geometry) + ([council.geometry.iloc[0]] if council is not None else []))
    schools = sources.read_schools(_prefer(files["schools"]), council_code=code) if files.get("schools") else None

    pcs, rest = _read_postcode_releases(releases["postcodes"], code, council_area)
    team_names = [t.name for t in cfg.teams]
    polygons = polygon_overrides(cfg.overrides, team_names)
    by_text = text_overrides(cfg.overrides, team_names)
    plain = _allocator(cat, len(team_names), council_area, polygons, lazy_grid=True)  # exact path only
    result = _allocate_postcode_table(pcs, code, plain, by_text)
    derived, conflicts, follow = _override_areas(pcs, result, plain, by_text, list(cat["school_name"]), team_names)
    problems += conflicts
    # the grid knows the override areas, so points answer as their postcodes do
    alloc = _allocator(cat, len(team_names), council_area, area_overrides(derived) + polygons)
    if follow:
        idx = np.asarray(sorted(follow), dtype=np.intp)
        result.put(idx, alloc.exact(pcs["easting"].to_numpy()[idx], pcs["northing"].to_numpy()[idx]))
    addresses = _read_addresses(releases, code, council_area)
    split = _postcode_split(pcs, result, code, addresses, alloc, team_names)
    small = population.build_small_areas(cfg, files, pcs=pcs, result=result, council_area=council_area,
                                         alloc=alloc, addresses=addresses)
    return {
        "catchments": cat,
        "council": council,
        "council_area": council_area,
        "schools": schools,
        "postcodes": pcs,
        "pc_result": result,
        "problems": problems,
        "grid": alloc.grid,
        "origin": alloc.origin,
        "override_areas": derived,
        "addresses": addresses,
        "postcode_split": split,
        "postcodes_elsewhere": rest,
        "small_areas": small,
    }


def _code_field(src: Source):
    return list(src.code_field) if isinstance(src.code_field, tuple) else src.code_field


def _allocator(cat: gpd.GeoDataFrame, n_teams: int, council_area, overrides: list, *,
               lazy_grid: bool = False) -> Allocator:
    return Allocator(
        catchments=list(cat.geometry),
        catchment_team=cat["team_index"].to_numpy(),
        n_teams=n_teams,
        council_area=council_area,
        overrides=overrides,
        near_m=NEAR_BOUNDARY_M,
        lazy_grid=lazy_grid,
    )


def _team_catchments(cfg: ProfileConfig, files: list[Path]) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Match the council's catchments to the profile's teams.

    Returns the catchments in priority order (team order, then school order; others last), with
    ``team_index``, ``team`` and ``note``, and the problems found matching them to the profile.
    """
    cat = sources.read_catchments(files, council_code=cfg.council.code, layer=cfg.sources["catchments"].layer)
    teams = cfg.teams
    by_seed = {seed: (i, nm) for i, t in enumerate(teams) for seed, nm in t.schools}
    unassigned = {u.name.upper(): u.note for u in cfg.unassigned_catchments}
    problems: list[str] = []
    team_index, order, notes = [], [], []
    for seed, school in zip(cat["seed_code"], cat["school_name"], strict=True):
        hit = by_seed.get(seed or "")
        if hit is not None:
            ti, nm = hit
            if nm and nm.upper() != str(school).upper():
                problems.append(f"seed code {seed}: profile names {nm!r}, data names {school!r}")
            team_index.append(ti)
            order.append(ti * 100 + [s for s, _ in teams[ti].schools].index(seed))
            notes.append("")
        else:
            team_index.append(-1)
            order.append(10_000 + len(order))
            note = unassigned.get(str(school).upper())
            if note is None:
                note = "catchment in the council's layer that the profile maps to no team"
                problems.append(f"catchment {school!r} is mapped to no team")
            notes.append(note)
    cat["team_index"] = team_index
    cat["team"] = [teams[i].name if i >= 0 else None for i in team_index]
    cat["note"] = notes
    cat["_order"] = order
    cat = cat.sort_values("_order").drop(columns="_order").reset_index(drop=True)
    present = set(cat["seed_code"].dropna())
    for seed, (ti, nm) in by_seed.items():
        if seed not in present:
            problems.append(f"team {teams[ti].name!r}: school {nm or seed} ({seed}) is not in the catchment data")
    for _, r in cat[cat["repair"] != ""].iterrows():
        problems.append(f"repaired catchment {r['school_name']}: {r['repair']}")
    return cat, problems


def _prefer(paths: list[Path]) -> Path:
    """Of several school files prefer the smallest CSV (a subset), else the first."""
    csvs = [p for p in paths if p.suffix.lower() == ".csv"]
    return min(csvs, key=lambda p: p.stat().st_size) if csvs else paths[0]


def _allocate_postcode_table(pcs: pd.DataFrame, code: str, alloc: Allocator, text_overrides) -> PointResult:
    """Precompute the answer for every postcode in the table."""
    n = len(pcs)
    res = PointResult.empty(n)
    council = pcs["council_code"].to_numpy()
    x = pcs["easting"].to_numpy()
    y = pcs["northing"].to_numpy()
    has_xy = ~(np.isnan(x) | np.isnan(y))
    mine = council == code
    unknown_council = council == ""
    todo = np.flatnonzero((mine | unknown_council) & has_xy)
    r = alloc.exact(x[todo], y[todo])
    # a postcode the council's data places in the council is inside it, whatever the outline says
    in_mine = mine[todo] & (r.status == OUTSIDE)
    if in_mine.any():
        sub = np.flatnonzero(in_mine)
        t, d = alloc.nearest_team(x[todo][sub], y[todo][sub])
        r.team[sub], r.distance[sub] = t, d
        r.status[sub], r.method[sub] = NEAREST, M_NEAREST
        r.near[sub] = d <= alloc.near_m
    res.put(todo, r)
    res.status[(mine | unknown_council) & ~has_xy] = MISSING
    hit_team = _text_override_teams(pcs, text_overrides, mine & has_xy)
    hit = hit_team >= 0
    res.team[hit] = hit_team[hit]
    res.status[hit] = ALLOCATED
    res.method[hit] = M_OVERRIDE
    res.distance[hit] = np.nan
    term = pcs["terminated"].to_numpy(dtype=bool) & np.isin(res.status, [ALLOCATED, NEAREST])
    res.status[term] = TERMINATED
    return res


def _read_addresses(releases: dict, code: str, council_area) -> pd.DataFrame:
    """Return the council's address points (and a 5 km margin) from OS Open UPRN and/or ONSUD's newest release.

    ONSUD gives each UPRN's postcode (and a grid reference); Open UPRN gives the point. With both, the
    Open UPRN point is used. With neither, the table is empty and nothing changes.
    """
    from .uprn import read_onsud, read_open_uprn

    xmin, ymin, xmax, ymax = shapely.bounds(council_area)
    box = (xmin - 5000, ymin - 5000, xmax + 5000, ymax + 5000)
    onsud = releases.get("uprn_directory") or []
    openu = releases.get("addresses") or []
    out = _EMPTY_ADDRESSES()
    if onsud:
        d = read_onsud(list(onsud[-1].files), council_codes=[code], bbox=box)
        out = d[["uprn", "easting", "northing", "postcode"]]
    if openu:
        o = read_open_uprn(list(openu[-1].files), bbox=box)
        if len(out):
            pts = o.set_index("uprn")
            have = out["uprn"].isin(pts.index).to_numpy()
            out = out.copy()
            out.loc[have, "easting"] = pts.loc[out.loc[have, "uprn"], "easting"].to_numpy()
            out.loc[have, "northing"] = pts.loc[out.loc[have, "uprn"], "northing"].to_numpy()
            extra = o[~o["uprn"].isin(out["uprn"])].assign(postcode=None)
            out = pd.concat([out, extra], ignore_index=True)
        else:
            out = o.assign(postcode=None)
    out = out[np.isfinite(out["easting"]) & np.isfinite(out["northing"])]
    return out.astype({"uprn": "int64", "easting": float, "northing": float, "postcode": object}).reset_index(drop=True)


def _postcode_split(pcs: pd.DataFrame, res: PointResult, code: str, addresses: pd.DataFrame, alloc: Allocator,
                    team_names: list[str]) -> pd.DataFrame:
    """For each of the council's current postcodes, its address points per team, where they settle it.

    A postcode whose addresses all lie in its centroid's team is settled: its ``near_boundary`` is
    cleared in ``res`` (it was a centroid artefact). A postcode with addresses in another team keeps
    its centroid's team and status and is listed, with ``split_teams`` ("Barony 41, Doon Valley 9").
    """
    empty = pd.DataFrame({"postcode": pd.Series(dtype=object), "split_teams": pd.Series(dtype=object)})
    if addresses.empty or addresses["postcode"].isna().all():
        return empty
    mine = (pcs["council_code"].to_numpy() == code) & ~pcs["terminated"].to_numpy(dtype=bool) & (res.team >= 0)
    pc_of = pd.Series(np.flatnonzero(mine), index=pcs["postcode"].to_numpy()[mine])
    a = addresses[addresses["postcode"].isin(pc_of.index)]
    if a.empty:
        return empty
    r = alloc.locate(a["easting"].to_numpy(), a["northing"].to_numpy())
    counts = pd.DataFrame({"postcode": a["postcode"].to_numpy(), "team": r.team}).value_counts().reset_index()
    rows = []
    for pc, grp in counts.groupby("postcode", sort=True):
        i = int(pc_of[pc])
        teams = dict(zip(grp["team"], grp["count"], strict=True))
        if set(teams) == {int(res.team[i])}:
            res.near[i] = False  # every address is in the centroid's team
            continue
        parts = sorted(teams.items(), key=lambda kv: (-kv[1], kv[0]))
        rows.append((pc, ", ".join(f"{team_names[t] if t >= 0 else 'no team'} {n}" for t, n in parts)))
    if not rows:
        return empty
    return pd.DataFrame({"postcode": [r[0] for r in rows], "split_teams": [r[1] for r in rows]})


def _text_override_teams(pcs: pd.DataFrame, text_overrides, eligible: np.ndarray) -> np.ndarray:
    """Team index each postcode takes from the unit, sector and district rules (-1: none).

    Later rules win, as they are applied in order.
    """
    out = np.full(len(pcs), -1, np.int32)
    if not text_overrides:
        return out
    pc = pcs["postcode"].astype(str)
    for kind, value, team in text_overrides:
        if kind == "postcode":
            hit = pc.eq(value).to_numpy()
        elif kind == "sector":
            hit = pc.str[:-2].str.strip().eq(value).to_numpy()
        else:
            hit = pc.str.split(" ").str[0].eq(value).to_numpy()
        out[hit & eligible] = team
    return out


def _override_areas(pcs: pd.DataFrame, res: PointResult, alloc: Allocator, text_overrides, school_names,
                    team_names=()):
    """Areas for the postcode-unit, sector and district overrides, so a point answers as its postcode.

    Postcode areas are not open data. The rule: a point takes the override of its nearest current
    postcode within the same region, where a region is one catchment (less the catchments listed
    before it, which win shared ground) or the council's area in no catchment. That is, the Voronoi
    cells of the region's postcode points, clipped to the region, unioned per override team. Only
    regions holding an overridden postcode get an area.

    Several postcodes can share one point (a large user, a block of flats). Where they would answer
    differently, most postcodes at the point decide (a postcode-unit override outranks a sector or
    district one), and the others answer as their point does: one answer per place.

    Returns
    -------
    geopandas.GeoDataFrame, list of str, list of int
        ``team_index``, ``region``, ``postcodes`` (overridden postcodes inside), geometry; the
        problems found; the rows of ``pcs`` that must answer as their point does.
    """
    empty = gpd.GeoDataFrame({"team_index": pd.Series(dtype="int64"), "region": pd.Series(dtype=str),
                              "postcodes": pd.Series(dtype="int64")}, geometry=[], crs=CRS)
    if not text_overrides:
        return empty, [], []
    x = pcs["easting"].to_numpy(dtype=float)
    y = pcs["northing"].to_numpy(dtype=float)
    current = ~pcs["terminated"].to_numpy(dtype=bool) & ~(np.isnan(x) | np.isnan(y))
    text_team = _text_override_teams(pcs, text_overrides, current)
    over = (text_team >= 0) & (res.method == M_OVERRIDE)
    if not over.any():
        return empty, [], []
    # every current postcode's region, whatever its council: -1 - k catchment k, -2 - ncat the gap
    ncat = len(alloc.catchments)
    idx = np.flatnonzero(current)
    cat, inside = alloc._region(x[idx], y[idx])
    region = np.full(len(pcs), 0, np.int64)
    region[idx] = np.where(cat >= 0, cat + 1, np.where(inside, ncat + 1, 0))
    team = np.where(over, res.team, -1)
    units = {v for kind, v, _ in text_overrides if kind == "postcode"}
    unit = over & pcs["postcode"].isin(units).to_numpy()
    rows, problems, follow = [], [], []
    earlier = shapely.Polygon()
    shapes = []
    for poly in alloc.catchments:
        shapes.append(shapely.difference(poly, earlier) if not earlier.is_empty else poly)
        earlier = shapely.union(earlier, poly)
    shapes.append(shapely.difference(alloc.council_area, earlier))
    for r in sorted(set(region[over]) - {0}):
        area = shapes[r - 1]
        sel = np.flatnonzero(current & (region == r))
        # a unit override outranks a sector or district one; then most postcodes at the point win
        rank = np.where(unit[sel], 2 * len(sel), 0) + 1
        pts = pd.DataFrame({"x": x[sel], "y": y[sel], "team": team[sel], "w": rank, "i": sel})
        votes = pts.groupby(["x", "y", "team"], sort=False)["w"].sum().reset_index()
        votes = votes.sort_values(["w", "team"], ascending=False).drop_duplicates(["x", "y"])
        pts = pts.merge(votes[["x", "y", "team"]].rename(columns={"team": "seed"}), on=["x", "y"])
        odd = pts[pts["team"] != pts["seed"]]
        if len(odd):
            follow.extend(odd["i"].tolist())
            problems.append(_shared_point_text(odd, pts, res.team, pcs["postcode"].to_numpy(dtype=object),
                                               list(team_names)))
        seeds = votes.rename(columns={"team": "team"})[["x", "y", "team"]].reset_index(drop=True)
        name = f"catchment of {school_names[r - 1]}" if r <= ncat else "council area in no catchment"
        hit_teams = sorted(set(seeds["team"]) - {-1})
        if len(seeds) == 1 or ((seeds["team"] >= 0).all() and len(hit_teams) == 1):
            cells = [(seeds["team"].iloc[0], area)] if seeds["team"].iloc[0] >= 0 else []
        else:
            mp = shapely.multipoints(shapely.points(seeds["x"].to_numpy(), seeds["y"].to_numpy()))
            vor = shapely.voronoi_polygons(mp, extend_to=area, ordered=True)
            cells = list(zip(seeds["team"].to_numpy(), shapely.get_parts(vor), strict=True))
        for t in hit_teams:
            g = shapely.union_all([c for tt, c in cells if tt == t])
            g = shapely.intersection(g, area)
            g = shapely.union_all([p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")])
            if not g.is_empty:
                n = int(((team[sel]) == t).sum())
                rows.append((int(t), name, n, g))
    if not rows:
        return empty, problems, follow
    gdf = gpd.GeoDataFrame({"team_index": [r[0] for r in rows], "region": [r[1] for r in rows],
                            "postcodes": [r[2] for r in rows]}, geometry=[r[3] for r in rows], crs=CRS)
    return gdf, problems, follow


def _shared_point_text(odd: pd.DataFrame, pts: pd.DataFrame, answered, postcodes, team_names: list[str]) -> str:
    """Name the postcodes that answer as their shared point does, not as their own override says."""
    def name(t: int) -> str:
        return team_names[t] if 0 <= t < len(team_names) else "no team"

    def point_team(r) -> int:  # the team the point answers: its override's, else its catchment's
        if r.seed >= 0:
            return int(r.seed)
        same = pts[(pts["x"] == r.x) & (pts["y"] == r.y) & (pts["team"] == r.seed)]
        return int(answered[int(same["i"].iloc[0])]) if len(same) else -1

    each = "; ".join(f"{postcodes[r.i]} (its override: {name(int(r.team))}; answers {name(point_team(r))})"
                     for r in odd.itertuples())
    return (f"override: {len(odd)} postcode(s) share their point with postcodes answered otherwise: {each}. "
            "Each answers as its point does (most postcodes at the point decide; a postcode-unit override "
            "outranks a sector or district)")


def area_overrides(areas: gpd.GeoDataFrame) -> list:
    """Return the derived override areas as ``(polygon, team index)`` pairs."""
    return [(g, int(t)) for g, t in zip(areas.geometry, areas["team_index"], strict=True)]
