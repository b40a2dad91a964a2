"""Read a large query through a Bulk API 2.0 query job instead of REST pages of 2,000 records.

A job costs a handful of API requests however many records it returns: create it, poll its state
until ``JobComplete``, then fetch the CSV results ``bulk_page_size`` records at a time by
following the ``Sforce-Locator`` header until it is ``null``. Records are parsed from a page as
they are used while the next page downloads, so memory stays at two pages of bytes. The job is
deleted afterwards, whether or not the read finished. The query keeps its ``ORDER BY
SystemModstamp``; should a job return rows out of that order, ``WatermarkTracker`` moves the
watermark only once the whole read is stored.

The requests go through ``SalesforceSession.call`` for retries, the API budget and error
translation. simple-salesforce 1.12's ``bulk2`` helpers are not used: they poll on their own
schedule for up to 24 hours without a budget check, return each page as one decoded string, and
``delete_job`` parses the empty 204 response as JSON.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from simple_salesforce.util import call_salesforce

from gifting.errors import PermanentError, RetriableError
from gifting.salesforce.bulk_csv import FieldKind, read_csv_records
from gifting.salesforce.config import SyncOptions
from gifting.salesforce.query import QueryProgress
from gifting.salesforce.session import SalesforceSession

logger = logging.getLogger(__name__)

MAX_POLL_INTERVAL_S = 30.0
FINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})


class BulkQueryFailed(RetriableError):
    """A Bulk API 2.0 query job ended in ``Failed`` or ``Aborted``, or did not finish in time.

    No record of the job was stored, so the watermark is unchanged and the next run reads the
    same records again.
    """


def stream_bulk_query(
    session: SalesforceSession,
    soql: str,
    progress: QueryProgress,
    *,
    kinds: dict[str, FieldKind],
    options: SyncOptions,
    include_deleted: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    job_id: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield every record of ``soql`` from a Bulk API 2.0 query job, typed as REST sends them.

    The job is deleted when the read ends, whether or not it finished.

    Args:
        session: The logged-in session.
        soql: The query; Bulk API 2.0 rejects ``COUNT()`` and ``OFFSET``.
        progress: Updated as records arrive; ``total_size`` is the job's record count.
        kinds: Kind of each non-text column, for converting CSV text back to JSON values.
        options: Page size, first polling interval and timeout of the job.
        include_deleted: Run ``queryAll``, which also returns deleted records.
        sleep: Waits between status checks; tests pass a recorder.
        job_id: A job that ``create_query_job`` already started for ``soql``; None creates one.

    Raises:
        BulkQueryFailed: The job failed, was aborted, or ran past ``bulk_timeout_s``.
        QueryRejected: Salesforce rejected the query when the job was created.
    """
    if job_id is None:
        job_id = create_query_job(session, soql, include_deleted=include_deleted)
    try:
        info = _wait_for_job(session, job_id, options, sleep)
        progress.total_size = int(info.get("numberRecordsProcessed") or 0)
        yield from _read_results(session, job_id, progress, kinds, options.bulk_page_size)
        progress.done = True
    finally:
        delete_query_job(session, job_id)
    if progress.mismatch:
        logger.warning(
            "Bulk API query job %s returned %d records but reported %s processed",
            job_id, progress.received, progress.total_size,
        )  # fmt: skip


def create_query_job(session: SalesforceSession, soql: str, *, include_deleted: bool) -> str:
    """Start a Bulk API 2.0 query job for ``soql`` and return its id without waiting for it.

    Raises:
        QueryRejected: Salesforce rejected the query.
    """
    operation = "queryAll" if include_deleted else "query"
    job = session.call(
        "query job",
        lambda: session.client.restful(
            "jobs/query",
            method="POST",
            json={"operation": operation, "query": soql, "contentType": "CSV"},
            timeout=session.timeout_s,
        ),
    )
    job_id = str(job["id"])
    logger.info("created Bulk API query job %s on %s", job_id, job.get("object"))
    return job_id


