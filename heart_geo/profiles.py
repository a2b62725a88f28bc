"""Council profiles: the configuration in ``boundaries/`` joined to the official data.

A profile (``boundaries/<key>.toml``) holds everything that is about one council: its GSS code, its
teams (or localities) and the catchment schools that make each, the schools that serve the whole
council, its services and link workers, override rules and its data sources. Nothing
council-specific lives in code.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import logging
import os
import re
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import _cache, _util, sources
from ._crs import transformer
from .allocate import ALLOCATED, MISSING, NEAREST, OUTSIDE, Allocator, PointResult
from .errors import InputError, ProfileError
from .postcodes import normalise_postcode, normalise_postcodes
from .settings import CACHE_ENV, CRS, METHODS, NEAR_BOUNDARY_M, STATUSES

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

__all__ = ["Profile", "Team", "list_profiles", "load_profile", "profiles_dir"]

_CACHE_FORMAT = 4
TERMINATED = STATUSES.index("terminated_postcode")
UNKNOWN = STATUSES.index("unknown_postcode")
INVALID_PC = STATUSES.index("invalid_postcode")
INVALID_XY = STATUSES.index("invalid_coordinates")


def profiles_dir() -> Path:
    """The folder holding the council profiles (``boundaries/``)."""
    here = Path(__file__).resolve().parent
    for cand in (here / "boundaries", here.parent / "boundaries"):
        if cand.is_dir():
            return cand
    raise ProfileError(f"no boundaries/ folder beside {str(here)!r}")


def list_profiles() -> list[str]:
    """Names of the council profiles shipped in ``boundaries/`` (file stems)."""
    return sorted(p.stem for p in profiles_dir().glob("*.toml"))


@dataclass(frozen=True)
class Team:
    """One locality team: its name, catchment schools (seed code -> name) and map colour."""

    name: str
    schools: tuple[tuple[str, str], ...]
    colour: str


def _read_config(name: str | os.PathLike) -> tuple[str, dict, bytes]:
    p = Path(name)
    if p.suffix == ".toml" and p.is_file():
        path = p
    else:
        key = str(name).strip().lower().replace(" ", "_").replace("-", "_")
        path = profiles_dir() / f"{key}.toml"
        if not path.is_file():
            # accept a council code or display name
            for cand in profiles_dir().glob("*.toml"):
                try:
                    conf = tomllib.loads(cand.read_text(encoding="utf-8"))
                except (tomllib.TOMLDecodeError, UnicodeDecodeError):
                    continue  # reported when that profile itself is loaded
                c = conf.get("council", {})
                if isinstance(c, dict) and str(name) in (c.get("code"), c.get("name")):
                    path = cand
                    break
            else:
                raise ProfileError(
                    f"no council profile {str(name)!r}; profiles are {list_profiles()} "
                    f"(in {str(profiles_dir())!r})"
                )
    raw = path.read_bytes()
    try:
        conf = tomllib.loads(raw.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {str(path)!r} is not valid TOML: {exc}") from None
    _check_config(conf, path)
    return path.stem, conf, raw


_STR = (str,)
_STRS = "list of strings"
_DATE = (dt.date,)
#: Types of the profile keys the code reads: table path -> {key: expected}. "list of strings",
#: "list of tables", or a tuple of types. Unknown keys are left alone (they are documentation).
_SCHEMA: dict[str, dict[str, object]] = {
    "": {"council": (dict,), "teams": "list of tables", "services": "list of tables",
         "overrides": "list of tables", "sources": (dict,), "unassigned_catchments": "list of tables",
         "council_wide_schools": (dict,), "practice_models": (dict,)},
    "council": {"name": _STR, "code": _STR, "unit": _STR, "effective_from": _DATE, "model": _STR, "notes": _STR},
    "teams": {"name": _STR, "schools": "list of tables", "colour": _STR},
    "teams.schools": {"seed_code": (str, int), "name": _STR},
    "services": {"name": _STR, "mode": _STR, "description": _STR, "link_workers": "list of tables"},
    "services.link_workers": {"covers": _STRS},
    "overrides": {"team": _STR, "postcode": _STR, "sector": _STR, "district": _STR, "wkt": _STR, "reason": _STR},
    "unassigned_catchments": {"name": _STR, "note": _STR},
    "council_wide_schools": {"faith": "list of tables", "asn": "list of tables", "asn_from_school_roll": (bool,)},
    "council_wide_schools.faith": {"seed_code": (str, int), "name": _STR},
    "council_wide_schools.asn": {"seed_code": (str, int), "name": _STR},
    "practice_models": {"names": _STRS},
    "sources.*": {"patterns": _STRS, "layer": _STR, "code_field": (str, list), "url": _STR, "sha256": _STR,
                  "description": _STR, "publisher": _STR, "licence": _STR, "attribution": _STR},
}


def _type_name(v) -> str:
    return {str: "a string", int: "a number", float: "a number", bool: "true/false", list: "a list",
            dict: "a table", dt.date: "a date"}.get(type(v), type(v).__name__)


def _type_problems(conf: dict) -> list[str]:  # noqa: C901
    """Every value of the wrong type, named by its key (``teams[2].schools``), with what was expected."""
    problems: list[str] = []

    def check(table: dict, schema_key: str, where: str) -> None:
        for key, want in _SCHEMA.get(schema_key, {}).items():
            if key not in table:
                continue
            v = table[key]
            name = f"{where}.{key}" if where else key
            sub = f"{schema_key}.{key}" if schema_key else key
            if want == "list of tables":
                if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
                    problems.append(f"'{name}' is {_type_name(v)}, expected a list of tables ([[{name}]] or "
                                    "[{ ... }, ...])")
                    continue
                for i, x in enumerate(v):
                    check(x, sub, f"{name}[{i}]")
            elif want == _STRS:
                if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                    problems.append(f"'{name}' is {_type_name(v)}, expected a list of strings ([\"...\", ...])")
            elif isinstance(want, tuple):
                bad_bool = isinstance(v, bool) and bool not in want
                if not isinstance(v, want) or bad_bool:
                    expected = " or ".join(dict.fromkeys(_type_name(t()) if t is not dt.date else "a date"
                                                         for t in want))
                    problems.append(f"'{name}' is {_type_name(v)}, expected {expected}")
                elif isinstance(v, dict) and sub in _SCHEMA:
                    check(v, sub, name)
        if schema_key == "" and isinstance(table.get("sources"), dict):
            for k, src in table["sources"].items():
                if not isinstance(src, dict):
                    problems.append(f"'sources.{k}' is {_type_name(src)}, expected a table ([sources.{k}])")
                else:
                    check(src, "sources.*", f"sources.{k}")

    check(conf, "", "")
    return problems


def _check_config(conf: dict, path: Path) -> None:  # noqa: C901
    """Report every problem in a profile at once: values of the wrong type first (by key), then
    what is missing or inconsistent."""
    typed = _type_problems(conf)
    if typed:
        raise ProfileError(f"profile {str(path)!r}: " + "; ".join(typed))
    problems = []
    council = conf.get("council", {})
    for k in ("name", "code"):
        if not council.get(k):
            problems.append(f"[council] needs '{k}'")
    teams = conf.get("teams", [])
    if not teams:
        problems.append("no [[teams]]")
    names = [t.get("name") for t in teams]
    if len(set(names)) != len(names):
        problems.append(f"team names repeat: {names}")
    for t in teams:
        if not t.get("schools"):
            problems.append(f"team {t.get('name')!r} has no schools")
    for s in conf.get("services", []):
        extra = set(s) - {"name", "mode", "description", "link_workers"}
        if extra:
            problems.append(
                f"service {s.get('name')!r} has unknown keys {sorted(extra)} (a top-level key written "
                "after a [[services]] table belongs to that service in TOML: move it above the tables)"
            )
        mode = s.get("mode")
        if mode not in ("team", "link_worker"):
            problems.append(f"service {s.get('name')!r}: mode {mode!r}, expected 'team' or 'link_worker'")
        for lw in s.get("link_workers", []):
            bad = [c for c in lw.get("covers", []) if c not in names]
            if bad:
                problems.append(f"service {s.get('name')!r}: link worker covers unknown teams {bad}")
    for o in conf.get("overrides", []):
        if o.get("team") not in names:
            problems.append(f"override {o}: team {o.get('team')!r} is not one of {names}")
        keys = [k for k in ("postcode", "sector", "district", "wkt") if k in o]
        if len(keys) != 1:
            problems.append(f"override {o}: give exactly one of postcode, sector, district, wkt")
    for src in ("catchments", "postcodes"):
        if not conf.get("sources", {}).get(src, {}).get("patterns"):
            problems.append(f"[sources.{src}] needs 'patterns'")
    from .services import check_service_config

    problems += check_service_config(conf)  # service datasets and team hubs
    if problems:
        raise ProfileError(f"profile {str(path)!r}: " + "; ".join(problems))


def _cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("heart-geo")) / "derived"


def _code_fingerprint() -> str:
    h = hashlib.sha256()
    for name in ("allocate.py", "sources.py", "profiles.py", "postcodes.py", "settings.py", "_cache.py"):
        h.update((Path(__file__).parent / name).read_bytes())
    return h.hexdigest()[:16]


_file_digest = _util.sha256_files


class Profile:
    """A council's teams joined to the official data; answers "which team?".

    Create with :func:`load_profile`. Attributes are plain pandas/geopandas objects in EPSG:27700.
    """

    def __init__(self, key: str, config: dict, data_dir: Path, built: dict, files: dict,
                 releases: dict | None = None):
        self.key = key
        #: every release of every dataset found, oldest first; the last one answers
        self.releases: dict[str, list[sources.Release]] = releases or {}
        self.config = config
        self.data_dir = data_dir
        self.files = files
        council = config["council"]
        self.name: str = council["name"]
        self.code: str = council["code"]
        self.unit: str = council.get("unit", "team")
        self.unit_plural: str = _util.plural(self.unit)
        eff = council.get("effective_from")
        self.effective_from: dt.date | None = eff if isinstance(eff, dt.date) else None
        self.teams = [
            Team(
                t["name"],
                tuple((str(s["seed_code"]), s.get("name", "")) for s in t["schools"]),
                t.get("colour", "#888888"),
            )
            for t in config["teams"]
        ]
        self.team_names = [t.name for t in self.teams]
        self.catchments: gpd.GeoDataFrame = built["catchments"]
        self.council_boundary: gpd.GeoDataFrame | None = built["council"]
        self.schools: gpd.GeoDataFrame | None = built["schools"]
        self.postcodes: pd.DataFrame = built["postcodes"]
        self._pc_result: PointResult = built["pc_result"]
        self.problems: list[str] = built["problems"]
        #: areas where the postcode-unit, sector and district overrides hold for coordinates too
        self.override_areas: gpd.GeoDataFrame = built["override_areas"]
        self.allocator = Allocator(
            catchments=list(self.catchments.geometry),
            catchment_team=self.catchments["team_index"].to_numpy(),
            n_teams=len(self.teams),
            council_area=built["council_area"],
            overrides=_area_overrides(built["override_areas"]) + _polygon_overrides(config, self.team_names),
            near_m=NEAR_BOUNDARY_M,
            grid=built["grid"],
            origin=built["origin"],
        )
        self._pc_index = pd.Index(self.postcodes["postcode"].to_numpy())
        self._pc_east = self.postcodes["easting"].to_numpy(dtype=float)
        self._pc_north = self.postcodes["northing"].to_numpy(dtype=float)
        self._pc_council = self.postcodes["council_code"].to_numpy(dtype=object)
        #: every other postcode of the file(s), compactly (sorted keys, council, point)
        self._elsewhere: dict = built.get("postcodes_elsewhere") or sources.empty_compact()
        #: address points (UPRN, easting, northing, postcode) when OS Open UPRN or ONSUD is loaded
        self.addresses: pd.DataFrame = built.get("addresses", _EMPTY_ADDRESSES())
        self._uprn_index = pd.Index(self.addresses["uprn"].to_numpy(dtype=np.int64))
        split = built.get("postcode_split")
        self._pc_split = np.full(len(self.postcodes), "", dtype=object)
        if split is not None and len(split):
            where = self._pc_index.get_indexer(split["postcode"].to_numpy(dtype=object))
            ok = where >= 0
            self._pc_split[where[ok]] = split["split_teams"].to_numpy(dtype=object)[ok]
        self._has_split = bool((self._pc_split != "").any())
        self._school_names = self.catchments["school_name"].to_numpy(dtype=object)
        cats = list(dict.fromkeys(self._school_names))
        self._school_categories = (cats, np.array([cats.index(s) for s in self._school_names]))

    def __repr__(self) -> str:
        return (
            f"<Profile {self.key!r}: {self.name} ({self.code}), {len(self.teams)} {self.unit_plural}, "
            f"{len(self.postcodes) + len(self._elsewhere['keys']):,} postcodes>"
        )

    # ----------------------------------------------------------------------------------------------
    # geometry views
    # ----------------------------------------------------------------------------------------------
    @cached_property
    def team_areas(self) -> gpd.GeoDataFrame:
        """One (multi)polygon per team, in profile order, EPSG:27700."""
        return gpd.GeoDataFrame(
            {
                "team": self.team_names,
                "colour": [t.colour for t in self.teams],
                "schools": [", ".join(n for _, n in t.schools) for t in self.teams],
            },
            geometry=list(self.allocator.team_polygons),
            crs=CRS,
        )

    @cached_property
    def council_area(self) -> shapely.Geometry:
        """The area counted as inside the council: outline plus every council catchment."""
        return self.allocator.council_area

    @cached_property
    def gaps(self) -> gpd.GeoDataFrame:
        """Parts of the council in no team catchment: data gaps and catchments that belong to no team.

        Returns
        -------
        geopandas.GeoDataFrame
            ``kind`` ({"gap", "other_catchment"}), ``note``, ``area_km2``; gaps under 1 ha (slivers
            along shared edges) are left out.
        """
        every = shapely.union_all(self.catchments.geometry.to_numpy())
        rest = shapely.difference(self.council_area, every)
        parts = [g for g in shapely.get_parts(rest) if g.area >= 10_000]
        rows = [("gap", "inside the council outline but in no catchment in the data", g) for g in parts]
        un = self.catchments[self.catchments["team_index"] < 0]
        for _, r in un.iterrows():
            rows.append(("other_catchment", f"catchment of {r['school_name']}: {r['note']}", r.geometry))
        gdf = gpd.GeoDataFrame(
            {"kind": [k for k, _, _ in rows], "note": [n for _, n, _ in rows]},
            geometry=[g for _, _, g in rows],
            crs=CRS,
        )
        gdf["area_km2"] = gdf.area / 1e6
        return gdf.sort_values("area_km2", ascending=False).reset_index(drop=True)

    # ----------------------------------------------------------------------------------------------
    # allocation
    # ----------------------------------------------------------------------------------------------
    def allocate(self, postcodes, *, geometry: bool = False) -> pd.DataFrame:
        """Allocate postcodes (any spelling, or addresses containing one) to teams.

        Parameters
        ----------
        postcodes : sequence of str
            One value per family: a postcode in any common spelling or a free-text address
            containing one. Empty values and None are kept and get ``missing_location``.

        Returns
        -------
        pandas.DataFrame
            One row per input, in input order: ``query`` then the result columns
            (``team``, ``status``, ``method``, ``catchment_school``, ``distance_m``,
            ``near_boundary``, ``postcode``, ``easting``, ``northing``, ``detail``). A Series keeps
            its index, so ``df["team"] = p.allocate(df["postcode"])["team"]`` aligns row by row.
            ``geometry=True`` gives a GeoDataFrame of points (EPSG:27700; empty where not located).

        Examples
        --------
        >>> p = load_profile("east_ayrshire")
        >>> p.allocate(["ka18 1fq"])[["team", "status"]]
             team     status
        0  Barony  allocated
        """
        if postcodes is None or isinstance(postcodes, str | bytes):
            raise InputError(
                "allocate() takes a list of postcodes (one per family), got a single "
                f"{type(postcodes).__name__}: pass [value], or use lookup() for one query"
            )
        values = pd.Series(list(postcodes) if not isinstance(postcodes, pd.Series) else postcodes,
                           dtype=object).reset_index(drop=True)
        pcs, kind = normalise_postcodes(values)
        n = len(values)
        res = PointResult.empty(n)
        east = np.full(n, np.nan)
        north = np.full(n, np.nan)
        if n <= 64:  # a few: hash look-ups one by one beat building an indexer
            pos = np.array([self._pc_index.get_loc(v) if v is not None and v in self._pc_index else -1
                            for v in pcs], dtype=np.intp)
        else:
            pos = self._pc_index.get_indexer(pcs.where(pcs.notna(), "").to_numpy())
        found = pos >= 0
        fi = np.flatnonzero(found)
        res.put(fi, _take(self._pc_result, pos[fi]))
        east[fi] = self._pc_east[pos[fi]]
        north[fi] = self._pc_north[pos[fi]]
        kinds = kind.to_numpy()
        far = np.flatnonzero(~found & np.isin(kinds, ["postcode", "address"]))
        far_rows, far_council = np.empty(0, np.intp), np.empty(0, np.uint16)
        el = self._elsewhere
        if far.size and len(el["keys"]):  # known, in another council: outside_area, naming it
            want = np.asarray(pcs.to_numpy(dtype=object)[far], dtype="S8")
            at = np.minimum(np.searchsorted(el["keys"], want), len(el["keys"]) - 1)
            hit = el["keys"][at] == want
            far_rows, at = far[hit], at[hit]
            found[far_rows] = True
            res.status[far_rows] = OUTSIDE
            has_xy = el["easting"][at] >= 0
            east[far_rows[has_xy]] = el["easting"][at[has_xy]]
            north[far_rows[has_xy]] = el["northing"][at[has_xy]]
            far_council = el["council"][at]
        res.status[~found & (kinds == "empty")] = MISSING
        res.status[~found & np.isin(kinds, ["invalid", "ambiguous"])] = INVALID_PC
        res.status[~found & np.isin(kinds, ["postcode", "address"])] = UNKNOWN
        out = self._frame(res, east, north, pcs.to_numpy(), query=values.to_numpy())
        two = ~found & (kinds == "ambiguous")
        if two.any():
            det = out["detail"].to_numpy(dtype=object)
            det[two] = _TWO_POSTCODES
            out["detail"] = det
        nogrid = found & (res.status == MISSING)
        if nogrid.any():
            det = out["detail"].to_numpy(dtype=object)
            det[nogrid] = "postcode has no grid reference in the postcode data"
            out["detail"] = det
        if self._has_split:
            split = np.full(n, None, dtype=object)
            split[fi] = self._pc_split[pos[fi]]
            split[split == ""] = None
            has = np.flatnonzero(pd.notna(split))
            if has.size:
                out["split_teams"] = split
                det = out["detail"].to_numpy(dtype=object)
                det[has] = [self._split_detail(t) for t in split[has]]
                out["detail"] = det
        council = self._pc_council
        outside = found & (res.status == OUTSIDE)
        term = found & (res.status == TERMINATED)
        unknown = np.flatnonzero(res.status == UNKNOWN)
        near_out = outside & (pos >= 0)
        if outside.any() or term.any() or unknown.size:
            det = out["detail"].to_numpy(dtype=object)
            det[near_out] = [self._outside_detail(c) for c in council[pos[near_out]]]
            if far_rows.size:
                text = {int(k): self._outside_detail(self._elsewhere["codes"][k].decode())
                        for k in np.unique(far_council)}
                det[far_rows] = [text[int(k)] for k in far_council]
            det[term] = [self._terminated_detail(i) for i in pos[term]]
            if unknown.size:
                status = out["status"].to_numpy(dtype=object)
                likely = out["likely_team"].to_numpy(dtype=object)
                for i in unknown:
                    st, lt, det[i] = self._unknown_answer(pcs.iat[i])
                    status[i], likely[i] = st, lt
                out["status"] = pd.Categorical(status, dtype=self._dtypes["status"])
                out["likely_team"] = pd.Categorical(likely, dtype=self._dtypes["team"])
            out["detail"] = det
        return _finish(out, postcodes, geometry)

    def allocate_points(self, x, y=None, *, crs: str | None = None, exact: bool = False,
                        geometry: bool = False) -> pd.DataFrame:
        """Allocate coordinates to teams.

        Parameters
        ----------
        x, y : array-like
            Eastings and northings (EPSG:27700), or longitudes and latitudes with
            ``crs="EPSG:4326"``. Or ``x`` alone: a GeoSeries/GeoDataFrame of points, whose CRS is used.
        crs : str, optional
            CRS of the input, {"EPSG:27700", "EPSG:4326"} or any CRS pyproj knows (default
            EPSG:27700, or the CRS of a GeoSeries).
        geometry : bool
            Return a GeoDataFrame of the points in EPSG:27700.
        exact : bool
            Skip the grid and test every point against the polygons (same answers, slower).

        Returns
        -------
        pandas.DataFrame
            One row per input point, in input order, with the result columns.

        Notes
        -----
        Coordinates that cannot be right (out of range, swapped latitude/longitude, degrees passed as
        metres, NaN) get ``invalid_coordinates`` or ``missing_location`` with a detail, never a team.
        """
        source = x
        x, y, crs = _xy_input(x, y, crs)
        xe, ye, bad, detail = _to_bng(x, y, crs)
        n = len(xe)
        fn = self.allocator.exact if exact else self.allocator.locate
        if not bad.any():  # every point usable: no masks, and the caller's arrays are never shared
            res = fn(xe, ye)
            xe = xe.copy() if np.may_share_memory(xe, np.asarray(x)) else xe
            ye = ye.copy() if np.may_share_memory(ye, np.asarray(y)) else ye
            out = self._frame(res, xe, ye, None)
        else:
            ok = np.flatnonzero(bad == 0)
            res = PointResult.empty(n)
            if ok.size:
                res.put(ok, fn(xe[ok], ye[ok]))
            res.status[bad == 1] = MISSING
            res.status[bad == 2] = INVALID_XY
            out = self._frame(res, np.where(bad == 0, xe, np.nan), np.where(bad == 0, ye, np.nan), None)
        if (bad > 0).any():
            det = out["detail"].to_numpy(dtype=object)
            det[bad > 0] = detail[bad > 0]
            out["detail"] = det
        return _finish(out, source, geometry)

    def lookup(self, query: str) -> dict:
        """Answer one query (postcode, address, "lat,lon" or "easting,northing") as a dict.

        The scalar fast path for a person waiting: no DataFrame is built for a postcode.

        Raises
        ------
        InputError
            For coordinates that cannot be right (swapped, out of range), naming what was expected.
        """
        from .query import parse_query

        uprn = _UPRN_QUERY.match(str(query)) if isinstance(query, str) and len(query) < 64 else None
        if uprn:
            row = self.allocate_uprns([uprn.group(1)]).iloc[0].to_dict()
            row["query"] = query
            return _no_nan(row)
        kind, value = parse_query(query)
        if kind == "point":
            x, y, crs = value
            row = self.allocate_points([x], [y], crs=crs).iloc[0].to_dict()
            if row["status"] == "invalid_coordinates":
                raise InputError(f"coordinates rejected: {row['detail']}")
            row["query"] = query
            return _no_nan(row)
        pc = normalise_postcode(value)
        if pc is None or pc not in self._pc_index:
            return _no_nan(self.allocate([query]).iloc[0].to_dict())
        i = self._pc_index.get_loc(pc)
        r = self._pc_result
        status = STATUSES[r.status[i]]
        team = int(r.team[i])
        cat = int(r.catchment[i])
        detail = _OVERRIDE_DETAIL if r.method[i] == METHODS.index("override") else _DETAIL[status]
        if status == "missing_location":
            detail = "postcode has no grid reference in the postcode data"
        if status == "outside_area":
            detail = self._outside_detail(self._pc_council[i])
        if status == "terminated_postcode":
            detail = self._terminated_detail(i)
        return {
            "query": query,
            "team": self.team_names[team] if team >= 0 else None,
            "status": status,
            "method": METHODS[r.method[i]],
            "catchment_school": self._school_names[cat] if cat >= 0 else None,
            "distance_m": float(r.distance[i]) if not np.isnan(r.distance[i]) else None,
            "near_boundary": bool(r.near[i]),
            "postcode": pc,
            "easting": float(self.postcodes["easting"].iat[i]),
            "northing": float(self.postcodes["northing"].iat[i]),
            "detail": detail if not self._pc_split[i] else self._split_detail(self._pc_split[i]),
            "likely_team": None,
            "split_teams": self._pc_split[i] or None,
        }

    @cached_property
    def _dtypes(self) -> dict:
        """Categorical dtypes built once: building them per call costs more than a lookup."""
        cats, _ = self._school_categories
        return {
            "team": pd.CategoricalDtype(self.team_names),
            "school": pd.CategoricalDtype(cats),
            "status": pd.CategoricalDtype(list(STATUSES)),
            "method": pd.CategoricalDtype(list(METHODS)),
            "detail": pd.CategoricalDtype([_DETAIL[s] for s in STATUSES] + [_OVERRIDE_DETAIL]),
        }

    # ----------------------------------------------------------------------------------------------
    # address points (UPRN)
    # ----------------------------------------------------------------------------------------------
    @staticmethod
    def _split_detail(text: str) -> str:
        return (f"the addresses of this postcode fall in more than one team ({text}): the team given is "
                "its centroid's; give the UPRN or the house to settle it")

    def allocate_uprns(self, uprns, *, fallback=None) -> pd.DataFrame:
        """Allocate address references (UPRN) from their own address points.

        Parameters
        ----------
        uprns : sequence
            One UPRN per family (whole numbers up to 12 digits; text such as "UPRN 123" is read).
            Empty values are kept.
        fallback : sequence, optional
            A postcode or address per row, answered by :meth:`allocate` where the UPRN is missing or
            not in the address data (the detail says so).

        Returns
        -------
        pandas.DataFrame
            One row per input, in input order: ``query`` then the result columns. A known UPRN's
            row has ``method`` "uprn".
        """
        values = pd.Series(list(uprns), dtype=object).reset_index(drop=True)
        n = len(values)
        if fallback is not None:
            fb = pd.Series(list(fallback), dtype=object).reset_index(drop=True)
            if len(fb) != n:
                raise InputError(f"fallback has {len(fb)} values for {n} UPRNs; give one per row")
        keys = values.map(_uprn_key)
        pos = self._uprn_index.get_indexer(keys.fillna(-1).astype(np.int64)) if n else np.empty(0, np.intp)
        known = (pos >= 0) & keys.notna().to_numpy()
        xs = np.full(n, np.nan)
        ys = np.full(n, np.nan)
        xs[known] = self.addresses["easting"].to_numpy()[pos[known]]
        ys[known] = self.addresses["northing"].to_numpy()[pos[known]]
        out = self.allocate_points(np.where(known, xs, 0.0), np.where(known, ys, 0.0))
        out.insert(0, "query", values.to_numpy())
        out["method"] = out["method"].astype(object)
        out.loc[known, "method"] = "uprn"
        out["method"] = pd.Categorical(out["method"], dtype=self._dtypes["method"])
        det = out["detail"].to_numpy(dtype=object, copy=True)
        det[known] = [f"from the UPRN's own address point: {d}" for d in det[known]]
        pcs = self.addresses["postcode"].to_numpy(dtype=object, copy=True) if "postcode" in self.addresses else None
        if pcs is not None:
            pc = out["postcode"].to_numpy(dtype=object, copy=True)
            pc[known] = pcs[pos[known]]
            out["postcode"] = pc
        rest = np.flatnonzero(~known)
        if rest.size:
            if fallback is not None:
                sub = self.allocate(fb.iloc[rest].tolist())
                for c in out.columns:
                    if c != "query":
                        col = out[c].astype(object).to_numpy(copy=True)
                        col[rest] = sub[c].astype(object).to_numpy(copy=True)
                        out[c] = col
                det = out["detail"].to_numpy(dtype=object, copy=True)
            why = np.where(keys.iloc[rest].isna().to_numpy(), "no UPRN given",
                           "UPRN not in the address data" if len(self._uprn_index) else
                           "no address points loaded (OS Open UPRN / ONSUD)")
            if fallback is not None:
                det[rest] = [f"{w}: answered from the postcode or address instead; {d}" for w, d in
                             zip(why, det[rest], strict=True)]
            else:
                out.loc[rest, ["team", "catchment_school"]] = None
                st = out["status"].astype(object).to_numpy(copy=True)
                st[rest] = "missing_location"
                out["status"] = pd.Categorical(st, dtype=self._dtypes["status"])
                det[rest] = list(why)
                for c in ("easting", "northing", "distance_m"):
                    out.loc[rest, c] = np.nan
            out["detail"] = det
        for c, dtype in (("team", self._dtypes["team"]), ("likely_team", self._dtypes["team"]),
                         ("status", self._dtypes["status"]), ("method", self._dtypes["method"])):
            out[c] = pd.Categorical(out[c].astype(object).where(out[c].notna(), None), dtype=dtype)
        return _finish(out, uprns, False)

    # ----------------------------------------------------------------------------------------------
    # releases and postcodes the data does not (or no longer) hold
    # ----------------------------------------------------------------------------------------------
    def release(self, dataset: str = "postcodes") -> sources.Release | None:
        """The release of ``dataset`` that answers (the newest in the data folder), or None."""
        rels = self.releases.get(dataset) or []
        return rels[-1] if rels else None

    def _product(self, dataset: str = "postcodes") -> str:
        desc = self.config.get("sources", {}).get(dataset, {}).get("description", dataset)
        rel = self.release(dataset)
        return f"{desc} {rel.label}" if rel is not None else desc

    def _terminated_detail(self, i: int) -> str:
        """Why a postcode is terminated: gone from the newest release, or marked so by the ONSPD."""
        seen = str(self.postcodes["release"].iat[i]) if "release" in self.postcodes else ""
        newest = self.release("postcodes")
        if newest is not None and seen and seen != newest.label:
            return (f"postcode not in {self._product()}; last seen in {seen}: team from its location "
                    "then (check the family's current postcode)")
        return ("postcode no longer in use (terminated in the postcode data); team from its last known "
                "location")

    @cached_property
    def _sectors(self) -> tuple[dict, dict, dict]:
        """Postcode sectors: the council's teams per sector, and which council holds other sectors.

        Returns ``({sector: {team index: count}}, {sector: council code}, {district: count in council})``
        from the current postcodes (the newest release, not terminated).
        """
        from .postcodes import postcode_district, postcode_sector

        pcs = self.postcodes
        cur = ~pcs["terminated"].to_numpy(dtype=bool)
        sector = pcs["postcode"].map(postcode_sector).to_numpy(dtype=object)
        mine = cur & (self._pc_council == self.code) & (self._pc_result.team >= 0)
        teams: dict[str, dict[int, int]] = {}
        for sec, t in zip(sector[mine], self._pc_result.team[mine], strict=True):
            d = teams.setdefault(sec, {})
            d[int(t)] = d.get(int(t), 0) + 1
        other = pd.DataFrame({"sector": sector[cur], "council": self._pc_council[cur]})
        other = other[other["council"] != ""]
        holder = (other.groupby("sector")["council"].agg(lambda c: c.value_counts().index[0]).to_dict()
                  if len(other) else {})
        districts: dict[str, int] = {}
        for pc in pcs["postcode"].to_numpy(dtype=object)[cur & (self._pc_council == self.code)]:
            d = postcode_district(pc)
            districts[d] = districts.get(d, 0) + 1
        return teams, holder, districts

    def likely_team(self, postcode: str) -> tuple[str, int, int] | None:
        """The team holding most known postcodes of a postcode's sector: (team, count, total), or None.

        A hint for a postcode newer than the data, never an allocation.
        """
        from .postcodes import postcode_sector

        pc = normalise_postcode(postcode)
        counts = self._sectors[0].get(postcode_sector(pc)) if pc else None
        if not counts:
            return None
        best = max(counts, key=lambda t: (counts[t], -t))  # ties: the team listed first
        return self.team_names[best], counts[best], sum(counts.values())

    def _unknown_answer(self, pc: str) -> tuple[str, str | None, str]:
        """(status, likely team, detail) for a well-formed postcode in no release of the data."""
        from .postcodes import postcode_district, postcode_sector

        _teams, holder, districts = self._sectors
        sec = postcode_sector(pc)
        where = f"not in the postcode data ({self._product()})"
        likely = self.likely_team(pc)
        if likely:
            name, n, total = likely
            share = (f"all {total:,} known postcodes in sector {sec} are in {name}" if n == total
                     else f"{n:,} of {total:,} known postcodes in sector {sec} are in {name}, "
                          "the largest share: check by hand")
            return "unknown_postcode", name, f"{where}; likely {name}: {share}"
        code = holder.get(sec) or self._elsewhere_holder(sec + " " if " " not in sec else sec)
        if code:
            return "outside_area", None, (f"{where}; its sector {sec} is in {self._council_label(code)}, "
                                          f"not {self.name} ({self.code})")
        dist = postcode_district(pc)
        if districts.get(dist):
            return "unknown_postcode", None, (
                f"{where}; sector {sec} is new to the data, and district {dist} has "
                f"{districts[dist]:,} postcodes in {self.name}: check the address by hand")
        return "outside_area", None, (f"{where}; no known postcode of sector {sec} or district {dist} "
                                      f"is in {self.name} ({self.code})")

    def _elsewhere_holder(self, prefix: str) -> str | None:
        """The council holding most of the compactly kept postcodes that start with ``prefix``."""
        keys = self._elsewhere["keys"]
        if not len(keys):
            return None
        b = prefix.encode()
        lo, hi = np.searchsorted(keys, b, "left"), np.searchsorted(keys, b + b"\xff", "left")
        if hi <= lo:
            return None
        counts = np.bincount(self._elsewhere["council"][lo:hi])
        return self._elsewhere["codes"][int(np.argmax(counts))].decode()

    def _council_label(self, code: str) -> str:
        name = _council_names().get(code)
        return f"{name} ({code})" if name else (f"council {code}" if code else "another council")

    def _outside_detail(self, code: str) -> str:
        return f"postcode is in {self._council_label(code)}, not {self.name} ({self.code})"

    def _frame(self, res: PointResult, east, north, pcs, *, query=None) -> pd.DataFrame:
        n = len(res.team)
        first = {} if query is None else {"query": pd.Series(query, dtype=object)}
        dt = self._dtypes
        teams = pd.Categorical.from_codes(res.team, dtype=dt["team"], validate=False)
        _, school_code = self._school_categories
        lut = np.append(school_code, -1).astype(np.int32)  # catchment -1 takes the last entry: none
        codes = lut.take(res.catchment)
        schools = pd.Categorical.from_codes(codes, dtype=dt["school"], validate=False)
        status = pd.Categorical.from_codes(res.status, dtype=dt["status"], validate=False)
        over = res.method == METHODS.index("override")
        detail_code = np.where(over, len(STATUSES), res.status) if over.any() else res.status
        detail = pd.Categorical.from_codes(detail_code, dtype=dt["detail"], validate=False)
        return pd.DataFrame(
            {
                **first,
                "team": teams,
                "status": status,
                "method": pd.Categorical.from_codes(res.method, dtype=dt["method"], validate=False),
                "catchment_school": schools,
                "distance_m": np.round(res.distance, 1),
                "near_boundary": res.near,
                "postcode": pd.Series(pcs, dtype=object) if pcs is not None else _no_text(n),
                "easting": east,
                "northing": north,
                "detail": detail,
                "likely_team": pd.Categorical.from_codes(np.full(n, -1, np.int8), dtype=dt["team"],
                                                         validate=False),
                "split_teams": _no_text(n),
            },
            copy=False,  # the arrays are this call's own: no copy, no stacking into 2-D blocks
        )

    # ----------------------------------------------------------------------------------------------
    # summaries
    # ----------------------------------------------------------------------------------------------
    def postcode_allocations(self) -> pd.DataFrame:
        """Every postcode of this council with its allocation (postcode data joined to results)."""
        mine = np.flatnonzero(self.postcodes["council_code"].to_numpy() == self.code)
        out = self._frame(
            _take(self._pc_result, mine),
            self.postcodes["easting"].to_numpy()[mine],
            self.postcodes["northing"].to_numpy()[mine],
            self.postcodes["postcode"].to_numpy()[mine],
        )
        out["terminated"] = self.postcodes["terminated"].to_numpy()[mine]
        return out

    def team_summary(self) -> pd.DataFrame:
        """Per team: postcodes covered, area in km², schools in it, the model's services and link
        workers, and the services present (``services_present``: total; ``services_by_kind``: counts
        by kind, see :func:`heart_geo.services.service_counts`)."""
        from .links import school_localities
        from .services import service_counts, services_table

        alloc = self.postcode_allocations()
        counts = alloc[alloc["status"] == "allocated"].groupby("team", observed=False).size()
        nearest = alloc[alloc["status"] == "nearest_team"].groupby("team", observed=False).size()
        svc = services_table(self)
        present = service_counts(self)
        rows = []
        schools = school_localities(self) if self.schools is not None else None
        for t, area in zip(self.team_names, self.team_areas.area, strict=True):
            s = svc[svc["team"] == t]
            row = {
                self.unit: t,
                "catchment_schools": ", ".join(n for _, n in self.teams[self.team_names.index(t)].schools),
                "postcodes": int(counts.get(t, 0)),
                "postcodes_nearest": int(nearest.get(t, 0)),
                "area_km2": round(area / 1e6, 1),
                "services_in_team": ", ".join(s.loc[s["mode"] == "team", "service"]),
                "services_by_link_worker": ", ".join(s.loc[s["mode"] == "link_worker", "service"]),
                **_services_present_columns(present, t),
            }
            if schools is not None:
                here = schools[schools["team"] == t]
                row["schools"] = int(len(here))
                row["school_names"] = ", ".join(here["name"])
                cw = schools[schools["council_wide"]]
                row["links_with_council_wide_schools"] = ", ".join(cw["name"])
            rows.append(row)
        return pd.DataFrame(rows)

    def attribution(self) -> list[dict]:
        """Each data source with publisher, licence and the attribution text it requires."""
        out = []
        for key, s in self.config.get("sources", {}).items():
            rel = self.release(key)
            older = [r.label for r in self.releases.get(key, [])[:-1]]
            year = rel.year if rel is not None else None
            text = s.get("attribution", "")
            text = text.replace("{year}", str(year)) if year else text.replace(" {year}", "").replace("{year}", "")
            out.append(
                {
                    "dataset": key,
                    "description": s.get("description", ""),
                    "release": rel.describe() if rel is not None else "not in the data folder",
                    "older_releases": ", ".join(older),
                    "publisher": s.get("publisher", ""),
                    "licence": s.get("licence", ""),
                    "attribution": text,
                    "files": ", ".join(Path(f).name for f in self.files.get(key, []))[:300],
                }
            )
        return out

    def data_in_use(self) -> str:
        """One line naming the release that answers for each dataset, for summaries and logs."""
        parts = []
        for key, s in self.config.get("sources", {}).items():
            rel = self.release(key)
            if rel is not None:
                parts.append(f"{key}: {s.get('description', key)} {rel.label}")
        return "; ".join(parts)


def _services_present_columns(counts: pd.DataFrame, team: str) -> dict:
    """The services-present columns of one team's summary row (counts only: nothing named)."""
    from .services import counts_text

    if team not in counts.index:
        return {"services_present": 0, "services_by_kind": ""}
    return {"services_present": int(counts.loc[team, "total"]), "services_by_kind": counts_text(counts.loc[team])}


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


