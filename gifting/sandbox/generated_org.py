"""An org of any size whose Accounts, Contacts and Opportunities are computed, not stored.

The sample org keeps every record in memory, an estimated 1.5 KiB each, so a million-record org
would need gigabytes. ``GeneratedOrgStore`` builds record ``i`` from ``i`` whenever it is read, in
ascending ``SystemModstamp`` order, so queries ordered that way stream without sorting and the
sandbox serves a million records in constant memory. Each account has one contact and one won
opportunity. Text fields cycle through emoji, CJK, right-to-left script, quotes, commas and line
breaks, so the benchmark pays for real UTF-8 and CSV quoting.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from gifting.sandbox.org import KEY_PREFIXES, OrgStore

GENERATED_OBJECTS = ("Account", "Contact", "Opportunity")
START = datetime(2024, 1, 1, tzinfo=UTC)

_NAMES = (
    "Geschenke & Co. 🎁",
    "株式会社ギフト",
    "شركة الهدايا",
    'The "Gift" Company, Inc.',
    "Nordlicht\nLogistik",
)
_INDUSTRIES = ("Software", "Healthcare", "Manufacturing", "Retail", None)
_COUNTRIES = (("DE", "BE"), ("JP", "13"), ("EG", None), ("US", "CA"), ("NO", None))
_TIME_ZONES = ("Europe/Berlin", "Asia/Tokyo", "Africa/Cairo", "America/Los_Angeles", None)


class GeneratedOrgStore(OrgStore):
    """An ``OrgStore`` with ``accounts`` generated Accounts, Contacts and Opportunities.

    Other objects behave as in ``OrgStore`` and start empty. The generated records cannot be
    changed: they are rebuilt on every read.
    """

    def __init__(self, accounts: int) -> None:
        super().__init__()
        if accounts < 0:
            raise ValueError(f"invalid accounts {accounts!r}: expected 0 or more")
        self.accounts = accounts
        self._builders = {
            "Account": _account,
            "Contact": _contact,
            "Opportunity": _opportunity,
        }

    def records(self, sobject: str) -> Iterator[dict[str, Any]]:
        build = self._builders.get(sobject)
        if build is None:
            return super().records(sobject)
        return (build(index) for index in range(self.accounts))

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        build = self._builders.get(sobject)
        if build is None:
            return super().get(sobject, record_id)
        index = _index(sobject, record_id)
        return None if index is None else build(index)

    def count(self, sobject: str) -> int:
        return self.accounts if sobject in self._builders else super().count(sobject)

    def field_samples(self, sobject: str) -> Iterator[dict[str, Any]]:
        """Yield one record per cycle of the generator, which covers every field's type."""
        build = self._builders.get(sobject)
        if build is None:
            return super().field_samples(sobject)
        return (build(index) for index in range(min(self.accounts, 2 * len(_NAMES))))

    def ascending_order(self, sobject: str) -> tuple[str, ...]:
        return ("SystemModstamp",) if sobject in self._builders else ()


def record_id(sobject: str, index: int) -> str:
    """Return the 18-character Id of generated record ``index``; digits need no checksum case."""
    return f"{KEY_PREFIXES[sobject]}5g{index:010d}AAA"


def _index(sobject: str, value: str) -> int | None:
    prefix = KEY_PREFIXES[sobject] + "5g"
    digits = value[5:15]
    if len(value) not in (15, 18) or not value.startswith(prefix) or not digits.isdigit():
        return None
    return int(digits)


def _stamp(index: int, offset_s: int) -> datetime:
    # Three records per account, a second apart, so every object's stamps ascend with index.
    return START + timedelta(seconds=3 * index + offset_s, milliseconds=index % 1000)


def _account(index: int) -> dict[str, Any]:
    country, state = _COUNTRIES[index % len(_COUNTRIES)]
    stamp = _stamp(index, 0)
    return {
        "Id": record_id("Account", index),
        "Name": f"{_NAMES[index % len(_NAMES)]} {index}",
        "Industry": _INDUSTRIES[index % len(_INDUSTRIES)],
        "BillingCountry": country,
        "BillingState": state,
        "OwnerId": None,
        "Strategic__c": index % 7 == 0,
        "Churn_Date__c": date(2025, 1, 1) + timedelta(days=index % 300) if index % 9 == 0 else None,
        "NPS_Score__c": index % 11 if index % 3 else None,
        "Referrals__c": index % 3,
        "IsDeleted": False,
        "CreatedDate": stamp,
        "SystemModstamp": stamp,
    }


def _contact(index: int) -> dict[str, Any]:
    stamp = _stamp(index, 1)
    return {
        "Id": record_id("Contact", index),
        "AccountId": record_id("Account", index),
        "FirstName": "Zoë" if index % 2 else "陽翔",
        "LastName": f"{_NAMES[(index + 1) % len(_NAMES)]} {index}",
        "Title": "VP, Customer Success" if index % 4 else None,
        "Email": f"contact{index}@example.com",
        "MailingStreet": f'{index} "Main" Street, Suite 5' if index % 10 else None,
        "MailingCity": "Berlin",
        "MailingState": None,
        "MailingPostalCode": f"{index % 100000:05d}",
        "MailingCountry": "DE",
        "Time_Zone__c": _TIME_ZONES[index % len(_TIME_ZONES)],
        "Gift_Preferences__c": "no sweets,\nvegan" if index % 6 == 0 else None,
        "Gift_Opt_Out__c": index % 25 == 0,
        "IsDeleted": False,
        "CreatedDate": stamp,
        "SystemModstamp": stamp,
    }


def _opportunity(index: int) -> dict[str, Any]:
    stamp = _stamp(index, 2)
    return {
        "Id": record_id("Opportunity", index),
        "AccountId": record_id("Account", index),
        "Name": f"{_NAMES[index % len(_NAMES)]} {index}: New Business",
        "StageName": "Closed Won",
        "IsWon": True,
        "CloseDate": stamp.date(),
        "Amount": float(1000 + index % 50_000) if index % 8 else None,
        "Type": "New Business",
        "Use_Case__c": "Onboarding, renewals and ✨ delight" if index % 2 else None,
        "Goals__c": "Reduce churn by 10 %",
        "IsDeleted": False,
        "CreatedDate": stamp,
        "SystemModstamp": stamp,
    }
