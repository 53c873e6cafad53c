"""Callback URLs (``check_callback_url``: Withings' rules, relaxed only by the dev-mode policy)
and the addresses a delivery may connect to (``address_allowed``: public unicast only)."""

from __future__ import annotations

import pytest

from vitalkey.domain.notifications import (
    MAX_CALLBACK_URL,
    CallbackPolicy,
    CallbackRefused,
    address_allowed,
    check_callback_url,
)

DEFAULT = CallbackPolicy()
HTTP = CallbackPolicy(allow_http=True)
LOCAL = CallbackPolicy(allow_http=True, allow_local=True)


def refusal(url: str, policy: CallbackPolicy = DEFAULT) -> str:
    with pytest.raises(CallbackRefused) as refused:
        check_callback_url(url, policy)
    return refused.value.why


# URLs ----------------------------------------------------------------------------------------
def test_an_https_url_gives_its_parts() -> None:
    target = check_callback_url("https://Partner.Example./hook?id=3", DEFAULT)
    assert (target.scheme, target.host, target.port) == ("https", "partner.example", 443)
    assert target.url == "https://Partner.Example./hook?id=3"
    assert check_callback_url("https://partner.example:443/hook", DEFAULT).port == 443


def test_http_only_when_allowed() -> None:
    assert refusal("http://partner.example/hook") == "scheme"
    target = check_callback_url("http://partner.example/hook", HTTP)
    assert (target.scheme, target.port) == ("http", 80)
    assert check_callback_url("http://partner.example:80/hook", HTTP).port == 80
    for url in ("ftp://partner.example/hook", "file:///etc/passwd", "javascript:alert(1)", "//partner.example/"):
        assert refusal(url, LOCAL) == "scheme"


def test_ports_80_and_443_only_by_default() -> None:
    assert refusal("https://partner.example:8443/hook") == "port"
    assert refusal("https://partner.example:22/hook") == "port"
    assert check_callback_url("http://partner.example:443/hook", HTTP).port == 443  # either of the two
    assert check_callback_url("https://partner.example:8443/hook", LOCAL).port == 8443
    assert refusal("https://partner.example:99999/hook", LOCAL) == "syntax"


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://93.184.216.34/hook",  # even a public IP literal: a callback has a name
        "https://[::1]/hook",
        "https://[2606:2800:220:1:248:1893:25c8:1946]/hook",
        "https://localhost/hook",
        "https://api.localhost/hook",
        "https://intranet/hook",  # a single label
    ],
)
def test_ip_literals_localhost_and_single_labels_only_under_allow_local(url: str) -> None:
    assert refusal(url) == "host"
    assert check_callback_url(url, LOCAL).host == url.split("//")[1].split("/", maxsplit=1)[0].strip("[]")


def test_at_most_255_characters() -> None:
    base = "https://partner.example/"
    assert check_callback_url(base + "a" * (MAX_CALLBACK_URL - len(base)), DEFAULT)
    assert refusal(base + "a" * (MAX_CALLBACK_URL - len(base) + 1)) == "length"
    assert refusal("") == "length"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://user@partner.example/hook", "syntax"),
        ("https://user:pw@partner.example/hook", "syntax"),
        ("https://partner.example@10.0.0.1/hook", "syntax"),
        ("https://partner.example/hook#part", "syntax"),
        ("https://partner.example\\@10.0.0.1/hook", "characters"),
        ("https://partner.example/ho ok", "characters"),
        ("https://partner.example/hook\t", "characters"),
        ("https://partner.example/hook\r\nX: y", "characters"),
        ("https://partner.example/\x7f", "characters"),
        ("https:///hook", "syntax"),
        ("https://[::1/hook", "syntax"),
    ],
)
def test_userinfo_fragments_and_odd_characters_are_refused(url: str, why: str) -> None:
    assert refusal(url) == why
    assert refusal(url, LOCAL) == why  # never relaxed


# Addresses -----------------------------------------------------------------------------------
INSIDE = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.1",
    "10.255.255.254",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.0.1",
    "100.64.0.1",  # shared (carrier-grade NAT)
    "100.127.255.254",
    "169.254.169.254",  # link-local: cloud metadata
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "192.0.2.1",  # documentation
    "::1",
    "::",
    "fe80::1",
    "fe80::1%eth0",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "::ffff:10.0.0.1",  # IPv4-mapped
    "::ffff:127.0.0.1",
    "2002:0a00:0001::",  # 6to4 of 10.0.0.1
    "2002:7f00:0001::1",  # 6to4 of 127.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",  # local-use NAT64 prefix
    "::7f00:1",  # IPv4-compatible (deprecated) 127.0.0.1
    "fec0::1",  # site-local (deprecated)
    "2001:db8::1",  # documentation
    "not an address",
    "",
]
PUBLIC = [
    "93.184.216.34",
    "1.1.1.1",
    "2606:2800:220:1:248:1893:25c8:1946",
    "2001:4860:4860::8888",
    "::ffff:93.184.216.34",
    "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34 (a DNS64 network)
    "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
]


@pytest.mark.parametrize("address", INSIDE)
def test_addresses_inside_a_network_are_refused(address: str) -> None:
    assert not address_allowed(address, DEFAULT)
    assert not address_allowed(address, HTTP)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_unicast_addresses_are_allowed(address: str) -> None:
    assert address_allowed(address, DEFAULT)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.0.0.1", "fe80::1%eth0", "64:ff9b::7f00:1"])
def test_allow_local_allows_any_address(address: str) -> None:
    assert address_allowed(address, LOCAL)
    assert not address_allowed("not an address", LOCAL)
