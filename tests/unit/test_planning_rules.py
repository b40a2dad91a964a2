"""Planning rules as pure functions: pilot filter, compliance, alignment and budget caps."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from gifting.config import (
    AlignmentRule,
    BudgetCapsConfig,
    ComplianceRule,
    PilotConfig,
    ProgramConfig,
    StageConfig,
)
from gifting.planning.alignment import milestone_day
from gifting.planning.budgets import BudgetBook, reserve_amount
from gifting.planning.compliance import apply_rule, matching_rule
from gifting.planning.pilot import BEFORE_PILOT, OUTSIDE_PILOT, pilot_exclusion

SIGNED = date(2026, 1, 5)


def _stage(
    name: str = "first_quarter", offset: int = 90, low: int = 100, high: int = 250
) -> StageConfig:
    return StageConfig(
        name=name,
        offset_days=offset,
        window_hours=168,
        budget_usd=(Decimal(low), Decimal(high)),
        purpose="test",
        categories=["premium"],
        template="t.j2",
    )


def _pilot_reason(pilot: PilotConfig, **overrides: object) -> str | None:
    values: dict[str, object] = {
        "industry": "Technology",
        "country": "US",
        "owner_id": "005000000000001AAA",
        "amount": 50000,
        "signed_on": SIGNED,
        "backfill": False,
    }
    values.update(overrides)
    return pilot_exclusion(pilot, **values)  # type: ignore[arg-type]


def test_empty_pilot_covers_everything() -> None:
    assert _pilot_reason(PilotConfig(), amount=None, industry=None) is None


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, None),
        ({"industry": "technology"}, None),
        ({"industry": "Retail"}, OUTSIDE_PILOT),
        ({"industry": None}, OUTSIDE_PILOT),
        ({"country": "DE"}, OUTSIDE_PILOT),
        ({"owner_id": "005000000000002AAA"}, OUTSIDE_PILOT),
        ({"amount": 9999.99}, OUTSIDE_PILOT),
        ({"amount": 10000}, None),
        ({"amount": 200000}, None),
        ({"amount": 200000.01}, OUTSIDE_PILOT),
        ({"amount": None}, OUTSIDE_PILOT),
    ],
)
def test_pilot_filter_fields(overrides: dict[str, object], expected: str | None) -> None:
    pilot = PilotConfig(
        industries=["Technology"],
        countries=["US", "CA"],
        owner_ids=["005000000000001AAA"],
        min_amount_usd=Decimal(10000),
        max_amount_usd=Decimal(200000),
    )
    assert _pilot_reason(pilot, **overrides) == expected


def test_pilot_effective_from_needs_backfill() -> None:
    pilot = PilotConfig(effective_from=date(2026, 2, 1))
    assert _pilot_reason(pilot, signed_on=date(2026, 1, 31)) == BEFORE_PILOT
    assert _pilot_reason(pilot, signed_on=date(2026, 1, 31), backfill=True) is None
    assert _pilot_reason(pilot, signed_on=date(2026, 2, 1)) is None


RULES = [
    ComplianceRule(
        name="public_sector",
        industries=["Government"],
        email_domain_suffixes=[".gov", ".gov.uk", ".bund.de"],
        max_gift_usd=Decimal(25),
    ),
    ComplianceRule(name="healthcare", industries=["Healthcare"], max_gift_usd=Decimal(100)),
]


@pytest.mark.parametrize(
    ("industry", "email", "expected"),
    [
        ("Government", "a@city.example", "public_sector"),
        ("Technology", "a@agency.gov", "public_sector"),
        ("Technology", "a@hmrc.gov.uk", "public_sector"),
        ("Technology", "a@bmi.BUND.de", "public_sector"),
        ("Technology", "a@notgov.com", None),
        ("Technology", "a@gov.uk.example", None),
        ("healthcare", None, "healthcare"),
        ("Healthcare", "a@va.gov", "public_sector"),
        (None, "not-an-address", None),
    ],
)
def test_compliance_rule_matching(
    industry: str | None, email: str | None, expected: str | None
) -> None:
    rule = matching_rule(RULES, industry=industry, email=email)
    assert (rule.name if rule else None) == expected


def test_compliance_cap_below_minimum_skips() -> None:
    decision = apply_rule(RULES[0], _stage(low=50, high=150))
    assert decision.skip_reason == "compliance_public_sector"


def test_compliance_cap_lowers_maximum() -> None:
    decision = apply_rule(RULES[1], _stage(low=75, high=200))
    assert decision.skip_reason is None
    assert decision.budget_max == Decimal(100)
    assert apply_rule(RULES[1], _stage(low=20, high=80)).budget_max == Decimal(80)


QBR_RULE = AlignmentRule(stage="first_quarter", kind="qbr", from_day=69, to_day=111, shift_days=-2)


@pytest.mark.parametrize(
    ("events", "expected_day", "aligned"),
    [
        ([], date(2026, 4, 5), False),
        ([("qbr", date(2026, 4, 10))], date(2026, 4, 8), True),
        ([("qbr", date(2026, 3, 15))], date(2026, 3, 13), True),  # day 69
        ([("qbr", date(2026, 3, 14))], date(2026, 4, 5), False),  # day 68
        ([("qbr", date(2026, 4, 26))], date(2026, 4, 24), True),  # day 111
        ([("qbr", date(2026, 4, 27))], date(2026, 4, 5), False),  # day 112
        ([("go_live", date(2026, 4, 10))], date(2026, 4, 5), False),
        ([("qbr", date(2026, 3, 20)), ("qbr", date(2026, 4, 7))], date(2026, 4, 5), True),
    ],
)
def test_qbr_alignment(events: list[tuple[str, date]], expected_day: date, aligned: bool) -> None:
    milestone = milestone_day(_stage(), SIGNED, [QBR_RULE], events)
    assert milestone.day == expected_day
    assert (milestone.reason is not None) == aligned


def test_alignment_reason_names_event() -> None:
    milestone = milestone_day(_stage(), SIGNED, [QBR_RULE], [("qbr", date(2026, 4, 10))])
    assert milestone.reason == "aligned to QBR on 2026-04-10"


def test_go_live_shifts_first_month() -> None:
    rule = AlignmentRule(stage="first_month", kind="go_live", from_day=20, to_day=45, shift_days=1)
    stage = _stage("first_month", 30, 75, 200)
    milestone = milestone_day(stage, SIGNED, [rule], [("go_live", date(2026, 2, 12))])
    assert milestone.day == date(2026, 2, 13)
    assert milestone.reason == "aligned to go-live on 2026-02-12"


def test_aligned_day_not_before_signing() -> None:
    rule = AlignmentRule(stage="welcome", kind="kickoff", from_day=0, to_day=3, shift_days=-5)
    milestone = milestone_day(_stage("welcome", 0), SIGNED, [rule], [("kickoff", SIGNED)])
    assert milestone.day == SIGNED


def _program(**caps: object) -> ProgramConfig:
    return ProgramConfig(
        monthly_budget_usd=Decimal(1000),
        stages=[_stage("welcome", 0), _stage()],
        budget_caps=BudgetCapsConfig(**caps),  # type: ignore[arg-type]
    )


def test_monthly_cap_fits_exactly() -> None:
    book = BudgetBook(_program())
    june = datetime(2026, 6, 10)
    assert [book.try_reserve("welcome", f"c{n}", june, Decimal(250)) for n in range(4)] == [
        None
    ] * 4
    assert book.try_reserve("welcome", "c5", june, Decimal("0.01")) == "monthly_budget_usd"
    assert book.try_reserve("welcome", "c5", datetime(2026, 7, 1), Decimal(250)) is None


def test_stage_and_recipient_caps() -> None:
    book = BudgetBook(
        _program(monthly_stage_usd={"welcome": Decimal(300)}, recipient_yearly_usd=Decimal(400))
    )
    june = datetime(2026, 6, 10)
    assert book.try_reserve("welcome", "c1", june, Decimal(250)) is None
    assert book.try_reserve("welcome", "c2", june, Decimal(100)) == "monthly_stage_usd.welcome"
    assert book.try_reserve("first_quarter", "c1", june, Decimal(200)) == "recipient_yearly_usd"
    assert book.try_reserve("first_quarter", "c1", datetime(2027, 1, 4), Decimal(200)) is None


def test_reserve_modes() -> None:
    assert reserve_amount(Decimal(100), Decimal(250), "max") == Decimal(250)
    assert reserve_amount(Decimal(100), Decimal(250), "midpoint") == Decimal(175)


def test_unknown_stage_in_caps_is_rejected() -> None:
    with pytest.raises(ValueError, match="names unknown stages"):
        _program(monthly_stage_usd={"weclome": Decimal(1)})
