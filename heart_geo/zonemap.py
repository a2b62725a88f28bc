"""The map's data-zone layer: the council's zones shaded by SIMD decile, team boundaries drawn over them.

Off by default (the layer list turns it on); embedded in the page like every other layer (no tiles,
no network). Names from the data files are HTML-escaped where they enter tooltips.
"""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import shapely

from .escape import html_text
from .population import zone_table
from .settings import WGS84
from .smallareas import decile_words

__all__ = ["DECILE_COLOURS", "LAYER_NAME", "add_simd_layer", "simd_legend_html"]

#: SIMD decile 1 (most deprived) to 10 (least): ColorBrewer RdYlBu, 10 classes.
DECILE_COLOURS = ("#a50026", "#d73027", "#f46d43", "#fdae61", "#fee090",
                  "#e0f3f8", "#abd9e9", "#74add1", "#4575b4", "#313695")
LAYER_NAME = "Data zones by SIMD decile (deprivation)"
#: Simplification of the zone outlines (metres): shading, not boundaries to measure by.
ZONE_SIMPLIFY_M = 80.0
_TIP = ("background-color:#fff;color:#111;font:12px/1.35 system-ui,sans-serif;"
        "border:1px solid #555;border-radius:3px;padding:4px 6px")


def _features(profile, simplify_m: float) -> list[dict]:
    z = zone_table(profile)
    if "simd_decile" not in z.columns:
        return []
    geoms = gpd.GeoSeries(z.geometry, crs="EPSG:27700")
    if simplify_m > 0:
        geoms = geoms.simplify(simplify_m, preserve_topology=True)
    geoms = geoms.to_crs(WGS84)
    out = []
    for r, g in zip(z.itertuples(index=False), geoms, strict=True):
        if g is None or g.is_empty:
            continue
        d = int(r.simd_decile)
        g = shapely.transform(g, lambda xy: np.round(xy, 4))  # about 10 m: the outlines are simplified more
        props = {"decile": d, "colour": DECILE_COLOURS[d - 1] if 1 <= d <= 10 else "#bbbbbb",
                 "zone": html_text(f"{r.data_zone} {r.name}"),
                 "simd": html_text(f"decile {d}: {decile_words(d)}" if 1 <= d <= 10 else "not in the SIMD file"),
                 "teams": html_text(r.teams)}
        if "children" in z.columns:
            props["children"] = f"{int(r.children):,}"
        out.append({"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(g)})
    return out


def add_simd_layer(m: folium.Map, profile, team_features: list[dict], *, simplify_m: float = 20.0) -> str:
    """Add the SIMD data-zone layer (hidden at first) to ``m``; return its legend HTML ("" when not loaded).

    ``team_features`` are the map's team polygons (WGS84 GeoJSON features): their outlines are drawn
    over the shading, in the same layer, so the teams stay readable when it is turned on.
    """
    sa = getattr(profile, "small_areas", None)
    if sa is None or sa.simd is None:
        return ""
    feats = _features(profile, max(simplify_m, ZONE_SIMPLIFY_M))
    if not feats:
        return ""
    group = folium.FeatureGroup(name=LAYER_NAME, show=False).add_to(m)
    fields, aliases = ["zone", "simd", "teams"], ["Data zone:", "SIMD 2020:", f"{profile.unit.capitalize()}(s):"]
    if "children" in feats[0]["properties"]:
        fields.append("children")
        aliases.append("Children 0-17:")
    folium.GeoJson(
        {"type": "FeatureCollection", "features": feats},
        name="SIMD deciles",
        style_function=lambda f: {"fillColor": f["properties"]["colour"], "color": "#666666", "weight": 0.4,
                                  "fillOpacity": 0.75},
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases, sticky=True, style=_TIP),
        control=False,
    ).add_to(group)
    folium.GeoJson(
        {"type": "FeatureCollection", "features": team_features},
        name="team boundaries over the deciles",
        style_function=lambda _f: {"fill": False, "color": "#000000", "weight": 2.5},
        interactive=False,
        control=False,
    ).add_to(group)
    return simd_legend_html()


def simd_legend_html() -> str:
    """Return the legend of the SIMD layer: ten swatches, most deprived first."""
    cells = "".join(
        f"<span title='decile {d}' style='display:inline-block;width:14px;height:11px;background:{c};"
        "border:1px solid #333;margin-right:1px'></span>" for d, c in enumerate(DECILE_COLOURS, 1))
    return ("<div class='hg-legend-simd' style='margin-top:3px'><b>SIMD decile</b> (layer, off at first)<br>"
            f"{cells}<br><span style='font-size:10.5px'>1 most deprived … 10 least deprived</span></div>")
