"""Measure dispatch against a bare HTTP loop, and its rate under a client-side limit.

Run ``python benchmarks/bench_dispatch.py [--gifts N] [--concurrency C] [--database-url URL]``.

1. Throughput. N ready gifts are seeded (not timed). ``dispatch_due_gifts`` then sends them to a
   vendor sandbox running in its own process. The baseline posts the same order bodies, with
   their idempotency keys, from an ``httpx.Client`` at the same concurrency to a second, fresh
   sandbox process, with no database work at all. The script prints both times and their
   ratio (target at most 1.3).
2. Rate limit. ``--rate-gifts`` gifts go to an in-process sandbox that adds ``--latency-ms`` to
   every request, through a client limited to ``--rate-limit`` requests a second. The script
   prints the sustained order rate after the token bucket's initial burst, measured from the
   sandbox's order creation times (target within 5 % of the limit).

Without ``--database-url`` the warehouse is a temporary SQLite file. A PostgreSQL URL names a
database that the script creates and drops; give it a name containing ``dispatch``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gifting.config import Catalog, load_catalog
from gifting.dispatch import dispatch_due_gifts
from gifting.sandbox.due_gifts import seed_due_gifts
from gifting.sandbox.vendor_server import VendorSandbox
from gifting.sending import ClaimedGift, load_claimed
from gifting.settings import PROJECT_ROOT
from gifting.vendors.sandbox import SandboxVendorClient, _order_body
from gifting.warehouse import create_warehouse_engine, migrate

AS_OF = datetime(2026, 6, 1, 12, 0)
API_KEY = "sandbox-vendor-key"
UNLIMITED = 1_000_000.0


def _serve(items: list[dict[str, Any]], control: Connection) -> None:
    """Run a vendor sandbox until the parent requests its order count."""
    with VendorSandbox(items, api_key=API_KEY) as sandbox:
        control.send(sandbox.base_url)
        control.recv()
        control.send(sandbox.order_count)


@contextmanager
def sandbox_process(items: list[dict[str, Any]]) -> Iterator[tuple[str, list[int]]]:
    """Yield the URL of a sandbox in a child process, and a list that gets its order count."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(items, child), daemon=True)
    process.start()
    orders: list[int] = []
    try:
        yield parent.recv(), orders
        parent.send("stop")
        orders.append(parent.recv())
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()


@contextmanager
def warehouse_url(url: str | None) -> Iterator[str]:
    """Yield the URL of an empty warehouse database, created and dropped by this script."""
    if url is None:
        with tempfile.TemporaryDirectory(prefix="bench_dispatch_") as folder:
            yield f"sqlite:///{folder}/warehouse.db"
        return
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    try:
        yield parsed.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        admin.dispose()


def bare_loop(base_url: str, gifts: list[ClaimedGift], concurrency: int) -> float:
    """Post every order body once at ``concurrency`` and return the seconds it took."""
    client = httpx.Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"},
        timeout=10.0,
    )

    def post(gift: ClaimedGift) -> None:
        response = client.post(
            "/v1/orders", json=_order_body(gift.request), headers={"Idempotency-Key": gift.key}
        )
        response.raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for _ in pool.map(post, gifts):
            pass
    seconds = time.perf_counter() - started
    client.close()
    return seconds


def throughput(arguments: argparse.Namespace, catalog: Catalog) -> None:
    items = [item.model_dump(mode="json") for item in catalog.items]
    kinds = {item.sku: item.kind for item in catalog.items}
    with warehouse_url(arguments.database_url) as url:
        engine = create_warehouse_engine(url)
        migrate(engine)
        gift_ids = seed_due_gifts(engine, catalog, arguments.gifts, as_of=AS_OF, status="ready")
        gifts, _ = load_claimed(engine, gift_ids, kinds)

        with sandbox_process(items) as (base_url, _):
            bare_seconds = bare_loop(base_url, gifts, arguments.concurrency)

        with (
            sandbox_process(items) as (base_url, orders),
            SandboxVendorClient(base_url, API_KEY, rate_limit_per_second=UNLIMITED) as client,
        ):
            started = time.perf_counter()
            outcome = dispatch_due_gifts(
                engine,
                client,
                kinds,
                as_of=AS_OF,
                batch_size=arguments.batch_size,
                concurrency=arguments.concurrency,
            )
            dispatch_seconds = time.perf_counter() - started
        database = engine.dialect.name
        engine.dispose()

    count = len(gifts)
    print(f"warehouse: {database}, gifts: {count:,}, concurrency: {arguments.concurrency}")
    print(f"dispatch outcome: {dict(outcome)}, vendor orders: {orders[0]:,}")
    print(f"bare HTTP loop: {bare_seconds:.2f} s, {count / bare_seconds:,.0f} orders/s")
    print(f"dispatch_due_gifts: {dispatch_seconds:.2f} s, {count / dispatch_seconds:,.0f} gifts/s")
    print(f"ratio dispatch / bare loop: {dispatch_seconds / bare_seconds:.2f} (target <= 1.3)")


def rate_limit(arguments: argparse.Namespace, catalog: Catalog) -> None:
    items = [item.model_dump(mode="json") for item in catalog.items]
    kinds = {item.sku: item.kind for item in catalog.items}
    limit = arguments.rate_limit
    with (
        warehouse_url(None) as url,
        VendorSandbox(items, api_key=API_KEY, latency_s=arguments.latency_ms / 1000) as sandbox,
        SandboxVendorClient(sandbox.base_url, API_KEY, rate_limit_per_second=limit) as client,
    ):
        engine = create_warehouse_engine(url)
        migrate(engine)
        seed_due_gifts(engine, catalog, arguments.rate_gifts, as_of=AS_OF, status="ready")
        dispatch_due_gifts(
            engine, client, kinds, as_of=AS_OF, concurrency=arguments.rate_concurrency
        )
        created = sorted(datetime.fromisoformat(order["created_at"]) for order in sandbox.orders())
        engine.dispose()
    # The bucket starts full, so its first `limit` tokens go out at once.
    steady = created[int(limit) :]
    seconds = (steady[-1] - steady[0]).total_seconds()
    rate = (len(steady) - 1) / seconds
    print(
        f"rate limit {limit:g}/s, latency {arguments.latency_ms:g} ms, "
        f"concurrency {arguments.rate_concurrency}: {len(created)} orders, "
        f"sustained {rate:.2f}/s over {seconds:.1f} s after the first {int(limit)} "
        f"({100 * (rate - limit) / limit:+.1f} % of the limit; target within 5 %)"
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gifts", type=int, default=10_000, help="gifts in the throughput run")
    parser.add_argument("--concurrency", type=int, default=4, help="vendor calls in flight")
    parser.add_argument("--batch-size", type=int, default=500, help="gifts claimed per batch")
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL of a database to create and drop (default: a temporary SQLite file)",
    )
    parser.add_argument("--rate-gifts", type=int, default=300, help="gifts in the rate run")
    parser.add_argument("--rate-limit", type=float, default=10.0, help="requests per second")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="added to each request")
    parser.add_argument(
        "--rate-concurrency", type=int, default=4, help="vendor calls in flight in the rate run"
    )
    parser.add_argument("--skip-rate", action="store_true", help="run only the throughput part")
    arguments = parser.parse_args()
    catalog = load_catalog(PROJECT_ROOT / "config")
    throughput(arguments, catalog)
    if not arguments.skip_rate:
        rate_limit(arguments, catalog)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"machine: {platform.machine()} {_cpu_model()}, python {platform.python_version()}")
    print(f"load average at the end (1, 5, 15 min): {load}")


if __name__ == "__main__":
    main()
