"""Where things are: the data folder, the derived-data cache and the council profiles.

Standard library only (and ``platformdirs``), so the quick ``heart-geo lookup`` path can use the same
rules as the loader without importing pandas.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DataNotFoundError, ProfileError
from .settings import CACHE_ENV, DATA_ENV

__all__ = ["cache_dir", "choose_data_dir", "default_data_dir", "named_profile", "profiles_dir", "resolve_data_dir"]


def default_data_dir() -> Path:
    """Return the user cache folder that ``heart-geo data fetch`` downloads into."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("heart-geo")) / "data"


def choose_data_dir(data_dir: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Return the data folder to use and why: the argument, then ``$HEART_GEO_DATA``, then the user cache."""
    if data_dir is not None:
        return Path(data_dir), "the data_dir argument (--data-dir)"
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]), f"${DATA_ENV}"
    return default_data_dir(), "the user cache (no --data-dir and no $HEART_GEO_DATA)"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Choose the data folder: the argument, then ``$HEART_GEO_DATA``, then the user cache.

    Raises
    ------
    DataNotFoundError
        If the chosen folder does not exist, naming where it looked.
    """
    where, why = choose_data_dir(data_dir)
    if not where.is_dir():
        raise DataNotFoundError(
            f"data folder {str(where)!r} from {why} does not exist; point --data-dir or "
            f"${DATA_ENV} at the folder holding the official datasets, or run "
            "'heart-geo data fetch' where a network exists"
        )
    return where.resolve()


def cache_dir() -> Path:
    """Return the folder for derived data: ``$HEART_GEO_CACHE``, else the user cache."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("heart-geo")) / "derived"


def profiles_dir() -> Path:
    """Return the folder holding the council profiles (``boundaries/``)."""
    here = Path(__file__).resolve().parent
    for cand in (here / "boundaries", here.parent / "boundaries"):
        if cand.is_dir():
            return cand
    raise ProfileError(f"no boundaries/ folder beside {str(here)!r}")


def named_profile(name: str | os.PathLike) -> Path | None:
    """Return the profile TOML that ``name`` names directly (a TOML file, or a key in ``boundaries/``).

    None when it names neither (it may still be a council's name or GSS code: the loader searches).
    """
    p = Path(name)
    if p.suffix == ".toml" and p.is_file():
        return p
    path = profiles_dir() / f"{str(name).strip().lower().replace(' ', '_').replace('-', '_')}.toml"
    return path if path.is_file() else None