_UPRN_QUERY = re.compile(r"^\s*uprn\s*[:#]?\s*(\d{1,12})\s*$", re.I)


def _uprn_key(v) -> float | None:
    """A UPRN as a number: 123456789, "123456789", "UPRN 123456789", 123456789.0; else None."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, int | np.integer) and 0 < int(v) < 10**12:
        return int(v)
    if isinstance(v, float | np.floating) and v.is_integer() and 0 < v < 1e12:
        return int(v)
    m = re.fullmatch(r"\s*(?:uprn\s*[:#]?\s*)?0*(\d{1,12})(?:\.0+)?\s*", str(v), re.I)
    return int(m.group(1)) if m and int(m.group(1)) > 0 else None


def _EMPTY_ADDRESSES() -> pd.DataFrame:  # noqa: N802 (a constant's factory)
    return pd.DataFrame({"uprn": pd.Series(dtype="int64"), "easting": pd.Series(dtype=float),
                         "northing": pd.Series(dtype=float), "postcode": pd.Series(dtype=object)})


def _no_text(n: int) -> pd.Categorical:
    """A text column with no values: a categorical of missing codes, cheap at any length (a million
    ``None`` objects would cost more than the allocation itself)."""
    return pd.Categorical.from_codes(np.full(n, -1, np.int8), categories=pd.Index([], dtype=object),
                                     validate=False)


def _no_nan(row: dict) -> dict:
    """A result row with None, not NaN, where there is no value (as the postcode fast path gives)."""
    return {k: _util.nan_to_none(v) for k, v in row.items()}


@functools.lru_cache(maxsize=1)
def _council_names() -> dict[str, str]:
    """GSS council area codes to names (``boundaries/council_areas.csv``), for messages."""
    path = profiles_dir() / "council_areas.csv"
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8", newline="") as fh:
        return {r["code"]: r["name"] for r in csv.DictReader(fh)}


def _take(r: PointResult, idx: np.ndarray) -> PointResult:
    return PointResult(
        catchment=r.catchment[idx],
        team=r.team[idx],
        status=r.status[idx],
        method=r.method[idx],
        distance=r.distance[idx],
        near=r.near[idx],
    )


def _to_bng(x, y, crs: str):
    """Coordinates to EPSG:27700 with a per-point verdict: 0 ok, 1 missing, 2 invalid (+detail)."""
    from .settings import BNG_BOUNDS, GB_LAT, GB_LON

    def blank(s: pd.Series) -> np.ndarray:  # nothing given: None, NaN, "" or spaces
        return (s.isna() | s.map(lambda v: isinstance(v, str) and not v.strip())).to_numpy(dtype=bool)

    xn, yn = np.asarray(x), np.asarray(y)
    numeric = (xn.ndim == 1 and yn.ndim == 1 and np.issubdtype(xn.dtype, np.number)
               and np.issubdtype(yn.dtype, np.number))
    if numeric:  # the bulk path: numbers already, NaN means missing
        xa, ya = xn.astype(float, copy=False), yn.astype(float, copy=False)
    else:
        try:
            xs, ys = pd.Series(x, dtype=object), pd.Series(y, dtype=object)
            xa = np.asarray(pd.to_numeric(xs, errors="coerce"), dtype=float)
            ya = np.asarray(pd.to_numeric(ys, errors="coerce"), dtype=float)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"coordinates must be one-dimensional lists of numbers ({type(exc).__name__})"
            ) from None
    if xa.shape != ya.shape:
        raise InputError(f"x and y differ in length: {xa.size} and {ya.size}")
    n = xa.size
    bad = np.zeros(n, np.int8)
    detail = np.full(n, "", dtype=object)
    miss = np.isnan(xa) | np.isnan(ya)
    given = np.zeros(n, bool) if numeric else (~blank(xs) & ~blank(ys))
    bad[miss] = np.where(given[miss], 2, 1)
    detail[miss] = np.where(given[miss], "coordinate is not a number", "coordinate missing")
    crs_norm = str(crs).upper()
    if crs_norm in ("EPSG:4326", "WGS84", "OGC:CRS84"):
        lon, lat = xa, ya
        okrange = (lat >= GB_LAT[0]) & (lat <= GB_LAT[1]) & (lon >= GB_LON[0]) & (lon <= GB_LON[1])
        swapped = (lon >= GB_LAT[0]) & (lon <= GB_LAT[1]) & (lat >= GB_LON[0]) & (lat <= GB_LON[1])
        b = ~miss & ~okrange
        bad[b] = 2
        detail[b] = (
            f"latitude/longitude outside Great Britain (expected latitude {GB_LAT[0]}..{GB_LAT[1]}, "
            f"longitude {GB_LON[0]}..{GB_LON[1]})"
        )
        s = b & swapped
        detail[s] = "latitude and longitude look swapped: give longitude as x and latitude as y"
        tr = transformer("EPSG:4326", CRS)
        xe, ye = tr.transform(np.where(bad == 0, lon, 0.0), np.where(bad == 0, lat, 0.0))
        return np.asarray(xe), np.asarray(ye), bad, detail
    if crs_norm != CRS:
        tr = transformer(crs, CRS)
        xa, ya = (np.asarray(v) for v in tr.transform(xa, ya))
    xmin, ymin, xmax, ymax = BNG_BOUNDS
    inr = (xa >= xmin) & (xa <= xmax) & (ya >= ymin) & (ya <= ymax)
    b = ~miss & ~inr
    bad[b] = 2
    detail[b] = (
        f"easting/northing outside the British National Grid (expected easting {xmin:.0f}..{xmax:.0f}"
        f", northing {ymin:.0f}..{ymax:.0f} metres)"
    )
    deg = ~miss & (np.abs(xa) <= 180) & (np.abs(ya) <= 180)
    bad[deg] = 2
    detail[deg] = "values look like degrees, not metres: pass crs='EPSG:4326' for latitude/longitude"
    return xa, ya, bad, detail


def _polygon_overrides(config: dict, team_names: list[str]) -> list:
    out = []
    for o in config.get("overrides", []):
        if "wkt" in o:
            try:
                poly = shapely.from_wkt(o["wkt"])
            except shapely.errors.GEOSException as exc:
                raise ProfileError(f"override {o.get('team')!r}: bad WKT: {exc}") from None
            out.append((poly, team_names.index(o["team"])))
    return out


def _text_overrides(config: dict, team_names: list[str]) -> list[tuple[str, str, int]]:
    out = []
    for o in config.get("overrides", []):
        for k in ("postcode", "sector", "district"):
            if k in o:
                out.append((k, normalise_postcode(o[k]) if k == "postcode" else o[k].upper().strip(),
                            team_names.index(o["team"])))
    return out


# --------------------------------------------------------------------------------------------------
# building (cached)
# --------------------------------------------------------------------------------------------------
def _locate_releases(conf: dict, data_dir: Path) -> dict[str, list[sources.Release]]:
    """Every release of every source in the data folder, oldest first: the last one answers."""
    out = {}
    for key, src in conf.get("sources", {}).items():
        if not src.get("patterns"):
            out[key] = []
            continue
        try:
            out[key] = sources.find_releases(data_dir, src["patterns"], what=f"{key} data", dataset=key)
        except FileNotFoundError:
            if key in ("catchments", "postcodes"):
                raise
            out[key] = []
    return out


#: Postcodes within this distance (metres) of the council's area are kept in full; the rest of a
#: national file is kept compactly (enough to say which council a postcode is in).
NEAR_MARGIN_M = 10_000.0


def _read_postcode_releases(releases: list[sources.Release], code: str, council_area) -> tuple[pd.DataFrame, dict]:
    """The newest release's postcodes, then those only older releases hold (marked terminated).

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


