"""One figure per fact: the counts every output gives come from here, one function per fact.

``repr(profile)``, ``heart-geo validate`` (text and ``--json``), ``heart-geo teams``, the export
(its layers and its summary line) and the dashboard's Teams tab and data notes all take their counts
of postcodes and of areas in no team from these functions, so one word means one number everywhere:

* **postcodes** of a council are its *current* postcodes (the newest release, not terminated);
  the council's *terminated* postcodes (kept from older releases, each answered with the team of its
  last location) are counted beside them, never among the postcodes "not allocated";
* **postcodes in the data** are every postcode the postcode files hold (all councils);
* **gaps** are parts of the council in no catchment of the data; a **catchment of no team** (East
  Ayrshire: Carrick Academy's, in South Ayrshire) is counted beside them; together they are the
  **areas in no team**, one feature each in the export's ``gaps`` layer.
"""

from __future__ import annotations

import numpy as np

from .codes import ALLOCATED, NEAREST

__all__ = ["no_team_areas", "postcode_counts"]


def postcode_counts(profile) -> dict:
    """Count a council's postcodes, each figure under one name.

    Returns
    -------
    dict
        ``current`` (the council's current postcodes), ``allocated`` and ``nearest_team`` (of the
        current ones; ``other`` with any other status, such as no grid reference), ``terminated``
        (the council's postcodes no longer in use, each with the team of its last location),
        ``in_data`` (every postcode of the postcode files, all councils), and ``by_team``:
        ``{team: {"allocated": n, "nearest_team": n, "terminated": n}}`` in profile order.
    """
    mine = profile._pc_council == profile.code
    term = profile.postcodes["terminated"].to_numpy(dtype=bool)
    status = profile._pc_result.status
    team = profile._pc_result.team
    cur = mine & ~term
    gone = mine & term
    by_team = {}
    for k, name in enumerate(profile.team_names):
        here = team == k
        by_team[name] = {"allocated": int((cur & here & (status == ALLOCATED)).sum()),
                         "nearest_team": int((cur & here & (status == NEAREST)).sum()),
                         "terminated": int((gone & here).sum())}
    allocated = int((cur & (status == ALLOCATED)).sum())
    nearest = int((cur & (status == NEAREST)).sum())
    return {
        "current": int(cur.sum()),
        "allocated": allocated,
        "nearest_team": nearest,
        "other": int(cur.sum()) - allocated - nearest,
        "terminated": int(gone.sum()),
        "in_data": int(len(profile.postcodes) + len(profile._elsewhere["keys"])),
        "by_team": by_team,
    }


def no_team_areas(profile) -> dict:
    """Count the parts of a council in no team: gaps in the data and catchments of no team.

    Returns
    -------
    dict
        ``gaps`` and ``gap_km2`` (parts of the council in no catchment of the data, 1 ha or more),
        ``catchments_of_no_team``, and ``areas`` (their sum: the features of the export's ``gaps``
        layer).
    """
    kind = profile.gaps["kind"].to_numpy(dtype=object)
    gap = kind == "gap"
    return {
        "gaps": int(gap.sum()),
        "gap_km2": round(float(np.asarray(profile.gaps["area_km2"], dtype=float)[gap].sum()), 2),
        "catchments_of_no_team": int((kind == "other_catchment").sum()),
        "areas": int(len(kind)),
    }
