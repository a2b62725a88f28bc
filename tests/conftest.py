"""Shared fixtures: the made-up Testshire council, the real data folder when present, a cache per test.

* ``testshire``: Testshire's profile, loaded once for the session;
* ``ts``: a folder of Testshire's files (real formats, made-up places) for each test module, which
  its tests may add files to;
* ``data_dir``: the official datasets folder (``HEART_GEO_DATA``); a test asking for it is skipped
  when there is none; ``east``, ``north``: the real profiles loaded from it;
* ``cache_dir``: a derived-data cache of the test's own (``HEART_GEO_CACHE``), for tests that check
  caching or must not share built data: ``pytestmark = pytest.mark.usefixtures("cache_dir")`` gives
  one to every test of a module.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def testshire(tmp_path_factory):
    """Testshire profile built from files written in code (real formats, made-up places)."""
    from heart_geo.testing import make_profile

    return make_profile(tmp_path_factory.mktemp("testshire"))


@pytest.fixture(scope="module")
def ts(tmp_path_factory) -> Path:
    """Testshire's files written to a new folder, once per test module."""
    from heart_geo.testing import write_test_data

    d = tmp_path_factory.mktemp("ts")
    write_test_data(d)
    return d


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    """``HEART_GEO_CACHE`` pointed at ``tmp_path / "cache"`` for this test (the folder is made on use)."""
    from heart_geo.settings import CACHE_ENV

    d = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(d))
    return d


def _data_dir() -> Path | None:
    d = os.environ.get("HEART_GEO_DATA")
    return Path(d) if d and Path(d).is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = _data_dir()
    if d is None:
        pytest.skip("real data not available: set HEART_GEO_DATA to the official datasets folder")
    return d


@pytest.fixture(scope="session")
def east(data_dir):
    from heart_geo import load_profile

    return load_profile("east_ayrshire", data_dir=data_dir)


@pytest.fixture(scope="session")
def north(data_dir):
    from heart_geo import load_profile

    return load_profile("north_ayrshire", data_dir=data_dir)


# the Streamlit server fixture of the browser tests, shared by every test module
from browser_harness import streamlit_server  # noqa: E402, F401
