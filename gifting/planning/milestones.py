"""Expand each signed contract into one gift per stage, and cancel gifts of contracts that left.

Planning decides what can be decided up front: holdout, a missing or opted-out recipient, and a
window that had already passed when the contract was first planned. Everything that can change
later (churn, support cases, opt-outs) is checked again at release time by ``gifting.dispatch``.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from gifting import ledger
from gifting.config import ProgramConfig, StageConfig
from gifting.planning.holdout import is_holdout
from gifting.planning.timing import due_time
from gifting.warehouse.schema import Account, Contact, Contract, Gift

logger = logging.getLogger(__name__)

ACTOR = "plan_gifts"
GIFT_ID_NAMESPACE = uuid.UUID("6f1c1d1e-5b7a-4c49-9f57-2b1d3c0a9e11")


@dataclass
class PlanResult:
    """Gifts created by status and reason, per stage, and gifts cancelled."""

    created: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    cancelled: int = 0
    holdout_assigned: int = 0

    @property
    def planned(self) -> int:
        return sum(n for (_, status, _), n in self.created.items() if status == ledger.PLANNED)


def gift_id(contract_id: str, stage: str) -> str:
    """Return the gift's stable id: the same contract and stage always give the same id."""
    return str(uuid.uuid5(GIFT_ID_NAMESPACE, f"{contract_id}:{stage}"))


def assign_holdout(connection: Connection, program: ProgramConfig, *, as_of: datetime) -> int:
    """Record the holdout flag of every account that has none yet; recorded flags never change."""
    pending = connection.scalars(select(Account.id).where(Account.holdout.is_(None))).all()
    for account_id in pending:
        flag = is_holdout(account_id, program.holdout.salt, program.holdout.share)
        connection.execute(
            update(Account)
            .where(Account.id == account_id, Account.holdout.is_(None))
            .values(holdout=flag, holdout_assigned_at=as_of)
        )
    return len(pending)


def _initial_status(
    contract: Any, stage: StageConfig, due_at: datetime, as_of: datetime, backfill: bool
) -> tuple[str, str | None]:
    if contract.holdout:
        return ledger.SKIPPED, "holdout"
    if contract.contact_id is None:
        return ledger.SKIPPED, "no_recipient"
    if contract.gift_opt_out:
        return ledger.SKIPPED, "opted_out"
    window_ends_at = due_at + timedelta(hours=stage.window_hours)
    if as_of > window_ends_at and not backfill:
        return ledger.SKIPPED, "window_missed"
    return ledger.PLANNED, None


def _gift_row(contract: Any, stage: StageConfig, as_of: datetime, backfill: bool) -> dict[str, Any]:
    due_at = due_time(contract.signed_on, stage.offset_days, contract.time_zone)
    status, reason = _initial_status(contract, stage, due_at, as_of, backfill)
    identifier = gift_id(contract.id, stage.name)
    return {
        "id": identifier,
        "contract_id": contract.id,
        "stage": stage.name,
        "account_id": contract.account_id,
        "contact_id": contract.contact_id,
        "status": status,
        "reason": reason,
        "due_at": due_at,
        "window_ends_at": due_at + timedelta(hours=stage.window_hours),
        "budget_min": stage.budget_usd[0],
        "budget_max": stage.budget_usd[1],
        "currency": "USD",
        "idempotency_key": f"gift-{identifier}",
        "attempts": 0,
        "created_at": as_of,
        "updated_at": as_of,
    }


def _unplanned_contracts(connection: Connection, as_of: datetime, stage_count: int) -> list[Any]:
    fully_planned = (
        select(Gift.contract_id).group_by(Gift.contract_id).having(func.count() >= stage_count)
    )
    query = (
        select(
            Contract.id,
            Contract.account_id,
            Contract.contact_id,
            Contract.signed_on,
            Account.holdout,
            Contact.time_zone,
            Contact.gift_opt_out,
        )
        .join(Account, Account.id == Contract.account_id)
        .outerjoin(Contact, Contact.id == Contract.contact_id)
        .where(Contract.status == "won", Contract.signed_on <= as_of.date())
        .where(Contract.id.not_in(fully_planned))
        .order_by(Contract.signed_on, Contract.id)
    )
    return list(connection.execute(query))


def plan_gifts(
    engine: Engine, program: ProgramConfig, *, as_of: datetime, backfill: bool = False
) -> PlanResult:
    """Create the missing gifts of every won contract signed on or before ``as_of``.

    Args:
        engine: The warehouse.
        program: The validated program configuration.
        as_of: The planning time (naive UTC); the function never reads the clock.
        backfill: Plan stages whose window has already passed instead of skipping them.
    """
    result = PlanResult()
    with engine.begin() as connection:
        result.holdout_assigned = assign_holdout(connection, program, as_of=as_of)
        contracts = _unplanned_contracts(connection, as_of, len(program.stages))
        existing = _existing_stages(connection, [c.id for c in contracts])
        rows = []
        for contract in contracts:
            for stage in program.stages:
                if (contract.id, stage.name) in existing:
                    continue
                row = _gift_row(contract, stage, as_of, backfill)
                rows.append(row)
                result.created[(stage.name, row["status"], row["reason"] or "")] += 1
        ledger.create_gifts(connection, rows, at=as_of, actor=ACTOR)
        result.cancelled = cancel_gifts_of_lost_contracts(connection, as_of=as_of)
    if rows:
        logger.info("planned %d gifts for %d contracts as of %s", len(rows), len(contracts), as_of)
    return result


def _existing_stages(connection: Connection, contract_ids: list[str]) -> set[tuple[str, str]]:
    if not contract_ids:
        return set()
    pairs = connection.execute(
        select(Gift.contract_id, Gift.stage).where(Gift.contract_id.in_(contract_ids))
    )
    return {(row.contract_id, row.stage) for row in pairs}


def cancel_gifts_of_lost_contracts(connection: Connection, *, as_of: datetime) -> int:
    """Cancel every unsent gift of a contract that is no longer won (lost or deleted)."""
    query = (
        select(Gift.id, Gift.status, Contract.status.label("contract_status"))
        .join(Contract, Contract.id == Gift.contract_id)
        .where(Contract.status != "won", Gift.status.in_(ledger.UNSENT))
    )
    cancelled = 0
    for gift in connection.execute(query).all():
        ledger.move(
            connection,
            gift.id,
            gift.status,
            ledger.CANCELLED,
            at=as_of,
            actor=ACTOR,
            reason=f"contract_{gift.contract_status}",
        )
        cancelled += 1
    return cancelled
