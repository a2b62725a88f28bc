"""`heart-geo data fetch` against a loopback server that imitates each publisher's endpoint.

No test reaches the internet: the server below answers like the OS Downloads API (a redirect to the
zip), Spatial Hub's WFS (GeoJSON with a good authkey, 403 without one) and the Scottish Government's
ATOM file, and also sends the things a real network sends instead of data (HTML pages, error bodies).
"""

import hashlib
import http.server
import io
import json
import threading
import urllib.parse
import zipfile

import geopandas as gpd
import pytest
import shapely

import heart_geo
from heart_geo.cli import main
from heart_geo.fetch import FetchError, check_content, fetch_file, fetch_sources
from heart_geo.profiles import _read_config
from heart_geo.sources import find_releases
from heart_geo.testing import CODE, POSTCODES, X0, Y0

KEY = "s3cret-authkey-123"


def codepoint_zip(version="2025.4.0", date="20251020") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("Doc/metadata.txt", f"ORDNANCE SURVEY\nDATASET VERSION NUMBER: {version}\nCOPYRIGHT DATE: {date}\n")
        rows = "".join(f'"{pc}",10,{int(e)},{int(n)},"S92000003","","S08000099","","{c}",""\n'
                       for pc, (e, n, c, _) in POSTCODES.items() if e)
        zf.writestr("Data/CSV/tt.csv", rows)
    return buf.getvalue()


def catchments_geojson() -> bytes:
    gdf = gpd.GeoDataFrame({"school_nam": ["NORTH ACADEMY"], "seed_code": ["8000001"], "la_s_code": [CODE]},
                           geometry=[shapely.box(X0, Y0, X0 + 1000, Y0 + 1000)], crs="EPSG:27700")
    doc = json.loads(gdf.to_json())
    doc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}}
    return json.dumps(doc).encode()


def roll_zip() -> bytes:
    import pandas as pd

    from heart_geo.testing import _SG_COLUMNS

    row = dict.fromkeys(_SG_COLUMNS, "")
    row.update(SeedCode="8000001", SchoolName="North Academy", SchoolType="Secondary", LACode=CODE,
               GridRefEasting="300400", GridRefNorthing="601600", PupilRoll="100")
    xl = io.BytesIO()
    pd.DataFrame([row]).to_excel(xl, index=False, sheet_name="Schools_Final")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("SG_SchoolRoll_2023_Table/SG_SchoolRoll_2023.xlsx", xl.getvalue())
    return buf.getvalue()


@pytest.fixture()
def server():
    state = {"codepoint": codepoint_zip(), "seen": []}

    class Publisher(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_args):  # keep test output clean
            pass

        def send(self, code, body, ctype="application/octet-stream", headers=()):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802 (the http.server name)
            url = urllib.parse.urlsplit(self.path)
            q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
            state["seen"].append(self.path)
            if url.path == "/downloads/v1/products/CodePointOpen/downloads":
                if q.get("area") == "GB" and q.get("format") == "CSV" and "redirect" in q:
                    return self.send(302, b"", headers=[("Location", "/files/codepo_gb.zip")])
                return self.send(400, b'{"error": "bad request"}', "application/json")
            if url.path == "/files/codepo_gb.zip":
                return self.send(200, state["codepoint"], "application/zip")
            if url.path == "/geoserver/sh_schl/wfs":
                if q.get("authkey") != KEY:
                    return self.send(403, b"<html><body>Forbidden</body></html>", "text/html")
                if q.get("request") != "GetFeature" or q.get("typeNames") != "sh_schl:pub_schlsn":
                    body = (b'<?xml version="1.0"?><ows:ExceptionReport><ows:Exception><ows:ExceptionText>'
                            b"Unknown layer</ows:ExceptionText></ows:Exception></ows:ExceptionReport>")
                    return self.send(200, body, "application/xml")
                return self.send(200, catchments_geojson(), "application/json")
            if url.path == "/ATOM/shapefiles/SG_SchoolRoll_2023_Table.zip":
                return self.send(200, roll_zip(), "application/zip")
            if url.path == "/landing":
                return self.send(200, b"<!DOCTYPE html><html><body>Download page</body></html>", "text/html")
            if url.path == "/truncated.zip":
                return self.send(200, state["codepoint"][:200], "application/zip")
            return self.send(404, b"not found", "text/plain")

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Publisher)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    httpd.shutdown()
    httpd.server_close()


def _urls(base):
    return {
        "postcodes": f"{base}/downloads/v1/products/CodePointOpen/downloads?area=GB&format=CSV&redirect",
        "catchments": f"{base}/geoserver/sh_schl/wfs",
        "schools": f"{base}/ATOM/shapefiles/SG_SchoolRoll_2023_Table.zip",
    }


