"""posture: configuration document and evaluation runs

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "posture_config",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posture_config")),
    )
    op.create_table(
        "posture_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("slot", sa.String(length=64), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("evaluated", sa.Integer(), nullable=False),
        sa.Column("opened", sa.Integer(), nullable=False),
        sa.Column("resolved", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posture_runs")),
        sa.UniqueConstraint("slot", name=op.f("uq_posture_runs_slot")),
    )
    op.create_index("ix_posture_runs_started_at", "posture_runs", ["started_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_posture_runs_started_at", table_name="posture_runs")
    op.drop_table("posture_runs")
    op.drop_table("posture_config")
