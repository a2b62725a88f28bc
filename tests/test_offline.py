"""Unit tests for heart_geo._offline: folium maps with no CDN resources."""

from __future__ import annotations

import base64
import re
import warnings

import branca.colormap
import folium
import folium.plugins
import pytest

from heart_geo._offline import (
    OfflineAssetError,
    RemoteAssetError,
    assert_no_remote_assets,
    data_uri,
    make_offline,
    offline_resources,
)

SCRIPT_SRC = re.compile(r'<script[^>]*\bsrc="([^"]+)"')


def _demo_map() -> folium.Map:
    m = folium.Map(location=[55.6, -4.5], zoom_start=12)
    folium.GeoJson(
        {
            "type": "FeatureCollection",
            "features": [_square_feature()],
        },
        tooltip=folium.GeoJsonTooltip(fields=["name"]),
    ).add_to(m)
    folium.CircleMarker([55.6, -4.5], radius=5, popup="hello").add_to(m)
    folium.Marker([55.61, -4.5], popup=folium.Popup("pin")).add_to(m)
    folium.LayerControl().add_to(m)
    return m


def _square_feature() -> dict:
    return {
        "type": "Feature",
        "properties": {"name": "square"},
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[-4.51, 55.59], [-4.49, 55.59], [-4.49, 55.61], [-4.51, 55.61], [-4.51, 55.59]]
            ],
        },
    }


def _scripts(html: str) -> list[str]:
    return SCRIPT_SRC.findall(html)


def _decode(uri: str) -> str:
    return base64.b64decode(uri.partition(",")[2]).decode("utf-8")


def test_default_folium_map_is_not_offline() -> None:
    html = _demo_map().get_root().render()
    with pytest.raises(RemoteAssetError, match="cdn.jsdelivr.net"):
        assert_no_remote_assets(html)


def test_offline_map_has_no_remote_script_or_stylesheet() -> None:
    html = make_offline(_demo_map()).get_root().render()
    assert_no_remote_assets(html)
    assert not re.search(r'<(?:script|link)[^>]+(?:src|href)="(?:https?:)?//', html)
    # The basemap tile URL template (inside JS) is the one remote URL left.
    assert "tile.openstreetmap.org/{z}/{x}/{y}.png" in html


def test_offline_map_contains_leaflet_and_jquery() -> None:
    html = make_offline(_demo_map()).get_root().render()
    scripts = [_decode(src) for src in _scripts(html)]
    assert len(scripts) == 3  # leaflet, icon patch, jquery
    assert "Leaflet 1.9.3" in scripts[0]
    assert "L.Icon.Default.imagePath" in scripts[1]
    assert "jQuery v3.7.1" in scripts[2]
    assert data_uri(offline_resources()["leaflet.js"], "text/javascript") in html


def test_leaflet_css_images_are_inlined() -> None:
    css = offline_resources()["leaflet.css"]
    assert ".leaflet-control-layers-toggle" in css
    assert "images/" not in css
    assert css.count("data:image/png;base64,") == 3
    assert "sourceMappingURL" not in offline_resources()["leaflet.js"]


def test_unneeded_cdn_resources_are_dropped() -> None:
    m = make_offline(_demo_map())
    assert [name for name, _ in m.default_js] == ["leaflet", "leaflet_offline_icons", "jquery"]
    assert [name for name, _ in m.default_css] == ["leaflet_css"]


def test_class_level_resource_lists_are_untouched() -> None:
    before_js, before_css = list(folium.Map.default_js), list(folium.Map.default_css)
    make_offline(_demo_map())
    assert folium.Map.default_js == before_js
    assert folium.Map.default_css == before_css
    with pytest.raises(RemoteAssetError):
        assert_no_remote_assets(folium.Map().get_root().render())


def test_map_rendered_before_make_offline_loses_its_cdn_links() -> None:
    m = _demo_map()
    m.get_root().render()
    make_offline(m)
    assert_no_remote_assets(m.get_root().render())


def test_streamlit_folium_gets_only_local_links() -> None:
    """st_folium collects default_js/default_css of every element and strips script tags."""
    streamlit_folium = pytest.importorskip("streamlit_folium")
    from folium.elements import JSCSSMixin

    m = make_offline(_demo_map())
    m.get_root().render()

    def walk(el):
        yield el
        for child in el._children.values():
            yield from walk(child)

    links = [
        url
        for el in walk(m)
        if isinstance(el, JSCSSMixin)
        for _, url in [*el.default_js, *el.default_css]
    ]
    assert links and all(url.startswith("data:") for url in links)
    assert_no_remote_assets(streamlit_folium._get_header(m))


def test_awesome_marker_icon_is_refused() -> None:
    m = _demo_map()
    folium.Marker([55.6, -4.5], icon=folium.Icon(color="red")).add_to(m)
    with pytest.raises(OfflineAssetError, match="folium.Icon"):
        make_offline(m)


def test_colormap_is_refused() -> None:
    m = _demo_map()
    branca.colormap.LinearColormap(["white", "red"], vmin=0, vmax=1).add_to(m)
    with pytest.raises(OfflineAssetError, match="colormap"):
        make_offline(m)


def test_unknown_plugin_resources_are_refused_or_warned() -> None:
    m = _demo_map()
    folium.plugins.Fullscreen().add_to(m)
    with pytest.raises(OfflineAssetError, match="Fullscreen"):
        make_offline(m)

    m = _demo_map()
    folium.plugins.Fullscreen().add_to(m)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_offline(m, strict=False)
    assert any("Fullscreen" in str(w.message) for w in caught)
    with pytest.raises(RemoteAssetError):
        assert_no_remote_assets(m.get_root().render())


@pytest.mark.parametrize(
    "html",
    [
        '<script src="https://cdn.example.org/x.js"></script>',
        '<script defer src="//cdn.example.org/x.js"></script>',
        '<link rel="stylesheet" href="http://cdn.example.org/x.css"/>',
        '<link rel="preload" href="https://cdn.example.org/font.woff2">',
        "<style>@import url('https://fonts.example.org/css');</style>",
        '<style>.a { background: url("https://cdn.example.org/a.png") }</style>',
        '<link rel="stylesheet" href="'
        + data_uri("@import 'https://cdn.example.org/b.css';", "text/css")
        + '"/>',
    ],
)
def test_assert_no_remote_assets_catches(html: str) -> None:
    with pytest.raises(RemoteAssetError):
        assert_no_remote_assets(html)


def test_assert_no_remote_assets_allows_local_and_tile_templates() -> None:
    assert_no_remote_assets(
        '<script src="data:text/javascript;base64,Ozs="></script>'
        '<script src="/static/app.js"></script>'
        '<link rel="stylesheet" href="static/app.css"/>'
        "<script>L.tileLayer('https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png')</script>"
        '<a href="https://www.openstreetmap.org/copyright">OSM</a>'
    )
