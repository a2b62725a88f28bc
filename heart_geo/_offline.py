"""Make folium maps work with no internet connection.

folium loads Leaflet, jQuery, Bootstrap, Font Awesome and the awesome-markers
plugin from public CDNs.  On an offline machine none of those load and the map
never draws.  :func:`make_offline` rewrites a finished :class:`folium.Map` so
that every script and stylesheet it needs is *embedded in the map itself*.
Only basemap tiles stay remote: without a network they are simply blank.

What is embedded, and where it comes from
-----------------------------------------
Only two small pip packages are needed, both plain data wheels:

* ``xstatic-leaflet`` (1.9.3, the Leaflet release folium 0.20 targets):
  ``leaflet.js`` and ``leaflet.css``.  The CSS refers to ``images/*.png``
  (layer-control toggle, default marker); those PNGs are inlined into the
  CSS as ``data:`` URIs.  A tiny extra script points ``L.Icon.Default`` at
  inlined marker images, because Leaflet's image-path auto-detection cannot
  cope with a data-URI stylesheet.
* ``xstatic-jquery`` (3.7.1, the version folium 0.20 pins): folium's
  :class:`folium.Popup` template builds its content with ``$(`<div>…`)[0]``,
  and ``Map.keep_in_front`` uses ``$(document).ready``.  Without jQuery every
  popup throws and aborts the rest of the map script.

Dropped on purpose (nothing in markers, popups, tooltips, GeoJson,
LayerControl or an HTML legend needs them): Bootstrap JS/CSS, Bootstrap 3
glyphicons, Font Awesome, Leaflet.awesome-markers (JS and CSS) and folium's
``leaflet.awesome.rotate.css``.  The consequence is that :class:`folium.Icon`
(awesome-markers icons) cannot be used: use :class:`folium.CircleMarker`, a
plain :class:`folium.Marker` (Leaflet's default pin, inlined) or
:class:`folium.DivIcon`.  ``make_offline`` raises :class:`OfflineAssetError`
if it finds a :class:`folium.Icon`, rather than shipping a map that fails in
the browser.  Likewise branca colormaps (``ColorMap.add_to(m)``) are refused:
branca adds d3 from a CDN, and ``streamlit_folium.st_folium`` hard-codes two
d3 CDN URLs whenever it finds a colormap; under st_folium a script that fails
to load aborts the whole map.  Draw legends as HTML (e.g. a ``MacroElement``
that adds an ``L.control``) instead.

Why ``data:`` URIs and not inline ``<script>`` blocks
-----------------------------------------------------
folium renders each resource of a ``JSCSSMixin`` element (``default_js`` /
``default_css``, lists of ``(name, url)``) as ``<script src=url>`` /
``<link href=url>`` in the page header.  ``streamlit_folium.st_folium`` does
*not* use that header for scripts: it deletes every ``<script src>`` and
stylesheet ``<link>`` from it, collects the ``default_js``/``default_css``
URLs of every element of the map itself, and has its component frontend
(which bundles no Leaflet) append them as ``<script src>``/``<link>`` inside
the component iframe, awaiting each script's ``onload`` (a failed load rejects
and the map is never drawn).  The remaining header is added with
``head.innerHTML += header``, which never executes inline ``<script>``
elements.  So an inline ``<script>`` with Leaflet's text would work in a saved
HTML file but *not* under st_folium.  A ``data:`` URL is the one kind of URL
that is self-contained, so putting ``data:`` URLs in the per-instance
``default_js``/``default_css`` lists works in both places, with no server,
static-file route or Streamlit configuration.  The price is size: about
330 kB of base64 per map, sent to the browser on every Streamlit rerun.

The package ``folium-offline`` (PyPI) was evaluated and not used: it is a
complete fork of folium under another import name (``offlinefolium``) with
the assets pasted into its Python sources; its ``Map`` is not a
``folium.Map``, so ``st_folium``'s ``isinstance`` checks and this project's
folium code would not apply, and it tracks folium releases by hand.
"""

from __future__ import annotations

import base64
import functools
import importlib
import re
import warnings
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote_to_bytes

import folium
from branca.colormap import ColorMap
from branca.element import CssLink, Element, Figure, JavascriptLink

from .errors import OfflineAssetError, RemoteAssetError

__all__ = [
    "ZoomableMap",
    "OfflineAssetError",
    "RemoteAssetError",
    "assert_no_remote_assets",
    "data_uri",
    "make_offline",
    "offline_resources",
]


# folium resource names (see folium.folium._default_js/_default_css) -> our file.
_JS_BY_NAME = {"leaflet": "leaflet.js", "jquery": "jquery.js"}
_CSS_BY_NAME = {"leaflet_css": "leaflet.css"}
# Resources folium adds by default that nothing we use needs.
_DROPPED_JS = {"bootstrap", "awesome_markers"}
_DROPPED_CSS = {
    "bootstrap_css",
    "glyphicons_css",
    "awesome_markers_font_css",
    "awesome_markers_css",
    "awesome_rotate_css",
}
# Loaded right after Leaflet.
_ICON_PATCH_NAME = "leaflet_offline_icons"

