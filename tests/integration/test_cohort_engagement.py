"""Engagement outcomes of the cohort report from a real warehouse, on SQLite and PostgreSQL.

Replies and meetings come from the activities table, support cases from the cases table, and
product usage from a usage table that the operator names in config/program.yaml. Each counts
only from the signing day to the report time. The rates reach the stored metric rows, the CSV
export and the HTML page.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, insert, text

from gifting.cohorts import AnalysisOptions, load_account_cohorts
from gifting.config import UsageTableConfig
from gifting.errors import ConfigurationError
from gifting.report import build_report
from gifting.salesforce.config import EngagementConfig
from gifting.warehouse.schema import Activity, SupportCase
from tests.integration.test_cohort_report import AS_OF, SYNCED, _populate

USAGE_TABLE = "product_usage_engagement_test"
USAGE = UsageTableConfig(table=USAGE_TABLE, value_column="events")


def _activity(
    activity_id: str, account_id: str, kind: str, day: date, *, deleted: bool = False
) -> dict[str, object]:
    return {
        "id": activity_id,
        "account_id": account_id,
        "kind": kind,
        "occurred_at": datetime.combine(day, datetime.min.time()).replace(hour=15),
        "is_deleted": deleted,
        "system_modstamp": SYNCED,
    }


def _case(case_id: str, account_id: str, day: date, *, deleted: bool = False) -> dict[str, object]:
    return {
        "id": case_id,
        "account_id": account_id,
        "opened_at": datetime.combine(day, datetime.min.time()).replace(hour=11),
        "is_deleted": deleted,
        "system_modstamp": SYNCED,
    }


@pytest.fixture
def engaged(engine: Engine) -> Iterator[Engine]:
    """The six accounts of ``_populate`` with activities, cases and a usage table.

    G1 (signed 2025-01-10): one reply, one meeting and one case counted; an email before signing
    and a deleted email are not. G2 (signed 2025-02-05): a QBR counted; a kickoff after the
    report time is not. H1 (signed 2025-01-20): one reply and two cases. H2: a deleted case.
    Usage: G1 5 (10 before signing left out), G2 7 (100 after the report date left out), H1 3.
    """
    _populate(engine)
    activities = [
        _activity("00T-1", "G1", "email", date(2025, 2, 1)),
        _activity("00T-2", "G1", "email", date(2024, 12, 1)),
        _activity("00T-3", "G1", "call", date(2025, 3, 1)),
        _activity("00T-4", "G1", "meeting", date(2025, 3, 5)),
        _activity("00T-5", "G1", "email", date(2025, 3, 6), deleted=True),
        _activity("00T-6", "G2", "qbr", date(2025, 5, 5)),
        _activity("00T-7", "G2", "kickoff", date(2026, 4, 1)),
        _activity("00T-8", "H1", "email", date(2025, 2, 2)),
    ]
    cases = [
        _case("500-1", "G1", date(2025, 2, 10)),
        _case("500-2", "H1", date(2025, 3, 1)),
        _case("500-3", "H1", date(2025, 4, 1)),
        _case("500-4", "H2", date(2026, 1, 20), deleted=True),
    ]
    usage = [
        ("G1", date(2025, 1, 5), 10),
        ("G1", date(2025, 2, 1), 5),
        ("G2", date(2025, 3, 1), 7),
        ("G2", date(2026, 3, 5), 100),
        ("H1", date(2025, 2, 1), 3),
    ]
    with engine.begin() as connection:
        connection.execute(insert(Activity), activities)
        connection.execute(insert(SupportCase), cases)
        connection.execute(
            text(
                f"create table {USAGE_TABLE} "
                "(account_id varchar(18), usage_date date, events integer)"
            )
        )
        connection.execute(
            text(f"insert into {USAGE_TABLE} values (:account, :day, :events)"),
            [{"account": account, "day": day, "events": events} for account, day, events in usage],
        )
    yield engine
    with engine.begin() as connection:
        connection.execute(text(f"drop table {USAGE_TABLE}"))


def _options(**overrides: object) -> AnalysisOptions:
    settings: dict[str, object] = {"usage": USAGE, "bootstrap_resamples": 20}
    settings.update(overrides)
    return AnalysisOptions(**settings)  # type: ignore[arg-type]


def test_base_table_engagement_counts(engaged: Engine) -> None:
    rows = load_account_cohorts(engaged, AS_OF, _options()).set_index("account_id")

    assert rows["replies"].to_dict() == {"G1": 1, "G2": 0, "H1": 1, "H2": 0, "N1": 0}
    assert rows["meetings"].to_dict() == {"G1": 1, "G2": 1, "H1": 0, "H2": 0, "N1": 0}
    assert rows["support_cases"].to_dict() == {"G1": 1, "G2": 0, "H1": 2, "H2": 0, "N1": 0}
    assert rows["usage"].to_dict() == {"G1": 5.0, "G2": 7.0, "H1": 3.0, "H2": 0.0, "N1": 0.0}


def test_reply_types_from_mapping(engaged: Engine) -> None:
    calls = EngagementConfig(reply_task_types=["Call", "Email"])
    rows = load_account_cohorts(engaged, AS_OF, _options(reply_kinds=calls.reply_kinds))
    assert rows.set_index("account_id").loc["G1", "replies"] == 2


def test_usage_left_out_without_table(engaged: Engine) -> None:
    rows = load_account_cohorts(engaged, AS_OF, _options(usage=None))
    assert rows["usage"].isna().all()


def test_missing_usage_table_names_setting(engaged: Engine) -> None:
    missing = UsageTableConfig(table="no_such_usage", value_column="events")
    with pytest.raises(ConfigurationError, match=r"no_such_usage.*report\.usage"):
        load_account_cohorts(engaged, AS_OF, _options(usage=missing))


def test_report_engagement_rows_csv_html(engaged: Engine, tmp_path: Path) -> None:
    result = build_report(engaged, AS_OF, tmp_path, options=_options())

    exported = pd.read_csv(result.csv_path)
    overall = exported[exported["cohort"] == "all"].set_index(["arm", "metric"])
    # Gifted: G1 (142 days) and G2 (389 days) held 2 meetings in 531 customer-days.
    assert overall.loc[("gifted", "meetings_per_30d"), "value"] == pytest.approx(2 / 531 * 30)
    # Holdout: H1 (405 days) and H2 (0 days) opened 2 cases in 405 customer-days.
    assert overall.loc[("holdout", "support_cases_per_30d"), "value"] == pytest.approx(2 / 405 * 30)
    assert overall.loc[("gifted", "usage_per_30d"), "value"] == pytest.approx(12 / 531 * 30)
    assert ("program", "replies_per_30d_diff") in overall.index
    assert set(result.summary["effects"]) >= {"meetings_per_30d_diff", "usage_per_30d_diff"}

    html = result.html_path.read_text(encoding="utf-8")
    assert "Engagement per 30 days as a customer" in html
    assert 'alt="Engagement per 30 days by arm"' in html
    assert "meetings held per 30 days as a customer" in html
    assert "Product usage is not measured" not in html


def test_report_without_usage_says_so(engaged: Engine, tmp_path: Path) -> None:
    result = build_report(engaged, AS_OF, tmp_path, options=_options(usage=None))
    html = result.html_path.read_text(encoding="utf-8")
    assert "Product usage is not measured" in html
