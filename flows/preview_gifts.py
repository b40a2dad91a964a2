"""Deployment ``preview-gifts``: show the next gifts as they would be sent, changing nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from prefect import flow
from pydantic import Field

from flows.runtime import open_runtime, resolve_as_of
from tasks.review import preview


@flow(name="preview-gifts")
def preview_gifts(
    as_of: datetime | None = None,
    horizon_days: Annotated[
        int, Field(ge=0, le=365, description="Days ahead of as_of to look for due gifts")
    ] = 14,
    limit: Annotated[
        int, Field(ge=1, le=500, description="Gifts shown, the earliest due first")
    ] = 20,
) -> int:
    """Publish the next gifts' items, notes and reasons as artifacts, without writing anything."""
    moment = resolve_as_of(as_of)
    with open_runtime() as runtime:
        return preview(runtime, moment, horizon_days, limit)
