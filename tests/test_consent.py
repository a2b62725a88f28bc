"""The consent rule in the cross-locality link report.

Information passes between services only with consent, except where not sharing would put a child at
risk of harm. So family-level detail appears only for rows with recorded consent or a risk-of-harm
flag, each saying which rule let it through (``shared_because``); every other row counts in the
totals only; the ``links`` table and ``summary`` hold counts only.
"""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heart_geo.cli import main
from heart_geo.errors import InputError
from heart_geo.links import links_from_enrolments

# school 8000009 is the council-wide RC academy (in South's area); 8000001 North Academy
ROWS = [
    # name,               school,    postcode,  consent,         risk
    ("Zoë Ó'Brien",       "8000009", "TT1 1AA", "yes",           ""),     # consent
    ("Bartholomew Quigg", "8000009", "TT1 1AB", "no",            ""),     # withheld
    ("Cara Dunlop",       "8000009", "TT1 1AC", "",              "Y"),    # risk of harm
    ("Dev Mistry",        "8000010", "TT1 1AB", "Yes",           "yes"),  # both: risk_of_harm
    ("Ewan Fairlie",      "8000001", "TT1 1AA", "Yes - verbal",  ""),     # unclear: withheld
    ("Fern Lachlan",      "8000009", "TT1 1AB", "1.0",           "no"),   # spreadsheet 1.0: consent
    ("Gus Heron",         "St Test RC Academy", "tt11ab", "withdrawn", "0"),  # withheld
    ("Hana Kerr",         "9999999", "TT1 1AA", "TRUE",          ""),     # unknown school, consent
    ("Iona Baird",        "8000010", "TT9 9ZZ", "",              "pending"),  # unclear risk: withheld
]
NAMES = [r[0] for r in ROWS]


def frame(consent="consent", risk="risk_of_harm") -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=["name", "school", "postcode", consent, risk])


@pytest.fixture(scope="module")
def report(testshire):
    # exact counts: these tests check the consent rule's arithmetic (disclosure control is tested below)
    return links_from_enrolments(testshire, frame(), suppress=False)


def test_only_consent_or_risk_rows_are_released(report):
    d = report.detail
    assert d["row"].tolist() == [1, 3, 4, 6, 8]
    assert d["name"].tolist() == ["Zoë Ó'Brien", "Cara Dunlop", "Dev Mistry", "Fern Lachlan", "Hana Kerr"]
    assert d["shared_because"].tolist() == ["consent", "risk_of_harm", "risk_of_harm", "consent", "consent"]
    assert report.withheld == 4


def test_summary_counts_only(report):
    s = report.summary
    assert s == {
        "rows": 9, "cross_locality": s["cross_locality"], "council_wide_pupils": 7, "unknown_school": 1,
        "no_home_team": 1, "released": 5, "released_consent": 3, "released_risk_of_harm": 2, "withheld": 4,
        "consent_column": True, "risk_column": True, "consent_unclear": 1, "risk_unclear": 1,
        "consent_conflicts": 0, "risk_conflicts": 0, "rows_of_repeated_pupils": 0,
        "disclosure": s["disclosure"],
    }
    assert "not suppressed" in s["disclosure"]
    assert all(isinstance(v, int | bool) for k, v in s.items() if k != "disclosure")
    text = json.dumps(s)
    for r in ROWS:
        for v in r[:3]:
            assert v not in text


def test_links_table_counts_only(report):
    links = report.links
    assert list(links.columns) == ["school", "seed_code", "kind", "school_team", "team", "pupils", "same_locality"]
    # every council-wide pupil with a home team is counted, released or not
    assert links["pupils"].sum() == 6  # 7 at council-wide schools, one of them with no home team
    flat = links.astype(str).to_numpy().ravel().tolist()
    for r in ROWS:
        assert r[0] not in flat and r[2] not in flat
    assert set(links["school"]) <= {"St Test RC Academy", "Test Special School"}


def test_detail_carries_the_link(report):
    d = report.detail.set_index("name")
    assert d.loc["Zoë Ó'Brien", "link_home_team"] == "North"
    assert d.loc["Zoë Ó'Brien", "link_school_team"] == "South"
    assert bool(d.loc["Zoë Ó'Brien", "link_cross_locality"]) is True
    assert pd.isna(d.loc["Hana Kerr", "link_school"])


def test_no_consent_columns_releases_nothing(testshire):
    with pytest.warns(UserWarning, match="no consent column"):
        r = links_from_enrolments(testshire, frame().drop(columns=["consent", "risk_of_harm"]), suppress=False)
    assert r.detail.empty and r.summary["released"] == 0 and r.summary["withheld"] == 9
    assert r.summary["consent_column"] is False and r.summary["risk_column"] is False
    assert r.links["pupils"].sum() == 6  # still counted


