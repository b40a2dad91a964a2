"""Salesforce login credentials, one class per OAuth flow the product supports.

| mode | class | contains | logs in again on expiry |
|---|---|---|---|
| ``password`` | ``SalesforceCredentials`` | app key and secret, user, password, token | yes |
| ``jwt`` | ``JwtBearerCredentials`` | app key, user, RSA private key | yes |
| ``client_credentials`` | ``ClientCredentials`` | app key and secret | yes |
| ``session_id`` | ``SessionIdCredentials`` | an access token and its instance URL | no |

Every ``repr`` leaves the secrets out. ``credentials_from_settings`` builds the right class from
``GiftingSettings`` and reads the private key file, so a bad key fails when the flow starts.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, TypeVar
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import SecretStr

from gifting.errors import ConfigurationError
from gifting.settings import GiftingSettings

AuthMode = Literal["password", "jwt", "client_credentials", "session_id"]
AUTH_MODES: tuple[AuthMode, ...] = ("password", "jwt", "client_credentials", "session_id")

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Seconds an assertion stays valid; simple-salesforce 1.12.10 signs its assertions for 3 minutes.
JWT_LIFETIME_S = 180
DEFAULT_API_VERSION = "62.0"
_API_VERSION = re.compile(r"^[1-9][0-9]\.0$")
_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True)
class _Connection:
    """Options every mode shares: the REST API version, the trusted CA and the request timeout."""

    api_version: str = DEFAULT_API_VERSION
    ca_bundle: Path | None = None
    timeout_s: float = 30.0

    mode: ClassVar[AuthMode]
    can_reconnect: ClassVar[bool] = True
    # The settings that the error of a rejected login names for the operator to check.
    setting_names: ClassVar[tuple[str, ...]] = ()

    @property
    def principal(self) -> str:
        """Return who logs in, for logs and messages: a username or a connected app."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class SalesforceCredentials(_Connection):
    """Username-password OAuth flow: a connected app plus the integration user's password."""

    login_url: str
    username: str
    password: str
    security_token: str = ""
    client_id: str
    client_secret: str

    mode: ClassVar[AuthMode] = "password"
    setting_names: ClassVar[tuple[str, ...]] = (
        "GIFTING_SALESFORCE_USERNAME",
        "GIFTING_SALESFORCE_PASSWORD",
        "GIFTING_SALESFORCE_SECURITY_TOKEN",
        "GIFTING_SALESFORCE_CLIENT_ID",
        "GIFTING_SALESFORCE_CLIENT_SECRET",
    )

    @property
    def principal(self) -> str:
        return self.username

    def token_form(self) -> dict[str, str]:
        """Return the form fields of the token request."""
        return {
            "grant_type": "password",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "username": self.username,
            # Salesforce expects the security token appended to the password.
            "password": self.password + self.security_token,
        }

    def __repr__(self) -> str:
        return f"SalesforceCredentials(login_url={self.login_url!r}, username={self.username!r})"


