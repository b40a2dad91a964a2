"""Outcomes (churn, expansion, NPS, referrals) and the Opportunities that record them.

The arm of the account changes only the draws in :func:`draw_outcome`. Everything else about
an account is drawn the same way in every arm, so differences between arms in the generated
org come from the simulated gift effect alone.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from gifting.sandbox import sample_org_data as data
from gifting.sandbox.sample_org_story import AccountStory, IdAllocator, Record, add_years

if TYPE_CHECKING:
    from gifting.sandbox.sample_org import SampleOrgSpec

DAYS_PER_YEAR = 365.25
EXPANSION_WINDOW_DAYS = 365
NPS_SURVEY_SHARE = 0.70
NPS_MEAN = 7.0
NPS_GIFT_SHIFT = 0.8
NPS_CHURN_SHIFT = -1.5
REFERRAL_SHARE = 0.10
REFERRAL_GIFT_SHARE = 0.18
OPEN_EXPANSION_SHARE = 0.08
# One account in DUPLICATE_EVERY gets a second won deal that its owner later deletes.
DUPLICATE_EVERY = 150


@dataclass(frozen=True)
class Outcome:
    """Observable result of an account after signing, as of ``as_of``."""

    churn_date: date | None
    expansion_date: date | None
    nps_score: int | None
    nps_at: date | None
    referrals: int


def draw_outcome(rng: random.Random, spec: SampleOrgSpec, story: AccountStory) -> Outcome:
    """Draw churn, expansion, NPS and referrals, with the true gift effect for gifted accounts."""
    gifted = story.arm == "gifted"
    as_of_date = story.as_of.date()

    hazard = spec.base_annual_churn * ((1.0 - spec.gift_churn_reduction) if gifted else 1.0)
    churn_date = None
    if hazard > 0:
        years = rng.expovariate(hazard)
        candidate = story.close_date + timedelta(days=max(1, math.ceil(years * DAYS_PER_YEAR)))
        # A churn after as_of has not happened yet: the account is censored.
        churn_date = candidate if candidate <= as_of_date else None
    last_active = churn_date or as_of_date

    expansion_share = spec.base_expansion_rate + (spec.gift_expansion_lift if gifted else 0.0)
    expansion_date = None
    if rng.random() < expansion_share:
        candidate = story.close_date + timedelta(days=rng.randint(30, EXPANSION_WINDOW_DAYS))
        expansion_date = candidate if candidate <= last_active else None

    nps_score, nps_at = None, None
    tenure_days = (last_active - story.close_date).days
    if tenure_days >= 60 and rng.random() < NPS_SURVEY_SHARE:
        mean = NPS_MEAN + (NPS_GIFT_SHIFT if gifted else 0.0)
        mean += NPS_CHURN_SHIFT if churn_date else 0.0
        nps_score = max(0, min(10, round(rng.gauss(mean, 1.8))))
        nps_at = story.day_between(rng, story.close_date + timedelta(days=60), last_active)

    referrals = 0
    if tenure_days >= 90 and rng.random() < (REFERRAL_GIFT_SHARE if gifted else REFERRAL_SHARE):
        referrals = 1 + (rng.random() < 0.3)
    return Outcome(churn_date, expansion_date, nps_score, nps_at, referrals)


def build_deals(
    rng: random.Random, ids: IdAllocator, story: AccountStory, outcome: Outcome
) -> tuple[list[Record], list[Record]]:
    """Build the account's Opportunities and OpportunityContactRoles, oldest deal first."""
    opportunities: list[Record] = []
    roles: list[Record] = []
    if story.lost_attempt_close is not None and story.lost_attempt_opened is not None:
        lost_at = story.at(rng, story.lost_attempt_close)
        created = story.at(rng, story.lost_attempt_opened)
        opportunities.append(
            _opportunity(rng, ids, story, "New Business", "Closed Lost", lost_at, created)
        )

    won = _opportunity(
        rng, ids, story, "New Business", "Closed Won", story.close_at, story.opened_at
    )
    story.new_business_id = won["Id"]
    opportunities.append(won)
    roles.extend(_buying_committee(rng, ids, story, won))
    if story.index % DUPLICATE_EVERY == DUPLICATE_EVERY // 2:
        duplicate, duplicate_roles = _deleted_duplicate(rng, ids, story, won)
        opportunities.append(duplicate)
        roles.extend(duplicate_roles)

    for opportunity in _later_deals(rng, ids, story, outcome, won["Amount"]):
        opportunities.append(opportunity)
        roles.append(_role(ids, opportunity, story.primary, "Economic Buyer", primary=True))
    return opportunities, roles


def _later_deals(
    rng: random.Random, ids: IdAllocator, story: AccountStory, outcome: Outcome, amount: float
) -> list[Record]:
    """Build expansions and renewals, plus an expansion still in negotiation on ``as_of``."""
    deals = []
    if outcome.expansion_date is not None:
        closed = story.at(rng, outcome.expansion_date)
        created = max(story.close_at, closed - timedelta(days=rng.randint(20, 60)))
        expansion = _opportunity(rng, ids, story, "Expansion", "Closed Won", closed, created)
        expansion["Amount"] = round(amount * rng.uniform(0.2, 0.6), -2)
        amount += expansion["Amount"]
        deals.append(expansion)

    years = 1
    while _renews(story, anniversary := add_years(story.close_date, years)):
        closed = story.at(rng, anniversary - timedelta(days=rng.randint(0, 21)))
        created = closed - timedelta(days=rng.randint(30, 75))
        renewal = _opportunity(rng, ids, story, "Renewal", "Closed Won", closed, created)
        renewal["Amount"] = round(amount * rng.uniform(1.0, 1.08), -2)
        deals.append(renewal)
        years += 1

    tenure_days = (story.last_active - story.close_date).days
    if story.churn_date is None and tenure_days >= 60 and rng.random() < OPEN_EXPANSION_SHARE:
        created = story.at(rng, story.as_of.date() - timedelta(days=rng.randint(5, 45)))
        # The only forecast dates in the org: an open deal's CloseDate may lie after as_of.
        expected = story.as_of + timedelta(days=rng.randint(10, 75))
        deals.append(_opportunity(rng, ids, story, "Expansion", "Negotiation", expected, created))
    deals.sort(key=lambda deal: deal["CreatedDate"])
    return deals


