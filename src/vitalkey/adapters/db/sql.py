"""The SQL of the hot path, written once for both engines (``:name`` parameters; SQLite and
PostgreSQL both have RETURNING and ON CONFLICT). It runs on the DBAPI connection that
SQLAlchemy's pool lends: measured, SQLAlchemy Core's per-statement work cost more than the
statements themselves, and the SQLite writer lock is held for all of it.

Timestamps are integer microseconds (the schema's ``UtcTimestamp``), JSON is text in, and dates
are ISO text in; the repositories convert.
"""

from __future__ import annotations

import re

FLOW_COLUMNS = "id, kind, channel, state, email, language, browser_binding, context, created_at, expires_at"
CODE_COLUMNS = "flow_id, purpose, code_hmac, expires_at, attempts, sends, last_sent_at, used_at"
ACCOUNT_COLUMNS = (
    "id, email, language, first_name, last_name, birth_date, sex, height_cm, units, policy_version, "
    "policy_accepted_at, created_at, password_changed_at"
)
TWO_FACTOR_COLUMNS = "account_id, method, phone, enabled_at, recovery_digest, recovery_sealed, recovery_issued_at"
APP_COLUMNS = (
    "client_id, name, first_party, supports_2fa, created_at, client_type, redirect_uris, scopes, logo_url, "
    "policy_url, secret_digest, secret_sealed"
)
APP_PASSWORD_COLUMNS = "id, account_id, app_id, name, created_at, last_used_at"  # noqa: S105
OAUTH_CODE_COLUMNS = (
    "digest, client_id, account_id, redirect_uri, scopes, scope_text, nonce, code_challenge, code_challenge_method, "
    "auth_time, methods, family_id, created_at, expires_at, used_at"
)
OAUTH_TOKEN_COLUMNS_NEW = (  # those a new generation is given (the store numbers it)
    "family_id, parent_id, client_id, account_id, scopes, scope_text, created_at, access_expires_at, "  # noqa: S105
    "refresh_expires_at, access_used_at, retire_at, revoked_at"
)
OAUTH_TOKEN_COLUMNS = f"id, {OAUTH_TOKEN_COLUMNS_NEW}"
CONSENT_COLUMNS = "account_id, client_id, scopes, first_allowed_at, last_used_at"
SIGNING_KEY_COLUMNS = "kid, alg, public_jwk, private_sealed, created_at, retired_at, publish_until"
SESSION_COLUMNS = (
    "id, account_id, kind, methods, user_agent, ip, created_at, last_seen_at, expires_at, authenticated_at"
)

