"""CRM activity write-back survives Salesforce outages and lost records without duplicate Tasks.

Everything runs through simple-salesforce over HTTPS against the Salesforce sandbox and the real
vendor client against the vendor sandbox, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from alembic import command
from alembic.config import Config
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError
from sqlalchemy import Engine, delete, func, select, text, update

from gifting import ledger
from gifting.crm_activity import missing_activities, write_missing_activities
from gifting.dispatch import dispatch_due_gifts, track_deliveries
from gifting.salesforce.writeback import TaskWriter
from gifting.sandbox.org import OrgStore
from gifting.sandbox.salesforce_server import SalesforceSandbox
from gifting.sandbox.vendor_server import VendorSandbox
from gifting.vendors.sandbox import SandboxVendorClient
from gifting.warehouse.engine import MIGRATIONS_DIR, create_warehouse_engine, migrate
from gifting.warehouse.schema import CrmActivity, Gift
from tests.integration.ledger_fixtures import AS_OF


def _gift_task_markers(org: OrgStore) -> Counter[str]:
    """Count the gift activity Tasks in the org by the marker that ends their Subject."""
    subjects = [task["Subject"] for task in org.records("Task") if task.get("Type") == "Gift"]
    return Counter(subject[subject.rfind("[gift ") :] for subject in subjects)


def _end_outage(salesforce: Salesforce) -> None:
    """Use up the sandbox's remaining injected faults, as a Salesforce outage ends."""
    for _ in range(200):
        try:
            salesforce.query("SELECT Id FROM Task LIMIT 1")
            return
        except SalesforceError:
            continue
    raise AssertionError("the Salesforce sandbox kept failing after 200 requests")


def _count(engine: Engine, status: str) -> int:
    with engine.connect() as connection:
        return connection.scalar(
            select(func.count()).select_from(Gift).where(Gift.status == status)
        )


def test_outage_activity_written_once_later(
    planned: Engine,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    salesforce: Salesforce,
    salesforce_sandbox: SalesforceSandbox,
    sample_org: OrgStore,
    kinds: dict[str, str],
) -> None:
    with planned.connect() as connection:
        sku = connection.scalar(select(Gift.sku).where(Gift.sku.is_not(None)).limit(1))
    vendor_sandbox.set_stock(sku, 0)  # gifts of this item fail at the vendor
    writer = TaskWriter(salesforce, today=AS_OF.date())
    salesforce_sandbox.inject_fault(status=503, error_code="SERVER_UNAVAILABLE", count=100)

    during = dispatch_due_gifts(
        planned, vendor, kinds, as_of=AS_OF, backfill=True, write_activity=writer
    )
    sent, failed = _count(planned, ledger.SENT), _count(planned, ledger.FAILED)
    assert during["sent"] == sent > 0
    assert failed > 0
    assert during["crm_written"] == 0
    assert during["crm_unwritten"] > 0
    assert not _gift_task_markers(sample_org)

    _end_outage(salesforce)
    after = dispatch_due_gifts(
        planned, vendor, kinds, as_of=AS_OF, backfill=True, write_activity=writer
    )
    assert after["sent"] == 0
    assert after["crm_written"] == sent + failed
    tracked = track_deliveries(planned, vendor, as_of=AS_OF, write_activity=writer)
    assert tracked["delivered"] == sent
    assert tracked["crm_written"] == sent
    again = dispatch_due_gifts(
        planned, vendor, kinds, as_of=AS_OF, backfill=True, write_activity=writer
    )
    assert again["crm_written"] == 0

    markers = _gift_task_markers(sample_org)
    assert set(markers.values()) == {1}
    states = Counter(marker.split()[2] for marker in markers)
    assert states == Counter({"sent": sent, "delivered": sent, "failed": failed})
    with planned.connect() as connection:
        recorded = connection.scalar(select(func.count()).select_from(CrmActivity))
        unlinked = connection.scalar(
            select(func.count())
            .select_from(Gift)
            .where(Gift.status == ledger.DELIVERED, Gift.crm_task_id.is_(None))
        )
    assert recorded == sum(markers.values())
    assert unlinked == 0


def test_unrecorded_task_not_duplicated(
    planned: Engine,
    vendor: SandboxVendorClient,
    salesforce: Salesforce,
    sample_org: OrgStore,
    kinds: dict[str, str],
) -> None:
    writer = TaskWriter(salesforce, today=AS_OF.date())
    sent = dispatch_due_gifts(
        planned, vendor, kinds, as_of=AS_OF, backfill=True, write_activity=writer
    )["sent"]
    before = _gift_task_markers(sample_org)
    assert sum(before.values()) >= sent > 0
    # A run that died after Salesforce created the Tasks and before the warehouse recorded them.
    with planned.begin() as connection:
        connection.execute(delete(CrmActivity))
        connection.execute(update(Gift).values(crm_task_id=None))

    outcome = write_missing_activities(planned, writer, as_of=AS_OF)

    assert outcome["crm_found"] == sum(before.values())
    assert outcome["crm_written"] == 0
    assert _gift_task_markers(sample_org) == before
    with planned.connect() as connection:
        unlinked = connection.scalar(
            select(func.count())
            .select_from(Gift)
            .where(Gift.status == ledger.SENT, Gift.crm_task_id.is_(None))
        )
    assert unlinked == 0


def test_migration_keeps_sent_tasks_written_before(tmp_path: Path) -> None:
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        connection.execute(
            text(
                "INSERT INTO contracts (id, account_id, name, signed_on, status, first_seen_at, "
                "system_modstamp, synced_at) VALUES ('006000000000001AAA', "
                "'001000000000001AAA', 'Acme', :signed_on, 'won', :at, :at, :at)"
            ),
            {"signed_on": AS_OF.date(), "at": AS_OF},
        )
        for gift_id, task_id in (("g-written", "00T000000000001AAA"), ("g-unwritten", None)):
            connection.execute(
                text(
                    "INSERT INTO gifts (id, contract_id, stage, account_id, status, due_at, "
                    "window_ends_at, budget_min, budget_max, currency, crm_task_id, attempts, "
                    "sent_at, created_at, updated_at, transfer_of_value) VALUES (:id, "
                    "'006000000000001AAA', :stage, '001000000000001AAA', 'sent', :at, :at, 50, "
                    "100, 'USD', :task_id, 1, :at, :at, :at, false)"
                ),
                {"id": gift_id, "stage": gift_id, "task_id": task_id, "at": AS_OF},
            )
    migrate(engine)

    missing = missing_activities(engine)
    engine.dispose()
    assert [activity.gift_id for activity in missing] == ["g-unwritten"]
