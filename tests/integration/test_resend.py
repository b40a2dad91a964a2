"""Manual resend over real HTTP to the vendor sandbox: same key, never a second order."""

from __future__ import annotations

# The ledger fixtures are imported from test_dispatch, so test arguments shadow the imports.
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from gifting import ledger
from gifting.dispatch import dispatch_due_gifts, release_due_gifts, send_ready_gifts
from gifting.resend import RESEND_REASON, resend_failed, select_resendable
from gifting.sandbox.launch import SANDBOX_CREDENTIALS
from gifting.sandbox.salesforce_server import SalesforceSandbox
from gifting.sandbox.vendor_server import VendorSandbox
from gifting.vendors.sandbox import SandboxVendorClient
from gifting.warehouse.schema import Gift, GiftEvent
from tests.integration.ledger_fixtures import AS_OF

LATER = datetime(2026, 6, 2)


@pytest.fixture
def one_shot_client(vendor_sandbox: VendorSandbox) -> Iterator[SandboxVendorClient]:
    """A client that gives up after one try and a short timeout, so faults fail a gift at once."""
    with SandboxVendorClient(
        vendor_sandbox.base_url,
        vendor_sandbox.api_key,
        timeout=0.3,
        max_attempts=1,
        rate_limit_per_second=1000,
        sleep=lambda _: None,
    ) as client:
        yield client


def _fail_one_gift(
    engine: Engine,
    client: SandboxVendorClient,
    sandbox: VendorSandbox,
    kinds: dict[str, str],
    fault: str,
) -> str:
    release_due_gifts(engine, as_of=AS_OF, backfill=True)
    sandbox.inject_fault(fault, count=1, delay_s=1.0)
    assert send_ready_gifts(engine, client, kinds, as_of=AS_OF, limit=1) == {
        "failed:vendor_unavailable": 1
    }
    with engine.connect() as connection:
        return str(connection.scalar(select(Gift.id).where(Gift.status == ledger.FAILED)))


def _gift(engine: Engine, gift_id: str) -> Gift:
    with engine.connect() as connection:
        return connection.execute(select(Gift).where(Gift.id == gift_id)).one()  # type: ignore[return-value]


def test_resend_after_503_sends_with_same_key(
    planned: Engine,
    vendor: SandboxVendorClient,
    one_shot_client: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    kinds: dict[str, str],
) -> None:
    gift_id = _fail_one_gift(planned, one_shot_client, vendor_sandbox, kinds, "http_503")
    orders = vendor_sandbox.order_count
    result = resend_failed(planned, vendor, kinds, as_of=LATER, actor="ops@example.com")
    assert result.outcomes == {gift_id: "sent"}
    assert result.rejected == {}
    assert vendor_sandbox.order_count == orders + 1
    assert f"gift-{gift_id}" in vendor_sandbox.book.keys
    gift = _gift(planned, gift_id)
    assert gift.status == ledger.SENT
    assert gift.attempts == 2
    with planned.connect() as connection:
        event = connection.execute(
            select(GiftEvent.actor, GiftEvent.reason).where(
                GiftEvent.gift_id == gift_id,
                GiftEvent.from_status == ledger.FAILED,
                GiftEvent.to_status == ledger.READY,
            )
        ).one()
    assert tuple(event) == ("ops@example.com", RESEND_REASON)


def test_resend_records_order_found_at_vendor(
    planned: Engine,
    vendor: SandboxVendorClient,
    one_shot_client: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    kinds: dict[str, str],
) -> None:
    gift_id = _fail_one_gift(
        planned, one_shot_client, vendor_sandbox, kinds, "timeout_after_accept"
    )
    orders = vendor_sandbox.order_count
    assert orders == 1  # the vendor stored the order, but its response was lost
    result = resend_failed(
        planned, vendor, kinds, as_of=LATER, actor="ops", reason="vendor_unavailable"
    )
    assert result.outcomes == {gift_id: "found_at_vendor"}
    assert vendor_sandbox.order_count == orders
    gift = _gift(planned, gift_id)
    assert gift.status == ledger.SENT
    assert gift.vendor_order_id == vendor_sandbox.orders()[0]["id"]


