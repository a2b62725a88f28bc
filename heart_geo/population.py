"""Whom each team serves: children by age, deprivation and rates per 1,000 children, from data zones.

One rule behind every output (``team_population``, ``heart-geo population``, the Teams tab, the
caseload rates, the export and the notebook):

1. **Postcode -> data zone.** The postcode file's own data-zone column where it has one (the ONS
   Postcode Directory's ``lsoa11``/``dz11``: authoritative, preferred); otherwise the zone the
   postcode's point lies in; for one of the council's postcodes whose point falls in a sliver
   between the simplified outlines (or in another council's zone), the nearest zone of the council.
2. **The council's zones**: those SIMD names as the council's (``Council_area``), else those with
   most of their area inside the council, else those holding its postcodes.
3. **Apportionment.** A zone whose current postcodes all answer one team counts whole for it; a zone
   split between teams is split in proportion to its current postcodes in each (to its address
   points when OS Open UPRN or ONSUD is loaded). Postcodes placed by ``nearest_team`` count for that
   team. A zone with no current postcode counts for the team at its centre. The population living in
   split zones is reported per team: that is the figure's uncertainty.

Team figures are rounded to whole people so that they add up to the council's total exactly
(largest remainders), each column on its own: a team's age bands may differ from its 0-17 figure by
one or two through rounding. Shares are computed before rounding.
"""

from __future__ import annotations

import logging
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import smallareas
from .allocate import Allocator
from .codes import OUTSIDE
from .errors import InputError
from .settings import CRS

#: Up to this many rows, the data-zone columns are joined without ``pd.concat`` (as the profile's path for a few).
_FEW_ROWS = 64

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

__all__ = ["AGE_BANDS", "SmallAreas", "add_rates", "build_small_areas", "children_per_team", "loaded", "parse_ages",
           "notes_text", "population_json", "rate_per_1000", "small_area_report", "summary_columns",
           "team_population", "zone_table"]

#: The age bands every population output gives (children's services' own bands).
AGE_BANDS = ((0, 4), (5, 11), (12, 15), (16, 17), (0, 17))
#: How a postcode's data zone was found, by code (0: none).
ZONE_METHODS = {1: "the postcode file's own data-zone column", 2: "the zone its point lies in",
                3: "the nearest zone of the council (its point lies in a sliver between zones)"}
#: Margin (metres) around the council's bounds within which zones are read.
ZONE_MARGIN_M = 2_000.0
NOT_LOADED = ("population is not loaded: the data folder has no {what} file (profile source "
              "[sources.{key}], files matching {patterns})")


