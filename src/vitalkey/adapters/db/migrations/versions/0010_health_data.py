"""Health data: devices, measure groups and their measures, activity days, intraday samples,
workouts, sleep sessions, heart recordings, goals and ingestion receipts

Every table is owned by an account (deleted with it). Measures are integer values and
power-of-ten units, never floats; the tables keyed for one range read per account (measures,
intraday samples) are without a row id on SQLite. A downgrade drops the health data.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

HEALTH_TABLES = (
    "measures",
    "measure_groups",
    "activity_days",
    "intraday_samples",
    "workouts",
    "sleep_sessions",
    "heart_recordings",
    "goals",
    "ingest_receipts",
    "devices",
)


def upgrade() -> None:
    op.create_table(
        "activity_days",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("deviceid", sa.String(length=64), nullable=False),
        sa.Column("brand", sa.Integer(), nullable=False),
        sa.Column("is_tracker", sa.Boolean(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("modified", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_activity_days_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_activity_days"),
    )
    op.create_index("ix_activity_days_account_date", "activity_days", ["account_id", "date"])
    op.create_index("ix_activity_days_account_modified", "activity_days", ["account_id", "modified"])
    op.create_index(
        "uq_activity_days_live_day",
        "activity_days",
        ["account_id", "date", "deviceid"],
        unique=True,
        sqlite_where=sa.text("deleted IS NULL"),
        postgresql_where=sa.text("deleted IS NULL"),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("deviceid", sa.String(length=64), nullable=False),
        sa.Column("hash_deviceid", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("battery", sa.String(length=8), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("first_session", sa.BigInteger(), nullable=True),
        sa.Column("last_session", sa.BigInteger(), nullable=True),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("modified", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_devices_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
        sa.UniqueConstraint("deviceid", name="uq_devices_deviceid"),
    )
    op.create_index("ix_devices_account", "devices", ["account_id", "id"])
    op.create_table(
        "goals",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("sleep", sa.Integer(), nullable=False),
        sa.Column("weight_value", sa.BigInteger(), nullable=True),
        sa.Column("weight_unit", sa.Integer(), nullable=True),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("modified", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_goals_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", name="pk_goals"),
    )
    op.create_table(
        "heart_recordings",
        sa.Column("signalid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("deviceid", sa.String(length=64), nullable=False),
        sa.Column("heart_rate", sa.Integer(), nullable=False),
        sa.Column("afib", sa.Integer(), nullable=False),
        sa.Column("sampling_frequency", sa.Integer(), nullable=False),
        sa.Column("wearposition", sa.Integer(), nullable=False),
        sa.Column("systole", sa.Integer(), nullable=True),
        sa.Column("diastole", sa.Integer(), nullable=True),
        sa.Column("signal", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("modified", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_heart_recordings_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("signalid", name="pk_heart_recordings"),
    )
    op.create_index("ix_heart_recordings_account_at", "heart_recordings", ["account_id", "at"])
    op.create_index("ix_heart_recordings_account_modified", "heart_recordings", ["account_id", "modified"])
    op.create_table(
        "ingest_receipts",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("digest", sa.String(length=128), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_ingest_receipts_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", "key", name="pk_ingest_receipts"),
    )
    op.create_index("ix_ingest_receipts_created", "ingest_receipts", ["created"])
    op.create_table(
        "intraday_samples",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("deviceid", sa.String(length=64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_intraday_samples_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", "at", "deviceid", name="pk_intraday_samples"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "measure_groups",
        sa.Column("grpid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.BigInteger(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("attrib", sa.Integer(), nullable=False),
        sa.Column("category", sa.Integer(), nullable=False),
        sa.Column("deviceid", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("modified", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_measure_groups_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("grpid", name="pk_measure_groups"),
    )
    op.create_index("ix_measure_groups_account_date", "measure_groups", ["account_id", "date"])
    op.create_index("ix_measure_groups_account_modified", "measure_groups", ["account_id", "modified"])
    op.create_table(
        "sleep_sessions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("startdate", sa.BigInteger(), nullable=False),
        sa.Column("enddate", sa.BigInteger(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("deviceid", sa.String(length=64), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("states", sa.Text(), nullable=False),
        sa.Column("series", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("modified", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_sleep_sessions_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sleep_sessions"),
    )
    op.create_index("ix_sleep_sessions_account_date", "sleep_sessions", ["account_id", "date"])
    op.create_index("ix_sleep_sessions_account_end", "sleep_sessions", ["account_id", "enddate"])
    op.create_index("ix_sleep_sessions_account_modified", "sleep_sessions", ["account_id", "modified"])
    op.create_table(
        "workouts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.Integer(), nullable=False),
        sa.Column("startdate", sa.BigInteger(), nullable=False),
        sa.Column("enddate", sa.BigInteger(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("deviceid", sa.String(length=64), nullable=False),
        sa.Column("attrib", sa.Integer(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("modified", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_workouts_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_workouts"),
    )
    op.create_index("ix_workouts_account_date", "workouts", ["account_id", "date"])
    op.create_index("ix_workouts_account_modified", "workouts", ["account_id", "modified"])
    op.create_table(
        "measures",
        sa.Column("grpid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("type", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("unit", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grpid"], ["measure_groups.grpid"], name="fk_measures_grpid_measure_groups", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("grpid", "position", name="pk_measures"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    for table in HEALTH_TABLES:  # children first; their indexes go with them
        op.drop_table(table)
