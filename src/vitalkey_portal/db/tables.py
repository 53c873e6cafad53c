"""The portal's schema (SQLAlchemy Core). Migrations in db/migrations make it; a test keeps the two equal."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# Accounts and browser sessions (web/) ------------------------------------------------------------
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),  # stored casefolded
    Column("display_name", String(128), nullable=False),
    Column("password_hash", String(256), nullable=False),  # argon2id
    Column("timezone", String(64), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
)

browser_sessions = Table(
    "browser_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # SHA-256 of the cookie's random value
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("expires", DateTime(timezone=True), nullable=False),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(200), nullable=False),  # "user:<name>" or "ip:<address>"
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_login_failures_key_at", "key", "at"),
)

# Links to providers (linking.py) -----------------------------------------------------------------
oauth_states = Table(
    "oauth_states",
    metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("code_verifier", String(128), nullable=False),
    Column("return_to", String(200), nullable=False),
    Column("expires", DateTime(timezone=True), nullable=False),
)

links = Table(
    "links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("provider_userid", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("has_wearable", Boolean, nullable=False),
    Column("scope", String(200), nullable=False),
    Column("sealed_tokens", LargeBinary, nullable=True),  # access, refresh, expiry (Fernet); None once unlinked
    Column("linked_at", DateTime(timezone=True), nullable=False),
    Column("last_sync", DateTime(timezone=True), nullable=True),
    Column("poll_cursor", BigInteger, nullable=True),  # lastupdate for the next poll (unix seconds)
    Column("next_poll", DateTime(timezone=True), nullable=True),
    Column("unlinked_at", DateTime(timezone=True), nullable=True),
    Column("unlinked_reason", String(16), nullable=True),
    # One row per user and provider section: linking again (any account) reuses it.
    UniqueConstraint("user_id", "provider", name="uq_links_user_provider"),
    Index("ix_links_provider_userid", "provider", "provider_userid"),
    Index("ix_links_next_poll", "next_poll"),
)

# Work for the sync worker, durable so that nothing is lost to a crash or a 601 ------------------
sync_jobs = Table(
    "sync_jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("link_id", Integer, ForeignKey("links.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # first | notified | poll
    Column("appli", Integer, nullable=True),
    Column("start", BigInteger, nullable=True),  # unix seconds
    Column("end", BigInteger, nullable=True),
    Column("day", String(10), nullable=True),  # YYYY-MM-DD (appli 16's date)
    Column("due", DateTime(timezone=True), nullable=False),
    Column("leased_until", DateTime(timezone=True), nullable=True),
    Column("claimed_by", String(32), nullable=True),  # the worker holding the lease: only it may finish the job
    Column("tries", Integer, nullable=False, default=0),
    Index("ix_sync_jobs_due", "due"),
    Index("ix_sync_jobs_link", "link_id"),
)

seen_deliveries = Table(  # a provider's delivery ids, so that a retried delivery is done once
    "seen_deliveries",
    metadata,
    Column("provider", String(64), primary_key=True),
    Column("delivery_id", String(100), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)

# Synced data (syncing.py); exact integers as the provider sends them --------------------------
measure_groups = Table(
    "measure_groups",
    metadata,
    Column("link_id", Integer, ForeignKey("links.id", ondelete="CASCADE"), primary_key=True),
    Column("grpid", BigInteger, primary_key=True),
    Column("date", BigInteger, nullable=False),
    Column("category", Integer, nullable=False),
    Column("attrib", Integer, nullable=False),
    Column("deviceid", String(64), nullable=True),
    Column("modified", BigInteger, nullable=False),
    Column("measures", Text, nullable=False),  # JSON [[type, value, unit], …]
    Index("ix_measure_groups_date", "link_id", "date"),
)

activity_days = Table(
    "activity_days",
    metadata,
    Column("link_id", Integer, ForeignKey("links.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("deviceid", String(64), primary_key=True),  # "" when none
    Column("steps", Integer, nullable=True),
    Column("distance", Integer, nullable=True),  # metres
    Column("calories", Integer, nullable=True),
    Column("modified", BigInteger, nullable=False),
    Column("data", Text, nullable=False),  # JSON, every field as sent
)

workouts = Table(
    "workouts",
    metadata,
    Column("link_id", Integer, ForeignKey("links.id", ondelete="CASCADE"), primary_key=True),
    Column("id", BigInteger, primary_key=True),  # the provider's workout id
    Column("category", Integer, nullable=False),
    Column("startdate", BigInteger, nullable=False),
    Column("enddate", BigInteger, nullable=False),
    Column("day", Date, nullable=False),
    Column("modified", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
    Index("ix_workouts_day", "link_id", "day"),
)

sleep_nights = Table(
    "sleep_nights",
    metadata,
    Column("link_id", Integer, ForeignKey("links.id", ondelete="CASCADE"), primary_key=True),
    Column("id", BigInteger, primary_key=True),  # the provider's summary id
    Column("day", Date, nullable=False),
    Column("startdate", BigInteger, nullable=False),
    Column("enddate", BigInteger, nullable=False),
    Column("total_sleep_time", Integer, nullable=True),  # seconds
    Column("modified", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
    Index("ix_sleep_nights_day", "link_id", "day"),
)

__all__ = ["metadata"]
