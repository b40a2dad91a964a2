"""Every Salesforce authentication mode over real HTTPS, through the real client, to the sandbox.

The sandbox's token endpoint verifies JWT assertions against a certificate made here, the way a
connected app stores one, so a wrong key, issuer, audience, subject or expiry fails as Salesforce
fails it. No secret may show in a log record, an exception or a ``repr`` on any path.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine

from gifting.errors import ConfigurationError
from gifting.runtime import Runtime
from gifting.salesforce.credentials import (
    JWT_BEARER_GRANT,
    ClientCredentials,
    Credentials,
    JwtBearerCredentials,
    SalesforceCredentials,
    SessionIdCredentials,
)
from gifting.salesforce.session import SalesforceSession, SessionExpired
from gifting.salesforce.sync import sync_object
from gifting.sandbox.launch import SANDBOX_CREDENTIALS
from gifting.sandbox.org import OrgStore
from gifting.sandbox.salesforce_server import SalesforceSandbox
from gifting.settings import GiftingSettings

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
USERNAME = SANDBOX_CREDENTIALS["username"]
CLIENT_ID = SANDBOX_CREDENTIALS["client_id"]
CLIENT_SECRET = SANDBOX_CREDENTIALS["client_secret"]


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def _certificate(key: rsa.RSAPrivateKey) -> bytes:
    """Return a self-signed certificate for ``key``, as uploaded to a connected app."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gifting sync")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def app_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def sandbox(
    sample_org: OrgStore, tmp_path: Path, app_key: rsa.RSAPrivateKey
) -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(
        sample_org,
        page_size=50,
        cert_dir=tmp_path / "certs",
        jwt_public_key=_certificate(app_key),
        **SANDBOX_CREDENTIALS,
    ) as server:
        yield server


def _jwt(sandbox: SalesforceSandbox, key: rsa.RSAPrivateKey) -> JwtBearerCredentials:
    return JwtBearerCredentials(
        login_url=sandbox.login_url,
        username=USERNAME,
        client_id=CLIENT_ID,
        private_key=_pem(key),
        ca_bundle=sandbox.ca_pem_path,
    )


def _client_credentials(sandbox: SalesforceSandbox, secret: str = CLIENT_SECRET) -> Credentials:
    return ClientCredentials(
        login_url=sandbox.login_url,
        client_id=CLIENT_ID,
        client_secret=secret,
        ca_bundle=sandbox.ca_pem_path,
    )


def _password(sandbox: SalesforceSandbox) -> Credentials:
    return SalesforceCredentials(
        login_url=sandbox.login_url, ca_bundle=sandbox.ca_pem_path, **SANDBOX_CREDENTIALS
    )


MODES = ["password", "jwt", "client_credentials"]


def _credentials(mode: str, sandbox: SalesforceSandbox, key: rsa.RSAPrivateKey) -> Credentials:
    if mode == "jwt":
        return _jwt(sandbox, key)
    if mode == "client_credentials":
        return _client_credentials(sandbox)
    return _password(sandbox)


@pytest.mark.parametrize("mode", MODES)
def test_mode_logs_in_and_renews_session(
    mode: str,
    sandbox: SalesforceSandbox,
    app_key: rsa.RSAPrivateKey,
    sqlite_engine: Engine,
    sample_org: OrgStore,
) -> None:
    session = SalesforceSession.login(_credentials(mode, sandbox, app_key))
    first_token = session.client.session_id
    sandbox.expire_sessions()
    result = sync_object(session, sqlite_engine, "Account", now=NOW)
    assert session.reconnects == 1
    assert session.client.session_id != first_token
    assert result.seen == sample_org.count("Account")


