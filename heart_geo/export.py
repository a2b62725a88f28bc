"""Export the council's teams for GIS and for a case-management system's lookup table.

* ``.gpkg``: every layer in one GeoPackage, EPSG:27700: ``teams`` (one polygon per team, with the
  postcodes it covers, its area, schools and services, and the people and children it serves when
  population is loaded), ``catchments``, ``gaps`` (areas in no team catchment: gaps in the data and
  catchments of no team, ``kind`` says which), ``schools`` (with the team each stands in),
  ``model_services`` (a table: the model's services per team and how each reaches it, when the
  profile has services; the services present in each community are :mod:`heart_geo.services`'),
  ``data_zones`` (the council's data zones with the team(s) each belongs to and its share, people,
  children and SIMD, when loaded), ``postcodes`` (every postcode of the council, a point with its
  team and status) and
  ``about`` (a table: council, data release, attribution, disclosure note).
* ``.geojson``: one layer (``layer=``), in WGS84 longitude/latitude as RFC 7946 requires.
* ``.csv`` / ``.xlsx``: the postcode -> team lookup table (one row per postcode of the council:
  ``postcode``, ``team``, ``status``, ``method``, ``catchment_school``, ``near_boundary``,
  ``terminated``), with the data release named on every row.

Field names are lower-case ASCII letters, digits and underscores, unique ignoring case, at most 63
characters, never a GeoPackage reserved name (``fid``, ``geom``): they survive GeoPackage, QGIS,
Excel and database imports. Postcode counts are not about families and are never suppressed; caseload
counts by team (``caseload=``) are, unless ``suppress=False`` (see :mod:`heart_geo.disclosure`).
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import re
import tempfile
import unicodedata
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from . import population
from ._util import remove_written
from .errors import InputError
from .settings import CRS, WGS84

__all__ = ["LAYERS", "data_release", "export", "field_names", "layer_wgs84", "layers", "postcode_lookup"]

#: Layers of a GeoPackage export, in order (``model_services`` only when the profile has services, ``data_zones``
#: only when data-zone boundaries are loaded).
LAYERS = ("teams", "catchments", "gaps", "schools", "model_services", "data_zones", "postcodes", "about")
_RESERVED = {"fid", "geom", "geometry", "ogc_fid"}


def field_names(columns) -> list[str]:
    """Column names safe for GeoPackage, shapefile-free GIS and Excel (see the module notes).

    Examples
    --------
    >>> field_names(["Team", "Area km²", "team", "1st", "fid", "Schools (names)"])
    ['team', 'area_km2', 'team_2', 'f_1st', 'fid_1', 'schools_names']
    """
    out: list[str] = []
    seen: set[str] = set()
    for c in columns:
        n = unicodedata.normalize("NFKD", str(c)).encode("ascii", "ignore").decode()
        n = re.sub(r"[^0-9A-Za-z_]+", "_", n).strip("_").lower() or "field"
        if n[0].isdigit():
            n = f"f_{n}"
        if n in _RESERVED:
            n = f"{n}_1"
        n = n[:63]
        base, k = n, 2
        while n in seen:
            n = f"{base[:60]}_{k}"
            k += 1
        seen.add(n)
        out.append(n)
    return out


def data_release(profile) -> str:
    """Return the data behind the answers, named for a lookup table: the postcode release and the files.

    Uses the releases the profile reports (:meth:`Profile.data_in_use`), else the source files' names.
    """
    in_use = getattr(profile, "data_in_use", None)
    release = str(in_use()) if callable(in_use) else ""
    files = ", ".join(Path(f).name for f in profile.files.get("postcodes", []))[:300]
    if release and "undated" not in release:
        return release
    if release:  # no date to name the release by: name the postcode files too
        return f"{release} (postcode files: {files})"
    parts = []
    for a in profile.attribution():
        rel = a.get("release") or a.get("files")
        if rel:
            parts.append(f"{a['dataset']}: {rel}")
    return "; ".join(parts) or "unknown"


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Categoricals to text, field names made safe, geometry column kept."""
    out = df.copy()
    geom = out.geometry.name if isinstance(out, gpd.GeoDataFrame) else None
    for c in out.columns:
        if c == geom:
            continue
        col = out[c]
        if isinstance(col.dtype, pd.CategoricalDtype):
            out[c] = col.astype(object).where(col.notna(), None)
        elif col.dtype == object:
            out[c] = col.map(lambda v: v if v is None or isinstance(v, str | bool | int | float) else str(v))
    names = field_names([c for c in out.columns if c != geom])
    mapping = dict(zip([c for c in out.columns if c != geom], names, strict=True))
    out = out.rename(columns=mapping)
    if geom is not None:
        out = out.rename_geometry("geometry") if geom != "geometry" else out
    return out


