"""OAuth authorization codes and token generations. Hand-written SQL: token grants issue,
redeem and rotate them (see ``statements``)."""

from __future__ import annotations

from datetime import datetime

from vitalkey.adapters.db.repositories import accounts
from vitalkey.adapters.db.statements import Columns, Db, Row, Sql, at, at_or_none, us
from vitalkey.domain.accounts import Account
from vitalkey.domain.oauth import AuthorizationCode, TokenRecord

_CODE_COLUMNS = (
    "digest, client_id, account_id, redirect_uri, scopes, scope_text, nonce, code_challenge, code_challenge_method, "
    "auth_time, methods, family_id, created_at, expires_at, used_at"
)
CODE_INSERT = Sql(
    f"INSERT INTO oauth_codes ({_CODE_COLUMNS}) VALUES (:digest, :client_id, :account_id, :redirect_uri, :scopes, "
    ":scope_text, :nonce, :code_challenge, :code_challenge_method, :auth_time, :methods, :family_id, :created_at, "
    ":expires_at, NULL)"
)
CODE_USE = Sql(
    "UPDATE oauth_codes SET used_at = :now WHERE digest = :digest AND used_at IS NULL AND expires_at > :now "
    f"RETURNING {_CODE_COLUMNS}"
)
CODE_GET = Sql(f"SELECT {_CODE_COLUMNS} FROM oauth_codes WHERE digest = :digest")
CODES_SPEND_APP = Sql(
    "UPDATE oauth_codes SET used_at = :now WHERE account_id = :account_id AND client_id = :client_id "
    "AND used_at IS NULL"
)

_GENERATION_COLUMNS = (
    "id, family_id, parent_id, client_id, account_id, scopes, scope_text, created_at, access_expires_at, "
    "refresh_expires_at, access_used_at, retire_at, revoked_at, access_digest, refresh_digest"
)
TOKEN_INSERT = Sql(
    "INSERT INTO oauth_tokens (family_id, parent_id, client_id, account_id, scopes, scope_text, created_at, "
    "access_expires_at, refresh_expires_at, access_used_at, retire_at, revoked_at, access_digest, refresh_digest) "
    "VALUES (:family_id, :parent_id, :client_id, :account_id, :scopes, :scope_text, :created_at, :access_expires_at, "
    ":refresh_expires_at, NULL, NULL, NULL, :access_digest, :refresh_digest) RETURNING id"
)
TOKEN_GET = Sql(f"SELECT {_GENERATION_COLUMNS} FROM oauth_tokens WHERE id = :id")
# A resource request's token and its owner in one statement: on PostgreSQL a round trip fewer on
# every partner read (each round trip is a worker thread's turn and the database's).
_OWNER = "owner_"
TOKEN_GET_WITH_OWNER = Sql(
    "SELECT "
    + ", ".join(f"t.{name.strip()}" for name in _GENERATION_COLUMNS.split(","))
    + ", "
    + ", ".join(f"a.{name} AS {_OWNER}{name}" for name in accounts.COLUMNS)
    + " FROM oauth_tokens t JOIN accounts a ON a.id = t.account_id WHERE t.id = :id"
)
TOKEN_LEGACY = Sql("SELECT token_id FROM oauth_legacy_tokens WHERE digest = :digest")
TOKEN_FIRST_USE = Sql("UPDATE oauth_tokens SET access_used_at = :now WHERE id = :id AND access_used_at IS NULL")
TOKEN_RETIRE = Sql("UPDATE oauth_tokens SET retire_at = :at WHERE id = :id AND (retire_at IS NULL OR retire_at > :at)")
TOKEN_ROTATE = Sql(
    "UPDATE oauth_tokens SET retire_at = CASE WHEN retire_at IS NULL OR retire_at > :at THEN :at ELSE retire_at END "
    "WHERE id = :id AND revoked_at IS NULL AND (retire_at IS NULL OR retire_at > :now)"
)
TOKENS_REVOKE_FAMILY = Sql(
    "UPDATE oauth_tokens SET revoked_at = :now WHERE account_id = :account_id AND client_id = :client_id "
    "AND family_id = :family_id AND revoked_at IS NULL"
)
TOKENS_REVOKE_APP = Sql(
    "UPDATE oauth_tokens SET revoked_at = :now WHERE account_id = :account_id AND client_id = :client_id "
    "AND revoked_at IS NULL"
)


