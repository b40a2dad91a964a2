"""Engagement outcomes of the cohort report: replies, meetings, support cases and product usage,
each counted per 30 days as a customer, checked by hand and through the metric rows.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from gifting.cohorts.estimators import engagement_rate, rate_per_period
from gifting.cohorts.metrics import compute_cohort_metrics
from gifting.cohorts.program import AnalysisOptions
from gifting.cohorts.randomized import engagement_rate_difference
from gifting.cohorts.survival import Z_95

AS_OF = datetime(2026, 3, 1, 2, 0)


def _accounts(counts: list[float], days: list[int], column: str = "meetings") -> pd.DataFrame:
    return pd.DataFrame({column: counts, "duration_days": days})


def test_rate_per_30_days_by_hand() -> None:
    # 9 meetings over 180 customer-days: 1.5 per 30 days.
    rate = rate_per_period(_accounts([3, 0, 6], [30, 60, 90]), "meetings")
    assert rate is not None
    assert rate.value == pytest.approx(1.5)
    # Residuals 3 − 0.5, 0 − 3 and 6 − 4.5 (per 30 days: 1.5, −3, 1.5), times n / (n − 1).
    expected_variance = (1.5**2 + 3**2 + 1.5**2) * 3 / 2 / 180**2 * 30**2
    assert rate.variance == pytest.approx(expected_variance)


def test_engagement_interval_by_hand() -> None:
    estimate = engagement_rate(_accounts([3, 0, 6], [30, 60, 90]), "meetings")
    half_width = Z_95 * 0.75
    assert estimate.value == pytest.approx(1.5)
    assert estimate.n == 3
    assert estimate.ci_low == pytest.approx(1.5 - half_width)
    assert estimate.ci_high == pytest.approx(1.5 + half_width)


def test_engagement_unmeasured_gives_none() -> None:
    no_usage = _accounts([np.nan, np.nan], [30, 60], column="usage")
    assert engagement_rate(no_usage, "usage").value is None
    assert engagement_rate(no_usage, "usage").n == 0
    assert engagement_rate(no_usage, "replies").value is None


def test_engagement_no_customer_days() -> None:
    signed_today = _accounts([1, 0], [0, 0])
    estimate = engagement_rate(signed_today, "meetings")
    assert estimate.value is None
    assert estimate.n == 2


def test_engagement_difference_interval() -> None:
    gifted = _accounts([3, 0, 6], [30, 60, 90])
    holdout = _accounts([1, 1], [30, 30])
    difference = engagement_rate_difference(gifted, holdout, "meetings")
    first = rate_per_period(gifted, "meetings")
    second = rate_per_period(holdout, "meetings")
    assert first is not None and second is not None
    assert difference.value == pytest.approx(first.value - second.value)
    half_width = Z_95 * np.sqrt(first.variance + second.variance)
    assert difference.ci_low == pytest.approx(difference.value - half_width)
    assert difference.ci_high == pytest.approx(difference.value + half_width)


def test_engagement_difference_covers_true_rate_gap() -> None:
    """Poisson engagement with a known gap: the interval covers it in about 95 % of 200 draws."""
    generator = np.random.default_rng(31)
    true_gap = (0.08 - 0.05) * 30
    covered = 0
    for _ in range(200):
        arms = []
        for size, daily_rate in ((600, 0.08), (200, 0.05)):
            days = generator.integers(20, 700, size)
            arms.append(_accounts(list(generator.poisson(daily_rate * days)), list(days)))
        difference = engagement_rate_difference(arms[0], arms[1], "meetings")
        assert difference.ci_low is not None and difference.ci_high is not None
        covered += difference.ci_low <= true_gap <= difference.ci_high
    assert 0.92 <= covered / 200 <= 0.98


def test_engagement_metric_rows() -> None:
    rows = []
    for index, (arm, replies, meetings, cases) in enumerate(
        [("gifted", 4, 2, 0), ("gifted", 2, 0, 1), ("holdout", 1, 1, 3), ("holdout", 0, 0, 1)]
    ):
        rows.append(
            {
                "account_id": f"A{index}",
                "cohort": "2025-01",
                "arm": arm,
                "duration_days": 60,
                "churned": 0,
                "follow_up_days": 60,
                "expanded_within_365": 0,
                "expansion_amount": 0.0,
                "contract_amount": 10_000.0,
                "gift_spend": 50.0 if arm == "gifted" else 0.0,
                "gifts_sent": 1 if arm == "gifted" else 0,
                "nps": np.nan,
                "referrals": 0.0,
                "holdout_assigned": True,
                "first_expansion_days": np.nan,
                "first_gift_days": 7.0 if arm == "gifted" else np.nan,
                "replies": replies,
                "meetings": meetings,
                "support_cases": cases,
                "usage": np.nan,
            }
        )
    metrics = compute_cohort_metrics(
        pd.DataFrame(rows), AS_OF, AnalysisOptions(bootstrap_resamples=5)
    )
    keyed = metrics[metrics["cohort"] == "all"].set_index(["arm", "metric"])

    # Gifted: 6 replies over 120 customer-days, 3 per 30 days; holdout: 1 over 120 days.
    assert keyed.loc[("gifted", "replies_per_30d"), "value"] == pytest.approx(1.5)
    assert keyed.loc[("holdout", "replies_per_30d"), "value"] == pytest.approx(0.25)
    assert keyed.loc[("program", "replies_per_30d_diff"), "value"] == pytest.approx(1.25)
    assert keyed.loc[("holdout", "support_cases_per_30d"), "value"] == pytest.approx(1.0)
    assert keyed.loc[("program", "support_cases_per_30d_diff"), "value"] == pytest.approx(-0.75)
    assert keyed.loc[("gifted", "meetings_per_30d"), "value"] == pytest.approx(0.5)
    assert pd.isna(keyed.loc[("gifted", "usage_per_30d"), "value"])
    assert keyed.loc[("gifted", "usage_per_30d"), "n"] == 0
