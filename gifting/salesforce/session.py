"""A Salesforce client that retries, re-authenticates and stays within the org's API allocation.

simple-salesforce raises one exception class per HTTP status. This module is the boundary that
turns them into ``gifting.errors`` classes grouped by what the sync should do next:

* 5xx, 429 and network timeouts: retried here with exponential backoff, then ``RetriableError``.
* 401 (``INVALID_SESSION_ID``): ``SessionExpired``; the caller calls ``reconnect()`` and resumes.
* 403 ``REQUEST_LIMIT_EXCEEDED``, or usage past the configured share: ``ApiLimitReached``.
* 400 on a query (``MALFORMED_QUERY``, ``INVALID_FIELD``, ``INVALID_TYPE``): ``QueryRejected``,
  raised at once because the same query fails the same way.
* other 4xx: ``PermanentError``.

Messages carry the Salesforce error code and text but never a URL, header or token.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from gifting.errors import PermanentError, RetriableError
from gifting.salesforce.client import connect
from gifting.salesforce.config import SyncOptions
from gifting.salesforce.credentials import Credentials
from gifting.vendors.retry import backoff_delay

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
RETRIABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

T = TypeVar("T")


class ApiLimitReached(RetriableError):
    """The org's daily API allocation is used up, or used past the configured share.

    The sync stops at once and keeps every watermark it wrote, so the next run resumes.
    """


class SessionExpired(RetriableError):
    """The access token expired or was revoked; ``SalesforceSession.reconnect`` gets a new one."""


class QueryRejected(PermanentError):
    """Salesforce rejected a query as invalid; sending it again fails the same way.

    Attributes:
        error_code: Salesforce's ``errorCode``, such as ``INVALID_FIELD``.
        detail: Salesforce's ``message``.
    """

    def __init__(self, message: str, *, error_code: str, detail: str) -> None:
        super().__init__(message, reason=error_code.lower())
        self.error_code = error_code
        self.detail = detail


class SalesforceSession:
    """A logged-in simple-salesforce client plus what it takes to log in again.

    Args:
        client: A logged-in client, such as ``connect(credentials)`` returns.
        credentials: Used by ``reconnect``; None means an expired session cannot be renewed.
        options: Retry attempts, backoff and the share of the daily API allocation to stop at.
        sleep: Waits the given seconds between retries; tests pass a recorder.
        random_fraction: Returns a number in [0, 1) that scales each backoff (full jitter).
        connector: Logs in and returns a client; ``connect`` unless a test replaces it.
    """

    def __init__(
        self,
        client: Salesforce,
        credentials: Credentials | None = None,
        *,
        options: SyncOptions | None = None,
        sleep: Callable[[float], None] = time.sleep,
        random_fraction: Callable[[], float] = random.random,
        connector: Callable[[Credentials], Salesforce] = connect,
    ) -> None:
        self._client = client
        self._credentials = credentials
        self.options = options or SyncOptions()
        self._sleep = sleep
        self._random_fraction = random_fraction
        self._connector = connector
        self.reconnects = 0

    @classmethod
    def login(cls, credentials: Credentials, **options: Any) -> SalesforceSession:
        """Log in with ``credentials`` and return a session that can log in again."""
        return cls(connect(credentials), credentials, **options)

    @property
    def client(self) -> Salesforce:
        return self._client

    @property
    def timeout_s(self) -> float:
        return self._credentials.timeout_s if self._credentials else DEFAULT_TIMEOUT_S

    def __repr__(self) -> str:
        principal = self._credentials.principal if self._credentials else None
        return f"SalesforceSession(instance={self._client.sf_instance!r}, principal={principal!r})"

    def reconnect(self) -> None:
        """Request a new access token and swap the client, keeping the last API usage seen.

        Raises:
            SessionExpired: The session was built without credentials, or from a session id,
                so it cannot log in.
        """
        if self._credentials is None:
            raise SessionExpired(
                "the Salesforce session expired and this client has no credentials to log in "
                "again: build it with SalesforceSession.login(credentials)"
            )
        if not self._credentials.can_reconnect:
            logger.error("the Salesforce session id expired; a session id cannot log in again")
            raise SessionExpired(
                "the Salesforce session id in GIFTING_SALESFORCE_SESSION_ID expired or was "
                "revoked, and a session id cannot log in again: set a new one, or switch "
                "GIFTING_SALESFORCE_AUTH to jwt, client_credentials or password so the sync "
                "renews its own sessions"
            )
        usage = self._client.api_usage
        self._client = self._connector(self._credentials)
        self._client.api_usage = usage
        self.reconnects += 1
        logger.info("re-authenticated to Salesforce after an expired session")

    def api_usage(self) -> tuple[int, int] | None:
        """Return ``(used, allocation)`` from the last ``Sforce-Limit-Info`` header, if any."""
        usage = self._client.api_usage.get("api-usage")
        return None if usage is None else (usage.used, usage.total)

    def query(self, soql: str, *, include_deleted: bool = False) -> dict[str, Any]:
        """Run a SOQL query and return its first page as Salesforce sends it."""
        return self._call(
            "query",
            lambda: self._client.query(
                soql, include_deleted=include_deleted, timeout=self.timeout_s
            ),
        )

    def query_more(self, next_records_url: str) -> dict[str, Any]:
        """Fetch the page at ``nextRecordsUrl``, a path relative to the instance."""
        return self._call(
            "query page",
            lambda: self._client.query_more(
                next_records_url, identifier_is_url=True, timeout=self.timeout_s
            ),
        )

    def _call(self, what: str, send: Callable[[], Any]) -> dict[str, Any]:
        return dict(self.call(what, send))

    def call(self, what: str, send: Callable[[], T]) -> T:
        """Send one request under the budget check, retrying transient failures.

        Args:
            what: Names the request in messages, such as ``query page``.
            send: Sends the request through ``client`` and returns its result.
        """
        failure: Exception | None = None
        reason = ""
        attempts = self.options.max_attempts
        for attempt in range(1, attempts + 1):
            self._check_budget()
            try:
                return send()
            except (requests.Timeout, requests.ConnectionError) as error:
                failure = error
                reason = f"network error ({type(error).__name__})"
            except SalesforceError as error:
                if error.status not in RETRIABLE_STATUSES:
                    raise translate_error(what, error) from error
                failure, reason = error, f"HTTP {error.status} {describe(error)}"
            if attempt < attempts:
                delay = backoff_delay(
                    attempt, self.options.backoff_base_s, random_fraction=self._random_fraction
                )
                logger.warning(
                    "Salesforce %s failed with %s (attempt %d of %d); retrying in %.1f s",
                    what, reason, attempt, attempts, delay,
                )  # fmt: skip
                self._sleep(delay)
        raise RetriableError(
            f"Salesforce {what} failed {attempts} times, last with {reason}: "
            "the next run resumes from the stored watermarks"
        ) from failure

    def _check_budget(self) -> None:
        usage = self.api_usage()
        if usage is None:
            return
        used, allocation = usage
        share = self.options.max_api_usage_share
        if allocation > 0 and used >= share * allocation:
            raise ApiLimitReached(
                f"Salesforce API usage is {used} of {allocation} daily requests, at or above "
                f"the configured share of {share:.0%}: the sync stopped and "
                "the next run resumes from the stored watermarks"
            )


def error_body(error: SalesforceError) -> tuple[str, str]:
    """Return ``(errorCode, message)`` from an error's body, or empty strings if it has none."""
    content = error.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        return str(first.get("errorCode", "")), str(first.get("message", ""))
    if isinstance(content, dict):
        return str(content.get("errorCode", "")), str(content.get("message", ""))
    return "", ""


