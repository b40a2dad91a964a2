"""Choose a catalog item for a gift: in budget, in category, shippable, and not a repeat.

The choice is deterministic for the same inputs, and its reasons are stored with the gift.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gifting.config import Catalog, CatalogItem, StageConfig

# Preferences that rule out items carrying a restriction.
EXCLUDED_BY_PREFERENCE: dict[str, set[str]] = {
    "no_alcohol": {"alcohol"},
    "vegan": {"allergens", "perishable"},
    "vegetarian": {"allergens"},
    "gluten_free": {"allergens"},
}
# Interests that favour an item whose SKU or name mentions the keyword.
INTEREST_KEYWORDS: dict[str, str] = {
    "coffee": "coffee",
    "cooking": "cooking",
    "books": "notebook",
    "music": "speaker",
    "charity": "charity",
    "outdoors": "backpack",
}
RECIPIENTS_CHOICE_PREFIX = "CHC-"
# Categories that suit a seniority level or a relationship; a match outranks the default choice
# but never a stated interest.
FAVOURED_BY_ROLE: dict[str, set[str]] = {
    "executive": {"premium", "experience"},
    "executive_sponsor": {"premium", "experience"},
    "director": {"premium", "experience"},
    "decision_maker": {"premium"},
    "champion": {"celebration", "experience"},
    "manager": {"useful", "gourmet"},
    "individual": {"useful", "gourmet"},
    "end_user": {"useful", "gourmet"},
    "partner": {"branded", "useful"},
}
# Restrictions an industry's gift norms rule out whatever the person prefers.
EXCLUDED_BY_INDUSTRY: dict[str, set[str]] = {
    "Healthcare": {"alcohol"},
    "Education": {"alcohol"},
    "Government": {"alcohol"},
}


@dataclass(frozen=True)
class Recipient:
    """Facts about the person receiving the gift that selection uses."""

    country: str | None
    has_address: bool
    preferences: frozenset[str]
    categories_received: frozenset[str]
    seniority: str | None = None
    relationship: str | None = None
    industry: str | None = None
    # The destination country or the account's gift policy rules out alcohol.
    alcohol_blocked: bool = False


@dataclass(frozen=True)
class Selection:
    item: CatalogItem
    reasons: list[str]


def parse_preferences(raw: str | None) -> frozenset[str]:
    """Split the CRM's semicolon list (``no_alcohol;coffee``) into normalised tokens."""
    if not raw:
        return frozenset()
    return frozenset(token.strip().lower() for token in raw.split(";") if token.strip())


def _excluded_for(recipient: Recipient) -> set[str]:
    """Return the restrictions ruled out by the recipient's preferences and industry."""
    excluded = _excluded_restrictions(recipient.preferences)
    if recipient.alcohol_blocked:
        excluded.add("alcohol")
    return excluded | EXCLUDED_BY_INDUSTRY.get(recipient.industry or "", set())


def _excluded_restrictions(preferences: frozenset[str]) -> set[str]:
    excluded: set[str] = set()
    for preference in preferences:
        excluded |= EXCLUDED_BY_PREFERENCE.get(preference, set())
    return excluded


def _fits(item: CatalogItem, stage: StageConfig, recipient: Recipient) -> bool:
    low, high = stage.budget_usd
    if not low <= item.price <= high:
        return False
    if item.sku.startswith(RECIPIENTS_CHOICE_PREFIX):
        return False
    if item.kind == "physical" and not (
        recipient.has_address and item.ships_to_country(recipient.country)
    ):
        return False
    if set(item.restrictions) & _excluded_for(recipient):
        return False
    category = primary_category(item, stage)
    return category is not None and category not in recipient.categories_received


def primary_category(item: CatalogItem, stage: StageConfig) -> str | None:
    """Return the first of the stage's categories that the item belongs to."""
    return next((c for c in stage.categories if c in item.categories), None)


def _score(item: CatalogItem, recipient: Recipient) -> tuple[int, list[str]]:
    score, reasons = 0, []
    for interest in sorted(recipient.preferences):
        keyword = INTEREST_KEYWORDS.get(interest)
        if keyword and keyword in f"{item.sku} {item.name}".lower():
            score += 10
            reasons.append(f"matches the stated interest {interest!r}")
    favoured = FAVOURED_BY_ROLE.get(recipient.seniority or "", set())
    favoured = favoured | FAVOURED_BY_ROLE.get(recipient.relationship or "", set())
    suited = sorted(favoured & set(item.categories))
    if suited:
        score += 2
        who = recipient.relationship or recipient.seniority
        reasons.append(f"{' and '.join(suited)} suits the recipient's role ({who})")
    if item.kind == "physical":
        score += 1
        reasons.append("a physical gift, since a confirmed address exists")
    return score, reasons


