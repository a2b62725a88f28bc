"""The offline folium map really draws in headless Chromium with no internet.

Every request to a host other than loopback is aborted by the browser harness;
only basemap tile images may be among the aborted requests.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import folium
import pytest
from browser_harness import (
    ARTIFACTS,
    assert_only_tiles_were_missing,
    offline_browser,
    requires_chromium,
)

from heart_geo._offline import make_offline

pytestmark = [pytest.mark.browser, requires_chromium]

APP = Path(__file__).resolve().parent / "apps" / "offline_map_app.py"
IFRAME = "iframe[title='streamlit_folium.st_folium']"
POLYGON = "path.leaflet-interactive[stroke='#3388ff']"
CIRCLE = "path.leaflet-interactive[stroke='red']"
CLICK_RE = re.compile(r"LAST_CLICK lat=(-?\d+\.\d+) lng=(-?\d+\.\d+)")


def test_streamlit_folium_map_works_offline(streamlit_server) -> None:
    server = streamlit_server(APP)
    ARTIFACTS.mkdir(exist_ok=True)
    with offline_browser() as (context, log):
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(server.url, wait_until="domcontentloaded")
        page.get_by_text("LAST_CLICK none").wait_for(timeout=60_000)

        frame_loc = page.frame_locator(IFRAME)
        container = frame_loc.locator(".leaflet-container")
        container.wait_for(timeout=30_000)
        frame = page.locator(IFRAME).element_handle().content_frame()
        assert frame is not None
        assert frame.evaluate("L.version") == "1.9.3"
        assert frame.evaluate("typeof jQuery") == "function"

        # GeoJson polygon drawn, tooltip on hover.
        polygon = frame_loc.locator(POLYGON)
        polygon.wait_for(timeout=10_000)
        assert re.fullmatch(r"M[\d.\s-]+(L[\d.\s-]+){3,}z", polygon.get_attribute("d").strip())
        polygon.hover()
        assert "Test locality" in frame_loc.locator(".leaflet-tooltip").inner_text(timeout=5_000)

        # LayerControl with both overlays; its toggle icon is an inlined PNG.
        layers = frame_loc.locator(".leaflet-control-layers")
        layer_names = layers.text_content()  # collapsed: present but hidden
        assert "Localities" in layer_names and "Markers" in layer_names
        toggle_bg = frame_loc.locator(".leaflet-control-layers-toggle").evaluate(
            "el => getComputedStyle(el).backgroundImage"
        )
        assert toggle_bg.startswith('url("data:image/png'), toggle_bg
        assert "Test locality" in frame_loc.locator(".offline-legend").inner_text()

        # CircleMarker popup (folium builds popup content with jQuery).
        frame_loc.locator(CIRCLE).click()
        popup = frame_loc.locator(".leaflet-popup-content")
        assert "Offline popup works" in popup.inner_text(timeout=5_000)
        page.wait_for_timeout(600)  # let the popup fade-in and auto-pan finish
        page.screenshot(path=str(ARTIFACTS / "offline_map.png"))

        # Click an empty spot: the lat/lng goes to Python and back into the page.
        box = container.bounding_box()
        assert box is not None
        x, y = 60.0, box["height"] - 120.0
        frame.evaluate(
            "map_div.once('click', e => { window.__clicked = [e.latlng.lat, e.latlng.lng]; })"
        )
        container.click(position={"x": x, "y": y})
        frame.wait_for_function("window.__clicked !== undefined", timeout=5_000)
        expected = frame.evaluate("window.__clicked")
        where = frame.evaluate(
            "([x, y]) => { const ll = map_div.containerPointToLatLng([x, y]);"
            " return [ll.lat, ll.lng]; }",
            [x, y],
        )
        assert abs(expected[0] - where[0]) < 1e-3 and abs(expected[1] - where[1]) < 1e-3
        deadline = time.monotonic() + 30
        shown = None
        while time.monotonic() < deadline:
            match = CLICK_RE.search(page.locator("body").inner_text())
            if match:
                shown = (float(match.group(1)), float(match.group(2)))
                if abs(shown[0] - expected[0]) < 1e-4 and abs(shown[1] - expected[1]) < 1e-4:
                    break
            time.sleep(0.2)
        else:
            pytest.fail(f"app shows {shown}, expected click at {expected}")
        assert 55.5 < shown[0] < 55.7 and -4.6 < shown[1] < -4.4
        page.screenshot(path=str(ARTIFACTS / "offline_map_clicked.png"))

    assert log.allowed, "no request reached the local Streamlit server"
    assert_only_tiles_were_missing(log)


def _standalone_map() -> folium.Map:
    m = folium.Map(location=[55.6, -4.5], zoom_start=13)
    folium.GeoJson(
        {
            "type": "Polygon",
            "coordinates": [[[-4.51, 55.59], [-4.49, 55.59], [-4.49, 55.61], [-4.51, 55.59]]],
        },
        tooltip="A triangle",
    ).add_to(m)
    folium.Marker([55.6, -4.48], popup="Default pin").add_to(m)
    folium.LayerControl().add_to(m)
    return m


def test_saved_html_map_works_offline(tmp_path: Path) -> None:
    online = tmp_path / "online.html"
    offline = tmp_path / "offline.html"
    _standalone_map().save(str(online))
    make_offline(_standalone_map()).save(str(offline))

    with offline_browser() as (context, log):
        page = context.pages[0] if context.pages else context.new_page()

        # Control: folium's default CDN page cannot draw here, so the block is real.
        page.goto(online.as_uri())
        page.wait_for_load_state("load")
        assert page.evaluate("typeof L") == "undefined"
        assert page.locator(".leaflet-container").count() == 0
        assert any("leaflet" in url for _, url in log.aborted)

        log.aborted.clear()
        log.console_errors.clear()
        log.page_errors.clear()
        page.goto(offline.as_uri())
        page.locator("path.leaflet-interactive").wait_for(timeout=10_000)
        marker = page.locator("img.leaflet-marker-icon")
        assert marker.get_attribute("src").startswith("data:image/png")
        marker.click()
        assert "Default pin" in page.locator(".leaflet-popup-content").inner_text(timeout=5_000)

    assert_only_tiles_were_missing(log)