def describe(error: SalesforceError) -> str:
    code, message = error_body(error)
    first_line = next((line for line in message.splitlines() if line.strip()), "")
    return f"{code}: {first_line}" if code else first_line


def translate_error(what: str, error: SalesforceError) -> Exception:
    """Return the ``gifting.errors`` exception for a non-retriable Salesforce error."""
    code, message = error_body(error)
    if isinstance(error, SalesforceExpiredSession):
        return SessionExpired(f"Salesforce {what} failed: the session expired ({describe(error)})")
    if isinstance(error, SalesforceRefusedRequest) and code == "REQUEST_LIMIT_EXCEEDED":
        return ApiLimitReached(
            f"Salesforce {what} failed: the org is out of API requests ({describe(error)}); "
            "the sync stopped and the next run resumes from the stored watermarks"
        )
    if code == "INVALID_QUERY_LOCATOR":
        return RetriableError(
            f"Salesforce {what} failed: the query cursor expired ({describe(error)}); "
            "the next run resumes from the stored watermarks"
        )
    if isinstance(error, SalesforceMalformedRequest) and what.startswith("query"):
        return QueryRejected(
            f"Salesforce rejected the {what}: {describe(error)}", error_code=code, detail=message
        )
    if isinstance(error, SalesforceRefusedRequest):
        return PermanentError(
            f"Salesforce rejected the {what} ({describe(error)}): check the integration user's "
            "permissions and the connected app's OAuth scopes",
            reason=code.lower() or "refused",
        )
    return PermanentError(
        f"Salesforce {what} failed with HTTP {error.status} ({describe(error)})",
        reason=code.lower() or f"http_{error.status}",
    )
