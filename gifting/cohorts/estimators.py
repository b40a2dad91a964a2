"""Per-group estimators with 95 % intervals: shares, means, retention, RMST and expansion.

Each function takes the base-table rows of one group of accounts (one cohort × arm, or one arm
at a landmark) and returns an ``Estimate``. An empty group gives value None and n 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gifting.cohorts.survival import (
    Z_95,
    kaplan_meier,
    median_survival_time,
    restricted_mean_survival,
    survival_at,
)

RETENTION_DAYS = (30, 90, 365)
EXPANSION_WINDOW_DAYS = 365
RMST_HORIZON_DAYS = 365


@dataclass(frozen=True)
class Estimate:
    """One metric value with its sample size and optional 95 % confidence interval."""

    value: float | None
    n: int
    ci_low: float | None = None
    ci_high: float | None = None


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


def total(values: pd.Series) -> Estimate:
    """Sum the values, treating a missing value as 0 (nothing spent); None for an empty group."""
    if values.empty:
        return Estimate(None, 0)
    clean = pd.to_numeric(values, errors="coerce").fillna(0.0).astype(float)
    return Estimate(float(clean.sum()), len(clean))


def difference(first: Estimate, second: Estimate) -> Estimate:
    """Subtract two estimates, without an interval (the caller adds one where it has one)."""
    if first.value is None or second.value is None:
        return Estimate(None, first.n + second.n)
    return Estimate(first.value - second.value, first.n + second.n)


def retention(accounts: pd.DataFrame, day: int, curve: pd.DataFrame | None = None) -> Estimate:
    """Estimate Kaplan–Meier retention at ``day`` for one group of accounts.

    ``curve`` is the group's ``kaplan_meier`` curve when the caller already has it.
    """
    n = len(accounts)
    if n == 0:
        return Estimate(None, 0)
    if curve is None:
        curve = kaplan_meier(accounts["duration_days"], accounts["churned"])
    point = survival_at(curve, day)
    if point is None:
        return Estimate(None, n)
    return Estimate(point.survival, n, point.ci_low, point.ci_high)


def restricted_mean(
    accounts: pd.DataFrame, horizon: int = RMST_HORIZON_DAYS, curve: pd.DataFrame | None = None
) -> Estimate:
    """Estimate the restricted mean survival time: the expected days retained out of ``horizon``.

    ``curve`` is the group's ``kaplan_meier`` curve when the caller already has it.
    """
    n = len(accounts)
    if n == 0:
        return Estimate(None, 0)
    if curve is None:
        curve = kaplan_meier(accounts["duration_days"], accounts["churned"])
    rmst = restricted_mean_survival(curve, horizon)
    if rmst is None:
        return Estimate(None, n)
    half_width = Z_95 * math.sqrt(rmst.variance)
    return Estimate(rmst.value, n, rmst.value - half_width, rmst.value + half_width)


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


def median_days_to_expansion(accounts: pd.DataFrame) -> Estimate:
    """Estimate the median days from signing to the first expansion, Kaplan–Meier style.

    Expansion is the event. An account that has not expanded is censored at its churn date or
    at the report date, whichever came first, since a churned account can no longer expand.
    NOTE: treating churn as censoring assumes churned accounts would have expanded like the
    ones still active; a competing-risks estimate would drop that assumption.
    """
    n = len(accounts)
    if n == 0:
        return Estimate(None, 0)
    first_expansion = pd.to_numeric(accounts["first_expansion_days"], errors="coerce")
    expanded = first_expansion.notna()
    durations = first_expansion.where(expanded, accounts["duration_days"]).astype(float)
    curve = kaplan_meier(durations, expanded.astype(int))
    return Estimate(median_survival_time(curve), n)


def expansion_amount(accounts: pd.DataFrame) -> Estimate:
    """Estimate the mean expansion amount per expanding account (all expansions summed)."""
    return mean(accounts.loc[accounts["expansion_amount"] > 0, "expansion_amount"])


def referral_rate(accounts: pd.DataFrame) -> Estimate:
    """Estimate the share of accounts with at least one referral."""
    referred = int((pd.to_numeric(accounts["referrals"], errors="coerce").fillna(0) >= 1).sum())
    return proportion(referred, len(accounts))


ENGAGEMENT_PERIOD_DAYS = 30
ENGAGEMENT_COLUMNS = ("replies", "meetings", "support_cases", "usage")
"""Base-table columns counted per 30 days as a customer; ``usage`` needs a usage table."""


@dataclass(frozen=True)
class RatePerPeriod:
    """Events per ``ENGAGEMENT_PERIOD_DAYS`` days as a customer, with the estimate's variance."""

    value: float
    variance: float
    n: int


