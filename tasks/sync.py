"""Task that syncs Salesforce into the warehouse."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from gifting.runtime import Runtime
from gifting.salesforce.sync import sync_org
from tasks.policy import retry_transient


@task(
    name="sync-salesforce",
    retries=2,
    retry_delay_seconds=[10, 60],
    cache_policy=NONE,
    retry_condition_fn=retry_transient,
    tags=["salesforce"],
)
def sync_salesforce(runtime: Runtime, as_of: datetime) -> dict[str, dict[str, int]]:
    """Sync accounts, contacts, deals, activities and cases from Salesforce."""
    result = sync_org(
        runtime.salesforce_session,
        runtime.engine,
        now=as_of,
        field_mapping=runtime.salesforce_mapping,
    )
    for warning in result.warnings:
        get_run_logger().warning("%s", warning)
    counts = {name: asdict(counts) for name, counts in result.objects.items()}
    get_run_logger().info("synced %s; %d recipients linked", counts, result.recipients_linked)
    return counts
