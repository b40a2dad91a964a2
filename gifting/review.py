"""Human review of gifts: hold risky ready gifts in ``needs_review`` and apply reviewer decisions.

The review gate runs between release and sending. A gift is held when it is expensive, weakly
personalized, or the first gift to a strategic account. A reviewer then approves it, edits its
note, swaps its item (each back to ``ready``) or rejects it. Every decision goes through the
ledger's compare-and-set, so it is recorded once in ``gift_events`` with the reviewer as actor.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, get_args

from sqlalchemy import Connection, Engine, exists, or_, select
from sqlalchemy.orm import aliased

from gifting import ledger
from gifting.config import Catalog, CatalogItem, ReviewConfig
from gifting.errors import DataQualityError
from gifting.personalization.notes import MAX_NOTE_CHARACTERS
from gifting.personalization.selection import RECIPIENTS_CHOICE_PREFIX
from gifting.warehouse.schema import Account, Contact, Contract, Gift, GiftEvent

logger = logging.getLogger(__name__)

GATE_ACTOR = "review_gate"
HIGH_VALUE, WEAK_PERSONALIZATION, FIRST_STRATEGIC_GIFT = (
    "high_value",
    "weak_personalization",
    "first_strategic_gift",
)
# ``selection._score`` starts each interest-match reason with this text.
INTEREST_MATCH_PREFIX = "matches the stated interest"
# ``ledger.move`` writes the same reason to ``gifts.reason``, a VARCHAR(64) column.
REASON_CHARACTERS = 64
Action = Literal["approve", "edit_note", "swap_item", "reject"]
ACTIONS: tuple[str, ...] = get_args(Action)


class InvalidReviewDecision(DataQualityError):
    """A review decision that cannot be applied; the message names the value and the fix."""


@dataclass(frozen=True)
class ReviewItem:
    """One gift waiting in ``needs_review``, with what a reviewer needs to decide on it."""

    gift_id: str
    stage: str
    due_at: datetime
    company: str
    first_name: str | None
    sku: str | None
    item_name: str | None
    price: Decimal | None
    currency: str
    note: str | None
    reasons: list[str]
    score: int


@dataclass(frozen=True)
class ReviewDecision:
    """A reviewer's decision on one gift.

    Attributes:
        note: The new note for ``edit_note``, and optionally for ``swap_item``.
        sku: The catalog SKU for ``swap_item``.
        reason: Why the gift is rejected; required for ``reject``.
    """

    gift_id: str
    action: Action
    note: str | None = None
    sku: str | None = None
    reason: str | None = None


def personalization_score(
    *,
    first_name: str | None,
    use_case: str | None,
    goals: str | None,
    sku: str | None,
    selection_reasons: list[str] | None,
) -> int:
    """Score how personal a gift is, from 0 to 4, one point per fact it draws on.

    One point each for a first name for the greeting, the contract's use case or goals for the
    body, an item that matches a stated interest, and an item other than the recipient's-choice
    e-gift. Selection falls back to that e-gift when nothing specific fits.
    """
    points = [
        bool(first_name and first_name.strip()),
        bool((use_case and use_case.strip()) or (goals and goals.strip())),
        any(reason.startswith(INTEREST_MATCH_PREFIX) for reason in selection_reasons or []),
        bool(sku) and not str(sku).startswith(RECIPIENTS_CHOICE_PREFIX),
    ]
    return sum(points)


def gate_reasons(
    policy: ReviewConfig, *, price: Decimal | None, score: int, first_strategic: bool
) -> list[str]:
    """Return why a ready gift must be reviewed before sending; empty means it may go."""
    reasons = []
    if price is not None and Decimal(price) > policy.max_price_usd:
        reasons.append(HIGH_VALUE)
    if score < policy.min_score:
        reasons.append(WEAK_PERSONALIZATION)
    if first_strategic and policy.review_first_strategic_gift:
        reasons.append(FIRST_STRATEGIC_GIFT)
    return reasons


def account_has_sent_gift() -> Any:
    """Return an EXISTS clause: another gift of the row's account reached the vendor."""
    other = aliased(Gift)
    return exists().where(
        other.account_id == Gift.account_id,
        other.id != Gift.id,
        or_(
            other.sent_at.is_not(None),
            other.status.in_([ledger.SENDING, ledger.SENT, ledger.DELIVERED]),
        ),
    )


