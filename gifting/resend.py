"""Manual resend: move chosen failed gifts back to ready and send them under their own key.

A resend reuses the gift's stored idempotency key, so if the first order did reach the vendor,
the vendor returns it instead of creating a second one. Gifts that are delivered, sent or in
flight (``sending``) are never sent again; they are reported as rejected with the reason.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from gifting import ledger
from gifting.claims import ClaimLease, run_lock
from gifting.dispatch import ActivityWriter, send_claimed
from gifting.errors import RetriableError
from gifting.vendors.base import GiftVendor, VendorStatus
from gifting.warehouse.schema import Gift

logger = logging.getLogger(__name__)

RESEND_REASON = "manual resend"
VENDOR_UNAVAILABLE = "vendor_unavailable"
_NOT_RESENDABLE = {
    ledger.DELIVERED: "already delivered",
    ledger.SENT: "already sent: the vendor order exists",
    ledger.SENDING: "in flight: another worker is sending it",
}


@dataclass(frozen=True)
class ResendCandidate:
    """A gift a resend request matched, and why it may not be resent.

    Attributes:
        rejection: ``None`` when the gift can be resent, else the reason it is left alone.
    """

    gift_id: str
    status: str | None
    stage: str | None
    reason: str | None
    failed_at: datetime | None
    rejection: str | None = None


@dataclass
class ResendResult:
    """Outcome of one resend: the result per resent gift and the reason per rejected gift.

    Attributes:
        outcomes: ``sent``, ``found_at_vendor``, ``failed:<reason>`` or ``conflict`` per gift.
        rejected: The reason each requested gift was not resent.
    """

    outcomes: dict[str, str] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Return the number of gifts per outcome, with ``rejected`` as one more key."""
        counts = Counter(self.outcomes.values())
        if self.rejected:
            counts["rejected"] = len(self.rejected)
        return dict(counts)


def select_resendable(
    engine: Engine,
    *,
    gift_ids: list[str] | None = None,
    stage: str | None = None,
    reason: str | None = None,
    since: datetime | None = None,
) -> list[ResendCandidate]:
    """Return the gifts a resend request matches, each marked resendable or rejected.

    Without ``gift_ids`` only failed gifts are matched. With ``gift_ids`` every listed id is
    returned, so the caller learns why an id it asked for is not resent.

    Args:
        gift_ids: Gift ids to resend. ``None`` or empty matches every failed gift.
        stage: Only gifts of this program stage.
        reason: Only gifts that failed with this reason, such as ``vendor_unavailable``.
        since: Only gifts whose last change (the failure) is at or after this naive UTC time.
    """
    query = select(
        Gift.id, Gift.status, Gift.stage, Gift.reason, Gift.updated_at, Gift.vendor_order_id
    )
    if gift_ids:
        query = query.where(Gift.id.in_(gift_ids))
    else:
        query = query.where(Gift.status == ledger.FAILED)
    if stage is not None:
        query = query.where(Gift.stage == stage)
    if reason is not None:
        query = query.where(Gift.reason == reason)
    if since is not None:
        query = query.where(Gift.updated_at >= since)
    with engine.connect() as connection:
        rows = connection.execute(query.order_by(Gift.updated_at, Gift.id)).all()
    candidates = [_candidate(row) for row in rows]
    found = {candidate.gift_id for candidate in candidates}
    missing = [gift_id for gift_id in gift_ids or [] if gift_id not in found]
    return candidates + [
        ResendCandidate(gift_id, None, None, None, None, "not found, or not matching the filters")
        for gift_id in missing
    ]


def _candidate(row: Any) -> ResendCandidate:
    return ResendCandidate(
        gift_id=row.id,
        status=row.status,
        stage=row.stage,
        reason=row.reason,
        failed_at=row.updated_at if row.status == ledger.FAILED else None,
        rejection=_rejection(row),
    )


def _rejection(row: Any) -> str | None:
    """Return why a gift must not be resent, or ``None`` when a resend is safe."""
    if row.status in _NOT_RESENDABLE:
        return _NOT_RESENDABLE[row.status]
    if row.status != ledger.FAILED:
        return f"{row.status}, not failed: only failed gifts are resent"
    if row.vendor_order_id is not None:
        # The vendor stored this key with the failed order, so the same key returns that order.
        return (
            f"vendor order {row.vendor_order_id} failed after it was accepted; the same key "
            "would return it again, so let the exception queue reorder it under a new key"
        )
    return None


