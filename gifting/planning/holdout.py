"""Deterministic holdout assignment by a salted hash of the account id."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Connection, select, update

from gifting.config import ProgramConfig
from gifting.sandbox.org import to_18
from gifting.warehouse.batching import chunked
from gifting.warehouse.schema import Account


def holdout_bucket(account_id: str, salt: str) -> float:
    """Map an account to a number in [0, 1), stable across runs, machines and Id lengths."""
    digest = hashlib.sha256(f"{salt}:{to_18(account_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_holdout(account_id: str, salt: str, share: float) -> bool:
    """Return whether the account belongs to the holdout that receives no gifts."""
    if not 0.0 <= share < 1.0:
        raise ValueError(f"invalid holdout share {share!r}: expected a number in [0, 1)")
    return holdout_bucket(account_id, salt) < share


def assign_holdout(connection: Connection, program: ProgramConfig, *, as_of: datetime) -> int:
    """Record the holdout flag of every account that has none yet; recorded flags never change.

    Flags are written with one ``UPDATE`` per chunk of Ids and flag value, not one per account,
    because a round trip per account dominated planning time on PostgreSQL.
    """
    pending = connection.scalars(select(Account.id).where(Account.holdout.is_(None))).all()
    holdout = [a for a in pending if is_holdout(a, program.holdout.salt, program.holdout.share)]
    flagged = set(holdout)
    groups = {True: holdout, False: [a for a in pending if a not in flagged]}
    for flag, account_ids in groups.items():
        for chunk in chunked(account_ids):
            connection.execute(
                update(Account)
                .where(Account.id.in_(chunk), Account.holdout.is_(None))
                .values(holdout=flag, holdout_assigned_at=as_of)
            )
    return len(pending)