def reviewed_before() -> Any:
    """Return an EXISTS clause: a reviewer already sent the row's gift back to ``ready``."""
    return exists().where(
        GiftEvent.gift_id == Gift.id,
        GiftEvent.from_status == ledger.NEEDS_REVIEW,
        GiftEvent.to_status == ledger.READY,
    )


def review_facts_query() -> Any:
    """Select each gift with the facts its score and gate reasons are computed from."""
    return (
        select(
            Gift.id,
            Gift.stage,
            Gift.due_at,
            Gift.sku,
            Gift.item_name,
            Gift.price,
            Gift.currency,
            Gift.note,
            Gift.reason,
            Gift.selection_reasons,
            Account.name.label("company"),
            Account.is_strategic,
            Contact.first_name,
            Contract.use_case,
            Contract.goals,
            account_has_sent_gift().label("account_has_sent"),
        )
        .join(Account, Account.id == Gift.account_id)
        .join(Contract, Contract.id == Gift.contract_id)
        .outerjoin(Contact, Contact.id == Gift.contact_id)
        .order_by(Gift.due_at, Gift.id)
    )


def score_of(row: Any) -> int:
    """Return the personalization score of a row selected with the review facts."""
    return personalization_score(
        first_name=row.first_name,
        use_case=row.use_case,
        goals=row.goals,
        sku=row.sku,
        selection_reasons=row.selection_reasons,
    )


def apply_review_gate(engine: Engine, policy: ReviewConfig, *, as_of: datetime) -> Counter[str]:
    """Move every due ready gift that needs a person's approval to ``needs_review``.

    A gift a reviewer already sent back to ``ready`` is not held again, whatever its price.

    Returns:
        ``needs_review`` counts the gifts held, ``reviewed`` those passed on an earlier review.
    """
    query = review_facts_query().add_columns(reviewed_before().label("reviewed"))
    query = query.where(Gift.status == ledger.READY, Gift.due_at <= as_of)
    outcome: Counter[str] = Counter()
    held: Counter[str] = Counter()
    with engine.begin() as connection:
        for row in connection.execute(query).all():
            if row.reviewed:
                outcome["reviewed"] += 1
                continue
            reasons = gate_reasons(
                policy,
                price=row.price,
                score=score_of(row),
                first_strategic=bool(row.is_strategic) and not row.account_has_sent,
            )
            if reasons and _hold(connection, row.id, ";".join(reasons), as_of):
                outcome[ledger.NEEDS_REVIEW] += 1
                held.update(reasons)
    if held:
        logger.info("held %d gifts for review: %s", outcome[ledger.NEEDS_REVIEW], dict(held))
    return outcome


def _hold(connection: Connection, gift_id: str, reason: str, as_of: datetime) -> bool:
    try:
        ledger.move(
            connection,
            gift_id,
            ledger.READY,
            ledger.NEEDS_REVIEW,
            at=as_of,
            actor=GATE_ACTOR,
            reason=reason,
        )
    except ledger.LedgerConflict:
        # Another worker claimed it between the query and the move; that worker's gate ran first.
        return False
    return True


def pending_reviews(engine: Engine) -> list[ReviewItem]:
    """Return every gift waiting in ``needs_review``, the earliest due first."""
    query = review_facts_query().where(Gift.status == ledger.NEEDS_REVIEW)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        ReviewItem(
            gift_id=row.id,
            stage=row.stage,
            due_at=row.due_at,
            company=row.company,
            first_name=row.first_name,
            sku=row.sku,
            item_name=row.item_name,
            price=None if row.price is None else Decimal(row.price),
            currency=row.currency,
            note=row.note,
            reasons=[reason for reason in (row.reason or "").split(";") if reason],
            score=score_of(row),
        )
        for row in rows
    ]