@dataclass(frozen=True, kw_only=True)
class JwtBearerCredentials(_Connection):
    """OAuth 2.0 JWT bearer flow: an assertion for ``username`` signed with the app's RSA key.

    Attributes:
        private_key: PEM text of the RSA private key whose certificate the connected app stores.
        audience: The ``aud`` claim; None uses ``login_url``. Salesforce expects
            ``https://login.salesforce.com`` or ``https://test.salesforce.com`` there, even when
            the token request goes to a My Domain URL.
    """

    login_url: str
    username: str
    client_id: str
    private_key: str
    audience: str | None = None

    mode: ClassVar[AuthMode] = "jwt"
    setting_names: ClassVar[tuple[str, ...]] = (
        "GIFTING_SALESFORCE_CLIENT_ID",
        "GIFTING_SALESFORCE_USERNAME",
        "GIFTING_SALESFORCE_PRIVATE_KEY_FILE or GIFTING_SALESFORCE_PRIVATE_KEY",
        "GIFTING_SALESFORCE_JWT_AUDIENCE",
    )

    @property
    def principal(self) -> str:
        return self.username

    def assertion(self, now: float | None = None) -> str:
        """Return a new RS256-signed assertion, valid for ``JWT_LIFETIME_S`` from ``now``."""
        issued = time.time() if now is None else now
        claims = {
            "iss": self.client_id,
            "sub": self.username,
            "aud": (self.audience or self.login_url).rstrip("/"),
            "exp": int(issued) + JWT_LIFETIME_S,
        }
        return jwt.encode(claims, self.private_key, algorithm="RS256")

    def token_form(self) -> dict[str, str]:
        """Return the form fields of the token request, with a freshly signed assertion."""
        return {"grant_type": JWT_BEARER_GRANT, "assertion": self.assertion()}

    def __repr__(self) -> str:
        return (
            f"JwtBearerCredentials(login_url={self.login_url!r}, username={self.username!r}, "
            f"client_id={self.client_id!r})"
        )


@dataclass(frozen=True, kw_only=True)
class ClientCredentials(_Connection):
    """OAuth 2.0 client credentials flow: the connected app logs in as its configured run-as user.

    Salesforce serves this flow on the org's My Domain URL only, not on login or test.
    """

    login_url: str
    client_id: str
    client_secret: str

    mode: ClassVar[AuthMode] = "client_credentials"
    setting_names: ClassVar[tuple[str, ...]] = (
        "GIFTING_SALESFORCE_LOGIN_URL (the My Domain URL)",
        "GIFTING_SALESFORCE_CLIENT_ID",
        "GIFTING_SALESFORCE_CLIENT_SECRET",
    )

    @property
    def principal(self) -> str:
        return f"connected app {self.client_id[:8]}…"

    def token_form(self) -> dict[str, str]:
        """Return the form fields of the token request."""
        return {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }

    def __repr__(self) -> str:
        return f"ClientCredentials(login_url={self.login_url!r}, principal={self.principal!r})"


@dataclass(frozen=True, kw_only=True)
class SessionIdCredentials(_Connection):
    """An access token obtained elsewhere, such as from ``sf org display``.

    It cannot be renewed: when Salesforce expires it, the sync stops with an error that requests
    a new one.
    """

    instance_url: str
    session_id: str

    mode: ClassVar[AuthMode] = "session_id"
    can_reconnect: ClassVar[bool] = False
    setting_names: ClassVar[tuple[str, ...]] = (
        "GIFTING_SALESFORCE_SESSION_ID",
        "GIFTING_SALESFORCE_INSTANCE_URL",
    )

    @property
    def principal(self) -> str:
        return f"a session id for {self.instance_url}"

    def __repr__(self) -> str:
        return f"SessionIdCredentials(instance_url={self.instance_url!r})"


TokenCredentials = SalesforceCredentials | JwtBearerCredentials | ClientCredentials
Credentials = TokenCredentials | SessionIdCredentials


def load_private_key(pem: bytes, source: str) -> str:
    """Check that ``pem`` is an unencrypted RSA private key and return it as text.

    Args:
        pem: The key file's bytes.
        source: Where the key came from, such as the setting's name; used in errors.

    Raises:
        ConfigurationError: The key is not PEM, is encrypted or is not RSA. The message names
            ``source`` and never shows the key.
    """
    try:
        key = load_pem_private_key(pem, password=None)
    except TypeError:
        raise ConfigurationError(
            f"the private key in {source} is encrypted: export it without a passphrase "
            "(openssl rsa -in KEY -out KEY.unencrypted) and keep it in a Secret block"
        ) from None
    except ValueError:
        # from None: the parser's message may quote bytes of the key.
        raise ConfigurationError(
            f"{source} does not contain a PEM private key: it must begin with "
            "-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----"
        ) from None
    if not isinstance(key, RSAPrivateKey):
        raise ConfigurationError(
            f"the private key in {source} is not an RSA key: Salesforce's JWT bearer flow "
            "signs with RS256, so generate an RSA key (openssl genrsa -out server.key 2048)"
        )
    return pem.decode("ascii")


