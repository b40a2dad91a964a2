"""Gift selection and note rendering: budgets, preferences, repeats, and CRM text as data."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest

from gifting.config import Catalog, ProgramConfig, StageConfig, load_catalog, load_program
from gifting.errors import ConfigurationError, DataQualityError
from gifting.personalization.enrichment import (
    clean_topic,
    relationship_from_role,
    seniority_from_title,
)
from gifting.personalization.notes import (
    NoteContext,
    check_templates,
    note_environment,
    render_note,
    template_for,
)
from gifting.personalization.selection import (
    ItemSelector,
    Recipient,
    parse_preferences,
    select_item,
)
from gifting.planning.compliance import RecipientFacts, decide, matching_rules
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


def _with_budget(stage: StageConfig, low: int, high: int) -> StageConfig:
    return stage.model_copy(update={"budget_usd": (Decimal(low), Decimal(high))})


def test_item_not_shipping_to_country_is_skipped(program: ProgramConfig, catalog: Catalog) -> None:
    stage = _stage(program, "welcome")
    usual = select_item(catalog, stage, _recipient(country="US"))
    abroad = select_item(catalog, stage, _recipient(country="JP"))
    assert usual is not None
    assert abroad is not None
    assert not usual.item.ships_to_country("JP")
    assert abroad.item.sku != usual.item.sku
    assert abroad.item.kind != "physical" or abroad.item.ships_to_country("JP")


def test_unknown_country_gets_ship_anywhere_item(program: ProgramConfig, catalog: Catalog) -> None:
    chosen = select_item(catalog, _stage(program, "welcome"), _recipient(country=None))
    assert chosen is not None
    assert chosen.item.kind != "physical" or "*" in chosen.item.ships_to


def test_budget_between_items_falls_back_to_egift(program: ProgramConfig, catalog: Catalog) -> None:
    # The olive oil costs 95 and the cake 120, so no gourmet or useful item fits 96–119.
    stage = _with_budget(_stage(program, "first_week"), 96, 119)
    chosen = select_item(catalog, stage, _recipient())
    assert chosen is not None
    assert chosen.item.sku == "CHC-EGIFT-100"
    assert chosen.reasons[0].startswith("recipient's-choice e-gift because no physical item fits")


def test_budget_between_items_and_egifts_fits_nothing(
    program: ProgramConfig, catalog: Catalog
) -> None:
    stage = _with_budget(_stage(program, "first_week"), 76, 94)
    assert select_item(catalog, stage, _recipient()) is None


def test_narrowed_budget_picks_item_inside_it(program: ProgramConfig, catalog: Catalog) -> None:
    stage = _with_budget(_stage(program, "first_week"), 80, 120)
    chosen = select_item(catalog, stage, _recipient())
    assert chosen is not None
    assert chosen.item.sku == "GMT-OLIVE-06"


def test_restricted_sector_budget_caps_item(program: ProgramConfig, catalog: Catalog) -> None:
    # A healthcare rule of 100 USD lowers welcome's range from 100–250 to 100–100.
    stage = _stage(program, "welcome")
    facts = RecipientFacts(industry="Healthcare")
    decision = decide(matching_rules(program.compliance.rules, facts), facts, stage)
    assert decision is not None and decision.skip_reason is None
    lowered = stage.model_copy(update={"budget_usd": (decision.budget_min, decision.budget_max)})
    chosen = select_item(catalog, lowered, _recipient())
    assert chosen is not None
    assert chosen.item.price <= Decimal(100)
    assert any("USD" in reason for reason in chosen.reasons)


def test_selection_states_its_reasons(program: ProgramConfig, catalog: Catalog) -> None:
    chosen = select_item(catalog, _stage(program, "welcome"), _recipient())
    assert chosen is not None
    assert chosen.reasons[0].startswith("fits the welcome purpose")
    assert "budget" in chosen.reasons[1]


def _random_recipient(rng: random.Random) -> Recipient:
    return Recipient(
        country=rng.choice(["US", "DE", "JP", "BR", "ZA", None]),
        has_address=rng.random() < 0.8,
        preferences=frozenset(rng.sample(PREFERENCES, rng.randint(0, 3))),
        categories_received=frozenset(rng.sample(CATEGORIES, rng.randint(0, 3))),
    )


PREFERENCES = ["no_alcohol", "vegan", "vegetarian", "coffee", "books", "music", "outdoors"]
CATEGORIES = ["celebration", "premium", "gourmet", "useful", "experience", "donation"]


def test_selector_equals_select_item(program: ProgramConfig, catalog: Catalog) -> None:
    rng = random.Random(7)
    selector = ItemSelector(catalog)
    stages = [*program.stages, _with_budget(_stage(program, "welcome"), 100, 100)]
    for _ in range(3000):
        stage = rng.choice(stages)
        recipient = _random_recipient(rng)
        assert selector.select(stage, recipient) == select_item(catalog, stage, recipient)


def test_note_topic_is_data_not_code() -> None:
    environment = note_environment(CONFIG / "templates")
    topic = "{% for x in range(3) %}{{ x }}{% endfor %}"
    context = _context(relationship="champion", recent_topic=topic)
    note = render_note(environment, "welcome.j2", context)
    assert topic in note
    assert "012" not in note


@pytest.mark.parametrize("name", ["مريم", "山田 太郎", "Zoë 🎉", "Jürgen"])
def test_note_keeps_any_script(name: str) -> None:
    environment = note_environment(CONFIG / "templates")
    for relationship in [None, "executive_sponsor", "champion"]:
        for template in ["welcome.j2", "first_quarter.j2"]:
            context = _context(first_name=name, relationship=relationship)
            assert name in render_note(environment, template, context)


def test_relationship_variant_replaces_base() -> None:
    environment = note_environment(CONFIG / "templates")
    assert template_for(environment, "welcome.j2", "champion") == "welcome.champion.j2"
    assert template_for(environment, "welcome.j2", "end_user") == "welcome.j2"
    assert template_for(environment, "welcome.j2", None) == "welcome.j2"


def test_shipped_templates_pass_check(program: ProgramConfig) -> None:
    environment = note_environment(CONFIG / "templates")
    check_templates(environment, [stage.template for stage in program.stages])


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"welcome.j2": "Hi {{ nickname }}"}, "nickname"),
        ({"welcome.j2": "Hi", "welcome.cfo.j2": "Hi"}, "unknown relationship"),
        ({"other.j2": "Hi"}, "not found"),
        ({"welcome.j2": "Hi {{ recent_topic.strip() }}"}, "does not render"),
        ({"welcome.j2": "Hi {{ first_name }}"}, "None"),
    ],
)
def test_template_check_rejects(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        check_templates(note_environment(tmp_path), ["welcome.j2"])


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("CFO", "executive"),
        ("VP of Operations", "executive"),
        ("Managing Director", "executive"),
        ("Geschäftsführer", "executive"),
        ("Directeur Général", "executive"),
        ("Director of IT", "director"),
        ("Head of Data", "director"),
        ("Directeur commercial", "director"),
        ("営業部長", "director"),
        ("IT Manager", "manager"),
        ("Support Team Lead", "manager"),
        ("Senior Software Engineer", "individual"),
        ("Leadership coach", "individual"),
        ("", None),
        (None, None),
    ],
)
def test_seniority_from_title(title: str | None, expected: str | None) -> None:
    assert seniority_from_title(title) == expected


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("Executive Sponsor", "executive_sponsor"),
        ("champion", "champion"),
        ("Decision Maker", "decision_maker"),
        ("Economic Buyer", "decision_maker"),
        ("End User", "end_user"),
        ("Technical Buyer", "other"),
        (None, "other"),
    ],
)
def test_relationship_from_role(role: str | None, expected: str) -> None:
    assert relationship_from_role(role) == expected


def test_topic_is_one_short_line() -> None:
    assert clean_topic("RE: Fwd:  Rollout\nplan ") == "Rollout plan"
    long = clean_topic("word " * 40)
    assert long is not None
    assert len(long) <= 80
    assert "\n" not in long
    assert clean_topic("  ") is None
    assert clean_topic(None) is None


def test_note_limit_follows_card_format(tmp_path: Path) -> None:
    (tmp_path / "medium.j2").write_text("{{ company }} " * 30)
    environment = note_environment(tmp_path)
    context = _context(company="Acme Corporation")
    note = render_note(environment, "medium.j2", context, card_format="a6_card")
    assert len(note) > 250
    with pytest.raises(DataQualityError, match="holds 250"):
        render_note(environment, "medium.j2", context, card_format="mini_card")


def test_catalog_items_name_their_vendor_and_format(catalog: Catalog) -> None:
    for item in catalog.items:
        assert item.vendor
        expected = "email" if item.kind == "egift" else "a6_card"
        assert item.note_format == (item.card_format or expected)


def test_executive_gets_a_premium_gift(program: ProgramConfig, catalog: Catalog) -> None:
    stage = _stage(program, "first_month")
    chosen = select_item(catalog, stage, _recipient(seniority="executive"))
    assert chosen is not None
    assert {"premium", "experience"} & set(chosen.item.categories)
    assert any("role" in reason for reason in chosen.reasons)


def test_end_user_gets_a_useful_gift(program: ProgramConfig, catalog: Catalog) -> None:
    stage = _stage(program, "first_quarter")
    chosen = select_item(catalog, stage, _recipient(relationship="end_user"))
    assert chosen is not None
    assert {"useful", "gourmet"} & set(chosen.item.categories)


def test_healthcare_industry_excludes_alcohol(program: ProgramConfig, catalog: Catalog) -> None:
    stage = _stage(program, "welcome")
    assert "alcohol" in select_item(catalog, stage, _recipient()).item.restrictions  # type: ignore[union-attr]
    chosen = select_item(catalog, stage, _recipient(industry="Healthcare"))
    assert chosen is not None
    assert "alcohol" not in chosen.item.restrictions


def test_partner_role_is_recognised() -> None:
    from gifting.personalization.enrichment import relationship_from_role

    assert relationship_from_role("Implementation Partner") == "partner"
    assert relationship_from_role("Champion") == "champion"
