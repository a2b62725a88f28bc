"""The coverage map: the council's teams, gaps, schools and services as an offline folium map.

* :func:`coverage_map`: a folium map of the teams, the council outline, the gaps no team covers,
  the schools and the services present, that works with **no internet** (Leaflet embedded, see
  :mod:`heart_geo._offline`);
* :func:`map_payload_bytes`: the size of what the browser is sent.

This module builds maps only. The dashboard's answers (:func:`lookup_answer`, :func:`click_answer`,
:func:`team_details`, :func:`data_notes`...) live in :mod:`heart_geo.answers` and its uploads and
downloads (:func:`allocate_caseload_bytes`, :func:`enrolment_links_bytes`, :func:`export_bytes`) in
:mod:`heart_geo.uploads`; they are importable from here too, as before.
"""

from __future__ import annotations

import html
import weakref

import folium
import numpy as np
import shapely
from branca.element import MacroElement
from jinja2 import Template

from . import _util
from ._offline import ZoomableMap, make_offline
from .answers import (  # noqa: F401 - re-exported: the answers lived here
    _clean,
    _latlon,
    _team_services,
    click_answer,
    community_services,
    data_notes,
    lookup_answer,
    service_counts_table,
    team_details,
)
from .escape import html_text as _text
from .escape import md_text
from .links import school_localities
from .services import service_locations, team_hubs
from .settings import WGS84
from .uploads import (  # noqa: F401 - re-exported: the upload flows lived here
    MIME,
    CaseloadResult,
    allocate_caseload_bytes,
    enrolment_links_bytes,
    export_bytes,
)
from .zonemap import add_simd_layer

__all__ = [
    "KIND_STYLES",
    "MIME",
    "CaseloadResult",
    "allocate_caseload_bytes",
    "click_answer",
    "community_services",
    "coverage_map",
    "data_notes",
    "enrolment_links_bytes",
    "export_bytes",
    "lookup_answer",
    "map_payload_bytes",
    "md_text",
    "plural_unit",
    "service_counts_table",
    "team_details",
]

#: Geometry is simplified by this many metres (EPSG:27700) before it goes to the browser.
SIMPLIFY_M = 20.0
#: Decimal places kept in longitude/latitude (5 ≈ 1 m).
_DECIMALS = 5

#: How each kind of school is drawn: (fill, stroke, radius, legend label).
KIND_STYLES: dict[str, tuple[str, str, int, str]] = {
    "secondary": ("#ffffff", "#08306b", 7, "Secondary (catchment school)"),
    "primary": ("#ffffff", "#404040", 4, "Primary"),
    "faith": ("#111111", "#ffd92f", 8, "RC / faith: serves the whole council"),
    "asn": ("#b2182b", "#ffffff", 7, "ASN / special: serves the whole council"),
    "other": ("#bdbdbd", "#404040", 4, "Other school"),
}
_KIND_NAMES = {
    "secondary": "secondary",
    "primary": "primary",
    "faith": "Roman Catholic / faith",
    "asn": "ASN / special",
    "other": "other",
}
GAP_FILL = "#9e9e9e"
_LEGEND_PAD = 200
_TIP_STYLE = "font-size:12px; max-width:320px; white-space:normal;"

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def plural_unit(profile) -> str:
    """'teams' or 'localities' (the profile's unit in the plural)."""
    return _util.plural(getattr(profile, "unit", "team") or "team")


# --------------------------------------------------------------------------------------------------
# map layers (computed once per profile and simplification, kept while the profile lives)
# --------------------------------------------------------------------------------------------------
def _to_wgs84(geoms, simplify_m: float) -> list:
    """EPSG:27700 geometries -> simplified, rounded EPSG:4326 geometries (empty ones dropped as None)."""
    import geopandas as gpd

    s = gpd.GeoSeries(list(geoms), crs="EPSG:27700")
    if simplify_m > 0:
        s = s.simplify(simplify_m, preserve_topology=True)
    s = s.to_crs(WGS84)
    out = []
    for g in s:
        if g is None or g.is_empty:
            out.append(None)
            continue
        out.append(shapely.transform(g, lambda xy: np.round(xy, _DECIMALS)))
    return out


