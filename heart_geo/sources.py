"""Readers for the official datasets, in the formats their publishers ship.

* Secondary school catchments (Improvement Service Spatial Hub): any vector format GDAL reads
  (GeoPackage, GeoJSON, Shapefile, zipped), the national layer or one file per school.
* OS Code-Point Open: exactly as published (no header, quoted, 7-character postcodes), one CSV,
  the ``Data/CSV`` folder, or the ``codepo_gb.zip``; and the ONS Postcode Directory CSV.
* Scottish Government School Roll and Locations: the workbook or a CSV export.
* Council boundaries: any vector format, filtered by GSS code.
* Service locations: the Care Inspectorate datastore, PHS's list of NHS hospitals, GP practice
  lists (read in :mod:`heart_geo.service_data`; their names importable here too).

Which files make which release of a dataset is decided in :mod:`heart_geo.releases`.

Everything is returned in EPSG:27700 (British National Grid). Geometry that the real data needs
repaired is repaired and the repair is reported in a ``repair`` column, never silently.
"""

from __future__ import annotations

import io
import logging
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import CRSMismatchError, DataFormatError, DataNotFoundError
from .releases import (  # noqa: F401 - re-exported: importable from heart_geo.sources as before
    Release,
    _codepoint_metadata,
    _month_in,
    _zip_metadata,
    default_data_dir,
    describe_release,
    find_releases,
    find_source,
    resolve_data_dir,
)
from .service_data import (  # noqa: F401 - re-exported
    CARE_INSPECTORATE_KINDS,
    SERVICE_COLUMNS,
    SERVICE_READERS,
    read_care_services,
    read_gp_practices,
    read_hospitals,
)
from .settings import CRS

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

__all__ = [
    "Release",
    "default_data_dir",
    "find_releases",
    "find_source",
    "read_catchments",
    "read_council_boundary",
    "read_care_services",
    "read_gp_practices",
    "read_hospitals",
    "read_postcodes",
    "read_schools",
    "repair_geometry",
    "resolve_data_dir",
]

# Column spellings seen in the official files and their common re-exports.
_CATCHMENT_FIELDS = {
    "school_name": ["school_nam", "source_school_nam", "school_name", "schoolname", "name"],
    "seed_code": ["seed_code", "source_seed_code", "seedcode", "seed"],
    "council_code": ["la_s_code", "source_la_s_code", "lacode", "la_code"],
    "council_name": ["local_auth", "source_local_auth", "laname"],
}

CODEPOINT_COLUMNS = [
    "Postcode",
    "Positional_quality_indicator",
    "Eastings",
    "Northings",
    "Country_code",
    "NHS_regional_HA_code",
    "NHS_HA_code",
    "Admin_county_code",
    "Admin_district_code",
    "Admin_ward_code",
]
_CODEPOINT_SHORT = ["PC", "PQ", "EA", "NO", "CY", "RH", "LH", "CC", "DC", "WC"]


# --------------------------------------------------------------------------------------------------
# Geometry repair
# --------------------------------------------------------------------------------------------------
def repair_geometry(geom: shapely.Geometry) -> tuple[shapely.Geometry, str]:
    """Make a polygonal geometry valid without losing area; say what was done.

    A multipolygon whose parts are each valid but touch or overlap one another (the Spatial Hub
    catchments) is repaired by unioning its parts: ``make_valid`` on the whole would drop the shared
    area. Anything else invalid goes through ``make_valid`` and keeps only its polygonal parts.

    Returns
    -------
    geometry, note
        ``note`` is "" when nothing was needed.

    Examples
    --------
    >>> from shapely import box, MultiPolygon
    >>> g, note = repair_geometry(MultiPolygon([box(0, 0, 2, 2), box(1, 1, 3, 3)]))
    >>> round(g.area, 1), note
    (7.0, 'unioned 2 touching/overlapping parts')
    """
    if geom is None or geom.is_empty:
        return geom, ""
    if shapely.is_valid(geom):
        return geom, ""
    if geom.geom_type == "MultiPolygon":
        parts = list(geom.geoms)
        if all(shapely.is_valid(p) for p in parts):
            fixed = shapely.union_all(parts)
            if shapely.is_valid(fixed):
                return fixed, f"unioned {len(parts)} touching/overlapping parts"
    fixed = shapely.make_valid(geom)
    if fixed.geom_type == "GeometryCollection":
        polys = [g for g in fixed.geoms if g.geom_type in ("Polygon", "MultiPolygon")]
        fixed = shapely.union_all(polys)
    reason = shapely.is_valid_reason(geom)
    return fixed, f"make_valid ({reason})"


