"""The ``gifting`` command: run the pipeline, start the sandboxes, run single flows."""

from __future__ import annotations

import os
import sys
from collections import Counter
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import flows  # noqa: F401  (sets the Prefect environment defaults before Prefect loads)
from flows import cli_ops
from gifting.errors import GiftingError

if TYPE_CHECKING:
    from gifting.runtime import Runtime

EXIT_CODES = (
    "Exit codes: 0 success; 1 unexpected error (a flow run failed or crashed: see its traceback "
    "and the Prefect UI); 2 invalid input or configuration (the message says what to fix); "
    "3 finished, but some gifts failed to send (dispatch, track, resend: see the counts)."
)
EXIT_GIFTS_FAILED = 3

app = typer.Typer(
    help="Post-contract customer gifting, orchestrated by Prefect.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
)
sandbox_app = typer.Typer(help="The local Salesforce and vendor sandboxes.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
secrets_app = typer.Typer(help="Prefect Secret blocks that hold the settings' secrets.")
app.add_typer(secrets_app, name="secrets")
console = Console()

SAMPLE_HISTORY_DAYS = 730
# The key the vendor sandbox signs its webhooks with by default.
SANDBOX_WEBHOOK_SECRET = "sandbox-webhook-secret"


class Output:
    """Options that every command shares, set by the ``--quiet`` option before the command."""

    quiet = False


@app.callback()
def options(
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Show no progress, only results and errors.")
    ] = False,
) -> None:
    """Post-contract customer gifting, orchestrated by Prefect."""
    Output.quiet = quiet


def _progress() -> AbstractContextManager[None]:
    """Show progress of long work: a bar on a terminal, plain lines in a pipe or a log."""
    from flows.cli_progress import showing_progress

    return showing_progress(console, Output.quiet)


def _exit_if_gifts_failed(counts: dict[str, Any]) -> None:
    failed = sum(n for key, n in counts.items() if key.startswith("failed") and n)
    if failed:
        console.print(f"{failed} gifts failed to send; exit code {EXIT_GIFTS_FAILED}")
        raise typer.Exit(code=EXIT_GIFTS_FAILED)


def _fail(error: Exception) -> None:
    # The message is printed as plain text: square brackets in it are data, not rich markup.
    console.print("[red]error:[/red] " + escape(str(error)))
    raise typer.Exit(code=2)


def _open_checked_runtime() -> Runtime:
    """Validate settings, config files and the warehouse before a flow starts, or exit with why."""
    from flows.runtime import load_settings_with_secrets
    from gifting.runtime import Runtime

    try:
        runtime = Runtime(load_settings_with_secrets())
        runtime.validate()
    except GiftingError as error:
        _fail(error)
    return runtime


@app.command()
def run(
    accounts: Annotated[
        int,
        typer.Option(
            min=1, help="Accounts in the sample org (sandbox only, unless an export is loaded)."
        ),
    ] = 300,
    replay_days: Annotated[
        int,
        typer.Option(
            min=0, help="Days of history to replay against the sandbox; 0 plans as of now."
        ),
    ] = SAMPLE_HISTORY_DAYS,
) -> None:
    """Run the whole pipeline; without a configured org it starts both sandboxes first."""
    from flows.runtime import load_settings_with_secrets

    try:
        settings = load_settings_with_secrets()
        if settings.uses_salesforce_sandbox or settings.uses_vendor_sandbox:
            _run_with_sandboxes(settings.home, accounts, replay_days)
        else:
            _print_summary(_run_pipeline(None), vendor_orders=None)
    except GiftingError as error:
        _fail(error)


def _run_with_sandboxes(home: Path, accounts: int, replay_days: int) -> None:
    from gifting.config import load_catalog
    from gifting.runtime import load_settings
    from gifting.sandbox.launch import running_sandboxes

    settings = load_settings()
    now = datetime.now(UTC)
    with running_sandboxes(home, load_catalog(settings.config_dir), now=now, accounts=accounts) as (
        connection,
        _salesforce,
        vendor,
    ):
        os.environ.update(connection.as_environment())
        orders_before = vendor.order_count
        replay_from = (now - timedelta(days=replay_days)).date() if replay_days else None
        console.print(
            f"Sandboxes up: Salesforce {connection.salesforce_login_url} serving "
            f"{_served_org(home, accounts)}, vendor {connection.vendor_base_url}. "
            f"Replaying {replay_days} days…"
        )
        result = _run_pipeline(replay_from)
        _print_summary(result, vendor_orders=(orders_before, vendor.order_count))


