"""The JSON API (``heart-geo api``): the library's answers over HTTP, keyed, bounded, never echoing input."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from heart_geo import cli  # noqa: E402
from heart_geo.answers import lookup_json  # noqa: E402
from heart_geo.api import MAX_ITEMS, create_app  # noqa: E402
from heart_geo.query import MAX_QUERY_CHARS  # noqa: E402

PROBLEM = "application/problem+json"


def records(df) -> list[dict]:
    """The library's rows as JSON: the package's NaN rule, cell by cell (the obvious way, as a reference)."""
    from heart_geo._util import nan_to_none

    return [{k: nan_to_none(v) for k, v in row.items()} for row in df.astype(object).to_dict("records")]

#: A marker that must never come back in an error or reach a log.
SECRET = "ZQ9SECRETXYZ"
QUERIES = ["TT1 1AA", "tt11ad", "12 High St, TT1 1AB", "TT9 9ZZ", "not a postcode", "", "TT1 1ZZ",
           "55.45, -4.26", "300500 601500", "-4.26, 55.45", "x" * 301]


@pytest.fixture(scope="module")
def app(testshire):
    return create_app(testshire)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


def _is_problem(r, status=None):
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    doc = r.json()
    assert doc["status"] == r.status_code and doc["title"] and "Traceback" not in r.text
    if status is not None:
        assert r.status_code == status, doc
    return doc


# --------------------------------------------------------------------------------------------------
# the same answers as the library and the command line
# --------------------------------------------------------------------------------------------------
@pytest.mark.usefixtures("cache_dir")  # the command writes its ready answers there
@pytest.mark.parametrize("query", QUERIES)
def test_lookup_gives_what_the_cli_prints_with_json(client, testshire, ts, capsys, query):
    r = client.post("/v1/lookup", json={"query": query})
    code = cli.main(["lookup", "--profile", str(ts / "testshire.toml"), "--data-dir", str(ts), "--json", "--", query])
    out, err = capsys.readouterr()
    if len(query) > MAX_QUERY_CHARS:  # too long to echo: the API gives the library's sentence as a problem
        doc = _is_problem(r, 422)
        assert code == 2 and doc["detail"] == json.loads(out)["detail"] == lookup_json(testshire, query)["detail"]
    else:
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.json() == json.loads(out) == lookup_json(testshire, query)


def test_allocate_postcodes_points_and_uprns_equal_the_library(client, testshire):
    pcs = ["TT1 1AA", None, "tt11ad", "", "TT9 9ZZ", "nonsense", "TT1 1AB", "TT1 1AA"]
    r = client.post("/v1/allocate", json={"postcodes": pcs})
    assert r.status_code == 200 and r.json() == {"results": records(testshire.allocate(pcs))}
    assert [x["query"] for x in r.json()["results"]] == pcs  # input order
    pts = [[300500.0, 601500.0], [1.0, 2.0], [301500, 600500], [0, 0]]
    r = client.post("/v1/allocate", json={"points": pts})
    want = records(testshire.allocate_points([p[0] for p in pts], [p[1] for p in pts]))
    assert r.status_code == 200 and r.json() == {"results": want}
    ll = [[-4.26, 55.45], [55.45, -4.26]]
    r = client.post("/v1/allocate", json={"points": ll, "crs": "EPSG:4326"})
    want = records(testshire.allocate_points([-4.26, 55.45], [55.45, -4.26], crs="EPSG:4326"))
    assert r.json() == {"results": want} and r.json()["results"][1]["status"] == "invalid_coordinates"
    uprns = [1, "UPRN 2", None, "x"]
    r = client.post("/v1/allocate", json={"uprns": uprns})
    assert r.status_code == 200 and r.json() == {"results": records(testshire.allocate_uprns(uprns))}
    for kind in ("postcodes", "points", "uprns"):
        assert client.post("/v1/allocate", json={kind: []}).json() == {"results": []}


def test_answers_are_json_safe_nan_is_null(client):
    body = client.post("/v1/allocate", json={"postcodes": [None, "TT1 1AA"]}).content
    assert b"NaN" not in body and b"Infinity" not in body
    assert json.loads(body)["results"][0]["easting"] is None


def test_at_most_10000_items(client):
    ok = client.post("/v1/allocate", json={"postcodes": ["TT1 1AA"] * MAX_ITEMS})
    assert ok.status_code == 200 and len(ok.json()["results"]) == MAX_ITEMS
    for body in ({"postcodes": ["TT1 1AA"] * (MAX_ITEMS + 1)}, {"points": [[1, 2]] * (MAX_ITEMS + 1)},
                 {"uprns": [1] * (MAX_ITEMS + 1)}):
        doc = _is_problem(client.post("/v1/allocate", json=body), 413)
        assert "10,001 items" in doc["detail"] and "10,000" in doc["detail"]


def test_teams_are_geojson_in_wgs84_with_schools_and_services(client, testshire):
    r = client.get("/v1/teams")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    doc = r.json()
    assert doc["type"] == "FeatureCollection"
    assert [f["properties"]["team"] for f in doc["features"]] == testshire.team_names
    for f in doc["features"]:
        assert f["properties"]["catchment_schools"] and "services_in_team" in f["properties"]
        xs = json.dumps(f["geometry"]["coordinates"])
        lon, lat = (float(v) for v in xs.replace("[", "").replace("]", "").split(",")[:2])
        assert -9 <= lon <= 2.5 and 49 <= lat <= 61.5  # longitude, latitude (RFC 7946)


def test_health_names_the_data_release(client, testshire):
    doc = client.get("/v1/health").json()
    assert doc["status"] == "ok" and doc["profile"] == testshire.key and "postcodes:" in doc["data_release"]


# --------------------------------------------------------------------------------------------------
# hostile and wrong bodies: 4xx, a problem document, never the input, never a traceback
# --------------------------------------------------------------------------------------------------
HOSTILE = {
    "deep nesting": (b'{"query": ' + b"[" * 200_000 + b"]" * 200_000 + b"}", "application/json", 400),
    "deep nesting in a batch": (b'{"postcodes": ' + b"[" * 5000 + b"]" * 5000 + b"}", "application/json", 400),
    "nesting in a batch": (b'{"postcodes": ' + b"[" * 500 + b"]" * 500 + b"}", "application/json", 422),
    "huge string query": (json.dumps({"query": SECRET * 100_000}).encode(), "application/json", 422),
    "huge member name": (json.dumps({SECRET * 10_000: 1}).encode(), "application/json", 422),
    "wrong type query": (json.dumps({"query": [SECRET]}).encode(), "application/json", 422),
    "number query": (b'{"query": 12345}', "application/json", 422),
    "wrong type postcodes": (json.dumps({"postcodes": SECRET}).encode(), "application/json", 422),
    "object in postcodes": (json.dumps({"postcodes": [{"a": SECRET}]}).encode(), "application/json", 422),
    "point of three": (b'{"points": [[1, 2, 3]]}', "application/json", 422),
    "point not numbers": (json.dumps({"points": [[SECRET, 2]]}).encode(), "application/json", 422),
    "NaN point": (b'{"points": [[NaN, 55.4]], "crs": "EPSG:4326"}', "application/json", 422),
    "Infinity point": (b'{"points": [[Infinity, -Infinity]]}', "application/json", 422),
    "huge number": (b'{"points": [[1e999, 2]]}', "application/json", 422),
    "long integer": (b'{"uprns": [' + b"9" * 5000 + b"]}", "application/json", 400),
    "unknown crs": (json.dumps({"points": [[1, 2]], "crs": SECRET}).encode(), "application/json", 422),
    "bool uprn": (b'{"uprns": [true]}', "application/json", 422),
    "two kinds": (json.dumps({"postcodes": ["x"], "uprns": [SECRET]}).encode(), "application/json", 422),
    "extra member": (json.dumps({"query": "TT1 1AA", SECRET: SECRET}).encode(), "application/json", 422),
    "no kind": (json.dumps({SECRET: [SECRET]}).encode(), "application/json", 422),
    "not json": (f"query={SECRET}".encode(), "application/json", 400),
    "truncated json": (f'{{"query": "{SECRET}'.encode(), "application/json", 400),
    "json null": (b"null", "application/json", 422),
    "json array": (json.dumps([SECRET]).encode(), "application/json", 422),
    "empty body": (b"", "application/json", 422),
    "invalid utf-8": (b'{"query": "\xff\xfe' + SECRET.encode() + b'"}', "application/json", 400),
    "form body": (f"query={SECRET}".encode(), "application/x-www-form-urlencoded", 415),
    "text body": (json.dumps({"query": SECRET}).encode(), "text/plain", 415),
    "multipart": (SECRET.encode(), "multipart/form-data; boundary=x", 415),
}


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize("path", ["/v1/lookup", "/v1/allocate"])
def test_hostile_bodies_get_4xx_without_echo(client, path, name):
    body, ctype, status = HOSTILE[name]
    r = client.post(path, content=body, headers={"content-type": ctype})
    if name in ("huge string query", "number query", "wrong type query") and path == "/v1/allocate":
        status = 422
    if name in ("nesting in a batch", "empty body") and path == "/v1/lookup":
        status = 400  # read by pydantic's own JSON parser: too deep, or not JSON at all
    doc = _is_problem(r)
    assert 400 <= r.status_code < 500 and r.status_code == status, (r.status_code, doc)
    assert SECRET not in r.text and SECRET.lower() not in r.text.lower()
    assert "Traceback" not in r.text and "File \"" not in r.text


def test_huge_items_in_a_batch_are_answered_row_by_row(client):
    """A batch keeps every row with a status, however odd the item (the library's rule, in linear time)."""
    r = client.post("/v1/allocate", json={"postcodes": [SECRET * 150_000, "TT1 1AA", "1" * 100_000]})
    assert r.status_code == 200
    assert [x["status"] for x in r.json()["results"]] == ["invalid_postcode", "allocated", "invalid_postcode"]
    r = client.post("/v1/allocate", json={"uprns": ["9" * 500_000, 10**15, -1, 0]})
    assert r.status_code == 200 and {x["status"] for x in r.json()["results"]} == {"missing_location"}


def test_a_body_over_2mb_is_413_announced_or_streamed(client):
    big = json.dumps({"postcodes": ["TT1 1AA"] * 300_000}).encode()
    assert len(big) > 2 * 2**20
    _is_problem(client.post("/v1/allocate", content=big, headers={"content-type": "application/json"}), 413)

    def chunks():  # no Content-Length: the guard counts what arrives
        for i in range(0, len(big), 65536):
            yield big[i:i + 65536]

    _is_problem(client.post("/v1/allocate", content=chunks(), headers={"content-type": "application/json"}), 413)


def test_queries_never_in_urls_and_other_paths_are_problems(client):
    _is_problem(client.get("/v1/lookup", params={"query": "TT1 1AA"}), 405)
    _is_problem(client.get("/v1/lookup/TT1%201AA"), 404)
    r = client.get("/v1/allocate")
    assert _is_problem(r, 405) and r.headers["allow"] == "POST"
    doc = client.get("/openapi.json").json()
    for path, ops in doc["paths"].items():
        for op in ops.values():
            assert not [p for p in op.get("parameters", []) if p.get("in") in ("query", "path")], path


def test_an_unexpected_failure_is_a_500_problem_naming_nothing(testshire, monkeypatch, caplog):
    app = create_app(testshire)

    def boom(*_a, **_k):
        raise ValueError(f"failed on {SECRET}")

    monkeypatch.setattr(type(testshire), "allocate", boom)
    with caplog.at_level(logging.INFO, logger="heart_geo"), TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/v1/allocate", json={"postcodes": [SECRET]})
    doc = _is_problem(r, 500)
    assert SECRET not in r.text and "failed" in doc["detail"]
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "ValueError" in logged and "app.py" in logged and SECRET not in logged


def test_access_log_holds_method_path_status_time_only(client, caplog):
    with caplog.at_level(logging.INFO, logger="heart_geo.api.access"):
        client.post("/v1/lookup", json={"query": SECRET})
        client.post("/v1/allocate", json={"postcodes": [SECRET]})
        client.get(f"/v1/lookup/{SECRET}?q={SECRET}")
        client.get("/v1/health", params={"q": SECRET})
    lines = [r.getMessage() for r in caplog.records if r.name == "heart_geo.api.access"]
    assert len(lines) == 4 and not any(SECRET in x for x in lines)
    assert lines[0].startswith("POST /v1/lookup 200 ") and lines[0].endswith(" ms")
    assert lines[2].startswith("GET - 404 ")  # a path typed by hand may hold a postcode: not logged
    assert lines[3].startswith("GET /v1/health 200 ")


# --------------------------------------------------------------------------------------------------
# keys and the rate limit
# --------------------------------------------------------------------------------------------------
KEY = "k3y-for-the-referral-system"


def test_keys_no_key_is_401_a_good_key_is_200(testshire):
    app = create_app(testshire, key_hashes=[hashlib.sha256(KEY.encode()).hexdigest()])
    with TestClient(app) as c:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {KEY}"},
                        {"authorization": "Bearer "}):
            r = c.post("/v1/lookup", json={"query": "TT1 1AA"}, headers=headers)
            _is_problem(r, 401)
            assert r.headers["www-authenticate"].startswith("Bearer")
        r = c.post("/v1/lookup", json={"query": "TT1 1AA"}, headers={"authorization": f"Bearer {KEY}"})
        assert r.status_code == 200 and r.json()["team"] == "North"
        assert c.get("/v1/teams", headers={"authorization": f"Bearer {KEY}"}).status_code == 200
        _is_problem(c.get("/v1/teams"), 401)
        # the key is checked before the body is read: nothing about the body comes back
        _is_problem(c.post("/v1/allocate", content=b"not json", headers={"content-type": "text/plain"}), 401)
        assert c.get("/v1/health").status_code == 200  # health needs no key
        doc = c.get("/openapi.json").json()
        assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert doc["paths"]["/v1/lookup"]["post"]["security"] == [{"bearer": []}]


