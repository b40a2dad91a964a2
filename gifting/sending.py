"""Send claimed gifts to the vendor in batches and record each outcome once.

A batch is claimed in one transaction (see ``gifting.claims``), its order requests are read in
one query, up to ``concurrency`` vendor calls run at once, and outcomes are recorded
``RECORD_EVERY`` at a time, each group in one transaction. A crash between a vendor call and its
record leaves the gift in ``sending``, and recovery then asks the vendor about it. So batching
the records can cost lookups after a crash, but never a second order.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Text

from gifting import ledger
from gifting.claims import ClaimLease
from gifting.errors import GiftingError, PermanentError, RetriableError
from gifting.vendors.base import Address, GiftVendor, OrderRequest, VendorOrder
from gifting.warehouse.schema import Account, Contact, Gift, GiftEvent

logger = logging.getLogger(__name__)

ACTOR = "dispatch_gifts"
RECORD_EVERY = 50
VENDOR_UNAVAILABLE = "vendor_unavailable"
RECIPIENT_GONE = "recipient_gone"
DEFERRED_REASON = "vendor_unavailable: deferred to the next run"
DEFAULT_OUTAGE_AFTER = 3


class ActivityWriter(Protocol):
    """Writes a gift's activity to the CRM and returns the created record's Id."""

    def __call__(self, gift: dict[str, Any]) -> str: ...


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
    """A claimed gift's order request, idempotency key and CRM activity summary."""

    request: OrderRequest
    key: str
    summary: dict[str, Any]

    @property
    def gift_id(self) -> str:
        return self.request.reference


@dataclass(frozen=True)
class SendResult:
    """The result of one vendor call: an order, or a failure reason."""

    gift_id: str
    order: VendorOrder | None = None
    reason: str | None = None
    retriable: bool = False

    @property
    def outcome(self) -> str:
        return "sent" if self.order is not None else f"failed:{self.reason}"


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
        write_activity: Writes a "gift sent" activity to the CRM; ``None`` skips the write-back.
        concurrency: Vendor calls in flight at once.
        breaker: Shared by the calls of one run; once open, the gifts not yet sent go back to
            ``ready`` and count as ``deferred:vendor_unavailable``.
        max_batches: Batches to send at most; ``None`` sends until no due gift is ready.

    Returns:
        One count per claimed gift: ``sent``, ``failed:<reason>`` or ``deferred:<reason>``.
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
                outcome.update(batch.record(as_completed(futures), write_activity))
            except BaseException:
                if following is not None:
                    following.lease.close()  # its gifts stay in sending for recovery
                raise
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

    def record(
        self, results: Iterable[Future[SendResult | None]], write_activity: ActivityWriter | None
    ) -> Counter[str]:
        """Record results as they arrive, defer the gifts never sent, then end the lease."""
        outcome: Counter[str] = Counter()
        recorder = _Recorder(self.engine, self.as_of)
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
            outcome.update(_defer(self.engine, unsent, self.as_of))
        finally:
            self.lease.close()
        if write_activity is not None:
            summaries = {gift.gift_id: gift.summary for gift in self.gifts}
            for gift_id in recorder.sent:
                write_back(self.engine, gift_id, summaries[gift_id], write_activity)
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
    recorder = _Recorder(engine, as_of)
    recorder.add(result)
    recorder.flush()
    if write_activity is not None and recorder.sent:
        write_back(engine, gift_id, gifts[0].summary, write_activity)
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
            Gift.contract_id,
            Gift.account_id,
            Gift.contact_id,
            Gift.stage,
            Gift.sku,
            Gift.item_name,
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
            Account.name.label("company"),
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
    summary = {
        "id": row.id,
        "contract_id": row.contract_id,
        "account_id": row.account_id,
        "contact_id": row.contact_id,
        "stage": row.stage,
        "item_name": row.item_name,
        "price": row.price,
        "note": row.note,
        "company": row.company,
    }
    # The exception queue gives a gift reordered with another item a new key.
    key = row.idempotency_key or f"gift-{row.id}"
    return ClaimedGift(request, key, summary)


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


class _Recorder:
    """Collects send results and records them in one transaction per flush."""

    def __init__(self, engine: Engine, as_of: datetime) -> None:
        self.engine = engine
        self.as_of = as_of
        self.attempted: set[str] = set()
        self.sent: list[str] = []
        self._results: list[SendResult] = []

    @property
    def pending(self) -> int:
        return len(self._results)

    def add(self, result: SendResult) -> None:
        self.attempted.add(result.gift_id)
        self._results.append(result)

    def flush(self) -> Counter[str]:
        """Record every pending result; fall back to one transaction per gift on a conflict."""
        results, self._results = self._results, []
        if not results:
            return Counter()
        with self.engine.connect() as connection:
            transaction = connection.begin()
            ledger.relax_durability(connection)
            if _record_all(connection, results, self.as_of):
                transaction.commit()
                recorded = {result.gift_id for result in results}
            else:
                # A webhook or another worker moved one of these gifts since it was claimed.
                transaction.rollback()
                recorded = {
                    result.gift_id
                    for result in results
                    if _record_one(self.engine, result, self.as_of)
                }
        self.sent.extend(
            r.gift_id for r in results if r.order is not None and r.gift_id in recorded
        )
        return Counter(result.outcome for result in results)


