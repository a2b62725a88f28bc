"""Shared fixtures: the made-up Testshire council, and the real data folder when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def testshire(tmp_path_factory):
    """Testshire profile built from files written in code (real formats, made-up places)."""
    from heart_geo.testing import make_profile

    return make_profile(tmp_path_factory.mktemp("testshire"))


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
