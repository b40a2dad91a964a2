"""Task that requests the vendor to cancel ordered gifts of lost or deleted contracts."""

from __future__ import annotations

from datetime import datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from gifting.cancellation import cancel_ordered_gifts
from gifting.runtime import Runtime
from tasks.policy import retry_transient


@task(
    name="cancel-vendor-orders",
    retries=2,
    retry_delay_seconds=[30, 120],
    cache_policy=NONE,
    retry_condition_fn=retry_transient,
    tags=["vendor"],
)
def cancel_orders(runtime: Runtime, as_of: datetime) -> dict[str, int]:
    """Cancel at the vendor each unshipped gift of a contract that is no longer won.

    A retry is safe: the vendor treats a second cancel of a cancelled order as a no-op, and a
    gift whose cancel was rejected gets no second request.
    """
    outcome = cancel_ordered_gifts(runtime.engine, runtime.vendor, as_of=as_of)
    if outcome:
        get_run_logger().info("vendor cancellations as of %s: %s", as_of, dict(outcome))
    return dict(outcome)