def engagement_rate(accounts: pd.DataFrame, column: str) -> Estimate:
    """Estimate the events in ``column`` per 30 days as a customer, with a 95 % interval.

    A frame without the column, or with only missing values (no usage table configured), gives
    value None and n 0, because the outcome was not measured.
    """
    rate = rate_per_period(accounts, column)
    if rate is None:
        measured = column in accounts and bool(accounts[column].notna().any())
        return Estimate(None, len(accounts) if measured else 0)
    if rate.n < 2:
        return Estimate(rate.value, rate.n)
    half_width = Z_95 * math.sqrt(rate.variance)
    return Estimate(rate.value, rate.n, max(0.0, rate.value - half_width), rate.value + half_width)


def rate_per_period(accounts: pd.DataFrame, column: str) -> RatePerPeriod | None:
    """Divide all events by all days as a customer (a ratio estimator), scaled to 30 days.

    The variance is the cluster-robust (sandwich) one with the account as the cluster, so a few
    very active accounts widen the interval instead of being treated as independent events.
    ``duration_days`` is the days from signing to churn or to the report date. Returns None
    when no account has a value or the accounts add up to no day as a customer.
    """
    if column not in accounts:
        return None
    counts = pd.to_numeric(accounts[column], errors="coerce")
    measured = counts.notna()
    events = counts[measured].to_numpy(dtype=float)
    days = accounts.loc[measured, "duration_days"].to_numpy(dtype=float)
    n, total_days = len(events), float(days.sum())
    if n == 0 or total_days <= 0:
        return None
    rate = float(events.sum()) / total_days
    residuals = events - rate * days
    variance = float((residuals**2).sum()) * n / max(n - 1, 1) / total_days**2
    scale = ENGAGEMENT_PERIOD_DAYS
    return RatePerPeriod(rate * scale, variance * scale**2, n)


PARTICIPATION_COLUMNS = ("testimonial", "case_study")
"""Base-table columns that are 1 when an account took part, NaN when the org does not track it."""


@dataclass(frozen=True)
class ShareInputs:
    """Per account: whether it counts toward a share (``eligible``) and whether it is a hit."""

    eligible: np.ndarray
    hits: np.ndarray


def renewal_inputs(accounts: pd.DataFrame) -> ShareInputs | None:
    """Mark the accounts whose renewal is decided, and those that renewed and stayed.

    An account is decided once it won a renewal deal or ended (churned or gave notice not to
    renew). It counts as renewed when it won a renewal and has not ended since, so an account
    that renewed once and then left counts as not renewed. Returns None when renewals are not
    measured (the column is missing or all NaN).
    """
    if "renewals" not in accounts or not accounts["renewals"].notna().any():
        return None
    renewed = pd.to_numeric(accounts["renewals"], errors="coerce").fillna(0).to_numpy() > 0
    ended = accounts["churned"].to_numpy(dtype=float) > 0
    return ShareInputs(eligible=renewed | ended, hits=renewed & ~ended)


def participation_inputs(accounts: pd.DataFrame, column: str) -> ShareInputs | None:
    """Mark every account eligible and those with ``column`` set as hits; None if unmeasured."""
    if column not in accounts or not accounts[column].notna().any():
        return None
    hits = pd.to_numeric(accounts[column], errors="coerce").fillna(0).to_numpy() > 0
    return ShareInputs(eligible=np.ones(hits.size, dtype=bool), hits=hits)


def share_of(inputs: ShareInputs | None) -> Estimate:
    """Estimate the share of hits among eligible accounts; value None and n 0 when unmeasured."""
    if inputs is None:
        return Estimate(None, 0)
    return proportion(int((inputs.hits & inputs.eligible).sum()), int(inputs.eligible.sum()))


def renewal_rate(accounts: pd.DataFrame) -> Estimate:
    """Estimate the share of decided accounts that renewed (see ``renewal_inputs``)."""
    return share_of(renewal_inputs(accounts))


def participation_rate(accounts: pd.DataFrame, column: str) -> Estimate:
    """Estimate the share of accounts that gave a testimonial or a case study (``column``)."""
    return share_of(participation_inputs(accounts, column))
