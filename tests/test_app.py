"""The dashboard (heart_geo/app/dashboard.py) under Streamlit's AppTest, on the made-up Testshire council.

No browser and no real data: the app is pointed at Testshire through ``HEART_GEO_PROFILE`` (the
profile TOML path) and ``HEART_GEO_DATA`` (the folder :func:`write_test_data` fills).
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from heart_geo import explore, uploads
from heart_geo._offline import assert_no_remote_assets
from heart_geo.codes import STATUSES
from heart_geo.testing import make_profile

APP = Path(__file__).resolve().parents[1] / "heart_geo" / "app" / "dashboard.py"
SHIM = Path(__file__).resolve().parents[1] / "app" / "dashboard.py"
TEAMS = ["North", "East", "South"]

CASELOAD = (
    "Case ID,Post Code,Notes\r\n"
    "1,tt1 1aa,ok\r\n"
    "2,,blank postcode\r\n"
    '3,"12 Test Road, Testtown TT11AB","=HYPERLINK(""http://x"")"\r\n'
    "4,TT2 9ZZ,@SUM(A1)\r\n"
    "5,not a postcode,-5\r\n"
)


@pytest.fixture(scope="module")
def testshire_dir(ts) -> tuple[Path, Path]:
    """Testshire's folder (the conftest's ``ts``) and its profile."""
    return ts, ts / "testshire.toml"


@pytest.fixture
def app(testshire_dir, monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    folder, toml = testshire_dir
    monkeypatch.setenv("HEART_GEO_PROFILE", str(toml))
    monkeypatch.setenv("HEART_GEO_DATA", str(folder))
    monkeypatch.setenv("HEART_GEO_CACHE", str(tmp_path / "cache"))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def _texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [e.value for e in (*at.success, *at.warning, *at.error, *at.info)]
    # as a person reads it: markdown escapes (text from files and queries is escaped) removed
    return re.sub(r"\\(.)", r"\1", "\n".join(str(p) for p in parts))


def _frame(at, *columns: str) -> pd.DataFrame:
    """The first dataframe on the page holding all ``columns`` (AppTest keeps no dataframe keys)."""
    for df in at.dataframe:
        if all(c in df.value.columns for c in columns):
            return df.value
    raise AssertionError(f"no dataframe with columns {columns}")


def _open_tab(at, label: str):
    """Open a tab (the app's tabs are lazy: only the open tab runs)."""
    at.session_state["tab"] = label
    at.run()
    assert not at.exception, at.exception
    return at


def _lookup(at, query: str):
    at.text_input(key="query").input(query).run()
    assert not at.exception, at.exception
    return _texts(at)


def test_first_view_names_every_team(app) -> None:
    text = _texts(app)
    for t in TEAMS:
        assert t in text
    assert "Testshire" in app.title[0].value
    assert [t.label for t in app.tabs] == ["Map & lookup", "Teams", "Caseload", "Links", "Data notes"]
    assert app.text_input(key="query").label == "Postcode or address"


def test_lookup_allocated(app) -> None:
    text = _lookup(app, "tt1 1aa")
    assert "tt1 1aa — North" in text
    assert "inside North's area" in text
    assert text.count("tt1 1aa — North") == 1  # the headline, said once
    assert "Speech and language therapy (link worker shared with East)" in text


def test_lookup_nearest_team_with_distance(app) -> None:
    text = _lookup(app, "TT1 1AE")
    assert "TT1 1AE — nearest team: North" in text
    assert "nearest team, 300 m away: check by hand" in text


def test_lookup_outside_area(app) -> None:
    text = _lookup(app, "TT2 9ZZ")
    assert "TT2 9ZZ — outside Testshire" in text


def test_lookup_postcode_newer_than_the_data(app) -> None:
    text = _lookup(app, "TT1 1ZZ")
    assert re.search(r"TT1 1ZZ — probably (North|East|South): a new postcode, not yet in the data", text)
    assert "known postcodes of its sector (TT1 1) are in" in text


@pytest.mark.parametrize(
    ("query", "status"),
    [("hello there", "invalid_postcode"), ("-4.26, 55.45", "invalid_coordinates")],
)
def test_lookup_invalid(app, query, status) -> None:
    text = _lookup(app, query)
    headline = {"invalid_postcode": "not a postcode", "invalid_coordinates": "coordinates that cannot be right"}
    assert f"{query} — {headline[status]}" in text
    if status == "invalid_coordinates":
        assert "swapped" in text  # the library's own error message is shown


def test_teams_panel_lists_every_team(app) -> None:
    _open_tab(app, "Teams")
    overview = _frame(app, "Team", "Area km²")
    assert overview["Team"].tolist() == TEAMS
    labels = [e.label for e in app.expander]
    for t in TEAMS:
        assert any(lbl.startswith(f"{t}:") for lbl in labels)
    text = _texts(app)
    assert "St Test RC Academy" in text  # council-wide school every team links with


def test_lookup_lists_services_in_this_community(app) -> None:
    text = _lookup(app, "tt1 1aa")
    assert "In this community (North)" in text
    assert "Hub / base: North Hub (TT1 1AA)" in text
    first, second = text.index("- Testtown Early Years Centre ("), text.index("- Gap Ring Playgroup (")
    assert first < second  # nearest first, as a list that wraps (no table to scroll sideways)
    assert re.search(r"Testtown Early Years Centre \([^)]*, 0 m\)", text)
    assert re.search(r"Gap Ring Playgroup \([^)]*, \d+ m\)", text)
    assert "distance from the postcode's centre" in text
    assert "Children's houses 1" in text  # counted only
    assert "Birch Test House" not in text and "Morag" not in text


def test_teams_tab_counts_services_by_kind(app) -> None:
    _open_tab(app, "Teams")
    counts = _frame(app, "Services present", "Childminders")
    assert counts["Team"].tolist()[:3] == TEAMS
    assert counts.set_index("Team").loc["South", "Childminders"] == 1
    text = _texts(app)
    assert "none recorded in the council profile yet" in text  # South has no hub
    assert "Testtown Medical Practice" in text and "Morag" not in text


def test_caseload_upload_keeps_every_row(app) -> None:
    _open_tab(app, "Caseload")
    app.file_uploader(key="caseload_file").upload("cases.csv", CASELOAD.encode(), "text/csv").run()
    assert not app.exception, app.exception
    assert "Allocated 5 rows" in _texts(app)
    by_team = _frame(app, "Team", "Rows")  # exact on screen: the uploader's own file (issue 20)
    assert by_team["Rows"].astype(int).sum() == 5
    by_status = _frame(app, "Answer", "Rows")
    assert "Not a postcode" in set(by_status["Answer"]) and "invalid_postcode" not in set(by_status["Answer"])
    assert "exact counts" in _texts(app) and "disclosure control applied" in _texts(app)
    summary = next(b for b in app.get("download_button") if "summary" in str(b.proto.label))
    assert summary is not None  # the download is the suppressed summary (checked in test_caseload_summary_download)
    _key, result = app.session_state["_caseload_result"]
    assert result.csv_bytes.startswith(b"\xef\xbb\xbf")  # a byte-order mark, for Excel (issue 12)
    rows = list(csv.reader(io.StringIO(result.csv_bytes.decode("utf-8-sig"))))
    assert len(rows) == 6  # header + every input row
    assert rows[0][:3] == ["Case ID", "Post Code", "Notes"]
    assert [r[0] for r in rows[1:]] == ["1", "2", "3", "4", "5"]
    assert rows[3][2].startswith("'=")  # formula neutralised
    assert rows[4][2] == "'@SUM(A1)"
    assert rows[5][2] == "-5"  # a plain number is left alone
    status = dict(zip(rows[0], zip(*rows[1:], strict=True), strict=False))["status"]
    assert status == ("allocated", "missing_location", "allocated", "outside_area", "invalid_postcode")


def test_caseload_same_bytes_as_cli(tmp_path, testshire_dir) -> None:
    folder, toml = testshire_dir
    src = tmp_path / "cases.csv"
    src.write_bytes(CASELOAD.encode("utf-8"))
    out = tmp_path / "out.csv"
    env_cmd = [
        sys.executable,
        "-m",
        "heart_geo",
        "assign",
        str(src),
        "-o",
        str(out),
        "-q",
        "--profile",
        str(toml),
        "--data-dir",
        str(folder),
    ]
    done = subprocess.run(
        env_cmd,
        capture_output=True,
        text=True,
        env={**os.environ, "HEART_GEO_CACHE": str(tmp_path / "c")},
    )
    assert done.returncode == 0, done.stderr
    p = make_profile(tmp_path / "ts")
    mem = explore.allocate_caseload_bytes(p, CASELOAD.encode("utf-8"), name="cases.csv")
    assert mem.csv_bytes == out.read_bytes()
    # cp1252 input (not UTF-8) is read as the CLI reads it
    mem2 = explore.allocate_caseload_bytes(p, "id,postcode\r\n1,TT1 1AB £\r\n".encode("cp1252"))
    assert mem2.encoding == "cp1252" and mem2.team_counts == {"East": 1}


def test_caseload_dropped_when_leaving_the_tab(app) -> None:
    _open_tab(app, "Caseload")
    app.file_uploader(key="caseload_file").upload("cases.csv", CASELOAD.encode(), "text/csv").run()
    assert "_caseload_result" in app.session_state
    _open_tab(app, "Teams")
    assert "_caseload_result" not in app.session_state
    _open_tab(app, "Caseload")
    assert app.file_uploader(key="caseload_file").value is None
    assert "Allocated" not in _texts(app)


def test_caseload_bad_file_is_an_error_not_a_crash(app) -> None:
    _open_tab(app, "Caseload")
    app.file_uploader(key="caseload_file").upload("x.csv", b"a,b\r\n1,2\r\n", "text/csv").run()
    assert not app.exception
    assert any("no location column" in e.value for e in app.error)


def _xlsx(rows) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


XLSX_ROWS = [["Case ID", "Post Code", "Address", "Notes"], [1, "tt1 1aa", "", "Zoë"],
             [2, None, "12 Test Road, Testtown TT1 1AB", "@SUM(A1)"], [3, "TT2 9ZZ", "", ""]]


def test_caseload_xlsx_upload_and_download(app) -> None:
    import openpyxl

    _open_tab(app, "Caseload")
    app.file_uploader(key="caseload_file").upload("cases.xlsx", _xlsx(XLSX_ROWS), "application/octet-stream").run()
    assert not app.exception, app.exception
    assert "Allocated 3 rows" in _texts(app) and "Excel workbook" in _texts(app)
    _key, result = app.session_state["_caseload_result"]
    assert result.format == "xlsx"
    book = openpyxl.load_workbook(io.BytesIO(result.data))
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][:4] == ("Case ID", "Post Code", "Address", "Notes") and len(rows) == 4
    col = {n: i for i, n in enumerate(rows[0])}
    assert [r[col["team"]] for r in rows[1:]] == ["North", "East", None]
    assert rows[2][3] == "'@SUM(A1)" and rows[1][3] == "Zoë"
    assert "located from column 'Address'" in rows[2][col["detail"]]


