"""The dashboard's map, rendered once and shown to every session (issue 20: many people at once).

``streamlit_folium.st_folium`` renders a folium map to HTML and JavaScript on every script run of
every session: for the council's map that is most of a second of CPU per run, the same work for
everyone. Here the rendering is split in two:

* :func:`map_payload`: the folium map rendered to what the map component needs (script, header,
  HTML, links), done once per profile, data release and highlighted team by the dashboard's
  ``st.cache_resource``; it holds open data only (boundaries, schools, services);
* :func:`show_map`: the component shown with a payload, plus this session's marker (the place it
  looked up) as a small layer of its own: a query never enters the shared cache.

The component is streamlit-folium's own (its front end and its returned ``last_clicked``); the
helpers used are the ones ``st_folium`` calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import folium
from streamlit_folium import (
    _component_func,
    _get_feature_group_string,
    _get_header,
    _get_html,
    _get_map_string,
    generate_js_hash,
    get_full_id,
)

from ..escape import html_text

__all__ = ["MapPayload", "map_payload", "show_map"]


@dataclass(frozen=True)
class MapPayload:
    """A folium map rendered for the map component: the same for every session that shows it."""

    script: str
    header: str
    html: str
    id: str
    css_links: tuple[str, ...]
    js_links: tuple[str, ...]
    bounds: dict


def _links(fmap: folium.Map) -> tuple[list[str], list[str]]:
    """Stylesheets and scripts the map's elements declare (embedded data URIs: the map is offline)."""
    css: list[str] = []
    js: list[str] = []
    stack = [fmap]
    while stack:
        el = stack.pop()
        css += [href for _, href in getattr(el, "default_css", [])]
        js += [src for _, src in getattr(el, "default_js", [])]
        stack.extend(reversed(list(getattr(el, "_children", {}).values())))
    return list(dict.fromkeys(css)), list(dict.fromkeys(js))


def map_payload(fmap: folium.Map) -> MapPayload:
    """Render a folium map once for the map component (what ``st_folium`` does on every run)."""
    fmap.get_root().render()
    fmap.render()
    html, header = _get_html(fmap), _get_header(fmap)
    script = _get_map_string(fmap)
    css, js = _links(fmap)
    (s, w), (n, e) = fmap.get_bounds()
    bounds = {"_southWest": {"lat": s, "lng": w}, "_northEast": {"lat": n, "lng": e}}
    return MapPayload(script, header, html, get_full_id(fmap), tuple(css), tuple(js), bounds)


def _marker_layer(point: tuple[float, float], label: str) -> str:
    """Return the script of this session's marker layer (built on a throwaway map: nothing shared changes)."""
    scratch = folium.Map(location=None, tiles=None)
    group = folium.FeatureGroup(name="Looked up", control=False)
    text = html_text(label or "looked up")
    folium.Marker(list(point), tooltip=folium.Tooltip(text), popup=folium.Popup(text, max_width=260)).add_to(group)
    return _get_feature_group_string(group, scratch)


def show_map(payload: MapPayload, *, key: str, height: int = 600, point: tuple[float, float] | None = None,
             label: str | None = None) -> dict | None:
    """Show a rendered map and this session's marker; return what the component returns (``last_clicked``).

    Parameters
    ----------
    payload : MapPayload
        From :func:`map_payload` (shared by every session).
    key : str
        The widget's key; the component is mounted anew when the map itself changes.
    point : (lat, lon), optional
        This session's marker, with ``label`` as its tooltip (escaped).
    """
    return _component_func(
        script=payload.script, header=payload.header, html=payload.html, id=payload.id,
        key=generate_js_hash(payload.script, key, False), height=height, width=None,
        returned_objects=["last_clicked"], default={"last_clicked": None}, zoom=None, center=None,
        feature_group=_marker_layer(point, label or "") if point is not None else None,
        return_on_hover=False, layer_control=None, pixelated=False,
        css_links=list(payload.css_links), js_links=list(payload.js_links), wrap_longitude=False,
    )