def _feature(geom, props: dict) -> dict:
    return {"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(geom)}


def _layers(profile, simplify_m: float) -> dict:
    per_profile = _CACHE.setdefault(profile, {})
    if simplify_m in per_profile:
        return per_profile[simplify_m]
    ta = profile.team_areas
    summary = profile.team_summary()
    unit_col = profile.unit
    counts = dict(zip(summary[unit_col], summary["postcodes"], strict=True))
    team_geoms = _to_wgs84(ta.geometry, simplify_m)
    teams = []
    for (_, r), g in zip(ta.iterrows(), team_geoms, strict=True):
        if g is None:
            continue
        teams.append(
            _feature(
                g,
                {
                    "team": r["team"],  # for styling only; tooltips show the escaped "team_text"
                    "team_text": _text(r["team"]),
                    "colour": r["colour"],
                    "catchment": _text(r["schools"]),
                    "area": f"{r.geometry.area / 1e6:.1f} km²",
                    "postcodes": f"{counts.get(r['team'], 0):,}",
                },
            )
        )
    labels = []
    for _, r in ta.iterrows():
        if r.geometry is None or r.geometry.is_empty:
            continue
        # label the largest part, so a team split in two gets its name on the main piece
        part = max(shapely.get_parts(r.geometry), key=lambda p: p.area)
        pt = _to_wgs84([part.representative_point()], 0)[0]
        labels.append((r["team"], pt.y, pt.x))

    council = None
    if profile.council_boundary is not None:
        cg = _to_wgs84(profile.council_boundary.geometry, simplify_m)[0]
        if cg is not None:
            council = _feature(cg, {"name": profile.name})

    gaps = []
    gdf = profile.gaps
    for (_, r), g in zip(gdf.iterrows(), _to_wgs84(gdf.geometry, simplify_m), strict=True):
        if g is None:
            continue
        what = (
            "Gap: no team catchment covers this area"
            if r["kind"] == "gap"
            else "Catchment of a school in another council: no team covers it"
        )
        gaps.append(
            _feature(g, {"kind": r["kind"], "what": what, "note": _text(r["note"]), "area": f"{r['area_km2']:.2f} km²"})
        )

    schools = []
    if profile.schools is not None:
        s = school_localities(profile)
        s = s.assign(_order=s["kind"].map({"primary": 0, "other": 1, "secondary": 2, "asn": 3, "faith": 4}))
        s = s.sort_values("_order", kind="stable")
        pts = _to_wgs84(s.geometry, 0)
        for (_, r), p in zip(s.iterrows(), pts, strict=True):
            if p is None:
                continue
            kind = r["kind"] if r["kind"] in KIND_STYLES else "other"
            schools.append(
                {
                    "name": str(r["name"]),
                    "kind": kind,
                    "team": r["team"] if isinstance(r["team"], str) else None,
                    "council_wide": bool(r["council_wide"]),
                    "lat": p.y,
                    "lon": p.x,
                }
            )

    minx, miny, maxx, maxy = shapely.total_bounds(
        [f for f in (_to_wgs84([profile.council_area], max(simplify_m, 50))[0],) if f is not None]
    )
    out = {
        "teams": teams,
        "labels": labels,
        "council": council,
        "gaps": gaps,
        "schools": schools,
        "bounds": [[miny, minx], [maxy, maxx]],
    }
    per_profile[simplify_m] = out
    return out


class _Legend(MacroElement):
    """An HTML legend as a Leaflet control (nothing to download, readable with no basemap)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var legend = L.control({position: "topright"});
            legend.onAdd = function () {
                var div = L.DomUtil.create("div", "hg-legend");
                div.style.cssText = "background:rgba(255,255,255,0.93);padding:5px 8px;"
                    + "font:11.5px/1.35 system-ui,sans-serif;border-radius:4px;"
                    + "box-shadow:0 1px 4px rgba(0,0,0,.35);max-width:200px;color:#111";
                div.innerHTML = {{ this.html_json }};
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, html_text: str):
        super().__init__()
        import json

        self._name = "HeartLegend"
        self.html_json = json.dumps(html_text)


class _Hatch(MacroElement):
    """Fill the gap polygons (class ``hg-gap``) with a grey hatch drawn as an SVG pattern."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            var css = document.createElement("style");
            css.textContent = "path.hg-gap{fill:url(#hg-hatch)}";
            document.head.appendChild(css);
            function addHatch() {
                var svg = map.getPanes().overlayPane.querySelector("svg");
                if (!svg || svg.querySelector("#hg-hatch")) { return; }
                var ns = "http://www.w3.org/2000/svg";
                var defs = document.createElementNS(ns, "defs");
                var pat = document.createElementNS(ns, "pattern");
                pat.setAttribute("id", "hg-hatch");
                pat.setAttribute("patternUnits", "userSpaceOnUse");
                pat.setAttribute("width", "8");
                pat.setAttribute("height", "8");
                pat.setAttribute("patternTransform", "rotate(45)");
                var bg = document.createElementNS(ns, "rect");
                bg.setAttribute("width", "8"); bg.setAttribute("height", "8");
                bg.setAttribute("fill", "{{ this.fill }}");
                var line = document.createElementNS(ns, "rect");
                line.setAttribute("width", "3"); line.setAttribute("height", "8");
                line.setAttribute("fill", "#424242");
                pat.appendChild(bg); pat.appendChild(line); defs.appendChild(pat);
                svg.insertBefore(defs, svg.firstChild);
            }
            addHatch();
            map.on("layeradd", addHatch);
        })();
        {% endmacro %}
        """
    )

    def __init__(self, fill: str = GAP_FILL):
        super().__init__()
        self._name = "HeartHatch"
        self.fill = fill


def _legend_html(profile, layers: dict, highlight_team: str | None) -> str:
    """Return the key's teams (always shown) and, folded, its gaps and schools (see :func:`_legend`)."""
    esc = _text  # the one escaping of names entering the map's HTML
    rows = []
    for t in profile.teams:
        mark = " <b>◀ here</b>" if t.name == highlight_team else ""
        rows.append(
            f"<div class='hg-legend-team'><span style='display:inline-block;width:14px;height:11px;"
            f"background:{esc(t.colour)};opacity:.85;border:1px solid #333;margin-right:5px;"
            f"vertical-align:-1px'></span>{esc(t.name)}{mark}</div>"
        )
    rows.append(_FOLD)
    if layers["gaps"]:
        rows.append(
            "<div><span style='display:inline-block;width:14px;height:11px;margin-right:5px;"
            "vertical-align:-1px;border:1px dashed #333;background:repeating-linear-gradient("
            f"45deg,#424242 0 2px,{GAP_FILL} 2px 6px)'></span>In no {html.escape(profile.unit)} catchment</div>"
        )
    kinds = {s["kind"] for s in layers["schools"]}
    if kinds:
        rows.append("<div style='margin-top:3px'><b>Schools</b></div>")
    for kind in ("secondary", "primary", "faith", "asn", "other"):
        if kind not in kinds:
            continue
        fill, stroke, radius, label = KIND_STYLES[kind]
        size = 2 * min(radius, 6) + 2
        rows.append(
            f"<div><span style='display:inline-block;width:{size}px;height:{size}px;border-radius:50%;"
            f"background:{fill};border:2px solid {stroke};box-shadow:0 0 0 1px #333;margin-right:5px;"
            f"vertical-align:-1px'></span>{esc(label)}</div>"
        )
    return "".join(rows)


