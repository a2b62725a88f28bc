"""Sign-in for the dashboard: the secrets file, who may come in, and the one address the browser must use.

``heart-geo dashboard --secrets FILE`` turns on Streamlit's own OpenID Connect sign-in (``st.login``).
FILE is one TOML file in Streamlit's secrets format::

    [auth]
    redirect_uri = "https://heart.example.gov.uk/oauth2callback"
    cookie_secret = "a long random string"
    client_id = "..."
    client_secret = "..."
    server_metadata_url = "https://login.microsoftonline.com/TENANT/v2.0/.well-known/openid-configuration"

    [heart_geo]
    allowed_domains = ["example.gov.uk"]
    allowed_emails = ["someone@partner.org.uk"]

:func:`read_signin` checks it before the server starts (a missing key stops with exit 2, naming the
key); the dashboard reads the same file through Streamlit and asks :meth:`SignIn.allows` who may see
the data, and :meth:`SignIn.wrong_address` whether the browser is on the address sign-in returns to.
No message here ever carries the value of a secret.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ._net import is_loopback
from .errors import InputError

__all__ = ["AUTH_KEYS", "SignIn", "open_to_others", "read_signin", "signin_from_mapping"]

#: The keys the ``[auth]`` table must hold (Streamlit's names).
AUTH_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")
#: Shortest ``cookie_secret`` accepted: it signs the sign-in cookie.
MIN_COOKIE_SECRET = 32
_HOW_TO_SECRET = 'python -c "import secrets; print(secrets.token_hex(32))"'
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class SignIn:
    """Who may use the dashboard, and where sign-in sends the browser back to.

    Attributes
    ----------
    redirect_uri : str
        The address the provider sends the browser back to (ends ``/oauth2callback``; may hold
        ``{port}``, which Streamlit fills with the server's port).
    allowed_domains : tuple of str
        E-mail domains let in, lower case, without "@".
    allowed_emails : tuple of str
        Single addresses let in, lower case.
    """

    redirect_uri: str
    allowed_domains: tuple[str, ...] = ()
    allowed_emails: tuple[str, ...] = ()

    def allows(self, email: str | None) -> bool:
        """Return True if a signed-in e-mail address is on an allow-list.

        Examples
        --------
        >>> s = SignIn("http://localhost:8501/oauth2callback", ("council.gov.uk",), ("ann@partner.org",))
        >>> [s.allows(e) for e in ("Bob@Council.gov.uk", "ann@partner.org", "eve@partner.org",
        ...                         "eve@evilcouncil.gov.uk", "eve@x.council.gov.uk", "", None)]
        [True, True, False, False, False, False, False]
        """
        e = (email or "").strip().lower()
        if e.count("@") != 1 or e.startswith("@") or e.endswith("@"):
            return False
        return e in self.allowed_emails or e.split("@", 1)[1] in self.allowed_domains

    def origin(self, port: int | None = None) -> str:
        """Return the scheme, host and port of :attr:`redirect_uri`: the address to open in a browser.

        Examples
        --------
        >>> SignIn("http://localhost:{port}/oauth2callback").origin(8600)
        'http://localhost:8600'
        """
        uri = self.redirect_uri.replace("{port}", str(port)) if port is not None else self.redirect_uri
        parts = urlsplit(uri)
        return f"{parts.scheme}://{parts.netloc}"

    def wrong_address(self, host: str | None, port: int | None = None) -> str | None:
        """Say why sign-in cannot finish when the browser opened the dashboard at ``host``, else None.

        Parameters
        ----------
        host : str or None
            The host (and port) the browser asked for: the request's ``Host`` header (or the
            ``X-Forwarded-Host`` a proxy sets). None or empty: not known, not refused.
        port : int, optional
            The server's port, filling ``{port}`` in :attr:`redirect_uri`.

        Returns
        -------
        str or None
            A plain message naming the address to open instead; None when ``host`` matches.

        Examples
        --------
        >>> s = SignIn("http://localhost:8501/oauth2callback")
        >>> s.wrong_address("localhost:8501") is None, s.wrong_address("LOCALHOST:8501") is None
        (True, True)
        >>> print(s.wrong_address("127.0.0.1:8501"))
        This dashboard was opened at 127.0.0.1:8501, but its sign-in returns to http://localhost:8501 \
