"""A national postcode file answers exactly as the council's subset does (real rows copied into a
made-up GB-layout ``codepo_gb.zip``; benchmarks/make_gb_codepoint.py writes it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import heart_geo

pytestmark = [pytest.mark.realdata, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def national(data_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gb")
    for d in data_dir.iterdir():
        if d.is_dir() and "codepoint" not in d.name:
            (folder / d.name).symlink_to(d)
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_gb_codepoint.py"), str(folder / "codepo_gb_2025"),
                    "--data-dir", str(data_dir), "--rows", "300000"], check=True, capture_output=True)
    return folder


@pytest.mark.parametrize("name", ["east_ayrshire", "north_ayrshire"])
@pytest.mark.usefixtures("cache_dir")
def test_national_file_gives_the_same_answers_as_the_subset(national, data_dir, name):
    sub = heart_geo.load_profile(name, data_dir=data_dir)
    nat = heart_geo.load_profile(name, data_dir=national)
    assert len(nat._elsewhere["keys"]) > 250_000  # the made-up rest of GB is kept compactly
    newest = heart_geo.read_postcodes(list(sub.release("postcodes").files))
    pcs = newest["postcode"].tolist()
    a = sub.allocate(pcs).drop(columns=["detail"])
    b = nat.allocate(pcs).drop(columns=["detail"])
    pd.testing.assert_frame_equal(a, b)
    # the made-up postcodes of the rest of GB: outside_area, naming their council, with their point
    el = nat._elsewhere
    made_up = np.flatnonzero(np.char.startswith(el["codes"][el["council"]], b"E0"))
    rest = [k.decode() for k in el["keys"][made_up[:: len(made_up) // 500]]]
    out = nat.allocate(rest)
    assert (out["status"] == "outside_area").all() and out["team"].isna().all()
    assert out["detail"].str.contains(r"postcode is in council E0").all()
    assert np.isfinite(out["easting"]).all()
    # a warm load from the cache answers the same
    warm = heart_geo.load_profile(name, data_dir=national)
    pd.testing.assert_frame_equal(warm.allocate(pcs[:500]), nat.allocate(pcs[:500]))
