"""Progress of long steps (replay, sync, dispatch), reported to an optional listener.

The core reports steps here and never draws anything. The ``gifting`` command installs a listener
that draws a progress bar on a terminal or prints plain lines. Without a listener, as in a
deployment run by a worker, every call does nothing. The listener is process-wide, not a context
variable, because Prefect runs tasks in worker threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class ProgressListener(Protocol):
    """Receives the progress of named steps, such as ``replay`` or ``dispatch``."""

    def start(self, step: str, total: int | None) -> None: ...

    def advance(self, step: str, amount: int = 1, detail: str | None = None) -> None: ...

    def finish(self, step: str) -> None: ...


_listener: ProgressListener | None = None


@contextmanager
def listening(listener: ProgressListener) -> Iterator[None]:
    """Send progress to ``listener`` until the block ends."""
    global _listener
    previous, _listener = _listener, listener
    try:
        yield
    finally:
        _listener = previous


def start(step: str, total: int | None) -> None:
    """Announce a step of ``total`` units; ``None`` when the total is unknown."""
    if _listener is not None:
        _listener.start(step, total)


def advance(step: str, amount: int = 1, detail: str | None = None) -> None:
    """Record ``amount`` more units of ``step`` done; ``detail`` names what was just done."""
    if _listener is not None:
        _listener.advance(step, amount, detail)


def finish(step: str) -> None:
    """Mark ``step`` complete."""
    if _listener is not None:
        _listener.finish(step)
