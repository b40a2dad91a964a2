"""Only transient failures are retried by Prefect."""

from __future__ import annotations

import pytest
from prefect.states import Failed

from gifting.errors import ConfigurationError, DataQualityError, PermanentError, RetriableError
from gifting.salesforce.session import ApiLimitReached
from tasks.policy import retry_transient


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RetriableError("vendor answered 503"), True),
        (TimeoutError("read timed out"), True),
        (ConfigurationError("GIFTING_SALESFORCE_LOGIN_URL is missing"), False),
        (PermanentError("address invalid", reason="address_invalid"), False),
        (DataQualityError("missing CloseDate"), False),
        (KeyError("stage"), False),
        (ApiLimitReached("daily API allocation used up; the next run resumes"), False),
    ],
)
def test_retry_only_transient_errors(error: Exception, expected: bool) -> None:
    assert retry_transient(None, None, Failed(data=error)) is expected
