"""Receive the vendor's signed delivery webhooks and record them in the gift ledger.

A request is trusted only after three checks, in this order. The HMAC-SHA256 signature over
``{id}.{timestamp}.{raw body}`` must match (else 401). The timestamp must be within a tolerance
of our clock (else 400). The body must be a JSON event whose ``id`` matches ``Webhook-Id``
(else 400). Each event id
is processed once, because the vendor re-sends events until it gets a 2xx response and an
attacker may replay a captured one. Events may arrive in any order, so an event moves a gift
only forward along the ledger's state machine.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, insert, select

from gifting import ledger
from gifting.errors import GiftingError
from gifting.warehouse.schema import Gift, GiftEvent

logger = logging.getLogger(__name__)

ACTOR = "vendor-webhook"
DEFAULT_TOLERANCE_S = 300
MAX_BODY_BYTES = 1_000_000
SIGNATURE_SCHEME = "v1"
FINAL_FAILURES = frozenset({"failed", "cancelled"})


class WebhookRejected(GiftingError):
    """A webhook request that is not processed; ``status`` is the HTTP status to respond with."""

    status: int = HTTPStatus.BAD_REQUEST


class InvalidSignature(WebhookRejected):
    """The signature is missing or does not match the body: the sender lacks our secret."""

    status = HTTPStatus.UNAUTHORIZED


def compute_signature(secret: str, event_id: str, timestamp: str, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of ``{event_id}.{timestamp}.{body}`` keyed with ``secret``."""
    message = f"{event_id}.{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_request(
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret: str,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> dict[str, Any]:
    """Check signature, timestamp and body of one webhook request and return the parsed event.

    The signature is checked first and over the raw bytes, so nothing unsigned is parsed.
    ``Webhook-Signature`` may list several space-separated ``v1=`` values, as during a secret
    rotation, and one match is enough.

    Raises:
        InvalidSignature: A header is missing or no signature matches.
        WebhookRejected: The timestamp is not an integer or is further than ``tolerance_s``
            from ``now``, or the body is not a JSON event with the header's id.
    """
    # HTTP header names are case-insensitive, and proxies change their case.
    lookup = {name.lower(): value for name, value in headers.items()}
    event_id = lookup.get("webhook-id", "")
    timestamp = lookup.get("webhook-timestamp", "")
    offered = lookup.get("webhook-signature", "").split()
    if not event_id or not timestamp or not offered:
        raise InvalidSignature("Webhook-Id, Webhook-Timestamp or Webhook-Signature is missing")
    expected = compute_signature(secret, event_id, timestamp, body)
    if not any(_matches(candidate, expected) for candidate in offered):
        raise InvalidSignature(f"webhook {event_id}: signature does not match")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookRejected(f"webhook {event_id}: timestamp {timestamp!r} is invalid") from None
    if abs(now - sent_at) > tolerance_s:
        raise WebhookRejected(
            f"webhook {event_id}: timestamp {sent_at} is more than {tolerance_s} s from now"
        )
    return _parse_event(event_id, body)


def _matches(candidate: str, expected: str) -> bool:
    scheme, _, value = candidate.partition("=")
    return scheme == SIGNATURE_SCHEME and hmac.compare_digest(value.encode(), expected.encode())


def _parse_event(event_id: str, body: bytes) -> dict[str, Any]:
    try:
        event = json.loads(body)
        order = event["order"]
        fields_present = all(key in order for key in ("id", "reference", "sku", "status"))
    except (ValueError, KeyError, TypeError):
        raise WebhookRejected(f"webhook {event_id}: body is not a JSON order event") from None
    if not fields_present or event.get("id") != event_id:
        raise WebhookRejected(f"webhook {event_id}: body lacks order fields or has another id")
    return dict(event)


class ProcessedEvents(Protocol):
    """Remembers which webhook event ids were already processed, inside the caller's transaction."""

    def contains(self, connection: Connection, event_id: str) -> bool: ...

    def add(
        self, connection: Connection, event_id: str, gift_id: str, status: str, at: datetime
    ) -> None: ...


