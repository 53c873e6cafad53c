"""The schema, one SQLAlchemy Core ``MetaData`` for both engines. Alembic migrations follow it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)


class UtcTimestamp(TypeDecorator[datetime]):
    """Aware UTC datetimes kept as integer microseconds: exact, sortable, same on both engines."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return datetime.fromtimestamp(int(value) / 1_000_000, UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False),
    Column("email_key", String(254), nullable=False, unique=True),
    Column("language", String(16), nullable=False),
    Column("first_name", String(100)),
    Column("last_name", String(100)),
    Column("birth_date", Date),
    Column("sex", String(8)),
    Column("height_cm", Float),
    Column("units", String(8)),
    Column("policy_version", String(32)),
    Column("policy_accepted_at", UtcTimestamp),
    Column("created_at", UtcTimestamp, nullable=False),
    Column("updated_at", UtcTimestamp, nullable=False),
    Column("password_hash", String(255)),
    Column("password_changed_at", UtcTimestamp),
)

# Consecutive failed passwords per address (NIST SP 800-63B §3.2.2), reset by a success or by
# proof of the mailbox; ``blocked_until`` is the growing wait. Keyed by a keyed digest of the
# address, not the account, so that unknown addresses are throttled exactly like known ones.
password_failures = Table(
    "password_failures",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("consecutive", Integer, nullable=False),
    Column("blocked_until", UtcTimestamp, nullable=False),
)

# "Update password" links: only the SHA-256 of the random token is stored.
password_resets = Table(
    "password_resets",
    metadata,
    Column("token_digest", String(64), primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcTimestamp, nullable=False),
    Column("expires_at", UtcTimestamp, nullable=False),
    Column("used_at", UtcTimestamp),
    Index("ix_password_resets_account_id", "account_id"),
)

# An account's authenticators (docs/architecture.md "Authenticators"): one row per SMS number,
# authenticator app, passkey or recovery code. ``lookup`` finds a row by what a sign-in presents
# (a passkey's credential id, the recovery code's keyed digest); ``counter`` only moves forward
# (TOTP's last time step, a passkey's sign count); ``sealed`` is encrypted (the TOTP secret, the
# recovery code); ``data`` is the kind's own (``{"phone": …}`` for SMS). One row of a kind per
# account, but for passkeys and federated identities (Google, Apple…: several each).
ONE_PER_ACCOUNT = "kind NOT IN ('passkey', 'federated')"
authenticators = Table(
    "authenticators",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", String(100), nullable=False, server_default=""),  # '': the kind's own label
    Column("created_at", UtcTimestamp, nullable=False),
    Column("last_used_at", UtcTimestamp),
    Column("is_default", Boolean, nullable=False, server_default=text("false")),
    Column("lookup", String(1400)),
    Column("counter", BigInteger, nullable=False, server_default=text("0")),
    Column("data", JSON, nullable=False),
    Column("sealed", String(400), nullable=False, server_default=""),
    Index("ix_authenticators_account_id", "account_id"),
    Index("uq_authenticators_lookup", "kind", "lookup", unique=True),
    Index(
        "uq_authenticators_default",
        "account_id",
        unique=True,
        sqlite_where=text("is_default"),
        postgresql_where=text("is_default"),
    ),
    Index(
        "uq_authenticators_kind",
        "account_id",
        "kind",
        unique=True,
        sqlite_where=text(ONE_PER_ACCOUNT),
        postgresql_where=text(ONE_PER_ACCOUNT),
    ),
)

# Registered apps (clients) and whether they can ask for a second factor; the OAuth provider
# adds its columns here.
apps = Table(
    "apps",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("first_party", Boolean, nullable=False),
    Column("supports_2fa", Boolean, nullable=False),
    Column("created_at", UtcTimestamp, nullable=False),
    # OAuth (issue #5). Lists are space-separated, as in OAuth itself (neither may hold a space).
    Column("client_type", String(16), nullable=False, server_default="public"),
    Column("redirect_uris", Text, nullable=False, server_default=""),
    Column("scopes", String(200), nullable=False, server_default=""),
    Column("logo_url", String(500), nullable=False, server_default=""),
    Column("policy_url", String(500), nullable=False, server_default=""),
    Column("secret_digest", String(64), nullable=False, server_default=""),
    # Sealed (Fernet) only to check Withings request signatures, which are keyed by the secret.
    Column("secret_sealed", Text, nullable=False, server_default=""),
)

