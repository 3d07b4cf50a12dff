"""notifications (placeholder: filled by the notifications work)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