STATEMENTS: dict[str, str] = {
    "flow_insert": f"INSERT INTO flows ({FLOW_COLUMNS}) VALUES (:id, :kind, :channel, :state, :email, :language, "
    ":browser_binding, :context, :created_at, :expires_at)",
    "flow_get": f"SELECT {FLOW_COLUMNS} FROM flows WHERE id = :id",
    "flow_save": "UPDATE flows SET state = :state, email = :email, context = :context "
    "WHERE id = :id AND state = :expected_state",
    "code_insert": f"INSERT INTO codes ({CODE_COLUMNS}) VALUES (:flow_id, :purpose, :code_hmac, :expires_at, "
    ":attempts, :sends, :last_sent_at, :used_at)",
    "code_get": f"SELECT {CODE_COLUMNS} FROM codes WHERE flow_id = :flow_id AND purpose = :purpose",
    "code_count_attempt": "UPDATE codes SET attempts = attempts + 1 "
    f"WHERE flow_id = :flow_id AND purpose = :purpose AND used_at IS NULL RETURNING {CODE_COLUMNS}",
    "code_consume": "UPDATE codes SET used_at = :now WHERE flow_id = :flow_id AND purpose = :purpose "
    "AND used_at IS NULL AND expires_at > :now AND attempts <= :max_attempts",
    "code_replace": "UPDATE codes SET code_hmac = :code_hmac, expires_at = :expires_at, sends = sends + 1, "
    "last_sent_at = :now WHERE flow_id = :flow_id AND purpose = :purpose AND used_at IS NULL "
    "AND sends = :expected_sends",
    "account_by_email": f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE email_key = :email_key",
    "account_get": f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = :id",
    "account_create": "INSERT INTO accounts (email, email_key, language, first_name, last_name, birth_date, sex, "
    "height_cm, units, policy_version, policy_accepted_at, created_at, updated_at) VALUES (:email, :email_key, "
    ":language, :first_name, :last_name, :birth_date, :sex, :height_cm, :units, :policy_version, :now, :now, :now) "
    "ON CONFLICT (email_key) DO NOTHING RETURNING id",
    "account_update_profile": "UPDATE accounts SET first_name = :first_name, last_name = :last_name, "
    "birth_date = :birth_date, sex = :sex, height_cm = :height_cm, units = :units, updated_at = :now WHERE id = :id",
    "account_set_language": "UPDATE accounts SET language = :language WHERE id = :id",
    "session_insert": f"INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (:id, :account_id, :kind, :methods, "
    ":user_agent, :ip, :created_at, :last_seen_at, :expires_at, :authenticated_at)",
    "session_get": f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = :id AND revoked_at IS NULL",
    "session_touch": "UPDATE sessions SET last_seen_at = :now WHERE id = :id",
    # A factor proved within the session: counted from now, and the session ends no later than
    # a sign-in with that factor would (CASE: portable MIN).
    "session_add_factor": "UPDATE sessions SET methods = :methods, authenticated_at = :now, "
    "expires_at = CASE WHEN expires_at > :expires_by THEN :expires_by ELSE expires_at END "
    "WHERE id = :id AND revoked_at IS NULL",
    "session_for_account": f"SELECT {SESSION_COLUMNS} FROM sessions WHERE account_id = :account_id "
    "AND revoked_at IS NULL AND expires_at > :now ORDER BY last_seen_at DESC",
    "session_revoke": "UPDATE sessions SET revoked_at = :now WHERE id = :id AND account_id = :account_id "
    "AND revoked_at IS NULL",
    "session_revoke_others": "UPDATE sessions SET revoked_at = :now WHERE account_id = :account_id "
    "AND revoked_at IS NULL AND id <> :keep_id",
    "outbox_insert": "INSERT INTO outbox (channel, recipient, template, language, payload, idempotency_key, "
    "created_at, next_attempt_at, attempts) VALUES ('email', :recipient, :template, :language, :payload, "
    ":idempotency_key, :now, :now, 0)",
    "sms_outbox_insert": "INSERT INTO outbox (channel, recipient, template, language, payload, idempotency_key, "
    "created_at, next_attempt_at, attempts) VALUES ('sms', :recipient, :template, :language, :payload, "
    ":idempotency_key, :now, :now, 0)",
    "two_factor_get": f"SELECT {TWO_FACTOR_COLUMNS} FROM two_factor WHERE account_id = :account_id",
    "two_factor_insert": f"INSERT INTO two_factor ({TWO_FACTOR_COLUMNS}) VALUES (:account_id, :method, :phone, "
    ":enabled_at, :recovery_digest, :recovery_sealed, :recovery_issued_at) ON CONFLICT (account_id) DO NOTHING",
    "two_factor_set_phone": "UPDATE two_factor SET phone = :phone WHERE account_id = :account_id",
    "two_factor_replace_recovery": "UPDATE two_factor SET recovery_digest = :digest, recovery_sealed = :sealed, "
    "recovery_issued_at = :now WHERE account_id = :account_id AND recovery_digest = :old_digest",
    "two_factor_delete": "DELETE FROM two_factor WHERE account_id = :account_id",
    "app_get": f"SELECT {APP_COLUMNS} FROM apps WHERE client_id = :client_id",
    "app_all": f"SELECT {APP_COLUMNS} FROM apps ORDER BY first_party DESC, name",
    "app_insert": f"INSERT INTO apps ({APP_COLUMNS}) VALUES (:client_id, :name, :first_party, :supports_2fa, "
    ":created_at, :client_type, :redirect_uris, :scopes, :logo_url, :policy_url, :secret_digest, :secret_sealed) "
    "ON CONFLICT (client_id) DO NOTHING",
    "app_set_secret": "UPDATE apps SET secret_digest = :secret_digest, secret_sealed = :secret_sealed WHERE client_id = :client_id "
    "AND client_type = 'confidential'",
    "app_delete": "DELETE FROM apps WHERE client_id = :client_id",
    "app_password_list": f"SELECT {APP_PASSWORD_COLUMNS} FROM app_passwords WHERE account_id = :account_id "
    "AND revoked_at IS NULL ORDER BY created_at",
    "app_password_insert": f"INSERT INTO app_passwords ({APP_PASSWORD_COLUMNS}, digest) VALUES (:id, :account_id, "
    ":app_id, :name, :created_at, NULL, :digest)",
    "app_password_use": "UPDATE app_passwords SET last_used_at = :now WHERE account_id = :account_id "
    f"AND app_id = :app_id AND digest = :digest AND revoked_at IS NULL RETURNING {APP_PASSWORD_COLUMNS}",
    "app_password_revoke": "UPDATE app_passwords SET revoked_at = :now WHERE id = :id AND account_id = :account_id "
    "AND revoked_at IS NULL",
    "app_password_revoke_all": "UPDATE app_passwords SET revoked_at = :now WHERE account_id = :account_id "
    "AND revoked_at IS NULL",
    "audit_insert": "INSERT INTO audit (at, account_id, event, details) VALUES (:at, :account_id, :event, :details)",
    "password_hash_get": "SELECT password_hash FROM accounts WHERE id = :id",
    "password_set": "UPDATE accounts SET password_hash = :hash, password_changed_at = :now, updated_at = :now "
    "WHERE id = :id",
    "password_rehash": "UPDATE accounts SET password_hash = :hash WHERE id = :id AND password_hash = :old",
    "password_failure_count": "INSERT INTO password_failures (key, consecutive, blocked_until) "
    "VALUES (:key, 1, 0) ON CONFLICT (key) DO UPDATE SET consecutive = password_failures.consecutive + 1 "
    "RETURNING consecutive, blocked_until",
    "password_failure_get": "SELECT consecutive, blocked_until FROM password_failures WHERE key = :key",
    "password_failure_block": "UPDATE password_failures SET blocked_until = :until WHERE key = :key",
    "password_failure_clear": "DELETE FROM password_failures WHERE key = :key",
    "reset_revoke_all": "UPDATE password_resets SET used_at = :now WHERE account_id = :account_id AND used_at IS NULL",
    "reset_insert": "INSERT INTO password_resets (token_digest, account_id, created_at, expires_at) "
    "VALUES (:digest, :account_id, :now, :expires_at)",
    "reset_valid": "SELECT account_id FROM password_resets WHERE token_digest = :digest AND used_at IS NULL "
    "AND expires_at > :now",
    "reset_consume": "UPDATE password_resets SET used_at = :now WHERE token_digest = :digest AND used_at IS NULL "
    "AND expires_at > :now RETURNING account_id",
    "oauth_code_insert": f"INSERT INTO oauth_codes ({OAUTH_CODE_COLUMNS}) VALUES (:digest, :client_id, "
    ":account_id, :redirect_uri, :scopes, :scope_text, :nonce, :code_challenge, :code_challenge_method, :auth_time, "
    ":methods, :family_id, :created_at, :expires_at, NULL)",
    "oauth_code_use": "UPDATE oauth_codes SET used_at = :now WHERE digest = :digest AND used_at IS NULL "
    f"AND expires_at > :now RETURNING {OAUTH_CODE_COLUMNS}",
    "oauth_code_get": f"SELECT {OAUTH_CODE_COLUMNS} FROM oauth_codes WHERE digest = :digest",
    "oauth_token_insert": f"INSERT INTO oauth_tokens ({OAUTH_TOKEN_COLUMNS_NEW}, access_digest, refresh_digest) "
    "VALUES (:family_id, :parent_id, :client_id, :account_id, :scopes, :scope_text, :created_at, :access_expires_at, "
    ":refresh_expires_at, NULL, NULL, NULL, :access_digest, :refresh_digest) RETURNING id",
    "oauth_token_get": f"SELECT {OAUTH_TOKEN_COLUMNS}, access_digest, refresh_digest FROM oauth_tokens WHERE id = :id",
    "oauth_token_legacy": "SELECT token_id FROM oauth_legacy_tokens WHERE digest = :digest",
    "oauth_token_first_use": "UPDATE oauth_tokens SET access_used_at = :now WHERE id = :id AND access_used_at IS NULL",
    "oauth_token_retire": "UPDATE oauth_tokens SET retire_at = :at WHERE id = :id "
    "AND (retire_at IS NULL OR retire_at > :at)",
    "oauth_token_rotate": "UPDATE oauth_tokens SET retire_at = CASE WHEN retire_at IS NULL OR retire_at > :at "
    "THEN :at ELSE retire_at END WHERE id = :id AND revoked_at IS NULL AND (retire_at IS NULL OR retire_at > :now)",
    "oauth_token_revoke_family": "UPDATE oauth_tokens SET revoked_at = :now WHERE account_id = :account_id "
    "AND client_id = :client_id AND family_id = :family_id AND revoked_at IS NULL",
    "oauth_token_revoke_app": "UPDATE oauth_tokens SET revoked_at = :now WHERE account_id = :account_id "
    "AND client_id = :client_id AND revoked_at IS NULL",
    "oauth_code_spend_app": "UPDATE oauth_codes SET used_at = :now WHERE account_id = :account_id "
    "AND client_id = :client_id AND used_at IS NULL",
    "consent_get": f"SELECT {CONSENT_COLUMNS} FROM oauth_consents WHERE account_id = :account_id "
    "AND client_id = :client_id",
    "consent_list": f"SELECT {CONSENT_COLUMNS} FROM oauth_consents WHERE account_id = :account_id "
    "ORDER BY first_allowed_at",
    "consent_allow": f"INSERT INTO oauth_consents ({CONSENT_COLUMNS}) VALUES (:account_id, :client_id, :scopes, "
    ":now, NULL) ON CONFLICT (account_id, client_id) DO UPDATE SET scopes = :scopes",
    "consent_used": "UPDATE oauth_consents SET last_used_at = :now WHERE account_id = :account_id "
    "AND client_id = :client_id AND (last_used_at IS NULL OR last_used_at <= :since)",
    "consent_delete": "DELETE FROM oauth_consents WHERE account_id = :account_id AND client_id = :client_id",
    "oauth_nonce_insert": "INSERT INTO oauth_nonces (nonce, client_id, expires_at) VALUES (:nonce, :client_id, "
    ":expires_at)",
    "oauth_nonce_use": "UPDATE oauth_nonces SET used_at = :now WHERE nonce = :nonce AND client_id = :client_id "
    "AND used_at IS NULL AND expires_at > :now",
    "oauth_nonce_purge": "DELETE FROM oauth_nonces WHERE expires_at < :now",
    "signing_key_list": f"SELECT {SIGNING_KEY_COLUMNS} FROM signing_keys ORDER BY created_at DESC",
    "signing_key_insert": f"INSERT INTO signing_keys ({SIGNING_KEY_COLUMNS}) VALUES (:kid, :alg, :public_jwk, "
    ":private_sealed, :created_at, NULL, NULL)",
    "signing_key_retire": "UPDATE signing_keys SET retired_at = :now, publish_until = :publish_until "
    "WHERE alg = :alg AND retired_at IS NULL",
    # The per-key row (window_start 0, never in a window) that serializes the hits of one key.
    "counter_lock": "INSERT INTO rate_counters (key, window_start, count) VALUES (:key, 0, 0) "
    "ON CONFLICT (key, window_start) DO UPDATE SET count = 0",
    "counter_since": "SELECT window_start, count FROM rate_counters WHERE key = :key AND window_start >= :start "
    "ORDER BY window_start",
    "counter_add": "INSERT INTO rate_counters (key, window_start, count) VALUES (:key, :bucket, 1) "
    "ON CONFLICT (key, window_start) DO UPDATE SET count = rate_counters.count + 1",
    "counter_take_back": "UPDATE rate_counters SET count = count - 1 WHERE key = :key AND window_start = :bucket "
    "AND count > 0",
}

_NAMED = re.compile(r"(?<![:\w]):(\w+)")


def for_dialect(dialect: str) -> dict[str, str]:
    """SQLite's driver takes ``:name``; psycopg takes ``%(name)s``."""
    if dialect == "sqlite":
        return dict(STATEMENTS)
    return {name: _NAMED.sub(r"%(\1)s", text.replace("%", "%%")) for name, text in STATEMENTS.items()}