def _renews(story: AccountStory, anniversary: date) -> bool:
    """Return whether the contract renewed on a past ``anniversary`` that churn did not precede."""
    if anniversary > story.as_of.date():
        return False
    return story.churn_date is None or story.churn_date > anniversary


def _opportunity(
    rng: random.Random,
    ids: IdAllocator,
    story: AccountStory,
    kind: str,
    stage: str,
    closed: datetime,
    created: datetime,
) -> Record:
    is_closed = stage.startswith("Closed")
    seats = rng.randint(10, 400)
    team = rng.choice(data.TEAMS)
    names = {
        "New Business": f"{story.name} - {seats} seats",
        "Expansion": f"{story.name} - Expansion ({team})",
        "Renewal": f"{story.name} - Renewal {closed.year}",
    }
    return {
        "Id": ids.next("Opportunity"),
        "AccountId": story.account_id,
        "Name": names[kind],
        "Type": kind,
        "StageName": stage,
        "IsClosed": is_closed,
        "IsWon": stage == "Closed Won",
        "CloseDate": closed.date(),
        "Amount": float(round(seats * rng.uniform(60, 180) * 12, -2)),
        "OwnerId": story.owner_id,
        "Use_Case__c": rng.choice(data.USE_CASES) if kind != "Renewal" else None,
        "Goals__c": rng.choice(data.GOALS) if kind != "Renewal" else None,
        "CreatedDate": created,
        # A closed deal was last edited when its stage moved to Closed Won or Closed Lost.
        "SystemModstamp": closed if is_closed else created,
        "IsDeleted": False,
    }


def _buying_committee(
    rng: random.Random, ids: IdAllocator, story: AccountStory, won: Record
) -> list[Record]:
    """Attach contact roles to the won deal, with exactly one primary: the first contact."""
    roles = [_role(ids, won, story.primary, rng.choice(data.PRIMARY_ROLES), primary=True)]
    for contact in story.contacts[1:]:
        if rng.random() < 0.75:
            roles.append(_role(ids, won, contact, rng.choice(data.OTHER_ROLES), primary=False))
    return roles


def _deleted_duplicate(
    rng: random.Random, ids: IdAllocator, story: AccountStory, won: Record
) -> tuple[Record, list[Record]]:
    """Copy the won deal as a rep's accidental double entry that sits in the recycle bin.

    Deleting an Opportunity in Salesforce also deletes its contact roles, so the copy's role is
    deleted at the same moment.
    """
    created = won["SystemModstamp"] + timedelta(hours=rng.randint(1, 6))
    deleted_at = min(created + timedelta(days=rng.randint(1, 10)), story.as_of)
    created = min(created, deleted_at)
    duplicate = dict(won, Id=ids.next("Opportunity"), CreatedDate=created)
    duplicate.update(SystemModstamp=deleted_at, IsDeleted=True)
    role = _role(ids, duplicate, story.primary, "Decision Maker", primary=True)
    role.update(SystemModstamp=deleted_at, IsDeleted=True)
    return duplicate, [role]


def _role(
    ids: IdAllocator, opportunity: Record, contact: Record, role: str, *, primary: bool
) -> Record:
    return {
        "Id": ids.next("OpportunityContactRole"),
        "OpportunityId": opportunity["Id"],
        "ContactId": contact["Id"],
        "Role": role,
        "IsPrimary": primary,
        "CreatedDate": opportunity["CreatedDate"],
        "SystemModstamp": opportunity["CreatedDate"],
        "IsDeleted": False,
    }


TESTIMONIAL_SHARE = 0.06
TESTIMONIAL_GIFT_SHARE = 0.12
CASE_STUDY_SHARE = 0.02
CASE_STUDY_GIFT_SHARE = 0.05
NOTICE_SHARE = 0.5
"""Share of churned accounts that gave notice not to renew 30–90 days before they left."""


def draw_advocacy(seed: int, story: AccountStory) -> dict[str, date | None]:
    """Draw the Account's non-renewal notice, testimonial and case-study dates.

    A generator of its own per account draws them, so these fields leave every other record of
    a seed as it was before they existed. Testimonials need 120 days of tenure, case studies 180.
    """
    rng = random.Random(f"{seed}:advocacy:{story.index}")
    gifted = story.arm == "gifted"
    last_active = story.last_active
    tenure_days = (last_active - story.close_date).days
    notice = None
    if story.churn_date is not None and rng.random() < NOTICE_SHARE:
        earliest = story.close_date + timedelta(days=1)
        notice = max(earliest, story.churn_date - timedelta(days=rng.randint(30, 90)))
    dates: dict[str, date | None] = {"Non_Renewal_Date__c": notice}
    for field, minimum, base, with_gift in (
        ("Testimonial_Date__c", 120, TESTIMONIAL_SHARE, TESTIMONIAL_GIFT_SHARE),
        ("Case_Study_Date__c", 180, CASE_STUDY_SHARE, CASE_STUDY_GIFT_SHARE),
    ):
        happened = tenure_days >= minimum and rng.random() < (with_gift if gifted else base)
        first = story.close_date + timedelta(days=minimum)
        dates[field] = story.day_between(rng, first, last_active) if happened else None
    return dates
