"""Text for a terminal: ``heart-geo teams`` as one block per team, wrapped to the terminal's width.

A table with one line per team is as wide as its longest list of schools (almost 1,000 columns on the
real data), so each team gets a block of labelled lines instead, and what every team shares (the
model's services, the council-wide schools) is said once at the top.
"""

from __future__ import annotations

import re
import textwrap

import pandas as pd

from ._util import plural

__all__ = ["team_blocks", "wrapped"]

#: Narrowest width the blocks are wrapped to, whatever the terminal says.
MIN_WIDTH = 60
_LABEL_WIDTH = 18
#: Columns of the team summary that are often the same for every team: said once when they are.
_SHARED = ("services_in_team", "services_by_link_worker", "links_with_council_wide_schools")


def wrapped(label: str, value, width: int, *, indent: int = 2, label_width: int = 0) -> str:
    """Return ``label value`` wrapped to ``width``; following lines start under the value (or the label).

    Examples
    --------
    >>> print(wrapped("Schools:", "Ayr Academy, Belmont Academy, Kyle Academy", 34, label_width=9))
      Schools:  Ayr Academy, Belmont
                Academy, Kyle Academy
    """
    head = " " * indent + label.ljust(label_width) + " "
    rest = " " * (len(head) if label_width else indent + 2)
    return textwrap.fill(str(value), width, initial_indent=head, subsequent_indent=rest, break_on_hyphens=False)


def team_blocks(profile, width: int) -> str:
    """Return the teams of a profile as text: a heading, what all share, then one block per team.

    Parameters
    ----------
    profile : heart_geo.Profile
        The council (its :meth:`~heart_geo.Profile.team_summary` gives the figures).
    width : int
        The terminal's width in columns (at least :data:`MIN_WIDTH` is used); no line is longer.

    Returns
    -------
    str
        Blocks separated by one empty line; each starts with the team's name.
    """
    width = max(MIN_WIDTH, width)
    rows = profile.team_summary().to_dict("records")
    unit = profile.unit
    shared = {k: rows[0][k] for k in _SHARED
              if k in rows[0] and rows[0][k] and len(rows) > 1 and all(r[k] == rows[0][k] for r in rows)}
    out = [f"{profile.name}: {len(rows)} {plural(unit)}"]
    for key, label in (("services_in_team", f"Services in every {unit}"),
                       ("services_by_link_worker", f"Link workers for every {unit}"),
                       ("links_with_council_wide_schools", f"Council-wide schools (linked with every {unit})")):
        if key in shared:
            out.append(wrapped(f"{label}:", shared[key], width))
    names = (dict(zip(profile.schools["seed_code"], profile.schools["name"], strict=True))
             if profile.schools is not None else {})
    for team, r in zip(profile.teams, rows, strict=True):
        catchment = ", ".join(names.get(code, name) for code, name in team.schools)  # names in their usual case
        out += ["", r[unit], *(wrapped(f"{label}:", value, width, label_width=_LABEL_WIDTH)
                               for label, value in _team_lines(r, catchment, shared, unit) if value)]
    return "\n".join(out)


def _known(v) -> bool:
    return v is not None and not pd.isna(v)


def _per_1000(r: dict) -> str:
    rate = r.get("services_per_1000_children")
    return f"; {rate:,.2f} per 1,000 children" if _known(rate) else ""


def _population_lines(r: dict, unit: str) -> list[tuple[str, str]]:
    """Return the people and children lines of a team's block (none when population is not loaded)."""
    if not _known(r.get("children")):
        return []
    bands = [(m.group(1), m.group(2), r[k]) for k in r if (m := re.fullmatch(r"children_(\d+)_(\d+)", k))]
    by_age = ", ".join(f"{lo}-{hi}: {n:,}" for lo, hi, n in bands if _known(n))
    lines = [("People", f"{r['population']:,}, of whom {r['children']:,} children aged 0-17"
              + (f" (aged {by_age})" if by_age else ""))]
    if _known(r.get("children_simd_q1_share")):
        lines.append(("Most deprived", f"{r['children_simd_q1']:,} children ({r['children_simd_q1_share']:.0%}) live "
                      "in the most deprived fifth of Scotland's data zones (SIMD)"))
    if r.get("children_in_split_zones"):
        lines.append(("Shared zones", f"{r['children_in_split_zones']:,} of the children live in data zones shared "
                      f"with another {unit}: shared out by postcodes, so an estimate"))
    return lines


def _team_lines(r: dict, catchment: str, shared: dict, unit: str) -> list[tuple[str, str]]:
    """Return the (label, text) lines of one team's block; an empty text leaves its line out."""
    near = r["postcodes_nearest"]
    lines = [
        ("Catchment", catchment),
        ("Postcodes", f"{r['postcodes']:,}" + (f", and {near:,} more nearest to it (in no catchment)" if near else "")),
        ("Area", f"{r['area_km2']:,} km²"),
        ("Services here", "" if "services_in_team" in shared else r["services_in_team"]),
        ("Link workers", "" if "services_by_link_worker" in shared else r["services_by_link_worker"]),
        *_population_lines(r, unit),
        ("Services present", f"{r['services_present']:,} ({r['services_by_kind']})" + _per_1000(r)
         if r["services_present"] else "none found in the data"),
    ]
    if "schools" in r:
        lines.append(("Schools", f"{r['schools']}: {r['school_names']}" if r["schools"] else "none"))
        if "links_with_council_wide_schools" not in shared:
            lines.append(("Council-wide", r["links_with_council_wide_schools"] or "none"))
    return lines
