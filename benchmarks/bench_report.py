"""Measure the nightly cohort report on 1M accounts and 4M gifts against one aggregate scan.

Run ``python benchmarks/bench_report.py [--accounts N] [--database-url URL]``. It seeds N
accounts, each with one won contract, four gifts (one per stage), its outcomes (churn,
expansion, NPS, referrals), activities and support cases, with bulk inserts that are not timed.
Then it times, in a fresh child process, one ``build_report`` run (SQL base table, metrics,
bootstrap, data checks, storing the metric rows, CSV and HTML) and one aggregate scan that
counts and sums every table the report reads. It prints both times, their ratio and the child's
peak resident set size, with the machine it ran on. Targets: 60 s and 2 GiB per backend.

For a PostgreSQL URL the script creates the database in the URL (its name must contain
``report``, so it cannot clash with another database on the server) and drops it at the end.
Without a URL it uses a temporary SQLite file. With ``--reuse`` and a SQLite URL, a file that
an earlier run seeded with the same number of accounts is measured without seeding it again.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from gifting.cohorts import AnalysisOptions
from gifting.report import build_report
from gifting.warehouse import create_warehouse_engine, migrate

AS_OF = datetime(2026, 6, 1, 2, 0)
SIGNING_DAYS = 3 * 365  # signings spread over the three years before AS_OF
SEEDED_AT = datetime(2026, 6, 1)
STAGES = (("welcome", 0, 150.0), ("first_week", 7, 90.0), ("first_month", 30, 120.0))
STAGES += (("first_quarter", 90, 160.0),)
HOLDOUT_SHARE = 0.10
NO_ADDRESS_SHARE = 0.05
CHUNK = 100_000
SCANNED_TABLES = ("accounts", "contracts", "gifts", "outcomes", "activities", "cases")


def _ids(prefix: str, numbers: np.ndarray) -> list[str]:
    return [f"{prefix}{number:015d}" for number in numbers.tolist()]


def _account_chunk(generator: np.random.Generator, start: int, stop: int) -> dict[str, Any]:
    """Draw the accounts ``start`` to ``stop``: signing day, arm, churn and outcomes."""
    size = stop - start
    numbers = np.arange(start, stop)
    signed_offset = generator.integers(1, SIGNING_DAYS, size)
    holdout = generator.random(size) < HOLDOUT_SHARE
    no_address = generator.random(size) < NO_ADDRESS_SHARE
    # Gifted accounts churn a little less, so the report has an effect to find.
    hazard = np.where(holdout | no_address, 1 / 900, 1 / 1100)
    churn_day = np.floor(generator.exponential(1 / hazard))
    return {
        "numbers": numbers,
        "account_ids": _ids("001", numbers),
        "signed_on": [AS_OF.date() - timedelta(days=int(days)) for days in signed_offset],
        "follow_up": signed_offset,
        "holdout": holdout,
        "gifted": ~holdout & ~no_address,
        "churn_day": churn_day,
        "expansion_day": np.floor(generator.exponential(500, size)),
        "expansion_amount": np.round(generator.uniform(1_000, 20_000, size), 2),
        "nps": np.where(generator.random(size) < 0.4, generator.integers(0, 11, size), -1),
        "referrals": np.where(generator.random(size) < 0.1, generator.integers(1, 4, size), 0),
        "amount": np.round(generator.uniform(5_000, 80_000, size), 2),
        "activities": generator.poisson(3, size),
        "cases": generator.poisson(1, size),
    }


def _rows(chunk: dict[str, Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Turn one chunk of drawn accounts into rows of every seeded table."""
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in SCANNED_TABLES}
    for index, account_id in enumerate(chunk["account_ids"]):
        number = int(chunk["numbers"][index])
        signed_on: date = chunk["signed_on"][index]
        follow_up = int(chunk["follow_up"][index])
        churn_day = int(chunk["churn_day"][index])
        active_days = min(follow_up, churn_day)
        rows["accounts"].append(
            (account_id, f"Account {number}", bool(chunk["holdout"][index]), SEEDED_AT, SEEDED_AT)
        )
        contract_id = f"006{number:015d}"
        rows["contracts"].append(
            (contract_id, account_id, f"Deal {number}", float(chunk["amount"][index]), signed_on)
        )
        for stage_index, (stage, day, price) in enumerate(STAGES):
            due = datetime.combine(signed_on, datetime.min.time()) + timedelta(days=day, hours=9)
            sent = bool(chunk["gifted"][index]) and day <= active_days
            if sent:
                status = "delivered"
            elif day <= active_days:
                status = "skipped"
            else:
                status = "planned"
            rows["gifts"].append(
                (
                    f"{number:032d}{stage_index:04d}",
                    contract_id,
                    stage,
                    account_id,
                    status,
                    due,
                    due + timedelta(days=3),
                    price if sent else None,
                    due if sent else None,
                )
            )
        rows["outcomes"].extend(_outcome_rows(chunk, index, account_id, signed_on))
        for activity in range(int(chunk["activities"][index])):
            day = signed_on + timedelta(days=(activity * 37) % max(active_days, 1))
            kind = ("email", "call", "meeting", "qbr")[activity % 4]
            rows["activities"].append(
                (
                    f"00T{number:012d}{activity:03d}",
                    account_id,
                    kind,
                    datetime.combine(day, datetime.min.time()),
                )
            )
        for case in range(int(chunk["cases"][index])):
            opened = signed_on + timedelta(days=(case * 53) % max(active_days, 1))
            rows["cases"].append(
                (
                    f"500{number:012d}{case:03d}",
                    account_id,
                    datetime.combine(opened, datetime.min.time()),
                )
            )
    return rows


