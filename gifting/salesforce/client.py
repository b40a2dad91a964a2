"""Connect to Salesforce through simple-salesforce, over a session we configure ourselves.

We request the OAuth token ourselves instead of using simple-salesforce's login helpers, because
those post only to ``https://{domain}.salesforce.com`` (simple-salesforce 1.12). Requesting it
from a configurable base URL covers My Domain, sandbox orgs and the local Salesforce sandbox.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from simple_salesforce import Salesforce

from gifting.errors import ConfigurationError, PermanentError, RetriableError

logger = logging.getLogger(__name__)

TOKEN_PATH = "/services/oauth2/token"


@dataclass(frozen=True)
class SalesforceCredentials:
    """Username-password OAuth credentials; ``repr`` hides the secrets."""

    login_url: str
    username: str
    password: str
    security_token: str
    client_id: str
    client_secret: str
    api_version: str = "62.0"
    ca_bundle: Path | None = None
    timeout_s: float = 30.0

    def __repr__(self) -> str:
        return f"SalesforceCredentials(login_url={self.login_url!r}, username={self.username!r})"


def build_http_session(ca_bundle: Path | None) -> requests.Session:
    """Return a session that trusts ``ca_bundle`` when given, or the system store otherwise.

    requests lets ``REQUESTS_CA_BUNDLE`` override ``Session.verify`` unless ``trust_env`` is off,
    so a session pinned to a private CA must turn it off.
    """
    session = requests.Session()
    if ca_bundle is not None:
        session.trust_env = False
        session.verify = str(ca_bundle)
    return session


def request_token(credentials: SalesforceCredentials, session: requests.Session) -> tuple[str, str]:
    """Run the OAuth 2 username-password flow and return ``(access_token, instance_url)``."""
    url = credentials.login_url.rstrip("/") + TOKEN_PATH
    form = {
        "grant_type": "password",
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret,
        "username": credentials.username,
        "password": credentials.password + credentials.security_token,
    }
    try:
        response = session.post(url, data=form, timeout=credentials.timeout_s)
    except requests.RequestException as error:
        raise RetriableError(f"Salesforce token request to {url} failed: {error}") from error
    if response.status_code >= 500:
        raise RetriableError(
            f"Salesforce token endpoint {url} failed with HTTP {response.status_code}"
        )
    body = _json_object(response)
    if response.status_code != 200:
        raise ConfigurationError(
            f"Salesforce rejected the login for {credentials.username!r} at {url}: "
            f"{body.get('error', response.status_code)} ({body.get('error_description', '')}). "
            "Check GIFTING_SALESFORCE_USERNAME, _PASSWORD, _SECURITY_TOKEN, _CLIENT_ID and "
            "_CLIENT_SECRET."
        )
    token, instance_url = body.get("access_token"), body.get("instance_url")
    if not isinstance(token, str) or not isinstance(instance_url, str):
        raise PermanentError(
            f"Salesforce token endpoint {url} returned HTTP 200 without access_token and "
            "instance_url: check that GIFTING_SALESFORCE_LOGIN_URL points at a Salesforce login"
        )
    logger.info("obtained a Salesforce session for %s", credentials.username)
    return token, instance_url


def _json_object(response: requests.Response) -> dict[str, Any]:
    """Return the JSON object in a token response, or an empty dict for a body of another kind.

    A proxy or a wrong login URL returns HTML, which must not hide the HTTP status.
    """
    try:
        body = response.json() if response.content else {}
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def connect(credentials: SalesforceCredentials) -> Salesforce:
    """Log in and return a simple-salesforce client bound to the org's instance."""
    session = build_http_session(credentials.ca_bundle)
    token, instance_url = request_token(credentials, session)
    return Salesforce(
        instance_url=instance_url,
        session_id=token,
        session=session,
        version=credentials.api_version,
    )
