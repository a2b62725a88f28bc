"""Readers for official small-area statistics: data-zone boundaries, population and SIMD.

* Data-zone boundaries (Scottish Government, 2011 data zones): any vector format and CRS the
  catchment reader takes; the zone code column is found by its name (``DataZone``,
  ``DataZone2011Code``, ``DZ2011_Code``...) or, failing that, by its values (``S01`` codes);
  invalid geometries are repaired and each repair reported.
* Small-area population estimates (National Records of Scotland, as Public Health Scotland
  publishes them): ``Year``, ``DataZone``, ``Sex``, ``AllAges``, ``Age0`` ... ``Age90plus``, with or
  without the ``DataZoneQF`` and ``SexQF`` qualifier columns; the rows for ``Sex == "All"`` are used
  (or Male plus Female where a file has no ``All`` rows); the newest ``Year`` when several are given.
* The Scottish Index of Multiple Deprivation: the "with geography" CSV (``Data_Zone``,
  ``SIMD2020v2_Rank``, ``SIMD2020v2_Decile``, ``SIMD2020v2_Quintile``, ``Council_area``...) and the
  Scottish Government's ranks workbook (``.xlsx``: ranks only; deciles and quintiles are computed
  from the rank over Scotland's 6,976 data zones, as the Scottish Government does).

Nothing here knows a council: :mod:`heart_geo.population` joins these to a profile.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from ._crs import transformer
from .errors import DataFormatError
from .sources import _read_vector, _repair_frame

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

__all__ = ["N_DATA_ZONES", "decile_words", "read_data_zones", "read_population", "read_simd"]

#: Scotland's 2011 data zones: what SIMD 2016 and 2020 rank.
N_DATA_ZONES = 6976
#: Oldest age with its own column in the PHS layout; the next column is "90 and over".
TOP_AGE = 90
_ZONE_CODE = re.compile(r"^S01\d{6}$")
_CODE_NAMES = ("datazone", "datazonecode", "datazone2011", "datazone2011code", "dz2011code", "dz2011cd",
               "dz11cd", "dzcode", "dz2011", "dz11", "datazone2011cd", "dzcd")
_NAME_NAMES = ("name", "datazonename", "datazone2011name", "dz2011name", "dzname", "dz11nm", "dz2011nm")


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _column(columns, names: tuple[str, ...]) -> str | None:
    by = {_norm(c): c for c in columns}
    return next((by[n] for n in names if n in by), None)


def _code_column(df: pd.DataFrame, what: str, source: str, code_field=None) -> str:
    """Find the zone code column: ``code_field`` if given, else by name, else the one holding S01 codes."""
    if code_field:
        for c in [code_field] if isinstance(code_field, str) else list(code_field):
            hit = _column(df.columns, (_norm(c),))
            if hit is not None:
                return hit
    hit = _column(df.columns, _CODE_NAMES)
    if hit is not None:
        return hit
    for c in df.columns:
        if c == "geometry" or not (df[c].dtype == object or pd.api.types.is_string_dtype(df[c].dtype)):
            continue
        vals = df[c].dropna().astype(str).str.strip()
        if len(vals) and vals.str.match(_ZONE_CODE).mean() > 0.9:
            return c
    raise DataFormatError(
        f"{what} file {source!r} has no data zone code column; expected one named like 'DataZone' "
        f"or 'DataZone2011Code' holding S01 codes; columns are {[str(c) for c in df.columns][:20]}"
    )


def read_data_zones(path: str | os.PathLike, *, layer: str | None = None, code_field=None,
                    bbox: tuple[float, float, float, float] | None = None) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Read data-zone boundaries into EPSG:27700, repairing invalid geometries.

    Parameters
    ----------
    path : path
        GeoPackage, GeoJSON, Shapefile or a ``.zip`` of one, in any declared CRS.
    layer : str, optional
        Layer of a multi-layer file.
    code_field : str or list of str, optional
        The zone code column, when its name is not one of the usual ones.
    bbox : (xmin, ymin, xmax, ymax), optional
        EPSG:27700 box: only zones whose bounds meet it are kept (and repaired).

    Returns
    -------
    zones : geopandas.GeoDataFrame
        ``data_zone``, ``name``, ``repair`` ("" where nothing was needed), geometry in EPSG:27700.
    repairs : list of str
        One sentence per repaired zone.
    """
    path = Path(path)
    gdf = _read_near(path, layer, bbox)
    code = _code_column(gdf, "data zone", str(path), code_field)
    name = _column([c for c in gdf.columns if c != code], _NAME_NAMES)
    out = gpd.GeoDataFrame({"data_zone": gdf[code].astype(str).str.strip(),
                            "name": gdf[name].astype(str).str.strip() if name else ""},
                           geometry=gdf.geometry, crs=gdf.crs)
    out = out[out["data_zone"].str.match(_ZONE_CODE) & out.geometry.notna() & ~out.geometry.is_empty]
    if bbox is not None and out.crs is not None and len(out):
        tr = transformer("EPSG:27700", out.crs.to_string())
        xs, ys = tr.transform([bbox[0], bbox[2], bbox[0], bbox[2]], [bbox[1], bbox[1], bbox[3], bbox[3]])
        b = out.geometry.bounds
        pad = 0.01 if out.crs.is_geographic else 1000.0  # the box's corners bend once reprojected
        keep = ((b["maxx"] >= min(xs) - pad) & (b["minx"] <= max(xs) + pad)
                & (b["maxy"] >= min(ys) - pad) & (b["miny"] <= max(ys) + pad))
        out = out[keep.to_numpy()]
    if out.empty:
        raise DataFormatError(f"data zone file {str(path)!r} has no data zones (S01 codes) in the area asked for")
    out = _repair_frame(out.reset_index(drop=True), what="data zone", source=str(path))
    repairs = [f"repaired data zone {z}: {r}" for z, r in zip(out["data_zone"], out["repair"], strict=True) if r]
    return out[["data_zone", "name", "repair", "geometry"]], repairs


