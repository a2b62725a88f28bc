"""Postcode spelling: normalise any common spelling, or find a postcode inside an address.

``KA18 1FQ``, ``ka18 1fq``, ``KA181FQ`` (Code-Point Open's 7-character form), `` KA18   1FQ ``
and ``"The Barony Campus, Auchinleck Road, Cumnock KA18 1FQ"`` all normalise to ``"KA18 1FQ"``.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

_OUTWARD = r"(?:GIR(?=\s*0AA)|[A-Z]{1,2}[0-9][A-Z0-9]?)"  # GIR 0AA: the one non-standard postcode
_INWARD = r"[0-9][A-Z]{2}"
_FULL = re.compile(rf"^({_OUTWARD})({_INWARD})$")
_DASHES = str.maketrans({"\u2212": "-", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-",
                         "\u2014": "-", "\ufe63": "-", "\uff0d": "-"})


def clean_text(text: str) -> str:
    """Return text as people paste it, made comparable.

    Full-width and compatibility characters folded (NFKC: "ＫＡ１８" -> "KA18"), invisible format
    characters (zero-width space and joiners, soft hyphen, byte-order mark) removed, Unicode minus
    signs and dashes made "-". ASCII is returned unchanged, at no cost.
    """
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKC", text).translate(_DASHES)
    if not text.isascii():
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return text
_IN_TEXT = re.compile(rf"(?<![A-Z0-9])({_OUTWARD})\s*({_INWARD})(?![A-Z0-9])")
_SPACE = re.compile(r"\s+")


def normalise_postcode(text: object) -> str | None:
    """Return a postcode in its standard spelling, or None if ``text`` holds none.

    Parameters
    ----------
    text : str
        A postcode in any common spelling, or an address containing one.

    Returns
    -------
    str or None
        Upper case, outward and inward codes separated by one space.

    Examples
    --------
    >>> normalise_postcode("ka18 1fq")
    'KA18 1FQ'
    >>> normalise_postcode("KA181FQ")
    'KA18 1FQ'
    >>> normalise_postcode("Auchinleck Road, Cumnock, KA18 1FQ")
    'KA18 1FQ'
    >>> normalise_postcode("not a postcode") is None
    True
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    s = clean_text(str(text)).upper()
    m = _FULL.match(_SPACE.sub("", s))
    if m:
        return f"{m.group(1)} {m.group(2)}"
    found = {f"{o} {i}" for o, i in _IN_TEXT.findall(s)}
    if len(found) == 1:
        return found.pop()
    return None  # none, or two different postcodes: which is home cannot be known


def postcodes_in_text(text: object) -> list[str]:
    """Every different postcode in a text, in order of first appearance (normalised)."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return []
    s = clean_text(str(text)).upper()
    m = _FULL.match(_SPACE.sub("", s))
    if m:
        return [f"{m.group(1)} {m.group(2)}"]
    return list(dict.fromkeys(f"{o} {i}" for o, i in _IN_TEXT.findall(s)))


def normalise_postcodes(values: pd.Series | list) -> tuple[pd.Series, pd.Series]:
    """Vectorised :func:`normalise_postcode` for a batch.

    Returns
    -------
    postcodes : pandas.Series of str (None where no postcode)
    kind : pandas.Series of {"postcode", "address", "empty", "invalid", "ambiguous"}
        How each value was read: a bare postcode, a postcode found inside longer text, nothing given,
        text with no postcode in it, or text holding two different postcodes (no postcode is taken:
        which one is home cannot be known).
    """
    s = pd.Series(values, dtype=object).reset_index(drop=True)
    if len(s) <= 64:  # a handful: plain Python beats pandas' string machinery
        return _normalise_few(s)
    text = s.where(s.notna(), "").astype(str)
    upper = text.str.upper()
    compact = upper.str.replace(r"\s+", "", regex=True)
    parts = compact.str.extract(_FULL)
    bare = parts[0].notna()
    out = pd.Series([None] * len(s), dtype=object)
    out[bare] = parts[0][bare] + " " + parts[1][bare]
    kind = pd.Series(np.where(bare, "postcode", "invalid"), dtype=object)
    empty = compact.eq("")
    kind[empty] = "empty"
    rest = ~bare & ~empty
    if rest.any():  # addresses, and text with full-width or invisible characters
        idx = np.flatnonzero(rest.to_numpy())
        found, how = _normalise_few(s.iloc[idx])
        out.iloc[idx] = found.to_numpy()
        kind.iloc[idx] = how.to_numpy()
    return out, kind


def _normalise_few(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    out, kind = normalise_postcode_list(s)
    return pd.Series(out, dtype=object), pd.Series(kind, dtype=object)


def normalise_postcode_list(values) -> tuple[list[str | None], list[str]]:
    """:func:`normalise_postcodes` for a handful of values, as two plain lists (no pandas).

    Examples
    --------
    >>> normalise_postcode_list(["ka18 1fq", "", "Cumnock KA18 1FQ", "no postcode here"])
    (['KA18 1FQ', None, 'KA18 1FQ', None], ['postcode', 'empty', 'address', 'invalid'])
    """
    out, kind = [], []
    for v in values:
        text = "" if v is None or (isinstance(v, float) and np.isnan(v)) else clean_text(str(v))
        if not _SPACE.sub("", text):
            out.append(None)
            kind.append("empty")
            continue
        text = text.upper()
        m = _FULL.match(_SPACE.sub("", text))
        if m:
            out.append(f"{m.group(1)} {m.group(2)}")
            kind.append("postcode")
            continue
        found = list(dict.fromkeys(f"{o} {i}" for o, i in _IN_TEXT.findall(text)))
        if len(found) == 1:
            out.append(found[0])
            kind.append("address")
        else:  # two different postcodes in one address: never pick one silently
            out.append(None)
            kind.append("ambiguous" if found else "invalid")
    return out, kind


def postcode_sector(postcode: str) -> str:
    """Return the sector of a normalised postcode (``"KA23 9NZ"`` -> ``"KA23 9"``)."""
    return postcode[:-2]


def postcode_district(postcode: str) -> str:
    """Return the district (outward code) of a normalised postcode (``"KA23 9NZ"`` -> ``"KA23"``)."""
    return postcode.split(" ", 1)[0]
