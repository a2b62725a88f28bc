"""Sign-in and the network: the loopback-only rule without sign-in, the --secrets file and its checks."""

from __future__ import annotations

import json
import os

import pytest

from heart_geo import cli
from heart_geo._net import is_loopback, require_loopback
from heart_geo.errors import InputError
from heart_geo.signin import AUTH_KEYS, read_signin, signin_from_mapping

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


# --------------------------------------------------------------------------------------------------
# heart-geo dashboard: loopback only without sign-in; --secrets checked before the server starts
# --------------------------------------------------------------------------------------------------

CLIENT_SECRET = "client-secret-value-7f3a"  # noqa: S105 (test values: never in a message)
COOKIE_SECRET = "cookie-secret-value-0123456789abcdef0123"  # noqa: S105
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": COOKIE_SECRET,
        "client_id": "heart-geo", "client_secret": CLIENT_SECRET,
        "server_metadata_url": "https://login.example.org/tenant/v2.0/.well-known/openid-configuration"}


def _toml(auth: dict | None, heart: dict | None) -> str:
    def table(name, d):
        return f"[{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in d.items()) if d is not None else ""

    return table("auth", auth) + "\n" + table("heart_geo", heart)


def _dashboard(args, monkeypatch, capsys):
    """Run ``heart-geo dashboard ARGS`` with the server start replaced: (exit code, Streamlit command, stderr)."""
    seen = {}
    monkeypatch.setattr(cli, "_run_until_stopped", lambda cmd, env: seen.update(cmd=cmd, env=env) or 0)
    code = cli.main(["dashboard", *map(str, args)])
    return code, seen.get("cmd"), capsys.readouterr().err


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "192.168.1.20", "fileserver"])
def test_network_address_without_sign_in_exits_2(address, monkeypatch, capsys):
    code, cmd, err = _dashboard(["--address", address], monkeypatch, capsys)
    assert code == 2 and cmd is None
    assert f"--address {address} would let other machines reach the dashboard with no sign-in" in err
    assert "--secrets FILE" in err and "Sign-in and sharing on a network" in err


def test_loopback_without_sign_in_starts(monkeypatch, capsys):
    code, cmd, err = _dashboard(["--address", "127.0.0.1", "--port", "8555"], monkeypatch, capsys)
    assert code == 0 and cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert "--secrets.files" not in cmd and "http://127.0.0.1:8555" in err


def test_sign_in_opens_the_network(tmp_path, monkeypatch, capsys):
    f = tmp_path / "secrets.toml"
    f.write_text(_toml(dict(AUTH, redirect_uri="https://heart.example.gov.uk/oauth2callback"),
                       {"allowed_domains": ["Example.gov.uk", "@partner.org"]}), encoding="utf-8")
    code, cmd, err = _dashboard(["--address", "0.0.0.0", "--secrets", f], monkeypatch, capsys)
    assert code == 0
    assert cmd[cmd.index("--server.address") + 1] == "0.0.0.0"
    assert cmd[cmd.index("--secrets.files") + 1] == str(f.resolve())
    assert "https://heart.example.gov.uk" in err and "exactly" in err
    assert CLIENT_SECRET not in " ".join(cmd) + err and COOKIE_SECRET not in " ".join(cmd) + err
    if os.name != "posix":
        return
    f.chmod(0o644)  # readable by everyone: a warning, not a refusal
    _code, _cmd, err = _dashboard(["--address", "0.0.0.0", "--secrets", f], monkeypatch, capsys)
    assert f"other users of this machine can read the secrets file {f} (make it yours alone: chmod 600" in err
    f.chmod(0o600)
    _code, _cmd, err = _dashboard(["--address", "0.0.0.0", "--secrets", f], monkeypatch, capsys)
    assert "other users" not in err
    s = read_signin(f)
    assert s.allowed_domains == ("example.gov.uk", "partner.org") and s.allowed_emails == ()


@pytest.mark.parametrize("missing", AUTH_KEYS)
def test_incomplete_secrets_exit_2_naming_the_key(missing, tmp_path, monkeypatch, capsys):
    f = tmp_path / "secrets.toml"
    f.write_text(_toml({k: v for k, v in AUTH.items() if k != missing}, {"allowed_emails": ["a@b.org"]}),
                 encoding="utf-8")
    code, cmd, err = _dashboard(["--secrets", f], monkeypatch, capsys)
    assert code == 2 and cmd is None
    assert f"[auth] has no {missing} " in err and "secrets.toml" in err
    assert CLIENT_SECRET not in err and COOKIE_SECRET not in err


@pytest.mark.parametrize(("auth", "heart", "expected"), [
    (None, {"allowed_emails": ["a@b.org"]}, "has no [auth] table"),
    (AUTH, None, "has no allowed_domains or allowed_emails"),
    (AUTH, {"allowed_domains": [], "allowed_emails": []}, "has no allowed_domains or allowed_emails"),
    (AUTH, {"allowed_domains": "example.gov.uk"}, "allowed_domains must be a list of domains"),
    (AUTH, {"allowed_emails": ["not-an-address"]}, "allowed_emails holds an entry that is not an e-mail"),
    (dict(AUTH, client_secret=""), {"allowed_emails": ["a@b.org"]}, "[auth] has no client_secret"),
    (dict(AUTH, cookie_secret="short"), {"allowed_emails": ["a@b.org"]}, "cookie_secret is too short"),
    (dict(AUTH, redirect_uri="http://heart.example.gov.uk/oauth2callback"), {"allowed_emails": ["a@b.org"]},
     "must start https://"),
    (dict(AUTH, redirect_uri="http://localhost:8501/"), {"allowed_emails": ["a@b.org"]}, "ending /oauth2callback"),
    (dict(AUTH, redirect_uri="http://localhost:9000/oauth2callback"), {"allowed_emails": ["a@b.org"]},
     "names port 9000 but the dashboard listens on --port 8501"),
    (dict(AUTH, server_metadata_url="login.example.org"), {"allowed_emails": ["a@b.org"]},
     "server_metadata_url must be the provider's full address"),
])
def test_wrong_secrets_exit_2(auth, heart, expected, tmp_path, monkeypatch, capsys):
    f = tmp_path / "secrets.toml"
    f.write_text(_toml(auth, heart), encoding="utf-8")
    code, cmd, err = _dashboard(["--secrets", f, "--address", "0.0.0.0"], monkeypatch, capsys)
    assert code == 2 and cmd is None, err
    assert expected in err
    assert CLIENT_SECRET not in err and COOKIE_SECRET not in err