def test_each_publishers_endpoint_is_fetched_as_a_release(server, tmp_path, monkeypatch):
    base, state = server
    _key, conf, _ = _read_config("east_ayrshire")
    monkeypatch.delenv("SPATIALHUB_AUTHKEY", raising=False)
    got = fetch_sources(conf, tmp_path, urls=_urls(base), authkeys={"catchments": KEY},
                        only=["postcodes", "catchments", "schools"])
    assert got["postcodes"].path == tmp_path / "postcodes" / "2025-10" / "codepo_gb.zip"
    assert got["postcodes"].release == "2025-10" and got["postcodes"].new
    assert got["catchments"].path.name == "pub_schlsn.geojson"
    assert got["schools"].release == "2023"
    wfs = next(s for s in state["seen"] if s.startswith("/geoserver"))
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(wfs).query))
    assert q["request"] == "GetFeature" and q["typeNames"] == "sh_schl:pub_schlsn"
    assert q["outputFormat"] == "application/json" and q["srsName"] == "EPSG:27700"
    # what was fetched is what the profile's patterns find and the readers read
    for name in ("postcodes", "catchments", "schools"):
        rels = find_releases(tmp_path, conf["sources"][name]["patterns"], what=name)
        assert rels[-1].files == (got[name].path,)
    assert set(heart_geo.read_postcodes(got["postcodes"].path)["postcode"]) >= {"TT1 1AA", "TT10 1AA"}
    assert heart_geo.read_catchments(got["catchments"].path)["seed_code"].tolist() == ["8000001"]
    assert heart_geo.read_schools(got["schools"].path)["seed_code"].tolist() == ["8000001"]
    # fetched again: the same file is recognised, nothing duplicated
    again = fetch_sources(conf, tmp_path, urls=_urls(base), authkeys={"catchments": KEY}, only=["postcodes"])
    assert not again["postcodes"].new and again["postcodes"].path == got["postcodes"].path
    # a new quarter's release is stored beside the old one, never over it; the newest answers
    first = state["codepoint"]
    state["codepoint"] = codepoint_zip("2026.1.0", "20260121")
    newer = fetch_sources(conf, tmp_path, urls=_urls(base), only=["postcodes"])
    assert newer["postcodes"].release == "2026-01"
    assert got["postcodes"].path.read_bytes() == first  # the old release untouched
    rels = find_releases(tmp_path, conf["sources"]["postcodes"]["patterns"], what="postcodes")
    assert [r.label for r in rels] == ["2025-10", "2026-01"]


def test_spatial_hub_without_a_key_is_refused_clearly(server, tmp_path, monkeypatch):
    base, state = server
    _key, conf, _ = _read_config("east_ayrshire")
    monkeypatch.delenv("SPATIALHUB_AUTHKEY", raising=False)
    with pytest.raises(FetchError, match=r"needs your \(free\) key: give --authkey catchments=KEY or set "
                                         r"\$SPATIALHUB_AUTHKEY"):
        fetch_sources(conf, tmp_path, urls=_urls(base), only=["catchments"])
    assert state["seen"] == []  # refused before asking the server
    # a wrong key: the server's 403, explained, and the key never shown
    with pytest.raises(FetchError, match="HTTP 403: the server refused") as err:
        fetch_sources(conf, tmp_path, urls=_urls(base), only=["catchments"], authkeys={"catchments": "wrong-key"})
    assert "wrong-key" not in str(err.value) and "authkey=***" in str(err.value)
    assert not (tmp_path / "catchments").exists() or not any((tmp_path / "catchments").rglob("*.geojson"))
    # the key from the environment works, and is not in any message or file name
    monkeypatch.setenv("SPATIALHUB_AUTHKEY", KEY)
    got = fetch_sources(conf, tmp_path, urls=_urls(base), only=["catchments"])
    assert KEY not in str(got["catchments"].path)


def test_cli_fetch_never_prints_the_key(server, tmp_path, capsys, monkeypatch):
    base, _ = server
    monkeypatch.delenv("SPATIALHUB_AUTHKEY", raising=False)
    rc = main(["data", "fetch", "--dest", str(tmp_path), "--only", "catchments", "-vv",
               "--url", f"catchments={_urls(base)['catchments']}", "--authkey", f"catchments={KEY}"])
    out, err = capsys.readouterr()
    assert rc == 0 and "catchments: release" in out and "new release" in out
    assert KEY not in out + err
    rc = main(["data", "fetch", "--dest", str(tmp_path), "--only", "catchments",
               "--url", f"catchments={_urls(base)['catchments']}", "--authkey", "catchments=nope-key"])
    out, err = capsys.readouterr()
    assert rc == 2 and "HTTP 403" in err and "nope-key" not in out + err


