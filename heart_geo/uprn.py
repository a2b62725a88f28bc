"""Address points: OS Open UPRN and the ONS UPRN Directory (ONSUD), read as published.

Every answer from a postcode rests on the postcode's one centroid; where a catchment line splits a
postcode, the addresses of that postcode settle it. Two open datasets give every address point:

* **OS Open UPRN** (Ordnance Survey, OGL): ``UPRN, X_COORDINATE, Y_COORDINATE, LATITUDE,
  LONGITUDE``, one GB CSV (``osopenuprn_YYYYMM.csv``, usually inside ``osopenuprn_YYYYMM_csv.zip``)
  or a GeoPackage (layer ``osopenuprn_address``);
* **ONS UPRN Directory** (ONSUD, ONS, OGL): one CSV per region (``ONSUD_MON_YYYY_SC.csv`` for
  Scotland, in ``Data/`` of the zip), ``UPRN, GRIDGB1E, GRIDGB1N, PCDS, ..., LADyyCD, ...``: each
  UPRN's postcode, grid reference and council.

Both are national files (tens of millions of rows for GB; about 3 million for Scotland's ONSUD).
The readers stream them in chunks and keep only what a council needs: the rows of its councils or
inside a box around it. Coordinates are EPSG:27700 metres.
"""

from __future__ import annotations

import io
import logging
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataFormatError, DataNotFoundError

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

__all__ = ["read_onsud", "read_open_uprn"]

_CHUNK = 100_000
_OPEN_UPRN_COLUMNS = ["UPRN", "X_COORDINATE", "Y_COORDINATE"]


def _csv_sources(path: Path, want: re.Pattern) -> list[tuple[str, object]]:
    """(name, opener) for each CSV member that matches ``want`` in a file, folder or zip."""
    if path.is_dir():
        return [(str(f), f) for f in sorted(path.rglob("*.csv")) if want.search(f.name)]
    if path.suffix.lower() == ".zip":
        zf = zipfile.ZipFile(path)
        names = sorted(n for n in zf.namelist() if n.lower().endswith(".csv") and want.search(Path(n).name))
        return [(f"{path}!{n}", (zf, n)) for n in names]
    if not path.exists():
        raise DataNotFoundError(f"address file {str(path)!r} does not exist")
    return [(str(path), path)]


def _open(src):
    if isinstance(src, tuple):
        zf, name = src
        return io.TextIOWrapper(zf.open(name), encoding="utf-8-sig", newline="")
    return open(src, encoding="utf-8-sig", newline="")


def _in_box(x: np.ndarray, y: np.ndarray, bbox) -> np.ndarray:
    if bbox is None:
        return np.ones(len(x), bool)
    xmin, ymin, xmax, ymax = bbox
    return (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax)


def _uprn_values(s: pd.Series, name: str) -> np.ndarray:
    v = pd.to_numeric(s, errors="coerce")
    if v.isna().any():
        bad = int(v.isna().sum())
        raise DataFormatError(f"address file {name!r}: {bad} row(s) with a UPRN that is not a whole number")
    return v.to_numpy(dtype=np.int64)


def read_open_uprn(path: str | os.PathLike | list, *, bbox: tuple | None = None,
                   chunk_size: int = _CHUNK) -> pd.DataFrame:
    """Read OS Open UPRN (CSV, zipped CSV or GeoPackage), keeping the points inside ``bbox``.

    Parameters
    ----------
    path : path or list of paths
        ``osopenuprn_YYYYMM.csv``, the ``..._csv.zip`` holding it, a folder, or the GeoPackage.
    bbox : (xmin, ymin, xmax, ymax), optional
        EPSG:27700 box to keep (the council and a margin); everything is kept when None.

    Returns
    -------
    pandas.DataFrame
        ``uprn`` (int64), ``easting``, ``northing`` (EPSG:27700 metres).

    Raises
    ------
    DataFormatError
        If a file lacks the published columns, naming what was found.
    """
    frames = []
    for p in ([Path(x) for x in path] if isinstance(path, list | tuple) else [Path(path)]):
        if p.suffix.lower() == ".gpkg":
            frames.append(_read_open_uprn_gpkg(p, bbox))
            continue
        for name, src in _csv_sources(p, re.compile(r"uprn", re.I)):
            with _open(src) as fh:
                head = fh.readline()
            cols = [c.strip().strip('"').upper() for c in head.split(",")]
            missing = [c for c in _OPEN_UPRN_COLUMNS if c not in cols]
            if missing:
                raise DataFormatError(
                    f"OS Open UPRN file {name!r} lacks columns {missing}; expected "
                    f"UPRN, X_COORDINATE, Y_COORDINATE, LATITUDE, LONGITUDE; found {cols[:10]}"
                )
            with _open(src) as fh:
                for chunk in pd.read_csv(fh, usecols=lambda c: c.strip().upper() in _OPEN_UPRN_COLUMNS,
                                         dtype=str, chunksize=chunk_size):
                    chunk.columns = [c.strip().upper() for c in chunk.columns]
                    x = pd.to_numeric(chunk["X_COORDINATE"], errors="coerce").to_numpy(dtype=float)
                    y = pd.to_numeric(chunk["Y_COORDINATE"], errors="coerce").to_numpy(dtype=float)
                    keep = _in_box(x, y, bbox) & np.isfinite(x) & np.isfinite(y)
                    if keep.any():
                        frames.append(pd.DataFrame({"uprn": _uprn_values(chunk["UPRN"][keep], name),
                                                    "easting": x[keep], "northing": y[keep]}))
    if not frames:
        return pd.DataFrame({"uprn": pd.Series(dtype="int64"), "easting": pd.Series(dtype=float),
                             "northing": pd.Series(dtype=float)})
    out = pd.concat(frames, ignore_index=True)
    return out.drop_duplicates("uprn", keep="first").reset_index(drop=True)


