"""create warehouse tables

Revision ID: 0001
Revises:
Create Date: 2026-12-04 19:51:44.973560
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("industry", sa.String(length=120), nullable=True),
        sa.Column("country", sa.String(length=80), nullable=True),
        sa.Column("state", sa.String(length=80), nullable=True),
        sa.Column("owner_id", sa.String(length=18), nullable=True),
        sa.Column("is_strategic", sa.Boolean(), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("holdout", sa.Boolean(), nullable=True),
        sa.Column("holdout_assigned_at", sa.DateTime(), nullable=True),
        sa.Column("system_modstamp", sa.DateTime(), nullable=False),
        sa.Column("synced_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    op.create_table(
        "activities",
        sa.Column("id", sa.String(length=18), nullable=False),
        sa.Column("account_id", sa.String(length=18), nullable=True),
        sa.Column("contact_id", sa.String(length=18), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("system_modstamp", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activities")),
    )
    op.create_index(op.f("ix_activities_account_id"), "activities", ["account_id"], unique=False)
    op.create_table(
        "cases",
        sa.Column("id", sa.String(length=18), nullable=False),
        sa.Column("account_id", sa.String(length=18), nullable=True),
        sa.Column("priority", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=True),
        sa.Column("is_closed", sa.Boolean(), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("system_modstamp", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    )
    op.create_index(op.f("ix_cases_account_id"), "cases", ["account_id"], unique=False)
    op.create_table(
        "cohort_metrics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("as_of", sa.DateTime(), nullable=False),
        sa.Column("cohort", sa.String(length=16), nullable=False),
        sa.Column("arm", sa.String(length=16), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("ci_low", sa.Float(), nullable=True),
        sa.Column("ci_high", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohort_metrics")),
        sa.UniqueConstraint("as_of", "cohort", "arm", "metric", name="uq_cohort_metrics_key"),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.String(length=18), nullable=False),
        sa.Column("account_id", sa.String(length=18), nullable=True),
        sa.Column("first_name", sa.String(length=80), nullable=True),
        sa.Column("last_name", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=128), nullable=True),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("street", sa.String(length=255), nullable=True),
        sa.Column("city", sa.String(length=80), nullable=True),
        sa.Column("state", sa.String(length=80), nullable=True),
        sa.Column("postal_code", sa.String(length=20), nullable=True),
        sa.Column("country", sa.String(length=80), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("gift_opt_out", sa.Boolean(), nullable=False),
        sa.Column("preferences", sa.Text(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("system_modstamp", sa.DateTime(), nullable=False),
        sa.Column("synced_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    op.create_index(op.f("ix_contacts_account_id"), "contacts", ["account_id"], unique=False)
    op.create_table(
        "contracts",
        sa.Column("id", sa.String(length=18), nullable=False),
        sa.Column("account_id", sa.String(length=18), nullable=False),
        sa.Column("contact_id", sa.String(length=18), nullable=True),
        sa.Column("contact_role", sa.String(length=80), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("deal_type", sa.String(length=80), nullable=True),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("use_case", sa.Text(), nullable=True),
        sa.Column("goals", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("system_modstamp", sa.DateTime(), nullable=False),
        sa.Column("synced_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
    )
    op.create_index(op.f("ix_contracts_account_id"), "contracts", ["account_id"], unique=False)
    op.create_index(op.f("ix_contracts_signed_on"), "contracts", ["signed_on"], unique=False)
    op.create_table(
        "outcomes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=18), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("synced_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
    )
    op.create_index(op.f("ix_outcomes_account_id"), "outcomes", ["account_id"], unique=False)
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("record_id", sa.String(length=80), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("quarantined_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
    )
    op.create_table(
        "sync_state",
        sa.Column("object_name", sa.String(length=80), nullable=False),
        sa.Column("watermark", sa.DateTime(), nullable=True),
        sa.Column("last_run_at", sa.DateTime(), nullable=True),
        sa.Column("records_seen", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("object_name", name=op.f("pk_sync_state")),
    )
    op.create_table(
        "gifts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("contract_id", sa.String(length=18), nullable=False),
        sa.Column("stage", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=18), nullable=False),
        sa.Column("contact_id", sa.String(length=18), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("window_ends_at", sa.DateTime(), nullable=False),
        sa.Column("budget_min", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("budget_max", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=True),
        sa.Column("item_name", sa.String(length=255), nullable=True),
        sa.Column("price", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("selection_reasons", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=80), nullable=True),
        sa.Column("vendor_order_id", sa.String(length=80), nullable=True),
        sa.Column("crm_task_id", sa.String(length=18), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contracts.id"], name=op.f("fk_gifts_contract_id_contracts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gifts")),
        sa.UniqueConstraint("contract_id", "stage", name="uq_gifts_contract_stage"),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_gifts_idempotency_key")),
    )
    op.create_index(op.f("ix_gifts_account_id"), "gifts", ["account_id"], unique=False)
    op.create_index("ix_gifts_status_due_at", "gifts", ["status", "due_at"], unique=False)
    op.create_table(
        "gift_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("gift_id", sa.String(length=36), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["gift_id"], ["gifts.id"], name=op.f("fk_gift_events_gift_id_gifts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gift_events")),
    )
    op.create_index(op.f("ix_gift_events_gift_id"), "gift_events", ["gift_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_gift_events_gift_id"), table_name="gift_events")
    op.drop_table("gift_events")
    op.drop_index("ix_gifts_status_due_at", table_name="gifts")
    op.drop_index(op.f("ix_gifts_account_id"), table_name="gifts")
    op.drop_table("gifts")
    op.drop_table("sync_state")
    op.drop_table("quarantine")
    op.drop_index(op.f("ix_outcomes_account_id"), table_name="outcomes")
    op.drop_table("outcomes")
    op.drop_index(op.f("ix_contracts_signed_on"), table_name="contracts")
    op.drop_index(op.f("ix_contracts_account_id"), table_name="contracts")
    op.drop_table("contracts")
    op.drop_index(op.f("ix_contacts_account_id"), table_name="contacts")
    op.drop_table("contacts")
    op.drop_table("cohort_metrics")
    op.drop_index(op.f("ix_cases_account_id"), table_name="cases")
    op.drop_table("cases")
    op.drop_index(op.f("ix_activities_account_id"), table_name="activities")
    op.drop_table("activities")
    op.drop_table("accounts")
