"""Nightly cohort analysis: gifted accounts against the randomized holdout.

``load_account_cohorts`` builds one row per signed account from the warehouse,
``compute_cohort_metrics`` turns it into one row per cohort × arm × metric,
``check_report`` validates both against the gift ledger, and ``write_cohort_metrics`` stores
the rows in ``cohort_metrics``.
"""

from gifting.cohorts.arms import (
    ALL_COHORTS,
    ARMS,
    GIFTED,
    HOLDOUT,
    NOT_GIFTED,
    PROGRAM_ARM,
    assign_arms,
)
from gifting.cohorts.base import load_account_cohorts, read_cohort_metrics, write_cohort_metrics
from gifting.cohorts.checks import CheckResult, check_report
from gifting.cohorts.metrics import compute_cohort_metrics
from gifting.cohorts.program import AnalysisOptions
from gifting.cohorts.roi import estimate_roi
from gifting.cohorts.survival import kaplan_meier

__all__ = [
    "ALL_COHORTS",
    "ARMS",
    "GIFTED",
    "HOLDOUT",
    "NOT_GIFTED",
    "PROGRAM_ARM",
    "AnalysisOptions",
    "CheckResult",
    "assign_arms",
    "check_report",
    "compute_cohort_metrics",
    "estimate_roi",
    "kaplan_meier",
    "load_account_cohorts",
    "read_cohort_metrics",
    "write_cohort_metrics",
]