# OAuth (issue #5). Codes and tokens are kept as SHA-256 digests; a code's family names the
# tokens its redemption issued, so a second redemption can revoke them.
oauth_codes = Table(
    "oauth_codes",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("client_id", String(64), ForeignKey("apps.client_id", ondelete="CASCADE"), nullable=False),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("redirect_uri", String(500), nullable=False),
    Column("scopes", String(200), nullable=False),
    Column("scope_text", String(300), nullable=False),
    Column("nonce", String(300), nullable=False),
    Column("code_challenge", String(128), nullable=False),
    Column("code_challenge_method", String(8), nullable=False),
    Column("auth_time", UtcTimestamp, nullable=False),
    Column("methods", String(100), nullable=False),
    Column("family_id", String(32), nullable=False),
    Column("created_at", UtcTimestamp, nullable=False),
    Column("expires_at", UtcTimestamp, nullable=False),
    Column("used_at", UtcTimestamp),
    Index("ix_oauth_codes_account_id", "account_id", "client_id"),
)

# One row per generation of a grant: an access token and the refresh token issued with it.
oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),  # SQLite: the row id
    Column("family_id", String(32), nullable=False),
    Column("parent_id", BigInteger),  # the generation this one replaced (none for the first)
    Column("client_id", String(64), ForeignKey("apps.client_id", ondelete="CASCADE"), nullable=False),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("scopes", String(200), nullable=False),
    Column("scope_text", String(300), nullable=False),
    Column("access_digest", String(64), nullable=False),  # of the tokens' secrets: tokens name their row
    Column("refresh_digest", String(64), nullable=False),
    Column("created_at", UtcTimestamp, nullable=False),
    Column("access_expires_at", UtcTimestamp, nullable=False),
    Column("refresh_expires_at", UtcTimestamp, nullable=False),
    Column("access_used_at", UtcTimestamp),
    Column("retire_at", UtcTimestamp),
    Column("revoked_at", UtcTimestamp),
    Index("ix_oauth_tokens_account_family", "account_id", "client_id", "family_id"),
)

# Tokens issued before they carried their row id (migration 0007): digest → row. Never added to.
oauth_legacy_tokens = Table(
    "oauth_legacy_tokens",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("token_id", BigInteger, ForeignKey("oauth_tokens.id", ondelete="CASCADE"), nullable=False),
    Index("ix_oauth_legacy_tokens_token_id", "token_id"),
)

# What a user allowed each app: the consent page is shown again only for new scopes.
oauth_consents = Table(
    "oauth_consents",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("client_id", String(64), ForeignKey("apps.client_id", ondelete="CASCADE"), primary_key=True),
    Column("scopes", String(200), nullable=False),
    Column("first_allowed_at", UtcTimestamp, nullable=False),
    Column("last_used_at", UtcTimestamp),
)

# Withings signature nonces (POST /v2/signature action=getnonce): single use, short-lived.
oauth_nonces = Table(
    "oauth_nonces",
    metadata,
    Column("nonce", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("expires_at", UtcTimestamp, nullable=False),
    Column("used_at", UtcTimestamp),
)

# ID-token signing keys; the private half is sealed with the encryption keys.
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(8), nullable=False),
    Column("public_jwk", Text, nullable=False),
    Column("private_sealed", Text, nullable=False),
    Column("created_at", UtcTimestamp, nullable=False),
    Column("retired_at", UtcTimestamp),
    Column("publish_until", UtcTimestamp),
)