#: Where the key's first part (the teams) ends and its folded part (gaps, schools, services) begins.
_FOLD = "<!--fold-->"


def _legend(profile, layers: dict, highlight_team: str | None, services: dict, extra: str = "") -> str:
    """Return the map's key: the teams, then gaps, schools, services and ``extra`` folded away (a small key)."""
    teams, _, rest = (_legend_html(profile, layers, highlight_team) + _services_legend_html(services)
                      + extra).partition(_FOLD)
    title = f"{_text(profile.name)}: {_text(plural_unit(profile))}"
    more = (f"<details class='hg-legend-more'><summary>Gaps, schools and services</summary>{rest}</details>"
            if rest else "")
    return f"<details open><summary><b>{title}</b></summary>{teams}{more}</details>"


def _school_feature(s: dict, unit: str) -> dict:
    fill, stroke, radius, _label = KIND_STYLES[s["kind"]]
    team = s["team"] or f"none (outside the {unit} catchments)"
    serves = f"the whole council: links with every {unit}" if s["council_wide"] else f"its {unit}"
    tip = s["name"] + (" (serves the whole council)" if s["council_wide"] else "")
    return {
        "type": "Feature",
        "properties": {  # shown in tooltips and popups as HTML: every text escaped here
            "name": _text(s["name"]),
            "kind_label": _text(_KIND_NAMES.get(s["kind"], s["kind"])),
            "team": _text(team),
            "serves": _text(serves),
            "tip": _text(tip),
            "fill": fill,
            "stroke": stroke,
            "radius": radius,
        },
        "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]},
    }


