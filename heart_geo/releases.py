"""Where the data is, and which release of a dataset each file belongs to.

Councils keep several downloads of one dataset side by side (``codepo_gb_2024_02/``,
``codepo_gb_2025_05/``...): :func:`find_releases` groups a dataset's files into releases, dated
from the publisher's metadata, the folder or file name, or the files' dates, oldest first;
:func:`find_source` finds the files of one dataset. Nothing here reads the files' contents beyond
the publishers' small metadata members.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from . import _paths
from .errors import DataNotFoundError

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

__all__ = ["Release", "default_data_dir", "describe_release", "find_releases", "find_source", "resolve_data_dir"]


# --------------------------------------------------------------------------------------------------
# Where the data is
# --------------------------------------------------------------------------------------------------
default_data_dir = _paths.default_data_dir
resolve_data_dir = _paths.resolve_data_dir


def _glob(folder: Path, pattern: str) -> list[Path]:
    """Return the sorted matches of a recursive pattern, following symlinked folders.

    A data folder often links each dataset from where the council keeps it; ``Path.glob`` would not
    look inside them.
    """
    import glob

    return sorted(Path(p) for p in glob.glob(str(folder / pattern), recursive=True))


def find_source(data_dir: Path, patterns: list[str], *, what: str) -> list[Path]:
    """Find the files for one dataset: the first pattern (recursive glob) that matches wins.

    Raises
    ------
    DataNotFoundError
        Naming the dataset, the folder and the patterns tried.
    """
    for pattern in patterns:
        hits = [p for p in _glob(Path(data_dir), pattern) if p.is_file()]
        if hits:
            return hits
    raise DataNotFoundError(
        f"no {what} found in data folder {str(data_dir)!r}; looked for {patterns}"
    )


# --------------------------------------------------------------------------------------------------
# Releases: councils keep several downloads of one dataset side by side
# --------------------------------------------------------------------------------------------------
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_YM_NUM = re.compile(r"(?<!\d)((?:19|20)\d{2})[-_. ]?(0[1-9]|1[0-2])(?!\d)")
_YM_WORD = re.compile(
    r"(?<![a-z])(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*[-_. ]?((?:19|20)\d{2})(?!\d)", re.I)
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")


@dataclass(frozen=True)
class Release:
    """One release (download) of a dataset in the data folder.

    Attributes
    ----------
    dataset : str
        The profile's source key (``"postcodes"``).
    label : str
        The release as people name it, ``"2025-10"`` (year-month), ``"2023"`` or ``"undated"``.
    files : tuple of Path
        The files of this release that the profile's patterns match.
    root : Path
        The folder (or zip) holding the release.
    version : str
        The publisher's version where the data states one (Code-Point Open ``"2025.4.0"``), else "".
    published : datetime.date or None
        The publisher's copyright/release date where stated, else the month in the name.
    how : str
        How the release was recognised, for people: ``"Doc/metadata.txt"``, ``"folder name"``...
    """

    dataset: str
    label: str
    files: tuple = field(default=())
    root: Path = Path(".")
    version: str = ""
    published: dt.date | None = None
    how: str = ""

    @property
    def year(self) -> int | None:
        """Copyright year of the release (for attribution text), if known."""
        if self.published is not None:
            return self.published.year
        m = _YEAR.search(self.label)
        return int(m.group(1)) if m else None

    def sort_key(self) -> tuple:
        """Oldest first: by date, then version numbers, then label and folder name."""
        d = self.published or dt.date.min
        ver = tuple(int(v) for v in re.findall(r"\d+", self.version))
        return (d, ver, self.label, str(self.root))

    def describe(self) -> str:
        """One line for people: ``"2025-10 (version 2025.4.0, copyright 2025-10-20)"``."""
        extra = []
        if self.version:
            extra.append(f"version {self.version}")
        if self.published is not None and self.how == "Doc/metadata.txt":
            extra.append(f"copyright {self.published.isoformat()}")
        return self.label + (f" ({', '.join(extra)})" if extra else "")


def _month_in(text: str) -> tuple[int, int] | None:
    """(year, month) named in a file or folder name: ``2025_10``, ``202510``, ``NOV_2025``."""
    m = _YM_NUM.search(text)
    if m:
        return int(m.group(1)), int(m.group(2))
    m = _YM_WORD.search(text)
    if m:
        return int(m.group(2)), _MONTHS[m.group(1).lower()[:3]]
    return None


def _codepoint_metadata(text: str) -> tuple[str, dt.date | None] | None:
    """Dataset version and copyright date from Code-Point Open's ``Doc/metadata.txt``."""
    ver = re.search(r"DATASET VERSION NUMBER:\s*([0-9.]+)", text)
    day = re.search(r"COPYRIGHT DATE:\s*(\d{8})", text)
    if not ver and not day:
        return None
    date = None
    if day:
        try:
            date = dt.datetime.strptime(day.group(1), "%Y%m%d").date()
        except ValueError:
            date = None
    return (ver.group(1) if ver else ""), date


