"""The derived-data cache on disk: a data-only format, never pickle.

One cache entry is one zip file (stored, not compressed) holding:

* ``header.json`` -- ``{"magic", "format", "digest"}``, read and checked first: an entry whose digest
  is not the one expected is refused before any other member is read;
* ``tree.json`` -- the structure of the saved dict: JSON scalars inline, everything else a small
  tagged object naming its members;
* ``m<N>`` members -- numpy ``.npy`` arrays (always loaded with ``allow_pickle=False``), UTF-8 text
  and well-known-binary (WKB) geometries packed as bytes plus offsets.

Values it holds (recursively): ``None``, ``bool``, ``int``, ``float``, ``str``, lists, tuples, dicts
(any keys of these types), numpy arrays and scalars (object arrays of text, geometries or scalars),
shapely geometries, pandas Series, Index and DataFrame, geopandas GeoSeries and GeoDataFrame, and
the dataclasses named in :data:`DATACLASSES`. Anything else raises :class:`TypeError` on save. Loading
creates only these types: a planted or corrupted file can give wrong data (and is then rebuilt when
it does not decode), never run code.

Writing goes to a fresh temporary file in the cache folder (``tempfile.mkstemp``: ``O_EXCL``, so a
symlink planted at the name is never followed), then ``os.replace``; the temporary file is removed on
any failure (a full disk included). Older entries of the same key are pruned after a write.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import logging
import os
import re
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

__all__ = ["DATACLASSES", "FORMAT", "load", "prune", "save"]

FORMAT = 1
SUFFIX = ".hgc"
_MAGIC = "heart_geo-cache"
_HEADER_MAX = 4096
#: Dataclasses an entry may hold, by qualified name: nothing else is ever instantiated on load.
DATACLASSES = frozenset({"heart_geo.allocate.PointResult", "heart_geo.allocate.Grid",
                         "heart_geo.allocate.GridLeaves"})
#: Temporary files older than this (seconds) left by a killed process are removed when pruning.
_STALE_TMP_S = 3600.0
_NUMERIC_KINDS = set("biufcmMUS")


# --------------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------------
class _Writer:
    def __init__(self, zf: zipfile.ZipFile):
        self.zf = zf
        self.n = 0

    def member(self, data: bytes, name: str | None = None) -> str:
        if name is None:
            name = f"m{self.n}"
            self.n += 1
        self.zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
        return name

    def array(self, a: np.ndarray) -> str:
        if a.dtype.hasobject:  # pragma: no cover - callers route object arrays elsewhere
            raise TypeError("object arrays are not stored as .npy")
        buf = io.BytesIO()
        np.save(buf, a if a.flags.c_contiguous else np.ascontiguousarray(a), allow_pickle=False)
        return self.member(buf.getvalue())


def _pack_bytes(w: _Writer, items: list[bytes | None]) -> dict:
    """Byte strings (None allowed) as one blob plus offsets and a missing mask."""
    na = np.array([b is None for b in items], dtype=bool)
    lens = np.array([0 if b is None else len(b) for b in items], dtype=np.int64)
    off = np.zeros(len(items) + 1, np.int64)
    np.cumsum(lens, out=off[1:])
    blob = b"".join(b for b in items if b is not None)
    return {"blob": w.member(blob), "off": w.array(off), "na": w.array(na)}


def _enc_objects(w: _Writer, flat: np.ndarray) -> dict:
    """Encode a 1-d object array: all text, all geometries, or anything else element by element."""
    import shapely

    vals = list(flat)
    present = [v for v in vals if v is not None and not (isinstance(v, float) and np.isnan(v))]
    if all(isinstance(v, str) for v in present):
        return {"k": "str", **_pack_bytes(w, [None if not isinstance(v, str) else v.encode("utf-8", "surrogatepass")
                                              for v in vals])}
    if all(isinstance(v, shapely.Geometry) for v in present):
        geoms = [v if isinstance(v, shapely.Geometry) else None for v in vals]
        return {"k": "geom", **_pack_bytes(w, [None if g is None else shapely.to_wkb(g) for g in geoms])}
    return {"k": "each", "v": [_enc(w, v) for v in vals]}


def _enc_array(w: _Writer, a: np.ndarray) -> dict:
    if a.dtype.kind in _NUMERIC_KINDS or a.dtype.kind == "?" or a.dtype == bool:
        return {"t": "nd", "m": w.array(a)}
    if a.dtype.hasobject:
        return {"t": "ndo", "shape": list(a.shape), "v": _enc_objects(w, a.reshape(-1))}
    raise TypeError(f"cannot cache a numpy array of dtype {a.dtype}")


def _enc_values(w: _Writer, values) -> dict:
    """Encode the values of a Series or Index, with enough about the dtype to rebuild it."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cat = pd.Categorical(values)
        return {"t": "cat", "codes": _enc_array(w, np.asarray(cat.codes)),
                "cats": _enc_values(w, cat.categories), "ordered": bool(cat.ordered)}
    if getattr(dtype, "name", "") == "geometry":
        return {"t": "geom_values", "v": _enc_objects(w, np.asarray(values, dtype=object))}
    if isinstance(dtype, pd.DatetimeTZDtype):
        return {"t": "dt_tz", "tz": str(dtype.tz), "unit": dtype.unit,
                "m": w.array(np.asarray(pd.DatetimeIndex(values).asi8))}
    if isinstance(dtype, np.dtype):
        return _enc_array(w, np.asarray(values))
    # pandas extension dtypes ("string", "Int64", "boolean"...): values as objects, dtype by name
    return {"t": "ext", "dtype": str(dtype), "v": _enc_array(w, np.asarray(values, dtype=object))}