def read_private_key_file(path: Path) -> str:
    """Read and check the JWT signing key at ``path``; see ``load_private_key``."""
    try:
        pem = path.read_bytes()
    except OSError as error:
        raise ConfigurationError(
            f"cannot read GIFTING_SALESFORCE_PRIVATE_KEY_FILE {path}: {error.strerror}. "
            "Point it at the connected app's RSA private key, or set "
            "GIFTING_SALESFORCE_PRIVATE_KEY instead"
        ) from None
    return load_private_key(pem, f"GIFTING_SALESFORCE_PRIVATE_KEY_FILE {path}")


def credentials_from_settings(settings: GiftingSettings, *, api_version: str) -> Credentials:
    """Build the credentials of ``settings.salesforce_auth`` from validated settings.

    Args:
        settings: Settings whose validator already checked that the mode's settings are present.
        api_version: ``connection.api_version`` from ``config/salesforce.yaml``;
            ``GIFTING_SALESFORCE_API_VERSION`` overrides it.

    Raises:
        ConfigurationError: The API version is malformed, the private key cannot be used, or the
            client credentials flow points at login.salesforce.com or test.salesforce.com.
    """
    version = settings.salesforce_api_version or api_version
    if not _API_VERSION.match(version):
        raise ConfigurationError(
            f"GIFTING_SALESFORCE_API_VERSION is {version!r}: write the version as Salesforce "
            "numbers it, such as 62.0, without a leading v"
        )
    common = {
        "api_version": version,
        "ca_bundle": settings.salesforce_ca_bundle,
    }
    mode = settings.salesforce_auth
    if mode == "session_id":
        return SessionIdCredentials(
            instance_url=_required(settings.salesforce_instance_url),
            session_id=_secret(settings.salesforce_session_id),
            **common,
        )
    login_url = _required(settings.salesforce_login_url)
    if mode == "jwt":
        if settings.salesforce_private_key is not None:
            private_key = load_private_key(
                _secret(settings.salesforce_private_key).encode("ascii", "replace"),
                "GIFTING_SALESFORCE_PRIVATE_KEY",
            )
        else:
            private_key = read_private_key_file(_required(settings.salesforce_private_key_file))
        return JwtBearerCredentials(
            login_url=login_url,
            username=_required(settings.salesforce_username),
            client_id=_required(settings.salesforce_client_id),
            private_key=private_key,
            audience=settings.salesforce_jwt_audience,
            **common,
        )
    if mode == "client_credentials":
        host = urlsplit(login_url).hostname or ""
        if host in ("login.salesforce.com", "test.salesforce.com"):
            raise ConfigurationError(
                f"GIFTING_SALESFORCE_LOGIN_URL is {login_url}, but Salesforce serves the client "
                "credentials flow on the org's My Domain only: set it to "
                "https://MYDOMAIN.my.salesforce.com, or "
                "https://MYDOMAIN--SANDBOX.sandbox.my.salesforce.com for a sandbox org"
            )
        return ClientCredentials(
            login_url=login_url,
            client_id=_required(settings.salesforce_client_id),
            client_secret=_secret(settings.salesforce_client_secret),
            **common,
        )
    return SalesforceCredentials(
        login_url=login_url,
        username=_required(settings.salesforce_username),
        password=_secret(settings.salesforce_password),
        security_token=_secret(settings.salesforce_security_token),
        client_id=_required(settings.salesforce_client_id),
        client_secret=_secret(settings.salesforce_client_secret),
        **common,
    )


def _required(value: _T | None) -> _T:
    # The settings validator already rejected a missing value for the selected mode.
    assert value is not None
    return value


def _secret(value: SecretStr | None) -> str:
    return "" if value is None else value.get_secret_value()
