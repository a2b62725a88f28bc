"""What a person reads: one headline and one plain sentence per status, no code (issue 20).

The words live in one table (:data:`heart_geo.codes.STATUS_WORDS`) the dashboard, the command line
and any API share; these tests hold every status and every kind of answer to it.
"""

from __future__ import annotations

import re

import pytest

from heart_geo import _util, answers
from heart_geo.codes import STATUS_WORDS, STATUSES, distance_words, status_label, status_words
from heart_geo.testing import ANSWERS

CODE = re.compile(r"\b(" + "|".join(s for s in STATUSES if s != "allocated") + r"|[A-Z]\d{8})\b")


def test_every_status_has_words() -> None:
    for status in STATUSES:
        assert status in STATUS_WORDS, status
        label = status_label(status, "locality")
        assert label and "_" not in label and "{" not in label


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("method", ["catchment", "override", "uprn", "nearest", "none"])
def test_words_hold_no_code(status, method) -> None:
    row = {"query": "AB1 2CD", "status": status, "method": method, "team": "North", "distance_m": 1234.0,
           "postcode": "AB1 2CD", "likely_share": ("North", 3, 4) if status == "unknown_postcode" else None,
           "detail": "postcode is in Otherplace (S12000099), not Testshire (S99000001); see nearest_team"}
    headline, sentence = status_words(row, unit="locality", council="Testshire")
    for text in (headline, sentence):
        assert not CODE.search(text), text
        assert "{" not in text and "_" not in text, text
    assert headline.startswith("AB1 2CD — ")
    assert sentence.endswith(".") and (sentence[0].isupper() or sentence[0].isdigit())
    assert headline not in sentence  # said once


def test_a_new_postcode_with_a_likely_team_says_so() -> None:
    row = {"query": "KA3 3ZZ", "status": "unknown_postcode", "postcode": "KA3 3ZZ", "team": None,
           "likely_share": ("Stewarton", 107, 107), "detail": "not in the postcode data"}
    headline, sentence = status_words(row)
    assert headline == "KA3 3ZZ — probably Stewarton: a new postcode, not yet in the data"
    assert sentence.startswith("All 107 known postcodes of its sector (KA3 3) are in Stewarton")
    row["likely_share"] = ("Grange", 205, 209)
    assert status_words(row)[1].startswith("205 of 209 known postcodes")


def test_distances_and_plurals_read_as_words() -> None:
    assert [distance_words(x) for x in (0, 999.4, 1000, 12_345)] == ["0 m", "999 m", "1.0 km", "12.3 km"]
    assert [_util.counted(n, "row") for n in (0, 1, 2)] == ["0 rows", "1 row", "2 rows"]
    assert _util.counted(1, "area") == "1 area" and _util.counted("<5", "locality") == "<5 localities"


def test_names_in_their_usual_case() -> None:
    assert _util.usual_case("ROBERT BURNS ACADEMY") == "Robert Burns Academy"
    assert _util.usual_case("ST MATTHEW'S ACADEMY") == "St Matthew's Academy"
    assert _util.usual_case("St Test RC Academy") == "St Test RC Academy"  # already in its usual case
    assert _util.usual_case_in("repaired catchment DOON ACADEMY: unioned 4 parts") == \
        "repaired catchment Doon Academy: unioned 4 parts"


def test_every_testshire_answer_reads_without_a_code(testshire) -> None:
    queries = [*ANSWERS, "TT1 1ZZ", "hello there", "-4.26, 55.45", "", "ZZ99 3VZ", "TT1 IAA", "TT1 1"]
    seen = set()
    for q in queries:
        a = answers.lookup_answer(testshire, q)
        seen.add(a["status"])
        assert not CODE.search(a["answer"] + " " + a["sentence"]), (q, a["answer"], a["sentence"])
    assert seen >= set(STATUSES) - {"terminated_postcode"}


def test_a_map_click_answers_exactly_as_a_lookup(testshire) -> None:
    from pyproj import Transformer

    lon, lat = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True).transform(300500, 601500)
    click = answers.click_answer(testshire, lat, lon)
    typed = answers.lookup_answer(testshire, f"{lat:.5f}, {lon:.5f}")
    for key in ("team", "status", "sentence", "services_in_team", "link_workers", "community", "map_team",
                "from_point"):
        assert click[key] == typed[key], key
    assert click["answer"] == typed["answer"]  # the same headline: the point as typed
    assert click["from_point"] is True and click["community"]["listed"]


def test_a_new_postcode_highlights_its_likely_team(testshire) -> None:
    a = answers.lookup_answer(testshire, "TT1 1ZZ")
    assert a["status"] == "unknown_postcode" and a["team"] is None
    assert a["map_team"] == testshire.likely_team("TT1 1ZZ")[0]
    assert answers.lookup_answer(testshire, "TT2 9ZZ")["map_team"] is None


def test_a_lookups_point_is_transformed_in_one_long_lived_thread(testshire) -> None:
    """pyproj builds its PROJ object once per thread (~40 ms); Streamlit runs each script run in a new
    thread, so an answer's latitude and longitude are transformed in one long-lived thread instead."""
    import threading

    from heart_geo import _crs

    seen, latlons = set(), []

    def session_run() -> None:
        seen.add(_crs.in_proj_thread(threading.get_ident))
        latlons.append(answers.lookup_answer(testshire, "tt1 1aa")["latlon"])

    for _ in range(3):  # three script runs, each in its own new thread
        t = threading.Thread(target=session_run)
        t.start()
        t.join()
    assert len(seen) == 1 and threading.get_ident() not in seen
    assert latlons[0] is not None and latlons.count(latlons[0]) == 3
