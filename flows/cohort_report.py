"""Deployment ``cohort-report``: the nightly retention and ROI report."""

from __future__ import annotations

from datetime import datetime

from prefect import flow

from flows.runtime import open_runtime, resolve_as_of
from tasks.report import cohort_report as build_cohort_report


@flow(name="cohort-report")
def cohort_report(as_of: datetime | None = None) -> dict[str, object]:
    """Compute gifted vs holdout vs not-gifted retention and write the HTML report."""
    with open_runtime() as runtime:
        return build_cohort_report(runtime, resolve_as_of(as_of))
