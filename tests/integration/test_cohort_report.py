"""The nightly cohort report on a real warehouse, on SQLite and PostgreSQL.

The SQL base table does the date filtering and aggregation that the metrics rely on, and both
backends must agree on it. A re-run for the same night must replace its rows, not add to them.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, insert, select

from gifting.cohorts import load_account_cohorts, read_cohort_metrics
from gifting.report import build_report
from gifting.warehouse.schema import Account, CohortMetric, Contract, Gift, Outcome

AS_OF = datetime(2026, 3, 1, 2, 0)
SYNCED = datetime(2026, 2, 28, 23, 0)


def _account(account_id: str, holdout: bool | None) -> dict[str, object]:
    return {
        "id": account_id,
        "name": f"Account {account_id}",
        "holdout": holdout,
        "system_modstamp": SYNCED,
        "synced_at": SYNCED,
    }


def _contract(
    contract_id: str, account_id: str, signed_on: date, amount: float, status: str = "won"
) -> dict[str, object]:
    return {
        "id": contract_id,
        "account_id": account_id,
        "name": f"Deal {contract_id}",
        "amount": amount,
        "signed_on": signed_on,
        "status": status,
        "first_seen_at": SYNCED,
        "system_modstamp": SYNCED,
        "synced_at": SYNCED,
    }


def _gift(
    gift_id: str,
    contract_id: str,
    account_id: str,
    status: str,
    price: float | None,
    stage: str = "first_week",
    sent_at: datetime | None = None,
) -> dict[str, object]:
    return {
        "id": gift_id,
        "contract_id": contract_id,
        "stage": stage,
        "account_id": account_id,
        "status": status,
        "due_at": SYNCED,
        "window_ends_at": SYNCED,
        "budget_min": 20,
        "budget_max": 80,
        "price": price,
        "sent_at": sent_at,
        "created_at": SYNCED,
        "updated_at": SYNCED,
    }


def _outcome(
    outcome_id: str,
    account_id: str,
    kind: str,
    occurred_on: date | None,
    amount: float | None = None,
    score: float | None = None,
) -> dict[str, object]:
    return {
        "id": outcome_id,
        "account_id": account_id,
        "kind": kind,
        "occurred_on": occurred_on,
        "amount": amount,
        "score": score,
        "synced_at": SYNCED,
    }


def _populate(engine: Engine) -> None:
    """Insert six accounts that exercise every rule of the base table.

    G1  gifted, signed 2025-01-10, churned 2025-06-01 (142 days), one sent and one failed gift.
    G2  gifted, signed 2025-02-05 (an earlier lost deal does not count), delivered gift,
        expanded 2025-09-01, NPS 9 and 7, two referrals; censored at 389 days.
    H1  holdout, signed 2025-01-20, churns 2026-05-01, after as_of, so censored at 405 days.
    H2  holdout with a gift sent by mistake, signed 2026-01-15, churned the same day (0 days).
    N1  not gifted (only a planned gift), signed 2025-02-25; censored at 369 days.
    X1  signed after as_of: not in the report.
    """
    accounts = [
        _account("G1", False),
        _account("G2", False),
        _account("H1", True),
        _account("H2", True),
        _account("N1", None),
        _account("X1", False),
    ]
    contracts = [
        _contract("C-G1", "G1", date(2025, 1, 10), 12_000),
        _contract("C-G1b", "G1", date(2025, 3, 1), 3_000),
        _contract("C-G2lost", "G2", date(2024, 12, 1), 9_000, status="lost"),
        _contract("C-G2", "G2", date(2025, 2, 5), 24_000),
        _contract("C-H1", "H1", date(2025, 1, 20), 10_000),
        _contract("C-H2", "H2", date(2026, 1, 15), 8_000),
        _contract("C-N1", "N1", date(2025, 2, 25), 6_000),
        _contract("C-X1", "X1", date(2026, 3, 15), 5_000),
    ]
    gifts = [
        _gift("g-1", "C-G1", "G1", "sent", 40.0, sent_at=datetime(2025, 1, 17, 9)),
        _gift("g-2", "C-G1", "G1", "failed", 55.0, stage="first_month"),
        _gift("g-3", "C-G2", "G2", "delivered", 60.0, sent_at=datetime(2025, 2, 12, 9)),
        _gift("g-4", "C-H2", "H2", "sent", 30.0, sent_at=datetime(2026, 1, 20, 9)),
        _gift("g-5", "C-N1", "N1", "planned", None),
        _gift("g-6", "C-X1", "X1", "sent", 45.0, sent_at=datetime(2026, 3, 20, 9)),
    ]
    outcomes = [
        _outcome("o-1", "G1", "churn", date(2025, 6, 1)),
        _outcome("o-2", "G2", "expansion", date(2025, 9, 1), amount=6_000),
        _outcome("o-3", "G2", "nps", date(2025, 5, 1), score=9),
        _outcome("o-4", "G2", "nps", date(2025, 11, 1), score=7),
        _outcome("o-5", "G2", "referral", date(2025, 7, 1), score=2),
        _outcome("o-6", "H1", "churn", date(2026, 5, 1)),
        _outcome("o-7", "H2", "churn", date(2026, 1, 15)),
    ]
    with engine.begin() as connection:
        connection.execute(insert(Account), accounts)
        connection.execute(insert(Contract), contracts)
        connection.execute(insert(Gift), gifts)
        connection.execute(insert(Outcome), outcomes)


def _by_account(frame: pd.DataFrame) -> dict[str, dict[str, object]]:
    return frame.set_index("account_id").to_dict("index")


def test_base_table_arms_and_durations(engine: Engine) -> None:
    _populate(engine)
    rows = _by_account(load_account_cohorts(engine, AS_OF))

    assert sorted(rows) == ["G1", "G2", "H1", "H2", "N1"]
    arms = {account_id: row["arm"] for account_id, row in rows.items()}
    assert arms == {
        "G1": "gifted",
        "G2": "gifted",
        "H1": "holdout",
        "H2": "holdout",
        "N1": "not_gifted",
    }
    assert rows["G1"]["cohort"] == "2025-01"
    assert rows["G2"]["cohort"] == "2025-02"
    assert rows["G2"]["signed_on"] == date(2025, 2, 5)


def test_base_table_churn_and_censoring(engine: Engine) -> None:
    _populate(engine)
    rows = _by_account(load_account_cohorts(engine, AS_OF))

    expected = {"G1": (142, 1), "G2": (389, 0), "H1": (405, 0), "H2": (0, 1), "N1": (369, 0)}
    observed = {
        account_id: (row["duration_days"], row["churned"]) for account_id, row in rows.items()
    }
    assert observed == expected


def test_base_table_outcomes_and_spend(engine: Engine) -> None:
    _populate(engine)
    rows = _by_account(load_account_cohorts(engine, AS_OF))

    assert rows["G1"]["gift_spend"] == pytest.approx(40.0)
    assert rows["G1"]["gifts_sent"] == 1
    assert rows["G1"]["contract_amount"] == pytest.approx(15_000)
    assert rows["G2"]["gift_spend"] == pytest.approx(60.0)
    assert rows["G2"]["expanded_within_365"] == 1
    assert rows["G2"]["expansion_amount"] == pytest.approx(6_000)
    assert rows["G2"]["nps"] == pytest.approx(8.0)
    assert rows["G2"]["referrals"] == pytest.approx(2.0)
    assert rows["N1"]["gift_spend"] == 0
    assert rows["N1"]["expanded_within_365"] == 0
    assert pd.isna(rows["N1"]["nps"])


def test_base_table_ignores_later_events(engine: Engine) -> None:
    _populate(engine)
    earlier = datetime(2025, 3, 1)
    rows = _by_account(load_account_cohorts(engine, earlier))

    assert sorted(rows) == ["G1", "G2", "H1", "N1"]
    assert rows["G1"]["duration_days"] == 50
    assert rows["G1"]["churned"] == 0
    assert rows["G1"]["contract_amount"] == pytest.approx(15_000)
    assert rows["G2"]["expanded_within_365"] == 0
    assert rows["G2"]["referrals"] == 0


def test_build_report_stores_metrics(engine: Engine, tmp_path: Path) -> None:
    _populate(engine)
    result = build_report(engine, AS_OF, tmp_path)

    stored = read_cohort_metrics(engine, AS_OF)
    assert len(stored) == len(result.metrics)
    keyed = stored.set_index(["cohort", "arm", "metric"])
    assert keyed.loc[("all", "gifted", "accounts"), "n"] == 2
    assert keyed.loc[("all", "holdout", "accounts"), "n"] == 2
    assert keyed.loc[("all", "not_gifted", "accounts"), "n"] == 1
    assert keyed.loc[("all", "gifted", "churn_rate"), "value"] == pytest.approx(0.5)
    assert keyed.loc[("all", "holdout", "retention_30"), "value"] == pytest.approx(0.5)
    assert keyed.loc[("all", "gifted", "gift_spend_per_account"), "value"] == pytest.approx(50.0)
    assert keyed.loc[("2025-02", "holdout", "accounts"), "n"] == 0
    assert pd.isna(keyed.loc[("2025-02", "holdout", "retention_30"), "value"])
    assert ("all", "program", "roi") in keyed.index
    assert set(stored["as_of"]) == {AS_OF}


def test_build_report_summary(engine: Engine, tmp_path: Path) -> None:
    _populate(engine)
    summary = build_report(engine, AS_OF, tmp_path).summary

    assert summary["accounts"] == {"gifted": 2, "holdout": 2, "not_gifted": 1}
    assert summary["retention"]["gifted"]["retention_30"] == pytest.approx(1.0)
    assert summary["retention"]["gifted"]["retention_365"] == pytest.approx(0.5)
    assert summary["retention"]["holdout"]["retention_30"] == pytest.approx(0.5)


def test_build_report_rerun_replaces_rows(engine: Engine, tmp_path: Path) -> None:
    _populate(engine)
    first = build_report(engine, AS_OF, tmp_path)
    build_report(engine, AS_OF, tmp_path)
    build_report(engine, datetime(2026, 3, 2, 2, 0), tmp_path)

    with engine.connect() as connection:
        count_for_night = connection.execute(
            select(func.count()).select_from(CohortMetric).where(CohortMetric.as_of == AS_OF)
        ).scalar_one()
        total = connection.execute(select(func.count()).select_from(CohortMetric)).scalar_one()
    assert count_for_night == len(first.metrics)
    assert total > count_for_night


def test_build_report_files(engine: Engine, tmp_path: Path) -> None:
    _populate(engine)
    result = build_report(engine, AS_OF, tmp_path)

    assert result.html_path == tmp_path / "cohort_report.html"
    assert result.csv_path == tmp_path / "cohort_metrics.csv"
    html = result.html_path.read_text(encoding="utf-8")
    for arm in ("gifted", "holdout", "not_gifted"):
        assert arm in html
    assert '<img alt="Kaplan–Meier retention by arm" src="data:image/png;base64,' in html
    assert "http://" not in html
    assert "https://" not in html
    assert "randomized" in html
    assert "observational" in html
    exported = pd.read_csv(result.csv_path)
    assert len(exported) == len(result.metrics)
    assert list(exported.columns) == list(result.metrics.columns)


def test_build_report_on_empty_warehouse(engine: Engine, tmp_path: Path) -> None:
    result = build_report(engine, AS_OF, tmp_path)

    html = result.html_path.read_text(encoding="utf-8")
    assert "No signed contracts yet" in html
    assert "<img" not in html
    assert result.summary["accounts"] == {"gifted": 0, "holdout": 0, "not_gifted": 0}
    assert set(result.metrics["cohort"]) == {"all"}
    parameters = result.metrics["metric"].isin({"holdout_share_expected", "referral_value"})
    assert result.metrics.loc[~parameters, "value"].isna().all()
    assert result.summary["checks"] == {"success": True, "failures": []}
    assert len(read_cohort_metrics(engine, AS_OF)) == len(result.metrics)
