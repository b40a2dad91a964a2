"""The Salesforce sandbox through simple-salesforce and requests, over real HTTPS on 127.0.0.1.

These tests hold the sandbox to the client the product uses: if simple-salesforce cannot page,
write or raise its usual exceptions against it, the product's dry runs prove nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from gifting.sandbox.org import OrgStore
from gifting.sandbox.salesforce_server import SalesforceSandbox

API_VERSION = "62.0"
PAGE_SIZE = 5
ACCOUNT_COUNT = 12
CREATED = datetime(2024, 3, 5, 17, 22, 10, 123000, tzinfo=UTC)


@pytest.fixture
def store() -> OrgStore:
    """Twelve accounts (Account 00 to 11), one owned by a user, and an opportunity."""
    store = OrgStore()
    owner = store.insert("User", {"Name": "Ursula Owner"})
    for number in range(ACCOUNT_COUNT):
        store.insert(
            "Account",
            {
                "Name": f"Account {number:02d}",
                "Industry": None,
                "OwnerId": owner if number == 0 else None,
            },
            now=CREATED,
        )
    account_id = next(store.records("Account"))["Id"]
    store.insert(
        "Opportunity",
        {"Name": "Renewal", "AccountId": account_id, "CloseDate": date(2024, 3, 5), "Amount": 10},
    )
    return store


@pytest.fixture
def sandbox(store: OrgStore, tmp_path: Path) -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(store, page_size=PAGE_SIZE, cert_dir=tmp_path) as sandbox:
        yield sandbox


@pytest.fixture
def http(sandbox: SalesforceSandbox) -> Iterator[requests.Session]:
    """A session that trusts only the sandbox CA, even when REQUESTS_CA_BUNDLE is set."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(sandbox.ca_pem_path)
    yield session
    session.close()


def token_form(**overrides: str) -> dict[str, str]:
    form = {
        "grant_type": "password",
        "client_id": "sandbox-client-id",
        "client_secret": "sandbox-client-secret",
        "username": "integration@sandbox.gifting.local",
        "password": "sandbox-password" + "sandbox-token",
    }
    form.update(overrides)
    return form


def request_token(sandbox: SalesforceSandbox, http: requests.Session, **overrides: str) -> Any:
    return http.post(f"{sandbox.login_url}/services/oauth2/token", data=token_form(**overrides))


@pytest.fixture
def sf(sandbox: SalesforceSandbox, http: requests.Session) -> Salesforce:
    response = request_token(sandbox, http)
    response.raise_for_status()
    return Salesforce(
        instance_url=response.json()["instance_url"],
        session_id=response.json()["access_token"],
        session=http,
        version=API_VERSION,
    )


# --- OAuth ------------------------------------------------------------------------------------


def test_token_response_shape(sandbox: SalesforceSandbox, http: requests.Session) -> None:
    response = request_token(sandbox, http)
    body = response.json()
    assert response.status_code == 200
    assert body["instance_url"] == sandbox.instance_url
    assert body["token_type"] == "Bearer"
    assert body["id"].startswith(f"{sandbox.login_url}/id/00D")
    assert body["issued_at"].isdigit()
    assert body["access_token"]
    assert body["signature"]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"password": "sandbox-password"}, "invalid_grant"),
        ({"password": "wrong" + "sandbox-token"}, "invalid_grant"),
        ({"username": "someone@else.example"}, "invalid_grant"),
        ({"client_secret": "wrong"}, "invalid_client"),
        ({"client_id": "wrong"}, "invalid_client_id"),
        ({"grant_type": "refresh_token"}, "unsupported_grant_type"),
    ],
)
def test_token_rejected(
    sandbox: SalesforceSandbox, http: requests.Session, overrides: dict[str, str], error: str
) -> None:
    response = request_token(sandbox, http, **overrides)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.json()["error_description"]


def test_wrong_password_is_authentication_failure(
    sandbox: SalesforceSandbox, http: requests.Session
) -> None:
    response = request_token(sandbox, http, password="nope")
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "authentication failure",
    }


def test_missing_token_is_invalid_session(
    sandbox: SalesforceSandbox, http: requests.Session
) -> None:
    response = http.get(
        f"{sandbox.instance_url}/services/data/v{API_VERSION}/query?q=SELECT+Id+FROM+User"
    )
    assert response.status_code == 401
    assert response.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_expired_session_raises(sandbox: SalesforceSandbox, sf: Salesforce) -> None:
    assert sf.query("SELECT Id FROM User")["totalSize"] == 1
    sandbox.expire_sessions()
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM User")


# --- query ------------------------------------------------------------------------------------


