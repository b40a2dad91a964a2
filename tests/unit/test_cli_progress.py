"""Progress of long CLI work: a bar on a terminal, plain lines elsewhere, none if quiet."""

from __future__ import annotations

import io

import pytest
import typer
from rich.console import Console

from flows.cli import EXIT_GIFTS_FAILED, _exit_if_gifts_failed
from flows.cli_progress import showing_progress
from gifting import progress


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    output = io.StringIO()
    return Console(file=output, force_terminal=terminal, width=120), output


def _replay(days: int) -> None:
    progress.start("replay", total=days)
    for day in range(days):
        progress.start("dispatch", total=3)  # nested: not shown
        progress.advance("dispatch")
        progress.finish("dispatch")
        progress.advance("replay", detail=f"day {day}")
    progress.finish("replay")


def test_plain_lines_when_not_a_terminal() -> None:
    console, output = _console(terminal=False)
    with showing_progress(console, quiet=False):
        _replay(100)
    lines = output.getvalue().splitlines()
    assert lines[0] == "Replaying days: started of 100"
    assert lines[1] == "Replaying days: 10/100 (day 9)"
    assert lines[-1] == "Replaying days: done, 100"
    assert len(lines) == 12
    assert not any("Sending gifts" in line for line in lines)
    assert "\x1b" not in output.getvalue()


def test_bar_on_a_terminal() -> None:
    console, output = _console(terminal=True)
    with showing_progress(console, quiet=False):
        _replay(5)
    text = output.getvalue()
    assert "Replaying days" in text
    assert "5/5" in text
    assert "Sending gifts" not in text


def test_quiet_shows_nothing() -> None:
    console, output = _console(terminal=True)
    with showing_progress(console, quiet=True):
        _replay(5)
    assert output.getvalue() == ""


def test_progress_without_listener_is_silent() -> None:
    _replay(3)  # must not raise


def test_failed_gifts_exit_with_code_3() -> None:
    _exit_if_gifts_failed({"sent": 4, "failed:vendor_unavailable": 0})
    with pytest.raises(typer.Exit) as raised:
        _exit_if_gifts_failed({"sent": 4, "failed:out_of_stock": 2})
    assert raised.value.exit_code == EXIT_GIFTS_FAILED == 3