def _enc_index(w: _Writer, idx: pd.Index) -> dict:
    if isinstance(idx, pd.RangeIndex):
        return {"t": "range", "start": idx.start, "stop": idx.stop, "step": idx.step, "name": _enc(w, idx.name)}
    if isinstance(idx, pd.MultiIndex):
        return {"t": "multi", "levels": [_enc_index(w, idx.get_level_values(i)) for i in range(idx.nlevels)],
                "names": [_enc(w, n) for n in idx.names]}
    return {"t": "index", "v": _enc_values(w, idx), "name": _enc(w, idx.name)}


def _crs(obj) -> str | None:
    crs = getattr(obj, "crs", None)
    if crs is None:
        return None
    auth = crs.to_authority()
    return f"{auth[0]}:{auth[1]}" if auth else crs.to_wkt()


def _enc(w: _Writer, v) -> object:
    import shapely

    if v is None or isinstance(v, bool | int | float | str):
        return v
    if v is pd.NA:
        return {"t": "NA"}
    if v is pd.NaT:
        return {"t": "NaT"}
    if isinstance(v, np.generic):
        return {"t": "np0", "m": _enc_array(w, np.asarray(v))}
    if isinstance(v, np.ndarray):
        return _enc_array(w, v)
    if isinstance(v, shapely.Geometry):
        return {"t": "geom", "m": w.member(shapely.to_wkb(v))}
    if isinstance(v, list | tuple | dict):
        return _enc_container(w, v)
    if isinstance(v, pd.DataFrame | pd.Series | pd.Index):
        return _enc_pandas(w, v)
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return _enc_dataclass(w, v)
    raise TypeError(f"cannot cache a value of type {type(v).__module__}.{type(v).__qualname__}")


def _enc_container(w: _Writer, v: list | tuple | dict) -> dict:
    if isinstance(v, dict):
        return {"t": "dict", "k": [_enc(w, k) for k in v], "v": [_enc(w, x) for x in v.values()]}
    return {"t": "list" if isinstance(v, list) else "tuple", "v": [_enc(w, x) for x in v]}


