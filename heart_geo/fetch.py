"""Download the official datasets into the data folder, where a network exists.

Each profile source may say how it is fetched:

* ``url``: the file's endpoint (OS Downloads API for Code-Point Open, the Scottish Government's file
  for the school roll), overridable on the command line;
* ``wfs_layer`` (with ``url`` the WFS endpoint): an OGC WFS ``GetFeature`` request for the layer, as
  GeoJSON in EPSG:27700 (Spatial Hub catchments);
* ``auth_param`` and ``auth_env``: the query parameter and environment variable of a user's key
  (Spatial Hub's free ``authkey``); the key is sent, never logged or shown;
* ``format``: what a good download is, checked before it is kept: ``codepoint-zip``, ``geojson``,
  ``xlsx-zip``, ``xlsx``, ``csv`` or ``zip``; ``filename``; ``sha256``.

A download streams to a temporary file, is refused when it is an HTML page or an error body instead of
the data, and is then stored as a **new release** beside the old ones,
``<dest>/<source>/<release>/<filename>``, never over them: the newest release answers when the data
folder is read (:func:`heart_geo.sources.find_releases`), the older ones give history.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ._util import sha256_file
from .errors import FetchError, InputError
from .releases import _codepoint_metadata, _month_in, _zip_metadata

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

__all__ = ["FetchError", "Fetched", "fetch_file", "fetch_sources", "source_url"]

_FORMATS = ("codepoint-zip", "geojson", "xlsx-zip", "xlsx", "csv", "zip", "any")


@dataclass(frozen=True)
class Fetched:
    """One stored download: where it is, which release it is, and whether it was new."""

    source: str
    path: Path
    release: str
    sha256: str
    new: bool




def _redact(url: str, secrets: tuple[str, ...] = ()) -> str:
    """Return the URL with key-like query values and any given secret replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    q = [(k, "***" if re.search(r"key|token|secret|password", k, re.I) else v)
         for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)]
    out = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(q, safe="*:,")))
    for s in secrets:
        if s:
            out = out.replace(s, "***")
    return out


def fetch_file(url: str, dest: str | os.PathLike, *, sha256: str | None = None, progress: bool = False,
               timeout: float = 60.0, fmt: str = "any", secrets: tuple[str, ...] = ()) -> Path:
    """Download ``url`` to ``dest`` atomically, check what arrived, verify ``sha256`` when given.

    An existing ``dest`` whose checksum matches is kept without downloading.

    Parameters
    ----------
    fmt : str
        What a good download is, {"codepoint-zip", "geojson", "xlsx-zip", "xlsx", "csv", "zip", "any"}:
        an HTML page or an error body is refused whatever ``fmt`` says.
    secrets : tuple of str
        Values (keys) to blank out of every message.

    Raises
    ------
    FetchError
        On a network error, an HTTP error, content that is not the data, or a checksum mismatch
        (``dest`` is left untouched and no partial file remains).
    """
    dest = Path(dest)
    if dest.exists() and sha256 and sha256_file(dest) == sha256.lower():
        log.info("%s already present and verified", dest.name)
        return dest
    tmp = _download(url, dest.parent, dest.name, progress=progress, timeout=timeout, secrets=secrets)
    try:
        digest = _verified(tmp, sha256, fmt, dest.name, secrets)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    log.info("Downloaded %s (%s)", dest.name, digest[:12])
    return dest


def _verified(tmp: Path, sha256: str | None, fmt: str, name: str, secrets: tuple[str, ...]) -> str:
    """Check a finished download against its checksum (when given) and its format; return its digest."""
    digest = sha256_file(tmp)
    if sha256 and digest != sha256.lower():
        raise FetchError(f"{name}: checksum mismatch (expected sha256 {sha256.lower()}, got {digest}); "
                         "the file was not saved")
    check_content(tmp, fmt, name=name, secrets=secrets)
    return digest


