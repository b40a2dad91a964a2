"""Exactly once across killed and parallel dispatch processes, against the vendor sandbox."""

from __future__ import annotations

import random
import time
from collections import Counter
from multiprocessing.process import BaseProcess
from typing import Any

from sqlalchemy import Engine, func, select

from gifting import ledger
from gifting.config import Catalog
from gifting.sandbox.due_gifts import seed_due_gifts
from gifting.sandbox.vendor_server import VendorSandbox
from gifting.warehouse.schema import Gift, GiftEvent
from tests.integration.dispatch_worker import CONTEXT, run_dispatch
from tests.integration.ledger_fixtures import AS_OF

KILLS = 50
# A killed run lives until the vendor has seen a random 0 to 30 more requests. With the fixed
# seed the fifty draws add up to 665 requests, so the killed runs cannot place all 1,000 orders
# and every kill finds a run still working.
MAX_REQUESTS_BEFORE_KILL = 30
SEED = 20261204


def _start(warehouse_url: str, vendor_url: str, **options: Any) -> tuple[BaseProcess, Any]:
    receiver, sender = CONTEXT.Pipe(duplex=False)
    process = CONTEXT.Process(
        target=run_dispatch, args=(warehouse_url, vendor_url, sender), kwargs=options
    )
    process.start()
    sender.close()
    return process, receiver


def _wait_for_requests(process: BaseProcess, sandbox: VendorSandbox, count: int) -> None:
    """Return once the sandbox has received ``count`` more requests, or the process has ended."""
    target = sandbox.request_count + count
    deadline = time.monotonic() + 60
    while sandbox.request_count < target and process.is_alive() and time.monotonic() < deadline:
        time.sleep(0.0005)


def _check_exactly_once(engine: Engine, sandbox: VendorSandbox, gift_ids: list[str]) -> None:
    orders = sandbox.orders()
    per_reference = Counter(str(order["reference"]) for order in orders)
    assert len(orders) == len(gift_ids)
    assert per_reference == Counter(gift_ids)
    order_ids = {str(order["reference"]): order["id"] for order in orders}
    with engine.connect() as connection:
        gifts = connection.execute(select(Gift.id, Gift.status, Gift.vendor_order_id)).all()
    assert Counter(gift.status for gift in gifts) == Counter({ledger.SENT: len(gift_ids)})
    assert all(gift.vendor_order_id == order_ids[gift.id] for gift in gifts)


def test_killed_runs_send_each_gift_once(
    sqlite_engine: Engine, catalog: Catalog, vendor_sandbox: VendorSandbox
) -> None:
    gift_ids = seed_due_gifts(sqlite_engine, catalog, 1000, as_of=AS_OF)
    url = sqlite_engine.url.render_as_string(hide_password=False)

    chance = random.Random(SEED)
    kills = 0
    finished: dict[str, int] | None = None
    for _ in range(KILLS + 20):
        process, report = _start(url, vendor_sandbox.base_url, batch_size=20, concurrency=2)
        assert report.recv() == "ready"
        if kills < KILLS:
            _wait_for_requests(process, vendor_sandbox, chance.randint(0, MAX_REQUESTS_BEFORE_KILL))
            time.sleep(chance.uniform(0, 0.003))  # land between two requests, not on one
            if process.is_alive():
                process.kill()
                process.join()
                kills += 1
                continue
        process.join(120)
        assert process.exitcode == 0
        outcome = report.recv()
        if kills >= KILLS and outcome.get("sent", 0) == 0:
            finished = outcome
            break

    assert kills == KILLS
    assert finished is not None
    _check_exactly_once(sqlite_engine, vendor_sandbox, gift_ids)
    with sqlite_engine.connect() as connection:
        repairs = Counter(
            dict(
                connection.execute(
                    select(GiftEvent.reason, func.count())
                    .where(GiftEvent.reason.like("% after interruption"))
                    .group_by(GiftEvent.reason)
                ).all()
            )
        )
    # The kills hit gifts between claim and record, and recovery repaired them.
    assert sum(repairs.values()) > 0


def test_four_postgres_workers_share_queue(
    postgres_database_url: str, catalog: Catalog, vendor_sandbox: VendorSandbox
) -> None:
    from gifting.warehouse import create_warehouse_engine, migrate
    from tests.conftest import _empty_tables

    engine = create_warehouse_engine(postgres_database_url)
    migrate(engine)
    _empty_tables(engine)
    # Most gifts are ready, so every worker finds work at once. The planned rest makes the
    # workers release gifts at the same time as they claim others.
    gift_ids = seed_due_gifts(engine, catalog, 4500, as_of=AS_OF, status=ledger.READY)
    gift_ids += seed_due_gifts(engine, catalog, 500, as_of=AS_OF, first_number=4500)
    start = CONTEXT.Event()
    workers = [
        _start(
            postgres_database_url,
            vendor_sandbox.base_url,
            batch_size=100,
            concurrency=2,
            start=start,
        )
        for _ in range(4)
    ]
    for _, report in workers:
        assert report.recv() == "ready"
    start.set()
    outcomes = []
    for process, report in workers:
        process.join(300)
        assert process.exitcode == 0
        outcomes.append(report.recv())

    assert sum(outcome.get("sent", 0) for outcome in outcomes) == 5000
    assert sum(1 for outcome in outcomes if outcome.get("sent", 0) > 0) >= 2
    _check_exactly_once(engine, vendor_sandbox, gift_ids)
    with engine.connect() as connection:
        claims = connection.execute(
            select(GiftEvent.gift_id, func.count())
            .where(GiftEvent.to_status == ledger.SENDING)
            .group_by(GiftEvent.gift_id)
        ).all()
    # No worker's recovery took a gift that another worker was sending.
    assert len(claims) == 5000
    assert {count for _, count in claims} == {1}
    _empty_tables(engine)
    engine.dispose()
