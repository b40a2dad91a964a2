"""The README's deploy walkthrough, run as a user runs it: see tests/deploy_walkthrough.py."""

from __future__ import annotations

import subprocess
import sys

from gifting.settings import PROJECT_ROOT


def test_deploy_walkthrough_resends_once() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.deploy_walkthrough"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "delivered once" in result.stdout
    assert result.stdout.rstrip().endswith("walkthrough passed")
