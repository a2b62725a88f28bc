"""One behaviour per mistake (issue 22): every entry point answers the same input the same way.

Each mistake a person makes (coordinates swapped or outside Great Britain, a pseudo-postcode, a
forces address, a letter O or I for a zero or a one, an incomplete postcode, two postcodes, nothing)
is run through every path: ``Profile.lookup``, ``allocate``, ``allocate_uprns`` (falling back to the
text), the ``lookup`` and ``assign`` commands, the dashboard's answer and the JSON API (``/v1/lookup``,
``/v1/allocate``). Each must give the same
status and detail, no team, and never raise.
"""

from __future__ import annotations

import csv
import json
import re

import pytest
from fastapi.testclient import TestClient

from heart_geo import InputError, answers
from heart_geo.api import create_app
from heart_geo.cli import main
from heart_geo.mistakes import incomplete_detail, pseudo_detail, slip_corrections
from heart_geo.postcode_tables import POSTCODE_AREAS, PSEUDO_POSTCODES
from heart_geo.testing import write_test_data

#: (id, the text a person typed, status every path must give, a pattern its detail must hold)
MISTAKES = [
    ("latlon-swapped", "-4.26, 55.45", "invalid_coordinates", r"latitude and longitude look swapped"),
    ("outside-gb", "95, 200", "invalid_coordinates", r"coordinates outside Great Britain"),
    ("two-latitudes", "55.4N 56.1N", "invalid_coordinates", r"two latitudes"),
    ("no-fixed-abode", "ZZ99 3VZ", "pseudo_postcode", r"ZZ99 3VZ is a pseudo-postcode .* no fixed abode"),
    ("zz99-family", "zz99 9zz", "pseudo_postcode", r"ZZ99 9ZZ is an NHS/ONS pseudo-postcode"),
    ("nhs-scotland-nfa", "NF1 1AB", "pseudo_postcode", r"NHS Scotland \(ISD\) meaning no fixed abode"),
    ("bfpo-number", "BFPO 58", "pseudo_postcode", r"British Forces Post Office"),
    ("bfpo-postcode", "BF1 3AA", "pseudo_postcode", r"British Forces Post Office"),
    ("jersey", "JE2 3AB", "outside_area", r"Jersey \(Channel Islands\), outside Great Britain's postcode data"),
    ("letter-i-for-one", "TT1 IAA", "invalid_postcode", r"did you mean TT1 1AA\? North \(not given as the team"),
    ("letter-i-in-address", "3 High St, Testtown TTI 1AB", "invalid_postcode", r"did you mean TT1 1AB\? East"),
    ("slip-not-in-data", "TT1 OZZ", "invalid_postcode", r"no correction is a current postcode"),
    ("incomplete-sector", "TT1 1", "invalid_postcode", r"an incomplete postcode \(TT1 1\)"),
    ("incomplete-district", "TT1", "invalid_postcode", r"an incomplete postcode \(TT1\)"),
    ("two-postcodes", "TT1 1AA or TT1 1AB", "invalid_postcode", r"two different postcodes"),
    ("no-postcode", "the house by the mill", "invalid_postcode", r"no postcode found"),
    ("nothing", "", "missing_location", r"no postcode or coordinates given"),
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("one_answer")
    write_test_data(d)
    return d


@pytest.fixture(scope="module")
def api(testshire):
    with TestClient(create_app(testshire)) as c:
        yield c


def _cli(args, capsys) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # pragma: no cover - argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def _paths(profile, text, folder, tmp_path, capsys, api) -> dict[str, dict]:
    """The answer of every entry point for one text: {path: {team, status, detail}}."""
    got = {"lookup": profile.lookup(text), "allocate": profile.allocate([text]).iloc[0].to_dict(),
           "dashboard": answers.lookup_answer(profile, text)}
    r = api.post("/v1/lookup", json={"query": text})
    assert r.status_code == 200, r.text
    got["api lookup"] = r.json()
    r = api.post("/v1/allocate", json={"postcodes": [text, "TT1 1AA"]})
    assert r.status_code == 200, r.text
    got["api allocate"] = r.json()["results"][0]
    fb = profile.allocate_uprns([None], fallback=[text]).iloc[0].to_dict()
    fb["detail"] = fb["detail"].split("answered from the postcode or address instead; ", 1)[1]
    got["allocate_uprns"] = fb
    prof = ["--profile", folder / "testshire.toml", "--data-dir", folder]
    if text:  # an empty argument is refused by the command line itself
        code, out, _err = _cli(["lookup", *prof, "--json", "--", text], capsys)
        got["cli lookup"] = json.loads(out)
        assert code == (0 if got["cli lookup"]["status"] in ("outside_area", "pseudo_postcode") else 2)
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    with open(src, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["ref", "postcode"], ["1", text], ["2", "TT1 1AA"]])
    code, _out, err = _cli(["assign", *prof, src, "-o", dst, "-q"], capsys)
    assert code == 0, err
    with open(dst, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["ref"] for r in rows] == ["1", "2"]  # every row kept
    got["cli assign"] = {k: rows[0][k] or None for k in ("team", "status", "detail")}
    return got