def test_a_key_is_hashed_as_the_bytes_sent(testshire):
    key = "clé-école-🔑"
    app = create_app(testshire, key_hashes=[hashlib.sha256(key.encode()).hexdigest()])
    with TestClient(app) as c:
        ok = c.post("/v1/lookup", json={"query": "TT1 1AA"}, headers={"authorization": b"Bearer " + key.encode()})
        assert ok.status_code == 200
        _is_problem(c.post("/v1/lookup", json={"query": "TT1 1AA"},
                           headers={"authorization": b"Bearer " + key.encode("latin-1", "replace")}), 401)


def test_rate_limit_per_key_is_429_with_retry_after(testshire):
    other = "another-key"
    hashes = [hashlib.sha256(k.encode()).hexdigest() for k in (KEY, other)]
    app = create_app(testshire, key_hashes=hashes, rate=1.0)  # bursts up to 2
    with TestClient(app) as c:
        codes = [c.post("/v1/lookup", json={"query": "TT1 1AA"}, headers={"authorization": f"Bearer {KEY}"})
                 for _ in range(3)]
        assert [r.status_code for r in codes] == [200, 200, 429]
        _is_problem(codes[2], 429)
        assert int(codes[2].headers["retry-after"]) >= 1
        r = c.post("/v1/lookup", json={"query": "TT1 1AA"}, headers={"authorization": f"Bearer {other}"})
        assert r.status_code == 200  # each key has its own bucket


