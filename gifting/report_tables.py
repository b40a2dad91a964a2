"""Table rows of the cohort report page: each function returns rows of formatted cells."""

from __future__ import annotations

import pandas as pd

from gifting.cohorts.arms import ALL_COHORTS, ARMS, GIFTED, HOLDOUT, NOT_GIFTED, PROGRAM_ARM
from gifting.cohorts.landmark import LANDMARK_DAYS
from gifting.cohorts.metrics import RATE_METRICS

DIFFERENCE_SHARES = {
    "retention_365_diff",
    "expansion_rate_365_diff",
    "renewal_rate_diff",
    "testimonial_rate_diff",
    "case_study_rate_diff",
}
PERCENT_METRICS = RATE_METRICS - {"logrank_p", "srm_p"} | DIFFERENCE_SHARES
DAY_METRICS = {"rmst_365", "rmst_365_diff", "median_days_to_expansion"}
COUNT_METRICS = {"transfers_of_value"}

EFFECT_LABELS = [
    ("retention_365_diff", "retention at 365 days (Greenwood interval)"),
    ("rmst_365_diff", "restricted mean survival time to 365 days, in days"),
    ("logrank_p", "log-rank test p-value"),
    ("expansion_rate_365_diff", "expansion within 365 days (bootstrap interval)"),
    ("avg_nps_diff", "mean NPS answer (bootstrap interval)"),
    ("referrals_per_account_diff", "referrals per account (bootstrap interval)"),
    ("renewal_rate_diff", "renewal rate of decided accounts (bootstrap interval)"),
    ("testimonial_rate_diff", "share that gave a testimonial (bootstrap interval)"),
    ("case_study_rate_diff", "share with a published case study (bootstrap interval)"),
    ("replies_per_30d_diff", "replies per 30 days as a customer"),
    ("meetings_per_30d_diff", "meetings held per 30 days as a customer"),
    ("support_cases_per_30d_diff", "support cases per 30 days as a customer"),
    ("usage_per_30d_diff", "product usage per 30 days as a customer"),
]


def arm_rows(overall: pd.DataFrame, metric_names: list[str]) -> list[list[str]]:
    """Return one row per arm: the arm, its account count and each metric."""
    rows = []
    for arm in ARMS:
        cells = overall[overall["arm"] == arm].set_index("metric")
        row = [arm, str(int(cells.loc["accounts", "n"]))]
        row.extend(format_estimate(cells.loc[name], name) for name in metric_names)
        rows.append(row)
    return rows


def effect_rows(overall: pd.DataFrame) -> list[list[str]]:
    """Return the gifted − holdout effects, each with its interval and n."""
    program = overall[overall["arm"] == PROGRAM_ARM].set_index("metric")
    return [
        [label, format_estimate(program.loc[metric], metric), _n(program, metric)]
        for metric, label in EFFECT_LABELS
    ]


def roi_rows(overall: pd.DataFrame) -> list[list[str]]:
    """List the ROI inputs in the order the formula uses them, the components, then the ROI."""
    program = overall[overall["arm"] == PROGRAM_ARM].set_index("metric")
    measures = [
        ("retention_365_diff", f"retention uplift at 365 days ({GIFTED} − {HOLDOUT})"),
        ("avg_contract_amount", "average contract amount (LTV proxy)"),
        ("roi_retention_value", "= retention value per gifted account"),
        ("expansion_rate_365_diff", "expansion uplift within 365 days"),
        ("avg_expansion_amount", "average expansion amount per expanding account"),
        ("roi_expansion_value", "= expansion value per gifted account"),
        ("referrals_per_account_diff", "referral uplift per account"),
        ("referral_value", "value per referral (parameter)"),
        ("roi_referral_value_gained", "= referral value per gifted account"),
        ("roi_value_per_gifted_account", "value gained per gifted account"),
        ("gift_spend_per_gifted_account", "gift spend per gifted account (ledger)"),
        ("roi_net_value_per_gifted_account", "net value per gifted account"),
        ("roi_program_value", "program value gained"),
        ("roi_program_spend", "program gift spend"),
        ("roi_program_net_value", "program net value"),
        ("roi", "ROI (estimate, bootstrap interval)"),
    ]
    return [
        [label, format_estimate(program.loc[metric], metric), _n(program, metric)]
        for metric, label in measures
    ]


def landmark_rows(overall: pd.DataFrame) -> list[list[str]]:
    """Return one row per landmark day: accounts entered and retention per exposure arm."""
    rows = []
    for day in LANDMARK_DAYS:
        metric = f"landmark_{day}_retention_365"
        row = [f"day {day}"]
        for arm in (GIFTED, NOT_GIFTED):
            cells = overall[(overall["arm"] == arm) & (overall["metric"] == metric)].iloc[0]
            row.extend([str(int(cells["n"])), format_estimate(cells, metric)])
        rows.append(row)
    return rows


def cohort_rows(metrics: pd.DataFrame, metric_names: list[str]) -> list[list[str]]:
    """Return one row per signing cohort × arm."""
    rows = []
    for cohort in sorted(set(metrics["cohort"]) - {ALL_COHORTS}):
        for arm in ARMS:
            cells = metrics[(metrics["cohort"] == cohort) & (metrics["arm"] == arm)]
            cells = cells.set_index("metric")
            row = [cohort, arm, str(int(cells.loc["accounts", "n"]))]
            row.extend(format_estimate(cells.loc[name], name) for name in metric_names)
            rows.append(row)
    return rows


def _n(rows: pd.DataFrame, metric: str) -> str:
    return str(int(rows.loc[metric, "n"]))


def format_estimate(row: pd.Series, metric: str) -> str:
    """Format a value with its interval, shares as percentages and a missing value as a dash."""
    if pd.isna(row["value"]):
        return "–"
    if metric in {"logrank_p", "srm_p"}:
        return f"{row['value']:.3g}"
    if metric == "roi":
        text = f"{row['value']:+.0%}"
        if pd.notna(row["ci_low"]) and pd.notna(row["ci_high"]):
            text += f" ({row['ci_low']:+.0%} to {row['ci_high']:+.0%})"
        return text
    text = _format_number(row["value"], metric)
    if pd.notna(row["ci_low"]) and pd.notna(row["ci_high"]):
        low, high = _format_number(row["ci_low"], metric), _format_number(row["ci_high"], metric)
        text += f" ({low} to {high})"
    return text


def _format_number(value: float, metric: str) -> str:
    if metric in PERCENT_METRICS:
        return f"{value:.1%}"
    if metric in DAY_METRICS:
        return f"{value:,.1f} d"
    if metric in COUNT_METRICS:
        return f"{value:,.0f}"
    return f"{value:,.2f}"
