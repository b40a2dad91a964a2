"""Tasks that release, send and track gifts through the vendor."""

from __future__ import annotations

from datetime import datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from gifting import dispatch
from gifting.holds import CaseHoldTaskWriter, notify_held_gifts
from gifting.runtime import Runtime
from gifting.salesforce.writeback import TaskWriter
from tasks.alerts import emit_failed_gifts
from tasks.policy import retry_transient


@task(
    name="dispatch-due-gifts",
    retries=2,
    retry_delay_seconds=[30, 120],
    cache_policy=NONE,
    retry_condition_fn=retry_transient,
    tags=["vendor"],
)
def dispatch_due(
    runtime: Runtime,
    as_of: datetime,
    backfill: bool = False,
    batch_size: int = 500,
    write_back: bool = True,
) -> dict[str, int]:
    """Repair interrupted sends, release due gifts and send every ready one exactly once.

    A retry of this task is safe: claimed gifts are in ``sending`` and are repaired by asking the
    vendor, and every order carries the gift's idempotency key.
    """
    writer = TaskWriter(runtime.salesforce, today=as_of.date()) if write_back else None
    outcome = dispatch.dispatch_due_gifts(
        runtime.engine,
        runtime.vendor,
        runtime.item_kinds,
        as_of=as_of,
        backfill=backfill,
        batch_size=batch_size,
        write_activity=writer,
        review=runtime.program.review,
        concurrency=runtime.settings.vendor_concurrency,
    )
    if write_back:
        notice = CaseHoldTaskWriter(runtime.salesforce, today=as_of.date())
        notified = notify_held_gifts(runtime.engine, notice, as_of=as_of)
        outcome["owners_notified_of_holds"] += notified
    get_run_logger().info("dispatch as of %s: %s", as_of, dict(outcome))
    emit_failed_gifts(runtime, as_of, "dispatch-gifts", dispatch.ACTOR)
    return dict(outcome)


@task(
    name="track-deliveries",
    retries=2,
    retry_delay_seconds=[30, 120],
    cache_policy=NONE,
    retry_condition_fn=retry_transient,
    tags=["vendor"],
)
def track(runtime: Runtime, as_of: datetime, write_back: bool = True) -> dict[str, int]:
    """Poll the vendor for every sent gift, record deliveries and failures, write CRM activity."""
    writer = TaskWriter(runtime.salesforce, today=as_of.date()) if write_back else None
    outcome = dispatch.track_deliveries(
        runtime.engine, runtime.vendor, as_of=as_of, write_activity=writer
    )
    get_run_logger().info("delivery tracking as of %s: %s", as_of, dict(outcome))
    emit_failed_gifts(runtime, as_of, "track-deliveries", "vendor")
    return dict(outcome)
