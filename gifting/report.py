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
    PROGRAM_ARM,
    AnalysisOptions,
    CheckResult,
    check_report,
    compute_cohort_metrics,
    load_account_cohorts,
    write_cohort_metrics,
)
from gifting.cohorts.metrics import RETENTION_DAYS, naive_utc
from gifting.cohorts.randomized import SRM_ALPHA
from gifting.errors import DataQualityError
from gifting.report_html import render_report_html

logger = logging.getLogger(__name__)

HTML_NAME = "cohort_report.html"
CSV_NAME = "cohort_metrics.csv"
EFFECT_METRICS = (
    "retention_365_diff",
    "rmst_365_diff",
    "expansion_rate_365_diff",
    "avg_nps_diff",
    "referrals_per_account_diff",
    "renewal_rate_diff",
    "testimonial_rate_diff",
    "case_study_rate_diff",
    "replies_per_30d_diff",
    "meetings_per_30d_diff",
    "support_cases_per_30d_diff",
    "usage_per_30d_diff",
    "roi",
)


@dataclass
class ReportResult:
    """Paths and contents of one report run.

    Attributes:
        html_path: The self-contained HTML report.
        csv_path: The metric rows as CSV, the same rows stored in ``cohort_metrics``.
        metrics: One row per cohort × arm × metric.
        summary: Account counts and retention per arm for the ``all`` cohort, the program
            effects, the sample-ratio check and the data checks; see ``summarize_metrics``.
    """

    html_path: Path
    csv_path: Path
    metrics: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


def build_report(
    engine: Engine,
    as_of: datetime,
    output_dir: Path,
    *,
    options: AnalysisOptions | None = None,
) -> ReportResult:
    """Compute the cohort metrics as of ``as_of``, check them, and write the CSV and HTML files.

    The metrics are stored only when every data check passes, and storing replaces earlier rows
    for the same ``as_of``, so a re-run of a night is safe. The CSV and HTML files are written
    either way, so the failed checks can be read in the page. An empty warehouse still produces
    both files, and the HTML page states that nothing is signed yet.

    Raises:
        DataQualityError: A check failed; the message names each failed expectation.
    """
    stamp = naive_utc(as_of)
    accounts = load_account_cohorts(engine, stamp, options)
    metrics = compute_cohort_metrics(accounts, stamp, options)
    checks = check_report(engine, metrics, accounts, stamp)
    if checks.success:
        write_cohort_metrics(engine, metrics)

    output_dir.mkdir(parents=True, exist_ok=True)
    csv_path = output_dir / CSV_NAME
    metrics.to_csv(csv_path, index=False, date_format="%Y-%m-%dT%H:%M:%S")
    options = options or AnalysisOptions()
    summary = summarize_metrics(metrics, checks, options.bootstrap_resamples)
    summary["unmapped_outcomes"] = list(options.unmapped_outcomes)
    html_path = output_dir / HTML_NAME
    html_path.write_text(render_report_html(accounts, metrics, summary, stamp), encoding="utf-8")
    logger.info("wrote cohort report for %s accounts to %s", len(accounts), output_dir)
    if not checks.success:
        raise DataQualityError(
            f"cohort report as of {stamp} failed {len(checks.failures)} data checks, so its "
            f"metrics were not stored; see {html_path}: " + "; ".join(checks.failures)
        )
    return ReportResult(html_path=html_path, csv_path=csv_path, metrics=metrics, summary=summary)


