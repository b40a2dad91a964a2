"""Retrying JSON-over-HTTP transport for vendor adapters.

Every vendor adapter needs the same transport rules, so they live here once: a bearer API
key, a client-side rate limit, and retries with jittered backoff for timeouts, transport
errors, 5xx and 429 (honouring ``Retry-After``). Any other 4xx is permanent, and the adapter
turns it into a ``PermanentError`` with a ``VendorErrorCode`` through its ``error_for``
callback, because only the adapter can read its vendor's error body.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from gifting.errors import ConfigurationError, PermanentError, RetriableError
from gifting.vendors.retry import RetryingCaller, parse_retry_after

logger = logging.getLogger(__name__)

ErrorFactory = Callable[[httpx.Response, str], PermanentError]


class VendorHttp:
    """A keep-alive httpx client with the retry and rate-limit rules above.

    Args:
        base_url: Root URL of the vendor API.
        api_key: Bearer token. It is sent only in the ``Authorization`` header and never logged.
        error_for: Builds the ``PermanentError`` for a 4xx other than 429. It receives the
            response and the call's context, such as ``order 'abc'``.
        key_setting: Environment variable that contains the key, named in configuration errors.
        timeout: Seconds to wait for connect, each read and each write.
        max_attempts: Tries per call, counting the first, before a ``RetriableError`` escapes.
        backoff_base: Upper bound in seconds of the first retry's jittered wait.
        rate_limit_per_second: Maximum request rate, retries included.
        retry_budget_s: Seconds this transport may spend on failed tries and retry waits over
            its whole life, ``None`` for no bound.
        sleep: Called for every wait, so tests can record waits instead of sleeping.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        error_for: ErrorFactory,
        key_setting: str,
        timeout: float = 10.0,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        rate_limit_per_second: float = 2.0,
        retry_budget_s: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ConfigurationError(f"max_attempts must be at least 1, got {max_attempts!r}.")
        if not api_key:
            raise ConfigurationError(
                f"The vendor API key is empty. Set {key_setting} to the key the vendor issued."
            )
        self.base_url = base_url.rstrip("/")
        self._error_for = error_for
        self._retrying = RetryingCaller(
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            rate_limit_per_second=rate_limit_per_second,
            retry_budget_s=retry_budget_s,
            sleep=sleep,
        )
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=timeout,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        context: str,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """Send one call, retrying transient failures, and return its 2xx response."""

        def send() -> httpx.Response:
            response = self._send(method, path, json=json, params=params)
            self._raise_for_status(response, context)
            return response

        return self._retrying.call(method, path, send)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None,
        params: Mapping[str, Any] | None,
    ) -> httpx.Response:
        """Send one HTTP request, turning transport failures into ``RetriableError``."""
        try:
            return self._http.request(method, path, json=json, params=params)
        except httpx.TimeoutException as error:
            raise RetriableError(
                f"{method} {self.base_url}{path} timed out after {self._http.timeout.read} s. "
                "The vendor may still have processed it."
            ) from error
        except httpx.TransportError as error:
            raise RetriableError(
                f"{method} {self.base_url}{path} failed: {type(error).__name__}: "
                f"{str(error).rstrip('.')}. Check that the vendor is reachable at this URL."
            ) from error

    def _raise_for_status(self, response: httpx.Response, context: str) -> None:
        status = response.status_code
        if status < 400:
            return
        if status == 429 or status >= 500:
            raise RetriableError(
                f"Vendor returned HTTP {status} for {context}: {response.text[:200]}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        error = self._error_for(response, context)
        logger.error("Vendor rejected %s with HTTP %d (%s)", context, status, error.reason)
        raise error
