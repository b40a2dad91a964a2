"""Cohort metrics: arm assignment, Kaplan–Meier retention, rates and the program ROI estimate.

The input is the account base table from ``gifting.cohorts.base`` (one row per signed account).
The output has one row per cohort × arm × metric, the grain of the ``cohort_metrics`` table.
Gifted versus holdout is a randomized comparison; gifted versus not gifted is observational,
because the accounts that received a gift were not chosen at random.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

GIFTED = "gifted"
HOLDOUT = "holdout"
NOT_GIFTED = "not_gifted"
ARMS = (GIFTED, HOLDOUT, NOT_GIFTED)
PROGRAM_ARM = "program"
"""Arm label of program-level rows, which compare gifted with holdout in the ``all`` cohort."""

ALL_COHORTS = "all"
RETENTION_DAYS = (30, 90, 365)
EXPANSION_WINDOW_DAYS = 365
Z_95 = 1.959963984540054
"""Two-sided 95 % quantile of the standard normal distribution."""

METRIC_COLUMNS = ["as_of", "cohort", "arm", "metric", "value", "n", "ci_low", "ci_high"]


@dataclass(frozen=True)
class Estimate:
    """One metric value with its sample size and optional 95 % confidence interval."""

    value: float | None
    n: int
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class SurvivalPoint:
    """Kaplan–Meier survival at one day, with its Greenwood variance and 95 % interval."""

    survival: float
    variance: float
    ci_low: float
    ci_high: float


def assign_arms(holdout: pd.Series, gifts_sent: pd.Series) -> pd.Series:
    """Label each account ``holdout``, ``gifted`` or ``not_gifted``.

    Holdout wins over gifts: a holdout account that got a gift by mistake still belongs to the
    randomized control, so the comparison stays intention-to-treat. A missing holdout flag means
    the account was never assigned and counts as not held out.
    """
    is_holdout = holdout.map(lambda flag: bool(flag) if pd.notna(flag) else False)
    arms = np.where(is_holdout, HOLDOUT, np.where(gifts_sent.fillna(0) > 0, GIFTED, NOT_GIFTED))
    return pd.Series(arms, index=holdout.index, dtype=object)


def kaplan_meier(durations: pd.Series, events: pd.Series) -> pd.DataFrame:
    """Estimate the survival curve with Greenwood's variance and a log(-log) 95 % interval.

    The interval uses the exponential Greenwood formula, so it always lies in [0, 1]; this is
    also what ``lifelines.KaplanMeierFitter`` reports. Returns one row per distinct observed time
    (plus day 0), indexed by time, with columns at_risk, events, survival, variance, ci_low and
    ci_high. Survival is a step function, so the row for time t gives the value from t onward.
    """
    times = pd.Series(durations, dtype=float).to_numpy()
    observed = pd.Series(events, dtype=float).to_numpy() > 0
    timeline = np.unique(np.concatenate([[0.0], times]))
    sorted_times = np.sort(times)
    at_risk = (len(times) - np.searchsorted(sorted_times, timeline, side="left")).astype(float)
    event_times = np.sort(times[observed])
    deaths = (
        np.searchsorted(event_times, timeline, side="right")
        - np.searchsorted(event_times, timeline, side="left")
    ).astype(float)

    with np.errstate(divide="ignore", invalid="ignore"):
        factors = np.where(at_risk > 0, 1.0 - deaths / at_risk, 1.0)
        # A time where every account at risk churns drives survival to 0. Its Greenwood term
        # is infinite and is dropped, which leaves a zero-width interval at 0.
        terms = np.where(at_risk > deaths, deaths / (at_risk * (at_risk - deaths)), 0.0)
    survival = np.cumprod(factors)
    greenwood_sum = np.cumsum(terms)
    ci_low, ci_high = _log_log_interval(survival, greenwood_sum)
    return pd.DataFrame(
        {
            "at_risk": at_risk.astype(int),
            "events": deaths.astype(int),
            "survival": survival,
            "variance": survival**2 * greenwood_sum,
            "ci_low": ci_low,
            "ci_high": ci_high,
        },
        index=pd.Index(timeline, name="time"),
    )


def _log_log_interval(
    survival: np.ndarray, greenwood_sum: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the 95 % bounds of exp(-exp(log(-log S) ± z·σ)), with σ from Greenwood's sum."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_survival = np.log(survival)
        centre = np.log(-log_survival)
        spread = Z_95 * np.sqrt(greenwood_sum) / log_survival
        low = np.exp(-np.exp(centre - spread))
        high = np.exp(-np.exp(centre + spread))
    # Where survival is still 1 the transform is undefined and the interval collapses to 1.
    low = np.where(np.isnan(low), 1.0, low)
    high = np.where(np.isnan(high), 1.0, high)
    return low, high


def survival_at(curve: pd.DataFrame, day: float) -> SurvivalPoint | None:
    """Read the survival curve at ``day``, or None when no account was followed that long.

    Past the longest follow-up the curve is unknown, so carrying the last value forward would
    overstate what the data shows. A curve that already reached 0 stays at 0.
    """
    if curve.empty:
        return None
    last_time = float(curve.index.max())
    row = curve.loc[curve.index[curve.index <= day].max()]
    if day > last_time and row["survival"] > 0:
        return None
    return SurvivalPoint(
        survival=float(row["survival"]),
        variance=float(row["variance"]),
        ci_low=float(row["ci_low"]),
        ci_high=float(row["ci_high"]),
    )


def proportion(successes: int, n: int) -> Estimate:
    """Estimate a share with the Wilson score 95 % interval, which stays in [0, 1] for small n."""
    if n == 0:
        return Estimate(None, 0)
    share = successes / n
    denominator = 1 + Z_95**2 / n
    centre = (share + Z_95**2 / (2 * n)) / denominator
    half_width = Z_95 * math.sqrt(share * (1 - share) / n + Z_95**2 / (4 * n**2)) / denominator
    # At a share of 0 or 1 the bound equals the share exactly, so clamp away the rounding error.
    low = min(share, max(0.0, centre - half_width))
    high = max(share, min(1.0, centre + half_width))
    return Estimate(share, n, low, high)


def mean(values: pd.Series) -> Estimate:
    """Estimate a mean with a normal-approximation 95 % interval (none below two values)."""
    clean = pd.to_numeric(values, errors="coerce").dropna().astype(float)
    n = len(clean)
    if n == 0:
        return Estimate(None, 0)
    average = float(clean.mean())
    if n < 2:
        return Estimate(average, n)
    half_width = Z_95 * float(clean.std(ddof=1)) / math.sqrt(n)
    return Estimate(average, n, average - half_width, average + half_width)


def retention(accounts: pd.DataFrame, day: int) -> Estimate:
    """Estimate Kaplan–Meier retention at ``day`` for one group of accounts."""
    n = len(accounts)
    if n == 0:
        return Estimate(None, 0)
    point = survival_at(kaplan_meier(accounts["duration_days"], accounts["churned"]), day)
    if point is None:
        return Estimate(None, n)
    return Estimate(point.survival, n, point.ci_low, point.ci_high)


def expansion_rate(accounts: pd.DataFrame) -> Estimate:
    """Share that expanded within 365 days, among accounts that could have been seen doing so.

    An account signed less than 365 days ago counts only once it has expanded, so young
    cohorts do not drag the rate down before their window closes.
    """
    eligible = accounts[
        (accounts["follow_up_days"] >= EXPANSION_WINDOW_DAYS)
        | (accounts["expanded_within_365"] > 0)
    ]
    return proportion(int(eligible["expanded_within_365"].sum()), len(eligible))


def arm_metrics(accounts: pd.DataFrame) -> dict[str, Estimate]:
    """Compute every per-arm metric for one cohort × arm group of accounts."""
    n = len(accounts)
    metrics = {f"retention_{day}": retention(accounts, day) for day in RETENTION_DAYS}
    metrics["churn_rate"] = proportion(int(accounts["churned"].sum()), n)
    metrics["expansion_rate_365"] = expansion_rate(accounts)
    metrics["avg_nps"] = mean(accounts["nps"])
    # Referrals per account: each referral outcome's score counts the referrals it records.
    metrics["referral_rate"] = mean(accounts["referrals"])
    metrics["gift_spend_per_account"] = mean(accounts["gift_spend"])
    metrics["accounts"] = Estimate(float(n) if n else None, n)
    return metrics


def compute_cohort_metrics(frame: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """Compute one row per cohort (each signing month and ``all``) × arm × metric.

    Every arm appears in every cohort, with n=0 and value None when it has no accounts, so the
    stored table shows an empty arm instead of hiding it. Program-level rows (arm ``program``)
    exist only for the ``all`` cohort; ``program_metrics`` defines them.
    """
    stamp = naive_utc(as_of)
    rows: list[dict[str, object]] = []
    cohorts = sorted(frame["cohort"].dropna().unique())
    for cohort in [*cohorts, ALL_COHORTS]:
        members = frame if cohort == ALL_COHORTS else frame[frame["cohort"] == cohort]
        for arm in ARMS:
            estimates = arm_metrics(members[members["arm"] == arm])
            rows.extend(_metric_rows(stamp, cohort, arm, estimates))
    rows.extend(_metric_rows(stamp, ALL_COHORTS, PROGRAM_ARM, program_metrics(frame)))
    logger.info("computed %s metric rows for %s cohorts as of %s", len(rows), len(cohorts), stamp)
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def program_metrics(frame: pd.DataFrame) -> dict[str, Estimate]:
    """Compare the gifted arm with the randomized holdout over all cohorts.

    Returns the retention difference at 365 days, the log-rank p-value, and the ROI estimate with
    every input it uses, so a reader of the stored table can recompute it.
    """
    gifted = frame[frame["arm"] == GIFTED]
    holdout = frame[frame["arm"] == HOLDOUT]
    retention_diff = retention_difference(gifted, holdout, 365)
    expansion_diff = _difference(expansion_rate(gifted), expansion_rate(holdout))
    contract_amount = mean(frame["contract_amount"])
    expansion_amount = mean(frame.loc[frame["expansion_amount"] > 0, "expansion_amount"])
    spend = mean(gifted["gift_spend"])
    roi = estimate_roi(
        retention_uplift=retention_diff.value,
        average_contract_amount=contract_amount.value,
        expansion_uplift=expansion_diff.value,
        average_expansion_amount=expansion_amount.value,
        spend_per_gifted_account=spend.value,
    )
    return {
        "retention_365_diff": retention_diff,
        "logrank_p": logrank_p(gifted, holdout),
        "expansion_rate_365_diff": expansion_diff,
        "avg_contract_amount": contract_amount,
        "avg_expansion_amount": expansion_amount,
        "roi": Estimate(roi, len(gifted)),
    }


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


def _difference(first: Estimate, second: Estimate) -> Estimate:
    if first.value is None or second.value is None:
        return Estimate(None, first.n + second.n)
    return Estimate(first.value - second.value, first.n + second.n)


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
    from lifelines.statistics import logrank_test

    result = logrank_test(
        gifted["duration_days"].astype(float),
        holdout["duration_days"].astype(float),
        event_observed_A=gifted["churned"].astype(int),
        event_observed_B=holdout["churned"].astype(int),
    )
    return Estimate(float(result.p_value), n)


def estimate_roi(
    *,
    retention_uplift: float | None,
    average_contract_amount: float | None,
    expansion_uplift: float | None,
    average_expansion_amount: float | None,
    spend_per_gifted_account: float | None,
) -> float | None:
    """Estimate the program ROI per gifted account: value gained / gift spend − 1.

    Value gained = retention uplift × average contract amount + expansion uplift × average
    expansion amount. Both uplifts are gifted minus holdout. This is an estimate: it assumes
    the contract amount is the revenue a retained account keeps for the year, and it ignores
    the uncertainty of the uplifts. Returns None when an input is missing or nothing was
    spent, because an ROI built on guessed inputs would mislead.
    """
    if not spend_per_gifted_account or spend_per_gifted_account <= 0:
        return None
    if retention_uplift is None or average_contract_amount is None or expansion_uplift is None:
        return None
    expansion_value = 0.0
    if expansion_uplift != 0:
        if average_expansion_amount is None:
            return None
        expansion_value = expansion_uplift * average_expansion_amount
    value_gained = retention_uplift * average_contract_amount + expansion_value
    return value_gained / spend_per_gifted_account - 1


def _metric_rows(
    as_of: datetime, cohort: str, arm: str, estimates: dict[str, Estimate]
) -> list[dict[str, object]]:
    return [
        {
            "as_of": as_of,
            "cohort": cohort,
            "arm": arm,
            "metric": metric,
            "value": _finite_or_none(estimate.value),
            "n": estimate.n,
            "ci_low": _finite_or_none(estimate.ci_low),
            "ci_high": _finite_or_none(estimate.ci_high),
        }
        for metric, estimate in estimates.items()
    ]


def _finite_or_none(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def naive_utc(moment: datetime) -> datetime:
    """Convert to naive UTC, the form the warehouse stores (SQLite keeps no offset)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)
