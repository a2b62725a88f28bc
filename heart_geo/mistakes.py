"""What a value that gives no place means: a pseudo-postcode, an incomplete postcode, a typing slip.

Every function here reads one value a person typed and returns a sentence for the answer's
``detail``, or None. None of them corrects anything: a wrong team is worse than none, so a slip such
as letter O for zero ("KA1 OAA") keeps ``invalid_postcode`` and no team; where exactly one correction
is a current postcode of the data, the sentence offers it ("did you mean KA18 1FQ? Barony").

The national tables (pseudo-postcodes, Crown dependencies, postcode areas) are in
:mod:`heart_geo.postcode_tables`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from ._util import nan_to_none
from .errors import InputError
from .postcode_tables import BFPO_MEANING, CROWN_DEPENDENCIES, POSTCODE_AREAS, PSEUDO_DISTRICTS, PSEUDO_POSTCODES
from .postcodes import clean_text, postcode_district
from .query import MAX_QUERY_CHARS, parse_query

__all__ = ["crown_dependency", "current_label", "explain_rows", "incomplete_detail", "pseudo_detail",
           "slip_corrections", "slip_detail", "text_point"]

_FULL = re.compile(r"([A-Z]{1,2})([0-9][A-Z0-9]?)([0-9][A-Z]{2})")
_BFPO = re.compile(r"(?<![A-Z0-9])BFPO\s*[0-9]{1,4}(?![A-Z0-9])")
_PARTIAL = re.compile(r"(?<![A-Z0-9])([A-Z]{1,2})([0-9][A-Z0-9]?)(?:\s*([0-9][A-Z]?))?[\s.,;]*$")
_LOOSE = re.compile(r"(?<![A-Z0-9])([A-Z][A-Z0-9]{1,3})\s*([0-9OI][A-Z0-9]{2})(?![A-Z0-9])")
_SWAP = {"O": "0", "0": "O", "I": "1", "1": "I"}
_MAX_SLIPS = 6  # at most 2**6 spellings are tried


def _upper(text: object) -> str:
    return clean_text(str(text)).upper() if text is not None else ""


def pseudo_detail(postcode: str | None, text: object = None) -> str | None:
    """Return what a pseudo-postcode or forces address means, as a detail sentence; None if it is neither.

    Examples
    --------
    >>> pseudo_detail("ZZ99 3VZ")
    'ZZ99 3VZ is a pseudo-postcode of the NHS meaning no fixed abode: it gives no place, so no team'
    >>> pseudo_detail(None, "BFPO 58") is not None
    True
    >>> pseudo_detail("KA18 1FQ") is None
    True
    """
    if postcode:
        if postcode in PSEUDO_POSTCODES:
            meaning, who = PSEUDO_POSTCODES[postcode]
            return f"{postcode} is a pseudo-postcode of the {who} meaning {meaning}: it gives no place, so no team"
        meaning = PSEUDO_DISTRICTS.get(postcode_district(postcode))
        if meaning:
            return f"{postcode} is {meaning}: it gives no place, so no team"
    if text is not None and _BFPO.search(_upper(text)):
        return f"{BFPO_MEANING}: it gives no place, so no team"
    return None


def crown_dependency(postcode: str | None) -> str | None:
    """Return the Crown dependency a postcode belongs to (Guernsey, Jersey, the Isle of Man), or None."""
    if not postcode:
        return None
    return CROWN_DEPENDENCIES.get(re.match(r"[A-Z]*", postcode).group(0))


def incomplete_detail(text: object, areas: frozenset[str] | set[str] = POSTCODE_AREAS) -> str | None:
    """Return a sentence for a postcode given only in part ("KA1 2F", "KA12", "KA1"), or None.

    ``areas``: the postcode areas a postcode can start with (default: the UK's).

    Examples
    --------
    >>> incomplete_detail("KA1 2F")[:32]
    'an incomplete postcode (KA1 2F):'
    >>> incomplete_detail("hello") is None
    True
    """
    s = _upper(text).strip()
    m = _PARTIAL.search(s)
    if not m or m.group(1) not in areas:
        return None
    given = f"{m.group(1)}{m.group(2)}" + (f" {m.group(3)}" if m.group(3) else "")
    return (f"an incomplete postcode ({given}): a full postcode is a district such as KA1 followed by a "
            "digit and two letters, as in KA1 2FE; ask for the whole postcode")


def slip_corrections(text: object) -> list[str]:
    """Return the postcodes a letter O/I for a zero/one slip (or the reverse) could have meant.

    Only for text that holds no postcode as written. Each result is a well-formed postcode; whether
    it exists is for the caller to check (:func:`slip_detail`).

    Examples
    --------
    >>> slip_corrections("KA18 IFQ")
    ['KA18 1FQ']
    >>> slip_corrections("KAI8 1FQ")
    ['KA18 1FQ']
    """
    s = _upper(text)
    compact = re.sub(r"\s+", "", s)
    pieces = [compact] if 5 <= len(compact) <= 7 else []
    pieces += [a + b for a, b in _LOOSE.findall(s)]
    out: list[str] = []
    for piece in dict.fromkeys(pieces):
        at = [i for i, ch in enumerate(piece) if ch in _SWAP]
        if not at or len(at) > _MAX_SLIPS:
            continue
        for flips in itertools.product((False, True), repeat=len(at)):
            if not any(flips):
                continue
            chars = list(piece)
            for i, flip in zip(at, flips, strict=True):
                if flip:
                    chars[i] = _SWAP[chars[i]]
            m = _FULL.fullmatch("".join(chars))
            if m:
                out.append(f"{m.group(1)}{m.group(2)} {m.group(3)}")
    return list(dict.fromkeys(out))


def slip_detail(text: object, current: Callable[[str], str | None]) -> str | None:
    """Return a sentence for a letter O/I slip, offering the one correction the data holds; else None.

    ``current(postcode)`` says what a current postcode of the data answers (a team's name, or another
    council), or None where the data does not hold it. The slip is never corrected: the answer keeps
    no team, and the sentence offers the correction only when exactly one exists.
    """
    cands = slip_corrections(text)
    if not cands:
        return None
    held = [(pc, current(pc)) for pc in cands]
    held = [(pc, label) for pc, label in held if label]
    if len(held) == 1:
        pc, label = held[0]
        return (f"not a postcode as written: a letter O or I where a postcode has a zero or a one? "
                f"did you mean {pc}? {label} (not given as the team: check with the family)")
    return ("not a postcode as written: a letter O or I where a postcode has a zero or a one? "
            + ("no correction is a current postcode of the data" if not held else
               f"{len(held)} corrections are current postcodes ({', '.join(pc for pc, _ in held)}): "
               "check with the family"))


# --------------------------------------------------------------------------------------------------
# a profile's answers for values that give no place
# --------------------------------------------------------------------------------------------------
def current_label(profile, postcode: str) -> str | None:
    """Say what a current postcode of ``profile``'s data answers: its team, or its council; else None."""
    i = profile._pc_index.get_indexer([postcode])[0]
    if i >= 0:
        if bool(profile.postcodes["terminated"].iat[i]):
            return None
        council = profile._pc_council[i]
        team = int(profile._pc_result.team[i])
        if council != profile.code:
            return f"in {profile._council_label(council)}"
        return profile.team_names[team] if team >= 0 else f"no {profile.unit} in the data"
    keys = profile._elsewhere["keys"]
    if len(keys):
        want = postcode.encode()
        at = min(int(np.searchsorted(keys, want)), len(keys) - 1)
        if keys[at] == want:
            code = profile._elsewhere["codes"][profile._elsewhere["council"][at]].decode()
            return f"in {profile._council_label(code)}"
    return None


def text_point(profile, value: object) -> dict | None:
    """Answer text that is a pair of coordinates ("55.45, -4.26") as ``lookup`` does; else None.

    Coordinates that cannot be right answer ``invalid_coordinates`` with the reason, never an error.
    """
    if not isinstance(value, str) or len(value) > MAX_QUERY_CHARS:
        return None
    try:
        kind, got = parse_query(value)
    except InputError as exc:
        return {"team": None, "status": getattr(exc, "status", "invalid_coordinates"), "detail": str(exc)}
    if kind != "point":
        return None
    x, y, crs = got
    row = profile.allocate_points([x], [y], crs=crs).iloc[0].to_dict()
    return {k: nan_to_none(v) for k, v in row.items()}


def _areas(profile) -> set[str]:
    """Return the postcode areas of the council's own postcodes (a made-up council's too)."""
    return {re.match(r"[A-Z]*", d).group(0) for d in profile._sectors[2]}


def _no_place(profile, value, postcode, kind: str) -> dict | None:
    """Answer one row that found no postcode in the data, when a rule here knows better; else None."""
    if kind == "invalid":
        point = text_point(profile, value)
        if point is not None:
            return point
    if kind in ("invalid", "postcode", "address"):
        detail = pseudo_detail(postcode, value)
        if detail:
            return {"team": None, "likely_team": None, "status": "pseudo_postcode", "detail": detail}
    place = crown_dependency(postcode) if kind in ("postcode", "address") else None
    if place:
        return {"team": None, "likely_team": None, "status": "outside_area",
                "detail": (f"{postcode} is a postcode of {place}, outside Great Britain's postcode data: "
                           f"not {profile.name} ({profile.code})")}
    if kind == "invalid":
        detail = (slip_detail(value, lambda pc: current_label(profile, pc))
                  or incomplete_detail(value, POSTCODE_AREAS | _areas(profile)))
        if detail:
            return {"detail": detail}
    return None


def explain_rows(profile, out: pd.DataFrame, rows, values, postcodes, kinds) -> pd.DataFrame:
    """Return ``out`` (``Profile.allocate``'s frame) with the rows this module knows better answered.

    ``rows`` are the positions that found no postcode in the data; ``values``, ``postcodes`` and
    ``kinds`` are per input (the text, its normalised postcode, how it was read).
    """
    new = {}
    for i in rows:
        got = _no_place(profile, values[i], postcodes[i], kinds[i])
        if got:
            new[int(i)] = got
    if not new:
        return out
    at = np.fromiter(new, np.intp, len(new))
    dtypes = profile._dtypes
    for col in dict.fromkeys(k for r in new.values() for k in r):
        if col not in out.columns:
            continue
        arr = out[col].to_numpy(dtype=object, copy=True)
        arr[at] = [new[i].get(col, arr[i]) for i in at]
        kind = {"team": "team", "likely_team": "team", "status": "status", "method": "method",
                "catchment_school": "school"}.get(col)
        if kind:
            arr = pd.Categorical([v if isinstance(v, str) else None for v in arr], dtype=dtypes[kind])
        elif out[col].dtype == bool:
            arr = arr.astype(bool)
        elif out[col].dtype.kind == "f":
            arr = np.array([np.nan if v is None else v for v in arr], dtype=float)
        out[col] = arr
    return out