def _served_org(home: Path, accounts: int) -> str:
    from gifting.sandbox.org_file import loaded_org_path

    if loaded_org_path(home).exists():
        return "the org loaded by gifting sandbox load"
    return f"a sample org of {accounts} accounts"


def _run_pipeline(replay_from: Any) -> dict[str, Any]:
    from flows.pipeline import pipeline

    with _progress():
        return pipeline(replay_from=replay_from)


def _print_summary(result: dict[str, Any], vendor_orders: tuple[int, int] | None) -> None:
    from gifting.summary import STATUS_COLUMNS

    ledger = result["ledger"]
    deals = result["synced"].get("Opportunity", {}).get("seen", 0)
    console.print(
        f"\nSalesforce: {deals} deal(s) read; "
        f"{ledger['contracts']} signed contracts in the warehouse"
    )
    stages = list(ledger["statuses"])
    used = [s for s in STATUS_COLUMNS if any(c.get(s) for c in ledger["statuses"].values())]
    table = Table(title="Gifts by stage and status")
    table.add_column("stage")
    for status in used:
        table.add_column(status, justify="right")
    for stage, counts in ledger["statuses"].items():
        table.add_row(stage, *[str(counts.get(status, 0)) for status in used])
    console.print(table)
    if ledger["reasons"]:
        reasons = Table(title="Gifts not sent, by reason")
        reasons.add_column("status: reason")
        for stage in stages:
            reasons.add_column(stage, justify="right")
        for reason, counts in ledger["reasons"].items():
            reasons.add_row(reason, *[str(counts.get(stage, 0)) for stage in stages])
        console.print(reasons)
    if vendor_orders is not None:
        before, after = vendor_orders
        console.print(f"Vendor orders: {after - before} placed in this run, {after} in total")
    console.print(f"Report: {Path(result['report']['html_path']).resolve()}")


def _run_flow(name: str, **parameters: Any) -> Any:
    from importlib import import_module

    _open_checked_runtime().close()
    module = import_module(f"flows.{name}")
    try:
        with _progress():
            result = getattr(module, name)(**parameters)
    except GiftingError as error:
        _fail(error)
    console.print(result)
    return result


@app.command()
def sync() -> None:
    """Sync Salesforce into the warehouse once."""
    _run_flow("sync_contracts")


@app.command()
def plan(
    backfill: Annotated[bool, typer.Option(help="Plan stages whose window passed.")] = False,
) -> None:
    """Plan and personalize gifts as of now."""
    _run_flow("plan_gifts", backfill=backfill)


@app.command()
def dispatch(
    backfill: Annotated[bool, typer.Option(help="Send due gifts whose window passed.")] = False,
) -> None:
    """Send every due gift once."""
    _exit_if_gifts_failed(_run_flow("dispatch_gifts", backfill=backfill))


@app.command()
def track() -> None:
    """Poll the vendor for the status of sent gifts."""
    _exit_if_gifts_failed(_run_flow("track_deliveries"))


@app.command()
def report() -> None:
    """Write the cohort report."""
    _run_flow("cohort_report")


@app.command()
def resend(
    gift_ids: Annotated[
        list[str] | None, typer.Argument(help="Gift ids; none resends every failed gift matched.")
    ] = None,
    stage: Annotated[str | None, typer.Option(help="Only gifts of this stage.")] = None,
    reason: Annotated[
        str | None, typer.Option(help="Only this failure reason, such as vendor_unavailable.")
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            help="Only gifts that failed at or after this UTC time, such as 2026-12-01 "
            "or 2026-12-01T09:00:00."
        ),
    ] = None,
    requested_by: Annotated[str, typer.Option(help="Actor recorded on the ledger events.")] = "cli",
) -> None:
    """Resend failed gifts with their own idempotency keys; never a delivered or in-flight one."""
    from flows.resend_failed import ResendRequest

    request = ResendRequest(
        gift_ids=gift_ids or [], stage=stage, reason=reason, since=since, requested_by=requested_by
    )
    result = _run_flow("resend_failed", request=request)
    _exit_if_gifts_failed(Counter(str(outcome) for outcome in result["outcomes"].values()))


