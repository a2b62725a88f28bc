"""The JSON API's application: the routes and the schemas of what they take and give.

Every answer comes from the library's own entry points, so the API cannot disagree with it:
``/v1/lookup`` returns :func:`heart_geo.answers.lookup_json` (what ``heart-geo lookup --json``
prints), ``/v1/allocate`` the rows of :meth:`Profile.allocate`, :meth:`Profile.allocate_points` or
:meth:`Profile.allocate_uprns` (JSON-safe: None for a missing value), ``/v1/teams`` the export's
``teams`` layer in WGS84 (:func:`heart_geo.export.layer_wgs84`). Queries travel in POST bodies only.

The handlers run on the event loop's thread: the profile is only ever used by one thread, and a
single answer takes microseconds. Several processes (``heart-geo api --workers N``) serve in parallel.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, Response
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictInt,
    StrictStr,
    Tag,
    TypeAdapter,
    ValidationError,
)
from starlette.exceptions import HTTPException

from .. import __version__
from .._util import nan_to_none
from ..answers import lookup_json
from ..codes import STATUSES
from ..errors import InputError
from ..export import data_release, layer_wgs84
from ..query import MAX_QUERY_CHARS
from .guard import PROBLEM_TYPE, Guard, problem_body

__all__ = ["MAX_BODY", "MAX_ITEMS", "create_app"]

#: Most items in one ``/v1/allocate`` request (413 beyond).
MAX_ITEMS = 10_000
#: Largest request body in bytes (413 beyond).
MAX_BODY = 2 * 1024 * 1024

_FINITE = Annotated[float, Field(strict=True, allow_inf_nan=False)]  # a number: not true, not "1"


# --------------------------------------------------------------------------------------------------
# what the routes take
# --------------------------------------------------------------------------------------------------
class LookupRequest(BaseModel):
    """One query: a postcode in any spelling, an address containing one, "lat, lon" or "easting, northing"."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"query": "KA18 1FQ"}]})
    query: StrictStr = Field(description="a postcode, an address containing one, 'latitude, longitude' or "
                             "'easting, northing' (at most 300 characters)")


class PostcodesRequest(BaseModel):
    """Postcodes or addresses, one per family (null or "" for none: ``missing_location``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"postcodes": ["KA18 1FQ"]}]})
    postcodes: list[StrictStr | None] = Field(json_schema_extra={"maxItems": MAX_ITEMS})


class PointsRequest(BaseModel):
    """Points as [x, y]: easting and northing (EPSG:27700, the default) or longitude and latitude (EPSG:4326)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"points": [[-4.26, 55.45]], "crs": "EPSG:4326"}]})
    points: list[tuple[_FINITE, _FINITE]] = Field(json_schema_extra={"maxItems": MAX_ITEMS})
    crs: Literal["EPSG:27700", "EPSG:4326"] = "EPSG:27700"


