"""One dispatch run in a child process, for the crash and multi-worker tests.

The tests start it through a ``forkserver`` context that has already imported this module, so a
child is ready in milliseconds instead of the second a fresh interpreter needs to import the
project. That keeps fifty kill-and-restart cycles within the suite's time budget.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event

import httpx

from gifting.config import load_catalog
from gifting.dispatch import dispatch_due_gifts
from gifting.vendors.sandbox import SandboxVendorClient
from gifting.warehouse import create_warehouse_engine
from tests.integration.ledger_fixtures import AS_OF, CONFIG

CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload([__name__])
API_KEY = "sandbox-vendor-key"


def run_dispatch(
    warehouse_url: str,
    vendor_url: str,
    report: Connection,
    *,
    batch_size: int,
    concurrency: int,
    start: Event | None = None,
) -> None:
    """Send ``ready`` on ``report`` once set up, run dispatch, then send its counts.

    Args:
        start: When given, the run waits for it after reporting ready, so that several workers
            begin at the same moment.
    """
    kinds = {item.sku: item.kind for item in load_catalog(CONFIG).items}
    engine = create_warehouse_engine(warehouse_url)
    # The sandbox speaks plain HTTP. Without TLS verification the client skips loading the CA
    # bundle, which takes longer than starting the child.
    with SandboxVendorClient(
        vendor_url,
        API_KEY,
        rate_limit_per_second=100_000,
        backoff_base=0.01,
        transport=httpx.HTTPTransport(verify=False),
    ) as client:
        report.send("ready")
        if start is not None:
            start.wait(timeout=60)
        outcome = dispatch_due_gifts(
            engine, client, kinds, as_of=AS_OF, batch_size=batch_size, concurrency=concurrency
        )
    engine.dispose()
    report.send(dict(outcome))
