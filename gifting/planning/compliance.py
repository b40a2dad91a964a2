"""Gift limits for recipients whose employers restrict gifts, such as governments and hospitals.

Each ``ComplianceRule`` matches an industry or an email domain and caps the gift value. A cap
below a stage's minimum budget means no gift for that stage (skipped with reason
``compliance_<rule>``). A cap inside the budget lowers the gift's ``budget_max``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gifting.config import ComplianceRule, StageConfig


@dataclass(frozen=True)
class ComplianceDecision:
    """The outcome of a compliance rule for one gift: a reason to skip, or a lowered maximum."""

    rule: str
    skip_reason: str | None
    budget_max: Decimal


def email_domain(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().lower().rstrip(".")


def _domain_matches(domain: str, suffix: str) -> bool:
    """Match ``agency.gov`` and ``gov`` against the suffix ``.gov``, but not ``notgov.com``."""
    suffix = suffix.lower().lstrip(".")
    return domain == suffix or domain.endswith(f".{suffix}")


def matching_rule(
    rules: list[ComplianceRule], *, industry: str | None, email: str | None
) -> ComplianceRule | None:
    """Return the strictest rule that matches the account's industry or the contact's email."""
    domain = email_domain(email)
    sector = (industry or "").strip().casefold()
    matches = [
        rule
        for rule in rules
        if sector in {name.casefold() for name in rule.industries}
        or (domain and any(_domain_matches(domain, s) for s in rule.email_domain_suffixes))
    ]
    return min(matches, key=lambda rule: rule.max_gift_usd, default=None)


def apply_rule(rule: ComplianceRule, stage: StageConfig) -> ComplianceDecision:
    """Return whether the stage's gift is skipped under the rule, or its lowered maximum."""
    low, high = stage.budget_usd
    if rule.max_gift_usd < low:
        return ComplianceDecision(rule.name, f"compliance_{rule.name}", Decimal(0))
    return ComplianceDecision(rule.name, None, min(high, rule.max_gift_usd))
