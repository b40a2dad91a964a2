"""Measure ``plan_gifts`` on N won contracts against a plain bulk insert of the same gift rows.

Run ``python benchmarks/bench_planning.py [--contracts N] [--database-url URL]``. It seeds N
accounts, contacts and won contracts with bulk inserts (not timed), then times one backfill
``plan_gifts`` run, which writes four gifts per contract and one ``gift_events`` row per gift.
The baseline inserts the same gift and event rows in batches into a second, freshly migrated
warehouse with the same seed. It prints both times, their ratio, gifts per second and the peak
resident set size, with the machine it ran on.

For a PostgreSQL URL the script creates the database in the URL and a sibling database with the
suffix ``_baseline``, and drops both at the end. Without a URL it uses temporary SQLite files.
"""

from __future__ import annotations

import argparse
import platform
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, insert, select, text
from sqlalchemy.engine import URL, make_url

from gifting.config import load_program
from gifting.planning.milestones import ACTOR, plan_gifts
from gifting.sandbox.org import id_checksum
from gifting.settings import PROJECT_ROOT
from gifting.warehouse import create_warehouse_engine, migrate
from gifting.warehouse.schema import Account, Contact, Contract, Gift, GiftEvent

AS_OF = datetime(2026, 6, 1, 12, 0)
FIRST_SIGNING = date(2025, 6, 1)  # signings spread over the year before AS_OF
SEEDED_AT = datetime(2026, 6, 1)
# (time zone, country, state) of the recipients, used in turn, so several calendars are loaded.
RECIPIENTS = [
    ("America/Chicago", "US", "TX"),
    ("America/New_York", "US", "NY"),
    ("Europe/London", "GB", "England"),
    ("Europe/Berlin", "DE", "BY"),
    ("Asia/Tokyo", "JP", None),
    ("Asia/Kolkata", "IN", None),
    (None, "AU", "NSW"),
    (None, "CA", "BC"),
]
GIFT_COLUMNS = [column.key for column in Gift.__table__.columns]


def _id(prefix: str, number: int) -> str:
    id15 = f"{prefix}{number:012d}"
    return id15 + id_checksum(id15)


def _seed_rows(start: int, stop: int) -> tuple[list[dict[str, Any]], ...]:
    """Return account, contact and contract rows for contract numbers ``start`` to ``stop``."""
    stamps = {"system_modstamp": SEEDED_AT, "synced_at": SEEDED_AT}
    accounts, contacts, contracts = [], [], []
    for number in range(start, stop):
        time_zone, country, state = RECIPIENTS[number % len(RECIPIENTS)]
        account_id, contact_id = _id("001", number), _id("003", number)
        accounts.append(
            {
                "id": account_id,
                "name": f"Account {number}",
                "industry": "Technology",
                "country": country,
                "state": state,
                **stamps,
            }
        )
        contacts.append(
            {
                "id": contact_id,
                "account_id": account_id,
                "last_name": f"L{number}",
                "street": "1 Main St",
                "time_zone": time_zone,
                "country": country,
                "state": state,
                "gift_opt_out": False,
                **stamps,
            }
        )
        contracts.append(
            {
                "id": _id("006", number),
                "account_id": account_id,
                "contact_id": contact_id,
                "name": f"Deal {number}",
                "signed_on": FIRST_SIGNING + timedelta(days=number % 365),
                "status": "won",
                "amount": 50000,
                "first_seen_at": SEEDED_AT,
                **stamps,
            }
        )
    return accounts, contacts, contracts


def seed(engine: Engine, contracts: int, batch_size: int) -> None:
    """Insert ``contracts`` accounts, contacts and won contracts in batches."""
    for start in range(0, contracts, batch_size):
        accounts, contacts, deals = _seed_rows(start, min(start + batch_size, contracts))
        with engine.begin() as connection:
            connection.execute(insert(Account), accounts)
            connection.execute(insert(Contact), contacts)
            connection.execute(insert(Contract), deals)


def insert_gifts(engine: Engine, gifts: list[dict[str, Any]], batch_size: int) -> None:
    """Insert gift rows and one creation event each, as the ledger does, in batches."""
    for start in range(0, len(gifts), batch_size):
        batch = gifts[start : start + batch_size]
        events = [
            {
                "gift_id": gift["id"],
                "occurred_at": AS_OF,
                "from_status": None,
                "to_status": gift["status"],
                "actor": ACTOR,
                "reason": gift["reason"],
            }
            for gift in batch
        ]
        with engine.begin() as connection:
            connection.execute(insert(Gift), batch)
            connection.execute(insert(GiftEvent), events)


@contextmanager
def warehouses(url: str | None) -> Iterator[tuple[str, str]]:
    """Yield URLs of an empty planning database and an empty baseline database."""
    if url is None:
        with tempfile.TemporaryDirectory(prefix="bench_planning_") as directory:
            folder = Path(directory)
            yield f"sqlite:///{folder / 'planning.db'}", f"sqlite:///{folder / 'baseline.db'}"
        return
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        yield url, _render(parsed.set(database=f"{parsed.database}.baseline"))
        return
    baseline = parsed.set(database=f"{parsed.database}_baseline")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    names = [parsed.database, baseline.database]
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield _render(parsed), _render(baseline)
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _server(engine: Engine) -> str:
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            return str(connection.scalar(text("SHOW server_version")))
        return str(connection.scalar(text("SELECT sqlite_version()")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=100_000, help="won contracts to plan")
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy URL of the planning database (default: a temporary SQLite file)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=10_000, help="rows per insert statement when seeding"
    )
    arguments = parser.parse_args()
    program = load_program(PROJECT_ROOT / "config")

    with warehouses(arguments.database_url) as (planning_url, baseline_url):
        planning = create_warehouse_engine(planning_url)
        baseline = create_warehouse_engine(baseline_url)
        for engine in (planning, baseline):
            migrate(engine)
            seed(engine, arguments.contracts, arguments.batch_size)

        started = time.perf_counter()
        result = plan_gifts(planning, program, as_of=AS_OF, backfill=True)
        planning_seconds = time.perf_counter() - started
        planning_rss = _peak_rss_mib()

        with planning.connect() as connection:
            gifts = [dict(row._mapping) for row in connection.execute(select(Gift))]
        started = time.perf_counter()
        insert_gifts(baseline, gifts, arguments.batch_size)
        baseline_seconds = time.perf_counter() - started

        statuses: Counter[str] = Counter()
        for (_, status, reason), count in result.created.items():
            statuses[f"{status} {reason}".strip()] += count
        server = f"{planning.dialect.name} {_server(planning)}"
        planning.dispose()
        baseline.dispose()

    print(f"database: {server}, contracts: {arguments.contracts:,}, gifts: {len(gifts):,}")
    print(f"gifts by status: {dict(sorted(statuses.items()))}")
    print(f"plan_gifts: {planning_seconds:.2f} s, {len(gifts) / planning_seconds:,.0f} gifts/s")
    print(
        f"baseline bulk insert (batches of {arguments.batch_size:,}): {baseline_seconds:.2f} s, "
        f"{len(gifts) / baseline_seconds:,.0f} gifts/s"
    )
    print(f"ratio plan_gifts / baseline: {planning_seconds / baseline_seconds:.2f} (target <= 2)")
    print(
        f"peak RSS: {planning_rss:,.0f} MiB after planning, {_peak_rss_mib():,.0f} MiB at the end"
    )
    print(f"machine: {platform.machine()} {_cpu_model()}, python {platform.python_version()}")


if __name__ == "__main__":
    main()