def _read_open_uprn_gpkg(p: Path, bbox) -> pd.DataFrame:
    import pyogrio

    layers = [str(n) for n in pyogrio.list_layers(p)[:, 0]]
    layer = next((n for n in layers if "uprn" in n.lower()), layers[0] if layers else None)
    if layer is None:
        raise DataFormatError(f"OS Open UPRN GeoPackage {str(p)!r} has no layers")
    df = pyogrio.read_dataframe(p, layer=layer, bbox=bbox, columns=["UPRN"], read_geometry=True)
    if "UPRN" not in df.columns:
        raise DataFormatError(f"OS Open UPRN GeoPackage {str(p)!r} layer {layer!r} has no UPRN column")
    if df.crs is not None and df.crs.to_epsg() != 27700:
        df = df.to_crs("EPSG:27700")
    return pd.DataFrame({"uprn": _uprn_values(df["UPRN"], str(p)), "easting": df.geometry.x.to_numpy(),
                         "northing": df.geometry.y.to_numpy()})


def read_onsud(path: str | os.PathLike | list, *, council_codes=None, bbox: tuple | None = None,
               chunk_size: int = _CHUNK) -> pd.DataFrame:
    """Read the ONS UPRN Directory (the per-region CSVs as published), streaming.

    Parameters
    ----------
    path : path or list of paths
        One region's CSV (``ONSUD_NOV_2025_SC.csv``), the folder or zip holding the regions.
    council_codes : iterable of str, optional
        Keep the rows of these councils (GSS codes, column ``LADyyCD``) ...
    bbox : (xmin, ymin, xmax, ymax), optional
        ... and the rows inside this EPSG:27700 box. With neither, every row is kept.

    Returns
    -------
    pandas.DataFrame
        ``uprn`` (int64), ``postcode`` (normalised), ``easting``, ``northing``, ``council_code``.
    """
    from .postcodes import normalise_postcodes

    codes = set(council_codes) if council_codes is not None else None
    frames = []
    for p in ([Path(x) for x in path] if isinstance(path, list | tuple) else [Path(path)]):
        for name, src in _csv_sources(p, re.compile(r"onsud|nsul|uprn", re.I)):
            with _open(src) as fh:
                head = fh.readline()
            cols = [c.strip().strip('"').upper() for c in head.split(",")]
            lad = next((c for c in cols if re.fullmatch(r"LAD\d\dCD", c)), None)
            need = {"UPRN", "GRIDGB1E", "GRIDGB1N", "PCDS"}
            missing = sorted(need - set(cols)) + ([] if lad else ["LADyyCD"])
            if missing:
                raise DataFormatError(
                    f"ONSUD file {name!r} lacks columns {missing}; expected UPRN, GRIDGB1E, GRIDGB1N, "
                    f"PCDS and a council column LADyyCD; found {cols[:12]}"
                )
            use = need | {lad}
            with _open(src) as fh:
                for chunk in pd.read_csv(fh, usecols=lambda c, use=use: c.strip().upper() in use, dtype=str,
                                         chunksize=chunk_size, keep_default_na=False):
                    chunk.columns = [c.strip().upper() for c in chunk.columns]
                    x = pd.to_numeric(chunk["GRIDGB1E"], errors="coerce").to_numpy(dtype=float)
                    y = pd.to_numeric(chunk["GRIDGB1N"], errors="coerce").to_numpy(dtype=float)
                    council = chunk[lad].str.strip().to_numpy(dtype=object)
                    if codes is None and bbox is None:
                        keep = np.ones(len(chunk), bool)
                    else:
                        keep = np.zeros(len(chunk), bool)
                        if codes is not None:
                            keep |= np.isin(council, list(codes))
                        if bbox is not None:
                            keep |= _in_box(x, y, bbox)
                    if not keep.any():
                        continue
                    sub = chunk[keep]
                    pcs, _ = normalise_postcodes(sub["PCDS"].reset_index(drop=True))
                    frames.append(pd.DataFrame({
                        "uprn": _uprn_values(sub["UPRN"], name), "postcode": pcs.to_numpy(dtype=object),
                        "easting": x[keep], "northing": y[keep], "council_code": council[keep],
                    }))
    if not frames:
        return pd.DataFrame({"uprn": pd.Series(dtype="int64"), "postcode": pd.Series(dtype=object),
                             "easting": pd.Series(dtype=float), "northing": pd.Series(dtype=float),
                             "council_code": pd.Series(dtype=object)})
    out = pd.concat(frames, ignore_index=True)
    return out.drop_duplicates("uprn", keep="first").reset_index(drop=True)


_UPRN_QUERY = re.compile(r"^\s*uprn\s*[:#]?\s*(\d{1,12})\s*$", re.I)


def _uprn_key(v) -> float | None:
    """Return a UPRN as a number: 123456789, "123456789", "UPRN 123456789", 123456789.0; else None."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, int | np.integer) and 0 < int(v) < 10**12:
        return int(v)
    if isinstance(v, float | np.floating) and v.is_integer() and 0 < v < 1e12:
        return int(v)
    m = re.fullmatch(r"\s*(?:uprn\s*[:#]?\s*)?0*(\d{1,12})(?:\.0+)?\s*", str(v), re.I)
    return int(m.group(1)) if m and int(m.group(1)) > 0 else None
