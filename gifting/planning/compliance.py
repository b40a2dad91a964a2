"""Gift limits for recipients whose employers or regulators restrict gifts.

Two sources limit a gift. ``ComplianceRule`` entries in ``program.yaml`` match a recipient group,
such as public-sector employees by e-mail domain or healthcare professionals by title. The
account's own gift policy comes from mapped CRM fields (a cap per gift, or no gifts at all).

Planning combines every limit that applies into one ``ComplianceDecision`` per gift: skip it,
replace it by a note card with zero budget (``note_only``), or lower its budget range to the
strictest cap, with a yearly limit per recipient that the budget book enforces. The decision names
its rule, so the ledger keeps the reason, and marks whether the gift is a transfer of value that
must be disclosed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from gifting.config import ComplianceRule, StageConfig

ACCOUNT_POLICY = "account_policy"
# Lowest price of a gift whose cap is below its stage's minimum budget, so that low-value catalog
# items qualify instead of none.
LOWEST_CAPPED_PRICE = Decimal(1)
NO_GIFTS_POLICY = "account_policy_no_gifts"


@dataclass(frozen=True)
class RecipientFacts:
    """Facts about a gift's recipient and their account that compliance rules read."""

    industry: str | None = None
    email: str | None = None
    title: str | None = None
    healthcare_professional: bool | None = None
    policy_cap_usd: Decimal | None = None
    policy_no_gifts: bool | None = None


@dataclass(frozen=True)
class ComplianceDecision:
    """Limits that apply to one gift.

    Attributes:
        rule: The rule or ``account_policy`` that decided, stored as the gift's
            ``compliance_rule``.
        skip_reason: The reason to skip the gift, or ``None``.
        budget_min: The lowest price allowed; 0 with ``budget_max`` 0 for a note-only gift.
        budget_max: The highest price allowed.
        yearly_limit: Maximum USD value of one recipient's gifts per calendar year, or ``None``.
        note: Why the budget changed, for the gift's reasons; ``None`` when it did not.
        transfer_of_value: Whether the gift must be recorded as a transfer of value.
    """

    rule: str | None
    skip_reason: str | None
    budget_min: Decimal
    budget_max: Decimal
    yearly_limit: Decimal | None = None
    note: str | None = None
    transfer_of_value: bool = False

    @property
    def note_only(self) -> bool:
        return self.skip_reason is None and self.budget_max == 0


def format_usd(amount: Decimal) -> str:
    """Write an amount as ``60`` or ``12.50``, without the trailing ``.00`` of a database value."""
    return f"{amount:.0f}" if amount == amount.to_integral_value() else f"{amount:.2f}"


def email_domain(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().lower().rstrip(".")


def _domain_matches(domain: str, suffix: str) -> bool:
    """Match a domain against a suffix such as ``.gov``, ``.gov.uk`` or ``.gov.*``.

    ``agency.gov`` and ``gov`` match ``.gov``, but ``notgov.com`` does not. A final ``*`` stands
    for any two-letter country label, so ``.gov.*`` matches ``hmrc.gov.uk`` and ``gov.au``.
    """
    labels = suffix.lower().lstrip(".").split(".")
    parts = domain.split(".")
    if labels[-1] == "*":
        if len(parts) < len(labels) or len(parts[-1]) != 2 or not parts[-1].isalpha():
            return False
        labels, parts = labels[:-1], parts[:-1]
    return parts[len(parts) - len(labels) :] == labels


@lru_cache(maxsize=64)
def _title_pattern(keywords: tuple[str, ...]) -> re.Pattern[str]:
    words = "|".join(re.escape(keyword) for keyword in keywords)
    return re.compile(rf"\b(?:{words})\b", re.IGNORECASE)


@lru_cache(maxsize=64)
def _casefolded(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(name.casefold() for name in names)


def _title_matches(title: str | None, keywords: list[str]) -> bool:
    """Match whole words of a job title, ignoring case: ``RN`` matches ``Jane Roe, RN``."""
    if not title or not keywords:
        return False
    return _title_pattern(tuple(keywords)).search(title) is not None


def rule_matches(rule: ComplianceRule, facts: RecipientFacts) -> bool:
    """Return whether the recipient belongs to the rule's group."""
    sector = (facts.industry or "").strip().casefold()
    if sector and sector in _casefolded(tuple(rule.industries)):
        return True
    domain = email_domain(facts.email)
    if domain and any(_domain_matches(domain, suffix) for suffix in rule.email_domain_suffixes):
        return True
    if rule.match_healthcare_professional_flag and facts.healthcare_professional:
        return True
    return _title_matches(facts.title, rule.title_keywords)


def matching_rules(rules: list[ComplianceRule], facts: RecipientFacts) -> list[ComplianceRule]:
    """Return every rule whose group the recipient belongs to, in configuration order."""
    return [rule for rule in rules if rule_matches(rule, facts)]


def decide(
    rules: list[ComplianceRule], facts: RecipientFacts, stage: StageConfig
) -> ComplianceDecision | None:
    """Combine the matching rules and the account's policy for one stage's gift.

    The strictest outcome wins: the account's no-gifts policy, then a rule that skips, then a
    note-only rule, then the lowest cap. ``None`` means nothing limits the gift.
    """
    if not rules and facts.policy_cap_usd is None and not facts.policy_no_gifts:
        return None
    low, high = stage.budget_usd
    transfer = any(rule.transfer_of_value for rule in rules)
    if facts.policy_no_gifts or facts.policy_cap_usd == 0:
        return ComplianceDecision(ACCOUNT_POLICY, NO_GIFTS_POLICY, low, high)
    for rule in rules:
        if rule.action == "skip" or rule.max_gift_usd == 0:
            return ComplianceDecision(rule.name, f"compliance_{rule.name}", low, high)
    for rule in rules:
        if rule.action == "note_only":
            note = f"{rule.name} compliance allows a note card only"
            return ComplianceDecision(rule.name, None, Decimal(0), Decimal(0), None, note, transfer)
    return _capped(rules, facts, low, high, transfer)


def _capped(
    rules: list[ComplianceRule],
    facts: RecipientFacts,
    low: Decimal,
    high: Decimal,
    transfer: bool,
) -> ComplianceDecision | None:
    caps = [(rule.max_gift_usd, rule.name) for rule in rules if rule.max_gift_usd is not None]
    if facts.policy_cap_usd is not None:
        caps.append((facts.policy_cap_usd, ACCOUNT_POLICY))
    yearly = [(rule.max_yearly_usd, rule.name) for rule in rules if rule.max_yearly_usd]
    if not caps and not yearly and not rules:
        return None
    yearly_limit, yearly_rule = min(yearly, default=(None, None))
    if not caps or min(caps)[0] >= high:
        name = yearly_rule or (rules[0].name if rules else ACCOUNT_POLICY)
        return ComplianceDecision(name, None, low, high, yearly_limit, None, transfer)
    cap, name = min(caps)
    source = "the account's gift policy" if name == ACCOUNT_POLICY else f"{name} compliance"
    note = f"{source} limits the gift to {format_usd(cap)} USD"
    floor = low if cap >= low else min(LOWEST_CAPPED_PRICE, cap)
    return ComplianceDecision(name, None, floor, cap, yearly_limit, note, transfer)
