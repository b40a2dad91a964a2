"""Renewals, non-renewal notices, testimonials, case studies and transfers of value, from a
sync of the Salesforce sandbox to the report, on SQLite and PostgreSQL.

The expected values come from the sandbox records themselves, so the test checks the whole path:
the field mapping, the outcome rows of the sync, the SQL base table and the metric rows.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from simple_salesforce import Salesforce
from sqlalchemy import Engine, insert, select

from gifting.cohorts import AnalysisOptions, load_account_cohorts
from gifting.report import build_report
from gifting.salesforce.config import FieldMapping
from gifting.salesforce.sync import sync_object
from gifting.sandbox.org import OrgStore
from gifting.warehouse.schema import Contract, Gift, Outcome
from tests.conftest import SAMPLE_AS_OF

AS_OF = SAMPLE_AS_OF.replace(tzinfo=None)
FIELDS = FieldMapping.model_validate(
    {
        "account": {
            "non_renewal_date": "Non_Renewal_Date__c",
            "testimonial": "Testimonial_Date__c",
            "case_study": "Case_Study_Date__c",
        }
    }
)


def _sync(salesforce: Salesforce, engine: Engine, fields: FieldMapping) -> None:
    """Sync the two objects that carry outcomes; activities and cases play no part here."""
    for sobject in ("Account", "Opportunity"):
        sync_object(salesforce, engine, sobject, now=SAMPLE_AS_OF, field_mapping=fields)


def _signed_on(engine: Engine) -> dict[str, date]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(Contract.account_id, Contract.signed_on).where(Contract.status == "won")
        ).all()
    signed: dict[str, date] = {}
    for account_id, signed_on in rows:
        signed[account_id] = min(signed_on, signed.get(account_id, signed_on))
    return signed


def _renewals(store: OrgStore, signed: dict[str, date]) -> dict[str, int]:
    counts = dict.fromkeys(signed, 0)
    for deal in store.records("Opportunity"):
        account_id = deal["AccountId"]
        if (
            deal["Type"] == "Renewal"
            and deal["IsWon"]
            and not deal["IsDeleted"]
            and signed[account_id] < deal["CloseDate"] <= AS_OF.date()
        ):
            counts[account_id] += 1
    return counts


def _account_field(store: OrgStore, field: str) -> dict[str, Any]:
    return {account["Id"]: account.get(field) for account in store.records("Account")}


def test_outcomes_from_sync(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore, tmp_path: Path
) -> None:
    _sync(salesforce, engine, FIELDS)
    signed = _signed_on(engine)
    account_id = sorted(signed)[0]
    contract_id = next(
        deal["Id"]
        for deal in sample_org.records("Opportunity")
        if deal["AccountId"] == account_id and deal["Type"] == "New Business" and deal["IsWon"]
    )
    gifts = [
        _gift("g-1", contract_id, account_id, "first_week", 40.0, transfer=True),
        _gift("g-2", contract_id, account_id, "first_month", 35.5, transfer=True),
        _gift("g-3", contract_id, account_id, "first_quarter", 60.0, transfer=False),
    ]
    with engine.begin() as connection:
        connection.execute(insert(Gift), gifts)

    options = AnalysisOptions(unmapped_outcomes=FIELDS.unmapped_outcomes, bootstrap_resamples=20)
    base = load_account_cohorts(engine, AS_OF, options).set_index("account_id")

    churn = _account_field(sample_org, "Churn_Date__c")
    notice = _account_field(sample_org, "Non_Renewal_Date__c")
    testimonial = _account_field(sample_org, "Testimonial_Date__c")
    case_study = _account_field(sample_org, "Case_Study_Date__c")
    assert any(notice.values())
    assert any(testimonial.values())
    for account, signed_on in signed.items():
        ends = [day for day in (churn[account], notice[account]) if day is not None]
        row = base.loc[account]
        assert row["churned"] == int(bool(ends))
        assert row["duration_days"] == ((min(ends) if ends else AS_OF.date()) - signed_on).days
        assert row["testimonial"] == float(testimonial[account] is not None)
        assert row["case_study"] == float(case_study[account] is not None)
    assert base["renewals"].astype(int).to_dict() == _renewals(sample_org, signed)
    assert base["renewals"].sum() > 0
    assert base.loc[account_id, "transfers_of_value"] == 2
    assert base.loc[account_id, "transfer_of_value_spend"] == 75.5

    result = build_report(engine, AS_OF, tmp_path, options=options)
    exported = pd.read_csv(result.csv_path)
    overall = exported[exported["cohort"] == "all"].set_index(["arm", "metric"])
    arm = base.loc[account_id, "arm"]
    assert overall.loc[(arm, "transfers_of_value"), "value"] == 2
    assert overall.loc[(arm, "transfer_of_value_spend"), "value"] == 75.5
    testimonial_rows = overall.xs("testimonial_rate", level="metric")
    assert testimonial_rows["n"].sum() == len(base)
    html = result.html_path.read_text(encoding="utf-8")
    assert "Renewals, testimonials and case studies" in html
    assert "not measured" not in html.split("Renewals, testimonials")[1].split("<h2>")[0]


def test_unmapped_outcomes_left_out(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore, tmp_path: Path
) -> None:
    fields = FieldMapping()
    _sync(salesforce, engine, fields)
    with engine.connect() as connection:
        kinds = set(connection.scalars(select(Outcome.kind).distinct()).all())
    assert "renewal" in kinds
    assert not kinds & {"non_renewal", "testimonial", "case_study"}

    options = AnalysisOptions(unmapped_outcomes=fields.unmapped_outcomes, bootstrap_resamples=20)
    result = build_report(engine, AS_OF, tmp_path, options=options)

    rows = result.metrics[result.metrics["metric"].isin(["testimonial_rate", "case_study_rate"])]
    assert (rows["n"] == 0).all()
    assert rows["value"].isna().all()
    renewal = result.metrics[result.metrics["metric"] == "renewal_rate"]
    assert renewal["n"].sum() > 0
    html = result.html_path.read_text(encoding="utf-8")
    assert "Testimonials are not measured, because account.testimonial is null" in html
    assert "Case studies are not measured" in html
    assert "Renewals are not measured" not in html


def _gift(
    gift_id: str, contract_id: str, account_id: str, stage: str, price: float, *, transfer: bool
) -> dict[str, object]:
    stamp = datetime(2026, 5, 1, 12)
    return {
        "id": gift_id,
        "contract_id": contract_id,
        "stage": stage,
        "account_id": account_id,
        "status": "sent",
        "due_at": stamp,
        "window_ends_at": stamp,
        "budget_min": 20,
        "budget_max": 80,
        "price": price,
        "sent_at": stamp,
        "transfer_of_value": transfer,
        "created_at": stamp,
        "updated_at": stamp,
    }