def _read_near(path: Path, layer: str | None, bbox) -> gpd.GeoDataFrame:
    """Read the zones whose bounds meet ``bbox`` (EPSG:27700) with the file's spatial index; all without one.

    A file the fast path cannot open goes through the catchment reader, which says what is wrong.
    """
    import pyogrio  # GDAL loads here, not when a profile loads from the cache

    if bbox is None or path.suffix.lower() == ".zip":
        return _read_vector(path, layer)
    try:
        info = pyogrio.read_info(str(path), layer=layer)
    except Exception:  # pyogrio raises several types for a file it cannot open: the reader's message
        return _read_vector(path, layer)
    if not info.get("crs") or info.get("layer_name") is None and layer is not None:
        return _read_vector(path, layer)
    tr = transformer("EPSG:27700", info["crs"])
    xs, ys = tr.transform([bbox[0], bbox[2], bbox[0], bbox[2]], [bbox[1], bbox[1], bbox[3], bbox[3]])
    geographic = abs(max(xs)) <= 180 and abs(max(ys)) <= 90
    pad = 0.01 if geographic else 1000.0  # the box's corners bend once reprojected
    gdf = gpd.read_file(path, layer=layer, engine="pyogrio",
                        bbox=(min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad))
    return gdf if len(gdf) else _read_vector(path, layer)


def _read_table(path: Path, what: str, **kw) -> pd.DataFrame:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _read_workbook(path, what)
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", **kw)
    except (UnicodeDecodeError, pd.errors.ParserError):
        raise DataFormatError(f"{what} file {str(path)!r} is not a CSV file this reader understands") from None


def _read_workbook(path: Path, what: str) -> pd.DataFrame:
    """Read the first sheet whose header row (in its first 20 rows) names a data zone column."""
    try:
        sheets = pd.read_excel(path, sheet_name=None, header=None, dtype=str, engine="openpyxl")
    except Exception:  # openpyxl raises many types for a file that is not a workbook
        raise DataFormatError(f"{what} file {str(path)!r} is not a workbook (.xlsx) that can be read") from None
    for raw in sheets.values():
        for i in range(min(20, len(raw))):
            head = [str(v) for v in raw.iloc[i].tolist()]
            if _column(head, ("datazone", "datazonecode", "datazone2011code")):
                df = raw.iloc[i + 1:].copy()
                df.columns = head
                return df.fillna("").reset_index(drop=True)
    raise DataFormatError(f"{what} workbook {str(path)!r} has no sheet with a 'Data_Zone' column")


def _age_columns(columns) -> dict[int, str]:
    """``{age: column}`` for ``Age0`` ... ``Age90plus`` (any case, with or without an underscore)."""
    out = {}
    for c in columns:
        m = re.fullmatch(r"age_?(\d+)(plus|\+)?", _norm(c))
        if m:
            out[int(m.group(1))] = c
    return out


