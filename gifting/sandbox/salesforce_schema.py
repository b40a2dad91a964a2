"""Field catalogue of the sandbox org: which fields each sObject has and which type each holds.

The ``OrgStore`` has no declared schema, so the catalogue is derived from the records themselves.
An object's fields are the keys seen in its records, the system fields every record has and the
foreign keys of its parent relationships. Activity objects, which start empty, also get the
standard fields the product writes. A field's type is the type of its first non-null value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from gifting.sandbox.org import RELATIONSHIPS, OrgStore

# Type names as Salesforce spells them in its filter error messages.
FieldType = Literal["string", "boolean", "double", "date", "dateTime"]

SYSTEM_FIELDS: dict[str, FieldType] = {
    "Id": "string",
    "IsDeleted": "boolean",
    "CreatedDate": "dateTime",
    "SystemModstamp": "dateTime",
}

# Salesforce sets these itself, so a create or update that names one is rejected.
READ_ONLY_FIELDS = frozenset(SYSTEM_FIELDS)

# Standard fields of objects that may hold no records: the activity objects until the product
# writes some, and the events and cases of an org loaded from an export without those files.
# Salesforce has these columns whether or not a record uses them.
STANDARD_FIELDS: dict[str, dict[str, FieldType]] = {
    "Task": {
        "Subject": "string",
        "Status": "string",
        "Priority": "string",
        "Type": "string",
        "TaskSubtype": "string",
        "Description": "string",
        "ActivityDate": "date",
        "WhatId": "string",
    },
    "Event": {
        "Subject": "string",
        "Type": "string",
        "Description": "string",
        "ActivityDate": "date",
        "ActivityDateTime": "dateTime",
        "StartDateTime": "dateTime",
        "EndDateTime": "dateTime",
        "DurationInMinutes": "double",
        "WhatId": "string",
    },
    "Case": {
        "Subject": "string",
        "Status": "string",
        "Priority": "string",
        "Type": "string",
        "Origin": "string",
        "IsClosed": "boolean",
        "ClosedDate": "dateTime",
    },
}

# Polymorphic lookups that RELATIONSHIPS does not model but whose values are still record Ids.
_POLYMORPHIC_ID_FIELDS = frozenset({"WhatId"})


@dataclass(frozen=True)
class ObjectSchema:
    """The fields of one sObject.

    Attributes:
        name: The sObject's API name, such as ``Account``.
        types: Canonical field name to type, None while no record contains a value for it.
        id_fields: Fields that contain record Ids, which match 15- and 18-character forms alike.
    """

    name: str
    types: dict[str, FieldType | None]
    id_fields: frozenset[str]

    def canonical_field(self, name: str) -> str | None:
        """Return the field's canonical spelling; SOQL and the REST API ignore case in names."""
        wanted = name.casefold()
        for field in self.types:
            if field.casefold() == wanted:
                return field
        return None


def canonical_sobject(store: OrgStore, name: str) -> str | None:
    """Return the store's spelling of an sObject name, matched case-insensitively."""
    wanted = name.casefold()
    return next((sobject for sobject in store.objects if sobject.casefold() == wanted), None)


def value_type(value: Any) -> FieldType | None:
    """Return the Salesforce type of a stored Python value, or None for None."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "double"
    if isinstance(value, datetime):
        return "dateTime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, str):
        return "string"
    return None


def describe_object(store: OrgStore, sobject: str) -> ObjectSchema:
    """Build the schema of one sObject from its records and the declared fields."""
    foreign_keys = {relation.foreign_key for relation in RELATIONSHIPS.get(sobject, {}).values()}
    types: dict[str, FieldType | None] = dict(SYSTEM_FIELDS)
    types.update(STANDARD_FIELDS.get(sobject, {}))
    for foreign_key in foreign_keys:
        types.setdefault(foreign_key, "string")
    # NOTE: a field that is null in every record has no type, so filters on it accept a literal of
    # any type, where a real org would reject a mismatched one.
    for record in store.field_samples(sobject):
        for field, value in record.items():
            if types.get(field) is None:
                types[field] = value_type(value)
    id_fields = frozenset({"Id"} | foreign_keys | (_POLYMORPHIC_ID_FIELDS & types.keys()))
    return ObjectSchema(name=sobject, types=types, id_fields=id_fields)
