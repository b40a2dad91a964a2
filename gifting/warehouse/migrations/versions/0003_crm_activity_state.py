"""add crm_activities, one row per CRM Task written for a gift state

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 23:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crm_activities",
        sa.Column("gift_id", sa.String(length=36), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("crm_task_id", sa.String(length=18), nullable=False),
        sa.Column("written_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["gift_id"], ["gifts.id"], name=op.f("fk_crm_activities_gift_id_gifts")
        ),
        sa.PrimaryKeyConstraint("gift_id", "attempt", "state", name=op.f("pk_crm_activities")),
    )
    # Tasks written before this table existed were "gift sent" Tasks, one per gift; recording
    # them keeps the write-back step from writing them again.
    op.execute(
        "INSERT INTO crm_activities (gift_id, attempt, state, crm_task_id, written_at) "
        "SELECT id, attempts, 'sent', crm_task_id, COALESCE(sent_at, updated_at) FROM gifts "
        "WHERE crm_task_id IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("crm_activities")
