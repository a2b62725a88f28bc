"""The dashboard's front door: sign-in when configured, this machine only when not.

:func:`gate` runs at the top of the dashboard, before anything of the council's data, the map or an
upload box is built. With sign-in configured (an ``[auth]`` table in the secrets Streamlit reads,
which ``heart-geo dashboard --secrets FILE`` passes on) it shows a sign-in page until the person has
signed in with an address on the allow-list; anyone else is refused and may sign out. Without sign-in
it serves browsers on this machine only.

A sign-in is logged (logger ``heart_geo.signin``, to the server's stderr) with the e-mail address and
the time only; nothing the person types or uploads is ever logged.
"""

from __future__ import annotations

import logging
import sys
import time

import streamlit as st

from heart_geo import signin
from heart_geo._net import is_loopback
from heart_geo.errors import InputError

__all__ = ["gate"]

log = logging.getLogger("heart_geo.signin")
if not log.handlers:  # Streamlit sets up its own loggers only: say sign-ins on the server's stderr
    _handler = logging.StreamHandler(sys.stderr)
    _formatter = logging.Formatter("%(asctime)sZ heart-geo %(message)s", "%Y-%m-%dT%H:%M:%S")
    _formatter.converter = time.gmtime
    _handler.setFormatter(_formatter)
    log.addHandler(_handler)
    log.setLevel(logging.INFO)
    log.propagate = False

_SIGNED_IN = "_heart_geo_signed_in"  # session state: the address whose sign-in was logged


def _config() -> signin.SignIn | None:
    """Return the sign-in rules from the secrets Streamlit read, or None when sign-in is not configured."""
    if not st.secrets.load_if_toml_exists() or "auth" not in st.secrets:
        return None
    return signin.signin_from_mapping(st.secrets.to_dict(), port=st.get_option("server.port"))


def _stop(kind: str, text: str) -> None:
    getattr(st, kind)(text)
    st.stop()


def gate() -> str | None:
    """Let the page go on only for someone allowed to see it; else show why and stop the run.

    Returns
    -------
    str or None
        The signed-in e-mail address, or None when sign-in is not configured (this machine only).
    """
    try:
        cfg = _config()
    except InputError as exc:  # never shown a secret's value: the messages name keys only
        _stop("error", f"Sign-in is configured wrongly, so the dashboard is closed: {exc}")
    if cfg is None:
        ip = st.context.ip_address  # None for this machine (and no address at all under AppTest)
        if isinstance(ip, str) and ip and not is_loopback(ip):
            _stop("error", "This dashboard answers on the machine it runs on only, because sign-in is not "
                  "configured. Ask whoever runs it to turn on sign-in (heart-geo dashboard --secrets FILE).")
        return None
    headers = st.context.headers
    wrong = cfg.wrong_address(headers.get("X-Forwarded-Host") or headers.get("Host"),
                              st.get_option("server.port"))
    if wrong:
        _stop("error", wrong)
    if not st.user.get("is_logged_in", False):
        _sign_in_page()
    email = str(st.user.get("email") or "").strip().lower()
    if not cfg.allows(email):
        _refused(email)
    if st.session_state.get(_SIGNED_IN) != email:
        st.session_state[_SIGNED_IN] = email
        log.info("sign-in: %s", email)
    with st.sidebar:
        st.caption(f"Signed in as {email}")
        if st.button("Sign out", key="sign_out"):
            _sign_out()
    return email


def _sign_in_page() -> None:
    st.title("HEART locality teams")
    st.markdown("This dashboard holds council information: please sign in with your work account.")
    if st.button("Sign in", type="primary", key="sign_in"):
        st.login()
    st.stop()


def _refused(email: str) -> None:
    if st.session_state.get(_SIGNED_IN) != ("refused", email):
        st.session_state[_SIGNED_IN] = ("refused", email)
        log.info("sign-in refused (not on the allow-list): %s", email or "(no e-mail address given)")
    st.title("HEART locality teams")
    who = f"You are signed in as {email}, which" if email else "Your sign-in gave no e-mail address, so it"
    st.error(f"{who} is not allowed to use this dashboard. Ask whoever runs it to add you, or sign out "
             "and sign in with your work account.")
    if st.button("Sign out", key="sign_out"):
        _sign_out()
    st.stop()


def _sign_out() -> None:
    """Forget the sign-in and send the browser to the provider's sign-out; build nothing more."""
    st.session_state.pop(_SIGNED_IN, None)
    st.logout()
    st.stop()