def _school_style(feature: dict) -> dict:
    p = feature["properties"]
    return {
        "fillColor": p["fill"],
        "color": p["stroke"],
        "radius": p["radius"],
        "weight": 2,
        "fillOpacity": 1.0,
        "opacity": 1.0,
    }


def coverage_map(
    profile,
    *,
    highlight_team: str | None = None,
    point: tuple[float, float] | None = None,
    point_label: str | None = None,
    simplify_m: float = SIMPLIFY_M,
    height: int | None = None,
) -> folium.Map:
    """Return the council's team coverage as an offline folium map.

    Parameters
    ----------
    profile : Profile
    highlight_team : str, optional
        Draw this team stronger (and the others fainter) and zoom to it.
    point : (lat, lon), optional
        Put a marker here (e.g. the postcode looked up), with ``point_label`` as its tooltip.
    simplify_m : float
        Simplification tolerance in metres (EPSG:27700) before projecting to WGS84.

    Returns
    -------
    folium.Map
        Teams in their profile colours with an HTML legend, the council outline, the gaps no team
        covers (hatched grey), schools as circles by kind (council-wide schools marked as such),
        team-name labels and a LayerControl. Leaflet is embedded (no CDN); only the
        OpenStreetMap tiles need a network, and the map reads without them.
    """
    layers = _layers(profile, float(simplify_m))
    unit = profile.unit
    kw = {"height": height} if height else {}
    m = ZoomableMap(location=None, tiles=None, control_scale=True, zoom_snap=0.25, zoom_delta=0.5, **kw)
    try:
        import xyzservices.providers as xyz

        osm_attr = xyz.OpenStreetMap.Mapnik.html_attribution
    except Exception:  # pragma: no cover - xyzservices ships with folium
        osm_attr = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap basemap (needs internet)", attr=osm_attr, opacity=0.6).add_to(
        m
    )

    def team_style(feature):
        p = feature["properties"]
        if highlight_team is None:
            return {"fillColor": p["colour"], "color": "#333333", "weight": 1.2, "fillOpacity": 0.55}
        if p["team"] == highlight_team:
            return {"fillColor": p["colour"], "color": "#000000", "weight": 3.5, "fillOpacity": 0.7}
        return {"fillColor": p["colour"], "color": "#555555", "weight": 0.8, "fillOpacity": 0.25}

    folium.GeoJson(
        {"type": "FeatureCollection", "features": layers["teams"]},
        name=plural_unit(profile).capitalize(),
        style_function=team_style,
        highlight_function=lambda _f: {"weight": 3, "color": "#000000"},
        tooltip=folium.GeoJsonTooltip(
            fields=["team_text", "catchment", "postcodes", "area"],
            aliases=[f"{unit.capitalize()}:", "Catchment school:", "Postcodes:", "Area:"],
            sticky=True,
            style=_TIP_STYLE,
        ),
        zoom_on_click=False,
    ).add_to(m)

    if layers["gaps"]:
        folium.GeoJson(
            {"type": "FeatureCollection", "features": layers["gaps"]},
            name=f"Areas no {unit} catchment covers",
            style_function=lambda _f: {
                "fillColor": GAP_FILL,
                "color": "#424242",
                "weight": 1,
                "dashArray": "4 3",
                "fillOpacity": 0.75,
                "className": "hg-gap",
            },
            tooltip=folium.GeoJsonTooltip(
                fields=["what", "note", "area"], aliases=["", "Note:", "Area:"], sticky=True, style=_TIP_STYLE
            ),
        ).add_to(m)
        _Hatch().add_to(m)

    if layers["council"] is not None:
        folium.GeoJson(
            layers["council"],
            name=f"{profile.name} boundary",
            style_function=lambda _f: {"fill": False, "color": "#111111", "weight": 2.5},
            interactive=False,
        ).add_to(m)

    labels = folium.FeatureGroup(name=f"{unit.capitalize()} names", show=True).add_to(m)
    for name, lat, lon in layers["labels"]:
        strong = "font-size:13px" if name == highlight_team else "font-size:12px"
        folium.Marker(
            [lat, lon],
            icon=folium.DivIcon(
                html=(
                    f"<div style='{strong};font-weight:700;color:#111;white-space:nowrap;"
                    "text-align:center;transform:translate(-50%,-50%);pointer-events:none;"
                    "text-shadow:0 0 3px #fff,0 0 3px #fff,0 0 3px #fff'>"
                    f"{html.escape(name)}</div>"
                ),
                icon_size=(0, 0),
                icon_anchor=(0, 0),
                class_name="hg-label",
            ),
            interactive=False,
        ).add_to(labels)

    # Schools as two GeoJson layers (one template each, however many schools): rendering a
    # folium Popup/Tooltip per marker compiles Jinja templates per school and is slow.
    for council_wide, name in ((False, "Schools"), (True, "Schools serving the whole council")):
        feats = [_school_feature(s, unit) for s in layers["schools"] if s["council_wide"] is council_wide]
        if not feats:
            continue
        folium.GeoJson(
            {"type": "FeatureCollection", "features": feats},
            name=name,
            marker=folium.CircleMarker(radius=5, weight=2, fill=True, fill_opacity=1.0),
            style_function=_school_style,
            tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, style=_TIP_STYLE),
            popup=folium.GeoJsonPopup(
                fields=["name", "kind_label", "team", "serves"],
                aliases=["School", "Kind", unit.capitalize(), "Serves"],
                max_width=280,
            ),
            zoom_on_click=False,
        ).add_to(m)

    services = _service_layer(profile)
    _add_service_layers(m, profile, services)
    simd_legend = add_simd_layer(m, profile, layers["teams"], simplify_m=float(simplify_m))

    if point is not None:
        folium.Marker(
            list(point),
            tooltip=folium.Tooltip(_text(point_label or "looked up")),
            popup=folium.Popup(_text(point_label or "looked up"), max_width=260),
        ).add_to(m)

    bounds = layers["bounds"]
    if highlight_team is not None:
        tb = [f for f in layers["teams"] if f["properties"]["team"] == highlight_team]
        if tb:
            minx, miny, maxx, maxy = shapely.geometry.shape(tb[0]["geometry"]).bounds
            bounds = [[miny, minx], [maxy, maxx]]
    # keep the area clear of the legend (top right)
    m.fit_bounds(bounds, padding_top_left=(10, 10), padding_bottom_right=(_LEGEND_PAD, 10))
    _Legend(_legend(profile, layers, highlight_team, services, simd_legend)).add_to(m)
    folium.LayerControl(collapsed=True, position="topleft").add_to(m)
    return make_offline(m)


