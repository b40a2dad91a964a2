"""``GiftVendor`` over the Goody API (https://developer.ongoody.com, API v1).

Goody has no single-order create call. Every gift is an order batch (``POST /v1/order_batches``)
with one recipient, and the batch contains one order, which is what ``VendorOrder.id`` names.
Facts from Goody's API reference that shape this adapter:

- Authentication is a bearer API key.
- ``customer_reference_id`` on a batch is unique per account, and Goody rejects a second batch
  with the same value instead of creating a duplicate. This adapter sends
  ``<reference>/<idempotency key>`` there, so a retry cannot order twice and
  ``find_by_reference`` can still match on our reference.
- A batch with 10 or fewer recipients is created synchronously, and its order is in
  ``orders_preview``.
- ``direct_send`` ships to a ``mailing_address``, and Goody ships to US addresses only.
  ``email_and_link`` e-mails the recipient a gift link. A message needs a ``card_id``.
- An order can be cancelled only while ``created``, ``notified`` or ``opened``. The documented
  cancel response shows the order as ``failed``.
- Money is in USD cents. Errors have the body ``{"error": "<message>"}``.
- ``GET /v1/order_batches`` pages with ``page`` and ``per_page`` (at most 100) and has no
  filter on ``customer_reference_id``, so ``find_by_reference`` reads pages until it finds it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any

import httpx

from gifting.errors import PermanentError, RetriableError
from gifting.vendors.base import (
    CatalogEntry,
    OrderRequest,
    VendorErrorCode,
    VendorOrder,
    VendorStatus,
)
from gifting.vendors.http import VendorHttp

logger = logging.getLogger(__name__)

PRODUCTION_URL = "https://api.ongoody.com"
KEY_SETTING = "GIFTING_GOODY_API_KEY"
PAGE_SIZE = 100  # the maximum per_page Goody accepts

# Goody's order statuses, from its Order schema, on our status model. Every state before
# shipping means the order exists and is on its way to the recipient.
STATUS_MAP: dict[str, VendorStatus] = {
    "created": VendorStatus.ACCEPTED,
    "notified": VendorStatus.ACCEPTED,
    "opened": VendorStatus.ACCEPTED,
    "accepted": VendorStatus.ACCEPTED,
    "pending_payment": VendorStatus.ACCEPTED,
    "paid": VendorStatus.ACCEPTED,
    "ordered": VendorStatus.ACCEPTED,
    "shipped": VendorStatus.SHIPPED,
    "delivered": VendorStatus.DELIVERED,
    "failed": VendorStatus.FAILED,
    "canceled": VendorStatus.CANCELLED,
}
CANCELLABLE = frozenset({"created", "notified", "opened"})

_FIXES: dict[str, str] = {
    VendorErrorCode.UNAUTHORIZED: f"Set {KEY_SETTING} to an API key issued by Goody.",
    VendorErrorCode.NOT_FOUND: "Check the order id.",
    VendorErrorCode.INSUFFICIENT_FUNDS: "Check the Goody payment method or top up its balance.",
    VendorErrorCode.INVALID_REQUEST: "Fix the request field that Goody's message names.",
}


class GoodyVendorClient:
    """Goody's order batches, orders and products behind the ``GiftVendor`` protocol.

    Args:
        api_key: Goody API key, sent as a bearer token and never logged.
        from_name: Sender name Goody shows on the gift and its notifications.
        card_id: Digital greeting card that carries the note. Goody requires one with a message.
        base_url: API root; Goody's sandbox is ``https://api.sandbox.ongoody.com``.
        payment_method_id: Payment method to charge; ``None`` lets Goody use the account's first.
        workspace_id: Workspace to create batches in; ``None`` lets Goody use the oldest.
        product_ids: Goody product id per catalog SKU. A SKU without an entry is sent as the
            product id itself.
        lookup_pages: Maximum pages of 100 batches ``find_by_reference`` reads.
        http_options: Passed to ``VendorHttp`` (timeout, max_attempts, backoff_base,
            rate_limit_per_second, retry_budget_s, sleep).
    """

    def __init__(
        self,
        api_key: str,
        *,
        from_name: str,
        card_id: str,
        base_url: str = PRODUCTION_URL,
        payment_method_id: str | None = None,
        workspace_id: str | None = None,
        product_ids: Mapping[str, str] | None = None,
        lookup_pages: int = 20,
        **http_options: Any,
    ) -> None:
        self.from_name = from_name
        self.card_id = card_id
        self.payment_method_id = payment_method_id
        self.workspace_id = workspace_id
        self.product_ids = dict(product_ids or {})
        self._skus = {product: sku for sku, product in self.product_ids.items()}
        self.lookup_pages = lookup_pages
        # Order id to our reference, because Goody's order carries only its batch id.
        self._references: dict[str, str] = {}
        self._http = VendorHttp(
            base_url, api_key, error_for=_goody_error, key_setting=KEY_SETTING, **http_options
        )

    def __enter__(self) -> GoodyVendorClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def catalog(self) -> list[CatalogEntry]:
        """Return every active Goody product, keyed by our SKU where one is mapped."""
        entries = []
        for product in self._pages("/v1/products", "products"):
            try:
                entries.append(_catalog_entry(product, self._skus))
            except (KeyError, TypeError, ValueError) as error:
                raise _invalid_response("/v1/products", error) from error
        return entries

    def place_order(self, request: OrderRequest, idempotency_key: str) -> VendorOrder:
        """Create a one-recipient order batch, or return the batch this key already created."""
        if not idempotency_key:
            raise PermanentError(
                f"Gift {request.reference!r} has an empty idempotency key. Derive the key from "
                "the gift id so a retry cannot order the gift twice.",
                reason=VendorErrorCode.INVALID_REQUEST,
            )
        customer_reference = f"{request.reference}/{idempotency_key}"
        body = self._batch_body(request, customer_reference)
        context = f"reference {request.reference!r}"
        try:
            response = self._http.request("POST", "/v1/order_batches", json=body, context=context)
        except PermanentError as error:
            # Goody rejects a reused customer_reference_id, and its message is not documented,
            # so any rejection is checked against the batches that exist before it is raised.
            if error.reason == VendorErrorCode.UNAUTHORIZED:
                raise
            existing = self._find_batch(lambda value: value == customer_reference)
            if existing is None:
                raise
            logger.info("Goody already has batch %s for %s", existing["id"], customer_reference)
            return dataclasses.replace(self._batch_order(existing), replayed=True)
        order = self._batch_order(_json(response, "/v1/order_batches"))
        logger.info(
            "Goody order %s for reference %s is %s", order.id, order.reference, order.status
        )
        return order

    def get_order(self, order_id: str) -> VendorOrder:
        """Return the current state of one order."""
        path = f"/v1/orders/{order_id}"
        item = _json(self._http.request("GET", path, context=f"order {order_id!r}"), path)
        return self._order(item, reference=self._reference_of(item))

    def find_by_reference(self, reference: str) -> VendorOrder | None:
        """Return the order of the batch placed for ``reference``, or ``None``.

        When several batches match (a gift reordered under a new key), a live order is
        preferred over a failed or cancelled one.
        """
        prefix = f"{reference}/"
        matches: list[VendorOrder] = []
        for batch in self._batches(lambda value: value.startswith(prefix)):
            try:
                matches.append(self._batch_order(batch))
            except RetriableError:
                logger.warning("Goody batch %s for %s has no order yet", batch["id"], reference)
        if not matches:
            return None
        live = [order for order in matches if order.status not in _DEAD]
        if len(live) > 1:
            # NOTE: Goody's batch list states no sort order and batches carry no creation time,
            # so among several live orders the first listed is returned.
            logger.warning("Goody has %d live orders for reference %s", len(live), reference)
        return (live or matches)[0]

    def cancel(self, order_id: str) -> VendorOrder:
        """Cancel an order Goody still allows cancelling, and return it as ``cancelled``."""
        current = self._raw_order(order_id)
        status = str(current.get("status"))
        reference = self._reference_of(current)
        if status == "canceled":
            return self._order(current, reference=reference)
        if status not in CANCELLABLE:
            raise PermanentError(
                f"Goody order {order_id} is {status!r} and can no longer be cancelled through "
                f"the API, which allows it only in {sorted(CANCELLABLE)}. "
                "Ask Goody support to stop it.",
                reason=VendorErrorCode.ALREADY_SHIPPED,
            )
        path = f"/v1/orders/{order_id}/cancel"
        item = _json(self._http.request("POST", path, context=f"order {order_id!r}"), path)
        order = self._order(item, reference=reference)
        # Goody's documented cancel response shows the order as failed, but it was cancelled.
        order = dataclasses.replace(order, status=VendorStatus.CANCELLED, failure_reason=None)
        logger.info("Goody order %s is cancelled", order_id)
        return order

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _batch_body(self, request: OrderRequest, customer_reference: str) -> dict[str, Any]:
        first_name, _, last_name = request.recipient_name.strip().partition(" ")
        recipient: dict[str, Any] = {
            "first_name": first_name or request.recipient_name,
            "last_name": last_name,
        }
        # Direct send needs no e-mail, and Goody's recipient schema marks it optional.
        if request.recipient_email:
            recipient["email"] = request.recipient_email
        if request.kind == "physical":
            recipient["mailing_address"] = _mailing_address(request, first_name, last_name)
        body: dict[str, Any] = {
            "from_name": self.from_name,
            "message": request.note,
            "card_id": self.card_id,
            "send_method": "direct_send" if request.kind == "physical" else "email_and_link",
            "recipients": [recipient],
            "cart": {
                "items": [
                    {"product_id": self.product_ids.get(request.sku, request.sku), "quantity": 1}
                ]
            },
            "customer_reference_id": customer_reference,
        }
        if self.payment_method_id:
            body["payment_method_id"] = self.payment_method_id
        if self.workspace_id:
            body["workspace_id"] = self.workspace_id
        return body

    def _batch_order(self, batch: Mapping[str, Any]) -> VendorOrder:
        """Return the single order of a one-recipient batch.

        Raises:
            RetriableError: The batch exists but Goody has not created its order yet.
        """
        if not isinstance(batch, Mapping) or "id" not in batch:
            raise _invalid_response("order batch", ValueError("no batch id"))
        reference = str(batch.get("customer_reference_id") or "").partition("/")[0]
        orders = batch.get("orders_preview") or []
        if not orders:
            path = f"/v1/order_batches/{batch['id']}/orders"
            orders = _json(self._http.request("GET", path, context=path), path).get("data") or []
        if not orders:
            raise RetriableError(
                f"Goody batch {batch['id']} is {batch.get('send_status')!r} and has no order "
                "yet. The next dispatch run finds it by reference."
            )
        return self._order(orders[0], reference=reference)

    def _raw_order(self, order_id: str) -> dict[str, Any]:
        path = f"/v1/orders/{order_id}"
        return dict(_json(self._http.request("GET", path, context=f"order {order_id!r}"), path))

    def _reference_of(self, item: Mapping[str, Any]) -> str:
        """Return our reference for an order, reading its batch once when it is not cached."""
        order_id = str(item.get("id"))
        if order_id not in self._references:
            batch_id = item.get("order_batch_id")
            path = f"/v1/order_batches/{batch_id}"
            batch = _json(self._http.request("GET", path, context=path), path)
            reference = str(batch.get("customer_reference_id") or "").partition("/")[0]
            self._references[order_id] = reference
        return self._references[order_id]

    def _order(self, item: Mapping[str, Any], *, reference: str) -> VendorOrder:
        try:
            order = _vendor_order(item, reference=reference, skus=self._skus)
        except (KeyError, TypeError, ValueError) as error:
            raise _invalid_response(f"order {item.get('id')!r}", error) from error
        self._references[order.id] = reference
        return order

    def _find_batch(self, matches: Callable[[str], bool]) -> dict[str, Any] | None:
        return next(iter(self._batches(matches)), None)

    def _batches(self, matches: Callable[[str], bool]) -> Iterator[dict[str, Any]]:
        for batch in self._pages("/v1/order_batches", "order batches"):
            if matches(str(batch.get("customer_reference_id") or "")):
                yield batch

    def _pages(self, path: str, resource: str) -> Iterator[dict[str, Any]]:
        """Yield the items of a paged list, stopping after ``lookup_pages`` pages."""
        for page in range(1, self.lookup_pages + 1):
            params = {"page": page, "per_page": PAGE_SIZE}
            body = _json(self._http.request("GET", path, params=params, context=path), path)
            items = body.get("data") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise _invalid_response(path, ValueError("no data list"))
            yield from items
            total = (body.get("list_meta") or {}).get("total_count")
            if len(items) < PAGE_SIZE or (total is not None and page * PAGE_SIZE >= total):
                return
        logger.warning("Read %d pages of Goody %s and stopped", self.lookup_pages, resource)


_DEAD = frozenset({VendorStatus.FAILED, VendorStatus.CANCELLED})


def _mailing_address(request: OrderRequest, first_name: str, last_name: str) -> dict[str, Any]:
    address = request.address
    if address is None or not address.street:
        raise PermanentError(
            f"Gift {request.reference!r} is a physical gift without an address. Add the "
            "contact's mailing address or send an e-gift.",
            reason=VendorErrorCode.ADDRESS_INVALID,
        )
    if address.country.upper() not in ("US", "USA"):
        raise PermanentError(
            f"Gift {request.reference!r} ships to {address.country!r}, but Goody's direct send "
            "ships to US addresses only. Send an e-gift to this recipient instead.",
            reason=VendorErrorCode.ADDRESS_INVALID,
        )
    return {
        "first_name": first_name,
        "last_name": last_name,
        "address_1": address.street,
        "city": address.city,
        "state": address.state,
        "postal_code": address.postal_code,
        "country": "US",
    }


def _vendor_order(
    item: Mapping[str, Any], *, reference: str, skus: Mapping[str, str]
) -> VendorOrder:
    raw_status = str(item["status"])
    if raw_status not in STATUS_MAP:
        raise ValueError(f"undocumented order status {raw_status!r}")
    status = STATUS_MAP[raw_status]
    product_id = str(item["cart"]["items"][0]["product"]["id"])
    times = _event_times(item.get("event_times"))
    # NOTE: only GET /v1/orders/{id} returns event_times; orders inside a batch carry no
    # times, so their created_at and updated_at are the time this client read them.
    created = times.get("created_at") or datetime.now(UTC)
    updated = max(times.values(), default=created)
    failure = None
    if status is VendorStatus.FAILED:
        shipments = [str(s.get("status")) for s in item.get("shipments") or []]
        failure = next((s for s in shipments if s.startswith("failed")), "goody_failed")
    return VendorOrder(
        id=str(item["id"]),
        reference=reference,
        sku=skus.get(product_id, product_id),
        status=status,
        created_at=created,
        updated_at=updated,
        failure_reason=failure,
    )


def _event_times(value: Any) -> dict[str, datetime]:
    if not isinstance(value, dict):
        return {}
    times = {}
    for name, text in value.items():
        if isinstance(text, str) and text:
            parsed = datetime.fromisoformat(text)
            if parsed.tzinfo is None:
                raise ValueError(f"{name} {text!r} has no UTC offset")
            times[name] = parsed.astimezone(UTC)
    return times


def _catalog_entry(product: Mapping[str, Any], skus: Mapping[str, str]) -> CatalogEntry:
    product_id = str(product["id"])
    return CatalogEntry(
        sku=skus.get(product_id, product_id),
        name=str(product["name"]),
        price=Decimal(int(product["price"])) / 100,
        currency="USD",
        in_stock=product.get("status", "active") != "inactive",
    )


def _goody_error(response: httpx.Response, context: str) -> PermanentError:
    """Return the ``PermanentError`` for a Goody 4xx, whose body is ``{"error": "<message>"}``."""
    try:
        message = str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        message = response.text[:200] or response.reason_phrase
    status = response.status_code
    reason = {
        401: VendorErrorCode.UNAUTHORIZED,
        402: VendorErrorCode.INSUFFICIENT_FUNDS,
        404: VendorErrorCode.NOT_FOUND,
    }.get(status, VendorErrorCode.INVALID_REQUEST)
    return PermanentError(
        f"Goody rejected {context} with HTTP {status}: {message}. {_FIXES[reason]}",
        reason=reason,
    )


def _json(response: httpx.Response, path: str) -> Any:
    try:
        return response.json()
    except ValueError as error:
        raise _invalid_response(path, error) from error


def _invalid_response(subject: str, error: Exception) -> PermanentError:
    return PermanentError(
        f"Goody's response for {subject} is not in the documented shape ({error!r}). Check that "
        "GIFTING_GOODY_BASE_URL points at the Goody API.",
        reason=VendorErrorCode.INVALID_RESPONSE,
    )
