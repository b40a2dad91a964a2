"""Bulk API 2.0 query jobs for the Salesforce sandbox, under ``/services/data/vNN.N/jobs/query``.

A job runs its SOQL through the same ``QueryPlan`` as the REST query resources and writes the
rows as CSV to a file on disk, remembering where each record starts. A results request then
serves ``maxRecords`` rows from a locator without reading the rest, so neither the job nor a page
holds the whole result in memory. Shapes follow Salesforce's Bulk API 2.0 reference: job info as
JSON, results as UTF-8 CSV with a header row on every page, the ``Sforce-NumberOfRecords`` and
``Sforce-Locator`` headers, and the locator ``null`` on the last page.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import logging
import secrets
import shutil
import string
import tempfile
import threading
import time
from array import array
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from gifting.sandbox.org import OrgStore, to_18
from gifting.sandbox.salesforce_api import ApiError, ApiRequest, ApiResponse, not_found
from gifting.sandbox.soql import SoqlError, parse_soql
from gifting.sandbox.soql_eval import QueryPlan, ResolvedField, SelectedRecord, prepare

logger = logging.getLogger(__name__)

CSV_CONTENT_TYPE = "text/csv;charset=UTF-8"
DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
# Rows per results page when the request names no maxRecords; Salesforce picks its own default.
DEFAULT_MAX_RECORDS = 10_000
# Jobs kept with their result files. Salesforce keeps query jobs for 7 days; the sandbox keeps
# the newest ones, so disk use stays bounded.
MAX_JOBS = 50


@dataclass
class _Job:
    id: str
    operation: str
    sobject: str
    version: str
    delimiter: str
    line_ending: str
    created_at: datetime
    path: Path
    state: str = "UploadComplete"
    error_message: str | None = None
    records: int = 0
    processing_ms: int = 0
    modified_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Byte offset where each record starts, then the file's end.
    offsets: array[int] = field(default_factory=lambda: array("Q"))
    header: bytes = b""


class BulkQueryJobs:
    """The ``jobs/query`` resources over one ``OrgStore``.

    Args:
        store: The org's records.
        user_id: Reported as each job's ``createdById``.
    """

    def __init__(self, store: OrgStore, *, user_id: str) -> None:
        self.store = store
        self.user_id = user_id
        self._jobs: OrderedDict[str, _Job] = OrderedDict()
        self._lock = threading.Lock()
        self._directory: Path | None = None
        self._failures: list[str] = []

    def close(self) -> None:
        """Forget every job and remove the result files."""
        with self._lock:
            directory, self._directory = self._directory, None
            self._jobs.clear()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def job_count(self) -> int:
        """Return the number of jobs not yet deleted."""
        with self._lock:
            return len(self._jobs)

    def fail_next_jobs(self, message: str, count: int = 1) -> None:
        """Make the next ``count`` jobs end in state ``Failed`` with ``message``."""
        with self._lock:
            self._failures.extend([message] * count)

    def handle(self, request: ApiRequest, version: str, resource: str) -> ApiResponse:
        """Serve ``/jobs/query`` and its sub-resources; ``resource`` starts at ``/jobs``."""
        parts = [part for part in resource.split("/") if part]
        if parts[:2] != ["jobs", "query"] or len(parts) > 4:
            raise not_found()
        if len(parts) == 2:
            _allow(request, "POST")
            return self._create(request, version)
        job = self._job(parts[2])
        if len(parts) == 4:
            if parts[3] != "results":
                raise not_found()
            _allow(request, "GET")
            return self._results(job, request)
        _allow(request, "GET", "PATCH", "DELETE")
        if request.method == "GET":
            return ApiResponse(200, self._info(job))
        if request.method == "PATCH":
            return self._abort(job, request)
        self._delete(job)
        return ApiResponse(204)

    # --- create and run ----------------------------------------------------------------------

    def _create(self, request: ApiRequest, version: str) -> ApiResponse:
        body = _json_object(request.body)
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise ApiError(
                400, "API_ERROR", f"Invalid operation {operation!r}: use query or queryAll"
            )
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "API_ERROR", "A query job needs a query")
        if body.get("contentType", "CSV") != "CSV":
            raise ApiError(400, "API_ERROR", "contentType must be CSV")
        delimiter = body.get("columnDelimiter", "COMMA")
        line_ending = body.get("lineEnding", "LF")
        if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
            raise ApiError(
                400,
                "API_ERROR",
                f"Invalid columnDelimiter {delimiter!r} or lineEnding {line_ending!r}",
            )
        plan = self._plan(text)
        job_id = _job_id()
        now = datetime.now(UTC)
        with self._lock:
            if self._directory is None:
                self._directory = Path(tempfile.mkdtemp(prefix="gifting-sf-bulk-"))
            directory = self._directory
        job = _Job(
            id=job_id,
            operation=operation,
            sobject=plan.sobject,
            version=version,
            delimiter=delimiter,
            line_ending=line_ending,
            created_at=now,
            path=directory / f"{job_id}.csv",
        )
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
            self._jobs[job_id] = job
            while len(self._jobs) > MAX_JOBS:
                _, oldest = self._jobs.popitem(last=False)
                oldest.path.unlink(missing_ok=True)
        worker = threading.Thread(
            target=self._run, args=(job, plan, failure), name=f"bulk-{job_id}", daemon=True
        )
        worker.start()
        logger.info("created Bulk API query job %s on %s", job_id, plan.sobject)
        return ApiResponse(200, self._info(job, created=True))

    def _plan(self, text: str) -> QueryPlan:
        """Check the query as Salesforce does when the job is created, not when it runs."""
        try:
            query = parse_soql(text)
            plan = prepare(query, self.store)
        except SoqlError as error:
            raise ApiError(400, error.error_code, str(error)) from error
        # NOTE: Salesforce documents that Bulk API 2.0 rejects COUNT() and OFFSET; the error code
        # it sends for them is not documented, so API_ERROR is a guess.
        if query.count_only or query.offset is not None:
            raise ApiError(
                400, "API_ERROR", "Bulk API 2.0 query jobs do not support COUNT() or OFFSET"
            )
        return plan

    def _run(self, job: _Job, plan: QueryPlan, failure: str | None) -> None:
        started = time.perf_counter()
        self._set_state(job, "InProgress")
        try:
            if failure is not None:
                raise RuntimeError(failure)
            self._write_results(job, plan)
        except Exception as error:  # a failed job reports its error instead of raising
            logger.warning("Bulk API query job %s failed: %s", job.id, error)
            job.error_message = str(error)
            self._set_state(job, "Failed")
            return
        job.processing_ms = int((time.perf_counter() - started) * 1000)
        self._set_state(job, "JobComplete")
        logger.info("Bulk API query job %s wrote %d records", job.id, job.records)

    def _write_results(self, job: _Job, plan: QueryPlan) -> None:
        include_deleted = job.operation == "queryAll"
        buffer = io.StringIO()
        writer = csv.writer(
            buffer,
            delimiter=DELIMITERS[job.delimiter],
            lineterminator=LINE_ENDINGS[job.line_ending],
            quoting=csv.QUOTE_ALL,
        )

        def encode_row(values: list[str]) -> bytes:
            buffer.seek(0)
            buffer.truncate()
            writer.writerow(values)
            return buffer.getvalue().encode("utf-8")

        job.header = encode_row([_column_name(resolved) for resolved in plan.selected])
        position = 0
        with job.path.open("wb") as output:
            for row in plan.records(include_deleted=include_deleted):
                line = encode_row([_csv_value(row, resolved) for resolved in plan.selected])
                job.offsets.append(position)
                output.write(line)
                position += len(line)
                job.records += 1
        job.offsets.append(position)

    # --- read --------------------------------------------------------------------------------

    def _results(self, job: _Job, request: ApiRequest) -> ApiResponse:
        if job.state != "JobComplete":
            # NOTE: the error code for results requested too early is not documented.
            raise ApiError(
                400, "API_ERROR", f"Job {job.id} is in state {job.state}, not JobComplete"
            )
        start = _locator_start(request.params.get("locator", [""])[0], job.records)
        size = _max_records(request.params.get("maxRecords", [""])[0])
        end = min(start + size, job.records)
        with job.path.open("rb") as results:
            results.seek(job.offsets[start])
            rows = results.read(job.offsets[end] - job.offsets[start])
        locator = _encode_locator(end) if end < job.records else "null"
        headers = {
            "Content-Type": CSV_CONTENT_TYPE,
            "Sforce-NumberOfRecords": str(end - start),
            "Sforce-Locator": locator,
        }
        return ApiResponse(200, job.header + rows, headers)

    def _info(self, job: _Job, *, created: bool = False) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": job.id,
            "operation": job.operation,
            "object": job.sobject,
            "createdById": self.user_id,
            "createdDate": _timestamp(job.created_at),
            "systemModstamp": _timestamp(job.modified_at),
            "state": "UploadComplete" if created else job.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(job.version),
            "lineEnding": job.line_ending,
            "columnDelimiter": job.delimiter,
        }
        if created:
            return info
        info["jobType"] = "V2Query"
        info["numberRecordsProcessed"] = job.records if job.state == "JobComplete" else 0
        info["retries"] = 0
        info["totalProcessingTime"] = job.processing_ms
        if job.error_message is not None:
            info["errorMessage"] = job.error_message
        return info

    def _abort(self, job: _Job, request: ApiRequest) -> ApiResponse:
        if _json_object(request.body).get("state") != "Aborted":
            raise ApiError(400, "API_ERROR", "A query job can only be set to state Aborted")
        if job.state in ("JobComplete", "Failed", "Aborted"):
            raise ApiError(400, "API_ERROR", f"Job {job.id} is already {job.state}")
        self._set_state(job, "Aborted")
        return ApiResponse(200, self._info(job))

    def _delete(self, job: _Job) -> None:
        with self._lock:
            self._jobs.pop(job.id, None)
        job.path.unlink(missing_ok=True)
        logger.info("deleted Bulk API query job %s", job.id)

    def _job(self, job_id: str) -> _Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise not_found()
        return job

    def _set_state(self, job: _Job, state: str) -> None:
        with self._lock:
            if job.state != "Aborted":
                job.state = state
                job.modified_at = datetime.now(UTC)


def _column_name(resolved: ResolvedField) -> str:
    """Name a column as Salesforce does: relationship names, then the field (``Account.Name``)."""
    return ".".join([*(name for name, _ in resolved.hops), resolved.name])


def _csv_value(row: SelectedRecord, resolved: ResolvedField) -> str:
    """Format one field for CSV; a null, or a path through an empty lookup, is an empty field."""
    target: SelectedRecord | None = row
    for name, _ in resolved.hops:
        target = target.fields.get(name) if target is not None else None
    value = None if target is None else target.fields.get(resolved.name)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        utc = value.astimezone(UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _timestamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def _job_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return to_18("7505g" + "".join(secrets.choice(alphabet) for _ in range(10)))


def _encode_locator(position: int) -> str:
    """Encode a row position the way Salesforce's locators look: unpadded base64 of digits."""
    return base64.b64encode(str(position).encode()).decode().rstrip("=")


def _locator_start(locator: str, records: int) -> int:
    if locator in ("", "null"):
        return 0
    try:
        position = int(base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True))
    except (binascii.Error, ValueError):
        position = -1
    if not 0 <= position <= records:
        raise ApiError(400, "INVALID_LOCATOR", f"Invalid locator {locator!r}")
    return position


def _max_records(text: str) -> int:
    if text == "":
        return DEFAULT_MAX_RECORDS
    if not text.isdigit() or int(text) < 1:
        raise ApiError(400, "API_ERROR", f"maxRecords must be a positive integer, not {text!r}")
    return int(text)


def _allow(request: ApiRequest, *methods: str) -> None:
    if request.method not in methods:
        raise ApiError(
            405,
            "METHOD_NOT_ALLOWED",
            f"HTTP Method '{request.method}' not allowed. Allowed are {','.join(methods)}",
        )


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiError(400, "API_ERROR", f"Invalid JSON body: {error}") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "API_ERROR", "The request body must be a JSON object")
    return payload