def map_payload_bytes(profile, **kwargs) -> int:
    """Size in bytes of the rendered HTML of :func:`coverage_map` (what the browser is sent)."""
    m = coverage_map(profile, **kwargs)
    return len(m.get_root().render().encode("utf-8"))


# --------------------------------------------------------------------------------------------------
# services present (real service locations): their map layers and legend
# --------------------------------------------------------------------------------------------------
def _service_layer(profile) -> dict:
    """Return publishable services with a team and a place, and the team hubs, ready for the map (cached).

    Only rows :func:`heart_geo.services.service_locations` marks ``public`` are here: count-only
    kinds (childminders, children's houses, fostering, adoption) never reach the map. Every text is
    HTML-escaped here, because folium's popups insert properties as HTML.
    """
    from .services import service_kind

    per_profile = _CACHE.setdefault(profile, {})
    if "services" in per_profile:
        return per_profile["services"]
    esc = _text  # the one escaping of names entering the map's HTML
    loc = service_locations(profile)
    loc = loc[(loc["publish"] == "public") & loc["team"].notna() & loc["easting"].notna()]
    by_kind: dict[str, list[dict]] = {}
    pts = _to_wgs84(shapely.points(loc["easting"].to_numpy(float), loc["northing"].to_numpy(float)), 0) if len(
        loc) else []
    for r, p in zip(loc.itertuples(index=False), pts, strict=True):
        if p is None:
            continue
        by_kind.setdefault(r.kind, []).append({
            "type": "Feature",
            "properties": {
                "name": esc(str(r.service_name or "")),
                "kind": esc(str(r.service_kind)),
                "provider": esc(str(r.provider or "")),
                "team": esc(str(r.team)),
                "tip": esc(f"{r.service_name} ({r.service_kind})"),
            },
            "geometry": {"type": "Point", "coordinates": [p.x, p.y]},
        })
    hubs = team_hubs(profile)
    hubs = hubs[hubs["easting"].notna()]
    hub_feats = []
    hpts = _to_wgs84(shapely.points(hubs["easting"].to_numpy(float), hubs["northing"].to_numpy(float)), 0) if len(
        hubs) else []
    for r, p in zip(hubs.itertuples(index=False), hpts, strict=True):
        hub_feats.append({
            "type": "Feature",
            "properties": {"name": esc(r.name), "team": esc(r.team), "tip": esc(f"{r.name}: hub of {r.team}")},
            "geometry": {"type": "Point", "coordinates": [p.x, p.y]},
        })
    out = {
        "kinds": [(k, service_kind(k).plural, service_kind(k).colour, by_kind[k]) for k in _kind_order(by_kind)],
        "hubs": hub_feats,
    }
    per_profile["services"] = out
    return out


