"""Map Salesforce records to warehouse rows.

Each mapper takes one record as the REST API returns it and returns a row, or raises
``DataQualityError`` naming the field to fix, so that the sync quarantines the record and goes on.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from gifting.errors import DataQualityError
from gifting.salesforce.bulk_csv import FieldKind
from gifting.salesforce.config import FieldMapping
from gifting.sandbox.org import to_18

__all__ = ["to_18"]

Record = dict[str, Any]

# Standard fields read from each object. The fields an org names itself come from the
# ``FieldMapping`` and are appended by ``query_fields``.
STANDARD_FIELDS: dict[str, list[str]] = {
    "Account": [
        "Id",
        "Name",
        "Industry",
        "BillingCountry",
        "BillingState",
        "OwnerId",
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
        "IsDeleted",
        "SystemModstamp",
    ],
    "Opportunity": [
        "Id",
        "AccountId",
        "Name",
        "StageName",
        "IsWon",
        "CloseDate",
        "Amount",
        "IsDeleted",
        "SystemModstamp",
    ],
    "Contract": ["Id", "AccountId", "ContractNumber", "Status", "IsDeleted", "SystemModstamp"],
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

# Standard fields whose Bulk API CSV text must be converted back to their REST JSON value.
STANDARD_FIELD_KINDS: dict[str, FieldKind] = {
    "IsDeleted": "boolean",
    "IsWon": "boolean",
    "IsClosed": "boolean",
    "Amount": "number",
    "SystemModstamp": "datetime",
    "CreatedDate": "datetime",
    "ClosedDate": "datetime",
    "ActivityDateTime": "datetime",
}

# The one datetime form Salesforce sends, which ``datetime.fromisoformat`` reads as it is.
_SALESFORCE_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}")

EVENT_KINDS = {"kickoff": "kickoff", "go-live": "go_live", "qbr": "qbr", "meeting": "meeting"}


def query_fields(sobject: str, fields: FieldMapping) -> list[str]:
    """Return the standard fields of ``sobject`` followed by the mapped ones, each once."""
    names = list(STANDARD_FIELDS[sobject])
    seen = {name.casefold() for name in names}
    for name in fields.entries(sobject).values():
        if name.casefold() not in seen:
            names.append(name)
            seen.add(name.casefold())
    return names


def field_kinds(sobject: str, fields: FieldMapping) -> dict[str, FieldKind]:
    """Return the kind of each non-text field the sync reads from ``sobject``, for Bulk CSV."""
    configured: dict[str, FieldKind] = {
        "account.strategic": "boolean",
        "account.nps": "number",
        "account.referrals": "number",
        "contact.gift_opt_out": "boolean",
    }
    kinds = {
        name: STANDARD_FIELD_KINDS[name]
        for name in STANDARD_FIELDS[sobject]
        if name in STANDARD_FIELD_KINDS
    }
    for entry, name in fields.entries(sobject).items():
        if entry in configured:
            kinds[name] = configured[entry]
    return kinds


def mapped(record: Record, field: str | None) -> Any:
    """Return the value of a mapped field, or None when the mapping leaves it out."""
    return None if field is None else record.get(field)


@functools.lru_cache(maxsize=64)
def parse_datetime(value: str | None) -> datetime | None:
    """Parse Salesforce's ``2024-03-05T17:22:10.000+0000`` into naive UTC.

    The sync parses each ``SystemModstamp`` twice in a row, so a small cache halves the work.
    """
    if value is None:
        return None
    try:
        if isinstance(value, str) and _SALESFORCE_DATETIME.fullmatch(value):
            if value.endswith("+0000"):
                # Already UTC, the form Salesforce sends: skip the time zone conversion.
                return datetime.fromisoformat(value[:-5])
            # Over ten times faster than strptime (timeit, Python 3.11), which counts at scale.
            parsed = datetime.fromisoformat(value)
        else:
            parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError as error:
        raise DataQualityError(
            f"invalid datetime {value!r}: expected 2024-03-05T17:22:10.000+0000"
        ) from error
    return parsed.astimezone(UTC).replace(tzinfo=None)


@functools.lru_cache(maxsize=1024)
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
    except (TypeError, ValueError) as error:
        raise DataQualityError(f"invalid Salesforce Id {value!r} in {field}") from error


def modstamp(record: Record) -> datetime:
    stamp = parse_datetime(record.get("SystemModstamp"))
    if stamp is None:
        raise DataQualityError("missing SystemModstamp")
    return stamp


def map_account(record: Record, synced_at: datetime, fields: FieldMapping) -> Record:
    if not record.get("Name"):
        raise DataQualityError("missing Name on Account")
    return {
        "id": salesforce_id(record, "Id", required=True),
        "name": record["Name"],
        "industry": record.get("Industry"),
        "country": record.get("BillingCountry"),
        "state": record.get("BillingState"),
        "owner_id": salesforce_id(record, "OwnerId"),
        "is_strategic": bool(mapped(record, fields.account.strategic)),
        "gift_policy_cap_usd": _policy_cap(record, fields.account.gift_policy_cap),
        "gift_policy_no_gifts": _flag(record, fields.account.no_gifts_policy),
        "gift_policy_no_alcohol": _flag(record, fields.account.no_alcohol_policy),
        "is_deleted": bool(record.get("IsDeleted")),
        "system_modstamp": modstamp(record),
        "synced_at": synced_at,
    }


def _flag(record: Record, field: str | None) -> bool | None:
    """Return a mapped checkbox as a bool, or ``None`` when the mapping leaves the field out."""
    return None if field is None else bool(record.get(field))


def _policy_cap(record: Record, field: str | None) -> Decimal | None:
    cap = parse_amount(mapped(record, field))
    if cap is not None and cap < 0:
        raise DataQualityError(f"invalid gift policy cap {cap} in {field}: expected 0 or more USD")
    return cap


def map_account_outcomes(record: Record, synced_at: datetime, fields: FieldMapping) -> list[Record]:
    """Return the outcome rows an Account carries: churn and non-renewal dates, testimonial,
    case study, NPS and referrals."""
    account_id = salesforce_id(record, "Id", required=True)
    base = {"account_id": account_id, "synced_at": synced_at, "amount": None}
    rows = [
        {
            "account_id": account_id,
            "synced_at": synced_at,
            "amount": None,
            "id": f"churn:{account_id}",
            "kind": "churn",
            "score": None,
            "occurred_on": parse_date(mapped(record, fields.account.churn_date)),
        }
    ]
    # A mapped date outcome always gets a row, so clearing the field in Salesforce clears it.
    if fields.account.non_renewal_date is not None:
        rows.append(
            {
                **base,
                "id": f"non_renewal:{account_id}",
                "kind": "non_renewal",
                "score": None,
                "occurred_on": parse_date(record.get(fields.account.non_renewal_date)),
            }
        )
    for kind, field in (
        ("testimonial", fields.account.testimonial),
        ("case_study", fields.account.case_study),
    ):
        if field is not None:
            rows.append(
                _participation(base, f"{kind}:{account_id}", kind, record.get(field), field)
            )
    for kind, field in (("nps", fields.account.nps), ("referral", fields.account.referrals)):
        value = mapped(record, field)
        if value is not None:
            rows.append(
                {
                    "account_id": account_id,
                    "synced_at": synced_at,
                    "amount": None,
                    "id": f"{kind}:{account_id}",
                    "kind": kind,
                    "occurred_on": None,
                    "score": parse_score(value, field),
                }
            )
    return rows


def _participation(base: Record, row_id: str, kind: str, value: object, field: str) -> Record:
    """Map a checkbox or date field that records taking part (a testimonial, a case study).

    A checked box or a date gives score 1; an unchecked box or a blank gives score 0, which the
    report reads as not taken part. A checkbox has no date, so ``occurred_on`` stays null.
    """
    if isinstance(value, str) and value.casefold() in {"true", "false"}:
        value = value.casefold() == "true"  # Bulk API CSV sends checkboxes as text
    if value is None or isinstance(value, bool):
        return {
            **base,
            "id": row_id,
            "kind": kind,
            "occurred_on": None,
            "score": float(bool(value)),
        }
    try:
        occurred_on = parse_date(value)  # type: ignore[arg-type]
    except (DataQualityError, TypeError) as error:
        raise DataQualityError(
            f"invalid value {value!r} in {field}: expected a checkbox or a YYYY-MM-DD date"
        ) from error
    return {**base, "id": row_id, "kind": kind, "occurred_on": occurred_on, "score": 1.0}


def parse_score(value: object, field: str | None) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as error:
        raise DataQualityError(f"invalid number {value!r} in {field}") from error


def map_contact(record: Record, synced_at: datetime, fields: FieldMapping) -> Record:
    if not record.get("LastName"):
        raise DataQualityError("missing LastName on Contact: set it in Salesforce, then sync again")
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
        "time_zone": mapped(record, fields.contact.time_zone),
        "gift_opt_out": bool(mapped(record, fields.contact.gift_opt_out)),
        "preferences": mapped(record, fields.contact.preferences),
        "is_healthcare_professional": _flag(record, fields.contact.healthcare_professional),
        "is_deleted": bool(record.get("IsDeleted")),
        "system_modstamp": modstamp(record),
        "synced_at": synced_at,
    }


def contract_status(record: Record, fields: FieldMapping) -> str:
    """Return ``won``, ``lost`` or ``deleted`` for a trigger record (Opportunity or Contract)."""
    if record.get("IsDeleted"):
        return "deleted"
    if fields.trigger.object == "Contract":
        return "won" if record.get("Status") == fields.trigger.contract_status else "lost"
    return "won" if record.get("IsWon") else "lost"


def is_contract(record: Record, fields: FieldMapping) -> bool:
    """Tell whether a live trigger record starts a contract now."""
    return contract_status(record, fields) == "won"


def map_contract(record: Record, synced_at: datetime, fields: FieldMapping) -> Record:
    """Map a trigger record to a contract row (``first_seen_at`` set on insert only).

    With the ``lookup_field`` recipient rule the row also carries the recipient, normalised to an
    18-character Id; with ``primary_contact_role`` the sync links it afterwards.
    """
    trigger = fields.trigger
    signed_on = parse_date(record.get(trigger.signing_date))
    if signed_on is None:
        raise DataQualityError(
            f"missing {trigger.signing_date} on a won {trigger.object}: set it in Salesforce"
        )
    is_opportunity = trigger.object == "Opportunity"
    row = {
        "id": salesforce_id(record, "Id", required=True),
        "account_id": salesforce_id(record, "AccountId", required=True),
        "name": (record.get("Name") if is_opportunity else record.get("ContractNumber")) or "",
        "deal_type": record.get(fields.opportunity.type) if is_opportunity else trigger.object,
        "amount": parse_amount(record.get("Amount")) if is_opportunity else None,
        "signed_on": signed_on,
        "use_case": mapped(record, trigger.use_case),
        "goals": mapped(record, trigger.goals),
        "status": contract_status(record, fields),
        "first_seen_at": synced_at,
        "system_modstamp": modstamp(record),
        "synced_at": synced_at,
    }
    if fields.recipient.rule == "lookup_field":
        row["contact_id"] = salesforce_id(record, fields.recipient.lookup_field or "")
        row["contact_role"] = None
    return row


def map_expansion(record: Record, synced_at: datetime, kind: str = "expansion") -> Record:
    """Map a won Opportunity that records an outcome: an ``expansion`` or a ``renewal``."""
    return {
        "id": f"{kind}:{salesforce_id(record, 'Id', required=True)}",
        "account_id": salesforce_id(record, "AccountId", required=True),
        "kind": kind,
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
