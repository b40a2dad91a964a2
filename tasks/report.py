"""Task that computes the cohort report and publishes it as Prefect artifacts."""

from __future__ import annotations

from datetime import datetime

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE

from gifting.cohorts.program import AnalysisOptions
from gifting.report import build_report, report_markdown, spend_rows
from gifting.runtime import Runtime
from tasks.policy import retry_transient


@task(
    name="cohort-report",
    retries=1,
    retry_delay_seconds=30,
    cache_policy=NONE,
    retry_condition_fn=retry_transient,
    tags=["report"],
)
def cohort_report(runtime: Runtime, as_of: datetime) -> dict[str, object]:
    """Compute retention by signing cohort and arm, write the HTML report and the artifacts."""
    options = AnalysisOptions(
        holdout_share=runtime.program.holdout.share,
        reply_kinds=runtime.salesforce_mapping.engagement.reply_kinds,
        usage=runtime.program.report.usage,
        unmapped_outcomes=runtime.salesforce_mapping.unmapped_outcomes,
    )
    result = build_report(runtime.engine, as_of, runtime.report_dir, options=options)
    accounts = result.summary.get("accounts", {})
    rows = [
        {"arm": arm, "accounts": accounts.get(arm, 0), **values}
        for arm, values in result.summary.get("retention", {}).items()
    ]
    if rows:
        create_table_artifact(
            key="cohort-retention", table=rows, description="Retention by arm, all cohorts"
        )
    effects = [
        {"effect": name, **values} for name, values in result.summary.get("effects", {}).items()
    ]
    if effects:
        create_table_artifact(
            key="cohort-effects",
            table=effects,
            description="Gifted minus holdout effects with 95 % intervals, and the ROI",
        )
    spend = spend_rows(result.metrics)
    if spend:
        create_table_artifact(
            key="cohort-spend",
            table=spend,
            description="Gift spend and transfers of value per signing cohort and arm",
        )
    create_markdown_artifact(
        key="cohort-report",
        markdown=report_markdown(result.summary, as_of, result.html_path),
        description="Headline numbers of the nightly report and where it was written",
    )
    get_run_logger().info("cohort report written to %s", result.html_path)
    return {
        "html_path": str(result.html_path),
        "csv_path": str(result.csv_path),
        "summary": result.summary,
    }
