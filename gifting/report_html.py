"""HTML rendering of the cohort report: one self-contained page with inline CSS and images."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from jinja2 import Environment

from gifting.cohorts.metrics import ALL_COHORTS
from gifting.report_plots import (
    arm_comparison_png,
    engagement_png,
    roi_breakdown_png,
    survival_curves_png,
)
from gifting.report_tables import (
    arm_rows,
    cohort_rows,
    effect_rows,
    format_estimate,
    landmark_rows,
    roi_rows,
)

RETENTION_METRICS = ["retention_30", "retention_90", "retention_365", "rmst_365", "churn_rate"]
OUTCOME_METRICS = [
    "expansion_rate_365",
    "median_days_to_expansion",
    "avg_expansion_amount",
    "avg_nps",
    "referral_rate",
    "referrals_per_account",
]
ADVOCACY_METRICS = ["renewal_rate", "testimonial_rate", "case_study_rate"]
SPEND_METRICS = [
    "gift_spend_total",
    "gift_spend_per_account",
    "transfers_of_value",
    "transfer_of_value_spend",
]
ENGAGEMENT_METRICS = [
    "replies_per_30d",
    "meetings_per_30d",
    "support_cases_per_30d",
    "usage_per_30d",
]
COHORT_METRICS = ["retention_30", "retention_90", "retention_365"]

__all__ = ["format_estimate", "render_report_html"]

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
.warning { background: #fbe9e7; border-left: 4px solid #b5452f; padding: 0.6rem 1rem; }
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
<h2>Data checks</h2>
{% if checks.success %}<p>All data checks passed (Great Expectations): rates within [0, 1],
counts per arm equal in the base table and the metric rows, gift spend equal to the ledger.</p>
{% else %}<div class="warning"><strong>Data checks failed; these metrics were not stored.</strong>
<ul>{% for failure in checks.failures %}<li>{{ failure }}</li>{% endfor %}</ul></div>{% endif %}
{% if not has_accounts %}
<p class="empty">No signed contracts yet as of {{ as_of }}, so there is nothing to compare.</p>
{% else %}
<h2>Retention (Kaplan–Meier, 95 % interval)</h2>
{% if survival_png %}
<img alt="Kaplan–Meier retention by arm" src="data:image/png;base64,{{ survival_png }}">
{% endif %}
{{ table(retention_rows, retention_headers) }}
<p>RMST is the restricted mean survival time: the expected days retained out of the first 365.</p>
<h2>Expansion, NPS and referrals</h2>
{% for alt, png in outcome_pngs %}
<img alt="{{ alt }}" src="data:image/png;base64,{{ png }}">
{% endfor %}
{{ table(outcome_rows, outcome_headers) }}
<h2>Renewals, testimonials and case studies</h2>
{% for alt, png in advocacy_pngs %}
<img alt="{{ alt }}" src="data:image/png;base64,{{ png }}">
{% endfor %}
{{ table(advocacy_rows, advocacy_headers) }}
<p>The renewal rate counts accounts whose renewal is decided: they won a renewal deal
(opportunity.renewal_types) or ended by churn or notice not to renew, whichever came first. An
account that renewed and later ended counts as not renewed. Testimonial and case-study rates
are shares of all accounts. {{ advocacy_note }}</p>
{{ table(advocacy_cohort_rows, advocacy_cohort_headers) }}
<h2>Gift spend and transfers of value</h2>
{{ table(spend_rows, spend_headers) }}
<p>Transfers of value are sent gifts to healthcare professionals that must be disclosed; their
count and spend are part of the gift spend.</p>
{{ table(spend_cohort_rows, spend_cohort_headers) }}
<h2>Engagement per 30 days as a customer</h2>
{% if engagement_png %}
<img alt="Engagement per 30 days by arm" src="data:image/png;base64,{{ engagement_png }}">
{% endif %}
{{ table(engagement_rows, engagement_headers) }}
<p>Each rate is all events of an arm divided by its accounts' days as a customer (signing to
churn or to the report date), times 30. Replies are Task types listed under
engagement.reply_task_types in config/salesforce.yaml; meetings held are Events (meetings,
kickoffs, go-lives, QBRs) that took place by the report time; support cases count every case
opened. Intervals treat each account as a cluster. {{ usage_note }}</p>
<h2>Sample-ratio check of the holdout assignment</h2>
{% if srm.mismatch %}<p class="warning"><strong>Warning: sample-ratio mismatch.</strong>
{% else %}<p>{% endif %}
{{ srm.holdout }} of {{ srm.assigned }} assigned accounts are held out ({{ srm.observed }}),
against a configured share of {{ srm.expected }}; chi-square p = {{ srm.p_value }}.
{% if srm.mismatch %}A p-value below 0.001 means the assignment or the data is broken, so the
randomized comparison below cannot be trusted until it is explained.{% endif %}</p>
<h2>Program effect: gifted vs holdout (randomized)</h2>
{{ table(effect_rows, ["gifted − holdout", "value (95 % interval)", "n"]) }}
<p>Bootstrap intervals resample whole accounts within each arm ({{ resamples }} resamples,
fixed seed), so repeated runs on the same data give the same intervals.</p>
<h2>ROI breakdown</h2>
{% if roi_png %}
<img alt="ROI breakdown per gifted account" src="data:image/png;base64,{{ roi_png }}">
{% endif %}
{{ table(roi_rows, ["input or component", "value", "n"]) }}
<p>The ROI is an <strong>estimate</strong>: (retention uplift × average contract amount +
expansion uplift × average expansion amount + referral uplift × value per referral) per gifted
account, divided by gift spend per gifted account, minus 1. It treats the contract amount as
the revenue a retained account keeps for a year. {{ referral_note }}</p>
<h2>Landmark analysis: gifted vs not_gifted (observational)</h2>
<p class="note">This comparison is <strong>observational</strong>. Only accounts still active at
the landmark day enter, each classed by whether a gift was sent by that day, and retention to
day 365 is counted from the landmark. Surviving to a milestone is therefore not credited to its
gift, but accounts that got gifts may still differ in other ways.</p>
{{ table(landmark_rows, landmark_headers) }}
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
        checks=summary.get("checks", {"success": True, "failures": []}),
        survival_png=survival_curves_png(accounts) if has_accounts else None,
        retention_headers=["arm", "accounts", *RETENTION_METRICS],
        retention_rows=arm_rows(overall, RETENTION_METRICS),
        outcome_pngs=_outcome_pngs(metrics) if has_accounts else [],
        outcome_headers=["arm", "accounts", *OUTCOME_METRICS],
        outcome_rows=arm_rows(overall, OUTCOME_METRICS),
        advocacy_pngs=_advocacy_pngs(metrics) if has_accounts else [],
        advocacy_headers=["arm", "accounts", *ADVOCACY_METRICS],
        advocacy_rows=arm_rows(overall, ADVOCACY_METRICS),
        advocacy_note=_advocacy_note(summary.get("unmapped_outcomes", [])),
        advocacy_cohort_headers=["cohort", "arm", "accounts", *ADVOCACY_METRICS],
        advocacy_cohort_rows=cohort_rows(metrics, ADVOCACY_METRICS),
        spend_headers=["arm", "accounts", *SPEND_METRICS],
        spend_rows=arm_rows(overall, SPEND_METRICS),
        spend_cohort_headers=["cohort", "arm", "accounts", *SPEND_METRICS],
        spend_cohort_rows=cohort_rows(metrics, SPEND_METRICS),
        engagement_png=engagement_png(metrics) if has_accounts else None,
        engagement_headers=["arm", "accounts", *ENGAGEMENT_METRICS],
        engagement_rows=arm_rows(overall, ENGAGEMENT_METRICS),
        usage_note=_usage_note(overall),
        roi_png=roi_breakdown_png(metrics) if has_accounts else None,
        srm=_sample_ratio_cells(summary["srm"]),
        effect_rows=effect_rows(overall),
        resamples=summary.get("bootstrap_resamples", "–"),
        roi_rows=roi_rows(overall),
        referral_note=_referral_note(overall),
        landmark_headers=["landmark", "gifted n", "gifted", "not_gifted n", "not_gifted"],
        landmark_rows=landmark_rows(overall),
        cohort_headers=["cohort", "arm", "accounts", *COHORT_METRICS],
        cohort_rows=cohort_rows(metrics, COHORT_METRICS),
    )


def _outcome_pngs(metrics: pd.DataFrame) -> list[tuple[str, str]]:
    plots = [
        ("Expansion within 365 days by arm", "expansion_rate_365", "share expanded in 365 days"),
        ("Mean NPS answer by arm", "avg_nps", "mean NPS answer (0–10)"),
    ]
    pngs = [(alt, arm_comparison_png(metrics, metric, label)) for alt, metric, label in plots]
    return [(alt, png) for alt, png in pngs if png is not None]


def _advocacy_pngs(metrics: pd.DataFrame) -> list[tuple[str, str]]:
    plots = [
        ("Renewal rate by arm", "renewal_rate", "share of decided accounts renewed"),
        ("Testimonial rate by arm", "testimonial_rate", "share that gave a testimonial"),
    ]
    pngs = [(alt, arm_comparison_png(metrics, metric, label)) for alt, metric, label in plots]
    return [(alt, png) for alt, png in pngs if png is not None]


def _sample_ratio_cells(srm: dict[str, Any]) -> dict[str, Any]:
    def percent(value: float | None) -> str:
        return "–" if value is None else f"{value:.1%}"

    observed = srm["observed_share"]
    return {
        "assigned": srm["assigned"],
        "holdout": round(observed * srm["assigned"]) if observed is not None else 0,
        "observed": percent(observed),
        "expected": percent(srm["expected_share"]),
        "p_value": "–" if srm["p_value"] is None else f"{srm['p_value']:.3g}",
        "mismatch": srm["mismatch"],
    }


def _referral_note(overall: pd.DataFrame) -> str:
    row = overall[overall["metric"] == "referral_value"]
    if row.empty or not row["value"].iloc[0]:
        return (
            "Referrals are excluded from the ROI because no value per referral was set "
            "(pass referral_value to include them)."
        )
    return f"Each referral is valued at {row['value'].iloc[0]:,.2f}, as passed to the report."


def _usage_note(overall: pd.DataFrame) -> str:
    measured = overall[overall["metric"] == "usage_per_30d"]["n"].sum() > 0
    if measured:
        return "Product usage sums the value column of the usage table set under report.usage."
    return (
        "Product usage is not measured, because no usage table is set under report.usage in "
        "config/program.yaml."
    )


_UNMAPPED_NOTES = {
    "renewal": "Renewals are not measured, because opportunity.renewal_types is empty",
    "testimonial": "Testimonials are not measured, because account.testimonial is null",
    "case_study": "Case studies are not measured, because account.case_study is null",
}


def _advocacy_note(unmapped: list[str]) -> str:
    """Name each optional outcome the field mapping leaves out, so a dash is not read as zero."""
    return " ".join(f"{_UNMAPPED_NOTES[kind]} in config/salesforce.yaml." for kind in unmapped)
