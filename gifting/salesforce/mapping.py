"""Map Salesforce records to warehouse rows.

Each mapper takes one record as the REST API returns it and returns a row, or raises
``DataQualityError`` naming the field to fix, so that the sync quarantines the record and goes on.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from gifting.errors import DataQualityError
from gifting.sandbox.org import to_18

__all__ = ["to_18"]

Record = dict[str, Any]

# Fields read from each object. Custom fields (``__c``) follow the sample org's naming.
FIELDS: dict[str, list[str]] = {
    "Account": [
        "Id",
        "Name",
        "Industry",
        "BillingCountry",
        "BillingState",
        "OwnerId",
        "Strategic__c",
        "Churn_Date__c",
        "NPS_Score__c",
        "Referrals__c",
        "IsDeleted",
        "SystemModstamp",
    ],
    "Contact": [
        "Id",
        "AccountId",
        "FirstName",
        "LastName",
        "Title",
        "Email",
        "MailingStreet",
        "MailingCity",
        "MailingState",
        "MailingPostalCode",
        "MailingCountry",
        "Time_Zone__c",
        "Gift_Opt_Out__c",
        "Gift_Preferences__c",
        "IsDeleted",
        "SystemModstamp",
    ],
    "Opportunity": [
        "Id",
        "AccountId",
        "Name",
        "Type",
        "StageName",
        "IsWon",
        "CloseDate",
        "Amount",
        "Use_Case__c",
        "Goals__c",
        "IsDeleted",
        "SystemModstamp",
    ],
    "Task": [
        "Id",
        "AccountId",
        "WhoId",
        "Subject",
        "Description",
        "ActivityDate",
        "Type",
        "IsDeleted",
        "SystemModstamp",
    ],
    "Event": [
        "Id",
        "AccountId",
        "WhoId",
        "Subject",
        "Description",
        "ActivityDateTime",
        "Type",
        "IsDeleted",
        "SystemModstamp",
    ],
    "Case": [
        "Id",
        "AccountId",
        "Priority",
        "Status",
        "IsClosed",
        "CreatedDate",
        "ClosedDate",
        "IsDeleted",
        "SystemModstamp",
    ],
}

NEW_BUSINESS_TYPE = "New Business"
EXPANSION_TYPE = "Expansion"
EVENT_KINDS = {"kickoff": "kickoff", "go-live": "go_live", "qbr": "qbr", "meeting": "meeting"}


def parse_datetime(value: str | None) -> datetime | None:
    """Parse Salesforce's ``2024-03-05T17:22:10.000+0000`` into naive UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError as error:
        raise DataQualityError(
            f"invalid datetime {value!r}: expected 2024-03-05T17:22:10.000+0000"
        ) from error
    return parsed.astimezone(UTC).replace(tzinfo=None)


def parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise DataQualityError(f"invalid date {value!r}: expected YYYY-MM-DD") from error


def parse_amount(value: object) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation as error:
        raise DataQualityError(f"invalid amount {value!r}: expected a number") from error


def salesforce_id(record: Record, field: str, *, required: bool = False) -> str | None:
    value = record.get(field)
    if value is None:
        if required:
            raise DataQualityError(f"missing {field}: the record cannot be linked without it")
        return None
    try:
        return to_18(value)
    except ValueError as error:
        raise DataQualityError(str(error)) from error


def modstamp(record: Record) -> datetime:
    stamp = parse_datetime(record.get("SystemModstamp"))
    if stamp is None:
        raise DataQualityError("missing SystemModstamp")
    return stamp


def map_account(record: Record, synced_at: datetime) -> Record:
    if not record.get("Name"):
        raise DataQualityError("missing Name on Account")
    return {
        "id": salesforce_id(record, "Id", required=True),
        "name": record["Name"],
        "industry": record.get("Industry"),
        "country": record.get("BillingCountry"),
        "state": record.get("BillingState"),
        "owner_id": salesforce_id(record, "OwnerId"),
        "is_strategic": bool(record.get("Strategic__c")),
        "is_deleted": bool(record.get("IsDeleted")),
        "system_modstamp": modstamp(record),
        "synced_at": synced_at,
    }


def map_account_outcomes(record: Record, synced_at: datetime) -> list[Record]:
    """Return the outcome rows an Account carries: churn date, NPS and referrals."""
    account_id = salesforce_id(record, "Id", required=True)
    base = {"account_id": account_id, "synced_at": synced_at, "amount": None}
    rows = [
        {
            **base,
            "id": f"churn:{account_id}",
            "kind": "churn",
            "score": None,
            "occurred_on": parse_date(record.get("Churn_Date__c")),
        }
    ]
    if record.get("NPS_Score__c") is not None:
        rows.append(
            {
                **base,
                "id": f"nps:{account_id}",
                "kind": "nps",
                "occurred_on": None,
                "score": float(record["NPS_Score__c"]),
            }
        )
    if record.get("Referrals__c") is not None:
        rows.append(
            {
                **base,
                "id": f"referral:{account_id}",
                "kind": "referral",
                "occurred_on": None,
                "score": float(record["Referrals__c"]),
            }
        )
    return rows


