"""Helpers every flow shares: resolving ``as_of`` and opening the run's clients."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from gifting.runtime import Runtime, load_settings


def resolve_as_of(as_of: datetime | None) -> datetime:
    """Return ``as_of`` as naive UTC; the flow reads the clock here and nowhere else."""
    value = as_of or datetime.now(UTC)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


@contextmanager
def open_runtime() -> Iterator[Runtime]:
    """Validate settings and configuration, and close every client when the flow ends."""
    runtime = Runtime(load_settings())
    runtime.validate()
    try:
        yield runtime
    finally:
        runtime.close()