class GiftEventMarkers:
    """``ProcessedEvents`` kept in ``gift_events``, so it survives restarts and needs no table.

    Each processed event appends one row with actor ``vendor-webhook``, the event id as its
    reason and ``from_status`` equal to ``to_status``. Rows like this mark a delivery, not a
    state change, so a reader of the gift history should skip them.
    """

    def contains(self, connection: Connection, event_id: str) -> bool:
        query = select(GiftEvent.id).where(GiftEvent.actor == ACTOR, GiftEvent.reason == event_id)
        return connection.scalar(query.limit(1)) is not None

    def add(
        self, connection: Connection, event_id: str, gift_id: str, status: str, at: datetime
    ) -> None:
        connection.execute(
            insert(GiftEvent).values(
                gift_id=gift_id,
                occurred_at=at,
                from_status=status,
                to_status=status,
                actor=ACTOR,
                reason=event_id,
            )
        )


@dataclass(frozen=True)
class WebhookResponse:
    """The HTTP status and the short outcome the receiver returns for one request."""

    status: int
    outcome: str


class DeliveryWebhookHandler:
    """Verifies webhook requests and applies the order status they carry to the ledger.

    Args:
        engine: The warehouse.
        secret: The vendor's webhook signing secret. It is never logged.
        tolerance_s: Maximum distance in seconds between ``Webhook-Timestamp`` and our clock.
        clock: Returns unix seconds; injectable so tests can move time.
        processed: Where processed event ids are kept; ``GiftEventMarkers`` by default.
    """

    def __init__(
        self,
        engine: Engine,
        secret: str,
        *,
        tolerance_s: float = DEFAULT_TOLERANCE_S,
        clock: Callable[[], float] = time.time,
        processed: ProcessedEvents | None = None,
    ) -> None:
        self.engine = engine
        self.secret = secret
        self.tolerance_s = tolerance_s
        self.clock = clock
        self.processed = processed or GiftEventMarkers()

    def handle(self, headers: Mapping[str, str], body: bytes) -> WebhookResponse:
        """Verify one request and apply its event, turning a rejection into a 4xx response.

        Database errors still propagate, and the HTTP server then drops the connection, so the
        vendor retries the event.
        """
        now = self.clock()
        try:
            event = verify_request(
                headers, body, secret=self.secret, now=now, tolerance_s=self.tolerance_s
            )
        except WebhookRejected as error:
            logger.warning("webhook rejected with HTTP %d: %s", error.status, error)
            return WebhookResponse(error.status, "rejected")
        at = datetime.fromtimestamp(now, UTC).replace(tzinfo=None)
        try:
            outcome = self.apply(event, at=at)
        except ledger.LedgerConflict as error:
            # Another worker moved the gift meanwhile. A non-2xx response makes the vendor retry.
            logger.warning("webhook %s not applied: %s", event["id"], error)
            return WebhookResponse(HTTPStatus.CONFLICT, "conflict")
        logger.info("webhook %s: %s", event["id"], outcome)
        return WebhookResponse(HTTPStatus.OK, outcome)

    def apply(self, event: Mapping[str, Any], *, at: datetime) -> str:
        """Apply one verified event to its gift once and return what happened.

        Returns ``duplicate``, ``unknown_gift``, ``other_order``, ``delivered``, ``failed`` or
        ``unchanged:<gift status>``; ``sent+`` prefixes an outcome that first recorded the order.
        """
        order = event["order"]
        with self.engine.begin() as connection:
            if self.processed.contains(connection, event["id"]):
                return "duplicate"
            gift = connection.execute(
                select(Gift.id, Gift.status, Gift.sku, Gift.vendor_order_id).where(
                    Gift.id == order["reference"]
                )
            ).one_or_none()
            if gift is None:
                # Nothing to mark: gift_events rows need a gift. Re-sends are ignored the same way.
                logger.warning("webhook %s is for unknown gift %s", event["id"], order["reference"])
                return "unknown_gift"
            outcome, status = _apply_status(connection, gift, order, at)
            self.processed.add(connection, event["id"], gift.id, status, at)
        return outcome


