"""The registered apps (OAuth clients): ``vitalkey apps`` and ``vitalkey client``, and the admin API.

Client secrets are 256 random bits, shown once and kept as a keyed digest: they cannot be guessed,
so a slow password hash would only slow the token endpoint down.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from vitalkey.domain.apps import (
    App,
    ClientType,
    check_client_id,
    check_redirect_uri,
    check_scopes,
    check_url,
    client_secret_digest,
)
from vitalkey.domain.errors import AppExists, InvalidClientMetadata, UnknownApp
from vitalkey.domain.tokens import new_token, same
from vitalkey.flows.deps import FlowDeps


@dataclass(frozen=True, slots=True)
class NewClient:
    name: str
    client_type: ClientType
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    first_party: bool = False
    supports_2fa: bool = True
    logo_url: str = ""
    policy_url: str = ""
    client_id: str = ""  # chosen by the operator, or generated


@dataclass(frozen=True, slots=True)
class Registered:
    app: App
    secret: str | None  # confidential clients only; shown this once


class AppRegistry:
    def __init__(self, deps: FlowDeps) -> None:
        self.deps = deps

    def all(self) -> list[App]:
        with self.deps.uow.read() as tx:
            return tx.apps.all()

    def get(self, client_id: str) -> App:
        with self.deps.uow.read() as tx:
            app = tx.apps.get(client_id)
        if app is None:
            raise UnknownApp()
        return app

    def add(self, client_id: str, name: str, *, supports_2fa: bool, first_party: bool) -> App:
        """A first-party app that signs in through the API only (no OAuth redirect)."""
        if not name.strip() or len(name) > 100:
            raise InvalidClientMetadata("A name has 1 to 100 characters.")
        app = App(check_client_id(client_id), name.strip(), first_party, supports_2fa, self.deps.clock.now())
        self._insert(app)
        return app

    def register(self, new: NewClient) -> Registered:
        """An OAuth client; confidential ones get a secret."""
        name = " ".join(new.name.split())
        if not name or len(name) > 100:
            raise InvalidClientMetadata("A name has 1 to 100 characters.")
        if not new.redirect_uris:
            raise InvalidClientMetadata("At least one redirect URI is needed.")
        secret = new_token(32) if new.client_type is ClientType.CONFIDENTIAL else None
        app = App(
            client_id=check_client_id(new.client_id) if new.client_id else secrets.token_hex(16),
            name=name,
            first_party=new.first_party,
            supports_2fa=new.supports_2fa,
            created_at=self.deps.clock.now(),
            client_type=new.client_type,
            redirect_uris=tuple(dict.fromkeys(check_redirect_uri(uri) for uri in new.redirect_uris)),
            scopes=check_scopes(new.scopes),
            logo_url=check_url(new.logo_url),
            policy_url=check_url(new.policy_url),
            secret_digest=self._digest(secret) if secret else "",
            secret_sealed=self.deps.two_factor.sealer.seal(secret) if secret else "",
        )
        self._insert(app)
        return Registered(app, secret)

    def rotate_secret(self, client_id: str) -> str:
        """A new secret for a confidential client; the old one stops working at once."""
        secret = new_token(32)
        with self.deps.uow.begin() as tx:
            app = tx.apps.get(client_id)
            if app is None:
                raise UnknownApp()
            sealed = self.deps.two_factor.sealer.seal(secret)
            if not tx.apps.set_secret(app.client_id, self._digest(secret), sealed):
                raise InvalidClientMetadata("Only confidential clients have a secret.")
            tx.audit.record("client.secret_rotated", self.deps.clock.now(), None, client_id=app.client_id)
        return secret

    def delete(self, client_id: str) -> None:
        with self.deps.uow.begin() as tx:
            if not tx.apps.delete(client_id):
                raise UnknownApp()
            tx.audit.record("client.deleted", self.deps.clock.now(), None, client_id=client_id)

    def authenticate(self, client_id: str, secret: str) -> App | None:
        """The confidential client with this id and secret, or None (compared in constant time)."""
        with self.deps.uow.read() as tx:
            app = tx.apps.get(client_id)
        expected = app.secret_digest if app is not None else self._digest("never-a-secret")
        right = same(expected, self._digest(secret))
        return app if app is not None and app.secret_digest and right else None

    def _insert(self, app: App) -> None:
        with self.deps.uow.begin() as tx:
            if not tx.apps.add(app):
                raise AppExists()
            tx.audit.record("client.registered", self.deps.clock.now(), None, client_id=app.client_id)

    def _digest(self, secret: str) -> str:
        return client_secret_digest(self.deps.secret, secret)


__all__ = ["AppRegistry", "NewClient", "Registered"]
