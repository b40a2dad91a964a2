"""HTTP client for the vendor sandbox's JSON API (``docs/vendor-sandbox-api.md``).

The client retries transient failures itself, so a caller sees a ``RetriableError`` only after
``max_attempts`` tries. ``place_order`` sends the same ``Idempotency-Key`` on every try, and the
vendor returns the order it already created instead of creating another. That makes a retry
safe even when the first response was lost after the vendor had stored the order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any

import httpx

from gifting.errors import ConfigurationError, PermanentError, RetriableError
from gifting.vendors.base import (
    CatalogEntry,
    OrderRequest,
    VendorErrorCode,
    VendorOrder,
    VendorStatus,
)
from gifting.vendors.retry import RetryingCaller, parse_retry_after

logger = logging.getLogger(__name__)

_FIXES: dict[str, str] = {
    VendorErrorCode.ADDRESS_INVALID: "Correct the recipient's address, or send an e-gift.",
    VendorErrorCode.OUT_OF_STOCK: "Choose another SKU or wait for the vendor to restock.",
    VendorErrorCode.INSUFFICIENT_FUNDS: "Top up the vendor account balance.",
    VendorErrorCode.POLICY_BLOCKED: "Review the gift against the vendor's policy.",
    VendorErrorCode.RECIPIENT_DECLINED: "Do not send this recipient gifts.",
    VendorErrorCode.SKU_UNKNOWN: "Pick a SKU from the vendor catalog.",
    VendorErrorCode.IDEMPOTENCY_KEY_REUSED: (
        "Derive the idempotency key from the gift so one key always carries the same order."
    ),
    VendorErrorCode.INVALID_REQUEST: "Fix the request fields named in the vendor's message.",
    VendorErrorCode.ALREADY_SHIPPED: "Ask the vendor about a return instead.",
    VendorErrorCode.NOT_FOUND: "Check the order id.",
    VendorErrorCode.UNAUTHORIZED: (
        "Set GIFTING_VENDOR_API_KEY to the key the vendor issued. The local sandbox uses "
        "the api_key passed to VendorSandbox (default 'sandbox-vendor-key')."
    ),
}


class SandboxVendorClient:
    """``GiftVendor`` over the vendor sandbox's HTTP API.

    Args:
        base_url: Root URL of the API, such as ``VendorSandbox.base_url``.
        api_key: Bearer token. It is never logged.
        timeout: Seconds to wait for connect, each read and each write.
        max_attempts: Tries per call, counting the first, before a ``RetriableError`` escapes.
        backoff_base: Upper bound in seconds of the first retry's jittered wait; it doubles per
            retry up to ``MAX_BACKOFF_S``.
        rate_limit_per_second: Maximum request rate this client sends, retries included.
        retry_place_order: With ``False``, ``place_order`` sends its request once and leaves
            retrying to the caller. ``FindBeforeCreate`` needs that for a vendor that ignores
            idempotency keys, because a blind retry there can create a second order.
        retry_budget_s: Seconds this client may spend on failed tries and retry waits over its
            whole life, ``None`` for no bound. Once spent, failing calls are not retried.
        sleep: Called for every wait, so tests can record waits instead of sleeping.
        transport: httpx transport to send through instead of the network, for unit tests.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        max_attempts: int = 4,
        backoff_base: float = 0.2,
        rate_limit_per_second: float = 10.0,
        retry_place_order: bool = True,
        retry_budget_s: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ConfigurationError(f"max_attempts must be at least 1, got {max_attempts!r}.")
        if not api_key:
            raise ConfigurationError(
                "The vendor API key is empty. Set GIFTING_VENDOR_API_KEY to the key the vendor "
                "issued."
            )
        self.base_url = base_url.rstrip("/")
        self.retry_place_order = retry_place_order
        self._retrying = RetryingCaller(
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            rate_limit_per_second=rate_limit_per_second,
            retry_budget_s=retry_budget_s,
            sleep=sleep,
        )
        # One client per instance keeps TCP connections alive between calls.
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> SandboxVendorClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def catalog(self) -> list[CatalogEntry]:
        """Return every item the vendor sells."""
        body = self._get_json("/v1/catalog")
        try:
            return [_catalog_entry(item) for item in body["items"]]
        except (KeyError, TypeError, ValueError, InvalidOperation) as error:
            raise _invalid_response("/v1/catalog", error) from error

    def place_order(self, request: OrderRequest, idempotency_key: str) -> VendorOrder:
        """Create an order, or return the one already created for ``idempotency_key``."""
        if not idempotency_key:
            raise PermanentError(
                f"Gift {request.reference!r} has an empty idempotency key. Derive the key from "
                "the gift id so a retry cannot order the gift twice.",
                reason=VendorErrorCode.INVALID_REQUEST,
            )
        order = self._order_call(
            "POST",
            "/v1/orders",
            json=_order_body(request),
            headers={"Idempotency-Key": idempotency_key},
            context=f"reference {request.reference!r}",
            max_attempts=None if self.retry_place_order else 1,
        )
        logger.info(
            "Vendor order %s for reference %s is %s (replayed=%s)",
            order.id,
            order.reference,
            order.status,
            order.replayed,
        )
        return order

    def get_order(self, order_id: str) -> VendorOrder:
        """Return the current state of one order."""
        return self._order_call("GET", f"/v1/orders/{order_id}", context=f"order {order_id!r}")

    def find_by_reference(self, reference: str) -> VendorOrder | None:
        """Return the newest order with this reference, or ``None`` if the vendor has none."""
        body = self._get_json("/v1/orders", params={"reference": reference})
        try:
            orders = [_vendor_order(item, replayed=False) for item in body["orders"]]
        except (KeyError, TypeError, ValueError) as error:
            raise _invalid_response("/v1/orders", error) from error
        if not orders:
            return None
        # The API lists orders oldest first. created_at has only millisecond precision, so two
        # orders placed in the same millisecond cannot be ordered by time.
        return orders[-1]

    def cancel(self, order_id: str) -> VendorOrder:
        """Cancel an order that has not shipped yet and return it."""
        order = self._order_call(
            "POST", f"/v1/orders/{order_id}/cancel", context=f"order {order_id!r}"
        )
        logger.info("Vendor order %s is %s after cancel", order.id, order.status)
        return order

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _order_call(
        self,
        method: str,
        path: str,
        *,
        context: str,
        json: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        max_attempts: int | None = None,
    ) -> VendorOrder:
        response = self._request(
            method, path, json=json, headers=headers, context=context, max_attempts=max_attempts
        )
        replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
        try:
            return _vendor_order(_json_body(response, path), replayed=replayed)
        except (KeyError, TypeError, ValueError) as error:
            raise _invalid_response(path, error) from error

    def _get_json(self, path: str, *, params: Mapping[str, str] | None = None) -> Any:
        return _json_body(self._request("GET", path, params=params, context=path), path)

    def _request(
        self,
        method: str,
        path: str,
        *,
        context: str,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        max_attempts: int | None = None,
    ) -> httpx.Response:
        """Send one call, retrying transient failures, and return its 2xx response.

        Args:
            context: What the call is about, such as ``order 'ord_1'``, for error messages.
            max_attempts: Tries for this call; ``None`` uses the client's ``max_attempts``.
        """

        def send() -> httpx.Response:
            response = self._send(method, path, json=json, params=params, headers=headers)
            _raise_for_status(response, context)
            return response

        return self._retrying.call(method, path, send, max_attempts=max_attempts)

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        """Send one HTTP request, turning transport failures into ``RetriableError``."""
        try:
            return self._http.request(method, path, json=json, params=params, headers=headers)
        except httpx.TimeoutException as error:
            raise RetriableError(
                f"{method} {self.base_url}{path} timed out after {self._http.timeout.read} s. "
                "The vendor may still have processed it."
            ) from error
        except httpx.TransportError as error:
            raise RetriableError(
                f"{method} {self.base_url}{path} failed: {type(error).__name__}: "
                f"{str(error).rstrip('.')}. "
                "Check that the vendor is reachable at this URL."
            ) from error


