"""Unit tests for the Salesforce session: retries, error translation, the API budget, repr.

A stub replaces simple-salesforce so each failure arrives exactly as that client raises it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)
from simple_salesforce.util import Usage

from gifting.errors import PermanentError, RetriableError
from gifting.salesforce.client import SalesforceCredentials
from gifting.salesforce.config import SyncOptions
from gifting.salesforce.session import (
    ApiLimitReached,
    QueryRejected,
    SalesforceSession,
    SessionExpired,
    translate_error,
)

URL = "https://example.my.salesforce.com/services/data/v62.0/query/"
PAGE = {"totalSize": 0, "done": True, "records": []}
CREDENTIALS = SalesforceCredentials(
    login_url="https://login.example.test",
    username="sync@example.test",
    password="hunter2-password",
    security_token="tok-123456",
    client_id="client-id",
    client_secret="client-secret-xyz",
    ca_bundle=Path("/nonexistent.pem"),
)


class StubClient:
    """Returns or raises the queued outcomes of ``query`` in order."""

    sf_instance = "example.my.salesforce.com"

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.api_usage: dict[str, Usage] = {}
        self.calls = 0

    def query(self, soql: str, **_: Any) -> Any:
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, Usage):
            self.api_usage = {"api-usage": outcome}
            return PAGE
        return outcome


def _error(cls: type[SalesforceError], status: int, code: str, message: str) -> SalesforceError:
    return cls(URL, status, "query", [{"message": message, "errorCode": code}])


def _session(client: StubClient, sleeps: list[float], **options: Any) -> SalesforceSession:
    return SalesforceSession(
        client,  # type: ignore[arg-type]
        options=SyncOptions(**options),
        sleep=sleeps.append,
        random_fraction=lambda: 1.0,
    )


@pytest.mark.parametrize(
    "failure",
    [
        _error(SalesforceGeneralError, 503, "SERVER_UNAVAILABLE", "try again"),
        _error(SalesforceGeneralError, 500, "UNKNOWN_EXCEPTION", "boom"),
        requests.ReadTimeout("read timed out"),
        requests.ConnectionError("connection reset"),
    ],
)
def test_transient_failure_retries(failure: Exception) -> None:
    sleeps: list[float] = []
    client = StubClient(failure, failure, PAGE)
    assert _session(client, sleeps).query("SELECT Id FROM Account") == PAGE
    assert sleeps == [1.0, 2.0]


def test_retries_are_bounded() -> None:
    sleeps: list[float] = []
    failure = _error(SalesforceGeneralError, 503, "SERVER_UNAVAILABLE", "try again")
    client = StubClient(*[failure] * 5)
    with pytest.raises(RetriableError, match="failed 3 times") as raised:
        _session(client, sleeps, max_attempts=3, backoff_base_s=20).query("SELECT Id FROM Account")
    assert client.calls == 3
    assert sleeps == [20.0, 30.0]
    assert isinstance(raised.value.__cause__, SalesforceGeneralError)


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (_error(SalesforceMalformedRequest, 400, "INVALID_FIELD", "No such column"), QueryRejected),
        (_error(SalesforceMalformedRequest, 400, "MALFORMED_QUERY", "unexpected"), QueryRejected),
        (_error(SalesforceExpiredSession, 401, "INVALID_SESSION_ID", "expired"), SessionExpired),
        (
            _error(SalesforceRefusedRequest, 403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests"),
            ApiLimitReached,
        ),
        (_error(SalesforceRefusedRequest, 403, "INSUFFICIENT_ACCESS", "no"), PermanentError),
        (_error(SalesforceResourceNotFound, 404, "NOT_FOUND", "gone"), PermanentError),
    ],
)
def test_other_failures_raise_at_once(failure: Exception, expected: type[Exception]) -> None:
    sleeps: list[float] = []
    client = StubClient(failure, PAGE)
    with pytest.raises(expected):
        _session(client, sleeps).query("SELECT Id FROM Account")
    assert client.calls == 1
    assert sleeps == []


def test_query_rejected_keeps_code_and_detail() -> None:
    error = translate_error(
        "query", _error(SalesforceMalformedRequest, 400, "INVALID_FIELD", "\nSELECT\nNo such")
    )
    assert isinstance(error, QueryRejected)
    assert error.error_code == "INVALID_FIELD"
    assert error.detail == "\nSELECT\nNo such"
    assert URL not in str(error)


def test_html_error_body_is_described() -> None:
    failure = SalesforceMalformedRequest(URL, 400, "query", "<h1>Bad Message 400</h1>")
    error = translate_error("query", failure)
    assert isinstance(error, QueryRejected)
    assert error.error_code == ""


@pytest.mark.parametrize(
    ("usage", "stops"),
    [(Usage(used=79, total=100), False), (Usage(used=80, total=100), True)],
)
def test_budget_stops_at_share(usage: Usage, stops: bool) -> None:
    sleeps: list[float] = []
    client = StubClient(usage, PAGE)
    session = _session(client, sleeps)
    session.query("SELECT Id FROM Account")
    if stops:
        with pytest.raises(ApiLimitReached, match="80 of 100"):
            session.query("SELECT Id FROM Account")
        assert client.calls == 1
    else:
        session.query("SELECT Id FROM Account")
        assert client.calls == 2


def test_reconnect_keeps_usage_and_swaps_client() -> None:
    old = StubClient()
    old.api_usage = {"api-usage": Usage(used=5, total=100)}
    new = StubClient(PAGE)
    logins: list[SalesforceCredentials] = []

    def connector(credentials: SalesforceCredentials) -> Any:
        logins.append(credentials)
        return new

    session = SalesforceSession(old, CREDENTIALS, connector=connector)  # type: ignore[arg-type]
    session.reconnect()
    assert session.client is new
    assert session.api_usage() == (5, 100)
    assert logins == [CREDENTIALS]
    assert session.reconnects == 1


def test_reconnect_without_credentials_raises() -> None:
    session = SalesforceSession(StubClient())  # type: ignore[arg-type]
    with pytest.raises(SessionExpired, match="no credentials"):
        session.reconnect()


@pytest.mark.parametrize("render", [repr, str])
def test_repr_hides_secrets(render: Callable[[object], str]) -> None:
    session = SalesforceSession(StubClient(), CREDENTIALS)  # type: ignore[arg-type]
    for text in (render(session), render(CREDENTIALS)):
        assert "sync@example.test" in text
        for secret in ("hunter2-password", "tok-123456", "client-secret-xyz"):
            assert secret not in text
