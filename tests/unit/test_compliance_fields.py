"""The CRM fields compliance reads, and the transfer-of-value line the write-back adds."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from gifting.crm_activity import GiftActivity
from gifting.errors import DataQualityError
from gifting.salesforce.config import AccountConfig, ContactConfig, FieldMapping
from gifting.salesforce.mapping import map_account, map_contact, query_fields
from gifting.salesforce.writeback import TaskWriter

SYNCED = datetime(2026, 6, 1)
POLICY = FieldMapping(
    account=AccountConfig(
        gift_policy_cap="Gift_Cap__c",
        no_gifts_policy="No_Gifts__c",
        no_alcohol_policy="No_Alcohol__c",
    ),
    contact=ContactConfig(healthcare_professional="Is_HCP__c"),
)
ACCOUNT = {
    "Id": "001000000000001AAA",
    "Name": "Clinic",
    "SystemModstamp": "2026-05-01T10:00:00.000+0000",
}
CONTACT = {
    "Id": "003000000000001AAA",
    "LastName": "Roe",
    "SystemModstamp": "2026-05-01T10:00:00.000+0000",
}


def test_policy_fields_are_queried() -> None:
    assert query_fields("Account", POLICY)[-3:] == ["Gift_Cap__c", "No_Gifts__c", "No_Alcohol__c"]
    assert query_fields("Contact", POLICY)[-1] == "Is_HCP__c"
    assert "Gift_Cap__c" not in query_fields("Account", FieldMapping())


def test_account_policy_mapped() -> None:
    record = {**ACCOUNT, "Gift_Cap__c": 75, "No_Gifts__c": False, "No_Alcohol__c": True}
    row = map_account(record, SYNCED, POLICY)
    assert row["gift_policy_cap_usd"] == Decimal(75)
    assert row["gift_policy_no_gifts"] is False
    assert row["gift_policy_no_alcohol"] is True


def test_unmapped_policy_is_null() -> None:
    row = map_account({**ACCOUNT, "Gift_Cap__c": 75}, SYNCED, FieldMapping())
    assert row["gift_policy_cap_usd"] is None
    assert row["gift_policy_no_gifts"] is None
    contact = map_contact({**CONTACT, "Is_HCP__c": True}, SYNCED, FieldMapping())
    assert contact["is_healthcare_professional"] is None


def test_negative_policy_cap_is_rejected() -> None:
    with pytest.raises(DataQualityError, match="invalid gift policy cap -5 in Gift_Cap__c"):
        map_account({**ACCOUNT, "Gift_Cap__c": -5}, SYNCED, POLICY)


def test_healthcare_flag_mapped() -> None:
    assert map_contact({**CONTACT, "Is_HCP__c": True}, SYNCED, POLICY)["is_healthcare_professional"]


class _Tasks:
    """Stands in for ``Salesforce.Task`` and keeps the fields of the created Task."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def create(self, fields: dict[str, Any]) -> dict[str, str]:
        self.created.append(fields)
        return {"id": "00T000000000001AAA"}


@pytest.mark.parametrize("transfer", [True, False])
def test_write_back_marks_transfer_of_value(transfer: bool) -> None:
    tasks = _Tasks()
    writer = TaskWriter(SimpleNamespace(Task=tasks), today=date(2026, 6, 1))  # type: ignore[arg-type]
    activity = GiftActivity(
        gift_id="g1",
        state="sent",
        attempt=1,
        contact_id=CONTACT["Id"],
        contract_id="006000000000001AAA",
        account_id=ACCOUNT["Id"],
        stage="welcome",
        item_name="Tea",
        price=Decimal(60),
        note="Welcome aboard.",
        reason=None,
        transfer_of_value=transfer,
    )
    writer.create(activity)
    (fields,) = tasks.created
    assert ("Transfer of value" in fields["Description"]) is transfer
    assert fields["Description"].startswith("Welcome aboard.")
    assert fields["Subject"].endswith(activity.marker)
