"""Deployment ``plan-gifts``: expand signed contracts into the gift ledger."""

from __future__ import annotations

from datetime import datetime

from prefect import flow

from flows.runtime import open_runtime, resolve_as_of
from tasks.planning import personalize, plan


@flow(name="plan-gifts")
def plan_gifts(as_of: datetime | None = None, backfill: bool = False) -> dict[str, object]:
    """Plan one gift per contract and stage, then personalize the gifts coming due."""
    moment = resolve_as_of(as_of)
    with open_runtime() as runtime:
        planned = plan(runtime, moment, backfill)
        personalized = personalize(runtime, moment)
    return {"planned": planned, "personalized": personalized}
