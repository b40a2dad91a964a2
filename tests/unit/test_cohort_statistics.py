"""The causal statistics of the cohort report: RMST, medians, the bootstrap, the sample-ratio
check, the landmark analysis and the ROI breakdown, each checked against lifelines or by hand.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import restricted_mean_survival_time

from gifting.cohorts.bootstrap import ArmSample, bootstrap_intervals, program_effects
from gifting.cohorts.landmark import landmark_frame, landmark_metrics
from gifting.cohorts.metrics import compute_cohort_metrics
from gifting.cohorts.program import AnalysisOptions
from gifting.cohorts.randomized import check_sample_ratio, rmst_difference
from gifting.cohorts.roi import RoiInputs, roi_breakdown
from gifting.cohorts.survival import (
    kaplan_meier,
    median_survival_time,
    restricted_mean_survival,
    survival_at,
    survival_probability,
)
from gifting.errors import ConfigurationError

AS_OF = datetime(2026, 3, 1, 2, 0)

SURVIVAL_DATA = {
    "ties_and_censoring": ([3, 3, 3, 7, 7, 10, 10, 10, 15, 400], [1, 1, 0, 1, 0, 1, 1, 0, 1, 0]),
    "events_past_horizon": ([40, 120, 200, 370, 380, 500, 500], [1, 0, 1, 1, 0, 1, 0]),
    "event_on_horizon": ([100, 365, 365, 420], [1, 1, 0, 0]),
    "curve_reaches_zero": ([2, 4, 4, 9], [1, 1, 1, 1]),
}


def _random_arm(generator: np.random.Generator, size: int, churn_hazard: float) -> pd.DataFrame:
    durations = np.minimum(generator.exponential(1 / churn_hazard, size).astype(int), 600)
    follow_up = generator.integers(200, 700, size)
    churned = (durations < follow_up).astype(int)
    expanded = (generator.random(size) < 0.3).astype(int)
    return pd.DataFrame(
        {
            "duration_days": np.minimum(durations, follow_up),
            "churned": churned,
            "follow_up_days": follow_up,
            "expanded_within_365": expanded,
            "expansion_amount": expanded * generator.uniform(1_000, 5_000, size),
            "nps": np.where(generator.random(size) < 0.5, generator.integers(0, 11, size), np.nan),
            "referrals": generator.poisson(0.2, size).astype(float),
            "gift_spend": generator.uniform(20, 120, size),
            "contract_amount": generator.uniform(5_000, 20_000, size),
        }
    )


@pytest.mark.parametrize("name", sorted(SURVIVAL_DATA))
def test_rmst_matches_lifelines(name: str) -> None:
    durations, events = SURVIVAL_DATA[name]
    curve = kaplan_meier(pd.Series(durations), pd.Series(events))
    fitter = KaplanMeierFitter().fit(durations, event_observed=events)

    rmst = restricted_mean_survival(curve, 365)
    assert rmst is not None
    assert rmst.value == pytest.approx(restricted_mean_survival_time(fitter, t=365), abs=1e-6)


def test_rmst_variance_by_hand() -> None:
    # Events at 1 (n=4) and 3 (n=2); S = 1 on [0,1), 3/4 on [1,3), 3/8 on [3,5].
    curve = kaplan_meier(pd.Series([1, 2, 3, 5]), pd.Series([1, 0, 1, 0]))
    rmst = restricted_mean_survival(curve, 5)
    assert rmst is not None
    assert rmst.value == pytest.approx(1 + 0.75 * 2 + 0.375 * 2)
    area_after_1, area_after_3 = 0.75 * 2 + 0.375 * 2, 0.375 * 2
    expected = area_after_1**2 / (4 * 3) + area_after_3**2 * 1 / (2 * 1)
    assert rmst.variance == pytest.approx(expected)


def test_rmst_none_past_follow_up() -> None:
    curve = kaplan_meier(pd.Series([10, 200]), pd.Series([1, 0]))
    assert restricted_mean_survival(curve, 365) is None


def test_rmst_difference_interval() -> None:
    generator = np.random.default_rng(3)
    gifted, holdout = _random_arm(generator, 80, 1 / 500), _random_arm(generator, 40, 1 / 250)
    difference = rmst_difference(gifted, holdout)
    first = restricted_mean_survival(kaplan_meier(gifted["duration_days"], gifted["churned"]), 365)
    second = restricted_mean_survival(
        kaplan_meier(holdout["duration_days"], holdout["churned"]), 365
    )
    assert first is not None and second is not None
    assert difference.value == pytest.approx(first.value - second.value)
    half_width = 1.959963984540054 * np.sqrt(first.variance + second.variance)
    assert difference.ci_low == pytest.approx(difference.value - half_width)
    assert difference.ci_high == pytest.approx(difference.value + half_width)


@pytest.mark.parametrize("name", sorted(SURVIVAL_DATA))
def test_median_matches_lifelines(name: str) -> None:
    durations, events = SURVIVAL_DATA[name]
    fitter = KaplanMeierFitter().fit(durations, event_observed=events)
    median = median_survival_time(kaplan_meier(pd.Series(durations), pd.Series(events)))
    expected = fitter.median_survival_time_
    assert (median if median is not None else np.inf) == expected


@pytest.mark.parametrize("day", [0, 30, 90, 365, 650])
def test_survival_probability_matches_curve(day: int) -> None:
    generator = np.random.default_rng(5)
    arm = _random_arm(generator, 60, 1 / 300)
    durations, churned = arm["duration_days"].to_numpy(float), arm["churned"].to_numpy()
    point = survival_at(kaplan_meier(arm["duration_days"], arm["churned"]), day)
    fast = survival_probability(durations, churned, day)
    if point is None:
        assert np.isnan(fast)
    else:
        assert fast == pytest.approx(point.survival, abs=1e-12)


@pytest.fixture
def arms() -> tuple[ArmSample, ArmSample]:
    generator = np.random.default_rng(11)
    gifted = ArmSample.from_frame(_random_arm(generator, 120, 1 / 600))
    holdout = ArmSample.from_frame(_random_arm(generator, 60, 1 / 300))
    return gifted, holdout


def test_bootstrap_contains_point_estimate(arms: tuple[ArmSample, ArmSample]) -> None:
    points = program_effects(*arms, referral_value=500.0)
    intervals = bootstrap_intervals(*arms, referral_value=500.0, resamples=300, seed=1)
    for name, point in points.items():
        interval = intervals[name]
        assert interval is not None, name
        assert interval[0] <= point <= interval[1], name
        assert interval[0] < interval[1], name


def test_bootstrap_seeded_deterministic(arms: tuple[ArmSample, ArmSample]) -> None:
    first = bootstrap_intervals(*arms, referral_value=0.0, resamples=100, seed=7)
    second = bootstrap_intervals(*arms, referral_value=0.0, resamples=100, seed=7)
    other_seed = bootstrap_intervals(*arms, referral_value=0.0, resamples=100, seed=8)
    assert first == second
    assert first != other_seed


def test_bootstrap_empty_arm_gives_none(arms: tuple[ArmSample, ArmSample]) -> None:
    empty = arms[1].take(np.array([], dtype=int))
    intervals = bootstrap_intervals(arms[0], empty, referral_value=0.0, resamples=10)
    assert set(intervals.values()) == {None}


def _assignment(holdout: int, not_held_out: int, unassigned: int = 0) -> pd.DataFrame:
    arms = ["holdout"] * holdout + ["gifted"] * not_held_out + ["not_gifted"] * unassigned
    assigned = [True] * (holdout + not_held_out) + [False] * unassigned
    return pd.DataFrame({"arm": arms, "holdout_assigned": assigned})


def test_srm_passes_fair_assignment() -> None:
    check = check_sample_ratio(_assignment(100, 900), 0.10)
    assert check.p_value == pytest.approx(1.0)
    assert not check.mismatch


def test_srm_flags_skewed_assignment() -> None:
    check = check_sample_ratio(_assignment(200, 800), 0.10)
    # (200 − 100)² / 100 + (800 − 900)² / 900 = 111.1, far beyond the 0.001 cut-off.
    assert check.chi_square == pytest.approx(100 + 100 / 9)
    assert check.p_value is not None and check.p_value < 1e-6
    assert check.mismatch


def test_srm_ignores_unassigned_accounts() -> None:
    check = check_sample_ratio(_assignment(100, 900, unassigned=500), 0.10)
    assert check.assigned == 1000
    assert check.observed_share == pytest.approx(0.10)
    assert not check.mismatch


@pytest.mark.parametrize("share", [0.0, 1.0, -0.1])
def test_srm_rejects_invalid_share(share: float) -> None:
    with pytest.raises(ConfigurationError, match="holdout share"):
        check_sample_ratio(_assignment(1, 9), share)


def _landmark_account(
    account_id: str, arm: str, duration: int, churned: int, first_gift: float | None
) -> dict[str, object]:
    return {
        "account_id": account_id,
        "arm": arm,
        "duration_days": duration,
        "churned": churned,
        "first_gift_days": first_gift,
    }


@pytest.fixture
def landmark_accounts() -> pd.DataFrame:
    """Accounts around the day-30 and day-90 landmarks, built to test entry and exposure."""
    rows = [
        _landmark_account("early_churn", "gifted", 20, 1, 7.0),
        _landmark_account("churn_on_30", "not_gifted", 30, 1, None),
        _landmark_account("young", "not_gifted", 25, 0, None),
        _landmark_account("gift_day_7", "gifted", 400, 0, 7.0),
        _landmark_account("gift_day_60", "gifted", 100, 1, 60.0),
        _landmark_account("never_gifted", "not_gifted", 200, 1, None),
        _landmark_account("held_out", "holdout", 400, 0, None),
        _landmark_account("unknown_send", "gifted", 400, 0, None),
    ]
    return pd.DataFrame(rows)


def test_landmark_excludes_churned_before(landmark_accounts: pd.DataFrame) -> None:
    entered = landmark_frame(landmark_accounts, 30).set_index("account_id")
    assert sorted(entered.index) == ["gift_day_60", "gift_day_7", "never_gifted"]


def test_landmark_exposure_at_landmark(landmark_accounts: pd.DataFrame) -> None:
    at_30 = landmark_frame(landmark_accounts, 30).set_index("account_id")
    assert at_30.loc["gift_day_7", "arm"] == "gifted"
    # Its gift came on day 60, so at day 30 it was not gifted yet.
    assert at_30.loc["gift_day_60", "arm"] == "not_gifted"
    assert at_30.loc["gift_day_60", "duration_days"] == 70
    at_90 = landmark_frame(landmark_accounts, 90).set_index("account_id")
    assert at_90.loc["gift_day_60", "arm"] == "gifted"
    assert at_90.loc["gift_day_60", "duration_days"] == 10


def test_landmark_retention_from_landmark(landmark_accounts: pd.DataFrame) -> None:
    metrics = landmark_metrics(landmark_accounts)
    # At day 30 the not_gifted arm holds gift_day_60 (churns day 100) and never_gifted (day 200).
    not_gifted = metrics[("not_gifted", "landmark_30_retention_365")]
    assert not_gifted.n == 2
    assert not_gifted.value == pytest.approx(0.0)
    gifted = metrics[("gifted", "landmark_30_retention_365")]
    assert gifted.n == 1
    assert gifted.value == pytest.approx(1.0)
    at_90 = metrics[("gifted", "landmark_90_retention_365")]
    assert at_90.n == 2
    assert at_90.value == pytest.approx(0.5)


def test_roi_breakdown_with_referrals() -> None:
    inputs = RoiInputs(
        retention_uplift=0.10,
        average_contract_amount=12_000.0,
        expansion_uplift=0.05,
        average_expansion_amount=4_000.0,
        referral_uplift=0.2,
        referral_value=1_000.0,
        spend_per_gifted_account=200.0,
        gifted_accounts=50,
    )
    breakdown = roi_breakdown(inputs)
    assert breakdown is not None
    assert breakdown.value_per_gifted_account == pytest.approx(1_200 + 200 + 200)
    assert breakdown.roi == pytest.approx(1_600 / 200 - 1)
    assert breakdown.program_spend == pytest.approx(10_000)
    assert breakdown.program_net_value == pytest.approx((1_600 - 200) * 50)


def test_roi_excludes_referrals_without_value() -> None:
    inputs = RoiInputs(0.1, 12_000.0, 0.0, None, 5.0, 0.0, 200.0, 10)
    breakdown = roi_breakdown(inputs)
    assert breakdown is not None
    assert breakdown.referral_value == 0.0
    assert breakdown.roi == pytest.approx(1_200 / 200 - 1)


def test_program_rows_carry_bootstrap_intervals() -> None:
    generator = np.random.default_rng(2)
    frames = []
    for arm, size, hazard in (("gifted", 90, 1 / 600), ("holdout", 30, 1 / 300)):
        frame = _random_arm(generator, size, hazard)
        frame["arm"] = arm
        frames.append(frame)
    accounts = pd.concat(frames, ignore_index=True)
    accounts["account_id"] = [f"A{index}" for index in range(len(accounts))]
    accounts["cohort"] = "2025-01"
    accounts["holdout_assigned"] = True
    accounts["gifts_sent"] = (accounts["arm"] == "gifted").astype(int)
    accounts["first_gift_days"] = np.where(accounts["arm"] == "gifted", 7.0, np.nan)
    accounts["first_expansion_days"] = np.where(accounts["expanded_within_365"] > 0, 100.0, np.nan)
    options = AnalysisOptions(bootstrap_resamples=50, seed=4)

    metrics = compute_cohort_metrics(accounts, AS_OF, options)
    program = metrics[metrics["arm"] == "program"].set_index("metric")
    for name in ("expansion_rate_365_diff", "avg_nps_diff", "roi", "rmst_365_diff"):
        row = program.loc[name]
        assert row["ci_low"] <= row["value"] <= row["ci_high"], name
    again = compute_cohort_metrics(accounts, AS_OF, options)
    pd.testing.assert_frame_equal(metrics, again)
