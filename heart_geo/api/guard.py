"""What stands in front of every request: keys, rate limit, body size, access log, problem details.

:class:`Guard` is a plain ASGI middleware placed inside the framework's own error middleware, so
that nothing it refuses reaches the application and no exception reaches the server's logger (whose
traceback could carry a query):

* keys: ``Authorization: Bearer KEY`` on every ``/v1/`` path but ``/v1/health`` when keys are set;
  the key's SHA-256 is compared with each stored hash in constant time (``hmac.compare_digest``,
  every hash compared), 401 with ``WWW-Authenticate`` otherwise;
* a token bucket per key (``rate`` requests a second, bursts up to twice that), 429 with
  ``Retry-After`` when empty;
* the body: JSON only (415 otherwise), at most ``max_body`` bytes whether announced by
  ``Content-Length`` or streamed (413);
* any unexpected exception: a 500 problem whose detail names no input; the log names the exception's
  type and where in heart_geo it was raised, never its message;
* the access log: method, path (the route's own path, or ``-`` for any other path: a path typed by
  hand may hold a postcode), status and time. Never a body, a query string or a client address.

Every refusal is an RFC 9457 problem (``application/problem+json``) saying what was wrong and what
was expected, never echoing what was sent.
"""

from __future__ import annotations

import hashlib
import hmac
import http
import json
import logging
import math
import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from .._util import where_raised
from ..errors import InputError

__all__ = ["PROBLEM_TYPE", "Guard", "TokenBucket", "problem_body", "read_key_hashes"]

#: Media type of every error response (RFC 9457).
PROBLEM_TYPE = "application/problem+json"

access_log = logging.getLogger("heart_geo.api.access")
log = logging.getLogger("heart_geo.api")

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_JSON_TYPE = re.compile(r"^application/(?:[\w.+-]+\+)?json$")


def problem_body(status: int, detail: str | None = None, **extra) -> bytes:
    """Return an RFC 9457 problem document as UTF-8 JSON bytes.

    Examples
    --------
    >>> json.loads(problem_body(413, "the body is over 2 MB"))["title"]
    'Request Entity Too Large'
    """
    doc = {"type": "about:blank", "title": http.HTTPStatus(status).phrase, "status": status}
    if detail:
        doc["detail"] = detail
    doc.update(extra)
    return json.dumps(doc, ensure_ascii=False).encode()


