"""auth methods: AppRole roles and secret ids, JWT/OIDC issuers and roles

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approle_roles",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("role_id", sa.String(length=64), nullable=False),
        sa.Column("identity", sa.String(length=255), nullable=True),
        sa.Column("policies", sa.JSON(), nullable=False),
        sa.Column("token_ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("token_max_ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("secret_id_ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("secret_id_num_uses", sa.Integer(), nullable=False),
        sa.Column("secret_id_bound_cidrs", sa.JSON(), nullable=False),
        sa.Column("token_bound_cidrs", sa.JSON(), nullable=False),
        sa.Column("bind_secret_id", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_approle_roles")),
        sa.UniqueConstraint("role_id", name=op.f("uq_approle_roles_role_id")),
    )
    op.create_table(
        "approle_secret_ids",
        sa.Column("accessor", sa.String(length=64), nullable=False),
        sa.Column("role_name", sa.String(length=128), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("uses_left", sa.Integer(), nullable=True),
        sa.Column("cidrs", sa.JSON(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["role_name"],
            ["approle_roles.name"],
            name=op.f("fk_approle_secret_ids_role_name_approle_roles"),
        ),
        sa.PrimaryKeyConstraint("accessor", name=op.f("pk_approle_secret_ids")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_approle_secret_ids_secret_hash")),
    )
    op.create_index(
        op.f("ix_approle_secret_ids_role_name"), "approle_secret_ids", ["role_name"], unique=False
    )
    op.create_index(
        op.f("ix_approle_secret_ids_expires_at"), "approle_secret_ids", ["expires_at"], unique=False
    )
    op.create_table(
        "jwt_issuers",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("issuer", sa.String(length=1024), nullable=False),
        sa.Column("jwks_url", sa.String(length=2048), nullable=True),
        sa.Column("static_keys", sa.JSON(), nullable=False),
        sa.Column("algorithms", sa.JSON(), nullable=False),
        sa.Column("leeway_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_jwt_issuers")),
    )
    op.create_table(
        "jwt_roles",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("issuer_name", sa.String(length=128), nullable=False),
        sa.Column("bound_audiences", sa.JSON(), nullable=False),
        sa.Column("bound_claims", sa.JSON(), nullable=False),
        sa.Column("user_claim", sa.String(length=255), nullable=False),
        sa.Column("expected_typ", sa.String(length=64), nullable=True),
        sa.Column("identity", sa.String(length=255), nullable=True),
        sa.Column("policies", sa.JSON(), nullable=False),
        sa.Column("token_ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("token_max_ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issuer_name"],
            ["jwt_issuers.name"],
            name=op.f("fk_jwt_roles_issuer_name_jwt_issuers"),
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_jwt_roles")),
    )
    op.create_index(op.f("ix_jwt_roles_issuer_name"), "jwt_roles", ["issuer_name"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_jwt_roles_issuer_name"), table_name="jwt_roles")
    op.drop_table("jwt_roles")
    op.drop_table("jwt_issuers")
    op.drop_index(op.f("ix_approle_secret_ids_expires_at"), table_name="approle_secret_ids")
    op.drop_index(op.f("ix_approle_secret_ids_role_name"), table_name="approle_secret_ids")
    op.drop_table("approle_secret_ids")
    op.drop_table("approle_roles")
