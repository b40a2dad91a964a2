"""Time the Salesforce sync against a bare simple-salesforce read, and measure its peak memory.

The org is a ``GeneratedOrgStore``: N accounts, each with one contact and one won opportunity,
computed on read so the sandbox serves a million of each in constant memory. The sandbox runs in
its own process, and so does every measured step, so each peak RSS belongs to that step alone.

Steps, each against a freshly started sandbox:

* ``baseline``: ``Salesforce.query_all_iter`` over the sync's own three queries (Account, Contact,
  Opportunity, ``queryAll``), counting records and nothing else.
* ``sync``: ``sync_objects``, the loop ``sync_org`` runs, for the same three objects into a fresh
  warehouse, with the shipped ``config/salesforce.yaml`` (above ``bulk_threshold`` that reads
  through Bulk API 2.0 jobs, each started while the object before it is read).
* ``sync-rest``: the same with ``bulk_threshold`` set to null, so it reads REST pages.

Example::

    .venv/bin/python benchmarks/bench_sync.py --opportunities 100000
    .venv/bin/python benchmarks/bench_sync.py --opportunities 1000000 --steps sync
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

OBJECTS = ("Account", "Contact", "Opportunity")
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", nargs="?", default="run", choices=["run", "serve", "step"])
    parser.add_argument(
        "--opportunities", type=int, default=100_000, help="won opportunities, one per account"
    )
    parser.add_argument(
        "--steps",
        default="baseline,sync,sync-rest",
        help="comma-separated steps to run: baseline, sync, sync-rest",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="warehouse URL; default a new SQLite file per step (PostgreSQL must be empty)",
    )
    parser.add_argument("--step", default="sync", help="step run by the step role")
    parser.add_argument("--connection", default="", help="sandbox connection JSON (step role)")
    return parser.parse_args(argv)


# --- the sandbox process ---------------------------------------------------------------------


def serve(opportunities: int) -> None:
    """Serve a generated org until standard input closes; print the connection first."""
    from gifting.sandbox.generated_org import GeneratedOrgStore
    from gifting.sandbox.launch import SANDBOX_CREDENTIALS
    from gifting.sandbox.salesforce_server import SalesforceSandbox

    store = GeneratedOrgStore(opportunities)
    with (
        tempfile.TemporaryDirectory(prefix="bench-sync-") as directory,
        SalesforceSandbox(
            store, cert_dir=Path(directory), api_request_limit=10_000_000, **SANDBOX_CREDENTIALS
        ) as sandbox,
    ):
        connection = {"login_url": sandbox.login_url, "ca_bundle": str(sandbox.ca_pem_path)}
        print(json.dumps(connection), flush=True)
        sys.stdin.read()


# --- measured steps, each in its own process -------------------------------------------------


def run_step(step: str, connection: dict[str, str], database_url: str | None) -> dict[str, Any]:
    from gifting.salesforce.client import SalesforceCredentials, connect
    from gifting.sandbox.launch import SANDBOX_CREDENTIALS

    credentials = SalesforceCredentials(
        login_url=connection["login_url"],
        ca_bundle=Path(connection["ca_bundle"]),
        timeout_s=600.0,
        **SANDBOX_CREDENTIALS,
    )
    client = connect(credentials) if step == "baseline" else None
    cpu_before = time.process_time()
    if client is not None:
        records, seconds = read_bare(client)
    else:
        records, seconds = sync(credentials, database_url, bulk=step == "sync")
    # CPU seconds of this process, all threads; on a shared machine they vary less than time.
    # The sync's include its warehouse migration, about a second.
    cpu_s = time.process_time() - cpu_before
    # On Linux ru_maxrss is in KiB.
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "step": step,
        "records": records,
        "seconds": seconds,
        "cpu_s": cpu_s,
        "peak_rss_mib": peak_mib,
    }


def read_bare(client: Any) -> tuple[int, float]:
    """Count the records of the sync's queries; return the count and the seconds it took."""
    from gifting.salesforce.sync import build_incremental_query

    queries = [build_incremental_query(sobject, None) for sobject in OBJECTS]
    started = time.perf_counter()
    records = 0
    for soql in queries:
        for _record in client.query_all_iter(soql, include_deleted=True):
            records += 1
    return records, time.perf_counter() - started


def sync(credentials: Any, database_url: str | None, *, bulk: bool) -> tuple[int, float]:
    """Sync the three objects into a new warehouse; time the sync, not the migration."""
    from gifting.salesforce.session import SalesforceSession
    from gifting.salesforce.sync import default_field_mapping, sync_objects
    from gifting.warehouse.engine import create_warehouse_engine, migrate

    fields = default_field_mapping()
    if not bulk:
        sync_options = fields.sync.model_copy(update={"bulk_threshold": None})
        fields = fields.model_copy(update={"sync": sync_options})
    with tempfile.TemporaryDirectory(prefix="bench-sync-db-") as directory:
        engine = create_warehouse_engine(database_url or f"sqlite:///{directory}/warehouse.db")
        migrate(engine)
        session = SalesforceSession.login(credentials, options=fields.sync)
        started = time.perf_counter()
        seen = 0
        for _sobject, result in sync_objects(
            session, engine, OBJECTS, now=NOW, field_mapping=fields
        ):
            seen += result.seen
        seconds = time.perf_counter() - started
        engine.dispose()
    return seen, seconds


# --- orchestration ---------------------------------------------------------------------------


def start_sandbox(opportunities: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, __file__, "serve", "--opportunities", str(opportunities)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError("the sandbox process exited before printing its connection")
    return process, json.loads(line)


def measure(step: str, opportunities: int, database_url: str | None) -> dict[str, Any]:
    sandbox, connection = start_sandbox(opportunities)
    try:
        command = [sys.executable, __file__, "step", "--step", step]
        command += ["--connection", json.dumps(connection)]
        if database_url:
            command += ["--database-url", database_url]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        return dict(json.loads(output.strip().splitlines()[-1]))
    finally:
        assert sandbox.stdin is not None
        sandbox.stdin.close()
        sandbox.wait(timeout=60)


def main(argv: list[str]) -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    arguments = parse_arguments(argv)
    if arguments.role == "serve":
        serve(arguments.opportunities)
        return
    if arguments.role == "step":
        connection = json.loads(arguments.connection)
        print(json.dumps(run_step(arguments.step, connection, arguments.database_url)))
        return

    print(f"opportunities={arguments.opportunities:,} load_before={os.getloadavg()}")
    figures: dict[str, dict[str, Any]] = {}
    for step in arguments.steps.split(","):
        figures[step] = measure(step, arguments.opportunities, arguments.database_url)
        figure = figures[step]
        print(
            f"{step:<10} records={figure['records']:,} seconds={figure['seconds']:.2f} "
            f"cpu_s={figure['cpu_s']:.2f} "
            f"records_per_second={figure['records'] / figure['seconds']:,.0f} "
            f"peak_rss_mib={figure['peak_rss_mib']:.1f} load={os.getloadavg()}",
            flush=True,
        )
    if "baseline" in figures:
        for step in ("sync", "sync-rest"):
            if step in figures:
                ratio = figures[step]["seconds"] / figures["baseline"]["seconds"]
                print(f"ratio {step}/baseline = {ratio:.2f} (target at most 1.5)")


if __name__ == "__main__":
    main(sys.argv[1:])