def test_keys_file_holds_hashes_not_keys(tmp_path):
    from heart_geo.api import read_key_hashes
    from heart_geo.errors import InputError

    f = tmp_path / "keys.txt"
    f.write_text(f"# comment\n\n{hashlib.sha256(KEY.encode()).hexdigest().upper()}\n")
    assert read_key_hashes(f) == (hashlib.sha256(KEY.encode()).hexdigest(),)
    f.write_text(f"{hashlib.sha256(KEY.encode()).hexdigest()}\n{KEY}\n")
    with pytest.raises(InputError, match="line 2") as e:
        read_key_hashes(f)
    assert KEY not in str(e.value)
    f.write_text("# nothing\n")
    with pytest.raises(InputError, match="no key hashes"):
        read_key_hashes(f)


def test_a_non_loopback_address_without_keys_exits_2(ts, capsys):
    base = ["api", "--profile", str(ts / "testshire.toml"), "--data-dir", str(ts)]
    for addr in ("0.0.0.0", "::", "192.0.2.1", "example.org"):
        assert cli.main([*base, "--address", addr]) == 2
        assert "--api-keys" in capsys.readouterr().err
    assert cli.main([*base, "--workers", "0"]) == 2


def test_import_heart_geo_does_not_import_fastapi():
    code = ("import sys, heart_geo; heart_geo.load_profile; import heart_geo.cli, heart_geo.answers; "
            "assert not [m for m in sys.modules if m.split('.')[0] in ('fastapi', 'uvicorn', 'starlette')]")
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------------------------------
# the schema: documented, and a property-based run of it finds no 5xx and no schema violation
# --------------------------------------------------------------------------------------------------
def test_docs_page_loads_only_local_assets(client):
    r = client.get("/docs")
    assert r.status_code == 200 and "default-src 'self'" in r.headers["content-security-policy"]
    assert "http://" not in r.text and "https://" not in r.text and "//cdn" not in r.text
    for asset in ("/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/favicon.png"):
        assert asset in r.text and client.get(asset).status_code == 200


