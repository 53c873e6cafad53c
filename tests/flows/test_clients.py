"""OAuth clients (issue #5, first part) on both engines: registration rules, the secret shown once
and kept as a keyed digest, rotation, deletion."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from vitalkey.adapters.db import schema as t
from vitalkey.container import Container
from vitalkey.domain.apps import ClientType
from vitalkey.domain.errors import AppExists, InvalidClientMetadata, UnknownApp
from vitalkey.flows.clients import NewClient

PORTAL = NewClient(
    name="Acme Wellness Portal",
    client_type=ClientType.CONFIDENTIAL,
    redirect_uris=("https://portal.example.com/callback",),
    scopes=("user.info", "user.metrics", "user.activity"),
    logo_url="https://portal.example.com/logo.png",
    policy_url="https://portal.example.com/privacy",
)


def test_a_confidential_client_gets_a_secret_kept_only_as_a_digest(container: Container) -> None:
    registered = container.apps.register(PORTAL)
    app, secret = registered.app, registered.secret
    assert secret is not None and len(secret) >= 43 and len(app.client_id) == 32
    assert app.redirect_uris == PORTAL.redirect_uris and app.scopes == PORTAL.scopes
    with container.engine.connect() as conn:
        stored = conn.execute(select(t.apps.c.secret_digest).where(t.apps.c.client_id == app.client_id)).scalar_one()
    assert secret not in stored and len(stored) == 64
    assert container.apps.authenticate(app.client_id, secret) == container.apps.get(app.client_id)
    assert container.apps.authenticate(app.client_id, secret + "x") is None
    assert container.apps.authenticate("unknown", secret) is None


def test_rotating_the_secret_stops_the_old_one(container: Container) -> None:
    registered = container.apps.register(PORTAL)
    new = container.apps.rotate_secret(registered.app.client_id)
    assert container.apps.authenticate(registered.app.client_id, registered.secret or "") is None
    assert container.apps.authenticate(registered.app.client_id, new) is not None


def test_public_clients_have_no_secret(container: Container) -> None:
    registered = container.apps.register(
        NewClient(
            name="Coach (iOS)",
            client_type=ClientType.PUBLIC,
            redirect_uris=("com.example.coach:/oauth", "http://127.0.0.1/callback"),
            scopes=("user.metrics",),
            client_id="coach-ios",
        )
    )
    assert registered.secret is None and registered.app.client_id == "coach-ios"
    with pytest.raises(InvalidClientMetadata):
        container.apps.rotate_secret("coach-ios")
    assert container.apps.authenticate("coach-ios", "") is None
    with pytest.raises(AppExists):
        container.apps.register(
            NewClient("Again", ClientType.PUBLIC, ("https://a.example/cb",), ("user.info",), client_id="coach-ios")
        )


@pytest.mark.parametrize(
    "bad",
    [
        {"redirect_uris": ("http://portal.example.com/callback",)},  # plain http off the loopback
        {"redirect_uris": ("https://portal.example.com/cb#frag",)},
        {"redirect_uris": ("/relative",)},
        {"redirect_uris": ()},
        {"scopes": ("user.everything",)},
        {"scopes": ()},
        {"logo_url": "http://portal.example.com/logo.png"},
        {"name": "   "},
        {"client_id": "Bad Id"},
    ],
)
def test_registrations_that_cannot_be_used_are_refused(container: Container, bad: dict[str, object]) -> None:
    with pytest.raises(InvalidClientMetadata):
        container.apps.register(replace(PORTAL, **bad))  # type: ignore[arg-type]


def test_deleting_a_client(container: Container) -> None:
    registered = container.apps.register(PORTAL)
    container.apps.delete(registered.app.client_id)
    with pytest.raises(UnknownApp):
        container.apps.get(registered.app.client_id)
    with pytest.raises(UnknownApp):
        container.apps.delete(registered.app.client_id)


def test_a_longer_client_id_is_not_cut_to_find_another_client(container: Container) -> None:
    """A client id is looked up whole: one character more than a registered 64-character id
    names no client (it used to be cut to 64 and found, deleted or authenticated)."""
    registered = container.apps.register(replace(PORTAL, client_id="p" * 64))
    longer = registered.app.client_id + "x"
    assert registered.secret is not None
    assert container.apps.authenticate(longer, registered.secret) is None
    assert container.apps.authenticate(registered.app.client_id, registered.secret + "x" * 300) is None
    for operation in (container.apps.get, container.apps.rotate_secret, container.apps.delete):
        with pytest.raises(UnknownApp):
            operation(longer)
    assert container.apps.authenticate(registered.app.client_id, registered.secret) is not None
