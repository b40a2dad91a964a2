"""The REST resources of the Salesforce sandbox under ``/services/data/vNN.N``.

This module turns an authenticated request into a response and contains no HTTP or auth code, so
``salesforce_server`` can wrap it. Response and error bodies follow the shapes the Salesforce
REST API sends: errors are ``[{"message": ..., "errorCode": ...}]`` lists.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import string
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gifting.errors import PermanentError
from gifting.sandbox.org import KEY_PREFIXES, RELATIONSHIPS, OrgStore, to_18
from gifting.sandbox.salesforce_json import (
    FieldValueError,
    parse_field_value,
    selected_record_json,
    stored_record_json,
)
from gifting.sandbox.salesforce_schema import READ_ONLY_FIELDS, canonical_sobject, describe_object
from gifting.sandbox.soql import SoqlError, run_soql

logger = logging.getLogger(__name__)

_VERSIONED_PATH = re.compile(r"^/services/data/v(?P<version>\d+\.\d+)(?P<resource>/.*)?$")
_QUERY_PATH = re.compile(r"^/(?P<endpoint>query|queryAll)/?$")
_CURSOR_PATH = re.compile(
    r"^/(?P<endpoint>query|queryAll)/(?P<locator>01g[0-9A-Za-z]+)-(?P<start>\d+)/?$"
)
_SOBJECT_PATH = re.compile(r"^/sobjects/(?P<sobject>\w+)/?$")
_RECORD_PATH = re.compile(r"^/sobjects/(?P<sobject>\w+)/(?P<record_id>\w+)/?$")

# Query cursors kept for nextRecordsUrl. Salesforce expires them after about 15 minutes of
# inactivity; the sandbox keeps the newest ones instead, so memory stays bounded.
MAX_OPEN_CURSORS = 1000


@dataclass(frozen=True)
class ApiRequest:
    """One request, already authenticated.

    Attributes:
        method: HTTP method in upper case.
        path: URL path without the query string.
        params: Decoded query-string parameters, each with all its values.
        body: Raw request body.
    """

    method: str
    path: str
    params: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class ApiResponse:
    """Status, body and extra headers.

    The body is JSON-serialisable, None for an empty body, or bytes sent as they are under the
    ``Content-Type`` in ``headers``.
    """

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(PermanentError):
    """A request the REST API rejects, with the status and ``errorCode`` Salesforce uses."""

    def __init__(
        self, status: int, error_code: str, message: str, *, fields: list[str] | None = None
    ) -> None:
        super().__init__(message, reason=error_code.lower())
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields

    def to_response(self) -> ApiResponse:
        error: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            error["fields"] = self.fields
        return ApiResponse(self.status, [error])


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")


@dataclass
class _Cursor:
    records: list[dict[str, Any]]
    total_size: int


class SalesforceApi:
    """Query, sObject, limits and version resources over one ``OrgStore``.

    Args:
        store: The org's records.
        page_size: Records per query page; Salesforce's default batch is 2000.
        api_request_limit: Daily API allocation that ``/limits`` reports.
        api_usage: Returns the number of API requests served so far.
        bulk: Serves ``/jobs/...`` (Bulk API 2.0) from the request, version and resource path.
    """

    def __init__(
        self,
        store: OrgStore,
        *,
        page_size: int,
        api_request_limit: int,
        api_usage: Callable[[], int],
        bulk: Callable[[ApiRequest, str, str], ApiResponse] | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self.store = store
        self.page_size = page_size
        self.api_request_limit = api_request_limit
        self._api_usage = api_usage
        self._bulk = bulk
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._lock = threading.Lock()

    def handle(self, request: ApiRequest) -> ApiResponse:
        """Route a request under ``/services/data/vNN.N`` to its resource."""
        match = _VERSIONED_PATH.match(request.path)
        if match is None:
            raise not_found()
        version = match["version"]
        resource = match["resource"] or "/"
        if resource == "/":
            _allow(request, "GET")
            return ApiResponse(200, self._resources(version))
        if resource.rstrip("/") == "/limits":
            _allow(request, "GET")
            return ApiResponse(200, self._limits())
        return self._route_data(request, version, resource)

    def _route_data(self, request: ApiRequest, version: str, resource: str) -> ApiResponse:
        if match := _QUERY_PATH.match(resource):
            _allow(request, "GET")
            return self._query(request, version, match["endpoint"])
        if match := _CURSOR_PATH.match(resource):
            _allow(request, "GET")
            return self._next_page(
                version, match["endpoint"], match["locator"], int(match["start"])
            )
        if self._bulk is not None and resource.startswith("/jobs/"):
            return self._bulk(request, version, resource)
        if match := _SOBJECT_PATH.match(resource):
            _allow(request, "POST")
            return self._create(match["sobject"], request.body)
        if match := _RECORD_PATH.match(resource):
            _allow(request, "GET", "PATCH", "DELETE")
            return self._record(request, version, match["sobject"], match["record_id"])
        raise not_found()

    def _resources(self, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}"
        return {name: f"{base}/{name}" for name in ("limits", "query", "queryAll", "sobjects")}

    def _limits(self) -> dict[str, dict[str, int]]:
        used = self._api_usage()
        remaining = max(self.api_request_limit - used, 0)
        return {"DailyApiRequests": {"Max": self.api_request_limit, "Remaining": remaining}}

    # --- query -------------------------------------------------------------------------------

    def _query(self, request: ApiRequest, version: str, endpoint: str) -> ApiResponse:
        texts = request.params.get("q", [])
        if len(texts) != 1 or not texts[0].strip():
            raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified once as q")
        try:
            result = run_soql(texts[0], self.store, include_deleted=endpoint == "queryAll")
        except SoqlError as error:
            raise ApiError(400, error.error_code, str(error)) from error
        # NOTE: the Sforce-Query-Options batchSize header is not read; page_size alone sets pages.
        records = [selected_record_json(row, version) for row in result.records]
        logger.debug("%s on %s matched %s records", endpoint, result.sobject, result.total_size)
        cursor = _Cursor(records, result.total_size)
        locator = self._open_cursor(cursor) if len(records) > self.page_size else ""
        return ApiResponse(200, self._page(version, endpoint, locator, cursor, 0))

    def _next_page(self, version: str, endpoint: str, locator: str, start: int) -> ApiResponse:
        with self._lock:
            cursor = self._cursors.get(locator)
        if cursor is None or start > len(cursor.records):
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return ApiResponse(200, self._page(version, endpoint, locator, cursor, start))

    def _open_cursor(self, cursor: _Cursor) -> str:
        alphabet = string.ascii_letters + string.digits
        locator = "01g" + "".join(secrets.choice(alphabet) for _ in range(15))
        with self._lock:
            self._cursors[locator] = cursor
            while len(self._cursors) > MAX_OPEN_CURSORS:
                self._cursors.popitem(last=False)
        return locator

    def _page(
        self, version: str, endpoint: str, locator: str, cursor: _Cursor, start: int
    ) -> dict[str, Any]:
        """Build one page; like Salesforce, ``nextRecordsUrl`` is relative to the instance."""
        end = start + self.page_size
        done = end >= len(cursor.records)
        page: dict[str, Any] = {"totalSize": cursor.total_size, "done": done}
        if not done:
            page["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{locator}-{end}"
        page["records"] = cursor.records[start:end]
        return page

    # --- sObject rows ------------------------------------------------------------------------

    def _create(self, sobject_name: str, body: bytes) -> ApiResponse:
        sobject = _known_sobject(self.store, sobject_name)
        fields = self._writable_fields(sobject, _json_object(body))
        record_id = self.store.insert(sobject, fields)
        logger.info("created %s %s", sobject, record_id)
        return ApiResponse(201, {"id": record_id, "success": True, "errors": []})

    def _record(
        self, request: ApiRequest, version: str, sobject_name: str, record_id: str
    ) -> ApiResponse:
        sobject = _known_sobject(self.store, sobject_name)
        record = self._existing_record(sobject, record_id, reading=request.method == "GET")
        if request.method == "GET":
            return ApiResponse(200, stored_record_json(sobject, record, version))
        if request.method == "PATCH":
            fields = self._writable_fields(sobject, _json_object(request.body))
            self.store.update(sobject, record["Id"], fields)
            logger.info("updated %s %s", sobject, record["Id"])
        else:
            self.store.delete(sobject, record["Id"])
            logger.info("deleted %s %s", sobject, record["Id"])
        return ApiResponse(204)

    def _existing_record(self, sobject: str, record_id: str, *, reading: bool) -> dict[str, Any]:
        try:
            record = self.store.get(sobject, record_id)
        except ValueError:
            record = None
        if record is None:
            raise not_found()
        if record.get("IsDeleted"):
            # Salesforce reads a record in the recycle bin as missing and rejects writes to it.
            if reading:
                raise not_found()
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
        return record

    def _writable_fields(self, sobject: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Check a create or update body against the schema and convert its values."""
        payload.pop("attributes", None)
        schema = describe_object(self.store, sobject)
        fields: dict[str, Any] = {}
        for name, value in payload.items():
            canonical = schema.canonical_field(name)
            if canonical is None:
                raise ApiError(
                    400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}"
                )
            if canonical in READ_ONLY_FIELDS:
                raise ApiError(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {canonical}. The field is read-only.",
                    fields=[canonical],
                )
            try:
                converted = parse_field_value(canonical, schema.types[canonical], value)
            except FieldValueError as error:
                raise ApiError(400, "JSON_PARSER_ERROR", str(error)) from error
            if canonical in schema.id_fields and converted is not None:
                converted = self._reference(sobject, canonical, converted)
            fields[canonical] = converted
        return fields

    def _reference(self, sobject: str, field_name: str, value: Any) -> str:
        """Normalise a lookup value to 18 characters and check that the target record exists."""
        try:
            record_id = to_18(value)
        except (TypeError, ValueError):
            raise ApiError(
                400,
                "MALFORMED_ID",
                f"{field_name}: id value of incorrect type: {value}",
                fields=[field_name],
            ) from None
        targets = [
            relation.target
            for relation in RELATIONSHIPS.get(sobject, {}).values()
            if relation.foreign_key == field_name
        ] or [name for name, prefix in KEY_PREFIXES.items() if record_id.startswith(prefix)]
        if not any(self.store.get(target, record_id) for target in targets):
            raise ApiError(
                400,
                "INVALID_CROSS_REFERENCE_KEY",
                "invalid cross reference id",
                fields=[field_name],
            )
        return record_id


def _allow(request: ApiRequest, *methods: str) -> None:
    if request.method not in methods:
        raise ApiError(
            405,
            "METHOD_NOT_ALLOWED",
            f"HTTP Method '{request.method}' not allowed. Allowed are {','.join(methods)}",
        )


def _known_sobject(store: OrgStore, name: str) -> str:
    sobject = canonical_sobject(store, name)
    if sobject is None:
        raise not_found()
    return sobject


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiError(400, "JSON_PARSER_ERROR", f"Invalid JSON body: {error}") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    return payload