def test_consent_only_or_risk_only(testshire):
    r = links_from_enrolments(testshire, frame(), risk=None)
    assert r.detail["shared_because"].tolist() == ["consent"] * 4
    assert r.detail["row"].tolist() == [1, 4, 6, 8]
    r = links_from_enrolments(testshire, frame(), consent=None)
    assert r.detail["shared_because"].tolist() == ["risk_of_harm"] * 2


def test_configurable_column_names(testshire):
    df = frame(consent="Consent Given", risk="CP flag")
    r = links_from_enrolments(testshire, df, consent="Consent Given", risk="CP flag")
    assert r.detail["row"].tolist() == [1, 3, 4, 6, 8]
    # the defaults find the usual spellings ("Consent Given", issue 12); "CP flag" is not one: a warning
    with pytest.warns(UserWarning, match="no risk column"):
        r = links_from_enrolments(testshire, df)
    assert r.detail["row"].tolist() == [1, 4, 6, 8] and set(r.detail["shared_because"]) == {"consent"}
    # a column named here that is not there is an error, never a silent "withheld"
    with pytest.raises(InputError, match="'Consent recorded'"):
        links_from_enrolments(testshire, df, consent="Consent recorded")
    # names match ignoring case, spaces and punctuation
    r = links_from_enrolments(testshire, frame().rename(columns={"school": "School", "consent": "Consent",
                                                                 "risk_of_harm": "Risk of harm"}), school="School")
    assert r.detail["row"].tolist() == [1, 3, 4, 6, 8]


def test_input_columns_named_like_ours_are_kept(testshire):
    df = frame()
    df["row"] = "mine"
    df["shared_because"] = "mine"
    r = links_from_enrolments(testshire, df)
    assert (r.detail["row"] == "mine").all() and (r.detail["shared_because"] == "mine").all()
    assert r.detail["row_heart_geo"].tolist() == [1, 3, 4, 6, 8]
    assert r.detail["shared_because_heart_geo"].tolist()[:2] == ["consent", "risk_of_harm"]


def test_consent_column_cannot_be_the_school_column(testshire):
    with pytest.raises(InputError, match="consent column 'school' is also the school"):
        links_from_enrolments(testshire, frame(), consent="school")


def test_duplicate_column_names(testshire):
    df = frame()
    df.columns = ["name", "school", "postcode", "consent", "name"]
    r = links_from_enrolments(testshire, df)
    assert "name.1" in r.detail.columns and len(r.detail) == 4


VALUES = ["yes", "Yes", " YES ", "y", "true", "1", "1.0", "x", "✓", "no", "n", "", "0", "false", "withdrawn",
          "maybe", "Yes - verbal", None, float("nan")]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(VALUES), st.sampled_from(VALUES)), min_size=1, max_size=15))
def test_released_exactly_where_consent_or_risk(testshire, flags):
    yes = {"yes", "y", "true", "1", "1.0", "x", "✓"}

    def on(v):
        return isinstance(v, str) and v.strip().lower() in yes

    df = pd.DataFrame({"school": "8000009", "postcode": "TT1 1AA", "consent": [c for c, _ in flags],
                       "risk_of_harm": [r for _, r in flags], "name": [f"child {i}" for i in range(len(flags))]})
    r = links_from_enrolments(testshire, df, suppress=False)  # exact counts: the arithmetic is checked
    want = [i + 1 for i, (c, k) in enumerate(flags) if on(c) or on(k)]
    assert r.detail["row"].tolist() == want
    assert r.detail["shared_because"].tolist() == [
        "risk_of_harm" if on(flags[i - 1][1]) else "consent" for i in want]
    assert r.summary["released"] + r.summary["withheld"] == len(flags)
    assert r.links["pupils"].sum() == len(flags)


# --------------------------------------------------------------------------------------------------
# the CLI
# --------------------------------------------------------------------------------------------------
def _csv(path, df):
    df.to_csv(path, index=False, encoding="utf-8")
    return path