(the redirect_uri in its secrets file). A browser keeps sign-in separately for each address (localhost \
and 127.0.0.1 are two different sites to it), so sign-in cannot finish here. Open http://localhost:8501 \
instead.
        """
        if not host:
            return None
        origin = self.origin(port)
        want = urlsplit(origin)
        got = urlsplit(f"{want.scheme}://{host.strip()}")
        try:
            same = (got.hostname or "").lower() == (want.hostname or "").lower() and (
                (got.port or _DEFAULT_PORTS.get(want.scheme)) == (want.port or _DEFAULT_PORTS.get(want.scheme)))
        except ValueError:  # a Host header with a port that is not a number
            same = False
        if same:
            return None
        return (f"This dashboard was opened at {host.strip()}, but its sign-in returns to {origin} (the "
                "redirect_uri in its secrets file). A browser keeps sign-in separately for each address "
                "(localhost and 127.0.0.1 are two different sites to it), so sign-in cannot finish here. "
                f"Open {origin} instead.")


def read_signin(path: str | Path, *, port: int | None = None) -> SignIn:
    """Read and check a sign-in secrets file (Streamlit's secrets format).

    Parameters
    ----------
    path : str or Path
        The TOML file: ``[auth]`` with every key of :data:`AUTH_KEYS`, and ``[heart_geo]`` with
        ``allowed_domains`` and/or ``allowed_emails``.
    port : int, optional
        The port the dashboard will listen on: a ``redirect_uri`` on this machine must name it.

    Returns
    -------
    SignIn

    Raises
    ------
    InputError
        The file is missing, not TOML, or a key is missing or wrong: the message names the file and
        the key, never a secret's value.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"secrets file {str(p)!r} does not exist (or is a folder)")
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        where = f" ({exc})" if isinstance(exc, tomllib.TOMLDecodeError) else ""
        raise InputError(f"secrets file {p.name!r} is not valid TOML{where}; expected Streamlit's "
                         "secrets format: an [auth] table and a [heart_geo] table") from None
    return signin_from_mapping(doc, source=f"secrets file {p.name!r}", port=port)


def open_to_others(path: str | Path) -> bool:
    """Return True if users other than the file's owner may read the secrets file (POSIX permissions).

    Always False where permissions do not say (Windows): there, keep the file in a folder only the
    service account can open.
    """
    if os.name != "posix":
        return False
    return bool(Path(path).stat().st_mode & 0o077)


def signin_from_mapping(doc: Mapping, *, source: str = "the secrets", port: int | None = None) -> SignIn:
    """Check the ``[auth]`` and ``[heart_geo]`` tables of parsed secrets; see :func:`read_signin`.

    Examples
    --------
    >>> auth = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
    ...         "client_id": "heart", "server_metadata_url": "http://127.0.0.1:9400/.well-known/x"}
    >>> signin_from_mapping({"auth": auth, "heart_geo": {"allowed_domains": ["a.gov.uk"]}})
    Traceback (most recent call last):
    ...
    heart_geo.errors.InputError: the secrets: [auth] has no client_secret (expected the keys redirect_uri, \
cookie_secret, client_id, client_secret, server_metadata_url: see the README, "Sign-in and sharing on a network")
    """
    auth = doc.get("auth")
    if not isinstance(auth, Mapping):
        raise InputError(f"{source} has no [auth] table (expected the keys {', '.join(AUTH_KEYS)}: "
                         'see the README, "Sign-in and sharing on a network")')
    missing = [k for k in AUTH_KEYS if not (isinstance(auth.get(k), str) and auth[k].strip())]
    if missing:
        raise InputError(f"{source}: [auth] has no {', '.join(missing)} (expected the keys "
                         f'{", ".join(AUTH_KEYS)}: see the README, "Sign-in and sharing on a network")')
    if len(auth["cookie_secret"]) < MIN_COOKIE_SECRET:
        raise InputError(f"{source}: [auth] cookie_secret is too short (at least {MIN_COOKIE_SECRET} "
                         f"characters; make one with {_HOW_TO_SECRET})")
    _check_urls(auth, source, port)
    return SignIn(auth["redirect_uri"].strip(), *_allow_lists(doc.get("heart_geo"), source))


def _check_urls(auth: Mapping, source: str, port: int | None) -> None:
    """Check redirect_uri (full, ends /oauth2callback, https off this machine, this port on it)."""
    uri = auth["redirect_uri"].strip()
    parts = urlsplit(uri.replace("{port}", str(port or 8501)))
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.path.endswith("/oauth2callback"):
        raise InputError(f"{source}: [auth] redirect_uri must be the dashboard's full address ending "
                         "/oauth2callback, e.g. https://heart.example.gov.uk/oauth2callback or "
                         "http://localhost:8501/oauth2callback")
    local = is_loopback(parts.hostname)
    if not local and parts.scheme != "https":
        raise InputError(f"{source}: [auth] redirect_uri must start https:// for an address other than this "
                         "machine's (localhost): over plain http the sign-in cookie could be read on the network. "
                         "Serve the dashboard through the council's HTTPS web server (reverse proxy)")
    if local and port is not None and "{port}" not in uri and (parts.port or 80) != port:
        raise InputError(f"{source}: [auth] redirect_uri names port {parts.port or 80} but the dashboard "
                         f"listens on --port {port}: make them the same (or write {{port}} in redirect_uri)")
    meta = urlsplit(auth["server_metadata_url"].strip())
    if meta.scheme not in ("http", "https") or not meta.hostname:
        raise InputError(f"{source}: [auth] server_metadata_url must be the provider's full address, e.g. "
                         "https://login.microsoftonline.com/TENANT/v2.0/.well-known/openid-configuration")


def _allow_lists(section, source: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the [heart_geo] allow-lists, lower case; stop unless they hold one entry at least."""
    if not isinstance(section, Mapping):
        section = {}
    lists = []
    for key, what, eg in (("allowed_domains", "domains", "example.gov.uk"),
                          ("allowed_emails", "e-mail addresses", "ann@example.gov.uk")):
        v = section.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
            raise InputError(f'{source}: [heart_geo] {key} must be a list of {what} in quotes, e.g. {key} = ["{eg}"]')
        lists.append(tuple(x.strip().lower().lstrip("@") for x in v))
    bad = [e for e in lists[1] if e.count("@") != 1]
    if bad:
        raise InputError(f"{source}: [heart_geo] allowed_emails holds an entry that is not an e-mail address "
                         "(expected name@domain)")
    if not any(lists):
        raise InputError(f"{source}: [heart_geo] has no allowed_domains or allowed_emails: without an allow-list "
                         'nobody could use the dashboard (e.g. allowed_domains = ["example.gov.uk"])')
    return lists[0], lists[1]
