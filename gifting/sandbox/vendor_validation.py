"""Checks on a ``POST /v1/orders`` body, and the test hooks the vendor sandbox recognises.

The hooks let tests provoke each vendor rejection and delivery failure with ordinary request
values. They are documented in ``docs/vendor-sandbox-api.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from http import HTTPStatus
from typing import Any

from gifting.vendors.base import VendorErrorCode

ADDRESS_FIELDS = ("street", "city", "state", "postal_code", "country")
# Countries whose postal addresses require a state or province; elsewhere ``state`` may be empty.
STATE_REQUIRED = frozenset({"US", "CA", "AU", "BR", "MX", "IN"})
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


def validation_error(message: str, code: str = VendorErrorCode.INVALID_REQUEST) -> ApiError:
    """Return a 422 ``ApiError``, the status for a body that breaks a validation rule."""
    return ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, code, message)


@dataclass(frozen=True)
class OrderBody:
    """The fields of a ``POST /v1/orders`` body that passed the shape checks."""

    reference: str
    sku: str
    currency: str
    kind: str
    email: str
    address: Any
    amount: Decimal


def parse_order_body(body: Any) -> OrderBody:
    """Check the fields every order needs and return them. Catalog rules are checked later."""
    if not isinstance(body, dict):
        raise validation_error("The request body must be a JSON object.")
    fields = {name: _required_text(body, name) for name in ("reference", "sku", "currency")}
    kind = body.get("kind", "physical")
    if kind not in ("physical", "egift"):
        raise validation_error(f"kind {kind!r} is invalid. Use 'physical' or 'egift'.")
    note = body.get("note")
    if not isinstance(note, str) or not note.strip():
        raise validation_error("note is missing or empty. Write the card text into note.")

    recipient = body.get("recipient")
    if not isinstance(recipient, dict):
        raise validation_error("recipient is missing. Send an object with name, email and address.")
    _required_text(recipient, "name", prefix="recipient.")
    # A parcel needs only a name and an address, but an e-gift is delivered by e-mail.
    email = recipient.get("email") or ""
    if kind == "egift" or email:
        email = _required_text(recipient, "email", prefix="recipient.")

    return OrderBody(
        reference=fields["reference"],
        sku=fields["sku"],
        currency=fields["currency"],
        kind=kind,
        email=email,
        address=recipient.get("address"),
        amount=_parse_amount(body.get("amount")),
    )


def _required_text(body: dict[str, Any], name: str, *, prefix: str = "") -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise validation_error(f"{prefix}{name} is missing or empty. Send a non-empty string.")
    return value


def _parse_amount(value: Any) -> Decimal:
    """Parse a positive amount with at most two decimals, sent as a string or a JSON number."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT):
        raise validation_error(
            f"amount {value!r} is invalid. Send a positive amount with at most two decimals, "
            'such as "25.00".'
        )
    return amount.quantize(CENT)


def check_address(address: Any) -> None:
    """Reject a physical order whose address is incomplete or carries the INVALID test hook."""
    if not isinstance(address, dict):
        raise validation_error(
            "A physical gift needs recipient.address. Send the address or order an e-gift.",
            VendorErrorCode.ADDRESS_INVALID,
        )
    country = str(address.get("country") or "").upper()
    required = [name for name in ADDRESS_FIELDS if name != "state" or country in STATE_REQUIRED]
    missing = [
        name
        for name in required
        if not isinstance(address.get(name), str) or not address[name].strip()
    ]
    if missing:
        raise validation_error(
            f"recipient.address is missing {', '.join(missing)}. Send all of "
            f"{', '.join(required)}.",
            VendorErrorCode.ADDRESS_INVALID,
        )
    if any(INVALID_ADDRESS_MARKER in str(address.get(name) or "") for name in ADDRESS_FIELDS):
        raise validation_error(
            "recipient.address failed address verification. Correct the address.",
            VendorErrorCode.ADDRESS_INVALID,
        )


def check_recipient_hooks(email: str) -> None:
    domain = email.rpartition("@")[2].lower()
    if domain == DECLINING_EMAIL_DOMAIN:
        raise validation_error(
            "The recipient has opted out of gifts from this sender. Do not send them gifts.",
            VendorErrorCode.RECIPIENT_DECLINED,
        )
    if domain == BLOCKED_EMAIL_DOMAIN:
        raise validation_error(
            "The vendor's gifting policy blocks this recipient. Review the gift with the vendor.",
            VendorErrorCode.POLICY_BLOCKED,
        )


def delivery_failure_reason(kind: str, email: str, address: Any) -> str | None:
    """Return the failure reason an order will read as at delivery time, if a hook applies."""
    if kind == "egift" and email.rpartition("@")[2].lower() == BOUNCING_EMAIL_DOMAIN:
        return "email_bounced"
    if kind == "physical" and UNDELIVERABLE_ADDRESS_MARKER in str(address["street"]):
        return "address_undeliverable"
    return None