def _read_population_table(path: Path) -> pd.DataFrame:
    """Read the population file, its age columns as numbers by the C reader (text columns as text)."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _read_table(path, "population")
    try:
        head = pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns
        ages = _age_columns(head)
        return pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False, na_values=[""],
                           dtype={c: (np.float64 if c in ages.values() else str) for c in head})
    except (UnicodeDecodeError, ValueError, pd.errors.ParserError):  # a cell that is not a number: the slow reader
        return _read_table(path, "population")


def read_population(path: str | os.PathLike) -> tuple[pd.DataFrame, int | None]:
    """Read small-area population estimates (PHS layout) per data zone and single year of age.

    Returns
    -------
    population : pandas.DataFrame
        Index ``data_zone``; int columns ``0`` ... ``90`` (``90`` is 90 and over).
    year : int or None
        The year of the estimates (the newest in the file).

    Raises
    ------
    DataFormatError
        No data zone column, no ``Age0`` ... columns, or ages that do not add up to ``AllAges``.
    """
    path = Path(path)
    df = _read_population_table(path)
    code = _code_column(df, "population", str(path))
    ages = _age_columns(df.columns)
    if not ages or min(ages) != 0:
        raise DataFormatError(
            f"population file {str(path)!r} has no single-year age columns; expected Public Health "
            f"Scotland's layout (Year, DataZone, Sex, AllAges, Age0 ... Age90plus); columns are "
            f"{[str(c) for c in df.columns][:12]}"
        )
    df = df[df[code].astype(str).str.strip().str.match(_ZONE_CODE)].copy()
    df[code] = df[code].astype(str).str.strip()
    year = None
    ycol = _column(df.columns, ("year",))
    if ycol is not None and len(df):
        years = pd.to_numeric(df[ycol], errors="coerce")
        year = int(years.max()) if years.notna().any() else None
        if year is not None:
            df = df[years == year]
    sex = _column(df.columns, ("sex",))
    if sex is not None:
        s = df[sex].astype(str).str.strip().str.lower()
        df = df[s == "all"] if (s == "all").any() else df[s.isin(["male", "female", "m", "f"])]
    values = df[[ages[a] for a in sorted(ages)]]
    if any(not pd.api.types.is_numeric_dtype(values[c]) for c in values.columns):
        values = values.apply(pd.to_numeric, errors="coerce")
    values = values.fillna(0)
    values.columns = sorted(ages)
    values["data_zone"] = df[code].to_numpy()
    out = values.groupby("data_zone", sort=True).sum().astype(np.int64)
    top = max(out.columns)
    if top > TOP_AGE:
        out[TOP_AGE] = out[[c for c in out.columns if c >= TOP_AGE]].sum(axis=1)
        out = out[[c for c in out.columns if c <= TOP_AGE]]
    return out.reindex(columns=range(min(top, TOP_AGE) + 1), fill_value=0), year


_SIMD_RANK = re.compile(r"^simd(\d{4})?(v\d)?rank$")


def read_simd(path: str | os.PathLike) -> pd.DataFrame:
    """Read SIMD ranks per data zone: the "with geography" CSV or the Scottish Government's ranks workbook.

    Returns
    -------
    pandas.DataFrame
        Index ``data_zone``; ``rank`` (1 = most deprived of Scotland's 6,976), ``decile`` and
        ``quintile`` (1 = most deprived; from the file where given, else from the rank),
        ``council_area`` (name, "" where the file has none) and ``intermediate_zone``.
    """
    path = Path(path)
    df = _read_table(path, "SIMD")
    code = _code_column(df, "SIMD", str(path))
    rank = next((c for c in df.columns if _SIMD_RANK.match(_norm(c).replace("_", ""))), None)
    if rank is None:
        raise DataFormatError(
            f"SIMD file {str(path)!r} has no overall rank column (e.g. 'SIMD2020v2_Rank'); columns "
            f"are {[str(c) for c in df.columns][:12]}"
        )
    r = pd.to_numeric(df[rank], errors="coerce")
    ok = df[code].astype(str).str.strip().str.match(_ZONE_CODE) & r.notna()
    df, r = df[ok], r[ok].astype(np.int64)
    n = max(N_DATA_ZONES, int(r.max()) if len(r) else 0)
    out = pd.DataFrame({"rank": r.to_numpy()}, index=pd.Index(df[code].astype(str).str.strip(), name="data_zone"))
    for k, parts in (("decile", 10), ("quintile", 5)):
        col = next((c for c in df.columns if re.fullmatch(rf"simd\d{{4}}v?\d?{k}", _norm(c))), None)
        given = pd.to_numeric(df[col], errors="coerce").to_numpy() if col is not None else None
        computed = np.ceil(out["rank"].to_numpy() * parts / n).astype(np.int64)
        out[k] = np.where(np.isfinite(given), given, computed).astype(np.int64) if given is not None else computed
    for k, names in (("council_area", ("councilarea", "councilareaname", "laname")),
                     ("intermediate_zone", ("intermediatezone", "intermediatezonename", "izname"))):
        col = _column(df.columns, names)
        out[k] = df[col].astype(str).str.strip().to_numpy() if col is not None else ""
    return out[~out.index.duplicated()]


def decile_words(decile: int | None) -> str | None:
    """Say where a SIMD decile stands, in words.

    Examples
    --------
    >>> decile_words(1)
    'among the 10% most deprived areas in Scotland'
    >>> decile_words(4)
    'among the 40% most deprived areas in Scotland'
    >>> decile_words(9)
    'among the 20% least deprived areas in Scotland'
    """
    if decile is None or not 1 <= int(decile) <= 10:
        return None
    d = int(decile)
    if d <= 5:
        return f"among the {d * 10}% most deprived areas in Scotland"
    return f"among the {(11 - d) * 10}% least deprived areas in Scotland"