def test_sent_delivered_and_sending_are_rejected(
    planned: Engine,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    kinds: dict[str, str],
) -> None:
    dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
    with planned.begin() as connection:
        sent, delivered, sending = connection.scalars(
            select(Gift.id).where(Gift.status == ledger.SENT).limit(3)
        ).all()
        connection.execute(update(Gift).where(Gift.id == delivered).values(status=ledger.DELIVERED))
        connection.execute(update(Gift).where(Gift.id == sending).values(status=ledger.SENDING))
    orders = vendor_sandbox.order_count
    result = resend_failed(
        planned,
        vendor,
        kinds,
        as_of=LATER,
        actor="ops",
        gift_ids=[sent, delivered, sending, "no-such-gift"],
    )
    assert result.outcomes == {}
    assert set(result.rejected) == {sent, delivered, sending, "no-such-gift"}
    assert "already sent" in result.rejected[sent]
    assert "delivered" in result.rejected[delivered]
    assert "in flight" in result.rejected[sending]
    assert "not found" in result.rejected["no-such-gift"]
    assert vendor_sandbox.order_count == orders


def test_failed_after_acceptance_is_rejected(
    planned: Engine,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    kinds: dict[str, str],
) -> None:
    from gifting.dispatch import track_deliveries
    from gifting.warehouse.schema import Contact

    with planned.begin() as connection:
        connection.execute(update(Contact).values(street="1 UNDELIVERABLE Rd"))
    dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
    track_deliveries(planned, vendor, as_of=AS_OF)
    orders = vendor_sandbox.order_count
    result = resend_failed(planned, vendor, kinds, as_of=LATER, actor="ops")
    assert result.rejected
    assert result.outcomes == {}
    assert all("new key" in why for why in result.rejected.values())
    assert vendor_sandbox.order_count == orders


def test_select_filters_by_stage_reason_and_since(
    planned: Engine,
    one_shot_client: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    kinds: dict[str, str],
) -> None:
    gift_id = _fail_one_gift(planned, one_shot_client, vendor_sandbox, kinds, "http_503")
    stage = _gift(planned, gift_id).stage
    assert [c.gift_id for c in select_resendable(planned)] == [gift_id]
    assert [c.gift_id for c in select_resendable(planned, stage=stage)] == [gift_id]
    assert select_resendable(planned, stage="no_such_stage") == []
    assert select_resendable(planned, reason="out_of_stock") == []
    assert [c.gift_id for c in select_resendable(planned, since=AS_OF)] == [gift_id]
    assert select_resendable(planned, since=LATER) == []
    candidate = select_resendable(planned, gift_ids=[gift_id])[0]
    assert candidate.rejection is None
    assert candidate.reason == "vendor_unavailable"
    assert candidate.failed_at == AS_OF


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Start one Prefect test server for the flow test; it takes several seconds."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_flow_resends_from_request_form(
    planned: Engine,
    warehouse_url: str,
    one_shot_client: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    salesforce_sandbox: SalesforceSandbox,
    kinds: dict[str, str],
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from flows.resend_failed import ResendRequest
    from flows.resend_failed import resend_failed as resend_flow

    gift_id = _fail_one_gift(planned, one_shot_client, vendor_sandbox, kinds, "http_503")
    environment = {
        "HOME": str(tmp_path),
        "DATABASE_URL": warehouse_url,
        "VENDOR_BASE_URL": vendor_sandbox.base_url,
        "VENDOR_API_KEY": vendor_sandbox.api_key,
        "VENDOR_RATE_LIMIT_PER_SECOND": "1000",
        "SALESFORCE_LOGIN_URL": salesforce_sandbox.login_url,
        "SALESFORCE_CA_BUNDLE": str(salesforce_sandbox.ca_pem_path),
        **{f"SALESFORCE_{name.upper()}": value for name, value in SANDBOX_CREDENTIALS.items()},
    }
    for name, value in environment.items():
        monkeypatch.setenv(f"GIFTING_{name}", value)
    request = ResendRequest(gift_ids=[gift_id], requested_by="ops@example.com")
    result = resend_flow(request)
    assert result == {"outcomes": {gift_id: "sent"}, "rejected": {}}
    gift = _gift(planned, gift_id)
    assert gift.status == ledger.SENT
    assert gift.crm_task_id is not None


def test_resend_with_vendor_down_leaves_gift_failed(
    planned: Engine,
    one_shot_client: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    kinds: dict[str, str],
) -> None:
    gift_id = _fail_one_gift(planned, one_shot_client, vendor_sandbox, kinds, "http_503")
    vendor_sandbox.inject_fault("http_503", count=5, path_prefix="/v1/orders")
    result = resend_failed(planned, one_shot_client, kinds, as_of=LATER, actor="ops@example.com")
    assert result.outcomes == {gift_id: "failed:vendor_unavailable"}
    gift = _gift(planned, gift_id)
    assert gift.status == ledger.FAILED
    assert gift.reason == "vendor_unavailable"
    again = resend_failed(planned, one_shot_client, kinds, as_of=LATER, actor="ops@example.com")
    assert gift_id in again.outcomes
