"""The deploy walkthrough of the README, automated: server, work pool, deploy, worker, runs.

Run it from the project root with ``python -m tests.deploy_walkthrough``; the e2e suite runs it
the same way. It starts a Prefect server on its own PostgreSQL database (named with ``ops``),
creates the ``gifting-process`` work pool, runs ``prefect deploy --all`` and starts a worker.
Then it runs the ``dispatch-gifts`` deployment while the vendor sandbox fails one gift, and the
``resend-failed`` deployment with the parameters its form sends, and checks that the gift was
ordered and delivered exactly once. It stops every process it started and drops the database.
Set ``GIFTING_TEST_POSTGRES_URL`` to use another PostgreSQL server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select, text

from gifting.settings import PROJECT_ROOT

POSTGRES_ADMIN_URL = os.environ.get(
    "GIFTING_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BIN = Path(sys.executable).parent
IDLE_SERVICES = (
    "SCHEDULER",
    "CANCELLATION_CLEANUP",
    "DB_VACUUM",
    "EVENT_PERSISTER",
    "FOREMAN",
    "LATE_RUNS",
    "PAUSE_EXPIRATIONS",
    "REPOSSESSOR",
    "CLEANUP_RECONCILER",
    "TASK_RUN_RECORDER",
    "TRIGGERS",
)
# The vendor client tries each order this many times before it records vendor_unavailable.
VENDOR_ATTEMPTS = 4


def step(message: str, started: float) -> None:
    print(f"[{time.monotonic() - started:5.1f} s] {message}", flush=True)


@contextmanager
def prefect_database() -> Iterator[str]:
    """Create a PostgreSQL database for the Prefect server and drop it afterwards."""
    name = f"gifting_ops_walkthrough_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("+psycopg", "+asyncpg")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def background(command: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    """Run a command in its own process group and stop the whole group when the block ends."""
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=PROJECT_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def prefect(env: dict[str, str], *arguments: str) -> None:
    subprocess.run(
        [str(BIN / "prefect"), "--no-prompt", *arguments],
        env=env,
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )


def wait_for_server(api_url: str, log: Path, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"Prefect server did not answer in {timeout_s} s; see {log}")


def environment(work: Path, api_url: str, database_url: str) -> dict[str, str]:
    """Return the environment of the server, the worker and this script's Prefect client."""
    return {
        **os.environ,
        "PREFECT_HOME": str(work / "prefect"),
        "PREFECT_API_URL": api_url,
        "PREFECT_API_DATABASE_CONNECTION_URL": database_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        # Scheduled runs would start on their own during the walkthrough, which starts its own
        # runs. The other background services are off to leave the CPU to the runs.
        **{f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false" for name in IDLE_SERVICES},
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "GIFTING_HOME": str(work / "home"),
        "GIFTING_DATABASE_URL": f"sqlite:///{work / 'warehouse.db'}",
        "GIFTING_PROJECT_DIR": str(PROJECT_ROOT),
        # One vendor call at a time, so the injected faults hit every try of one gift.
        "GIFTING_VENDOR_CONCURRENCY": "1",
    }


def prepare_warehouse(now: datetime) -> None:
    """Sync the sandbox org and plan its gifts, so that the dispatch run has gifts to send."""
    from gifting.personalization.prepare import personalize_gifts
    from gifting.planning.milestones import plan_gifts
    from gifting.runtime import Runtime, load_settings
    from gifting.salesforce.sync import sync_org

    runtime = Runtime(load_settings())
    try:
        as_of = now.replace(tzinfo=None)
        sync_org(runtime.salesforce_session, runtime.engine, now=now)
        plan_gifts(runtime.engine, runtime.program, as_of=as_of, backfill=True)
        personalize_gifts(
            runtime.engine, runtime.program, runtime.catalog, runtime.notes, as_of=as_of
        )
    finally:
        runtime.close()


def run(deployment: str, parameters: dict[str, object]) -> str:
    """Run a deployment through the worker and wait; raise unless it completed.

    The flows do not persist their results, so the outcome is read from the ledger instead.
    """
    from prefect.deployments import run_deployment

    flow_run = run_deployment(deployment, parameters=parameters, timeout=120, poll_interval=1)
    if flow_run.state is None or not flow_run.state.is_completed():
        raise RuntimeError(f"{deployment} ended {flow_run.state!r}")
    return flow_run.name


def track_deliveries(now: datetime) -> None:
    """Record the vendor's delivery status, as the track-deliveries deployment does."""
    from gifting.dispatch import track_deliveries as track
    from gifting.runtime import Runtime, load_settings

    runtime = Runtime(load_settings())
    try:
        track(runtime.engine, runtime.vendor, as_of=now.replace(tzinfo=None))
    finally:
        runtime.close()


def ledger_row(gift_id: str) -> tuple[str, str | None, str | None]:
    from gifting.runtime import load_settings
    from gifting.warehouse import create_warehouse_engine
    from gifting.warehouse.schema import Gift

    engine = create_warehouse_engine(load_settings().warehouse_url)
    with engine.connect() as connection:
        row = connection.execute(
            select(Gift.status, Gift.reason, Gift.vendor_order_id).where(Gift.id == gift_id)
        ).one()
    engine.dispose()
    return row.status, row.reason, row.vendor_order_id


def first_failed_gift() -> str:
    from gifting.runtime import load_settings
    from gifting.warehouse import create_warehouse_engine
    from gifting.warehouse.schema import Gift

    engine = create_warehouse_engine(load_settings().warehouse_url)
    with engine.connect() as connection:
        failed = connection.scalars(select(Gift.id).where(Gift.status == "failed")).all()
    engine.dispose()
    if len(failed) != 1:
        raise AssertionError(f"expected one failed gift after the fault, found {len(failed)}")
    return str(failed[0])


def walkthrough(work: Path) -> None:
    started = time.monotonic()
    with ExitStack() as stack:
        database_url = stack.enter_context(prefect_database())
        api_url = f"http://127.0.0.1:{free_port()}/api"
        env = environment(work, api_url, database_url)
        os.environ.update({k: v for k, v in env.items() if k.startswith(("PREFECT_", "GIFTING_"))})
        port = api_url.split(":")[2].split("/")[0]
        server_log = work / "server.log"
        server = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", port]
        stack.enter_context(background(server, env, server_log))
        wait_for_server(api_url, server_log)
        step(f"server up on PostgreSQL at {api_url}", started)

        prefect(env, "work-pool", "create", "gifting-process", "--type", "process")
        worker = [str(BIN / "prefect"), "worker", "start", "--pool", "gifting-process"]
        stack.enter_context(background(worker, env, work / "worker.log"))
        deploy = subprocess.Popen(
            [str(BIN / "prefect"), "--no-prompt", "deploy", "--all"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        # While prefect deploy runs: start the sandboxes and fill the warehouse.
        from gifting.config import load_catalog
        from gifting.sandbox.launch import running_sandboxes

        now = datetime.now(UTC)
        catalog = load_catalog(PROJECT_ROOT / "config")
        _connection, _salesforce, vendor = stack.enter_context(
            running_sandboxes(work / "home", catalog, now=now, accounts=8)
        )
        prepare_warehouse(now)
        output, _ = deploy.communicate(timeout=120)
        if deploy.returncode != 0:
            raise RuntimeError(f"prefect deploy --all failed:\n{output}")
        step("work pool, worker, prefect deploy --all, sandboxes and warehouse ready", started)

        vendor.inject_fault("http_503", count=VENDOR_ATTEMPTS)
        dispatched = run("dispatch-gifts/dispatch-gifts", {"backfill": True})
        step(f"dispatch-gifts run {dispatched} completed", started)
        gift_id = first_failed_gift()
        orders_before = vendor.order_count

        form = {
            "request": {
                "gift_ids": [gift_id],
                "stage": None,
                "reason": None,
                "since": None,
                "requested_by": "deploy-walkthrough",
            }
        }
        resent = run("resend-failed/resend-failed", form)
        step(f"resend-failed run {resent} completed", started)
        track_deliveries(now)
        status, reason, order_id = ledger_row(gift_id)
        orders = [order for order in vendor.book.orders.values() if order.reference == gift_id]
        if status != "delivered" or len(orders) != 1 or orders[0].id != order_id:
            raise AssertionError(
                f"gift {gift_id}: status {status} ({reason}), {len(orders)} vendor orders"
            )
        if vendor.order_count != orders_before + 1:
            raise AssertionError(f"resend placed {vendor.order_count - orders_before} orders")
        step(f"gift {gift_id} delivered once (order {order_id})", started)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="gifting-walkthrough-") as work:
        walkthrough(Path(work))
    print("walkthrough passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
