"""The JSON API for case-management systems: the library's answers over HTTP (``heart-geo api``).

Needs the ``api`` extra (``pip install "heart-geo[api]"``: FastAPI, uvicorn and Swagger UI's files);
``import heart_geo`` never imports it.

* :mod:`heart_geo.api.app`: the routes and their schemas (:func:`create_app`);
* :mod:`heart_geo.api.guard`: keys, rate limit, body limits, access log and problem details;
* :mod:`heart_geo.api.serve`: the command (:func:`run`), one process or several workers.
"""

from .app import MAX_BODY, MAX_ITEMS, create_app
from .guard import read_key_hashes
from .serve import app_from_env, run

__all__ = ["MAX_BODY", "MAX_ITEMS", "app_from_env", "create_app", "read_key_hashes", "run"]