def map_contact(record: Record, synced_at: datetime) -> Record:
    if not record.get("LastName"):
        raise DataQualityError("missing LastName on Contact")
    return {
        "id": salesforce_id(record, "Id", required=True),
        "account_id": salesforce_id(record, "AccountId"),
        "first_name": record.get("FirstName"),
        "last_name": record["LastName"],
        "title": record.get("Title"),
        "email": record.get("Email"),
        "street": record.get("MailingStreet"),
        "city": record.get("MailingCity"),
        "state": record.get("MailingState"),
        "postal_code": record.get("MailingPostalCode"),
        "country": record.get("MailingCountry"),
        "time_zone": record.get("Time_Zone__c"),
        "gift_opt_out": bool(record.get("Gift_Opt_Out__c")),
        "preferences": record.get("Gift_Preferences__c"),
        "is_deleted": bool(record.get("IsDeleted")),
        "system_modstamp": modstamp(record),
        "synced_at": synced_at,
    }


def contract_status(record: Record) -> str:
    if record.get("IsDeleted"):
        return "deleted"
    return "won" if record.get("IsWon") else "lost"


def map_contract(record: Record, synced_at: datetime) -> Record:
    """Map a New Business Opportunity to a contract row (``first_seen_at`` set on insert only)."""
    signed_on = parse_date(record.get("CloseDate"))
    if signed_on is None:
        raise DataQualityError("missing CloseDate on a won Opportunity: set it in Salesforce")
    return {
        "id": salesforce_id(record, "Id", required=True),
        "account_id": salesforce_id(record, "AccountId", required=True),
        "name": record.get("Name") or "",
        "deal_type": record.get("Type"),
        "amount": parse_amount(record.get("Amount")),
        "signed_on": signed_on,
        "use_case": record.get("Use_Case__c"),
        "goals": record.get("Goals__c"),
        "status": contract_status(record),
        "first_seen_at": synced_at,
        "system_modstamp": modstamp(record),
        "synced_at": synced_at,
    }


def map_expansion(record: Record, synced_at: datetime) -> Record:
    return {
        "id": f"expansion:{salesforce_id(record, 'Id', required=True)}",
        "account_id": salesforce_id(record, "AccountId", required=True),
        "kind": "expansion",
        "occurred_on": parse_date(record.get("CloseDate")),
        "amount": parse_amount(record.get("Amount")),
        "score": None,
        "synced_at": synced_at,
    }


def map_task(record: Record, _synced_at: datetime) -> Record:
    activity_date = parse_date(record.get("ActivityDate"))
    return {
        "id": salesforce_id(record, "Id", required=True),
        "account_id": salesforce_id(record, "AccountId"),
        "contact_id": salesforce_id(record, "WhoId"),
        "kind": (record.get("Type") or "task").lower(),
        "subject": record.get("Subject"),
        "description": record.get("Description"),
        "occurred_at": datetime.combine(activity_date, datetime.min.time())
        if activity_date
        else None,
        "is_deleted": bool(record.get("IsDeleted")),
        "system_modstamp": modstamp(record),
    }


def map_event(record: Record, _synced_at: datetime) -> Record:
    kind = EVENT_KINDS.get((record.get("Type") or "meeting").lower(), "meeting")
    return {
        "id": salesforce_id(record, "Id", required=True),
        "account_id": salesforce_id(record, "AccountId"),
        "contact_id": salesforce_id(record, "WhoId"),
        "kind": kind,
        "subject": record.get("Subject"),
        "description": record.get("Description"),
        "occurred_at": parse_datetime(record.get("ActivityDateTime")),
        "is_deleted": bool(record.get("IsDeleted")),
        "system_modstamp": modstamp(record),
    }


def map_case(record: Record, _synced_at: datetime) -> Record:
    return {
        "id": salesforce_id(record, "Id", required=True),
        "account_id": salesforce_id(record, "AccountId"),
        "priority": record.get("Priority"),
        "status": record.get("Status"),
        "is_closed": bool(record.get("IsClosed")),
        "opened_at": parse_datetime(record.get("CreatedDate")),
        "closed_at": parse_datetime(record.get("ClosedDate")),
        "is_deleted": bool(record.get("IsDeleted")),
        "system_modstamp": modstamp(record),
    }
