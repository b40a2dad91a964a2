"""Pilot filter: which contracts the program covers while it runs for a subset of customers.

A contract outside the pilot is still written to the ledger, as ``skipped`` with reason
``outside_pilot``, so the audit shows every won deal and why it got no gift. A contract inside
the pilot but signed before ``pilot.effective_from`` is skipped with ``before_pilot`` unless the
run is a backfill, so widening the pilot does not reach back to old deals by surprise.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from gifting.config import PilotConfig

OUTSIDE_PILOT = "outside_pilot"
BEFORE_PILOT = "before_pilot"


def _listed(value: str | None, allowed: list[str]) -> bool:
    if not allowed:
        return True
    return value is not None and value.strip().casefold() in {a.casefold() for a in allowed}


def _amount_inside(pilot: PilotConfig, amount: Decimal | float | None) -> bool:
    if pilot.min_amount_usd is None and pilot.max_amount_usd is None:
        return True
    if amount is None:
        return False
    value = Decimal(str(amount))
    if pilot.min_amount_usd is not None and value < pilot.min_amount_usd:
        return False
    return pilot.max_amount_usd is None or value <= pilot.max_amount_usd


def pilot_exclusion(
    pilot: PilotConfig,
    *,
    industry: str | None,
    country: str | None,
    owner_id: str | None,
    amount: Decimal | float | None,
    signed_on: date,
    backfill: bool,
) -> str | None:
    """Return why a contract gets no gifts under the pilot, or ``None`` when it is covered.

    A contract with no amount is outside a pilot that sets an amount range, since the range
    cannot be checked.
    """
    inside = (
        _listed(industry, pilot.industries)
        and _listed(country, pilot.countries)
        and _listed(owner_id, pilot.owner_ids)
        and _amount_inside(pilot, amount)
    )
    if not inside:
        return OUTSIDE_PILOT
    if pilot.effective_from and signed_on < pilot.effective_from and not backfill:
        return BEFORE_PILOT
    return None