def _outcome_rows(
    chunk: dict[str, Any], index: int, account_id: str, signed_on: date
) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    churn_day = int(chunk["churn_day"][index])
    if churn_day <= int(chunk["follow_up"][index]):
        churned_on = signed_on + timedelta(days=churn_day)
        rows.append((f"churn:{account_id}", account_id, "churn", churned_on, None, None))
    expansion_day = int(chunk["expansion_day"][index])
    if expansion_day <= min(churn_day, int(chunk["follow_up"][index])):
        expanded_on = signed_on + timedelta(days=expansion_day)
        amount = float(chunk["expansion_amount"][index])
        rows.append((f"expansion:{account_id}", account_id, "expansion", expanded_on, amount, None))
    nps = int(chunk["nps"][index])
    if nps >= 0:
        rows.append((f"nps:{account_id}", account_id, "nps", None, None, float(nps)))
    referrals = int(chunk["referrals"][index])
    if referrals:
        rows.append(
            (f"referral:{account_id}", account_id, "referral", None, None, float(referrals))
        )
    return rows


# Per table: the columns each drawn row fills, then the columns every row shares.
INSERTS: dict[str, tuple[list[str], dict[str, Any]]] = {
    "accounts": (
        ["id", "name", "holdout", "system_modstamp", "synced_at"],
        {"is_strategic": False, "is_deleted": False},
    ),
    "contracts": (
        ["id", "account_id", "name", "amount", "signed_on"],
        {
            "status": "won",
            "first_seen_at": SEEDED_AT,
            "system_modstamp": SEEDED_AT,
            "synced_at": SEEDED_AT,
        },
    ),
    "gifts": (
        [
            "id",
            "contract_id",
            "stage",
            "account_id",
            "status",
            "due_at",
            "window_ends_at",
            "price",
            "sent_at",
        ],
        {
            "budget_min": 50,
            "budget_max": 250,
            "currency": "USD",
            "attempts": 0,
            "created_at": SEEDED_AT,
            "updated_at": SEEDED_AT,
        },
    ),
    "outcomes": (
        ["id", "account_id", "kind", "occurred_on", "amount", "score"],
        {"synced_at": SEEDED_AT},
    ),
    "activities": (
        ["id", "account_id", "kind", "occurred_at"],
        {"is_deleted": False, "system_modstamp": SEEDED_AT},
    ),
    "cases": (
        ["id", "account_id", "opened_at"],
        {"is_closed": True, "is_deleted": False, "system_modstamp": SEEDED_AT},
    ),
}


def seed(engine: Engine, accounts: int) -> dict[str, int]:
    """Insert ``accounts`` accounts and their rows in chunks of 100,000 accounts.

    PostgreSQL gets ``COPY … FROM STDIN`` and SQLite one ``executemany`` per table and chunk,
    the fastest bulk insert each driver offers.
    """
    generator = np.random.default_rng(2026)
    counts = dict.fromkeys(SCANNED_TABLES, 0)
    connection = engine.raw_connection()
    try:
        for start in range(0, accounts, CHUNK):
            rows = _rows(_account_chunk(generator, start, min(start + CHUNK, accounts)))
            cursor = connection.cursor()
            for table in SCANNED_TABLES:
                drawn, shared = INSERTS[table]
                columns = ", ".join([*drawn, *shared])
                constants = tuple(shared.values())
                if engine.dialect.name == "postgresql":
                    with cursor.copy(f"copy {table} ({columns}) from stdin") as copy:
                        for row in rows[table]:
                            copy.write_row(row + constants)
                else:
                    marks = ", ".join("?" * (len(drawn) + len(shared)))
                    cursor.executemany(
                        f"insert into {table} ({columns}) values ({marks})",
                        [row + constants for row in rows[table]],
                    )
                counts[table] += len(rows[table])
            connection.commit()
            cursor.close()
    finally:
        connection.close()
    # Fresh planner statistics, as a warehouse that autovacuum or a nightly ANALYZE keeps.
    with engine.begin() as session:
        session.execute(text("analyze"))
    return counts


