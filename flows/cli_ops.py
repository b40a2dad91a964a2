"""Operations commands of ``gifting``: serve, alerts, purge and forget.

``register`` attaches them to the main application, so that ``flows/cli.py`` stays the one entry
point while these commands live apart from the pipeline commands.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from gifting.errors import GiftingError

if TYPE_CHECKING:
    from gifting.runtime import Runtime

alerts_app = typer.Typer(help="Prefect automations that alert on failures.", no_args_is_help=True)
console = Console()


def _fail(error: Exception) -> None:
    console.print("[red]error:[/red] " + escape(str(error)))
    raise typer.Exit(code=2)


def serve(
    limit: Annotated[
        int | None, typer.Option(help="Maximum flow runs at once; default: no limit.")
    ] = None,
) -> None:
    """Serve every deployment of prefect.yaml from this process, without a work pool.

    Schedules, parameters, tags and concurrency limits come from prefect.yaml. Scheduled and
    manual runs start as subprocesses of this one until Ctrl-C, which pauses the schedules.
    """
    from prefect import serve as prefect_serve
    from prefect.settings import PREFECT_API_URL

    from flows.cli_serve import build_deployments

    if not PREFECT_API_URL.value():
        # Prefect would start a temporary API that stops with this process, together with the
        # deployments, their schedules and their run history.
        _fail(
            GiftingError(
                "gifting serve needs a running Prefect API: set PREFECT_API_URL, such as "
                "http://127.0.0.1:4200/api after `prefect server start`, or log in to Prefect Cloud"
            )
        )
    try:
        deployments = build_deployments()
    except GiftingError as error:
        _fail(error)
    prefect_serve(*deployments, limit=limit)


@alerts_app.command("create")
def alerts_create(
    slack_webhook: Annotated[
        str | None,
        typer.Option(
            envvar="GIFTING_ALERTS_SLACK_WEBHOOK",
            help="Slack incoming-webhook URL to notify; stored as the Prefect block "
            "gifting-alerts-slack. Without it the automations only record that they fired.",
        ),
    ] = None,
) -> None:
    """Create or replace the automations for failed flow runs and failed gift sends."""
    from flows.cli_alerts import create_alerts

    for automation in create_alerts(slack_webhook):
        action = automation.actions[0].type
        console.print(f"automation {automation.name!r} ({automation.id}): action {action}")


def purge() -> None:
    """Clear shipping addresses and notes kept past the retention period after delivery."""
    from flows.purge_personal_data import purge_personal_data

    _check_runtime().close()
    try:
        counts = purge_personal_data()
    except GiftingError as error:
        _fail(error)
    console.print(f"purged: {counts}")


def forget(
    contact_id: Annotated[str, typer.Argument(help="18-character Salesforce Contact Id.")],
) -> None:
    """Remove one contact's personal data from the warehouse; keep anonymous ledger rows.

    Gifts not yet sent to the contact are skipped as recipient_forgotten. Sent gifts keep
    their item, price and status, so the report's counts and spend do not change. Erase the
    contact in Salesforce too, or a later change there syncs it back.
    """
    from gifting.privacy import forget_contact

    runtime = _check_runtime()
    try:
        counts = forget_contact(
            runtime.engine, contact_id, as_of=datetime.now(UTC).replace(tzinfo=None)
        )
    except GiftingError as error:
        _fail(error)
    finally:
        runtime.close()
    console.print(f"forgotten: {dict(counts)}")


def _check_runtime() -> Runtime:
    from gifting.runtime import Runtime, load_settings

    try:
        runtime = Runtime(load_settings())
        runtime.validate()
    except GiftingError as error:
        _fail(error)
    return runtime


def register(app: typer.Typer) -> None:
    """Attach the operations commands to ``app``."""
    app.command()(serve)
    app.command()(purge)
    app.command()(forget)
    app.add_typer(alerts_app, name="alerts")
