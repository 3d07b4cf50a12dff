"""oauth server: clients, signing keys, revoked tokens, used assertions, exchange issuers

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "oauth_clients",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("identity_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("auth_method", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=True),
        sa.Column("previous_secret_hash", sa.LargeBinary(), nullable=True),
        sa.Column("previous_secret_expires_at", _TS, nullable=True),
        sa.Column("jwks", sa.JSON(), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("audiences", sa.JSON(), nullable=False),
        sa.Column("token_ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.Column("last_used_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["identity_id"], ["identities.id"], name=op.f("fk_oauth_clients_identity_id_identities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_clients")),
    )
    op.create_index(
        op.f("ix_oauth_clients_identity_id"), "oauth_clients", ["identity_id"], unique=False
    )
    op.create_table(
        "oauth_signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("retired_at", _TS, nullable=True),
        sa.Column("publish_until", _TS, nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_oauth_signing_keys")),
    )
    op.create_index(
        op.f("ix_oauth_signing_keys_created_at"), "oauth_signing_keys", ["created_at"], unique=False
    )
    op.create_table(
        "oauth_revoked_tokens",
        sa.Column("jti", sa.String(length=128), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("revoked_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_oauth_revoked_tokens")),
    )
    op.create_index(
        op.f("ix_oauth_revoked_tokens_expires_at"),
        "oauth_revoked_tokens",
        ["expires_at"],
        unique=False,
    )
    op.create_table(
        "oauth_assertion_jtis",
        sa.Column("client_id", sa.String(length=40), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti", name=op.f("pk_oauth_assertion_jtis")),
    )
    op.create_index(
        op.f("ix_oauth_assertion_jtis_expires_at"),
        "oauth_assertion_jtis",
        ["expires_at"],
        unique=False,
    )
    op.create_table(
        "oauth_exchange_issuers",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("issuer", sa.String(length=2048), nullable=False),
        sa.Column("jwks_url", sa.String(length=2048), nullable=True),
        sa.Column("static_keys", sa.JSON(), nullable=False),
        sa.Column("algorithms", sa.JSON(), nullable=False),
        sa.Column("subject_audience", sa.String(length=1024), nullable=False),
        sa.Column("bindings", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_oauth_exchange_issuers")),
        sa.UniqueConstraint("issuer", name=op.f("uq_oauth_exchange_issuers_issuer")),
    )


def downgrade() -> None:
    op.drop_table("oauth_exchange_issuers")
    op.drop_index(op.f("ix_oauth_assertion_jtis_expires_at"), table_name="oauth_assertion_jtis")
    op.drop_table("oauth_assertion_jtis")
    op.drop_index(op.f("ix_oauth_revoked_tokens_expires_at"), table_name="oauth_revoked_tokens")
    op.drop_table("oauth_revoked_tokens")
    op.drop_index(op.f("ix_oauth_signing_keys_created_at"), table_name="oauth_signing_keys")
    op.drop_table("oauth_signing_keys")
    op.drop_index(op.f("ix_oauth_clients_identity_id"), table_name="oauth_clients")
    op.drop_table("oauth_clients")
