"""Deterministic sample Salesforce org with a known, simulated effect of gifting.

The generator fills an :class:`~gifting.sandbox.org.OrgStore` with Users, customer Accounts,
Contacts, Opportunities, OpportunityContactRoles, Tasks, Events and Cases in the field shapes the
sync reads. The same :class:`SampleOrgSpec` always produces the same records, Ids and order: all
randomness comes from ``random.Random(spec.seed)`` and all time from ``spec.as_of``.

How an account's arm is decided (the same rule the product applies):

* ``holdout`` when ``is_holdout(account_id, spec.holdout_salt, spec.holdout_share)`` from
  :mod:`gifting.planning.holdout` is true. That is a salted SHA-256 of the 18-character Account
  Id, so about ``holdout_share`` (10 %) of accounts are held out, independently of everything
  else about them.
* ``gifted`` when not held out, and the primary contact of the won New Business deal has
  ``Gift_Opt_Out__c`` false and a ``MailingStreet``.
* ``not_gifted`` otherwise: an opted-out primary contact (``opt_out_share``, 4 %) or one without
  a confirmed address (3 %).

The true effect, with the default spec. Time is measured from the New Business CloseDate.

* Churn: time to churn is exponential with annual hazard 0.30 for ``holdout`` and
  ``not_gifted`` accounts and 0.30 × (1 − 0.35) = 0.195 for ``gifted`` ones. The hazard ratio is
  0.65, and P(churn within 12 months) is 25.9 % against 17.7 %. ``Churn_Date__c`` is set only
  when the drawn date is on or before ``as_of``. Later dates are censored (``None``).
* Expansion: P(an expansion deal within 12 months) is 0.25 without gifts and 0.35 with them
  (absolute lift 0.10). The day is uniform on days 30–365, and the Expansion Opportunity exists
  only if that day is not after the churn date or ``as_of``. The observed rates are therefore
  lower than 0.25 and 0.35, and part of the observed lift comes through lower churn.
* NPS: 70 % of accounts with at least 60 days of tenure have ``NPS_Score__c``, drawn from a
  normal with mean 7.0 (+0.8 gifted, −1.5 churned) and SD 1.8, rounded and clipped to 0–10.
* Referrals: accounts with at least 90 days of tenure refer with probability 0.10 (0.18 gifted),
  one referral or, three times in ten, two.
* Renewals: a Renewal Opportunity is won on each contract anniversary the account reached, so
  the renewal rate differs between arms only through churn.
* ``Non_Renewal_Date__c``: half of the churned accounts gave notice 30–90 days before churning.
* ``Testimonial_Date__c``: accounts with at least 120 days of tenure gave a testimonial with
  probability 0.06 (0.12 gifted); ``Case_Study_Date__c``: at least 180 days, 0.02 (0.05
  gifted). Neither field is mapped in the shipped config/salesforce.yaml; map
  ``account.testimonial`` and ``account.case_study`` to them to see the effect in the report.

The generator simulates the gifts' effect but sends no gifts and writes no gift records.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from gifting.planning.holdout import is_holdout
from gifting.sandbox.org import OrgStore
from gifting.sandbox.sample_org_activity import build_cases, build_events, build_tasks
from gifting.sandbox.sample_org_deals import Outcome, build_deals, draw_advocacy, draw_outcome
from gifting.sandbox.sample_org_people import build_account, build_contacts, build_users, new_story
from gifting.sandbox.sample_org_story import AccountStory, IdAllocator, Record

__all__ = ["Arm", "SampleOrgSpec", "expected_arm", "generate_sample_org", "iter_sample_records"]

logger = logging.getLogger(__name__)

Arm = Literal["holdout", "gifted", "not_gifted"]


@dataclass(frozen=True, kw_only=True)
class SampleOrgSpec:
    """Size, seed, reference time and true effect sizes of a sample org.

    Attributes:
        accounts: Number of customer Accounts, each with one won New Business deal.
        seed: Seed of the only random generator the sample org uses.
        history_days: The won New Business deals close within this many days before ``as_of``.
        as_of: The generator's "now", a timezone-aware UTC datetime. No record is dated after it
            except Events already scheduled and the CloseDate of open deals.
        holdout_share: Share of accounts held out from gifting, passed to ``is_holdout``.
        holdout_salt: Salt of the holdout hash, passed to ``is_holdout``.
        base_annual_churn: Annual churn hazard (events per account-year) without gifts.
        gift_churn_reduction: Relative hazard reduction for gifted accounts.
        base_expansion_rate: Probability of an expansion within 12 months without gifts.
        gift_expansion_lift: Absolute increase of that probability for gifted accounts.
        opt_out_share: Share of contacts, primary ones included, with ``Gift_Opt_Out__c`` true.
    """

    accounts: int = 300
    seed: int = 7
    history_days: int = 730
    as_of: datetime
    holdout_share: float = 0.10
    holdout_salt: str = "gifting-holdout-v1"
    base_annual_churn: float = 0.30
    gift_churn_reduction: float = 0.35
    base_expansion_rate: float = 0.25
    gift_expansion_lift: float = 0.10
    opt_out_share: float = 0.04

    def __post_init__(self) -> None:
        offset = self.as_of.utcoffset()
        if offset is None or offset != timedelta(0):
            raise ValueError(
                f"invalid as_of {self.as_of!r}: expected a timezone-aware UTC datetime, "
                "for example datetime(2026, 1, 31, tzinfo=UTC)"
            )
        if self.accounts < 0:
            raise ValueError(f"invalid accounts {self.accounts!r}: expected 0 or more")
        if self.history_days < 1:
            raise ValueError(f"invalid history_days {self.history_days!r}: expected 1 or more")
        if self.base_annual_churn < 0:
            raise ValueError(f"invalid base_annual_churn {self.base_annual_churn!r}: expected >= 0")
        if not 0.0 <= self.holdout_share < 1.0:
            raise ValueError(f"invalid holdout_share {self.holdout_share!r}: expected [0, 1)")
        for name in ("gift_churn_reduction", "base_expansion_rate", "opt_out_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"invalid {name} {value!r}: expected a number in [0, 1]")
        if not 0.0 <= self.base_expansion_rate + self.gift_expansion_lift <= 1.0:
            raise ValueError(
                f"invalid gift_expansion_lift {self.gift_expansion_lift!r}: "
                "base_expansion_rate + gift_expansion_lift must lie in [0, 1]"
            )


def expected_arm(
    account: dict[str, Any], primary_contact: dict[str, Any], spec: SampleOrgSpec
) -> Arm:
    """Return the arm the product should put the account in, by the rule in the module docstring."""
    if is_holdout(account["Id"], spec.holdout_salt, spec.holdout_share):
        return "holdout"
    if primary_contact["Gift_Opt_Out__c"] or not primary_contact["MailingStreet"]:
        return "not_gifted"
    return "gifted"


def iter_sample_records(spec: SampleOrgSpec) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(sobject, fields)`` for the whole org, one account's records at a time.

    Memory stays flat in the number of accounts, so benchmarks can stream 100,000 accounts.
    Parents come before children. Each record carries its final Id, CreatedDate, SystemModstamp
    and IsDeleted. A deleted record has ``IsDeleted`` true and its deletion time as
    SystemModstamp.
    """
    rng = random.Random(spec.seed)
    ids = IdAllocator()
    users = build_users(ids, spec.as_of, spec.history_days)
    for user in users:
        yield "User", user

    owner_ids = [user["Id"] for user in users]
    for index in range(spec.accounts):
        # One child generator per account, so an account's draws never shift its neighbours'.
        account_rng = random.Random(rng.getrandbits(64))
        yield from _account_records(account_rng, ids, spec, index, owner_ids)


