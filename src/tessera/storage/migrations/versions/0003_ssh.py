"""ssh: CAs, roles, certificates, revocations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 10:16:09.125597
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ssh_cas",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("cert_type", sa.String(length=8), nullable=False),
        sa.Column("key_type", sa.String(length=16), nullable=False),
        sa.Column("key_ref", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=4096), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("previous_public_key", sa.String(length=4096), nullable=True),
        sa.Column("previous_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ssh_cas")),
        sa.UniqueConstraint("name", name=op.f("uq_ssh_cas_name")),
    )
    op.create_table(
        "ssh_roles",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_ssh_roles")),
    )
    op.create_table(
        "ssh_certificates",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("ca_id", sa.String(length=32), nullable=False),
        sa.Column("serial", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=128), nullable=False),
        sa.Column("key_id", sa.String(length=512), nullable=False),
        sa.Column("principals", sa.JSON(), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("identity_id", sa.String(length=32), nullable=True),
        sa.Column("credential_id", sa.String(length=32), nullable=True),
        sa.Column("valid_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("certificate", sa.String(length=16384), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ca_id"], ["ssh_cas.id"], name=op.f("fk_ssh_certificates_ca_id_ssh_cas")
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f("fk_ssh_certificates_identity_id_identities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ssh_certificates")),
        sa.UniqueConstraint("ca_id", "serial", name=op.f("uq_ssh_certificates_ca_id_serial")),
    )
    with op.batch_alter_table("ssh_certificates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ssh_certificates_ca_id"), ["ca_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ssh_certificates_identity_id"), ["identity_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ssh_certificates_key_fingerprint"), ["key_fingerprint"], unique=False
        )

    op.create_table(
        "ssh_revocations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ca_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=4096), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ca_id"], ["ssh_cas.id"], name=op.f("fk_ssh_revocations_ca_id_ssh_cas")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ssh_revocations")),
        sa.UniqueConstraint(
            "ca_id", "kind", "value", name=op.f("uq_ssh_revocations_ca_id_kind_value")
        ),
    )
    with op.batch_alter_table("ssh_revocations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ssh_revocations_ca_id"), ["ca_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ssh_revocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ssh_revocations_ca_id"))

    op.drop_table("ssh_revocations")
    with op.batch_alter_table("ssh_certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ssh_certificates_key_fingerprint"))
        batch_op.drop_index(batch_op.f("ix_ssh_certificates_identity_id"))
        batch_op.drop_index(batch_op.f("ix_ssh_certificates_ca_id"))

    op.drop_table("ssh_certificates")
    op.drop_table("ssh_roles")
    op.drop_table("ssh_cas")