def test_runtime_logs_in_each_mode(
    sandbox: SalesforceSandbox, app_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    key_file = tmp_path / "server.key"
    key_file.write_text(_pem(app_key))
    common = {
        "salesforce_login_url": sandbox.login_url,
        "salesforce_ca_bundle": sandbox.ca_pem_path,
    }
    settings = {
        "jwt": GiftingSettings(
            salesforce_auth="jwt",
            salesforce_username=USERNAME,
            salesforce_client_id=CLIENT_ID,
            salesforce_private_key_file=key_file,
            **common,
        ),
        "client_credentials": GiftingSettings(
            salesforce_auth="client_credentials",
            salesforce_client_id=CLIENT_ID,
            salesforce_client_secret=CLIENT_SECRET,
            **common,
        ),
    }
    for mode, values in settings.items():
        runtime = Runtime(values)
        assert runtime.salesforce_credentials.mode == mode
        assert runtime.salesforce_credentials.api_version == "62.0"
        page = runtime.salesforce_session.query("SELECT Id FROM Account LIMIT 1")
        assert page["totalSize"] == 1


def test_session_id_mode_cannot_renew(
    sandbox: SalesforceSandbox, sqlite_engine: Engine, sample_org: OrgStore
) -> None:
    token = SalesforceSession.login(_password(sandbox)).client.session_id
    credentials = SessionIdCredentials(
        instance_url=sandbox.instance_url, session_id=token, ca_bundle=sandbox.ca_pem_path
    )
    session = SalesforceSession.login(credentials)
    assert sync_object(session, sqlite_engine, "Account", now=NOW).seen == (
        sample_org.count("Account")
    )
    sandbox.expire_sessions()
    with pytest.raises(SessionExpired, match="session id cannot log in again") as raised:
        sync_object(session, sqlite_engine, "Contact", now=NOW)
    assert "GIFTING_SALESFORCE_SESSION_ID" in str(raised.value)
    assert token not in str(raised.value)


def test_jwt_signed_with_wrong_key_rejected(
    sandbox: SalesforceSandbox, other_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        SalesforceSession.login(_jwt(sandbox, other_key))
    message = str(raised.value)
    assert "invalid_grant (invalid assertion)" in message
    assert "GIFTING_SALESFORCE_PRIVATE_KEY_FILE" in message


def _post_assertion(sandbox: SalesforceSandbox, assertion: str) -> dict[str, Any]:
    response = requests.post(
        sandbox.token_url,
        data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion},
        verify=str(sandbox.ca_pem_path),
        timeout=10,
    )
    assert response.status_code == 400
    return dict(response.json())


@pytest.mark.parametrize(
    ("change", "error", "description"),
    [
        ({"iss": "someone-else"}, "invalid_client_id", "client identifier invalid"),
        ({"aud": "https://login.example.test"}, "invalid_grant", "audience is invalid"),
        ({"exp": int(time.time()) - 60}, "invalid_grant", "expired authorization code"),
        ({"sub": "intruder@acme.test"}, "invalid_grant", "user hasn't approved this consumer"),
        ({"aud": None}, "invalid_grant", "invalid assertion"),
    ],
)
def test_jwt_claims_are_checked(
    sandbox: SalesforceSandbox,
    app_key: rsa.RSAPrivateKey,
    change: dict[str, Any],
    error: str,
    description: str,
) -> None:
    claims = {"iss": CLIENT_ID, "sub": USERNAME, "aud": sandbox.login_url, "exp": time.time() + 60}
    claims.update(change)
    claims = {name: value for name, value in claims.items() if value is not None}
    body = _post_assertion(sandbox, jwt.encode(claims, _pem(app_key), algorithm="RS256"))
    assert body == {"error": error, "error_description": description}


@pytest.mark.parametrize("assertion", ["not-a-jwt", "hs256"])
def test_malformed_assertion_rejected(sandbox: SalesforceSandbox, assertion: str) -> None:
    if assertion == "hs256":
        claims = {"iss": CLIENT_ID, "sub": USERNAME, "aud": sandbox.login_url, "exp": 2**31}
        assertion = jwt.encode(claims, "a-shared-secret-of-32-bytes-or-more!", algorithm="HS256")
    body = _post_assertion(sandbox, assertion)
    assert body == {"error": "invalid_grant", "error_description": "invalid assertion"}


def test_jwt_accepts_bare_public_key(
    sample_org: OrgStore, tmp_path: Path, app_key: rsa.RSAPrivateKey
) -> None:
    public_pem = app_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with SalesforceSandbox(
        sample_org, cert_dir=tmp_path / "certs", jwt_public_key=public_pem, **SANDBOX_CREDENTIALS
    ) as server:
        session = SalesforceSession.login(_jwt(server, app_key))
        assert session.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1


def test_client_credentials_over_basic_auth(sandbox: SalesforceSandbox) -> None:
    encoded = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    response = requests.post(
        sandbox.token_url,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {encoded}"},
        verify=str(sandbox.ca_pem_path),
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["instance_url"] == sandbox.instance_url


def test_client_credentials_without_run_as_user(sample_org: OrgStore, tmp_path: Path) -> None:
    with (
        SalesforceSandbox(
            sample_org,
            cert_dir=tmp_path / "certs",
            client_credentials=False,
            **SANDBOX_CREDENTIALS,
        ) as server,
        pytest.raises(ConfigurationError, match="no client credentials user enabled"),
    ):
        SalesforceSession.login(_client_credentials(server))


def test_secrets_never_leak_in_any_mode(
    sandbox: SalesforceSandbox,
    app_key: rsa.RSAPrivateKey,
    other_key: rsa.RSAPrivateKey,
    sqlite_engine: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = [
        SANDBOX_CREDENTIALS["password"],
        SANDBOX_CREDENTIALS["security_token"],
        CLIENT_SECRET,
        _pem(app_key).splitlines()[5],
        _pem(other_key).splitlines()[5],
        "wrong-client-secret-987",
    ]
    texts: list[str] = []

    for mode in MODES:
        credentials = _credentials(mode, sandbox, app_key)
        session = SalesforceSession.login(credentials)
        secrets.append(session.client.session_id)
        sandbox.expire_sessions()
        sync_object(session, sqlite_engine, "Account", now=NOW)
        secrets.append(session.client.session_id)
        texts += [repr(session), repr(credentials), str(credentials)]

    session_id = SessionIdCredentials(
        instance_url=sandbox.instance_url,
        session_id=secrets[-1],
        ca_bundle=sandbox.ca_pem_path,
    )
    texts += [repr(session_id), repr(SalesforceSession.login(session_id))]
    sandbox.expire_sessions()
    with pytest.raises(SessionExpired) as expired:
        sync_object(SalesforceSession.login(session_id), sqlite_engine, "Contact", now=NOW)
    texts += [str(expired.value), str(expired.value.__cause__)]

    for failing in (
        _jwt(sandbox, other_key),
        _client_credentials(sandbox, "wrong-client-secret-987"),
    ):
        with pytest.raises(ConfigurationError) as rejected:
            SalesforceSession.login(failing)
        texts.append(str(rejected.value))

    texts.append(caplog.text)
    for secret in secrets:
        for text in texts:
            assert secret not in text
