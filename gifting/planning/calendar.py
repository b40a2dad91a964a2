"""Business days of a recipient's country and state: no weekends, no public holidays."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from functools import lru_cache

import holidays

logger = logging.getLogger(__name__)


@lru_cache(maxsize=256)
def holiday_subdivision(country: str, state: str | None) -> str | None:
    """Return the ``holidays`` subdivision code for a CRM state value, or ``None`` if unknown.

    The CRM contains codes (``TX``) or names (``England``, ``Cataluña``), and the ``holidays``
    package lists both as subdivisions or aliases. An unknown state gets national holidays only.
    """
    if not state:
        return None
    try:
        entity = holidays.country_holidays(country)
    except NotImplementedError:
        return None
    known = set(entity.subdivisions)
    aliases = getattr(entity, "subdivisions_aliases", {})
    for candidate in (state, state.upper(), state.title()):
        if candidate in known:
            return candidate
        if candidate in aliases:
            return str(aliases[candidate])
    logger.debug("no holiday subdivision %s in %s; using national holidays", state, country)
    return None


class BusinessCalendar:
    """Weekends and public holidays of one country and subdivision, loaded a year at a time.

    A country the ``holidays`` package does not know has weekends only.
    """

    def __init__(self, country: str | None, state: str | None = None) -> None:
        self.country = country
        self.subdivision = holiday_subdivision(country, state) if country else None
        self._holidays: holidays.HolidayBase | None = None
        if country:
            try:
                self._holidays = holidays.country_holidays(country, subdiv=self.subdivision)
            except NotImplementedError:
                logger.warning("no public holidays known for country %s; weekends only", country)

    def holiday_name(self, day: date) -> str | None:
        """Return the name of the public holiday on ``day``, or ``None``."""
        if self._holidays is None:
            return None
        return self._holidays.get(day)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and self.holiday_name(day) is None

    def next_business_day(self, day: date) -> date:
        """Return ``day`` if it is a business day, else the first business day after it."""
        while not self.is_business_day(day):
            day += timedelta(days=1)
        return day

    def business_days_before(self, day: date, count: int) -> date:
        """Return the business day ``count`` business days before ``day``."""
        while count > 0:
            day -= timedelta(days=1)
            if self.is_business_day(day):
                count -= 1
        return day

    def explain_move(self, wanted: date, actual: date) -> str | None:
        """Describe why a due day moved off ``wanted``, for the gift's recorded reasons."""
        if wanted == actual:
            return None
        holiday = self.holiday_name(wanted)
        why = f"{holiday} ({self.country})" if holiday else "a weekend"
        return f"moved from {wanted.isoformat()} to {actual.isoformat()}: {why}"


@lru_cache(maxsize=512)
def business_calendar(country: str | None, state: str | None) -> BusinessCalendar:
    """Return the shared calendar of a country and state, so holidays load once per run."""
    return BusinessCalendar(country, state)
