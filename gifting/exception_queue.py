"""The exception queue: failed gifts, their typed reasons and ages, and automatic remedies.

Two failures have a remedy that needs no person. An ``out_of_stock`` gift gets the next best
item in budget from another category. A gift whose address is invalid or undeliverable gets an
e-gift, which needs only an e-mail address. A remedied gift goes back to ``ready`` under a new
idempotency key, ``gift-<id>-r<n>``, because the vendor rejects a known key with a different
body. Every remedied or not, the account owner gets one CRM Task per failure.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from jinja2.sandbox import SandboxedEnvironment
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError
from sqlalchemy import Connection, Engine, func, insert, select

from gifting import ledger
from gifting.config import Catalog, ComplianceConfig, ProgramConfig, StageConfig
from gifting.errors import DataQualityError, GiftingError, RetriableError
from gifting.personalization.notes import NoteContext, render_note
from gifting.personalization.prepare import alcohol_blocked, stage_within_budget
from gifting.personalization.selection import (
    ItemSelector,
    Recipient,
    Selection,
    parse_preferences,
    primary_category,
)
from gifting.vendors.base import VendorErrorCode
from gifting.warehouse.schema import Account, Contact, Contract, Gift, GiftEvent

logger = logging.getLogger(__name__)

ACTOR = "exception-queue"
REPLACE_ITEM, SEND_EGIFT = "replace_item", "send_egift"
REMEDIES: dict[str, str] = {
    VendorErrorCode.OUT_OF_STOCK: REPLACE_ITEM,
    VendorErrorCode.ADDRESS_INVALID: SEND_EGIFT,
    "address_undeliverable": SEND_EGIFT,
}
# After this many reorders a gift waits for a person, so two out-of-stock items cannot alternate.
MAX_REMEDIES = 3
NOTIFIED = "owner notified"
_REORDER_KEY = re.compile(r"^gift-.+-r(\d+)$")
# Categories a contact already has, so a replacement does not repeat one (as personalization).
_TAKEN = (ledger.PLANNED, ledger.READY, ledger.SENDING, ledger.SENT, ledger.DELIVERED)


@dataclass(frozen=True)
class GiftException:
    """One failed gift in the queue.

    Attributes:
        reason: The typed failure reason, a ``VendorErrorCode`` value or a delivery failure.
        age: Time from the failure to ``as_of``.
        remedy: The automatic remedy for ``reason``, or ``None`` when a person must act.
    """

    gift_id: str
    account_id: str
    contact_id: str | None
    stage: str
    sku: str | None
    reason: str | None
    failed_at: datetime
    age: timedelta
    attempts: int
    remedy: str | None


class OwnerNotifier(Protocol):
    """Tells the account owner about a failed gift and returns the CRM record's Id."""

    def __call__(self, summary: dict[str, Any]) -> str: ...


class AttentionTaskWriter:
    """Creates an open CRM Task for the account owner about one failed gift.

    The description names the gift, the reason and the remedy, never the note or the address.
    """

    def __init__(self, sf: Salesforce, *, today: date) -> None:
        self.sf = sf
        self.today = today

    def __call__(self, summary: dict[str, Any]) -> str:
        fields = {
            "WhoId": summary["contact_id"],
            "WhatId": summary["contract_id"],
            "AccountId": summary["account_id"],
            "Subject": (
                f"Gift needs attention: {summary['stage']} gift failed ({summary['reason']})"
            ),
            "Description": (
                f"Gift id: {summary['id']}. Failure: {summary['reason']}. {summary['action']}"
            ),
            "Status": "Not Started",
            "Priority": "High",
            "Type": "Gift",
            "ActivityDate": self.today.isoformat(),
        }
        if summary.get("owner_id"):
            fields["OwnerId"] = summary["owner_id"]
        try:
            result = self.sf.Task.create(fields)
        except SalesforceError as error:
            raise RetriableError(
                f"creating the attention Task for gift {summary['id']} failed: {error}"
            ) from error
        return str(result["id"])


def list_exceptions(engine: Engine, *, as_of: datetime) -> list[GiftException]:
    """Return every failed gift, oldest failure first, with its age and automatic remedy."""
    query = select(Gift).where(Gift.status == ledger.FAILED).order_by(Gift.updated_at, Gift.id)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        GiftException(
            gift_id=row.id,
            account_id=row.account_id,
            contact_id=row.contact_id,
            stage=row.stage,
            sku=row.sku,
            reason=row.reason,
            failed_at=row.updated_at,
            age=as_of - row.updated_at,
            attempts=row.attempts,
            remedy=_remedy_for(row.reason, row.idempotency_key),
        )
        for row in rows
    ]


