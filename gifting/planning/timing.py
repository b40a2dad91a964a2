"""Due times in the recipient's own time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DELIVERY_HOUR = time(10, 0)  # local business morning


def recipient_zone(time_zone: str | None) -> ZoneInfo:
    """Return the contact's IANA zone, or UTC when the CRM has none or an unknown one."""
    if time_zone:
        try:
            return ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo("UTC")


def next_business_day(day: date) -> date:
    """Move a Saturday or Sunday to the following Monday."""
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def due_time(signed_on: date, offset_days: int, time_zone: str | None) -> datetime:
    """Return when a stage is due: 10:00 local time at the offset, as naive UTC.

    The welcome gift is due on the signing day itself even on a weekend, since its window is
    24 hours; later stages move to the next business day.
    """
    day = signed_on + timedelta(days=offset_days)
    if offset_days > 0:
        day = next_business_day(day)
    local = datetime.combine(day, DELIVERY_HOUR, tzinfo=recipient_zone(time_zone))
    return local.astimezone(UTC).replace(tzinfo=None)
