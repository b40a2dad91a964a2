"""Progress display of the ``gifting`` command: a rich bar on a terminal, plain lines elsewhere.

A step started while another one runs (dispatch inside each replayed day) is not shown, so one
bar at a time describes the long work.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from gifting import progress

LABELS = {"replay": "Replaying days", "sync": "Syncing Salesforce", "dispatch": "Sending gifts"}
PLAIN_LINES_PER_STEP = 10


class BarListener:
    """Draws one rich progress bar per top-level step."""

    def __init__(self, console: Console) -> None:
        self._bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[detail]}"),
            console=console,
            transient=False,
        )
        self._active: tuple[str, TaskID] | None = None

    def __enter__(self) -> BarListener:
        self._bars.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._bars.stop()

    def start(self, step: str, total: int | None) -> None:
        if self._active is None:
            label = LABELS.get(step, step)
            self._active = (step, self._bars.add_task(label, total=total, detail=""))

    def advance(self, step: str, amount: int = 1, detail: str | None = None) -> None:
        if self._active is not None and self._active[0] == step:
            self._bars.update(self._active[1], advance=amount, detail=detail or "")

    def finish(self, step: str) -> None:
        if self._active is not None and self._active[0] == step:
            task_id = self._active[1]
            total = self._bars.tasks[task_id].completed
            self._bars.update(task_id, total=total, completed=total)
            self._active = None


class LineListener:
    """Prints about ten plain lines per step, for logs, pipes and cron jobs."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._active: str | None = None
        self._total: int | None = None
        self._done = 0
        self._printed_at = 0

    def start(self, step: str, total: int | None) -> None:
        if self._active is None:
            self._active, self._total, self._done, self._printed_at = step, total, 0, 0
            of = f" of {total}" if total is not None else ""
            self._console.print(f"{LABELS.get(step, step)}: started{of}", highlight=False)

    def advance(self, step: str, amount: int = 1, detail: str | None = None) -> None:
        if step != self._active:
            return
        self._done += amount
        every = max(1, (self._total or 0) // PLAIN_LINES_PER_STEP)
        if self._done - self._printed_at >= every:
            self._printed_at = self._done
            of = f"/{self._total}" if self._total is not None else ""
            suffix = f" ({detail})" if detail else ""
            self._console.print(
                f"{LABELS.get(step, step)}: {self._done}{of}{suffix}", highlight=False
            )

    def finish(self, step: str) -> None:
        if step == self._active:
            self._console.print(f"{LABELS.get(step, step)}: done, {self._done}", highlight=False)
            self._active = None


class SilentListener:
    """Shows nothing, for ``--quiet``."""

    def start(self, step: str, total: int | None) -> None:
        pass

    def advance(self, step: str, amount: int = 1, detail: str | None = None) -> None:
        pass

    def finish(self, step: str) -> None:
        pass


@contextmanager
def showing_progress(console: Console, quiet: bool) -> Iterator[None]:
    """Show progress as a bar on a terminal, as plain lines elsewhere, or not at all if quiet."""
    if quiet:
        with progress.listening(SilentListener()):
            yield
    elif console.is_terminal:
        with BarListener(console) as bars, progress.listening(bars):
            yield
    else:
        with progress.listening(LineListener(console)):
            yield