def _apply_status(
    connection: Connection, gift: Any, order: Mapping[str, Any], at: datetime
) -> tuple[str, str]:
    """Move the gift forward to match the order status; return the outcome and the gift status."""
    if gift.vendor_order_id not in (None, order["id"]) or order["sku"] != gift.sku:
        # An earlier order of this gift, replaced by the exception queue under a new key.
        return "other_order", gift.status
    prefix = ""
    status = gift.status
    if status == ledger.SENDING:
        # The dispatcher still waiting on this vendor call finds the order recorded and moves on.
        ledger.move(
            connection,
            gift.id,
            ledger.SENDING,
            ledger.SENT,
            at=at,
            actor=ACTOR,
            reason="recorded from webhook",
            vendor_order_id=order["id"],
            sent_at=at,
        )
        prefix, status = "sent+", ledger.SENT
    if status != ledger.SENT:
        return f"{prefix}unchanged:{status}", status
    if order["status"] == "delivered":
        delivered_at = _naive_utc(str(order.get("updated_at") or ""), at)
        ledger.move(
            connection,
            gift.id,
            ledger.SENT,
            ledger.DELIVERED,
            at=at,
            actor=ACTOR,
            delivered_at=delivered_at,
        )
        return f"{prefix}delivered", ledger.DELIVERED
    if order["status"] in FINAL_FAILURES:
        reason = str(order.get("failure_reason") or order["status"])[:64]
        ledger.move(
            connection, gift.id, ledger.SENT, ledger.FAILED, at=at, actor=ACTOR, reason=reason
        )
        return f"{prefix}failed", ledger.FAILED
    return f"{prefix}unchanged:{status}", status


def _naive_utc(text: str, default: datetime) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return default
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


class WebhookReceiver:
    """Serves ``DeliveryWebhookHandler`` over HTTP on a loopback port from a daemon thread.

    Args:
        handler: Verifies and applies each request.
        host: Interface to bind; keep the default unless a proxy on this host forwards to it.
        port: TCP port; 0 picks a free one, which ``url`` reports after ``start``.
        path: The one path that accepts POSTs.
    """

    def __init__(
        self,
        handler: DeliveryWebhookHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/webhooks/vendor",
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.path = path
        self._server: _ReceiverServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Full URL to give the vendor, such as ``http://127.0.0.1:50123/webhooks/vendor``."""
        if self._server is None:
            raise GiftingError("The webhook receiver is not running. Call start() first.")
        return f"http://{self.host}:{self.port}{self.path}"

    def start(self) -> WebhookReceiver:
        """Bind the port and serve until ``stop``."""
        if self._server is None:
            self._server = _ReceiverServer((self.host, self.port), _RequestHandler, self)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"webhook-receiver-{self.port}",
                daemon=True,
            )
            self._thread.start()
            logger.info("webhook receiver listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
        logger.info("webhook receiver on port %s stopped", self.port)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        receiver: WebhookReceiver,
    ) -> None:
        self.receiver = receiver
        super().__init__(address, handler)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without this, each small keep-alive response waits about 40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    server: _ReceiverServer

    def do_POST(self) -> None:
        receiver = self.server.receiver
        if self.path != receiver.path:
            self._respond(HTTPStatus.NOT_FOUND, "not_found")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            self._respond(HTTPStatus.BAD_REQUEST, "invalid_length")
            return
        body = self.rfile.read(length)
        response = receiver.handler.handle(dict(self.headers.items()), body)
        self._respond(response.status, response.outcome)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("webhook receiver: " + format, *args)

    def _respond(self, status: int, outcome: str) -> None:
        data = json.dumps({"outcome": outcome}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
