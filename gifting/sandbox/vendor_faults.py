"""Random faults for the vendor sandbox: a share of 5xx responses, late responses, and 429 bursts.

``VendorSandbox.inject_fault`` fails the next N requests, which suits a test of one retry. Load
and soak runs need faults spread over thousands of requests instead, the way a flaky vendor
produces them. A seeded generator draws one number per request, so a run with the same seed
and the same request order sees the same faults.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class FaultRates:
    """How often requests fail, and how.

    Attributes:
        http_5xx: Chance that a request is answered ``500`` or ``503``, alternately.
        timeout_after_accept: Chance that a request is handled (an order is stored) but answered
            ``delay_s`` seconds late.
        rate_limit_every: Every this many requests a 429 burst starts: that request and every
            other for ``burst_s`` seconds get ``429`` with a ``Retry-After`` that covers the
            rest of the burst. 0 means no bursts. Bursts are counted, not drawn, so a run of a
            given length always meets them.
        burst_s: Length of one 429 burst, in seconds.
        delay_s: How long a late response is held back, in seconds.
    """

    http_5xx: float = 0.0
    timeout_after_accept: float = 0.0
    rate_limit_every: int = 0
    burst_s: float = 0.5
    delay_s: float = 2.0

    def __post_init__(self) -> None:
        shares = (self.http_5xx, self.timeout_after_accept)
        if any(not 0 <= share <= 1 for share in shares) or sum(shares) > 1:
            raise ValueError(
                f"fault rates {shares} are invalid: each must be between 0 and 1 and their "
                "sum at most 1."
            )
        if self.rate_limit_every < 0 or self.burst_s < 0 or self.delay_s < 0:
            raise ValueError(
                "rate_limit_every, burst_s and delay_s must be 0 or more, got "
                f"{self.rate_limit_every}, {self.burst_s}, {self.delay_s}."
            )


@dataclass(frozen=True)
class DrawnFault:
    """One fault to serve: a ``FAULT_KINDS`` kind and extra response headers."""

    kind: str
    headers: dict[str, str]


class RandomFaults:
    """Draws the fault, if any, for each request under ``path_prefix``.

    Args:
        rates: How often each fault happens.
        seed: Seed of the generator.
        path_prefix: Only requests whose path starts with it can fail.
        clock: Returns seconds, for burst timing.
    """

    def __init__(
        self,
        rates: FaultRates,
        *,
        seed: int = 0,
        path_prefix: str = "/v1/orders",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rates = rates
        self.path_prefix = path_prefix
        self._random = random.Random(seed)
        self._clock = clock
        self._burst_ends = -math.inf
        self._requests = 0
        self._next_5xx = "http_500"
        self._lock = threading.Lock()

    def draw(self, path: str) -> DrawnFault | None:
        """Return the fault for one request to ``path``, or ``None`` to serve it normally."""
        if not path.startswith(self.path_prefix):
            return None
        rates = self.rates
        with self._lock:
            now = self._clock()
            if now < self._burst_ends:
                return self._rate_limited(now)
            self._requests += 1
            if rates.rate_limit_every and self._requests % rates.rate_limit_every == 0:
                self._burst_ends = now + rates.burst_s
                return self._rate_limited(now)
            share = self._random.random()
            if share < rates.http_5xx:
                kind = self._next_5xx
                self._next_5xx = "http_503" if kind == "http_500" else "http_500"
                return DrawnFault(kind, {})
            share -= rates.http_5xx
            if share < rates.timeout_after_accept:
                return DrawnFault("timeout_after_accept", {})
        return None

    def _rate_limited(self, now: float) -> DrawnFault:
        # Retry-After carries whole seconds (RFC 9110), rounded up so a client that obeys it
        # retries after the burst.
        wait = max(1, math.ceil(self._burst_ends - now))
        return DrawnFault("http_429", {"Retry-After": str(wait)})
