"""Deployment ``review-gifts``: decide on held gifts from a form in the Prefect UI."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Annotated, Literal

from prefect import flow, get_run_logger
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import Field

from flows.runtime import open_runtime, resolve_as_of
from gifting.review import ReviewDecision, ReviewItem
from tasks.review import INVALID, decide, pending

ATTEMPTS_PER_GIFT = 3


class ReviewInput(RunInput):
    """The form the Prefect UI shows for one gift waiting for review."""

    gift_id: str
    action: Literal["approve", "edit_note", "swap_item", "reject"] = "approve"
    note: str | None = Field(None, description="New card text, for edit_note or swap_item")
    sku: str | None = Field(None, description="Catalog SKU within the gift's budget, for swap_item")
    reason: str | None = Field(None, description="Why the gift is rejected, for reject")
    reviewer: str = Field(description="Your name, recorded on the gift's event")

    def to_decision(self) -> ReviewDecision:
        return ReviewDecision(
            gift_id=self.gift_id,
            action=self.action,
            note=self.note,
            sku=self.sku,
            reason=self.reason,
        )


def _form(item: ReviewItem, error: str | None) -> type[ReviewInput]:
    price = "no price" if item.price is None else f"{item.price} {item.currency}"
    description = (
        f"Gift {item.gift_id}: {item.stage} for {item.company}, {item.item_name} at {price}. "
        f"Held because: {', '.join(item.reasons)}. The notes are in the pending-review-notes "
        "artifact."
    )
    if error:
        description = f"The last decision was not applied: {error}\n\n{description}"
    return ReviewInput.with_initial_data(description=description, gift_id=item.gift_id)


@flow(name="review-gifts")
def review_gifts(
    as_of: datetime | None = None,
    limit: Annotated[int, Field(ge=1, le=200, description="Gifts reviewed in this run")] = 20,
    timeout_seconds: Annotated[
        int, Field(ge=1, description="Seconds to wait for each decision before the run fails")
    ] = 3600,
    poll_interval_seconds: Annotated[
        int, Field(ge=1, le=60, description="Seconds between checks for a decision")
    ] = 10,
) -> dict[str, int]:
    """Publish the gifts waiting for review, then pause for a decision on each one."""
    outcome: Counter[str] = Counter()
    with open_runtime() as runtime:
        items = pending(runtime)
        for item in items[:limit]:
            error = None
            for _attempt in range(ATTEMPTS_PER_GIFT):
                form_input = pause_flow_run(
                    wait_for_input=_form(item, error),
                    timeout=timeout_seconds,
                    poll_interval=poll_interval_seconds,
                )
                # ``as_of`` is unset in production, so each decision records when it was made.
                moment = resolve_as_of(as_of)
                decision = form_input.to_decision()
                status, error = decide(runtime, decision, moment, form_input.reviewer)
                if status != INVALID:
                    break
            outcome[status] += 1
    get_run_logger().info("review decisions: %s", dict(outcome))
    return dict(outcome)
