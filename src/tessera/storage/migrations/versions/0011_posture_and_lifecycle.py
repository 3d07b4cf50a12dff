"""posture and lifecycle (placeholder: filled by the posture and lifecycle work)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
