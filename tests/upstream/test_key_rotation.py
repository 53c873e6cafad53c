"""The provider rotates its signing key (oidc-provider restarted, publishing a new key first):
the first token with the unknown kid refetches the keys once and succeeds; another unknown kid
within federation_jwks_min_refetch_s is refused without asking the provider again; after the
interval it is fetched."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.upstream.conftest import (
    GOOGLE_ACCOUNTS,
    ShiftedClock,
    authorize,
    refusals,
    serve,
    sign_in,
    upstream_for,
)
from tests.upstream_provider import REDIRECT_URI, OidcServer, rsa_jwk
from vitalkey.domain.errors import UpstreamRefused
from vitalkey.ports import UpstreamClaims


@pytest.fixture
def rotating_server(oidc_provider_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    yield from serve(tmp_path_factory.mktemp("rotating"), "google", keys=[rsa_jwk("key-1")], accounts=GOOGLE_ACCOUNTS)


def test_a_new_key_is_fetched_once_and_never_more_often_than_the_interval(rotating_server: OidcServer) -> None:
    clock = ShiftedClock()
    upstream = upstream_for(rotating_server, clock, settings={"VITALKEY_FEDERATION_JWKS_MIN_REFETCH_S": "60"})
    key_1, key_2, key_3 = rotating_server.keys[0], rsa_jwk("key-2"), rsa_jwk("key-3")

    assert sign_in(rotating_server, upstream, "ada").subject == "ada"
    assert rotating_server.stats()["jwks"] == 1

    clock.advance(61)  # the first refetch is allowed
    rotating_server.restart([key_2, key_1])
    assert sign_in(rotating_server, upstream, "ada").subject == "ada"
    assert rotating_server.stats()["jwks"] == 1  # one refetch, for key-2

    clock.advance(30)  # within the interval
    rotating_server.restart([key_3, key_2, key_1])
    before = refusals("google", "unknown_kid")
    with pytest.raises(UpstreamRefused) as refused:
        sign_in(rotating_server, upstream, "ada")
    assert refused.value.reason == "unknown_kid"
    assert refusals("google", "unknown_kid") == before + 1
    assert rotating_server.stats()["jwks"] == 0  # not asked again

    clock.advance(31)  # the interval is over
    assert sign_in(rotating_server, upstream, "ada").subject == "ada"
    assert rotating_server.stats()["jwks"] == 1


def test_a_key_the_provider_never_published_is_an_unknown_kid(rotating_server: OidcServer) -> None:
    """The provider signs with a key it does not publish (its JWKS swapped by the test):
    refetched once, still unknown, refused."""
    clock = ShiftedClock()
    upstream = upstream_for(rotating_server, clock)
    assert sign_in(rotating_server, upstream, "ada").subject == "ada"
    clock.advance(3600)
    rotating_server.restart([rsa_jwk("unpublished")])
    rotating_server.control(publish=[])  # an empty JWKS from now on
    with pytest.raises(UpstreamRefused) as refused:
        sign_in(rotating_server, upstream, "ada")
    assert refused.value.reason == "unknown_kid"
    assert rotating_server.stats()["jwks"] == 1


def test_sign_ins_arriving_together_with_the_new_key_share_one_refetch(rotating_server: OidcServer) -> None:
    clock = ShiftedClock()
    upstream = upstream_for(rotating_server, clock)
    assert sign_in(rotating_server, upstream, "ada").subject == "ada"
    clock.advance(61)
    rotating_server.restart([rsa_jwk("key-2"), *rotating_server.keys])
    rotating_server.control(jwks_delay_ms=500)  # the second arrives while the first's refetch is under way
    first, second = authorize(rotating_server, upstream, "ada"), authorize(rotating_server, upstream, "bob")

    async def both() -> list[UpstreamClaims]:
        return list(
            await asyncio.gather(
                *(
                    upstream.finish(code=attempt.answer["code"], redirect_uri=REDIRECT_URI, expected=attempt.start)
                    for attempt in (first, second)
                )
            )
        )

    assert [claims.subject for claims in asyncio.run(both())] == ["ada", "bob"]
    assert rotating_server.stats()["jwks"] == 1
