"""One step of the whole program at one moment: plan, personalize and dispatch."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from gifting.cancellation import cancel_ordered_gifts
from gifting.dispatch import dispatch_due_gifts
from gifting.holds import CaseHoldTaskWriter, notify_held_gifts
from gifting.personalization.prepare import personalize_gifts
from gifting.planning.milestones import plan_gifts
from gifting.runtime import Runtime
from gifting.salesforce.writeback import TaskWriter


def run_step(
    runtime: Runtime, as_of: datetime, *, backfill: bool = False, write_back: bool = True
) -> Counter[str]:
    """Plan new gifts, personalize those coming due and send every due gift, as of ``as_of``."""
    outcome: Counter[str] = Counter()
    planned = plan_gifts(runtime.engine, runtime.program, as_of=as_of, backfill=backfill)
    outcome["created"] += sum(planned.created.values())
    outcome["cancelled"] += planned.cancelled
    outcome.update(
        personalize_gifts(
            runtime.engine, runtime.program, runtime.catalog, runtime.notes, as_of=as_of
        )
    )
    writer = TaskWriter(runtime.salesforce, today=as_of.date()) if write_back else None
    outcome.update(
        dispatch_due_gifts(
            runtime.engine,
            runtime.vendor,
            runtime.item_kinds,
            as_of=as_of,
            backfill=backfill,
            write_activity=writer,
            review=runtime.program.review,
            concurrency=runtime.settings.vendor_concurrency,
        )
    )
    outcome.update(cancel_ordered_gifts(runtime.engine, runtime.vendor, as_of=as_of))
    if write_back:
        notice = CaseHoldTaskWriter(runtime.salesforce, today=as_of.date())
        notified = notify_held_gifts(runtime.engine, notice, as_of=as_of)
        outcome["owners_notified_of_holds"] += notified
    return outcome
