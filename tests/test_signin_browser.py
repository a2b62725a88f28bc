"""Sign-in end to end: ``heart-geo dashboard --secrets FILE`` against a loopback OpenID provider.

A real headless Chromium, the real command line and ``oidc-provider-mock`` (which accepts any client
and signs in whatever e-mail address is typed as the subject) on 127.0.0.1. Testshire's data, made in
code. Checked: nothing of the council's data, the map or an upload box before sign-in; an allowed
address gets the dashboard and can sign out; any other address is refused and can sign out; a browser
on another host name than ``redirect_uri``'s is told which address to open; the server's log holds a
sign-in as the address and the time only, never a postcode looked up, a caseload's content nor a
secret.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser_harness import (
    REPO_ROOT,
    StreamlitServer,
    _stop,
    _wait_healthy,
    free_port,
    offline_browser,
    requires_chromium,
)

from heart_geo.testing import write_test_data

pytestmark = [pytest.mark.browser, requires_chromium]

CLIENT_SECRET = "client-secret-4b1e0c9d"  # noqa: S105 (test values: must never reach a log)
COOKIE_SECRET = "cookie-secret-0f3a7c2e9b6d48e1a5c3f7092d4e6b81"  # noqa: S105
IFRAME = "iframe[title='streamlit_folium.st_folium']"
UPLOADER = "[data-testid='stFileUploader']"
ALLOWED = "Ann.Smith@Testshire.gov.uk"
OUTSIDER = "eve@elsewhere.example.org"
POSTCODE = "TT1 1AB"
CASELOAD = "case_id,postcode,notes\r\nQX7781,TT1 1AC,Zebedee family\r\nQX7782,TT1 1AA,\r\n"


@contextlib.contextmanager
def _process(cmd: list[str], log_path: Path, env: dict | None = None) -> Iterator[subprocess.Popen]:
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        _stop(proc)


def _wait_url(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited {proc.returncode}:\n{log_path.read_text(errors='replace')}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310
            if resp.status == 200:
                return
        time.sleep(0.25)
    raise TimeoutError(f"{url} not up after {timeout}s")


@pytest.fixture(scope="module")
def provider(tmp_path_factory) -> Iterator[str]:
    """oidc-provider-mock on a free 127.0.0.1 port; yields its issuer URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("oidc") / "provider.log"
    cmd = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
    with _process(cmd, log_path) as proc:
        issuer = f"http://127.0.0.1:{port}"
        _wait_url(issuer + "/.well-known/openid-configuration", proc, log_path)
        yield issuer


@pytest.fixture(scope="module")
def dashboard(provider, tmp_path_factory) -> Iterator[StreamlitServer]:
    """``python -m heart_geo dashboard --secrets FILE`` on Testshire; redirect_uri names localhost."""
    tmp = tmp_path_factory.mktemp("signin")
    profile = write_test_data(tmp / "data")
    port = free_port()
    secrets = tmp / "secrets.toml"
    secrets.write_text(f"""
[auth]
redirect_uri = "http://localhost:{port}/oauth2callback"
cookie_secret = "{COOKIE_SECRET}"
client_id = "heart-geo-test"
client_secret = "{CLIENT_SECRET}"
server_metadata_url = "{provider}/.well-known/openid-configuration"

[heart_geo]
allowed_domains = ["testshire.gov.uk"]
allowed_emails = ["someone@partner.example.org"]
""", encoding="utf-8")
    env = dict(os.environ, STREAMLIT_SERVER_FILE_WATCHER_TYPE="none", HEART_GEO_CACHE=str(tmp / "cache"))
    log_path = tmp / "dashboard.log"
    cmd = [sys.executable, "-m", "heart_geo", "dashboard", "--secrets", str(secrets), "--port", str(port),
           "--profile", str(profile), "--data-dir", str(tmp / "data")]
    with _process(cmd, log_path, env) as proc:
        server = StreamlitServer(url=f"http://localhost:{port}", process=proc, log_path=log_path)
        _wait_healthy(server, 120)
        yield server


def _assert_nothing_served(page, log, since: int = 0) -> None:
    """No council data, no map, no upload box on the page; no map component fetched after ``since``."""
    text = page.locator("body").inner_text()
    assert "testshire" not in text.lower() and "academy" not in text.lower()
    assert page.locator(IFRAME).count() == 0
    assert page.locator(UPLOADER).count() == 0
    assert page.get_by_role("textbox").count() == 0
    # Streamlit's media files (downloads, images) and components (the map) are under these paths
    assert not [u for u in log.allowed[since:] if urlsplit(u).path.startswith(("/media/", "/component/"))]


def _assert_accessible(page) -> None:
    """axe-core (WCAG 2.2 AA rules) finds no serious or critical violation on the page."""
    from axe_playwright_python.sync_playwright import Axe

    page.wait_for_timeout(500)  # Streamlit's entrance animation done: colours as a person sees them
    found = Axe().run(page).response["violations"]
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]]) for v in found
           if v["impact"] in ("serious", "critical")]
    assert not bad, bad


