"""Split long Id lists so that no statement exceeds a database's bind-parameter limit."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

# PostgreSQL accepts at most 65,535 bind parameters in one statement; this leaves room for others.
MAX_IDS_PER_STATEMENT = 10_000


def chunked(values: Sequence[T], size: int = MAX_IDS_PER_STATEMENT) -> Iterator[Sequence[T]]:
    """Yield consecutive slices of at most ``size`` values."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
