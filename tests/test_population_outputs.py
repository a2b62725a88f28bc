"""The population figures in every other output: teams table, dashboard, caseload rates, export, map.

Testshire with its made-up data zones (heart_geo.testing.DATA_ZONES): children 0-17 are North 234,
East 108, South 72 (heart_geo.testing.POPULATION_ANSWERS).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest

from heart_geo import answers, caseload, explore, load_profile, testing, uploads, zonemap
from heart_geo._offline import assert_no_remote_assets
from heart_geo.cli import main
from heart_geo.export import layers
from heart_geo.population import RATE_HIDDEN, add_rates, rate_per_1000

pytestmark = pytest.mark.usefixtures("cache_dir")
APP = Path(__file__).resolve().parents[1] / "heart_geo" / "app" / "dashboard.py"
CHILDREN = {team: v[0] for team, v in testing.POPULATION_ANSWERS.items()}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp("ts-small-out")
    toml = testing.write_test_data(d, small_areas=True)
    return d, load_profile(toml, data_dir=d, cache=False)


def test_team_summary_gains_children_deprivation_and_services_per_1000(small, testshire):
    _, p = small
    s = p.team_summary().set_index("team")
    assert s["children"].to_dict() == CHILDREN
    assert s.loc["East", "children_simd_q1_share"] == pytest.approx(72 / 108, abs=1e-4)
    assert (s["children_0_4"] + s["children_5_11"] + s["children_12_15"] + s["children_16_17"]
            == s["children"]).all()
    for team, n in CHILDREN.items():
        assert s.loc[team, "services_per_1000_children"] == round(s.loc[team, "services_present"] * 1000 / n, 2)
    assert "children" not in testshire.team_summary().columns  # not loaded: the table as before
    d = {x["team"]: x for x in answers.team_details(p)}
    assert d["South"]["children"] == 72 and d["South"]["children_in_split_zones"] == 54
    assert "children" not in answers.team_details(testshire)[0]


def test_rates_hide_what_a_suppressed_count_would_give_away(small):
    _, p = small
    assert rate_per_1000(7, 234) == round(7000 / 234, 2)
    by_team = pd.DataFrame({"team": ["North", "East", "South", "(none)"], "rows": [7, "<5", "*", 0]})
    got = add_rates(p, by_team).set_index("team")["per_1000_children"]
    assert got.to_dict() == {"North": 29.91, "East": RATE_HIDDEN, "South": RATE_HIDDEN, "(none)": None}


def test_assign_summary_gives_rows_per_1000_children(small, tmp_path, capsys):
    d, _ = small
    rows = "".join(f"{i},TT1 1AA\r\n" for i in range(7)) + "7,TT1 1AB\r\n8,TT1 1AC\r\n"
    src = tmp_path / "cases.csv"
    src.write_text("id,postcode\r\n" + rows, encoding="utf-8")
    base = ["--profile", str(d / "testshire.toml"), "--data-dir", str(d)]
    assert main(["assign", str(src), "-o", str(tmp_path / "out.csv"), *base]) == 0
    err = capsys.readouterr().err
    assert "rows per 1,000 children aged 0-17" in err
    assert re.search(r"North\s+7\s+29\.91", err)
    assert re.search(r"East\s+<5\s+\*", err)  # a rate from a suppressed count is hidden too
    assert main(["assign", str(src), "-o", str(tmp_path / "out2.csv"), "--no-suppress", *base]) == 0
    assert re.search(r"East\s+1\s+9\.26", capsys.readouterr().err)


def test_export_teams_layer_has_population_fields_and_a_data_zones_layer(small, tmp_path):
    import geopandas as gpd

    d, p = small
    rows = "".join(f"{i},TT1 1AA\r\n" for i in range(7)) + "7,TT1 1AB\r\n"
    data, _ = caseload.allocate_bytes(p, ("id,postcode\r\n" + rows).encode())
    got = layers(p, caseload=data)
    teams = got["teams"].set_index("team")
    assert teams["children"].astype(int).to_dict() == CHILDREN
    assert {"population", "children_simd_q1_share", "children_in_split_zones",
            "services_per_1000_children"} <= set(teams.columns)
    # East's 1 is suppressed, so North's 7 is hidden too (secondary): both their rates are hidden
    assert teams["caseload_per_1000_children"].to_dict() == {"North": "*", "East": "*", "South": "0.0"}
    exact = layers(p, caseload=data, suppress=False)["teams"].set_index("team")
    assert exact["caseload_per_1000_children"].to_dict() == {"North": "29.91", "East": "9.26", "South": "0.0"}
    z = got["data_zones"].set_index("data_zone")
    assert len(z) == 5 and z.loc["S01990003", "teams"] == "North 0.50, South 0.50"
    out = tmp_path / "teams.gpkg"
    assert main(["export", "-o", str(out), "--profile", str(d / "testshire.toml"), "--data-dir", str(d)]) == 0
    back = gpd.read_file(out, layer="teams")
    assert back.set_index("team")["children"].to_dict() == CHILDREN
    assert len(gpd.read_file(out, layer="data_zones")) == 5


def test_simd_layer_is_offline_off_by_default_with_a_legend(small, testshire):
    _, p = small
    page = explore.coverage_map(p).get_root().render()
    assert zonemap.LAYER_NAME in page and "SIMD decile" in page and "1 most deprived" in page
    assert "Testtown Middle" in page and "among the 20% most deprived" in page
    assert_no_remote_assets(page)
    assert zonemap.LAYER_NAME not in explore.coverage_map(testshire).get_root().render()


def test_zone_names_from_the_file_are_escaped_on_the_map(tmp_path):
    import geopandas as gpd

    testing.write_test_data(tmp_path, small_areas=True)
    g = gpd.read_file(tmp_path / "tt_data_zones.gpkg")
    g.loc[0, "DZ2011_Name"] = "North <img src=x onerror=alert(1)>"
    g.to_file(tmp_path / "tt_data_zones.gpkg", driver="GPKG")
    p = load_profile(tmp_path / "testshire.toml", data_dir=tmp_path, cache=False)
    assert p.lookup("TT1 1AA")["data_zone_name"] == "North <img src=x onerror=alert(1)>"
    page = explore.coverage_map(p).get_root().render()
    assert "<img src=x" not in page and "\\u003cimg" not in page
    assert "North \\u0026lt;img" in page or "North &lt;img" in page


def test_simd_layer_group_starts_hidden(small):
    _, p = small
    m = explore.coverage_map(p)
    groups = [c for c in m._children.values() if getattr(c, "layer_name", None) == zonemap.LAYER_NAME]
    assert len(groups) == 1 and groups[0].show is False
    inner = list(groups[0]._children.values())
    assert len(inner) == 2  # the shaded zones, then the team outlines drawn over them
    assert inner[1].data["features"][0]["properties"]["team"] in CHILDREN


# --------------------------------------------------------------------------------------------------
# the dashboard
# --------------------------------------------------------------------------------------------------
@pytest.fixture
def app(small, monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    folder, _ = small
    monkeypatch.setenv("HEART_GEO_PROFILE", str(folder / "testshire.toml"))
    monkeypatch.setenv("HEART_GEO_DATA", str(folder))
    monkeypatch.setenv("HEART_GEO_CACHE", str(tmp_path / "cache"))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def _frame(at, *columns):
    return next(df.value for df in at.dataframe if all(c in df.value.columns for c in columns))


def test_dashboard_teams_tab_lookup_and_caseload_rates(app, small):
    app.session_state["tab"] = "Teams"
    app.run()
    assert not app.exception, app.exception
    overview = _frame(app, "Children 0-17", "In most deprived fifth", "Services per 1,000 children")
    assert overview.set_index("Team")["Children 0-17"].to_dict() == CHILDREN
    assert overview.set_index("Team").loc["East", "In most deprived fifth"] == "67%"
    app.session_state["tab"] = "Map & lookup"
    app.run()
    app.text_input(key="query").input("TT1 1AC").run()
    text = "\n".join(str(c.value) for c in app.caption).replace("\\", "")
    assert "Data zone S01990003 (Testtown Middle): among the 20% most deprived areas in Scotland" in text
    app.session_state["tab"] = "Caseload"
    app.run()
    body = "id,postcode\r\n" + "".join(f"{i},TT1 1AA\r\n" for i in range(7)) + "7,TT1 1AB\r\n8,TT1 1AC\r\n"
    app.file_uploader(key="caseload_file").upload("c.csv", body.encode(), "text/csv").run()
    assert not app.exception, app.exception
    # on screen the uploader's own file is exact (issue 20); the summary for sharing hides small counts
    rates = _frame(app, "Team", "Rows", "Per 1,000 children").set_index("Team")["Per 1,000 children"]
    assert str(rates["North"]) == "29.91" and str(rates["East"]) == str(rate_per_1000(1, CHILDREN["East"]))
    result = app.session_state["_caseload_result"][1]
    shared = pd.read_csv(io.BytesIO(uploads.caseload_summary_bytes(result, small[1])), dtype=str,
                         encoding="utf-8-sig").set_index("Group")
    assert shared.loc["North", "Per 1,000 children"] == "29.91"
    assert shared.loc["East", "Per 1,000 children"] == RATE_HIDDEN and shared.loc["East", "Rows"] == "<5"


def test_validate_and_data_notes_say_how_zones_were_found_and_the_uncertainty(small, testshire, capsys):
    from heart_geo.validate import validate_profile

    d, p = small
    rep = validate_profile(p)["small_areas"]
    assert rep["zones"] == 5 and rep["postcode_zone_methods"] == {"the zone its point lies in": 8}
    assert rep["split"]["North"] == {"split_zones": 1, "children_in_split_zones": 54, "children": 234}
    assert rep["repairs"] == ["repaired data zone S01990005: unioned 2 touching/overlapping parts"]
    notes = " ".join(answers.data_notes(p)["population"])
    assert "North 54 of 234" in notes and "the zone its point lies in: 8" in notes
    assert "population is not loaded" in " ".join(answers.data_notes(testshire)["population"])
    assert validate_profile(testshire)["small_areas"]["loaded"] is False
    main(["validate", "--profile", str(d / "testshire.toml"), "--data-dir", str(d)])
    out = capsys.readouterr().out
    assert "Data zones: 5 in the council" in out and "54 of 234 children 0-17" in out


@pytest.mark.browser
def test_simd_layer_turns_on_in_a_real_browser_with_team_outlines_over_it(small, tmp_path):
    from browser_harness import CHROMIUM, assert_only_tiles_were_missing, offline_browser

    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    _, p = small
    page_file = tmp_path / "map.html"
    explore.coverage_map(p).save(str(page_file))
    fills = ", ".join(f'path[fill="{c}"]' for c in zonemap.DECILE_COLOURS)
    outlines = 'path[fill="none"][stroke="#000000"][stroke-width="2.5"]'
    with offline_browser() as (context, log):
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(page_file.as_uri())
        page.locator("path.leaflet-interactive").first.wait_for(timeout=10_000)
        assert page.locator(fills).count() == 0  # off at first
        assert "SIMD decile" in page.locator(".hg-legend").text_content()  # in the folded part of the key
        page.evaluate("""name => {
            const label = [...document.querySelectorAll('.leaflet-control-layers label')]
                .find(l => l.textContent.includes(name));
            label.querySelector('input').click();
        }""", zonemap.LAYER_NAME)
        page.locator(fills).first.wait_for(timeout=5_000)
        assert page.locator(fills).count() == len(p.small_areas.zones[p.small_areas.zones["in_council"]])
        assert page.locator(outlines).count() == len(p.team_names)
        order = page.evaluate(f"""() => {{
            const all = [...document.querySelectorAll('path')];
            const zones = [...document.querySelectorAll('{fills}')].map(e => all.indexOf(e));
            const lines = [...document.querySelectorAll('{outlines}')].map(e => all.indexOf(e));
            return [Math.max(...zones), Math.min(...lines)];
        }}""")
        assert order[0] < order[1]  # the team outlines come later in the SVG: drawn over the shading
    assert_only_tiles_were_missing(log)
