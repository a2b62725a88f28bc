"""Which network address a server may listen on without sign-in: one rule for every server.

A server that holds personal data (the dashboard's caseload uploads, an API's answers) listens on
this machine only unless it has a way to tell who is asking. :func:`is_loopback` says whether an
address reaches this machine only; :func:`require_loopback` stops with a message that says how to
open the server to the network safely.

Only an IP literal in the loopback range (``127.0.0.0/8``, ``::1``, an IPv4-mapped ``::ffff:127.x``)
or the name ``localhost`` counts. Any other name is not looked up (it could point anywhere) and
counts as not loopback; so do ``0.0.0.0``, ``::`` and an empty address (every interface).
"""

from __future__ import annotations

import ipaddress

from .errors import InputError

__all__ = ["is_loopback", "require_loopback"]


def is_loopback(address: str) -> bool:
    """Return True if a server listening on ``address`` can be reached from this machine only.

    Parameters
    ----------
    address : str
        What a ``--address`` option was given: an IPv4 or IPv6 literal (brackets allowed), or a name.

    Returns
    -------
    bool
        True for a loopback IP literal or ``localhost``; False for anything else, including every
        interface (``0.0.0.0``, ``::``, ``""``), a LAN address and any other name.

    Examples
    --------
    >>> [is_loopback(a) for a in ("127.0.0.1", "::1", "[::1]", "localhost", "127.0.1.1")]
    [True, True, True, True, True]
    >>> [is_loopback(a) for a in ("0.0.0.0", "::", "", "192.168.1.20", "fileserver", "localhost.example")]
    [False, False, False, False, False, False]
    """
    a = str(address).strip()
    if a.startswith("[") and a.endswith("]"):
        a = a[1:-1]
    if a.lower().rstrip(".") == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(a.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def require_loopback(address: str, *, server: str, guard: str, how_to_open: str, option: str = "--address") -> None:
    """Stop (:class:`~heart_geo.errors.InputError`, exit 2) unless ``address`` is loopback.

    Parameters
    ----------
    address : str
        The address the server would listen on.
    server : str
        What the server is, for the message ("the dashboard").
    guard : str
        What would let it open to the network, not configured ("sign-in", "API keys").
    how_to_open : str
        One sentence saying how to let other machines in safely (sign-in, keys...).
    option : str
        The option that gave the address, named in the message.

    Raises
    ------
    InputError
        When ``address`` is not loopback: the message names the address, why it is refused and
        ``how_to_open``.

    Examples
    --------
    >>> kw = dict(server="the dashboard", guard="sign-in", how_to_open="Configure sign-in with --secrets.")
    >>> require_loopback("127.0.0.1", **kw)
    >>> require_loopback("0.0.0.0", **kw)
    Traceback (most recent call last):
    ...
    heart_geo.errors.InputError: --address 0.0.0.0 would let other machines reach the dashboard with no \
sign-in; without sign-in the dashboard listens on this machine only (127.0.0.1, ::1 or localhost). \
Configure sign-in with --secrets.
    """
    if is_loopback(address):
        return
    shown = repr(address) if not str(address).strip() else str(address).strip()
    raise InputError(
        f"{option} {shown} would let other machines reach {server} with no {guard}; without {guard} "
        f"{server} listens on this machine only (127.0.0.1, ::1 or localhost). {how_to_open}"
    )
