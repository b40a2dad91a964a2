"""Deployment ``pipeline``: sync, plan, dispatch, track and report in one run.

With ``replay_from`` set, planning and dispatch step through every day from that date to
``as_of``, each with that day's ``as_of``, so the ledger contains gifts planned and sent at the
moment they were due. The demo uses this to replay the sample org's two years of history.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated

from prefect import flow, get_run_logger
from pydantic import Field

from flows.runtime import open_runtime, resolve_as_of
from gifting import progress
from gifting.summary import ledger_summary
from tasks.cancellation import cancel_orders
from tasks.dispatch import dispatch_due, track
from tasks.planning import personalize, plan
from tasks.replay import replay_days
from tasks.report import cohort_report
from tasks.sync import sync_salesforce


def replay_moments(replay_from: date, until: datetime, step_days: int) -> list[datetime]:
    """Return the end of each replayed day, then ``until`` itself."""
    moments, day = [], replay_from
    while day < until.date():
        moments.append(datetime.combine(day, time(23, 59, 59)))
        day += timedelta(days=step_days)
    return [*moments, until]


def group_by_month(moments: list[datetime]) -> list[list[datetime]]:
    """Split moments into calendar months, one replay task each."""
    months: dict[tuple[int, int], list[datetime]] = {}
    for moment in moments:
        months.setdefault((moment.year, moment.month), []).append(moment)
    return list(months.values())


@flow(name="pipeline")
def pipeline(
    as_of: datetime | None = None,
    replay_from: date | None = None,
    replay_step_days: Annotated[
        int, Field(ge=1, le=31, description="Days between replayed runs")
    ] = 1,
    backfill: bool = False,
    write_back: bool = True,
) -> dict[str, object]:
    """Run the whole program once: sync, plan, dispatch, track deliveries and report."""
    moment = resolve_as_of(as_of)
    logger = get_run_logger()
    with open_runtime() as runtime:
        synced = sync_salesforce(runtime, moment)
        if replay_from is not None:
            moments = replay_moments(replay_from, moment, replay_step_days)
            logger.info("replaying %d moments from %s to %s", len(moments), replay_from, moment)
            progress.start("replay", total=len(moments) - 1)
            for month in group_by_month(moments[:-1]):
                replay_days(runtime, month, backfill, write_back)
            progress.finish("replay")
        plan(runtime, moment, backfill)
        personalize(runtime, moment)
        dispatch_due(runtime, moment, backfill, 500, write_back)
        cancel_orders(runtime, moment)
        track(runtime, moment, write_back)
        report = cohort_report(runtime, moment)
        return {
            "synced": synced,
            "ledger": ledger_summary(
                runtime.engine, [stage.name for stage in runtime.program.stages]
            ),
            "report": report,
        }
