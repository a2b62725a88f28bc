"""The real dashboard for a team of staff (issue 20): accessible, plain words, one session's data its own.

In a real headless Chromium with no internet, against ``heart-geo dashboard`` on the official data:

* axe-core (WCAG 2.2 AA rules) finds no serious or critical violation on the first view, after a
  lookup of each status, inside the map frame, or on any tab;
* no status code or column name in any page's text;
* the lookup and the tabs work from the keyboard alone;
* two browsers at once: one session's upload and answer never appear in the other.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_harness import CHROMIUM, CHROMIUM_ARGS, is_local_url, offline_browser, requires_chromium
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from test_dashboard_browser import CASELOAD, DATA, IFRAME, heart_geo_dashboard, open_first_view

pytestmark = [pytest.mark.browser, pytest.mark.realdata, requires_chromium, pytest.mark.usefixtures("data_dir")]

#: A status code or a column name of an answer: never in a page's text (issue 20).
CODES = re.compile(r"\b(nearest_team|outside_area|unknown_postcode|terminated_postcode|invalid_postcode|"
                   r"invalid_coordinates|missing_location|likely_team|split_teams|distance_m|near_boundary|"
                   r"catchment_school)\b")
TABS = ["Teams", "Caseload", "Links", "Data notes"]
#: The heading each tab opens with (the Teams one counts the teams).
TAB_HEADINGS = {
    "Teams": re.compile(r"^The \d+ "),
    "Caseload": "Allocate a caseload",
    "Links": "Cross-locality links",
    "Data notes": "Where the data comes from",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with heart_geo_dashboard(tmp_path_factory.mktemp("a11y")) as s:
        yield s


def status_queries() -> dict[str, str]:
    """One East Ayrshire query per status, each checked against the library (no release's answer hard-coded)."""
    import heart_geo
    from heart_geo import answers

    p = heart_geo.load_profile("east_ayrshire", data_dir=DATA)
    table = p.postcode_allocations()
    out = {}
    for status in ("allocated", "nearest_team", "outside_area", "terminated_postcode"):
        rows = table[table["status"] == status]
        if len(rows):
            out[status] = str(rows["postcode"].iloc[0])
    if "outside_area" not in out:  # a postcode of a neighbouring council in the data
        others = p.postcodes[p.postcodes["council_code"] != p.code]
        out["outside_area"] = str(others["postcode"].iloc[0])
    sector = str(table.loc[table["status"] == "allocated", "postcode"].iloc[0])[:-2]
    for candidate in (f"{sector}{a}{b}" for a in "ZYXW" for b in "ZYXWUT"):  # well-formed, not in the data
        if answers.lookup_answer(p, candidate)["status"] == "unknown_postcode":
            out["unknown_postcode"] = candidate
            break
    out["invalid_postcode"] = "hello there"
    out["invalid_coordinates"] = "-4.26, 55.45"
    for status, query in out.items():
        assert answers.lookup_answer(p, query)["status"] == status, query
    return out


def serious(target) -> list:
    """axe-core's serious and critical violations on a page or a frame."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(target).response["violations"]
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in found
            if v["impact"] in ("serious", "critical")]


def map_frame(page):
    """The map's frame once exactly one map is on the page (a lookup remounts it)."""
    page.wait_for_function(f"document.querySelectorAll(\"{IFRAME}\").length === 1", timeout=30_000)
    frame = page.locator(IFRAME).element_handle().content_frame()
    frame.locator(".hg-legend").wait_for(timeout=30_000)
    return frame


def look_up(page, query: str) -> str:
    box = page.get_by_role("textbox", name="Postcode or address")
    box.fill(query)
    box.press("Enter")
    panel = page.locator(".st-key-lookup_answer")
    panel.get_by_text(f"{query} — ").wait_for(timeout=30_000)
    page.wait_for_timeout(1500)  # the rerun ends and the map settles
    return panel.inner_text()


def test_no_serious_violation_and_no_code_anywhere(server) -> None:
    queries = status_queries()
    with offline_browser((1400, 950)) as (context, _log):
        page = context.pages[0] if context.pages else context.new_page()
        open_first_view(page, server.url)
        page.wait_for_timeout(800)
        assert not serious(page), "first view"
        assert not serious(map_frame(page)), "map frame"
        for status, query in queries.items():
            text = look_up(page, query)
            assert text.count(f"{query} — ") == 1, text  # the headline, said once
            if status == "unknown_postcode":  # a new postcode's likely team is highlighted on the map
                likely = re.search(r"probably (.+?): a new postcode", text).group(1)
                map_frame(page).locator(".hg-legend").get_by_text(f"{likely} ◀ here").wait_for(timeout=30_000)
            assert not CODES.search(page.locator("body").inner_text()), (status, text)
            assert not serious(page), status
            assert not serious(map_frame(page)), f"map frame after {status}"
        for tab in TABS:
            page.get_by_role("tab", name=tab).click()
            page.wait_for_timeout(2500)
            assert not CODES.search(page.locator("body").inner_text()), tab
            assert not serious(page), tab


def test_lookup_and_tabs_by_keyboard_alone(server) -> None:
    with offline_browser((1400, 950)) as (context, _log):
        page = context.pages[0] if context.pages else context.new_page()
        open_first_view(page, server.url)
        for _ in range(40):  # Tab through the page until the lookup box has the focus
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.getAttribute('aria-label')") == "Postcode or address":
                break
        else:
            pytest.fail("the lookup box cannot be reached with the Tab key")
        page.keyboard.type("KA18 1FQ")
        page.keyboard.press("Enter")
        page.locator(".st-key-lookup_answer").get_by_text("KA18 1FQ — Barony", exact=True).wait_for(timeout=30_000)
        page.get_by_role("tab", name="Map & lookup").focus()
        for tab in TABS:
            page.keyboard.press("ArrowRight")
            page.keyboard.press("Enter")
            selected = page.get_by_role("tab", selected=True)
            selected.get_by_text(tab, exact=True).wait_for(timeout=30_000)
            # as a person would, read the tab before moving on: its heading is drawn by the rerun that
            # opening it starts; on a busy machine Streamlit can drop that rerun when tabs change
            # quickly, and a person presses Enter again (focus stays on the tab)
            heading = page.get_by_role("heading", name=TAB_HEADINGS[tab]).first
            for _attempt in range(3):
                try:
                    heading.wait_for(timeout=15_000)
                    break
                except PlaywrightTimeoutError:
                    page.keyboard.press("Enter")
            else:
                pytest.fail(f"the {tab} tab opened by keyboard shows nothing")


def _blocked_off(route, request) -> None:
    if is_local_url(request.url):
        route.continue_()
    else:
        route.abort("internetdisconnected")


def test_two_browsers_never_see_each_others_upload_or_answer(server) -> None:
    """Two people at once: two isolated browser contexts (own cookies, own storage), one server."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            contexts = [browser.new_context(viewport={"width": 1400, "height": 950}, service_workers="block")
                        for _ in range(2)]
            for c in contexts:
                c.route("**/*", _blocked_off)
            _two_people(server, *(c.new_page() for c in contexts))
        finally:
            browser.close()


def _two_people(server, a, b) -> None:
    open_first_view(a, server.url)
    open_first_view(b, server.url)
    look_up(a, "KA18 1FQ")
    look_up(b, "KA3 5QF")
    assert "KA3 5QF" not in a.locator("body").inner_text()
    assert "KA18 1FQ" not in b.locator("body").inner_text()
    a.get_by_role("tab", name="Caseload").click()
    a.locator(".st-key-caseload_file input[type=file]").set_input_files(
        files=[{"name": "cases.csv", "mimeType": "text/csv", "buffer": CASELOAD.encode()}])
    a.get_by_text("Allocated 5 rows").wait_for(timeout=60_000)
    b.get_by_role("tab", name="Caseload").click()
    b.get_by_text("Allocate a caseload").wait_for(timeout=30_000)
    b.wait_for_timeout(2000)
    seen_b = b.locator("body").inner_text()
    assert "Allocated" not in seen_b and "cases.csv" not in seen_b
    assert b.get_by_role("button", name="Download allocated CSV").count() == 0
    assert a.get_by_text("Allocated 5 rows").is_visible()  # A's own result is still there


def test_artifacts_folder_untouched() -> None:
    """Nothing of a session is written next to the tests (uploads stay in memory)."""
    assert not list(Path(__file__).parent.glob("cases*.csv"))
