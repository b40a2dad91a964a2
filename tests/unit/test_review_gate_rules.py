"""The review gate's pure rules: the personalization score, the hold reasons and note checks."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gifting.config import ReviewConfig
from gifting.personalization.notes import MAX_NOTE_CHARACTERS
from gifting.review import (
    FIRST_STRATEGIC_GIFT,
    HIGH_VALUE,
    WEAK_PERSONALIZATION,
    InvalidReviewDecision,
    checked_note,
    fenced,
    gate_reasons,
    personalization_score,
)

MATCH = "matches the stated interest 'coffee'"


@pytest.mark.parametrize(
    ("first_name", "use_case", "goals", "sku", "reasons", "expected"),
    [
        ("Ada", "Billing", None, "GMT-COFFEE-05", [MATCH], 4),
        ("Ada", None, "Grow", "GMT-COFFEE-05", [], 3),
        (None, None, None, "GMT-COFFEE-05", [], 1),
        (" ", "  ", None, "CHC-CHOICE-100", ["recipient's-choice e-gift"], 0),
        ("Ada", None, None, None, None, 1),
    ],
)
def test_score_counts_each_fact(
    first_name: str | None,
    use_case: str | None,
    goals: str | None,
    sku: str | None,
    reasons: list[str] | None,
    expected: int,
) -> None:
    score = personalization_score(
        first_name=first_name, use_case=use_case, goals=goals, sku=sku, selection_reasons=reasons
    )
    assert score == expected


def test_gate_passes_cheap_personal_gift() -> None:
    reasons = gate_reasons(ReviewConfig(), price=Decimal(200), score=2, first_strategic=False)
    assert reasons == []


def test_gate_lists_every_reason() -> None:
    reasons = gate_reasons(ReviewConfig(), price=Decimal("200.01"), score=1, first_strategic=True)
    assert reasons == [HIGH_VALUE, WEAK_PERSONALIZATION, FIRST_STRATEGIC_GIFT]


def test_gate_respects_configured_limits() -> None:
    policy = ReviewConfig(
        max_price_usd=Decimal(300), min_score=0, review_first_strategic_gift=False
    )
    reasons = gate_reasons(policy, price=Decimal(250), score=0, first_strategic=True)
    assert reasons == []


def test_gate_reasons_fit_reason_column() -> None:
    joined = ";".join([HIGH_VALUE, WEAK_PERSONALIZATION, FIRST_STRATEGIC_GIFT])
    assert len(joined) <= 64


def test_note_keeps_template_syntax_literally() -> None:
    assert checked_note("  Hi {{ 7*7 }}\n") == "Hi {{ 7*7 }}"


@pytest.mark.parametrize("note", [None, "", "  \n "])
def test_note_rejects_empty(note: str | None) -> None:
    with pytest.raises(InvalidReviewDecision, match="empty"):
        checked_note(note)


def test_note_rejects_overlong() -> None:
    checked_note("x" * MAX_NOTE_CHARACTERS)
    with pytest.raises(InvalidReviewDecision, match=str(MAX_NOTE_CHARACTERS)):
        checked_note("x" * (MAX_NOTE_CHARACTERS + 1))


def test_fence_outlasts_backticks_in_note() -> None:
    block = fenced("see ````code````")
    assert block.startswith("`````text\n")
    assert block.endswith("\n`````")