def test_rejected_upload_clears_the_previous_result(app) -> None:
    _open_tab(app, "Caseload")
    app.file_uploader(key="caseload_file").upload("cases.csv", CASELOAD.encode(), "text/csv").run()
    assert "Allocated 5 rows" in _texts(app)
    app.file_uploader(key="caseload_file").upload("report.pdf", b"%PDF-1.4 not a caseload", "application/pdf").run()
    assert not app.exception, app.exception
    text = _texts(app)
    assert "Allocated" not in text and "_caseload_result" not in app.session_state
    shown = [re.sub(r"\\(.)", r"\1", e.value) for e in app.error]  # as read: markdown escapes removed
    assert any("report.pdf was not allocated" in e and "PDF" in e for e in shown)


def test_export_downloads(app) -> None:
    _open_tab(app, "Teams")
    app.button(key="export_prepare").click().run()
    assert not app.exception, app.exception
    labels = [str(getattr(b, "label", "")) for b in app.get("download_button")]
    assert any(".gpkg" in lbl for lbl in labels) and any(".csv" in lbl for lbl in labels), labels


def test_source_checkout_shim_runs_the_packaged_app(testshire_dir, monkeypatch, tmp_path) -> None:
    from streamlit.testing.v1 import AppTest

    folder, toml = testshire_dir
    monkeypatch.setenv("HEART_GEO_PROFILE", str(toml))
    monkeypatch.setenv("HEART_GEO_DATA", str(folder))
    monkeypatch.setenv("HEART_GEO_CACHE", str(tmp_path / "cache"))
    at = AppTest.from_file(str(SHIM), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert "Testshire" in at.title[0].value


def test_links_from_enrolments_consent_rule(app) -> None:
    _open_tab(app, "Links")
    app.radio(key="links_source").set_value("An enrolment file (pupils' home postcodes)").run()
    enrol = (
        "school,postcode,consent,risk_of_harm,name\r\n"
        "8000009,TT1 1AA,yes,,Child A\r\n"
        "8000009,TT1 1AB,,,Child B\r\n"
        "St Test RC Academy,TT1 1AC,,yes,Child C\r\n"
    )
    app.file_uploader(key="enrolment_file").upload("e.csv", enrol.encode(), "text/csv").run()
    assert not app.exception, app.exception
    detail = _frame(app, "Shared because")
    assert detail["name"].tolist() == ["Child A", "Child C"]  # Child B withheld
    assert detail["Shared because"].tolist() == ["recorded consent", "risk of harm"]
    links = _frame(app, "Pupils", "Home team")
    assert set(links["Pupils"].astype(str)) == {"<5"}  # suppressed by default (issue 12)
    assert "<5 rows withheld" in _texts(app)
    app.checkbox(key="exact_counts").check().run()
    assert _frame(app, "Pupils", "Home team")["Pupils"].astype(int).sum() == 3
    assert "1 row withheld" in _texts(app)


def test_enrolments_without_consent_or_risk_columns_say_so_as_the_cli_does(app) -> None:
    _open_tab(app, "Links")
    app.radio(key="links_source").set_value("An enrolment file (pupils' home postcodes)").run()
    enrol = "school,postcode\r\n8000009,TT1 1AA\r\n"
    app.file_uploader(key="enrolment_file").upload("e.csv", enrol.encode(), "text/csv").run()
    assert not app.exception, app.exception
    text = _texts(app)
    assert "No column marks recorded consent; no row is released on that ground." in text
    assert "No column marks a risk of harm; no row is released on that ground." in text
    app.file_uploader(key="enrolment_file").upload(
        "e.csv", b"school,postcode,consent,risk_of_harm\r\n8000009,TT1 1AA,yes,\r\n", "text/csv").run()
    assert "No column marks" not in _texts(app)


def test_council_wide_links_table(app) -> None:
    _open_tab(app, "Links")
    table = _frame(app, "School", "Kind")
    assert set(table["School"]) == {"St Test RC Academy", "Test Special School"}
    assert {"North", "East", "South"} <= set(table.columns)


def test_data_notes(app) -> None:
    _open_tab(app, "Data notes")
    text = _texts(app)
    assert "Made-up test data." in text
    assert "Data in use" in text and "Made-up postcodes in Code-Point Open format: release undated" in text
    assert "Catchments of schools in another council" in text
    assert "repaired catchment North Academy" in text  # names in their usual case
    assert os.environ["HEART_GEO_DATA"] not in text  # no file path on screen
    sources = _frame(app, "Dataset", "Release")
    assert "files" not in sources.columns and "dataset" not in sources.columns


def test_profile_switch_lists_councils(app) -> None:
    sel = app.selectbox(key="profile")
    assert sel.options[0] == "Testshire"
    assert "East Ayrshire" in sel.options and "North Ayrshire" in sel.options


def test_coverage_map_offline_and_small(testshire) -> None:
    m = explore.coverage_map(testshire, highlight_team="North", point=(55.0, -3.0))
    html = m.get_root().render()
    assert_no_remote_assets(html)
    for t in TEAMS:
        assert t in html
    assert "serves the whole council" in html.lower()
    assert "hg-gap" in html
    assert explore.map_payload_bytes(testshire) < 2_000_000


def test_click_answer(testshire) -> None:
    from pyproj import Transformer

    lon, lat = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True).transform(300500, 601500)
    a = explore.click_answer(testshire, lat, lon)
    assert a["team"] == "North" and a["status"] == "allocated"
    b = explore.lookup_answer(testshire, f"{lat}, {lon}")
    assert b["team"] == "North"
    assert pd.notna(b["latlon"][0])


