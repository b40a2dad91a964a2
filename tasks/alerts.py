"""Prefect events that the ``gifting alerts`` automations react to."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from prefect import get_run_logger
from prefect.events import emit_event

from gifting.failures import gifts_failed_at
from gifting.runtime import Runtime

GIFTS_FAILED_EVENT = "gifting.gifts.failed"
# An event carries at most this many gift ids; the count and the reasons cover all of them.
MAX_GIFT_IDS_PER_EVENT = 50


def emit_failed_gifts(runtime: Runtime, as_of: datetime, source: str, actor: str) -> int:
    """Emit one ``gifting.gifts.failed`` event if gifts failed in this run; return their number.

    One event per run, not per gift, so that a vendor outage sends one notification and not
    hundreds. Prefect relates the event to the current flow and task run by itself.
    """
    failed = gifts_failed_at(runtime.engine, as_of, actor)
    if not failed:
        return 0
    reasons = Counter(gift.reason or "unknown" for gift in failed)
    emit_event(
        event=GIFTS_FAILED_EVENT,
        resource={
            "prefect.resource.id": f"gifting.{source}",
            "prefect.resource.name": source,
        },
        payload={
            "as_of": as_of.isoformat(),
            "count": len(failed),
            "reasons": dict(reasons),
            "gift_ids": [gift.gift_id for gift in failed[:MAX_GIFT_IDS_PER_EVENT]],
        },
    )
    get_run_logger().warning("%d gifts failed in %s: %s", len(failed), source, dict(reasons))
    return len(failed)
