"""Vendor sandbox state and rules: catalog, stock, balance, orders and idempotency keys.

``gifting.sandbox.vendor_server`` serves this over HTTP. Orders live in memory, so each sandbox
starts empty. Order status follows the server's own clock and is computed when an order is
read, so no background thread moves orders along. The rules, test hooks included, are
documented in ``docs/vendor-sandbox-api.md``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from http import HTTPStatus
from typing import Any

from gifting.vendors.base import VendorErrorCode, VendorStatus

logger = logging.getLogger(__name__)

ADDRESS_FIELDS = ("street", "city", "state", "postal_code", "country")
# Test hooks, documented in docs/vendor-sandbox-api.md.
INVALID_ADDRESS_MARKER = "INVALID"
UNDELIVERABLE_ADDRESS_MARKER = "UNDELIVERABLE"
DECLINING_EMAIL_DOMAIN = "declined.example"
BLOCKED_EMAIL_DOMAIN = "blocked.example"
BOUNCING_EMAIL_DOMAIN = "bounce.example"
CENT = Decimal("0.01")


class ApiError(Exception):
    """An error response: the HTTP status and the body's ``code`` and ``message``."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def _invalid(message: str, code: str = VendorErrorCode.INVALID_REQUEST) -> ApiError:
    return ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, code, message)


