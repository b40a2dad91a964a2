"""Field types and cell parsing for Salesforce data exports in CSV.

Data Export, Data Loader and Bulk API 2.0 write one CSV file per object with API field names in
the header. A cell contains text only: checkboxes as ``true``/``false``, dates as ``2024-03-05``,
datetimes in UTC as ``2024-03-05T17:22:10.000Z``, and nulls as empty cells. The CSV carries no
types, so this module declares the types of the fields the product reads and infers the rest.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any, Literal

from gifting.salesforce.config import FieldMapping
from gifting.sandbox.org import RELATIONSHIPS, to_18

# ``id`` is a string that contains a record Id, normalised to 18 characters on load.
CellType = Literal["string", "boolean", "double", "date", "dateTime", "id"]

# Standard fields whose type the header alone cannot show. Fields not listed here, and not named
# by config/salesforce.yaml, get a type inferred from their values by ``infer_type``.
_STANDARD_TYPES: dict[CellType, frozenset[str]] = {
    "boolean": frozenset(
        {"IsDeleted", "IsWon", "IsClosed", "IsPrimary", "IsActive", "IsEscalated"}
        | {"IsAllDayEvent", "IsHighPriority", "HasOptedOutOfEmail", "DoNotCall"}
    ),
    "date": frozenset(
        {"CloseDate", "ActivityDate", "StartDate", "EndDate", "CustomerSignedDate"}
        | {"CompanySignedDate", "Birthdate", "LastActivityDate"}
    ),
    "dateTime": frozenset(
        {"CreatedDate", "LastModifiedDate", "SystemModstamp", "ActivityDateTime"}
        | {"StartDateTime", "EndDateTime", "ClosedDate", "ActivatedDate", "LastViewedDate"}
        | {"LastReferencedDate"}
    ),
    "double": frozenset(
        {"Amount", "Probability", "ExpectedRevenue", "AnnualRevenue", "NumberOfEmployees"}
        | {"DurationInMinutes", "ContractTerm", "TotalOpportunityQuantity"}
    ),
    "id": frozenset({"Id", "WhatId", "OwnerId", "CreatedById", "LastModifiedById"}),
}

# Checkbox spellings Data Loader accepts, compared case-insensitively.
_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# ISO 8601 as exports write it: a ``T`` or a space, optional fraction, ``Z`` or a numeric offset.
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})?$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$")
_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")


class CellError(ValueError):
    """A cell whose text does not fit its column's type; the message names the format to write."""


def declared_types(sobject: str, fields: FieldMapping) -> dict[str, CellType]:
    """Return the types of the fields the product reads from ``sobject``, keyed by API name.

    Standard fields come from ``_STANDARD_TYPES`` and the parent lookups of the object. Custom
    fields come from the role ``config/salesforce.yaml`` gives them: a checkbox, a date, a number
    or an Id lookup.
    """
    types: dict[str, CellType] = {}
    for cell_type, names in _STANDARD_TYPES.items():
        types.update(dict.fromkeys(names, cell_type))
    for relation in RELATIONSHIPS.get(sobject, {}).values():
        types[relation.foreign_key] = "id"
    roles: dict[CellType, list[str | None]] = {
        "boolean": [fields.account.strategic, fields.contact.gift_opt_out],
        "date": [fields.account.churn_date, fields.trigger.signing_date],
        "double": [fields.account.nps, fields.account.referrals],
        "id": [fields.recipient.lookup_field],
    }
    entries = set(fields.entries(sobject).values())
    for cell_type, names in roles.items():
        for name in names:
            if name is not None and name in entries:
                types[name] = cell_type
    return types


def infer_type(values: list[str]) -> CellType:
    """Infer a column's type from its non-empty cells: checkbox, date or datetime, else text.

    Numbers stay text, because codes such as postal codes look like numbers but are not.
    """
    cells = [value for value in values if value != ""]
    if not cells:
        return "string"
    if all(value.casefold() in _TRUE | _FALSE for value in cells):
        return "boolean"
    if all(_DATE.match(value) for value in cells):
        return "date"
    if all(_DATETIME.match(value) for value in cells):
        return "dateTime"
    return "string"


def parse_cell(value: str, cell_type: CellType) -> Any:
    """Convert one cell to the Python value the ``OrgStore`` keeps; an empty cell is None.

    Text is kept exactly as written, surrounding spaces included.

    Raises:
        CellError: The text does not fit ``cell_type``.
    """
    if value == "":
        # A checkbox is never null in Salesforce; an empty one is unchecked.
        return False if cell_type == "boolean" else None
    parsers = {
        "boolean": _parse_boolean,
        "date": _parse_date,
        "dateTime": _parse_datetime,
        "double": _parse_number,
        "id": _parse_id,
    }
    parser = parsers.get(cell_type)
    return value if parser is None else parser(value)


def _parse_boolean(value: str) -> bool:
    folded = value.casefold()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise CellError(f"invalid checkbox value {value!r}: write true or false")


def _parse_date(value: str) -> date:
    text = value[:10] if _DATETIME.match(value) else value
    try:
        if not _DATE.match(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise CellError(
            f"invalid date {value!r}: write YYYY-MM-DD, such as 2024-03-05, as Salesforce "
            "exports do (a spreadsheet may have reformatted the column)"
        ) from None


def _parse_datetime(value: str) -> datetime:
    try:
        if not _DATETIME.match(value):
            raise ValueError(value)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CellError(
            f"invalid datetime {value!r}: write UTC as YYYY-MM-DDThh:mm:ss.sssZ, such as "
            "2024-03-05T17:22:10.000Z, as Salesforce exports do"
        ) from None
    # Data Loader writes datetimes in GMT unless its time zone setting is changed, so a value
    # without an offset is read as UTC.
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _parse_number(value: str) -> float:
    if not _NUMBER.match(value):
        raise CellError(
            f"invalid number {value!r}: write digits with a point for decimals, such as 1500.50, "
            "without thousands separators or a currency sign"
        )
    return float(value)


def _parse_id(value: str) -> str:
    if not _ID.match(value):
        raise CellError(
            f"invalid Salesforce Id {value!r}: expected 15 or 18 letters and digits, "
            "such as 0015g00000AbCdEAAV"
        )
    return to_18(value)
