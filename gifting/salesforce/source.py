"""Choose where one sync pass reads its records: REST pages or a Bulk API 2.0 query job.

A ``COUNT()`` query decides. Above ``sync.bulk_threshold`` changed records the pass reads a Bulk
API job, which Salesforce must finish before its first record can be read. ``prepare_job``
starts the job of the next object while the current one is still being read, so Salesforce builds
it in the meantime. The pass then reads that job if it still needs the same query.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from simple_salesforce import format_soql

from gifting.salesforce import mapping
from gifting.salesforce.bulk import create_query_job, delete_query_job, stream_bulk_query
from gifting.salesforce.config import FieldMapping
from gifting.salesforce.query import QueryProgress, stream_query
from gifting.salesforce.session import SalesforceSession

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedJob:
    """A Bulk API query job started for ``soql`` before the pass that reads it began."""

    sobject: str
    soql: str
    job_id: str


def soql_datetime(value: datetime) -> str:
    """Format an aware datetime as SOQL's unquoted UTC literal ``2026-01-01T00:00:00Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_count_query(sobject: str, since: datetime | None) -> str:
    """Build the ``COUNT()`` query that decides between REST pages and a Bulk API job."""
    if since is None:
        return f"SELECT COUNT() FROM {sobject}"
    return format_soql(
        f"SELECT COUNT() FROM {sobject} WHERE SystemModstamp > {{:literal}}", soql_datetime(since)
    )


def bulk_count(
    session: SalesforceSession, sobject: str, since: datetime | None, fields: FieldMapping
) -> int | None:
    """Count the records changed since ``since``; return None when REST pages will do."""
    threshold = fields.sync.bulk_threshold
    if threshold is None:
        return None
    count = session.query(build_count_query(sobject, since), include_deleted=True)
    matched = count.get("totalSize") or 0
    return matched if matched > threshold else None


def prepare_job(
    session: SalesforceSession,
    sobject: str,
    since: datetime | None,
    soql: str,
    fields: FieldMapping,
) -> PreparedJob | None:
    """Start the Bulk API job a pass over ``sobject`` from ``since`` will read, if it needs one."""
    matched = bulk_count(session, sobject, since, fields)
    if matched is None:
        return None
    logger.info("starting the Bulk API query job for %d %s records ahead", matched, sobject)
    return PreparedJob(sobject, soql, create_query_job(session, soql, include_deleted=True))


def discard_job(session: SalesforceSession, prepared: PreparedJob) -> None:
    """Delete a prepared job that no pass will read."""
    logger.info("deleting unused Bulk API query job %s on %s", prepared.job_id, prepared.sobject)
    delete_query_job(session, prepared.job_id)


def read_records(
    session: SalesforceSession,
    sobject: str,
    since: datetime | None,
    soql: str,
    progress: QueryProgress,
    fields: FieldMapping,
    prepared: PreparedJob | None = None,
) -> Iterator[dict[str, Any]]:
    """Return the query's records from REST pages, or from a Bulk API job above the threshold.

    A ``prepared`` job for the same query is read instead of counting and starting a new one; a
    prepared job for another query, such as one from an older watermark, is deleted.
    """
    job_id = None
    if prepared is not None and prepared.soql == soql:
        job_id = prepared.job_id
    else:
        if prepared is not None:
            discard_job(session, prepared)
        matched = bulk_count(session, sobject, since, fields)
        if matched is None:
            return stream_query(session, soql, progress, include_deleted=True)
        logger.info(
            "reading %d %s records through a Bulk API query job (bulk_threshold %d)",
            matched, sobject, fields.sync.bulk_threshold,
        )  # fmt: skip
    return stream_bulk_query(
        session,
        soql,
        progress,
        kinds=mapping.field_kinds(sobject, fields),
        options=fields.sync,
        include_deleted=True,
        job_id=job_id,
    )
