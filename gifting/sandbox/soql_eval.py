"""Evaluate a parsed SOQL query against an ``OrgStore``, with Salesforce's semantics.

It follows these Salesforce rules. Text comparisons, ``LIKE`` and ``ORDER BY`` ignore case.
Nulls sort first unless the key has ``NULLS LAST``. A null field fails every comparison except
``!= value`` and ``= null``, because SOQL has no three-valued logic. A filter value must match
the field's type, so a DATETIME field takes a datetime literal or a relative date literal such
as ``TODAY``, but not a plain date such as ``2026-01-01``.
"""

from __future__ import annotations

import itertools
import operator as operators
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from gifting.sandbox.org import RELATIONSHIPS, OrgStore, Relationship, to_18
from gifting.sandbox.salesforce_schema import (
    FieldType,
    ObjectSchema,
    canonical_sobject,
    describe_object,
)
from gifting.sandbox.soql_ast import (
    BoolOp,
    Comparison,
    Condition,
    FieldPath,
    Like,
    Membership,
    Not,
    Operator,
    OrderItem,
    RelativeDate,
    SoqlError,
    SoqlQuery,
    Value,
)

Record = dict[str, Any]
Predicate = Callable[[Record], bool]
ValueTest = Callable[[Any], bool]

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operators.eq,
    "!=": operators.ne,
    "<": operators.lt,
    "<=": operators.le,
    ">": operators.gt,
    ">=": operators.ge,
}


@dataclass
class SelectedRecord:
    """One result row: selected fields in query order, parents as nested ``SelectedRecord``.

    Attributes:
        sobject: The row's sObject, for the ``attributes`` envelope.
        record_id: The row's Id, for the ``attributes.url``, selected or not.
        fields: Field name to value, or relationship name to a parent row (None if the lookup
            is empty).
    """

    sobject: str
    record_id: str
    fields: dict[str, Any] = field(default_factory=dict)
    source: Record = field(default_factory=dict, repr=False, compare=False)


@dataclass
class SoqlResult:
    """All rows of a query; ``total_size`` equals ``len(records)`` except for ``COUNT()``."""

    sobject: str
    total_size: int
    records: list[SelectedRecord]


@dataclass(frozen=True)
class ResolvedField:
    """A field path checked against the schema, ready to read from a record.

    Attributes:
        path: The path as written in the query, for messages.
        hops: Relationship name and lookup for each parent step, outermost first.
        name: The leaf field's canonical name on the last object of the path.
        field_type: The leaf's type, None while no record contains a value for it.
        is_id: True when the leaf holds record Ids.
    """

    path: FieldPath
    hops: tuple[tuple[str, Relationship], ...]
    name: str
    field_type: FieldType | None
    is_id: bool

    def read(self, record: Record, store: OrgStore) -> Any:
        current: Record | None = record
        for _, relationship in self.hops:
            current = _parent(current, relationship, store)
            if current is None:
                return None
        return current.get(self.name)


def _parent(record: Record | None, relationship: Relationship, store: OrgStore) -> Record | None:
    foreign_key = record.get(relationship.foreign_key) if record else None
    return store.get(relationship.target, foreign_key) if foreign_key else None


class _Resolver:
    """Resolve field paths from one root object, caching each object's schema."""

    def __init__(self, store: OrgStore, sobject: str) -> None:
        self.store = store
        self.sobject = sobject
        self._schemas: dict[str, ObjectSchema] = {}

    def schema(self, sobject: str) -> ObjectSchema:
        if sobject not in self._schemas:
            self._schemas[sobject] = describe_object(self.store, sobject)
        return self._schemas[sobject]

    def resolve(self, path: FieldPath) -> ResolvedField:
        sobject = self.sobject
        hops: list[tuple[str, Relationship]] = []
        for part in path.parts[:-1]:
            relationships = RELATIONSHIPS.get(sobject, {})
            name = next((key for key in relationships if key.casefold() == part.casefold()), None)
            if name is None:
                raise SoqlError(
                    f"Didn't understand relationship '{part}' in field path '{path}' "
                    f"on entity '{sobject}'",
                    error_code="INVALID_FIELD",
                )
            hops.append((name, relationships[name]))
            sobject = relationships[name].target
        schema = self.schema(sobject)
        leaf = schema.canonical_field(path.parts[-1])
        if leaf is None:
            raise SoqlError(
                f"No such column '{path.parts[-1]}' on entity '{sobject}'",
                error_code="INVALID_FIELD",
            )
        return ResolvedField(
            path, tuple(hops), leaf, schema.types[leaf], is_id=leaf in schema.id_fields
        )


