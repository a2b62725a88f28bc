"""Tiny Streamlit app for the offline browser test (tests/test_browser_offline.py).

A GeoJson square near Kilmarnock with a tooltip, a CircleMarker with a popup,
an HTML legend control and a LayerControl, made offline with
heart_geo._offline.make_offline and shown with streamlit_folium.st_folium.
"""

from __future__ import annotations

import folium
import streamlit as st
from branca.element import MacroElement
from jinja2 import Template
from streamlit_folium import st_folium

from heart_geo._offline import make_offline

LON, LAT = -4.5, 55.6
D = 0.01

SQUARE = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "Test locality"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [
                        [LON - D, LAT - D],
                        [LON + D, LAT - D],
                        [LON + D, LAT + D],
                        [LON - D, LAT + D],
                        [LON - D, LAT - D],
                    ]
                ],
            },
        }
    ],
}


class Legend(MacroElement):
    """A legend drawn as a Leaflet control (plain HTML, nothing to download)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var legend = L.control({position: "bottomright"});
            legend.onAdd = function () {
                var div = L.DomUtil.create("div", "offline-legend");
                div.style.background = "white";
                div.style.padding = "4px 8px";
                div.innerHTML = "<b>Legend</b><br>"
                    + "<span style='color:#3388ff'>&#9632;</span> Test locality";
                return div;
            };
            legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )


def build_map() -> folium.Map:
    m = folium.Map(location=[LAT, LON], zoom_start=13)
    folium.GeoJson(
        SQUARE,
        name="Localities",
        tooltip=folium.GeoJsonTooltip(fields=["name"], aliases=["Locality:"]),
    ).add_to(m)
    markers = folium.FeatureGroup(name="Markers").add_to(m)
    folium.CircleMarker(
        location=[LAT + 2 * D, LON + 2 * D],
        radius=10,
        color="red",
        fill=True,
        popup=folium.Popup("Offline popup works", max_width=200),
    ).add_to(markers)
    Legend().add_to(m)
    folium.LayerControl().add_to(m)
    return make_offline(m)


st.title("Offline map test")
out = st_folium(build_map(), returned_objects=["last_clicked"], height=500, key="map")
last = (out or {}).get("last_clicked")
if last:
    st.write(f"LAST_CLICK lat={last['lat']:.6f} lng={last['lng']:.6f}")
else:
    st.write("LAST_CLICK none")
