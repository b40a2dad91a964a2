"""Signed delivery webhooks, from the vendor sandbox over real HTTP into the gift ledger."""

from __future__ import annotations

# The ledger fixtures are imported from test_dispatch, so test arguments shadow the imports.
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select, update

from gifting import ledger
from gifting.config import Catalog
from gifting.dispatch import dispatch_due_gifts, release_due_gifts, send_ready_gifts
from gifting.sandbox.due_gifts import seed_due_gifts
from gifting.sandbox.vendor_server import VendorSandbox
from gifting.sandbox.vendor_webhooks import sign
from gifting.settings import PROJECT_ROOT
from gifting.vendors.base import OrderRequest, VendorOrder
from gifting.vendors.sandbox import SandboxVendorClient
from gifting.warehouse.schema import Contact, Gift, GiftEvent
from gifting.webhooks import ACTOR, DeliveryWebhookHandler, WebhookReceiver
from tests.integration.ledger_fixtures import AS_OF


@pytest.fixture
def receiver(engine: Engine, vendor_sandbox: VendorSandbox) -> Iterator[WebhookReceiver]:
    """Run a receiver on the test warehouse and point the vendor sandbox's webhooks at it."""
    handler = DeliveryWebhookHandler(engine, vendor_sandbox.webhook_secret)
    with WebhookReceiver(handler) as running:
        vendor_sandbox.set_webhook_url(running.url)
        yield running


def _status_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(select(Gift.status, func.count()).group_by(Gift.status)).all()
    return {status: count for status, count in rows}


def _marker_count(engine: Engine) -> int:
    with engine.connect() as connection:
        query = select(func.count()).select_from(GiftEvent).where(GiftEvent.actor == ACTOR)
        return connection.scalar(query.where(GiftEvent.from_status == GiftEvent.to_status)) or 0


def test_delivered_events_mark_gifts_delivered(
    planned: Engine,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    receiver: WebhookReceiver,
    kinds: dict[str, str],
) -> None:
    sent = dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)["sent"]
    deliveries = vendor_sandbox.emit_due_events()
    assert sent > 0
    assert deliveries
    assert {delivery.status_code for delivery in deliveries} == {200}
    assert _status_counts(planned).get(ledger.DELIVERED) == sent
    assert _status_counts(planned).get(ledger.SENT) is None
    assert vendor_sandbox.emit_due_events() == []


def test_replayed_event_changes_nothing(
    planned: Engine,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    receiver: WebhookReceiver,
    kinds: dict[str, str],
) -> None:
    dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
    first = vendor_sandbox.emit_due_events()
    markers = _marker_count(planned)
    with planned.connect() as connection:
        events = connection.scalar(select(func.count()).select_from(GiftEvent))
    replay = vendor_sandbox.replay_event(first[-1].event_id)
    assert replay.status_code == 200
    assert _marker_count(planned) == markers
    with planned.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(GiftEvent)) == events


def test_events_out_of_order_move_only_forward(
    planned: Engine,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    receiver: WebhookReceiver,
    kinds: dict[str, str],
) -> None:
    vendor_sandbox.book.deliver_after_s = 0.05
    sent = dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)["sent"]
    time.sleep(0.1)
    deliveries = vendor_sandbox.emit_due_events(newest_first=True)
    sequence: dict[str, list[str]] = {}
    for delivery in deliveries:
        order, status = delivery.event_id.rsplit("_", 1)
        sequence.setdefault(order, []).append(status)
    shipped = [statuses for statuses in sequence.values() if "shipped" in statuses]
    assert shipped
    assert all(statuses.index("delivered") < statuses.index("shipped") for statuses in shipped)
    assert {delivery.status_code for delivery in deliveries} == {200}
    assert _status_counts(planned).get(ledger.DELIVERED) == sent


def test_delivered_for_sending_gift_records_sent_first(
    planned: Engine,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    receiver: WebhookReceiver,
    kinds: dict[str, str],
) -> None:
    dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
    with planned.begin() as connection:
        gift_id = connection.scalar(select(Gift.id).where(Gift.status == ledger.SENT).limit(1))
        # As a worker that crashed after the vendor call leaves it: claimed, order not recorded.
        connection.execute(
            update(Gift)
            .where(Gift.id == gift_id)
            .values(status=ledger.SENDING, vendor_order_id=None)
        )
    vendor_sandbox.emit_due_events()
    with planned.connect() as connection:
        gift = connection.execute(select(Gift).where(Gift.id == gift_id)).one()
        moves = connection.execute(
            select(GiftEvent.from_status, GiftEvent.to_status)
            .where(GiftEvent.gift_id == gift_id, GiftEvent.actor == ACTOR)
            .where(GiftEvent.from_status != GiftEvent.to_status)
            .order_by(GiftEvent.id)
        ).all()
    assert gift.status == ledger.DELIVERED
    assert gift.vendor_order_id is not None
    assert [tuple(move) for move in moves] == [
        (ledger.SENDING, ledger.SENT),
        (ledger.SENT, ledger.DELIVERED),
    ]