@app.command()
def review(
    gift_id: Annotated[
        str | None, typer.Argument(help="Gift to decide on; omit it to list pending reviews.")
    ] = None,
    action: Annotated[
        str | None,
        typer.Option(help="approve, edit_note, swap_item or reject; required with a gift id."),
    ] = None,
    note: Annotated[str | None, typer.Option(help="New card text (edit_note, swap_item).")] = None,
    sku: Annotated[str | None, typer.Option(help="Catalog SKU within the gift's budget.")] = None,
    reason: Annotated[str | None, typer.Option(help="Why the gift is rejected (reject).")] = None,
    reviewer: Annotated[
        str, typer.Option(help="Your name, recorded on the gift's event.")
    ] = os.environ.get("USER", "cli"),
) -> None:
    """List gifts waiting for review, or record a decision on one."""
    from gifting.review import decide, pending_reviews, review_table

    if gift_id is not None and action is None:
        _fail(
            GiftingError(
                f"choose what to do with gift {gift_id}: pass --action approve, "
                "edit_note, swap_item or reject"
            )
        )
    runtime = _open_checked_runtime()
    try:
        if gift_id is None:
            _print_reviews(review_table(pending_reviews(runtime.engine)))
        else:
            now = datetime.now(UTC).replace(tzinfo=None)
            status = decide(
                runtime.engine,
                runtime.catalog,
                gift_id=gift_id,
                action=action,
                note=note,
                sku=sku,
                reason=reason,
                reviewer=reviewer,
                as_of=now,
            )
            console.print(f"gift {gift_id} is now {status}")
    except GiftingError as error:
        _fail(error)
    finally:
        runtime.close()


def _print_reviews(rows: list[dict[str, str]]) -> None:
    table = Table(title=f"{len(rows)} gifts waiting for review (due times in UTC)")
    for column in rows[0] if rows else {"gift_id": ""}:
        table.add_column(column, no_wrap=column == "gift_id", overflow="fold")
    for row in rows:
        table.add_row(*[escape(str(value)) for value in row.values()])
    console.print(table)


@app.command()
def preview(
    horizon_days: Annotated[int, typer.Option(help="Days ahead to look for due gifts.")] = 14,
    limit: Annotated[int, typer.Option(help="Gifts shown, the earliest due first.")] = 20,
) -> None:
    """Show the next gifts with item, note and reasons, without changing anything."""
    from gifting.preview import preview_gifts

    runtime = _open_checked_runtime()
    try:
        rows = preview_gifts(
            runtime.engine,
            runtime.program,
            runtime.catalog,
            runtime.notes,
            as_of=datetime.now(UTC).replace(tzinfo=None),
            horizon_days=horizon_days,
            limit=limit,
        )
    except GiftingError as error:
        _fail(error)
    finally:
        runtime.close()
    table = Table(title=f"Next {len(rows)} gifts (due times in UTC); nothing was changed")
    for column in ("gift_id", "stage", "due", "company", "item", "note", "why"):
        table.add_column(column, no_wrap=column == "gift_id", overflow="fold")
    for row in rows:
        item = f"{row.item_name} ({row.price} {row.currency})" if row.item_name else "-"
        why = row.problem or "; ".join([*row.selection_reasons[:2], *row.review_reasons])
        table.add_row(
            row.gift_id,
            row.stage,
            f"{row.due_at:%Y-%m-%d %H:%M}",
            escape(row.company),
            escape(item),
            escape(row.note or ""),
            escape(why),
        )
    console.print(table)


@app.command()
def migrate() -> None:
    """Create or upgrade the warehouse schema."""
    from gifting.runtime import load_settings
    from gifting.warehouse import create_warehouse_engine
    from gifting.warehouse import migrate as upgrade

    settings = load_settings()
    try:
        upgrade(create_warehouse_engine(settings.warehouse_url))
    except GiftingError as error:
        _fail(error)
    console.print(f"warehouse at {settings.warehouse_url} is up to date")