class UprnsRequest(BaseModel):
    """Address references (UPRN), answered from their own address points when those are loaded."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"uprns": [127012345]}]})
    uprns: list[StrictInt | StrictStr | None] = Field(json_schema_extra={"maxItems": MAX_ITEMS})


_KINDS = ("postcodes", "points", "uprns")
_LOOKUP = TypeAdapter(LookupRequest)


def _kind(body: Any) -> str | None:
    """Which kind of batch a body is: its first member among postcodes, points, uprns."""
    if isinstance(body, dict):
        return next((k for k in _KINDS if k in body), None)
    return next((k for k in _KINDS if hasattr(body, k)), None)


AllocateRequest = Annotated[
    Annotated[PostcodesRequest, Tag("postcodes")] | Annotated[PointsRequest, Tag("points")]
    | Annotated[UprnsRequest, Tag("uprns")],
    Discriminator(_kind, custom_error_type="batch_kind",
                  custom_error_message="expected an object with one of 'postcodes', 'points' or 'uprns'"),
]


# --------------------------------------------------------------------------------------------------
# what the routes give
# --------------------------------------------------------------------------------------------------
class Answer(BaseModel):
    """One answer, with the fields of ``heart-geo lookup --json`` (further fields may follow)."""

    model_config = ConfigDict(extra="allow")
    query: Any = Field(None, description="the query as given (absent for points)")
    team: str | None = Field(description="the team that supports a family living here; null if none")
    status: Literal[STATUSES] = Field(description="what kind of answer this is (see the README's status table)")
    method: str | None = None
    catchment_school: str | None = None
    distance_m: float | None = None
    near_boundary: bool | None = None
    postcode: str | None = None
    easting: float | None = None
    northing: float | None = None
    detail: str | None = Field(description="a sentence for a person")
    likely_team: str | None = None
    split_teams: str | None = None


class AllocateResponse(BaseModel):
    """One answer per item, in input order."""

    results: list[Answer]


class Health(BaseModel):
    """The service is up, and which data answers."""

    status: Literal["ok"]
    profile: str
    council: str
    data_release: str
    version: str


_PROBLEM_SCHEMA = {
    "title": "Problem",
    "description": "An RFC 9457 problem: what was wrong and what was expected, never the input.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "pointer": {"type": "string"}, "detail": {"type": "string"}}}},
    },
}
_GEOJSON_SCHEMA = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {"type": {"const": "FeatureCollection"},
                   "features": {"type": "array", "items": {"type": "object"}}},
}
_EXPECTED = {
    "/v1/lookup": 'expected {"query": "a postcode, an address containing one, or coordinates"}',
    "/v1/allocate": 'expected one of {"postcodes": [...]}, {"points": [[x, y], ...], "crs": "EPSG:4326"} or '
                    '{"uprns": [...]}',
}
_FIELDS = {"query", "crs", *_KINDS}
_MODELS = {"PostcodesRequest", "PointsRequest", "UprnsRequest", "LookupRequest", *_KINDS}


# --------------------------------------------------------------------------------------------------
# responses
# --------------------------------------------------------------------------------------------------
def _json(doc, media_type: str = "application/json") -> Response:
    return Response(json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(),
                    media_type=media_type)


def problem(status: int, detail: str | None = None, headers: dict | None = None, **extra) -> Response:
    """Return an RFC 9457 problem response (``application/problem+json``)."""
    return Response(problem_body(status, detail, **extra), status_code=status, media_type=PROBLEM_TYPE,
                    headers=headers)


def records(df) -> list[dict]:
    """Return a table's rows as JSON-safe dicts: the package's rule (:func:`heart_geo._util.nan_to_none`).

    Column by column (a categorical through its categories, numbers through NumPy), as the rule
    applied cell by cell would give, about thirty times faster for a batch of 10,000.
    """
    cols = list(df.columns)
    values = [_column(df[c]) for c in cols]
    return [dict(zip(cols, row, strict=True)) for row in zip(*values, strict=True)]


def _column(s) -> list:
    """One column as a list of JSON-safe values (None for a missing value)."""
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        lut = np.empty(len(dtype.categories) + 1, dtype=object)
        lut[:-1] = [nan_to_none(v) for v in dtype.categories.tolist()]
        return lut[s.cat.codes.to_numpy()].tolist()  # code -1 (missing) takes the last entry: None
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        a = s.to_numpy()
        out = a.tolist()
        if dtype.kind == "f":
            for i in np.flatnonzero(np.isnan(a)).tolist():
                out[i] = None
        return out
    return [nan_to_none(v) for v in s.tolist()]


def _pointer(loc) -> str:
    """Return a JSON pointer to where a validation error is, naming only the API's own members and indices."""
    loc = list(loc[1:] if loc and loc[0] == "body" else loc)
    if len(loc) > 1 and loc[0] in _KINDS:  # the batch kind's tag: not a member of the body
        loc = loc[1:]
    parts = []
    for p in loc:
        if isinstance(p, int):
            parts.append(str(p))
        elif p in _FIELDS:
            parts.append(p)
        elif p not in _MODELS:
            parts.append("*")  # a member name the client invented: not echoed
    return "/" + "/".join(parts)