def format_time(value: datetime) -> str:
    """Format an aware datetime as ISO 8601 UTC with a ``Z`` suffix, to the millisecond."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class StoredOrder:
    """An order as the sandbox stores it. The recipient is kept only as its failure hook."""

    id: str
    reference: str
    sku: str
    amount: Decimal
    currency: str
    kind: str
    created_at: datetime
    created_clock: float
    failure_on_delivery: str | None
    cancelled_at: datetime | None = None


class OrderBook:
    """Catalog, stock, balance, orders and idempotency keys, behind one lock.

    Methods raise ``ApiError`` for requests the vendor rejects, so the HTTP handler only
    translates and never decides.
    """

    def __init__(
        self,
        catalog: list[dict[str, Any]],
        *,
        ship_after_s: float,
        deliver_after_s: float,
        balance: Decimal | None,
    ) -> None:
        self.items = {
            str(item["sku"]): {
                "sku": str(item["sku"]),
                "name": str(item["name"]),
                "price": Decimal(str(item["price"])).quantize(CENT),
                "currency": str(item["currency"]),
            }
            for item in catalog
        }
        self.stock: dict[str, int] = {}
        self.balance = balance
        self.ship_after_s = ship_after_s
        self.deliver_after_s = deliver_after_s
        self.orders: dict[str, StoredOrder] = {}
        self.keys: dict[str, tuple[str, str]] = {}
        self.lock = threading.Lock()

    def catalog_json(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {**item, "price": str(item["price"]), "in_stock": self.stock.get(sku, 1) > 0}
                for sku, item in self.items.items()
            ]

    def place(self, body: Any, idempotency_key: str) -> tuple[dict[str, Any], bool]:
        """Create an order, or return the one stored for the key, with a replayed flag."""
        fingerprint = json.dumps(body, sort_keys=True, separators=(",", ":"))
        with self.lock:
            if idempotency_key in self.keys:
                stored_fingerprint, order_id = self.keys[idempotency_key]
                if stored_fingerprint != fingerprint:
                    raise _invalid(
                        f"Idempotency-Key {idempotency_key!r} was already used for order "
                        f"{order_id} with a different body. Use a new key for a different order.",
                        VendorErrorCode.IDEMPOTENCY_KEY_REUSED,
                    )
                return self._to_json(self.orders[order_id]), True
            order = self._validated_order(body)
            self._reserve(order)
            self.orders[order.id] = order
            self.keys[idempotency_key] = (fingerprint, order.id)
            logger.info("Sandbox vendor created order %s for sku %s", order.id, order.sku)
            return self._to_json(order), False

    def get(self, order_id: str) -> dict[str, Any]:
        with self.lock:
            return self._to_json(self._find(order_id))

    def by_reference(self, reference: str) -> list[dict[str, Any]]:
        with self.lock:
            matches = [order for order in self.orders.values() if order.reference == reference]
            return [self._to_json(order) for order in sorted(matches, key=_creation_order)]

    def cancel(self, order_id: str) -> dict[str, Any]:
        """Cancel an accepted order, returning stock and balance; cancelling twice is a no-op."""
        with self.lock:
            order = self._find(order_id)
            status, _, _ = self._lifecycle(order)
            if status not in (VendorStatus.ACCEPTED, VendorStatus.CANCELLED):
                raise ApiError(
                    HTTPStatus.CONFLICT,
                    VendorErrorCode.ALREADY_SHIPPED,
                    f"Order {order_id} is {status} and can no longer be cancelled. "
                    "Only accepted orders can be cancelled.",
                )
            if order.cancelled_at is None:
                order.cancelled_at = datetime.now(UTC)
                self._release(order)
            return self._to_json(order)

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                self._to_json(order) for order in sorted(self.orders.values(), key=_creation_order)
            ]

    def _find(self, order_id: str) -> StoredOrder:
        order = self.orders.get(order_id)
        if order is None:
            raise ApiError(
                HTTPStatus.NOT_FOUND,
                VendorErrorCode.NOT_FOUND,
                f"Order {order_id!r} does not exist. Look it up by reference instead.",
            )
        return order

    def _validated_order(self, body: Any) -> StoredOrder:
        """Check a ``POST /v1/orders`` body against the rules and build the order."""
        if not isinstance(body, dict):
            raise _invalid("The request body must be a JSON object.")
        fields = {name: _required_text(body, name) for name in ("reference", "sku", "currency")}
        kind = body.get("kind", "physical")
        if kind not in ("physical", "egift"):
            raise _invalid(f"kind {kind!r} is invalid. Use 'physical' or 'egift'.")
        note = body.get("note")
        if not isinstance(note, str) or not note.strip():
            raise _invalid("note is missing or empty. Write the card text into note.")
        recipient = body.get("recipient")
        if not isinstance(recipient, dict):
            raise _invalid("recipient is missing. Send an object with name, email and address.")
        _required_text(recipient, "name", prefix="recipient.")
        email = _required_text(recipient, "email", prefix="recipient.")
        amount = _parse_amount(body.get("amount"))
        item = self.items.get(fields["sku"])
        if item is None:
            raise _invalid(
                f"sku {fields['sku']!r} is not in the catalog. Pick one from GET /v1/catalog.",
                VendorErrorCode.SKU_UNKNOWN,
            )
        if fields["currency"] != item["currency"]:
            raise _invalid(
                f"currency {fields['currency']!r} does not match the catalog currency "
                f"{item['currency']!r} of sku {fields['sku']!r}."
            )
        if kind == "physical":
            _check_address(recipient.get("address"))
        _check_recipient_hooks(email)
        return StoredOrder(
            id=f"ord_{uuid.uuid4().hex[:16]}",
            reference=fields["reference"],
            sku=fields["sku"],
            amount=amount,
            currency=fields["currency"],
            kind=kind,
            created_at=datetime.now(UTC),
            created_clock=time.monotonic(),
            failure_on_delivery=_failure_hook(kind, email, recipient.get("address")),
        )

    def _reserve(self, order: StoredOrder) -> None:
        """Take one unit of stock and the order's amount from the balance, or reject the order."""
        stock = self.stock.get(order.sku)
        if stock is not None and stock <= 0:
            raise ApiError(
                HTTPStatus.CONFLICT,
                VendorErrorCode.OUT_OF_STOCK,
                f"sku {order.sku!r} is out of stock. Choose another sku.",
            )
        if self.balance is not None and order.amount > self.balance:
            raise ApiError(
                HTTPStatus.PAYMENT_REQUIRED,
                VendorErrorCode.INSUFFICIENT_FUNDS,
                f"The account balance {self.balance} is below the order amount {order.amount}. "
                "Top up the balance.",
            )
        if stock is not None:
            self.stock[order.sku] = stock - 1
        if self.balance is not None:
            self.balance -= order.amount

    def _release(self, order: StoredOrder) -> None:
        if order.sku in self.stock:
            self.stock[order.sku] += 1
        if self.balance is not None:
            self.balance += order.amount

    def _lifecycle(self, order: StoredOrder) -> tuple[VendorStatus, datetime, str | None]:
        """Return status, time of the last status change and failure reason, as of now.

        A physical order ships ``ship_after_s`` after creation and is delivered
        ``deliver_after_s`` after that. An e-gift is never shipped: it goes from accepted to
        delivered at the same total delay.
        """
        if order.cancelled_at is not None:
            return VendorStatus.CANCELLED, order.cancelled_at, None
        elapsed = time.monotonic() - order.created_clock
        ships_at = self.ship_after_s
        delivered_at = self.ship_after_s + self.deliver_after_s
        if elapsed >= delivered_at:
            changed = order.created_at + timedelta(seconds=delivered_at)
            if order.failure_on_delivery is not None:
                return VendorStatus.FAILED, changed, order.failure_on_delivery
            return VendorStatus.DELIVERED, changed, None
        if order.kind == "physical" and elapsed >= ships_at:
            return VendorStatus.SHIPPED, order.created_at + timedelta(seconds=ships_at), None
        return VendorStatus.ACCEPTED, order.created_at, None

    def _to_json(self, order: StoredOrder) -> dict[str, Any]:
        status, updated_at, failure_reason = self._lifecycle(order)
        return {
            "id": order.id,
            "reference": order.reference,
            "sku": order.sku,
            "amount": str(order.amount),
            "currency": order.currency,
            "kind": order.kind,
            "status": str(status),
            "created_at": format_time(order.created_at),
            "updated_at": format_time(updated_at),
            "failure_reason": failure_reason,
        }


