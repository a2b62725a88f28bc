"""Accessibility that needs no browser: team colours colour-blind people can tell apart (issue 20).

The browser checks (axe-core on every tab, in the map frame, by keyboard) are in
``tests/test_dashboard_a11y.py``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import heart_geo
from heart_geo import explore
from heart_geo.services import SERVICE_KINDS

#: Machado, Oliveira and Fernandes (2009), severity 1.0: linear-RGB simulation matrices.
CVD = {
    "none": np.eye(3),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}
#: Smallest colour difference (CIE76 ΔE) between two teams' colours, as each kind of colour vision
#: sees them (20 is about the difference between clearly different named colours). The palette is
#: chosen from Paul Tol's and Okabe & Ito's colour-blind-safe sets to keep every pair above it.
MIN_DELTA_E = 20.0


def _lab(hex_colour: str, vision: str) -> np.ndarray:
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    lin = np.clip(CVD[vision] @ lin, 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ lin
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def delta_e(a: str, b: str, vision: str) -> float:
    """CIE76 colour difference of two colours as seen with ``vision``."""
    return float(np.linalg.norm(_lab(a, vision) - _lab(b, vision)))


@pytest.mark.parametrize("name", heart_geo.list_profiles())
@pytest.mark.parametrize("vision", list(CVD))
def test_team_colours_tell_apart_in_every_kind_of_colour_vision(name, vision) -> None:
    from heart_geo.config import read_config

    teams = read_config(name).teams
    worst = min(((delta_e(a.colour, b.colour, vision), a.name, b.name)
                 for a, b in itertools.combinations(teams, 2)), default=(99.0, "", ""))
    assert worst[0] >= MIN_DELTA_E, worst


def test_the_old_palette_fails_the_check() -> None:
    """The check can fail: ColorBrewer Dark2 (the teams' earlier colours) has pairs too close for a deutan."""
    dark2 = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"]
    assert min(delta_e(a, b, "deuteranopia") for a, b in itertools.combinations(dark2, 2)) < MIN_DELTA_E


@pytest.mark.parametrize("name", heart_geo.list_profiles())
def test_no_service_layer_reuses_a_team_colour(name) -> None:
    from heart_geo.config import read_config

    teams = [t.colour for t in read_config(name).teams]
    for kind in SERVICE_KINDS.values():
        for team in teams:
            assert delta_e(kind.colour, team, "none") >= MIN_DELTA_E, (kind.label, team)


def test_the_legend_is_small_and_folds(testshire) -> None:
    html = explore.coverage_map(testshire).get_root().render()
    assert "<details" in html and "hg-legend" in html  # the key folds away
    assert "user-scalable=no" not in html and "maximum-scale=1" not in html  # zoom allowed