def _enc_pandas(w: _Writer, v: pd.DataFrame | pd.Series | pd.Index) -> dict:
    if isinstance(v, pd.DataFrame):
        out = {"t": "df", "cols": _enc_index(w, v.columns), "index": _enc_index(w, v.index),
               "data": [_enc_values(w, v.iloc[:, i]) for i in range(v.shape[1])]}
        if _is_gdf(v):
            out.update(t="gdf", geometry=v.geometry.name if _has_geometry(v) else None, crs=_crs(v))
        return out
    if isinstance(v, pd.Series):
        out = {"t": "series", "v": _enc_values(w, v), "index": _enc_index(w, v.index),
               "name": _enc(w, v.name)}
        if getattr(v.dtype, "name", "") == "geometry":
            out.update(t="geoseries", crs=_crs(v))
        return out
    return {"t": "pdindex", "v": _enc_index(w, v)}


def _enc_dataclass(w: _Writer, v) -> dict:
    qual = f"{type(v).__module__}.{type(v).__qualname__}"
    if qual not in DATACLASSES:
        raise TypeError(f"cannot cache dataclass {qual}: not in heart_geo._cache.DATACLASSES")
    return {"t": "dc", "cls": qual, "f": {f.name: _enc(w, getattr(v, f.name)) for f in dataclasses.fields(v)}}


def _is_gdf(v) -> bool:
    try:
        import geopandas as gpd
    except ImportError:  # pragma: no cover - geopandas is a dependency
        return False
    return isinstance(v, gpd.GeoDataFrame)


def _has_geometry(v) -> bool:
    try:
        v.geometry  # noqa: B018 - raises when no active geometry column is set
    except AttributeError:
        return False
    return True


def save(path: str | os.PathLike, built: dict, *, digest: str | None = None,
         prune_pattern: str | None = None) -> Path:
    """Write ``built`` to ``path`` atomically; return the path.

    Parameters
    ----------
    built : dict
        The values to keep (types listed in the module docstring).
    digest : str, optional
        The key this entry answers to (default ``built["_digest"]``); :func:`load` refuses an entry
        whose digest differs from the one it expects.
    prune_pattern : str, optional
        A regular expression (full match on file names in the same folder): other entries matching
        it are removed after the write, e.g. older entries of the same profile.

    Raises
    ------
    OSError
        The folder cannot be written (the temporary file is removed first).
    TypeError
        A value of a type this format does not hold (nothing is left on disk).
    """
    path = Path(path)
    digest = str(digest if digest is not None else built.get("_digest", ""))
    if not digest:
        raise ValueError("a cache entry needs a digest")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
            w = _Writer(zf)
            w.member(json.dumps({"magic": _MAGIC, "format": FORMAT, "digest": digest}).encode(), "header.json")
            tree = _enc(w, dict(built))
            w.member(json.dumps(tree, allow_nan=True).encode(), "tree.json")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if prune_pattern:
        prune(path.parent, prune_pattern, keep=path.name)
    return path


def prune(folder: str | os.PathLike, pattern: str, *, keep: str | None = None) -> list[str]:
    """Remove the cache entries in ``folder`` whose names fully match ``pattern``, except ``keep``.

    Also remove the temporary files of such entries left by a process killed over an hour ago.
    """
    rx = re.compile(pattern)
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        name = e.name
        stale_tmp = False
        if name.startswith(".") and name.endswith(".tmp"):
            base = name[1:].rsplit(".", 2)[0]
            try:
                stale_tmp = bool(rx.fullmatch(base)) and now - e.stat(follow_symlinks=False).st_mtime > _STALE_TMP_S
            except OSError:
                continue
        if name == keep or not (stale_tmp or rx.fullmatch(name)):
            continue
        try:
            if e.is_dir(follow_symlinks=False):
                continue
            os.unlink(e.path)  # a symlink is removed itself, never its target
            removed.append(name)
        except OSError as exc:
            log.warning("Could not remove old cache file %s: %s", name, exc.strerror)
    return removed


# --------------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------------
class _Reader:
    def __init__(self, zf: zipfile.ZipFile):
        self.zf = zf
        self.names = set(zf.namelist())

    def member(self, name) -> bytes:
        if not isinstance(name, str) or name not in self.names:
            raise ValueError("cache entry refers to a missing member")
        return self.zf.read(name)

    def array(self, name) -> np.ndarray:
        return np.lib.format.read_array(io.BytesIO(self.member(name)), allow_pickle=False)


