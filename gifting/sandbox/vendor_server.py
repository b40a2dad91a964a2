"""Vendor sandbox: a local gift vendor served over real HTTP on a loopback port.

Tests and dry runs point ``SandboxVendorClient`` at ``VendorSandbox.base_url``. Faults such as
a 503 or a response lost after the order was stored can be injected, so retry and idempotency
paths run against a real socket. The JSON API is documented in ``docs/vendor-sandbox-api.md``,
and the order rules live in ``gifting.sandbox.vendor_orders``.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit

from gifting.sandbox.vendor_faults import FaultRates, RandomFaults
from gifting.sandbox.vendor_orders import OrderBook
from gifting.sandbox.vendor_validation import ApiError
from gifting.sandbox.vendor_webhooks import WebhookDelivery, WebhookSender
from gifting.vendors.base import VendorErrorCode

logger = logging.getLogger(__name__)

FAULT_KINDS = frozenset(
    {"http_500", "http_503", "http_429", "timeout_after_accept", "drop_connection"}
)
_FAULT_RESPONSES: dict[str, tuple[int, str, dict[str, str]]] = {
    "http_500": (HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", {}),
    "http_503": (HTTPStatus.SERVICE_UNAVAILABLE, "service_unavailable", {}),
    "http_429": (HTTPStatus.TOO_MANY_REQUESTS, "rate_limited", {"Retry-After": "1"}),
}
MAX_BODY_BYTES = 1_000_000
Response = tuple[int, Any, dict[str, str]]


@dataclass
class Fault:
    """A failure the server produces for the next ``remaining`` requests under ``path_prefix``.

    Attributes:
        delay_s: For ``timeout_after_accept``, seconds the response is held back.
        headers: Response headers that replace the kind's defaults, such as ``Retry-After``.
    """

    kind: str
    remaining: int
    path_prefix: str
    delay_s: float
    headers: dict[str, str] = field(default_factory=dict)


class VendorSandbox:
    """In-memory gift vendor behind a ``ThreadingHTTPServer`` in a background thread.

    Args:
        catalog: Items as dicts with sku, name, price and currency. Other keys are ignored.
            Stock is unlimited until ``set_stock`` limits it.
        api_key: Bearer token every request must carry.
        port: TCP port; 0 picks a free one, which ``base_url`` reports after ``start``.
        latency_s: Delay added before every API request is handled.
        ship_after_s: Seconds from creation until a physical order reads as shipped.
        deliver_after_s: Seconds from shipping until an order reads as delivered. With both
            delays 0, the default, every order reads as delivered as soon as it is created.
        webhook_secret: Key of the HMAC-SHA256 signature on every status webhook.
        webhook_url: Where status webhooks are POSTed; ``set_webhook_url`` can set it later.
        webhook_interval_s: Seconds between background webhook sends. With ``None``, the
            default, events are sent only when ``emit_due_events`` is called.
        balance: Account balance orders are charged against, or ``None`` for unlimited.
        state_path: JSON file that keeps orders, idempotency keys, stock and balance across
            restarts. With ``None`` they live in memory only.
        honour_idempotency_keys: With ``False``, every ``POST /v1/orders`` creates a new order
            even when its ``Idempotency-Key`` was seen before, as a vendor that does not
            deduplicate would. Tests of the find-before-create path use it.
    """

    def __init__(
        self,
        catalog: list[dict[str, Any]],
        *,
        api_key: str = "sandbox-vendor-key",
        host: str = "127.0.0.1",
        port: int = 0,
        latency_s: float = 0.0,
        ship_after_s: float = 0.0,
        deliver_after_s: float = 0.0,
        webhook_secret: str = "sandbox-webhook-secret",
        webhook_url: str | None = None,
        webhook_interval_s: float | None = None,
        balance: Decimal | None = None,
        state_path: Path | None = None,
        honour_idempotency_keys: bool = True,
    ) -> None:
        self.book = OrderBook(
            catalog,
            ship_after_s=ship_after_s,
            deliver_after_s=deliver_after_s,
            balance=balance,
            state_path=state_path,
            honour_idempotency_keys=honour_idempotency_keys,
        )
        self.api_key = api_key
        self.host = host
        self.port = port
        self.latency_s = latency_s
        self.webhook_secret = webhook_secret
        self.webhooks = WebhookSender(self.book, webhook_secret, url=webhook_url)
        self.webhook_interval_s = webhook_interval_s
        self._faults: list[Fault] = []
        self._random_faults: RandomFaults | None = None
        self.faults_served: Counter[str] = Counter()
        self._request_count = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> VendorSandbox:
        """Bind the port and serve requests from a daemon thread until ``stop``."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _SandboxHTTPServer((self.host, self.port), _Handler, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"vendor-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        if self.webhook_interval_s is not None:
            self.webhooks.start_loop(self.webhook_interval_s)
        logger.info("Vendor sandbox listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving, wake handlers that are delaying a response, and close the socket."""
        if self._server is None:
            return
        self._stopping.set()
        self.webhooks.stop_loop()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        logger.info("Vendor sandbox on port %s stopped", self.port)

    def __enter__(self) -> VendorSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """Root URL of the API, such as ``http://127.0.0.1:50123``."""
        if self._server is None:
            raise RuntimeError("The vendor sandbox is not running. Call start() first.")
        return f"http://{self.host}:{self.port}"

    @property
    def order_count(self) -> int:
        """Number of orders created, cancelled ones included and replays excluded."""
        with self.book.lock:
            return len(self.book.orders)

    @property
    def request_count(self) -> int:
        """Number of ``/v1`` requests received, including rejected and faulted ones."""
        with self._lock:
            return self._request_count

    def inject_fault(
        self, kind: str, count: int = 1, path_prefix: str = "/v1/orders", *, delay_s: float = 2.0
    ) -> None:
        """Make the next ``count`` requests whose path starts with ``path_prefix`` fail.

        Raises:
            ValueError: ``kind`` is not one of ``FAULT_KINDS``, ``count`` is below 1 or
                ``delay_s`` is negative.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"Fault kind {kind!r} is unknown. Use one of {sorted(FAULT_KINDS)}.")
        if count < 1 or delay_s < 0:
            raise ValueError(
                f"count must be at least 1 and delay_s at least 0, got {count}, {delay_s}."
            )
        with self._lock:
            self._faults.append(Fault(kind, count, path_prefix, delay_s))
        logger.info(
            "Vendor sandbox will fail %d request(s) under %s with %s", count, path_prefix, kind
        )

    def inject_random_faults(
        self, rates: FaultRates | None, *, seed: int = 0, path_prefix: str = "/v1/orders"
    ) -> None:
        """Fail a random share of the requests under ``path_prefix`` from now on.

        Faults queued by ``inject_fault`` are served first. ``None`` stops the random faults.
        """
        with self._lock:
            self._random_faults = (
                None if rates is None else RandomFaults(rates, seed=seed, path_prefix=path_prefix)
            )
        logger.info("Vendor sandbox random faults under %s: %s", path_prefix, rates)

    def set_stock(self, sku: str, quantity: int | None) -> None:
        """Set the units left of ``sku``. ``None`` makes its stock unlimited again."""
        self.book.set_stock(sku, quantity)

    def set_webhook_url(self, url: str | None) -> None:
        """Send status webhooks to ``url`` from now on; ``None`` holds them back."""
        self.webhooks.url = url

    def emit_due_events(self, *, newest_first: bool = False) -> list[WebhookDelivery]:
        """Send every status webhook not yet accepted by the receiver, oldest first by default."""
        return self.webhooks.emit_due(newest_first=newest_first)

    def replay_event(self, event_id: str, *, timestamp: int | None = None) -> WebhookDelivery:
        """Send an already sent webhook again, as a vendor retry or an attacker would."""
        return self.webhooks.replay(event_id, timestamp=timestamp)

    def orders(self) -> list[dict[str, Any]]:
        """Return every stored order as its API JSON, oldest first."""
        return self.book.snapshot()

    def _authorized(self, header: str | None) -> bool:
        expected = f"Bearer {self.api_key}".encode()
        return header is not None and hmac.compare_digest(header.encode(), expected)

    def _count_request(self) -> None:
        with self._lock:
            self._request_count += 1

    def _take_fault(self, path: str) -> Fault | None:
        """Consume one use of the oldest fault matching ``path``, else draw a random one."""
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.path_prefix):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    self.faults_served[fault.kind] += 1
                    return fault
            random_faults = self._random_faults
        drawn = random_faults.draw(path) if random_faults is not None else None
        if random_faults is None or drawn is None:
            return None
        with self._lock:
            self.faults_served[drawn.kind] += 1
        return Fault(drawn.kind, 1, path, random_faults.rates.delay_s, drawn.headers)

    def _wait(self, seconds: float) -> None:
        """Sleep, but return early when the sandbox stops so shutdown never waits on a delay."""
        if seconds > 0:
            self._stopping.wait(seconds)


class _SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        sandbox: VendorSandbox,
    ) -> None:
        self.sandbox = sandbox
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    """Translate HTTP requests into ``VendorSandbox`` and ``OrderBook`` calls."""

    protocol_version = "HTTP/1.1"
    # Without this, each small keep-alive response waits about 40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    server: _SandboxHTTPServer

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("Vendor sandbox: " + format, *args)

    def _handle(self, method: str) -> None:
        sandbox = self.server.sandbox
        url = urlsplit(self.path)
        fault: Fault | None = None
        try:
            raw_body = self._read_body()
            if not url.path.startswith("/_sandbox/"):
                sandbox._count_request()
            if not sandbox._authorized(self.headers.get("Authorization")):
                raise ApiError(
                    HTTPStatus.UNAUTHORIZED,
                    VendorErrorCode.UNAUTHORIZED,
                    "The Authorization header is missing or carries the wrong API key. "
                    "Send 'Authorization: Bearer <api key>'.",
                )
            body = _parse_json(raw_body)
            if url.path.startswith("/_sandbox/"):
                response = _control(sandbox, method, url.path, body)
            else:
                sandbox._wait(sandbox.latency_s)
                fault = sandbox._take_fault(url.path)
                if fault is not None and fault.kind == "drop_connection":
                    self.close_connection = True
                    return
                if fault is not None and fault.kind in _FAULT_RESPONSES:
                    status, code, headers = _FAULT_RESPONSES[fault.kind]
                    headers = {**headers, **fault.headers}
                    raise ApiError(status, code, f"Injected fault {fault.kind}. Retry.", headers)
                response = _route(sandbox.book, method, url, self.headers, body)
        except ApiError as error:
            error_body = {"error": {"code": str(error.code), "message": error.message}}
            response = (error.status, error_body, error.headers)
        if fault is not None and fault.kind == "timeout_after_accept":
            sandbox._wait(fault.delay_s)
        self._send_json(*response)

    def _read_body(self) -> bytes:
        """Read the request body in full, because unread bytes would corrupt the next request."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                VendorErrorCode.INVALID_REQUEST,
                f"Content-Length must be between 0 and {MAX_BODY_BYTES} bytes.",
            )
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, payload: Any, headers: Mapping[str, str]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first, which is what timeout_after_accept provokes.
            logger.debug("Vendor sandbox client closed the connection before the response")
            self.close_connection = True


