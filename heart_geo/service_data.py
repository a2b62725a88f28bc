"""Readers for the official service lists, in the formats their publishers ship.

The Care Inspectorate datastore (registered care services), PHS's list of NHS hospitals and GP
practice lists: each read into :data:`SERVICE_COLUMNS` (one row per service, in file order), the
kind of each service decided here (:data:`CARE_INSPECTORATE_KINDS`) and what may be published
about it in :mod:`heart_geo.kinds`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataFormatError, DataNotFoundError

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

__all__ = ["CARE_INSPECTORATE_KINDS", "SERVICE_COLUMNS", "SERVICE_READERS", "read_care_services",
           "read_gp_practices", "read_hospitals"]


# --------------------------------------------------------------------------------------------------
# Service locations: Care Inspectorate datastore, PHS hospitals, GP practices
# --------------------------------------------------------------------------------------------------
#: Columns every service reader returns (one row per service, in file order).
SERVICE_COLUMNS = ["service_id", "service_name", "kind", "care_service", "subtype", "provider", "postcode",
                   "x", "y", "council", "active", "source"]

#: Care Inspectorate ``(CareService, Subtype)`` -> service kind key (``heart_geo.services.SERVICE_KINDS``).
#: ``(CareService, None)`` matches any subtype. A pair not listed becomes ``other_care_service``,
#: which the publication rule treats as count-only (the safe default for a category nobody reviewed).
CARE_INSPECTORATE_KINDS: dict[tuple[str, str | None], str] = {
    ("child minding", None): "childminder",
    ("day care of children", None): "day_care_of_children",
    ("care home service", "children & young people"): "childrens_house",
    ("care home service", "children and young people"): "childrens_house",
    ("care home service", "older people"): "care_home_adults",
    ("care home service", "learning disabilities"): "care_home_adults",
    ("care home service", "mental health problems"): "care_home_adults",
    ("care home service", "physical and sensory impairment"): "care_home_adults",
    ("care home service", "alcohol and drugs rehabilitation"): "care_home_adults",
    ("care home service", "respite care and short breaks"): "care_home_adults",
    ("care home service", "blood borne virus"): "care_home_adults",
    ("school care accommodation service", None): "residential_special_school",
    ("fostering service", None): "fostering",
    ("adoption service", None): "adoption",
    ("child care agency", None): "child_care_agency",
    ("support service", None): "support_service",
    ("housing support service", None): "housing_support",
    ("adult placement service", None): "adult_placement",
    ("nurse agency", None): "nurse_agency",
    ("offender accommodation service", None): "other_care_service",
}

# Column spellings: the datastore CSV, PHS's "Current NHS Hospitals in Scotland", and GP practice
# lists (PHS "GP Practice Contact Details and List Sizes", and the DC Thomson compilation of ISD's).
_CI_FIELDS = {
    "service_id": ["csnumber"],
    "care_service": ["careservice"],
    "subtype": ["subtype"],
    "service_name": ["servicename"],
    "provider": ["serviceprovider"],
    "postcode": ["service_postcode"],
    "council": ["council_area_name"],
    "status": ["servicestatus"],
}
_HOSPITAL_FIELDS = {
    "service_id": ["location", "hospitalcode"],
    "service_name": ["locationname", "hospitalname"],
    "postcode": ["postcode"],
    "council": ["ca", "councilarea", "ca2019"],
    "x": ["xcoordinate", "easting"],
    "y": ["ycoordinate", "northing"],
    "board": ["hb", "hbt", "healthboard"],
}
_GP_FIELDS = {
    "service_id": ["practice code", "practicecode", "practice_code"],
    "service_name": ["name", "gppracticename", "practicename", "practice name"],
    "postcode": ["post code", "postcode"],
    "council": ["hscp name", "council area", "council_area_name", "ca"],
    "board": ["nhs board name", "hb", "hbname"],
}


def _read_text_table(path: Path, *, what: str) -> pd.DataFrame:
    """Return a CSV as text cells: UTF-8 (with or without a byte-order mark), else Windows-1252."""
    for enc in ("utf-8-sig", "cp1252"):
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=enc)
            break
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise DataFormatError(f"{what} file {str(path)!r} is not a readable CSV ({type(exc).__name__})") from None
    else:  # pragma: no cover - cp1252 decodes nearly any byte
        raise DataFormatError(f"{what} file {str(path)!r} is neither UTF-8 nor Windows-1252 text")
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _service_columns(df: pd.DataFrame, fields: dict, required: list[str], *, what: str, path: Path) -> dict:
    low = {c.lower(): c for c in df.columns}
    found = {k: next((low[n] for n in names if n in low), None) for k, names in fields.items()}
    lost = [k for k in required if found[k] is None]
    if lost:
        raise DataFormatError(
            f"{what} file {str(path)!r} has no column for {lost} (expected one of "
            f"{[fields[k] for k in lost]}); columns are {list(df.columns)[:30]}"
        )
    return found


def _keep_council(df: pd.DataFrame, col: str | None, council) -> pd.DataFrame:
    if council is None or col is None:
        return df
    wanted = {str(c).strip().lower() for c in ([council] if isinstance(council, str) else council)}
    return df[df[col].str.strip().str.lower().isin(wanted)]


def _service_frame(df: pd.DataFrame, cols: dict, path: Path, **fixed) -> pd.DataFrame:
    def col(key, default=""):
        c = cols.get(key)
        return df[c].str.strip().to_numpy(dtype=object) if c is not None else np.full(len(df), default, dtype=object)

    out = pd.DataFrame({k: col(k) for k in ("service_id", "service_name", "provider", "postcode", "council")})
    for k, v in fixed.items():
        out[k] = v
    out["source"] = path.name
    return out


def read_care_services(path: str | os.PathLike | list, *, council=None) -> pd.DataFrame:
    """Read the Care Inspectorate datastore (every registered care service) as published.

    Parameters
    ----------
    path : path or list of paths
        The monthly datastore CSV (Windows-1252 as the Care Inspectorate publishes it, or UTF-8),
        whole or a subset with the same columns.
    council : str or list of str, optional
        Keep rows whose ``Council_Area_Name`` is one of these (case-insensitive).

    Returns
    -------
    pandas.DataFrame
        :data:`SERVICE_COLUMNS`: ``kind`` from :data:`CARE_INSPECTORATE_KINDS`, ``postcode`` as
        written (empty where withheld), ``x``/``y`` NaN (the datastore has no coordinates),
        ``active`` (``ServiceStatus`` is "Active" or absent).

    Notes
    -----
    Contact details (manager's name, phone, e-mail) and address lines are never read: for
    childminders they are a private person's own details. The service name of a childminder is
    usually the person's name too: :func:`heart_geo.services.service_locations` applies the
    publication rule before anything is shown.
    """
    frames = []
    for p in _expand_service_paths(path, "care services"):
        df = _read_text_table(p, what="Care Inspectorate datastore")
        cols = _service_columns(df, _CI_FIELDS, ["care_service", "service_name", "postcode"],
                                what="Care Inspectorate datastore", path=p)
        df = _keep_council(df, cols["council"], council)
        care = df[cols["care_service"]].str.strip()
        sub = df[cols["subtype"]].str.strip() if cols["subtype"] else pd.Series("", index=df.index)
        kinds = [
            CARE_INSPECTORATE_KINDS.get((c.lower(), s.lower()))
            or CARE_INSPECTORATE_KINDS.get((c.lower(), None), "other_care_service")
            for c, s in zip(care, sub, strict=True)
        ]
        status = df[cols["status"]].str.strip().str.lower() if cols["status"] else pd.Series("active", index=df.index)
        out = _service_frame(df, cols, p, kind=kinds, care_service=care.to_numpy(dtype=object),
                             subtype=sub.to_numpy(dtype=object), x=np.nan, y=np.nan,
                             active=status.isin(["active", ""]).to_numpy())
        frames.append(out)
    return _concat_services(frames)


def read_hospitals(path: str | os.PathLike | list, *, council=None) -> pd.DataFrame:
    """Read Public Health Scotland's "Current NHS Hospitals in Scotland" (hospital codes) CSV.

    Parameters
    ----------
    council : str or list of str, optional
        GSS council codes to keep (column ``CA``).

    Returns
    -------
    pandas.DataFrame
        :data:`SERVICE_COLUMNS` with ``kind`` "hospital" and ``x``/``y`` from
        ``XCoordinate``/``YCoordinate`` (British National Grid metres; NaN where blank).
    """
    frames = []
    for p in _expand_service_paths(path, "hospitals"):
        df = _read_text_table(p, what="hospital list")
        cols = _service_columns(df, _HOSPITAL_FIELDS, ["service_name", "postcode"], what="hospital list", path=p)
        df = _keep_council(df, cols["council"], council)
        board = df[cols["board"]].str.strip() if cols["board"] else pd.Series("", index=df.index)
        out = _service_frame(df, cols, p, kind="hospital", care_service="", subtype="", active=True)
        out["provider"] = [f"NHS health board {b}" if b else "NHS" for b in board]
        for k in ("x", "y"):
            out[k] = pd.to_numeric(df[cols[k]], errors="coerce").to_numpy() if cols[k] else np.nan
        frames.append(out)
    return _concat_services(frames)


def read_gp_practices(path: str | os.PathLike | list, *, council=None) -> pd.DataFrame:
    """Read a list of GP practices.

    From PHS "GP Practice Contact Details and List Sizes", or the same data as compiled by the DC
    Thomson data team (``Practice Code``, ``Name``, ``Post code``).

    Parameters
    ----------
    council : str or list of str, optional
        Keep rows whose council column (``HSCP Name``, ``CA``...) is one of these, when the file
        has one. Practices are placed by postcode: a practice a partnership lists but that stands
        in another council gets ``outside_area``, never a team.

    Returns
    -------
    pandas.DataFrame
        :data:`SERVICE_COLUMNS` with ``kind`` "gp_practice"; no coordinates (place by postcode).
    """
    frames = []
    for p in _expand_service_paths(path, "GP practices"):
        df = _read_text_table(p, what="GP practice list")
        cols = _service_columns(df, _GP_FIELDS, ["service_name", "postcode"], what="GP practice list", path=p)
        df = _keep_council(df, cols["council"], council)
        board = df[cols["board"]].str.strip() if cols["board"] else pd.Series("", index=df.index)
        out = _service_frame(df, cols, p, kind="gp_practice", care_service="", subtype="", x=np.nan, y=np.nan,
                             active=True)
        out["provider"] = [f"GP practice (NHS {b})" if b else "GP practice" for b in board]
        frames.append(out)
    return _concat_services(frames)


def _expand_service_paths(path, what: str) -> list[Path]:
    paths = [Path(p) for p in path] if isinstance(path, list | tuple) else [Path(path)]
    if not paths:
        raise DataNotFoundError(f"no {what} file given")
    for p in paths:
        if not p.is_file():
            raise DataNotFoundError(f"{what} file {str(p)!r} does not exist")
    return paths


def _concat_services(frames: list[pd.DataFrame]) -> pd.DataFrame:
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SERVICE_COLUMNS)
    df["x"] = pd.to_numeric(df["x"], errors="coerce")
    df["y"] = pd.to_numeric(df["y"], errors="coerce")
    df["active"] = df["active"].astype(bool)
    return df[SERVICE_COLUMNS].reset_index(drop=True)


#: Service dataset kinds a profile's ``[sources.*]`` entry may declare (``kind = ...``), and their readers.
SERVICE_READERS = {
    "care_services": read_care_services,
    "hospitals": read_hospitals,
    "gp_practices": read_gp_practices,
}
