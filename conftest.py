"""Doctests of ``heart_geo/`` (run by ``--doctest-modules``, see pyproject): what they may import and need.

* Streamlit scripts are run, never imported: the dashboard and the browser tests' little apps are
  not collected.
* An example that loads a real council profile (``load_profile("east_ayrshire")``) needs the official
  datasets: it runs when ``HEART_GEO_DATA`` names a folder and is skipped otherwise.
* Derived data built by an example goes to a temporary cache, never the user's, unless
  ``HEART_GEO_CACHE`` is set.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

collect_ignore = ["heart_geo/app/dashboard.py", "tests/apps"]

#: the council profiles shipped in boundaries/, whose examples read the official datasets
REAL_PROFILES = tuple(sorted(p.stem for p in (ROOT / "boundaries").glob("*.toml")))


def _needs_real_data(item: pytest.DoctestItem) -> bool:
    sources = "".join(ex.source for ex in item.dtest.examples)
    return any(f'"{key}"' in sources or f"'{key}'" in sources for key in REAL_PROFILES)


@pytest.fixture(autouse=True)
def _doctest_environment(request, tmp_path_factory, monkeypatch):
    if not isinstance(request.node, pytest.DoctestItem):
        return
    if _needs_real_data(request.node):
        d = os.environ.get("HEART_GEO_DATA")
        if not (d and Path(d).is_dir()):
            pytest.skip("real data not available: set HEART_GEO_DATA to the official datasets folder")
    if not os.environ.get("HEART_GEO_CACHE"):
        monkeypatch.setenv("HEART_GEO_CACHE", str(tmp_path_factory.getbasetemp() / "doctest-cache"))
