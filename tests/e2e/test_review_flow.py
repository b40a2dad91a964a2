"""The review flow under Prefect's harness: it pauses for a form and applies the typed input.

One flow run only, since each run under the harness takes seconds. The test resumes the paused
run from the main thread, as the Prefect UI would.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.flow_runs import resume_flow_run
from sqlalchemy import Engine, select

from flows.review_gifts import review_gifts
from gifting import ledger
from gifting.warehouse.schema import Gift, GiftEvent
from tests.integration.test_review import AS_OF, seed_gift

PAUSE_TIMEOUT_SECONDS = 60


def _wait_for_paused_run(deadline: float) -> UUID:
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["review-gifts"])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
                ),
            )
            if runs:
                return runs[0].id
            time.sleep(0.5)
    raise AssertionError(f"the review flow did not pause within {PAUSE_TIMEOUT_SECONDS} s")


def test_review_flow_applies_form_input(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIFTING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIFTING_DATABASE_URL", sqlite_engine.url.render_as_string())
    seed_gift(sqlite_engine, "g-flow", status=ledger.NEEDS_REVIEW)
    result: dict[str, Any] = {}

    def run() -> None:
        result["outcome"] = review_gifts(
            as_of=AS_OF, timeout_seconds=PAUSE_TIMEOUT_SECONDS, poll_interval_seconds=1
        )

    worker = threading.Thread(target=run)
    worker.start()
    try:
        flow_run_id = _wait_for_paused_run(time.monotonic() + PAUSE_TIMEOUT_SECONDS)
        resume_flow_run(
            flow_run_id,
            run_input={
                "gift_id": "g-flow",
                "action": "reject",
                "reason": "duplicate of an earlier gift",
                "reviewer": "Grace",
            },
        )
    finally:
        worker.join(timeout=PAUSE_TIMEOUT_SECONDS)

    assert result.get("outcome") == {ledger.REJECTED: 1}
    with sqlite_engine.connect() as connection:
        status = connection.scalar(select(Gift.status).where(Gift.id == "g-flow"))
        event = connection.execute(
            select(GiftEvent.actor, GiftEvent.reason, GiftEvent.occurred_at).where(
                GiftEvent.gift_id == "g-flow", GiftEvent.to_status == ledger.REJECTED
            )
        ).one()
    assert status == ledger.REJECTED
    assert event.actor == "Grace"
    assert event.reason == "duplicate of an earlier gift"
    assert event.occurred_at == datetime(2026, 6, 1, 10)
