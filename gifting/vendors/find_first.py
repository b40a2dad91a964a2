"""Find-before-create: exactly-once ordering from a vendor that ignores idempotency keys.

Some vendors create a new order for every create request, whatever key it carries. Sendoso's
API FAQ (https://developer.sendoso.com/rest-api/overview/faq) states that it does not handle
duplicate payloads and processes every order it receives. Against such a vendor a retry after a lost
response orders the gift twice. ``FindBeforeCreate`` wraps any ``GiftVendor`` and, before
each create request and after each ambiguous failure, looks the order up by our reference.
It never sends a second create request while an order for the reference may exist.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from gifting.errors import RetriableError
from gifting.vendors.base import (
    CatalogEntry,
    GiftVendor,
    OrderRequest,
    VendorOrder,
    VendorStatus,
)
from gifting.vendors.retry import MAX_BACKOFF_S, backoff_delay

logger = logging.getLogger(__name__)

# An order in one of these states no longer delivers the gift, so a reorder of the same gift
# (the exception queue's remedy) must place a new order instead of adopting the dead one.
DEAD_STATUSES = frozenset({VendorStatus.FAILED, VendorStatus.CANCELLED})


class FindBeforeCreate:
    """``GiftVendor`` that looks an order up by reference before and after creating it.

    The wrapped client must send each create request once (for the sandbox client,
    ``retry_place_order=False``), because retrying is this class's job: a retry is sent only
    after a lookup found no order for the reference.

    Args:
        vendor: The client of a vendor that does not deduplicate on idempotency keys.
        max_attempts: Create requests per ``place_order`` call, counting the first.
        backoff_base: Upper bound in seconds of the first retry's jittered wait.
        sleep: Called for every wait, so tests can record waits instead of sleeping.
    """

    def __init__(
        self,
        vendor: GiftVendor,
        *,
        max_attempts: int = 3,
        backoff_base: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.vendor = vendor
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self._sleep = sleep

    def place_order(self, request: OrderRequest, idempotency_key: str) -> VendorOrder:
        """Return the live order for ``request.reference``, creating it only if none exists.

        A create request that fails with a ``RetriableError`` may still have created the order
        (a timeout after the vendor stored it), so the next step is always a lookup, never a
        blind second create request. A ``PermanentError`` is raised at once, because the vendor
        rejected the request and stored nothing.
        """
        last_error: RetriableError | None = None
        for attempt in range(1, self.max_attempts + 1):
            existing = self._find_live(request.reference)
            if existing is not None:
                logger.info(
                    "Vendor already has order %s for reference %s, so no order was placed",
                    existing.id,
                    request.reference,
                )
                return dataclasses.replace(existing, replayed=True)
            try:
                return self.vendor.place_order(request, idempotency_key)
            except RetriableError as error:
                last_error = error
                if attempt == self.max_attempts:
                    break
                delay = _retry_wait(error, attempt, self.backoff_base)
                if delay is None:
                    break
                logger.warning(
                    "Create request for reference %s failed (%s), looking it up before retry "
                    "%d of %d in %.2f s",
                    request.reference,
                    error,
                    attempt,
                    self.max_attempts - 1,
                    delay,
                )
                self._sleep(delay)
        # The last create request may have been stored even though its response was lost.
        existing = self._find_live(request.reference)
        if existing is not None:
            logger.info(
                "Order %s for reference %s was created by a request whose response was lost",
                existing.id,
                request.reference,
            )
            return dataclasses.replace(existing, replayed=True)
        assert last_error is not None
        raise last_error

    def catalog(self) -> list[CatalogEntry]:
        """Return every item the vendor sells."""
        return self.vendor.catalog()

    def get_order(self, order_id: str) -> VendorOrder:
        """Return the current state of one order."""
        return self.vendor.get_order(order_id)

    def find_by_reference(self, reference: str) -> VendorOrder | None:
        """Return the newest order placed with this reference, or ``None`` if there is none."""
        return self.vendor.find_by_reference(reference)

    def cancel(self, order_id: str) -> VendorOrder:
        """Cancel an order that has not shipped yet and return it."""
        return self.vendor.cancel(order_id)

    def close(self) -> None:
        """Close the wrapped client."""
        self.vendor.close()

    def _find_live(self, reference: str) -> VendorOrder | None:
        """Return the vendor's newest order for ``reference`` unless it failed or was cancelled.

        A lookup that itself fails raises, so no create request is sent while the vendor's
        state is unknown.
        """
        order = self.vendor.find_by_reference(reference)
        if order is None or order.status in DEAD_STATUSES:
            return None
        return order


def _retry_wait(error: RetriableError, attempt: int, base: float) -> float | None:
    """Return the wait before the next create request, or ``None`` to give up now."""
    # NOTE: full jitter can pick a wait near 0, so a vendor whose search shows a new order only
    # after a delay needs a minimum wait here before this wrapper can protect it.
    if error.retry_after is not None:
        return error.retry_after if error.retry_after <= MAX_BACKOFF_S else None
    return backoff_delay(attempt, base)
