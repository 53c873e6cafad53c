"""Redirect URIs: what may be registered, and how a requested one is matched (RFC 6749 §3.1.2,
RFC 8252 §7.3, RFC 9700 §4.1.3): string equality, only a loopback URI's port may vary; never a
fragment, never userinfo."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vitalkey.domain.apps import App, check_redirect_uri, redirect_uri_allowed
from vitalkey.domain.errors import InvalidClientMetadata

LOOPBACK = "http://127.0.0.1/callback"
LOOPBACK_V6 = "http://[::1]/cb?app=coach"
LOCALHOST = "http://localhost:8080/cb"
WEB = "https://portal.example.com/withings/callback"
NATIVE = "com.example.coach:/oauth"
APP = App(
    client_id="coach",
    name="Coach",
    first_party=False,
    supports_2fa=True,
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
    redirect_uris=(LOOPBACK, LOOPBACK_V6, LOCALHOST, WEB, NATIVE),
)

ALLOWED = [
    LOOPBACK,
    "http://127.0.0.1:51234/callback",  # a loopback URI's port may vary
    "http://127.0.0.1:80/callback",
    "http://[::1]:9/cb?app=coach",
    "http://localhost/cb",
    "http://localhost:1/cb",
    WEB,
    NATIVE,
]

HOSTILE = [
    # userinfo: a reader may take either side of the @ for the host
    "http://evil.example@127.0.0.1:51234/callback",
    "http://evil.example@127.0.0.1/callback",
    "http://127.0.0.1:51234@evil.example/callback",
    "http://@127.0.0.1/callback",
    "https://user:pass@portal.example.com/withings/callback",
    "https://evil.example%40portal.example.com/withings/callback",
    # fragments, even empty ones
    "http://127.0.0.1:51234/callback#frag",
    "http://127.0.0.1/callback#",
    WEB + "#x",
    NATIVE + "#x",
    # another host, or the same host spelled otherwise
    "http://localhost:51234/callback",  # registered as 127.0.0.1: not interchangeable
    "http://[::1]:51234/callback",
    "http://127.0.0.1./callback",
    "http://localhost./cb",
    "http://LOCALHOST/cb",
    "http://127.1/callback",
    "http://0x7f000001/callback",
    "http://2130706433/callback",
    "http://127.0.0.2/callback",
    "http://[::ffff:127.0.0.1]/callback",
    "http://127.0.0.%31/callback",
    "https://PORTAL.example.com/withings/callback",
    "https://portal.example.com./withings/callback",
    # another scheme, port, path or query
    "HTTP://127.0.0.1/callback",
    "https://127.0.0.1/callback",
    "https://portal.example.com:443/withings/callback",  # a default port is still a difference
    "http://127.0.0.1:/callback",
    "http://127.0.0.1:99999/callback",
    "http://127.0.0.1:51234/callback/",
    "http://127.0.0.1:51234/Callback",
    "http://127.0.0.1:51234/callback?x=1",
    "http://127.0.0.1:51234/%63allback",
    "http://127.0.0.1:51234/callback/../callback",
    "http://[::1]:9/cb",
    "http://[::1]:9/cb?app=coach&x=1",
    WEB + "/more",
    WEB + "?x=1",
    "https://portal.example.com/withings/callback%2F..%2Fevil",
    # backslashes, which browsers read as slashes, spaces and control characters
    "http://127.0.0.1:51234\\@evil.example/callback",
    "http://127.0.0.1\\callback",
    "https://portal.example.com\\withings/callback",
    "http://127.0.0.1:51234/call back",
    "http://127.0.0.1:51234/callback\t",
    "http://127.0.0.1:51234/callback\n",
    " http://127.0.0.1/callback",
    "http://127.0.0.1:51234/callbäck",
    "",
]


@pytest.mark.parametrize("uri", ALLOWED)
def test_registered_uris_and_loopback_ports_are_allowed(uri: str) -> None:
    assert redirect_uri_allowed(APP, uri)


@pytest.mark.parametrize("uri", HOSTILE)
def test_anything_else_is_refused(uri: str) -> None:
    assert not redirect_uri_allowed(APP, uri)


def test_an_unsafe_uri_registered_before_is_refused_all_the_same() -> None:
    older = App("old", "Old", False, True, APP.created_at, redirect_uris=("https://u@portal.example.com/cb",))
    assert not redirect_uri_allowed(older, "https://u@portal.example.com/cb")


@pytest.mark.parametrize("uri", [LOOPBACK, LOOPBACK_V6, LOCALHOST, WEB, NATIVE, "http://127.0.0.1:8080"])
def test_what_may_be_registered(uri: str) -> None:
    assert check_redirect_uri(uri) == uri


@pytest.mark.parametrize(
    "uri",
    [
        "https://user@portal.example.com/cb",
        "https://user:pw@portal.example.com/cb",
        "http://evil.example@127.0.0.1/cb",
        "https://portal.example.com/cb#frag",
        "https://portal.example.com/cb#",
        "https://portal.example.com\\cb",
        "https://portal.example.com:99999/cb",
        "https://portal.example.com:x/cb",
        "http://portal.example.com/cb",
        "http://127.0.0.1./cb",
        "http://LOCALHOST/cb",
        "HTTP://127.0.0.1/cb",
        "http://127.0.0.1:0/cb",
        "https:///cb",
        "/relative",
        "com.example.app:cb",
        "Com.Example.App:/cb",
        "javascript:alert(1)",
        "https://portal.example.com/c b",
        "https://portal.example.com/cb\x00",
        "https://portal.example.com/" + "x" * 500,
    ],
)
def test_what_may_not_be_registered(uri: str) -> None:
    with pytest.raises(InvalidClientMetadata):
        check_redirect_uri(uri)