def _order_body(request: OrderRequest) -> dict[str, Any]:
    """Return the JSON body of ``POST /v1/orders`` for one request."""
    return {
        "reference": request.reference,
        "sku": request.sku,
        "amount": str(request.amount),
        "currency": request.currency,
        "recipient": {
            "name": request.recipient_name,
            "email": request.recipient_email,
            "address": request.address.to_dict() if request.address else None,
        },
        "note": request.note,
        "kind": request.kind,
    }


def _raise_for_status(response: httpx.Response, context: str) -> None:
    """Raise the ``gifting.errors`` exception for a non-2xx response."""
    status = response.status_code
    if status < 400:
        return
    code, message = _error_fields(response)
    if status == 429 or status >= 500:
        raise RetriableError(
            f"Vendor returned HTTP {status} ({code}) for {context}: {message}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if status == 401:
        code = VendorErrorCode.UNAUTHORIZED
    reason = _known_code(code)
    fix = _FIXES.get(reason, "Check the request against the vendor's API documentation.")
    logger.error("Vendor rejected %s with HTTP %d (%s)", context, status, code)
    raise PermanentError(
        f"Vendor rejected {context} with HTTP {status} ({code}): {message}. {fix}", reason=reason
    )


def _error_fields(response: httpx.Response) -> tuple[str, str]:
    """Return the error code and message of an error response, tolerating non-JSON bodies."""
    try:
        error = response.json()["error"]
        return str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return f"http_{response.status_code}", response.text[:200] or response.reason_phrase


def _known_code(code: str) -> str:
    try:
        return VendorErrorCode(code)
    except ValueError:
        logger.warning("Vendor returned an undocumented error code %s", code)
        return VendorErrorCode.INVALID_REQUEST


def _json_body(response: httpx.Response, path: str) -> Any:
    try:
        return response.json()
    except ValueError as error:
        raise _invalid_response(path, error) from error


def _invalid_response(path: str, error: Exception) -> PermanentError:
    return PermanentError(
        f"Vendor response to {path} is not the documented JSON ({error!r}). Check that the "
        "base URL points at the vendor API.",
        reason=VendorErrorCode.INVALID_RESPONSE,
    )


def _catalog_entry(item: Mapping[str, Any]) -> CatalogEntry:
    return CatalogEntry(
        sku=str(item["sku"]),
        name=str(item["name"]),
        price=Decimal(str(item["price"])),
        currency=str(item["currency"]),
        in_stock=bool(item["in_stock"]),
    )


def _vendor_order(item: Mapping[str, Any], *, replayed: bool) -> VendorOrder:
    return VendorOrder(
        id=str(item["id"]),
        reference=str(item["reference"]),
        sku=str(item["sku"]),
        status=VendorStatus(item["status"]),
        created_at=_parse_utc(item["created_at"]),
        updated_at=_parse_utc(item["updated_at"]),
        failure_reason=item.get("failure_reason"),
        replayed=replayed,
    )


def _parse_utc(text: str) -> datetime:
    """Parse an ISO 8601 time and return it as an aware UTC datetime."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return value.astimezone(UTC)