def _download(url: str, folder: Path, name: str, *, progress: bool, timeout: float,
              secrets: tuple[str, ...]) -> Path:
    """Stream ``url`` into a new temporary file in ``folder``; return its path."""
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https", "file"):
        raise InputError(f"url for {name} must be http(s) or file, got scheme {scheme!r}")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    shown = _redact(url, secrets)
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "heart-geo data fetch"})
        with urllib.request.urlopen(req, timeout=timeout) as resp, os.fdopen(fd, "wb") as out:  # noqa: S310
            total = int(resp.headers.get("Content-Length") or 0) or None
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=total, unit="B", unit_scale=True, desc=name, leave=False)
            while True:
                block = resp.read(1 << 16)
                if not block:
                    break
                out.write(block)
                if bar is not None:
                    bar.update(len(block))
            if bar is not None:
                bar.close()
            if total is not None and out.tell() != total:
                raise FetchError(f"{name}: download ended early ({out.tell()} of {total} bytes)")
            modified = resp.headers.get("Last-Modified")
        if modified:
            try:
                ts = email.utils.parsedate_to_datetime(modified).timestamp()
                os.utime(tmp, (ts, ts))
            except (TypeError, ValueError, OverflowError):
                pass
        return Path(tmp)
    except urllib.error.HTTPError as exc:
        Path(tmp).unlink(missing_ok=True)
        hint = ""
        if exc.code in (401, 403):
            hint = ": the server refused the request; this source may need a key (see --authkey)"
        raise FetchError(f"{name}: download from {shown} failed: HTTP {exc.code}{hint}") from None
    except FetchError:
        Path(tmp).unlink(missing_ok=True)
        raise
    except (OSError, ValueError) as exc:
        Path(tmp).unlink(missing_ok=True)
        reason = _redact(str(getattr(exc, "reason", exc)), secrets)
        raise FetchError(f"{name}: download from {shown} failed: {reason}") from None


def check_content(path: Path, fmt: str, *, name: str = "", secrets: tuple[str, ...] = ()) -> None:
    """Refuse a file that is not the data: an HTML page, an error body, or the wrong format.

    Raises
    ------
    FetchError
        Naming what arrived and what was expected.
    """
    if fmt not in _FORMATS:
        raise InputError(f"format {fmt!r} for {name} is not one of {list(_FORMATS)}")
    name = name or path.name
    with open(path, "rb") as fh:
        head = fh.read(4096)
    _refuse_page(head, fmt, name, secrets)
    is_zip = zipfile.is_zipfile(path)
    if fmt in ("geojson", "csv") and is_zip:
        raise FetchError(f"{name}: expected {'GeoJSON' if fmt == 'geojson' else 'CSV'} text, got a zip archive")
    if fmt in ("codepoint-zip", "xlsx-zip", "xlsx", "zip") and not is_zip:
        raise FetchError(f"{name}: expected a {fmt} file (a zip archive), but what arrived is not one")
    if is_zip:
        _check_zip(path, fmt, name)
    elif fmt == "geojson":
        _check_geojson(path, name)
    elif fmt == "csv":
        _check_csv(head, name)


