"""Renewals, testimonials, case studies and transfers of value, checked by hand on tiny frames.

The renewal rate has a rule of its own (only decided accounts count), and the bootstrap of a
share difference draws class counts instead of accounts, so both are checked against values
worked out by hand and against a direct resampling of accounts.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from gifting.cohorts.estimators import (
    ShareInputs,
    participation_rate,
    renewal_rate,
)
from gifting.cohorts.metrics import PROGRAM_ARM, compute_cohort_metrics
from gifting.cohorts.program import AnalysisOptions
from gifting.cohorts.shares import share_difference
from gifting.errors import DataQualityError
from gifting.report import spend_rows
from gifting.salesforce.config import FieldMapping
from gifting.salesforce.handlers import handle_opportunity
from gifting.salesforce.mapping import map_account_outcomes

AS_OF = datetime(2026, 3, 1, 2, 0)
SYNCED = datetime(2026, 2, 28, 23, 0)
ACCOUNT = {"Id": "001000000000001AAA", "Name": "Acme"}
MAPPED = FieldMapping.model_validate(
    {
        "account": {
            "non_renewal_date": "Non_Renewal_Date__c",
            "testimonial": "Reference__c",
            "case_study": "Case_Study_Date__c",
        }
    }
)


def _frame(renewals: list[float], churned: list[int], testimonial: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"renewals": renewals, "churned": churned, "testimonial": testimonial})


def test_renewal_rate_counts_only_decided_accounts() -> None:
    # Renewed and active; renewed then churned; churned before renewing; young and undecided.
    frame = _frame([1, 2, 0, 0], [0, 1, 1, 0], [1, 0, 0, 0])

    estimate = renewal_rate(frame)

    assert estimate.value == pytest.approx(1 / 3)
    assert estimate.n == 3
    assert 0 <= estimate.ci_low < 1 / 3 < estimate.ci_high <= 1


def test_unmeasured_outcomes_give_no_value() -> None:
    frame = _frame([np.nan] * 3, [0, 1, 0], [np.nan] * 3)

    assert renewal_rate(frame).value is None
    assert renewal_rate(frame).n == 0
    assert participation_rate(frame, "testimonial").n == 0
    assert participation_rate(frame, "case_study").n == 0  # column missing


def test_participation_rate_is_share_of_all_accounts() -> None:
    frame = _frame([0, 0, 0, 0], [0, 0, 1, 0], [1, 0, 1, 0])

    estimate = participation_rate(frame, "testimonial")

    assert (estimate.value, estimate.n) == (0.5, 4)


def _inputs(hits: int, misses: int, ineligible: int = 0) -> ShareInputs:
    eligible = np.array([True] * (hits + misses) + [False] * ineligible)
    return ShareInputs(eligible=eligible, hits=np.arange(eligible.size) < hits)


def test_share_difference_value_and_repeatable_interval() -> None:
    gifted, holdout = _inputs(30, 10, ineligible=5), _inputs(20, 20, ineligible=5)

    first = share_difference(gifted, holdout, resamples=400, seed=3)
    again = share_difference(gifted, holdout, resamples=400, seed=3)

    assert first.value == pytest.approx(0.75 - 0.5)
    assert first.n == 90
    assert first == again
    assert first.ci_low < first.value < first.ci_high


def test_share_difference_interval_matches_account_resampling() -> None:
    gifted, holdout = _inputs(12, 18, ineligible=10), _inputs(6, 24, ineligible=10)
    rng = np.random.default_rng(1)
    direct = []
    for _ in range(4000):
        shares = []
        for arm in (gifted, holdout):
            drawn = rng.integers(0, arm.eligible.size, arm.eligible.size)
            eligible = arm.eligible[drawn]
            shares.append(arm.hits[drawn][eligible].mean())
        direct.append(shares[0] - shares[1])
    expected = np.percentile(direct, [2.5, 97.5])

    estimate = share_difference(gifted, holdout, resamples=4000, seed=2)

    assert estimate.ci_low == pytest.approx(expected[0], abs=0.03)
    assert estimate.ci_high == pytest.approx(expected[1], abs=0.03)


def test_share_difference_undefined_cases() -> None:
    assert share_difference(None, _inputs(1, 1)).value is None
    no_decided = share_difference(_inputs(0, 0, ineligible=4), _inputs(1, 1))
    assert (no_decided.value, no_decided.n) == (None, 6)
    certain = share_difference(_inputs(3, 0), _inputs(2, 0), resamples=50)
    assert (certain.value, certain.ci_low, certain.ci_high) == (0.0, 0.0, 0.0)


def _account(account_id: str, arm: str, **values: float) -> dict[str, object]:
    row: dict[str, object] = {
        "account_id": account_id,
        "cohort": "2025-01",
        "arm": arm,
        "duration_days": 400,
        "churned": 0,
        "follow_up_days": 400,
        "expanded_within_365": 0,
        "expansion_amount": 0.0,
        "contract_amount": 10_000.0,
        "gift_spend": 0.0,
        "gifts_sent": 0,
        "nps": None,
        "referrals": 0.0,
        "first_expansion_days": None,
        "first_gift_days": None,
        "holdout_assigned": True,
        "renewals": 1.0,
        "testimonial": 0.0,
        "case_study": 0.0,
        "transfers_of_value": 0,
        "transfer_of_value_spend": 0.0,
    }
    row.update(values)
    return row


@pytest.fixture
def outcome_frame() -> pd.DataFrame:
    """Two gifted accounts (one a reference, one with two transfers of value worth 90) and two
    holdout accounts (one churned before renewing)."""
    return pd.DataFrame(
        [
            _account("G1", "gifted", testimonial=1.0, gift_spend=50.0, gifts_sent=1),
            _account(
                "G2",
                "gifted",
                gift_spend=90.0,
                gifts_sent=2,
                transfers_of_value=2,
                transfer_of_value_spend=90.0,
            ),
            _account("H1", "holdout"),
            _account("H2", "holdout", renewals=0.0, churned=1, duration_days=200),
        ]
    )


def _value(metrics: pd.DataFrame, arm: str, metric: str) -> pd.Series:
    rows = metrics[(metrics["cohort"] == "all") & (metrics["arm"] == arm)]
    return rows.set_index("metric").loc[metric]


def test_metric_rows_for_new_outcomes(outcome_frame: pd.DataFrame) -> None:
    metrics = compute_cohort_metrics(outcome_frame, AS_OF, AnalysisOptions(bootstrap_resamples=50))

    assert _value(metrics, "gifted", "renewal_rate")["value"] == 1.0
    assert _value(metrics, "holdout", "renewal_rate")["value"] == 0.5
    assert _value(metrics, PROGRAM_ARM, "renewal_rate_diff")["value"] == pytest.approx(0.5)
    assert _value(metrics, PROGRAM_ARM, "testimonial_rate_diff")["value"] == pytest.approx(0.5)
    assert _value(metrics, "gifted", "transfers_of_value")["value"] == 2
    assert _value(metrics, "gifted", "transfer_of_value_spend")["value"] == 90.0
    assert _value(metrics, "holdout", "transfers_of_value")["value"] == 0
    spend = {(row["cohort"], row["arm"]): row for row in spend_rows(metrics)}
    assert spend[("2025-01", "gifted")]["transfer_of_value_spend"] == 90.0
    assert spend[("all", "gifted")]["gift_spend_total"] == 140.0


def test_unmapped_outcome_rows_are_empty(outcome_frame: pd.DataFrame) -> None:
    outcome_frame["case_study"] = np.nan
    metrics = compute_cohort_metrics(outcome_frame, AS_OF, AnalysisOptions(bootstrap_resamples=50))

    for arm in ("gifted", "holdout", PROGRAM_ARM):
        metric = "case_study_rate_diff" if arm == PROGRAM_ARM else "case_study_rate"
        assert pd.isna(_value(metrics, arm, metric)["value"])
    assert _value(metrics, "gifted", "case_study_rate")["n"] == 0


@pytest.mark.parametrize(
    ("value", "score", "occurred_on"),
    [
        (True, 1.0, None),
        (False, 0.0, None),
        ("true", 1.0, None),
        (None, 0.0, None),
        ("2025-06-01", 1.0, "2025-06-01"),
    ],
)
def test_testimonial_field_is_checkbox_or_date(
    value: object, score: float, occurred_on: str | None
) -> None:
    rows = {
        row["kind"]: row
        for row in map_account_outcomes({**ACCOUNT, "Reference__c": value}, SYNCED, MAPPED)
    }

    assert rows["testimonial"]["score"] == score
    assert str(rows["testimonial"]["occurred_on"]) == str(occurred_on)
    assert rows["testimonial"]["id"] == "testimonial:001000000000001AAA"


def test_non_renewal_date_row_and_bad_value() -> None:
    record = {**ACCOUNT, "Non_Renewal_Date__c": "2025-11-30", "Case_Study_Date__c": None}
    rows = {row["kind"]: row for row in map_account_outcomes(record, SYNCED, MAPPED)}
    assert str(rows["non_renewal"]["occurred_on"]) == "2025-11-30"
    assert rows["case_study"]["score"] == 0.0

    with pytest.raises(DataQualityError, match="Reference__c"):
        map_account_outcomes({**ACCOUNT, "Reference__c": "maybe"}, SYNCED, MAPPED)


def test_unmapped_fields_give_no_rows() -> None:
    kinds = {row["kind"] for row in map_account_outcomes(ACCOUNT, SYNCED, FieldMapping())}

    assert kinds == {"churn"}
    assert FieldMapping().unmapped_outcomes == ("testimonial", "case_study")


def _opportunity(deal_type: str, *, won: bool = True, deleted: bool = False) -> dict[str, object]:
    return {
        "Id": "006000000000001AAA",
        "AccountId": ACCOUNT["Id"],
        "Type": deal_type,
        "IsWon": won,
        "IsDeleted": deleted,
        "CloseDate": "2026-01-15",
        "Amount": 12000,
    }


def test_won_renewal_deal_is_renewal_outcome() -> None:
    [(table, row)] = handle_opportunity(_opportunity("Renewal"), SYNCED, FieldMapping())
    assert (table, row["kind"], row["id"]) == ("outcomes", "renewal", "renewal:006000000000001AAA")
    assert str(row["occurred_on"]) == "2026-01-15"

    [(table, row)] = handle_opportunity(_opportunity("Renewal", won=False), SYNCED, FieldMapping())
    assert (table, row) == ("removed_outcomes", {"id": "renewal:006000000000001AAA"})

    no_renewals = FieldMapping.model_validate({"opportunity": {"renewal_types": []}})
    assert handle_opportunity(_opportunity("Renewal"), SYNCED, no_renewals) == []
    assert no_renewals.unmapped_outcomes == ("renewal", "testimonial", "case_study")


def test_type_listed_as_expansion_and_renewal_is_rejected() -> None:
    with pytest.raises(ValueError, match="Upsell"):
        FieldMapping.model_validate(
            {"opportunity": {"expansion_types": ["Upsell"], "renewal_types": ["Upsell"]}}
        )
