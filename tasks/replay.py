"""Task that replays the program over a stretch of past days."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from gifting import progress
from gifting.program import run_step
from gifting.runtime import Runtime
from tasks.policy import retry_transient


@task(
    name="replay-days",
    retries=1,
    retry_delay_seconds=10,
    cache_policy=NONE,
    retry_condition_fn=retry_transient,
    tags=["replay"],
)
def replay_days(
    runtime: Runtime, moments: list[datetime], backfill: bool = False, write_back: bool = True
) -> dict[str, int]:
    """Plan, personalize and dispatch at each moment in turn, as the schedule would have.

    One task covers many days, so Prefect's per-task overhead does not grow with the length of
    the history. Every step is idempotent, so a retry repeats nothing that already happened.
    """
    outcome: Counter[str] = Counter()
    for moment in moments:
        outcome.update(run_step(runtime, moment, backfill=backfill, write_back=write_back))
        progress.advance("replay", detail=f"{moment:%Y-%m-%d}")
    get_run_logger().info("replayed %s to %s: %s", moments[0], moments[-1], dict(outcome))
    return dict(outcome)
