"""The cohort metrics: our Kaplan–Meier estimator must match lifelines, and the rules for arms,
rates and the ROI estimate must hold on frames small enough to check by hand.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter

from gifting.cohorts.metrics import (
    ALL_COHORTS,
    ARMS,
    METRIC_COLUMNS,
    PROGRAM_ARM,
    assign_arms,
    compute_cohort_metrics,
    estimate_roi,
    kaplan_meier,
    proportion,
    survival_at,
)

AS_OF = datetime(2026, 3, 1, 2, 0)

SURVIVAL_DATA = {
    "no_ties": ([5, 8, 12, 20, 31, 44], [1, 0, 1, 1, 0, 1]),
    "ties_events_and_censoring": ([3, 3, 3, 7, 7, 10, 10, 10, 15], [1, 1, 0, 1, 0, 1, 1, 0, 1]),
    "all_censored": ([30, 60, 90, 400], [0, 0, 0, 0]),
    "all_churned_last_at_risk": ([2, 4, 4, 9], [1, 1, 0, 1]),
    "churn_on_signing_day": ([0, 0, 5, 12, 12, 40], [1, 0, 1, 1, 1, 0]),
    "single_account": ([17], [1]),
}


def _fit_lifelines(durations: list[int], events: list[int]) -> KaplanMeierFitter:
    fitter = KaplanMeierFitter()
    fitter.fit(durations, event_observed=events)
    return fitter


@pytest.mark.parametrize("name", sorted(SURVIVAL_DATA))
def test_kaplan_meier_matches_lifelines(name: str) -> None:
    durations, events = SURVIVAL_DATA[name]
    curve = kaplan_meier(pd.Series(durations), pd.Series(events))
    fitter = _fit_lifelines(durations, events)

    expected = fitter.survival_function_.iloc[:, 0]
    assert list(curve.index) == list(expected.index)
    np.testing.assert_allclose(curve["survival"], expected.to_numpy(), rtol=0, atol=1e-9)

    bounds = fitter.confidence_interval_survival_function_
    np.testing.assert_allclose(curve["ci_low"], bounds.iloc[:, 0].to_numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(curve["ci_high"], bounds.iloc[:, 1].to_numpy(), rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", sorted(SURVIVAL_DATA))
@pytest.mark.parametrize("day", [0, 3, 10, 30, 90])
def test_survival_at_day_matches_lifelines(name: str, day: int) -> None:
    durations, events = SURVIVAL_DATA[name]
    point = survival_at(kaplan_meier(pd.Series(durations), pd.Series(events)), day)
    fitter = _fit_lifelines(durations, events)

    if day > max(durations) and fitter.predict(day) > 0:
        assert point is None
        return
    assert point is not None
    assert point.survival == pytest.approx(float(fitter.predict(day)), abs=1e-9)


def test_kaplan_meier_greenwood_variance_by_hand() -> None:
    # Events at 1 (n=4) and 3 (n=2) give S = 3/4 · 1/2 and Greenwood sum 1/(4·3) + 1/(2·1).
    curve = kaplan_meier(pd.Series([1, 2, 3, 5]), pd.Series([1, 0, 1, 0]))
    survival = 0.75 * 0.5
    assert curve.loc[3.0, "survival"] == pytest.approx(survival, abs=1e-12)
    assert curve.loc[3.0, "variance"] == pytest.approx(survival**2 * (1 / 12 + 1 / 2), abs=1e-12)


def test_kaplan_meier_confidence_bounds_within_unit_interval() -> None:
    generator = np.random.default_rng(7)
    durations = pd.Series(generator.integers(0, 500, size=300))
    events = pd.Series(generator.integers(0, 2, size=300))
    curve = kaplan_meier(durations, events)

    assert (curve["ci_low"] >= 0).all()
    assert (curve["ci_high"] <= 1).all()
    assert (curve["ci_low"] <= curve["survival"] + 1e-12).all()
    assert (curve["survival"] <= curve["ci_high"] + 1e-12).all()


def test_survival_at_is_none_past_follow_up() -> None:
    curve = kaplan_meier(pd.Series([10, 20]), pd.Series([1, 0]))
    assert survival_at(curve, 365) is None
    assert survival_at(curve, 20) is not None


def test_survival_at_zero_carries_forward() -> None:
    curve = kaplan_meier(pd.Series([10, 20]), pd.Series([1, 1]))
    point = survival_at(curve, 365)
    assert point is not None
    assert point.survival == 0.0


@pytest.mark.parametrize(
    ("holdout", "gifts_sent", "expected"),
    [
        (True, 0, "holdout"),
        (True, 2, "holdout"),
        (1, 0, "holdout"),
        (False, 1, "gifted"),
        (None, 3, "gifted"),
        (False, 0, "not_gifted"),
        (None, 0, "not_gifted"),
        (0, None, "not_gifted"),
    ],
)
def test_assign_arms_rules(holdout: object, gifts_sent: object, expected: str) -> None:
    arms = assign_arms(pd.Series([holdout], dtype=object), pd.Series([gifts_sent], dtype=float))
    assert arms.iloc[0] == expected


@pytest.mark.parametrize(("successes", "n"), [(0, 1), (1, 1), (0, 10), (10, 10), (3, 7)])
def test_proportion_interval_within_unit_interval(successes: int, n: int) -> None:
    estimate = proportion(successes, n)
    assert estimate.ci_low is not None
    assert estimate.ci_high is not None
    assert 0.0 <= estimate.ci_low <= estimate.value <= estimate.ci_high <= 1.0


def test_estimate_roi_formula() -> None:
    roi = estimate_roi(
        retention_uplift=0.10,
        average_contract_amount=12_000.0,
        expansion_uplift=0.05,
        average_expansion_amount=4_000.0,
        spend_per_gifted_account=200.0,
    )
    # (0.10 · 12,000 + 0.05 · 4,000) / 200 − 1 = 1,400 / 200 − 1
    assert roi == pytest.approx(6.0)


@pytest.mark.parametrize(
    "missing", ["retention_uplift", "average_contract_amount", "spend_per_gifted_account"]
)
def test_estimate_roi_none_without_input(missing: str) -> None:
    inputs: dict[str, float | None] = {
        "retention_uplift": 0.1,
        "average_contract_amount": 1_000.0,
        "expansion_uplift": 0.0,
        "average_expansion_amount": None,
        "spend_per_gifted_account": 50.0,
    }
    inputs[missing] = None
    assert estimate_roi(**inputs) is None


def _account(
    account_id: str,
    arm: str,
    *,
    duration: int,
    churned: int = 0,
    follow_up: int = 400,
    expanded: int = 0,
    expansion_amount: float = 0.0,
    contract_amount: float = 10_000.0,
    gift_spend: float = 0.0,
    nps: float | None = None,
    referrals: float = 0.0,
    cohort: str = "2025-01",
    first_expansion: float | None = None,
    first_gift: float | None = None,
) -> dict[str, object]:
    if first_gift is None and gift_spend:
        first_gift = 7.0
    return {
        "account_id": account_id,
        "cohort": cohort,
        "arm": arm,
        "duration_days": duration,
        "churned": churned,
        "follow_up_days": follow_up,
        "expanded_within_365": expanded,
        "expansion_amount": expansion_amount,
        "contract_amount": contract_amount,
        "gift_spend": gift_spend,
        "gifts_sent": 1 if gift_spend else 0,
        "nps": nps,
        "referrals": referrals,
        "first_expansion_days": first_expansion,
        "first_gift_days": first_gift,
        "holdout_assigned": True,
    }


@pytest.fixture
def tiny_frame() -> pd.DataFrame:
    """Four gifted accounts (one churns at day 100) and two holdout accounts (one at day 50)."""
    rows = [
        _account(
            "G1", "gifted", duration=400, gift_spend=100.0, expanded=1, expansion_amount=5_000
        ),
        _account("G2", "gifted", duration=400, gift_spend=100.0, nps=9),
        _account("G3", "gifted", duration=400, gift_spend=100.0, nps=7, referrals=2),
        _account("G4", "gifted", duration=100, churned=1, gift_spend=100.0),
        _account("H1", "holdout", duration=400, expanded=1, expansion_amount=3_000),
        _account("H2", "holdout", duration=50, churned=1),
    ]
    return pd.DataFrame(rows)


def _metric(metrics: pd.DataFrame, arm: str, metric: str, cohort: str = ALL_COHORTS) -> pd.Series:
    selected = metrics[
        (metrics["cohort"] == cohort) & (metrics["arm"] == arm) & (metrics["metric"] == metric)
    ]
    assert len(selected) == 1, f"expected one {cohort}/{arm}/{metric} row, got {len(selected)}"
    return selected.iloc[0]


def test_roi_on_tiny_frame(tiny_frame: pd.DataFrame) -> None:
    metrics = compute_cohort_metrics(tiny_frame, AS_OF)

    # Retention at 365: gifted 3/4, holdout 1/2. Expansion within 365: gifted 1/4, holdout 1/2.
    assert _metric(metrics, PROGRAM_ARM, "retention_365_diff")["value"] == pytest.approx(0.25)
    assert _metric(metrics, PROGRAM_ARM, "expansion_rate_365_diff")["value"] == pytest.approx(-0.25)
    assert _metric(metrics, PROGRAM_ARM, "avg_contract_amount")["value"] == pytest.approx(10_000)
    assert _metric(metrics, PROGRAM_ARM, "avg_expansion_amount")["value"] == pytest.approx(4_000)
    # (0.25 · 10,000 − 0.25 · 4,000) / 100 − 1 = 14
    roi = _metric(metrics, PROGRAM_ARM, "roi")
    assert roi["value"] == pytest.approx(14.0)
    assert roi["n"] == 4


def test_retention_diff_interval_from_greenwood(tiny_frame: pd.DataFrame) -> None:
    metrics = compute_cohort_metrics(tiny_frame, AS_OF)
    diff = _metric(metrics, PROGRAM_ARM, "retention_365_diff")
    # Greenwood: gifted 0.75² · 1/(4·3), holdout 0.5² · 1/(2·1).
    half_width = 1.959963984540054 * np.sqrt(0.75**2 / 12 + 0.5**2 / 2)
    assert diff["ci_low"] == pytest.approx(0.25 - half_width)
    # The upper bound 0.25 + 0.81 exceeds 1, so it is clamped to the largest possible difference.
    assert diff["ci_high"] == 1.0


def test_rates_on_tiny_frame(tiny_frame: pd.DataFrame) -> None:
    metrics = compute_cohort_metrics(tiny_frame, AS_OF)

    assert _metric(metrics, "gifted", "churn_rate")["value"] == pytest.approx(0.25)
    assert _metric(metrics, "gifted", "avg_nps")["value"] == pytest.approx(8.0)
    assert _metric(metrics, "gifted", "avg_nps")["n"] == 2
    assert _metric(metrics, "gifted", "referral_rate")["value"] == pytest.approx(0.25)
    assert _metric(metrics, "gifted", "referrals_per_account")["value"] == pytest.approx(0.5)
    assert _metric(metrics, "gifted", "gift_spend_total")["value"] == pytest.approx(400.0)
    assert _metric(metrics, "gifted", "gift_spend_per_account")["value"] == pytest.approx(100.0)
    assert _metric(metrics, "holdout", "retention_30")["value"] == pytest.approx(1.0)
    assert _metric(metrics, "holdout", "retention_90")["value"] == pytest.approx(0.5)
    assert _metric(metrics, "gifted", "accounts")["value"] == 4


def test_expansion_rate_excludes_young_accounts() -> None:
    frame = pd.DataFrame(
        [
            _account("A", "gifted", duration=400, follow_up=400),
            _account("B", "gifted", duration=100, follow_up=100),
            _account("C", "gifted", duration=120, follow_up=120, expanded=1, expansion_amount=1),
        ]
    )
    rate = _metric(compute_cohort_metrics(frame, AS_OF), "gifted", "expansion_rate_365")
    assert rate["n"] == 2
    assert rate["value"] == pytest.approx(0.5)


def test_empty_arm_has_rows_with_none(tiny_frame: pd.DataFrame) -> None:
    metrics = compute_cohort_metrics(tiny_frame, AS_OF)
    rows = metrics[(metrics["arm"] == "not_gifted") & (metrics["cohort"] == ALL_COHORTS)]

    assert set(rows["metric"]) == {
        "retention_30",
        "retention_90",
        "retention_365",
        "rmst_365",
        "churn_rate",
        "expansion_rate_365",
        "median_days_to_expansion",
        "avg_expansion_amount",
        "avg_nps",
        "referral_rate",
        "referrals_per_account",
        "renewal_rate",
        "testimonial_rate",
        "case_study_rate",
        "replies_per_30d",
        "meetings_per_30d",
        "support_cases_per_30d",
        "usage_per_30d",
        "gift_spend_per_account",
        "gift_spend_total",
        "transfers_of_value",
        "transfer_of_value_spend",
        "accounts",
        "landmark_30_retention_365",
        "landmark_90_retention_365",
    }
    landmark = rows["metric"].str.startswith("landmark_")
    assert (rows.loc[~landmark, "n"] == 0).all()
    assert rows.loc[~landmark, "value"].isna().all()


def test_empty_holdout_arm_has_rows_with_none(tiny_frame: pd.DataFrame) -> None:
    metrics = compute_cohort_metrics(tiny_frame[tiny_frame["arm"] == "gifted"], AS_OF)
    rows = metrics[(metrics["arm"] == "holdout") & (metrics["cohort"] == ALL_COHORTS)]

    # 14 outcome rows, 3 renewal and advocacy rows, 4 engagement rows and 2 transfer rows
    assert len(rows) == 23
    assert (rows["n"] == 0).all()
    assert rows["value"].isna().all()
    assert (rows["n"] == 0).all()
    assert rows["value"].isna().all()


def test_every_cohort_has_every_arm(tiny_frame: pd.DataFrame) -> None:
    tiny_frame.loc[tiny_frame["account_id"] == "H2", "cohort"] = "2025-02"
    metrics = compute_cohort_metrics(tiny_frame, AS_OF)

    assert list(metrics.columns) == METRIC_COLUMNS
    for cohort in ["2025-01", "2025-02", ALL_COHORTS]:
        arms = set(metrics.loc[metrics["cohort"] == cohort, "arm"])
        assert set(ARMS) <= arms
    assert set(metrics.loc[metrics["arm"] == PROGRAM_ARM, "cohort"]) == {ALL_COHORTS}
    keys = metrics[["cohort", "arm", "metric"]]
    assert not keys.duplicated().any()


def test_all_censored_frame() -> None:
    frame = pd.DataFrame(
        [
            _account("G1", "gifted", duration=400, gift_spend=50.0),
            _account("H1", "holdout", duration=400),
        ]
    )
    metrics = compute_cohort_metrics(frame, AS_OF)

    retention = _metric(metrics, "gifted", "retention_365")
    assert retention["value"] == 1.0
    assert retention["ci_low"] == 1.0
    assert _metric(metrics, PROGRAM_ARM, "retention_365_diff")["value"] == 0.0
    assert pd.isna(_metric(metrics, PROGRAM_ARM, "logrank_p")["value"])
    # No retention uplift and no expansion: the program lost its whole spend.
    assert _metric(metrics, PROGRAM_ARM, "roi")["value"] == pytest.approx(-1.0)


def test_logrank_p_matches_lifelines(tiny_frame: pd.DataFrame) -> None:
    from lifelines.statistics import logrank_test

    metrics = compute_cohort_metrics(tiny_frame, AS_OF)
    expected = logrank_test([400, 400, 400, 100], [400, 50], [0, 0, 0, 1], [0, 1]).p_value
    assert _metric(metrics, PROGRAM_ARM, "logrank_p")["value"] == pytest.approx(expected)


def test_as_of_stored_naive_utc(tiny_frame: pd.DataFrame) -> None:
    from datetime import timedelta, timezone

    aware = datetime(2026, 3, 1, 4, 0, tzinfo=timezone(timedelta(hours=2)))
    metrics = compute_cohort_metrics(tiny_frame, aware)
    assert set(metrics["as_of"]) == {AS_OF}
