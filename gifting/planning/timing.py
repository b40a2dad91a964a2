"""Due times in the recipient's world: their time zone, business hours, business days and post.

A gift is due at the configured local time on a business day of the recipient's country and
state. A physical gift is due early enough that it arrives on the milestone, so planning moves
it back by a shipping lead time. The item is chosen later, so planning uses the configured lead
time, and ``due_time_for_item`` recomputes the due time once the item's own lead time is known.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gifting.config import ScheduleConfig
from gifting.planning.calendar import BusinessCalendar, business_calendar
from gifting.planning.zones import COUNTRY_NAMES, ZONES_BY_COUNTRY

logger = logging.getLogger(__name__)

DELIVERY_HOUR = time(10, 0)  # default local due time; see ScheduleConfig.due_time
UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class RecipientLocale:
    """A recipient's time zone, country and state, as far as timing needs them.

    ``zone_source`` is ``contact`` (the CRM time zone), ``country`` (derived from country and
    state) or ``unknown`` (UTC, because neither gave a zone).
    """

    zone: ZoneInfo
    zone_source: str
    country: str | None = None
    state: str | None = None

    @property
    def calendar(self) -> BusinessCalendar:
        return business_calendar(self.country, self.state)

    def describe(self) -> str:
        if self.zone_source == "contact":
            return f"time zone {self.zone.key} from the contact"
        if self.zone_source == "country":
            return (
                f"time zone {self.zone.key} derived from {self.country} {self.state or ''}".strip()
            )
        return "time zone unknown, so UTC"


@dataclass(frozen=True)
class DueTime:
    """A computed due time: naive UTC as stored, the local time, and why it is when it is."""

    at: datetime
    local: datetime
    reasons: tuple[str, ...]


def country_code(raw: str | None) -> str | None:
    """Normalise a CRM country (``US``, ``us``, ``United States``) to ISO 3166-1 alpha-2."""
    if not raw or not raw.strip():
        return None
    value = raw.strip().upper()
    return COUNTRY_NAMES.get(value, value if len(value) == 2 else None)


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone_for_region(country: str | None, state: str | None) -> ZoneInfo | None:
    """Return the zone of a country and state from the table, or ``None`` for other countries."""
    table = ZONES_BY_COUNTRY.get(country or "")
    if table is None:
        return None
    key = (state or "").strip().upper()
    return ZoneInfo(table.get(key, table["*"]))


@lru_cache(maxsize=4096)
def resolve_locale(
    time_zone: str | None, country: str | None, state: str | None
) -> RecipientLocale:
    """Return the recipient's locale: the contact's zone when valid, else one from the address.

    Cached, because planning resolves the same few locales for every gift of a large batch.
    """
    code = country_code(country)
    zone = _zone(time_zone)
    if zone is not None:
        return RecipientLocale(zone, "contact", code, state)
    zone = zone_for_region(code, state)
    if zone is not None:
        return RecipientLocale(zone, "country", code, state)
    logger.debug("no time zone for country %s; planning in UTC", code)
    return RecipientLocale(UTC_ZONE, "unknown", code, state)


def recipient_zone(time_zone: str | None) -> ZoneInfo:
    """Return the contact's IANA zone, or UTC when the CRM has none or an unknown one."""
    return _zone(time_zone) or UTC_ZONE


def local_time(day: date, at: time, zone: ZoneInfo) -> datetime:
    """Return ``day`` at wall-clock time ``at`` in ``zone``, moved forward if that time is skipped.

    On a spring-forward day a wall-clock time inside the gap (02:30 in New York) does not exist.
    ``zoneinfo`` reads it with the offset before the change, which is the instant the clock shows
    one hour later (03:30), so the result is always a real local time.
    """
    wall = datetime.combine(day, at)
    aware = wall.replace(tzinfo=zone)
    real = aware.astimezone(UTC).astimezone(zone)
    return real if real.replace(tzinfo=None) != wall else aware


def _to_stored(local: datetime) -> datetime:
    return local.astimezone(UTC).replace(tzinfo=None)


def schedule_due(
    arrival: date,
    locale: RecipientLocale,
    schedule: ScheduleConfig,
    *,
    lead_days: int = 0,
    same_day: bool = False,
    earliest: date | None = None,
) -> DueTime:
    """Return when a gift that should arrive on ``arrival`` is due to be sent.

    Args:
        arrival: The milestone day the recipient should have the gift.
        locale: The recipient's zone, country and state.
        schedule: Business hours and the local due time.
        lead_days: Business days the gift spends in the post; 0 for e-gifts.
        same_day: Keep ``arrival`` even on a weekend or holiday, for stages whose window is
            shorter than a weekend.
        earliest: The first day the gift may be due (the signing day). A lead time never moves
            the due day before it, so such a gift arrives late rather than before the deal.
    """
    reasons = [locale.describe()]
    day = arrival
    if not same_day:
        calendar = locale.calendar
        day = calendar.next_business_day(arrival)
        if moved := calendar.explain_move(arrival, day):
            reasons.append(moved)
        if lead_days:
            day = calendar.business_days_before(day, lead_days)
            reasons.append(f"sent {lead_days} business days early to arrive by {arrival}")
        if earliest is not None and day < earliest:
            day = calendar.next_business_day(earliest)
            reasons.append(f"not due before {earliest}, so it may arrive after {arrival}")
    local = local_time(day, schedule.due_time, locale.zone)
    reasons.append(f"due {local:%Y-%m-%d %H:%M} local time")
    return DueTime(_to_stored(local), local, tuple(reasons))


def due_time_for_item(
    arrival: date,
    locale: RecipientLocale,
    schedule: ScheduleConfig,
    *,
    lead_time_days: int,
    kind: str,
    same_day: bool = False,
    earliest: date | None = None,
) -> DueTime:
    """Recompute a gift's due time once its item is chosen, from the item's own lead time.

    Personalization calls this with the catalog item's ``lead_time_days`` and ``kind``. An
    e-gift needs no shipping, so it is due on the milestone day itself.
    """
    lead = lead_time_days if kind == "physical" else 0
    return schedule_due(
        arrival, locale, schedule, lead_days=lead, same_day=same_day, earliest=earliest
    )


def next_business_day(day: date) -> date:
    """Move a Saturday or Sunday to the following Monday (weekends only, no holidays)."""
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def due_time(
    signed_on: date,
    offset_days: int,
    time_zone: str | None,
    *,
    country: str | None = None,
    state: str | None = None,
    schedule: ScheduleConfig | None = None,
) -> datetime:
    """Return when a stage is due with no shipping lead time, as naive UTC.

    A stage with offset 0 is due on the signing day itself even on a weekend, since its window
    is 24 hours. Later stages move to the next business day of the recipient's country.
    """
    locale = resolve_locale(time_zone, country, state)
    arrival = signed_on + timedelta(days=offset_days)
    plan = schedule_due(
        arrival, locale, schedule or ScheduleConfig(), same_day=offset_days == 0, earliest=signed_on
    )
    return plan.at
