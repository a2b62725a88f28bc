"""Disclosure control for counts of pupils and families.

A count of one or two children from one locality at one school can identify a child. Following the
Scottish Government's practice for official statistics, every count about pupils or families that
leaves heart_geo (link tables, link summaries, caseload counts by team and by status) shows counts
from 1 to 4 as ``<5``. Zero is shown as 0.

Secondary suppression: a total that is shown (a school's pupils, the whole caseload) would give away
a single suppressed count by subtraction. So wherever a group with a known total holds exactly one
suppressed count, the smallest other non-zero count in the group is suppressed too, shown as ``*``
(it is 5 or more, but hidden); this repeats until no group has exactly one hidden count, across every
grouping (for the link table: each school, each team, and the whole table).

Counts that are not about families (postcodes per team, schools, areas) are never suppressed.
``suppress=False`` (``--no-suppress``) gives exact counts for internal use, and the output says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "NOT_SUPPRESSED",
    "RULE",
    "SECONDARY",
    "SUPPRESSED",
    "THRESHOLD",
    "note",
    "suppress_counts",
    "suppress_frame",
    "suppress_summary",
]

#: Counts from 1 to THRESHOLD - 1 are suppressed.
THRESHOLD = 5
#: What a suppressed count shows.
SUPPRESSED = f"<{THRESHOLD}"
#: What a count hidden by secondary suppression shows (it is THRESHOLD or more).
SECONDARY = "*"
#: The rule, for outputs and captions.
RULE = (f"counts of 1 to {THRESHOLD - 1} pupils or families are shown as '{SUPPRESSED}'; where a total "
        f"would reveal one, the next smallest count is hidden too and shown as '{SECONDARY}'")
#: What outputs say when suppression is turned off.
NOT_SUPPRESSED = "exact counts, not suppressed: for internal use only, do not publish or share"


def note(suppress: bool) -> str:
    """Return the sentence an output carries about its counts."""
    return f"Disclosure control: {RULE}." if suppress else f"Disclosure control OFF: {NOT_SUPPRESSED}."


def _mask(values: np.ndarray, groups: Sequence[np.ndarray], threshold: int) -> np.ndarray:
    """Which counts to hide: primary (1..threshold-1), then secondary within each group."""
    sup = (values > 0) & (values < threshold)
    changed = True
    while changed:
        changed = False
        for g in groups:
            if len(g) == 0 or sup[g].sum() != 1:
                continue
            cand = g[~sup[g] & (values[g] > 0)]
            if cand.size:
                sup[cand[np.argmin(values[cand])]] = True
                changed = True
    return sup


def _shown(values: np.ndarray, sup: np.ndarray, threshold: int) -> np.ndarray:
    out = np.array([int(v) for v in values], dtype=object)
    out[sup & (values < threshold)] = SUPPRESSED
    out[sup & (values >= threshold)] = SECONDARY
    return out


def suppress_frame(df: pd.DataFrame, column: str, *, by: Iterable[Sequence[str]] = ((),),
                   threshold: int = THRESHOLD) -> pd.DataFrame:
    """Return a copy of ``df`` with ``column``'s counts suppressed.

    Parameters
    ----------
    by : iterable of column lists
        Groupings whose totals are (or may be) known: ``()`` is the whole table, ``("school",)`` each
        school. Secondary suppression protects every one.

    Examples
    --------
    >>> t = pd.DataFrame({"school": ["A", "A", "A"], "team": ["x", "y", "z"], "pupils": [2, 7, 9]})
    >>> suppress_frame(t, "pupils", by=[("school",)])["pupils"].tolist()
    ['<5', '*', 9]
    """
    out = df.copy()
    values = out[column].fillna(0).to_numpy(dtype=np.int64)
    groups = []
    for cols in by:
        cols = list(cols)
        if not cols:
            groups.append(np.arange(len(out)))
        else:
            groups.extend(np.asarray(ix) for ix in out.reset_index(drop=True).groupby(
                cols, dropna=False, sort=False).indices.values())
    out[column] = _shown(values, _mask(values, groups, threshold), threshold)
    return out


def suppress_counts(counts: dict, *, threshold: int = THRESHOLD) -> dict:
    """Return counts of one breakdown whose total is known (a caseload by team, or by status).

    Examples
    --------
    >>> suppress_counts({"North": 40, "East": 3, "South": 12})
    {'North': 40, 'East': '<5', 'South': '*'}
    """
    keys = list(counts)
    values = np.array([int(counts[k]) for k in keys], dtype=np.int64)
    shown = _shown(values, _mask(values, [np.arange(len(keys))], threshold), threshold)
    return dict(zip(keys, shown, strict=True))


def suppress_summary(summary: dict, *, counts: Sequence[str], totals: Sequence[tuple[str, Sequence[str]]] = (),
                     threshold: int = THRESHOLD) -> dict:
    """Return a summary dict with its counts suppressed.

    ``counts`` names the keys that are counts of pupils or families; ``totals`` gives additive
    relations ``(total, parts)`` (``("rows", ["released", "withheld"])``): when one part is
    suppressed and the total is shown, the smallest other part is suppressed too.
    """
    out = dict(summary)
    for k in counts:
        v = out.get(k)
        if isinstance(v, int | np.integer) and not isinstance(v, bool) and 0 < v < threshold:
            out[k] = SUPPRESSED
    changed = True
    while changed:
        changed = False
        for total, parts in totals:
            if total not in out or isinstance(out[total], str):
                continue
            present = [p for p in parts if p in out]
            hidden = [p for p in present if isinstance(out[p], str)]
            rest = [p for p in present if not isinstance(out[p], str) and out[p] > 0]
            if len(hidden) == 1 and rest:
                low = min(rest, key=lambda p: out[p])
                out[low] = SUPPRESSED if out[low] < threshold else SECONDARY
                changed = True
    return out
