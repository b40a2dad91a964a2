"""Retry timing and client-side rate limiting for vendor HTTP clients.

These are pure functions and a small class with injectable clock and sleep, so their bounds
can be tested without waiting.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from gifting.errors import ConfigurationError, RetriableError

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Maximum wait between two tries. A Retry-After above this is not slept through: the client
# raises at once, so the orchestrator can reschedule instead of holding a worker.
MAX_BACKOFF_S = 30.0


def backoff_delay(
    attempt: int,
    base: float,
    *,
    cap: float = MAX_BACKOFF_S,
    random_fraction: Callable[[], float] = random.random,
) -> float:
    """Return the wait before retry number ``attempt`` (1 for the first retry), in seconds.

    Full jitter: uniform between 0 and ``min(cap, base * 2 ** (attempt - 1))``. Spreading
    retries over the whole window stops many clients that failed together from retrying together.
    """
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return ceiling * random_fraction()


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` header requests, or ``None`` if absent or invalid.

    RFC 9110 allows either a number of seconds or an HTTP date. A date in the past means 0.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is not a wait
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


class TokenBucket:
    """Thread-safe token bucket that blocks callers to keep to a request rate.

    A caller that finds the bucket empty takes a token anyway, leaving the level negative, and
    sleeps outside the lock until that token would have been added. Waiting callers therefore
    queue in arrival order without holding the lock while they sleep.
    """

    def __init__(
        self,
        rate_per_second: float,
        *,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_second <= 0:
            raise ConfigurationError(
                f"rate_per_second must be positive, got {rate_per_second!r}. "
                "Pass the vendor's documented request limit."
            )
        self.rate = rate_per_second
        self.capacity = capacity if capacity is not None else max(1.0, rate_per_second)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping first if the bucket is empty, and return the wait in seconds."""
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
            self._updated = now
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait > 0:
            self._sleep(wait)
        return wait


class RetryBudget:
    """Total seconds one client may spend on failed tries and retry waits, across all its calls.

    A client is built once per flow run, so this bounds how long a vendor outage can hold a run.
    Once the budget is spent, each call gets one try and fails at once.
    """

    def __init__(self, seconds: float) -> None:
        if seconds < 0:
            raise ConfigurationError(
                f"the retry budget must be 0 or more seconds, got {seconds!r}. "
                "Set GIFTING_VENDOR_RETRY_BUDGET_S."
            )
        self.seconds = seconds
        self.spent = 0.0
        self._lock = threading.Lock()

    def charge(self, seconds: float) -> None:
        """Count time a failed try took."""
        with self._lock:
            self.spent += max(0.0, seconds)

    def allows(self, delay: float) -> bool:
        """Return True and count ``delay`` if waiting that long stays within the budget."""
        with self._lock:
            if self.spent + delay > self.seconds:
                return False
            self.spent += delay
            return True


class RetryingCaller:
    """Retry loop shared by the vendor HTTP clients.

    Each try waits for the rate limit. A ``RetriableError`` is retried after a jittered backoff,
    or after its ``Retry-After`` when that is at most ``MAX_BACKOFF_S``. With a retry budget, the
    time of failed tries and waits is charged to it, and a spent budget ends the retries.
    """

    def __init__(
        self,
        *,
        max_attempts: int,
        backoff_base: float,
        rate_limit_per_second: float,
        retry_budget_s: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.retry_budget = RetryBudget(retry_budget_s) if retry_budget_s is not None else None
        self._sleep = sleep
        self._limiter = TokenBucket(rate_limit_per_second, sleep=sleep)
        self._budget_spent = False

    def call(
        self,
        method: str,
        path: str,
        send: Callable[[], T],
        *,
        max_attempts: int | None = None,
    ) -> T:
        """Return ``send()``, retrying it while it raises ``RetriableError``.

        Args:
            method: HTTP method, for log lines.
            path: Request path, for log lines.
            send: Sends the request and raises ``RetriableError`` for a transient failure.
            max_attempts: Tries for this call; ``None`` uses the caller's ``max_attempts``.
        """
        attempts = self.max_attempts if max_attempts is None else max_attempts
        last_error: RetriableError | None = None
        attempt = 0
        for attempt in range(1, attempts + 1):
            self._limiter.acquire()
            started = time.monotonic()
            try:
                return send()
            except RetriableError as error:
                last_error = error
                if self.retry_budget is not None:
                    self.retry_budget.charge(time.monotonic() - started)
                delay = self._retry_delay(attempt, attempts, error)
                if delay is None:
                    break
                logger.warning(
                    "%s %s failed (%s), retry %d of %d in %.2f s",
                    method,
                    path,
                    error,
                    attempt,
                    attempts - 1,
                    delay,
                )
                self._sleep(delay)
        assert last_error is not None
        logger.error("%s %s failed after %d attempts: %s", method, path, attempt, last_error)
        raise last_error

    def _retry_delay(self, attempt: int, attempts: int, error: RetriableError) -> float | None:
        """Return the wait before the next try, or ``None`` when the caller should give up."""
        if attempt >= attempts:
            return None
        if error.retry_after is not None:
            delay = error.retry_after if error.retry_after <= MAX_BACKOFF_S else None
        else:
            delay = backoff_delay(attempt, self.backoff_base)
        budget = self.retry_budget
        if delay is not None and budget is not None and not budget.allows(delay):
            if not self._budget_spent:
                self._budget_spent = True
                logger.warning(
                    "Vendor retry budget of %g s is spent; failing calls are no longer retried",
                    budget.seconds,
                )
            return None
        return delay
