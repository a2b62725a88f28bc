"""Services in each team, and the link workers that connect the services too small to split."""

from __future__ import annotations

import pandas as pd

__all__ = ["services_for_team", "services_table"]


def services_table(profile) -> pd.DataFrame:
    """One row per (team, service): how the service reaches the team.

    Returns
    -------
    pandas.DataFrame
        Columns ``team``, ``service``, ``mode`` ({"team", "link_worker"}), ``link_worker_covers``
        (the teams one link worker serves, for link-worker services), ``description``.

    Examples
    --------
    >>> from heart_geo.testing import make_profile
    >>> t = services_table(make_profile())
    >>> sorted(t["mode"].unique())
    ['link_worker', 'team']
    """
    rows = []
    for svc in profile.config.get("services", []):
        mode = svc["mode"]
        if mode == "team":
            for team in profile.team_names:
                rows.append((team, svc["name"], "team", "", svc.get("description", "")))
            continue
        for lw in svc.get("link_workers", []):
            covers = lw.get("covers", [])
            for team in covers:
                rows.append((team, svc["name"], "link_worker", ", ".join(covers), svc.get("description", "")))
    return pd.DataFrame(rows, columns=["team", "service", "mode", "link_worker_covers", "description"])


def services_for_team(profile, team: str) -> dict[str, list[str]]:
    """The services a team has in it and those it reaches through link workers.

    Raises
    ------
    ValueError
        If ``team`` is not one of the profile's teams.
    """
    if team not in profile.team_names:
        raise ValueError(f"team {team!r} is not one of {profile.team_names}")
    t = services_table(profile)
    t = t[t["team"] == team]
    return {
        "in_team": t.loc[t["mode"] == "team", "service"].tolist(),
        "link_workers": t.loc[t["mode"] == "link_worker", "service"].tolist(),
    }
