"""Expand each signed contract into one gift per stage, and cancel gifts of contracts that left.

Planning decides what can be decided up front: holdout, a missing or opted-out recipient, the
pilot filter, compliance limits, budget caps, and a window that had already passed when the
contract was first planned. It also fixes the due time in the recipient's world (see
``timing``), aligned to the account's kickoff, go-live or QBR where an alignment rule matches.
Everything that can change later (churn, support cases, opt-outs) is checked again at release
time by ``gifting.dispatch``.

Every gift gets a ledger row, skipped ones included, so the ledger explains each won deal. The
reasons behind a planned gift's due time and budget go to ``selection_reasons`` until
personalization replaces them with its own. A planned gift's ``reason``, and so its first
``gift_events`` row, is the most notable one, such as ``aligned to QBR on 2026-03-04``.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, Select, func, select, text

from gifting import ledger
from gifting.cancellation import cancel_gifts_of_lost_contracts
from gifting.config import ComplianceRule, ProgramConfig, StageConfig
from gifting.planning.alignment import load_events, milestone_day
from gifting.planning.budgets import BUDGET_EXHAUSTED, BudgetBook, load_budget_book, reserve_amount
from gifting.planning.compliance import (
    ComplianceDecision,
    RecipientFacts,
    decide,
    format_usd,
    matching_rules,
)
from gifting.planning.holdout import assign_holdout
from gifting.planning.pilot import pilot_exclusion
from gifting.planning.timing import DueTime, RecipientLocale, resolve_locale, schedule_due
from gifting.warehouse.batching import chunked
from gifting.warehouse.schema import Account, Contact, Contract, Gift

logger = logging.getLogger(__name__)

ACTOR = "plan_gifts"
GIFT_ID_NAMESPACE = uuid.UUID("6f1c1d1e-5b7a-4c49-9f57-2b1d3c0a9e11")
_NAMESPACE_BYTES = GIFT_ID_NAMESPACE.bytes
# Serialises planning runs on PostgreSQL, so two runs cannot both reserve the same budget.
PLANNING_LOCK_KEY = 0x6166_7473  # any constant shared by every planner


@dataclass
class PlanResult:
    """Gifts created by status and reason, per stage, and gifts cancelled."""

    created: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    cancelled: int = 0
    holdout_assigned: int = 0

    @property
    def planned(self) -> int:
        return sum(n for (_, status, _), n in self.created.items() if status == ledger.PLANNED)


@dataclass
class PlanContext:
    """Inputs shared by every gift of one planning run: config, time, events and budgets."""

    program: ProgramConfig
    as_of: datetime
    backfill: bool
    events: dict[str, list[tuple[str, date]]]
    budgets: BudgetBook
    # Due times by (arrival day, locale, lead days, same day, signing day). Many contracts share
    # these inputs, and computing a due time walks the recipient's holiday calendar.
    due_times: dict[tuple[Any, ...], DueTime] = field(default_factory=dict)


def gift_id(contract_id: str, stage: str) -> str:
    """Return the gift's stable id: the same contract and stage always give the same id.

    The id is ``uuid.uuid5(GIFT_ID_NAMESPACE, "<contract>:<stage>")``, built from the SHA-1
    digest directly because planning computes one per gift and ``uuid.UUID`` costs more.
    """
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{contract_id}:{stage}".encode()).digest())
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest[:16].hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def contract_locale(contract: Any) -> RecipientLocale:
    """Return the recipient's locale from the contact, falling back to the account's address."""
    return resolve_locale(
        contract.time_zone,
        contract.contact_country or contract.account_country,
        contract.contact_state or contract.account_state,
    )


def plan_due_time(
    contract: Any, stage: StageConfig, context: PlanContext, locale: RecipientLocale
) -> tuple[DueTime, str | None]:
    """Return the stage's due time for the contract, and the alignment reason if it has one."""
    schedule = context.program.schedule
    milestone = milestone_day(
        stage, contract.signed_on, context.program.alignment, context.events[contract.account_id]
    )
    same_day = stage.name in schedule.same_day_stages
    lead = 0 if same_day else schedule.lead_days(stage.name, locale.country)
    key = (milestone.day, locale, lead, same_day, contract.signed_on)
    due = context.due_times.get(key)
    if due is None:
        due = schedule_due(
            milestone.day,
            locale,
            schedule,
            lead_days=lead,
            same_day=same_day,
            earliest=contract.signed_on,
        )
        context.due_times[key] = due
    return due, milestone.reason


def _eligibility(contract: Any, context: PlanContext) -> str | None:
    """Return why the contract's recipient gets no gift at all, or ``None``."""
    if contract.holdout:
        return "holdout"
    if contract.contact_id is None:
        return "no_recipient"
    if contract.gift_opt_out:
        return "opted_out"
    return pilot_exclusion(
        context.program.pilot,
        industry=contract.industry,
        country=contract.account_country or contract.contact_country,
        owner_id=contract.owner_id,
        amount=contract.amount,
        signed_on=contract.signed_on,
        backfill=context.backfill,
    )


