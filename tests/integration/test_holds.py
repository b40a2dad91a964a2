"""An open high-priority case holds back a due gift, and its account owner is notified once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from simple_salesforce import Salesforce
from sqlalchemy import Engine, insert, select

from gifting import ledger
from gifting.dispatch import release_due_gifts
from gifting.holds import CaseHoldTaskWriter, notify_held_gifts
from gifting.sandbox.org import OrgStore
from gifting.warehouse.schema import Gift, SupportCase
from tests.integration.ledger_fixtures import AS_OF


def _open_case_on_every_account(engine: Engine) -> None:
    with engine.begin() as connection:
        accounts = connection.scalars(select(Gift.account_id).distinct()).all()
        for number, account_id in enumerate(accounts):
            connection.execute(
                insert(SupportCase).values(
                    id=f"500HOLD{number:011d}",
                    account_id=account_id,
                    priority="High",
                    status="New",
                    is_closed=False,
                    opened_at=AS_OF - timedelta(days=400),
                    closed_at=None,
                    is_deleted=False,
                    system_modstamp=AS_OF,
                )
            )


def _hold_tasks(store: OrgStore) -> list[dict[str, object]]:
    return [
        task
        for task in store.records("Task")
        if str(task.get("Subject", "")).startswith("Gift on hold")
    ]


def test_open_case_holds_gift_and_tells_owner_once(
    planned: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    _open_case_on_every_account(planned)
    outcome = release_due_gifts(planned, as_of=AS_OF, backfill=True)
    held = outcome["waiting:support_case_open"]
    assert held > 0
    assert outcome.get("ready", 0) == 0

    writer = CaseHoldTaskWriter(salesforce, today=AS_OF.date())
    assert notify_held_gifts(planned, writer, as_of=AS_OF) == held
    assert notify_held_gifts(planned, writer, as_of=AS_OF) == 0
    tasks = _hold_tasks(sample_org)
    assert len(tasks) == held
    with planned.connect() as connection:
        statuses = set(
            connection.scalars(select(Gift.status).where(Gift.reason == "support_case_open"))
        )
    assert statuses == {ledger.PLANNED}


def test_overlapping_runs_notify_each_owner_once(
    planned: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    _open_case_on_every_account(planned)
    held = release_due_gifts(planned, as_of=AS_OF, backfill=True)["waiting:support_case_open"]
    writer = CaseHoldTaskWriter(salesforce, today=AS_OF.date())

    def slow_writer(gift: dict[str, object]) -> str:
        time.sleep(0.01)  # keeps both runs inside their loops at the same time
        return writer(gift)

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(notify_held_gifts, planned, slow_writer, as_of=AS_OF) for _ in "ab"]
        notified = [run.result() for run in runs]

    assert sum(notified) == held
    assert len(_hold_tasks(sample_org)) == held