def _invalid(request: Request, exc: RequestValidationError) -> Response:
    """Answer a body that is not JSON (400) or does not match the schema (422), never echoing the input."""
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(400, "the body is not valid JSON; " + _EXPECTED.get(request.url.path, "expected JSON"))
    shown = [{"pointer": _pointer(e.get("loc", ())), "detail": str(e.get("msg", ""))[:200]} for e in errors[:20]]
    return problem(422, "the body does not match the schema; " + _EXPECTED.get(request.url.path, ""), errors=shown)


def _http_error(_request: Request, exc: HTTPException) -> Response:
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code == 400:  # the framework's own parsing errors (a body too deep to parse)
        detail = "the body could not be read as JSON (too deeply nested, or numbers too long)"
    return problem(exc.status_code, detail, headers=getattr(exc, "headers", None))


# --------------------------------------------------------------------------------------------------
# the application
# --------------------------------------------------------------------------------------------------
def _swagger_dir() -> Path | None:
    """Swagger UI's files as shipped by the ``swagger-ui-py`` package (found without importing it)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(next(iter(spec.submodule_search_locations))) / "static"
    return d if (d / "swagger-ui-bundle.js").is_file() else None


_ASSETS = {"/docs/swagger-ui-bundle.js": "swagger-ui-bundle.js", "/docs/swagger-ui.css": "swagger-ui.css",
           "/docs/favicon.png": "favicon-32x32.png"}
#: The docs page may load from this service only (the browser refuses anything else).
_DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
             "img-src 'self' data:; connect-src 'self'")


def create_app(profile, *, key_hashes=None, rate: float | None = None, max_body: int = MAX_BODY,
               max_items: int = MAX_ITEMS) -> FastAPI:
    """Return the JSON API for one loaded profile.

    Parameters
    ----------
    profile : Profile
        The council profile that answers.
    key_hashes : sequence of str, optional
        SHA-256 hex digests of the accepted API keys (see :func:`heart_geo.api.guard.read_key_hashes`);
        None: no key needed (``heart-geo api`` allows that on a loopback address only).
    rate : float, optional
        Requests a second per key (bursts up to twice that); None or 0: no limit. Only with keys.
    max_body, max_items : int
        Largest body in bytes, most items in one ``/v1/allocate`` request (413 beyond either).
    """
    teams_cache: list[bytes] = []

    def teams_doc() -> bytes:
        if not teams_cache:  # made once: a second or two that no lookup should wait for later
            teams_cache.append(layer_wgs84(profile, "teams").to_json(drop_id=True, ensure_ascii=False).encode())
        return teams_cache[0]

    @contextlib.asynccontextmanager
    async def ready(_app):  # before the first request: the teams document
        teams_doc()
        yield

    app = FastAPI(title=f"heart_geo: {profile.name}", version=__version__, docs_url=None, redoc_url=None,
                  lifespan=ready, description="Which team supports a family, from where it lives: the answers "
                  "of the heart_geo library over HTTP. Queries go in POST bodies, never in URLs.")
    health_doc = _json({"status": "ok", "profile": profile.key, "council": profile.name,
                        "data_release": data_release(profile), "version": __version__}).body

    @app.get("/v1/health", response_model=Health, summary="the service is up, and the data release in use")
    async def health() -> Response:
        return Response(health_doc, media_type="application/json")

    @app.post("/v1/lookup", summary="one query: as `heart-geo lookup --json`",
              responses={200: {"model": Answer, "description": "the answer"}},
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": {"$ref": "#/components/schemas/LookupRequest"}}}}})
    async def lookup(request: Request) -> Response:
        # the body read and checked in one step by pydantic's own JSON parser: the framework's body
        # handling costs more than the answer
        try:
            query = _LOOKUP.validate_json(await request.body()).query
        except ValidationError as exc:
            return _invalid(request, RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]))
        row = lookup_json(profile, query)
        if len(query) > MAX_QUERY_CHARS:  # the library's own answer, without echoing a huge body
            return problem(422, row["detail"])
        return _json(row)

    @app.post("/v1/allocate", summary="many postcodes, points or UPRNs, answered in input order",
              responses={200: {"model": AllocateResponse, "description": "one answer per item, in input order"}})
    async def allocate(body: Annotated[AllocateRequest, Body()]) -> Response:
        kind = _kind(body)
        items = getattr(body, kind)
        if len(items) > max_items:
            return problem(413, f"{len(items):,} items in one request; send at most {max_items:,} (split the batch)")
        try:
            if kind == "postcodes":
                df = profile.allocate(items)
            elif kind == "points":
                df = profile.allocate_points([p[0] for p in items], [p[1] for p in items], crs=body.crs)
            else:
                df = profile.allocate_uprns(items)
        except InputError as exc:
            return problem(422, str(exc))
        return _json({"results": records(df)})

    @app.get("/v1/teams", summary="the team areas as GeoJSON (WGS84) with their schools and services",
             responses={200: {"content": {"application/geo+json": {"schema": _GEOJSON_SCHEMA}},
                              "description": "a FeatureCollection, one feature per team"}})
    async def teams() -> Response:
        return Response(teams_doc(), media_type="application/geo+json")

    _add_docs(app)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http_error)
    app.openapi = lambda: _openapi(app, keyed=bool(key_hashes), limited=bool(rate and key_hashes))
    paths = frozenset(r.path for r in app.routes)
    app.add_middleware(Guard, key_hashes=key_hashes, rate=rate, max_body=max_body, paths=lambda: paths)
    return app


def _add_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the installed ``swagger-ui-py`` package, nothing from the internet."""
    static = _swagger_dir()

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        if static is None:
            return problem(404, "the docs need Swagger UI's files: pip install 'heart-geo[api]'")
        page = get_swagger_ui_html(openapi_url="/openapi.json", title=app.title + " (API docs)",
                                   swagger_js_url="/docs/swagger-ui-bundle.js", swagger_css_url="/docs/swagger-ui.css",
                                   swagger_favicon_url="/docs/favicon.png",
                                   swagger_ui_parameters={"validatorUrl": None, "tryItOutEnabled": True})
        page.headers["content-security-policy"] = _DOCS_CSP
        return page

    for route, name in _ASSETS.items():
        def asset(name=name) -> Response:
            if static is None:
                return problem(404, "Swagger UI's files are not installed")
            return FileResponse(static / name, headers={"cache-control": "max-age=86400"})

        app.add_api_route(route, asset, methods=["GET"], include_in_schema=False)


