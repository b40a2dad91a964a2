"""Warehouse tables, as SQLAlchemy 2 declarative models.

Every class docstring states the table's grain and keys. Salesforce Ids are stored in their
18-character form. Datetimes are stored as naive UTC, because SQLite keeps no offset.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SalesforceId = String(18)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Account(Base):
    """One row per Salesforce Account; key ``id``.

    ``holdout`` is assigned once, when planning first reads the account, and never changes.
    The ``gift_policy_*`` columns hold the account's own gift policy from mapped CRM fields,
    and stay null when ``salesforce.yaml`` maps none.
    """

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(SalesforceId, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    industry: Mapped[str | None] = mapped_column(String(120))
    country: Mapped[str | None] = mapped_column(String(80))
    state: Mapped[str | None] = mapped_column(String(80))
    owner_id: Mapped[str | None] = mapped_column(SalesforceId)
    is_strategic: Mapped[bool] = mapped_column(Boolean, default=False)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    holdout: Mapped[bool | None] = mapped_column(Boolean)
    holdout_assigned_at: Mapped[datetime | None] = mapped_column(DateTime)
    gift_policy_cap_usd: Mapped[float | None] = mapped_column(Numeric(10, 2))
    gift_policy_no_gifts: Mapped[bool | None] = mapped_column(Boolean)
    gift_policy_no_alcohol: Mapped[bool | None] = mapped_column(Boolean)
    system_modstamp: Mapped[datetime] = mapped_column(DateTime)
    synced_at: Mapped[datetime] = mapped_column(DateTime)


class Contact(Base):
    """One row per Salesforce Contact; key ``id``. Holds the shipping address while needed."""

    __tablename__ = "contacts"

    id: Mapped[str] = mapped_column(SalesforceId, primary_key=True)
    account_id: Mapped[str | None] = mapped_column(SalesforceId, index=True)
    first_name: Mapped[str | None] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80))
    title: Mapped[str | None] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(255))
    street: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(80))
    state: Mapped[str | None] = mapped_column(String(80))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(80))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    gift_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    preferences: Mapped[str | None] = mapped_column(Text)
    is_healthcare_professional: Mapped[bool | None] = mapped_column(Boolean)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    system_modstamp: Mapped[datetime] = mapped_column(DateTime)
    synced_at: Mapped[datetime] = mapped_column(DateTime)


class Contract(Base):
    """One row per signed deal (a won Opportunity); key ``id``, the Opportunity Id.

    ``status`` is ``won`` while the deal is won, and ``lost`` or ``deleted`` once it leaves the
    won state, which cancels every gift not yet sent.
    """

    __tablename__ = "contracts"

    id: Mapped[str] = mapped_column(SalesforceId, primary_key=True)
    account_id: Mapped[str] = mapped_column(SalesforceId, index=True)
    contact_id: Mapped[str | None] = mapped_column(SalesforceId)
    contact_role: Mapped[str | None] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(255))
    deal_type: Mapped[str | None] = mapped_column(String(80))
    amount: Mapped[float | None] = mapped_column(Numeric(18, 2))
    signed_on: Mapped[date] = mapped_column(Date, index=True)
    use_case: Mapped[str | None] = mapped_column(Text)
    goals: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    first_seen_at: Mapped[datetime] = mapped_column(DateTime)
    system_modstamp: Mapped[datetime] = mapped_column(DateTime)
    synced_at: Mapped[datetime] = mapped_column(DateTime)


class Activity(Base):
    """One row per Salesforce Task or Event (calls, meetings, notes, onboarding milestones)."""

    __tablename__ = "activities"
    # Covers the cohort report's engagement counts, so SQLite reads no table rows for them.
    __table_args__ = (
        Index("ix_activities_account_report", "account_id", "is_deleted", "occurred_at", "kind"),
    )

    id: Mapped[str] = mapped_column(SalesforceId, primary_key=True)
    account_id: Mapped[str | None] = mapped_column(SalesforceId)
    contact_id: Mapped[str | None] = mapped_column(SalesforceId)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    system_modstamp: Mapped[datetime] = mapped_column(DateTime)


class SupportCase(Base):
    """One row per Salesforce Case; key ``id``."""

    __tablename__ = "cases"
    # Covers the cohort report's support-case counts.
    __table_args__ = (Index("ix_cases_account_report", "account_id", "is_deleted", "opened_at"),)

    id: Mapped[str] = mapped_column(SalesforceId, primary_key=True)
    account_id: Mapped[str | None] = mapped_column(SalesforceId)
    priority: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str | None] = mapped_column(String(40))
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    system_modstamp: Mapped[datetime] = mapped_column(DateTime)


class Outcome(Base):
    """One row per account × outcome kind × source record; key ``id``.

    Kinds: ``churn`` and ``non_renewal`` (``occurred_on`` is the churn date or the day notice not
    to renew was given), ``expansion`` and ``renewal`` (a won deal, with ``amount``), ``nps``
    (``score``), ``referral`` (``score`` counts referrals), and ``testimonial`` and
    ``case_study`` (``score`` 1 when the account took part, dated when the field is a date).
    """

    __tablename__ = "outcomes"
    # Covers the cohort report's outcome columns.
    __table_args__ = (
        Index("ix_outcomes_account_report", "account_id", "kind", "occurred_on", "amount", "score"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(SalesforceId)
    kind: Mapped[str] = mapped_column(String(32))
    occurred_on: Mapped[date | None] = mapped_column(Date)
    amount: Mapped[float | None] = mapped_column(Numeric(18, 2))
    score: Mapped[float | None] = mapped_column(Float)
    synced_at: Mapped[datetime] = mapped_column(DateTime)


class Gift(Base):
    """One row per contract × stage, created once; key ``id``, unique on (contract, stage).

    ``status`` moves only through the ledger's state machine (see ``gifting.ledger``), and every
    move is appended to ``gift_events``. ``compliance_rule`` names the compliance rule or account
    policy that limited the gift, and ``transfer_of_value`` marks a gift to a healthcare
    professional that must be disclosed as a transfer of value.
    """

    __tablename__ = "gifts"
    __table_args__ = (
        UniqueConstraint("contract_id", "stage", name="uq_gifts_contract_stage"),
        Index("ix_gifts_status_due_at", "status", "due_at"),
        # Covers the cohort report's sent-gift totals.
        Index("ix_gifts_account_report", "account_id", "status", "sent_at", "price"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    contract_id: Mapped[str] = mapped_column(SalesforceId, ForeignKey("contracts.id"))
    stage: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[str] = mapped_column(SalesforceId)
    contact_id: Mapped[str | None] = mapped_column(SalesforceId)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    due_at: Mapped[datetime] = mapped_column(DateTime)
    window_ends_at: Mapped[datetime] = mapped_column(DateTime)
    budget_min: Mapped[float] = mapped_column(Numeric(10, 2))
    budget_max: Mapped[float] = mapped_column(Numeric(10, 2))
    sku: Mapped[str | None] = mapped_column(String(64))
    item_name: Mapped[str | None] = mapped_column(String(255))
    price: Mapped[float | None] = mapped_column(Numeric(10, 2))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    selection_reasons: Mapped[list[str] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    vendor_order_id: Mapped[str | None] = mapped_column(String(80))
    crm_task_id: Mapped[str | None] = mapped_column(SalesforceId)
    compliance_rule: Mapped[str | None] = mapped_column(String(40))
    transfer_of_value: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class GiftEvent(Base):
    """One row per state change of a gift, append-only; key ``id``."""

    __tablename__ = "gift_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    gift_id: Mapped[str] = mapped_column(String(36), ForeignKey("gifts.id"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)


class CrmActivity(Base):
    """One row per CRM Task written for a gift in one state of one send attempt.

    Key ``(gift_id, attempt, state)``: ``attempt`` is ``gifts.attempts`` when the Task was
    written, so a gift sent again after a failure gets a new round of Tasks, and the key stops a
    second Task for the same state and attempt.
    """

    __tablename__ = "crm_activities"

    gift_id: Mapped[str] = mapped_column(String(36), ForeignKey("gifts.id"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16), primary_key=True)
    crm_task_id: Mapped[str] = mapped_column(SalesforceId)
    written_at: Mapped[datetime] = mapped_column(DateTime)


class SyncState(Base):
    """One row per synced Salesforce object; key ``object_name``. Holds the watermark."""

    __tablename__ = "sync_state"

    object_name: Mapped[str] = mapped_column(String(80), primary_key=True)
    watermark: Mapped[datetime | None] = mapped_column(DateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime)
    records_seen: Mapped[int] = mapped_column(Integer, default=0)


class QuarantinedRecord(Base):
    """One row per rejected input record and reason; key ``id``. Nothing bad is dropped silently."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(80))
    record_id: Mapped[str | None] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, object] | None] = mapped_column(JSON)
    quarantined_at: Mapped[datetime] = mapped_column(DateTime)


class CohortMetric(Base):
    """One row per report run × signing cohort × arm × metric; key ``id``.

    ``cohort`` is the signing month (``2026-03``) or ``all``; ``arm`` is ``gifted``, ``holdout`` or
    ``not_gifted``. ``ci_low`` and ``ci_high`` bound a 95 % confidence interval where one exists.
    """

    __tablename__ = "cohort_metrics"
    __table_args__ = (
        UniqueConstraint("as_of", "cohort", "arm", "metric", name="uq_cohort_metrics_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    as_of: Mapped[datetime] = mapped_column(DateTime)
    cohort: Mapped[str] = mapped_column(String(16))
    arm: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
