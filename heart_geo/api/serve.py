"""``heart-geo api``: serve the JSON API with uvicorn, one process or several.

The derived data is built once, before any worker starts: with one worker the serving process loads
the profile itself; with ``--workers N`` a short-lived child process loads it (building the cache if
it is stale), then uvicorn starts N workers, each of which reads the ready cache
(:func:`app_from_env`, given the profile, data folder, keys file and rate through environment
variables) instead of building it again. The supervising process never holds the data.

A non-loopback address needs keys; the access log is the service's own (method, path, status, time),
uvicorn's, which prints query strings and client addresses, is off.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import sys
from pathlib import Path

import uvicorn

from .._net import require_loopback
from ..errors import InputError
from ..profiles import load_profile
from ..settings import DATA_ENV
from .app import create_app
from .guard import read_key_hashes

__all__ = ["app_from_env", "run"]

_ENV_PROFILE = "HEART_GEO_PROFILE"
_ENV_KEYS = "HEART_GEO_API_KEYS"
_ENV_RATE = "HEART_GEO_API_RATE"
#: Requests a second per key unless ``--rate-limit`` says otherwise (bursts up to twice that).
DEFAULT_RATE = 50.0


def app_from_env():
    """Build the application in a uvicorn worker from the environment ``run`` set (the factory)."""
    keys = os.environ.get(_ENV_KEYS)
    rate = float(os.environ.get(_ENV_RATE) or 0)
    profile = load_profile(os.environ.get(_ENV_PROFILE, "east_ayrshire"), data_dir=os.environ.get(DATA_ENV))
    return create_app(profile, key_hashes=read_key_hashes(keys) if keys else None, rate=rate or None)


def _warm(profile: str, data_dir: str | None) -> str:
    """Load the profile once (building the derived-data cache if needed); return the data folder used."""
    return str(load_profile(profile, data_dir=data_dir).data_dir)


def _log_config(quiet: int, verbose: int) -> dict:
    level = "WARNING" if quiet else ("DEBUG" if verbose > 1 else "INFO")
    cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in uvicorn.config.LOGGING_CONFIG.items()}
    cfg["formatters"] = {**cfg["formatters"], "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}}
    cfg["handlers"] = {**cfg["handlers"], "stderr": {"formatter": "plain", "class": "logging.StreamHandler",
                                                    "stream": "ext://sys.stderr"}}
    cfg["loggers"] = {
        **cfg["loggers"],
        "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
        "heart_geo.api": {"handlers": ["stderr"], "level": level, "propagate": False},
    }
    return cfg


def run(*, profile: str, data_dir: str | None, address: str, port: int, workers: int = 1,
        api_keys: str | None = None, rate: float | None = DEFAULT_RATE, quiet: int = 0, verbose: int = 0) -> int:
    """Serve the API until stopped (Ctrl+C or SIGTERM); return the exit code.

    Raises
    ------
    InputError
        A non-loopback address without keys, a bad keys file, fewer than one worker or a negative rate.
    """
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if rate is not None and rate < 0:
        raise InputError(f"--rate-limit must be 0 (no limit) or more requests a second, got {rate}")
    hashes = read_key_hashes(api_keys) if api_keys else None
    if not hashes:
        require_loopback(address, server="the API", guard="API keys",
                         how_to_open="Give --api-keys FILE (the SHA-256 hashes of the keys, one a line).")
    common = {"host": address, "port": port, "access_log": False, "server_header": False,
              "log_config": _log_config(quiet, verbose), "timeout_graceful_shutdown": 10}
    keyed = f"{len(hashes)} API key{'s' if len(hashes) != 1 else ''}" if hashes else "no keys (loopback only)"
    if workers == 1:
        p = load_profile(profile, data_dir=data_dir)
        app = create_app(p, key_hashes=hashes, rate=rate or None)
        _announce(address, port, workers, keyed, quiet)
        uvicorn.run(app, **common)
        return 0
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        root = pool.submit(_warm, profile, data_dir).result()  # errors come back as themselves
    os.environ.update({_ENV_PROFILE: profile, DATA_ENV: root, _ENV_RATE: str(rate or 0)})
    if api_keys:
        os.environ[_ENV_KEYS] = str(Path(api_keys).resolve())
    else:
        os.environ.pop(_ENV_KEYS, None)
    _announce(address, port, workers, keyed, quiet)
    uvicorn.run("heart_geo.api.serve:app_from_env", factory=True, workers=workers, **common)
    return 0


def _announce(address: str, port: int, workers: int, keyed: str, quiet: int) -> None:
    if quiet:
        return
    host = f"[{address}]" if ":" in address else address
    print(f"heart_geo API on http://{host}:{port}  (docs: /docs; {workers} worker{'s' if workers > 1 else ''}; "
          f"{keyed}; Ctrl+C to stop)", file=sys.stderr)
