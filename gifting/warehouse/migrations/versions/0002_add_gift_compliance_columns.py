"""add gift compliance columns

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 22:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("gift_policy_cap_usd", sa.Numeric(10, 2), nullable=True))
        batch.add_column(sa.Column("gift_policy_no_gifts", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("gift_policy_no_alcohol", sa.Boolean(), nullable=True))
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("is_healthcare_professional", sa.Boolean(), nullable=True))
    with op.batch_alter_table("gifts") as batch:
        batch.add_column(sa.Column("compliance_rule", sa.String(length=40), nullable=True))
        batch.add_column(
            sa.Column("transfer_of_value", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("gifts") as batch:
        batch.drop_column("transfer_of_value")
        batch.drop_column("compliance_rule")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("is_healthcare_professional")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("gift_policy_no_alcohol")
        batch.drop_column("gift_policy_no_gifts")
        batch.drop_column("gift_policy_cap_usd")