def _repair_frame(gdf: gpd.GeoDataFrame, *, what: str, source: str) -> gpd.GeoDataFrame:
    """Check every geometry is a non-empty polygon with a CRS, repair, report all problems at once."""
    if gdf.crs is None:
        raise DataFormatError(
            f"{what} file {source!r} has no CRS; expected a declared CRS "
            f"(EPSG:27700 or EPSG:4326)"
        )
    problems = []
    gtypes = gdf.geometry.geom_type
    empty = gdf.geometry.isna() | gdf.geometry.is_empty
    for i in np.flatnonzero(empty.to_numpy()):
        problems.append(f"row {i + 1}: empty geometry")
    bad = ~empty & ~gtypes.isin(["Polygon", "MultiPolygon"])
    for i in np.flatnonzero(bad.to_numpy()):
        problems.append(f"row {i + 1}: {gtypes.iloc[i]} (expected Polygon or MultiPolygon)")
    if problems:
        raise DataFormatError(f"{what} file {source!r} has unusable geometry: " + "; ".join(problems))
    if gdf.crs.is_geographic:
        xmin, ymin, xmax, ymax = gdf.total_bounds
        if xmin < -180 or xmax > 180 or ymin < -90 or ymax > 90:
            raise CRSMismatchError(
                f"{what} file {source!r} declares {gdf.crs.to_string()} (degrees) but its coordinates "
                f"reach {xmax:.0f}, {ymax:.0f}: they look like metres; declare the right CRS "
                f"(British National Grid is EPSG:27700)"
            )
    else:
        xmin, ymin, xmax, ymax = gdf.total_bounds
        if max(abs(xmin), abs(xmax)) <= 180 and max(abs(ymin), abs(ymax)) <= 90:
            raise CRSMismatchError(
                f"{what} file {source!r} declares {gdf.crs.to_string()} (metres) but every coordinate "
                f"lies within ±180, ±90: they look like degrees; declare the right CRS (longitude and "
                f"latitude are EPSG:4326)"
            )
    gdf = gdf.to_crs(CRS)
    xmin, ymin, xmax, ymax = gdf.total_bounds
    if not (np.isfinite([xmin, ymin, xmax, ymax]).all() and xmin > -1e5 and xmax < 8e5
            and ymin > -1e5 and ymax < 1.4e6):
        raise CRSMismatchError(
            f"{what} file {source!r} does not fall in Great Britain once read as "
            f"{gdf.crs.to_string()}: the declared CRS is probably wrong"
        )
    fixed, notes = zip(*(repair_geometry(g) for g in gdf.geometry), strict=True)
    gdf = gdf.set_geometry(list(fixed), crs=CRS)
    gdf["repair"] = list(notes)
    for i, note in enumerate(notes):
        if note:
            log.info("Repaired %s row %d: %s", what, i + 1, note)
    return gdf


# --------------------------------------------------------------------------------------------------
# Catchments
# --------------------------------------------------------------------------------------------------
def _pick(columns: list[str], names: list[str]) -> str | None:
    low = {c.lower(): c for c in columns}
    for n in names:
        if n in low:
            return low[n]
    return None


def _clean_code(values: pd.Series) -> pd.Series:
    """Seed codes arrive as text, integers or floats ("8224234.0"); make them text, blank -> None."""
    s = values.astype(object).where(values.notna(), None)
    out = []
    for v in s:
        if v is None:
            out.append(None)
            continue
        t = str(v).strip()
        if t.endswith(".0"):
            t = t[:-2]
        out.append(t or None)
    return pd.Series(out, index=values.index, dtype=object)