def resend_failed(
    engine: Engine,
    vendor: GiftVendor,
    kinds: dict[str, str],
    *,
    as_of: datetime,
    actor: str,
    gift_ids: list[str] | None = None,
    stage: str | None = None,
    reason: str | None = None,
    since: datetime | None = None,
    write_activity: ActivityWriter | None = None,
) -> ResendResult:
    """Resend the failed gifts a request matches, each under its own idempotency key.

    Args:
        kinds: Catalog item kind (``physical`` or ``egift``) per SKU.
        as_of: When the resend happens (naive UTC), recorded on every ledger event.
        actor: Who asked for the resend, such as a user's e-mail, recorded on the ready event.
        write_activity: Writes the "gift sent" CRM activity; ``None`` skips the write-back.
    """
    result = ResendResult()
    candidates = select_resendable(
        engine, gift_ids=gift_ids, stage=stage, reason=reason, since=since
    )
    # The lease keeps a dispatch run's recovery away from the gifts this resend is sending.
    with run_lock(engine), ClaimLease(engine) as lease:
        for candidate in candidates:
            if candidate.rejection is not None:
                result.rejected[candidate.gift_id] = candidate.rejection
                continue
            if not lease.take(candidate.gift_id):
                result.outcomes[candidate.gift_id] = "conflict"
                continue
            try:
                result.outcomes[candidate.gift_id] = _resend_one(
                    engine, vendor, kinds, candidate, as_of=as_of, actor=actor, write=write_activity
                )
            finally:
                lease.release([candidate.gift_id])
    logger.info(
        "%s resent %d gifts, rejected %d: %s",
        actor,
        len(result.outcomes),
        len(result.rejected),
        result.counts(),
    )
    return result


def _resend_one(
    engine: Engine,
    vendor: GiftVendor,
    kinds: dict[str, str],
    candidate: ResendCandidate,
    *,
    as_of: datetime,
    actor: str,
    write: ActivityWriter | None,
) -> str:
    if not _claim(engine, candidate.gift_id, as_of=as_of, actor=actor):
        return "conflict"
    try:
        found = candidate.reason == VENDOR_UNAVAILABLE and _record_existing_order(
            engine, vendor, candidate.gift_id, as_of=as_of, actor=actor
        )
    except RetriableError as error:
        # The vendor is still down: put the gift back to failed so it is not stranded in
        # sending, and go on with the other gifts of the request.
        logger.error("gift %s: vendor lookup failed, left failed: %s", candidate.gift_id, error)
        with engine.begin() as connection:
            ledger.move(
                connection,
                candidate.gift_id,
                ledger.SENDING,
                ledger.FAILED,
                at=as_of,
                actor=actor,
                reason=VENDOR_UNAVAILABLE,
            )
        return f"failed:{VENDOR_UNAVAILABLE}"
    if found:
        return "found_at_vendor"
    return send_claimed(engine, vendor, kinds, candidate.gift_id, as_of=as_of, write_activity=write)


def _claim(engine: Engine, gift_id: str, *, as_of: datetime, actor: str) -> bool:
    """Move a failed gift to ready and then to sending in one transaction.

    Doing both at once keeps a concurrent dispatch run from claiming the gift in between.
    Returns False when another worker moved the gift first.
    """
    try:
        with engine.begin() as connection:
            ledger.move(
                connection,
                gift_id,
                ledger.FAILED,
                ledger.READY,
                at=as_of,
                actor=actor,
                reason=RESEND_REASON,
            )
            ledger.move(
                connection,
                gift_id,
                ledger.READY,
                ledger.SENDING,
                at=as_of,
                actor=actor,
                attempts=Gift.attempts + 1,
            )
    except ledger.LedgerConflict as error:
        logger.warning("gift %s not resent: %s", gift_id, error)
        return False
    return True


def _record_existing_order(
    engine: Engine, vendor: GiftVendor, gift_id: str, *, as_of: datetime, actor: str
) -> bool:
    """Record the order the vendor already holds for this gift as sent, if there is one.

    A gift that failed with ``vendor_unavailable`` may have been ordered before the connection
    broke. The order must be for the gift's current SKU and not cancelled to count.
    """
    order = vendor.find_by_reference(gift_id)
    with engine.begin() as connection:
        sku = connection.scalar(select(Gift.sku).where(Gift.id == gift_id))
        if order is None or order.sku != sku or order.status == VendorStatus.CANCELLED:
            return False
        ledger.move(
            connection,
            gift_id,
            ledger.SENDING,
            ledger.SENT,
            at=as_of,
            actor=actor,
            reason="found at vendor before resend",
            vendor_order_id=order.id,
            sent_at=as_of,
        )
    logger.info("gift %s: vendor order %s already existed; recorded as sent", gift_id, order.id)
    return True