@pytest.mark.realdata
def test_profile_switch_follows_everything(data_dir, monkeypatch, tmp_path) -> None:
    """East Ayrshire by default; switching to North Ayrshire changes teams, lookups and notes."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("HEART_GEO_PROFILE", "east_ayrshire")
    monkeypatch.setenv("HEART_GEO_DATA", str(data_dir))
    if not os.environ.get("HEART_GEO_CACHE"):
        monkeypatch.setenv("HEART_GEO_CACHE", str(tmp_path / "cache"))
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    text = _texts(at)
    for team in ["Stewarton", "William McIlvanney", "Grange", "Loudon", "Barony", "Doon Valley"]:
        assert team in text
    assert "KA18 1FQ — Barony" in _lookup(at, "KA18 1FQ")
    at.selectbox(key="profile").set_value("north_ayrshire").run()
    assert not at.exception, at.exception
    text = _texts(at)
    assert "6 localities" in text and "Three Towns" in text and "Stewarton" not in text
    assert "KA18 1FQ — outside North Ayrshire" in text  # the query follows the profile


#: One Testshire query per status a lookup can give (the status checked against the library first).
STATUS_QUERIES = {"allocated": "tt1 1aa", "nearest_team": "TT1 1AE", "outside_area": "TT2 9ZZ",
                  "unknown_postcode": "TT1 1ZZ", "invalid_postcode": "hello there",
                  "invalid_coordinates": "-4.26, 55.45", "missing_location": "TT1 1AG"}
#: Codes and column names no screen may show (issue 20); "allocated" is a plain word too.
CODES = re.compile(r"\b(" + "|".join([*(s for s in STATUSES if s != "allocated"), "likely_team", "split_teams",
                                       "distance_m", "near_boundary", "catchment_school", "team_text",
                                       "council_code"]) + r")\b")


def _page_text(at) -> str:
    """Everything a person can read on the page: text, headings, tables (headers and cells), labels."""
    parts = [_texts(at)]
    for kind in ("title", "header", "subheader", "expander", "tabs"):
        parts += [str(getattr(e, "label", None) or getattr(e, "value", "")) for e in at.get(kind)]
    for df in at.dataframe:
        parts.append(" ".join(map(str, df.value.columns)) + " " + df.value.astype(str).to_string())
    parts += [str(getattr(b.proto, "label", "")) for b in at.get("download_button")]
    return "\n".join(parts)


def test_no_status_code_on_any_page(app, testshire) -> None:
    from heart_geo import answers

    for status, query in STATUS_QUERIES.items():
        assert answers.lookup_answer(testshire, query)["status"] == status, query
        _lookup(app, query)
        text = _page_text(app)
        assert not CODES.search(text), (query, CODES.search(text).group(0))
        headlines = [m.value for m in app.markdown if m.value.startswith("## ")]
        assert len(headlines) == 1, headlines  # the headline, said once
    for tab in ("Teams", "Caseload", "Links", "Data notes"):
        _open_tab(app, tab)
        if tab == "Caseload":
            app.file_uploader(key="caseload_file").upload("cases.csv", CASELOAD.encode(), "text/csv").run()
            assert "Allocated 5 rows" in _texts(app)
        text = _page_text(app)
        assert not CODES.search(text), (tab, CODES.search(text).group(0))
        assert not re.search(r"\b1 (rows|areas|postcodes)\b", text), tab


def test_caseload_summary_download_is_suppressed(app, testshire) -> None:
    _open_tab(app, "Caseload")
    app.file_uploader(key="caseload_file").upload("cases.csv", CASELOAD.encode(), "text/csv").run()
    shown = _frame(app, "Team", "Rows")
    assert shown["Rows"].astype(int).sum() == 5  # exact on screen
    button = next(b for b in app.get("download_button") if "summary" in str(b.proto.label))
    assert "disclosure control applied" in str(button.proto.label)
    from heart_geo import disclosure

    result = app.session_state["_caseload_result"][1]
    data = pd.read_csv(io.BytesIO(uploads.caseload_summary_bytes(result, testshire)), dtype=str,
                       encoding="utf-8-sig")
    assert set(data["Rows"]) <= {"<5", "*", "0"}  # five rows in three teams: every count hidden
    assert disclosure.SUPPRESSED == "<5"


def test_profile_loaded_and_map_built_once_for_every_visitor(testshire_dir, monkeypatch, tmp_path) -> None:
    """What keeps a visitor's first view fast: the profile is loaded and the map's layers are built
    once per profile, not per visitor, rerun or lookup. (The first view's time is a benchmark:
    ``benchmarks/bench_dashboard.py``, figures in ``benchmarks/RESULTS.md``.)"""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    import heart_geo

    folder, toml = testshire_dir
    monkeypatch.setenv("HEART_GEO_PROFILE", str(toml))
    monkeypatch.setenv("HEART_GEO_DATA", str(folder))
    monkeypatch.setenv("HEART_GEO_CACHE", str(tmp_path / "cache"))
    loads, builds = [], []
    real_load, real_layers = heart_geo.load_profile, explore._layers

    def load(*args, **kwargs):
        loads.append(args)
        return real_load(*args, **kwargs)

    def layers(profile, simplify_m):
        if simplify_m not in explore._CACHE.get(profile, {}):
            builds.append((profile.key, simplify_m))
        return real_layers(profile, simplify_m)

    monkeypatch.setattr(heart_geo, "load_profile", load)
    monkeypatch.setattr(explore, "_layers", layers)
    st.cache_resource.clear()  # a server just started: nothing loaded yet
    for visitor in range(3):  # three visitors, each a first view, a lookup and a rerun
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.run()
        assert not at.exception, at.exception
        assert "tt1 1aa — North" in _lookup(at, "tt1 1aa")
        at.run()
        assert not at.exception, at.exception
        assert len(loads) == 1, visitor
        assert len(builds) == 1, (visitor, builds)


def test_shared_data_left_out_of_every_runs_garbage_collection(testshire_dir, monkeypatch, tmp_path) -> None:
    """Streamlit collects garbage after every script run, walking every object the server holds: the
    loaded profile and the map's layers are moved out of the collector's way when they are built
    (``gc.freeze``), so a new session or a lookup does not walk them again (issue 20)."""
    import gc

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    import heart_geo

    folder, toml = testshire_dir
    monkeypatch.setenv("HEART_GEO_PROFILE", str(toml))
    monkeypatch.setenv("HEART_GEO_DATA", str(folder))
    monkeypatch.setenv("HEART_GEO_CACHE", str(tmp_path / "cache"))
    loaded = []
    real_load = heart_geo.load_profile
    monkeypatch.setattr(heart_geo, "load_profile", lambda *a, **k: loaded.append(real_load(*a, **k)) or loaded[-1])
    st.cache_resource.clear()
    gc.unfreeze()
    try:
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.run()
        assert not at.exception, at.exception
        assert len(loaded) == 1
        profile, layers = loaded[0], explore._CACHE[loaded[0]]
        assert gc.get_freeze_count() > 0
        collected = {id(o) for o in gc.get_objects()}
        assert id(profile) not in collected and id(layers) not in collected
        assert "tt1 1aa — North" in _lookup(at, "tt1 1aa")  # and the dashboard still answers
    finally:
        gc.unfreeze()


def test_map_and_team_tables_built_once_for_every_session(testshire_dir, monkeypatch, tmp_path) -> None:
    """Many people at once (issue 20): the map is built once per profile, release and highlighted team.

    Three sessions: the first views share one map; two lookups in the same team share its map; the
    profile is loaded once and the team tables once.
    """
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    import heart_geo
    from heart_geo import answers

    folder, toml = testshire_dir
    monkeypatch.setenv("HEART_GEO_PROFILE", str(toml))
    monkeypatch.setenv("HEART_GEO_DATA", str(folder))
    monkeypatch.setenv("HEART_GEO_CACHE", str(tmp_path / "cache"))
    calls = {"map": 0, "load": 0, "teams": 0}

    def counting(name, real):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(explore, "coverage_map", counting("map", explore.coverage_map))
    monkeypatch.setattr(heart_geo, "load_profile", counting("load", heart_geo.load_profile))
    monkeypatch.setattr(answers, "team_details", counting("teams", answers.team_details))
    st.cache_resource.clear()
    st.cache_data.clear()
    sessions = [AppTest.from_file(str(APP), default_timeout=60) for _ in range(3)]
    for at in sessions:
        at.run()
        assert not at.exception, at.exception
    assert calls == {"map": 1, "load": 1, "teams": 0}
    for at, query in zip(sessions, ["tt1 1aa", "TT1 1AB", "TT1 1AH"], strict=True):  # North, East, North
        _lookup(at, query)
    assert calls["map"] == 3  # the first view's map, North's and East's: not one per session or lookup
    for at in sessions:
        _open_tab(at, "Teams")
    assert calls["load"] == 1 and calls["teams"] == 1


def test_a_point_lookup_says_distance_from_the_point(app) -> None:
    from pyproj import Transformer

    lon, lat = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True).transform(300500, 601500)
    text = _lookup(app, f"{lat:.5f}, {lon:.5f}")
    assert "straight-line distance from the point given" in text
    assert "postcode's centre" not in text
    assert "straight-line distance from the postcode's centre" in _lookup(app, "tt1 1aa")
