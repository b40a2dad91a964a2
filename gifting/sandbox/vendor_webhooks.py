"""Signed status webhooks from the vendor sandbox: build, sign, send, replay.

The order book computes status when an order is read, so no stored event marks a change. This
module turns ``OrderBook.status_changes`` into events and sends each one until the receiver
accepts it with a 2xx response. Sending happens on an explicit ``emit_due`` call, which keeps
tests deterministic, or every ``interval_s`` seconds from a background thread. The wire format
is documented in ``docs/vendor-sandbox-api.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from gifting.sandbox.vendor_orders import OrderBook

logger = logging.getLogger(__name__)

EVENT_TYPE = "order.status_changed"


@dataclass(frozen=True)
class WebhookEvent:
    """One status change of one order, with the exact body that is signed and sent.

    Attributes:
        id: ``evt_<order id without ord_>_<status>``, the same on every send of this change.
        body: The JSON body. It is built once so a replay sends the same bytes.
    """

    id: str
    order_id: str
    status: str
    body: bytes


@dataclass(frozen=True)
class WebhookDelivery:
    """The result of one attempt to send one event; ``status_code`` is 0 when no response came."""

    event_id: str
    timestamp: int
    status_code: int


def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``Webhook-Signature`` value: ``v1=`` and the hex HMAC-SHA256 of id.ts.body."""
    message = f"{event_id}.{timestamp}.".encode() + body
    return "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class WebhookSender:
    """Sends status events for the orders in one ``OrderBook`` to one URL.

    Args:
        book: The orders whose status changes become events.
        secret: Key for the HMAC signature. It is never logged.
        url: Receiver URL. Events wait while it is ``None``.
        timeout: Seconds to wait for the receiver's response.
        clock: Returns unix seconds, the source of ``Webhook-Timestamp``.
    """

    def __init__(
        self,
        book: OrderBook,
        secret: str,
        *,
        url: str | None = None,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.book = book
        self.secret = secret
        self.url = url
        self.clock = clock
        self.deliveries: list[WebhookDelivery] = []
        self._events: dict[str, WebhookEvent] = {}
        self._accepted: set[str] = set()
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=timeout)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def pending(self) -> list[WebhookEvent]:
        """Return every event that has happened and was not yet accepted, oldest first."""
        events = []
        for change in self.book.status_changes():
            event_id = f"evt_{str(change['id']).removeprefix('ord_')}_{change['status']}"
            with self._lock:
                if event_id in self._accepted:
                    continue
                event = self._events.get(event_id) or _build_event(event_id, change)
                self._events[event_id] = event
            events.append(event)
        return events

    def emit_due(self, *, newest_first: bool = False) -> list[WebhookDelivery]:
        """Send every pending event once and return the results.

        Args:
            newest_first: Send in reverse order, so tests can check that the receiver
                tolerates a ``shipped`` event arriving after ``delivered``.
        """
        if self.url is None:
            return []
        events = self.pending()
        if newest_first:
            events.reverse()
        return [self.send(event) for event in events]

    def send(self, event: WebhookEvent, *, timestamp: int | None = None) -> WebhookDelivery:
        """Sign and POST one event, marking it accepted on a 2xx response.

        Args:
            timestamp: Unix seconds to sign and send instead of the clock's, for tests of
                stale events.
        """
        if self.url is None:
            raise RuntimeError("No webhook URL is set. Call set_webhook_url() first.")
        sent_at = int(self.clock()) if timestamp is None else timestamp
        headers = {
            "Content-Type": "application/json",
            "Webhook-Id": event.id,
            "Webhook-Timestamp": str(sent_at),
            "Webhook-Signature": sign(self.secret, event.id, sent_at, event.body),
        }
        try:
            status_code = self._http.post(self.url, content=event.body, headers=headers).status_code
        except httpx.HTTPError as error:
            logger.warning("Webhook %s was not delivered: %s", event.id, type(error).__name__)
            status_code = 0
        delivery = WebhookDelivery(event.id, sent_at, status_code)
        with self._lock:
            self.deliveries.append(delivery)
            if 200 <= status_code < 300:
                self._accepted.add(event.id)
        if not 200 <= status_code < 300:
            logger.warning("Webhook %s got HTTP %s; it stays pending", event.id, status_code)
        return delivery

    def replay(self, event_id: str, *, timestamp: int | None = None) -> WebhookDelivery:
        """Send an event that was already built again, with a fresh timestamp and signature.

        Raises:
            KeyError: No event with this id has been built yet.
        """
        with self._lock:
            event = self._events.get(event_id)
        if event is None:
            raise KeyError(f"Webhook event {event_id!r} does not exist yet. Call emit_due first.")
        return self.send(event, timestamp=timestamp)

    def start_loop(self, interval_s: float) -> None:
        """Call ``emit_due`` every ``interval_s`` seconds from a daemon thread, until stopped."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(interval_s,), name="vendor-webhooks", daemon=True
        )
        self._thread.start()

    def stop_loop(self) -> None:
        """Stop the background thread, if one runs. Explicit sends keep working."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self, interval_s: float) -> None:
        while not self._stopping.wait(interval_s):
            self.emit_due()


def _build_event(event_id: str, change: dict[str, object]) -> WebhookEvent:
    payload = {
        "id": event_id,
        "type": EVENT_TYPE,
        "created_at": change["updated_at"],
        "order": change,
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    return WebhookEvent(event_id, str(change["id"]), str(change["status"]), body)