def test_secrets_file_missing_or_not_toml(tmp_path, monkeypatch, capsys):
    code, _cmd, err = _dashboard(["--secrets", tmp_path / "nope.toml"], monkeypatch, capsys)
    assert code == 2 and "does not exist" in err
    f = tmp_path / "secrets.toml"
    f.write_text(f'[auth]\nclient_secret = "{CLIENT_SECRET}"\nthis is not toml\n', encoding="utf-8")
    code, _cmd, err = _dashboard(["--secrets", f], monkeypatch, capsys)
    assert code == 2 and "is not valid TOML" in err and CLIENT_SECRET not in err


def test_port_placeholder_and_wrong_address():
    s = read_signin_from({"redirect_uri": "http://localhost:{port}/oauth2callback"}, port=8600)
    assert s.origin(8600) == "http://localhost:8600"
    assert s.wrong_address("localhost:8600", 8600) is None
    assert s.wrong_address(None, 8600) is None
    msg = s.wrong_address("127.0.0.1:8600", 8600)
    assert "Open http://localhost:8600 instead" in msg and "localhost and 127.0.0.1" in msg
    assert s.wrong_address("localhost:8601", 8600) is not None
    assert s.wrong_address("localhost:notaport", 8600) is not None
    https = read_signin_from({"redirect_uri": "https://heart.example.gov.uk/oauth2callback"})
    assert https.wrong_address("heart.example.gov.uk") is None
    assert https.wrong_address("heart.example.gov.uk:443") is None
    assert https.wrong_address("10.1.2.3:8501") is not None


def read_signin_from(auth: dict, port: int | None = None):
    return signin_from_mapping({"auth": dict(AUTH, **auth), "heart_geo": {"allowed_emails": ["a@b.org"]}}, port=port)


# --------------------------------------------------------------------------------------------------
# the dashboard's front door under Streamlit's AppTest (the browser tests run the real flow)
# --------------------------------------------------------------------------------------------------
@pytest.fixture
def gated(tmp_path, monkeypatch):
    """An AppTest of the dashboard on Testshire with sign-in configured (allow-list: testshire.gov.uk)."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from heart_geo.testing import write_test_data

    toml = write_test_data(tmp_path / "ts")
    monkeypatch.setenv("HEART_GEO_PROFILE", str(toml))
    monkeypatch.setenv("HEART_GEO_DATA", str(tmp_path / "ts"))
    monkeypatch.setenv("HEART_GEO_CACHE", str(tmp_path / "cache"))
    at = AppTest.from_file(str(Path(cli.__file__).parent / "app" / "dashboard.py"), default_timeout=60)
    at.secrets["auth"] = dict(AUTH)
    at.secrets["heart_geo"] = {"allowed_domains": ["testshire.gov.uk"]}
    return at


def _shown(at) -> str:
    return " ".join(str(getattr(e, "value", "")) for e in at.main) + " ".join(
        str(getattr(e, "value", "")) for e in at.sidebar)


def _nothing_of_the_council(at) -> None:
    assert not at.exception, at.exception
    assert "Testshire" not in _shown(at) and "North" not in _shown(at)
    assert not at.tabs and not at.get("file_uploader") and not at.text_input and not at.selectbox
    assert not at.get("iframe") and not at.get("download_button")


def test_before_sign_in_only_the_sign_in_button(gated):
    gated.run()
    _nothing_of_the_council(gated)
    assert [b.label for b in gated.button] == ["Sign in"]


def test_signed_in_on_the_allow_list_gets_the_dashboard(gated):
    gated.user = {"is_logged_in": True, "email": "Ann@Testshire.gov.uk"}
    gated.run()
    assert not gated.exception, gated.exception
    assert gated.tabs and "Testshire" in _shown(gated)
    assert "Signed in as ann@testshire.gov.uk" in [c.value for c in gated.sidebar.caption]
    gated.button(key="sign_out").click().run()  # sign-out: the run stops before the council's data
    _nothing_of_the_council(gated)


@pytest.mark.parametrize("email", ["eve@elsewhere.org", "eve@testshire.gov.uk.evil.org", ""])
def test_signed_in_off_the_allow_list_is_refused(gated, email):
    gated.user = {"is_logged_in": True, "email": email}
    gated.run()
    _nothing_of_the_council(gated)
    assert "is not allowed to use this dashboard" in gated.error[0].value
    assert [b.label for b in gated.button] == ["Sign out"]


def test_wrong_secrets_close_the_dashboard(gated):
    del gated.secrets["heart_geo"]
    gated.user = {"is_logged_in": True, "email": "ann@testshire.gov.uk"}
    gated.run()
    _nothing_of_the_council(gated)
    assert "Sign-in is configured wrongly" in gated.error[0].value and "allowed_domains" in gated.error[0].value
    assert CLIENT_SECRET not in _shown(gated) and COOKIE_SECRET not in _shown(gated)
