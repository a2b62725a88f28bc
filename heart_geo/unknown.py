"""What a profile says about a postcode the data does not (or no longer) hold.

A terminated postcode is answered from its last known place, with why it is terminated; a
well-formed postcode in no release gets, instead of a team, the team holding most known postcodes of
its sector (:meth:`likely_team`, a hint), or the council holding its sector, or a note that its
district has postcodes in the council. Mixed into :class:`heart_geo.profiles.Profile`.
"""

from __future__ import annotations

import csv
import functools
from functools import cached_property

import numpy as np
import pandas as pd

from .config import profiles_dir
from .postcodes import normalise_postcode, postcode_district, postcode_sector

__all__ = ["UnknownPostcodes"]


class UnknownPostcodes:
    """The answers of a :class:`heart_geo.profiles.Profile` for postcodes its data does not hold."""

    def _terminated_detail(self, i: int) -> str:
        """Why a postcode is terminated: gone from the newest release, or marked so by the ONSPD."""
        seen = str(self.postcodes["release"].iat[i]) if "release" in self.postcodes else ""
        newest = self.release("postcodes")
        if newest is not None and seen and seen != newest.label:
            return (f"postcode not in {self._product()}; last seen in {seen}: team from its location "
                    "then (check the family's current postcode)")
        return ("postcode no longer in use (terminated in the postcode data); team from its last known "
                "location")

    @cached_property
    def _sectors(self) -> tuple[dict, dict, dict]:
        """Postcode sectors: the council's teams per sector, and which council holds other sectors.

        Returns ``({sector: {team index: count}}, {sector: council code}, {district: count in council})``
        from the current postcodes (the newest release, not terminated).
        """
        pcs = self.postcodes
        cur = ~pcs["terminated"].to_numpy(dtype=bool)
        sector = pcs["postcode"].map(postcode_sector).to_numpy(dtype=object)
        mine = cur & (self._pc_council == self.code) & (self._pc_result.team >= 0)
        teams: dict[str, dict[int, int]] = {}
        for sec, t in zip(sector[mine], self._pc_result.team[mine], strict=True):
            d = teams.setdefault(sec, {})
            d[int(t)] = d.get(int(t), 0) + 1
        other = pd.DataFrame({"sector": sector[cur], "council": self._pc_council[cur]})
        other = other[other["council"] != ""]
        holder = (other.groupby("sector")["council"].agg(lambda c: c.value_counts().index[0]).to_dict()
                  if len(other) else {})
        districts: dict[str, int] = {}
        for pc in pcs["postcode"].to_numpy(dtype=object)[cur & (self._pc_council == self.code)]:
            d = postcode_district(pc)
            districts[d] = districts.get(d, 0) + 1
        return teams, holder, districts

    def likely_team(self, postcode: str) -> tuple[str, int, int] | None:
        """Return the team holding most known postcodes of a postcode's sector: (team, count, total), or None.

        A hint for a postcode newer than the data, never an allocation.
        """
        pc = normalise_postcode(postcode)
        counts = self._sectors[0].get(postcode_sector(pc)) if pc else None
        if not counts:
            return None
        best = max(counts, key=lambda t: (counts[t], -t))  # ties: the team listed first
        return self.team_names[best], counts[best], sum(counts.values())

    def _unknown_answer(self, pc: str) -> tuple[str, str | None, str]:
        """(status, likely team, detail) for a well-formed postcode in no release of the data."""
        _teams, holder, districts = self._sectors
        sec = postcode_sector(pc)
        where = f"not in the postcode data ({self._product()})"
        likely = self.likely_team(pc)
        if likely:
            name, n, total = likely
            share = (f"all {total:,} known postcodes in sector {sec} are in {name}" if n == total
                     else f"{n:,} of {total:,} known postcodes in sector {sec} are in {name}, "
                          "the largest share: check by hand")
            return "unknown_postcode", name, f"{where}; likely {name}: {share}"
        code = holder.get(sec) or self._elsewhere_holder(sec + " " if " " not in sec else sec)
        if code:
            return "outside_area", None, (f"{where}; its sector {sec} is in {self._council_label(code)}, "
                                          f"not {self.name} ({self.code})")
        dist = postcode_district(pc)
        if districts.get(dist):
            return "unknown_postcode", None, (
                f"{where}; sector {sec} is new to the data, and district {dist} has "
                f"{districts[dist]:,} postcodes in {self.name}: check the address by hand")
        return "outside_area", None, (f"{where}; no known postcode of sector {sec} or district {dist} "
                                      f"is in {self.name} ({self.code})")

    def _elsewhere_holder(self, prefix: str) -> str | None:
        """Return the council holding most of the compactly kept postcodes that start with ``prefix``."""
        keys = self._elsewhere["keys"]
        if not len(keys):
            return None
        b = prefix.encode()
        lo, hi = np.searchsorted(keys, b, "left"), np.searchsorted(keys, b + b"\xff", "left")
        if hi <= lo:
            return None
        counts = np.bincount(self._elsewhere["council"][lo:hi])
        return self._elsewhere["codes"][int(np.argmax(counts))].decode()

    def _council_label(self, code: str) -> str:
        name = _council_names().get(code)
        return f"{name} ({code})" if name else (f"council {code}" if code else "another council")

    def _outside_detail(self, code: str) -> str:
        return f"postcode is in {self._council_label(code)}, not {self.name} ({self.code})"


@functools.lru_cache(maxsize=1)
def _council_names() -> dict[str, str]:
    """GSS council area codes to names (``boundaries/council_areas.csv``), for messages."""
    path = profiles_dir() / "council_areas.csv"
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8", newline="") as fh:
        return {r["code"]: r["name"] for r in csv.DictReader(fh)}
