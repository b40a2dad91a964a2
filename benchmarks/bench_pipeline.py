"""Time the program's core steps on a sample org: sync, plan, personalize, dispatch, report.

Runs the same functions the Prefect tasks call, without Prefect, against both sandboxes over
loopback HTTP and a SQLite (default) or PostgreSQL warehouse, replaying the org's history day by
day. Prints one line per step with its wall time and throughput.

    .venv/bin/python benchmarks/bench_pipeline.py --accounts 300
    .venv/bin/python benchmarks/bench_pipeline.py --accounts 2000 --database-url postgresql+psycopg://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gifting.config import load_catalog
from gifting.dispatch import dispatch_due_gifts, track_deliveries
from gifting.personalization.prepare import personalize_gifts
from gifting.planning.milestones import plan_gifts
from gifting.report import build_report
from gifting.runtime import Runtime, load_settings
from gifting.salesforce.sync import sync_org
from gifting.sandbox.launch import running_sandboxes
from gifting.settings import PROJECT_ROOT


def _report(step: str, seconds: float, items: int, unit: str) -> None:
    rate = items / seconds if seconds else float("inf")
    print(f"{step:<22} {seconds:8.2f} s  {items:>8} {unit:<10} {rate:10.0f} {unit}/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=300, help="accounts in the sample org")
    parser.add_argument("--days", type=int, default=730, help="days of history to replay")
    parser.add_argument("--database-url", default=None, help="warehouse URL (default: SQLite)")
    arguments = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="gifting-bench-"))
    os.environ["GIFTING_HOME"] = str(home)
    if arguments.database_url:
        os.environ["GIFTING_DATABASE_URL"] = arguments.database_url
    now = datetime.now(UTC)
    catalog = load_catalog(PROJECT_ROOT / "config")
    started = time.perf_counter()
    with running_sandboxes(home, catalog, now=now, accounts=arguments.accounts) as (
        connection,
        _,
        vendor,
    ):
        _report(
            "generate + serve org", time.perf_counter() - started, arguments.accounts, "accounts"
        )
        os.environ.update(connection.as_environment())
        runtime = Runtime(load_settings())
        runtime.validate()
        as_of = now.replace(tzinfo=None)

        started = time.perf_counter()
        synced = sync_org(runtime.salesforce, runtime.engine, now=now)
        records = sum(result.seen for result in synced.objects.values())
        _report("sync", time.perf_counter() - started, records, "records")

        totals: Counter[str] = Counter()
        spent = {"plan": 0.0, "personalize": 0.0, "dispatch": 0.0}
        day = (now - timedelta(days=arguments.days)).date()
        while day <= as_of.date():
            moment = min(datetime.combine(day, datetime.max.time()), as_of)
            clock = time.perf_counter()
            planned = plan_gifts(runtime.engine, runtime.program, as_of=moment)
            totals["gifts created"] += sum(planned.created.values())
            spent["plan"] += time.perf_counter() - clock
            clock = time.perf_counter()
            totals.update(
                personalize_gifts(
                    runtime.engine, runtime.program, runtime.catalog, runtime.notes, as_of=moment
                )
            )
            spent["personalize"] += time.perf_counter() - clock
            clock = time.perf_counter()
            totals.update(
                dispatch_due_gifts(runtime.engine, runtime.vendor, runtime.item_kinds, as_of=moment)
            )
            spent["dispatch"] += time.perf_counter() - clock
            day += timedelta(days=1)
        _report("plan (replayed days)", spent["plan"], totals["gifts created"], "gifts")
        _report("personalize", spent["personalize"], totals["personalized"], "gifts")
        _report("dispatch", spent["dispatch"], totals["sent"], "orders")

        started = time.perf_counter()
        tracked = track_deliveries(runtime.engine, runtime.vendor, as_of=as_of)
        _report("track deliveries", time.perf_counter() - started, sum(tracked.values()), "orders")

        started = time.perf_counter()
        build_report(runtime.engine, as_of, home / "reports")
        _report("cohort report", time.perf_counter() - started, arguments.accounts, "accounts")
        print(f"vendor orders: {vendor.order_count}")
        runtime.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MiB; warehouse: {runtime.settings.warehouse_url}")


if __name__ == "__main__":
    main()
