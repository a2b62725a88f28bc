"""The built wheel works on its own: installed (not editable) in a fresh virtualenv, ``heart-geo
dashboard`` starts and answers its health check, and stopping it stops the Streamlit server too.

No download: the virtualenv sees the already installed dependencies (``--system-site-packages``), the
wheel is built without build isolation (hatchling installed) and installed with ``--no-deps``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from heart_geo.testing import write_test_data

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("hatchling", reason="building the wheel needs hatchling (a dev dependency)")
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                           "--no-index", "-w", str(out), "-q"], capture_output=True, text=True, cwd=out)
    assert done.returncode == 0, done.stderr
    (whl,) = out.glob("heart_geo-*.whl")
    return whl


def test_wheel_ships_the_dashboard_profiles_and_licence(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "heart_geo/app/dashboard.py" in names
    assert "heart_geo/boundaries/east_ayrshire.toml" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_installed_wheel_runs_the_dashboard_and_stops_it(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    done = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "--force-reinstall", "-q",
                           str(wheel)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HEART_GEO_PROFILE")}
    env["HEART_GEO_CACHE"] = str(tmp_path / "cache")
    where = subprocess.run([str(py), "-c", "import heart_geo.app as a; print(a.DASHBOARD)"], capture_output=True,
                           text=True, env=env, cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout  # the wheel's copy, not the source tree
    data = tmp_path / "data"
    toml = write_test_data(data)
    port = _free_port()
    log = open(tmp_path / "dashboard.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([str(venv / "bin" / "heart-geo"), "dashboard", "--port", str(port), "--profile",
                             str(toml), "--data-dir", str(data)], env=env, cwd=tmp_path, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        body = b""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    body = r.read()
                    break
            except OSError:
                time.sleep(0.5)
        assert body == b"ok", (tmp_path / "dashboard.log").read_text(errors="replace")
        servers = _children(proc.pid)
        assert servers, "the Streamlit server runs as a child of heart-geo"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(c) for c in servers):
            time.sleep(0.2)
        assert not any(_alive(c) for c in servers), "the Streamlit server outlived heart-geo dashboard"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