@app.command()
def webhooks(
    port: Annotated[
        int | None,
        typer.Option(help="TCP port to listen on; default GIFTING_WEBHOOK_PORT (8085), 0 any."),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(help="Interface to bind; default GIFTING_WEBHOOK_HOST (127.0.0.1)."),
    ] = None,
) -> None:
    """Receive the vendor's signed delivery webhooks until Ctrl-C or SIGTERM."""
    import signal
    import threading

    from gifting.errors import ConfigurationError
    from gifting.runtime import Runtime, load_settings
    from gifting.webhooks import DeliveryWebhookHandler, WebhookReceiver

    settings = load_settings()
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    if secret is None and settings.uses_vendor_sandbox:
        secret = SANDBOX_WEBHOOK_SECRET
    if not secret:
        _fail(
            ConfigurationError(
                "GIFTING_WEBHOOK_SECRET is not set: set it to the signing secret the vendor "
                "issued for this endpoint"
            )
        )
    runtime = Runtime(settings)
    try:
        handler = DeliveryWebhookHandler(
            runtime.engine, str(secret), tolerance_s=settings.webhook_tolerance_s
        )
        receiver = WebhookReceiver(
            handler,
            host=host or settings.webhook_host,
            port=settings.webhook_port if port is None else port,
            path=settings.webhook_path,
        )
        stop = threading.Event()
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop_signal, lambda *_: stop.set())
        with receiver:
            console.print(f"Receiving vendor webhooks at {receiver.url}; Ctrl-C stops.")
            stop.wait()
        console.print("webhook receiver stopped")
    except (GiftingError, OSError) as error:
        _fail(error)
    finally:
        runtime.close()


