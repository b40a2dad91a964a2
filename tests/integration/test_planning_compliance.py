"""Compliance on both backends: public sector, healthcare, account policies and alcohol.

Each test seeds recipients through the warehouse, plans (and where the item matters,
personalizes) with the shipped program, and checks the status, reason, budget and compliance
fields the ledger keeps for each gift.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from gifting import ledger
from gifting.config import Catalog, ProgramConfig, load_catalog
from gifting.personalization.notes import note_environment
from gifting.personalization.prepare import personalize_gifts
from gifting.planning.milestones import plan_gifts
from gifting.settings import PROJECT_ROOT
from gifting.warehouse.schema import GiftEvent
from tests.integration.test_planning_rules import NOW, _gift, _gifts, _seed, program

__all__ = ["program"]

CONFIG = PROJECT_ROOT / "config"
STAGES = ("welcome", "first_week", "first_month", "first_quarter")


@pytest.fixture
def catalog() -> Catalog:
    return load_catalog(CONFIG)


def _personalize(engine: Engine, program: ProgramConfig, catalog: Catalog) -> None:
    """Personalize every planned gift, as if the whole series had come due."""
    later = NOW + timedelta(days=200)
    personalize_gifts(engine, program, catalog, note_environment(CONFIG / "templates"), as_of=later)


@pytest.mark.parametrize(
    "recipient",
    [{"account_industry": "Government"}, {"contact_email": "pat@revenue.gov.uk"}],
    ids=["industry", "email_domain"],
)
def test_public_sector_capped_per_occasion_and_year(
    engine: Engine, program: ProgramConfig, recipient: dict[str, str]
) -> None:
    account_id = _seed(engine, 1, NOW.date(), **recipient)
    plan_gifts(engine, program, as_of=NOW)
    gifts = {g.stage: g for g in _gifts(engine, account_id=account_id)}
    # Two gifts of at most 20 USD fit the 50 USD a year; a third would pass it.
    for stage in ("welcome", "first_week"):
        assert gifts[stage].status == ledger.PLANNED
        assert Decimal(gifts[stage].budget_max) == Decimal(20)
        assert gifts[stage].reason == "public_sector compliance limits the gift to 20 USD"
    for stage in ("first_month", "first_quarter"):
        assert (gifts[stage].status, gifts[stage].reason) == (
            ledger.SKIPPED,
            "compliance_public_sector_yearly",
        )
        assert "allows 50 USD a year" in gifts[stage].selection_reasons[-1]
    assert {g.compliance_rule for g in gifts.values()} == {"public_sector"}
    assert not any(g.transfer_of_value for g in gifts.values())
    with engine.connect() as connection:
        first_event = connection.scalar(
            select(GiftEvent.reason).where(GiftEvent.gift_id == gifts["first_month"].id)
        )
    assert first_event == "compliance_public_sector_yearly"


def test_capped_gift_gets_low_value_item(
    engine: Engine, program: ProgramConfig, catalog: Catalog
) -> None:
    account_id = _seed(engine, 1, NOW.date(), contact_email="sam@army.mil")
    plan_gifts(engine, program, as_of=NOW)
    _personalize(engine, program, catalog)
    for stage in ("welcome", "first_week"):
        gift = _gift(engine, account_id, stage)
        assert gift.status == ledger.PLANNED
        assert gift.sku is not None
        assert Decimal(gift.price) <= Decimal(20)
        assert gift.note


def test_public_sector_note_only(engine: Engine, program: ProgramConfig, catalog: Catalog) -> None:
    (rule,) = [r for r in program.compliance.rules if r.name == "public_sector"]
    rule.action = "note_only"
    account_id = _seed(engine, 1, NOW.date(), contact_email="lee@cra-arc.gc.ca")
    plan_gifts(engine, program, as_of=NOW)
    gifts = _gifts(engine, account_id=account_id)
    assert {(g.status, Decimal(g.budget_max)) for g in gifts} == {(ledger.PLANNED, Decimal(0))}
    assert {g.reason for g in gifts if g.stage != "first_quarter"} == {
        "public_sector compliance allows a note card only"
    }
    _personalize(engine, program, catalog)
    gifts = _gifts(engine, account_id=account_id)
    assert {(g.status, g.sku) for g in gifts} == {(ledger.PLANNED, "NOTE-CARD-01")}
    assert all(g.note for g in gifts)


@pytest.mark.parametrize(
    "recipient",
    [
        {"contact_title": "Staff Nurse"},
        {"contact_title": "Jordan Lee, PharmD"},
        {"contact_is_healthcare_professional": True},
        {"account_industry": "Healthcare"},
    ],
    ids=["title", "title_suffix", "mapped_flag", "industry"],
)
def test_healthcare_professional_is_transfer_of_value(
    engine: Engine, program: ProgramConfig, recipient: dict[str, object]
) -> None:
    account_id = _seed(engine, 1, NOW.date(), **recipient)
    plan_gifts(engine, program, as_of=NOW)
    gifts = _gifts(engine, account_id=account_id)
    assert {g.status for g in gifts} == {ledger.PLANNED}
    assert {(g.compliance_rule, g.transfer_of_value) for g in gifts} == {("healthcare", True)}
    assert max(Decimal(g.budget_max) for g in gifts) == Decimal(100)


def test_other_recipient_is_not_transfer_of_value(engine: Engine, program: ProgramConfig) -> None:
    account_id = _seed(engine, 1, NOW.date(), contact_title="Head of Nursery Sales")
    plan_gifts(engine, program, as_of=NOW)
    gifts = _gifts(engine, account_id=account_id)
    assert {(g.compliance_rule, g.transfer_of_value) for g in gifts} == {(None, False)}


def test_account_no_gifts_policy(engine: Engine, program: ProgramConfig) -> None:
    account_id = _seed(engine, 1, NOW.date(), account_gift_policy_no_gifts=True)
    plan_gifts(engine, program, as_of=NOW)
    gifts = _gifts(engine, account_id=account_id)
    assert {(g.status, g.reason) for g in gifts} == {(ledger.SKIPPED, "account_policy_no_gifts")}
    assert {g.compliance_rule for g in gifts} == {"account_policy"}


def test_account_policy_cap(engine: Engine, program: ProgramConfig) -> None:
    account_id = _seed(engine, 1, NOW.date(), account_gift_policy_cap_usd=60)
    plan_gifts(engine, program, as_of=NOW)
    gifts = {g.stage: g for g in _gifts(engine, account_id=account_id)}
    assert {Decimal(g.budget_max) for g in gifts.values()} == {Decimal(60)}
    assert (Decimal(gifts["welcome"].budget_min), Decimal(gifts["first_week"].budget_min)) == (
        Decimal(1),
        Decimal(50),
    )
    assert gifts["welcome"].reason == "the account's gift policy limits the gift to 60 USD"


# Champagne (alcohol, 180 USD) is the welcome item a recipient in Great Britain gets by default.
ALCOHOL_CASES = {
    "allowed": ({}, [], "CEL-CHAMP-01"),
    "account_policy": ({"account_gift_policy_no_alcohol": True}, [], None),
    "preference": ({"contact_preferences": "no_alcohol"}, [], None),
    "destination": ({}, ["GB"], None),
}


@pytest.mark.parametrize(
    ("recipient", "blocked", "expected"),
    list(ALCOHOL_CASES.values()),
    ids=list(ALCOHOL_CASES),
)
def test_alcohol_only_where_allowed(
    engine: Engine,
    program: ProgramConfig,
    catalog: Catalog,
    recipient: dict[str, object],
    blocked: list[str],
    expected: str | None,
) -> None:
    program.compliance.alcohol.blocked_countries = blocked
    account_id = _seed(
        engine,
        1,
        NOW.date(),
        contact_country="GB",
        contact_state="England",
        contact_time_zone="Europe/London",
        **recipient,
    )
    plan_gifts(engine, program, as_of=NOW)
    _personalize(engine, program, catalog)
    alcohol = {item.sku for item in catalog.items if "alcohol" in item.restrictions}
    welcome = _gift(engine, account_id, "welcome")
    assert welcome.sku is not None
    if expected is not None:
        assert welcome.sku == expected
    else:
        assert welcome.sku not in alcohol


def test_plan_keeps_compliance_reason_in_events(engine: Engine, program: ProgramConfig) -> None:
    account_id = _seed(engine, 1, NOW.date(), account_gift_policy_cap_usd=60)
    plan_gifts(engine, program, as_of=NOW)
    gift = _gift(engine, account_id, "welcome")
    with engine.connect() as connection:
        reasons = connection.scalars(
            select(GiftEvent.reason).where(GiftEvent.gift_id == gift.id)
        ).all()
    assert reasons == ["the account's gift policy limits the gift to 60 USD"]