def _seeded_accounts(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(text("select count(*) from accounts")) or 0)


def _table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table: int(connection.scalar(text(f"select count(*) from {table}")) or 0)
            for table in SCANNED_TABLES
        }


def aggregate_scan(engine: Engine) -> None:
    """Count the rows of every table the report reads, summing one column each."""
    with engine.connect() as connection:
        connection.execute(text("select count(*), count(holdout) from accounts")).all()
        connection.execute(text("select count(*), sum(amount) from contracts")).all()
        connection.execute(text("select count(*), sum(price) from gifts")).all()
        connection.execute(text("select count(*), sum(score) from outcomes")).all()
        connection.execute(text("select count(*), count(occurred_at) from activities")).all()
        connection.execute(text("select count(*), count(opened_at) from cases")).all()


def _measure(url: str, output_dir: str, queue: Any) -> None:
    """Time the report and the aggregate scan in this (child) process and report peak RSS."""
    engine = create_warehouse_engine(url)
    aggregate_scan(engine)  # warm the cache the same way for both timings
    started = time.perf_counter()
    aggregate_scan(engine)
    scan_seconds = time.perf_counter() - started
    started, cpu_started = time.perf_counter(), time.process_time()
    result = build_report(
        engine, AS_OF, Path(output_dir), options=AnalysisOptions(holdout_share=HOLDOUT_SHARE)
    )
    report_seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    engine.dispose()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    arms = dict(result.summary["accounts"])
    queue.put((scan_seconds, report_seconds, cpu_seconds, peak_mib, arms))


@contextmanager
def warehouse(url: str | None) -> Iterator[str]:
    """Yield the URL of an empty warehouse database, dropped or deleted at the end."""
    if url is None:
        with tempfile.TemporaryDirectory(prefix="bench_report_") as directory:
            yield f"sqlite:///{Path(directory) / 'report.db'}"
        return
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        yield url
        return
    if "report" not in (parsed.database or ""):
        raise SystemExit(f"database name {parsed.database!r} must contain 'report'")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    # NOTE: the database is dropped at the end, so --reuse only helps on SQLite files.
    try:
        yield parsed.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        admin.dispose()


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000, help="accounts to seed")
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy URL of the warehouse (default: a temporary SQLite file)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="skip seeding when the warehouse at --database-url already holds exactly "
        "--accounts accounts from an earlier run of this script",
    )
    arguments = parser.parse_args(argv)
    if arguments.reuse and arguments.database_url is None:
        parser.error("--reuse needs --database-url, because the default warehouse is temporary")

    with warehouse(arguments.database_url) as url, tempfile.TemporaryDirectory() as output:
        engine = create_warehouse_engine(url)
        migrate(engine)
        started = time.perf_counter()
        if arguments.reuse and _seeded_accounts(engine) == arguments.accounts:
            counts = _table_counts(engine)
        else:
            counts = seed(engine, arguments.accounts)
        seed_seconds = time.perf_counter() - started
        backend = engine.dialect.name
        engine.dispose()

        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        child = context.Process(target=_measure, args=(url, output, queue))
        child.start()
        scan_seconds, report_seconds, cpu_seconds, peak_mib, arms = queue.get()
        child.join()

    print(f"database: {backend}, rows: {counts}, seeded in {seed_seconds:.1f} s (not timed)")
    print(f"accounts by arm: {arms}")
    print(f"aggregate scan: {scan_seconds:.2f} s")
    print(f"build_report: {report_seconds:.2f} s wall (target <= 60 s), {cpu_seconds:.2f} s CPU")
    print("  (CPU time of the report process; the database server's time is not in it)")
    print(f"ratio build_report / aggregate scan: {report_seconds / scan_seconds:.1f}")
    print(f"peak RSS of the report process: {peak_mib:,.0f} MiB (target <= 2,048 MiB)")
    print("load average (1, 5, 15 min): {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg()))
    print(f"machine: {platform.machine()} {_cpu_model()}, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