def _parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as error:
        raise ApiError(
            HTTPStatus.BAD_REQUEST,
            VendorErrorCode.INVALID_REQUEST,
            f"The request body is not valid JSON ({error}).",
        ) from error


def _route(
    book: OrderBook, method: str, url: SplitResult, headers: Mapping[str, str], body: Any
) -> Response:
    """Dispatch one ``/v1`` request and return status, JSON payload and extra headers."""
    parts = [part for part in url.path.split("/") if part]
    if method == "GET" and parts == ["v1", "catalog"]:
        return HTTPStatus.OK, {"items": book.catalog_json()}, {}
    if method == "POST" and parts == ["v1", "orders"]:
        return _place_order(book, headers, body)
    if method == "GET" and parts == ["v1", "orders"]:
        references = parse_qs(url.query).get("reference")
        if not references:
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                VendorErrorCode.INVALID_REQUEST,
                "GET /v1/orders needs a reference query parameter, such as ?reference=gift-1.",
            )
        return HTTPStatus.OK, {"orders": book.by_reference(references[0])}, {}
    if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "orders"]:
        return HTTPStatus.OK, book.get(parts[2]), {}
    if (
        method == "POST"
        and len(parts) == 4
        and parts[:2] == ["v1", "orders"]
        and parts[3] == "cancel"
    ):
        return HTTPStatus.OK, book.cancel(parts[2]), {}
    raise ApiError(
        HTTPStatus.NOT_FOUND,
        VendorErrorCode.NOT_FOUND,
        f"No route for {method} {url.path}. See docs/vendor-sandbox-api.md.",
    )


