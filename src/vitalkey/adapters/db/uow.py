"""The unit of work and the repositories: one DBAPI connection (from SQLAlchemy's pool) per
transaction, running the statements of :mod:`vitalkey.adapters.db.sql`."""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, Generic, ParamSpec, TypeVar

import anyio.to_thread
from sqlalchemy import Engine

from vitalkey.adapters.db.batch import Batch, GroupCommit, joined
from vitalkey.adapters.db.engine import is_sqlite, writing
from vitalkey.adapters.db.retry import Attempt, RetryPolicy, attempt, committed_write, retried_sqlstate
from vitalkey.adapters.db.sql import for_dialect
from vitalkey.adapters.db.unavailable import storage_errors
from vitalkey.domain.accounts import Account, Profile, Sex, Units
from vitalkey.domain.apps import App, ClientType
from vitalkey.domain.codes import StoredCode
from vitalkey.domain.flows import Channel, CountedRefusal, Flow, FlowKind
from vitalkey.domain.oauth import AuthorizationCode, Consent, SigningKey, TokenRecord
from vitalkey.domain.sessions import Session, SessionKind
from vitalkey.domain.two_factor import AppPassword, TwoFactor
from vitalkey.observability import DB_RETRIES, DB_RETRIES_EXHAUSTED, logger
from vitalkey.ports import DatabaseBusy, OutgoingMail, Pending, QueuedSms

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
log = logger("vitalkey.db")

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def us(moment: datetime) -> int:
    """A UTC timestamp as integer microseconds (exact; the same on both engines)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def at(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1_000_000, UTC)


def _at(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, UTC)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


class Db:
    """Runs named statements on one DBAPI cursor. ``memo`` holds what the transaction read and
    may read again (the apps: every token request looks its client up), shared by the units of
    a group commit; repositories forget what they change."""

    def __init__(self, connection: Any, statements: dict[str, str], memo: dict[str, Any] | None = None) -> None:
        self.cursor = connection.cursor()
        self.statements = statements
        self.memo: dict[str, Any] = {} if memo is None else memo

    def row(self, name: str, params: dict[str, Any]) -> Any:
        self.cursor.execute(self.statements[name], params)
        return self.cursor.fetchone()

    def rows(self, name: str, params: dict[str, Any]) -> list[Any]:
        self.cursor.execute(self.statements[name], params)
        return list(self.cursor.fetchall())

    def run(self, name: str, params: dict[str, Any]) -> int:
        self.cursor.execute(self.statements[name], params)
        return int(self.cursor.rowcount)


class SqlFlows:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, flow: Flow) -> None:
        self.db.run(
            "flow_insert",
            {
                "id": flow.id,
                "kind": flow.kind.value,
                "channel": flow.channel.value,
                "state": flow.state,
                "email": flow.email,
                "language": flow.language,
                "browser_binding": flow.browser_binding,
                "context": json.dumps(flow.context),
                "created_at": us(flow.created_at),
                "expires_at": us(flow.expires_at),
            },
        )

    def get(self, flow_id: str) -> Flow | None:
        row = self.db.row("flow_get", {"id": flow_id})
        if row is None:
            return None
        id_, kind, channel, state, email, language, binding, context, created_at, expires_at = row
        return Flow(
            id=id_,
            kind=FlowKind(kind),
            channel=Channel(channel),
            state=state,
            created_at=_at(created_at),
            expires_at=_at(expires_at),
            language=language,
            email=email,
            browser_binding=binding,
            context=dict(_json(context)),
        )

    def save(self, flow: Flow, expected_state: str) -> bool:
        return (
            self.db.run(
                "flow_save",
                {
                    "id": flow.id,
                    "expected_state": expected_state,
                    "state": flow.state,
                    "email": flow.email,
                    "context": json.dumps(flow.context),
                },
            )
            == 1
        )


class SqlCodes:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, code: StoredCode) -> None:
        self.db.run(
            "code_insert",
            {
                "flow_id": code.flow_id,
                "purpose": code.purpose,
                "code_hmac": code.code_hmac,
                "expires_at": us(code.expires_at),
                "attempts": code.attempts,
                "sends": code.sends,
                "last_sent_at": us(code.last_sent_at),
                "used_at": us(code.used_at) if code.used_at else None,
            },
        )

    def get(self, flow_id: str, purpose: str) -> StoredCode | None:
        return _code(self.db.row("code_get", {"flow_id": flow_id, "purpose": purpose}))

    def count_attempt(self, flow_id: str, purpose: str) -> StoredCode | None:
        return _code(self.db.row("code_count_attempt", {"flow_id": flow_id, "purpose": purpose}))

    def consume(self, flow_id: str, purpose: str, now: datetime, max_attempts: int) -> bool:
        return (
            self.db.run(
                "code_consume", {"flow_id": flow_id, "purpose": purpose, "now": us(now), "max_attempts": max_attempts}
            )
            == 1
        )

    def replace(
        self, flow_id: str, purpose: str, code_hmac: str, expires_at: datetime, now: datetime, expected_sends: int
    ) -> bool:
        return (
            self.db.run(
                "code_replace",
                {
                    "expected_sends": expected_sends,
                    "flow_id": flow_id,
                    "purpose": purpose,
                    "code_hmac": code_hmac,
                    "expires_at": us(expires_at),
                    "now": us(now),
                },
            )
            == 1
        )


def _code(row: Any) -> StoredCode | None:
    if row is None:
        return None
    flow_id, purpose, code_hmac, expires_at, attempts, sends, last_sent_at, used_at = row
    return StoredCode(
        flow_id=flow_id,
        purpose=purpose,
        code_hmac=code_hmac,
        expires_at=_at(expires_at),
        attempts=attempts,
        sends=sends,
        last_sent_at=_at(last_sent_at),
        used_at=at(used_at),
    )


class SqlAccounts:
    def __init__(self, db: Db) -> None:
        self.db = db

    def by_email(self, email_key: str) -> Account | None:
        return _account(self.db.row("account_by_email", {"email_key": email_key}))

    def get(self, account_id: int) -> Account | None:
        return _account(self.db.row("account_get", {"id": account_id}))

    def create(
        self, email: str, email_key: str, language: str, profile: Profile, policy_version: str, now: datetime
    ) -> Account | None:
        row = self.db.row(
            "account_create",
            {
                "email": email,
                "email_key": email_key,
                "language": language,
                "policy_version": policy_version,
                "now": us(now),
                **_profile_params(profile),
            },
        )
        return None if row is None else self.get(int(row[0]))

    def update_profile(self, account_id: int, profile: Profile, now: datetime) -> None:
        self.db.run("account_update_profile", {"id": account_id, "now": us(now), **_profile_params(profile)})

    def set_language(self, account_id: int, language: str) -> None:
        self.db.run("account_set_language", {"id": account_id, "language": language})


def _profile_params(profile: Profile) -> dict[str, Any]:
    return {
        "first_name": profile.first_name,
        "last_name": profile.last_name,
        "birth_date": profile.birth_date.isoformat(),
        "sex": profile.sex.value,
        "height_cm": profile.height_cm,
        "units": profile.units.value,
    }


def _account(row: Any) -> Account | None:
    if row is None:
        return None
    (id_, email, language, first, last, born, sex, height, units, policy_version, policy_at, created_at, changed_at) = (
        row
    )
    profile = None
    if first is not None:
        profile = Profile(
            first_name=first,
            last_name=last,
            birth_date=born if isinstance(born, date) else date.fromisoformat(born),
            sex=Sex(sex),
            height_cm=float(height),
            units=Units(units),
        )
    return Account(
        id=int(id_),
        email=email,
        created_at=_at(created_at),
        language=language,
        profile=profile,
        policy_version=policy_version,
        policy_accepted_at=at(policy_at),
        password_changed_at=at(changed_at),
    )


class SqlSessions:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, session: Session) -> None:
        self.db.run(
            "session_insert",
            {
                "id": session.id,
                "account_id": session.account_id,
                "kind": session.kind.value,
                "methods": ",".join(session.methods),
                "user_agent": session.user_agent,
                "ip": session.ip,
                "created_at": us(session.created_at),
                "last_seen_at": us(session.last_seen_at),
                "expires_at": us(session.expires_at),
                "authenticated_at": us(session.authenticated_at) if session.authenticated_at else None,
            },
        )

    def add_factor(self, session: Session, method: str, now: datetime, expires_by: datetime) -> None:
        methods = ",".join(dict.fromkeys((*session.methods, method)))
        self.db.run(
            "session_add_factor",
            {"id": session.id, "methods": methods, "now": us(now), "expires_by": us(expires_by)},
        )

    def get(self, session_id: str) -> Session | None:
        return _session(self.db.row("session_get", {"id": session_id}))

    def touch(self, session_id: str, now: datetime) -> None:
        self.db.run("session_touch", {"id": session_id, "now": us(now)})

    def for_account(self, account_id: int, now: datetime) -> list[Session]:
        rows = self.db.rows("session_for_account", {"account_id": account_id, "now": us(now)})
        return [s for s in (_session(row) for row in rows) if s is not None]

    def revoke(self, account_id: int, session_id: str, now: datetime) -> bool:
        return self.db.run("session_revoke", {"id": session_id, "account_id": account_id, "now": us(now)}) == 1

    def revoke_all_except(self, account_id: int, keep_id: str | None, now: datetime) -> int:
        return self.db.run(
            "session_revoke_others", {"account_id": account_id, "keep_id": keep_id or "", "now": us(now)}
        )


def _session(row: Any) -> Session | None:
    if row is None:
        return None
    id_, account_id, kind, methods, user_agent, ip, created_at, last_seen_at, expires_at, authenticated_at = row
    return Session(
        id=id_,
        account_id=int(account_id),
        kind=SessionKind(kind),
        created_at=_at(created_at),
        last_seen_at=_at(last_seen_at),
        expires_at=_at(expires_at),
        user_agent=user_agent,
        ip=ip,
        methods=tuple(m for m in methods.split(",") if m),
        authenticated_at=_at(authenticated_at) if authenticated_at is not None else None,
    )


class SqlOutbox:
    def __init__(self, db: Db) -> None:
        self.db = db

    def enqueue(self, mail: OutgoingMail, now: datetime) -> None:
        self._insert("outbox_insert", mail.to, mail.template, mail.language, mail.context, mail.idempotency_key, now)

    def enqueue_sms(self, sms: QueuedSms, now: datetime) -> None:
        self._insert("sms_outbox_insert", sms.to, sms.template, sms.language, sms.context, sms.idempotency_key, now)

    def _insert(
        self, statement: str, to: str, template: str, language: str, context: dict[str, Any], key: str, now: datetime
    ) -> None:
        self.db.run(
            statement,
            {
                "recipient": to,
                "template": template,
                "language": language,
                "payload": json.dumps(context),
                "idempotency_key": key,
                "now": us(now),
            },
        )


class SqlTwoFactor:
    def __init__(self, db: Db) -> None:
        self.db = db

    def get(self, account_id: int) -> TwoFactor | None:
        row = self.db.row("two_factor_get", {"account_id": account_id})
        if row is None:
            return None
        return TwoFactor(
            account_id=int(row[0]),
            method=row[1],
            phone=row[2],
            enabled_at=_at(row[3]),
            recovery_digest=row[4],
            recovery_sealed=row[5],
            recovery_issued_at=_at(row[6]),
        )

    def enable(self, factor: TwoFactor) -> bool:
        params = {
            "account_id": factor.account_id,
            "method": factor.method,
            "phone": factor.phone,
            "enabled_at": us(factor.enabled_at),
            "recovery_digest": factor.recovery_digest,
            "recovery_sealed": factor.recovery_sealed,
            "recovery_issued_at": us(factor.recovery_issued_at),
        }
        return self.db.run("two_factor_insert", params) == 1

    def set_phone(self, account_id: int, phone: str) -> bool:
        return self.db.run("two_factor_set_phone", {"account_id": account_id, "phone": phone}) == 1

    def replace_recovery(self, account_id: int, old_digest: str, digest: str, sealed: str, now: datetime) -> bool:
        params = {
            "account_id": account_id,
            "old_digest": old_digest,
            "digest": digest,
            "sealed": sealed,
            "now": us(now),
        }
        return self.db.run("two_factor_replace_recovery", params) == 1

    def disable(self, account_id: int) -> bool:
        return self.db.run("two_factor_delete", {"account_id": account_id}) == 1


class SqlApps:
    def __init__(self, db: Db) -> None:
        self.db = db
        self.known: dict[str, App | None] = db.memo.setdefault("apps", {})

    def get(self, client_id: str) -> App | None:
        if client_id in self.known:
            return self.known[client_id]
        row = self.db.row("app_get", {"client_id": client_id})
        app = self.known[client_id] = None if row is None else _app(row)
        return app

    def all(self) -> list[App]:
        return [_app(row) for row in self.db.rows("app_all", {})]

    def add(self, app: App) -> bool:
        params = {
            "client_id": app.client_id,
            "name": app.name,
            "first_party": app.first_party,
            "supports_2fa": app.supports_2fa,
            "created_at": us(app.created_at),
            "client_type": app.client_type.value,
            "redirect_uris": " ".join(app.redirect_uris),
            "scopes": " ".join(app.scopes),
            "logo_url": app.logo_url,
            "policy_url": app.policy_url,
            "secret_digest": app.secret_digest,
            "secret_sealed": app.secret_sealed,
        }
        self.known.clear()
        return self.db.run("app_insert", params) == 1

    def set_secret(self, client_id: str, secret_digest: str, secret_sealed: str) -> bool:
        params = {"client_id": client_id, "secret_digest": secret_digest, "secret_sealed": secret_sealed}
        self.known.clear()
        return self.db.run("app_set_secret", params) == 1

    def delete(self, client_id: str) -> bool:
        self.known.clear()
        return self.db.run("app_delete", {"client_id": client_id}) == 1

    def passwords(self, account_id: int) -> list[AppPassword]:
        return [_app_password(row) for row in self.db.rows("app_password_list", {"account_id": account_id})]

    def add_password(self, password: AppPassword, digest: str) -> None:
        params = {
            "id": password.id,
            "account_id": password.account_id,
            "app_id": password.app_id,
            "name": password.name,
            "created_at": us(password.created_at),
            "digest": digest,
        }
        self.db.run("app_password_insert", params)

    def use_password(self, account_id: int, app_id: str, digest: str, now: datetime) -> AppPassword | None:
        params = {"account_id": account_id, "app_id": app_id, "digest": digest, "now": us(now)}
        row = self.db.row("app_password_use", params)
        return None if row is None else _app_password(row)

    def revoke_password(self, account_id: int, password_id: str, now: datetime) -> bool:
        params = {"account_id": account_id, "id": password_id, "now": us(now)}
        return self.db.run("app_password_revoke", params) == 1

    def revoke_passwords(self, account_id: int, now: datetime) -> int:
        return self.db.run("app_password_revoke_all", {"account_id": account_id, "now": us(now)})


def _app(row: Any) -> App:
    return App(
        client_id=row[0],
        name=row[1],
        first_party=bool(row[2]),
        supports_2fa=bool(row[3]),
        created_at=_at(row[4]),
        client_type=ClientType(row[5]),
        redirect_uris=tuple(row[6].split()),
        scopes=tuple(row[7].split()),
        logo_url=row[8],
        policy_url=row[9],
        secret_digest=row[10],
        secret_sealed=row[11],
    )


def _app_password(row: Any) -> AppPassword:
    return AppPassword(
        id=row[0], account_id=int(row[1]), app_id=row[2], name=row[3], created_at=_at(row[4]), last_used_at=at(row[5])
    )


class SqlOAuth:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add_code(self, code: AuthorizationCode) -> None:
        params = {
            "digest": code.digest,
            "client_id": code.client_id,
            "account_id": code.account_id,
            "redirect_uri": code.redirect_uri,
            "scopes": " ".join(code.scopes),
            "scope_text": code.scope_text,
            "nonce": code.nonce,
            "code_challenge": code.code_challenge,
            "code_challenge_method": code.code_challenge_method,
            "auth_time": us(code.auth_time),
            "methods": " ".join(code.methods),
            "family_id": code.family_id,
            "created_at": us(code.created_at),
            "expires_at": us(code.expires_at),
        }
        self.db.run("oauth_code_insert", params)

    def use_code(self, digest: str, now: datetime) -> AuthorizationCode | None:
        row = self.db.row("oauth_code_use", {"digest": digest, "now": us(now)})
        return None if row is None else _oauth_code(row)

    def code(self, digest: str) -> AuthorizationCode | None:
        row = self.db.row("oauth_code_get", {"digest": digest})
        return None if row is None else _oauth_code(row)

    def add_token(self, token: TokenRecord) -> int:
        params = {
            "family_id": token.family_id,
            "parent_id": token.parent_id,
            "client_id": token.client_id,
            "account_id": token.account_id,
            "scopes": " ".join(token.scopes),
            "scope_text": token.scope_text,
            "created_at": us(token.created_at),
            "access_expires_at": us(token.access_expires_at),
            "refresh_expires_at": us(token.refresh_expires_at),
            "access_digest": token.access_digest,
            "refresh_digest": token.refresh_digest,
        }
        return int(self.db.row("oauth_token_insert", params)[0])

    def token(self, token_id: int) -> TokenRecord | None:
        row = self.db.row("oauth_token_get", {"id": token_id})
        return None if row is None else _token(row)

    def legacy_token_id(self, digest: str) -> int | None:
        row = self.db.row("oauth_token_legacy", {"digest": digest})
        return None if row is None else int(row[0])

    def first_use(self, token: TokenRecord, now: datetime) -> bool:
        if self.db.run("oauth_token_first_use", {"id": token.id, "now": us(now)}) != 1:
            return False
        if token.parent_id is not None:
            self.db.run("oauth_token_retire", {"id": token.parent_id, "at": us(now)})
        return True

    def rotate(self, token_id: int, now: datetime, retire_at: datetime) -> bool:
        return self.db.run("oauth_token_rotate", {"id": token_id, "now": us(now), "at": us(retire_at)}) == 1

    def revoke_family(self, account_id: int, client_id: str, family_id: str, now: datetime) -> int:
        params = {"account_id": account_id, "client_id": client_id, "family_id": family_id, "now": us(now)}
        return self.db.run("oauth_token_revoke_family", params)

    def revoke_app(self, account_id: int, client_id: str, now: datetime) -> int:
        params = {"account_id": account_id, "client_id": client_id, "now": us(now)}
        self.db.run("oauth_code_spend_app", params)
        return self.db.run("oauth_token_revoke_app", params)

    def consent(self, account_id: int, client_id: str) -> Consent | None:
        row = self.db.row("consent_get", {"account_id": account_id, "client_id": client_id})
        return None if row is None else _consent(row)

    def consents(self, account_id: int) -> list[Consent]:
        return [_consent(row) for row in self.db.rows("consent_list", {"account_id": account_id})]

    def allow(self, account_id: int, client_id: str, scopes: tuple[str, ...], now: datetime) -> None:
        params = {"account_id": account_id, "client_id": client_id, "scopes": " ".join(scopes), "now": us(now)}
        self.db.run("consent_allow", params)

    def used(self, account_id: int, client_id: str, now: datetime, precision: timedelta) -> None:
        params = {"account_id": account_id, "client_id": client_id, "now": us(now), "since": us(now - precision)}
        self.db.run("consent_used", params)

    def forget(self, account_id: int, client_id: str) -> bool:
        return self.db.run("consent_delete", {"account_id": account_id, "client_id": client_id}) == 1

    def add_nonce(self, nonce: str, client_id: str, expires_at: datetime) -> None:
        self.db.run("oauth_nonce_purge", {"now": us(expires_at) - 86_400_000_000})
        self.db.run("oauth_nonce_insert", {"nonce": nonce, "client_id": client_id, "expires_at": us(expires_at)})

    def use_nonce(self, nonce: str, client_id: str, now: datetime) -> bool:
        return self.db.run("oauth_nonce_use", {"nonce": nonce, "client_id": client_id, "now": us(now)}) == 1

    def keys(self) -> list[SigningKey]:
        return [_signing_key(row) for row in self.db.rows("signing_key_list", {})]

    def add_key(self, key: SigningKey) -> None:
        params = {
            "kid": key.kid,
            "alg": key.alg,
            "public_jwk": json.dumps(key.public_jwk),
            "private_sealed": key.private_sealed,
            "created_at": us(key.created_at),
        }
        self.db.run("signing_key_insert", params)

    def retire_keys(self, alg: str, now: datetime, publish_until: datetime) -> int:
        params = {"alg": alg, "now": us(now), "publish_until": us(publish_until)}
        return self.db.run("signing_key_retire", params)


def _oauth_code(row: Any) -> AuthorizationCode:
    return AuthorizationCode(
        digest=row[0],
        client_id=row[1],
        account_id=int(row[2]),
        redirect_uri=row[3],
        scopes=tuple(row[4].split()),
        scope_text=row[5],
        nonce=row[6],
        code_challenge=row[7],
        code_challenge_method=row[8],
        auth_time=_at(row[9]),
        methods=tuple(row[10].split()),
        family_id=row[11],
        created_at=_at(row[12]),
        expires_at=_at(row[13]),
        used_at=at(row[14]),
    )


def _token(row: Any) -> TokenRecord:
    return TokenRecord(
        id=int(row[0]),
        family_id=row[1],
        parent_id=row[2],
        client_id=row[3],
        account_id=int(row[4]),
        scopes=tuple(row[5].split()),
        scope_text=row[6],
        created_at=_at(row[7]),
        access_expires_at=_at(row[8]),
        refresh_expires_at=_at(row[9]),
        access_used_at=at(row[10]),
        retire_at=at(row[11]),
        revoked_at=at(row[12]),
        access_digest=row[13],
        refresh_digest=row[14],
    )


def _consent(row: Any) -> Consent:
    return Consent(
        account_id=int(row[0]),
        client_id=row[1],
        scopes=tuple(row[2].split()),
        first_allowed_at=_at(row[3]),
        last_used_at=at(row[4]),
    )


def _signing_key(row: Any) -> SigningKey:
    return SigningKey(
        kid=row[0],
        alg=row[1],
        public_jwk=json.loads(row[2]),
        private_sealed=row[3],
        created_at=_at(row[4]),
        retired_at=at(row[5]),
        publish_until=at(row[6]),
    )


class SqlAudit:
    def __init__(self, db: Db) -> None:
        self.db = db

    def record(self, event: str, now: datetime, account_id: int | None = None, **details: Any) -> None:
        self.db.run(
            "audit_insert",
            {
                "at": us(now),
                "account_id": account_id,
                "event": event,
                "details": json.dumps(details, default=str),
            },
        )


class SqlCounters:
    def __init__(self, db: Db) -> None:
        self.db = db

    def lock(self, key: str) -> None:
        self.db.run("counter_lock", {"key": key})

    def since(self, key: str, start_us: int) -> list[tuple[int, int]]:
        return [
            (int(start), int(hits)) for start, hits in self.db.rows("counter_since", {"key": key, "start": start_us})
        ]

    def add(self, key: str, bucket_us: int) -> None:
        self.db.run("counter_add", {"key": key, "bucket": bucket_us})

    def take_back(self, key: str, bucket_us: int) -> None:
        self.db.run("counter_take_back", {"key": key, "bucket": bucket_us})


class SqlPasswords:
    def __init__(self, db: Db) -> None:
        self.db = db

    def hash_of(self, account_id: int) -> str | None:
        row = self.db.row("password_hash_get", {"id": account_id})
        return None if row is None else row[0]

    def set(self, account_id: int, password_hash: str, now: datetime) -> None:
        """A new password: every open "update password" link of the account dies with the old one."""
        self.db.run("password_set", {"id": account_id, "hash": password_hash, "now": us(now)})
        self.db.run("reset_revoke_all", {"account_id": account_id, "now": us(now)})

    def rehash(self, account_id: int, old_hash: str, new_hash: str) -> None:
        self.db.run("password_rehash", {"id": account_id, "old": old_hash, "hash": new_hash})

    def count_failure(self, key: str) -> tuple[int, datetime]:
        consecutive, blocked_until = self.db.row("password_failure_count", {"key": key})
        return int(consecutive), _at(blocked_until)

    def failures(self, key: str) -> tuple[int, datetime]:
        row = self.db.row("password_failure_get", {"key": key})
        return (0, _EPOCH) if row is None else (int(row[0]), _at(row[1]))

    def block(self, key: str, until: datetime) -> None:
        self.db.run("password_failure_block", {"key": key, "until": us(until)})

    def clear_failures(self, key: str) -> None:
        self.db.run("password_failure_clear", {"key": key})

    def add_reset(self, token_digest: str, account_id: int, now: datetime, expires_at: datetime) -> None:
        """A new link; the account's older links die (only the newest works)."""
        self.db.run("reset_revoke_all", {"account_id": account_id, "now": us(now)})
        self.db.run(
            "reset_insert",
            {"digest": token_digest, "account_id": account_id, "now": us(now), "expires_at": us(expires_at)},
        )

    def reset_account(self, token_digest: str, now: datetime) -> int | None:
        row = self.db.row("reset_valid", {"digest": token_digest, "now": us(now)})
        return None if row is None else int(row[0])

    def consume_reset(self, token_digest: str, now: datetime) -> int | None:
        row = self.db.row("reset_consume", {"digest": token_digest, "now": us(now)})
        return None if row is None else int(row[0])


