"""Retry timing and client-side rate limiting for vendor HTTP clients.

These are pure functions and a small class with injectable clock and sleep, so their bounds
can be tested without waiting.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from gifting.errors import ConfigurationError

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