@dataclass(frozen=True)
class ContractFacts:
    """Facts that planning works out once per contract and uses for each of its gifts.

    Attributes:
        excluded: Why the contract gets no gift at all (holdout, opted out), or ``None``.
        rules: The compliance rules whose group the recipient belongs to.
    """

    locale: RecipientLocale
    excluded: str | None
    recipient: RecipientFacts
    rules: list[ComplianceRule]


def contract_facts(contract: Any, context: PlanContext) -> ContractFacts:
    recipient = recipient_facts(contract)
    return ContractFacts(
        locale=contract_locale(contract),
        excluded=_eligibility(contract, context),
        recipient=recipient,
        rules=matching_rules(context.program.compliance.rules, recipient),
    )


def recipient_facts(contract: Any) -> RecipientFacts:
    """Return what compliance reads about the contract's recipient and account."""
    cap = contract.gift_policy_cap_usd
    return RecipientFacts(
        industry=contract.industry,
        email=contract.email,
        title=contract.title,
        healthcare_professional=contract.is_healthcare_professional,
        policy_cap_usd=Decimal(cap) if cap is not None else None,
        policy_no_gifts=contract.gift_policy_no_gifts,
    )


@dataclass
class GiftPlan:
    """The decision for one gift: status, reason, budget range and the reasons behind them."""

    due: DueTime
    budget_min: Decimal
    budget_max: Decimal
    reasons: list[str]
    status: str = ledger.PLANNED
    reason: str | None = None
    compliance: ComplianceDecision | None = None

    def skip(self, reason: str) -> GiftPlan:
        self.status, self.reason = ledger.SKIPPED, reason
        return self


def _skip_reason(
    stage: StageConfig, context: PlanContext, plan: GiftPlan, excluded: str | None
) -> str | None:
    """Return why the gift is skipped before any budget is reserved, or ``None``.

    ``excluded`` is the contract's reason to get no gift at all, from ``_eligibility``.
    """
    if excluded:
        return excluded
    if plan.compliance is not None and plan.compliance.skip_reason:
        return plan.compliance.skip_reason
    window_ends_at = plan.due.at + timedelta(hours=stage.window_hours)
    if context.as_of > window_ends_at and not context.backfill:
        return "window_missed"
    return None


def _reserve_budget(
    contract: Any, stage: StageConfig, context: PlanContext, plan: GiftPlan
) -> GiftPlan:
    """Lower the budget to the compliance limits, then reserve it against the caps or skip."""
    decision = plan.compliance
    if decision is not None and decision.note is not None:
        plan.budget_min, plan.budget_max = decision.budget_min, decision.budget_max
        plan.reason = decision.note
        plan.reasons.append(decision.note)
    mode = context.program.budget_caps.reserve
    amount = reserve_amount(plan.budget_min, plan.budget_max, mode)
    budgets = context.budgets
    if decision is not None and decision.yearly_limit is not None:
        # NOTE: with reserve mode midpoint, gifts without a chosen item count at their midpoint,
        # so the yearly limit is then an estimate, like the other caps in that mode.
        reserved = budgets.recipient_year_total(contract.contact_id, plan.due.at)
        if reserved + amount > decision.yearly_limit:
            plan.reasons.append(
                f"{decision.rule} compliance allows {format_usd(decision.yearly_limit)} USD a "
                f"year, and {format_usd(reserved)} USD is already planned for {plan.due.at:%Y}"
            )
            return plan.skip(f"compliance_{decision.rule}_yearly")
    blocked = budgets.try_reserve(stage.name, contract.contact_id, plan.due.at, amount)
    if blocked:
        plan.reasons.append(_over_cap(amount, blocked, plan.due.at.year, plan.due.at.month))
        return plan.skip(BUDGET_EXHAUSTED)
    return plan


@lru_cache(maxsize=1024)
def _over_cap(amount: Decimal, cap: str, year: int, month: int) -> str:
    """Return why a reservation failed; cached, since a cap that runs out blocks many gifts."""
    return f"{amount} USD does not fit the {cap} cap for {year:04d}-{month:02d}"


def _gift_row(
    contract: Any, stage: StageConfig, context: PlanContext, facts: ContractFacts
) -> dict[str, Any]:
    due, aligned = plan_due_time(contract, stage, context, facts.locale)
    compliance = decide(facts.rules, facts.recipient, stage)
    reasons = [aligned] if aligned else []
    reasons.extend(due.reasons)
    plan = GiftPlan(due, stage.budget_usd[0], stage.budget_usd[1], reasons, compliance=compliance)
    if skip := _skip_reason(stage, context, plan, facts.excluded):
        plan.skip(skip)
    else:
        plan = _reserve_budget(contract, stage, context, plan)
        if plan.status == ledger.PLANNED and aligned:
            plan.reason = aligned
    return _row(contract, stage, context.as_of, plan)