def _refuse_page(head: bytes, fmt: str, name: str, secrets: tuple[str, ...]) -> None:
    """Refuse an empty file, an HTML page, or a server's error body (an OGC exception report)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not head:
        raise FetchError(f"{name}: the server sent an empty file; expected {fmt} data")
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text[:512]:
        raise FetchError(f"{name}: the server sent an HTML page, not the data (expected {fmt}); a "
                         "landing page or a login page? Give the file's own URL with --url")
    if b"exceptionreport" in text[:1024] or b"serviceexception" in text[:1024]:
        m = re.search(rb"<(?:ows:)?ExceptionText>(.*?)</", head, re.S | re.I)
        why = _redact(m.group(1).decode("utf-8", "replace").strip()[:200], secrets) if m else "no reason given"
        raise FetchError(f"{name}: the server answered with an error instead of the data: {why}")


def _check_zip(path: Path, fmt: str, name: str) -> None:
    """Return a whole zip archive holding what ``fmt`` needs inside."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n.lower() for n in zf.namelist()]
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError):
        raise FetchError(f"{name}: the zip archive is damaged (download cut short?)") from None
    if bad is not None:
        raise FetchError(f"{name}: the zip archive is damaged at one of its members")
    if fmt == "codepoint-zip" and not any(re.search(r"data/csv/[a-z]+\.csv$", n) for n in names):
        raise FetchError(f"{name}: a zip without Code-Point Open's Data/CSV/<area>.csv files")
    if fmt == "xlsx-zip" and not any(n.endswith((".xlsx", ".csv")) for n in names):
        raise FetchError(f"{name}: a zip without the workbook (.xlsx) or table (.csv) expected inside")
    if fmt == "xlsx" and "[content_types].xml" not in names:
        raise FetchError(f"{name}: not an Excel workbook (.xlsx)")


