"""Tests and effect sizes of the randomized comparison, gifted against holdout.

Only these two arms were assigned at random, so only their differences estimate what the gifts
cause. The sample-ratio check guards that assumption: a holdout share far from the configured
one means the assignment or the data pipeline is broken, and the comparison cannot be trusted.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gifting.cohorts.arms import HOLDOUT
from gifting.cohorts.estimators import RMST_HORIZON_DAYS, Estimate, rate_per_period
from gifting.cohorts.survival import (
    Z_95,
    RestrictedMean,
    SurvivalPoint,
    kaplan_meier,
    restricted_mean_survival,
    survival_at,
)
from gifting.errors import ConfigurationError

logger = logging.getLogger(__name__)

SRM_ALPHA = 0.001
"""p-value below which the holdout share counts as a sample-ratio mismatch."""


@dataclass(frozen=True)
class SampleRatioCheck:
    """Observed against configured holdout share, with the chi-square goodness-of-fit test.

    Attributes:
        assigned: Accounts with a recorded holdout decision (the randomized population).
        holdout: How many of them were held out.
        observed_share: ``holdout / assigned``, or None when nothing was assigned.
        expected_share: The configured holdout share.
        chi_square: The test statistic with one degree of freedom, or None.
        p_value: Its p-value, or None when nothing was assigned.
        mismatch: True when the p-value is below ``SRM_ALPHA``.
    """

    assigned: int
    holdout: int
    observed_share: float | None
    expected_share: float
    chi_square: float | None
    p_value: float | None
    mismatch: bool


def retention_difference(gifted: pd.DataFrame, holdout: pd.DataFrame, day: int) -> Estimate:
    """Estimate gifted minus holdout KM survival at ``day``, with a normal-approximation interval.

    The two arms are independent samples, so the variance of the difference is the sum of the
    two Greenwood variances.
    """
    n = len(gifted) + len(holdout)
    points = [_survival_point(accounts, day) for accounts in (gifted, holdout)]
    if points[0] is None or points[1] is None:
        return Estimate(None, n)
    difference = points[0].survival - points[1].survival
    half_width = Z_95 * math.sqrt(points[0].variance + points[1].variance)
    # A difference of two shares lies in [-1, 1], but the normal approximation can overshoot.
    low = max(-1.0, difference - half_width)
    high = min(1.0, difference + half_width)
    return Estimate(difference, n, low, high)


def _survival_point(accounts: pd.DataFrame, day: int) -> SurvivalPoint | None:
    if accounts.empty:
        return None
    return survival_at(kaplan_meier(accounts["duration_days"], accounts["churned"]), day)


def rmst_difference(
    gifted: pd.DataFrame, holdout: pd.DataFrame, horizon: int = RMST_HORIZON_DAYS
) -> Estimate:
    """Estimate gifted minus holdout RMST to ``horizon`` days, in days, with a normal interval.

    The arms are independent, so the variance of the difference is the sum of the two variances.
    """
    n = len(gifted) + len(holdout)
    means = [_restricted_mean(accounts, horizon) for accounts in (gifted, holdout)]
    if means[0] is None or means[1] is None:
        return Estimate(None, n)
    value = means[0].value - means[1].value
    half_width = Z_95 * math.sqrt(means[0].variance + means[1].variance)
    return Estimate(value, n, value - half_width, value + half_width)


def _restricted_mean(accounts: pd.DataFrame, horizon: int) -> RestrictedMean | None:
    if accounts.empty:
        return None
    curve = kaplan_meier(accounts["duration_days"], accounts["churned"])
    return restricted_mean_survival(curve, horizon)


def engagement_rate_difference(
    gifted: pd.DataFrame, holdout: pd.DataFrame, column: str
) -> Estimate:
    """Estimate gifted minus holdout events per 30 days as a customer, with a normal interval.

    The arms are independent, so the variance of the difference is the sum of the two
    cluster-robust variances.
    """
    n = len(gifted) + len(holdout)
    rates = [rate_per_period(accounts, column) for accounts in (gifted, holdout)]
    if rates[0] is None or rates[1] is None:
        return Estimate(None, n)
    value = rates[0].value - rates[1].value
    half_width = Z_95 * math.sqrt(rates[0].variance + rates[1].variance)
    return Estimate(value, n, value - half_width, value + half_width)


def logrank_p(gifted: pd.DataFrame, holdout: pd.DataFrame) -> Estimate:
    """Test whether the gifted and holdout survival curves differ (log-rank test p-value).

    Returns value None when an arm is empty or no account churned, because the test statistic is
    then undefined.
    """
    n = len(gifted) + len(holdout)
    if gifted.empty or holdout.empty:
        return Estimate(None, n)
    if gifted["churned"].sum() + holdout["churned"].sum() == 0:
        return Estimate(None, n)
    from scipy.stats import chi2

    statistic = logrank_statistic(
        gifted["duration_days"].to_numpy(dtype=float),
        gifted["churned"].to_numpy(dtype=float) > 0,
        holdout["duration_days"].to_numpy(dtype=float),
        holdout["churned"].to_numpy(dtype=float) > 0,
    )
    return Estimate(float(chi2.sf(statistic, df=1)), n)


def logrank_statistic(
    first_durations: np.ndarray,
    first_events: np.ndarray,
    second_durations: np.ndarray,
    second_events: np.ndarray,
) -> float:
    """Compute the two-group log-rank chi-square statistic (1 degree of freedom).

    At each distinct event time t, n accounts are at risk, n₁ of them in the first group, and d
    churn. The first group then expects d · n₁ / n churns, with hypergeometric variance
    d · (n₁ / n) · (1 − n₁ / n) · (n − d) / (n − 1). The statistic is (observed − expected)²
    / variance, summed over t. This is the statistic ``lifelines.statistics.logrank_test``
    reports; it is written with numpy because lifelines takes seconds to import and the
    report runs on a million accounts.
    """
    durations = np.concatenate([first_durations, second_durations])
    events = np.concatenate([first_events, second_events])
    in_first = np.arange(durations.size) < first_durations.size
    times = np.unique(durations[events])
    ordered_all = np.sort(durations)
    ordered_first = np.sort(first_durations)
    at_risk = durations.size - np.searchsorted(ordered_all, times, side="left")
    at_risk_first = first_durations.size - np.searchsorted(ordered_first, times, side="left")
    slot = np.searchsorted(times, durations[events])
    deaths = np.bincount(slot, minlength=times.size).astype(float)
    deaths_first = np.bincount(slot[in_first[events]], minlength=times.size).astype(float)
    share = at_risk_first / at_risk
    expected = deaths * share
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = np.where(
            at_risk > 1, deaths * share * (1 - share) * (at_risk - deaths) / (at_risk - 1), 0.0
        )
    total_variance = float(variance.sum())
    if total_variance <= 0:
        return 0.0
    return float((deaths_first.sum() - expected.sum()) ** 2 / total_variance)


def check_sample_ratio(frame: pd.DataFrame, expected_share: float) -> SampleRatioCheck:
    """Test the observed holdout share against ``expected_share`` (chi-square, 1 degree of freedom).

    Accounts with no holdout decision yet (``holdout_assigned`` false) were never randomized and
    are left out. Raises ConfigurationError for a share outside (0, 1), where the test is undefined.
    """
    if not 0.0 < expected_share < 1.0:
        raise ConfigurationError(
            f"invalid holdout share {expected_share!r}: expected a number between 0 and 1, "
            "the share configured under holdout.share in config/program.yaml"
        )
    assigned_rows = frame[frame["holdout_assigned"].astype(bool)]
    assigned = len(assigned_rows)
    holdout = int((assigned_rows["arm"] == HOLDOUT).sum())
    if assigned == 0:
        return SampleRatioCheck(0, 0, None, expected_share, None, None, False)
    from scipy.stats import chi2

    expected = [assigned * expected_share, assigned * (1 - expected_share)]
    observed = [holdout, assigned - holdout]
    statistic = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    p_value = float(chi2.sf(statistic, df=1))
    mismatch = p_value < SRM_ALPHA
    if mismatch:
        logger.warning(
            "sample-ratio mismatch: %s of %s assigned accounts held out, expected share %s (p=%s)",
            holdout,
            assigned,
            expected_share,
            p_value,
        )
    return SampleRatioCheck(
        assigned, holdout, holdout / assigned, expected_share, statistic, p_value, mismatch
    )
