"""Turn one Salesforce record into the warehouse rows it produces, per sObject.

A handler maps the whole record before returning, so a record that breaks a data rule adds no
row at all and is quarantined whole.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from gifting.salesforce import mapping
from gifting.salesforce.batch import REMOVED_OUTCOMES, STATUS_TABLE, Row
from gifting.salesforce.config import FieldMapping

Record = dict[str, Any]
Handler = Callable[[Record, datetime, FieldMapping], list[tuple[str, Row]]]


def handle_account(record: Record, now: datetime, fields: FieldMapping) -> list[tuple[str, Row]]:
    rows = [("accounts", mapping.map_account(record, now, fields))]
    rows += [("outcomes", row) for row in mapping.map_account_outcomes(record, now, fields)]
    return rows


def handle_contact(record: Record, now: datetime, fields: FieldMapping) -> list[tuple[str, Row]]:
    return [("contacts", mapping.map_contact(record, now, fields))]


def handle_trigger(record: Record, now: datetime, fields: FieldMapping) -> list[tuple[str, Row]]:
    """Store a contract, or change the status of a known one that left the trigger state."""
    if mapping.is_contract(record, fields):
        return [("contracts", mapping.map_contract(record, now, fields))]
    change = {
        "id": mapping.salesforce_id(record, "Id", required=True),
        "status": mapping.contract_status(record, fields),
        "system_modstamp": mapping.modstamp(record),
        "synced_at": now,
    }
    return [(STATUS_TABLE, change)]


def handle_opportunity(
    record: Record, now: datetime, fields: FieldMapping
) -> list[tuple[str, Row]]:
    deal_type = record.get(fields.opportunity.type)
    if fields.trigger.object == "Opportunity" and deal_type in fields.trigger.opportunity_types:
        return handle_trigger(record, now, fields)
    if deal_type in fields.opportunity.expansion_types:
        kind = "expansion"
    elif deal_type in fields.opportunity.renewal_types:
        kind = "renewal"
    else:
        # NOTE: a won deal with a blank Type is ignored here like any other type, without a
        # quarantine row, so an org that leaves Type empty gets no gifts and no warning.
        return []
    if record.get("IsWon") and not record.get("IsDeleted"):
        return [("outcomes", mapping.map_expansion(record, now, kind))]
    # A deal that was won and is now deleted or reopened must stop counting as an outcome.
    deal_id = mapping.salesforce_id(record, "Id", required=True)
    return [(REMOVED_OUTCOMES, {"id": f"{kind}:{deal_id}"})]


HANDLERS: dict[str, Handler] = {
    "Account": handle_account,
    "Contact": handle_contact,
    "Opportunity": handle_opportunity,
    "Contract": handle_trigger,
    "Task": lambda record, now, _fields: [("activities", mapping.map_task(record, now))],
    "Event": lambda record, now, _fields: [("activities", mapping.map_event(record, now))],
    "Case": lambda record, now, _fields: [("cases", mapping.map_case(record, now))],
}