def evaluate(
    query: SoqlQuery, store: OrgStore, *, include_deleted: bool = False, now: datetime | None = None
) -> SoqlResult:
    """Run a parsed query; every field is checked before any record is read.

    Raises:
        SoqlError: ``INVALID_TYPE`` for an unknown sObject, ``INVALID_FIELD`` for an unknown
            field or a filter value of the wrong type, ``MALFORMED_QUERY`` for a duplicate field.
    """
    plan = prepare(query, store, now=now)
    if query.count_only:
        return SoqlResult(plan.sobject, plan.count(include_deleted=include_deleted), [])
    records = list(plan.records(include_deleted=include_deleted))
    return SoqlResult(plan.sobject, len(records), records)


@dataclass(frozen=True)
class QueryPlan:
    """A query checked against the schema, ready to stream its rows.

    Both the REST query resources and Bulk API 2.0 query jobs read rows through a plan, so
    they filter, sort and project alike.
    """

    query: SoqlQuery
    store: OrgStore
    sobject: str
    selected: list[ResolvedField]
    matches: Predicate | None
    sort_keys: list[tuple[ResolvedField, OrderItem]]

    def count(self, *, include_deleted: bool = False) -> int:
        unfiltered = self.matches is None and self.query.limit is None and not self.query.offset
        if unfiltered and include_deleted:
            return self.store.count(self.sobject)  # every record matches, deleted ones too
        return sum(1 for _ in self._rows(include_deleted))

    def records(self, *, include_deleted: bool = False) -> Iterator[SelectedRecord]:
        """Yield the selected rows one at a time, in query order."""
        for record in self._rows(include_deleted):
            yield _project(record, self.sobject, self.selected, self.store)

    def _rows(self, include_deleted: bool) -> Iterator[Record]:
        matches = self.matches
        rows: Iterable[Record] = (
            record
            for record in self.store.records(self.sobject)
            if (include_deleted or not record.get("IsDeleted"))
            and (matches is None or matches(record))
        )
        if self.sort_keys and not self._presorted():
            rows = list(rows)
            _sort(rows, self.sort_keys, self.store)
        start = self.query.offset or 0
        stop = None if self.query.limit is None else start + self.query.limit
        return itertools.islice(rows, start, stop)

    def _presorted(self) -> bool:
        """Tell whether the store already yields records in ``ORDER BY`` order."""
        order = self.store.ascending_order(self.sobject)
        keys = [(resolved.hops, resolved.name) for resolved, _ in self.sort_keys]
        ascending = all(not item.descending for _, item in self.sort_keys)
        return ascending and keys == [((), name) for name in order[: len(keys)]]


def prepare(query: SoqlQuery, store: OrgStore, *, now: datetime | None = None) -> QueryPlan:
    """Check a parsed query against the store's schema and compile its filter.

    Raises:
        SoqlError: As ``evaluate`` does.
    """
    sobject = canonical_sobject(store, query.sobject)
    if sobject is None:
        raise SoqlError(
            f"sObject type '{query.sobject}' is not supported", error_code="INVALID_TYPE"
        )
    resolver = _Resolver(store, sobject)
    selected = _resolve_select_list(query.fields, resolver)
    # NOTE: Salesforce resolves TODAY and LAST_N_DAYS in the running user's time zone; the
    # sandbox always uses UTC, so results near midnight can differ from a real org's.
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    matches = _compile(query.where, resolver, today) if query.where else None
    sort_keys = [(resolver.resolve(item.field), item) for item in query.order_by]
    return QueryPlan(query, store, sobject, selected, matches, sort_keys)


def _resolve_select_list(paths: tuple[FieldPath, ...], resolver: _Resolver) -> list[ResolvedField]:
    selected: list[ResolvedField] = []
    seen: set[tuple[str, ...]] = set()
    for path in paths:
        resolved = resolver.resolve(path)
        key = (*(name for name, _ in resolved.hops), resolved.name)
        if key in seen:
            raise SoqlError(f"duplicate field selected: {path}")
        seen.add(key)
        selected.append(resolved)
    return selected


def _compile(condition: Condition, resolver: _Resolver, today: date) -> Predicate:
    """Turn a WHERE condition into a predicate, checking fields and value types on the way."""
    store = resolver.store
    if isinstance(condition, BoolOp):
        parts = [_compile(operand, resolver, today) for operand in condition.operands]
        combine = all if condition.operator == "AND" else any
        return lambda record: combine(part(record) for part in parts)
    if isinstance(condition, Not):
        inner = _compile(condition.operand, resolver, today)
        return lambda record: not inner(record)

    resolved = resolver.resolve(condition.field)
    test: ValueTest
    if isinstance(condition, Comparison):
        test = _comparison_test(resolved, condition.operator, condition.value, today)
    elif isinstance(condition, Membership):
        test = _membership_test(resolved, condition, today)
    else:
        test = _like_test(resolved, condition)
    return lambda record: test(resolved.read(record, store))