def _unpack_bytes(r: _Reader, d: dict) -> list[bytes | None]:
    blob = r.member(d["blob"])
    off = r.array(d["off"]).astype(np.int64, copy=False)
    na = r.array(d["na"]).astype(bool, copy=False)
    if off.ndim != 1 or na.ndim != 1 or len(off) != len(na) + 1 or (len(off) and off[-1] != len(blob)) \
            or (np.diff(off) < 0).any():
        raise ValueError("cache entry has inconsistent offsets")
    return [None if na[i] else blob[off[i]:off[i + 1]] for i in range(len(na))]


def _dec_objects(r: _Reader, d: dict) -> np.ndarray:
    import shapely

    k = d["k"]
    if k == "str":
        items = [None if b is None else b.decode("utf-8", "surrogatepass") for b in _unpack_bytes(r, d)]
    elif k == "geom":
        items = [None if b is None else shapely.from_wkb(b) for b in _unpack_bytes(r, d)]
    elif k == "each":
        items = [_dec(r, x) for x in d["v"]]
    else:
        raise ValueError(f"unknown object kind {k!r}")
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _dec_array(r: _Reader, d: dict) -> np.ndarray:
    if d["t"] == "nd":
        return r.array(d["m"])
    if d["t"] == "ndo":
        return _dec_objects(r, d["v"]).reshape([int(s) for s in d["shape"]])
    raise ValueError(f"unknown array tag {d['t']!r}")


def _dec_values(r: _Reader, d: dict):
    t = d["t"]
    if t == "cat":
        cats = _dec_values(r, d["cats"])
        return pd.Categorical.from_codes(_dec_array(r, d["codes"]), categories=pd.Index(cats),
                                         ordered=bool(d["ordered"]))
    if t == "geom_values":
        from geopandas.array import from_shapely

        return from_shapely(_dec_objects(r, d["v"]))
    if t == "dt_tz":
        return pd.DatetimeIndex(r.array(d["m"]).astype(f"datetime64[{d['unit']}]")).tz_localize("UTC") \
            .tz_convert(str(d["tz"])).array
    if t == "ext":
        return pd.array(_dec_array(r, d["v"]), dtype=pd.api.types.pandas_dtype(str(d["dtype"])))
    return _dec_array(r, d)


def _dec_index(r: _Reader, d: dict) -> pd.Index:
    t = d["t"]
    if t == "range":
        return pd.RangeIndex(int(d["start"]), int(d["stop"]), int(d["step"]), name=_dec(r, d["name"]))
    if t == "multi":
        levels = [_dec_index(r, x) for x in d["levels"]]
        return pd.MultiIndex.from_arrays(levels, names=[_dec(r, n) for n in d["names"]])
    if t == "index":
        values = _dec_values(r, d["v"])
        return pd.Index(values, name=_dec(r, d["name"]), tupleize_cols=False, dtype=_keep(values))
    raise ValueError(f"unknown index tag {t!r}")


def _keep(values):
    """Object for object arrays (pandas may otherwise infer a string dtype the saved frame lacked)."""
    return object if isinstance(values, np.ndarray) and values.dtype.hasobject else None


def _dec(r: _Reader, v):
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if not isinstance(v, dict) or "t" not in v:
        raise ValueError("cache entry holds an unexpected JSON value")
    t = v["t"]
    decode = _DECODERS.get(t) if isinstance(t, str) else None
    if decode is None:
        raise ValueError(f"unknown tag {t!r}")
    return decode(r, v)


def _dec_geom(r: _Reader, v: dict):
    import shapely

    return shapely.from_wkb(r.member(v["m"]))


def _dec_dict(r: _Reader, v: dict) -> dict:
    keys = [_dec(r, k) for k in v["k"]]
    vals = [_dec(r, x) for x in v["v"]]
    if len(keys) != len(vals):
        raise ValueError("cache entry has a dict with unequal keys and values")
    return dict(zip(keys, vals, strict=True))


