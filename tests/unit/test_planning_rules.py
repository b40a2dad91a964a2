"""Planning rules as pure functions: pilot filter, compliance, alignment and budget caps."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

import pytest

from gifting.config import (
    AlignmentRule,
    BudgetCapsConfig,
    Catalog,
    CatalogItem,
    ComplianceConfig,
    ComplianceRule,
    PilotConfig,
    ProgramConfig,
    StageConfig,
    check_note_only_item,
)
from gifting.errors import ConfigurationError
from gifting.planning.alignment import milestone_day
from gifting.planning.budgets import BudgetBook, reserve_amount
from gifting.planning.compliance import (
    ComplianceDecision,
    RecipientFacts,
    decide,
    matching_rules,
)
from gifting.planning.milestones import GIFT_ID_NAMESPACE, gift_id
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
        email_domain_suffixes=[".gov", ".mil", ".gov.*", ".gc.ca", ".gouv.fr", ".bund.de"],
        max_gift_usd=Decimal(20),
        max_yearly_usd=Decimal(50),
    ),
    ComplianceRule(
        name="healthcare",
        industries=["Healthcare"],
        title_keywords=["Physician", "Nurse", "RN"],
        match_healthcare_professional_flag=True,
        max_gift_usd=Decimal(100),
        transfer_of_value=True,
    ),
]


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (RecipientFacts(industry="Government", email="a@city.example"), ["public_sector"]),
        (RecipientFacts(email="a@agency.gov"), ["public_sector"]),
        (RecipientFacts(email="a@army.MIL"), ["public_sector"]),
        (RecipientFacts(email="a@hmrc.gov.uk"), ["public_sector"]),
        (RecipientFacts(email="a@ato.gov.au"), ["public_sector"]),
        (RecipientFacts(email="a@cra-arc.gc.ca"), ["public_sector"]),
        (RecipientFacts(email="a@impots.gouv.fr"), ["public_sector"]),
        (RecipientFacts(email="a@bmi.BUND.de"), ["public_sector"]),
        (RecipientFacts(email="a@notgov.com"), []),
        (RecipientFacts(email="a@gov.uk.example"), []),
        (RecipientFacts(email="a@gov.example.com"), []),
        (RecipientFacts(industry="healthcare"), ["healthcare"]),
        (RecipientFacts(title="Chief Physician"), ["healthcare"]),
        (RecipientFacts(title="Jane Roe, RN"), ["healthcare"]),
        (RecipientFacts(title="Brand Manager"), []),
        (RecipientFacts(title="Head of Nursery Sales"), []),
        (RecipientFacts(healthcare_professional=True), ["healthcare"]),
        (RecipientFacts(healthcare_professional=False), []),
        (
            RecipientFacts(industry="Healthcare", email="a@va.gov"),
            ["public_sector", "healthcare"],
        ),
        (RecipientFacts(email="not-an-address"), []),
    ],
)
def test_compliance_rule_matching(facts: RecipientFacts, expected: list[str]) -> None:
    assert [rule.name for rule in matching_rules(RULES, facts)] == expected


def _decide(facts: RecipientFacts, *, low: int = 50, high: int = 150) -> ComplianceDecision | None:
    return decide(matching_rules(RULES, facts), facts, _stage(low=low, high=high))


GOV = RecipientFacts(email="kim@transportation.gov")
NURSE = RecipientFacts(title="Nurse")

# (recipient, rule, skip reason, budget range, yearly limit, transfer of value)
DECISION_CASES = {
    "gov_capped_below_stage_minimum": (GOV, "public_sector", None, (1, 20), 50, False),
    "healthcare_cap_inside_range": (NURSE, "healthcare", None, (50, 100), None, True),
    "account_policy_cap": (
        RecipientFacts(policy_cap_usd=Decimal(60)),
        "account_policy",
        None,
        (50, 60),
        None,
        False,
    ),
    "account_policy_cap_below_rule": (
        RecipientFacts(title="Nurse", policy_cap_usd=Decimal(30)),
        "account_policy",
        None,
        (1, 30),
        None,
        True,
    ),
    "account_no_gifts": (
        RecipientFacts(title="Nurse", policy_no_gifts=True),
        "account_policy",
        "account_policy_no_gifts",
        (50, 150),
        None,
        False,
    ),
    "account_cap_zero": (
        RecipientFacts(policy_cap_usd=Decimal(0)),
        "account_policy",
        "account_policy_no_gifts",
        (50, 150),
        None,
        False,
    ),
}


@pytest.mark.parametrize(
    ("facts", "rule", "skip", "budget", "yearly", "transfer"),
    list(DECISION_CASES.values()),
    ids=list(DECISION_CASES),
)
def test_compliance_decision(
    facts: RecipientFacts,
    rule: str,
    skip: str | None,
    budget: tuple[int, int],
    yearly: int | None,
    transfer: bool,
) -> None:
    decision = _decide(facts)
    assert decision is not None
    assert decision.rule == rule
    assert decision.skip_reason == skip
    if skip is None:
        assert (decision.budget_min, decision.budget_max) == tuple(map(Decimal, budget))
    assert decision.yearly_limit == (Decimal(yearly) if yearly is not None else None)
    assert decision.transfer_of_value is transfer


def test_no_limit_means_no_decision() -> None:
    assert _decide(RecipientFacts(industry="Technology", email="a@example.com")) is None


def test_healthcare_cap_above_stage_keeps_budget() -> None:
    decision = _decide(NURSE, low=20, high=80)
    assert decision is not None
    assert (decision.budget_min, decision.budget_max) == (Decimal(20), Decimal(80))
    assert decision.note is None
    assert decision.transfer_of_value


@pytest.mark.parametrize(("action", "skip"), [("note_only", None), ("skip", "compliance_strict")])
def test_compliance_actions(action: str, skip: str | None) -> None:
    rule = ComplianceRule(name="strict", email_domain_suffixes=[".gov"], action=action)
    decision = decide([rule], GOV, _stage())
    assert decision is not None
    assert decision.skip_reason == skip
    assert decision.note_only is (action == "note_only")


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"name": "empty", "max_gift_usd": 1}, "matches no recipient"),
        ({"name": "nolimit", "industries": ["Government"]}, "has action cap but no limit"),
        ({"name": "dot", "email_domain_suffixes": ["gov"], "max_gift_usd": 1}, "leading dot"),
    ],
)
def test_invalid_compliance_rule(rule: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ComplianceRule.model_validate(rule)


def test_compliance_rule_list_is_accepted() -> None:
    rule = {"name": "gov", "industries": ["Government"], "max_gift_usd": 20}
    program = ProgramConfig(stages=[_stage("welcome", 0)], compliance=[rule])  # type: ignore[arg-type]
    assert [r.name for r in program.compliance.rules] == ["gov"]
    assert program.compliance.note_only_sku == "NOTE-CARD-01"


def test_note_only_card_must_be_in_catalog() -> None:
    program = ProgramConfig(
        stages=[_stage("welcome", 0)],
        compliance=ComplianceConfig(
            rules=[ComplianceRule(name="gov", industries=["Government"], action="note_only")],
            note_only_sku="NO-SUCH-CARD",
        ),
    )
    catalog = Catalog(
        items=[
            CatalogItem(sku="A", name="A", price=Decimal(1), categories=["useful"], kind="egift")
        ]
    )
    with pytest.raises(ConfigurationError, match="NO-SUCH-CARD"):
        check_note_only_item(program, catalog)


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


@pytest.mark.parametrize(
    ("contract_id", "stage"),
    [("006000000000001AAA", "welcome"), ("", "first_week"), ("006ü", "first_quarter")],
)
def test_gift_id_equals_uuid5(contract_id: str, stage: str) -> None:
    expected = uuid.uuid5(GIFT_ID_NAMESPACE, f"{contract_id}:{stage}")
    assert gift_id(contract_id, stage) == str(expected)