@sandbox_app.command("start")
def sandbox_start(
    accounts: Annotated[int, typer.Option(help="Accounts in the sample org.")] = 300,
    ignore_idempotency_keys: Annotated[
        bool,
        typer.Option(
            help="Make the vendor sandbox create a new order for every request, like a vendor "
            "that does not deduplicate. Set GIFTING_VENDOR_FIND_BEFORE_CREATE=true with it."
        ),
    ] = False,
    webhook_url: Annotated[
        str | None,
        typer.Option(
            help="Also POST the vendor's signed status webhooks here every second, such as the "
            "URL `gifting webhooks` prints."
        ),
    ] = None,
) -> None:
    """Serve both sandboxes in the foreground until Ctrl-C; flows find them automatically."""
    import threading

    from gifting.config import load_catalog
    from gifting.runtime import load_settings
    from gifting.sandbox.launch import running_sandboxes

    settings = load_settings()
    catalog = load_catalog(settings.config_dir)
    with running_sandboxes(
        settings.home,
        catalog,
        now=datetime.now(UTC),
        accounts=accounts,
        honour_idempotency_keys=not ignore_idempotency_keys,
    ) as (connection, _salesforce, vendor):
        for name, value in connection.as_environment().items():
            console.print(f"{name}={value}")
        if webhook_url is not None:
            vendor.set_webhook_url(webhook_url)
            vendor.webhooks.start_loop(1.0)
            console.print(f"Vendor webhooks go to {webhook_url}")
        console.print(
            f"Sandboxes running, serving {_served_org(settings.home, accounts)}; "
            "press Ctrl-C to stop."
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            console.print("stopped")


@secrets_app.command("create")
def secrets_create(
    prefix: Annotated[
        str | None,
        typer.Option(
            help="Block name prefix; default: GIFTING_SECRET_BLOCK_PREFIX, else gifting.",
            show_default=False,
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace blocks that exist, to rotate a secret.")
    ] = False,
) -> None:
    """Save each secret GIFTING_* variable of this shell as a Prefect Secret block.

    Flows read the blocks at start when GIFTING_SECRET_BLOCK_PREFIX is set. Values are never shown.

    A GIFTING_SALESFORCE_PRIVATE_KEY_FILE is saved as the key's text, so workers need no key file.
    """
    from flows.runtime import secret_values_from_environment
    from gifting.settings import SecretBlockSettings, environment_variable, secret_block_name

    try:
        block_prefix = prefix or SecretBlockSettings().secret_block_prefix or "gifting"
        if prefix is not None:
            SecretBlockSettings(secret_block_prefix=prefix)
        values = secret_values_from_environment()
    except GiftingError as error:
        _fail(error)
    if not values:
        _fail(
            GiftingError(
                "no secret GIFTING_* variable is set in this shell: export the ones your "
                "authentication mode needs (see docs/configuration.md) and run this again"
            )
        )
    for setting, value in values.items():
        name = secret_block_name(block_prefix, setting)
        result = _save_secret_block(name, value, overwrite=overwrite)
        source = environment_variable(setting)
        if setting == "salesforce_private_key" and source not in os.environ:
            source = "GIFTING_SALESFORCE_PRIVATE_KEY_FILE"
        console.print(f"{name} (from {source}): {result}", soft_wrap=True)
    console.print(
        f"Set GIFTING_SECRET_BLOCK_PREFIX={block_prefix} where the flows run, and unset the "
        "variables above there."
    )


def _save_secret_block(name: str, value: str, *, overwrite: bool) -> str:
    """Save one Secret block and return the outcome that the command prints."""
    from prefect.blocks.system import Secret

    try:
        Secret(value=value).save(name, overwrite=overwrite)
    except ValueError as error:
        # Prefect raises ValueError when the block exists and overwrite is off.
        if "already in use" not in str(error):
            raise
        return "exists; kept (pass --overwrite to replace it)"
    return "saved" if overwrite else "created"


@sandbox_app.command("load")
def sandbox_load(
    export_dir: Annotated[
        Path, typer.Argument(help="Folder of the unzipped export: Account.csv, Contact.csv, ...")
    ],
    show: Annotated[int, typer.Option(help="Problems printed; the rest are only counted.")] = 50,
) -> None:
    """Load a Salesforce data export (one CSV per object) as the org the sandbox serves."""
    from gifting.runtime import load_settings
    from gifting.salesforce.config import load_field_mapping
    from gifting.sandbox.export_load import ExportUnusable, load_export
    from gifting.sandbox.org_file import save_org

    settings = load_settings()
    now = datetime.now(UTC)
    try:
        result = load_export(export_dir, load_field_mapping(settings.config_dir), now=now)
    except ExportUnusable as error:
        _print_load_problems(error.problems, show)
        _fail(error)
    except GiftingError as error:
        _fail(error)
    path = save_org(result.store, settings.home, source=export_dir, saved_at=now)
    table = Table(title=f"Loaded from {escape(str(export_dir))}")
    for column in ("object", "file", "rows", "loaded"):
        table.add_column(column, justify="left" if column in ("object", "file") else "right")
    for sobject, counts in result.counts.items():
        table.add_row(sobject, escape(counts.file), str(counts.rows), str(counts.loaded))
    console.print(table)
    _print_load_problems(result.problems, show)
    _warn_hidden_records(settings.warehouse_url, result.store)
    console.print(
        f"Saved to {path}. gifting run and gifting sandbox start now serve this org; "
        "gifting sandbox reset serves the sample org again."
    )


def _print_load_problems(problems: list[Any], show: int) -> None:
    if not problems:
        return
    skipped = sum(1 for problem in problems if problem.outcome == "row skipped")
    console.print(f"[yellow]{len(problems)} problem(s); {skipped} row(s) skipped:[/yellow]")
    for problem in problems[:show]:
        console.print("  " + escape(str(problem)))
    if len(problems) > show:
        console.print(f"  … and {len(problems) - show} more; pass --show to print them")


def _warn_hidden_records(warehouse_url: str, store: Any) -> None:
    """Warn when the warehouse's watermarks would keep the sync from reading loaded records."""
    from sqlalchemy.exc import SQLAlchemyError

    from gifting.sandbox.export_load import records_behind_watermarks
    from gifting.warehouse import create_warehouse_engine

    try:
        engine = create_warehouse_engine(warehouse_url)
        try:
            hidden = records_behind_watermarks(engine, store)
        finally:
            engine.dispose()
    except (GiftingError, SQLAlchemyError) as error:
        console.print(
            f"[yellow]warning:[/yellow] could not check the warehouse's sync watermarks "
            f"({escape(str(error).splitlines()[0])}): make sure the next run uses a fresh warehouse"
        )
        return
    if hidden:
        counts = ", ".join(f"{count} {sobject}" for sobject, count in hidden.items())
        console.print(
            f"[yellow]warning:[/yellow] the warehouse at {escape(warehouse_url)} already synced "
            f"another org, and its watermarks are newer than {counts} record(s) of this export, "
            "so the sync would never read them: set GIFTING_DATABASE_URL to a new database, "
            "or delete the SQLite warehouse file, before the next run"
        )


@sandbox_app.command("reset")
def sandbox_reset() -> None:
    """Forget the loaded export, so the sandbox serves the generated sample org again."""
    from gifting.runtime import load_settings
    from gifting.sandbox.org_file import forget_saved_org

    if forget_saved_org(load_settings().home):
        console.print("Forgot the loaded org; the sandbox serves the sample org again.")
    else:
        console.print("No org was loaded; the sandbox already serves the sample org.")


# Operations commands (serve, alerts, purge, forget) live in flows/cli_ops.py.
cli_ops.register(app)


def main() -> None:
    sys.exit(app())


if __name__ == "__main__":
    main()
