"""Vendor sandbox state and rules: catalog, stock, balance, orders and idempotency keys.

``gifting.sandbox.vendor_server`` serves this over HTTP. Orders live in memory, and also in a
JSON file when a state path is given. Order status follows the server's own clock and is
computed when an order is read, so no background thread moves orders along. The rules, test
hooks included, are documented in ``docs/vendor-sandbox-api.md``.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http import HTTPStatus
from pathlib import Path
from typing import Any

from gifting.sandbox.vendor_validation import (
    CENT,
    ApiError,
    check_address,
    check_recipient_hooks,
    delivery_failure_reason,
    parse_order_body,
    validation_error,
)
from gifting.vendors.base import VendorErrorCode, VendorStatus

logger = logging.getLogger(__name__)


def format_time(value: datetime) -> str:
    """Format an aware datetime as ISO 8601 UTC with a ``Z`` suffix, to the millisecond."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class StoredOrder:
    """An order as the sandbox stores it.

    The recipient is not stored, only the failure reason a test hook derived from it.
    """

    id: str
    reference: str
    sku: str
    amount: Decimal
    currency: str
    kind: str
    sequence: int
    created_at: datetime
    failure_on_delivery: str | None
    cancelled_at: datetime | None = None

    def to_state(self) -> dict[str, Any]:
        state = asdict(self)
        state["amount"] = str(self.amount)
        state["created_at"] = self.created_at.isoformat()
        state["cancelled_at"] = self.cancelled_at.isoformat() if self.cancelled_at else None
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> StoredOrder:
        cancelled_at = state["cancelled_at"]
        return cls(
            **{
                **state,
                "amount": Decimal(state["amount"]),
                "created_at": datetime.fromisoformat(state["created_at"]),
                "cancelled_at": datetime.fromisoformat(cancelled_at) if cancelled_at else None,
            }
        )


