"""Milestone alignment: move a stage to a real event of the account, such as its QBR.

A first_quarter gift lands best just before the 90-day business review, and a first_month gift
right after go-live. Each ``AlignmentRule`` names the stage, the CRM event kind, the days after
signing in which such an event counts, and how many days before or after it the gift is due.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Connection, select

from gifting.config import AlignmentRule, StageConfig
from gifting.warehouse.batching import chunked
from gifting.warehouse.schema import Activity

ALIGNED_KINDS = ("qbr", "kickoff", "go_live")
EVENT_LABELS = {"qbr": "QBR", "kickoff": "kickoff", "go_live": "go-live"}


@dataclass(frozen=True)
class Milestone:
    """The day a stage's gift should arrive, and why that day."""

    day: date
    reason: str | None = None


def load_events(
    connection: Connection, account_ids: list[str]
) -> dict[str, list[tuple[str, date]]]:
    """Return each account's scheduled kickoff, go-live and QBR events as (kind, day)."""
    events: dict[str, list[tuple[str, date]]] = defaultdict(list)
    if not account_ids:
        return events
    for chunk in chunked(account_ids):
        rows = connection.execute(
            select(Activity.account_id, Activity.kind, Activity.occurred_at)
            .where(Activity.account_id.in_(chunk))
            .where(Activity.kind.in_(ALIGNED_KINDS), Activity.is_deleted.is_(False))
            .where(Activity.occurred_at.is_not(None))
            .order_by(Activity.occurred_at, Activity.id)
        )
        for row in rows:
            events[row.account_id].append((row.kind, row.occurred_at.date()))
    return events


def _matching_event(
    rule: AlignmentRule, stage: StageConfig, signed_on: date, events: list[tuple[str, date]]
) -> date | None:
    """Return the event of the rule's kind inside its window closest to the stage's day."""
    first = signed_on + timedelta(days=rule.from_day)
    last = signed_on + timedelta(days=rule.to_day)
    target = signed_on + timedelta(days=stage.offset_days)
    days = [day for kind, day in events if kind == rule.kind and first <= day <= last]
    if not days:
        return None
    return min(days, key=lambda day: (abs((day - target).days), day))


def milestone_day(
    stage: StageConfig,
    signed_on: date,
    rules: list[AlignmentRule],
    events: list[tuple[str, date]],
) -> Milestone:
    """Return the day the stage's gift should arrive: aligned to an event, or at its offset.

    The first rule of the stage that finds an event wins. An aligned day never falls before the
    signing day.
    """
    if not events:
        return Milestone(signed_on + timedelta(days=stage.offset_days))
    for rule in rules:
        if rule.stage != stage.name:
            continue
        event_day = _matching_event(rule, stage, signed_on, events)
        if event_day is None:
            continue
        day = max(event_day + timedelta(days=rule.shift_days), signed_on)
        label = EVENT_LABELS[rule.kind]
        return Milestone(day, f"aligned to {label} on {event_day.isoformat()}")
    return Milestone(signed_on + timedelta(days=stage.offset_days))