def _zip_metadata(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as zf:
            for n in zf.namelist():
                if n.lower().endswith("doc/metadata.txt"):
                    return zf.read(n)[:100_000].decode("latin-1")
    except (OSError, zipfile.BadZipFile):
        return None
    return None


def _release_root(path: Path, data_dir: Path) -> Path:
    """Return the folder that holds one release.

    That is the nearest ancestor with ``Doc/metadata.txt``, else the first folder under the data
    folder (a file directly in the data folder is its own release).
    """
    try:
        rel = path.relative_to(data_dir)
    except ValueError:
        return path.parent
    anc = path.parent
    dated = None
    while anc != data_dir and data_dir in anc.parents:
        if (anc / "Doc" / "metadata.txt").is_file() or (anc / "doc" / "metadata.txt").is_file():
            return anc
        if dated is None and (_month_in(anc.name) or _YEAR.search(anc.name)):
            dated = anc  # e.g. <dest>/postcodes/2025-10/ from 'heart-geo data fetch'
        anc = anc.parent
    if dated is not None:
        return dated
    return data_dir / rel.parts[0] if len(rel.parts) > 1 else path


def describe_release(dataset: str, root: Path, files: list[Path], data_dir: Path | None = None) -> Release:
    """Recognise the release of one group of files.

    Code-Point Open states its release in ``Doc/metadata.txt`` (dataset version, copyright date),
    inside the release folder or the ``codepo_gb.zip``; other datasets are known by the year and month
    in their folder or file name (``os_codepoint_open_2025_10``, ``ONSPD_NOV_2025_UK.csv``,
    ``SG_SchoolRoll_2023``). The label prefers the month people named the download by (the folder
    name), the date the publisher states otherwise.
    """
    names = _release_names(root, files, data_dir)
    named = next((ym for ym in map(_month_in, names) if ym), None)
    version, published, how = "", None, ""
    meta = _release_metadata(root, files)
    parsed = _codepoint_metadata(meta) if meta else None
    if parsed:
        version, published = parsed
        how = "Doc/metadata.txt"
    # a folder name far from the publisher's date is not the release's name: trust the data
    if (named and published is not None and how == "Doc/metadata.txt"
            and abs((dt.date(named[0], named[1], 15) - published).days) > 92):
        named = None
    label, published, how = _release_label(names, named, published, how)
    return Release(dataset=dataset, label=label, files=tuple(files), root=root, version=version,
                   published=published, how=how)


def _release_names(root: Path, files: list[Path], data_dir: Path | None) -> list[str]:
    """Return the names a release is known by: its folders below the data folder, then its files."""
    try:
        names = list(root.relative_to(data_dir).parts) if data_dir is not None else [root.name]
    except ValueError:
        names = [root.name]
    return names + [f.name for f in files]


def _release_metadata(root: Path, files: list[Path]) -> str | None:
    """Code-Point Open's ``Doc/metadata.txt``, from the release folder or its zip, if there is one."""
    for cand in (root / "Doc" / "metadata.txt", root / "doc" / "metadata.txt"):
        if cand.is_file():
            return cand.read_text(encoding="latin-1")[:100_000]
    meta = None
    for f in files:
        if f.suffix.lower() == ".zip":
            meta = _zip_metadata(f)
            if meta:
                break
    return meta


def _release_label(names: list[str], named: tuple[int, int] | None, published: dt.date | None,
                   how: str) -> tuple[str, dt.date | None, str]:
    """Return the label, publication date and how it was known.

    Known from the month named, else the date published, else a year in a name, else undated.
    """
    if named:
        if published is None:
            published = dt.date(named[0], named[1], 1)
            how = how or "name"
        return f"{named[0]:04d}-{named[1]:02d}", published, how
    if published is not None:
        return published.strftime("%Y-%m"), published, how
    years = [int(m.group(1)) for n in names for m in [_YEAR.search(n)] if m]
    if years:
        return str(years[0]), dt.date(years[0], 1, 1), "name (year only)"
    return "undated", None, "no date in the data or its name"


def find_releases(data_dir: Path, patterns: list[str], *, what: str, dataset: str | None = None) -> list[Release]:
    """Find every release of one dataset in the data folder, oldest first (the newest answers).

    Files matching any pattern are grouped by release folder (see :func:`describe_release`); within
    a release the first pattern that matches wins, as in :func:`find_source`.

    Raises
    ------
    DataNotFoundError
        Naming the dataset, the folder and the patterns tried.
    """
    data_dir = Path(data_dir)
    groups: dict[Path, list[Path]] = {}
    for i, pattern in enumerate(patterns):
        for p in _glob(data_dir, pattern):
            if not p.is_file():
                continue
            root = _release_root(p, data_dir)
            groups.setdefault(root, [])
            groups[root].append((i, p))
    if not groups:
        raise DataNotFoundError(
            f"no {what} found in data folder {str(data_dir)!r}; looked for {patterns}"
        )
    out = []
    for root, hits in groups.items():
        first = min(i for i, _ in hits)
        files = list(dict.fromkeys(p for i, p in hits if i == first))
        out.append(describe_release(dataset or what, root, files, data_dir))
    return sorted(out, key=Release.sort_key)
