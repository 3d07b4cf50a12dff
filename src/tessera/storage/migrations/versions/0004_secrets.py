"""secrets

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 11:00:02.424934
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "db_connections",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("plugin", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("database", sa.String(length=128), nullable=False),
        sa.Column("username", sa.String(length=128), nullable=False),
        sa.Column("password", sa.LargeBinary(), nullable=False),
        sa.Column("pending_password", sa.LargeBinary(), nullable=True),
        sa.Column("allowed_roles", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("root_rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_db_connections")),
    )
    op.create_table(
        "kv_secrets",
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("oldest_version", sa.Integer(), nullable=False),
        sa.Column("max_versions", sa.Integer(), nullable=False),
        sa.Column("cas_required", sa.Boolean(), nullable=False),
        sa.Column("custom_metadata", sa.JSON(), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("rotation_period_seconds", sa.BigInteger(), nullable=True),
        sa.Column("credential_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("path", name=op.f("pk_kv_secrets")),
    )
    op.create_table(
        "leases",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("engine", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=128), nullable=False),
        sa.Column("connection", sa.String(length=128), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("token_accessor", sa.String(length=64), nullable=True),
        sa.Column("identity_id", sa.String(length=32), nullable=True),
        sa.Column("credential_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("renewable", sa.Boolean(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=512), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leases")),
    )
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_leases_role"), ["role"], unique=False)
        batch_op.create_index("ix_leases_state_expires_at", ["state", "expires_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_leases_token_accessor"), ["token_accessor"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_leases_username"), ["username"], unique=False)

    op.create_table(
        "db_roles",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("connection", sa.String(length=128), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("password", sa.LargeBinary(), nullable=True),
        sa.Column("pending_password", sa.LargeBinary(), nullable=True),
        sa.Column("last_rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_rotation_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("credential_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection"],
            ["db_connections.name"],
            name=op.f("fk_db_roles_connection_db_connections"),
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_db_roles")),
    )
    with op.batch_alter_table("db_roles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_db_roles_next_rotation_at"), ["next_rotation_at"], unique=False
        )

    op.create_table(
        "kv_versions",
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("destroyed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["path"],
            ["kv_secrets.path"],
            name=op.f("fk_kv_versions_path_kv_secrets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("path", "version", name=op.f("pk_kv_versions")),
    )


def downgrade() -> None:
    op.drop_table("kv_versions")
    with op.batch_alter_table("db_roles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_db_roles_next_rotation_at"))

    op.drop_table("db_roles")
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leases_username"))
        batch_op.drop_index(batch_op.f("ix_leases_token_accessor"))
        batch_op.drop_index("ix_leases_state_expires_at")
        batch_op.drop_index(batch_op.f("ix_leases_role"))

    op.drop_table("leases")
    op.drop_table("kv_secrets")
    op.drop_table("db_connections")
