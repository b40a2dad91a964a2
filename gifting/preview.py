"""Preview the next gifts: which item each would get, its note and why, without writing anything.

The preview runs the same selection and note rendering as personalization, in memory and on a
connection that is rolled back, so people can check what the program will send before it does.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import Engine

from gifting import ledger
from gifting.config import AlcoholConfig, Catalog, ProgramConfig, StageConfig
from gifting.errors import DataQualityError, GiftingError
from gifting.personalization.enrichment import (
    GiftKeys,
    RecipientProfile,
    enrich_context,
    load_profiles,
)
from gifting.personalization.notes import NoteContext, render_note
from gifting.personalization.prepare import (
    categories_by_contact,
    recipient_for,
    stage_within_budget,
)
from gifting.personalization.selection import (
    ItemSelector,
    Selection,
    primary_category,
)
from gifting.review import (
    fenced,
    gate_reasons,
    personalization_score,
    review_facts_query,
    reviewed_before,
)
from gifting.warehouse.schema import Account, Contact, Gift

logger = logging.getLogger(__name__)

UNSENT = (ledger.PLANNED, ledger.READY, ledger.NEEDS_REVIEW)


@dataclass(frozen=True)
class PreviewRow:
    """One upcoming gift as it would be sent.

    Attributes:
        personalized: Whether item and note are already stored; otherwise they were chosen now.
        problem: Why the gift would be skipped (``no_item_fits``, ``note_failed``,
            ``stage_removed``), or ``None``.
        review_reasons: Why the review gate would hold the gift; empty without a review policy.
    """

    gift_id: str
    stage: str
    status: str
    due_at: datetime
    company: str
    first_name: str | None
    personalized: bool
    sku: str | None = None
    item_name: str | None = None
    price: Decimal | None = None
    currency: str = "USD"
    note: str | None = None
    selection_reasons: list[str] = field(default_factory=list)
    review_reasons: list[str] = field(default_factory=list)
    problem: str | None = None


def preview_gifts(
    engine: Engine,
    program: ProgramConfig,
    catalog: Catalog,
    notes: SandboxedEnvironment,
    *,
    as_of: datetime,
    horizon_days: int = 14,
    limit: int = 20,
) -> list[PreviewRow]:
    """Return the next ``limit`` unsent gifts due within ``horizon_days`` of ``as_of``.

    Gifts due earlier that are still unsent are included, because they go out next. Nothing is
    written: the connection is rolled back when it closes.
    """
    if horizon_days < 0 or limit < 1:
        raise GiftingError(
            f"invalid preview window: horizon_days={horizon_days}, limit={limit}; "
            "expected horizon_days >= 0 and limit >= 1"
        )
    query = (
        review_facts_query()
        .add_columns(
            reviewed_before().label("reviewed"),
            Gift.status,
            Gift.contact_id,
            Gift.account_id,
            Gift.contract_id,
            Gift.budget_min,
            Gift.budget_max,
            Contact.title,
            Contact.country,
            Contact.street,
            Contact.preferences,
            Account.gift_policy_no_alcohol,
        )
        .where(Gift.status.in_(UNSENT), Gift.due_at <= as_of + timedelta(days=horizon_days))
        .limit(limit)
    )
    with engine.connect() as connection:
        taken = defaultdict(set, categories_by_contact(connection, program, catalog))
        rows = connection.execute(query).all()
        keys = [GiftKeys(row.id, row.contact_id, row.account_id, row.contract_id) for row in rows]
        profiles = load_profiles(connection, keys, as_of=as_of)
        connection.rollback()
    stages = {stage.name: stage for stage in program.stages}
    chooser = _Chooser(
        ItemSelector(catalog, note_only_sku=program.compliance.note_only_sku),
        program.compliance.alcohol,
    )
    preview = [
        _preview_row(row, stages.get(row.stage), chooser, notes, taken, profiles.get(row.id))
        for row in rows
    ]
    logger.info("previewed %d gifts due by %s", len(preview), as_of + timedelta(days=horizon_days))
    return [_with_review(row, program, facts) for row, facts in zip(preview, rows, strict=True)]


def _preview_row(
    row: Any,
    stage: StageConfig | None,
    chooser: _Chooser,
    notes: SandboxedEnvironment,
    taken: defaultdict[str, set[str]],
    profile: RecipientProfile | None = None,
) -> PreviewRow:
    base = {
        "gift_id": row.id,
        "stage": row.stage,
        "status": row.status,
        "due_at": row.due_at,
        "company": row.company,
        "first_name": row.first_name,
    }
    if row.sku is not None:
        return PreviewRow(
            **base,
            personalized=True,
            sku=row.sku,
            item_name=row.item_name,
            price=None if row.price is None else Decimal(row.price),
            currency=row.currency,
            note=row.note,
            selection_reasons=list(row.selection_reasons or []),
        )
    if stage is None:
        return PreviewRow(**base, personalized=False, problem="stage_removed")
    selection = chooser.select(row, stage, taken, profile)
    if selection is None:
        return PreviewRow(**base, personalized=False, problem="no_item_fits")
    if category := primary_category(selection.item, stage):
        taken[row.contact_id].add(category)
    item = selection.item
    chosen = {"sku": item.sku, "item_name": item.name, "price": item.price}
    chosen |= {"currency": item.currency, "selection_reasons": selection.reasons}
    try:
        context = enrich_context(_note_context(row, stage, item.name), profile)
        note = render_note(notes, stage.template, context, card_format=item.note_format)
    except DataQualityError as error:
        logger.warning("gift %s: note would not render: %s", row.id, error)
        return PreviewRow(**base, personalized=False, **chosen, problem="note_failed")
    return PreviewRow(**base, personalized=False, **chosen, note=note)


@dataclass(frozen=True)
class _Chooser:
    """Item choice with the selector and alcohol rules that ``personalize_gifts`` uses."""

    selector: ItemSelector
    alcohol: AlcoholConfig

    def select(
        self,
        row: Any,
        stage: StageConfig,
        taken: defaultdict[str, set[str]],
        profile: RecipientProfile | None,
    ) -> Selection | None:
        """Choose an item within the gift's own budget range."""
        recipient = recipient_for(row, taken, profile, self.alcohol)
        return self.selector.select(stage_within_budget(stage, row), recipient)