def generate_sample_org(spec: SampleOrgSpec, store: OrgStore | None = None) -> OrgStore:
    """Insert the sample org into ``store`` (a new one by default) and return the store.

    Deleted records are inserted live and then deleted, as in a real org, so the store ends up
    with exactly the records :func:`iter_sample_records` yields.

    Raises:
        ValueError: The store already contains a record with a sample Id, for example from an
            earlier call. Use a fresh store for each sample org.
    """
    store = OrgStore() if store is None else store
    counts: Counter[str] = Counter()
    for sobject, fields in iter_sample_records(spec):
        if fields["Id"] in store.objects[sobject]:
            raise ValueError(
                f"{sobject} {fields['Id']} already exists in the store: "
                "generate each sample org into a fresh OrgStore"
            )
        if fields["IsDeleted"]:
            live = dict(fields, IsDeleted=False, SystemModstamp=fields["CreatedDate"])
            store.insert(sobject, live, now=fields["CreatedDate"])
            store.delete(sobject, fields["Id"], now=fields["SystemModstamp"])
        else:
            store.insert(sobject, fields, now=fields["CreatedDate"])
        counts[sobject] += 1
    logger.info("Generated sample org with seed %s: %s", spec.seed, dict(counts))
    return store


def _account_records(
    rng: random.Random,
    ids: IdAllocator,
    spec: SampleOrgSpec,
    index: int,
    owner_ids: list[str],
) -> Iterator[tuple[str, Record]]:
    """Tell one account's story, then yield its records, parents first."""
    story = new_story(rng, ids, index, rng.choice(owner_ids), _close_date(rng, spec), spec.as_of)
    story.contacts = build_contacts(rng, ids, story, spec.opt_out_share)
    story.arm = expected_arm({"Id": story.account_id}, story.primary, spec)
    outcome = draw_outcome(rng, spec, story)
    story.churn_date = outcome.churn_date

    opportunities, roles = build_deals(rng, ids, story, outcome)
    account = build_account(
        rng,
        story,
        nps_score=outcome.nps_score,
        referrals=outcome.referrals,
        modified_at=_last_account_change(rng, story, outcome),
    )
    advocacy = draw_advocacy(spec.seed, story)
    account.update(advocacy)
    if any(advocacy.values()):
        latest = max(day for day in advocacy.values() if day is not None)
        edited = story.at(random.Random(f"{spec.seed}:advocacy-edit:{index}"), latest)
        account["SystemModstamp"] = max(account["SystemModstamp"], edited)
    yield "Account", account
    for sobject, records in (
        ("Contact", story.contacts),
        ("Opportunity", opportunities),
        ("OpportunityContactRole", roles),
        ("Task", build_tasks(rng, ids, story)),
        ("Event", build_events(rng, ids, story)),
        ("Case", build_cases(rng, ids, story)),
    ):
        for record in records:
            yield sobject, record


def _close_date(rng: random.Random, spec: SampleOrgSpec) -> date:
    """Draw a weekday within ``history_days`` before ``as_of``, where B2B deals close."""
    as_of_date = spec.as_of.date()
    day = as_of_date
    # A few redraws make a weekend vanishingly rare without looping forever on a tiny window.
    for _ in range(8):
        day = as_of_date - timedelta(days=rng.randint(0, spec.history_days - 1))
        if day.weekday() < 5:
            break
    return day


def _last_account_change(rng: random.Random, story: AccountStory, outcome: Outcome) -> datetime:
    """Return when the Account was last edited: signing, the NPS survey or the churn."""
    changes = [story.close_at]
    if outcome.nps_at is not None:
        changes.append(story.at(rng, outcome.nps_at))
    if outcome.churn_date is not None:
        changes.append(story.at(rng, outcome.churn_date))
    return max(changes)