def _read_vector(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    import pyogrio  # GDAL loads here, not when a profile loads from the cache

    target = str(path)
    if path.suffix.lower() == ".zip":
        target = f"/vsizip/{path}"
    try:
        layers = pyogrio.list_layers(target)
    except pyogrio.errors.DataSourceError:
        raise DataFormatError(
            f"file {str(path)!r} is not a vector file GDAL can read (empty, damaged, or another "
            "format); expected GeoPackage, GeoJSON, Shapefile (with its .shx, .dbf and .prj) or a "
            ".zip of one"
        ) from None
    names = [str(n) for n in layers[:, 0]]
    use = None
    if layer is not None and layer in names:
        use = layer
    elif len(names) > 1 and layer is not None:
        matches = [n for n in names if layer.lower() in n.lower()]
        if not matches:
            raise DataFormatError(
                f"catchment file {str(path)!r} has no layer {layer!r}; layers are {names}"
            )
        use = matches[0]
    try:
        gdf = gpd.read_file(target, layer=use, engine="pyogrio")
    except pyogrio.errors.DataSourceError:  # a damaged file: no message details, they can be long
        raise DataFormatError(f"file {str(path)!r} could not be read as vector data: damaged?") from None
    if len(gdf) == 0:
        raise DataFormatError(f"file {str(path)!r} has no features; expected one polygon per area")
    return gdf


def read_catchments(
    path: str | os.PathLike | list,
    *,
    council_code: str | None = None,
    layer: str | None = None,
) -> gpd.GeoDataFrame:
    """Read secondary school catchments into EPSG:27700, repairing what the data needs.

    Parameters
    ----------
    path : path or list of paths
        One file in any vector format GDAL reads (GeoPackage, GeoJSON, Shapefile, ``.zip``), a list
        of files (one per school), or a folder of them.
    council_code : str, optional
        GSS council code (``"S12000008"``) to keep; rows with no council code are kept.
    layer : str, optional
        Layer to read from a multi-layer file (the national non-denominational layer is
        ``pub_schlsn``).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``school_name``, ``seed_code``, ``council_code``, ``council_name``, ``repair``,
        ``geometry``, in EPSG:27700.

    Notes
    -----
    Input may be in any declared CRS; a file with no CRS is an error, never a guess.
    """
    paths = _expand(path)
    frames = []
    for p in paths:
        gdf = _read_vector(p, layer)
        cols = list(gdf.columns)
        out = gpd.GeoDataFrame(geometry=gdf.geometry, crs=gdf.crs)
        missing = []
        for key, names in _CATCHMENT_FIELDS.items():
            c = _pick(cols, names)
            if c is None and key in ("school_name",):
                missing.append(key)
            out[key] = gdf[c].astype(object) if c is not None else None
        if missing:
            raise DataFormatError(
                f"catchment file {str(p)!r} has no school name column; expected one of "
                f"{_CATCHMENT_FIELDS['school_name']}; columns are {cols[:20]}"
            )
        out["source"] = p.name
        frames.append(_repair_frame(out, what="catchment", source=str(p)))
    gdf = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=CRS)
    gdf["seed_code"] = _clean_code(gdf["seed_code"])
    gdf["school_name"] = gdf["school_name"].astype(str).str.strip()
    if council_code is not None:
        keep = gdf["council_code"].isna() | (gdf["council_code"] == council_code)
        gdf = gdf[keep].reset_index(drop=True)
    cols = ["school_name", "seed_code", "council_code", "council_name", "source", "repair"]
    return gdf[cols + ["geometry"]]


def _expand(path) -> list[Path]:
    if isinstance(path, list | tuple):
        return [Path(p) for p in path]
    p = Path(path)
    if p.is_dir():
        files = sorted(
            f
            for f in p.rglob("*")
            if f.suffix.lower() in (".gpkg", ".geojson", ".json", ".shp", ".zip", ".fgb")
        )
        if not files:
            raise DataNotFoundError(f"no vector files in folder {str(p)!r}")
        return files
    if not p.exists():
        raise DataNotFoundError(f"file {str(p)!r} does not exist")
    return [p]


# --------------------------------------------------------------------------------------------------
# Postcodes
# --------------------------------------------------------------------------------------------------
def _csv_members(path: Path) -> list[tuple[str, object]]:
    """(name, opener) for every CSV in a file, folder or zip."""
    if path.is_dir():
        files = sorted(path.rglob("*.csv"))
        files = [f for f in files if "doc" not in {x.lower() for x in f.parts[:-1]}]
        return [(str(f), f) for f in files]
    if path.suffix.lower() == ".zip":
        zf = zipfile.ZipFile(path)
        names = sorted(
            n for n in zf.namelist() if n.lower().endswith(".csv") and "/doc/" not in n.lower()
        )
        return [(f"{path}!{n}", (zf, n)) for n in names]
    return [(str(path), path)]


def _open_text(src) -> io.TextIOBase:
    if isinstance(src, tuple):
        zf, name = src
        return io.TextIOWrapper(zf.open(name), encoding="utf-8-sig", newline="")
    return open(src, encoding="utf-8-sig", newline="")