def apply_decision(
    engine: Engine,
    decision: ReviewDecision,
    *,
    catalog: Catalog,
    as_of: datetime,
    reviewer: str,
) -> str:
    """Apply one reviewer decision to a gift in ``needs_review`` and return its new status.

    Args:
        engine: The warehouse.
        decision: What the reviewer decided.
        catalog: The gift catalog, which a swapped SKU must come from.
        as_of: When the decision was made (naive UTC), recorded on the event.
        reviewer: Who decided, recorded as the event's actor.

    Raises:
        InvalidReviewDecision: The gift is unknown or not waiting for review, or the decision's
            note, SKU or reason is invalid. Nothing is changed.
        LedgerConflict: Another reviewer decided on the gift at the same moment.
    """
    reviewer = _checked_reviewer(reviewer)
    if decision.action not in ACTIONS:
        raise InvalidReviewDecision(
            f"invalid action {decision.action!r}: expected one of {list(ACTIONS)}"
        )
    with engine.begin() as connection:
        gift = _load_for_decision(connection, decision.gift_id)
        status, reason, values = _decide(gift, decision, catalog)
        ledger.move(
            connection,
            gift.id,
            ledger.NEEDS_REVIEW,
            status,
            at=as_of,
            actor=reviewer,
            reason=reason,
            **values,
        )
    logger.info("gift %s: review decision %s -> %s", gift.id, decision.action, status)
    return status


def _checked_reviewer(reviewer: str) -> str:
    name = reviewer.strip()
    actor_length = GiftEvent.__table__.c.actor.type.length
    if not name or len(name) > actor_length:
        raise InvalidReviewDecision(
            f"invalid reviewer {reviewer!r}: pass a name of 1 to {actor_length} characters"
        )
    return name


def _load_for_decision(connection: Connection, gift_id: str) -> Any:
    gift = connection.execute(
        select(
            Gift.id,
            Gift.status,
            Gift.sku,
            Gift.item_name,
            Gift.note,
            Gift.budget_min,
            Gift.budget_max,
            Contact.street,
            Contact.country,
        )
        .outerjoin(Contact, Contact.id == Gift.contact_id)
        .where(Gift.id == gift_id)
    ).one_or_none()
    if gift is None:
        raise InvalidReviewDecision(
            f"gift {gift_id!r} not found: pass an id listed by the pending reviews"
        )
    if gift.status != ledger.NEEDS_REVIEW:
        raise InvalidReviewDecision(
            f"gift {gift_id} is {gift.status}, not {ledger.NEEDS_REVIEW}: only gifts waiting "
            "for review can be decided; list them with the pending reviews"
        )
    return gift


def _decide(
    gift: Any, decision: ReviewDecision, catalog: Catalog
) -> tuple[str, str, dict[str, Any]]:
    """Return the new status, the event reason and the columns a decision changes."""
    if decision.action == "approve":
        return ledger.READY, "approved", {}
    if decision.action == "edit_note":
        note = checked_note(decision.note)
        return (
            ledger.READY,
            f"note edited: {len(gift.note or '')} -> {len(note)} characters",
            {"note": note},
        )
    if decision.action == "swap_item":
        return ledger.READY, *_swap(gift, decision, catalog)
    reason = (decision.reason or "").strip()
    if not reason or len(reason) > REASON_CHARACTERS:
        raise InvalidReviewDecision(
            f"invalid rejection reason {decision.reason!r}: a rejection needs a reason of "
            f"1 to {REASON_CHARACTERS} characters, such as 'contact left the company'"
        )
    return ledger.REJECTED, reason, {}


def checked_note(note: str | None) -> str:
    """Return a reviewer's note without outer whitespace, or raise if a card cannot hold it.

    The text is stored as written and never rendered as a template, so CRM-style text such as
    ``{{ first_name }}`` reaches the card literally.
    """
    text = (note or "").strip()
    if not text:
        raise InvalidReviewDecision("the note is empty: write the text to print on the card")
    if len(text) > MAX_NOTE_CHARACTERS:
        raise InvalidReviewDecision(
            f"the note has {len(text)} characters, but a card holds {MAX_NOTE_CHARACTERS}: "
            "shorten it"
        )
    return text


