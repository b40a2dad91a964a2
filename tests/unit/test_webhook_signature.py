"""Webhook signature checks: the receiver accepts exactly what the vendor signed, and only fresh."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from gifting.sandbox.vendor_webhooks import sign
from gifting.webhooks import (
    InvalidSignature,
    WebhookRejected,
    compute_signature,
    verify_request,
)

SECRET = "test-secret"
NOW = 1_760_000_000
EVENT_ID = "evt_abc_delivered"
BODY = json.dumps(
    {
        "id": EVENT_ID,
        "type": "order.status_changed",
        "order": {"id": "ord_abc", "reference": "g1", "sku": "S", "status": "delivered"},
    }
).encode()


def _headers(
    *, timestamp: int = NOW, body: bytes = BODY, secret: str = SECRET, event_id: str = EVENT_ID
) -> dict[str, str]:
    return {
        "Webhook-Id": event_id,
        "Webhook-Timestamp": str(timestamp),
        "Webhook-Signature": sign(secret, event_id, timestamp, body),
    }


def test_signature_matches_hmac_of_id_timestamp_body() -> None:
    expected = hmac.new(
        SECRET.encode(), f"{EVENT_ID}.{NOW}.".encode() + BODY, hashlib.sha256
    ).hexdigest()
    assert compute_signature(SECRET, EVENT_ID, str(NOW), BODY) == expected
    assert sign(SECRET, EVENT_ID, NOW, BODY) == f"v1={expected}"


def test_valid_request_returns_event() -> None:
    event = verify_request(_headers(), BODY, secret=SECRET, now=NOW)
    assert event["id"] == EVENT_ID
    assert event["order"]["status"] == "delivered"


def test_header_names_are_case_insensitive() -> None:
    headers = {name.lower(): value for name, value in _headers().items()}
    assert verify_request(headers, BODY, secret=SECRET, now=NOW)["id"] == EVENT_ID


def test_one_matching_signature_of_several_suffices() -> None:
    headers = _headers()
    headers["Webhook-Signature"] = f"v1={'0' * 64} {headers['Webhook-Signature']}"
    assert verify_request(headers, BODY, secret=SECRET, now=NOW)["id"] == EVENT_ID


@pytest.mark.parametrize(
    "change",
    [
        {"Webhook-Signature": "v1=" + "0" * 64},
        {"Webhook-Signature": ""},
        {"Webhook-Id": ""},
        {"Webhook-Timestamp": ""},
        {"Webhook-Signature": sign("other-secret", EVENT_ID, NOW, BODY)},
        {"Webhook-Signature": sign(SECRET, EVENT_ID, NOW, BODY).replace("v1=", "v0=")},
        {"Webhook-Timestamp": str(NOW + 1)},
        {"Webhook-Id": "evt_other"},
    ],
)
def test_bad_signature_is_rejected_401(change: dict[str, str]) -> None:
    headers = {**_headers(), **change}
    with pytest.raises(InvalidSignature) as raised:
        verify_request(headers, BODY, secret=SECRET, now=NOW)
    assert raised.value.status == 401


def test_tampered_body_is_rejected_401() -> None:
    tampered = BODY.replace(b"delivered", b"failed")
    with pytest.raises(InvalidSignature):
        verify_request(_headers(), tampered, secret=SECRET, now=NOW)


@pytest.mark.parametrize("offset", [-301, 301, -10_000])
def test_timestamp_outside_tolerance_is_rejected_400(offset: int) -> None:
    headers = _headers(timestamp=NOW + offset)
    with pytest.raises(WebhookRejected) as raised:
        verify_request(headers, BODY, secret=SECRET, now=NOW)
    assert not isinstance(raised.value, InvalidSignature)
    assert raised.value.status == 400


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamp_within_tolerance_is_accepted(offset: int) -> None:
    headers = _headers(timestamp=NOW + offset)
    assert verify_request(headers, BODY, secret=SECRET, now=NOW)["id"] == EVENT_ID


def test_tolerance_is_configurable() -> None:
    headers = _headers(timestamp=NOW - 20)
    with pytest.raises(WebhookRejected):
        verify_request(headers, BODY, secret=SECRET, now=NOW, tolerance_s=10)


def test_non_integer_timestamp_is_rejected_400() -> None:
    body, event_id, timestamp = BODY, EVENT_ID, "soon"
    headers = {
        "Webhook-Id": event_id,
        "Webhook-Timestamp": timestamp,
        "Webhook-Signature": "v1=" + compute_signature(SECRET, event_id, timestamp, body),
    }
    with pytest.raises(WebhookRejected) as raised:
        verify_request(headers, body, secret=SECRET, now=NOW)
    assert raised.value.status == 400


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"id": EVENT_ID}).encode(),
        json.dumps({"id": EVENT_ID, "order": {"id": "ord_abc"}}).encode(),
        json.dumps({"id": "evt_other", "order": json.loads(BODY)["order"]}).encode(),
    ],
)
def test_signed_but_malformed_body_is_rejected_400(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as raised:
        verify_request(_headers(body=body), body, secret=SECRET, now=NOW)
    assert not isinstance(raised.value, InvalidSignature)
    assert raised.value.status == 400
