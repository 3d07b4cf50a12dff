"""posture and lifecycle: claimed jobs and findings

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_pki_certificates_renewed_from"), "pki_certificates", ["renewed_from"], unique=False
    )
    op.create_table(
        "lifecycle_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claim_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=1024), nullable=True),
        sa.Column("result_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lifecycle_jobs")),
        sa.UniqueConstraint("kind", "subject_id", name=op.f("uq_lifecycle_jobs_kind_subject_id")),
    )
    op.create_index(
        "ix_lifecycle_jobs_state_next_attempt_at",
        "lifecycle_jobs",
        ["state", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "findings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("subject_key", sa.String(length=128), nullable=False),
        sa.Column("credential_id", sa.String(length=32), nullable=True),
        sa.Column("identity_id", sa.String(length=32), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("risk", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ack_reason", sa.String(length=1024), nullable=True),
        sa.Column("ack_by", sa.String(length=128), nullable=True),
        sa.Column("ack_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
        sa.UniqueConstraint("rule_id", "subject_key", name=op.f("uq_findings_rule_id_subject_key")),
    )
    op.create_index(op.f("ix_findings_credential_id"), "findings", ["credential_id"], unique=False)
    op.create_index(op.f("ix_findings_identity_id"), "findings", ["identity_id"], unique=False)
    op.create_index("ix_findings_status_severity", "findings", ["status", "severity"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_findings_status_severity", table_name="findings")
    op.drop_index(op.f("ix_findings_identity_id"), table_name="findings")
    op.drop_index(op.f("ix_findings_credential_id"), table_name="findings")
    op.drop_table("findings")
    op.drop_index("ix_lifecycle_jobs_state_next_attempt_at", table_name="lifecycle_jobs")
    op.drop_table("lifecycle_jobs")
    op.drop_index(op.f("ix_pki_certificates_renewed_from"), table_name="pki_certificates")
