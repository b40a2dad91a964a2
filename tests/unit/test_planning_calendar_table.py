"""Due times of stages on hard calendar days, one table row per case.

Each row gives the signing day, the stage offset and the recipient, and expects the exact local
due date and time and the stored UTC instant. Rows cover DST changes, 29 February, both ends of
the UTC day, a half-hour offset and public holidays that move a gift to the next business day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from scipy.stats import binom

from gifting.config import ScheduleConfig, load_program
from gifting.planning.holdout import is_holdout
from gifting.planning.timing import DueTime, due_time, resolve_locale, schedule_due
from gifting.sandbox.org import id_checksum
from gifting.settings import PROJECT_ROOT

SCHEDULE = ScheduleConfig()  # due at 10:00 local time, welcome on the signing day itself
NEW_YORK = ("America/New_York", "US", "NY")
LONDON = (None, "GB", "England")
TOKYO = (None, "JP", None)
AUCKLAND = ("Pacific/Auckland", "NZ", None)
HONOLULU = ("Pacific/Honolulu", "US", "HI")
KOLKATA = ("Asia/Kolkata", "IN", None)
LOS_ANGELES = ("America/Los_Angeles", "US", "CA")

WELCOME, FIRST_WEEK, FIRST_MONTH, FIRST_QUARTER = 0, 7, 30, 90


def _plan(
    signed_on: date, offset: int, recipient: tuple[str | None, str, str | None], lead: int = 0
) -> DueTime:
    """Plan a stage the way ``plan_gifts`` does, with an explicit shipping lead time."""
    locale = resolve_locale(*recipient)
    return schedule_due(
        signed_on + timedelta(days=offset),
        locale,
        SCHEDULE,
        lead_days=lead,
        same_day=offset == 0,
        earliest=signed_on,
    )


# (signed_on, offset_days, recipient, local due time, UTC due time)
NO_LEAD_CASES = {
    # New York: EDT from Sunday 14 March 2027, EST from Sunday 1 November 2026.
    "ny_spring_change_day": (
        date(2027, 3, 14),
        WELCOME,
        NEW_YORK,
        datetime(2027, 3, 14, 10, 0),
        datetime(2027, 3, 14, 14, 0),
    ),
    "ny_spring_day_before": (
        date(2027, 3, 13),
        WELCOME,
        NEW_YORK,
        datetime(2027, 3, 13, 10, 0),
        datetime(2027, 3, 13, 15, 0),
    ),
    "ny_spring_week_lands_on_change": (
        date(2027, 3, 7),
        FIRST_WEEK,
        NEW_YORK,
        datetime(2027, 3, 15, 10, 0),
        datetime(2027, 3, 15, 14, 0),
    ),
    "ny_spring_week_day_after": (
        date(2027, 3, 8),
        FIRST_WEEK,
        NEW_YORK,
        datetime(2027, 3, 15, 10, 0),
        datetime(2027, 3, 15, 14, 0),
    ),
    "ny_fall_change_day": (
        date(2026, 11, 1),
        WELCOME,
        NEW_YORK,
        datetime(2026, 11, 1, 10, 0),
        datetime(2026, 11, 1, 15, 0),
    ),
    "ny_fall_day_after": (
        date(2026, 11, 2),
        WELCOME,
        NEW_YORK,
        datetime(2026, 11, 2, 10, 0),
        datetime(2026, 11, 2, 15, 0),
    ),
    "ny_fall_day_before": (
        date(2026, 10, 31),
        WELCOME,
        NEW_YORK,
        datetime(2026, 10, 31, 10, 0),
        datetime(2026, 10, 31, 14, 0),
    ),
    "ny_fall_month_lands_on_change": (
        date(2026, 10, 2),
        FIRST_MONTH,
        NEW_YORK,
        datetime(2026, 11, 2, 10, 0),
        datetime(2026, 11, 2, 15, 0),
    ),
    # London: BST from Sunday 29 March 2026, GMT from Sunday 25 October 2026.
    "london_spring_change_day": (
        date(2026, 3, 29),
        WELCOME,
        LONDON,
        datetime(2026, 3, 29, 10, 0),
        datetime(2026, 3, 29, 9, 0),
    ),
    "london_spring_day_after": (
        date(2026, 3, 30),
        WELCOME,
        LONDON,
        datetime(2026, 3, 30, 10, 0),
        datetime(2026, 3, 30, 9, 0),
    ),
    "london_spring_day_before": (
        date(2026, 3, 28),
        WELCOME,
        LONDON,
        datetime(2026, 3, 28, 10, 0),
        datetime(2026, 3, 28, 10, 0),
    ),
    "london_fall_change_day": (
        date(2026, 10, 25),
        WELCOME,
        LONDON,
        datetime(2026, 10, 25, 10, 0),
        datetime(2026, 10, 25, 10, 0),
    ),
    "london_fall_day_after": (
        date(2026, 10, 26),
        WELCOME,
        LONDON,
        datetime(2026, 10, 26, 10, 0),
        datetime(2026, 10, 26, 10, 0),
    ),
    "london_fall_quarter_lands_on_change": (
        date(2026, 7, 27),
        FIRST_QUARTER,
        LONDON,
        datetime(2026, 10, 26, 10, 0),
        datetime(2026, 10, 26, 10, 0),
    ),
    # 29 February 2028 is a Tuesday, and Memorial Day 2028 is Monday 29 May.
    "leap_day_month_from_30_january": (
        date(2028, 1, 30),
        FIRST_MONTH,
        NEW_YORK,
        datetime(2028, 2, 29, 10, 0),
        datetime(2028, 2, 29, 15, 0),
    ),
    "leap_day_month_from_30_january_london": (
        date(2028, 1, 30),
        FIRST_MONTH,
        LONDON,
        datetime(2028, 2, 29, 10, 0),
        datetime(2028, 2, 29, 10, 0),
    ),
    "leap_day_signed_welcome": (
        date(2028, 2, 29),
        WELCOME,
        NEW_YORK,
        datetime(2028, 2, 29, 10, 0),
        datetime(2028, 2, 29, 15, 0),
    ),
    "leap_day_signed_week": (
        date(2028, 2, 29),
        FIRST_WEEK,
        NEW_YORK,
        datetime(2028, 3, 7, 10, 0),
        datetime(2028, 3, 7, 15, 0),
    ),
    "leap_day_signed_month": (
        date(2028, 2, 29),
        FIRST_MONTH,
        NEW_YORK,
        datetime(2028, 3, 30, 10, 0),
        datetime(2028, 3, 30, 14, 0),
    ),
    "leap_day_signed_quarter_memorial_day": (
        date(2028, 2, 29),
        FIRST_QUARTER,
        NEW_YORK,
        datetime(2028, 5, 30, 10, 0),
        datetime(2028, 5, 30, 14, 0),
    ),
    # Signed at 23:30 local time on 10 June, which is 06:30 UTC on 11 June.
    "signed_2330_local_welcome": (
        date(2026, 6, 10),
        WELCOME,
        LOS_ANGELES,
        datetime(2026, 6, 10, 10, 0),
        datetime(2026, 6, 10, 17, 0),
    ),
    # Auckland is ahead of UTC, so 10:00 local is the previous UTC day.
    "auckland_winter_welcome": (
        date(2026, 6, 10),
        WELCOME,
        AUCKLAND,
        datetime(2026, 6, 10, 10, 0),
        datetime(2026, 6, 9, 22, 0),
    ),
    "auckland_summer_welcome": (
        date(2026, 1, 14),
        WELCOME,
        AUCKLAND,
        datetime(2026, 1, 14, 10, 0),
        datetime(2026, 1, 13, 21, 0),
    ),
    "auckland_week_kings_birthday": (
        date(2026, 5, 25),
        FIRST_WEEK,
        AUCKLAND,
        datetime(2026, 6, 2, 10, 0),
        datetime(2026, 6, 1, 22, 0),
    ),
    # Honolulu is UTC-10 all year. Kamehameha Day (11 June) is a holiday in Hawaii.
    "honolulu_welcome_on_holiday": (
        date(2026, 6, 11),
        WELCOME,
        HONOLULU,
        datetime(2026, 6, 11, 10, 0),
        datetime(2026, 6, 11, 20, 0),
    ),
    "honolulu_week_kamehameha_day": (
        date(2026, 6, 4),
        FIRST_WEEK,
        HONOLULU,
        datetime(2026, 6, 12, 10, 0),
        datetime(2026, 6, 12, 20, 0),
    ),
    "kolkata_welcome": (
        date(2026, 6, 10),
        WELCOME,
        KOLKATA,
        datetime(2026, 6, 10, 10, 0),
        datetime(2026, 6, 10, 4, 30),
    ),
    "kolkata_month": (
        date(2026, 6, 1),
        FIRST_MONTH,
        KOLKATA,
        datetime(2026, 7, 1, 10, 0),
        datetime(2026, 7, 1, 4, 30),
    ),
    # 4 July is a Tuesday in 2028. In 2026 it is a Saturday, observed on Friday 3 July.
    "us_week_on_4_july": (
        date(2028, 6, 27),
        FIRST_WEEK,
        NEW_YORK,
        datetime(2028, 7, 5, 10, 0),
        datetime(2028, 7, 5, 14, 0),
    ),
    "us_week_on_4_july_saturday": (
        date(2026, 6, 27),
        FIRST_WEEK,
        NEW_YORK,
        datetime(2026, 7, 6, 10, 0),
        datetime(2026, 7, 6, 14, 0),
    ),
    # England: Christmas Day and Boxing Day. In 2026 Boxing Day is observed on Monday 28.
    "uk_week_on_boxing_day": (
        date(2028, 12, 19),
        FIRST_WEEK,
        LONDON,
        datetime(2028, 12, 27, 10, 0),
        datetime(2028, 12, 27, 10, 0),
    ),
    "uk_week_on_christmas_day": (
        date(2028, 12, 18),
        FIRST_WEEK,
        LONDON,
        datetime(2028, 12, 27, 10, 0),
        datetime(2028, 12, 27, 10, 0),
    ),
    "uk_week_on_boxing_day_saturday": (
        date(2026, 12, 19),
        FIRST_WEEK,
        LONDON,
        datetime(2026, 12, 29, 10, 0),
        datetime(2026, 12, 29, 10, 0),
    ),
    # Golden Week: 29 April, then 3 to 5 May, plus 6 May 2026 as a substitute holiday.
    "japan_week_on_showa_day": (
        date(2026, 4, 22),
        FIRST_WEEK,
        TOKYO,
        datetime(2026, 4, 30, 10, 0),
        datetime(2026, 4, 30, 1, 0),
    ),
    "japan_week_on_constitution_day": (
        date(2026, 4, 26),
        FIRST_WEEK,
        TOKYO,
        datetime(2026, 5, 7, 10, 0),
        datetime(2026, 5, 7, 1, 0),
    ),
    "japan_week_on_childrens_day": (
        date(2026, 4, 28),
        FIRST_WEEK,
        TOKYO,
        datetime(2026, 5, 7, 10, 0),
        datetime(2026, 5, 7, 1, 0),
    ),
    "japan_week_golden_week_2027": (
        date(2027, 4, 26),
        FIRST_WEEK,
        TOKYO,
        datetime(2027, 5, 6, 10, 0),
        datetime(2027, 5, 6, 1, 0),
    ),
    "japan_week_on_showa_day_2027": (
        date(2027, 4, 22),
        FIRST_WEEK,
        TOKYO,
        datetime(2027, 4, 30, 10, 0),
        datetime(2027, 4, 30, 1, 0),
    ),
}


@pytest.mark.parametrize(
    ("signed_on", "offset", "recipient", "local", "utc"),
    list(NO_LEAD_CASES.values()),
    ids=list(NO_LEAD_CASES),
)
def test_stage_due_time(
    signed_on: date,
    offset: int,
    recipient: tuple[str | None, str, str | None],
    local: datetime,
    utc: datetime,
) -> None:
    due = _plan(signed_on, offset, recipient)
    zone = resolve_locale(*recipient).zone
    assert due.local.tzinfo == zone
    assert due.local.replace(tzinfo=None) == local
    assert due.at == utc
    assert due.local.astimezone(UTC).replace(tzinfo=None) == utc
    time_zone, country, state = recipient
    assert due_time(signed_on, offset, time_zone, country=country, state=state) == utc


# Rows with the program's shipping lead time (business days before arrival).
LEAD_CASES = {
    # Arrival moves from Tuesday 4 July to Wednesday 5 July. Two business days before it,
    # skipping the holiday and the weekend, is Friday 30 June.
    "us_week_on_4_july_with_lead": (
        date(2028, 6, 27),
        FIRST_WEEK,
        NEW_YORK,
        2,
        datetime(2028, 6, 30, 10, 0),
        datetime(2028, 6, 30, 14, 0),
    ),
    # Arrival is Thursday 7 May 2026. Four business days before it, around Golden Week, is
    # Monday 27 April.
    "japan_week_golden_week_with_lead": (
        date(2026, 4, 26),
        FIRST_WEEK,
        TOKYO,
        4,
        datetime(2026, 4, 27, 10, 0),
        datetime(2026, 4, 27, 1, 0),
    ),
    # Arrival is Wednesday 27 December 2028. Three business days before it is Wednesday 20.
    "uk_week_on_boxing_day_with_lead": (
        date(2028, 12, 19),
        FIRST_WEEK,
        LONDON,
        3,
        datetime(2028, 12, 20, 10, 0),
        datetime(2028, 12, 20, 10, 0),
    ),
    # A lead time that reaches before the signing day stops at the signing day.
    "lead_stops_at_signing_day": (
        date(2028, 6, 27),
        FIRST_WEEK,
        NEW_YORK,
        6,
        datetime(2028, 6, 27, 10, 0),
        datetime(2028, 6, 27, 14, 0),
    ),
}


@pytest.mark.parametrize(
    ("signed_on", "offset", "recipient", "lead", "local", "utc"),
    list(LEAD_CASES.values()),
    ids=list(LEAD_CASES),
)
def test_stage_due_time_with_lead(
    signed_on: date,
    offset: int,
    recipient: tuple[str | None, str, str | None],
    lead: int,
    local: datetime,
    utc: datetime,
) -> None:
    due = _plan(signed_on, offset, recipient, lead)
    assert due.local.replace(tzinfo=None) == local
    assert due.at == utc


def test_late_evening_signing_keeps_local_day() -> None:
    signed_at = datetime(2026, 6, 10, 23, 30, tzinfo=ZoneInfo("America/Los_Angeles"))
    due = _plan(signed_at.date(), WELCOME, LOS_ANGELES)
    assert signed_at.astimezone(UTC).date() == date(2026, 6, 11)
    assert due.local.date() == date(2026, 6, 10)
    assert due.at.date() == date(2026, 6, 10)


def _account_id(number: int) -> str:
    id15 = f"001{number:012d}"
    return id15 + id_checksum(id15)


def test_holdout_share_on_10000_accounts() -> None:
    holdout = load_program(PROJECT_ROOT / "config").holdout
    accounts = 10_000
    flagged = sum(is_holdout(_account_id(n), holdout.salt, holdout.share) for n in range(accounts))
    # The central 99.9 % of Binomial(10000, 0.10): 0.05 % in each tail.
    low = int(binom.ppf(0.0005, accounts, holdout.share))
    high = int(binom.isf(0.0005, accounts, holdout.share))
    assert holdout.share == 0.10
    assert (low, high) == (903, 1100)
    assert low <= flagged <= high
