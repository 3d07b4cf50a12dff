"""cert auth: TLS client certificate login roles

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cert_auth_roles",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("allowed_cas", sa.JSON(), nullable=False),
        sa.Column("trusted_ca_pems", sa.JSON(), nullable=False),
        sa.Column("allowed_dns_sans", sa.JSON(), nullable=False),
        sa.Column("allowed_uri_sans", sa.JSON(), nullable=False),
        sa.Column("identity", sa.String(length=255), nullable=True),
        sa.Column("policies", sa.JSON(), nullable=False),
        sa.Column("token_ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("token_max_ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cert_auth_roles")),
    )


def downgrade() -> None:
    op.drop_table("cert_auth_roles")
