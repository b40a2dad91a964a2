"""Statistical validity of the cohort report on simulated programs with a known true effect.

Each simulation draws exponential churn times, so the true 365-day retention of each arm is
exp(-hazard · 365) and the estimators can be scored against the truth. Every simulation set
uses a fixed seed, so a run is reproducible, and each check is paired with a broken estimator
that the same check rejects, which shows the check can fail.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from gifting.cohorts.estimators import Estimate, retention
from gifting.cohorts.landmark import landmark_metrics
from gifting.cohorts.randomized import check_sample_ratio, retention_difference
from gifting.planning.holdout import is_holdout

SIMULATIONS = 200
COVERAGE_RANGE = (0.93, 0.97)
GIFTED_HAZARD = 1 / 1400
HOLDOUT_HAZARD = 1 / 900
TRUE_RETENTION_DIFF = math.exp(-GIFTED_HAZARD * 365) - math.exp(-HOLDOUT_HAZARD * 365)

IntervalFunction = Callable[[pd.DataFrame, pd.DataFrame], Estimate]


def _arm_frames(
    generator: np.random.Generator, simulations: int, size: int, hazard: float
) -> list[pd.DataFrame]:
    """Draw ``simulations`` arms of ``size`` accounts in one call, censored at their follow-up.

    Follow-up runs from 200 to 900 days, so some accounts are censored before day 365 and the
    Kaplan–Meier estimate, not a plain share, is what gets tested.
    """
    churn_days = np.floor(generator.exponential(1 / hazard, (simulations, size)))
    follow_up = generator.integers(200, 900, (simulations, size))
    durations = np.minimum(churn_days, follow_up)
    churned = (churn_days <= follow_up).astype(int)
    return [
        pd.DataFrame({"duration_days": durations[index], "churned": churned[index]})
        for index in range(simulations)
    ]


def _coverage(interval: IntervalFunction, seed: int) -> float:
    generator = np.random.default_rng(seed)
    gifted = _arm_frames(generator, SIMULATIONS, 900, GIFTED_HAZARD)
    holdout = _arm_frames(generator, SIMULATIONS, 300, HOLDOUT_HAZARD)
    covered = 0
    for gifted_arm, holdout_arm in zip(gifted, holdout, strict=True):
        estimate = interval(gifted_arm, holdout_arm)
        assert estimate.ci_low is not None and estimate.ci_high is not None
        covered += estimate.ci_low <= TRUE_RETENTION_DIFF <= estimate.ci_high
    return covered / SIMULATIONS


def _retention_diff_365(gifted: pd.DataFrame, holdout: pd.DataFrame) -> Estimate:
    return retention_difference(gifted, holdout, 365)


def _halved_interval(gifted: pd.DataFrame, holdout: pd.DataFrame) -> Estimate:
    """Return the report's interval at half its width, roughly a 68 % interval."""
    estimate = _retention_diff_365(gifted, holdout)
    assert estimate.value is not None and estimate.ci_low is not None
    half_width = (estimate.value - estimate.ci_low) / 2
    return Estimate(
        estimate.value, estimate.n, estimate.value - half_width, estimate.value + half_width
    )


def _gifted_variance_only(gifted: pd.DataFrame, holdout: pd.DataFrame) -> Estimate:
    """Return an interval that ignores the holdout's variance, a plausible coding mistake."""
    estimate = _retention_diff_365(gifted, holdout)
    assert estimate.value is not None
    gifted_point = retention(gifted, 365)
    assert gifted_point.ci_low is not None and gifted_point.ci_high is not None
    half_width = (gifted_point.ci_high - gifted_point.ci_low) / 2
    return Estimate(
        estimate.value, estimate.n, estimate.value - half_width, estimate.value + half_width
    )


def test_retention_diff_interval_coverage() -> None:
    coverage = _coverage(_retention_diff_365, seed=20260301)
    assert COVERAGE_RANGE[0] <= coverage <= COVERAGE_RANGE[1]


@pytest.mark.parametrize("broken", [_halved_interval, _gifted_variance_only])
def test_coverage_check_rejects_narrow_interval(broken: IntervalFunction) -> None:
    coverage = _coverage(broken, seed=20260301)
    assert coverage < COVERAGE_RANGE[0]


LANDMARK_DAY = 90
BASE_HAZARD = 1 / 250
GIFT_HAZARD_RATIO = 0.7
"""Churn hazard of a gifted account after its day-90 gift, relative to one without a gift."""
ADDRESS_SHARE = 0.6
"""Share of accounts with a deliverable address; the rest never get a gift, at random."""
TRUE_LANDMARK_DIFF = math.exp(-GIFT_HAZARD_RATIO * BASE_HAZARD * (365 - LANDMARK_DAY)) - math.exp(
    -BASE_HAZARD * (365 - LANDMARK_DAY)
)
"""True gifted − not-gifted retention to day 365 among accounts active at day 90."""


