"""The field mapping over real HTTPS: custom field names, other triggers and recipient rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from simple_salesforce import Salesforce
from sqlalchemy import Engine, select

from gifting.salesforce.config import FieldMapping
from gifting.salesforce.sync import build_incremental_query, sync_object, sync_org
from gifting.sandbox.org import OrgStore, to_18
from gifting.warehouse.schema import Contact, Contract, Outcome

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _won_new_business(store: OrgStore) -> list[dict[str, Any]]:
    return [
        record
        for record in store.records("Opportunity")
        if record.get("Type") == "New Business" and record.get("IsWon") and not record["IsDeleted"]
    ]


def _contracts(engine: Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        return {row.id: row for row in connection.execute(select(Contract)).all()}


def test_renamed_custom_field_is_read(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    for account in sample_org.records("Account"):
        account["Net_Promoter__c"] = account.pop("NPS_Score__c", None)
    fields = FieldMapping.model_validate({"account": {"nps": "Net_Promoter__c"}})
    sync_object(salesforce, engine, "Account", now=NOW, field_mapping=fields)
    expected = {
        account["Id"]: float(account["Net_Promoter__c"])
        for account in sample_org.records("Account")
        if account["Net_Promoter__c"] is not None
    }
    with engine.connect() as connection:
        scores = dict(
            connection.execute(
                select(Outcome.account_id, Outcome.score).where(Outcome.kind == "nps")
            ).all()
        )
    assert expected
    assert scores == expected


def test_unmapped_field_is_left_out(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    fields = FieldMapping.model_validate({"contact": {"time_zone": None}})
    assert "Time_Zone__c" not in build_incremental_query("Contact", None, fields)
    sync_object(salesforce, engine, "Contact", now=NOW, field_mapping=fields)
    with engine.connect() as connection:
        zones = connection.scalars(select(Contact.time_zone)).all()
    assert len(zones) == sample_org.count("Contact")
    assert set(zones) == {None}


def test_listed_opportunity_types_start_contracts(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    account_id = next(sample_org.records("Account"))["Id"]
    renewal = sample_org.insert(
        "Opportunity",
        {
            "AccountId": account_id,
            "Name": "Renewal 2026",
            "Type": "Renewal",
            "StageName": "Closed Won",
            "IsWon": True,
            "IsClosed": True,
            "CloseDate": date(2026, 5, 20),
            "Amount": 5000.0,
        },
        now=NOW,
    )
    fields = FieldMapping.model_validate(
        {"trigger": {"opportunity_types": ["New Business", "Renewal"]}}
    )
    sync_org(salesforce, engine, now=NOW, field_mapping=fields)
    contracts = _contracts(engine)
    assert contracts[renewal].deal_type == "Renewal"
    won_listed = [
        record
        for record in sample_org.records("Opportunity")
        if record.get("Type") in ("New Business", "Renewal")
        and record.get("IsWon")
        and not record["IsDeleted"]
    ]
    assert len(won_listed) > len(_won_new_business(sample_org)) + 1
    assert set(contracts) == {record["Id"] for record in won_listed}


def test_lookup_field_names_recipient(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    contact_ids = [contact["Id"] for contact in sample_org.records("Contact")]
    deals = _won_new_business(sample_org)
    for number, deal in enumerate(deals):
        # A text field holding an Id, as orgs fill them from reports: 15 characters.
        deal["Recipient__c"] = contact_ids[number][:15] if number % 2 else None
    fields = FieldMapping.model_validate(
        {"recipient": {"rule": "lookup_field", "lookup_field": "Recipient__c"}}
    )
    result = sync_org(salesforce, engine, now=NOW, field_mapping=fields)
    contracts = _contracts(engine)
    for number, deal in enumerate(deals):
        expected = to_18(contact_ids[number]) if number % 2 else None
        assert contracts[deal["Id"]].contact_id == expected
    assert result.recipients_linked == len(deals) // 2


def _add_contract_object(store: OrgStore, account_id: str, contact_id: str) -> list[str]:
    """Give the org the standard Contract object, which the sample org does not have."""
    store.objects["Contract"] = {}
    ids = []
    for number, status in enumerate(["Activated", "Draft", "Activated"]):
        record_id = to_18(f"8005g0000000{number:03d}")
        store.objects["Contract"][record_id] = {
            "Id": record_id,
            "AccountId": account_id,
            "ContractNumber": f"0000010{number}",
            "Status": status,
            "CustomerSignedDate": date(2026, 5, 10 + number),
            "CustomerSignedId": contact_id,
            "IsDeleted": False,
            "CreatedDate": NOW - timedelta(days=30),
            "SystemModstamp": NOW - timedelta(days=20 - number),
        }
        ids.append(record_id)
    return ids


def test_activated_contracts_trigger(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    contact = next(sample_org.records("Contact"))
    activated, draft, ended = _add_contract_object(sample_org, contact["AccountId"], contact["Id"])
    fields = FieldMapping.model_validate(
        {
            "trigger": {
                "object": "Contract",
                "signing_date": "CustomerSignedDate",
                "use_case": None,
                "goals": None,
            },
            "recipient": {"rule": "lookup_field", "lookup_field": "CustomerSignedId"},
        }
    )
    result = sync_org(salesforce, engine, now=NOW, field_mapping=fields)
    contracts = _contracts(engine)
    assert set(contracts) == {activated, ended}
    assert contracts[activated].signed_on == date(2026, 5, 10)
    assert contracts[activated].contact_id == contact["Id"]
    assert contracts[activated].name == "00000100"
    assert result.objects["Contract"].seen == 3
    assert result.recipients_linked == 2

    sample_org.update("Contract", ended, {"Status": "Expired"}, now=NOW + timedelta(hours=1))
    sync_object(salesforce, engine, "Contract", now=NOW + timedelta(hours=2), field_mapping=fields)
    assert _contracts(engine)[ended].status == "lost"
    assert draft not in _contracts(engine)