def select_item(catalog: Catalog, stage: StageConfig, recipient: Recipient) -> Selection | None:
    """Return the best-fitting item and why, or a recipient's-choice e-gift, or ``None``."""
    candidates = [item for item in catalog.items if _fits(item, stage, recipient)]
    if candidates:
        # Best match first. Among equals the price nearest the middle of the budget wins, so the
        # program does not drift to the top of every range.
        midpoint = budget_midpoint(stage)
        scored = [(_score(item, recipient), item) for item in candidates]
        (_, reasons), item = min(
            scored,
            key=lambda entry: (-entry[0][0], abs(entry[1].price - midpoint), entry[1].sku),
        )
        return _chosen(item, stage, reasons)
    return _recipients_choice(catalog, stage, recipient)


def _chosen(item: CatalogItem, stage: StageConfig, reasons: list[str]) -> Selection:
    category = primary_category(item, stage)
    low, high = stage.budget_usd
    return Selection(
        item,
        [
            f"fits the {stage.name} purpose ({stage.purpose}) as a {category} gift",
            f"within the {low}–{high} USD budget at {item.price} {item.currency}",
            *reasons,
        ],
    )


def _recipients_choice(
    catalog: Catalog, stage: StageConfig, recipient: Recipient
) -> Selection | None:
    low, high = stage.budget_usd
    egifts = [
        item
        for item in catalog.items
        if item.sku.startswith(RECIPIENTS_CHOICE_PREFIX) and low <= item.price <= high
    ]
    if not egifts:
        return None
    item = max(egifts, key=lambda candidate: (candidate.price, candidate.sku))
    why = "no confirmed address" if not recipient.has_address else "no physical item fits"
    return Selection(
        item, [f"recipient's-choice e-gift because {why}", f"{item.price} USD within budget"]
    )


def budget_midpoint(stage: StageConfig) -> Decimal:
    return (stage.budget_usd[0] + stage.budget_usd[1]) / 2


@dataclass(frozen=True)
class _Candidate:
    """A catalog item that fits a stage's budget and categories, with its per-recipient checks."""

    item: CatalogItem
    category: str
    physical: bool
    ships_anywhere: bool
    restrictions: frozenset[str]


class ItemSelector:
    """Choose items as ``select_item`` does, faster when many gifts share one catalog.

    Budget and category checks depend only on the stage, so the fitting items of each stage (and
    of each budget that compliance lowered) are computed once and sorted by distance from the
    budget's midpoint. Each recipient then only filters that short list. For a budget above zero
    the choice is always the one ``select_item`` returns, which a unit test checks on random
    recipients. A zero budget marks a gift that compliance reduced to a note, which gets the
    ``note_only_sku`` card.
    """

    def __init__(self, catalog: Catalog, *, note_only_sku: str | None = None) -> None:
        self._catalog = catalog
        self._stages: dict[tuple[object, ...], list[_Candidate]] = {}
        self._note_card = next((i for i in catalog.items if i.sku == note_only_sku), None)

    def select(self, stage: StageConfig, recipient: Recipient) -> Selection | None:
        """Return the best-fitting item and why, or a recipient's-choice e-gift, or ``None``."""
        if stage.budget_usd[1] == 0:
            return self._note_only(recipient)
        excluded = _excluded_for(recipient)
        best: tuple[int, list[str], CatalogItem] | None = None
        for candidate in self._candidates(stage):
            if not _fits_recipient(candidate, recipient, excluded):
                continue
            score, reasons = _score(candidate.item, recipient)
            # Candidates come sorted by distance and SKU, so only a higher score replaces one.
            if best is None or score > best[0]:
                best = (score, reasons, candidate.item)
        if best is not None:
            return _chosen(best[2], stage, best[1])
        return _recipients_choice(self._catalog, stage, recipient)

    def _note_only(self, recipient: Recipient) -> Selection | None:
        card = self._note_card
        if card is None or (card.kind == "physical" and not recipient.has_address):
            return None
        return Selection(card, ["compliance allows a note card only, with no gift of value"])

    def _candidates(self, stage: StageConfig) -> list[_Candidate]:
        key = (stage.name, stage.purpose, stage.budget_usd, tuple(stage.categories))
        if key not in self._stages:
            self._stages[key] = _stage_candidates(self._catalog, stage)
        return self._stages[key]


def _stage_candidates(catalog: Catalog, stage: StageConfig) -> list[_Candidate]:
    low, high = stage.budget_usd
    midpoint = budget_midpoint(stage)
    candidates = []
    for item in catalog.items:
        category = primary_category(item, stage)
        if category is None or not low <= item.price <= high:
            continue
        if item.sku.startswith(RECIPIENTS_CHOICE_PREFIX):
            continue
        physical = item.kind == "physical"
        ships_anywhere = "*" in item.ships_to
        candidates.append(
            _Candidate(item, category, physical, ships_anywhere, frozenset(item.restrictions))
        )
    candidates.sort(key=lambda c: (abs(c.item.price - midpoint), c.item.sku))
    return candidates


def _fits_recipient(candidate: _Candidate, recipient: Recipient, excluded: set[str]) -> bool:
    """Apply the checks of ``_fits`` that depend on the recipient."""
    if candidate.category in recipient.categories_received:
        return False
    if candidate.restrictions and candidate.restrictions & excluded:
        return False
    if not candidate.physical:
        return True
    if not recipient.has_address:
        return False
    return candidate.ships_anywhere or candidate.item.ships_to_country(recipient.country)