def _build(conf: dict, releases: dict[str, list[sources.Release]]) -> dict:
    files = {k: list(v[-1].files) if v else [] for k, v in releases.items()}
    code = conf["council"]["code"]
    problems: list[str] = []
    cat_src = conf["sources"]["catchments"]
    cat = sources.read_catchments(files["catchments"], council_code=code, layer=cat_src.get("layer"))
    teams = conf["teams"]
    by_seed = {str(s["seed_code"]): (i, s.get("name", "")) for i, t in enumerate(teams) for s in t["schools"]}
    unassigned = {u["name"].upper(): u.get("note", "") for u in conf.get("unassigned_catchments", [])}
    team_index, order, notes = [], [], []
    for _, row in cat.iterrows():
        hit = by_seed.get(row["seed_code"] or "")
        if hit is not None:
            ti, nm = hit
            if nm and nm.upper() != str(row["school_name"]).upper():
                problems.append(
                    f"seed code {row['seed_code']}: profile names {nm!r}, data names {row['school_name']!r}"
                )
            team_index.append(ti)
            school_pos = [str(s["seed_code"]) for s in teams[ti]["schools"]].index(row["seed_code"])
            order.append(ti * 100 + school_pos)
            notes.append("")
        else:
            team_index.append(-1)
            order.append(10_000 + len(order))
            note = unassigned.get(str(row["school_name"]).upper())
            if note is None:
                note = "catchment in the council's layer that the profile maps to no team"
                problems.append(f"catchment {row['school_name']!r} is mapped to no team")
            notes.append(note)
    cat["team_index"] = team_index
    cat["team"] = [teams[i]["name"] if i >= 0 else None for i in team_index]
    cat["note"] = notes
    cat["_order"] = order
    cat = cat.sort_values("_order").drop(columns="_order").reset_index(drop=True)
    present = set(cat["seed_code"].dropna())
    for seed, (ti, nm) in by_seed.items():
        if seed not in present:
            problems.append(f"team {teams[ti]['name']!r}: school {nm or seed} ({seed}) is not in the catchment data")
    for _, r in cat[cat["repair"] != ""].iterrows():
        problems.append(f"repaired catchment {r['school_name']}: {r['repair']}")

    council = None
    if files.get("council"):
        council = sources.read_council_boundary(
            files["council"][0], code, code_field=conf["sources"]["council"].get("code_field")
        )
    area_parts = list(cat.geometry) + ([council.geometry.iloc[0]] if council is not None else [])
    council_area = shapely.union_all(area_parts)

    schools = None
    if files.get("schools"):
        schools = sources.read_schools(_prefer(files["schools"]), council_code=code)

    pcs, rest = _read_postcode_releases(releases["postcodes"], code, council_area)
    team_names = [t["name"] for t in teams]
    overrides = _polygon_overrides(conf, team_names)
    plain = Allocator(  # no grid: the postcode table is answered by the exact path
        catchments=list(cat.geometry),
        catchment_team=cat["team_index"].to_numpy(),
        n_teams=len(teams),
        council_area=council_area,
        overrides=overrides,
        near_m=NEAR_BOUNDARY_M,
        lazy_grid=True,
    )
    text_overrides = _text_overrides(conf, team_names)
    result = _allocate_postcode_table(pcs, code, plain, text_overrides)
    derived, conflicts, follow = _override_areas(pcs, result, plain, text_overrides,
                                                 list(cat["school_name"]))
    problems += conflicts
    alloc = Allocator(  # the grid knows the override areas, so points answer as their postcodes do
        catchments=list(cat.geometry),
        catchment_team=cat["team_index"].to_numpy(),
        n_teams=len(teams),
        council_area=council_area,
        overrides=_area_overrides(derived) + overrides,
        near_m=NEAR_BOUNDARY_M,
    )
    if follow:
        idx = np.asarray(sorted(follow), dtype=np.intp)
        result.put(idx, alloc.exact(pcs["easting"].to_numpy()[idx], pcs["northing"].to_numpy()[idx]))
    addresses = _read_addresses(releases, code, council_area)
    split = _postcode_split(pcs, result, code, addresses, alloc, team_names)
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
    }


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
        r.status[sub], r.method[sub] = NEAREST, 2
        r.near[sub] = d <= alloc.near_m
    res.put(todo, r)
    res.status[(mine | unknown_council) & ~has_xy] = MISSING
    hit_team = _text_override_teams(pcs, text_overrides, mine & has_xy)
    hit = hit_team >= 0
    res.team[hit] = hit_team[hit]
    res.status[hit] = ALLOCATED
    res.method[hit] = METHODS.index("override")
    res.distance[hit] = np.nan
    term = pcs["terminated"].to_numpy(dtype=bool) & np.isin(res.status, [ALLOCATED, NEAREST])
    res.status[term] = TERMINATED
    return res