def _sign_in(page, url: str, email: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/oauth2/authorize.*"), timeout=30_000)
    page.locator("input[name=sub]").fill(email)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(re.compile(re.escape(url) + ".*"), timeout=30_000)


def _sign_out(page, url: str, log) -> int:
    """Sign out; return how many requests the browser had made when it left the dashboard."""
    page.get_by_role("button", name="Sign out").click()
    # the provider's end-session page asks to confirm, then sends the browser back to the dashboard
    page.wait_for_url(re.compile(r".*/oauth2/end_session.*"), timeout=30_000)
    seen = len(log.allowed)
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(re.compile(re.escape(url) + ".*"), timeout=30_000)
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    return seen


def test_sign_in_lookup_sign_out(dashboard) -> None:
    url = dashboard.url
    with offline_browser() as (context, log):
        page = context.new_page()
        page.goto(url)
        page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
        _assert_nothing_served(page, log)
        _assert_accessible(page)

        _sign_in(page, url, ALLOWED)
        page.get_by_text(f"Signed in as {ALLOWED.lower()}").wait_for(timeout=60_000)
        page.locator(IFRAME).wait_for(timeout=60_000)
        assert "Testshire" in page.locator("body").inner_text()
        box = page.get_by_role("textbox", name="Postcode or address")
        box.fill(POSTCODE)
        box.press("Enter")
        page.locator(".st-key-lookup_answer").get_by_text("East").first.wait_for(timeout=30_000)
        page.get_by_role("tab", name="Caseload").click()
        page.locator(f"{UPLOADER} input[type=file]").set_input_files(
            files=[{"name": "families.csv", "mimeType": "text/csv", "buffer": CASELOAD.encode()}])
        page.locator(".st-key-caseload_download").wait_for(timeout=60_000)  # allocated

        seen = _sign_out(page, url, log)
        _assert_nothing_served(page, log, seen)
        page.reload()  # the sign-in cookie is gone, not just hidden
        page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
        _assert_nothing_served(page, log, seen)

    out = dashboard.output()
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ heart-geo sign-in: ann\.smith@testshire\.gov\.uk$",
                     out, re.M), out
    compact = re.sub(r"\s", "", out).upper()
    for secret in (POSTCODE, "TT1 1AC", "TT1 1AA", "QX7781", "Zebedee", "families.csv"):
        assert secret.replace(" ", "").upper() not in compact, secret  # no query, postcode or file content
    assert CLIENT_SECRET not in out and COOKIE_SECRET not in out


def test_outsider_is_refused_and_can_sign_out(dashboard) -> None:
    url = dashboard.url
    with offline_browser() as (context, log):
        page = context.new_page()
        _sign_in(page, url, OUTSIDER)
        page.get_by_text(f"You are signed in as {OUTSIDER}, which is not allowed").wait_for(timeout=60_000)
        _assert_nothing_served(page, log)
        _assert_accessible(page)
        page.reload()  # still refused on a new page
        page.get_by_text("is not allowed to use this dashboard").wait_for(timeout=60_000)
        _assert_nothing_served(page, log)
        _assert_nothing_served(page, log, _sign_out(page, url, log))
    out = dashboard.output()
    assert re.search(r"Z heart-geo sign-in refused \(not on the allow-list\): eve@elsewhere\.example\.org$", out,
                     re.M), out
    assert "heart-geo sign-in: eve@" not in out


def test_other_host_name_is_told_the_address_to_open(dashboard) -> None:
    other = dashboard.url.replace("localhost", "127.0.0.1")
    with offline_browser() as (context, log):
        page = context.new_page()
        page.goto(other)
        msg = page.get_by_text("localhost and 127.0.0.1 are two different sites")
        msg.wait_for(timeout=60_000)
        assert f"Open {dashboard.url} instead" in msg.inner_text()
        assert page.get_by_role("button", name="Sign in").count() == 0
        _assert_nothing_served(page, log)
        _assert_accessible(page)


def _own_network_address() -> str | None:
    """This machine's address on its network (not loopback), or None: a UDP connect sends nothing."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 9))
        except OSError:
            return None
        ip = sock.getsockname()[0]
    return None if ip.startswith("127.") or ip == "0.0.0.0" else ip  # noqa: S104


def test_without_sign_in_a_browser_from_the_network_is_refused(tmp_path) -> None:
    """``streamlit run`` straight on a network address (the CLI would refuse it): the page still refuses."""
    ip = _own_network_address()
    if ip is None:
        pytest.skip("this machine has no network address besides loopback")
    profile = write_test_data(tmp_path / "data")
    port = free_port()
    env = dict(os.environ, HEART_GEO_PROFILE=str(profile), HEART_GEO_DATA=str(tmp_path / "data"),
               HEART_GEO_CACHE=str(tmp_path / "cache"), STREAMLIT_SERVER_FILE_WATCHER_TYPE="none")
    cmd = [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "heart_geo" / "app" / "dashboard.py"),
           "--server.address", ip, "--server.port", str(port), "--server.headless", "true",
           "--logger.hideWelcomeMessage", "true", "--browser.gatherUsageStats", "false",
           "--secrets.files", str(tmp_path / "no-secrets.toml")]
    with _process(cmd, tmp_path / "dashboard.log", env) as proc:
        server = StreamlitServer(url=f"http://{ip}:{port}", process=proc, log_path=tmp_path / "dashboard.log")
        _wait_healthy(server, 120)
        with offline_browser() as (context, log):
            page = context.new_page()
            # this machine by its network address: let it through (and note it, as the harness does)
            page.route(f"{server.url}/**", lambda route: (log.allowed.append(route.request.url), route.continue_()))
            page.goto(server.url)
            page.get_by_text("answers on the machine it runs on only").wait_for(timeout=60_000)
            _assert_nothing_served(page, log)