def test_query_all_iter_pages(sandbox: SalesforceSandbox, sf: Salesforce) -> None:
    before = sandbox.request_count
    rows = list(sf.query_all_iter("SELECT Name FROM Account ORDER BY Name"))
    assert [row["Name"] for row in rows] == [f"Account {n:02d}" for n in range(ACCOUNT_COUNT)]
    # 12 rows in pages of 5: the query and two nextRecordsUrl requests.
    assert sandbox.request_count - before == 3


def test_first_page_shape(sf: Salesforce) -> None:
    page = sf.query("SELECT Id, Name FROM Account ORDER BY Name")
    assert page["totalSize"] == ACCOUNT_COUNT
    assert page["done"] is False
    assert page["nextRecordsUrl"].startswith(f"/services/data/v{API_VERSION}/query/01g")
    assert page["nextRecordsUrl"].endswith(f"-{PAGE_SIZE}")
    assert len(page["records"]) == PAGE_SIZE
    first = page["records"][0]
    assert first["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v{API_VERSION}/sobjects/Account/{first['Id']}",
    }


def test_last_page_has_no_next_url(sf: Salesforce) -> None:
    page = sf.query("SELECT Name FROM Account ORDER BY Name LIMIT 5")
    assert page["done"] is True
    assert "nextRecordsUrl" not in page
    assert page["totalSize"] == 5


def test_cursor_is_snapshot(store: OrgStore, sf: Salesforce) -> None:
    first = sf.query("SELECT Id, Name FROM Account ORDER BY Name")
    last_id = next(row["Id"] for row in store.records("Account") if row["Name"] == "Account 11")
    store.update("Account", last_id, {"Name": "Renamed"})
    store.insert("Account", {"Name": "Account 99"})
    rest = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    rest = sf.query_more(rest["nextRecordsUrl"], identifier_is_url=True)
    assert rest["done"] is True
    assert rest["totalSize"] == ACCOUNT_COUNT
    assert [row["Name"] for row in rest["records"]] == ["Account 10", "Account 11"]


def test_query_all_includes_deleted(store: OrgStore, sf: Salesforce) -> None:
    deleted_id = next(store.records("Account"))["Id"]
    store.delete("Account", deleted_id)
    live = sf.query_all("SELECT Id, IsDeleted FROM Account")
    everything = sf.query_all("SELECT Id, IsDeleted FROM Account", include_deleted=True)
    assert live["totalSize"] == ACCOUNT_COUNT - 1
    assert deleted_id not in {row["Id"] for row in live["records"]}
    assert everything["totalSize"] == ACCOUNT_COUNT
    deleted_rows = [row for row in everything["records"] if row["Id"] == deleted_id]
    assert [row["IsDeleted"] for row in deleted_rows] == [True]


def test_parent_relationship_nested(sf: Salesforce) -> None:
    rows = sf.query_all("SELECT Name, Account.Name, Account.Owner.Name FROM Opportunity")["records"]
    account = rows[0]["Account"]
    assert account["attributes"]["type"] == "Account"
    assert account["Name"] == "Account 00"
    assert account["Owner"]["Name"] == "Ursula Owner"
    assert account["Owner"]["attributes"]["type"] == "User"


def test_empty_lookup_is_null(sf: Salesforce) -> None:
    row = sf.query("SELECT Name, Owner.Name FROM Account WHERE Name = 'Account 01'")["records"][0]
    assert row["Owner"] is None


def test_dates_serialised_like_salesforce(sf: Salesforce) -> None:
    account = sf.query("SELECT CreatedDate FROM Account LIMIT 1")["records"][0]
    opportunity = sf.query("SELECT CloseDate FROM Opportunity")["records"][0]
    assert account["CreatedDate"] == "2024-03-05T17:22:10.123+0000"
    assert opportunity["CloseDate"] == "2024-03-05"


def test_count_query(sf: Salesforce) -> None:
    result = sf.query("SELECT COUNT() FROM Account WHERE Name LIKE 'account 0%'")
    assert result["totalSize"] == 10
    assert result["records"] == []