def _swap(gift: Any, decision: ReviewDecision, catalog: Catalog) -> tuple[str, dict[str, Any]]:
    item = _swappable_item(gift, decision.sku, catalog)
    if decision.note is not None:
        note = checked_note(decision.note)
    elif gift.item_name and gift.item_name.lower() in (gift.note or "").lower():
        raise InvalidReviewDecision(
            f"the note of gift {gift.id} names the current item {gift.item_name!r}: "
            f"pass a new note that names {item.name!r} with the swap"
        )
    else:
        note = gift.note
    values = {
        "sku": item.sku,
        "item_name": item.name,
        "price": item.price,
        "currency": item.currency,
        "note": note,
    }
    # NOTE: clipped to fit ``gifts.reason``, so two SKUs over 46 characters together lose the tail.
    return f"item swapped: {gift.sku} -> {item.sku}"[:REASON_CHARACTERS], values


def _swappable_item(gift: Any, sku: str | None, catalog: Catalog) -> CatalogItem:
    low, high = Decimal(gift.budget_min), Decimal(gift.budget_max)
    in_budget = sorted(item.sku for item in catalog.items if low <= item.price <= high)
    item = next((item for item in catalog.items if item.sku == sku), None)
    if item is None:
        raise InvalidReviewDecision(
            f"SKU {sku!r} is not in the catalog: choose one of {in_budget} "
            f"(within the gift's {low}–{high} USD budget)"
        )
    if not low <= item.price <= high:
        raise InvalidReviewDecision(
            f"SKU {sku} costs {item.price} {item.currency}, outside the gift's {low}–{high} USD "
            f"budget: choose one of {in_budget}"
        )
    if item.sku == gift.sku:
        raise InvalidReviewDecision(f"SKU {sku} is already the gift's item: approve it instead")
    if item.kind == "physical" and not (gift.street and item.ships_to_country(gift.country)):
        raise InvalidReviewDecision(
            f"SKU {sku} is a physical item that cannot ship to the recipient (no confirmed "
            "address, or a country the item does not ship to): choose an e-gift"
        )
    return item


def decide(
    engine: Engine,
    catalog: Catalog,
    *,
    gift_id: str,
    action: str,
    reviewer: str,
    as_of: datetime,
    note: str | None = None,
    sku: str | None = None,
    reason: str | None = None,
) -> str:
    """Apply a decision given as plain values, as a command line passes them."""
    if action not in ACTIONS:
        raise InvalidReviewDecision(f"invalid action {action!r}: expected one of {list(ACTIONS)}")
    decision = ReviewDecision(gift_id=gift_id, action=action, note=note, sku=sku, reason=reason)  # type: ignore[arg-type]
    return apply_decision(engine, decision, catalog=catalog, as_of=as_of, reviewer=reviewer)


def review_table(items: list[ReviewItem]) -> list[dict[str, str]]:
    """Return one display row per pending review, for a table artifact or a terminal table."""
    return [
        {
            "gift_id": item.gift_id,
            "stage": item.stage,
            "due_at": f"{item.due_at:%Y-%m-%d %H:%M}",
            "company": item.company,
            "first_name": item.first_name or "",
            "item": f"{item.item_name or ''} ({item.sku or 'none'})",
            "price": "" if item.price is None else f"{item.price} {item.currency}",
            "reasons": ", ".join(item.reasons),
            "score": str(item.score),
        }
        for item in items
    ]


def fenced(text: str) -> str:
    """Wrap text in a Markdown code fence longer than any backtick run in it.

    Notes come partly from CRM text, so fencing keeps a stray ``[link](…)`` or ``#`` from being
    rendered as Markdown in the Prefect UI.
    """
    longest, run = 0, 0
    for character in text:
        run = run + 1 if character == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def review_markdown(items: list[ReviewItem]) -> str:
    """Return the pending reviews as Markdown, one section per gift with its note."""
    lines = [f"# {len(items)} gifts waiting for review", ""]
    for item in items:
        price = "no price" if item.price is None else f"{item.price} {item.currency}"
        lines += [f"## {item.stage} for {item.company} (gift `{item.gift_id}`)", ""]
        lines.append(f"Item: {item.item_name or 'none'} (`{item.sku}`), {price}.")
        lines.append(f"Held because: {', '.join(item.reasons) or 'no reason recorded'}.")
        lines.append(f"Personalization score: {item.score} of 4.")
        lines += ["", fenced(item.note) if item.note else "_No note._", ""]
    return "\n".join(lines)
