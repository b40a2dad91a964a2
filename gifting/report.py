"""The nightly cohort report: metrics stored in the warehouse, a CSV export and one HTML page.

The HTML page is self-contained (inline CSS, plots as base64 PNG), so it can be mailed or
archived and opened without network access.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from gifting.cohorts import (
    ALL_COHORTS,
    ARMS,
    compute_cohort_metrics,
    load_account_cohorts,
    write_cohort_metrics,
)
from gifting.cohorts.metrics import RETENTION_DAYS, naive_utc
from gifting.report_html import render_report_html

logger = logging.getLogger(__name__)

HTML_NAME = "cohort_report.html"
CSV_NAME = "cohort_metrics.csv"


@dataclass
class ReportResult:
    """Paths and contents of one report run.

    Attributes:
        html_path: The self-contained HTML report.
        csv_path: The metric rows as CSV, the same rows stored in ``cohort_metrics``.
        metrics: One row per cohort × arm × metric.
        summary: Account counts per arm and retention at 30, 90 and 365 days per arm, for
            the ``all`` cohort; see ``summarize_metrics``.
    """

    html_path: Path
    csv_path: Path
    metrics: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


def build_report(engine: Engine, as_of: datetime, output_dir: Path) -> ReportResult:
    """Compute the cohort metrics as of ``as_of``, store them, and write the CSV and HTML files.

    Storing replaces earlier rows for the same ``as_of``, so a re-run of a night is safe. An
    empty warehouse still produces both files, and the HTML page states that nothing is signed yet.
    """
    stamp = naive_utc(as_of)
    accounts = load_account_cohorts(engine, stamp)
    metrics = compute_cohort_metrics(accounts, stamp)
    write_cohort_metrics(engine, metrics)

    output_dir.mkdir(parents=True, exist_ok=True)
    csv_path = output_dir / CSV_NAME
    metrics.to_csv(csv_path, index=False, date_format="%Y-%m-%dT%H:%M:%S")
    summary = summarize_metrics(metrics)
    html_path = output_dir / HTML_NAME
    html_path.write_text(render_report_html(accounts, metrics, summary, stamp), encoding="utf-8")
    logger.info("wrote cohort report for %s accounts to %s", len(accounts), output_dir)
    return ReportResult(html_path=html_path, csv_path=csv_path, metrics=metrics, summary=summary)


def summarize_metrics(metrics: pd.DataFrame) -> dict[str, Any]:
    """Pick the headline numbers of the ``all`` cohort.

    Returns ``{"accounts": {arm: count}, "retention": {arm: {"retention_30": value, ...}}}``,
    with None where a value could not be estimated.
    """
    overall = metrics[metrics["cohort"] == ALL_COHORTS]
    accounts: dict[str, int] = {}
    retention: dict[str, dict[str, float | None]] = {}
    for arm in ARMS:
        rows = overall[overall["arm"] == arm].set_index("metric")
        accounts[arm] = int(rows.loc["accounts", "n"])
        retention[arm] = {
            f"retention_{day}": _value_or_none(rows.loc[f"retention_{day}", "value"])
            for day in RETENTION_DAYS
        }
    return {"accounts": accounts, "retention": retention}


def _value_or_none(value: object) -> float | None:
    return None if pd.isna(value) else float(value)  # type: ignore[arg-type]
