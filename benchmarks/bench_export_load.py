"""Measure how fast ``gifting sandbox load`` reads an export, and how much memory it needs.

The script writes the sample org as a Data Export would: one quoted CSV file per object, UTF-8,
``true``/``false`` and UTC datetimes with a ``Z``. It then times the three steps of the command.
They read and check the files, save the loaded org under the home, and read it back as a sandbox
start does.

Example::

    .venv/bin/python benchmarks/bench_export_load.py --accounts 3000
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from gifting.salesforce.config import FieldMapping
from gifting.sandbox.export_load import load_export
from gifting.sandbox.org_file import read_saved_org, save_org
from gifting.sandbox.sample_org import SampleOrgSpec, iter_sample_records

AS_OF = datetime(2026, 11, 30, 18, tzinfo=UTC)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=3000, help="number of Accounts")
    return parser.parse_args(argv)


def cell(value: Any) -> str:
    """Format a value as Data Export writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def write_export(directory: Path, accounts: int) -> int:
    """Write the sample org as one CSV file per object and return the number of records."""
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sobject, fields in iter_sample_records(SampleOrgSpec(accounts=accounts, as_of=AS_OF)):
        records[sobject].append(fields)
    for sobject, rows in records.items():
        header = list(dict.fromkeys(name for row in rows for name in row))
        with (directory / f"{sobject}.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
            writer.writerow(header)
            writer.writerows([cell(row.get(name)) for name in header] for row in rows)
    return sum(len(rows) for rows in records.values())


def main(argv: list[str]) -> None:
    arguments = parse_arguments(argv)
    with tempfile.TemporaryDirectory(prefix="bench_export_") as temporary:
        export = Path(temporary) / "export"
        home = Path(temporary) / "home"
        export.mkdir()
        total = write_export(export, arguments.accounts)
        size = sum(path.stat().st_size for path in export.iterdir())

        started = time.perf_counter()
        result = load_export(export, FieldMapping(), now=AS_OF)
        loaded = time.perf_counter()
        path = save_org(result.store, home, source=export, saved_at=AS_OF)
        saved = time.perf_counter()
        read_saved_org(home)
        read = time.perf_counter()

        records = sum(counts.loaded for counts in result.counts.values())
        print(f"export: {arguments.accounts} accounts, {total} records, {size / 2**20:.1f} MiB CSV")
        print(f"load and check: {loaded - started:.2f} s, {records} records loaded")
        print(f"save: {saved - loaded:.2f} s, {path.stat().st_size / 2**20:.1f} MiB JSON")
        print(f"read back at sandbox start: {read - saved:.2f} s")
        print(f"problems reported: {len(result.problems)}")
    # On Linux ru_maxrss is in KiB.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (RSS): {peak:.0f} MiB")


if __name__ == "__main__":
    main(sys.argv[1:])
