"""The pipeline flow end to end: sandboxes over real HTTP, a real warehouse, Prefect's harness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from flows.cohort_report import cohort_report
from flows.dispatch_gifts import dispatch_gifts
from flows.pipeline import pipeline
from flows.plan_gifts import plan_gifts
from flows.sync_contracts import sync_contracts
from flows.track_deliveries import track_deliveries
from gifting import ledger
from gifting.config import load_catalog
from gifting.sandbox.launch import running_sandboxes
from gifting.settings import PROJECT_ROOT
from gifting.warehouse import create_warehouse_engine
from gifting.warehouse.schema import Gift, GiftEvent

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
STAGES = ["welcome", "first_week", "first_month", "first_quarter"]


@pytest.fixture
def sandboxes(tmp_path: Path, warehouse_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    monkeypatch.setenv("GIFTING_HOME", str(home))
    monkeypatch.setenv("GIFTING_DATABASE_URL", warehouse_url)
    catalog = load_catalog(PROJECT_ROOT / "config")
    with running_sandboxes(home, catalog, now=NOW, accounts=40) as (connection, salesforce, vendor):
        for name, value in connection.as_environment().items():
            monkeypatch.setenv(name, value)
        yield salesforce, vendor


def _sent_by_stage(warehouse_url: str) -> dict[str, int]:
    engine = create_warehouse_engine(warehouse_url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(Gift.stage, func.count())
            .where(Gift.status.in_([ledger.SENT, ledger.DELIVERED]))
            .group_by(Gift.stage)
        ).all()
    engine.dispose()
    return dict(rows)


def test_pipeline_sends_all_stages_once(sandboxes, warehouse_url: str) -> None:  # type: ignore[no-untyped-def]
    _salesforce, vendor = sandboxes
    replay_from = (NOW - timedelta(days=400)).date()

    first = pipeline(as_of=NOW, replay_from=replay_from)
    orders = vendor.order_count
    second = pipeline(as_of=NOW, replay_from=replay_from)

    sent = _sent_by_stage(warehouse_url)
    assert set(sent) == set(STAGES)
    assert all(count > 0 for count in sent.values())
    assert orders == sum(sent.values())
    assert vendor.order_count == orders
    assert Path(first["report"]["html_path"]).exists()
    assert second["ledger"]["statuses"] == first["ledger"]["statuses"]


def test_each_flow_runs_alone(sandboxes, warehouse_url: str) -> None:  # type: ignore[no-untyped-def]
    _salesforce, vendor = sandboxes
    synced = sync_contracts(as_of=NOW)
    assert synced["Opportunity"]["seen"] > 0
    plan_gifts(as_of=NOW, backfill=True)
    dispatched = dispatch_gifts(as_of=NOW, backfill=True)
    assert dispatched["sent"] == vendor.order_count > 0
    tracked = track_deliveries(as_of=NOW)
    assert tracked["delivered"] == dispatched["sent"]
    report = cohort_report(as_of=NOW)
    assert Path(report["html_path"]).read_text(encoding="utf-8").count("holdout") > 0


def test_ledger_events_explain_every_gift(sandboxes, warehouse_url: str) -> None:  # type: ignore[no-untyped-def]
    pipeline(as_of=NOW, replay_from=(NOW - timedelta(days=120)).date())
    engine = create_warehouse_engine(warehouse_url)
    with engine.connect() as connection:
        gifts = connection.scalar(select(func.count()).select_from(Gift))
        created = connection.scalar(
            select(func.count()).select_from(GiftEvent).where(GiftEvent.from_status.is_(None))
        )
        delivered_paths = connection.execute(
            select(GiftEvent.gift_id, func.count())
            .where(
                GiftEvent.to_status.in_(
                    [ledger.READY, ledger.SENDING, ledger.SENT, ledger.DELIVERED]
                )
            )
            .group_by(GiftEvent.gift_id)
        ).all()
    engine.dispose()
    assert created == gifts
    assert all(count <= 4 for _, count in delivered_paths)
