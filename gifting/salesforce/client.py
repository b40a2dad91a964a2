"""Connect to Salesforce through simple-salesforce, over a session we configure ourselves.

We request the OAuth token ourselves instead of using simple-salesforce's login helpers, because
``SalesforceLogin`` posts only to ``https://{domain}.salesforce.com`` (simple-salesforce 1.12.10,
for its password, JWT and client credentials flows alike). Requesting it from a configurable base
URL covers My Domain, sandbox orgs and the local Salesforce sandbox. The client itself is
simple-salesforce's, built from ``instance_url`` and ``session_id`` as its documentation shows for
an existing session.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import requests
from simple_salesforce import Salesforce

from gifting.errors import ConfigurationError, PermanentError, RetriableError
from gifting.salesforce.credentials import (
    Credentials,
    SalesforceCredentials,
    SessionIdCredentials,
    TokenCredentials,
)

__all__ = ["SalesforceCredentials", "build_http_session", "connect", "request_token"]

logger = logging.getLogger(__name__)

TOKEN_PATH = "/services/oauth2/token"


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


def request_token(credentials: TokenCredentials, session: requests.Session) -> tuple[str, str]:
    """Run the OAuth 2 flow of ``credentials`` and return ``(access_token, instance_url)``."""
    url = credentials.login_url.rstrip("/") + TOKEN_PATH
    try:
        response = session.post(url, data=credentials.token_form(), timeout=credentials.timeout_s)
    except requests.RequestException as error:
        # The exception text names the URL and the failure, never the form that carried secrets.
        raise RetriableError(f"Salesforce token request to {url} failed: {error}") from error
    if response.status_code >= 500:
        raise RetriableError(
            f"Salesforce token endpoint {url} failed with HTTP {response.status_code}"
        )
    body = _json_object(response)
    if response.status_code != 200:
        logger.error(
            "Salesforce rejected the %s login for %s: %s",
            credentials.mode, credentials.principal, body.get("error", response.status_code),
        )  # fmt: skip
        raise ConfigurationError(
            f"Salesforce rejected the {credentials.mode} login for {credentials.principal} at "
            f"{url}: {body.get('error', response.status_code)} "
            f"({body.get('error_description', '')}). Check "
            + ", ".join(credentials.setting_names)
            + "."
        )
    token, instance_url = body.get("access_token"), body.get("instance_url")
    if not isinstance(token, str) or not isinstance(instance_url, str):
        raise PermanentError(
            f"Salesforce token endpoint {url} returned HTTP 200 without access_token and "
            "instance_url: check that GIFTING_SALESFORCE_LOGIN_URL points at a Salesforce login"
        )
    logger.info(
        "obtained a Salesforce session for %s (%s)", credentials.principal, credentials.mode
    )
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


def connect(credentials: Credentials) -> Salesforce:
    """Log in and return a simple-salesforce client bound to the org's instance.

    A ``SessionIdCredentials`` needs no login: the client uses its access token as it is.
    """
    session = build_http_session(credentials.ca_bundle)
    if isinstance(credentials, SessionIdCredentials):
        token, instance_url = credentials.session_id, credentials.instance_url
        logger.info("using an existing Salesforce session for %s", instance_url)
    else:
        token, instance_url = request_token(credentials, session)
    return Salesforce(
        instance_url=instance_url,
        session_id=token,
        session=session,
        version=credentials.api_version,
    )
