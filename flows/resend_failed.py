"""Deployment ``resend-failed``: resend failed gifts a person chose, from a form in the UI."""

from __future__ import annotations

from datetime import datetime

from prefect import flow
from pydantic import BaseModel, Field

from flows.runtime import open_runtime, resolve_as_of
from tasks.resend import resend_failed as resend_task


class ResendRequest(BaseModel):
    """Selection of failed gifts to resend. The filters combine, and an empty one matches all."""

    gift_ids: list[str] = Field(
        default_factory=list,
        description="Gift ids to resend. Empty resends every failed gift the filters match.",
    )
    stage: str | None = Field(
        None, description="Only gifts of this program stage, such as first_week."
    )
    reason: str | None = Field(
        None, description="Only gifts that failed with this reason, such as vendor_unavailable."
    )
    since: datetime | None = Field(
        None, description="Only gifts that failed at or after this time (UTC)."
    )
    requested_by: str = Field(
        "resend-failed", description="Who asks for the resend; recorded on every ledger event."
    )


@flow(name="resend-failed")
def resend_failed(request: ResendRequest | None = None) -> dict[str, object]:
    """Resend chosen failed gifts under their own idempotency keys; sent ones are never resent."""
    request = request or ResendRequest()
    moment = resolve_as_of(None)
    since = resolve_as_of(request.since) if request.since else None
    with open_runtime() as runtime:
        return resend_task(
            runtime,
            moment,
            request.requested_by,
            request.gift_ids,
            request.stage,
            request.reason,
            since,
        )