def test_unknown_field_raises_malformed_request(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Nmae FROM Account")
    [error] = caught.value.content
    assert error["errorCode"] == "INVALID_FIELD"
    assert "Nmae" in error["message"]


def test_unsupported_clause_raises_malformed_request(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Name FROM Account GROUP BY Name")
    assert caught.value.content[0]["errorCode"] == "MALFORMED_QUERY"


def test_unknown_object_raises_malformed_request(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id FROM Gift__c")
    assert caught.value.content[0]["errorCode"] == "INVALID_TYPE"


def test_unknown_query_locator_rejected(sandbox: SalesforceSandbox, sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query_more(f"/services/data/v{API_VERSION}/query/01gAAAAAAAAAAAAAAA-5", True)
    assert caught.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


# --- sObject rows -----------------------------------------------------------------------------


def test_create_update_get(store: OrgStore, sf: Salesforce) -> None:
    created = sf.Account.create({"Name": "Globex", "Industry": "Energy"})
    assert created["success"] is True
    assert created["errors"] == []
    assert created["id"].startswith("001")
    assert sf.Account.update(created["id"], {"Industry": "Utilities"}) == 204
    fetched = sf.Account.get(created["id"])
    assert fetched["Name"] == "Globex"
    assert fetched["Industry"] == "Utilities"
    assert fetched["attributes"]["type"] == "Account"
    assert store.get("Account", created["id"])["Industry"] == "Utilities"


def test_create_task_with_typed_fields(store: OrgStore, sf: Salesforce) -> None:
    account_id = next(store.records("Account"))["Id"]
    created = sf.Task.create(
        {"Subject": "Gift sent", "ActivityDate": "2024-04-01", "WhatId": account_id[:15]}
    )
    task = store.get("Task", created["id"])
    assert task is not None
    assert task["ActivityDate"] == date(2024, 4, 1)
    assert task["WhatId"] == account_id
    rows = sf.query("SELECT Subject FROM Task WHERE ActivityDate = 2024-04-01")["records"]
    assert [row["Subject"] for row in rows] == ["Gift sent"]


def test_create_unknown_field_rejected(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Account.create({"Name": "Globex", "Nmae": "typo"})
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_create_read_only_field_rejected(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Account.create({"Name": "Globex", "CreatedDate": "2024-01-01T00:00:00Z"})
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_create_dangling_lookup_rejected(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Opportunity.create({"Name": "Ghost", "AccountId": "001000000000000AAA"})
    assert caught.value.content[0]["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"


def test_get_unknown_id_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Account.get("001000000000000AAA")
    assert caught.value.content == [
        {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
    ]


def test_delete_moves_to_recycle_bin(store: OrgStore, sf: Salesforce) -> None:
    record_id = next(store.records("Account"))["Id"]
    assert sf.Account.delete(record_id) == 204
    assert store.get("Account", record_id)["IsDeleted"] is True
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.update(record_id, {"Name": "Too late"})


# --- limits and faults ------------------------------------------------------------------------


def test_limit_info_header(sandbox: SalesforceSandbox, sf: Salesforce) -> None:
    sf.query("SELECT Id FROM User")
    sf.query("SELECT Id FROM User")
    usage = sf.api_usage["api-usage"]
    assert usage.used == sandbox.api_usage == 2
    assert usage.total == sandbox.api_request_limit


def test_limits_resource(sf: Salesforce) -> None:
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 100_000
    assert limits["DailyApiRequests"]["Remaining"] == 100_000 - 1


def test_version_list(sandbox: SalesforceSandbox, http: requests.Session) -> None:
    versions = http.get(f"{sandbox.instance_url}/services/data/").json()
    assert {"url": f"/services/data/v{API_VERSION}", "version": API_VERSION} in versions


def test_injected_unavailable_fault(sandbox: SalesforceSandbox, sf: Salesforce) -> None:
    sandbox.inject_fault(status=503, error_code="SERVER_UNAVAILABLE", count=2)
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError) as caught:
            sf.query("SELECT Id FROM User")
        assert caught.value.status == 503
    assert sf.query("SELECT Id FROM User")["totalSize"] == 1


def test_injected_request_limit_fault(sandbox: SalesforceSandbox, sf: Salesforce) -> None:
    sandbox.inject_fault(status=403, error_code="REQUEST_LIMIT_EXCEEDED")
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM User")
    assert caught.value.content == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert sf.query("SELECT Id FROM User")["totalSize"] == 1


def test_request_limit_enforced(store: OrgStore, tmp_path: Path) -> None:
    with SalesforceSandbox(store, cert_dir=tmp_path, api_request_limit=1) as sandbox:
        http = requests.Session()
        http.trust_env = False
        http.verify = str(sandbox.ca_pem_path)
        token = request_token(sandbox, http).json()["access_token"]
        sf = Salesforce(
            instance_url=sandbox.instance_url, session_id=token, session=http, version=API_VERSION
        )
        sf.query("SELECT Id FROM User")
        with pytest.raises(SalesforceRefusedRequest):
            sf.query("SELECT Id FROM User")


def test_stop_closes_port(store: OrgStore, tmp_path: Path) -> None:
    sandbox = SalesforceSandbox(store, cert_dir=tmp_path).start()
    url = sandbox.instance_url
    http = requests.Session()
    http.trust_env = False
    http.verify = str(sandbox.ca_pem_path)
    assert http.get(f"{url}/services/data/").status_code == 200
    sandbox.stop()
    with pytest.raises(requests.ConnectionError):
        http.get(f"{url}/services/data/")