def postcode_lookup(profile) -> pd.DataFrame:
    """Every postcode of the council with its team: the table a case-management system imports."""
    a = profile.postcode_allocations()
    out = pd.DataFrame({
        "postcode": a["postcode"].astype(object),
        "team": a["team"].astype(object).where(a["team"].notna(), None),
        "status": a["status"].astype(str),
        "method": a["method"].astype(str),
        "catchment_school": a["catchment_school"].astype(object).where(a["catchment_school"].notna(), None),
        "near_boundary": np.where(a["team"].notna(), np.where(a["near_boundary"], "yes", "no"), ""),
        "terminated": np.where(a["terminated"].astype(bool), "yes", "no"),
        "council_code": profile.code,
        "data_release": data_release(profile),
    })
    return out.sort_values("postcode", kind="stable").reset_index(drop=True)


def _caseload_counts(src, team_names: list[str], suppress: bool) -> tuple[dict, str]:
    """Rows per team in an allocated caseload (``heart-geo assign`` output)."""
    from . import disclosure
    from .caseload import read_caseload_frame

    df = read_caseload_frame(src)
    col = next((c for c in ("team_heart_geo", "team") if c in df.columns), None)
    if col is None or "status" not in df.columns and "status_heart_geo" not in df.columns:
        raise InputError("the caseload has no 'team' and 'status' columns: give the output of "
                         "'heart-geo assign', not the input")
    teams = df[col].astype(str).str.strip()
    counts = {t: int((teams == t).sum()) for t in team_names}
    counts["(none)"] = int((~teams.isin(team_names)).sum())
    shown = disclosure.suppress_counts(counts) if suppress else counts
    return shown, disclosure.note(suppress)


def layers(profile, *, caseload=None, suppress: bool = True) -> dict[str, pd.DataFrame]:
    """Return the export layers (GeoDataFrames in EPSG:27700; ``services`` and ``about`` are tables).

    ``caseload`` (path or bytes of an allocated caseload) adds ``caseload_rows`` per team to
    ``teams``, suppressed under 5 unless ``suppress=False``.
    """
    from .links import school_localities
    from .services import services_table

    summary = profile.team_summary().rename(columns={profile.unit: "team"})
    teams = profile.team_areas[["team", "colour", "geometry"]].merge(summary, on="team", how="left")
    teams = gpd.GeoDataFrame(teams, geometry="geometry", crs=CRS)
    about = {
        "council": f"{profile.name} ({profile.code})",
        "profile": profile.key,
        "unit": profile.unit,
        "effective_from": str(profile.effective_from or ""),
        "data_release": data_release(profile),
        "exported": dt.date.today().isoformat(),
        "crs": CRS,
    }
    if caseload is not None:
        counts, note = _caseload_counts(caseload, profile.team_names, suppress)
        teams["caseload_rows"] = [str(counts[t]) for t in teams["team"]]
        kids = population.children_per_team(profile)
        if kids:
            teams["caseload_per_1000_children"] = [
                _text(population.rate_per_1000(counts[t], kids.get(t))) for t in teams["team"]]
        about["caseload_rows_without_team"] = str(counts["(none)"])
        about["disclosure"] = note
    cat = profile.catchments.drop(columns=[c for c in ("team_index",) if c in profile.catchments.columns])
    out: dict[str, pd.DataFrame] = {
        "teams": teams,
        "catchments": gpd.GeoDataFrame(cat, geometry=cat.geometry.name, crs=CRS),
        "gaps": profile.gaps,
    }
    if profile.schools is not None:
        out["schools"] = school_localities(profile)
    svc = services_table(profile)
    if len(svc):
        out["model_services"] = svc
    if profile.small_areas is not None:
        out["data_zones"] = population.zone_table(profile)
    pcs = profile.postcode_allocations()
    pts = gpd.points_from_xy(pcs["easting"], pcs["northing"])
    pts = np.where(pcs["easting"].isna() | pcs["northing"].isna(), None, pts)
    out["postcodes"] = gpd.GeoDataFrame(pcs, geometry=gpd.GeoSeries(pts, crs=CRS), crs=CRS)
    rows = [{"key": k, "value": v} for k, v in about.items()]
    rows += [{"key": f"attribution_{a['dataset']}", "value": a["attribution"]} for a in profile.attribution()
             if a.get("attribution")]
    out["about"] = pd.DataFrame(rows)
    return {k: _tidy(v) for k, v in out.items()}


