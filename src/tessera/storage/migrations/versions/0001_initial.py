"""initial schema: seal, keyring, system secrets, policies, tokens, identities, credentials

Revision ID: 0001
Revises:
Create Date: 2026-11-22 10:09:17.906842
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("spiffe_id", sa.String(length=2048), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decommissioned_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identities")),
        sa.UniqueConstraint("name", name=op.f("uq_identities_name")),
    )
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identities_environment"), ["environment"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_identities_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_identities_owner"), ["owner"], unique=False)
        batch_op.create_index(batch_op.f("ix_identities_status"), ["status"], unique=False)

    op.create_table(
        "keyring",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("active_version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_keyring")),
    )
    op.create_table(
        "policies",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_policies")),
    )
    op.create_table(
        "seal_config",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seal_type", sa.String(length=32), nullable=False),
        sa.Column("secret_shares", sa.Integer(), nullable=False),
        sa.Column("secret_threshold", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seal_config")),
    )
    op.create_table(
        "system_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_system_secrets")),
    )
    op.create_table(
        "credentials",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("identity_id", sa.String(length=32), nullable=True),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"], ["identities.id"], name=op.f("fk_credentials_identity_id_identities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credentials")),
        sa.UniqueConstraint("kind", "fingerprint", name=op.f("uq_credentials_kind_fingerprint")),
    )
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credentials_identity_id"), ["identity_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_credentials_kind"), ["kind"], unique=False)
        batch_op.create_index("ix_credentials_not_after_id", ["not_after", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_credentials_owner"), ["owner"], unique=False)
        batch_op.create_index(batch_op.f("ix_credentials_source"), ["source"], unique=False)
        batch_op.create_index(batch_op.f("ix_credentials_status"), ["status"], unique=False)

    op.create_table(
        "tokens",
        sa.Column("accessor", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("parent_accessor", sa.String(length=64), nullable=True),
        sa.Column("policies", sa.JSON(), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("identity_id", sa.String(length=32), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("renewable", sa.Boolean(), nullable=False),
        sa.Column("ttl_seconds", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("max_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["identity_id"], ["identities.id"], name=op.f("fk_tokens_identity_id_identities")
        ),
        sa.ForeignKeyConstraint(
            ["parent_accessor"], ["tokens.accessor"], name=op.f("fk_tokens_parent_accessor_tokens")
        ),
        sa.PrimaryKeyConstraint("accessor", name=op.f("pk_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_tokens_token_hash")),
    )
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tokens_identity_id"), ["identity_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_tokens_parent_accessor"), ["parent_accessor"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_tokens_revoked_at"), ["revoked_at"], unique=False)

    op.create_table(
        "credential_locations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("credential_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("location", sa.String(length=1024), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["credentials.id"],
            name=op.f("fk_credential_locations_credential_id_credentials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential_locations")),
        sa.UniqueConstraint(
            "credential_id",
            "kind",
            "location",
            name=op.f("uq_credential_locations_credential_id_kind_location"),
        ),
    )
    with op.batch_alter_table("credential_locations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credential_locations_credential_id"), ["credential_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("credential_locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credential_locations_credential_id"))

    op.drop_table("credential_locations")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_revoked_at"))
        batch_op.drop_index(batch_op.f("ix_tokens_parent_accessor"))
        batch_op.drop_index(batch_op.f("ix_tokens_identity_id"))

    op.drop_table("tokens")
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credentials_status"))
        batch_op.drop_index(batch_op.f("ix_credentials_source"))
        batch_op.drop_index(batch_op.f("ix_credentials_owner"))
        batch_op.drop_index("ix_credentials_not_after_id")
        batch_op.drop_index(batch_op.f("ix_credentials_kind"))
        batch_op.drop_index(batch_op.f("ix_credentials_identity_id"))

    op.drop_table("credentials")
    op.drop_table("system_secrets")
    op.drop_table("seal_config")
    op.drop_table("policies")
    op.drop_table("keyring")
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identities_status"))
        batch_op.drop_index(batch_op.f("ix_identities_owner"))
        batch_op.drop_index(batch_op.f("ix_identities_kind"))
        batch_op.drop_index(batch_op.f("ix_identities_environment"))

    op.drop_table("identities")
