"""Council profiles: a council's configuration joined to the official data, answering "which team?".

A profile (``boundaries/<key>.toml``) holds everything that is about one council: its GSS code, its
teams (or localities) and the catchment schools that make each, the schools that serve the whole
council, its services and link workers, override rules and its data sources. Nothing
council-specific lives in code. This module holds :class:`Profile` and :func:`load_profile`; the
configuration is read and checked in :mod:`heart_geo.config`, and what is derived from the data is
built and cached in :mod:`heart_geo.build`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import _util, figures, mistakes, sources
from .allocate import Allocator, PointResult
from .build import _EMPTY_ADDRESSES, area_overrides, load_built, locate_releases, polygon_overrides
from .codes import (
    _DETAIL,
    _OVERRIDE_DETAIL,
    _TWO_POSTCODES,
    INVALID_COORDINATES,
    INVALID_POSTCODE,
    M_OVERRIDE,
    METHODS,
    MISSING,
    OUTSIDE,
    STATUSES,
    TERMINATED,
    UNKNOWN,
)
from .config import (  # noqa: F401 - _read_config and _check_config: older names, kept importable
    ProfileConfig,
    Team,
    _check_config,
    _read_config,
    list_profiles,
    profiles_dir,
    read_config,
)
from .coords import _finish, _to_bng, _xy_input
from .errors import InputError
from .population import SmallAreas, summary_columns
from .postcodes import normalise_postcode, normalise_postcode_list, normalise_postcodes
from .settings import CRS, NEAR_BOUNDARY_M
from .unknown import UnknownPostcodes
from .uprn import _UPRN_QUERY, _uprn_key

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

__all__ = ["Profile", "Team", "list_profiles", "load_profile", "profiles_dir"]

INVALID_PC, INVALID_XY = INVALID_POSTCODE, INVALID_COORDINATES  # older names of these codes
_locate_releases = locate_releases  # older name, kept importable
#: Up to this many values, a call takes the paths for a few: plain look-ups, no frame checks.
_FEW = 64


class Profile(UnknownPostcodes):
    """A council's teams joined to the official data; answers "which team?".

    Create with :func:`load_profile`. Attributes are plain pandas/geopandas objects in EPSG:27700.
    """

    def __init__(self, config: ProfileConfig, data_dir: Path, built: dict, files: dict,
                 releases: dict | None = None):
        self.key = config.key
        #: every release of every dataset found, oldest first; the last one answers
        self.releases: dict[str, list[sources.Release]] = releases or {}
        #: the profile TOML as read (the typed attributes below are what the library uses)
        self.config: dict = config.raw
        self.data_dir = data_dir
        self.files = files
        council = config.council
        #: the council as configured (:class:`heart_geo.config.Council`: name, code, unit, model, ...)
        self.council = council
        self.name: str = council.name
        self.code: str = council.code
        self.unit: str = council.unit
        self.unit_plural: str = _util.plural(self.unit)
        self.effective_from: dt.date | None = council.effective_from
        self.teams = list(config.teams)
        #: the model's services (:class:`heart_geo.config.Service`), in profile order
        self.services = config.services
        #: the override rules (:class:`heart_geo.config.Override`), in profile order
        self.overrides = config.overrides
        #: every dataset of the profile by key (:class:`heart_geo.config.Source`)
        self.sources = config.sources
        self.council_wide_schools = config.council_wide_schools
        self.practice_models = config.practice_models
        self.unassigned_catchments = config.unassigned_catchments
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
            overrides=area_overrides(built["override_areas"]) + polygon_overrides(self.overrides, self.team_names),
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
        #: data zones, population and SIMD (:class:`heart_geo.population.SmallAreas`); None when not loaded
        self.small_areas = SmallAreas(built["small_areas"], self.team_names) if built.get("small_areas") else None
        self._school_names = self.catchments["school_name"].to_numpy(dtype=object)
        cats = list(dict.fromkeys(self._school_names))
        self._school_categories = (cats, np.array([cats.index(s) for s in self._school_names]))

    def __repr__(self) -> str:
        """Show the key, name, code, teams and postcodes (counted by :func:`heart_geo.figures.postcode_counts`)."""
        n = figures.postcode_counts(self)
        return (
            f"<Profile {self.key!r}: {self.name} ({self.code}), {len(self.teams)} {self.unit_plural}, "
            f"{n['current']:,} postcodes (+{n['terminated']:,} terminated); {n['in_data']:,} in the postcode data>"
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
        values, pcs, kinds, pos = self._postcode_positions(postcodes)
        n = len(values)
        res = PointResult.empty(n)
        east = np.full(n, np.nan)
        north = np.full(n, np.nan)
        found = pos >= 0
        fi = np.flatnonzero(found)
        res.put(fi, _take(self._pc_result, pos[fi]))
        east[fi] = self._pc_east[pos[fi]]
        north[fi] = self._pc_north[pos[fi]]
        has_pc = (kinds == "postcode") | (kinds == "address")
        far = np.flatnonzero(~found & has_pc)
        far_rows, far_council = np.empty(0, np.intp), np.empty(0, np.uint16)
        el = self._elsewhere
        if far.size and len(el["keys"]):  # known, in another council: outside_area, naming it
            want = np.asarray(pcs[far], dtype="S8")
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
        res.status[~found & ((kinds == "invalid") | (kinds == "ambiguous"))] = INVALID_PC
        res.status[~found & has_pc] = UNKNOWN
        out = self._frame(res, east, north, pcs, query=values)
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
                    st, lt, det[i] = self._unknown_answer(pcs[i])
                    status[i], likely[i] = st, lt
                out["status"] = pd.Categorical(status, dtype=self._dtypes["status"])
                out["likely_team"] = pd.Categorical(likely, dtype=self._dtypes["team"])
            out["detail"] = det
        if self.small_areas is not None:
            out = self.small_areas.add_columns(out, pos)
        rest = np.flatnonzero(~found & np.isin(kinds, ["invalid", "postcode", "address"]))
        if rest.size:  # pseudo-postcodes, coordinates as text, slips, incomplete postcodes
            out = mistakes.explain_rows(self, out, rest, values, pcs, kinds)
        return _finish(out, postcodes, geometry)

    def _postcode_positions(self, postcodes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return the values as given, their postcodes, how each was read, and their rows (-1: none).

        All as arrays (objects, and ``intp`` rows). A few values are read one by one with plain
        look-ups: a single query pays for no pandas machinery.
        """
        seq = postcodes if isinstance(postcodes, pd.Series) else list(postcodes)
        if len(seq) > _FEW:
            values = pd.Series(seq, dtype=object).reset_index(drop=True)
            pcs, kind = normalise_postcodes(values)
            pos = self._pc_index.get_indexer(pcs.where(pcs.notna(), "").to_numpy())
            return values.to_numpy(), pcs.to_numpy(), kind.to_numpy(), pos
        if isinstance(seq, pd.Series):
            values = seq.to_numpy(dtype=object)
        else:
            values = np.empty(len(seq), dtype=object)
            for i, v in enumerate(seq):
                values[i] = v
        found, how = normalise_postcode_list(values)
        pcs, kinds = np.empty(len(found), dtype=object), np.empty(len(found), dtype=object)
        pcs[:], kinds[:] = found, how
        pos = np.array([self._pc_index.get_loc(v) if v is not None and v in self._pc_index else -1 for v in found],
                       dtype=np.intp)
        return values, pcs, kinds, pos

    def allocate_points(self, x, y=None, *, crs: str | None = None, exact: bool = False,
                        geometry: bool = False, zones: bool = True) -> pd.DataFrame:
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
        zones : bool
            Add the data-zone columns where small-area data is loaded (default).

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
        if zones and self.small_areas is not None:
            out = self.small_areas.add_columns(out, np.full(n, -1, np.intp))
        return _finish(out, source, geometry)

    def lookup(self, query: str) -> dict:
        """Answer one query (postcode, address, "lat,lon" or "easting,northing") as a dict.

        The scalar fast path for a person waiting: no DataFrame is built for a postcode.

        A mistake in the query is an answer, never an error: coordinates that cannot be right give
        ``invalid_coordinates`` and a query over :data:`heart_geo.query.MAX_QUERY_CHARS` characters
        ``invalid_postcode``, each with the reason in ``detail``, as :meth:`allocate` gives them.
        """
        from .query import MAX_QUERY_CHARS, parse_query

        if query is not None and len(str(query)) > MAX_QUERY_CHARS:
            try:
                parse_query(query)
            except InputError as exc:
                return _no_nan({**self.allocate([""]).iloc[0].to_dict(), "query": query,
                                "status": exc.status, "detail": str(exc)})
        uprn = _UPRN_QUERY.match(str(query)) if isinstance(query, str) and len(query) < 64 else None
        if uprn:
            row = self.allocate_uprns([uprn.group(1)]).iloc[0].to_dict()
            row["query"] = query
            return _no_nan(row)
        try:
            kind, value = parse_query(query)
        except InputError:  # coordinates that cannot be right: allocate() gives the answer
            kind, value = "text", None
        if kind == "point":
            x, y, crs = value
            row = self.allocate_points([x], [y], crs=crs, zones=False).iloc[0].to_dict()
            if self.small_areas is not None:
                row.update(self.small_areas.point_fields(row["easting"], row["northing"], row["team"]))
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
        detail = _OVERRIDE_DETAIL if r.method[i] == M_OVERRIDE else _DETAIL[status]
        if status == "missing_location":
            detail = "postcode has no grid reference in the postcode data"
        if status == "outside_area":
            detail = self._outside_detail(self._pc_council[i])
        if status == "terminated_postcode":
            detail = self._terminated_detail(i)
        zone = self.small_areas.fields(int(self.small_areas.pc_zone[i])) if self.small_areas is not None else {}
        return {
            "query": query,
            "team": self.team_names[team] if team >= 0 else None,
            "status": status,
            "method": METHODS[r.method[i]],
            "catchment_school": self._school_names[cat] if cat >= 0 else None,
            "distance_m": float(r.distance[i]) if not np.isnan(r.distance[i]) else None,
            "near_boundary": bool(r.near[i]),
            "postcode": pc,
            "easting": float(self._pc_east[i]),
            "northing": float(self._pc_north[i]),
            "detail": detail if not self._pc_split[i] else self._split_detail(self._pc_split[i]),
            "likely_team": None,
            "split_teams": self._pc_split[i] or None,
            **zone,
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
        """Return the release of ``dataset`` that answers (the newest in the data folder), or None."""
        rels = self.releases.get(dataset) or []
        return rels[-1] if rels else None

    def _product(self, dataset: str = "postcodes") -> str:
        src = self.sources.get(dataset)
        desc = src.description if src is not None and src.description is not None else dataset
        rel = self.release(dataset)
        return f"{desc} {rel.label}" if rel is not None else desc

    def _frame(self, res: PointResult, east, north, pcs, *, query=None) -> pd.DataFrame:
        n = len(res.team)
        first = {} if query is None else {"query": np.asarray(query, dtype=object)}
        dt = self._dtypes
        teams = pd.Categorical.from_codes(res.team, dtype=dt["team"], validate=False)
        _, school_code = self._school_categories
        lut = np.append(school_code, -1).astype(np.int32)  # catchment -1 takes the last entry: none
        codes = lut.take(res.catchment)
        schools = pd.Categorical.from_codes(codes, dtype=dt["school"], validate=False)
        status = pd.Categorical.from_codes(res.status, dtype=dt["status"], validate=False)
        over = res.method == M_OVERRIDE
        detail_code = np.where(over, len(STATUSES), res.status) if over.any() else res.status
        detail = pd.Categorical.from_codes(detail_code, dtype=dt["detail"], validate=False)
        columns = {
            **first,
            "team": teams,
            "status": status,
            "method": pd.Categorical.from_codes(res.method, dtype=dt["method"], validate=False),
            "catchment_school": schools,
            "distance_m": np.round(res.distance, 1),
            "near_boundary": res.near,
            "postcode": np.asarray(pcs, dtype=object) if pcs is not None else _no_text(n),
            "easting": east,
            "northing": north,
            "detail": detail,
            "likely_team": pd.Categorical.from_codes(np.full(n, -1, np.int8), dtype=dt["team"], validate=False),
            "split_teams": _no_text(n),
        }
        if n <= _FEW:  # a few rows: every column is already the array its block holds; checking costs more
            return pd.DataFrame._from_arrays(list(columns.values()), self._columns[query is not None],
                                             pd.RangeIndex(n), verify_integrity=False)
        for name in ("query", "postcode"):  # text kept as objects (the constructor would infer strings)
            if isinstance(columns.get(name), np.ndarray):
                columns[name] = pd.Series(columns[name], dtype=object)
        # the arrays are this call's own: no copy, no stacking into 2-D blocks
        return pd.DataFrame(columns, copy=False)

    @cached_property
    def _columns(self) -> tuple[pd.Index, pd.Index]:
        """The result columns, without and with ``query``, as the DataFrame constructor names them."""
        m = _FEW + 1
        names = self._frame(PointResult.empty(m), np.full(m, np.nan), np.full(m, np.nan), None,
                            query=np.full(m, None, dtype=object)).columns
        return names[1:], names

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
        """Return one row per team: what it covers and the services in it.

        Per team: postcodes covered, area in km², schools in it, the model's services and link
        workers, and the services present (``services_present``: total; ``services_by_kind``: counts
        by kind, see :func:`heart_geo.services.service_counts`). With population loaded, also the
        people and children each team serves (:func:`heart_geo.population.summary_columns`).
        """
        from .links import school_localities
        from .services import service_counts, services_table

        counts = figures.postcode_counts(self)["by_team"]
        svc = services_table(self)
        present = service_counts(self)
        rows = []
        schools = school_localities(self) if self.schools is not None else None
        for t, area in zip(self.team_names, self.team_areas.area, strict=True):
            s = svc[svc["team"] == t]
            row = {
                self.unit: t,
                "catchment_schools": ", ".join(n for _, n in self.teams[self.team_names.index(t)].schools),
                "postcodes": counts[t]["allocated"],
                "postcodes_nearest": counts[t]["nearest_team"],
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
        return summary_columns(self, pd.DataFrame(rows), team_col=self.unit)

    def attribution(self) -> list[dict]:
        """Each data source with publisher, licence and the attribution text it requires."""
        out = []
        for key, s in self.sources.items():
            rel = self.release(key)
            older = [r.label for r in self.releases.get(key, [])[:-1]]
            year = rel.year if rel is not None else None
            text = s.attribution
            text = text.replace("{year}", str(year)) if year else text.replace(" {year}", "").replace("{year}", "")
            out.append(
                {
                    "dataset": key,
                    "description": s.description or "",
                    "release": rel.describe() if rel is not None else "not in the data folder",
                    "older_releases": ", ".join(older),
                    "publisher": s.publisher,
                    "licence": s.licence,
                    "attribution": text,
                    "files": ", ".join(Path(f).name for f in self.files.get(key, []))[:300],
                }
            )
        return out

    def data_in_use(self) -> str:
        """One line naming the release that answers for each dataset, for summaries and logs."""
        parts = []
        for key, s in self.sources.items():
            rel = self.release(key)
            if rel is not None:
                parts.append(f"{key}: {s.description if s.description is not None else key} {rel.label}")
        return "; ".join(parts)


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
    cfg = read_config(name)
    root = sources.resolve_data_dir(data_dir)
    built, releases = load_built(cfg, root, cache=cache)
    files = {k: [str(p) for p in v[-1].files] if v else [] for k, v in releases.items()}
    prof = Profile(cfg, root, built, files, releases)
    log.info("Loaded profile %s: %d %s, %d catchments, %d postcodes", cfg.key, len(prof.teams),
             prof.unit_plural, len(prof.catchments), len(prof.postcodes))
    return prof


def _services_present_columns(counts: pd.DataFrame, team: str) -> dict:
    """Return the services-present columns of one team's summary row (counts only: nothing named)."""
    from .services import counts_text

    if team not in counts.index:
        return {"services_present": 0, "services_by_kind": ""}
    return {"services_present": int(counts.loc[team, "total"]), "services_by_kind": counts_text(counts.loc[team])}


def _no_text(n: int) -> pd.Categorical:
    """Return a text column with no values: a categorical of missing codes, cheap at any length.

    A million ``None`` objects would cost more than the allocation itself.
    """
    return pd.Categorical.from_codes(np.full(n, -1, np.int8), dtype=_NO_TEXT, validate=False)


_NO_TEXT = pd.CategoricalDtype(pd.Index([], dtype=object))


def _no_nan(row: dict) -> dict:
    """Return a result row with None, not NaN, where there is no value (as the postcode fast path gives)."""
    return {k: _util.nan_to_none(v) for k, v in row.items()}


def _take(r: PointResult, idx: np.ndarray) -> PointResult:
    return PointResult(
        catchment=r.catchment[idx],
        team=r.team[idx],
        status=r.status[idx],
        method=r.method[idx],
        distance=r.distance[idx],
        near=r.near[idx],
    )