@pytest.mark.parametrize("path, fmt, message", [
    ("/landing", "codepoint-zip", "HTML page, not the data"),
    ("/landing", "any", "HTML page, not the data"),
    ("/truncated.zip", "codepoint-zip", "not one|damaged"),
    ("/files/codepo_gb.zip", "geojson", "expected GeoJSON"),
    ("/ATOM/shapefiles/SG_SchoolRoll_2023_Table.zip", "codepoint-zip", "without Code-Point Open"),
    ("/geoserver/sh_schl/wfs?authkey=" + KEY + "&request=GetFeature&typeNames=nope", "geojson",
     "error instead of the data: Unknown layer"),
])
def test_what_is_not_data_is_refused_and_nothing_is_kept(server, tmp_path, path, fmt, message):
    base, _ = server
    dest = tmp_path / "dl" / "file.dat"
    with pytest.raises(FetchError, match=message):
        fetch_file(f"{base}{path}", dest, fmt=fmt)
    assert list((tmp_path / "dl").iterdir()) == []  # no partial or refused file left behind


def test_fetch_with_checksum(server, tmp_path):
    base, state = server
    digest = hashlib.sha256(state["codepoint"]).hexdigest()
    out = fetch_file(f"{base}/files/codepo_gb.zip", tmp_path / "dl" / "codepo_gb.zip", sha256=digest,
                     fmt="codepoint-zip")
    assert out.read_bytes() == state["codepoint"]
    # already present and verified: no second download needed even if the server is gone
    assert fetch_file("http://127.0.0.1:9/none", out, sha256=digest) == out


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    base, _ = server
    dest = tmp_path / "dl" / "codepo_gb.zip"
    with pytest.raises(FetchError, match="checksum mismatch"):
        fetch_file(f"{base}/files/codepo_gb.zip", dest, sha256="0" * 64)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # no partial file left behind


def test_http_error_and_bad_scheme(server, tmp_path):
    base, _ = server
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_file(f"{base}/missing.zip", tmp_path / "x.zip")
    with pytest.raises(ValueError, match="must be http"):
        fetch_file("ftp://example.invalid/x", tmp_path / "x.zip")


def test_fetch_sources_rejects_unknown_source_names(tmp_path):
    conf = {"sources": {"postcodes": {"url": "https://unused.invalid/x.zip"}, "schools": {}}}
    for kw in ({"urls": {"nope": "http://x"}}, {"authkeys": {"nope": "k"}}, {"only": ["nope"]}):
        with pytest.raises(ValueError, match="unknown sources"):
            fetch_sources(conf, tmp_path / "cache", **kw)


def test_cli_data_fetch_checksum(server, tmp_path, capsys):
    base, state = server
    digest = hashlib.sha256(state["codepoint"]).hexdigest()
    url = _urls(base)["postcodes"]
    rc = main(["data", "fetch", "--dest", str(tmp_path / "c"), "--only", "postcodes",
               "--url", f"postcodes={url}", "--sha256", f"postcodes={digest}", "-q"])
    assert rc == 0
    assert (tmp_path / "c" / "postcodes" / "2025-10" / "codepo_gb.zip").is_file()
    assert "postcodes: release 2025-10 (new release)" in capsys.readouterr().out
    rc = main(["data", "fetch", "--dest", str(tmp_path / "c"), "--only", "postcodes",
               "--url", f"postcodes={url}", "--sha256", "postcodes=" + "1" * 64, "-q"])
    assert rc == 2
    assert "checksum mismatch" in capsys.readouterr().err


def test_check_content_on_files(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("a,b\n1,2\n")
    check_content(f, "csv")
    f.write_text("<!doctype html><p>hi")
    with pytest.raises(FetchError, match="HTML"):
        check_content(f, "csv")
    f.write_bytes(b"")
    with pytest.raises(FetchError, match="empty"):
        check_content(f, "any")


def test_typed_configuration_and_the_toml_table_give_the_same_urls(monkeypatch):
    from heart_geo.config import read_config
    from heart_geo.fetch import _sources_of, source_url

    monkeypatch.setenv("SPATIALHUB_AUTHKEY", KEY)
    cfg = read_config("east_ayrshire")
    _key, raw, _ = _read_config("east_ayrshire")
    with_url = [k for k, s in cfg.sources.items() if s.url]
    assert {"postcodes", "catchments", "schools"} <= set(with_url)
    for name in with_url:
        typed = source_url(name, cfg.sources[name])
        assert typed == source_url(name, raw["sources"][name])
        assert KEY in typed if cfg.sources[name].auth_param else KEY not in typed
    assert _sources_of(cfg) == _sources_of(raw)
