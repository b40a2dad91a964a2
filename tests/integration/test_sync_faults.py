"""Salesforce sync under faults, over real HTTPS to the sandbox, into SQLite and PostgreSQL.

Each fault is injected by the sandbox itself, mid-object where it matters, so the tests show that
the sync renews sessions, stops within the API allocation and keeps what it already stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from gifting.errors import ConfigurationError, RetriableError
from gifting.salesforce.client import SalesforceCredentials
from gifting.salesforce.config import FieldMapping
from gifting.salesforce.handlers import HANDLERS
from gifting.salesforce.session import ApiLimitReached, SalesforceSession, SessionExpired
from gifting.salesforce.sync import sync_object, sync_org
from gifting.sandbox.launch import SANDBOX_CREDENTIALS
from gifting.sandbox.org import OrgStore
from gifting.sandbox.salesforce_server import SalesforceSandbox
from gifting.warehouse.schema import Account, Contact, SyncState

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def credentials(salesforce_sandbox: SalesforceSandbox) -> SalesforceCredentials:
    return SalesforceCredentials(
        login_url=salesforce_sandbox.login_url,
        ca_bundle=salesforce_sandbox.ca_pem_path,
        **SANDBOX_CREDENTIALS,
    )


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def session(credentials: SalesforceCredentials, sleeps: list[float]) -> SalesforceSession:
    return SalesforceSession.login(credentials, sleep=sleeps.append)


def _count(engine: Engine, model: type) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(model)) or 0


def _watermark(engine: Engine, sobject: str) -> datetime | None:
    with engine.connect() as connection:
        return connection.scalar(
            select(SyncState.watermark).where(SyncState.object_name == sobject)
        )


def _after_records(
    monkeypatch: pytest.MonkeyPatch, sobject: str, count: int, action: Callable[[], None]
) -> None:
    """Run ``action`` once, while the sync handles record number ``count`` of ``sobject``."""
    handler = HANDLERS[sobject]
    calls = {"n": 0}

    def wrapped(record: dict[str, Any], now: datetime, fields: FieldMapping) -> Any:
        calls["n"] += 1
        if calls["n"] == count:
            action()
        return handler(record, now, fields)

    monkeypatch.setitem(HANDLERS, sobject, wrapped)


def test_expired_session_reconnects_and_resumes(
    engine: Engine,
    session: SalesforceSession,
    salesforce_sandbox: SalesforceSandbox,
    sample_org: OrgStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _after_records(monkeypatch, "Contact", 60, salesforce_sandbox.expire_sessions)
    result = sync_object(session, engine, "Contact", now=NOW, batch_size=20)
    assert session.reconnects == 1
    assert result.seen >= sample_org.count("Contact")
    assert _count(engine, Contact) == sample_org.count("Contact")
    assert _watermark(engine, "Contact") == max(
        record["SystemModstamp"] for record in sample_org.records("Contact")
    ).replace(tzinfo=None)


def test_expired_session_without_credentials_stops(
    engine: Engine,
    salesforce_sandbox: SalesforceSandbox,
    credentials: SalesforceCredentials,
) -> None:
    bare = SalesforceSession.login(credentials).client
    salesforce_sandbox.expire_sessions()
    with pytest.raises(SessionExpired, match="no credentials"):
        sync_object(bare, engine, "Account", now=NOW)


def test_session_expiring_twice_stops(
    engine: Engine,
    session: SalesforceSession,
    salesforce_sandbox: SalesforceSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    renew = session.reconnect

    def reconnect_into_expired() -> None:
        renew()
        salesforce_sandbox.expire_sessions()

    monkeypatch.setattr(session, "reconnect", reconnect_into_expired)
    salesforce_sandbox.expire_sessions()
    with pytest.raises(SessionExpired):
        sync_object(session, engine, "Account", now=NOW)


def test_request_limit_stops_and_keeps_progress(
    engine: Engine,
    session: SalesforceSession,
    salesforce_sandbox: SalesforceSandbox,
    sample_org: OrgStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fault = {"status": 403, "error_code": "REQUEST_LIMIT_EXCEEDED", "count": 1}
    _after_records(monkeypatch, "Contact", 60, lambda: salesforce_sandbox.inject_fault(**fault))
    with pytest.raises(ApiLimitReached, match="next run resumes") as raised:
        sync_org(session, engine, now=NOW)
    assert isinstance(raised.value, RetriableError)
    assert _count(engine, Account) == sample_org.count("Account")
    assert _watermark(engine, "Account") is not None
    contact_mark = _watermark(engine, "Contact")
    assert contact_mark is not None  # the first page's batches were stored with their watermark
    assert 0 < _count(engine, Contact) < sample_org.count("Contact")

    result = sync_org(session, engine, now=NOW + timedelta(hours=1))
    assert _count(engine, Contact) == sample_org.count("Contact")
    assert result.objects["Contact"].seen < sample_org.count("Contact")


def test_usage_share_stops_before_allocation(
    engine: Engine, sample_org: OrgStore, tmp_path: Path
) -> None:
    # 12 requests a day; the sync must stop once 80 % (9.6) are used, before Salesforce refuses.
    with SalesforceSandbox(
        sample_org,
        page_size=50,
        cert_dir=tmp_path / "certs",
        api_request_limit=12,
        **SANDBOX_CREDENTIALS,
    ) as sandbox:
        credentials = SalesforceCredentials(
            login_url=sandbox.login_url, ca_bundle=sandbox.ca_pem_path, **SANDBOX_CREDENTIALS
        )
        session = SalesforceSession.login(credentials)
        with pytest.raises(ApiLimitReached, match="10 of 12"):
            sync_org(session, engine, now=NOW)
        assert sandbox.api_usage == 10
    assert _count(engine, Account) == sample_org.count("Account")
    assert _watermark(engine, "Account") is not None


def test_server_errors_retry_with_backoff(
    engine: Engine,
    session: SalesforceSession,
    salesforce_sandbox: SalesforceSandbox,
    sample_org: OrgStore,
    sleeps: list[float],
) -> None:
    salesforce_sandbox.inject_fault(status=503, error_code="SERVER_UNAVAILABLE", count=2)
    result = sync_object(session, engine, "Account", now=NOW)
    assert result.seen == sample_org.count("Account")
    assert len(sleeps) == 2
    assert all(0 <= delay <= 2 for delay in sleeps)


def test_server_errors_give_up_after_attempts(
    engine: Engine,
    session: SalesforceSession,
    salesforce_sandbox: SalesforceSandbox,
    sleeps: list[float],
) -> None:
    salesforce_sandbox.inject_fault(status=500, error_code="UNKNOWN_EXCEPTION", count=10)
    with pytest.raises(RetriableError, match="failed 4 times") as raised:
        sync_object(session, engine, "Account", now=NOW)
    assert not isinstance(raised.value, ApiLimitReached)
    assert len(sleeps) == 3
    assert _watermark(engine, "Account") is None


def test_missing_field_names_mapping_entry(
    engine: Engine,
    session: SalesforceSession,
    salesforce_sandbox: SalesforceSandbox,
    sleeps: list[float],
) -> None:
    fields = FieldMapping.model_validate({"account": {"nps": "Net_Promoter__c"}})
    before = salesforce_sandbox.api_usage
    with pytest.raises(ConfigurationError) as raised:
        sync_org(session, engine, now=NOW, field_mapping=fields)
    message = str(raised.value)
    assert "account.nps" in message
    assert "Net_Promoter__c" in message
    assert "config/salesforce.yaml" in message
    # The COUNT() that chooses REST or Bulk, then the rejected query, which is not retried.
    assert salesforce_sandbox.api_usage == before + 2
    assert sleeps == []


@pytest.fixture
def secrets_seen(
    caplog: pytest.LogCaptureFixture, credentials: SalesforceCredentials
) -> Iterator[list[str]]:
    """Collect every secret the sync handled; the test asserts none shows up anywhere."""
    caplog.set_level(logging.DEBUG)
    secrets = [
        credentials.password,
        credentials.security_token,
        credentials.client_secret,
        credentials.password + credentials.security_token,
    ]
    yield secrets


def test_secrets_never_leak(
    engine: Engine,
    credentials: SalesforceCredentials,
    salesforce_sandbox: SalesforceSandbox,
    caplog: pytest.LogCaptureFixture,
    secrets_seen: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = SalesforceSession.login(credentials, sleep=lambda _: None)
    secrets_seen.append(session.client.session_id)
    texts = [repr(session), repr(credentials), str(credentials)]

    _after_records(monkeypatch, "Contact", 60, salesforce_sandbox.expire_sessions)
    salesforce_sandbox.inject_fault(status=503, error_code="SERVER_UNAVAILABLE", count=1)
    sync_object(session, engine, "Contact", now=NOW, batch_size=20)
    secrets_seen.append(session.client.session_id)

    salesforce_sandbox.inject_fault(status=403, error_code="REQUEST_LIMIT_EXCEEDED", count=1)
    with pytest.raises(ApiLimitReached) as limit:
        sync_object(session, engine, "Account", now=NOW)
    texts += [str(limit.value), repr(limit.value), str(limit.value.__cause__)]

    salesforce_sandbox.expire_sessions()
    with pytest.raises(SessionExpired) as expired:
        sync_object(session.client, engine, "Account", now=NOW)
    texts += [str(expired.value), str(expired.value.__cause__)]

    wrong = SalesforceCredentials(
        login_url=credentials.login_url,
        ca_bundle=credentials.ca_bundle,
        **{**SANDBOX_CREDENTIALS, "password": "wrong-password-123"},
    )
    secrets_seen.append("wrong-password-123")
    with pytest.raises(ConfigurationError) as rejected:
        SalesforceSession.login(wrong)
    texts.append(str(rejected.value))

    texts.append(caplog.text)
    for secret in secrets_seen:
        for text in texts:
            assert secret not in text