@pytest.mark.parametrize("case", MISTAKES, ids=[c[0] for c in MISTAKES])
def test_every_path_gives_one_answer(case, testshire, folder, tmp_path, capsys, api):
    _id, text, status, pattern = case
    got = _paths(testshire, text, folder, tmp_path, capsys, api)
    for path, row in got.items():
        team = row["team"] if isinstance(row["team"], str) else None
        assert (str(row["status"]), team) == (status, None), path
        assert re.search(pattern, str(row["detail"])), (path, row["detail"])
    details = {path: str(row["detail"]) for path, row in got.items()}
    assert len(set(details.values())) == 1, details


def test_points_path_gives_the_texts_reason(testshire):
    """The same mistakes given as numbers (x = longitude, y = latitude) give the text path's detail."""
    swapped = testshire.allocate_points([55.45], [-4.26], crs="EPSG:4326").iloc[0]
    far = testshire.allocate_points([200.0], [95.0], crs="EPSG:4326").iloc[0]
    assert str(swapped["status"]) == str(far["status"]) == "invalid_coordinates"
    assert swapped["detail"] == testshire.lookup("-4.26, 55.45")["detail"]
    assert far["detail"] == testshire.lookup("95, 200")["detail"]


def test_coordinates_as_text_answer_in_every_path(testshire):
    """A good "lat, lon" in a postcode column answers as lookup does: a team, not invalid_postcode."""
    point = testshire.allocate_points([testshire.postcodes["easting"].iat[0]], [testshire.postcodes["northing"].iat[0]])
    e, n = point["easting"].iat[0], point["northing"].iat[0]
    text = f"{e:.0f}, {n:.0f}"
    one, batch = testshire.lookup(text), testshire.allocate([text, "TT1 1AA"]).iloc[0]
    assert one["team"] == batch["team"] == point["team"].iat[0]
    assert one["status"] == str(batch["status"]) and one["detail"] == batch["detail"]


def test_lookup_raises_only_for_programming_errors(testshire):
    long = "TT1 1AA " + "x" * 400
    row = testshire.lookup(long)
    assert row["status"] == "invalid_postcode" and "characters long" in row["detail"]
    with pytest.raises(InputError, match="a list of postcodes"):
        testshire.allocate("TT1 1AA")  # one string where a list belongs: a programming error


def test_pseudo_postcode_tables_are_national_and_never_a_place():
    assert all(re.fullmatch(r"[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}", pc) for pc in PSEUDO_POSTCODES)
    for pc, (meaning, _who) in PSEUDO_POSTCODES.items():
        assert meaning in pseudo_detail(pc)
    assert {"KA", "GY", "JE", "IM", "ZE", "BT"} <= POSTCODE_AREAS and len(POSTCODE_AREAS) == 125
    assert pseudo_detail("KA18 1FQ") is None and pseudo_detail(None, "Flat 2, 58 BFPO Road") is None


@pytest.mark.parametrize(("typed", "meant"), [
    ("KA1 OAA", ["KA1 0AA"]), ("KA18 IFQ", ["KA18 1FQ"]), ("KAI8 1FQ", ["KA18 1FQ"]), ("ka18ifq", ["KA18 1FQ"]),
    ("Cumnock KA18 IFQ", ["KA18 1FQ"]), ("KA18 1FQ", []), ("hello", []),
])
def test_slip_corrections(typed, meant):
    assert slip_corrections(typed) == meant


@pytest.mark.parametrize(("typed", "incomplete"), [
    ("KA1 2F", True), ("KA12", True), ("KA1", True), ("Main St, Kilmarnock KA1", True), ("ka1 2", True),
    ("A77", False), ("KA1 2FE", False), ("hello", False), ("Flat 2/1", False),
])
def test_incomplete_postcodes(typed, incomplete):
    assert (incomplete_detail(typed) is not None) is incomplete


@pytest.mark.realdata
def test_real_slips_offer_the_one_current_postcode(east):
    for typed in ("KA18 IFQ", "KAI8 1FQ", "ka18 ifq"):
        row = east.lookup(typed)
        assert (row["status"], row["team"]) == ("invalid_postcode", None)
        assert "did you mean KA18 1FQ? Barony" in row["detail"]
    assert east.lookup("ZZ99 3VZ")["status"] == "pseudo_postcode"
    assert east.lookup("KA1 2F")["detail"].startswith("an incomplete postcode (KA1 2F)")
