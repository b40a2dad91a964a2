"""Prefect automations that alert on failed flow runs and failed gift sends.

``gifting alerts create`` calls ``create_alerts``. It replaces automations of the same names, so
running it again after a change of webhook is safe. Without a Slack webhook each automation only
records that it fired, which the Prefect UI shows on its Automations and Events pages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flows.cli_serve import read_deployments
from tasks.alerts import GIFTS_FAILED_EVENT

if TYPE_CHECKING:
    from uuid import UUID

    from prefect.automations import Automation

SLACK_BLOCK_NAME = "gifting-alerts-slack"
FLOW_RUN_FAILED = "gifting: flow run failed"
GIFTS_FAILED = "gifting: gifts failed to send"
FAILED_FLOW_RUN_STATES = ("prefect.flow-run.Failed", "prefect.flow-run.Crashed")

FLOW_RUN_BODY = (
    "Flow run {{ flow_run.name }} of {{ flow.name }} ended {{ flow_run.state.name }}: "
    "{{ flow_run.state.message }}\n{{ flow_run|ui_url }}"
)
GIFTS_BODY = (
    "{{ event.payload.count }} gifts failed in {{ event.resource.name }} as of "
    "{{ event.payload.as_of }}. Reasons: {{ event.payload.reasons }}. "
    "Gift ids (first 50): {{ event.payload.gift_ids }}. Fix the cause, then run the "
    "resend-failed deployment with these ids."
)


def save_slack_block(webhook_url: str) -> UUID:
    """Store the Slack webhook as a notification block and return its id."""
    from prefect.blocks.notifications import SlackWebhook

    block = SlackWebhook(url=webhook_url)
    block.save(SLACK_BLOCK_NAME, overwrite=True)
    return block._block_document_id  # type: ignore[return-value]


def _actions(block_id: UUID | None, subject: str, body: str) -> list[Any]:
    from prefect.events.actions import DoNothing, SendNotification

    if block_id is None:
        return [DoNothing()]
    return [SendNotification(block_document_id=block_id, subject=subject, body=body)]


def build_automations(flow_names: list[str], block_id: UUID | None) -> list[Automation]:
    """Return the two alert automations, not yet saved."""
    from prefect.automations import Automation
    from prefect.events.schemas.automations import EventTrigger, Posture

    failed_runs = EventTrigger(
        expect=set(FAILED_FLOW_RUN_STATES),
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related={"prefect.resource.role": "flow", "prefect.resource.name": flow_names},
        posture=Posture.Reactive,
        threshold=1,
    )
    failed_gifts = EventTrigger(
        expect={GIFTS_FAILED_EVENT},
        match={"prefect.resource.id": "gifting.*"},
        posture=Posture.Reactive,
        threshold=1,
    )
    return [
        Automation(
            name=FLOW_RUN_FAILED,
            description="A gifting flow run failed or crashed.",
            trigger=failed_runs,
            actions=_actions(block_id, "gifting flow run failed", FLOW_RUN_BODY),
        ),
        Automation(
            name=GIFTS_FAILED,
            description="A dispatch, tracking or resend run left gifts failed.",
            trigger=failed_gifts,
            actions=_actions(block_id, "gifting: gifts failed to send", GIFTS_BODY),
        ),
    ]


def create_alerts(slack_webhook_url: str | None = None) -> list[Automation]:
    """Create or replace the alert automations on the configured Prefect API."""
    from prefect.automations import Automation

    flow_names = [entry["name"] for entry in read_deployments()]
    block_id = save_slack_block(slack_webhook_url) if slack_webhook_url else None
    created = []
    for automation in build_automations(flow_names, block_id):
        _delete_existing(Automation, automation.name)
        created.append(automation.create())
    return created


def _delete_existing(automation_type: type[Automation], name: str) -> None:
    while True:
        try:
            existing = automation_type.read(name=name)
        except ValueError:  # Automation.read raises ValueError when no automation has the name
            return
        existing.delete()
