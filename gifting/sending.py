"""Send claimed gifts to the vendor in batches and record each outcome once.

A batch is claimed in one transaction (see ``gifting.claims``), its order requests are read in
one query, up to ``concurrency`` vendor calls run at once, and outcomes are recorded
``RECORD_EVERY`` at a time, each group in one transaction. A crash between a vendor call and its
record leaves the gift in ``sending``, and recovery then looks the order up at the vendor. So
batching the records can cost lookups after a crash, but never a second order.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from gifting import ledger, progress
from gifting.claims import ClaimLease
from gifting.crm_activity import ActivityWriter, write_missing_activities
from gifting.errors import GiftingError, PermanentError, RetriableError
from gifting.send_records import (
    ACTOR,
    VENDOR_UNAVAILABLE,
    Recorder,
    SendResult,
    defer,
)
from gifting.vendors.base import Address, GiftVendor, OrderRequest
from gifting.warehouse.schema import Account, Contact, Gift

logger = logging.getLogger(__name__)

RECORD_EVERY = 50
RECIPIENT_GONE = "recipient_gone"
DEFAULT_OUTAGE_AFTER = 3


class CircuitBreaker:
    """Ends a run's vendor calls after ``threshold`` calls in a row failed despite retries.

    The client has already retried each of those calls, so the vendor is down. Going on would
    only fail the rest of the queue, which is better left ``ready`` for the next run.
    """

    def __init__(self, threshold: int = DEFAULT_OUTAGE_AFTER) -> None:
        if threshold < 1:
            raise GiftingError(f"the outage threshold must be at least 1, got {threshold!r}")
        self.threshold = threshold
        self.failures_in_a_row = 0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self.failures_in_a_row >= self.threshold

    def record(self, vendor_reachable: bool) -> None:
        """Count one call's result; callable from any thread."""
        with self._lock:
            self.failures_in_a_row = 0 if vendor_reachable else self.failures_in_a_row + 1


@dataclass(frozen=True)
class ClaimedGift:
    """A claimed gift's order request and idempotency key."""

    request: OrderRequest
    key: str

    @property
    def gift_id(self) -> str:
        return self.request.reference


def send_ready_gifts(
    engine: Engine,
    vendor: GiftVendor,
    kinds: dict[str, str],
    *,
    as_of: datetime,
    limit: int = 500,
    write_activity: ActivityWriter | None = None,
    concurrency: int = 1,
    breaker: CircuitBreaker | None = None,
    max_batches: int | None = 1,
) -> Counter[str]:
    """Claim due ready gifts ``limit`` at a time and place one vendor order for each.

    The next batch is claimed while the vendor calls of the current one run, so the calls do not
    wait for the database between batches.

    Args:
        engine: The warehouse.
        vendor: The gift vendor client. The calls run on worker threads, so it must be
            thread-safe.
        kinds: Catalog item kind (``physical`` or ``egift``) per SKU.
        as_of: The dispatch time (naive UTC), recorded as the send time.
        limit: Maximum number of gifts one batch claims, so one batch stays bounded.
        write_activity: Writes each batch's "gift sent" and "gift failed" CRM activity once
            the batch is recorded; ``None`` skips the write-back.
        concurrency: Vendor calls in flight at once.
        breaker: Shared by the calls of one run; once open, the gifts not yet sent go back to
            ``ready`` and count as ``deferred:vendor_unavailable``.
        max_batches: Batches to send at most; ``None`` sends until no due gift is ready.

    Returns:
        One count per claimed gift: ``sent``, ``failed:<reason>`` or ``deferred:<reason>``,
        and the write-back counts of ``write_missing_activities``.
    """
    breaker = breaker or CircuitBreaker()
    outcome: Counter[str] = Counter()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="vendor-send") as pool:
        batch = _Batch.claim(engine, kinds, as_of, limit)
        sent = 0
        while batch is not None:
            sent += 1
            futures = [
                pool.submit(_place_unless_open, vendor, gift, breaker) for gift in batch.gifts
            ]
            more = (
                batch.full and not breaker.is_open and (max_batches is None or sent < max_batches)
            )
            following = _Batch.claim(engine, kinds, as_of, limit) if more else None
            try:
                recorded = batch.record(as_completed(futures))
                outcome.update(recorded)
                progress.advance("dispatch", sum(recorded.values()))
            except BaseException:
                if following is not None:
                    following.lease.close()  # its gifts stay in sending for recovery
                raise
            if write_activity is not None:
                outcome.update(
                    write_missing_activities(
                        engine,
                        write_activity,
                        as_of=as_of,
                        gift_ids=batch.claimed,
                        limit=len(batch.claimed),
                    )
                )
            batch = following
    return outcome


def _place_unless_open(
    vendor: GiftVendor, gift: ClaimedGift, breaker: CircuitBreaker
) -> SendResult | None:
    if breaker.is_open:
        return None
    result = place_order(vendor, gift)
    breaker.record(not result.retriable)
    return result


