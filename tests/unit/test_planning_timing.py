"""Due times in the recipient's world: zones, DST, business hours, holidays and shipping time."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from gifting.config import ScheduleConfig
from gifting.planning.calendar import business_calendar
from gifting.planning.timing import (
    RecipientLocale,
    due_time,
    due_time_for_item,
    local_time,
    resolve_locale,
    schedule_due,
)

SCHEDULE = ScheduleConfig()


def _locale(zone: str, country: str, state: str | None = None) -> RecipientLocale:
    return RecipientLocale(ZoneInfo(zone), "contact", country, state)


@pytest.mark.parametrize(
    ("time_zone", "country", "state", "zone", "source"),
    [
        ("Asia/Tokyo", "US", "TX", "Asia/Tokyo", "contact"),
        ("Mars/Olympus", "US", "TX", "America/Chicago", "country"),
        (None, "US", "wa", "America/Los_Angeles", "country"),
        (None, "US", "Guam-ish", "America/New_York", "country"),
        ("", "CA", "BC", "America/Vancouver", "country"),
        (None, "AU", "WA", "Australia/Perth", "country"),
        (None, "Germany", "BY", "Europe/Berlin", "country"),
        (None, "gb", "Scotland", "Europe/London", "country"),
        (None, "BR", "SP", "America/Sao_Paulo", "country"),
        (None, "ZZ", None, "UTC", "unknown"),
        (None, None, None, "UTC", "unknown"),
    ],
)
def test_resolve_locale_zone(
    time_zone: str | None, country: str | None, state: str | None, zone: str, source: str
) -> None:
    locale = resolve_locale(time_zone, country, state)
    assert locale.zone.key == zone
    assert locale.zone_source == source


def test_unknown_zone_is_recorded() -> None:
    due = schedule_due(date(2026, 6, 10), resolve_locale(None, "ZZ", None), SCHEDULE)
    assert due.reasons[0] == "time zone unknown, so UTC"
    assert due.at == datetime(2026, 6, 10, 10, 0)


@pytest.mark.parametrize(
    ("zone", "day", "expected_utc"),
    [
        ("America/New_York", date(2026, 3, 8), datetime(2026, 3, 8, 14, 0)),
        ("Europe/Berlin", date(2026, 3, 29), datetime(2026, 3, 29, 8, 0)),
        ("America/New_York", date(2026, 3, 7), datetime(2026, 3, 7, 15, 0)),
    ],
)
def test_due_on_spring_forward_day(zone: str, day: date, expected_utc: datetime) -> None:
    due = schedule_due(day, _locale(zone, "US"), SCHEDULE, same_day=True)
    assert due.at == expected_utc
    assert due.local.hour == 10
    assert due.local.date() == day


@pytest.mark.parametrize(
    ("zone", "day"),
    [("America/New_York", date(2026, 3, 8)), ("Europe/Berlin", date(2026, 3, 29))],
)
def test_skipped_wall_time_moves_forward(zone: str, day: date) -> None:
    local = local_time(day, time(2, 30), ZoneInfo(zone))
    assert (local.hour, local.minute) == (3, 30)
    roundtrip = local.astimezone(ZoneInfo("UTC")).astimezone(ZoneInfo(zone))
    assert roundtrip.replace(tzinfo=None) == local.replace(tzinfo=None)


@pytest.mark.parametrize(
    ("country", "state", "arrival", "expected"),
    [
        ("US", "TX", date(2026, 7, 3), date(2026, 7, 6)),  # Independence Day observed
        ("US", "TX", date(2026, 6, 13), date(2026, 6, 15)),  # Saturday
        ("DE", "BY", date(2026, 1, 6), date(2026, 1, 7)),  # Epiphany in Bavaria
        ("DE", "BE", date(2026, 1, 6), date(2026, 1, 6)),  # not a holiday in Berlin
        ("GB", "Scotland", date(2026, 1, 2), date(2026, 1, 5)),  # 2 January in Scotland
        ("GB", "England", date(2026, 1, 2), date(2026, 1, 2)),
        ("GB", "England", date(2026, 4, 6), date(2026, 4, 7)),  # Easter Monday
        ("JP", "東京都", date(2026, 5, 4), date(2026, 5, 7)),  # Golden Week
        ("FR", "Île-de-France", date(2026, 7, 14), date(2026, 7, 15)),
    ],
)
def test_due_day_skips_holidays(country: str, state: str, arrival: date, expected: date) -> None:
    locale = resolve_locale(None, country, state)
    due = schedule_due(arrival, locale, SCHEDULE)
    assert due.local.date() == expected
    assert due.local.time() == time(10, 0)


def test_holiday_move_is_explained() -> None:
    due = schedule_due(date(2026, 12, 25), resolve_locale(None, "DE", "BE"), SCHEDULE)
    assert due.local.date() == date(2026, 12, 28)
    assert any("2026-12-25 to 2026-12-28" in reason for reason in due.reasons)


def test_lead_time_counts_business_days() -> None:
    locale = resolve_locale("America/Chicago", "US", "TX")
    due = schedule_due(date(2026, 7, 7), locale, SCHEDULE, lead_days=2)
    # Monday 6 July, then Friday 3 July is the observed Independence Day holiday.
    assert due.local.date() == date(2026, 7, 2)
    assert due.at == datetime(2026, 7, 2, 15, 0)


def test_lead_time_not_before_signing() -> None:
    locale = resolve_locale("Europe/Berlin", "DE", "BE")
    due = schedule_due(date(2026, 6, 3), locale, SCHEDULE, lead_days=5, earliest=date(2026, 6, 1))
    assert due.local.date() == date(2026, 6, 1)
    assert any("may arrive after 2026-06-03" in reason for reason in due.reasons)


def test_item_due_time_uses_item_lead() -> None:
    locale = resolve_locale("Australia/Sydney", "AU", "NSW")
    arrival = date(2026, 6, 19)  # Friday
    physical = due_time_for_item(arrival, locale, SCHEDULE, lead_time_days=6, kind="physical")
    egift = due_time_for_item(arrival, locale, SCHEDULE, lead_time_days=6, kind="egift")
    assert physical.local.date() == date(2026, 6, 11)
    assert egift.local.date() == arrival


def test_configured_due_hour() -> None:
    schedule = ScheduleConfig(due_time=time(9, 0))
    due = schedule_due(date(2026, 6, 10), resolve_locale("Asia/Kolkata", "IN", "KA"), schedule)
    assert due.at == datetime(2026, 6, 10, 3, 30)


@pytest.mark.parametrize("due", [time(8, 59), time(17, 0), time(2, 30)])
def test_due_time_outside_business_hours(due: time) -> None:
    with pytest.raises(ValidationError, match="outside business hours"):
        ScheduleConfig(due_time=due)


def test_legacy_due_time_signature() -> None:
    saturday = date(2026, 6, 6)
    assert due_time(saturday, 0, "America/Chicago") == datetime(2026, 6, 6, 15, 0)
    assert due_time(saturday, 7, "America/Chicago") == datetime(2026, 6, 15, 15, 0)
    assert due_time(saturday, 7, None) == datetime(2026, 6, 15, 10, 0)


def test_calendar_for_unknown_country() -> None:
    calendar = business_calendar("ZZ", None)
    assert calendar.is_business_day(date(2026, 12, 25))
    assert not calendar.is_business_day(date(2026, 12, 26))