def test_failed_delivery_event_fails_gift_with_reason(
    planned: Engine,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    receiver: WebhookReceiver,
    kinds: dict[str, str],
) -> None:
    with planned.begin() as connection:
        connection.execute(update(Contact).values(street="1 UNDELIVERABLE Rd"))
    dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
    vendor_sandbox.emit_due_events()
    with planned.connect() as connection:
        reasons = set(connection.scalars(select(Gift.reason).where(Gift.status == ledger.FAILED)))
    assert "address_undeliverable" in reasons


def test_bad_signature_gets_401_and_changes_nothing(
    planned: Engine,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    receiver: WebhookReceiver,
    kinds: dict[str, str],
) -> None:
    dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
    event = vendor_sandbox.webhooks.pending()[-1]
    stamp = int(time.time())
    headers = {
        "Webhook-Id": event.id,
        "Webhook-Timestamp": str(stamp),
        "Webhook-Signature": sign("wrong-secret", event.id, stamp, event.body),
    }
    response = httpx.post(receiver.url, content=event.body, headers=headers)
    assert response.status_code == 401
    assert _marker_count(planned) == 0
    assert _status_counts(planned).get(ledger.DELIVERED) is None


def test_stale_and_malformed_requests_get_400(
    planned: Engine,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    receiver: WebhookReceiver,
    kinds: dict[str, str],
) -> None:
    dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
    event = vendor_sandbox.webhooks.pending()[-1]
    stale = vendor_sandbox.webhooks.send(event, timestamp=int(time.time()) - 301)
    stamp = int(time.time())
    garbage = b"{not json"
    headers = {
        "Webhook-Id": event.id,
        "Webhook-Timestamp": str(stamp),
        "Webhook-Signature": sign(vendor_sandbox.webhook_secret, event.id, stamp, garbage),
    }
    malformed = httpx.post(receiver.url, content=garbage, headers=headers)
    assert stale.status_code == 400
    assert malformed.status_code == 400
    assert _marker_count(planned) == 0
    # A rejected event stays pending, so the next send delivers it.
    assert event.id in {pending.id for pending in vendor_sandbox.webhooks.pending()}


def test_event_for_replaced_item_ignored(
    planned: Engine,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    receiver: WebhookReceiver,
    kinds: dict[str, str],
) -> None:
    release_due_gifts(planned, as_of=AS_OF, backfill=True)
    assert send_ready_gifts(planned, vendor, kinds, as_of=AS_OF, limit=1)["sent"] == 1
    with planned.begin() as connection:
        gift_id = connection.scalar(select(Gift.id).where(Gift.status == ledger.SENT))
        # As the exception queue leaves a gift it reordered with another item, mid-send.
        connection.execute(
            update(Gift)
            .where(Gift.id == gift_id)
            .values(status=ledger.SENDING, vendor_order_id=None, sku="CHC-EGIFT-100")
        )
    vendor_sandbox.emit_due_events()
    with planned.connect() as connection:
        assert connection.scalar(select(Gift.status).where(Gift.id == gift_id)) == ledger.SENDING


def test_background_loop_sends_events(engine: Engine, catalog: Catalog) -> None:
    items = [item.model_dump(mode="json") for item in catalog.items]
    handler = DeliveryWebhookHandler(engine, "loop-secret")
    with (
        WebhookReceiver(handler) as running,
        VendorSandbox(
            items, webhook_secret="loop-secret", webhook_url=running.url, webhook_interval_s=0.05
        ) as sandbox,
        SandboxVendorClient(sandbox.base_url, sandbox.api_key) as client,
    ):
        from decimal import Decimal

        from gifting.vendors.base import OrderRequest

        request = OrderRequest(
            reference="gift-not-in-ledger",
            sku="CHC-EGIFT-50",
            amount=Decimal(50),
            currency="USD",
            recipient_name="Ana",
            recipient_email="ana@example.com",
            note="Hi",
            kind="egift",
        )
        client.place_order(request, idempotency_key="gift-loop-1")
        deadline = time.monotonic() + 5
        while len(sandbox.webhooks.deliveries) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert [delivery.status_code for delivery in sandbox.webhooks.deliveries[:2]] == [200, 200]