def _kind_order(by_kind: dict) -> list[str]:
    from .services import SERVICE_KINDS

    return [k for k in SERVICE_KINDS if k in by_kind] + sorted(set(by_kind) - set(SERVICE_KINDS))


def _add_service_layers(m: folium.Map, profile, services: dict) -> None:
    """Add a "Services: <kind>" overlay per kind (toggle in the layer control), and the team hubs."""
    unit = profile.unit.capitalize()
    for _kind, plural, colour, feats in services["kinds"]:
        folium.GeoJson(
            {"type": "FeatureCollection", "features": feats},
            name=f"Services: {html.escape(plural)}",
            marker=folium.CircleMarker(radius=5, weight=1.5, fill=True, fill_opacity=0.9),
            style_function=lambda _f, c=colour: {"fillColor": c, "color": "#222222", "radius": 5, "weight": 1.5,
                                                 "fillOpacity": 0.9, "className": "hg-service"},
            tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, style=_TIP_STYLE),
            popup=folium.GeoJsonPopup(fields=["name", "kind", "provider", "team"],
                                      aliases=["Service", "Kind", "Provider", unit], max_width=280),
            zoom_on_click=False,
        ).add_to(m)
    if services["hubs"]:
        folium.GeoJson(
            {"type": "FeatureCollection", "features": services["hubs"]},
            name=f"{unit} hubs / bases",
            marker=folium.CircleMarker(radius=8, weight=3, fill=True, fill_opacity=1.0),
            style_function=lambda _f: {"fillColor": "#ffffff", "color": "#000000", "radius": 8, "weight": 3,
                                       "fillOpacity": 1.0, "className": "hg-hub"},
            tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, style=_TIP_STYLE),
            popup=folium.GeoJsonPopup(fields=["name", "team"], aliases=["Hub", unit], max_width=260),
            zoom_on_click=False,
        ).add_to(m)


def _services_legend_html(services: dict) -> str:
    if not services["kinds"] and not services["hubs"]:
        return ""
    rows = ["<div style='margin-top:3px'><b>Services</b> <span style='color:#555'>(layers, top left)</span></div>"]
    for _kind, plural, colour, feats in services["kinds"]:
        rows.append(
            f"<div class='hg-legend-service'><span style='display:inline-block;width:10px;height:10px;"
            f"border-radius:50%;background:{html.escape(colour)};border:1px solid #222;margin-right:5px;"
            f"vertical-align:-1px'></span>{html.escape(plural)} ({len(feats)})</div>"
        )
    if services["hubs"]:
        rows.append("<div><span style='display:inline-block;width:10px;height:10px;border-radius:50%;"
                    "background:#fff;border:3px solid #000;margin-right:5px;vertical-align:-2px'></span>"
                    "Hubs / bases</div>")
    return "".join(rows)