# Per-app passwords for apps that cannot ask for a second factor; only a keyed digest is kept.
app_passwords = Table(
    "app_passwords",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("app_id", String(64), ForeignKey("apps.client_id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created_at", UtcTimestamp, nullable=False),
    Column("last_used_at", UtcTimestamp),
    Column("revoked_at", UtcTimestamp),
    Index("ix_app_passwords_account_id", "account_id"),
    UniqueConstraint("digest", name="uq_app_passwords_digest"),
)

flows = Table(
    "flows",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("state", String(32), nullable=False),
    Column("email", String(254), nullable=False),
    Column("language", String(16), nullable=False),
    Column("browser_binding", String(64), nullable=False),
    Column("context", JSON, nullable=False),
    Column("created_at", UtcTimestamp, nullable=False),
    Column("expires_at", UtcTimestamp, nullable=False),
    Index("ix_flows_expires_at", "expires_at"),
)

codes = Table(
    "codes",
    metadata,
    Column("flow_id", String(64), ForeignKey("flows.id", ondelete="CASCADE"), primary_key=True),
    Column("purpose", String(16), primary_key=True),
    Column("code_hmac", String(64), nullable=False),
    Column("expires_at", UtcTimestamp, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("sends", Integer, nullable=False),
    Column("last_sent_at", UtcTimestamp, nullable=False),
    Column("used_at", UtcTimestamp),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of the token
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("methods", String(128), nullable=False),
    Column("user_agent", String(300), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("created_at", UtcTimestamp, nullable=False),
    Column("last_seen_at", UtcTimestamp, nullable=False),
    Column("expires_at", UtcTimestamp, nullable=False),
    Column("revoked_at", UtcTimestamp),
    Column("authenticated_at", UtcTimestamp),  # last proof of its factors after sign-in; NULL: created_at
    Index("ix_sessions_account_id", "account_id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("channel", String(8), nullable=False),
    Column("recipient", String(254), nullable=False),
    Column("template", String(64), nullable=False),
    Column("language", String(16), nullable=False),
    Column("payload", JSON, nullable=False),  # emptied once delivered: it may hold a code
    Column("idempotency_key", String(160), nullable=False),
    Column("created_at", UtcTimestamp, nullable=False),
    Column("next_attempt_at", UtcTimestamp, nullable=False),
    Column("claimed_until", UtcTimestamp),
    Column("claimed_by", String(32)),  # the relay whose lease claimed_until is
    Column("attempts", Integer, nullable=False, default=0),
    Column("sent_at", UtcTimestamp),
    Column("failed_at", UtcTimestamp),
    Column("last_error", String(300)),
    UniqueConstraint("idempotency_key", name="uq_outbox_idempotency_key"),
    Index("ix_outbox_pending", "sent_at", "next_attempt_at"),
)

dev_mail = Table(
    "dev_mail",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("message_id", String(200), nullable=False),
    Column("recipient", String(254), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("text", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("created_at", UtcTimestamp, nullable=False),
    Index("ix_dev_mail_recipient", "recipient"),
)

dev_sms = Table(
    "dev_sms",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("recipient", String(20), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UtcTimestamp, nullable=False),
    Index("ix_dev_sms_recipient", "recipient"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", UtcTimestamp, nullable=False),
    Column("account_id", Integer),
    Column("event", String(64), nullable=False),
    Column("details", JSON, nullable=False),
    Index("ix_audit_account_id", "account_id"),
)

rate_counters = Table(
    "rate_counters",
    metadata,
    Column("key", String(160), primary_key=True),
    Column("window_start", UtcTimestamp, primary_key=True),
    Column("count", Integer, nullable=False),
)

# Health data (issue 18). Every record keeps created/modified/deleted (a deletion empties it and
# leaves a tombstone for ``lastupdate`` readers); ids grow (SQLite: the row id), so a listing in
# id order after an id pages stably while data arrives. Deleting an account deletes all of it.
# Read paths: per account and measured date (a window), per account and modified time
# (``lastupdate``); JSON fields are text, kept as the devices sent them.
_Id = BigInteger().with_variant(Integer(), "sqlite")


def _owner() -> Column[int]:
    return Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)


def _lifetime() -> tuple[Column[datetime], ...]:
    return (
        Column("created", UtcTimestamp, nullable=False),
        Column("modified", UtcTimestamp, nullable=False),
        Column("deleted", UtcTimestamp),
    )


devices = Table(
    "devices",
    metadata,
    Column("id", _Id, primary_key=True),  # pairing order
    _owner(),
    Column("deviceid", String(64), nullable=False),
    Column("hash_deviceid", String(64), nullable=False),
    Column("type", String(32), nullable=False),
    Column("model", String(100), nullable=False),
    Column("model_id", Integer, nullable=False),
    Column("battery", String(8), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("first_session", UtcTimestamp),
    Column("last_session", UtcTimestamp),
    *_lifetime(),
    UniqueConstraint("deviceid", name="uq_devices_deviceid"),
    Index("ix_devices_account", "account_id", "id"),
)

measure_groups = Table(
    "measure_groups",
    metadata,
    Column("grpid", _Id, primary_key=True),
    _owner(),
    Column("date", UtcTimestamp, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("attrib", Integer, nullable=False),
    Column("category", Integer, nullable=False),
    Column("deviceid", String(64), nullable=False),  # '' when none
    Column("comment", Text),
    *_lifetime(),
    Index("ix_measure_groups_account_date", "account_id", "date"),
    Index("ix_measure_groups_account_modified", "account_id", "modified"),
)

# A group's measures, exactly as integers (value × 10^unit). Keyed by group and position (a group
# may hold a type twice, per body segment); on SQLite without a row id, so a group's measures
# are one range of the primary key's B-tree (a 60-day read: one seek per group).
measures = Table(
    "measures",
    metadata,
    Column("grpid", _Id, ForeignKey("measure_groups.grpid", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("type", Integer, nullable=False),
    Column("value", BigInteger, nullable=False),
    Column("unit", Integer, nullable=False),
    sqlite_with_rowid=False,
)

activity_days = Table(
    "activity_days",
    metadata,
    Column("id", _Id, primary_key=True),
    _owner(),
    Column("date", Date, nullable=False),  # the local day
    Column("timezone", String(64), nullable=False),
    Column("deviceid", String(64), nullable=False),  # '' when none
    Column("brand", Integer, nullable=False),
    Column("is_tracker", Boolean, nullable=False),
    Column("data", Text, nullable=False),  # JSON
    *_lifetime(),
    Index("ix_activity_days_account_date", "account_id", "date"),
    Index("ix_activity_days_account_modified", "account_id", "modified"),
    # One live day per account, date and device: a day sent again replaces it in one statement.
    Index(
        "uq_activity_days_live_day",
        "account_id",
        "date",
        "deviceid",
        unique=True,
        sqlite_where=text("deleted IS NULL"),
        postgresql_where=text("deleted IS NULL"),
    ),
)

# One row per device and second, keyed so (without a row id on SQLite) an account's samples of a
# period are one range of the primary key; a later sample of the same second replaces it.
intraday_samples = Table(
    "intraday_samples",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("at", UtcTimestamp, primary_key=True, autoincrement=False),
    Column("deviceid", String(64), primary_key=True),
    Column("data", Text, nullable=False),  # JSON
    sqlite_with_rowid=False,
)

workouts = Table(
    "workouts",
    metadata,
    Column("id", _Id, primary_key=True),
    _owner(),
    Column("category", Integer, nullable=False),
    Column("startdate", UtcTimestamp, nullable=False),
    Column("enddate", UtcTimestamp, nullable=False),
    Column("date", Date, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("deviceid", String(64), nullable=False),  # '' when none
    Column("attrib", Integer, nullable=False),
    Column("data", Text, nullable=False),  # JSON
    *_lifetime(),
    Index("ix_workouts_account_date", "account_id", "date"),
    Index("ix_workouts_account_modified", "account_id", "modified"),
)

sleep_sessions = Table(
    "sleep_sessions",
    metadata,
    Column("id", _Id, primary_key=True),
    _owner(),
    Column("startdate", UtcTimestamp, nullable=False),
    Column("enddate", UtcTimestamp, nullable=False),
    Column("date", Date, nullable=False),  # the local day it ends on
    Column("timezone", String(64), nullable=False),
    Column("deviceid", String(64), nullable=False),  # '' when none
    Column("completed", Boolean, nullable=False),
    Column("states", Text, nullable=False),  # JSON
    Column("series", Text, nullable=False),  # JSON
    Column("summary", Text, nullable=False),  # JSON
    *_lifetime(),
    Index("ix_sleep_sessions_account_date", "account_id", "date"),
    Index("ix_sleep_sessions_account_end", "account_id", "enddate"),  # overlapping, start..end
    Index("ix_sleep_sessions_account_modified", "account_id", "modified"),
)

heart_recordings = Table(
    "heart_recordings",
    metadata,
    Column("signalid", _Id, primary_key=True),
    _owner(),
    Column("at", UtcTimestamp, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("deviceid", String(64), nullable=False),  # '' when none
    Column("heart_rate", Integer, nullable=False),
    Column("afib", Integer, nullable=False),
    Column("sampling_frequency", Integer, nullable=False),
    Column("wearposition", Integer, nullable=False),
    Column("systole", Integer),
    Column("diastole", Integer),
    Column("signal", Text, nullable=False),  # JSON list of µV samples
    *_lifetime(),
    Index("ix_heart_recordings_account_at", "account_id", "at"),
    Index("ix_heart_recordings_account_modified", "account_id", "modified"),
)

goals = Table(
    "goals",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("steps", Integer, nullable=False),
    Column("sleep", Integer, nullable=False),
    Column("weight_value", BigInteger),
    Column("weight_unit", Integer),
    Column("created", UtcTimestamp, nullable=False),
    Column("modified", UtcTimestamp, nullable=False),
)

# What the user last chose on the dashboard (range, units); no row: the defaults.
dashboard_prefs = Table(
    "dashboard_prefs",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("days", Integer, nullable=False),
    Column("units", String(8)),
)

# What an ingestion batch sent with an idempotency key was answered; pruned by age.
ingest_receipts = Table(
    "ingest_receipts",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("digest", String(128), nullable=False),  # of the batch's body
    Column("answer", Text, nullable=False),  # JSON
    Column("created", UtcTimestamp, nullable=False),
    Index("ix_ingest_receipts_created", "created"),
)

# "Download my data": one row per export, the ZIP in the row. A blob in the database rather than a
# file: every process (and `vitalkey worker` on another machine) sees it without shared storage, it
# goes with the account (ON DELETE CASCADE) and with the database's backups and deletions, and it
# lives at most a day (then `content` is emptied; the row says "expired" a week, then goes).
_EXPORT_PENDING = "status = 'pending'"
data_exports = Table(
    "data_exports",
    metadata,
    Column("id", String(32), primary_key=True),  # random: the download link's last part
    _owner(),
    Column("status", String(8), nullable=False),  # pending | ready | failed
    Column("created", UtcTimestamp, nullable=False),
    Column("ready_at", UtcTimestamp),
    Column("expires", UtcTimestamp),
    Column("records", Integer, nullable=False),
    Column("size", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("claimed_by", String(32)),  # the worker building it
    Column("claimed_until", UtcTimestamp),
    Column("content", LargeBinary),  # the ZIP
    Index("ix_data_exports_account", "account_id", "created"),
    Index("ix_data_exports_expires", "expires"),  # the prune
    # One pending export per account: a second request while one is built is refused.
    Index(
        "uq_data_exports_pending",
        "account_id",
        unique=True,
        sqlite_where=text(_EXPORT_PENDING),
        postgresql_where=text(_EXPORT_PENDING),
    ),
)

# Partner apps' callback URLs (the /notify API): one per account, app, appli and URL.
notify_subscriptions = Table(
    "notify_subscriptions",
    metadata,
    Column("id", _Id, primary_key=True),
    _owner(),
    Column("client_id", String(64), ForeignKey("apps.client_id", ondelete="CASCADE"), nullable=False),
    Column("appli", Integer, nullable=False),
    Column("callbackurl", String(255), nullable=False),
    Column("comment", String(255), nullable=False),
    Column("created", UtcTimestamp, nullable=False),
    Column("modified", UtcTimestamp, nullable=False),
    Column("failing_since", UtcTimestamp),  # its last retry cycle failed; cleared by a delivery
    UniqueConstraint("account_id", "client_id", "appli", "callbackurl", name="uq_notify_subscriptions"),
    Index("ix_notify_subscriptions_account_appli", "account_id", "appli"),
    Index("ix_notify_subscriptions_client", "client_id"),
)

# Queued callbacks to partner apps (the outbox of notifications): one row per delivery, written in
# the transaction that changes the data, claimed with a lease by a worker, kept once delivered or
# given up. No foreign key to the account: an unlink or delete notice outlives it.
_PENDING = "delivered IS NULL AND failed IS NULL"
notify_deliveries = Table(
    "notify_deliveries",
    metadata,
    Column("id", _Id, primary_key=True),  # queueing order; `recent` reads it backwards
    Column("delivery_id", String(32), nullable=False),  # the same for every try (VitalKey-Delivery)
    Column(
        "subscription_id",
        _Id,
        ForeignKey("notify_subscriptions.id", ondelete="SET NULL"),
    ),
    Column("account_id", Integer, nullable=False),
    Column("client_id", String(64), ForeignKey("apps.client_id", ondelete="CASCADE"), nullable=False),
    Column("callbackurl", String(255), nullable=False),
    Column("appli", Integer, nullable=False),
    Column("change", String(8), nullable=False),
    Column("startdate", UtcTimestamp),
    Column("enddate", UtcTimestamp),
    Column("date", String(10), nullable=False),  # YYYY-MM-DD for appli 16, '' otherwise
    Column("action", String(8)),  # appli 46
    Column("backfill", Boolean, nullable=False),
    Column("created", UtcTimestamp, nullable=False),
    Column("due", UtcTimestamp, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("claimed_until", UtcTimestamp),
    Column("claimed_by", String(32)),  # the worker whose lease claimed_until is
    Column("delivered", UtcTimestamp),
    Column("failed", UtcTimestamp),
    Column("last_status", Integer),
    Column("last_error", String(40), nullable=False, server_default=""),
    UniqueConstraint("delivery_id", name="uq_notify_deliveries_delivery_id"),
    # claiming (and the `waiting` gauge): only the pending rows, in due order
    Index("ix_notify_deliveries_due", "due", "id", sqlite_where=text(_PENDING), postgresql_where=text(_PENDING)),
    # coalescing looks among a subscription's untried rows; the key also serves ON DELETE SET NULL
    Index("ix_notify_deliveries_subscription", "subscription_id", "attempts"),
    Index("ix_notify_deliveries_client", "client_id"),  # ON DELETE CASCADE of the app
)

__all__ = ["BigInteger", "UtcTimestamp", "metadata"]
