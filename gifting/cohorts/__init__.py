"""Nightly cohort analysis: gifted accounts against the randomized holdout.

``load_account_cohorts`` builds one row per signed account from the warehouse,
``compute_cohort_metrics`` turns it into one row per cohort × arm × metric, and
``write_cohort_metrics`` stores those rows in ``cohort_metrics``.
"""

from gifting.cohorts.base import load_account_cohorts, read_cohort_metrics, write_cohort_metrics
from gifting.cohorts.metrics import (
    ALL_COHORTS,
    ARMS,
    GIFTED,
    HOLDOUT,
    NOT_GIFTED,
    PROGRAM_ARM,
    assign_arms,
    compute_cohort_metrics,
    estimate_roi,
    kaplan_meier,
)

__all__ = [
    "ALL_COHORTS",
    "ARMS",
    "GIFTED",
    "HOLDOUT",
    "NOT_GIFTED",
    "PROGRAM_ARM",
    "assign_arms",
    "compute_cohort_metrics",
    "estimate_roi",
    "kaplan_meier",
    "load_account_cohorts",
    "read_cohort_metrics",
    "write_cohort_metrics",
]