_REMOTE_RE = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
_SOURCEMAP_RE = re.compile(r"^\s*//[#@] sourceMappingURL=.*$", re.MULTILINE)
_CSS_SOURCEMAP_RE = re.compile(r"/\*[#@] sourceMappingURL=.*?\*/")
_CSS_URL_RE = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""", re.IGNORECASE)
_CSS_IMPORT_RE = re.compile(r"""@import\s+(?:url\()?\s*['"]?([^'")\s;]+)""", re.IGNORECASE)


def _xstatic_dir(package: str, pip_name: str) -> Path:
    try:
        mod = importlib.import_module(f"xstatic.pkg.{package}")
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise OfflineAssetError(
            f"offline maps need the pip package {pip_name!r} (pip install {pip_name})"
        ) from exc
    return Path(mod.BASE_DIR)


def _png_data_uri(path: Path) -> str:
    return data_uri(path.read_bytes(), "image/png")


def data_uri(content: str | bytes, mime: str) -> str:
    """Return a ``data:`` URI (base64) holding *content*."""
    raw = content.encode("utf-8") if isinstance(content, str) else content
    charset = ";charset=utf-8" if mime.startswith("text/") else ""
    return f"data:{mime}{charset};base64,{base64.b64encode(raw).decode('ascii')}"


@functools.cache
def offline_resources() -> dict[str, str]:
    """Text of every resource an offline map embeds, by file name.

    Keys: ``leaflet.js``, ``leaflet.css`` (its images inlined as data URIs),
    ``jquery.js`` and ``leaflet-offline-icons.js``.
    """
    leaflet_dir = _xstatic_dir("leaflet", "xstatic-leaflet")
    jquery_dir = _xstatic_dir("jquery", "xstatic-jquery")
    images = leaflet_dir / "images"

    leaflet_js = _SOURCEMAP_RE.sub("", (leaflet_dir / "leaflet.js").read_text("utf-8"))
    jquery_js = _SOURCEMAP_RE.sub("", (jquery_dir / "jquery.min.js").read_text("utf-8"))

    def inline_image(match: re.Match[str]) -> str:
        target = match.group(2)
        if target.startswith("images/"):
            return f'url("{_png_data_uri(images / target.removeprefix("images/"))}")'
        return match.group(0)

    leaflet_css = _CSS_URL_RE.sub(inline_image, (leaflet_dir / "leaflet.css").read_text("utf-8"))
    leaflet_css = _CSS_SOURCEMAP_RE.sub("", leaflet_css)

    # Leaflet guesses L.Icon.Default.imagePath from the CSS background URL of
    # .leaflet-default-icon-path; with a data: URI that guess yields "null".
    # A string imagePath disables the guess; the options carry full URLs.
    icons_js = (
        "(function () {\n"
        "  if (!window.L || !L.Icon || !L.Icon.Default) { return; }\n"
        "  L.Icon.Default.imagePath = '';\n"
        "  L.Icon.Default.mergeOptions({\n"
        f"    iconUrl: '{_png_data_uri(images / 'marker-icon.png')}',\n"
        f"    iconRetinaUrl: '{_png_data_uri(images / 'marker-icon-2x.png')}',\n"
        f"    shadowUrl: '{_png_data_uri(images / 'marker-shadow.png')}'\n"
        "  });\n"
        "})();\n"
    )
    return {
        "leaflet.js": leaflet_js,
        "leaflet.css": leaflet_css,
        "jquery.js": jquery_js,
        "leaflet-offline-icons.js": icons_js,
    }


@functools.cache
def _resource_uris() -> dict[str, str]:
    res = offline_resources()
    return {
        name: data_uri(text, "text/css" if name.endswith(".css") else "text/javascript")
        for name, text in res.items()
    }


def _is_remote(url: str) -> bool:
    return bool(_REMOTE_RE.match(url or ""))


def _walk(element: Element) -> Iterator[Element]:
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


#: folium's map header stops people zooming the page (WCAG 1.4.4, axe ``meta-viewport``); ours allows it.
_NO_ZOOM = re.compile(r",?\s*maximum-scale=1(\.0)?\s*,?\s*user-scalable=no")


class ZoomableMap(folium.Map):
    """A :class:`folium.Map` whose page lets people zoom (no ``user-scalable=no``, no ``maximum-scale``)."""

    def render(self, **kwargs) -> None:
        """Render as folium does, then put back a viewport that allows zoom in the page's header."""
        super().render(**kwargs)
        header = self._template.module.__dict__.get("header")
        if header is not None:
            fixed = _NO_ZOOM.sub("", str(header(self, kwargs)))
            self.get_root().header.add_child(Element(fixed), name=self.get_name())


def make_offline(m: folium.Map, *, strict: bool = True) -> folium.Map:
    """Embed every script and stylesheet *m* needs; mutates and returns *m*.

    Call it after all layers, popups and controls have been added (elements
    added later keep their own CDN links).  Resources folium adds by default
    but that are not needed are dropped (see the module docstring).

    With ``strict`` (the default) an :class:`OfflineAssetError` is raised if
    the map holds something that would still need the network: a
    :class:`folium.Icon`, a branca colormap, or an element (e.g. a plugin)
    whose remote script or stylesheet is not one we can provide.  With
    ``strict=False`` those are left as they are and a warning is issued.
    """
    uris = _resource_uris()
    root = m.get_root()
    problems: list[str] = []

    for element in _walk(root):
        problems += _unavoidable_cdn(element)
        if not (hasattr(element, "default_js") and hasattr(element, "default_css")):
            continue
        # Instance attributes: never mutate folium's class-level lists.
        element.default_js = _offline_js(element, uris, problems)
        element.default_css = _offline_css(element, uris, problems)

    # A map rendered before this call already holds CDN links in its header.
    if isinstance(root, Figure):
        _drop_remote_header_links(root)

    if problems:
        unique = list(dict.fromkeys(problems))
        message = "map cannot be made fully offline:\n  - " + "\n  - ".join(unique)
        if strict:
            raise OfflineAssetError(message)
        warnings.warn(message, stacklevel=2)
    return m


def _unavoidable_cdn(element: Element) -> list[str]:
    """Why an element needs a CDN whatever we embed (an icon font, d3), if it does."""
    if isinstance(element, folium.Icon):
        return [
            "folium.Icon needs Leaflet.awesome-markers and Font Awesome from a CDN; "
            "use folium.CircleMarker, a plain folium.Marker or folium.DivIcon"
        ]
    if isinstance(element, ColorMap):
        return [
            "branca colormaps load d3 from a CDN (and st_folium forces CDN d3 when it "
            "sees one); draw the legend as HTML instead"
        ]
    return []


def _offline_js(element: Element, uris: dict[str, str], problems: list[str]) -> list[tuple[str, str]]:
    """Return the element's scripts with ours embedded, unneeded ones dropped; remote others noted in ``problems``."""
    new_js: list[tuple[str, str]] = []
    for name, url in element.default_js:
        if name in _JS_BY_NAME:
            new_js.append((name, uris[_JS_BY_NAME[name]]))
            if name == "leaflet":
                new_js.append((_ICON_PATCH_NAME, uris["leaflet-offline-icons.js"]))
        elif name not in _DROPPED_JS:
            if _is_remote(url):
                problems.append(f"{type(element).__name__} script {name!r}: {url}")
            new_js.append((name, url))
    return new_js


def _offline_css(element: Element, uris: dict[str, str], problems: list[str]) -> list[tuple[str, str]]:
    """Return the element's stylesheets with ours embedded, unneeded ones dropped; remote others noted."""
    new_css: list[tuple[str, str]] = []
    for name, url in element.default_css:
        if name in _CSS_BY_NAME:
            new_css.append((name, uris[_CSS_BY_NAME[name]]))
        elif name not in _DROPPED_CSS:
            if _is_remote(url):
                problems.append(f"{type(element).__name__} stylesheet {name!r}: {url}")
            new_css.append((name, url))
    return new_css


def _drop_remote_header_links(root: Figure) -> None:
    for key, child in list(root.header._children.items()):
        if isinstance(child, (JavascriptLink, CssLink)) and _is_remote(child.url):
            del root.header._children[key]


class _AssetCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.refs: list[tuple[str, str]] = []  # (what, url)
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        if tag == "script" and "src" in values:
            self.refs.append(("<script src>", values["src"]))
        elif tag == "link" and "href" in values:
            self.refs.append(("<link href>", values["href"]))
        elif tag == "style":
            self._in_style = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.refs.extend(("<style> url", u) for u in _css_refs(data))


def _css_refs(css: str) -> list[str]:
    return [m.group(2) for m in _CSS_URL_RE.finditer(css)] + [
        m.group(1) for m in _CSS_IMPORT_RE.finditer(css)
    ]


def _decode_data_uri(uri: str) -> tuple[str, str]:
    header, _, payload = uri.partition(",")
    mime = header[5:].split(";")[0].lower()
    raw = base64.b64decode(payload) if ";base64" in header.lower() else unquote_to_bytes(payload)
    return mime, raw.decode("utf-8", errors="replace")


def assert_no_remote_assets(html: str) -> None:
    """Raise :class:`RemoteAssetError` if *html* loads a script or stylesheet remotely.

    Checks every ``<script src>`` and ``<link href>``, ``url()``/``@import``
    in ``<style>`` blocks, and the ``url()``/``@import`` inside stylesheets
    embedded as ``data:`` URIs.  URLs inside JavaScript code (tile URL
    templates such as ``https://{s}.tile.openstreetmap.org/...``) are allowed:
    basemap tiles are the only thing allowed to be missing offline.
    """
    parser = _AssetCollector()
    parser.feed(html)
    parser.close()
    remote = []
    for what, url in parser.refs:
        if _is_remote(url):
            remote.append(f"{what}: {url}")
        elif url.strip().lower().startswith("data:"):
            mime, text = _decode_data_uri(url.strip())
            if mime == "text/css":
                remote.extend(
                    f"{what} (embedded CSS) url: {u}" for u in _css_refs(text) if _is_remote(u)
                )
    if remote:
        raise RemoteAssetError("remote assets in HTML:\n  " + "\n  ".join(remote))
