"""Every deployment in prefect.yaml points at a real flow whose default parameters validate."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from prefect.flows import load_flow_from_entrypoint

from gifting.settings import PROJECT_ROOT

PREFECT_YAML = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text(encoding="utf-8"))
DEPLOYMENTS = PREFECT_YAML["deployments"]


def test_every_flow_module_has_a_deployment() -> None:
    modules = {path.stem for path in (PROJECT_ROOT / "flows").glob("*.py")}
    deployed = {
        deployment["entrypoint"].split(":")[0].removeprefix("flows/").removesuffix(".py")
        for deployment in DEPLOYMENTS
    }
    # flows/cli*.py make up the command line; every other module is one deployment.
    flow_modules = {name for name in modules if not name.startswith("cli")}
    assert flow_modules - {"__init__", "runtime"} <= deployed


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda deployment: deployment["name"])
def test_deployment_loads_and_validates(deployment: dict[str, Any]) -> None:
    flow = load_flow_from_entrypoint(str(PROJECT_ROOT / deployment["entrypoint"]))
    assert flow.name == deployment["name"]
    assert flow.description
    flow.validate_parameters(deployment.get("parameters", {}))
    assert deployment["work_pool"]["name"] == "gifting-process"


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda deployment: deployment["name"])
def test_schedules_are_valid_cron(deployment: dict[str, Any]) -> None:
    from prefect.client.schemas.schedules import CronSchedule

    for schedule in deployment.get("schedules", []):
        CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])


def test_dispatch_never_overlaps() -> None:
    dispatch = next(d for d in DEPLOYMENTS if d["name"] == "dispatch-gifts")
    assert dispatch["concurrency_limit"] == 1