class OrderBook:
    """Catalog, stock, balance, orders and idempotency keys, behind one lock.

    Methods raise ``ApiError`` for requests the vendor rejects, so the HTTP handler only
    translates and never decides. With a ``state_path``, every change is appended to that file
    as one JSON line and replayed on start, so orders and idempotency keys survive a sandbox
    restart, and writing stays constant-time per order however many orders exist.

    With ``honour_idempotency_keys`` false, every ``place`` creates a new order whatever its
    key, as a vendor that does not deduplicate would.
    """

    def __init__(
        self,
        catalog: list[dict[str, Any]],
        *,
        ship_after_s: float,
        deliver_after_s: float,
        balance: Decimal | None,
        state_path: Path | None = None,
        honour_idempotency_keys: bool = True,
    ) -> None:
        self.honour_idempotency_keys = honour_idempotency_keys
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
        self.state_path = state_path
        self.lock = threading.Lock()
        if state_path is not None and state_path.exists():
            self._load(state_path)

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
            if self.honour_idempotency_keys and idempotency_key in self.keys:
                stored_fingerprint, order_id = self.keys[idempotency_key]
                if stored_fingerprint != fingerprint:
                    raise validation_error(
                        f"Idempotency-Key {idempotency_key!r} was already used for order "
                        f"{order_id} with a different body. Use a new key for a different order.",
                        VendorErrorCode.IDEMPOTENCY_KEY_REUSED,
                    )
                return self._to_json(self.orders[order_id]), True
            order = self._validated_order(body)
            self._reserve(order)
            self.orders[order.id] = order
            change: dict[str, Any] = {
                "order": order.to_state(),
                "stock": [order.sku, self.stock.get(order.sku)],
            }
            if self.honour_idempotency_keys:
                self.keys[idempotency_key] = (fingerprint, order.id)
                change["key"] = [idempotency_key, fingerprint]
            self._append(change)
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
        """Cancel an accepted order and put back its stock and balance.

        Cancelling a cancelled order changes nothing.
        """
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
                self._append(
                    {"order": order.to_state(), "stock": [order.sku, self.stock.get(order.sku)]}
                )
            return self._to_json(order)

    def status_changes(self) -> list[dict[str, Any]]:
        """Return each status every order has reached so far, as the order's JSON at that change.

        The list is sorted by the time of the change. Webhook delivery reads it, because status
        is computed on read and no stored event marks a change.
        """
        with self.lock:
            changes = [
                {
                    **self._to_json(order),
                    "status": str(status),
                    "updated_at": format_time(changed_at),
                    "failure_reason": failure_reason,
                }
                for order in sorted(self.orders.values(), key=_creation_order)
                for status, changed_at, failure_reason in self._history(order)
            ]
        # A stable sort keeps an order's own changes in sequence when they share a millisecond.
        return sorted(changes, key=lambda change: str(change["updated_at"]))

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                self._to_json(order) for order in sorted(self.orders.values(), key=_creation_order)
            ]

    def set_stock(self, sku: str, quantity: int | None) -> None:
        """Set the units left of ``sku``. ``None`` makes its stock unlimited again."""
        with self.lock:
            if sku not in self.items:
                raise KeyError(f"sku {sku!r} is not in the sandbox catalog.")
            if quantity is None:
                self.stock.pop(sku, None)
            else:
                self.stock[sku] = quantity
            self._append({"stock": [sku, quantity]})

    def _append(self, change: dict[str, Any]) -> None:
        """Append one change, with the balance after it, to the journal. Call with the lock held."""
        if self.state_path is None:
            return
        change["balance"] = None if self.balance is None else str(self.balance)
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        with self.state_path.open("a", encoding="utf-8") as journal:
            journal.write(json.dumps(change, separators=(",", ":")) + "\n")

    def _load(self, path: Path) -> None:
        """Replay the journal: later lines replace earlier states of the same order."""
        with path.open(encoding="utf-8") as journal:
            for line in journal:
                if line.strip():
                    self._apply(json.loads(line))
        logger.info("Sandbox vendor loaded %d orders from %s", len(self.orders), path)

    def _apply(self, change: dict[str, Any]) -> None:
        if "order" in change:
            order = StoredOrder.from_state(change["order"])
            self.orders[order.id] = order
            if "key" in change:
                key, fingerprint = change["key"]
                self.keys[key] = (fingerprint, order.id)
        if "stock" in change:
            sku, quantity = change["stock"]
            if quantity is None:
                self.stock.pop(sku, None)
            else:
                self.stock[sku] = int(quantity)
        if change.get("balance") is not None:
            self.balance = Decimal(change["balance"])

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
        request = parse_order_body(body)

        item = self.items.get(request.sku)
        if item is None:
            raise validation_error(
                f"sku {request.sku!r} is not in the catalog. Pick one from GET /v1/catalog.",
                VendorErrorCode.SKU_UNKNOWN,
            )
        if request.currency != item["currency"]:
            raise validation_error(
                f"currency {request.currency!r} does not match the catalog currency "
                f"{item['currency']!r} of sku {request.sku!r}."
            )
        if request.kind == "physical":
            check_address(request.address)
        check_recipient_hooks(request.email)

        return StoredOrder(
            id=f"ord_{uuid.uuid4().hex[:16]}",
            reference=request.reference,
            sku=request.sku,
            amount=request.amount,
            currency=request.currency,
            kind=request.kind,
            sequence=len(self.orders) + 1,
            created_at=datetime.now(UTC),
            failure_on_delivery=delivery_failure_reason(
                request.kind, request.email, request.address
            ),
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
        elapsed = (datetime.now(UTC) - order.created_at).total_seconds()
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

    def _history(self, order: StoredOrder) -> list[tuple[VendorStatus, datetime, str | None]]:
        """Return every status change of ``order`` up to now, following ``_lifecycle``'s rules."""
        history = [(VendorStatus.ACCEPTED, order.created_at, None)]
        if order.cancelled_at is not None:
            return [*history, (VendorStatus.CANCELLED, order.cancelled_at, None)]
        now = datetime.now(UTC)
        ships_at = order.created_at + timedelta(seconds=self.ship_after_s)
        done_at = ships_at + timedelta(seconds=self.deliver_after_s)
        # With no delivery delay an order goes straight from accepted to its final status.
        if order.kind == "physical" and ships_at < done_at and now >= ships_at:
            history.append((VendorStatus.SHIPPED, ships_at, None))
        if now >= done_at:
            if order.failure_on_delivery is not None:
                history.append((VendorStatus.FAILED, done_at, order.failure_on_delivery))
            else:
                history.append((VendorStatus.DELIVERED, done_at, None))
        return history

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


def _creation_order(order: StoredOrder) -> int:
    return order.sequence
