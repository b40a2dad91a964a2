"""Gift selection and note rendering: budgets, preferences, repeats, and CRM text as data."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gifting.config import Catalog, ProgramConfig, StageConfig, load_catalog, load_program
from gifting.errors import DataQualityError
from gifting.personalization.notes import NoteContext, note_environment, render_note
from gifting.personalization.selection import Recipient, parse_preferences, select_item
from gifting.settings import PROJECT_ROOT

CONFIG = PROJECT_ROOT / "config"


@pytest.fixture(scope="module")
def program() -> ProgramConfig:
    return load_program(CONFIG)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CONFIG)


def _stage(program: ProgramConfig, name: str) -> StageConfig:
    return next(stage for stage in program.stages if stage.name == name)


def _recipient(**overrides: object) -> Recipient:
    values: dict[str, object] = {
        "country": "US",
        "has_address": True,
        "preferences": frozenset(),
        "categories_received": frozenset(),
    }
    values.update(overrides)
    return Recipient(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("stage_name", ["welcome", "first_week", "first_month", "first_quarter"])
def test_selection_stays_within_stage_budget(
    program: ProgramConfig, catalog: Catalog, stage_name: str
) -> None:
    stage = _stage(program, stage_name)
    selection = select_item(catalog, stage, _recipient())
    assert selection is not None
    assert stage.budget_usd[0] <= selection.item.price <= stage.budget_usd[1]


def test_no_alcohol_preference_excludes_alcohol(program: ProgramConfig, catalog: Catalog) -> None:
    stage = _stage(program, "welcome")
    chosen = select_item(catalog, stage, _recipient(preferences=frozenset({"no_alcohol"})))
    assert chosen is not None
    assert "alcohol" not in chosen.item.restrictions


def test_interest_wins_over_default_choice(program: ProgramConfig, catalog: Catalog) -> None:
    stage = _stage(program, "first_week")
    chosen = select_item(catalog, stage, _recipient(preferences=frozenset({"coffee"})))
    assert chosen is not None
    assert "coffee" in chosen.item.name.lower()
    assert any("coffee" in reason for reason in chosen.reasons)


def test_category_never_repeats_for_a_person(program: ProgramConfig, catalog: Catalog) -> None:
    stage = _stage(program, "first_week")
    first = select_item(catalog, stage, _recipient())
    assert first is not None
    repeat = select_item(catalog, stage, _recipient(categories_received=frozenset({"gourmet"})))
    assert repeat is not None
    assert "gourmet" not in repeat.item.categories or repeat.item.sku.startswith("CHC-")


def test_no_address_falls_back_to_egift(program: ProgramConfig, catalog: Catalog) -> None:
    stage = _stage(program, "first_week")
    chosen = select_item(
        catalog,
        stage,
        _recipient(has_address=False, categories_received=frozenset({"gourmet", "useful"})),
    )
    assert chosen is not None
    assert chosen.item.kind == "egift"


def test_selection_is_deterministic(program: ProgramConfig, catalog: Catalog) -> None:
    stage = _stage(program, "first_month")
    picks = {select_item(catalog, stage, _recipient()).item.sku for _ in range(5)}  # type: ignore[union-attr]
    assert len(picks) == 1


def test_preferences_parse_semicolon_list() -> None:
    assert parse_preferences(" No_Alcohol; coffee ;;") == frozenset({"no_alcohol", "coffee"})
    assert parse_preferences(None) == frozenset()


def _context(**overrides: object) -> NoteContext:
    values: dict[str, object] = {
        "first_name": "Ana",
        "company": "Acme",
        "title": "VP Operations",
        "stage": "welcome",
        "purpose": "celebrate",
        "item_name": "Coffee box",
        "use_case": "Fleet analytics",
        "goals": "cut reporting time in half",
    }
    values.update(overrides)
    return NoteContext(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "template", ["welcome.j2", "first_week.j2", "first_month.j2", "first_quarter.j2"]
)
def test_every_template_renders_without_optional_facts(template: str) -> None:
    environment = note_environment(CONFIG / "templates")
    note = render_note(environment, template, _context(first_name=None, use_case=None, goals=None))
    assert "None" not in note
    assert "Acme" in note


def test_crm_text_is_printed_not_evaluated() -> None:
    environment = note_environment(CONFIG / "templates")
    note = render_note(environment, "welcome.j2", _context(first_name="{{ 7*7 }}"))
    assert "{{ 7*7 }}" in note
    assert "49" not in note


def test_note_in_another_script() -> None:
    environment = note_environment(CONFIG / "templates")
    note = render_note(
        environment, "welcome.j2", _context(first_name="由美", company="株式会社テスト")
    )
    assert "由美" in note


def test_overlong_note_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "long.j2").write_text("{{ company }}" * 100)
    environment = note_environment(tmp_path)
    with pytest.raises(DataQualityError, match="characters"):
        render_note(environment, "long.j2", _context(company="Acme Corporation"))


def test_stage_budget_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="budget"):
        StageConfig(
            name="x",
            offset_days=0,
            window_hours=1,
            budget_usd=(Decimal(200), Decimal(100)),
            purpose="p",
            categories=["gourmet"],
            template="x.j2",
        )


def test_selection_prefers_budget_midpoint(program: ProgramConfig, catalog: Catalog) -> None:
    stage = _stage(program, "first_quarter")
    chosen = select_item(catalog, stage, _recipient())
    assert chosen is not None
    midpoint = (stage.budget_usd[0] + stage.budget_usd[1]) / 2
    fitting = [
        item
        for item in catalog.items
        if stage.budget_usd[0] <= item.price <= stage.budget_usd[1]
        and item.kind == "physical"
        and set(item.categories) & set(stage.categories)
    ]
    assert fitting
    best_distance = min(abs(item.price - midpoint) for item in fitting)
    assert abs(chosen.item.price - midpoint) == best_distance