def _day_90_program(generator: np.random.Generator, size: int) -> pd.DataFrame:
    """Simulate a program whose only gift goes out on day 90 to accounts still active then.

    Every account churns at ``BASE_HAZARD`` until day 90. A gift needs the account to survive to
    day 90 and to have an address (drawn at random), and it lowers the hazard from then on, so
    the true effect is ``TRUE_LANDMARK_DIFF``. All accounts are followed for 400 days.
    """
    before_gift = generator.exponential(1 / BASE_HAZARD, size)
    has_address = generator.random(size) < ADDRESS_SHARE
    gifted = (before_gift > LANDMARK_DAY) & has_address
    # Memorylessness: from day 90 on, a gifted account's remaining time has the lowered hazard.
    after_gift = LANDMARK_DAY + generator.exponential(1 / (BASE_HAZARD * GIFT_HAZARD_RATIO), size)
    churn_days = np.floor(np.where(gifted, after_gift, before_gift))
    follow_up = 400
    return pd.DataFrame(
        {
            "arm": np.where(gifted, "gifted", "not_gifted"),
            "duration_days": np.minimum(churn_days, follow_up),
            "churned": (churn_days <= follow_up).astype(int),
            "first_gift_days": np.where(gifted, float(LANDMARK_DAY), np.nan),
        }
    )


def _naive_diff(accounts: pd.DataFrame) -> float:
    """Compare 365-day retention of gifted with not-gifted accounts, each from signing."""
    gifted = retention(accounts[accounts["arm"] == "gifted"], 365).value
    not_gifted = retention(accounts[accounts["arm"] == "not_gifted"], 365).value
    assert gifted is not None and not_gifted is not None
    return gifted - not_gifted


def _landmark_diff(accounts: pd.DataFrame) -> float:
    estimates = landmark_metrics(accounts)
    metric = f"landmark_{LANDMARK_DAY}_retention_365"
    gifted, not_gifted = estimates[("gifted", metric)], estimates[("not_gifted", metric)]
    assert gifted.value is not None and not_gifted.value is not None
    return gifted.value - not_gifted.value


@pytest.fixture(scope="module")
def day_90_programs() -> list[pd.DataFrame]:
    generator = np.random.default_rng(90)
    return [_day_90_program(generator, 2_000) for _ in range(40)]


def test_naive_comparison_is_biased(day_90_programs: list[pd.DataFrame]) -> None:
    naive = np.array([_naive_diff(accounts) for accounts in day_90_programs])
    # Every early churner is not gifted, so the naive gap is far above the true effect.
    assert naive.mean() - TRUE_LANDMARK_DIFF > 0.15
    assert (naive > TRUE_LANDMARK_DIFF).all()


def test_landmark_comparison_is_unbiased(day_90_programs: list[pd.DataFrame]) -> None:
    landmark = np.array([_landmark_diff(accounts) for accounts in day_90_programs])
    standard_error = landmark.std(ddof=1) / math.sqrt(len(landmark))
    assert abs(landmark.mean() - TRUE_LANDMARK_DIFF) < 3 * standard_error
    assert abs(landmark.mean() - TRUE_LANDMARK_DIFF) < 0.02


ACCOUNTS = 10_000
HOLDOUT_SHARE = 0.10
SALT = "gifting-holdout-v1"


@pytest.fixture(scope="module")
def honest_assignment() -> pd.DataFrame:
    """Assign 10,000 synthetic account Ids with the planner's salted-hash rule."""
    account_ids = [f"001Ah{index:010d}" for index in range(ACCOUNTS)]
    held_out = [is_holdout(account_id, SALT, HOLDOUT_SHARE) for account_id in account_ids]
    return pd.DataFrame(
        {
            "account_id": account_ids,
            "arm": np.where(held_out, "holdout", "gifted"),
            "holdout_assigned": True,
        }
    )


def test_srm_passes_honest_holdout(honest_assignment: pd.DataFrame) -> None:
    check = check_sample_ratio(honest_assignment, HOLDOUT_SHARE)
    assert check.assigned == ACCOUNTS
    assert check.observed_share == pytest.approx(HOLDOUT_SHARE, abs=0.01)
    assert not check.mismatch


@pytest.mark.parametrize("skew", [0.05, -0.05])
def test_srm_fails_tampered_holdout(honest_assignment: pd.DataFrame, skew: float) -> None:
    tampered = honest_assignment.copy()
    moved = int(abs(skew) * ACCOUNTS)
    source, target = ("gifted", "holdout") if skew > 0 else ("holdout", "gifted")
    tampered.loc[tampered.index[tampered["arm"] == source][:moved], "arm"] = target

    check = check_sample_ratio(tampered, HOLDOUT_SHARE)
    assert check.observed_share == pytest.approx(HOLDOUT_SHARE + skew, abs=0.01)
    assert check.mismatch
