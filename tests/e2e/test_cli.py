"""The ``gifting run`` command as a user runs it, against the test harness's Prefect API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from gifting.settings import PROJECT_ROOT

ORDERS = re.compile(r"Vendor orders: (\d+) placed in this run, (\d+) in total")


def _gifting(home: Path, *arguments: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GIFTING_HOME": str(home),
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "COLUMNS": "200",
        **extra_env,
    }
    for name in list(env):
        if name.startswith(("GIFTING_SALESFORCE", "GIFTING_VENDOR", "GIFTING_DATABASE")):
            env.pop(name)
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *arguments],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_second_run_sends_no_gift_twice(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = _gifting(home, "run", "--accounts", "30", "--replay-days", "300")
    assert first.returncode == 0, first.stdout + first.stderr
    placed, total = map(int, ORDERS.search(first.stdout).groups())  # type: ignore[union-attr]
    assert placed == total > 0
    for stage in ("welcome", "first_week", "first_month", "first_quarter"):
        assert stage in first.stdout
    assert (home / "reports" / "cohort_report.html").exists()
    # Not a terminal: progress comes as plain lines, without a bar's escape codes.
    assert re.search(r"^Syncing Salesforce: done, \d+$", first.stdout, re.MULTILINE)
    assert re.search(r"^Replaying days: done, 300$", first.stdout, re.MULTILINE)

    second = _gifting(home, "run", "--accounts", "30", "--replay-days", "300")
    assert second.returncode == 0, second.stdout + second.stderr
    again, total_after = map(int, ORDERS.search(second.stdout).groups())  # type: ignore[union-attr]
    assert again == 0
    assert total_after == total


def test_invalid_database_url_fails_with_fix(tmp_path: Path) -> None:
    result = _gifting(tmp_path / "home", "migrate", GIFTING_DATABASE_URL="not a url")
    assert result.returncode == 2
    assert "invalid warehouse URL 'not a url'" in result.stdout


@pytest.mark.parametrize("command", ["sync", "dispatch"])
def test_flow_without_org_says_what_to_set(tmp_path: Path, command: str) -> None:
    result = _gifting(tmp_path / "home", command)
    assert result.returncode == 2
    assert "gifting sandbox start" in result.stdout


@pytest.mark.parametrize("command", ["run", "dispatch"])
def test_goody_without_credentials_names_them(tmp_path: Path, command: str) -> None:
    result = _gifting(
        tmp_path / "home", command, GIFTING_VENDOR="goody", GIFTING_GOODY_API_KEY="goody-key-77"
    )
    assert result.returncode == 2
    assert "GIFTING_GOODY_CARD_ID" in result.stdout
    assert "GIFTING_GOODY_FROM_NAME" in result.stdout
    assert "goody-key-77" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
