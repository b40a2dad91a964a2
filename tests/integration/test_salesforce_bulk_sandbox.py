"""Bulk API 2.0 query jobs in the Salesforce sandbox, through simple-salesforce over HTTPS.

simple-salesforce's own ``bulk2`` query must work against the sandbox unchanged, and a job must
return the same records and values as the REST query of the same SOQL, relationship fields
included. Error bodies keep Salesforce's ``[{"errorCode": ..., "message": ...}]`` shape.
"""

from __future__ import annotations

import base64
import csv
import io
import time
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.bulk2 import ColumnDelimiter, LineEnding
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from gifting.salesforce.bulk import stream_bulk_query
from gifting.salesforce.config import SyncOptions
from gifting.salesforce.query import QueryProgress
from gifting.salesforce.session import SalesforceSession
from gifting.sandbox.org import OrgStore
from gifting.sandbox.salesforce_server import SalesforceSandbox

CONTACTS = "SELECT Id, LastName, Email FROM Contact ORDER BY SystemModstamp"


def create_job(salesforce: Salesforce, soql: str, operation: str = "query") -> str:
    job = salesforce.restful(
        "jobs/query", method="POST", json={"operation": operation, "query": soql}
    )
    assert job is not None
    assert job["state"] == "UploadComplete"
    return str(job["id"])


def wait_for_job(salesforce: Salesforce, job_id: str) -> dict[str, Any]:
    for _ in range(200):
        info = salesforce.restful(f"jobs/query/{job_id}")
        assert info is not None
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            return dict(info)
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} did not finish")


def results(salesforce: Salesforce, job_id: str, **params: Any) -> requests.Response:
    return salesforce.session.get(
        f"{salesforce.bulk2_url}query/{job_id}/results",
        headers=salesforce.headers,
        params=params,
        timeout=30,
    )


def strip_attributes(record: dict[str, Any]) -> dict[str, Any]:
    return {
        name: strip_attributes(value) if isinstance(value, dict) else value
        for name, value in record.items()
        if name != "attributes"
    }


def test_results_pages_follow_locator(salesforce: Salesforce, sample_org: OrgStore) -> None:
    job_id = create_job(salesforce, CONTACTS)
    info = wait_for_job(salesforce, job_id)
    total = sample_org.count("Contact")
    assert info["state"] == "JobComplete"
    assert info["numberRecordsProcessed"] == total
    assert info["jobType"] == "V2Query"

    rows: list[list[str]] = []
    locator = ""
    pages = 0
    while True:
        params = {"maxRecords": 30, **({"locator": locator} if locator else {})}
        response = results(salesforce, job_id, **params)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/csv")
        page = list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))
        assert page[0] == ["Id", "LastName", "Email"]  # every page repeats the header
        assert int(response.headers["Sforce-NumberOfRecords"]) == len(page) - 1
        rows += page[1:]
        pages += 1
        locator = response.headers["Sforce-Locator"]
        if locator == "null":
            break
        assert base64.b64decode(locator + "=" * (-len(locator) % 4)).decode() == str(30 * pages)
    assert pages == -(-total // 30)
    rest = salesforce.query_all(CONTACTS)["records"]
    assert [row[0] for row in rows] == [record["Id"] for record in rest]


def test_job_matches_rest_with_relationships(salesforce: Salesforce, sample_org: OrgStore) -> None:
    opportunity = next(sample_org.records("Opportunity"))
    sample_org.delete("Opportunity", opportunity["Id"])
    sample_org.update("Account", opportunity["AccountId"], {"OwnerId": None})
    soql = (
        "SELECT Id, Name, IsWon, Amount, CloseDate, Account.Name, Account.Owner.Name, "
        "Account.Strategic__c, IsDeleted, SystemModstamp FROM Opportunity "
        "ORDER BY SystemModstamp"
    )
    session = SalesforceSession(salesforce)
    kinds = {
        "IsWon": "boolean",
        "Amount": "number",
        "Account.Strategic__c": "boolean",
        "IsDeleted": "boolean",
        "SystemModstamp": "datetime",
    }
    progress = QueryProgress()
    options = SyncOptions(bulk_page_size=11, bulk_poll_interval_s=0.01)
    bulk = list(
        stream_bulk_query(
            session, soql, progress, kinds=kinds, options=options, include_deleted=True
        )
    )
    rest = [
        strip_attributes(record)
        for record in salesforce.query_all(soql, include_deleted=True)["records"]
    ]
    assert bulk == rest
    assert progress.received == progress.total_size == len(rest)
    assert progress.pages > 1
    assert any(record["IsDeleted"] for record in bulk)
    assert any(record["Account"]["Owner"] is None for record in bulk)


def test_simple_salesforce_bulk2_query(salesforce: Salesforce, sample_org: OrgStore) -> None:
    pages = list(
        salesforce.bulk2.Account.query(
            "SELECT Id, Name FROM Account",
            max_records=15,
            column_delimiter=ColumnDelimiter.PIPE,
            line_ending=LineEnding.CRLF,
            wait=0,
        )
    )
    records = [
        row
        for page in pages
        for row in list(csv.reader(io.StringIO(str(page), newline=""), delimiter="|"))[1:]
    ]
    assert len(records) == sample_org.count("Account")
    assert all(str(page).endswith("\r\n") for page in pages)


def test_invalid_query_rejected_at_create(salesforce: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as raised:
        create_job(salesforce, "SELECT Id, Nope__c FROM Account")
    assert raised.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "Nope__c" in raised.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as raised:
        create_job(salesforce, "SELECT COUNT() FROM Account")
    assert raised.value.content[0]["errorCode"] == "API_ERROR"
    with pytest.raises(SalesforceMalformedRequest) as raised:
        create_job(salesforce, "SELECT Id FROM Account", operation="upsert")
    assert "operation" in raised.value.content[0]["message"]


def test_deleted_job_not_found(
    salesforce: Salesforce, salesforce_sandbox: SalesforceSandbox
) -> None:
    job_id = create_job(salesforce, "SELECT Id FROM Account")
    wait_for_job(salesforce, job_id)
    bad_page = results(salesforce, job_id, maxRecords="0")
    assert bad_page.status_code == 400
    assert bad_page.json()[0]["errorCode"] == "API_ERROR"
    bad_locator = results(salesforce, job_id, locator="bm9wZQ")
    assert bad_locator.status_code == 400
    assert salesforce.restful(f"jobs/query/{job_id}", method="DELETE") is None
    with pytest.raises(SalesforceResourceNotFound):
        salesforce.restful(f"jobs/query/{job_id}")
    assert salesforce_sandbox.bulk_jobs.job_count() == 0


def test_failed_job_reports_error_message(
    salesforce: Salesforce, salesforce_sandbox: SalesforceSandbox
) -> None:
    salesforce_sandbox.bulk_jobs.fail_next_jobs("InternalServerError")
    job_id = create_job(salesforce, "SELECT Id FROM Account")
    info = wait_for_job(salesforce, job_id)
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InternalServerError"
    early = results(salesforce, job_id)
    assert early.status_code == 400
