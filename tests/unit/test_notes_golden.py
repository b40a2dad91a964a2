"""Golden notes: the exact copy a representative set of recipients receives, reviewed by people.

Notes are product copy, so a template change must show up as a diff in ``tests/unit/golden``.
After an intended change, run with ``GIFTING_UPDATE_GOLDEN=1`` to rewrite the files, then read
every changed note for grammar and sense before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gifting.personalization.notes import NoteContext, note_environment, render_note
from gifting.settings import PROJECT_ROOT

TEMPLATES = PROJECT_ROOT / "config" / "templates"
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("GIFTING_UPDATE_GOLDEN") == "1"

FULL = {
    "title": "VP of Operations",
    "purpose": "celebrate",
    "use_case": "Automate invoice reconciliation",
    "goals": "Cut month-end close from 10 to 4 days",
    "seniority": "executive",
    "industry": "Manufacturing",
    "recent_topic": "Rollout plan for the EMEA finance team",
    "went_live_on": "5 March 2026",
    "kickoff_on": "12 January 2026",
}
CASES: dict[str, dict[str, object]] = {
    "welcome_sponsor_english": {
        "stage": "welcome",
        "relationship": "executive_sponsor",
        "first_name": "Margaret",
        "company": "Northwind Traders",
        "item_name": "Vintage champagne with engraved flutes",
    },
    "welcome_champion_german": {
        "stage": "welcome",
        "relationship": "champion",
        "first_name": "Jürgen",
        "company": "Müller & Söhne GmbH",
        "item_name": "Leather desk set with subtle logo",
    },
    "welcome_end_user_no_use_case": {
        "stage": "welcome",
        "relationship": "end_user",
        "first_name": "Priya",
        "company": "Acme Analytics",
        "item_name": "Premium wireless speaker",
        "use_case": None,
    },
    "first_week_unknown_role_japanese": {
        "stage": "first_week",
        "relationship": None,
        "first_name": "由美",
        "company": "株式会社テスト",
        "item_name": "Single-origin coffee tasting box",
    },
    "first_week_no_first_name_no_kickoff": {
        "stage": "first_week",
        "relationship": "champion",
        "first_name": None,
        "company": "Globex",
        "item_name": "Hardcover notebook and fountain pen",
        "kickoff_on": None,
        "goals": None,
    },
    "first_month_went_live": {
        "stage": "first_month",
        "relationship": "decision_maker",
        "first_name": "Anna",
        "company": "Initech",
        "item_name": "Dinner for two, recipient's choice of restaurant",
    },
    "first_month_not_live_no_use_case": {
        "stage": "first_month",
        "relationship": "end_user",
        "first_name": "Tomás",
        "company": "Umbrella Health",
        "item_name": "Recipient's-choice e-gift card",
        "went_live_on": None,
        "use_case": None,
    },
    "first_quarter_sponsor_german": {
        "stage": "first_quarter",
        "relationship": "executive_sponsor",
        "first_name": "Klaus",
        "company": "Stadtwerke Nord AG",
        "item_name": "Online cooking class for the team",
    },
    "first_quarter_champion_no_topics": {
        "stage": "first_quarter",
        "relationship": "champion",
        "first_name": "Sam",
        "company": "Hooli",
        "item_name": "Donation to a charity the recipient chooses",
        "recent_topic": None,
    },
    "first_quarter_sponsor_nothing_known": {
        "stage": "first_quarter",
        "relationship": "executive_sponsor",
        "first_name": None,
        "company": "Vandelay Industries",
        "item_name": "Premium wireless speaker",
        **dict.fromkeys(FULL, None),
        "purpose": "look ahead",
    },
    "first_quarter_end_user_japanese": {
        "stage": "first_quarter",
        "relationship": "end_user",
        "first_name": "健太",
        "company": "株式会社サンプル",
        "item_name": "Donation to a charity the recipient chooses",
        "goals": "業務時間を半分に",
    },
}


def _context(case: dict[str, object]) -> NoteContext:
    return NoteContext(**{**FULL, **case})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(CASES))
def test_note_matches_golden(name: str) -> None:
    environment = note_environment(TEMPLATES)
    case = CASES[name]
    note = render_note(environment, f"{case['stage']}.j2", _context(case))
    golden = GOLDEN / f"{name}.txt"
    if UPDATE:
        golden.write_text(note + "\n", encoding="utf-8")
    assert golden.exists(), f"{golden} is missing: run with GIFTING_UPDATE_GOLDEN=1 and review it"
    assert note + "\n" == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_note_has_no_gaps(name: str) -> None:
    case = CASES[name]
    note = render_note(note_environment(TEMPLATES), f"{case['stage']}.j2", _context(case))
    assert "None" not in note
    assert "“”" not in note
    assert " ." not in note
    assert ": ." not in note
