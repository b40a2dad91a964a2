"""Retry policy shared by every task: retry transient failures, never configuration mistakes."""

from __future__ import annotations

from typing import Any

import requests
from sqlalchemy.exc import OperationalError

from gifting.errors import RetriableError
from gifting.salesforce.session import ApiLimitReached

# A dropped database connection or a network timeout may pass by the next attempt. A bad setting
# or a rejected record fails the same way every time, so retrying it only delays the message.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    RetriableError,
    OperationalError,
    requests.ConnectionError,
    requests.Timeout,
    TimeoutError,
    ConnectionError,
)


def is_transient(error: object) -> bool:
    # The API allocation does not come back within a retry delay, and each retry spends a request.
    return isinstance(error, TRANSIENT_ERRORS) and not isinstance(error, ApiLimitReached)


def retry_transient(_task: Any, _task_run: Any, state: Any) -> bool:
    """Tell Prefect to retry the task only when it failed with a transient error."""
    error = state.data if isinstance(state.data, BaseException) else None
    if error is None:
        error = state.result(raise_on_failure=False)
    return is_transient(error)
