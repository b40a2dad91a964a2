"""Deterministic holdout assignment by a salted hash of the account id."""

from __future__ import annotations

import hashlib

from gifting.sandbox.org import to_18


def holdout_bucket(account_id: str, salt: str) -> float:
    """Map an account to a number in [0, 1), stable across runs, machines and Id lengths."""
    digest = hashlib.sha256(f"{salt}:{to_18(account_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_holdout(account_id: str, salt: str, share: float) -> bool:
    """Return whether the account belongs to the holdout that receives no gifts."""
    if not 0.0 <= share < 1.0:
        raise ValueError(f"invalid holdout share {share!r}: expected a number in [0, 1)")
    return holdout_bucket(account_id, salt) < share