def _problem_ref(description: str, headers: dict | None = None) -> dict:
    out = {"description": description,
           "content": {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    if headers:
        out["headers"] = headers
    return out


def _openapi(app: FastAPI, *, keyed: bool, limited: bool) -> dict:
    """Return the OpenAPI document, with the problem responses each operation can give and the key scheme."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    comps = doc.setdefault("components", {})
    comps.setdefault("schemas", {})["Problem"] = _PROBLEM_SCHEMA
    comps["schemas"]["LookupRequest"] = LookupRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    if keyed:
        comps["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer",
                                               "description": "Authorization: Bearer KEY"}}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            resp = op.setdefault("responses", {})
            if method == "post":
                resp["400"] = _problem_ref("the body is not JSON")
                resp["413"] = _problem_ref("the body or the batch is too large")
                resp["415"] = _problem_ref("the body is not sent as application/json")
                resp["422"] = _problem_ref("the body does not match the schema, or the query cannot be used")
            if keyed and path != "/v1/health":
                op["security"] = [{"bearer": []}]
                resp["401"] = _problem_ref("no API key, or a key not accepted",
                                           {"WWW-Authenticate": {"schema": {"type": "string"}}})
                if limited:
                    resp["429"] = _problem_ref("over the rate limit", {"Retry-After": {"schema": {"type": "string"}}})
    app.openapi_schema = doc
    return doc