class SqlAuthorizationCodes:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, code: AuthorizationCode) -> None:
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
        self.db.run(CODE_INSERT, params)

    def use(self, digest: str, now: datetime) -> AuthorizationCode | None:
        return self.db.one(CODE_USE, {"digest": digest, "now": us(now)}, _code)

    def get(self, digest: str) -> AuthorizationCode | None:
        return self.db.one(CODE_GET, {"digest": digest}, _code)


class SqlOAuthTokens:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, token: TokenRecord) -> int:
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
        token_id = self.db.one(TOKEN_INSERT, params, _id)
        assert token_id is not None  # an INSERT … RETURNING returns its row
        return token_id

    def get(self, token_id: int) -> TokenRecord | None:
        return self.db.one(TOKEN_GET, {"id": token_id}, _token)

    def get_with_owner(self, token_id: int) -> tuple[TokenRecord, Account] | None:
        return self.db.one(TOKEN_GET_WITH_OWNER, {"id": token_id}, _token_and_owner)

    def legacy_id(self, digest: str) -> int | None:
        return self.db.one(TOKEN_LEGACY, {"digest": digest}, _token_id)

    def first_use(self, token: TokenRecord, now: datetime) -> bool:
        if self.db.run(TOKEN_FIRST_USE, {"id": token.id, "now": us(now)}) != 1:
            return False
        if token.parent_id is not None:
            self.db.run(TOKEN_RETIRE, {"id": token.parent_id, "at": us(now)})
        return True

    def rotate(self, token_id: int, now: datetime, retire_at: datetime) -> bool:
        return self.db.run(TOKEN_ROTATE, {"id": token_id, "now": us(now), "at": us(retire_at)}) == 1

    def revoke_family(self, account_id: int, client_id: str, family_id: str, now: datetime) -> int:
        params = {"account_id": account_id, "client_id": client_id, "family_id": family_id, "now": us(now)}
        return self.db.run(TOKENS_REVOKE_FAMILY, params)

    def revoke_app(self, account_id: int, client_id: str, now: datetime) -> int:
        params = {"account_id": account_id, "client_id": client_id, "now": us(now)}
        self.db.run(CODES_SPEND_APP, params)  # nor can a code still unused get new tokens
        return self.db.run(TOKENS_REVOKE_APP, params)


def _id(row: Row, c: Columns) -> int:
    return int(row[c["id"]])


def _token_id(row: Row, c: Columns) -> int:
    return int(row[c["token_id"]])


def _code(row: Row, c: Columns) -> AuthorizationCode:
    return AuthorizationCode(
        digest=row[c["digest"]],
        client_id=row[c["client_id"]],
        account_id=int(row[c["account_id"]]),
        redirect_uri=row[c["redirect_uri"]],
        scopes=tuple(row[c["scopes"]].split()),
        scope_text=row[c["scope_text"]],
        nonce=row[c["nonce"]],
        code_challenge=row[c["code_challenge"]],
        code_challenge_method=row[c["code_challenge_method"]],
        auth_time=at(row[c["auth_time"]]),
        methods=tuple(row[c["methods"]].split()),
        family_id=row[c["family_id"]],
        created_at=at(row[c["created_at"]]),
        expires_at=at(row[c["expires_at"]]),
        used_at=at_or_none(row[c["used_at"]]),
    )


def _token_and_owner(row: Row, c: Columns) -> tuple[TokenRecord, Account]:
    owner = {name: c[_OWNER + name] for name in accounts.COLUMNS}
    return _token(row, c), accounts.read_account(row, owner)


def _token(row: Row, c: Columns) -> TokenRecord:
    return TokenRecord(
        id=int(row[c["id"]]),
        family_id=row[c["family_id"]],
        parent_id=row[c["parent_id"]],
        client_id=row[c["client_id"]],
        account_id=int(row[c["account_id"]]),
        scopes=tuple(row[c["scopes"]].split()),
        scope_text=row[c["scope_text"]],
        created_at=at(row[c["created_at"]]),
        access_expires_at=at(row[c["access_expires_at"]]),
        refresh_expires_at=at(row[c["refresh_expires_at"]]),
        access_used_at=at_or_none(row[c["access_used_at"]]),
        retire_at=at_or_none(row[c["retire_at"]]),
        revoked_at=at_or_none(row[c["revoked_at"]]),
        access_digest=row[c["access_digest"]],
        refresh_digest=row[c["refresh_digest"]],
    )