def _remedy_for(reason: str | None, key: str | None) -> str | None:
    remedy = REMEDIES.get(reason or "")
    return remedy if remedy and _reorder_count(key) < MAX_REMEDIES else None


def _reorder_count(key: str | None) -> int:
    match = _REORDER_KEY.match(key or "")
    return int(match.group(1)) if match else 0


def work_exception_queue(
    engine: Engine,
    program: ProgramConfig,
    catalog: Catalog,
    *,
    as_of: datetime,
    notes: SandboxedEnvironment | None = None,
    notify: OwnerNotifier | None = None,
) -> Counter[str]:
    """Apply the automatic remedy to every failed gift that has one and tell each owner once.

    Args:
        notes: Renders the card again with the new item's name. With ``None`` the old note is
            kept, and it may name the item that could not be sent.
        notify: Tells the account owner; ``None`` skips notifications.

    Returns:
        Counts such as ``remedied:replace_item``, ``waiting:email_bounced`` and ``notified``.
    """
    stages = {stage.name: stage for stage in program.stages}
    outcome: Counter[str] = Counter()
    for exception in list_exceptions(engine, as_of=as_of):
        action = _remedy(engine, exception, stages, catalog, program.compliance, notes, as_of)
        outcome[action.outcome] += 1
        if notify is not None and _notify_once(engine, exception, action.text, notify, as_of):
            outcome["notified"] += 1
    if outcome:
        logger.info("exception queue as of %s: %s", as_of, dict(outcome))
    return outcome


@dataclass(frozen=True)
class _Action:
    outcome: str
    text: str


def _remedy(
    engine: Engine,
    exception: GiftException,
    stages: dict[str, StageConfig],
    catalog: Catalog,
    compliance: ComplianceConfig,
    notes: SandboxedEnvironment | None,
    as_of: datetime,
) -> _Action:
    """Reorder one failed gift if its reason has a remedy, in one transaction."""
    stage = stages.get(exception.stage)
    waiting = _Action(f"waiting:{exception.reason}", "No automatic remedy: please review it.")
    if exception.remedy is None or stage is None:
        return waiting
    with engine.begin() as connection:
        context = _gift_context(connection, exception.gift_id)
        selection = _replacement(connection, exception, context, stage, catalog, compliance)
        if selection is None or selection.item.sku == exception.sku:
            return waiting
        values = _reorder_values(exception, selection, context, stage, notes)
        ledger.move(
            connection,
            exception.gift_id,
            ledger.FAILED,
            ledger.READY,
            at=as_of,
            actor=ACTOR,
            reason=f"{exception.reason}: {exception.sku} -> {selection.item.sku}"[:64],
            **values,
        )
    logger.info(
        "gift %s reordered as %s (%s)", exception.gift_id, selection.item.sku, exception.remedy
    )
    return _Action(
        f"remedied:{exception.remedy}",
        f"Reordered automatically as {selection.item.name} ({selection.item.sku}).",
    )


def _gift_context(connection: Connection, gift_id: str) -> Any:
    query = (
        select(
            Gift.contact_id,
            Gift.idempotency_key,
            Gift.budget_min,
            Gift.budget_max,
            Account.name.label("company"),
            Account.industry,
            Account.gift_policy_no_alcohol,
            Contact.first_name,
            Contact.title,
            Contact.email,
            Contact.country,
            Contact.street,
            Contact.preferences,
            Contract.use_case,
            Contract.goals,
        )
        .join(Contract, Contract.id == Gift.contract_id)
        .join(Account, Account.id == Gift.account_id)
        .join(Contact, Contact.id == Gift.contact_id)
        .where(Gift.id == gift_id)
    )
    return connection.execute(query).one_or_none()


def _replacement(
    connection: Connection,
    exception: GiftException,
    context: Any,
    stage: StageConfig,
    catalog: Catalog,
    compliance: ComplianceConfig,
) -> Selection | None:
    """Choose the new item: another category for stock, an e-gift for a bad address.

    The choice follows personalization's rules: the gift's budget as compliance capped it, the
    note card when compliance allows nothing else, and no alcohol where the recipient, the
    account's policy, its industry or the destination country rules it out.
    """
    if context is None:
        return None
    taken = _categories_taken(connection, exception, stage, catalog)
    failed_item = next((item for item in catalog.items if item.sku == exception.sku), None)
    if failed_item is not None and (category := primary_category(failed_item, stage)):
        taken.add(category)
    send_egift = exception.remedy == SEND_EGIFT
    if send_egift and not context.email:
        return None
    recipient = Recipient(
        country=context.country,
        has_address=bool(context.street) and not send_egift,
        preferences=parse_preferences(context.preferences),
        categories_received=frozenset(taken),
        industry=context.industry,
        alcohol_blocked=alcohol_blocked(context, compliance.alcohol),
    )
    selector = ItemSelector(catalog, note_only_sku=compliance.note_only_sku)
    return selector.select(stage_within_budget(stage, context), recipient)


