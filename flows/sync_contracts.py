"""Deployment ``sync-contracts``: pull changed Salesforce records into the warehouse."""

from __future__ import annotations

from datetime import datetime

from prefect import flow

from flows.runtime import open_runtime, resolve_as_of
from tasks.sync import sync_salesforce


@flow(name="sync-contracts", log_prints=False)
def sync_contracts(as_of: datetime | None = None) -> dict[str, dict[str, int]]:
    """Sync won deals, accounts, contacts, activities and cases from Salesforce."""
    with open_runtime() as runtime:
        return sync_salesforce(runtime, resolve_as_of(as_of))