#: Postcode directories read by column name: how each is recognised, and its columns (lower case).
#: Both give the 2011 data zone of a Scottish postcode (ONSPD's ``lsoa11`` holds it for Scotland).
_DIRECTORIES = {
    "the ONS Postcode Directory": {
        "detect": ["pcds", "pcd"], "postcode": ["pcds", "pcd2", "pcd"], "easting": ["oseast1m", "east1m"],
        "northing": ["osnrth1m", "north1m"], "council_code": ["oslaua", "laua", "lad25cd", "lad24cd", "lad23cd"],
        "quality": ["osgrdind"], "terminated": ["doterm"], "data_zone": ["dz11", "datazone2011code", "lsoa11"],
    },
    "the NRS Scottish Postcode Directory": {
        "detect": ["gridreferenceeasting"], "postcode": ["postcode"], "easting": ["gridreferenceeasting"],
        "northing": ["gridreferencenorthing"],
        "council_code": ["councilarea2019code", "councilarea2018code", "councilarea2011code", "councilareacode"],
        "quality": [], "terminated": ["dateofdeletion"], "data_zone": ["datazone2011code"],
    },
}


def _read_postcode_csv(name: str, src) -> pd.DataFrame:
    with _open_text(src) as fh:
        first = fh.readline()
    head = [h.strip().strip('"').lower() for h in first.split(",")]
    layout = next((k for k, v in _DIRECTORIES.items() if set(v["detect"]) & set(head)), None)
    with _open_text(src) as fh:
        if layout is not None:  # the ONS Postcode Directory or the NRS Scottish Postcode Directory
            want = {k: _first(head, names) for k, names in _DIRECTORIES[layout].items() if k != "detect"}
            need = ["postcode", "easting", "northing", "council_code"]
            lost = [k for k in need if want[k] is None]
            if lost:
                raise DataFormatError(
                    f"postcode file {name!r} looks like {layout} but has no "
                    f"column for {lost}; columns are {head[:30]}"
                )
            cols = {v: k for k, v in want.items() if v is not None}
            df = pd.read_csv(fh, usecols=lambda c: c.strip().lower() in cols, dtype=str)
            df.columns = [cols[c.strip().lower()] for c in df.columns]
            df["terminated"] = df.get("terminated", pd.Series(dtype=str)).fillna("").str.strip()
            df["terminated"] = df["terminated"].ne("")
            if "quality" not in df.columns:  # the Scottish Postcode Directory gives no positional quality
                df["quality"] = ""
        else:  # Code-Point Open, with or without a header row
            has_header = head[0] in ("postcode", "pc")
            if len(head) != 10:
                raise DataFormatError(
                    f"postcode file {name!r} is neither Code-Point Open (10 columns: "
                    f"{CODEPOINT_COLUMNS}) nor the ONS Postcode Directory (pcds, oseast1m, "
                    f"osnrth1m, oslaua...) nor the NRS Scottish Postcode Directory (Postcode, "
                    f"GridReferenceEasting, ...); its first line has {len(head)} fields"
                )
            df = pd.read_csv(
                fh,
                header=0 if has_header else None,
                names=["postcode", "quality", "easting", "northing", "country", "rh", "lh", "cc",
                       "council_code", "ward"],
                usecols=["postcode", "quality", "easting", "northing", "council_code"],
                dtype=str,
                keep_default_na=False,
            )
            df["terminated"] = False
    df["source"] = Path(name).name
    return df


def _first(head: list[str], names: list[str]) -> str | None:
    for n in names:
        if n in head:
            return n
    return None


def read_postcodes(path: str | os.PathLike | list, *, council_codes=None) -> pd.DataFrame:
    """Read postcode unit centroids: OS Code-Point Open or the ONS Postcode Directory.

    Parameters
    ----------
    path : path or list of paths
        A Code-Point Open CSV exactly as published (no header row, quoted), the same with a header
        row, the ``Data/CSV`` folder, ``codepo_gb.zip``, or an ONS Postcode Directory CSV.
    council_codes : iterable of str, optional
        Keep only these councils (GSS codes). Default keeps every row.

    Returns
    -------
    pandas.DataFrame
        ``postcode`` (normalised, ``"KA18 1FQ"``), ``easting``, ``northing`` (EPSG:27700 metres; NaN
        where the source has no grid reference), ``council_code``, ``quality``, ``terminated``.
        Duplicate postcodes keep the first row.
    """
    frames = []
    for p in _expand_postcode_paths(path):
        for name, src in _csv_members(p):
            frames.append(_read_postcode_csv(name, src))
    if not frames:
        raise DataNotFoundError(f"no postcode CSV files in {path!r}")
    df = _tidy_postcodes(pd.concat(frames, ignore_index=True))
    if council_codes is not None:
        df = df[df["council_code"].isin(set(council_codes))]
    df = df.drop_duplicates("postcode", keep="first").reset_index(drop=True)
    return df[["postcode", "easting", "northing", "council_code", "quality", "terminated", "source"]]


