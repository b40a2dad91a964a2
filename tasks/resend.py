"""Tasks that resend failed gifts and work the exception queue."""

from __future__ import annotations

from datetime import datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from gifting import dispatch, exception_queue, resend
from gifting.runtime import Runtime
from gifting.salesforce.writeback import TaskWriter
from tasks.alerts import emit_failed_gifts
from tasks.policy import retry_transient


@task(name="resend-failed-gifts", cache_policy=NONE, tags=["vendor"])
def resend_failed(
    runtime: Runtime,
    as_of: datetime,
    actor: str,
    gift_ids: list[str],
    stage: str | None = None,
    reason: str | None = None,
    since: datetime | None = None,
    write_back: bool = True,
) -> dict[str, object]:
    """Move the chosen failed gifts back to ready and send each under its own key.

    The task has no retries: a person asked for this resend, and a failure is reported to them.
    Repeating it would still be safe, since each gift keeps its idempotency key.
    """
    writer = TaskWriter(runtime.salesforce, today=as_of.date()) if write_back else None
    result = resend.resend_failed(
        runtime.engine,
        runtime.vendor,
        runtime.item_kinds,
        as_of=as_of,
        actor=actor,
        gift_ids=gift_ids or None,
        stage=stage,
        reason=reason,
        since=since,
        write_activity=writer,
    )
    logger = get_run_logger()
    logger.info("resend as of %s: %s", as_of, result.counts())
    for gift_id, rejection in result.rejected.items():
        logger.warning("gift %s not resent: %s", gift_id, rejection)
    emit_failed_gifts(runtime, as_of, "resend-failed", dispatch.ACTOR)
    return {"outcomes": result.outcomes, "rejected": result.rejected}


@task(
    name="work-exception-queue",
    retries=2,
    retry_delay_seconds=[30, 120],
    cache_policy=NONE,
    retry_condition_fn=retry_transient,
    tags=["salesforce"],
)
def work_exceptions(runtime: Runtime, as_of: datetime, notify: bool = True) -> dict[str, int]:
    """Reorder failed gifts that have an automatic remedy and tell each account owner once."""
    notifier = (
        exception_queue.AttentionTaskWriter(runtime.salesforce, today=as_of.date())
        if notify
        else None
    )
    outcome = exception_queue.work_exception_queue(
        runtime.engine,
        runtime.program,
        runtime.catalog,
        as_of=as_of,
        notes=runtime.notes,
        notify=notifier,
    )
    get_run_logger().info("exception queue as of %s: %s", as_of, dict(outcome))
    return dict(outcome)