def _text(v) -> str | None:
    return None if v is None else str(v)


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    Path(tmp).unlink()  # GDAL creates the file itself
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException as exc:
        remove_written(tmp)  # GDAL's GeoPackage is SQLite: its journal goes too
        if not isinstance(exc, OSError) and "disk is full" in str(exc):  # GDAL's words for ENOSPC
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
        raise


def export(profile, path: str | os.PathLike, *, layer: str = "teams", caseload=None, suppress: bool = True,
           bom: bool = True) -> dict:
    """Write the export to ``path`` (format from its suffix); return {layer: features written}.

    Raises
    ------
    InputError
        An unknown suffix or layer, or an output path that cannot be written.
    """
    import pyogrio

    from .caseload import check_output_path, write_csv_atomic

    inputs = (caseload,) if isinstance(caseload, str | os.PathLike) else ()
    path = check_output_path(path, *inputs)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".xlsx"):
        table = postcode_lookup(profile)
        write_csv_atomic([table], path, list(table.columns), bom=bom)
        return {"postcodes": len(table)}
    if suffix not in (".gpkg", ".geojson", ".json"):
        raise InputError(f"output {path.name!r}: expected a name ending .gpkg (every layer), .geojson (one "
                         "layer) or .csv (the postcode -> team lookup table)")
    got = layers(profile, caseload=caseload, suppress=suppress)
    if suffix == ".gpkg":
        def write(tmp: Path) -> None:
            for name, df in got.items():
                pyogrio.write_dataframe(df, tmp, layer=name, driver="GPKG")

        _atomic(path, write)
        return {k: len(v) for k, v in got.items()}
    df = layer_wgs84(profile, layer, got)
    _atomic(path, lambda tmp: pyogrio.write_dataframe(df, tmp, driver="GeoJSON"))
    return {layer: len(df)}


def layer_wgs84(profile, layer: str = "teams", got: dict | None = None) -> gpd.GeoDataFrame:
    """Return one spatial layer of the export in WGS84 with the data release on every feature.

    What a ``.geojson`` export holds (RFC 7946: longitude, latitude), and what the JSON API's
    ``/v1/teams`` serves for ``teams``. ``got``: the :func:`layers` already made, if any.

    Raises
    ------
    InputError
        ``layer`` is not a spatial layer of the export.
    """
    got = layers(profile) if got is None else got
    spatial = [k for k, v in got.items() if isinstance(v, gpd.GeoDataFrame)]
    if layer not in spatial:
        raise InputError(f"layer {layer!r} for a GeoJSON file: expected one of {spatial}")
    df = got[layer].to_crs(WGS84)
    df["data_release"] = data_release(profile)
    return df
