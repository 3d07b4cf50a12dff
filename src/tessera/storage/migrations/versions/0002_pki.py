"""pki: keys, CAs, profiles, certificates, CRLs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 08:49:14.015900
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pki_cas",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("key_type", sa.String(length=16), nullable=False),
        sa.Column("key_ref", sa.String(length=64), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("certificate_der", sa.LargeBinary(), nullable=True),
        sa.Column("cert_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("chain_pem", sa.String(length=65536), nullable=False),
        sa.Column("csr_pem", sa.String(length=65536), nullable=True),
        sa.Column("subject", sa.String(length=1024), nullable=False),
        sa.Column("key_id_sha1", sa.String(length=40), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ocsp_signer", sa.String(length=16), nullable=False),
        sa.Column("responder_key_ref", sa.String(length=64), nullable=True),
        sa.Column("responder_der", sa.LargeBinary(), nullable=True),
        sa.Column("crl_dirty", sa.Boolean(), nullable=False),
        sa.Column("successor_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["pki_cas.id"], name=op.f("fk_pki_cas_parent_id_pki_cas")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pki_cas")),
        sa.UniqueConstraint("name", name=op.f("uq_pki_cas_name")),
    )
    with op.batch_alter_table("pki_cas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pki_cas_crl_dirty"), ["crl_dirty"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_pki_cas_cert_fingerprint"), ["cert_fingerprint"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_pki_cas_key_id_sha1"), ["key_id_sha1"], unique=False)
        batch_op.create_index(batch_op.f("ix_pki_cas_status"), ["status"], unique=False)

    op.create_table(
        "pki_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("key_type", sa.String(length=16), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pki_keys")),
    )
    op.create_table(
        "pki_profiles",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_pki_profiles")),
    )
    op.create_table(
        "pki_certificates",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("ca_id", sa.String(length=32), nullable=False),
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("profile", sa.String(length=128), nullable=True),
        sa.Column("identity_id", sa.String(length=32), nullable=True),
        sa.Column("credential_id", sa.String(length=32), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("common_name", sa.String(length=1024), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("der", sa.LargeBinary(), nullable=True),
        sa.Column("renewed_from", sa.String(length=32), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revocation_reason", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ca_id"], ["pki_cas.id"], name=op.f("fk_pki_certificates_ca_id_pki_cas")
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f("fk_pki_certificates_identity_id_identities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pki_certificates")),
        sa.UniqueConstraint("ca_id", "serial", name=op.f("uq_pki_certificates_ca_id_serial")),
    )
    with op.batch_alter_table("pki_certificates", schema=None) as batch_op:
        batch_op.create_index("ix_pki_certificates_ca_id_status", ["ca_id", "status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_pki_certificates_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pki_certificates_identity_id"), ["identity_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pki_certificates_not_after"), ["not_after"], unique=False
        )

    op.create_table(
        "pki_crls",
        sa.Column("ca_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("this_update", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_update", sa.DateTime(timezone=True), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["ca_id"], ["pki_cas.id"], name=op.f("fk_pki_crls_ca_id_pki_cas")),
        sa.PrimaryKeyConstraint("ca_id", name=op.f("pk_pki_crls")),
    )


def downgrade() -> None:
    op.drop_table("pki_crls")
    with op.batch_alter_table("pki_certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pki_certificates_not_after"))
        batch_op.drop_index(batch_op.f("ix_pki_certificates_identity_id"))
        batch_op.drop_index(batch_op.f("ix_pki_certificates_created_at"))
        batch_op.drop_index("ix_pki_certificates_ca_id_status")

    op.drop_table("pki_certificates")
    op.drop_table("pki_profiles")
    op.drop_table("pki_keys")
    with op.batch_alter_table("pki_cas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pki_cas_status"))
        batch_op.drop_index(batch_op.f("ix_pki_cas_key_id_sha1"))
        batch_op.drop_index(batch_op.f("ix_pki_cas_crl_dirty"))

    op.drop_table("pki_cas")
