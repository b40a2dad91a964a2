"""Build the deployments of ``prefect.yaml`` for ``prefect.serve``, for teams without a work pool.

``gifting serve`` runs every deployment from one long-lived process: the process polls the
Prefect API for scheduled runs and starts each one as a subprocess. Deployments keep the
schedule, parameters, tags, description and concurrency limit that ``prefect.yaml`` gives them.
The work pool and pull steps are the worker's business and do not apply here.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from gifting.errors import ConfigurationError
from gifting.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment
    from prefect.flows import Flow

PREFECT_YAML = PROJECT_ROOT / "prefect.yaml"


def read_deployments(path: Path = PREFECT_YAML) -> list[dict[str, Any]]:
    """Return the ``deployments`` entries of a ``prefect.yaml``."""
    if not path.exists():
        raise ConfigurationError(
            f"{path} not found: run `gifting serve` from the project checkout, "
            "or reinstall gifting so that share/gifting/prefect.yaml exists"
        )
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    deployments = document.get("deployments")
    if not deployments:
        raise ConfigurationError(f"{path} declares no deployments under `deployments:`")
    return list(deployments)


def load_flow(entrypoint: str) -> Flow[..., Any]:
    """Import a flow from an entrypoint such as ``flows/sync_contracts.py:sync_contracts``.

    The flow is imported by module name, not by file path, so the served runs import it the same
    way from an installed package as from a checkout.
    """
    path, _, name = entrypoint.partition(":")
    module_name = path.removesuffix(".py").replace("/", ".")
    try:
        return getattr(import_module(module_name), name)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as error:
        raise ConfigurationError(
            f"entrypoint {entrypoint!r} in prefect.yaml cannot be loaded ({error}): "
            "it must name a flow function as flows/<module>.py:<function>"
        ) from error


def build_deployment(entry: dict[str, Any]) -> RunnerDeployment:
    """Turn one ``prefect.yaml`` deployment into a deployment that ``prefect.serve`` can run."""
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    schedules = [
        Cron(schedule["cron"], timezone=schedule.get("timezone"))
        for schedule in entry.get("schedules") or []
    ]
    return load_flow(entry["entrypoint"]).to_deployment(
        name=entry["name"],
        description=entry.get("description"),
        tags=entry.get("tags"),
        parameters=entry.get("parameters"),
        schedules=schedules,
        concurrency_limit=entry.get("concurrency_limit"),
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def build_deployments(path: Path = PREFECT_YAML) -> list[RunnerDeployment]:
    """Build every deployment of ``prefect.yaml``."""
    return [build_deployment(entry) for entry in read_deployments(path)]