def _record_all(connection: Connection, results: list[SendResult], as_of: datetime) -> bool:
    """Record every result in the caller's transaction; False if any gift left ``sending``."""
    sent = [result for result in results if result.order is not None]
    if sent:
        order_ids = {result.gift_id: result.order.id for result in sent if result.order is not None}
        if _mark_sent(connection, order_ids, as_of) != len(order_ids):
            return False
        connection.execute(
            insert(GiftEvent),
            [
                {
                    "gift_id": result.gift_id,
                    "occurred_at": as_of,
                    "from_status": ledger.SENDING,
                    "to_status": ledger.SENT,
                    "actor": ACTOR,
                    "reason": None,
                }
                for result in sent
            ],
        )
    failed: defaultdict[str, list[str]] = defaultdict(list)
    for result in results:
        if result.order is None:
            failed[str(result.reason)].append(result.gift_id)
    for reason, gift_ids in failed.items():
        moved = ledger.move_many(
            connection,
            gift_ids,
            ledger.SENDING,
            ledger.FAILED,
            at=as_of,
            actor=ACTOR,
            reason=reason,
        )
        if len(moved) != len(gift_ids):
            return False
    return True


_MARK_SENT_POSTGRESQL = text(
    "UPDATE gifts SET status = :sent, reason = NULL, updated_at = :at, sent_at = :at, "
    "vendor_order_id = sent.order_id "
    "FROM unnest(:gift_ids, :order_ids) AS sent(gift_id, order_id) "
    "WHERE gifts.id = sent.gift_id AND gifts.status = :sending"
).bindparams(bindparam("gift_ids", type_=ARRAY(Text)), bindparam("order_ids", type_=ARRAY(Text)))


def _mark_sent(connection: Connection, order_ids: dict[str, str], as_of: datetime) -> int:
    """Move gifts from sending to sent with their order ids; return the number moved."""
    if connection.dialect.name == "postgresql":
        # One statement for the whole group: an executemany sends one UPDATE per gift.
        parameters = {
            "gift_ids": list(order_ids),
            "order_ids": list(order_ids.values()),
            "sent": ledger.SENT,
            "sending": ledger.SENDING,
            "at": as_of,
        }
        return connection.execute(_MARK_SENT_POSTGRESQL, parameters).rowcount
    statement = (
        update(Gift)
        .where(Gift.id == bindparam("sent_gift_id"), Gift.status == ledger.SENDING)
        .values(
            status=ledger.SENT,
            reason=None,
            updated_at=as_of,
            sent_at=as_of,
            vendor_order_id=bindparam("sent_order_id"),
        )
    )
    rows = [{"sent_gift_id": key, "sent_order_id": value} for key, value in order_ids.items()]
    return connection.execute(statement, rows).rowcount


def _record_one(engine: Engine, result: SendResult, as_of: datetime) -> bool:
    """Record one result on its own; return True if this call recorded it."""
    values: dict[str, Any] = {}
    if result.order is not None:
        values = {"vendor_order_id": result.order.id, "sent_at": as_of}
    status = ledger.SENT if result.order is not None else ledger.FAILED
    try:
        with engine.begin() as connection:
            ledger.move(
                connection,
                result.gift_id,
                ledger.SENDING,
                status,
                at=as_of,
                actor=ACTOR,
                reason=result.reason,
                **values,
            )
    except ledger.LedgerConflict as error:
        if result.order is not None and _already_recorded(engine, result.gift_id, result.order.id):
            # A delivery webhook for this very order arrived while the vendor call was in flight.
            logger.info("gift %s: order %s was already recorded", result.gift_id, result.order.id)
        else:
            # Recovery in another worker requeued the gift. Its resend carries the same key,
            # so the vendor returns this order again and that send records it.
            logger.warning(
                "gift %s: outcome %s not recorded: %s", result.gift_id, result.outcome, error
            )
        return False
    return True


def _already_recorded(engine: Engine, gift_id: str, order_id: str) -> bool:
    with engine.connect() as connection:
        row = connection.execute(
            select(Gift.status, Gift.vendor_order_id).where(Gift.id == gift_id)
        ).one_or_none()
    return (
        row is not None
        and row.status in (ledger.SENT, ledger.DELIVERED)
        and row.vendor_order_id == order_id
    )


def _defer(engine: Engine, gift_ids: list[str], as_of: datetime) -> Counter[str]:
    """Put claimed gifts that no vendor call was made for back to ``ready``."""
    if not gift_ids:
        return Counter()
    with engine.begin() as connection:
        moved = ledger.move_many(
            connection,
            gift_ids,
            ledger.SENDING,
            ledger.READY,
            at=as_of,
            actor=ACTOR,
            reason=DEFERRED_REASON,
            attempts=Gift.attempts - 1,  # the claim counted an attempt that never happened
        )
    logger.warning("vendor unavailable: %d claimed gifts go back to ready", len(moved))
    return Counter({f"deferred:{VENDOR_UNAVAILABLE}": len(moved)})


def write_back(
    engine: Engine, gift_id: str, summary: dict[str, Any], write: ActivityWriter
) -> None:
    """Record the sent gift as a CRM activity once; a gift that has an activity Id is skipped."""
    with engine.connect() as connection:
        if connection.scalar(select(Gift.crm_task_id).where(Gift.id == gift_id)):
            return
    try:
        task_id = write(summary)
    except GiftingError as error:
        # NOTE: the gift is sent either way, and no later run retries the activity. Gifts sent
        # without one keep an empty crm_task_id.
        logger.warning("gift %s: CRM activity not written: %s", gift_id, error)
        return
    with engine.begin() as connection:
        connection.execute(update(Gift).where(Gift.id == gift_id).values(crm_task_id=task_id))
