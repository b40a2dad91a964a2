"""Deployment ``dispatch-gifts``: send every due gift exactly once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from prefect import flow
from pydantic import Field

from flows.runtime import open_runtime, resolve_as_of
from tasks.cancellation import cancel_orders
from tasks.dispatch import dispatch_due
from tasks.planning import personalize
from tasks.resend import work_exceptions


@flow(name="dispatch-gifts")
def dispatch_gifts(
    as_of: datetime | None = None,
    backfill: bool = False,
    batch_size: Annotated[
        int, Field(ge=1, le=5000, description="Gifts claimed per vendor batch")
    ] = 500,
) -> dict[str, int]:
    """Release due gifts after re-checking eligibility and send them through the vendor."""
    moment = resolve_as_of(as_of)
    with open_runtime() as runtime:
        personalize(runtime, moment)
        outcome = dispatch_due(runtime, moment, backfill, batch_size)
        outcome.update(cancel_orders(runtime, moment))
        # Remedied gifts (a replacement item, an e-gift) go out in the next hourly run.
        work_exceptions(runtime, moment)
        return outcome