def summarize_metrics(
    metrics: pd.DataFrame, checks: CheckResult | None = None, resamples: int | None = None
) -> dict[str, Any]:
    """Pick the headline numbers of the ``all`` cohort.

    Returns ``{"accounts": {arm: count}, "retention": {arm: {"retention_30": value, ...}},
    "effects": {metric: {"value", "ci_low", "ci_high"}}, "srm": {...}, "checks": {...}}``,
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
    program = overall[overall["arm"] == PROGRAM_ARM].set_index("metric")
    summary: dict[str, Any] = {"accounts": accounts, "retention": retention}
    summary["effects"] = {metric: _interval(program.loc[metric]) for metric in EFFECT_METRICS}
    summary["srm"] = _sample_ratio_summary(program)
    summary["bootstrap_resamples"] = resamples
    if checks is not None:
        summary["checks"] = {"success": checks.success, "failures": list(checks.failures)}
    return summary


def _sample_ratio_summary(program: pd.DataFrame) -> dict[str, Any]:
    p_value = _value_or_none(program.loc["srm_p", "value"])
    return {
        "assigned": int(program.loc["srm_p", "n"]),
        "observed_share": _value_or_none(program.loc["holdout_share", "value"]),
        "expected_share": _value_or_none(program.loc["holdout_share_expected", "value"]),
        "p_value": p_value,
        "mismatch": p_value is not None and p_value < SRM_ALPHA,
    }


def _interval(row: pd.Series) -> dict[str, float | None]:
    return {key: _value_or_none(row[key]) for key in ("value", "ci_low", "ci_high")}


def _value_or_none(value: object) -> float | None:
    return None if pd.isna(value) else float(value)  # type: ignore[arg-type]


SPEND_METRICS = (
    "gift_spend_total",
    "transfers_of_value",
    "transfer_of_value_spend",
)


def spend_rows(metrics: pd.DataFrame) -> list[dict[str, Any]]:
    """Return one row per cohort × arm with gift spend and transfers of value, for an artifact."""
    selected = metrics[metrics["metric"].isin(SPEND_METRICS)]
    if selected.empty:
        return []
    wide = selected.pivot_table(
        index=["cohort", "arm"], columns="metric", values="value", aggfunc="first", dropna=False
    )
    rows = []
    for (cohort, arm), values in wide.iterrows():
        row: dict[str, Any] = {"cohort": cohort, "arm": arm}
        row.update({metric: _value_or_none(values.get(metric)) for metric in SPEND_METRICS})
        rows.append(row)
    return rows


MARKDOWN_EFFECTS = {
    "retention_365_diff": "Retention at 365 days",
    "expansion_rate_365_diff": "Expansion within 365 days",
    "avg_nps_diff": "Mean NPS answer",
    "renewal_rate_diff": "Renewal rate",
    "testimonial_rate_diff": "Testimonial rate",
    "case_study_rate_diff": "Case-study rate",
    "meetings_per_30d_diff": "Meetings held per 30 days",
    "support_cases_per_30d_diff": "Support cases per 30 days",
    "roi": "ROI (estimate)",
}


def report_markdown(summary: dict[str, Any], as_of: datetime, html_path: Path) -> str:
    """Write the headline numbers of a report run as Markdown, for a Prefect artifact."""
    lines = [f"# Cohort report as of {as_of:%Y-%m-%d}", ""]
    accounts = summary.get("accounts", {})
    lines += ["| arm | accounts |", "|---|---|"]
    lines += [f"| {arm} | {count} |" for arm, count in accounts.items()]
    lines += ["", "## Gifted − holdout (randomized)", "", "| effect | value | 95 % interval |"]
    lines.append("|---|---|---|")
    effects = summary.get("effects", {})
    for metric, label in MARKDOWN_EFFECTS.items():
        values = effects.get(metric, {})
        interval = "–"
        if values.get("ci_low") is not None and values.get("ci_high") is not None:
            interval = f"{values['ci_low']:.3g} to {values['ci_high']:.3g}"
        value = "–" if values.get("value") is None else f"{values['value']:.3g}"
        lines.append(f"| {label} | {value} | {interval} |")
    srm = summary.get("srm", {})
    checks = summary.get("checks", {"success": True, "failures": []})
    lines.append("")
    if srm.get("mismatch"):
        lines.append(
            f"**Sample-ratio mismatch** (p = {srm['p_value']:.3g}): do not trust the effects."
        )
    lines.append("All data checks passed." if checks["success"] else "**Data checks failed.**")
    lines += ["", f"Full report: `{html_path}`"]
    return "\n".join(lines) + "\n"