def test_verbatim_replay_is_duplicate(
    engine: Engine,
    catalog: Catalog,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    receiver: WebhookReceiver,
    kinds: dict[str, str],
) -> None:
    seed_due_gifts(engine, catalog, 1, as_of=AS_OF, status=ledger.READY)
    dispatch_due_gifts(engine, vendor, kinds, as_of=AS_OF)
    event = vendor_sandbox.webhooks.pending()[-1]
    stamp = int(time.time())
    headers = {
        "Webhook-Id": event.id,
        "Webhook-Timestamp": str(stamp),
        "Webhook-Signature": sign(vendor_sandbox.webhook_secret, event.id, stamp, event.body),
    }
    first = httpx.post(receiver.url, content=event.body, headers=headers)
    with engine.connect() as connection:
        events = connection.scalar(select(func.count()).select_from(GiftEvent))
    # The same bytes again, as an attacker who captured the request would send them.
    again = httpx.post(receiver.url, content=event.body, headers=headers)
    assert first.json() == {"outcome": "delivered"}
    assert again.status_code == 200
    assert again.json() == {"outcome": "duplicate"}
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(GiftEvent)) == events


class _WebhooksDuringCall:
    """The real vendor client, with the vendor's webhooks delivered before each order returns."""

    def __init__(self, client: SandboxVendorClient, sandbox: VendorSandbox) -> None:
        self.client = client
        self.sandbox = sandbox

    def place_order(self, request: OrderRequest, idempotency_key: str) -> VendorOrder:
        order = self.client.place_order(request, idempotency_key)
        self.sandbox.emit_due_events()
        return order

    def find_by_reference(self, reference: str) -> VendorOrder | None:
        return self.client.find_by_reference(reference)


def test_webhook_before_send_recorded(
    engine: Engine,
    catalog: Catalog,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    receiver: WebhookReceiver,
    kinds: dict[str, str],
) -> None:
    gift_ids = seed_due_gifts(engine, catalog, 3, as_of=AS_OF, status=ledger.READY)
    racing = _WebhooksDuringCall(vendor, vendor_sandbox)
    outcome = dispatch_due_gifts(engine, racing, kinds, as_of=AS_OF)  # type: ignore[arg-type]
    assert outcome["sent"] == 3
    assert _status_counts(engine) == {ledger.DELIVERED: 3}
    with engine.connect() as connection:
        sends = connection.execute(
            select(GiftEvent.gift_id, GiftEvent.actor).where(
                GiftEvent.to_status == ledger.SENT, GiftEvent.from_status == ledger.SENDING
            )
        ).all()
    # The webhook recorded each send; dispatch found it recorded and added nothing.
    assert sorted(send.gift_id for send in sends) == sorted(gift_ids)
    assert {send.actor for send in sends} == {ACTOR}


def test_cli_receiver_applies_signed_events(
    sqlite_engine: Engine,
    catalog: Catalog,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    kinds: dict[str, str],
    tmp_path: Path,
) -> None:
    seed_due_gifts(sqlite_engine, catalog, 2, as_of=AS_OF, status=ledger.READY)
    dispatch_due_gifts(sqlite_engine, vendor, kinds, as_of=AS_OF)
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("GIFTING_")},
        "GIFTING_HOME": str(tmp_path),
        "GIFTING_DATABASE_URL": str(sqlite_engine.url),
        "GIFTING_WEBHOOK_SECRET": vendor_sandbox.webhook_secret,
        "COLUMNS": "200",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "webhooks", "--port", "0"],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = re.search(r"at (http://\S+);", server.stdout.readline()).group(1)  # type: ignore[union-attr]
        vendor_sandbox.set_webhook_url(url)
        deliveries = vendor_sandbox.emit_due_events()
        forged = httpx.post(
            url,
            content=b"{}",
            headers={"Webhook-Id": "evt_x", "Webhook-Timestamp": "1", "Webhook-Signature": "v1=0"},
        )
    finally:
        server.send_signal(signal.SIGTERM)
        output, errors = server.communicate(timeout=30)
    assert server.returncode == 0, errors
    assert "webhook receiver stopped" in output
    assert {delivery.status_code for delivery in deliveries} == {200}
    assert forged.status_code == 401
    assert _status_counts(sqlite_engine) == {ledger.DELIVERED: 2}


def test_cli_receiver_needs_secret(tmp_path: Path) -> None:
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("GIFTING_")},
        "GIFTING_HOME": str(tmp_path),
        "GIFTING_VENDOR_BASE_URL": "https://vendor.example",
        "GIFTING_VENDOR_API_KEY": "key",
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [sys.executable, "-m", "flows.cli", "webhooks", "--port", "0"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "GIFTING_WEBHOOK_SECRET is not set" in result.stdout
