"""The sandbox's OAuth token endpoint, ``POST /services/oauth2/token``, for three grant types.

* ``password``: consumer key and secret, username, and password followed by the security token.
* ``urn:ietf:params:oauth:grant-type:jwt-bearer``: an RS256 assertion signed by the connected
  app's key. The endpoint checks the signature against the configured certificate or public key,
  then ``iss`` (the consumer key), ``aud``, ``exp`` and ``sub`` (the username).
* ``client_credentials``: consumer key and secret, in the form or as HTTP Basic; the session runs
  as the connected app's run-as user.

Failures are HTTP 400 with the OAuth error bodies Salesforce sends, such as
``{"error": "invalid_grant", "error_description": "audience is invalid"}``, never the REST API's
error list.

NOTE: the codes and descriptions are the ones Salesforce users report for the same faults;
Salesforce does not document them all, so a real org may word an unknown ``sub`` or a missing
run-as user differently.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from gifting.sandbox.salesforce_api import ApiRequest, ApiResponse

logger = logging.getLogger(__name__)

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(frozen=True)
class ConnectedApp:
    """The org's integration user and connected app, as the token endpoint checks them.

    Attributes:
        client_id: Consumer key.
        client_secret: Consumer secret.
        username: The integration user.
        password: The user's password followed by the security token.
        jwt_public_key: PEM of the certificate or public key the app verifies JWT assertions
            with; None rejects the JWT bearer grant as Salesforce does for an app without a
            certificate.
        jwt_audiences: Accepted ``aud`` values.
        client_credentials_user: Run-as user of the client credentials grant; None disables it.
    """

    client_id: str
    client_secret: str
    username: str
    password: str
    jwt_public_key: bytes | None = None
    jwt_audiences: Sequence[str] = ()
    client_credentials_user: str | None = None


class TokenEndpoint:
    """Check token requests against a ``ConnectedApp`` and issue sessions through a callback.

    Args:
        app: What the endpoint accepts.
        new_session: Creates a session for a username and returns the token response body.
    """

    def __init__(self, app: ConnectedApp, new_session: Callable[[str], dict[str, str]]) -> None:
        self.app = app
        self._new_session = new_session
        self._public_key = _load_public_key(app.jwt_public_key) if app.jwt_public_key else None

    def handle(self, request: ApiRequest, authorization: str | None) -> ApiResponse:
        """Serve one token request; Salesforce checks the connected app before the user."""
        if request.method != "POST":
            return _oauth_error("invalid_request", "must use HTTP POST")
        form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        form = {**request.params, **form}
        grant_type = _form_value(form, "grant_type")
        if grant_type == "password":
            return self._password_grant(form)
        if grant_type == JWT_BEARER_GRANT:
            return self._jwt_bearer_grant(_form_value(form, "assertion"))
        if grant_type == "client_credentials":
            return self._client_credentials_grant(form, authorization)
        return _oauth_error("unsupported_grant_type", "grant type not supported")

    def _password_grant(self, form: dict[str, list[str]]) -> ApiResponse:
        app = self.app
        if not _equal(_form_value(form, "client_id"), app.client_id):
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if not _equal(_form_value(form, "client_secret"), app.client_secret):
            return _oauth_error("invalid_client", "invalid client credentials")
        user_matches = _equal(_form_value(form, "username"), app.username)
        if not (user_matches and _equal(_form_value(form, "password"), app.password)):
            return _oauth_error("invalid_grant", "authentication failure")
        return ApiResponse(200, self._new_session(app.username))

    def _jwt_bearer_grant(self, assertion: str) -> ApiResponse:
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            return _oauth_error("invalid_grant", "invalid assertion")
        if not _equal(str(unverified.get("iss", "")), self.app.client_id):
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if self._public_key is None:
            return _oauth_error("invalid_grant", "invalid assertion")
        try:
            claims = jwt.decode(
                assertion,
                self._public_key,
                algorithms=["RS256"],
                options={"verify_aud": False, "verify_exp": False, "require": ["exp", "aud"]},
            )
        except jwt.InvalidTokenError as error:
            logger.info("JWT assertion rejected: %s", type(error).__name__)
            return _oauth_error("invalid_grant", "invalid assertion")
        if str(claims["aud"]).rstrip("/") not in self.app.jwt_audiences:
            return _oauth_error("invalid_grant", "audience is invalid")
        if not _not_expired(claims["exp"]):
            return _oauth_error("invalid_grant", "expired authorization code")
        if not _equal(str(claims.get("sub", "")), self.app.username):
            return _oauth_error("invalid_grant", "user hasn't approved this consumer")
        return ApiResponse(200, self._new_session(self.app.username))

    def _client_credentials_grant(
        self, form: dict[str, list[str]], authorization: str | None
    ) -> ApiResponse:
        client_id, client_secret = _basic_credentials(authorization) or (
            _form_value(form, "client_id"),
            _form_value(form, "client_secret"),
        )
        if not _equal(client_id, self.app.client_id):
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if not _equal(client_secret, self.app.client_secret):
            return _oauth_error("invalid_client", "invalid client credentials")
        if self.app.client_credentials_user is None:
            return _oauth_error("invalid_grant", "no client credentials user enabled")
        return ApiResponse(200, self._new_session(self.app.client_credentials_user))


def _load_public_key(pem: bytes) -> RSAPublicKey:
    """Return the RSA key in a PEM certificate or public key, as a connected app stores it."""
    if b"BEGIN CERTIFICATE" in pem:
        key: Any = x509.load_pem_x509_certificate(pem).public_key()
    else:
        key = load_pem_public_key(pem)
    if not isinstance(key, RSAPublicKey):
        raise ValueError("the JWT certificate must contain an RSA public key, for RS256")
    return key


def _not_expired(exp: object) -> bool:
    try:
        return float(str(exp)) > time.time()
    except ValueError:
        return False


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, client_secret = decoded.partition(":")
    return unquote(client_id), unquote(client_secret)


def _equal(actual: str, expected: str) -> bool:
    return hmac.compare_digest(actual.encode(), expected.encode())


def _form_value(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[0]


def _oauth_error(error: str, description: str) -> ApiResponse:
    logger.warning("rejected a Salesforce sandbox token request: %s (%s)", error, description)
    return ApiResponse(400, {"error": error, "error_description": description})