def _wait_for_job(
    session: SalesforceSession,
    job_id: str,
    options: SyncOptions,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    """Poll the job until it reaches a final state, waiting half as long again each time.

    Growing by half rather than doubling keeps the wait after a job finishes under half its
    run time, while a long job is still checked at most every 30 s.
    """
    deadline = time.monotonic() + options.bulk_timeout_s
    interval = options.bulk_poll_interval_s
    while True:
        info = _job_info(session, job_id)
        state = info.get("state")
        if state in FINAL_STATES:
            break
        if time.monotonic() + interval > deadline:
            _abort_job(session, job_id)
            raise BulkQueryFailed(
                f"Salesforce Bulk API query job {job_id} was still {state} after "
                f"{options.bulk_timeout_s:.0f} s and was aborted: raise sync.bulk_timeout_s "
                "in config/salesforce.yaml, or the next run tries again"
            )
        logger.debug("Bulk API query job %s is %s; next check in %.1f s", job_id, state, interval)
        sleep(interval)
        interval = min(interval * 1.5, MAX_POLL_INTERVAL_S)
    if state != "JobComplete":
        message = info.get("errorMessage") or "no errorMessage given"
        logger.error("Bulk API query job %s on %s ended %s", job_id, info.get("object"), state)
        raise BulkQueryFailed(
            f"Salesforce Bulk API query job {job_id} on {info.get('object')} ended in state "
            f"{state}: {message}. No record was stored, so the next run reads them again; to "
            "read through REST pages instead, set sync.bulk_threshold to null in "
            "config/salesforce.yaml"
        )
    return info


def _job_info(session: SalesforceSession, job_id: str) -> dict[str, Any]:
    return session.call(
        "query job status",
        lambda: session.client.restful(f"jobs/query/{job_id}", timeout=session.timeout_s),
    )


def _read_results(
    session: SalesforceSession,
    job_id: str,
    progress: QueryProgress,
    kinds: dict[str, FieldKind],
    page_size: int,
) -> Iterator[dict[str, Any]]:
    """Yield the job's records page by page, fetching the next page while this one is read.

    A page's locator arrives in its headers, so the next request can go out before the current
    page is parsed; at most two pages of bytes are held at once.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk-results") as fetcher:
        pending = fetcher.submit(_results_page, session, job_id, "", page_size)
        while pending is not None:
            response = pending.result()
            progress.pages += 1
            locator = response.headers.get("Sforce-Locator") or "null"
            pending = None
            if locator != "null":
                pending = fetcher.submit(_results_page, session, job_id, locator, page_size)
            logger.debug(
                "Bulk API job %s page %d: %s records",
                job_id, progress.pages, response.headers.get("Sforce-NumberOfRecords"),
            )  # fmt: skip
            for record in read_csv_records(response.content, kinds):
                progress.received += 1
                yield record


def _results_page(
    session: SalesforceSession, job_id: str, locator: str, page_size: int
) -> requests.Response:
    client = session.client
    params: dict[str, Any] = {"maxRecords": page_size}
    if locator:
        params["locator"] = locator
    headers = {**client.headers, "Accept": "text/csv"}
    url = f"{client.bulk2_url}query/{job_id}/results"
    return session.call(
        "query job results",
        lambda: call_salesforce(
            url, "GET", client.session, headers, params=params, timeout=session.timeout_s
        ),
    )


def _abort_job(session: SalesforceSession, job_id: str) -> None:
    session.call(
        "query job abort",
        lambda: session.client.restful(
            f"jobs/query/{job_id}",
            method="PATCH",
            json={"state": "Aborted"},
            timeout=session.timeout_s,
        ),
    )


def delete_query_job(session: SalesforceSession, job_id: str) -> None:
    """Delete the job and its results; a failure is logged, since Salesforce expires jobs."""
    try:
        session.call(
            "query job delete",
            lambda: session.client.restful(
                f"jobs/query/{job_id}", method="DELETE", timeout=session.timeout_s
            ),
        )
    except (PermanentError, RetriableError) as error:
        logger.warning("failed to delete Bulk API query job %s: %s", job_id, error)
        return
    logger.debug("deleted Bulk API query job %s", job_id)