def _check_geojson(path: Path, name: str) -> None:
    """Return a GeoJSON FeatureCollection with at least one feature."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            doc = json.load(fh)
    except (ValueError, UnicodeDecodeError):
        raise FetchError(f"{name}: expected GeoJSON, but what arrived is not JSON") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise FetchError(f"{name}: expected a GeoJSON FeatureCollection, got "
                         f"{type(doc).__name__} {str(doc.get('type')) if isinstance(doc, dict) else ''}")
    if not doc.get("features"):
        raise FetchError(f"{name}: the GeoJSON has no features (wrong layer name or filter?)")


def _check_csv(head: bytes, name: str) -> None:
    """Text whose first line has commas."""
    try:
        first = head.decode("utf-8-sig").splitlines()[0]
    except (UnicodeDecodeError, IndexError):
        raise FetchError(f"{name}: expected a CSV text file, got binary data") from None
    if "," not in first:
        raise FetchError(f"{name}: expected a CSV file, but its first line has no commas")


def source_url(name: str, src, *, url: str | None = None, authkey: str | None = None) -> str:
    """Return the URL to fetch for one profile source (the WFS GetFeature request for a ``wfs_layer``).

    ``src`` is the source's :class:`heart_geo.config.Source` (or its TOML table, read the same way).

    Raises
    ------
    FetchError
        When the source needs a key and none is given (naming the option and environment variable).
    """
    src = _as_source(name, src)
    base = url or src.url
    if not base:
        raise InputError(f"source {name!r} has no url in the profile; give one with --url {name}=URL")
    if src.wfs_layer and "request=" not in base.lower():
        q = {"service": "WFS", "version": "2.0.0", "request": "GetFeature", "typeNames": src.wfs_layer,
             "outputFormat": "application/json", "srsName": src.srs or "EPSG:27700"}
        base = base + ("&" if "?" in base else "?") + urllib.parse.urlencode(q, safe=":")
    if src.auth_param:
        key = authkey or os.environ.get(src.auth_env or "", "")
        if not key:
            raise FetchError(
                f"{name}: {src.publisher or 'the publisher'} needs your (free) key: give "
                f"--authkey {name}=KEY" + (f" or set ${src.auth_env}" if src.auth_env else "")
            )
        base = base + ("&" if "?" in base else "?") + urllib.parse.urlencode({src.auth_param: key})
    return base


def _as_source(name: str, src):
    """Return ``src`` as a :class:`heart_geo.config.Source` (a TOML table is read by the profile loader's rule)."""
    from .config import _source

    return _source(name, src) if isinstance(src, dict) else src


def _sources_of(profile) -> dict:
    """Return the datasets of a profile, a profile's configuration, or its TOML as a dict: key -> Source."""
    if isinstance(profile, dict):
        return {k: _as_source(k, s) for k, s in profile.get("sources", {}).items()}
    return dict(profile.sources)


def _release_of(tmp: Path, name: str, url: str, fmt: str) -> str:
    """Return a release label for a download: what the data says, else the name, else the file's date."""
    if fmt == "codepoint-zip" or zipfile.is_zipfile(tmp):
        meta = _zip_metadata(tmp)
        parsed = _codepoint_metadata(meta) if meta else None
        if parsed and parsed[1] is not None:
            return parsed[1].strftime("%Y-%m")
    path_name = Path(urllib.parse.urlparse(url).path).name
    ym = _month_in(path_name) or _month_in(name)
    if ym:
        return f"{ym[0]:04d}-{ym[1]:02d}"
    years = re.findall(r"(?<!\d)((?:19|20)\d{2})(?!\d)", path_name)
    if years:
        return years[0]
    return dt.date.fromtimestamp(tmp.stat().st_mtime).isoformat()  # Last-Modified, else today


def fetch_sources(profile, dest_dir: str | os.PathLike, *, urls: dict | None = None,
                  checksums: dict | None = None, only: list[str] | None = None,
                  authkeys: dict | None = None, progress: bool = False) -> dict[str, Fetched]:
    """Fetch every source of a profile that has a URL, each as a new release beside the old ones.

    Parameters
    ----------
    profile : Profile, ProfileConfig or dict
        The profile (:func:`heart_geo.load_profile`), its configuration
        (:func:`heart_geo.config.read_config`, which needs no data), or its TOML as a dict.
    urls, checksums, authkeys : dict, optional
        Overrides by source name (``{"postcodes": "https://..."}``, ``{"catchments": "KEY"}``).
    only : list of str, optional
        Fetch just these sources.

    Returns
    -------
    dict
        Source name -> :class:`Fetched` (``path``, ``release``, ``new``: False when the same file
        was already stored).
    """
    urls, checksums, authkeys = urls or {}, checksums or {}, authkeys or {}
    known = _sources_of(profile)
    for what, given in (("--url", urls), ("--sha256", checksums), ("--authkey", authkeys), ("--only", only or [])):
        unknown = set(given) - set(known)
        if unknown:
            raise InputError(f"{what} names unknown sources {sorted(unknown)}; sources are {sorted(known)}")
    out = {}
    for name, src in known.items():
        if only and name not in only:
            continue
        if not (urls.get(name) or src.url):
            continue
        key = authkeys.get(name) or (os.environ.get(src.auth_env, "") if src.auth_env else "")
        url = source_url(name, src, url=urls.get(name), authkey=key or None)
        fmt = src.format or "any"
        filename = src.filename or Path(urllib.parse.urlparse(url).path).name or f"{name}.dat"
        tmp = _download(url, Path(dest_dir) / name, filename, progress=progress, timeout=120.0,
                        secrets=(key,) if key else ())
        try:
            digest = _verified(tmp, checksums.get(name) or src.sha256, fmt, filename,
                               (key,) if key else ())
            label = _release_of(tmp, filename, url, fmt)
            target, new = _place(tmp, Path(dest_dir) / name, label, filename, digest)
        finally:
            Path(tmp).unlink(missing_ok=True)
        out[name] = Fetched(source=name, path=target, release=target.parent.name, sha256=digest, new=new)
        log.info("%s: release %s %s", name, target.parent.name, "stored" if new else "already present")
    return out


def _place(tmp: Path, folder: Path, label: str, filename: str, digest: str) -> tuple[Path, bool]:
    """Move a checked download into ``folder/<label>/filename``, never over a different file."""
    n = 1
    while True:
        rel = label if n == 1 else f"{label}-{n}"
        target = folder / rel / filename
        if target.exists():
            if sha256_file(target) == digest:
                return target, False
            n += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:  # link then unlink: never replaces a file that appeared meanwhile
            os.link(tmp, target)
        except FileExistsError:
            n += 1
            continue
        except OSError:
            shutil.copyfile(tmp, target)
        return target, True