@pytest.fixture(scope="module")
def api_schema(app):
    import schemathesis
    from schemathesis.config import SchemathesisConfig

    # a batch over 10,000 items is refused with 413 (the schema's maxItems), as the issue asks
    rejected = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
    config = SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": rejected}}})
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


schemathesis = pytest.importorskip("schemathesis")
schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_schemathesis_finds_no_server_error_and_no_schema_violation(case):
    case.call_and_validate()


# --------------------------------------------------------------------------------------------------
# a real server process
# --------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, doc, headers=None):
    req = urllib.request.Request(url, data=json.dumps(doc).encode(), method="POST",
                                 headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _entries(cache) -> dict:
    """The derived-data cache entries: name -> (inode, modification time): a rebuild replaces the file."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in cache.glob("*.hgc")}


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_heart_geo_api_serves_on_loopback(ts, tmp_path, testshire, workers):
    keys = tmp_path / "keys.txt"
    keys.write_text(hashlib.sha256(KEY.encode()).hexdigest() + "\n")
    port = _free_port()
    cache = tmp_path / "cache"
    env = dict(os.environ, HEART_GEO_CACHE=str(cache))
    proc = subprocess.Popen(
        [sys.executable, "-m", "heart_geo", "api", "--profile", str(ts / "testshire.toml"), "--data-dir", str(ts),
         "--port", str(port), "--api-keys", str(keys), "--workers", str(workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines, at_start = [], {}

    def read():  # the cache as it is when the server says it starts: before any worker loads the profile
        for line in proc.stderr:
            if "heart_geo API on" in line:
                at_start.update(_entries(cache))
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/v1/health", timeout=2) as r:
                    assert json.loads(r.read())["status"] == "ok"
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
                time.sleep(0.3)
        code, doc = _post(f"{base}/v1/lookup", {"query": SECRET})
        assert code == 401 and SECRET not in json.dumps(doc)
        auth = {"authorization": f"Bearer {KEY}"}
        for _ in range(4 * workers):  # each worker answers the same
            code, doc = _post(f"{base}/v1/lookup", {"query": "TT1 1AD"}, auth)
            assert code == 200 and doc == lookup_json(testshire, "TT1 1AD")
        code, doc = _post(f"{base}/v1/allocate", {"postcodes": ["TT1 1AA", SECRET]}, auth)
        assert code == 200 and doc == {"results": records(testshire.allocate(["TT1 1AA", SECRET]))}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        reader.join(timeout=10)
    err = "".join(lines)
    assert SECRET not in err and "Traceback" not in err
    assert "POST /v1/lookup 401" in err and "POST /v1/allocate 200" in err
    assert err.count("Started server process") == workers
    # built once, before the server started; every worker read that entry, none built its own
    assert len(at_start) == 1 and _entries(cache) == at_start


# --------------------------------------------------------------------------------------------------
# the real data: every current postcode of both councils
# --------------------------------------------------------------------------------------------------
def _current_postcodes(profile) -> list[str]:
    """The council's current postcodes (the newest release), from the postcode table the profile read."""
    pcs = profile.postcodes
    mine = (pcs["council_code"] == profile.code) & ~pcs["terminated"].astype(bool)
    return pcs.loc[mine, "postcode"].tolist()


@pytest.mark.realdata
@pytest.mark.parametrize("council", ["east", "north"])
def test_every_current_postcode_answers_as_the_library(request, council):
    profile = request.getfixturevalue(council)
    pcs = _current_postcodes(profile)
    assert len(pcs) > 1000
    with TestClient(create_app(profile)) as c:
        for pc in pcs:
            r = c.post("/v1/lookup", json={"query": pc})
            assert r.status_code == 200 and r.json() == lookup_json(profile, pc), pc
        for i in range(0, len(pcs), MAX_ITEMS):
            chunk = pcs[i:i + MAX_ITEMS]
            r = c.post("/v1/allocate", json={"postcodes": chunk})
            assert r.status_code == 200 and r.json() == {"results": records(profile.allocate(chunk))}
        teams = c.get("/v1/teams").json()["features"]
        assert [f["properties"]["team"] for f in teams] == profile.team_names
        assert all(f["properties"]["catchment_schools"] and f["geometry"]["type"] in ("Polygon", "MultiPolygon")
                   for f in teams)


@pytest.mark.realdata
def test_all_east_ayrshire_postcodes_in_one_request_get_their_independent_team(east):
    import geopandas as gpd

    import heart_geo

    pcs = east.postcodes[(east.postcodes["council_code"] == east.code) & ~east.postcodes["terminated"].astype(bool)]
    assert len(pcs) <= MAX_ITEMS
    with TestClient(create_app(east)) as c:
        r = c.post("/v1/allocate", json={"postcodes": pcs["postcode"].tolist()})
    assert r.status_code == 200
    got = r.json()["results"]
    assert [x["query"] for x in got] == pcs["postcode"].tolist()
    # the team each postcode point lies in, by a plain geopandas spatial join of the team areas
    pts = gpd.GeoDataFrame({"i": range(len(pcs))}, crs=heart_geo.CRS,
                           geometry=gpd.points_from_xy(pcs["easting"], pcs["northing"]))
    hit = gpd.sjoin(pts, east.team_areas[["team", "geometry"]], predicate="intersects", how="inner")
    hit = hit[~hit["i"].duplicated(keep="first")]  # a point on a shared edge: the first team, as the rule says
    assert len(hit) > 0.9 * len(pcs)
    for i, team in zip(hit["i"], hit["team"], strict=True):
        assert got[i]["status"] == "allocated" and got[i]["team"] == team, got[i]["query"]
    outside = set(range(len(pcs))) - set(hit["i"])
    assert all(got[i]["status"] != "allocated" or got[i]["method"] == "override" for i in outside)