# --------------------------------------------------------------------------------------------------
# building (called from heart_geo.build; the result is cached with the rest)
# --------------------------------------------------------------------------------------------------
def build_small_areas(cfg, files: dict, *, pcs: pd.DataFrame, result, council_area, alloc: Allocator,
                      addresses: pd.DataFrame) -> dict | None:
    """Join data zones, population and SIMD to the council's postcodes and teams (None without zones).

    Returns
    -------
    dict or None
        ``zones`` (GeoDataFrame: ``data_zone``, ``name``, ``in_council``, ``repair``), ``pc_zone``
        (zone row per postcode row, -1 none), ``pc_zone_method`` (:data:`ZONE_METHODS`), ``ages``
        (zones x 91 people by single year of age, -1 where the file has no row for the zone, or
        None), ``year``, ``simd`` (zones x 3: rank, decile, quintile; 0 where none; or None),
        ``weights`` (DataFrame ``zone``, ``team``, ``weight``, ``basis``), ``council_zones_by`` and
        ``notes``.
    """
    if not files.get("data_zones"):
        return None
    src = cfg.sources["data_zones"]
    xmin, ymin, xmax, ymax = shapely.bounds(council_area)
    box = (xmin - ZONE_MARGIN_M, ymin - ZONE_MARGIN_M, xmax + ZONE_MARGIN_M, ymax + ZONE_MARGIN_M)
    code_field = list(src.code_field) if isinstance(src.code_field, tuple) else src.code_field
    zones, notes = smallareas.read_data_zones(files["data_zones"][0], layer=src.layer, code_field=code_field,
                                              bbox=box)
    codes = pd.Index(zones["data_zone"].to_numpy(dtype=object))
    simd = None
    simd_frame = None
    if files.get("simd"):
        simd_frame = smallareas.read_simd(files["simd"][0])
        s = simd_frame.reindex(codes)
        simd = s[["rank", "decile", "quintile"]].fillna(0).to_numpy(dtype=np.int16)
    in_council, by = _council_zones(cfg, zones, simd_frame, council_area, pcs)
    zones["in_council"] = in_council
    pc_zone, method = _postcode_zones(pcs, zones, cfg.council.code)
    ages, year = None, None
    if files.get("population"):
        pop, year = smallareas.read_population(files["population"][0])
        ages = pop.reindex(codes).fillna(-1).to_numpy(dtype=np.int32)
        lost = int((ages[in_council, 0] < 0).sum())
        if lost:
            notes.append(f"{lost} of the council's data zones have no row in the population file: counted as 0")
    weights = _weights(zones, pcs, result, pc_zone, cfg.council.code, alloc, addresses)
    counts = np.bincount(method[(pcs["council_code"].to_numpy() == cfg.council.code)], minlength=4)
    notes.append("the council's postcodes placed in data zones by " + "; ".join(
        f"{ZONE_METHODS[k]}: {int(counts[k]):,}" for k in (1, 2, 3) if counts[k]) + "")
    notes.append(f"{int(in_council.sum())} data zones in the council ({by})")
    return {"zones": zones, "pc_zone": pc_zone, "pc_zone_method": method, "ages": ages, "year": year,
            "simd": simd, "weights": weights, "council_zones_by": by, "notes": notes}