def _cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.usefixtures("cache_dir")
def test_cli_links_detail_and_counts(ts, tmp_path, capsys):
    df = frame()
    df.loc[0, "name"] = "=HYPERLINK(\"http://x\")"
    src = _csv(tmp_path / "enrol.csv", df)
    code, out, err = _cli(["links", "--profile", ts / "testshire.toml", "--data-dir", ts, "--enrolments", src,
                           "-o", tmp_path / "links.csv", "--detail-output", tmp_path / "detail.csv", "-v"],
                          capsys)
    assert code == 0, err
    links = (tmp_path / "links.csv").read_text(encoding="utf-8-sig")
    detail = list(csv.DictReader(io.StringIO((tmp_path / "detail.csv").read_text(encoding="utf-8-sig"))))
    assert [d["row"] for d in detail] == ["1", "3", "4", "6", "8"]
    assert [d["shared_because"] for d in detail] == ["consent", "risk_of_harm", "risk_of_harm", "consent",
                                                     "consent"]
    assert detail[0]["name"] == "'=HYPERLINK(\"http://x\")"  # neutralised
    for r in ROWS[1:]:
        assert r[0] not in links and r[0] not in out and r[0] not in err
    withheld = [ROWS[i][0] for i in (1, 4, 6, 8)]
    text = (tmp_path / "detail.csv").read_text(encoding="utf-8")
    assert not any(w in text for w in withheld)
    # 4 withheld is a count under 5: suppressed by default (issue 12)
    assert "rows released under the consent rule" in err and "<5 counted only" in err
    summary = json.loads(next(line for line in err.splitlines() if line.startswith("{")))
    assert summary["withheld"] == "<5" and summary["released"] == "*"  # 4 + 5 = 9 rows: 5 hidden too


@pytest.mark.usefixtures("cache_dir")
def test_cli_links_custom_columns(ts, tmp_path, capsys):
    src = _csv(tmp_path / "enrol.csv", frame(consent="Consent Given", risk="CP flag"))
    code, _, err = _cli(["links", "--profile", ts / "testshire.toml", "--data-dir", ts, "--enrolments", src,
                         "--consent-col", "consent given", "--risk-col", "CP Flag", "--detail-output",
                         tmp_path / "d.csv"], capsys)
    assert code == 0, err
    d = pd.read_csv(tmp_path / "d.csv", dtype=str)
    assert d["row"].tolist() == ["1", "3", "4", "6", "8"]


@pytest.mark.usefixtures("cache_dir")
def test_cli_links_missing_default_columns_note(ts, tmp_path, capsys):
    src = _csv(tmp_path / "enrol.csv", frame().drop(columns=["consent", "risk_of_harm"]))
    code, _, err = _cli(["links", "--profile", ts / "testshire.toml", "--data-dir", ts, "--enrolments", src,
                         "--detail-output", tmp_path / "d.csv"], capsys)
    assert code == 0
    assert "no column marks recorded consent" in err and "no column marks a risk of harm" in err
    assert "0 rows released" in err
    assert (tmp_path / "d.csv").read_text(encoding="utf-8-sig").splitlines() == [
        "row,name,school,postcode,link_school,link_school_team,link_home_team,link_home_status,"
        "link_cross_locality,shared_because"]


@pytest.mark.usefixtures("cache_dir")
def test_cli_links_points_and_header_spellings(ts, tmp_path, capsys):
    df = pd.DataFrame({"Pupil": ["A", "B"], "School Name": ["St Test RC Academy", "8000009"],
                       "Easting": [300500, 301500], "Northing": [601500, 601500], "Consent": ["yes", "no"]})
    src = _csv(tmp_path / "enrol.csv", df)
    code, _, err = _cli(["links", "--profile", ts / "testshire.toml", "--data-dir", ts, "--enrolments", src,
                         "--detail-output", tmp_path / "d.csv", "-o", tmp_path / "l.csv", "--no-suppress"],
                        capsys)
    assert code == 0, err
    d = pd.read_csv(tmp_path / "d.csv", dtype=str)
    assert d["Pupil"].tolist() == ["A"] and d["link_home_team"].tolist() == ["North"]
    links = pd.read_csv(tmp_path / "l.csv")
    assert links.set_index("team")["pupils"].to_dict() == {"North": 1, "East": 1}
    assert "not suppressed" in links["disclosure"].iloc[0] and "not suppressed" in err


# disclosure control
# --------------------------------------------------------------------------------------------------
def test_links_suppressed_by_default(testshire):
    r = links_from_enrolments(testshire, frame())
    exact = links_from_enrolments(testshire, frame(), suppress=False)
    assert (exact.links["pupils"] < 5).all()  # every cell of the fixture is small
    assert set(r.links["pupils"]) == {"<5"}
    assert r.summary["withheld"] == "<5" and r.summary["rows"] == 9
    assert "'<5'" in r.disclosure and "<5" in r.summary["disclosure"]


def test_links_with_a_cell_of_two_and_secondary_suppression(testshire):
    # 12 pupils of St Test RC Academy: 2 live in North, 10 in East, none in South
    df = pd.DataFrame({"school": ["8000009"] * 12, "postcode": ["TT1 1AA"] * 2 + ["TT1 1AB"] * 10})
    exact = links_from_enrolments(testshire, df, consent=None, risk=None, suppress=False).links
    assert exact.set_index("team")["pupils"].to_dict() == {"North": 2, "East": 10}
    shown = links_from_enrolments(testshire, df, consent=None, risk=None).links.set_index("team")["pupils"]
    # the school's total (12) would give the 2 away from the 10: both hidden
    assert shown.to_dict() == {"North": "<5", "East": "*"}
