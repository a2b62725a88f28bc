"""One figure per fact (issue 22): every output counts postcodes and gaps with one function each.

``repr(profile)``, ``validate`` (text and JSON), ``teams``, the export (layers and summary line), the
dashboard's Teams tab and data notes are compared with :mod:`heart_geo.figures` and with an
independent count from the profile's own tables. On the real data, the README's sentence of figures is
compared with what the tools print, for the release it names.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from heart_geo import answers
from heart_geo.cli import main
from heart_geo.export import layers
from heart_geo.figures import no_team_areas, postcode_counts
from heart_geo.profiles import load_profile
from heart_geo.testing import write_test_data
from heart_geo.validate import validate_profile

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def onspd(tmp_path_factory):
    """Testshire with terminated postcodes (its ONS Postcode Directory form)."""
    d = tmp_path_factory.mktemp("figures")
    toml = write_test_data(d, onspd=True)
    return load_profile(toml, data_dir=d, cache=False), d


def _independent(p) -> dict:
    a = p.postcode_allocations()
    term = a["terminated"].astype(bool).to_numpy()
    status = a["status"].astype(str).to_numpy()
    return {"current": int((~term).sum()), "terminated": int(term.sum()),
            "allocated": int(((status == "allocated") & ~term).sum()),
            "nearest_team": int(((status == "nearest_team") & ~term).sum())}


def _run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_postcode_counts_agree_everywhere(onspd, capsys):
    p, d = onspd
    n = postcode_counts(p)
    ind = _independent(p)
    assert {k: n[k] for k in ind} == ind and n["terminated"] >= 1  # the fixture has terminated postcodes
    assert n["in_data"] == len(p.postcodes) + len(p._elsewhere["keys"])
    assert f"{n['current']:,} postcodes (+{n['terminated']:,} terminated)" in repr(p)
    rep = validate_profile(p)
    assert (rep["postcodes"], rep["postcodes_allocated"], rep["postcodes_nearest_team"],
            rep["postcodes_terminated"]) == (n["current"], n["allocated"], n["nearest_team"], n["terminated"])
    assert not any(k.startswith("terminated") for k in rep["postcodes_in_no_team"])  # they have a team
    assert sum(rep["postcodes_in_no_team"].values()) == n["current"] - n["allocated"]
    assert sum(rep["terminated_by_team"].values()) == n["terminated"]
    summary = p.team_summary()
    assert summary["postcodes"].tolist() == [n["by_team"][t]["allocated"] for t in p.team_names]
    assert summary["postcodes_nearest"].tolist() == [n["by_team"][t]["nearest_team"] for t in p.team_names]
    assert [d_["postcodes"] for d_ in answers.team_details(p)] == summary["postcodes"].tolist()
    got = layers(p)
    assert got["teams"]["postcodes"].tolist() == summary["postcodes"].tolist()
    assert len(got["postcodes"]) == n["current"] + n["terminated"]
    prof = ["--profile", d / "testshire.toml", "--data-dir", d]
    code, out, _ = _run(["validate", *prof], capsys)
    assert f"Postcodes: {n['current']:,} current, {n['allocated']:,} allocated" in out
    assert f"Terminated postcodes: {n['terminated']:,}, each given the team of its last location" in out
    assert "not allocated: terminated" not in out
    code, out, _ = _run(["validate", *prof, "--json"], capsys)
    assert json.loads(out)[0]["postcodes_terminated"] == n["terminated"]


def test_gaps_agree_everywhere(testshire, tmp_path, capsys, ts):
    a = no_team_areas(testshire)
    kinds = testshire.gaps["kind"].tolist()
    assert (a["gaps"], a["catchments_of_no_team"], a["areas"]) == (kinds.count("gap"), kinds.count("other_catchment"),
                                                                   len(kinds))
    assert a["catchments_of_no_team"] >= 1  # the fixture has a catchment of no team, as East Ayrshire does
    rep = validate_profile(testshire)
    assert len(rep["gaps"]) == a["gaps"] and rep["areas_in_no_team"] == a["areas"] == len(layers(testshire)["gaps"])
    assert len(rep["other_catchments"]) == a["catchments_of_no_team"]
    notes = answers.data_notes(testshire).get("gap_summary")
    assert dict(zip(notes["kind"], notes["areas"], strict=True)) == {"gap": a["gaps"],
                                                                      "other_catchment": a["catchments_of_no_team"]}
    prof = ["--profile", ts / "testshire.toml", "--data-dir", ts]
    code, _, err = _run(["export", *prof, "-o", tmp_path / "t.gpkg"], capsys)
    assert code == 0
    assert (f"gaps {a['areas']} ({a['gaps']} gaps in the data, {a['catchments_of_no_team']} catchment(s) of no "
            "team)") in err
    code, out, _ = _run(["validate", *prof], capsys)
    assert f"Areas of the council in no team: {a['areas']} (the export's gaps layer): {a['gaps']} gaps" in out


def test_export_model_services_layer_is_named_for_what_it_holds(testshire):
    got = layers(testshire)
    assert "services" not in got and set(got["model_services"]["service"]) == {s.name for s in testshire.services}


# --------------------------------------------------------------------------------------------------
# real data: the README's statements against what the tools print
# --------------------------------------------------------------------------------------------------
@pytest.mark.realdata
def test_readme_figures_are_what_validate_prints(east, north):
    text = " ".join(README.read_text(encoding="utf-8").split())
    m = re.search(r"On the real data \(the (\S+) release answering", text)
    assert m
    if east.release("postcodes").label != m.group(1):
        pytest.skip(f"the README's figures are for the {m.group(1)} release; the data folder answers with another")
    e, n = postcode_counts(east), postcode_counts(north)
    by_team = ", ".join(f"{t} {c['allocated']:,}" for t, c in e["by_team"].items())
    assert (f"all {e['current']:,} current East Ayrshire postcodes get a team or an explicit status — "
            f"{e['allocated']:,} `allocated` ({by_team}) and {e['nearest_team']:,} `nearest_team` — and the "
            f"{e['terminated']:,} postcodes retired") in text
    assert (f"North Ayrshire: {n['current']:,} current postcodes ({n['allocated']:,} `allocated`, "
            f"{n['nearest_team']:,} `nearest_team`) and {n['terminated']:,} terminated") in text
    assert (f"{e['current']:,} postcodes (+{e['terminated']:,} terminated); {e['in_data']:,} in the postcode "
            "data") in text
    rep = validate_profile(east)
    assert rep["postcodes"] == e["current"] and rep["postcodes_terminated"] == e["terminated"]
    assert "terminated_postcode -> " not in " ".join(rep["postcodes_in_no_team"])


@pytest.mark.realdata
def test_validate_names_the_shared_point_postcode_the_readme_names(north, data_dir, capsys):
    text = README.read_text(encoding="utf-8")
    named = re.search(r"`validate` lists them \(North Ayrshire: (\S+ \S+),", " ".join(text.split())).group(1)
    rep = validate_profile(north)
    held = north.postcodes.set_index("postcode")
    if named not in held.index or bool(held.loc[named, "terminated"]):
        pytest.skip(f"{named} is not a current postcode of this release")
    assert any(named in x for x in rep["override_conflicts"])
    code, out, _ = _run(["validate", "--profile", "north_ayrshire", "--data-dir", data_dir], capsys)
    assert named in out
    code, out, _ = _run(["validate", "--profile", "north_ayrshire", "--data-dir", data_dir, "--json"], capsys)
    assert named in out
    # the postcode answers as its point does: the same team as a point lookup there
    i = int(np.flatnonzero(north.postcodes["postcode"].to_numpy() == named)[0])
    at = north.allocate_points([north.postcodes["easting"].iat[i]], [north.postcodes["northing"].iat[i]])
    assert north.lookup(named)["team"] == at["team"].iat[0]