def _row(contract: Any, stage: StageConfig, as_of: datetime, plan: GiftPlan) -> dict[str, Any]:
    identifier = gift_id(contract.id, stage.name)
    return {
        "id": identifier,
        "contract_id": contract.id,
        "stage": stage.name,
        "account_id": contract.account_id,
        "contact_id": contract.contact_id,
        "status": plan.status,
        "reason": plan.reason,
        "due_at": plan.due.at,
        "window_ends_at": plan.due.at + timedelta(hours=stage.window_hours),
        "budget_min": plan.budget_min,
        "budget_max": plan.budget_max,
        "currency": "USD",
        "selection_reasons": plan.reasons,
        "compliance_rule": plan.compliance.rule if plan.compliance else None,
        "transfer_of_value": bool(plan.compliance and plan.compliance.transfer_of_value),
        "idempotency_key": f"gift-{identifier}",
        "attempts": 0,
        "created_at": as_of,
        "updated_at": as_of,
    }


def contract_query() -> Select[Any]:
    """Return the query of won contracts with what planning needs of account and contact."""
    return (
        select(
            Contract.id,
            Contract.account_id,
            Contract.contact_id,
            Contract.signed_on,
            Contract.amount,
            Account.holdout,
            Account.industry,
            Account.owner_id,
            Account.country.label("account_country"),
            Account.state.label("account_state"),
            Contact.time_zone,
            Contact.gift_opt_out,
            Contact.email,
            Contact.title,
            Contact.is_healthcare_professional,
            Account.gift_policy_cap_usd,
            Account.gift_policy_no_gifts,
            Contact.country.label("contact_country"),
            Contact.state.label("contact_state"),
        )
        .join(Account, Account.id == Contract.account_id)
        .outerjoin(Contact, Contact.id == Contract.contact_id)
        .where(Contract.status == "won")
    )


def _unplanned_contracts(connection: Connection, as_of: datetime, stage_count: int) -> list[Any]:
    fully_planned = (
        select(Gift.contract_id).group_by(Gift.contract_id).having(func.count() >= stage_count)
    )
    query = (
        contract_query()
        .where(Contract.signed_on <= as_of.date())
        .where(Contract.id.not_in(fully_planned))
        .order_by(Contract.signed_on, Contract.id)
    )
    return list(connection.execute(query))


def plan_gifts(
    engine: Engine, program: ProgramConfig, *, as_of: datetime, backfill: bool = False
) -> PlanResult:
    """Create the missing gifts of every won contract signed on or before ``as_of``.

    Contracts are planned in signing order, so when a budget cap runs out the earlier deals
    get their gifts.

    Args:
        engine: The warehouse.
        program: The validated program configuration.
        as_of: The planning time (naive UTC); the function never reads the clock.
        backfill: Plan stages whose window has already passed instead of skipping them, and
            contracts signed before ``pilot.effective_from``.
    """
    result = PlanResult()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": PLANNING_LOCK_KEY}
            )
        result.holdout_assigned = assign_holdout(connection, program, as_of=as_of)
        contracts = _unplanned_contracts(connection, as_of, len(program.stages))
        existing = _existing_stages(connection, [c.id for c in contracts])
        context = PlanContext(
            program=program,
            as_of=as_of,
            backfill=backfill,
            events=load_events(connection, sorted({c.account_id for c in contracts})),
            budgets=load_budget_book(connection, program),
        )
        rows = []
        for contract in contracts:
            facts = contract_facts(contract, context)
            for stage in program.stages:
                if (contract.id, stage.name) in existing:
                    continue
                row = _gift_row(contract, stage, context, facts)
                rows.append(row)
                result.created[(stage.name, row["status"], _reason_key(row))] += 1
        ledger.create_gifts(connection, rows, at=as_of, actor=ACTOR)
        result.cancelled = cancel_gifts_of_lost_contracts(connection, as_of=as_of, actor=ACTOR)
    if rows:
        logger.info("planned %d gifts for %d contracts as of %s", len(rows), len(contracts), as_of)
    return result


def _reason_key(row: dict[str, Any]) -> str:
    """Return the reason a result counts a gift under: skip reasons only, not due-time notes."""
    return row["reason"] or "" if row["status"] != ledger.PLANNED else ""


def _existing_stages(connection: Connection, contract_ids: list[str]) -> set[tuple[str, str]]:
    """Return the (contract, stage) pairs already planned, looked up in chunks of Ids."""
    existing: set[tuple[str, str]] = set()
    for chunk in chunked(contract_ids):
        pairs = connection.execute(
            select(Gift.contract_id, Gift.stage).where(Gift.contract_id.in_(chunk))
        )
        existing |= {(row.contract_id, row.stage) for row in pairs}
    return existing
