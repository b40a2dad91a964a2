"""In-memory Salesforce org: the records the Salesforce sandbox serves.

Records are plain dicts of field name to Python value (``str``, ``bool``, ``int``, ``float``,
``datetime.date``, timezone-aware UTC ``datetime.datetime`` or ``None``), without the REST API's
``attributes`` envelope, which the server adds when it serialises them.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Key prefixes of the standard objects, as Salesforce assigns them.
KEY_PREFIXES: dict[str, str] = {
    "User": "005",
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "OpportunityContactRole": "00K",
    "Contract": "800",
    "Task": "00T",
    "Event": "00U",
    "Case": "500",
}

_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Relationship:
    """A parent lookup: ``Opportunity.Account`` follows ``AccountId`` to an ``Account``."""

    foreign_key: str
    target: str


# Parent relationships the sandbox resolves in SOQL field lists such as ``Account.Name``.
RELATIONSHIPS: dict[str, dict[str, Relationship]] = {
    "Account": {"Owner": Relationship("OwnerId", "User")},
    "Contact": {"Account": Relationship("AccountId", "Account")},
    "Opportunity": {
        "Account": Relationship("AccountId", "Account"),
        "Owner": Relationship("OwnerId", "User"),
    },
    "OpportunityContactRole": {
        "Opportunity": Relationship("OpportunityId", "Opportunity"),
        "Contact": Relationship("ContactId", "Contact"),
    },
    "Task": {
        "Who": Relationship("WhoId", "Contact"),
        "Account": Relationship("AccountId", "Account"),
        "Owner": Relationship("OwnerId", "User"),
    },
    "Event": {
        "Who": Relationship("WhoId", "Contact"),
        "Account": Relationship("AccountId", "Account"),
        "Owner": Relationship("OwnerId", "User"),
    },
    "Contract": {
        "Account": Relationship("AccountId", "Account"),
        "CustomerSigned": Relationship("CustomerSignedId", "Contact"),
        "Owner": Relationship("OwnerId", "User"),
    },
    "Case": {
        "Account": Relationship("AccountId", "Account"),
        "Contact": Relationship("ContactId", "Contact"),
    },
    "User": {},
}


def id_checksum(id15: str) -> str:
    """Return the three-character suffix that turns a 15-character Salesforce Id into 18."""
    return _block_char(id15[0:5]) + _block_char(id15[5:10]) + _block_char(id15[10:15])


@functools.lru_cache(maxsize=65_536)
def _block_char(block: str) -> str:
    """Encode which of five characters are upper case; Id blocks repeat, so results are cached."""
    bits = 0
    for position, char in enumerate(block):
        if "A" <= char <= "Z":
            bits |= 1 << position
    return _ID_CHARS[bits]


_CASE_PATTERN = str.maketrans({char: "1" if char.isupper() else "0" for char in _BASE62})
_SUFFIXES: dict[str, str] = {}


def to_18(record_id: str) -> str:
    """Normalise a 15- or 18-character Salesforce Id to its 18-character form."""
    if len(record_id) == 18:
        id15 = record_id[:15]
    elif len(record_id) == 15:
        id15 = record_id
    else:
        raise ValueError(f"invalid Salesforce Id {record_id!r}: expected 15 or 18 characters")
    # The sync normalises several Ids per record. Upper case letters become "1" and digits and
    # lower case letters "0", and the 2**15 possible patterns map to their suffix.
    pattern = id15.translate(_CASE_PATTERN)
    suffix = _SUFFIXES.get(pattern)
    if suffix is None:
        suffix = id_checksum(id15)
        if not pattern.strip("01"):  # an Id with other characters is not cached
            _SUFFIXES[pattern] = suffix
    return id15 + suffix


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        digits.append(_BASE62[remainder])
    return "".join(reversed(digits))


@dataclass
class OrgStore:
    """Thread-safe record store, keyed by sObject name and then by 18-character Id."""

    objects: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {name: {} for name in KEY_PREFIXES}
    )
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def new_id(self, sobject: str) -> str:
        """Return a fresh 18-character Id with the object's key prefix.

        Ids already in the store are skipped, because a loaded export may contain any Id.
        """
        prefix = KEY_PREFIXES[sobject]
        with self._lock:
            while True:
                id15 = prefix + "5g" + _base62(next(self._counter), 10)
                record_id = id15 + id_checksum(id15)
                if record_id not in self.objects.get(sobject, {}):
                    return record_id

    def insert(self, sobject: str, fields: dict[str, Any], *, now: datetime | None = None) -> str:
        """Insert a record, stamping Id, CreatedDate, SystemModstamp and IsDeleted when absent."""
        if sobject not in self.objects:
            raise KeyError(f"unknown sObject {sobject!r}")
        stamp = now or datetime.now(UTC)
        with self._lock:
            record = _blank_as_null(fields)
            if "Id" not in record:
                record["Id"] = self.new_id(sobject)
            record.setdefault("CreatedDate", stamp)
            record.setdefault("SystemModstamp", stamp)
            record.setdefault("IsDeleted", False)
            self.objects[sobject][record["Id"]] = record
            return record["Id"]

    def update(
        self, sobject: str, record_id: str, fields: dict[str, Any], *, now: datetime | None = None
    ) -> None:
        """Update fields of an existing record and move its SystemModstamp forward."""
        with self._lock:
            record = self.objects[sobject][to_18(record_id)]
            record.update(_blank_as_null(fields))
            record["SystemModstamp"] = now or datetime.now(UTC)

    def delete(self, sobject: str, record_id: str, *, now: datetime | None = None) -> None:
        """Move a record to the recycle bin: ``query`` hides it, ``queryAll`` still returns it."""
        self.update(sobject, record_id, {"IsDeleted": True}, now=now)

    def undelete(self, sobject: str, record_id: str, *, now: datetime | None = None) -> None:
        self.update(sobject, record_id, {"IsDeleted": False}, now=now)

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        return self.objects.get(sobject, {}).get(to_18(record_id))

    def records(self, sobject: str) -> Iterator[dict[str, Any]]:
        """Yield a snapshot of an object's records, deleted ones included."""
        with self._lock:
            snapshot = list(self.objects[sobject].values())
        yield from snapshot

    def count(self, sobject: str) -> int:
        return len(self.objects[sobject])

    def field_samples(self, sobject: str) -> Iterator[dict[str, Any]]:
        """Yield the records that the field catalogue reads field names and types from."""
        return self.records(sobject)

    def ascending_order(self, sobject: str) -> tuple[str, ...]:
        """Return the fields by which ``records`` already yields ``sobject`` in ascending order.

        Queries ordered by a prefix of them skip sorting, so they stream. This store promises
        no order.
        """
        return ()


def _blank_as_null(fields: dict[str, Any]) -> dict[str, Any]:
    """Copy ``fields`` with empty strings as None: Salesforce stores a blank text field as null."""
    return {name: None if value == "" else value for name, value in fields.items()}