def _note_context(row: Any, stage: StageConfig, item_name: str) -> NoteContext:
    return NoteContext(
        first_name=row.first_name,
        company=row.company,
        title=row.title,
        stage=stage.name,
        purpose=stage.purpose,
        item_name=item_name,
        use_case=row.use_case,
        goals=row.goals,
    )


def _with_review(preview: PreviewRow, program: ProgramConfig, facts: Any) -> PreviewRow:
    """Add the reasons the review gate would hold the gift for, judged on the previewed item."""
    if preview.status == ledger.NEEDS_REVIEW:
        held = [reason for reason in (facts.reason or "").split(";") if reason]
        return PreviewRow(**{**preview.__dict__, "review_reasons": held})
    if program.review is None or preview.sku is None or facts.reviewed:
        return preview
    score = personalization_score(
        first_name=facts.first_name,
        use_case=facts.use_case,
        goals=facts.goals,
        sku=preview.sku,
        selection_reasons=preview.selection_reasons,
    )
    reasons = gate_reasons(
        program.review,
        price=preview.price,
        score=score,
        first_strategic=bool(facts.is_strategic) and not facts.account_has_sent,
    )
    return PreviewRow(**{**preview.__dict__, "review_reasons": reasons})


def preview_table(rows: list[PreviewRow]) -> list[dict[str, str]]:
    """Return one display row per previewed gift, for a table artifact or a terminal table."""
    return [
        {
            "gift_id": row.gift_id,
            "stage": row.stage,
            "status": row.status,
            "due_at": f"{row.due_at:%Y-%m-%d %H:%M}",
            "company": row.company,
            "item": f"{row.item_name or ''} ({row.sku or 'none'})",
            "price": "" if row.price is None else f"{row.price} {row.currency}",
            "review": ", ".join(row.review_reasons),
            "problem": row.problem or "",
        }
        for row in rows
    ]


def preview_markdown(rows: list[PreviewRow], *, as_of: datetime, horizon_days: int) -> str:
    """Return the previewed notes as Markdown, one section per gift."""
    lines = [f"# Gifts due by {as_of + timedelta(days=horizon_days):%Y-%m-%d}", ""]
    if not rows:
        lines.append("No unsent gift is due in this window.")
    for row in rows:
        lines += [f"## {row.stage} for {row.company} (gift `{row.gift_id}`)", ""]
        lines.append(f"Item: {row.item_name or 'none'}; due {row.due_at:%Y-%m-%d %H:%M}.")
        if row.review_reasons:
            lines.append(f"Held for review: {', '.join(row.review_reasons)}.")
        if row.problem:
            lines.append(f"Would be skipped: {row.problem}.")
        lines += ["", fenced(row.note) if row.note else "_No note._", ""]
    return "\n".join(lines)
