"""Tasks that list gifts waiting for review, apply reviewer decisions and preview coming gifts."""

from __future__ import annotations

from datetime import datetime

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE

from gifting import review
from gifting.ledger import LedgerConflict
from gifting.preview import preview_gifts, preview_markdown, preview_table
from gifting.runtime import Runtime
from tasks.policy import retry_transient

INVALID = "invalid"


@task(
    name="list-pending-reviews",
    retries=1,
    retry_delay_seconds=5,
    cache_policy=NONE,
    retry_condition_fn=retry_transient,
    tags=["review"],
)
def pending(runtime: Runtime) -> list[review.ReviewItem]:
    """List the gifts waiting for review and publish them as table and Markdown artifacts."""
    items = review.pending_reviews(runtime.engine)
    if items:
        create_table_artifact(
            key="pending-reviews",
            table=review.review_table(items),
            description="Gifts waiting for review",
        )
    create_markdown_artifact(
        key="pending-review-notes",
        markdown=review.review_markdown(items),
        description="Notes of the gifts waiting for review",
    )
    get_run_logger().info("%d gifts waiting for review", len(items))
    return items


@task(
    name="apply-review-decision",
    retries=1,
    retry_delay_seconds=5,
    cache_policy=NONE,
    retry_condition_fn=retry_transient,
    tags=["review"],
)
def decide(
    runtime: Runtime, decision: review.ReviewDecision, as_of: datetime, reviewer: str
) -> tuple[str, str | None]:
    """Apply one decision; return the gift's new status, or ``invalid`` and the error message.

    An invalid decision is returned rather than raised, so the flow can ask the reviewer again
    instead of failing with the remaining reviews undone.
    """
    try:
        status = review.apply_decision(
            runtime.engine, decision, catalog=runtime.catalog, as_of=as_of, reviewer=reviewer
        )
    except (review.InvalidReviewDecision, LedgerConflict) as error:
        get_run_logger().warning("gift %s: decision not applied: %s", decision.gift_id, error)
        return INVALID, str(error)
    return status, None


@task(
    name="preview-gifts",
    retries=1,
    retry_delay_seconds=5,
    cache_policy=NONE,
    retry_condition_fn=retry_transient,
    tags=["review"],
)
def preview(runtime: Runtime, as_of: datetime, horizon_days: int, limit: int) -> int:
    """Preview the next gifts without writing anything, and publish them as artifacts."""
    rows = preview_gifts(
        runtime.engine,
        runtime.program,
        runtime.catalog,
        runtime.notes,
        as_of=as_of,
        horizon_days=horizon_days,
        limit=limit,
    )
    if rows:
        create_table_artifact(
            key="gift-preview", table=preview_table(rows), description="Next gifts due"
        )
    create_markdown_artifact(
        key="gift-preview-notes",
        markdown=preview_markdown(rows, as_of=as_of, horizon_days=horizon_days),
        description="Notes of the next gifts due, as they would be printed",
    )
    get_run_logger().info("previewed %d gifts as of %s", len(rows), as_of)
    return len(rows)