def _comparison_test(
    resolved: ResolvedField, operator: Operator, value: Value, today: date
) -> ValueTest:
    _check_operand(resolved, operator, value)
    if isinstance(value, RelativeDate):
        return _range_test(operator, *value.day_range(today))
    if value is None:
        return (
            (lambda actual: actual is None)
            if operator == "="
            else (lambda actual: actual is not None)
        )

    expected = _comparable(_normalise_id(value) if resolved.is_id else value)
    compare = _OPERATORS[operator]

    def test(actual: Any) -> bool:
        if actual is None:
            return operator == "!="
        try:
            return compare(_comparable(actual), expected)
        except TypeError:
            # A value of another type than the field's other records: unequal, and unordered.
            return operator == "!="

    return test


def _membership_test(resolved: ResolvedField, condition: Membership, today: date) -> ValueTest:
    tests = [_comparison_test(resolved, "=", value, today) for value in condition.values]
    if condition.negated:
        return lambda actual: not any(test(actual) for test in tests)
    return lambda actual: any(test(actual) for test in tests)


def _like_test(resolved: ResolvedField, condition: Like) -> ValueTest:
    if resolved.field_type not in (None, "string"):
        raise SoqlError(
            f"invalid operator on field '{resolved.path}': LIKE needs a string field, "
            f"not {resolved.field_type}",
            error_code="INVALID_FIELD",
        )
    regex = condition.regex
    return lambda actual: isinstance(actual, str) and regex.fullmatch(actual) is not None


def _check_operand(resolved: ResolvedField, operator: Operator, value: Value) -> None:
    """Reject a filter value that Salesforce would reject for the field's type."""
    if value is None:
        if operator not in ("=", "!="):
            raise SoqlError(f"invalid operator {operator} on null for field '{resolved.path}'")
        return
    expected = resolved.field_type
    if expected is None:
        return
    if not _literal_fits(expected, value):
        quoting = "be enclosed" if expected == "string" else "not be enclosed"
        raise SoqlError(
            f"value of filter criterion for field '{resolved.path}' must be of type {expected} "
            f"and should {quoting} in quotes",
            error_code="INVALID_FIELD",
        )
    if expected == "boolean" and operator not in ("=", "!="):
        raise SoqlError(f"invalid operator {operator} on boolean field '{resolved.path}'")


def _literal_fits(expected: FieldType, value: Value) -> bool:
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "double":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected == "date":
        return isinstance(value, RelativeDate) or (
            isinstance(value, date) and not isinstance(value, datetime)
        )
    return isinstance(value, RelativeDate | datetime)


def _range_test(operator: Operator, start: date, end: date) -> ValueTest:
    """Compare a DATE or DATETIME value with the days ``[start, end)`` of a relative literal."""
    start_at = datetime.combine(start, time(), tzinfo=UTC)
    end_at = datetime.combine(end, time(), tzinfo=UTC)

    def test(actual: Any) -> bool:
        if isinstance(actual, datetime):
            low, high = start_at, end_at
        elif isinstance(actual, date):
            low, high = start, end
        else:
            return operator == "!="
        checks = {
            "=": low <= actual < high,
            "!=": not low <= actual < high,
            "<": actual < low,
            "<=": actual < high,
            ">": actual >= high,
            ">=": actual >= low,
        }
        return checks[operator]

    return test


def _normalise_id(value: Value) -> Value:
    """Return an Id literal in 18-character form; Salesforce accepts both lengths in filters."""
    if isinstance(value, str) and len(value) in (15, 18) and value.isalnum():
        return to_18(value)
    return value


def _comparable(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _sort(rows: list[Record], keys: list[tuple[ResolvedField, OrderItem]], store: OrgStore) -> None:
    """Sort rows in place by several keys, applying the last key first (``list.sort`` is stable)."""
    for resolved, item in reversed(keys):
        nulls_first = not item.nulls_last
        # With reverse=True the null rank flips too, so pick the rank that lands nulls right.
        null_rank = 0 if nulls_first != item.descending else 2

        def sort_key(
            record: Record, resolved: ResolvedField = resolved, rank: int = null_rank
        ) -> Any:
            value = resolved.read(record, store)
            if value is None:
                return (rank, "", 0)
            return (1, type(value).__name__, _comparable(value))

        rows.sort(key=sort_key, reverse=item.descending)


def _project(
    record: Record, sobject: str, selected: list[ResolvedField], store: OrgStore
) -> SelectedRecord:
    """Copy the selected fields, nesting parent fields under their relationship names."""
    row = SelectedRecord(sobject, record["Id"], source=record)
    for resolved in selected:
        target: SelectedRecord | None = row
        for name, relationship in resolved.hops:
            assert target is not None
            if name not in target.fields:
                parent = _parent(target.source, relationship, store)
                target.fields[name] = (
                    SelectedRecord(relationship.target, parent["Id"], source=parent)
                    if parent
                    else None
                )
            target = target.fields[name]
            if target is None:
                break
        if target is not None:
            target.fields[resolved.name] = target.source.get(resolved.name)
    return row