def _dec_frame(r: _Reader, v: dict) -> pd.DataFrame:
    cols = _dec_index(r, v["cols"])
    index = _dec_index(r, v["index"])
    data = [_dec_values(r, x) for x in v["data"]]
    if len(data) != len(cols):
        raise ValueError("cache entry has a frame with unequal columns and data")
    df = pd.DataFrame({i: pd.Series(a, index=index, copy=False, dtype=_keep(a)) for i, a in enumerate(data)},
                      index=index)
    df.columns = cols
    if v["t"] == "gdf":
        import geopandas as gpd

        geom = v.get("geometry")
        df = gpd.GeoDataFrame(df, geometry=geom, crs=v.get("crs")) if geom is not None else gpd.GeoDataFrame(df)
    return df


def _dec_series(r: _Reader, v: dict) -> pd.Series:
    index = _dec_index(r, v["index"])
    values = _dec_values(r, v["v"])
    if v["t"] == "geoseries":
        import geopandas as gpd

        return gpd.GeoSeries(values, index=index, crs=v.get("crs"), name=_dec(r, v["name"]))
    return pd.Series(values, index=index, name=_dec(r, v["name"]), copy=False, dtype=_keep(values))


def _dec_dataclass(r: _Reader, v: dict):
    qual = v.get("cls")
    if qual not in DATACLASSES:
        raise ValueError("cache entry names a class that is not allowed")
    mod, _, name = qual.rpartition(".")
    cls = getattr(importlib.import_module(mod), name)
    fields = {f.name for f in dataclasses.fields(cls)}
    given = v.get("f", {})
    if not isinstance(given, dict) or set(given) != fields:
        raise ValueError("cache entry has a dataclass with the wrong fields")
    return cls(**{k: _dec(r, x) for k, x in given.items()})


#: tag -> decoder of a tree node written by :func:`_enc` (what is not here is refused)
_DECODERS = {
    "nd": _dec_array,
    "ndo": _dec_array,
    "NA": lambda _r, _v: pd.NA,
    "NaT": lambda _r, _v: pd.NaT,
    "np0": lambda r, v: _dec_array(r, v["m"])[()],
    "geom": _dec_geom,
    "list": lambda r, v: [_dec(r, x) for x in v["v"]],
    "tuple": lambda r, v: tuple(_dec(r, x) for x in v["v"]),
    "dict": _dec_dict,
    "df": _dec_frame,
    "gdf": _dec_frame,
    "series": _dec_series,
    "geoseries": _dec_series,
    "pdindex": lambda r, v: _dec_index(r, v["v"]),
    "dc": _dec_dataclass,
}


def load(path: str | os.PathLike, expected_digest: str) -> dict | None:
    """Read an entry written by :func:`save`, or None when it cannot be used.

    None if it is missing, not this format, holds another digest, or does not decode (then the
    caller rebuilds it).

    The header is read and its digest compared before any other member is read. Arrays are read
    with ``allow_pickle=False``; no class outside :data:`DATACLASSES` and the pandas/numpy/shapely
    value types is ever created.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:  # a symlink (O_NOFOLLOW), no permission...: rebuilt and replaced
        log.warning("Cache file %s unreadable (%s); rebuilding", path.name, exc.strerror or type(exc).__name__)
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            import stat

            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise ValueError("not a regular file")
            with zipfile.ZipFile(fh) as zf:
                info = zf.getinfo("header.json")
                if info.file_size > _HEADER_MAX:
                    raise ValueError("header too large")
                header = json.loads(zf.read(info))
                if not isinstance(header, dict) or header.get("magic") != _MAGIC \
                        or header.get("format") != FORMAT or header.get("digest") != expected_digest:
                    raise ValueError("cache entry does not match its key")
                for i in zf.infolist():  # written stored: anything compressed was not written here
                    if i.compress_type != zipfile.ZIP_STORED:
                        raise ValueError("compressed member")
                r = _Reader(zf)
                built = _dec(r, json.loads(r.member("tree.json")))
    except Exception as exc:  # noqa: BLE001 - any failure means: rebuild, never trust
        log.warning("Cache file %s unreadable (%s); rebuilding", path.name, type(exc).__name__)
        return None
    if not isinstance(built, dict):
        log.warning("Cache file %s unreadable (not a dict); rebuilding", path.name)
        return None
    return built