def _categories_taken(
    connection: Connection, exception: GiftException, stage: StageConfig, catalog: Catalog
) -> set[str]:
    items = {item.sku: item for item in catalog.items}
    skus = connection.scalars(
        select(Gift.sku).where(
            Gift.contact_id == exception.contact_id,
            Gift.id != exception.gift_id,
            Gift.status.in_(_TAKEN),
            Gift.sku.is_not(None),
        )
    )
    taken = set()
    for sku in skus:
        if (item := items.get(sku)) and (category := primary_category(item, stage)):
            taken.add(category)
    return taken


def _reorder_values(
    exception: GiftException,
    selection: Selection,
    context: Any,
    stage: StageConfig,
    notes: SandboxedEnvironment | None,
) -> dict[str, Any]:
    reorder = _reorder_count(context.idempotency_key) + 1
    values: dict[str, Any] = {
        "sku": selection.item.sku,
        "item_name": selection.item.name,
        "price": selection.item.price,
        "currency": selection.item.currency,
        "selection_reasons": [f"replaces {exception.sku} ({exception.reason})", *selection.reasons],
        "idempotency_key": f"gift-{exception.gift_id}-r{reorder}",
        # The old order failed for good; events about it must not move the new order's gift.
        "vendor_order_id": None,
    }
    if notes is not None:
        note_context = NoteContext(
            first_name=context.first_name,
            company=context.company,
            title=context.title,
            stage=stage.name,
            purpose=stage.purpose,
            item_name=selection.item.name,
            use_case=context.use_case,
            goals=context.goals,
        )
        try:
            values["note"] = render_note(
                notes, stage.template, note_context, card_format=selection.item.note_format
            )
        except DataQualityError as error:
            logger.warning("gift %s: note kept, new one not rendered: %s", exception.gift_id, error)
    return values


def _notify_once(
    engine: Engine, exception: GiftException, action: str, notify: OwnerNotifier, as_of: datetime
) -> bool:
    """Notify the account owner about this failure unless a notification was already recorded.

    A marker row in ``gift_events`` (actor ``exception-queue``) after the failure records the
    notification. If the CRM call fails, no marker is written, so the next run tries again while
    the gift is still failed.
    """
    with engine.connect() as connection:
        if _notified_since_failure(connection, exception.gift_id):
            return False
        summary = _notification(connection, exception, action)
    try:
        task_id = notify(summary)
    except GiftingError as error:
        logger.warning("gift %s: owner not notified: %s", exception.gift_id, error)
        return False
    with engine.begin() as connection:
        status = connection.scalar(select(Gift.status).where(Gift.id == exception.gift_id))
        connection.execute(
            insert(GiftEvent).values(
                gift_id=exception.gift_id,
                occurred_at=as_of,
                from_status=status,
                to_status=status,
                actor=ACTOR,
                reason=f"{NOTIFIED}: {task_id}",
            )
        )
    return True


def _notified_since_failure(connection: Connection, gift_id: str) -> bool:
    events = select(func.max(GiftEvent.id)).where(GiftEvent.gift_id == gift_id)
    failed = connection.scalar(
        events.where(GiftEvent.to_status == ledger.FAILED, GiftEvent.from_status != ledger.FAILED)
    )
    notified = connection.scalar(
        events.where(GiftEvent.actor == ACTOR, GiftEvent.reason.like(f"{NOTIFIED}:%"))
    )
    return notified is not None and (failed is None or notified > failed)


def _notification(connection: Connection, exception: GiftException, action: str) -> dict[str, Any]:
    row = connection.execute(
        select(Gift.contract_id, Account.owner_id)
        .join(Account, Account.id == Gift.account_id)
        .where(Gift.id == exception.gift_id)
    ).one()
    return {
        "id": exception.gift_id,
        "contract_id": row.contract_id,
        "account_id": exception.account_id,
        "contact_id": exception.contact_id,
        "owner_id": row.owner_id,
        "stage": exception.stage,
        "reason": exception.reason,
        "action": action,
    }