class _Repository(Generic[T]):
    """A repository made when a transaction first uses it, then kept on the transaction:
    ``functools.cached_property`` without the lock it takes on every access before Python 3.12,
    which cost more than making the repository."""

    def __init__(self, make: Callable[[Db], T]) -> None:
        self.make = make
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, tx: SqlTransaction, owner: type | None = None) -> T:
        repository = tx.__dict__[self.name] = self.make(tx.db)
        return repository


class SqlTransaction:
    """The repositories of one transaction, each made when first used (most units use two)."""

    def __init__(self, db: Db) -> None:
        self.db = db

    passwords = _Repository(SqlPasswords)
    flows = _Repository(SqlFlows)
    codes = _Repository(SqlCodes)
    accounts = _Repository(SqlAccounts)
    sessions = _Repository(SqlSessions)
    outbox = _Repository(SqlOutbox)
    audit = _Repository(SqlAudit)
    counters = _Repository(SqlCounters)
    two_factor = _Repository(SqlTwoFactor)
    apps = _Repository(SqlApps)
    oauth = _Repository(SqlOAuth)


class SqlUnitOfWork:
    def __init__(self, engine: Engine, retry: RetryPolicy | None = None) -> None:
        self.engine = engine
        self.retry = retry or RetryPolicy()
        self.statements = for_dialect(engine.dialect.name)
        self.sqlite = is_sqlite(engine)
        self._group_commits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupCommit] = (
            weakref.WeakKeyDictionary()
        )
        self._group_reads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupCommit] = (
            weakref.WeakKeyDictionary()
        )

    @storage_errors
    async def run(self, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run blocking work that uses this unit of work, from the event loop. On SQLite it runs
        inline in the loop's group commit (its transactions are short, and handing each to a
        thread costs more than the work); elsewhere in a worker thread, so that network waits do
        not stall the loop, and run again whole if the database aborts its transaction for a
        conflict with another one (:mod:`vitalkey.adapters.db.retry`)."""
        if not self.sqlite:
            return await self._retrying(function, partial(function, *args, **kwargs))
        return await self._group_commit(asyncio.get_running_loop()).run(function, *args, **kwargs)

    @storage_errors
    async def run_optimistic(self, prepare: Callable[P, R | Pending[R]], *args: P.args, **kwargs: P.kwargs) -> R:
        """On SQLite the reads run inline, sharing one read transaction with the other reads of
        the loop's turn (WAL readers never wait for the writer), and only the pending writes join
        the group commit, so the write lock is held for them alone. Elsewhere there is no one
        writer to spare, and a transaction costs round trips: both steps run in one worker
        thread, in one transaction, and a retry runs both again."""
        if not self.sqlite:
            return await self._retrying(prepare, partial(self._settle, prepare, *args, **kwargs))
        loop = asyncio.get_running_loop()
        reads = self._group_reads.get(loop)
        if reads is None:
            reads = self._group_reads[loop] = GroupCommit(self.engine, loop, write=False)
        outcome = await reads.run(prepare, *args, **kwargs)
        if isinstance(outcome, Pending):
            return await self._group_commit(loop).run(outcome.write)
        return outcome

    async def _retrying(self, function: Callable[..., Any], work: Callable[[], R]) -> R:
        """``work`` in a worker thread; again, after a short pause, while the database aborts
        its transaction for a conflict and nothing of it has committed, up to the policy's
        attempts; then :class:`DatabaseBusy`."""
        name = getattr(function, "__qualname__", "")
        for number in range(1, self.retry.attempts + 1):
            this = Attempt()
            try:
                return await anyio.to_thread.run_sync(self._attempt, this, work)
            except Exception as error:
                sqlstate = retried_sqlstate(error)
                if sqlstate is None:
                    raise
                if this.committed or number == self.retry.attempts:
                    DB_RETRIES_EXHAUSTED.labels(sqlstate=sqlstate).inc()
                    # committed: a transaction of the unit is stored; running it again would repeat it
                    log.error(
                        "db.retries_exhausted", sqlstate=sqlstate, attempts=number, work=name, committed=this.committed
                    )
                    raise DatabaseBusy(sqlstate) from error
                delay = self.retry.delay(number)
                DB_RETRIES.labels(sqlstate=sqlstate).inc()
                log.warning("db.retry", sqlstate=sqlstate, attempt=number, work=name, delay_ms=round(delay * 1000, 1))
            await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    @staticmethod
    def _attempt(this: Attempt, work: Callable[[], R]) -> R:
        token = attempt.set(this)
        try:
            return work()
        finally:
            attempt.reset(token)

    def _settle(self, prepare: Callable[P, R | Pending[R]], *args: P.args, **kwargs: P.kwargs) -> R:
        """``prepare`` and its pending write in one transaction: their reads and writes join it."""
        connection = self.engine.raw_connection()
        try:
            token = joined.set(Batch(self.engine, connection, savepoints=False))
            try:
                outcome = prepare(*args, **kwargs)
                result = outcome.write() if isinstance(outcome, Pending) else outcome
            finally:
                joined.reset(token)
        except CountedRefusal as refusal:
            self._commit(connection, write=False)
            raise refusal.error from None
        except BaseException:
            connection.rollback()
            raise
        else:
            self._commit(connection, write=False)
            return result
        finally:
            connection.close()  # back to the pool

    def _group_commit(self, loop: asyncio.AbstractEventLoop) -> GroupCommit:
        group = self._group_commits.get(loop)
        if group is None:
            group = self._group_commits[loop] = GroupCommit(self.engine, loop)
        return group

    @contextmanager
    def begin(self) -> Iterator[SqlTransaction]:
        batch = joined.get()
        if batch is not None and batch.open and batch.engine is self.engine:
            if not batch.writable:
                raise RuntimeError("a read-only unit of work cannot write")
            with batch.savepoint() as connection:
                yield SqlTransaction(Db(connection, self.statements, batch.memo))
            return
        if self.sqlite:
            self._refuse_on_busy_loop()
        # SQLite has one writer at a time: writers queue on one lock (threads and processes)
        # instead of in SQLite's busy handler, which sleeps and retries and collapses under load.
        with writing(self.engine), self._transaction("BEGIN IMMEDIATE" if self.sqlite else "", write=True) as tx:
            yield tx

    @contextmanager
    def read(self) -> Iterator[SqlTransaction]:
        batch = joined.get()
        if batch is not None and batch.open and batch.engine is self.engine:
            with batch.savepoint() as connection:  # sees the writes of the batch so far
                yield SqlTransaction(Db(connection, self.statements, batch.memo))
            return
        with self._transaction("BEGIN" if self.sqlite else "", write=False) as tx:
            yield tx

    def _refuse_on_busy_loop(self) -> None:
        """A write on the loop's own thread outside :meth:`run` while the loop's group commit
        holds (or awaits) the write lock would wait for itself."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        group = self._group_commits.get(loop)
        if group is not None and group.busy:
            raise RuntimeError("database writes on the event loop must go through UnitOfWork.run")

    @contextmanager
    def _transaction(self, begin: str, *, write: bool) -> Iterator[SqlTransaction]:
        connection = self.engine.raw_connection()
        try:
            db = Db(connection, self.statements)
            if begin:
                db.cursor.execute(begin)
            yield SqlTransaction(db)
        except CountedRefusal as refusal:
            self._commit(connection, write)
            raise refusal.error from None
        except BaseException:
            connection.rollback()
            raise
        else:
            self._commit(connection, write)
        finally:
            connection.close()  # back to the pool

    @staticmethod
    def _commit(connection: Any, write: bool) -> None:
        try:
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        if write:
            committed_write()  # from now on, running the unit again would repeat this

    def ping(self) -> None:
        with self.read() as tx:
            tx.flows.get("")