def _place_order(book: OrderBook, headers: Mapping[str, str], body: Any) -> Response:
    key = (headers.get("Idempotency-Key") or "").strip()
    if not key:
        raise ApiError(
            HTTPStatus.BAD_REQUEST,
            VendorErrorCode.INVALID_REQUEST,
            "POST /v1/orders needs an Idempotency-Key header. Derive it from the gift id.",
        )
    order, replayed = book.place(body, key)
    if replayed:
        return HTTPStatus.OK, order, {"Idempotent-Replayed": "true"}
    return HTTPStatus.CREATED, order, {}


def _control(sandbox: VendorSandbox, method: str, path: str, body: Any) -> Response:
    """Serve the ``/_sandbox/`` test endpoints: fault injection and counters."""
    if method == "GET" and path == "/_sandbox/stats":
        stats = {"order_count": sandbox.order_count, "request_count": sandbox.request_count}
        return HTTPStatus.OK, stats, {}
    if method == "POST" and path == "/_sandbox/faults":
        if not isinstance(body, dict):
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                VendorErrorCode.INVALID_REQUEST,
                'Send a JSON object such as {"kind": "http_503", "count": 1}.',
            )
        try:
            fault = Fault(
                kind=str(body.get("kind")),
                remaining=int(body.get("count", 1)),
                path_prefix=str(body.get("path_prefix", "/v1/orders")),
                delay_s=float(body.get("delay_s", 2.0)),
            )
            sandbox.inject_fault(
                fault.kind, fault.remaining, fault.path_prefix, delay_s=fault.delay_s
            )
        except (TypeError, ValueError) as error:
            raise ApiError(
                HTTPStatus.UNPROCESSABLE_ENTITY, VendorErrorCode.INVALID_REQUEST, str(error)
            ) from error
        return HTTPStatus.CREATED, {"fault": asdict(fault)}, {}
    raise ApiError(
        HTTPStatus.NOT_FOUND, VendorErrorCode.NOT_FOUND, f"No sandbox route for {method} {path}."
    )
