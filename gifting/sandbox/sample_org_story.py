"""Shared pieces of the sample org: Ids, local business hours and one account's story.

The builders in ``sample_org_people``, ``sample_org_deals`` and ``sample_org_activity`` all read
the same :class:`AccountStory`, so every record of an account agrees on who signed, when, and
whether and when the account churned.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from gifting.sandbox.org import KEY_PREFIXES, id_checksum
from gifting.sandbox.sample_org_data import City, Country

Record = dict[str, Any]

# The two characters after the key prefix are the Salesforce instance (pod) in real Ids.
# OrgStore.new_id uses "5g", so sample Ids use "5s" and never collide with records the product
# creates later through the sandbox.
SAMPLE_INSTANCE = "5s"


class IdAllocator:
    """Hand out sequential 18-character Ids per sObject, independent of any store's counter.

    The generator assigns Ids itself, because the holdout is a hash of the Account Id and
    ``iter_sample_records`` must produce the same Ids without a store.

    NOTE: Ids depend on record order only, not on the seed, so the n-th Account has the same Id
    and the same arm under every seed. Change ``holdout_salt`` to draw a different holdout.
    """

    def __init__(self) -> None:
        self._counters: dict[str, int] = dict.fromkeys(KEY_PREFIXES, 0)

    def next(self, sobject: str) -> str:
        self._counters[sobject] += 1
        id15 = f"{KEY_PREFIXES[sobject]}{SAMPLE_INSTANCE}{self._counters[sobject]:010d}"
        return id15 + id_checksum(id15)


@cache
def zone_info(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_business_time(rng: random.Random, day: date, zone: str) -> datetime:
    """Return a UTC datetime during working hours (09:00–17:45) on ``day`` in ``zone``."""
    local = time(hour=rng.randint(9, 17), minute=rng.choice((0, 15, 30, 45)))
    return datetime.combine(day, local, tzinfo=zone_info(zone)).astimezone(UTC)


def fill_pattern(rng: random.Random, pattern: str) -> str:
    """Replace ``#`` with a random digit and ``@`` with a random uppercase letter."""
    characters = []
    for character in pattern:
        if character == "#":
            characters.append(str(rng.randint(0, 9)))
        elif character == "@":
            characters.append(chr(rng.randint(65, 90)))
        else:
            characters.append(character)
    return "".join(characters)


def add_years(day: date, years: int) -> date:
    """Return the same calendar day ``years`` later, moving 29 February to 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


@dataclass
class AccountStory:
    """History of one customer account, shared by every record built for it.

    ``last_active`` is the last day anything can happen: the churn date, or ``as_of`` when the
    account is still a customer.
    """

    index: int
    account_id: str
    owner_id: str
    country: Country
    city: City
    name: str
    domain: str
    created_at: datetime
    opened_at: datetime
    close_date: date
    close_at: datetime
    as_of: datetime
    office_street: str = ""
    office_postal_code: str = ""
    lost_attempt_opened: date | None = None
    lost_attempt_close: date | None = None
    contacts: list[Record] = field(default_factory=list)
    arm: str = "not_gifted"
    churn_date: date | None = None
    new_business_id: str = ""

    @property
    def primary(self) -> Record:
        return self.contacts[0]

    @property
    def zone(self) -> str:
        return self.city.time_zone

    @property
    def last_active(self) -> date:
        if self.churn_date is not None:
            return self.churn_date
        return self.as_of.date()

    def at(self, rng: random.Random, day: date) -> datetime:
        """Return a business-hours timestamp on ``day``, never later than ``as_of``."""
        return min(local_business_time(rng, day, self.zone), self.as_of)

    def day_between(self, rng: random.Random, first: date, last: date) -> date:
        """Return a uniform random day in ``[first, last]``, or ``first`` if the range is empty."""
        span = (last - first).days
        return first + timedelta(days=rng.randint(0, span)) if span > 0 else first