def read_key_hashes(path: str | Path) -> tuple[str, ...]:
    r"""Read an API keys file: SHA-256 hashes (64 hex digits) one a line; blank and ``#`` lines skipped.

    Raises
    ------
    InputError
        The file is missing or empty, or a line is not a hash (the line is named by its number,
        never shown: it may be a key pasted by mistake).

    Examples
    --------
    >>> import tempfile, os
    >>> f = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
    >>> _ = f.write("# keys of the referral system\n" + hashlib.sha256(b"s3cret").hexdigest() + "\n"); f.close()
    >>> len(read_key_hashes(f.name)); os.unlink(f.name)
    1
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"API keys file {str(path)!r} does not exist (or is a folder)")
    out = []
    for i, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if not _HEX64.fullmatch(text):
            raise InputError(f"API keys file {p.name!r}, line {i}: expected the SHA-256 of a key (64 hex digits), "
                             "not the key itself; make one with: printf %s KEY | sha256sum")
        out.append(text.lower())
    if not out:
        raise InputError(f"API keys file {p.name!r} holds no key hashes: expected one SHA-256 (64 hex digits) a line")
    return tuple(dict.fromkeys(out))


class TokenBucket:
    """A token bucket per key: ``rate`` tokens a second, at most ``burst`` held.

    Examples
    --------
    >>> b = TokenBucket(rate=1, burst=2, clock=lambda: 0.0)
    >>> b.take("k"), b.take("k"), b.take("k") > 0
    (0.0, 0.0, True)
    """

    def __init__(self, rate: float, burst: float | None = None, *, clock=time.monotonic):
        if rate <= 0:
            raise InputError(f"the rate limit must be above 0 requests a second, got {rate}")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, 2 * rate))
        self._clock = clock
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 if granted, else the seconds until one is available."""
        with self._lock:
            now = self._clock()
            tokens, then = self._state.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if tokens >= 1.0:
                self._state[key] = (tokens - 1.0, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


class _RefusedError(Exception):
    """A request refused before the application: status, detail and headers of the problem."""

    def __init__(self, status: int, detail: str, headers: Iterable[tuple[str, str]] = ()):
        super().__init__(status)
        self.status, self.detail, self.headers = status, detail, list(headers)


class Guard:
    """ASGI middleware: keys, rate limit, body size and type, access log, no traceback (module notes).

    Parameters
    ----------
    app : ASGI application
    key_hashes : sequence of str, optional
        SHA-256 hex digests of the accepted keys; None or empty: no key needed.
    rate : float, optional
        Requests a second per key (bursts up to twice that); None: no limit.
    max_body : int
        Largest request body in bytes.
    paths : callable
        Returns the set of the application's own paths (named in the access log; any other is ``-``).
    """

    def __init__(self, app, *, key_hashes=None, rate: float | None = None, max_body: int, paths):
        self.app = app
        self.hashes = tuple(bytes.fromhex(h) for h in (key_hashes or ()))
        self.bucket = TokenBucket(rate) if rate and self.hashes else None
        self.max_body = max_body
        self.paths = paths

    async def __call__(self, scope, receive, send):  # noqa: D102 - the ASGI interface
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        sent = {"status": 0}

        async def tracked(message):
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
            await send(message)

        try:
            receive = await self._admit(scope, receive)
            await self.app(scope, receive, tracked)
        except _RefusedError as r:
            await _send_problem(tracked, r.status, r.detail, r.headers)
        except Exception as exc:  # never a traceback or a message in the log or the answer
            log.error("unexpected failure (%s%s)", type(exc).__name__, where_raised(exc))
            if not sent["status"]:
                await _send_problem(tracked, 500, "the service failed to answer; the failure is logged "
                                    "without the request's content")
        finally:
            path = scope.get("path", "")
            shown = path if path in self.paths() else "-"
            access_log.info("%s %s %d %.1f ms", scope.get("method", "-"), shown, sent["status"],
                            1000 * (time.perf_counter() - start))

    async def _admit(self, scope, receive):
        """Check the key, the rate and the body; return the ``receive`` the application reads."""
        path = scope.get("path", "")
        if self.hashes and path.startswith("/v1/") and path != "/v1/health":
            who = self._key(scope)
            if self.bucket is not None:
                wait = self.bucket.take(who)
                if wait > 0:
                    raise _RefusedError(429, f"over the rate limit of {self.bucket.rate:g} requests a second for "
                                        "this key; retry after the time in Retry-After",
                                        [("retry-after", str(max(1, math.ceil(wait))))])
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            return receive
        headers = dict(scope.get("headers") or [])
        ctype = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        if ctype and not _JSON_TYPE.match(ctype):
            raise _RefusedError(415, "the body must be JSON: send it with Content-Type: application/json")
        length = headers.get(b"content-length", b"").decode("latin-1").strip()
        if length.isdigit() and int(length) > self.max_body:
            raise _RefusedError(413, self._too_big())
        body = await _read_body(receive, self.max_body)
        if body is None:
            raise _RefusedError(413, self._too_big())
        replayed = []

        async def replay():
            if not replayed:
                replayed.append(True)
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    def _too_big(self) -> str:
        return (f"the body is over {self.max_body / 2**20:g} MB; send at most that (split a batch into "
                "several requests)")

    def _key(self, scope) -> str:
        """Return the matched key's hash, or refuse with 401."""
        auth = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, token = auth.strip().partition(b" ")
        challenge = 'Bearer realm="heart-geo"'
        if scheme.lower() != b"bearer" or not token.strip():
            raise _RefusedError(401, "this service needs an API key: send the header Authorization: Bearer KEY",
                                [("www-authenticate", challenge)])
        digest = hashlib.sha256(token.strip()).digest()  # the key's bytes as sent (UTF-8 for any non-ASCII)
        match = b""
        for h in self.hashes:  # every hash compared, in constant time: no early exit
            if hmac.compare_digest(digest, h):
                match = h
        if not match:
            raise _RefusedError(401, "the API key is not accepted: check the key, or ask for one",
                                [("www-authenticate", challenge + ', error="invalid_token"')])
        return match.hex()


async def _read_body(receive, cap: int) -> bytes | None:
    """Read the whole request body; None as soon as it passes ``cap`` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send_problem(send, status: int, detail: str, headers: Iterable[tuple[str, str]] = ()) -> None:
    body = problem_body(status, detail)
    raw = [(b"content-type", PROBLEM_TYPE.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
