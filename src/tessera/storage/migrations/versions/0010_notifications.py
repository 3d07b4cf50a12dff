"""notifications

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notify_channels",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_notify_channels")),
    )
    op.create_table(
        "notify_routes",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("min_severity", sa.String(length=16), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("dedup_seconds", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_notify_routes")),
    )
    op.create_table(
        "notify_owners",
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("slack_channel", sa.String(length=80), nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("owner", name=op.f("pk_notify_owners")),
    )
    op.create_table(
        "notify_deliveries",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("route", sa.String(length=64), nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("event", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=True),
        sa.Column("last_error", sa.String(length=512), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("delivered_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_deliveries")),
    )
    op.create_index(
        op.f("ix_notify_deliveries_channel"), "notify_deliveries", ["channel"], unique=False
    )
    op.create_index(
        "ix_notify_deliveries_state_next",
        "notify_deliveries",
        ["state", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "notify_dedup",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("last_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_notify_dedup")),
    )
    op.create_table(
        "notify_digest_runs",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("ran_at", _TS, nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_notify_digest_runs")),
    )


def downgrade() -> None:
    op.drop_table("notify_digest_runs")
    op.drop_table("notify_dedup")
    op.drop_index("ix_notify_deliveries_state_next", table_name="notify_deliveries")
    op.drop_index(op.f("ix_notify_deliveries_channel"), table_name="notify_deliveries")
    op.drop_table("notify_deliveries")
    op.drop_table("notify_owners")
    op.drop_table("notify_routes")
    op.drop_table("notify_channels")
