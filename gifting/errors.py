"""Exception hierarchy, grouped by what the caller should do about each error."""

from __future__ import annotations


class GiftingError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigurationError(GiftingError):
    """Invalid or missing settings or config files: fix the configuration and start again."""


class RetriableError(GiftingError):
    """A transient failure (timeout, 5xx, rate limit): the same call may succeed later.

    Attributes:
        retry_after: Seconds the remote side requested in a ``Retry-After`` header, if any.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(GiftingError):
    """A failure that repeating the same call cannot fix (most 4xx responses).

    Attributes:
        reason: A short machine-readable reason such as ``out_of_stock``.
    """

    def __init__(self, message: str, *, reason: str = "permanent_error") -> None:
        super().__init__(message)
        self.reason = reason


class DataQualityError(GiftingError):
    """Data that breaks a rule.

    A bad input record is quarantined with this message while the rest of the batch goes on.
    A failed check on a computed result stops that result from being stored.
    """
