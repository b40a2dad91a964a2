"""Deployment ``purge-personal-data``: nightly, clear personal data no open gift needs."""

from __future__ import annotations

from datetime import datetime

from prefect import flow

from flows.runtime import open_runtime, resolve_as_of
from tasks.privacy import purge


@flow(name="purge-personal-data")
def purge_personal_data(as_of: datetime | None = None) -> dict[str, int]:
    """Clear shipping addresses and notes kept longer than the retention period after delivery."""
    with open_runtime() as runtime:
        return purge(runtime, resolve_as_of(as_of))
