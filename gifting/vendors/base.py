"""The gift vendor protocol: the models and calls every vendor implementation provides.

The pipeline talks to vendors only through ``GiftVendor``, so the sandbox client and a real
vendor's client are interchangeable. Implementations translate transport and HTTP failures into
``gifting.errors``: ``RetriableError`` when the same call may succeed later, ``PermanentError``
with a ``VendorErrorCode`` as its ``reason`` when it cannot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

GiftKind = Literal["physical", "egift"]


class VendorStatus(StrEnum):
    """Lifecycle state of a vendor order."""

    ACCEPTED = "accepted"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


class VendorErrorCode(StrEnum):
    """Error codes a vendor returns, used as ``PermanentError.reason``.

    The first eight come from order validation. The rest come from the HTTP layer, from state
    changes such as cancelling an order that has already shipped, and from the client itself
    (``invalid_response`` when a success response cannot be parsed).
    """

    ADDRESS_INVALID = "address_invalid"
    OUT_OF_STOCK = "out_of_stock"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    POLICY_BLOCKED = "policy_blocked"
    RECIPIENT_DECLINED = "recipient_declined"
    SKU_UNKNOWN = "sku_unknown"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    INVALID_REQUEST = "invalid_request"
    ALREADY_SHIPPED = "already_shipped"
    NOT_FOUND = "not_found"
    UNAUTHORIZED = "unauthorized"
    INVALID_RESPONSE = "invalid_response"


@dataclass(frozen=True)
class Address:
    """Postal address of a physical gift's recipient."""

    street: str
    city: str
    state: str
    postal_code: str
    country: str

    def to_dict(self) -> dict[str, str]:
        """Return the address as the JSON object vendors expect."""
        return {
            "street": self.street,
            "city": self.city,
            "state": self.state,
            "postal_code": self.postal_code,
            "country": self.country,
        }


@dataclass(frozen=True)
class OrderRequest:
    """One gift to order.

    Attributes:
        reference: Our gift id. The vendor stores it so ``find_by_reference`` can recover an
            order whose creation response was lost.
        amount: Price we expect to pay, in ``currency``, with at most two decimals.
        address: Required for physical gifts, ``None`` for e-gifts.
        note: The card text printed on or sent with the gift.
    """

    reference: str
    sku: str
    amount: Decimal
    currency: str
    recipient_name: str
    recipient_email: str
    note: str
    kind: GiftKind = "physical"
    address: Address | None = None


@dataclass(frozen=True)
class VendorOrder:
    """The vendor's view of an order.

    Attributes:
        created_at: Aware UTC time the vendor created the order.
        updated_at: Aware UTC time of the last status change.
        failure_reason: Vendor's reason when ``status`` is ``failed``, else ``None``.
        replayed: True when the vendor returned an order it had already created for the same
            idempotency key, so the caller knows this call placed nothing new.
    """

    id: str
    reference: str
    sku: str
    status: VendorStatus
    created_at: datetime
    updated_at: datetime
    failure_reason: str | None = None
    replayed: bool = False


@dataclass(frozen=True)
class CatalogEntry:
    """One item the vendor sells."""

    sku: str
    name: str
    price: Decimal
    currency: str
    in_stock: bool


@runtime_checkable
class GiftVendor(Protocol):
    """Calls the pipeline makes on a gift vendor.

    Every call raises ``RetriableError`` for transient failures that survived the
    implementation's own retries, and ``PermanentError`` for requests the vendor rejected.
    """

    def catalog(self) -> list[CatalogEntry]:
        """Return every item the vendor sells."""
        ...

    def place_order(self, request: OrderRequest, idempotency_key: str) -> VendorOrder:
        """Create an order, or return the existing one if this key has been used for it.

        The caller must derive ``idempotency_key`` from the gift, not from the attempt, so a
        retry after a lost response cannot order the gift twice.
        """
        ...

    def get_order(self, order_id: str) -> VendorOrder:
        """Return the current state of one order."""
        ...

    def find_by_reference(self, reference: str) -> VendorOrder | None:
        """Return the newest order placed with this reference, or ``None`` if there is none."""
        ...

    def cancel(self, order_id: str) -> VendorOrder:
        """Cancel an order that has not shipped yet and return it."""
        ...

    def close(self) -> None:
        """Release connections. The vendor object is unusable afterwards."""
        ...
