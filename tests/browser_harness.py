"""Helpers for browser tests: an offline headless Chromium and a Streamlit server.

Not a test module.  Test modules import what they need, e.g.::

    from browser_harness import CHROMIUM, offline_browser, streamlit_server  # noqa: F401

* :func:`offline_browser` launches Debian's ``/usr/bin/chromium`` through
  Playwright with a fresh profile and aborts every request whose host is not
  loopback, recording the aborted URLs (:class:`NetworkLog`).
* :func:`running_streamlit` / the ``streamlit_server`` fixture start
  ``python -m streamlit run APP`` on a free 127.0.0.1 port, wait for
  ``/_stcore/health`` and stop the server afterwards.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path(os.environ.get("HEART_GEO_CHROMIUM", "/usr/bin/chromium"))
REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
LOCAL_SCHEMES = {"data", "blob", "about", "file", "chrome-error"}

requires_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
)


def is_local_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    host = (parts.hostname or "").lower()
    return host in LOOPBACK_HOSTS or host.startswith("127.")


@dataclass
class NetworkLog:
    """Requests seen by the browser: allowed (loopback) and aborted (everything else)."""

    allowed: list[str] = field(default_factory=list)
    aborted: list[tuple[str, str]] = field(default_factory=list)  # (resource_type, url)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def aborted_of_type(self, *types: str) -> list[str]:
        return [url for rtype, url in self.aborted if rtype in types]


@contextlib.contextmanager
def offline_browser(viewport: tuple[int, int] = (1280, 900)):
    """Yield ``(context, log)``: a Chromium context that cannot reach beyond loopback."""
    from playwright.sync_api import sync_playwright

    log = NetworkLog()

    def route(route, request) -> None:
        if is_local_url(request.url):
            log.allowed.append(request.url)
            route.continue_()
        else:
            log.aborted.append((request.resource_type, request.url))
            route.abort("internetdisconnected")

    with (
        tempfile.TemporaryDirectory(prefix="heart-geo-chromium-") as profile,
        sync_playwright() as pw,
    ):
        context = pw.chromium.launch_persistent_context(
            user_data_dir=profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": viewport[0], "height": viewport[1]},
            service_workers="block",
        )
        try:
            context.route("**/*", route)
            context.on(
                "console",
                lambda msg: log.console_errors.append(msg.text) if msg.type == "error" else None,
            )
            context.on("weberror", lambda err: log.page_errors.append(str(err.error)))
            yield context, log
        finally:
            context.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class StreamlitServer:
    url: str
    process: subprocess.Popen
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _wait_healthy(server: StreamlitServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    health = server.url + "/_stcore/health"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"streamlit exited with code {server.process.returncode}:\n{server.output()}"
            )
        try:
            with urllib.request.urlopen(health, timeout=2) as resp:  # noqa: S310 (loopback)
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise TimeoutError(f"streamlit not healthy after {timeout}s:\n{server.output()}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)  # own session: the server and its children
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextlib.contextmanager
def running_streamlit(
    app: Path, log_dir: Path, startup_timeout: float = 90.0
) -> Iterator[StreamlitServer]:
    """Run ``streamlit run app`` on a free loopback port until the block exits."""
    port = free_port()
    log_path = Path(log_dir) / f"streamlit-{port}.log"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = StreamlitServer(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    try:
        _wait_healthy(server, startup_timeout)
        yield server
    finally:
        _stop(process)


@pytest.fixture
def streamlit_server(tmp_path: Path) -> Iterator[Callable[[Path], StreamlitServer]]:
    """Factory fixture: ``server = streamlit_server(app_path)``; servers stop at teardown."""
    with contextlib.ExitStack() as stack:

        def start(app: Path) -> StreamlitServer:
            return stack.enter_context(running_streamlit(Path(app), tmp_path))

        yield start


TILE_URL = re.compile(r"/\d+/\d+/\d+\.png(\?.*)?$")


def assert_only_tiles_were_missing(log: NetworkLog) -> None:
    """Only basemap tile images may be missing offline: no script, style or JS error."""
    not_tiles = [(t, u) for t, u in log.aborted if not (t == "image" and TILE_URL.search(u))]
    assert not not_tiles, f"non-tile requests left the machine: {not_tiles}"
    errors = [e for e in log.console_errors if "net::ERR_INTERNET_DISCONNECTED" not in e]
    assert not errors, f"console errors: {errors}"
    assert not log.page_errors, f"uncaught JS errors: {log.page_errors}"
