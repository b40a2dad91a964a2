"""Unit tests for choosing and checking the Salesforce authentication mode at start.

Each mode must fail before any request with the exact variables to set, and no secret may show
in a settings or credentials ``repr``.
"""

from __future__ import annotations

import os
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gifting.errors import ConfigurationError
from gifting.salesforce.credentials import (
    ClientCredentials,
    JwtBearerCredentials,
    SalesforceCredentials,
    SessionIdCredentials,
    credentials_from_settings,
    read_private_key_file,
)
from gifting.settings import GiftingSettings, SecretBlockSettings, secret_block_name

LOGIN_URL = "https://acme.my.salesforce.com"
SECRETS = {
    "salesforce_password": "pw-unit-Secret-1",
    "salesforce_security_token": "tok-unit-Secret-2",
    "salesforce_client_secret": "cs-unit-Secret-3",
    "salesforce_session_id": "00Dunit!Secret-4",
}


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, password: bytes | None = None
) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


@pytest.fixture
def key_file(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    path = tmp_path / "server.key"
    path.write_bytes(_pem(rsa_key))
    return path


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep GIFTING_* variables of the shell that runs the tests out of these settings."""
    for name in list(os.environ):
        if name.startswith("GIFTING_"):
            monkeypatch.delenv(name)


def _settings(**values: object) -> GiftingSettings:
    return GiftingSettings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "given", "missing"),
    [
        (
            "password",
            {"salesforce_login_url": LOGIN_URL, "salesforce_username": "sync@acme.test"},
            [
                "GIFTING_SALESFORCE_PASSWORD",
                "GIFTING_SALESFORCE_CLIENT_ID",
                "GIFTING_SALESFORCE_CLIENT_SECRET",
            ],
        ),
        (
            "jwt",
            {"salesforce_login_url": LOGIN_URL, "salesforce_client_id": "3MVG9"},
            [
                "GIFTING_SALESFORCE_USERNAME",
                "GIFTING_SALESFORCE_PRIVATE_KEY_FILE or GIFTING_SALESFORCE_PRIVATE_KEY",
            ],
        ),
        (
            "client_credentials",
            {"salesforce_login_url": LOGIN_URL},
            ["GIFTING_SALESFORCE_CLIENT_ID", "GIFTING_SALESFORCE_CLIENT_SECRET"],
        ),
        (
            "session_id",
            {"salesforce_instance_url": LOGIN_URL},
            ["GIFTING_SALESFORCE_SESSION_ID"],
        ),
        (
            "jwt",
            {"salesforce_instance_url": LOGIN_URL},
            [
                "GIFTING_SALESFORCE_LOGIN_URL",
                "GIFTING_SALESFORCE_USERNAME",
                "GIFTING_SALESFORCE_CLIENT_ID",
                "GIFTING_SALESFORCE_PRIVATE_KEY_FILE or GIFTING_SALESFORCE_PRIVATE_KEY",
            ],
        ),
    ],
)
def test_missing_settings_named_per_mode(
    mode: str, given: dict[str, str], missing: list[str]
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        _settings(salesforce_auth=mode, **given)
    message = str(raised.value)
    assert f"GIFTING_SALESFORCE_AUTH is {mode}" in message
    for name in missing:
        assert name in message
    listed = message.split("missing: ")[1].split(". ")[0]
    assert listed.count("GIFTING_") == sum(name.count("GIFTING_") for name in missing)


def test_unknown_mode_lists_valid_ones() -> None:
    with pytest.raises(ConfigurationError) as raised:
        _settings(salesforce_auth="oauth")
    message = str(raised.value)
    assert "'oauth'" in message
    for mode in ("password", "jwt", "client_credentials", "session_id"):
        assert mode in message


def test_no_org_means_sandbox() -> None:
    settings = _settings(salesforce_auth="jwt")
    assert settings.uses_salesforce_sandbox


def test_session_id_mode_is_a_real_org() -> None:
    settings = _settings(
        salesforce_auth="session_id",
        salesforce_instance_url=LOGIN_URL,
        salesforce_session_id=SECRETS["salesforce_session_id"],
    )
    assert not settings.uses_salesforce_sandbox
    credentials = credentials_from_settings(settings, api_version="62.0")
    assert isinstance(credentials, SessionIdCredentials)
    assert not credentials.can_reconnect


def test_repr_hides_secrets_in_every_mode(rsa_key: rsa.RSAPrivateKey) -> None:
    key_text = _pem(rsa_key).decode()
    extra = {
        "password": {"salesforce_username": "sync@acme.test", "salesforce_client_id": "3MVG9"},
        "jwt": {
            "salesforce_username": "sync@acme.test",
            "salesforce_client_id": "3MVG9",
            "salesforce_private_key": key_text,
        },
        "client_credentials": {"salesforce_client_id": "3MVG9"},
        "session_id": {"salesforce_instance_url": LOGIN_URL},
    }
    expected = {
        "password": SalesforceCredentials,
        "jwt": JwtBearerCredentials,
        "client_credentials": ClientCredentials,
        "session_id": SessionIdCredentials,
    }
    secrets = [*SECRETS.values(), key_text.splitlines()[3]]
    for mode, values in extra.items():
        settings = _settings(
            salesforce_auth=mode, salesforce_login_url=LOGIN_URL, **values, **SECRETS
        )
        credentials = credentials_from_settings(settings, api_version="62.0")
        assert isinstance(credentials, expected[mode])
        texts = [repr(settings), str(settings), repr(credentials), str(credentials)]
        for secret in secrets:
            for text in texts:
                assert secret not in text, mode


def test_jwt_assertion_is_signed_rs256(key_file: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    settings = _settings(
        salesforce_auth="jwt",
        salesforce_login_url=LOGIN_URL,
        salesforce_username="sync@acme.test",
        salesforce_client_id="3MVG9-consumer-key",
        salesforce_private_key_file=key_file,
        salesforce_jwt_audience="https://login.salesforce.com",
    )
    credentials = credentials_from_settings(settings, api_version="62.0")
    assert isinstance(credentials, JwtBearerCredentials)
    assertion = credentials.assertion(now=1_800_000_000)
    assert jwt.get_unverified_header(assertion)["alg"] == "RS256"
    claims = jwt.decode(
        assertion,
        rsa_key.public_key(),
        algorithms=["RS256"],
        audience="https://login.salesforce.com",
        options={"verify_exp": False},
    )
    assert claims == {
        "iss": "3MVG9-consumer-key",
        "sub": "sync@acme.test",
        "aud": "https://login.salesforce.com",
        "exp": 1_800_000_180,
    }
    key_text = key_file.read_text()
    assert key_text not in repr(credentials)
    assert key_text not in repr(settings)


def test_jwt_audience_defaults_to_login_url(key_file: Path) -> None:
    credentials = JwtBearerCredentials(
        login_url=LOGIN_URL + "/",
        username="u",
        client_id="c",
        private_key=read_private_key_file(key_file),
    )
    claims = jwt.decode(credentials.assertion(), options={"verify_signature": False})
    assert claims["aud"] == LOGIN_URL


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not a key", "does not contain a PEM private key"),
        ("encrypted", "is encrypted"),
        ("ec", "is not an RSA key"),
        (None, "cannot read GIFTING_SALESFORCE_PRIVATE_KEY_FILE"),
    ],
)
def test_unusable_private_key_fails_at_start(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, content: str | None, expected: str
) -> None:
    path = tmp_path / "server.key"
    if content == "encrypted":
        path.write_bytes(_pem(rsa_key, password=b"passphrase-123"))
    elif content == "ec":
        path.write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    elif content is not None:
        path.write_text(content)
    settings = _settings(
        salesforce_auth="jwt",
        salesforce_login_url=LOGIN_URL,
        salesforce_username="u",
        salesforce_client_id="c",
        salesforce_private_key_file=path,
    )
    with pytest.raises(ConfigurationError, match=expected) as raised:
        credentials_from_settings(settings, api_version="62.0")
    assert str(path) in str(raised.value)
    assert raised.value.__cause__ is None


def test_private_key_text_is_checked(rsa_key: rsa.RSAPrivateKey) -> None:
    broken = _pem(rsa_key).decode()[:200]
    settings = _settings(
        salesforce_auth="jwt",
        salesforce_login_url=LOGIN_URL,
        salesforce_username="u",
        salesforce_client_id="c",
        salesforce_private_key=broken,
    )
    with pytest.raises(ConfigurationError, match="GIFTING_SALESFORCE_PRIVATE_KEY ") as raised:
        credentials_from_settings(settings, api_version="62.0")
    assert broken[40:120] not in str(raised.value)


@pytest.mark.parametrize("host", ["login.salesforce.com", "test.salesforce.com"])
def test_client_credentials_needs_my_domain(host: str) -> None:
    settings = _settings(
        salesforce_auth="client_credentials",
        salesforce_login_url=f"https://{host}",
        salesforce_client_id="c",
        salesforce_client_secret="s",
    )
    with pytest.raises(ConfigurationError, match="My Domain"):
        credentials_from_settings(settings, api_version="62.0")


@pytest.mark.parametrize("version", ["v62.0", "62", "62.1", "latest"])
def test_api_version_override_is_checked(version: str) -> None:
    settings = _settings(
        salesforce_auth="session_id",
        salesforce_instance_url=LOGIN_URL,
        salesforce_session_id="x",
        salesforce_api_version=version,
    )
    with pytest.raises(ConfigurationError, match="without a leading v"):
        credentials_from_settings(settings, api_version="62.0")


def test_api_version_from_config_unless_overridden() -> None:
    values = {
        "salesforce_auth": "session_id",
        "salesforce_instance_url": LOGIN_URL,
        "salesforce_session_id": "x",
    }
    pinned = credentials_from_settings(_settings(**values), api_version="61.0")
    assert pinned.api_version == "61.0"
    overridden = _settings(**values, salesforce_api_version="60.0")
    assert credentials_from_settings(overridden, api_version="61.0").api_version == "60.0"


@pytest.mark.parametrize("prefix", ["Gifting", "gifting_prod", "gifting--prod", "-gifting"])
def test_secret_block_prefix_is_checked(prefix: str) -> None:
    with pytest.raises(ConfigurationError, match="GIFTING_SECRET_BLOCK_PREFIX"):
        SecretBlockSettings(secret_block_prefix=prefix)


def test_secret_block_names() -> None:
    assert secret_block_name("gifting-prod", "salesforce_password") == (
        "gifting-prod-salesforce-password"
    )