def _read_addresses(releases: dict, code: str, council_area) -> pd.DataFrame:
    """The council's address points (and a 5 km margin) from OS Open UPRN and/or ONSUD's newest release.

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
    """Team index each postcode takes from the unit, sector and district rules (-1: none); later
    rules win, as they are applied in order."""
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


def _override_areas(pcs: pd.DataFrame, res: PointResult, alloc: Allocator, text_overrides, school_names):
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
    over = (text_team >= 0) & (res.method == METHODS.index("override"))
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
            problems.append(
                f"override: {len(odd)} postcode(s) share their point with postcodes answered otherwise; "
                "each answers as its point does (most postcodes at the point decide; a postcode-unit "
                "override outranks a sector or district)"
            )
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


def _area_overrides(areas: gpd.GeoDataFrame) -> list:
    return [(g, int(t)) for g, t in zip(areas.geometry, areas["team_index"], strict=True)]


def load_profile(
    name: str | os.PathLike = "east_ayrshire",
    *,
    data_dir: str | os.PathLike | None = None,
    cache: bool = True,
) -> Profile:
    """Load a council profile and its data, ready to allocate.

    Parameters
    ----------
    name : str or path
        Profile key (``"east_ayrshire"``, ``"north_ayrshire"``), council name or GSS code, or the path
        of a profile TOML file.
    data_dir : path, optional
        Folder holding the official datasets. Default: ``$HEART_GEO_DATA``, then the user cache.
    cache : bool
        Reuse derived data (parsed tables, repaired geometry, the grid) cached under the user cache,
        keyed by the checksums of the profile, the source files and this code. Rebuilt automatically
        when any of them changes, or when the cache file is corrupt.

    Returns
    -------
    Profile
    """
    key, conf, raw = _read_config(name)
    root = sources.resolve_data_dir(data_dir)
    releases = _locate_releases(conf, root)
    files = {k: list(v[-1].files) if v else [] for k, v in releases.items()}
    all_files = [p for k in sorted(releases) for r in releases[k] for p in r.files]
    digest = hashlib.sha256(
        raw + _file_digest(all_files).encode() + _code_fingerprint().encode()
        + str(_CACHE_FORMAT).encode()
    ).hexdigest()[:24]
    built = None
    cpath = _cache_dir() / f"{key}-{digest}{_cache.SUFFIX}"
    if cache:
        built = _cache.load(cpath, digest)  # data only (no pickle); digest checked before use
    if built is None:
        built = _build(conf, releases)
        built["_digest"] = digest
        if cache:
            try:
                _cache.save(cpath, built, prune_pattern=rf"{re.escape(key)}-[0-9a-f]{{24}}\.(hgc|pkl)")
            except (OSError, TypeError) as exc:
                log.warning("Could not write cache %s: %s", cpath.name, exc)
    prof = Profile(key, conf, root, built, {k: [str(p) for p in v] for k, v in files.items()}, releases)
    log.info("Loaded profile %s: %d %s, %d catchments, %d postcodes", key, len(prof.teams),
             prof.unit_plural, len(prof.catchments), len(prof.postcodes))
    return prof


def _xy_input(x, y, crs):
    """``(x, y, crs)`` from arrays, or from a GeoSeries/GeoDataFrame of points (its CRS used)."""
    if isinstance(x, gpd.GeoDataFrame | gpd.GeoSeries):
        if y is not None:
            raise InputError("give a GeoSeries/GeoDataFrame alone, without y")
        geo = x.geometry
        if geo.crs is not None and crs is not None and _crs_differs(geo.crs, crs):
            from .errors import CRSMismatchError

            raise CRSMismatchError(f"crs={crs!r} given, but the geometries are in {geo.crs.to_string()}")
        kinds = geo.geom_type.dropna().unique()
        if len(set(kinds) - {"Point"}):
            raise InputError(f"allocate_points takes points, got {sorted(kinds)}: pass "
                             "geometry.representative_point() for areas or lines")
        empty = geo.isna().to_numpy() | geo.is_empty.to_numpy()
        xs = np.where(empty, np.nan, shapely.get_x(geo.to_numpy()))
        ys = np.where(empty, np.nan, shapely.get_y(geo.to_numpy()))
        return xs, ys, crs or (geo.crs.to_string() if geo.crs is not None else CRS)
    if y is None:
        raise InputError("allocate_points needs x and y, or a GeoSeries/GeoDataFrame of points")
    return x, y, crs or CRS


def _crs_differs(a, b) -> bool:
    from pyproj import CRS as PCRS

    return not PCRS.from_user_input(a).equals(PCRS.from_user_input(b))


def _finish(out: pd.DataFrame, source, geometry: bool) -> pd.DataFrame:
    """The caller's index (from a Series or frame) and, if asked, point geometry."""
    index = getattr(source, "index", None)
    if isinstance(source, pd.Series | pd.DataFrame) and len(index) == len(out):
        out.index = index
    if geometry:
        e, n = out["easting"].to_numpy(dtype=float), out["northing"].to_numpy(dtype=float)
        pts = np.where(np.isnan(e) | np.isnan(n), None, shapely.points(np.nan_to_num(e), np.nan_to_num(n)))
        return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(pts, index=out.index, crs=CRS), crs=CRS)
    return out
