"""HTML rendering of the cohort report: one self-contained page with inline CSS and images."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from jinja2 import Environment

from gifting.cohorts.metrics import ALL_COHORTS, ARMS, GIFTED, HOLDOUT, PROGRAM_ARM
from gifting.report_plots import survival_curves_png

RETENTION_METRICS = ["retention_30", "retention_90", "retention_365", "churn_rate"]
OUTCOME_METRICS = ["expansion_rate_365", "avg_nps", "referral_rate", "gift_spend_per_account"]
COHORT_METRICS = ["retention_30", "retention_90", "retention_365"]
SHARE_METRICS = {
    *RETENTION_METRICS,
    "expansion_rate_365",
    "retention_365_diff",
    "expansion_rate_365_diff",
}

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Gift program cohort report, {{ as_of }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.7rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.note { background: #f4f1e8; border-left: 4px solid #c9a227; padding: 0.6rem 1rem; }
.empty { background: #eef2f7; padding: 1rem; font-weight: 600; }
</style>
</head>
<body>
<h1>Gift program cohort report</h1>
<p>As of {{ as_of }}. Accounts are grouped by the month of their first won contract.</p>
<p class="note"><strong>Study design.</strong> Gifted vs holdout is a <em>randomized</em>
comparison: holdout accounts were chosen at random and receive no gifts. Gifted vs not_gifted is
<em>observational</em>: those accounts were not chosen at random, so differences may come from
how they were selected rather than from the gifts.</p>
{% if not has_accounts %}
<p class="empty">No signed contracts yet as of {{ as_of }}, so there is nothing to compare.</p>
{% else %}
<h2>Retention (Kaplan–Meier, 95 % interval)</h2>
{% if survival_png %}
<img alt="Kaplan–Meier retention by arm" src="data:image/png;base64,{{ survival_png }}">
{% endif %}
{{ table(retention_rows, retention_headers) }}
<h2>Expansion, NPS and referrals</h2>
{{ table(outcome_rows, outcome_headers) }}
<h2>Program effect: gifted vs holdout (randomized)</h2>
{{ table(program_rows, ["measure", "value", "n"]) }}
<p>The ROI is an <strong>estimate</strong>: (retention uplift at 365 days × average contract
amount + expansion uplift × average expansion amount) per gifted account, divided by gift spend
per gifted account, minus 1. It treats the contract amount as the revenue a retained account
keeps and ignores the uncertainty of both uplifts.</p>
<h2>Retention by signing cohort</h2>
{{ table(cohort_rows, cohort_headers) }}
{% endif %}
</body>
</html>
"""

TABLE_MACRO = """{% macro table(rows, headers) -%}
<table><thead><tr>{% for header in headers %}<th>{{ header }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>
{%- endmacro %}"""


def render_report_html(
    accounts: pd.DataFrame, metrics: pd.DataFrame, summary: dict[str, Any], as_of: datetime
) -> str:
    """Render the report page from the base table (for the plot) and the metric rows."""
    environment = Environment(autoescape=True)
    template = environment.from_string(TABLE_MACRO + TEMPLATE)
    overall = metrics[metrics["cohort"] == ALL_COHORTS]
    has_accounts = sum(summary["accounts"].values()) > 0
    return template.render(
        as_of=as_of.strftime("%Y-%m-%d %H:%M UTC"),
        has_accounts=has_accounts,
        survival_png=survival_curves_png(accounts) if has_accounts else None,
        retention_headers=["arm", "accounts", *RETENTION_METRICS],
        retention_rows=_arm_rows(overall, RETENTION_METRICS),
        outcome_headers=["arm", "accounts", *OUTCOME_METRICS],
        outcome_rows=_arm_rows(overall, OUTCOME_METRICS),
        program_rows=_program_rows(overall),
        cohort_headers=["cohort", "arm", "accounts", *COHORT_METRICS],
        cohort_rows=_cohort_rows(metrics),
    )


def _arm_rows(overall: pd.DataFrame, metric_names: list[str]) -> list[list[str]]:
    rows = []
    for arm in ARMS:
        cells = overall[overall["arm"] == arm].set_index("metric")
        row = [arm, str(int(cells.loc["accounts", "n"]))]
        row.extend(format_estimate(cells.loc[name], name) for name in metric_names)
        rows.append(row)
    return rows


def _program_rows(overall: pd.DataFrame) -> list[list[str]]:
    """List the ROI inputs in the order the formula uses them, then the ROI itself."""
    program = overall[overall["arm"] == PROGRAM_ARM].set_index("metric")
    gifted = overall[overall["arm"] == GIFTED].set_index("metric")
    measures = [
        (program, "retention_365_diff", f"retention uplift at 365 days ({GIFTED} − {HOLDOUT})"),
        (program, "logrank_p", "log-rank test p-value"),
        (program, "avg_contract_amount", "average contract amount"),
        (program, "expansion_rate_365_diff", "expansion uplift within 365 days"),
        (program, "avg_expansion_amount", "average expansion amount"),
        (gifted, "gift_spend_per_account", "gift spend per gifted account"),
        (program, "roi", "ROI (estimate)"),
    ]
    return [
        [label, format_estimate(rows.loc[metric], metric), str(int(rows.loc[metric, "n"]))]
        for rows, metric, label in measures
    ]


def _cohort_rows(metrics: pd.DataFrame) -> list[list[str]]:
    rows = []
    for cohort in sorted(set(metrics["cohort"]) - {ALL_COHORTS}):
        for arm in ARMS:
            cells = metrics[(metrics["cohort"] == cohort) & (metrics["arm"] == arm)]
            cells = cells.set_index("metric")
            row = [cohort, arm, str(int(cells.loc["accounts", "n"]))]
            row.extend(format_estimate(cells.loc[name], name) for name in COHORT_METRICS)
            rows.append(row)
    return rows


def format_estimate(row: pd.Series, metric: str) -> str:
    """Format a value with its interval, shares as percentages and a missing value as a dash."""
    if pd.isna(row["value"]):
        return "–"
    if metric == "logrank_p":
        return f"{row['value']:.3f}"
    if metric == "roi":
        return f"{row['value']:+.0%}"
    text = _format_number(row["value"], metric)
    if pd.notna(row["ci_low"]) and pd.notna(row["ci_high"]):
        low, high = _format_number(row["ci_low"], metric), _format_number(row["ci_high"], metric)
        text += f" ({low} to {high})"
    return text


def _format_number(value: float, metric: str) -> str:
    if metric in SHARE_METRICS:
        return f"{value:.1%}"
    return f"{value:,.2f}"
