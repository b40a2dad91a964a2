"""``gifting serve`` serves exactly the deployments that ``prefect.yaml`` declares."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli_serve import build_deployments, read_deployments
from gifting.errors import ConfigurationError

DECLARED = {entry["name"]: entry for entry in read_deployments()}
BUILT = {deployment.name: deployment for deployment in build_deployments()}


def test_every_declared_deployment_is_served() -> None:
    assert sorted(BUILT) == sorted(DECLARED)


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_served_deployment_matches_prefect_yaml(name: str) -> None:
    entry, built = DECLARED[name], BUILT[name]
    module, function = entry["entrypoint"].split(":")
    assert built.entrypoint == module.removesuffix(".py").replace("/", ".") + "." + function
    assert built.flow_name == name
    assert built.description == entry["description"]
    assert built.tags == entry["tags"]
    assert built.parameters == entry.get("parameters", {})
    served = [(s.schedule.cron, s.schedule.timezone) for s in built.schedules or []]
    declared = [(s["cron"], s["timezone"]) for s in entry.get("schedules", [])]
    assert served == declared
    assert built.concurrency_limit == entry.get("concurrency_limit")


def test_unknown_entrypoint_names_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "prefect.yaml"
    path.write_text(
        "deployments:\n  - name: broken\n    entrypoint: flows/missing.py:missing\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match=r"flows/missing\.py:missing"):
        build_deployments(path)


def test_missing_prefect_yaml_says_where(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not found"):
        read_deployments(tmp_path / "prefect.yaml")


def test_serve_without_api_exits_with_fix() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from typer.testing import CliRunner

    from flows.cli import app

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "set PREFECT_API_URL" in result.output