def _creation_order(order: StoredOrder) -> float:
    return order.created_clock


def _required_text(body: dict[str, Any], name: str, *, prefix: str = "") -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"{prefix}{name} is missing or empty. Send it as a non-empty string.")
    return value


def _parse_amount(value: Any) -> Decimal:
    """Parse a positive amount with at most two decimals, sent as a string or a JSON number."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT):
        raise _invalid(
            f"amount {value!r} is invalid. Send a positive amount with at most two decimals, "
            'such as "25.00".'
        )
    return amount.quantize(CENT)


def _check_address(address: Any) -> None:
    """Reject a physical order whose address is incomplete or carries the INVALID test hook."""
    if not isinstance(address, dict):
        raise _invalid(
            "A physical gift needs recipient.address. Send the address or order an e-gift.",
            VendorErrorCode.ADDRESS_INVALID,
        )
    missing = [
        name
        for name in ADDRESS_FIELDS
        if not isinstance(address.get(name), str) or not address[name].strip()
    ]
    if missing:
        raise _invalid(
            f"recipient.address is missing {', '.join(missing)}. Send all of "
            f"{', '.join(ADDRESS_FIELDS)}.",
            VendorErrorCode.ADDRESS_INVALID,
        )
    if any(INVALID_ADDRESS_MARKER in address[name] for name in ADDRESS_FIELDS):
        raise _invalid(
            "recipient.address failed address verification. Correct the address.",
            VendorErrorCode.ADDRESS_INVALID,
        )


def _check_recipient_hooks(email: str) -> None:
    domain = email.rpartition("@")[2].lower()
    if domain == DECLINING_EMAIL_DOMAIN:
        raise _invalid(
            "The recipient has opted out of gifts from this sender. Do not send them gifts.",
            VendorErrorCode.RECIPIENT_DECLINED,
        )
    if domain == BLOCKED_EMAIL_DOMAIN:
        raise _invalid(
            "The vendor's gifting policy blocks this recipient. Review the gift with the vendor.",
            VendorErrorCode.POLICY_BLOCKED,
        )


def _failure_hook(kind: str, email: str, address: Any) -> str | None:
    """Return the failure reason an order will read as at delivery time, if a hook applies."""
    if kind == "egift" and email.rpartition("@")[2].lower() == BOUNCING_EMAIL_DOMAIN:
        return "email_bounced"
    if kind == "physical" and UNDELIVERABLE_ADDRESS_MARKER in str(address.get("street", "")):
        return "address_undeliverable"
    return None