def _tidy_postcodes(df: pd.DataFrame) -> pd.DataFrame:
    """Return the postcodes tidied as every postcode reader returns them.

    Postcodes normalised (rows with none dropped), grid references as numbers (NaN where none),
    council codes stripped.
    """
    from .postcodes import normalise_postcodes

    pcs, _ = normalise_postcodes(df["postcode"])
    df["postcode"] = pcs.to_numpy()
    df = df[df["postcode"].notna()].reset_index(drop=True)
    for c in ("easting", "northing"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    nogrid = (df["easting"] <= 0) | (df["northing"] <= 0)
    df.loc[nogrid, ["easting", "northing"]] = np.nan
    df["council_code"] = df["council_code"].fillna("").str.strip()
    return df


_PC_RE = r"^[A-Z]{1,2}[0-9][0-9A-Z]? [0-9][A-Z]{2}$"


def _codepoint_arrow(src):
    """One Code-Point Open CSV (no header, or the long header) as Arrow: postcode key, point, council.

    The fast path for national files: the C reader and vectorised normalisation, no Python object per
    row. Returns None when the file is not Code-Point Open (the ONS Postcode Directory, say).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    if isinstance(src, tuple):
        zf, member = src
        data = zf.read(member)
    else:
        data = Path(src).read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    first = data[:data.find(b"\n")] if b"\n" in data else data
    head = [h.strip().strip('"').lower() for h in first.decode("latin-1").split(",")]
    if "pcds" in head or "pcd" in head or len(head) != 10:
        return None
    has_header = head[0] in ("postcode", "pc")
    cols = ["postcode", "quality", "easting", "northing", "country", "rh", "lh", "cc", "council_code", "ward"]
    try:
        tab = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=cols, skip_rows=1 if has_header else 0),
            convert_options=pacsv.ConvertOptions(
                include_columns=["postcode", "quality", "easting", "northing", "council_code"],
                column_types={c: pa.string() for c in ("postcode", "quality", "easting", "northing",
                                                      "council_code")},
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    key = pc.utf8_upper(pc.replace_substring(pc.utf8_trim_whitespace(tab["postcode"]), " ", ""))
    if pc.all(pc.string_is_ascii(key)).as_py() is not False:  # bytes are characters: slice bytes (3x faster)
        raw = key.cast(pa.binary())
        key = pc.binary_join_element_wise(pc.binary_slice(raw, 0, -3), pc.binary_slice(raw, -3), b" ").cast(pa.string())
    else:
        key = pc.binary_join_element_wise(pc.utf8_slice_codeunits(key, 0, -3), pc.utf8_slice_codeunits(key, -3), " ")
    ok = pc.match_substring_regex(key, _PC_RE)
    e = pc.cast(pc.if_else(pc.equal(tab["easting"], ""), None, tab["easting"]), pa.float64(), safe=False)
    n = pc.cast(pc.if_else(pc.equal(tab["northing"], ""), None, tab["northing"]), pa.float64(), safe=False)
    return pa.table({"postcode": key, "easting": e, "northing": n,
                     "council_code": pc.utf8_trim_whitespace(tab["council_code"]), "quality": tab["quality"]}
                    ).filter(ok)


def _arrow_frames(tables: list) -> list[pd.DataFrame]:
    """Return the Arrow tables gathered so far as one DataFrame (one conversion, not one per member).

    The list is emptied.
    """
    if not tables:
        return []
    import pyarrow as pa

    df = pa.concat_tables(tables).to_pandas()
    tables.clear()
    df.insert(len(df.columns) - 1, "terminated", False)
    return [df]


def _codepoint_members(path: Path):
    """Yield ((name, opener), Arrow table or None) for every CSV of ``path``, in order.

    Two members are read at a time: decompressing and Arrow's kernels release the GIL.
    """
    members = _csv_members(path)
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield from zip(members, pool.map(_codepoint_arrow, [src for _, src in members]), strict=True)


def read_postcode_table(path, *, near_codes, near_box) -> tuple[pd.DataFrame, dict]:
    """Read a postcode release keeping in full only the postcodes a council needs.

    Parameters
    ----------
    path : path or list of paths
        As :func:`read_postcodes` (a national ``codepo_gb.zip`` included).
    near_codes : iterable of str
        Council codes kept in full (the council's own); rows with no council code are kept too.
    near_box : (xmin, ymin, xmax, ymax)
        EPSG:27700 box whose postcodes are kept in full (the council and a margin).

    Returns
    -------
    near : pandas.DataFrame
        As :func:`read_postcodes`, for the kept postcodes.
    rest : dict of numpy arrays
        Every other postcode, compactly: ``keys`` (sorted, bytes ``"G1 1AA"``), ``council`` (index into
        ``codes``), ``codes`` (bytes GSS codes), ``easting``, ``northing`` (int32; -1 for none),
        ``terminated`` (bool). Enough to answer ``outside_area`` naming the council.
    """
    near_codes = set(near_codes) | {""}
    xmin, ymin, xmax, ymax = near_box
    codes: dict[str, int] = {}
    near_frames, rest_parts, near_arrow = [], [], []
    for p in _expand_postcode_paths(path):
        for (name, src), tab in _codepoint_members(p):
            if tab is None:  # the ONS Postcode Directory and other layouts: the general reader
                df = _tidy_postcodes(_read_postcode_csv(name, src))
                e, n = df["easting"].to_numpy(dtype=float), df["northing"].to_numpy(dtype=float)
                local, uniq = pd.factorize(df["council_code"], sort=False)
                term = df["terminated"].to_numpy(dtype=bool)
            else:
                import pyarrow as pa
                import pyarrow.compute as pc

                e = tab["easting"].to_numpy(zero_copy_only=False)
                n = tab["northing"].to_numpy(zero_copy_only=False)
                enc = pc.dictionary_encode(tab["council_code"]).combine_chunks()
                local = enc.indices.to_numpy(zero_copy_only=False)
                uniq = enc.dictionary.to_pylist()
                term = np.zeros(len(e), bool)
            glob = np.array([codes.setdefault(str(u), len(codes)) for u in uniq], dtype=np.int32)
            council = glob[local] if len(glob) else np.zeros(len(e), np.int32)
            near_ids = np.array([codes[c] for c in near_codes if c in codes], dtype=np.int32)
            with np.errstate(invalid="ignore"):
                inbox = (e >= xmin) & (e <= xmax) & (n >= ymin) & (n <= ymax)
            near = inbox | np.isin(council, near_ids)
            far = np.flatnonzero(~near)
            if tab is None:
                near_frames += _arrow_frames(near_arrow) + [df[near]]
                fk = np.asarray(df["postcode"].to_numpy(dtype=object)[far], dtype="S8")
            else:
                sub = tab.take(np.flatnonzero(near))
                near_arrow.append(sub.append_column("source", pa.array([Path(name).name] * len(sub), pa.string())))
                fk = _arrow_keys_s8(tab["postcode"].take(far))
            rest_parts.append((fk, council[far], e[far], n[far], term[far]))
    near_frames += _arrow_frames(near_arrow)
    if not near_frames:
        raise DataNotFoundError(f"no postcode CSV files in {path!r}")
    near_df = pd.concat(near_frames, ignore_index=True)
    for c in ("easting", "northing"):
        near_df[c] = pd.to_numeric(near_df[c], errors="coerce")
        near_df.loc[near_df[c] <= 0, c] = np.nan
    near_df.loc[near_df["easting"].isna() | near_df["northing"].isna(), ["easting", "northing"]] = np.nan
    near_df = near_df.drop_duplicates("postcode", keep="first").reset_index(drop=True)
    near_df = near_df[["postcode", "easting", "northing", "council_code", "quality", "terminated", "source"]
                      + (["data_zone"] if "data_zone" in near_df.columns else [])]
    code_list = np.array(sorted(codes, key=codes.get), dtype="S9")
    rest = _compact(rest_parts, code_list, exclude=near_df["postcode"].to_numpy(dtype=object))
    return near_df, rest


def _arrow_keys_s8(col) -> np.ndarray:
    """Postcode keys (at most 8 bytes, no nulls) from an Arrow string column as numpy ``S8``.

    Padded to 8 bytes with NUL (as ``S8`` stores them) and read straight from the Arrow buffer: no
    Python string per row (as ``to_numpy`` would make).
    """
    import pyarrow.compute as pc

    arr = pc.utf8_rpad(col, width=8, padding="\x00")
    arr = arr.combine_chunks() if hasattr(arr, "combine_chunks") else arr
    n = len(arr)
    if n == 0:
        return np.empty(0, "S8")
    offsets = np.frombuffer(arr.buffers()[1], np.int32)[arr.offset:arr.offset + n + 1]
    if offsets[-1] - offsets[0] != 8 * n:  # a key longer than 8 bytes: the slow way (as before)
        return np.array(col.to_numpy(zero_copy_only=False), dtype="S8")
    return np.frombuffer(arr.buffers()[2], "S8", count=n, offset=int(offsets[0])).copy()


def _as_u8(keys) -> np.ndarray:
    """``S8`` keys as unsigned 64-bit integers ordered as the bytes are (big-endian read)."""
    return np.ascontiguousarray(np.asarray(keys, dtype="S8")).view(">u8").astype(np.uint64)


def _compact(parts, code_list: np.ndarray, *, exclude) -> dict:
    """Sorted, de-duplicated compact postcode arrays (first occurrence wins), without ``exclude``.

    Keys are compared as 64-bit integers (the same order as their bytes): sorting and matching strings
    of 1.7 million national postcodes costs several times more.
    """
    if parts:
        keys = np.concatenate([p[0] for p in parts])
        council = np.concatenate([p[1] for p in parts]).astype(np.int32)
        e = np.concatenate([p[2] for p in parts]).astype(float)
        n = np.concatenate([p[3] for p in parts]).astype(float)
        term = np.concatenate([p[4] for p in parts]).astype(bool)
    else:
        keys, council, e, n, term = (np.empty(0, "S8"), np.empty(0, np.int32), np.empty(0), np.empty(0),
                                     np.empty(0, bool))
    ints = _as_u8(keys)
    if len(exclude) and len(keys):
        ex = np.sort(_as_u8(exclude))  # a few thousand keys: a binary search each, not a sort of all
        keep = ex[np.minimum(np.searchsorted(ex, ints), len(ex) - 1)] != ints
        keys, ints, council, e, n, term = keys[keep], ints[keep], council[keep], e[keep], n[keep], term[keep]
    order = np.argsort(ints, kind="stable")
    keys, ints, council, e, n, term = keys[order], ints[order], council[order], e[order], n[order], term[order]
    first = np.ones(len(keys), bool)
    first[1:] = ints[1:] != ints[:-1]
    ok = np.isfinite(e) & np.isfinite(n) & (e > 0) & (n > 0)
    return {
        "keys": keys[first],
        "council": council[first].astype(np.uint16),
        "codes": np.asarray(code_list, dtype="S9"),
        "easting": np.where(ok, e, -1)[first].astype(np.int32),
        "northing": np.where(ok, n, -1)[first].astype(np.int32),
        "terminated": term[first],
    }


def empty_compact() -> dict:
    """Compact postcode arrays holding nothing."""
    return _compact([], np.empty(0, "S9"), exclude=[])


def merge_compact(new: dict, old: dict, *, exclude, terminated: bool) -> dict:
    """Add to ``new`` the compact postcodes that only ``old`` holds (and ``exclude`` lacks).

    They are marked terminated when asked.
    """
    keep = ~np.isin(old["keys"], new["keys"])
    if len(exclude):
        keep &= ~np.isin(old["keys"], np.asarray(exclude, dtype="S8"))
    if not keep.any():
        return new
    codes = list(new["codes"])
    index = {c: i for i, c in enumerate(codes)}
    remap = np.array([index.setdefault(c, len(index)) for c in old["codes"]], dtype=np.int32)
    code_list = np.array(sorted(index, key=index.get), dtype="S9")
    parts = [
        (new["keys"], new["council"].astype(np.int32), new["easting"].astype(float), new["northing"].astype(float),
         new["terminated"]),
        (old["keys"][keep], remap[old["council"][keep]] if len(remap) else old["council"][keep].astype(np.int32),
         old["easting"][keep].astype(float), old["northing"][keep].astype(float),
         old["terminated"][keep] | terminated),
    ]
    return _compact(parts, code_list, exclude=[])


def _expand_postcode_paths(path) -> list[Path]:
    if isinstance(path, list | tuple):
        return [Path(p) for p in path]
    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(f"postcode file or folder {str(p)!r} does not exist")
    return [p]


# --------------------------------------------------------------------------------------------------
# Schools
# --------------------------------------------------------------------------------------------------
_SCHOOL_FIELDS = {
    "seed_code": "SeedCode",
    "name": "SchoolName",
    "school_type": "SchoolType",
    "denomination": "Denomination",
    "council_code": "LACode",
    "council_name": "LAName",
    "address": "AddressLine1",
    "town": "AddressLine3",
    "school_postcode": "PostCode",
    "roll": "PupilRoll",
    "data_zone": "DataZone",
    "easting": "GridRefEasting",
    "northing": "GridRefNorthing",
}


def read_schools(path: str | os.PathLike, *, council_code: str | None = None) -> gpd.GeoDataFrame:
    """Read the Scottish Government School Roll and Locations (workbook or CSV).

    Returns
    -------
    geopandas.GeoDataFrame
        One point per school in EPSG:27700, columns ``seed_code``, ``name``, ``school_type``
        ({"Primary", "Secondary", "Special"}), ``denomination``, ``council_code``, ...
    """
    p = Path(path)
    src: object = p
    kind = p.suffix.lower()
    if kind == ".zip":  # the published "(Table)" download: the workbook inside a zip
        with zipfile.ZipFile(p) as zf:
            inner = sorted((n for n in zf.namelist() if n.lower().endswith((".xlsx", ".csv"))),
                           key=lambda n: (not n.lower().endswith(".xlsx"), n))
            if not inner:
                raise DataFormatError(f"school roll zip {str(p)!r} holds no .xlsx or .csv file")
            src, kind = io.BytesIO(zf.read(inner[0])), Path(inner[0]).suffix.lower()
    if kind in (".xlsx", ".xlsm", ".xls"):
        book = pd.read_excel(src, sheet_name=None, dtype=str)
        sheet = next((df for df in book.values() if "SeedCode" in df.columns), None)
        if sheet is None:
            raise DataFormatError(
                f"school workbook {str(p)!r} has no sheet with a 'SeedCode' column; "
                f"sheets are {list(book)}"
            )
        raw = sheet
    else:
        raw = pd.read_csv(src, dtype=str, encoding="utf-8-sig")
    missing = [v for v in _SCHOOL_FIELDS.values() if v not in raw.columns]
    if missing:
        raise DataFormatError(
            f"school roll file {str(p)!r} lacks columns {missing}; columns are {list(raw.columns)}"
        )
    df = pd.DataFrame({k: raw[v] for k, v in _SCHOOL_FIELDS.items()})
    df["seed_code"] = _clean_code(df["seed_code"])
    if council_code is not None:
        df = df[df["council_code"] == council_code]
    df["easting"] = pd.to_numeric(df["easting"], errors="coerce")
    df["northing"] = pd.to_numeric(df["northing"], errors="coerce")
    df["roll"] = pd.to_numeric(df["roll"], errors="coerce")
    df = df.reset_index(drop=True)
    geom = gpd.points_from_xy(df["easting"], df["northing"], crs=CRS)
    return gpd.GeoDataFrame(df, geometry=geom, crs=CRS)


# --------------------------------------------------------------------------------------------------
# Council boundary
# --------------------------------------------------------------------------------------------------
def read_council_boundary(
    path: str | os.PathLike, code: str, *, code_field: list[str] | None = None
) -> gpd.GeoDataFrame:
    """Read one council's outline, repaired part by part, in EPSG:27700.

    The generalised outline is coarse (about 100 m): use it to tell inside from outside the council,
    never to settle an address near the council boundary.
    """
    gdf = _read_vector(Path(path), None)
    fields = code_field or ["code"]
    col = _pick(list(gdf.columns), [f.lower() for f in fields])
    if col is None:
        raise DataFormatError(
            f"council boundary file {str(path)!r} has no code column; expected one of {fields}; "
            f"columns are {list(gdf.columns)}"
        )
    sel = gdf[gdf[col] == code]
    if sel.empty:
        raise DataFormatError(
            f"council boundary file {str(path)!r} has no feature with {col} = {code!r}; codes are "
            f"{sorted(gdf[col].astype(str))[:20]}"
        )
    sel = gpd.GeoDataFrame({"code": sel[col].to_numpy()}, geometry=sel.geometry.values, crs=gdf.crs)
    # The generalised outline's parts are each fine; repair each polygon, then union.
    sel = sel.explode(index_parts=False).reset_index(drop=True)
    sel = _repair_frame(sel, what="council boundary", source=str(path))
    geom = shapely.union_all(sel.geometry.to_numpy())
    return gpd.GeoDataFrame(
        {"code": [code], "repair": ["; ".join(sorted({r for r in sel["repair"] if r}))]},
        geometry=[geom],
        crs=CRS,
    )
