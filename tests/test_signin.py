"""Sign-in and the network: the loopback-only rule without sign-in, the --secrets file and its checks."""

from __future__ import annotations

import pytest

from heart_geo._net import is_loopback, require_loopback
from heart_geo.errors import InputError

LOOPBACK = ["127.0.0.1", "127.0.1.1", "127.255.255.254", "::1", "[::1]", "localhost", "LOCALHOST", "localhost.",
            "::ffff:127.0.0.1", " 127.0.0.1 "]
NOT_LOOPBACK = ["0.0.0.0", "::", "[::]", "", "192.168.1.20", "10.0.0.5", "fe80::1%eth0", "2001:db8::1",
                "::ffff:192.168.1.2", "fileserver", "localhost.example.org", "my-localhost", "128.0.0.1"]


@pytest.mark.parametrize("address", LOOPBACK)
def test_loopback_addresses(address):
    assert is_loopback(address)
    require_loopback(address, server="the dashboard", guard="sign-in", how_to_open="x")


@pytest.mark.parametrize("address", NOT_LOOPBACK)
def test_other_addresses_are_refused_with_how_to_open(address):
    assert not is_loopback(address)
    with pytest.raises(InputError) as e:
        require_loopback(address, server="the API", guard="API keys", how_to_open="Give it keys with --keys.",
                         option="--bind")
    msg = str(e.value)
    assert msg.startswith("--bind ") and "the API" in msg and "no API keys" in msg
    assert msg.endswith("Give it keys with --keys.")
    assert (address.strip() or "''") in msg
