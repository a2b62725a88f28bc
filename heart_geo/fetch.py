"""Download the official datasets into the data cache, where a network exists.

Each profile source may give ``url`` (overridable on the command line), ``filename`` and
``sha256``. Downloads stream to a temporary file beside the target, are checked against the
checksum when one is given, and are renamed into place only when complete: an interrupted or
corrupt download never leaves a file that looks finished.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from .errors import HeartGeoError, InputError

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

__all__ = ["FetchError", "fetch_file", "fetch_sources"]


class FetchError(HeartGeoError, OSError):
    """A download failed or did not match its checksum."""


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_file(url: str, dest: str | os.PathLike, *, sha256: str | None = None, progress: bool = False,
               timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying ``sha256`` when given.

    An existing ``dest`` whose checksum matches is kept without downloading.

    Raises
    ------
    FetchError
        On a network error, an HTTP error or a checksum mismatch (``dest`` is left untouched).
    """
    dest = Path(dest)
    if dest.exists() and sha256 and sha256_file(dest) == sha256.lower():
        log.info("%s already present and verified", dest.name)
        return dest
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https", "file"):
        raise InputError(f"url for {dest.name} must be http(s) or file, got scheme {scheme!r}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, os.fdopen(fd, "wb") as out:  # noqa: S310
            total = int(resp.headers.get("Content-Length") or 0) or None
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False)
            while True:
                block = resp.read(1 << 16)
                if not block:
                    break
                out.write(block)
                h.update(block)
                if bar is not None:
                    bar.update(len(block))
            if bar is not None:
                bar.close()
            if total is not None and out.tell() != total:
                raise FetchError(f"{dest.name}: download ended early ({out.tell()} of {total} bytes)")
        if sha256 and h.hexdigest() != sha256.lower():
            raise FetchError(
                f"{dest.name}: checksum mismatch (expected sha256 {sha256.lower()}, got {h.hexdigest()}); "
                "the file was not saved"
            )
        os.replace(tmp, dest)
    except FetchError:
        Path(tmp).unlink(missing_ok=True)
        raise
    except (OSError, ValueError) as exc:
        Path(tmp).unlink(missing_ok=True)
        raise FetchError(f"{dest.name}: download from {url} failed: {exc}") from None
    log.info("Downloaded %s (%s)", dest.name, h.hexdigest()[:12])
    return dest


def fetch_sources(profile_config: dict, dest_dir: str | os.PathLike, *, urls: dict | None = None,
                  checksums: dict | None = None, only: list[str] | None = None,
                  progress: bool = False) -> dict[str, Path]:
    """Fetch every source of a profile that has a URL into ``dest_dir/<source>/``.

    Parameters
    ----------
    profile_config : dict
        The profile TOML as a dict (``Profile.config``).
    urls, checksums : dict, optional
        Overrides by source name (``{"postcodes": "https://..."}``).
    only : list of str, optional
        Fetch just these sources.
    """
    urls, checksums = urls or {}, checksums or {}
    unknown = set(urls) - set(profile_config.get("sources", {}))
    if unknown:
        raise InputError(f"--url names unknown sources {sorted(unknown)}; sources are "
                         f"{sorted(profile_config.get('sources', {}))}")
    out = {}
    for name, src in profile_config.get("sources", {}).items():
        if only and name not in only:
            continue
        url = urls.get(name) or src.get("url")
        if not url:
            continue
        filename = src.get("filename") or Path(urllib.parse.urlparse(url).path).name or f"{name}.dat"
        target = Path(dest_dir) / name / filename
        out[name] = fetch_file(url, target, sha256=checksums.get(name) or src.get("sha256"),
                               progress=progress)
    return out
