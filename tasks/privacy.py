"""Task that purges personal data no open gift needs any more."""

from __future__ import annotations

from datetime import datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from gifting.privacy import purge_personal_data
from gifting.runtime import Runtime
from tasks.policy import retry_transient


@task(
    name="purge-personal-data",
    retries=1,
    retry_delay_seconds=60,
    cache_policy=NONE,
    retry_condition_fn=retry_transient,
    tags=["privacy"],
)
def purge(runtime: Runtime, as_of: datetime) -> dict[str, int]:
    """Clear addresses, notes and quarantined payloads past the retention period.

    A retry is safe: each statement clears only values that are still set.
    """
    days = runtime.program.privacy.retention_days_after_delivery
    counts = purge_personal_data(runtime.engine, as_of=as_of, retention_days=days)
    get_run_logger().info("purge as of %s, %d days after delivery: %s", as_of, days, dict(counts))
    return dict(counts)
