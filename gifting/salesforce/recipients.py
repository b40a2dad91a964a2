"""Link synced contracts to their recipient, the primary contact role or a lookup field."""

from __future__ import annotations

import logging
from datetime import datetime

from simple_salesforce import format_soql
from sqlalchemy import Engine, func, select, update

from gifting.errors import DataQualityError
from gifting.salesforce import mapping
from gifting.salesforce.query import QueryProgress, stream_query
from gifting.salesforce.session import SalesforceSession, SessionExpired
from gifting.warehouse.batching import chunked
from gifting.warehouse.schema import Contract

logger = logging.getLogger(__name__)

CHUNK_SIZE = 200  # Ids per IN list, well under SOQL's 100,000-character query limit


def link_primary_contacts(session: SalesforceSession, engine: Engine) -> int:
    """Give every won contract without a recipient its primary OpportunityContactRole.

    Roles are looked up by contract Id rather than synced by watermark, so a role created before
    its deal was first seen is still found. The updates are idempotent, so a chunk interrupted by
    an expired session is sent again after one reconnect.
    """
    with engine.connect() as connection:
        pending = connection.scalars(
            select(Contract.id).where(Contract.contact_id.is_(None), Contract.status == "won")
        ).all()
    linked = 0
    for chunk in chunked(list(pending), CHUNK_SIZE):
        try:
            linked += _link_chunk(session, engine, chunk)
        except SessionExpired:
            logger.warning("Salesforce session expired while linking contacts; logging in again")
            session.reconnect()
            linked += _link_chunk(session, engine, chunk)
    logger.info("linked %d contracts to their primary contact", linked)
    return linked


def _link_chunk(session: SalesforceSession, engine: Engine, chunk: list[str]) -> int:
    soql = format_soql(
        "SELECT OpportunityId, ContactId, Role FROM OpportunityContactRole "
        "WHERE IsPrimary = true AND OpportunityId IN {}",
        chunk,
    )
    linked = 0
    with engine.begin() as connection:
        for record in stream_query(session, soql, QueryProgress()):
            try:
                contract_id = mapping.salesforce_id(record, "OpportunityId", required=True)
                contact_id = mapping.salesforce_id(record, "ContactId", required=True)
            except DataQualityError as error:
                logger.warning("skipped contact role %s: %s", record.get("Id"), error)
                continue
            connection.execute(
                update(Contract)
                .where(Contract.id == contract_id)
                .values(contact_id=contact_id, contact_role=record.get("Role"))
            )
            linked += 1
    return linked


def count_lookup_recipients(engine: Engine, synced_at: datetime) -> int:
    """Count contracts written in this run whose lookup field named a recipient."""
    with engine.connect() as connection:
        return (
            connection.scalar(
                select(func.count())
                .select_from(Contract)
                .where(Contract.synced_at == synced_at, Contract.contact_id.is_not(None))
            )
            or 0
        )