def _council_zones(cfg, zones: gpd.GeoDataFrame, simd: pd.DataFrame | None, council_area,
                   pcs: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Which zones are the council's, and how that was decided."""
    name = cfg.council.name.strip().lower()
    if simd is not None and (simd["council_area"].str.lower() == name).any():
        mine = set(simd.index[simd["council_area"].str.lower() == name])
        return zones["data_zone"].isin(mine).to_numpy(), "named as the council's by the SIMD file"
    area = zones.geometry.area.to_numpy()
    inside = shapely.area(shapely.intersection(zones.geometry.to_numpy(), council_area))
    by_area = inside > 0.5 * area
    if by_area.any():
        return by_area, "most of the zone's area inside the council"
    pz, _ = _postcode_zones(pcs, zones, "")
    held = np.unique(pz[(pcs["council_code"].to_numpy() == cfg.council.code) & (pz >= 0)])
    out = np.zeros(len(zones), bool)
    out[held] = True
    return out, "holding the council's postcodes"


def _point_zones(zones: gpd.GeoDataFrame, x: np.ndarray, y: np.ndarray, tree=None) -> np.ndarray:
    """Return the zone row each point lies in (the first listed on a shared edge; -1 none)."""
    out = np.full(len(x), -1, np.int32)
    ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if not ok.size or zones.empty:
        return out
    tree = tree if tree is not None else shapely.STRtree(zones.geometry.to_numpy())
    pi, zi = tree.query(shapely.points(x[ok], y[ok]), predicate="intersects")
    order = np.lexsort((zi, pi))
    pi, zi = pi[order], zi[order]
    first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.zeros(0, bool)
    out[ok[pi[first]]] = zi[first]
    return out


def _nearest_zones(zones: gpd.GeoDataFrame, mask: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return the nearest zone (row index) among ``mask`` for each point."""
    rows = np.flatnonzero(mask)
    if not rows.size or not len(x):
        return np.full(len(x), -1, np.int32)
    tree = shapely.STRtree(zones.geometry.to_numpy()[rows])
    pi, zi = tree.query_nearest(shapely.points(x, y), all_matches=False)
    out = np.full(len(x), -1, np.int32)
    out[pi] = rows[zi]
    return out


def _postcode_zones(pcs: pd.DataFrame, zones: gpd.GeoDataFrame, code: str) -> tuple[np.ndarray, np.ndarray]:
    """Each postcode row's zone row and the method that found it (:data:`ZONE_METHODS`)."""
    n = len(pcs)
    zone = np.full(n, -1, np.int32)
    method = np.zeros(n, np.int8)
    codes = pd.Index(zones["data_zone"].to_numpy(dtype=object))
    if "data_zone" in pcs.columns:
        given = codes.get_indexer(pcs["data_zone"].fillna("").astype(str).str.strip().to_numpy(dtype=object))
        zone[given >= 0], method[given >= 0] = given[given >= 0], 1
    todo = np.flatnonzero(zone < 0)
    x = pcs["easting"].to_numpy(dtype=float)
    y = pcs["northing"].to_numpy(dtype=float)
    hit = _point_zones(zones, x[todo], y[todo])
    zone[todo], method[todo[hit >= 0]] = hit, 2
    if code and "in_council" in zones.columns:
        mine = zones["in_council"].to_numpy(dtype=bool)
        own = (pcs["council_code"].to_numpy() == code) & np.isfinite(x) & np.isfinite(y)
        stray = np.flatnonzero(own & ((zone < 0) | ~mine[np.maximum(zone, 0)]) & (method != 1))
        if stray.size:
            zone[stray] = _nearest_zones(zones, mine, x[stray], y[stray])
            method[stray] = 3
    return zone, method


def _weights(zones, pcs, result, pc_zone, code, alloc: Allocator, addresses: pd.DataFrame) -> pd.DataFrame:
    """Each council zone's weight per team: current postcodes (or address points), else the zone's centre."""
    mine = zones["in_council"].to_numpy(dtype=bool)
    current = ((pcs["council_code"].to_numpy() == code) & ~pcs["terminated"].to_numpy(dtype=bool)
               & (result.team >= 0) & (pc_zone >= 0))
    current &= mine[np.maximum(pc_zone, 0)]
    frame = pd.DataFrame({"zone": pc_zone[current], "team": result.team[current].astype(np.int64)})
    by_address: set = set()
    if len(addresses) and addresses["postcode"].notna().any():
        known = pd.Index(pcs["postcode"].to_numpy(dtype=object)[current])
        a = addresses[addresses["postcode"].isin(known)]
        if len(a):
            z = pc_zone[current][known.get_indexer(a["postcode"].to_numpy(dtype=object))]
            t = alloc.locate(a["easting"].to_numpy(), a["northing"].to_numpy()).team.astype(np.int64)
            held = pd.DataFrame({"zone": z[t >= 0], "team": t[t >= 0]})
            by_address = set(held["zone"])
            frame = pd.concat([held, frame[~frame["zone"].isin(by_address)]], ignore_index=True)
    w = frame.value_counts().rename("weight").reset_index()
    w["basis"] = np.where(w["zone"].isin(by_address), "address points", "postcodes")
    empty = np.flatnonzero(mine & ~np.isin(np.arange(len(zones)), w["zone"].to_numpy()))
    if empty.size:
        pts = shapely.point_on_surface(zones.geometry.to_numpy()[empty])
        r = alloc.exact(shapely.get_x(pts), shapely.get_y(pts))
        team = r.team.astype(np.int64)
        out = np.flatnonzero((team < 0) | (r.status == OUTSIDE))
        if out.size:
            team[out], _ = alloc.nearest_team(shapely.get_x(pts)[out], shapely.get_y(pts)[out])
        w = pd.concat([w, pd.DataFrame({"zone": empty, "team": team, "weight": 1, "basis": "zone centre"})],
                      ignore_index=True)
    w = w[w["team"] >= 0]
    return w.astype({"zone": np.int64, "team": np.int64, "weight": float, "basis": object}).sort_values(
        ["zone", "team"]).reset_index(drop=True)


_ZONE_FIELDS = ("data_zone", "data_zone_name", "simd_decile", "simd_decile_words")
_WORDS = {d: smallareas.decile_words(d) for d in range(1, 11)}


# --------------------------------------------------------------------------------------------------
# the loaded small areas of a profile
# --------------------------------------------------------------------------------------------------
class SmallAreas:
    """A profile's data zones, population and SIMD (``Profile.small_areas``; None when not loaded)."""

    def __init__(self, built: dict, team_names: list[str]):
        self.zones: gpd.GeoDataFrame = built["zones"]
        self.pc_zone: np.ndarray = built["pc_zone"]
        self.pc_zone_method: np.ndarray = built["pc_zone_method"]
        self.ages: np.ndarray | None = built["ages"]
        self.year: int | None = built["year"]
        self.simd: np.ndarray | None = built["simd"]
        self.weights: pd.DataFrame = built["weights"]
        self.council_zones_by: str = built["council_zones_by"]
        self.notes: list[str] = list(built["notes"])
        self.team_names = list(team_names)
        self._codes = self.zones["data_zone"].to_numpy(dtype=object)
        self._names = self.zones["name"].to_numpy(dtype=object)
        self._mine = self.zones["in_council"].to_numpy(dtype=bool)
        self._tree = shapely.STRtree(self.zones.geometry.to_numpy())  # built once: a lookup is a query
        self._joined: dict[tuple, pd.Index] = {}  # answer columns + the zone columns, per answer layout

    @property
    def has_population(self) -> bool:
        """Whether a population file is loaded."""
        return self.ages is not None

    def share_matrix(self) -> np.ndarray:
        """Zones x teams: the share of each council zone's people counted for each team (rows add to 1)."""
        m = np.zeros((len(self.zones), len(self.team_names)))
        w = self.weights
        np.add.at(m, (w["zone"].to_numpy(), w["team"].to_numpy()), w["weight"].to_numpy())
        tot = m.sum(axis=1, keepdims=True)
        return np.divide(m, tot, out=np.zeros_like(m), where=tot > 0)

    def people(self, lo: int, hi: int) -> np.ndarray:
        """People aged ``lo`` to ``hi`` (inclusive; 90 is 90 and over) in each zone (0 where unknown)."""
        if self.ages is None:
            raise InputError("population is not loaded: no small-area population file in the data folder")
        hi = min(hi, self.ages.shape[1] - 1)
        return np.clip(self.ages[:, lo:hi + 1], 0, None).sum(axis=1)

    # ---------------------------------------------------------------------------------------------
    def zone_rows(self, pc_rows: np.ndarray, x: np.ndarray, y: np.ndarray, inside: np.ndarray) -> np.ndarray:
        """Zone row for answers: a postcode row's zone where ``pc_rows >= 0``, else the point's.

        ``inside`` marks answers inside the council (a team given): a point there in no council
        zone takes the nearest one.
        """
        out = np.full(len(pc_rows), -1, np.int32)
        has = pc_rows >= 0
        out[has] = self.pc_zone[pc_rows[has]]
        pts = np.flatnonzero(~has)
        if pts.size:
            out[pts] = _point_zones(self.zones, x[pts], y[pts], self._tree)
            stray = pts[inside[pts] & ((out[pts] < 0) | ~self._mine[np.maximum(out[pts], 0)])
                        & np.isfinite(x[pts])]
            if stray.size:
                out[stray] = _nearest_zones(self.zones, self._mine, x[stray], y[stray])
        return out

    def fields(self, zone: int) -> dict:
        """``data_zone``, ``data_zone_name``, ``simd_decile``, ``simd_decile_words`` of one zone row."""
        if zone < 0:
            return dict.fromkeys(_ZONE_FIELDS)
        dec = int(self.simd[zone, 1]) if self.simd is not None and self.simd[zone, 1] > 0 else None
        return {"data_zone": self._codes[zone], "data_zone_name": self._names[zone] or None,
                "simd_decile": dec, "simd_decile_words": smallareas.decile_words(dec)}

    def point_fields(self, x, y, team) -> dict:
        """Return :meth:`fields` for one answered point (``team`` None/NaN: outside the council)."""
        if x is None or y is None or not (np.isfinite(x) and np.isfinite(y)):
            return self.fields(-1)
        hit = self._tree.query(shapely.Point(x, y), predicate="intersects")
        zone = int(hit.min()) if len(hit) else -1
        inside = team is not None and not (isinstance(team, float) and np.isnan(team))
        if inside and (zone < 0 or not self._mine[zone]):
            zone = int(_nearest_zones(self.zones, self._mine, np.array([x], float), np.array([y], float))[0])
        return self.fields(zone)

    def add_columns(self, out: pd.DataFrame, pc_rows: np.ndarray) -> pd.DataFrame:
        """Return an answer frame with the data-zone columns added.

        ``pc_rows``: the postcode table row of each answer (-1 none). ``data_zone``,
        ``data_zone_name``, ``simd_decile`` and ``simd_decile_words`` in one concat.
        """
        if (pc_rows >= 0).all():  # every answer has its postcode's zone: its point is not read
            x = y = np.empty(len(out))
            inside = np.zeros(len(out), bool)
        else:
            x = out["easting"].to_numpy(dtype=float)
            y = out["northing"].to_numpy(dtype=float)
            inside = out["team"].notna().to_numpy()
        z = self.zone_rows(pc_rows, x, y, inside)
        ok = z >= 0
        new = np.full((len(z), 4), None, dtype=object)
        new[ok, 0], new[ok, 1] = self._codes[z[ok]], self._names[z[ok]]
        if self.simd is not None:
            dec = np.where(ok, self.simd[np.maximum(z, 0), 1], 0)
            has = dec > 0
            new[has, 2] = [int(d) for d in dec[has]]
            new[has, 3] = [_WORDS[int(d)] for d in dec[has]]
        zones = pd.DataFrame(new, index=out.index, columns=list(_ZONE_FIELDS))
        if len(out) <= _FEW_ROWS:  # a few rows: the same frame as concat's, from the two frames' own arrays
            names = tuple(out.columns)
            if names not in self._joined:
                self._joined[names] = out.columns.append(zones.columns)
            return pd.DataFrame._from_arrays([f._mgr.iget_values(i) for f in (out, zones) for i in range(f.shape[1])],
                                             self._joined[names], out.index, verify_integrity=False)
        return pd.concat([out, zones], axis=1)

    def method_counts(self, council_rows: np.ndarray) -> dict[str, int]:
        """How many of the given postcode rows each method placed (``{method words: count}``)."""
        counts = np.bincount(self.pc_zone_method[council_rows], minlength=4)
        return {ZONE_METHODS[k]: int(counts[k]) for k in (1, 2, 3) if counts[k]}


# --------------------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------------------
def parse_ages(text) -> tuple[int, int]:
    """Read an age band: ``"0-17"``, ``(0, 17)``, ``"16"`` or ``"90+"``.

    Examples
    --------
    >>> parse_ages("0-17"), parse_ages((5, 11)), parse_ages("90+")
    ((0, 17), (5, 11), (90, 90))
    """
    if isinstance(text, tuple | list) and len(text) == 2:
        lo, hi = (int(v) for v in text)
    else:
        m = re.fullmatch(r"\s*(\d{1,3})\s*(?:[-–to]+\s*(\d{1,3})|(\+))?\s*", str(text))
        if not m:
            raise InputError(f"ages {str(text)[:20]!r} not understood; expected a band like 0-17 or 5-11")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else (smallareas.TOP_AGE if m.group(3) else lo)
    if not 0 <= lo <= hi or lo > smallareas.TOP_AGE:
        raise InputError(f"ages {lo}-{hi}: expected 0 <= from <= to, from at most {smallareas.TOP_AGE}")
    return lo, min(hi, smallareas.TOP_AGE)


def band_name(lo: int, hi: int) -> str:
    """``"0-17"``; ``"90+"`` for the open top band."""
    return f"{lo}+" if lo == hi == smallareas.TOP_AGE else f"{lo}-{hi}"


def _round_to_total(values: np.ndarray) -> np.ndarray:
    """Whole numbers adding up to the (whole) total of ``values``: largest remainders get the rest."""
    total = int(round(float(values.sum())))
    floor = np.floor(values + 1e-9)
    rest = total - int(floor.sum())
    order = np.argsort(-(values - floor), kind="stable")
    floor[order[:max(rest, 0)]] += 1
    return floor.astype(np.int64)


def _require(profile) -> SmallAreas:
    sa = getattr(profile, "small_areas", None)
    for key, what in (("data_zones", "data-zone boundary"), ("population", "small-area population")):
        if sa is None or (key == "population" and not sa.has_population):
            src = profile.sources.get(key)
            raise InputError(NOT_LOADED.format(what=what, key=key, patterns=list(src.patterns) if src else []))
    return sa


def team_population(profile, ages=(0, 17)) -> pd.DataFrame:
    """People per team from the data zones: the age band asked, the standard bands and deprivation.

    Parameters
    ----------
    profile : heart_geo.Profile
        A profile whose data folder holds data-zone boundaries and population (and SIMD).
    ages : (int, int) or str
        The band ``population`` counts, inclusive (``(0, 17)``, ``"5-11"``).

    Returns
    -------
    pandas.DataFrame
        One row per team: ``team``, ``population``, ``simd_q1_population`` and ``simd_q1_share``
        (living in SIMD quintile 1, Scotland's most deprived fifth; None without SIMD), ``zones``
        (data zones counted, wholly or in part), ``split_zones`` (zones shared with another team),
        ``split_zone_population`` (the part of ``population`` living in split zones: the
        uncertainty), then one column per band of :data:`AGE_BANDS` (``"0-4"`` ... ``"0-17"``).
        ``attrs`` holds ``ages``, ``council_total``, ``year`` and ``notes``.

    Raises
    ------
    InputError
        Population is not loaded (no data-zone or population file), or the band is not understood.

    Examples
    --------
    >>> from heart_geo.testing import make_profile
    >>> df = team_population(make_profile(small_areas=True))
    >>> df[["team", "population", "split_zones"]].to_dict("records")[0]
    {'team': 'North', 'population': 234, 'split_zones': 1}
    """
    sa = _require(profile)
    lo, hi = parse_ages(ages)
    share = sa.share_matrix()
    people = sa.people(lo, hi).astype(float) * sa._mine
    per = share * people[:, None]
    split = (share > 0).sum(axis=1) > 1
    df = pd.DataFrame({"team": sa.team_names, "population": _round_to_total(per.sum(axis=0))})
    if sa.simd is not None:
        q1 = sa.simd[:, 2] == 1
        exact_q1 = per[q1].sum(axis=0)
        df["simd_q1_population"] = _round_to_total(exact_q1)
        tot = per.sum(axis=0)
        df["simd_q1_share"] = np.round(np.divide(exact_q1, tot, out=np.zeros_like(tot), where=tot > 0), 4)
    else:
        df["simd_q1_population"] = None
        df["simd_q1_share"] = None
    df["zones"] = (share[sa._mine] > 0).sum(axis=0)
    df["split_zones"] = (share[sa._mine & split] > 0).sum(axis=0)
    df["split_zone_population"] = _round_to_total(per[split].sum(axis=0))
    for blo, bhi in AGE_BANDS:
        df[band_name(blo, bhi)] = _round_to_total((share * (sa.people(blo, bhi) * sa._mine)[:, None]).sum(axis=0))
    df.attrs.update(ages=band_name(lo, hi), council_total=int(people.sum()), year=sa.year,
                    notes=list(sa.notes), simd=sa.simd is not None)
    return df


def population_json(profile, ages=(0, 17)) -> dict:
    """Return what ``heart-geo population --json`` prints: the council's total and one object per team."""
    df = team_population(profile, ages)
    bands = [band_name(lo, hi) for lo, hi in AGE_BANDS]
    teams = []
    for r in df.to_dict("records"):
        row = {k: r[k] for k in ("team", "population", "simd_q1_population", "simd_q1_share", "zones",
                                 "split_zones", "split_zone_population")}
        row["age_bands"] = {b: r[b] for b in bands}
        teams.append({k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()})
    return {"council": profile.name, "ages": df.attrs["ages"], "year": df.attrs["year"],
            "council_total": df.attrs["council_total"], "teams_total": int(df["population"].sum()),
            "teams": teams, "notes": df.attrs["notes"]}


def zone_table(profile) -> gpd.GeoDataFrame:
    """Return the council's data zones with the team(s) each belongs to and its share; EPSG:27700.

    Columns ``data_zone``, ``name``, ``teams`` ("Barony 0.75, Doon Valley 0.25"), ``main_team``,
    ``main_share``, ``split``, ``population`` (all ages) and ``children`` (0-17) where loaded,
    ``simd_rank``, ``simd_decile``, ``simd_quintile`` where loaded.
    """
    sa = profile.small_areas
    if sa is None:
        raise InputError(NOT_LOADED.format(what="data-zone boundary", key="data_zones",
                                           patterns=list(profile.sources["data_zones"].patterns)
                                           if "data_zones" in profile.sources else []))
    share = sa.share_matrix()
    rows = np.flatnonzero(sa._mine)
    names = sa.team_names
    out = gpd.GeoDataFrame({"data_zone": sa._codes[rows], "name": sa._names[rows]},
                           geometry=sa.zones.geometry.to_numpy()[rows], crs=CRS)
    sub = share[rows]
    out["teams"] = [", ".join(f"{names[t]} {s[t]:.2f}" for t in np.argsort(-s, kind="stable") if s[t] > 0)
                    for s in sub]
    main = sub.argmax(axis=1)
    out["main_team"] = [names[t] if sub[i, t] > 0 else None for i, t in enumerate(main)]
    out["main_share"] = np.round(sub.max(axis=1), 4)
    out["split"] = (sub > 0).sum(axis=1) > 1
    if sa.has_population:
        out["population"] = sa.people(0, smallareas.TOP_AGE)[rows]
        out["children"] = sa.people(0, 17)[rows]
    if sa.simd is not None:
        out["simd_rank"] = sa.simd[rows, 0].astype(np.int64)
        out["simd_decile"] = sa.simd[rows, 1].astype(np.int64)
        out["simd_quintile"] = sa.simd[rows, 2].astype(np.int64)
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# the same figures joined to the other outputs (teams table, export, caseload rates)
# --------------------------------------------------------------------------------------------------
#: What a rate computed from a suppressed count shows: it is hidden too (the count could be worked back).
RATE_HIDDEN = "*"


def loaded(profile) -> bool:
    """Whether the profile has data zones and population loaded (the population figures can be given)."""
    sa = getattr(profile, "small_areas", None)
    return sa is not None and sa.has_population


def children_per_team(profile) -> dict[str, int]:
    """Children aged 0-17 per team (whole people), or {} when population is not loaded."""
    if not loaded(profile):
        return {}
    df = team_population(profile, (0, 17))
    return dict(zip(df["team"], df["population"].astype(int), strict=True))


def summary_columns(profile, summary: pd.DataFrame, *, team_col: str) -> pd.DataFrame:
    """Add the population fields to a per-team table (``Profile.team_summary``, the export's teams layer).

    ``population`` (all ages), ``children`` (0-17), ``children_0_4`` ... ``children_16_17``,
    ``children_simd_q1`` and ``children_simd_q1_share`` (in Scotland's most deprived fifth),
    ``children_in_split_zones`` (the uncertainty) and ``services_per_1000_children`` (where the
    table has ``services_present``). Unchanged when population is not loaded.
    """
    if not loaded(profile):
        return summary
    kids = team_population(profile, (0, 17)).set_index("team")
    everyone = team_population(profile, (0, smallareas.TOP_AGE)).set_index("team")
    teams = summary[team_col]
    out = summary.copy()
    out["population"] = teams.map(everyone["population"]).astype("Int64").to_numpy()
    out["children"] = teams.map(kids["population"]).astype("Int64").to_numpy()
    for lo, hi in AGE_BANDS[:-1]:
        out[f"children_{lo}_{hi}"] = teams.map(kids[band_name(lo, hi)]).astype("Int64").to_numpy()
    if kids.attrs.get("simd"):
        out["children_simd_q1"] = teams.map(kids["simd_q1_population"]).astype("Int64").to_numpy()
        out["children_simd_q1_share"] = teams.map(kids["simd_q1_share"]).astype(float).to_numpy()
    out["children_in_split_zones"] = teams.map(kids["split_zone_population"]).astype("Int64").to_numpy()
    if "services_present" in out.columns:
        n = out["children"].astype(float).to_numpy()
        s = out["services_present"].astype(float).to_numpy()
        out["services_per_1000_children"] = np.round(np.divide(s * 1000, n, out=np.full(len(n), np.nan),
                                                               where=n > 0), 2)
    return out


def rate_per_1000(count, children: int | None):
    """Rate per 1,000 children of a shown count; hidden (``*``) when the count is suppressed.

    Examples
    --------
    >>> rate_per_1000(12, 5907), rate_per_1000("<5", 5907), rate_per_1000("*", 5907), rate_per_1000(3, None)
    (2.03, '*', '*', None)
    """
    if not children:
        return None
    if isinstance(count, int | np.integer):
        return round(int(count) * 1000 / children, 2)
    return RATE_HIDDEN


def add_rates(profile, by_team: pd.DataFrame, *, count: str = "rows", team: str = "team") -> pd.DataFrame:
    """Add ``per_1000_children`` to a table of counts per team (as shown: suppressed counts stay hidden).

    Unchanged when population is not loaded. Rows that are not a team ("(none)") get no rate.
    """
    kids = children_per_team(profile)
    if not kids:
        return by_team
    out = by_team.copy()
    out["per_1000_children"] = pd.Series([rate_per_1000(c, kids.get(t)) for t, c in zip(
        out[team], out[count], strict=True)], index=out.index, dtype=object)
    return out


def small_area_report(profile) -> dict:
    """Return what ``validate`` and the Data notes say about the small-area data.

    ``loaded`` (False: the tools say population is not loaded), then where loaded ``zones`` (the
    council's), ``council_zones_by``, ``postcode_zone_methods`` ({method: postcodes}),
    ``repairs``, ``population_year``, ``simd`` (loaded or not), and per team ``split_zones`` and
    ``children_in_split_zones`` (the uncertainty of the figures).
    """
    sa = getattr(profile, "small_areas", None)
    if sa is None:
        return {"loaded": False, "note": "population is not loaded: no data-zone boundary file in the data folder"}
    mine = np.flatnonzero(profile.postcodes["council_code"].to_numpy() == profile.code)
    rep = {"loaded": sa.has_population, "zones": int(sa._mine.sum()), "council_zones_by": sa.council_zones_by,
           "postcode_zone_methods": sa.method_counts(mine),
           "repairs": [n for n in sa.notes if n.startswith("repaired data zone")],
           "population_year": sa.year, "simd": sa.simd is not None}
    if sa.has_population:
        df = team_population(profile, (0, 17))
        rep["split"] = {r.team: {"split_zones": int(r.split_zones),
                                 "children_in_split_zones": int(r.split_zone_population),
                                 "children": int(r.population)} for r in df.itertuples()}
    else:
        rep["note"] = "population is not loaded: no small-area population file in the data folder"
    return rep


def notes_text(profile) -> list[str]:
    """Plain sentences for the Data notes: what the population figures rest on, or that they are not loaded."""
    rep = small_area_report(profile)
    if "zones" not in rep:
        return [rep["note"] + "; the tools give no population figures."]
    out = [f"{rep['zones']} data zones in the council ({rep['council_zones_by']}); postcodes placed in data zones "
           "by " + "; ".join(f"{k}: {v:,}" for k, v in rep["postcode_zone_methods"].items()) + "."]
    out += [r + "." for r in rep["repairs"]]
    if "split" in rep:
        year = f"mid-{rep['population_year']} " if rep["population_year"] else ""
        out.append(f"Children 0-17 ({year}estimates) living in data zones shared between {profile.unit_plural} "
                   "(shared in proportion to the zone's postcodes: the figures' uncertainty): "
                   + ", ".join(f"{t} {v['children_in_split_zones']:,} of {v['children']:,}"
                               for t, v in rep["split"].items()) + ".")
    else:
        out.append(rep["note"] + ".")
    return out
