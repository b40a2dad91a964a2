"""Tests of the sample-org generator: the sync and the nightly report trust its records blindly.

The sync reads these records as if they came from Salesforce, so shapes, Ids and foreign keys
must be right. The report must recover the simulated gift effect, so the effect must be there.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from gifting.planning.holdout import is_holdout
from gifting.sandbox.org import KEY_PREFIXES, OrgStore, to_18
from gifting.sandbox.sample_org import (
    SampleOrgSpec,
    expected_arm,
    generate_sample_org,
    iter_sample_records,
)
from gifting.sandbox.sample_org_data import GIFT_PREFERENCES

AS_OF = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
SPEC = SampleOrgSpec(as_of=AS_OF)
BIG_SPEC = SampleOrgSpec(as_of=AS_OF, accounts=3000)
STAMPS = {"Id", "CreatedDate", "SystemModstamp", "IsDeleted"}

# The fields the sync reads, per sObject, plus the stamps every record carries.
EXPECTED_FIELDS: dict[str, set[str]] = {
    "User": {"Name", "Email", "IsActive"},
    "Account": {
        "Name",
        "Industry",
        "Type",
        "BillingStreet",
        "BillingCity",
        "BillingState",
        "BillingPostalCode",
        "BillingCountry",
        "NumberOfEmployees",
        "OwnerId",
        "Strategic__c",
        "Churn_Date__c",
        "NPS_Score__c",
        "Referrals__c",
        "Non_Renewal_Date__c",
        "Testimonial_Date__c",
        "Case_Study_Date__c",
    },
    "Contact": {
        "AccountId",
        "FirstName",
        "LastName",
        "Title",
        "Email",
        "Phone",
        "MailingStreet",
        "MailingCity",
        "MailingState",
        "MailingPostalCode",
        "MailingCountry",
        "Time_Zone__c",
        "Gift_Opt_Out__c",
        "Gift_Preferences__c",
        "HasOptedOutOfEmail",
        "OwnerId",
    },
    "Opportunity": {
        "AccountId",
        "Name",
        "Type",
        "StageName",
        "IsClosed",
        "IsWon",
        "CloseDate",
        "Amount",
        "OwnerId",
        "Use_Case__c",
        "Goals__c",
    },
    "OpportunityContactRole": {"OpportunityId", "ContactId", "Role", "IsPrimary"},
    "Task": {
        "WhoId",
        "WhatId",
        "AccountId",
        "Subject",
        "Description",
        "ActivityDate",
        "Type",
        "Status",
        "OwnerId",
    },
    "Event": {
        "WhoId",
        "AccountId",
        "Subject",
        "Description",
        "ActivityDateTime",
        "Type",
        "OwnerId",
    },
    "Case": {
        "AccountId",
        "ContactId",
        "Subject",
        "Priority",
        "Status",
        "IsClosed",
        "ClosedDate",
    },
}

# Lookup field -> target sObject, per sObject. Task.WhatId points at an Opportunity here.
FOREIGN_KEYS: dict[str, dict[str, str]] = {
    "Account": {"OwnerId": "User"},
    "Contact": {"AccountId": "Account", "OwnerId": "User"},
    "Opportunity": {"AccountId": "Account", "OwnerId": "User"},
    "OpportunityContactRole": {"OpportunityId": "Opportunity", "ContactId": "Contact"},
    "Task": {
        "WhoId": "Contact",
        "WhatId": "Opportunity",
        "AccountId": "Account",
        "OwnerId": "User",
    },
    "Event": {"WhoId": "Contact", "AccountId": "Account", "OwnerId": "User"},
    "Case": {"AccountId": "Account", "ContactId": "Contact"},
}
ISO_COUNTRIES = {"US", "CA", "GB", "DE", "FR", "NL", "ES", "IT", "AU", "JP", "SG", "IN", "BR"}


@pytest.fixture(scope="module")
def org() -> OrgStore:
    return generate_sample_org(SPEC)


@pytest.fixture(scope="module")
def big_org() -> OrgStore:
    return generate_sample_org(BIG_SPEC)


def won_new_business(store: OrgStore) -> dict[str, dict[str, Any]]:
    """Map Account Id to its live won New Business Opportunity."""
    deals = {}
    for deal in store.records("Opportunity"):
        if deal["Type"] == "New Business" and deal["IsWon"] and not deal["IsDeleted"]:
            deals[deal["AccountId"]] = deal
    return deals


def primary_contacts(store: OrgStore) -> dict[str, dict[str, Any]]:
    """Map Account Id to the primary contact of its won New Business deal."""
    deals = won_new_business(store)
    deal_accounts = {deal["Id"]: account_id for account_id, deal in deals.items()}
    primaries = {}
    for role in store.records("OpportunityContactRole"):
        if role["IsPrimary"] and role["OpportunityId"] in deal_accounts:
            contact = store.get("Contact", role["ContactId"])
            assert contact is not None
            primaries[deal_accounts[role["OpportunityId"]]] = contact
    return primaries


def arms(store: OrgStore, spec: SampleOrgSpec) -> dict[str, str]:
    primaries = primary_contacts(store)
    return {
        account["Id"]: expected_arm(account, primaries[account["Id"]], spec)
        for account in store.records("Account")
    }


def churn_rate(store: OrgStore, spec: SampleOrgSpec, arm_names: set[str]) -> float:
    """Return churns per account-year of exposure since signing, for accounts in ``arm_names``."""
    deals = won_new_business(store)
    arm_of = arms(store, spec)
    churns, years = 0, 0.0
    for account in store.records("Account"):
        if arm_of[account["Id"]] not in arm_names:
            continue
        end = account["Churn_Date__c"] or spec.as_of.date()
        years += (end - deals[account["Id"]]["CloseDate"]).days / 365.25
        churns += account["Churn_Date__c"] is not None
    return churns / years


def as_datetime(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, datetime.min.time(), tzinfo=UTC)


def test_same_spec_yields_identical_records() -> None:
    first = list(iter_sample_records(SPEC))
    second = list(iter_sample_records(SPEC))

    assert first == second


def test_same_spec_fills_identical_stores() -> None:
    first = generate_sample_org(SPEC)
    second = generate_sample_org(SPEC)

    for sobject in KEY_PREFIXES:
        assert list(first.objects[sobject].items()) == list(second.objects[sobject].items())


def test_different_seed_changes_records() -> None:
    other = SampleOrgSpec(as_of=AS_OF, seed=SPEC.seed + 1)

    assert list(iter_sample_records(SPEC)) != list(iter_sample_records(other))


def test_store_matches_stream(org: OrgStore) -> None:
    streamed: dict[str, list[dict[str, Any]]] = {sobject: [] for sobject in KEY_PREFIXES}
    for sobject, fields in iter_sample_records(SPEC):
        streamed[sobject].append(fields)

    for sobject in KEY_PREFIXES:
        assert list(org.records(sobject)) == streamed[sobject], sobject


def test_stream_is_lazy() -> None:
    huge = SampleOrgSpec(as_of=AS_OF, accounts=10**9)

    first_records = list(itertools.islice(iter_sample_records(huge), 200))

    assert len(first_records) == 200
    assert Counter(sobject for sobject, _ in first_records)["Account"] >= 2


def test_record_counts_are_realistic(org: OrgStore) -> None:
    assert org.count("User") == 12
    assert org.count("Account") == SPEC.accounts
    assert 2 * SPEC.accounts <= org.count("Contact") <= 4 * SPEC.accounts
    assert org.count("Task") > 3 * SPEC.accounts
    assert org.count("Case") > 0


@pytest.mark.parametrize("sobject", list(EXPECTED_FIELDS))
def test_fields_match_sync_shape(org: OrgStore, sobject: str) -> None:
    expected = EXPECTED_FIELDS[sobject] | STAMPS
    if sobject == "Case":
        expected = expected | {"CreatedDate"}

    for record in org.records(sobject):
        assert set(record) == expected, record["Id"]


def test_won_new_business_has_one_primary(org: OrgStore) -> None:
    primaries: Counter[str] = Counter()
    for role in org.records("OpportunityContactRole"):
        primaries[role["OpportunityId"]] += role["IsPrimary"]
    won = [
        deal
        for deal in org.records("Opportunity")
        if deal["Type"] == "New Business" and deal["IsWon"]
    ]

    assert len(won) >= SPEC.accounts
    for deal in won:
        assert primaries[deal["Id"]] == 1, deal["Id"]


def test_one_live_won_deal_per_account(org: OrgStore) -> None:
    live_won: Counter[str] = Counter()
    for deal in org.records("Opportunity"):
        if deal["Type"] == "New Business" and deal["IsWon"] and not deal["IsDeleted"]:
            live_won[deal["AccountId"]] += 1

    assert set(live_won) == {account["Id"] for account in org.records("Account")}
    assert set(live_won.values()) == {1}


def test_ids_are_18_chars_with_prefix(org: OrgStore) -> None:
    for sobject, prefix in KEY_PREFIXES.items():
        for record_id, record in org.objects[sobject].items():
            assert record["Id"] == record_id
            assert len(record_id) == 18, record_id
            assert record_id.startswith(prefix), record_id
            assert to_18(record_id[:15]) == record_id, record_id


def test_foreign_keys_resolve(org: OrgStore) -> None:
    for sobject, lookups in FOREIGN_KEYS.items():
        for record in org.records(sobject):
            for field, target in lookups.items():
                if field == "WhatId" and record[field] is None:
                    continue
                assert org.get(target, record[field]) is not None, (sobject, field, record["Id"])


def test_activity_account_matches_contact(org: OrgStore) -> None:
    for sobject, contact_field in (("Task", "WhoId"), ("Event", "WhoId"), ("Case", "ContactId")):
        for record in org.records(sobject):
            contact = org.get("Contact", record[contact_field])
            assert contact is not None
            assert contact["AccountId"] == record["AccountId"], record["Id"]


def test_dates_not_after_as_of(org: OrgStore) -> None:
    for sobject in KEY_PREFIXES:
        for record in org.records(sobject):
            for field, value in record.items():
                if not isinstance(value, date):
                    continue
                scheduled_event = sobject == "Event" and field == "ActivityDateTime"
                open_deal_forecast = (
                    sobject == "Opportunity" and field == "CloseDate" and not record["IsClosed"]
                )
                if scheduled_event or open_deal_forecast:
                    continue
                assert as_datetime(value) <= AS_OF, (sobject, field, record["Id"], value)


def test_future_events_already_scheduled(org: OrgStore) -> None:
    future = [event for event in org.records("Event") if event["ActivityDateTime"] > AS_OF]

    assert future, "expected some milestones on the calendar after as_of"
    for event in future:
        assert event["CreatedDate"] <= AS_OF
        assert event["Type"] in {"Kickoff", "Go-Live", "QBR"}


def test_datetimes_are_aware_utc(org: OrgStore) -> None:
    for sobject in KEY_PREFIXES:
        for record in org.records(sobject):
            for field, value in record.items():
                if isinstance(value, datetime):
                    assert value.utcoffset() == timedelta(0), (sobject, field, record["Id"])


def test_created_not_after_modstamp(org: OrgStore) -> None:
    for sobject in KEY_PREFIXES:
        for record in org.records(sobject):
            assert record["CreatedDate"] <= record["SystemModstamp"], (sobject, record["Id"])


def test_churn_dates_after_close_date(big_org: OrgStore) -> None:
    deals = won_new_business(big_org)
    churned = [account for account in big_org.records("Account") if account["Churn_Date__c"]]

    assert churned
    for account in churned:
        assert account["Churn_Date__c"] > deals[account["Id"]]["CloseDate"], account["Id"]
        assert account["Churn_Date__c"] <= AS_OF.date(), account["Id"]


def test_close_dates_within_history(org: OrgStore) -> None:
    earliest = AS_OF.date() - timedelta(days=SPEC.history_days)

    for deal in won_new_business(org).values():
        assert earliest <= deal["CloseDate"] <= AS_OF.date(), deal["Id"]


def test_no_activity_after_churn(big_org: OrgStore) -> None:
    churn_dates = {
        account["Id"]: account["Churn_Date__c"]
        for account in big_org.records("Account")
        if account["Churn_Date__c"]
    }

    for task in big_org.records("Task"):
        if task["AccountId"] in churn_dates:
            assert task["ActivityDate"] <= churn_dates[task["AccountId"]], task["Id"]
    for deal in big_org.records("Opportunity"):
        if deal["AccountId"] in churn_dates and deal["Type"] != "New Business":
            assert deal["CloseDate"] <= churn_dates[deal["AccountId"]], deal["Id"]


def test_renewals_follow_first_anniversary(big_org: OrgStore) -> None:
    deals = won_new_business(big_org)
    renewals = [deal for deal in big_org.records("Opportunity") if deal["Type"] == "Renewal"]

    assert renewals
    for renewal in renewals:
        signed = deals[renewal["AccountId"]]["CloseDate"]
        assert renewal["CloseDate"] >= signed + timedelta(days=365 - 22), renewal["Id"]
        assert renewal["IsWon"]


def test_expansions_close_after_first_deal(big_org: OrgStore) -> None:
    deals = won_new_business(big_org)
    expansions = [
        deal
        for deal in big_org.records("Opportunity")
        if deal["Type"] == "Expansion" and deal["IsWon"]
    ]

    assert expansions
    for expansion in expansions:
        assert expansion["CloseDate"] > deals[expansion["AccountId"]]["CloseDate"]
        assert expansion["Amount"] > 0


def test_lost_and_open_deals_exist(org: OrgStore) -> None:
    stages = Counter(deal["StageName"] for deal in org.records("Opportunity"))

    assert stages["Closed Lost"] > 0
    assert stages["Negotiation"] > 0
    for deal in org.records("Opportunity"):
        if deal["StageName"] != "Closed Won":
            assert deal["IsWon"] is False


def test_two_won_deals_deleted(org: OrgStore) -> None:
    deleted = [deal for deal in org.records("Opportunity") if deal["IsDeleted"]]

    assert len(deleted) == 2
    for deal in deleted:
        assert deal["IsWon"]
        assert deal["SystemModstamp"] > deal["CreatedDate"]


def test_milestone_events_follow_signing(org: OrgStore) -> None:
    deals = won_new_business(org)
    windows = {"Kickoff": (1, 5), "Go-Live": (20, 45), "QBR": (85, 100)}
    counts: Counter[str] = Counter()

    for event in org.records("Event"):
        if event["Type"] not in windows:
            continue
        counts[event["Type"]] += 1
        signed = deals[event["AccountId"]]["CloseDate"]
        first, last = windows[event["Type"]]
        # Business hours in Asia or the Americas can fall on the neighbouring UTC day.
        days = (event["ActivityDateTime"].date() - signed).days
        assert first - 1 <= days <= last + 1, event["Id"]

    assert counts["Kickoff"] > 0.8 * SPEC.accounts


def test_field_values_are_valid(org: OrgStore) -> None:
    for account in org.records("Account"):
        assert account["Type"] == "Customer"
        assert account["BillingCountry"] in ISO_COUNTRIES
        assert account["NPS_Score__c"] is None or 0 <= account["NPS_Score__c"] <= 10
        assert account["Referrals__c"] >= 0
    for contact in org.records("Contact"):
        preferences = contact["Gift_Preferences__c"]
        if preferences is not None:
            assert set(preferences.split(";")) <= set(GIFT_PREFERENCES), preferences
        assert contact["Email"].isascii(), contact["Email"]
    for case in org.records("Case"):
        assert case["Priority"] in {"High", "Medium", "Low"}
        assert (case["ClosedDate"] is not None) == case["IsClosed"]


def test_names_cover_hard_cases(big_org: OrgStore) -> None:
    names = [account["Name"] for account in big_org.records("Account")]

    assert any("'" in name for name in names)
    assert any(not name.isascii() and "株式会社" not in name for name in names)
    assert any("株式会社" in name for name in names)
    assert any("GmbH" in name for name in names)


def test_contact_shares_near_spec(big_org: OrgStore) -> None:
    contacts = list(big_org.records("Contact"))
    total = len(contacts)
    with_zone = sum(contact["Time_Zone__c"] is not None for contact in contacts)
    without_street = sum(contact["MailingStreet"] is None for contact in contacts)

    assert abs(with_zone / total - 0.70) < 0.03
    assert 0.01 < without_street / total < 0.05


def test_opt_out_share_near_spec(big_org: OrgStore) -> None:
    primaries = list(primary_contacts(big_org).values())
    opted_out = sum(contact["Gift_Opt_Out__c"] for contact in primaries)
    expected = BIG_SPEC.opt_out_share * len(primaries)

    assert abs(opted_out - expected) <= 4 * math.sqrt(expected)


def test_holdout_share_near_spec(big_org: OrgStore) -> None:
    arm_counts = Counter(arms(big_org, BIG_SPEC).values())
    n, p = BIG_SPEC.accounts, BIG_SPEC.holdout_share
    # Four binomial standard deviations: a false failure once in about 16,000 seeds.
    bound = 4 * math.sqrt(n * p * (1 - p))

    assert abs(arm_counts["holdout"] - n * p) <= bound
    assert arm_counts["gifted"] > arm_counts["not_gifted"] > 0


def test_gifted_churn_below_holdout(big_org: OrgStore) -> None:
    gifted = churn_rate(big_org, BIG_SPEC, {"gifted"})
    holdout = churn_rate(big_org, BIG_SPEC, {"holdout"})

    assert gifted < holdout


def test_churn_rates_near_true_hazards(big_org: OrgStore) -> None:
    gifted = churn_rate(big_org, BIG_SPEC, {"gifted"})
    ungifted = churn_rate(big_org, BIG_SPEC, {"holdout", "not_gifted"})
    true_gifted = BIG_SPEC.base_annual_churn * (1 - BIG_SPEC.gift_churn_reduction)

    # About 500 gifted and 120 ungifted churns: the bounds are roughly three standard errors.
    assert abs(gifted / true_gifted - 1) < 0.15
    assert abs(ungifted / BIG_SPEC.base_annual_churn - 1) < 0.30


def test_no_effect_without_reduction() -> None:
    spec = SampleOrgSpec(as_of=AS_OF, accounts=3000, gift_churn_reduction=0.0)
    store = generate_sample_org(spec)

    gifted = churn_rate(store, spec, {"gifted"})

    assert abs(gifted / spec.base_annual_churn - 1) < 0.15


def test_gifted_expand_more(big_org: OrgStore) -> None:
    arm_of = arms(big_org, BIG_SPEC)
    expanded = {
        deal["AccountId"]
        for deal in big_org.records("Opportunity")
        if deal["Type"] == "Expansion" and deal["IsWon"]
    }
    totals = Counter(arm_of.values())
    expansions = Counter(arm_of[account_id] for account_id in expanded)

    gifted_share = expansions["gifted"] / totals["gifted"]
    ungifted_share = (expansions["holdout"] + expansions["not_gifted"]) / (
        totals["holdout"] + totals["not_gifted"]
    )
    assert gifted_share > ungifted_share


def holdout_account_id(*, holdout: bool) -> str:
    """Return a sample-shaped Account Id that is in the holdout exactly when ``holdout`` is true."""
    for number in range(1, 1000):
        account_id = to_18(f"0015s{number:010d}")
        if is_holdout(account_id, SPEC.holdout_salt, SPEC.holdout_share) == holdout:
            return account_id
    raise AssertionError("no Account Id found")


@pytest.mark.parametrize(
    ("holdout", "opted_out", "street", "arm"),
    [
        (True, False, "1 Main Street", "holdout"),
        (True, True, None, "holdout"),
        (False, False, "1 Main Street", "gifted"),
        (False, True, "1 Main Street", "not_gifted"),
        (False, False, None, "not_gifted"),
        (False, False, "", "not_gifted"),
    ],
)
def test_expected_arm_rules(holdout: bool, opted_out: bool, street: str | None, arm: str) -> None:
    account = {"Id": holdout_account_id(holdout=holdout)}
    contact = {"Gift_Opt_Out__c": opted_out, "MailingStreet": street}

    assert expected_arm(account, contact, SPEC) == arm


@pytest.mark.parametrize(
    "changes",
    [
        {"as_of": datetime(2026, 11, 30)},
        {"as_of": datetime(2026, 11, 30, tzinfo=timezone(timedelta(hours=2)))},
        {"accounts": -1},
        {"history_days": 0},
        {"holdout_share": 1.0},
        {"base_annual_churn": -0.1},
        {"gift_churn_reduction": 1.5},
        {"gift_expansion_lift": 0.9},
    ],
)
def test_spec_rejects_invalid_values(changes: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"as_of": AS_OF, **changes}

    with pytest.raises(ValueError, match="invalid"):
        SampleOrgSpec(**arguments)


def test_generate_rejects_reused_store() -> None:
    store = generate_sample_org(SampleOrgSpec(as_of=AS_OF, accounts=3))

    with pytest.raises(ValueError, match="fresh OrgStore"):
        generate_sample_org(SampleOrgSpec(as_of=AS_OF, accounts=3), store)


def test_generate_keeps_existing_records() -> None:
    store = OrgStore()
    existing = store.insert("Account", {"Name": "Created by the product"}, now=AS_OF)

    generate_sample_org(SampleOrgSpec(as_of=AS_OF, accounts=5), store)

    assert store.get("Account", existing) is not None
    assert store.count("Account") == 6
