"""Cohort metrics: one row per cohort × arm × metric, the grain of the ``cohort_metrics`` table.

The input is the account base table from ``gifting.cohorts.base`` (one row per signed account).
Gifted versus holdout is a randomized comparison (``gifting.cohorts.program``). Gifted versus
not gifted is observational, because the accounts that received a gift were not chosen at
random. It is reported through a landmark analysis (``gifting.cohorts.landmark``).
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime

import pandas as pd

from gifting.cohorts.arms import (
    ALL_COHORTS,
    ARMS,
    GIFTED,
    HOLDOUT,
    NOT_GIFTED,
    PROGRAM_ARM,
    assign_arms,
)
from gifting.cohorts.estimators import (
    ENGAGEMENT_COLUMNS,
    EXPANSION_WINDOW_DAYS,
    PARTICIPATION_COLUMNS,
    RETENTION_DAYS,
    Estimate,
    engagement_rate,
    expansion_amount,
    expansion_rate,
    mean,
    median_days_to_expansion,
    participation_rate,
    proportion,
    referral_rate,
    renewal_rate,
    restricted_mean,
    retention,
    total,
)
from gifting.cohorts.landmark import landmark_metrics
from gifting.cohorts.program import AnalysisOptions, program_metrics
from gifting.cohorts.roi import estimate_roi
from gifting.cohorts.survival import Z_95, SurvivalPoint, kaplan_meier, survival_at

logger = logging.getLogger(__name__)

METRIC_COLUMNS = ["as_of", "cohort", "arm", "metric", "value", "n", "ci_low", "ci_high"]

RATE_METRICS = frozenset(
    {
        *(f"retention_{day}" for day in RETENTION_DAYS),
        "churn_rate",
        "expansion_rate_365",
        "referral_rate",
        "renewal_rate",
        *(f"{column}_rate" for column in PARTICIPATION_COLUMNS),
        "landmark_30_retention_365",
        "landmark_90_retention_365",
        "holdout_share",
        "holdout_share_expected",
        "logrank_p",
        "srm_p",
    }
)
"""Metrics whose value and interval are shares or probabilities, so they must lie in [0, 1]."""

__all__ = [
    "ALL_COHORTS",
    "ARMS",
    "EXPANSION_WINDOW_DAYS",
    "GIFTED",
    "HOLDOUT",
    "METRIC_COLUMNS",
    "NOT_GIFTED",
    "PROGRAM_ARM",
    "RATE_METRICS",
    "RETENTION_DAYS",
    "Z_95",
    "AnalysisOptions",
    "Estimate",
    "SurvivalPoint",
    "arm_metrics",
    "assign_arms",
    "compute_cohort_metrics",
    "estimate_roi",
    "kaplan_meier",
    "naive_utc",
    "proportion",
    "survival_at",
]


def arm_metrics(accounts: pd.DataFrame) -> dict[str, Estimate]:
    """Compute every per-arm metric for one cohort × arm group of accounts."""
    n = len(accounts)
    # One survival curve serves every retention day and the RMST.
    curve = kaplan_meier(accounts["duration_days"], accounts["churned"]) if n else None
    metrics = {f"retention_{day}": retention(accounts, day, curve) for day in RETENTION_DAYS}
    metrics["rmst_365"] = restricted_mean(accounts, curve=curve)
    metrics["churn_rate"] = proportion(int(accounts["churned"].sum()), n)
    metrics["expansion_rate_365"] = expansion_rate(accounts)
    metrics["median_days_to_expansion"] = median_days_to_expansion(accounts)
    metrics["avg_expansion_amount"] = expansion_amount(accounts)
    metrics["avg_nps"] = mean(accounts["nps"])
    metrics["referral_rate"] = referral_rate(accounts)
    # Each referral outcome's score counts the referrals it records.
    metrics["referrals_per_account"] = mean(accounts["referrals"])
    metrics["renewal_rate"] = renewal_rate(accounts)
    for column in PARTICIPATION_COLUMNS:
        metrics[f"{column}_rate"] = participation_rate(accounts, column)
    for column in ENGAGEMENT_COLUMNS:
        metrics[f"{column}_per_30d"] = engagement_rate(accounts, column)
    metrics["gift_spend_per_account"] = mean(accounts["gift_spend"])
    metrics["gift_spend_total"] = total(accounts["gift_spend"])
    for column in ("transfers_of_value", "transfer_of_value_spend"):
        # Frames built before transfers of value were tracked lack the columns: none was sent.
        values = accounts[column] if column in accounts else pd.Series(0.0, index=accounts.index)
        metrics[column] = total(values)
    metrics["accounts"] = Estimate(float(n) if n else None, n)
    return metrics


def compute_cohort_metrics(
    frame: pd.DataFrame, as_of: datetime, options: AnalysisOptions | None = None
) -> pd.DataFrame:
    """Compute one row per cohort (each signing month and ``all``) × arm × metric.

    Every arm appears in every cohort, with n=0 and value None when it has no accounts, so the
    stored table shows an empty arm instead of hiding it. Program-level rows (arm ``program``)
    and the landmark rows (arms gifted and not_gifted, metric ``landmark_*``) exist only for
    the ``all`` cohort.
    """
    options = options or AnalysisOptions()
    stamp = naive_utc(as_of)
    rows: list[dict[str, object]] = []
    # One groupby pass for the row positions instead of a boolean mask per cohort and arm over
    # the whole frame. Each subset is copied only while its metrics are computed, which keeps
    # the peak memory near one copy of the base table.
    by_cohort = frame.groupby("cohort", sort=True).indices
    cohorts = sorted(by_cohort)
    for cohort in [*cohorts, ALL_COHORTS]:
        members = frame if cohort == ALL_COHORTS else frame.iloc[by_cohort[cohort]]
        by_arm = members.groupby("arm").indices
        for arm in ARMS:
            estimates = arm_metrics(members.iloc[by_arm.get(arm, [])])
            rows.extend(_metric_rows(stamp, cohort, arm, estimates))
    for (arm, metric), estimate in landmark_metrics(frame).items():
        rows.extend(_metric_rows(stamp, ALL_COHORTS, arm, {metric: estimate}))
    rows.extend(_metric_rows(stamp, ALL_COHORTS, PROGRAM_ARM, program_metrics(frame, options)))
    logger.info("computed %s metric rows for %s cohorts as of %s", len(rows), len(cohorts), stamp)
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


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
