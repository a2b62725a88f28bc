"""`heart-geo data fetch` against a local HTTP server on loopback (no test reaches the internet)."""

import hashlib
import http.server
import threading
from functools import partial

import pytest

from heart_geo.cli import main
from heart_geo.fetch import FetchError, fetch_file, fetch_sources


@pytest.fixture()
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "codepo_gb.zip").write_bytes(b"PK-not-really-a-zip" * 1000)
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *_args):  # keep test output clean
            pass

    handler = partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


def test_fetch_with_checksum(server, tmp_path):
    url, root = server
    body = (root / "codepo_gb.zip").read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    out = fetch_file(f"{url}/codepo_gb.zip", tmp_path / "dl" / "codepo_gb.zip", sha256=digest)
    assert out.read_bytes() == body
    # already present and verified: no second download needed even if the server is gone
    assert fetch_file("http://127.0.0.1:9/none", out, sha256=digest) == out


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    url, _ = server
    dest = tmp_path / "dl" / "codepo_gb.zip"
    with pytest.raises(FetchError, match="checksum mismatch"):
        fetch_file(f"{url}/codepo_gb.zip", dest, sha256="0" * 64)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # no partial file left behind


def test_http_error_and_bad_scheme(server, tmp_path):
    url, _ = server
    with pytest.raises(FetchError, match="failed"):
        fetch_file(f"{url}/missing.zip", tmp_path / "x.zip")
    with pytest.raises(ValueError, match="must be http"):
        fetch_file("ftp://example.invalid/x", tmp_path / "x.zip")


def test_fetch_sources_overrides_urls(server, tmp_path):
    url, _ = server
    conf = {"sources": {"postcodes": {"url": "https://unused.invalid/x.zip"}, "schools": {}}}
    got = fetch_sources(conf, tmp_path / "cache", urls={"postcodes": f"{url}/codepo_gb.zip"})
    assert got["postcodes"] == tmp_path / "cache" / "postcodes" / "codepo_gb.zip"
    with pytest.raises(ValueError, match="unknown sources"):
        fetch_sources(conf, tmp_path / "cache", urls={"nope": url})


def test_cli_data_fetch(server, tmp_path, capsys):
    url, root = server
    digest = hashlib.sha256((root / "codepo_gb.zip").read_bytes()).hexdigest()
    rc = main(["data", "fetch", "--dest", str(tmp_path / "c"), "--only", "postcodes",
               "--url", f"postcodes={url}/codepo_gb.zip", "--sha256", f"postcodes={digest}", "-q"])
    assert rc == 0
    assert (tmp_path / "c" / "postcodes" / "codepo_gb.zip").is_file()
    rc = main(["data", "fetch", "--dest", str(tmp_path / "c"), "--only", "postcodes",
               "--url", f"postcodes={url}/codepo_gb.zip", "--sha256", "postcodes=" + "1" * 64, "-q"])
    assert rc == 2
    assert "checksum mismatch" in capsys.readouterr().err
