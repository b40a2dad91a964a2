"""Deployment ``track-deliveries``: record vendor status changes of sent gifts."""

from __future__ import annotations

from datetime import datetime

from prefect import flow

from flows.runtime import open_runtime, resolve_as_of
from tasks.dispatch import track


@flow(name="track-deliveries")
def track_deliveries(as_of: datetime | None = None) -> dict[str, int]:
    """Poll the vendor for every sent gift and record deliveries and failures."""
    with open_runtime() as runtime:
        return track(runtime, resolve_as_of(as_of))
