"""api key rotation: per-key rotation policy and sealed successors awaiting pickup

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rotate_every_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("overlap_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rotate_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("generation", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("sealed_key", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("sealed_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_api_keys_rotate_at"), ["rotate_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_api_keys_sealed_until"), ["sealed_until"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_sealed_until"))
        batch_op.drop_index(batch_op.f("ix_api_keys_rotate_at"))
        batch_op.drop_column("sealed_until")
        batch_op.drop_column("sealed_key")
        batch_op.drop_column("generation")
        batch_op.drop_column("rotate_at")
        batch_op.drop_column("overlap_seconds")
        batch_op.drop_column("rotate_every_seconds")
