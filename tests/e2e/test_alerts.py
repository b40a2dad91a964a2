"""Alert automations on the test harness's API, and the event a failed gift send emits.

The automations are read back from the API. The failed-gifts event is read back from the API's
event store after a real dispatch run in which the vendor sandbox has no stock left, and the
stored trigger is checked against that very event.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prefect.automations import Automation
from prefect.blocks.notifications import SlackWebhook
from prefect.client.orchestration import get_client
from prefect.events.actions import DoNothing, SendNotification
from prefect.events.filters import EventFilter, EventNameFilter
from prefect.events.worker import EventsWorker
from prefect.server.events.schemas.automations import EventTrigger as ServerEventTrigger
from prefect.server.events.schemas.events import ReceivedEvent

from flows.cli_alerts import FLOW_RUN_FAILED, GIFTS_FAILED, SLACK_BLOCK_NAME, create_alerts
from flows.dispatch_gifts import dispatch_gifts
from flows.plan_gifts import plan_gifts
from flows.sync_contracts import sync_contracts
from gifting.config import load_catalog
from gifting.sandbox.launch import running_sandboxes
from gifting.sandbox.vendor_server import VendorSandbox
from gifting.settings import PROJECT_ROOT
from tasks.alerts import GIFTS_FAILED_EVENT

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
# A webhook URL in Slack's format; creating the block sends nothing to it.
SLACK_URL = "https://hooks.slack.com/services/T0000/B0000/XXXXXXXX"


@pytest.fixture
def vendor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[VendorSandbox]:
    home = tmp_path / "home"
    monkeypatch.setenv("GIFTING_HOME", str(home))
    monkeypatch.setenv("GIFTING_DATABASE_URL", f"sqlite:///{tmp_path / 'warehouse.db'}")
    catalog = load_catalog(PROJECT_ROOT / "config")
    with running_sandboxes(home, catalog, now=NOW, accounts=20) as (connection, _sf, vendor):
        for name, value in connection.as_environment().items():
            monkeypatch.setenv(name, value)
        yield vendor


def test_alerts_created_once_with_triggers() -> None:
    create_alerts()
    create_alerts()

    failed_runs = Automation.read(name=FLOW_RUN_FAILED)
    trigger = failed_runs.trigger
    assert trigger.expect == {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}
    related = trigger.match_related
    assert related["prefect.resource.role"] in ("flow", ["flow"])  # type: ignore[index]
    assert "dispatch-gifts" in related["prefect.resource.name"]  # type: ignore[index]
    assert [type(action) for action in failed_runs.actions] == [DoNothing]

    failed_gifts = Automation.read(name=GIFTS_FAILED)
    assert failed_gifts.trigger.expect == {GIFTS_FAILED_EVENT}
    with get_client(sync_client=True) as client:
        assert len(client.read_automations_by_name(FLOW_RUN_FAILED)) == 1
        assert len(client.read_automations_by_name(GIFTS_FAILED)) == 1


def test_alerts_notify_slack_block() -> None:
    create_alerts(SLACK_URL)

    block = SlackWebhook.load(SLACK_BLOCK_NAME)
    assert block.url.get_secret_value() == SLACK_URL
    for name in (FLOW_RUN_FAILED, GIFTS_FAILED):
        (action,) = Automation.read(name=name).actions
        assert isinstance(action, SendNotification)
        assert action.block_document_id == block._block_document_id
    create_alerts()  # leave the automations without Slack for the other tests


def _events_named(
    name: str, matches: Callable[[Any], bool] = lambda event: True, timeout_s: float = 20.0
) -> list[Any]:
    """Read the events that ``matches`` keeps until one arrives; the server stores them later.

    Other tests in the session emit events of the same name, so waiting for any event of that
    name could return before this test's own event is stored.
    """
    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_events(EventFilter(event=EventNameFilter(name=[name])), limit=50)
            found = [event for event in page.events if matches(event)]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.5)


def test_failed_send_emits_event(vendor: VendorSandbox) -> None:
    # An events worker left by an earlier test in this process may still send to an API that
    # has stopped, so it drops every event. Stopping all workers makes the next emit start one
    # against the current API.
    EventsWorker.drain_all(timeout=5, at_exit=False)
    sync_contracts(as_of=NOW)
    plan_gifts(as_of=NOW, backfill=True)
    for item in load_catalog(PROJECT_ROOT / "config").items:
        vendor.set_stock(item.sku, 0)

    outcome = dispatch_gifts(as_of=NOW, backfill=True)

    failed = outcome.get("failed:out_of_stock", 0)
    assert failed > 0
    events = _events_named(
        GIFTS_FAILED_EVENT,
        lambda event: event.payload["as_of"] == NOW.replace(tzinfo=None).isoformat(),
    )
    assert len(events) == 1
    event = events[0]
    assert event.resource.id == "gifting.dispatch-gifts"
    assert event.payload["count"] == failed
    assert event.payload["reasons"] == {"out_of_stock": failed}
    assert len(event.payload["gift_ids"]) == min(failed, 50)
    assert any(resource.role == "flow-run" for resource in event.related)

    create_alerts()
    trigger = Automation.read(name=GIFTS_FAILED).trigger
    server_trigger = ServerEventTrigger.model_validate(trigger.model_dump())
    assert server_trigger.covers(ReceivedEvent.model_validate(event.model_dump()))
