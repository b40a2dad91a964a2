"""Tasks that plan the gift ledger and personalize the gifts coming due."""

from __future__ import annotations

from datetime import datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from gifting.personalization.prepare import personalize_gifts
from gifting.planning.milestones import plan_gifts
from gifting.runtime import Runtime
from tasks.policy import retry_transient


@task(
    name="plan-gifts",
    retries=1,
    retry_delay_seconds=5,
    cache_policy=NONE,
    retry_condition_fn=retry_transient,
    tags=["planning"],
)
def plan(runtime: Runtime, as_of: datetime, backfill: bool = False) -> dict[str, int]:
    """Create the missing gifts of every won contract and cancel those of lost ones."""
    result = plan_gifts(runtime.engine, runtime.program, as_of=as_of, backfill=backfill)
    created = sum(result.created.values())
    if created or result.cancelled:
        get_run_logger().info(
            "as of %s: %d gifts created (%d planned), %d cancelled",
            as_of,
            created,
            result.planned,
            result.cancelled,
        )
    return {"created": created, "planned": result.planned, "cancelled": result.cancelled}


@task(
    name="personalize-gifts",
    retries=1,
    retry_delay_seconds=5,
    cache_policy=NONE,
    retry_condition_fn=retry_transient,
    tags=["planning"],
)
def personalize(runtime: Runtime, as_of: datetime) -> dict[str, int]:
    """Choose an item and render a note for every planned gift due by ``as_of``."""
    outcome = personalize_gifts(
        runtime.engine, runtime.program, runtime.catalog, runtime.notes, as_of=as_of
    )
    return dict(outcome)
