"""Conversion between ``OrgStore`` values and the JSON the Salesforce REST API exchanges."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from gifting.sandbox.salesforce_schema import FieldType
from gifting.sandbox.soql_eval import SelectedRecord


class FieldValueError(ValueError):
    """A JSON value that does not fit the field's type; the API reports JSON_PARSER_ERROR."""


def format_value(value: Any) -> Any:
    """Return a stored value in REST form.

    Salesforce writes datetimes in UTC with milliseconds and a ``+0000`` offset
    (``2024-03-05T17:22:10.000+0000``) and dates as ``2024-03-05``.
    """
    if isinstance(value, datetime):
        utc = value.astimezone(UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"
    if isinstance(value, date):
        return value.isoformat()
    return value


def record_url(version: str, sobject: str, record_id: str) -> str:
    return f"/services/data/v{version}/sobjects/{sobject}/{record_id}"


def attributes(version: str, sobject: str, record_id: str) -> dict[str, str]:
    """Return the ``attributes`` envelope that opens every record in REST responses."""
    return {"type": sobject, "url": record_url(version, sobject, record_id)}


def selected_record_json(row: SelectedRecord, version: str) -> dict[str, Any]:
    """Serialise one query row; parents become nested records or null, as Salesforce sends them."""
    body: dict[str, Any] = {"attributes": attributes(version, row.sobject, row.record_id)}
    for name, value in row.fields.items():
        if isinstance(value, SelectedRecord):
            body[name] = selected_record_json(value, version)
        else:
            body[name] = format_value(value)
    return body


def stored_record_json(sobject: str, record: dict[str, Any], version: str) -> dict[str, Any]:
    """Serialise a whole stored record, Id first, as ``GET /sobjects/{Object}/{Id}`` returns it."""
    body: dict[str, Any] = {
        "attributes": attributes(version, sobject, record["Id"]),
        "Id": record["Id"],
    }
    body.update((name, format_value(value)) for name, value in record.items() if name != "Id")
    return body


def parse_field_value(field: str, field_type: FieldType | None, value: Any) -> Any:
    """Convert a JSON value from a create or update body to the Python type the store holds.

    Raises:
        FieldValueError: The value does not fit the field's type.
    """
    if value is None or field_type is None:
        return value
    if field_type == "date":
        return _parse_date(field, value)
    if field_type == "dateTime":
        return _parse_datetime(field, value)
    expected: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "boolean": bool,
        "double": (int, float),
    }
    if not isinstance(value, expected[field_type]) or (
        field_type == "double" and isinstance(value, bool)
    ):
        raise FieldValueError(f"Cannot deserialize {value!r} as {field_type} for field {field}")
    return value


def _parse_date(field: str, value: Any) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise FieldValueError(f"Cannot deserialize {value!r} as date for field {field}") from None


def _parse_datetime(field: str, value: Any) -> datetime:
    """Parse an ISO 8601 datetime; Salesforce reads one without an offset as UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise FieldValueError(
            f"Cannot deserialize {value!r} as dateTime for field {field}"
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