class _Batch:
    """One claimed batch: its lease, its order requests, and the recording of its results."""

    def __init__(
        self,
        engine: Engine,
        lease: ClaimLease,
        claimed: list[str],
        kinds: dict[str, str],
        as_of: datetime,
        limit: int,
    ) -> None:
        self.engine = engine
        self.lease = lease
        self.claimed = claimed
        self.as_of = as_of
        self.full = len(claimed) == limit
        self.gifts, self.orphans = load_claimed(engine, claimed, kinds)

    @classmethod
    def claim(
        cls, engine: Engine, kinds: dict[str, str], as_of: datetime, limit: int
    ) -> _Batch | None:
        lease = ClaimLease(engine)
        try:
            claimed = lease.claim(as_of=as_of, limit=limit, actor=ACTOR)
            if claimed:
                return cls(engine, lease, claimed, kinds, as_of, limit)
        except BaseException:
            lease.close()
            raise
        lease.close()
        return None

    def record(self, results: Iterable[Future[SendResult | None]]) -> Counter[str]:
        """Record results as they arrive, defer the gifts never sent, then end the lease."""
        outcome: Counter[str] = Counter()
        recorder = Recorder(self.engine, self.as_of)
        try:
            for gift_id in self.orphans:
                recorder.add(SendResult(gift_id, reason=RECIPIENT_GONE))
            for future in results:
                result = future.result()
                if result is None:
                    continue
                recorder.add(result)
                if recorder.pending >= RECORD_EVERY:
                    outcome.update(recorder.flush())
            outcome.update(recorder.flush())
            unsent = [gift_id for gift_id in self.claimed if gift_id not in recorder.attempted]
            outcome.update(defer(self.engine, unsent, self.as_of))
        finally:
            self.lease.close()
        logger.info(
            "dispatched %d gifts as of %s: %s", len(self.claimed), self.as_of, dict(outcome)
        )
        return outcome


def send_claimed(
    engine: Engine,
    vendor: GiftVendor,
    kinds: dict[str, str],
    gift_id: str,
    *,
    as_of: datetime,
    write_activity: ActivityWriter | None = None,
) -> str:
    """Place the vendor order for one gift the caller already moved to ``sending``.

    Manual resends claim chosen gifts themselves, then send through the same path as
    ``send_ready_gifts``. Returns ``sent`` or ``failed:<reason>``.
    """
    gifts, _ = load_claimed(engine, [gift_id], kinds)
    result = place_order(vendor, gifts[0]) if gifts else SendResult(gift_id, reason=RECIPIENT_GONE)
    recorder = Recorder(engine, as_of)
    recorder.add(result)
    recorder.flush()
    if write_activity is not None:
        write_missing_activities(engine, write_activity, as_of=as_of, gift_ids=[gift_id])
    return result.outcome


def load_claimed(
    engine: Engine, gift_ids: list[str], kinds: dict[str, str]
) -> tuple[list[ClaimedGift], list[str]]:
    """Read the order requests of claimed gifts in one query, in the order of ``gift_ids``.

    Returns:
        The gifts to send, and the ids of gifts whose contact or account row is gone.
    """
    query = (
        select(
            Gift.id,
            Gift.sku,
            Gift.price,
            Gift.currency,
            Gift.note,
            Gift.idempotency_key,
            Contact.first_name,
            Contact.last_name,
            Contact.email,
            Contact.street,
            Contact.city,
            Contact.state,
            Contact.postal_code,
            Contact.country,
        )
        .join(Contact, Contact.id == Gift.contact_id)
        .join(Account, Account.id == Gift.account_id)
    )
    with engine.connect() as connection:
        query = query.where(ledger.ids_filter(connection, gift_ids))
        rows = {row.id: row for row in connection.execute(query)}
    gifts = [_claimed_gift(rows[gift_id], kinds) for gift_id in gift_ids if gift_id in rows]
    return gifts, [gift_id for gift_id in gift_ids if gift_id not in rows]


def _claimed_gift(row: Any, kinds: dict[str, str]) -> ClaimedGift:
    name = " ".join(part for part in (row.first_name, row.last_name) if part)
    address = None
    if row.street:
        address = Address(
            street=row.street,
            city=row.city or "",
            state=row.state or "",
            postal_code=row.postal_code or "",
            country=row.country or "",
        )
    request = OrderRequest(
        reference=row.id,
        sku=row.sku,
        amount=row.price,
        currency=row.currency,
        recipient_name=name,
        recipient_email=row.email or "",
        address=address,
        note=row.note,
        kind=kinds.get(row.sku, "egift"),
    )
    # The exception queue gives a gift reordered with another item a new key.
    key = row.idempotency_key or f"gift-{row.id}"
    return ClaimedGift(request, key)


def place_order(vendor: GiftVendor, gift: ClaimedGift) -> SendResult:
    """Place one order and turn a vendor error into a failure reason."""
    try:
        order = vendor.place_order(gift.request, idempotency_key=gift.key)
    except PermanentError as error:
        logger.error("gift %s failed permanently: %s", gift.gift_id, error)
        return SendResult(gift.gift_id, reason=error.reason)
    except RetriableError as error:
        # The order may exist at the vendor. A resend reuses the key, so it cannot double.
        logger.error("gift %s: vendor unavailable after retries: %s", gift.gift_id, error)
        return SendResult(gift.gift_id, reason=VENDOR_UNAVAILABLE, retriable=True)
    return SendResult(gift.gift_id, order=order)
