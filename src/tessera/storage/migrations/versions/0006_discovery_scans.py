"""discovery scans

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "discovery_scans",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("credentials", sa.Integer(), nullable=False),
        sa.Column("new_credentials", sa.Integer(), nullable=False),
        sa.Column("locations", sa.Integer(), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("error_samples", sa.JSON(), nullable=False),
        sa.Column("failure", sa.String(length=1024), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discovery_scans")),
    )
    op.create_index(
        op.f("ix_discovery_scans_started_at"), "discovery_scans", ["started_at"], unique=False
    )
    op.create_index(op.f("ix_discovery_scans_status"), "discovery_scans", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_discovery_scans_status"), table_name="discovery_scans")
    op.drop_index(op.f("ix_discovery_scans_started_at"), table_name="discovery_scans")
    op.drop_table("discovery_scans")
