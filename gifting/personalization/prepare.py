"""Attach an item, its reasons and a rendered note to every planned gift that has none yet."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import Connection, Engine, select, update

from gifting import ledger
from gifting.config import AlcoholConfig, Catalog, ProgramConfig, StageConfig
from gifting.errors import DataQualityError
from gifting.personalization.enrichment import (
    GiftKeys,
    RecipientProfile,
    enrich_context,
    load_profiles,
)
from gifting.personalization.notes import NoteContext, render_note
from gifting.personalization.selection import (
    ItemSelector,
    Recipient,
    parse_preferences,
    primary_category,
)
from gifting.planning.timing import country_code
from gifting.warehouse.schema import Account, Contact, Contract, Gift

logger = logging.getLogger(__name__)

ACTOR = "personalize"
TAKEN = (
    ledger.PLANNED,
    ledger.READY,
    ledger.NEEDS_REVIEW,
    ledger.SENDING,
    ledger.SENT,
    ledger.DELIVERED,
)


def categories_by_contact(
    connection: Connection, program: ProgramConfig, catalog: Catalog
) -> dict[str, set[str]]:
    """Return the categories each contact has received or will receive, to avoid repeats."""
    items = {item.sku: item for item in catalog.items}
    stages = {stage.name: stage for stage in program.stages}
    taken: dict[str, set[str]] = defaultdict(set)
    rows = connection.execute(
        select(Gift.contact_id, Gift.sku, Gift.stage).where(
            Gift.sku.is_not(None), Gift.status.in_(TAKEN)
        )
    )
    for row in rows:
        item, stage = items.get(row.sku), stages.get(row.stage)
        if item and stage and (category := primary_category(item, stage)):
            taken[row.contact_id].add(category)
    return taken


def _pending(connection: Connection, as_of: datetime) -> list[Any]:
    query = (
        select(
            Gift.id,
            Gift.stage,
            Gift.contact_id,
            Gift.account_id,
            Gift.contract_id,
            Gift.budget_min,
            Gift.budget_max,
            Gift.selection_reasons,
            Account.name.label("company"),
            Account.gift_policy_no_alcohol,
            Contact.first_name,
            Contact.title,
            Contact.country,
            Contact.street,
            Contact.preferences,
            Contract.use_case,
            Contract.goals,
        )
        .join(Contract, Contract.id == Gift.contract_id)
        .join(Account, Account.id == Gift.account_id)
        .join(Contact, Contact.id == Gift.contact_id)
        .where(Gift.status == ledger.PLANNED, Gift.sku.is_(None), Gift.due_at <= as_of)
        .order_by(Gift.due_at, Gift.id)
    )
    return list(connection.execute(query))


def recipient_for(
    gift: Any,
    taken: Mapping[str, set[str]],
    profile: RecipientProfile | None,
    alcohol: AlcoholConfig | None = None,
) -> Recipient:
    """Build the recipient data that item selection uses, from the gift's warehouse row and profile.

    Alcohol is ruled out when the account's policy forbids it (``gift_policy_no_alcohol`` on
    the row) or the destination is in ``alcohol.blocked_countries``.
    """
    return Recipient(
        country=gift.country,
        has_address=bool(gift.street),
        preferences=parse_preferences(gift.preferences),
        categories_received=frozenset(taken.get(gift.contact_id, set())),
        seniority=profile.seniority if profile else None,
        relationship=profile.relationship if profile else None,
        industry=profile.industry if profile else None,
        alcohol_blocked=alcohol_blocked(gift, alcohol),
    )


def alcohol_blocked(gift: Any, alcohol: AlcoholConfig | None) -> bool:
    """Return whether the account's policy or the destination country rules out alcohol.

    The policy is ``gift_policy_no_alcohol`` on the row, the countries are
    ``alcohol.blocked_countries``. A recipient's own ``no_alcohol`` preference is read by
    selection itself.
    """
    blocked_countries = alcohol.blocked_countries if alcohol else []
    return bool(getattr(gift, "gift_policy_no_alcohol", None)) or (
        country_code(gift.country) in blocked_countries
    )


def stage_within_budget(stage: StageConfig, gift: Any) -> StageConfig:
    """Return the stage with the gift's own budget range, which planning may have narrowed."""
    budget = (Decimal(gift.budget_min), Decimal(gift.budget_max))
    if budget == stage.budget_usd:
        return stage
    return stage.model_copy(update={"budget_usd": budget})


def personalize_gifts(
    engine: Engine,
    program: ProgramConfig,
    catalog: Catalog,
    notes: SandboxedEnvironment,
    *,
    as_of: datetime,
) -> Counter[str]:
    """Choose an item and render a note for each planned gift due by ``as_of``.

    A gift for which nothing fits, or whose note cannot be rendered, is skipped with its reason,
    since a gift without a note is never sent. Notes draw on each recipient's profile from
    ``enrichment``, loaded for the whole batch at once.
    """
    stages = {stage.name: stage for stage in program.stages}
    selector = ItemSelector(catalog, note_only_sku=program.compliance.note_only_sku)
    outcome: Counter[str] = Counter()
    with engine.begin() as connection:
        taken = categories_by_contact(connection, program, catalog)
        pending = _pending(connection, as_of)
        keys = [GiftKeys(g.id, g.contact_id, g.account_id, g.contract_id) for g in pending]
        profiles = load_profiles(connection, keys, as_of=as_of)
        for gift in pending:
            stage = stages.get(gift.stage)
            if stage is None:
                result = "stage_removed"
            else:
                profile = profiles[gift.id]
                recipient = recipient_for(gift, taken, profile, program.compliance.alcohol)
                result = _personalize(
                    connection, gift, stage, selector, notes, taken, profile, recipient, as_of
                )
            if result != "personalized":
                ledger.move(
                    connection,
                    gift.id,
                    ledger.PLANNED,
                    ledger.SKIPPED,
                    at=as_of,
                    actor=ACTOR,
                    reason=result,
                )
            outcome[result] += 1
    return outcome


def _personalize(
    connection: Connection,
    gift: Any,
    stage: StageConfig,
    selector: ItemSelector,
    notes: SandboxedEnvironment,
    taken: dict[str, set[str]],
    profile: RecipientProfile,
    recipient: Recipient,
    as_of: datetime,
) -> str:
    """Store an item and note for one gift, and return ``personalized`` or why it was skipped."""
    stage = stage_within_budget(stage, gift)
    selection = selector.select(stage, recipient)
    if selection is None:
        return "no_item_fits"

    context = NoteContext(
        first_name=gift.first_name,
        company=gift.company,
        title=gift.title,
        stage=stage.name,
        purpose=stage.purpose,
        item_name=selection.item.name,
        use_case=gift.use_case,
        goals=gift.goals,
    )
    try:
        note = render_note(
            notes,
            stage.template,
            enrich_context(context, profile),
            card_format=selection.item.note_format,
        )
    except DataQualityError as error:
        logger.warning("gift %s: note not rendered: %s", gift.id, error)
        return "note_failed"

    connection.execute(
        update(Gift)
        .where(Gift.id == gift.id)
        .values(
            sku=selection.item.sku,
            item_name=selection.item.name,
            price=selection.item.price,
            currency=selection.item.currency,
            selection_reasons=[*(gift.selection_reasons or []), *selection.reasons],
            note=note,
            updated_at=as_of,
        )
    )
    if category := primary_category(selection.item, stage):
        taken[gift.contact_id].add(category)
    return "personalized"
