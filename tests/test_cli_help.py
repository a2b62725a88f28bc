"""The command line's help in plain words: every command and option described; ``teams`` fits 100 columns."""

from __future__ import annotations

import argparse
import re

import pytest

from heart_geo.cli import _parser, main
from heart_geo.testing import write_test_data

#: Codes and column names that must not stand in for words in help texts.
CODES = re.compile(r"\b(unknown_postcode|nearest_team|outside_area|missing_location|invalid_postcode|"
                   r"service_name|service_kind|[a-z]+_[a-z_]+col)\b")


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("heart-geo",)):
    """Yield (path, action) for every action of the parser and of all its subcommands."""
    for action in parser._actions:
        yield path, action
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))


def test_every_command_and_option_is_described():
    seen_commands, seen_options = set(), 0
    for path, action in _walk(_parser()):
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                seen_commands.add((*path, name))
                assert helps.get(name), f"{' '.join(path)} {name}: no one-line help"
                assert sub.description and sub.description.endswith("."), f"{' '.join(path)} {name}: no description"
                assert sub.description.lower().startswith(helps[name].lower())
            continue
        seen_options += 1
        where = f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}"
        assert action.help and action.help != argparse.SUPPRESS, f"{where}: no help"
        assert not CODES.search(action.help), f"{where}: a code or column name instead of words: {action.help}"
    # the walk reached every command, the two under "data" too
    assert {c[-1] for c in seen_commands} >= {"lookup", "assign", "links", "export", "validate", "teams",
                                              "services", "profiles", "dashboard", "data", "fetch", "where"}
    assert seen_options > 60


@pytest.mark.parametrize("command", [[], ["assign"], ["dashboard"], ["data", "fetch"]])
def test_help_fits_100_columns(command, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as e:
        main([*command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100
    assert "{lookup," not in out  # commands listed one a line, not as a set


def _teams(args, monkeypatch, capsys, columns=100) -> str:
    monkeypatch.setenv("COLUMNS", str(columns))
    assert main([*args, "teams"]) == 0
    return capsys.readouterr().out


def _check_teams_text(out: str, profile, width: int = 100) -> None:
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= width, [line for line in lines if len(line) > width]
    blocks = out.split("\n\n")
    assert [b.splitlines()[0] for b in blocks[1:]] == profile.team_names  # one block per team, in order
    summary = profile.team_summary()
    for block, row in zip(blocks[1:], summary.to_dict("records"), strict=True):
        words = " ".join(block.split())  # the wrapping undone
        assert f"Postcodes: {row['postcodes']:,}" in words
        assert f"Area: {row['area_km2']:,} km²" in words
        if "children" in row:  # population loaded
            assert f"People: {row['population']:,}, of whom {row['children']:,} children aged 0-17" in words
        if row.get("schools"):
            assert f"Schools: {row['schools']}: " in words
            for name in row["school_names"].split(", "):
                assert name in words
    assert not CODES.search(out) and "_" not in out.split("\n")[0]


def test_teams_fits_100_columns_testshire(tmp_path, monkeypatch, capsys, cache_dir):  # noqa: ARG001
    import heart_geo

    toml = write_test_data(tmp_path / "ts")
    args = ["--profile", str(toml), "--data-dir", str(tmp_path / "ts")]
    out = _teams(args, monkeypatch, capsys)
    _check_teams_text(out, heart_geo.load_profile(str(toml), data_dir=tmp_path / "ts"))
    narrow = _teams(args, monkeypatch, capsys, columns=70)
    assert max(len(line) for line in narrow.splitlines()) <= 70
    assert " ".join(narrow.split()) == " ".join(out.split())  # the same words, only wrapped differently


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["east_ayrshire", "north_ayrshire"])
def test_teams_fits_100_columns_real_data(name, data_dir, monkeypatch, capsys):
    import heart_geo

    out = _teams(["--profile", name, "--data-dir", str(data_dir)], monkeypatch, capsys)
    _check_teams_text(out, heart_geo.load_profile(name, data_dir=data_dir))


def test_readme_table_of_commands_says_what_the_help_says():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The commands", 1)[1].split("\n## ", 1)[0]
    table = dict(re.findall(r"^\| `([a-z ]+)` \| (.+?) \|$", section, re.M))
    helps = {}
    for path, action in _walk(_parser()):
        if isinstance(action, argparse._SubParsersAction):
            for a in action._choices_actions:
                helps[" ".join((*path[1:], a.dest))] = a.help
    helps.pop("data")  # listed as its two commands
    assert table == helps
