"""The Great Expectations checks of the cohort report, on SQLite and PostgreSQL.

The checks must pass on a consistent warehouse and fail, naming the broken expectation, when a
rate, a count or the gift spend disagrees with the ledger. A failed check must stop the report
from storing its metrics.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, update

from gifting.cohorts import (
    AnalysisOptions,
    check_report,
    compute_cohort_metrics,
    load_account_cohorts,
    read_cohort_metrics,
)
from gifting.errors import DataQualityError
from gifting.report import build_report
from gifting.warehouse.schema import Gift
from tests.integration.test_cohort_report import AS_OF, _populate


def _report_inputs(engine: Engine) -> tuple[pd.DataFrame, pd.DataFrame]:
    _populate(engine)
    base = load_account_cohorts(engine, AS_OF)
    return compute_cohort_metrics(base, AS_OF), base


def _row(metrics: pd.DataFrame, arm: str, metric: str) -> pd.Index:
    return metrics.index[
        (metrics["cohort"] == "all") & (metrics["arm"] == arm) & (metrics["metric"] == metric)
    ]


def test_checks_pass_on_consistent_report(engine: Engine) -> None:
    metrics, base = _report_inputs(engine)
    result = check_report(engine, metrics, base, AS_OF)
    assert result.failures == []
    assert result.success


def test_checks_fail_on_rate_above_one(engine: Engine) -> None:
    metrics, base = _report_inputs(engine)
    metrics.loc[_row(metrics, "gifted", "churn_rate"), "value"] = 1.5

    result = check_report(engine, metrics, base, AS_OF)
    assert not result.success
    assert any("rates: expect_column_values_to_be_between" in line for line in result.failures)


def test_checks_fail_on_metric_spend(engine: Engine) -> None:
    metrics, base = _report_inputs(engine)
    metrics.loc[_row(metrics, "gifted", "gift_spend_total"), "value"] += 10.0

    result = check_report(engine, metrics, base, AS_OF)
    assert not result.success
    assert any("metric_spend_gap" in line for line in result.failures)


def test_checks_fail_on_base_spend(engine: Engine) -> None:
    metrics, base = _report_inputs(engine)
    base.loc[base["account_id"] == "G1", "gift_spend"] = 95.0

    result = check_report(engine, metrics, base, AS_OF)
    assert not result.success
    assert any("base_spend_gap" in line for line in result.failures)


def test_checks_fail_on_count_mismatch(engine: Engine) -> None:
    metrics, base = _report_inputs(engine)
    metrics.loc[_row(metrics, "holdout", "accounts"), "n"] = 3

    result = check_report(engine, metrics, base, AS_OF)
    assert not result.success
    assert any("metric_accounts" in line for line in result.failures)


def test_build_report_raises_on_negative_price(engine: Engine, tmp_path: Path) -> None:
    _populate(engine)
    with engine.begin() as connection:
        connection.execute(update(Gift).where(Gift.id == "g-1").values(price=-40))

    with pytest.raises(DataQualityError, match="gift_spend"):
        build_report(engine, AS_OF, tmp_path)
    assert read_cohort_metrics(engine, AS_OF).empty
    html = (tmp_path / "cohort_report.html").read_text(encoding="utf-8")
    assert "Data checks failed" in html


def test_build_report_summary_sections(engine: Engine, tmp_path: Path) -> None:
    _populate(engine)
    result = build_report(engine, AS_OF, tmp_path)

    assert result.summary["checks"] == {"success": True, "failures": []}
    assert result.summary["srm"]["assigned"] == 4
    assert result.summary["srm"]["observed_share"] == pytest.approx(0.5)
    assert set(result.summary["effects"]) >= {"rmst_365_diff", "roi", "avg_nps_diff"}
    html = result.html_path.read_text(encoding="utf-8")
    for heading in ("Sample-ratio check", "ROI breakdown", "Landmark analysis", "(observational)"):
        assert heading in html
    assert 'alt="Expansion within 365 days by arm"' in html
    assert "http://" not in html
    assert "https://" not in html


def test_srm_warning_in_html(engine: Engine, tmp_path: Path) -> None:
    _populate(engine)
    # Two of four assigned accounts are held out: against a 0.1 % share that is a mismatch.
    result = build_report(engine, AS_OF, tmp_path, options=AnalysisOptions(holdout_share=0.001))
    assert result.summary["srm"]["mismatch"]
    assert "Warning: sample-ratio mismatch" in result.html_path.read_text(encoding="utf-8")
