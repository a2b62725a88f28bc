"""The profile's configuration: read once into checked dataclasses, unknown keys rejected."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib
from pathlib import Path

import pytest

from heart_geo import codes
from heart_geo.config import Override, ProfileConfig, Service, Source, Team, _check_config, profiles_dir, read_config
from heart_geo.errors import ProfileError
from heart_geo.settings import METHODS, STATUSES


def test_shipped_profiles_read_into_typed_objects():
    cfg = read_config("east_ayrshire")
    assert isinstance(cfg, ProfileConfig) and cfg.key == "east_ayrshire"
    assert cfg.council.code == "S12000008" and cfg.council.effective_from == dt.date(2022, 4, 4)
    assert all(isinstance(t, Team) for t in cfg.teams) and cfg.teams[0].name == "Stewarton"
    assert all(isinstance(s, Service) and s.mode in ("team", "link_worker") for s in cfg.services)
    assert all(isinstance(s, Source) for s in cfg.sources.values())
    assert cfg.sources["catchments"].layer == "pub_schlsn" and not cfg.sources["catchments"].is_service
    assert cfg.sources["care_services"].is_service
    north = read_config("North Ayrshire")  # by display name
    assert north.overrides and all(isinstance(o, Override) for o in north.overrides)
    assert {o.kind for o in north.overrides} <= {"postcode", "sector", "district", "wkt"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.council.name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(("old", "new", "message"), [
    ("[council]\n", "foo = 1\n[council]\n", "the profile has unknown keys ['foo']"),
    ('colour = "#4477AA"', 'color = "#4477AA"', "teams[0] has unknown keys ['color']"),
    ('layer = "pub_schlsn"', 'layr = "pub_schlsn"', "[sources.catchments] has unknown keys ['layr']"),
    ('unit = "team"', 'unit = "team"\nunits = "team"', "council has unknown keys ['units']"),
    ('name = "Stewarton"\n', "", "teams[0] needs 'name'"),
    ("asn = []", 'asn = [{ name = "x" }]', "council_wide_schools.asn[0] needs 'seed_code'"),
])
def test_unknown_and_missing_keys_are_named(old, new, message):
    text = (profiles_dir() / "east_ayrshire.toml").read_text(encoding="utf-8")
    assert old in text
    with pytest.raises(ProfileError) as info:
        _check_config(tomllib.loads(text.replace(old, new, 1)), Path("p.toml"))
    assert message in str(info.value)


def test_codes_are_the_positions_of_their_words():
    assert STATUSES is codes.STATUSES and METHODS is codes.METHODS
    assert STATUSES[codes.TERMINATED] == "terminated_postcode"
    assert STATUSES[codes.INVALID_COORDINATES] == "invalid_coordinates"
    assert METHODS[codes.M_UPRN] == "uprn"
