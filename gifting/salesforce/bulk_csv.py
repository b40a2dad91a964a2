"""Turn the CSV rows of a Bulk API 2.0 query result into records shaped like REST query records.

The REST API sends typed JSON and the Bulk API sends CSV text, so a column's type must come from
outside the data. ``FieldKind`` names the few types whose text differs from their JSON value.
Dates and text stay strings in both. CSV has one empty form for null and for an empty string,
but Salesforce stores a blank text field as null, so an empty field reads as None.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any, Literal

FieldKind = Literal["boolean", "number", "datetime"]

Record = dict[str, Any]


class CsvRecordReader:
    """Convert the rows under one CSV header to records.

    Args:
        header: Column names as the results' first row gives them, such as ``Account.Name``.
        kinds: Kind of each column that is not text, keyed by column name in any letter case.
    """

    def __init__(self, header: list[str], kinds: dict[str, FieldKind]) -> None:
        folded = {name.casefold(): kind for name, kind in kinds.items()}
        self.header = header
        self._columns = [(name.split("."), folded.get(name.casefold())) for name in header]
        self._nested = any(len(path) > 1 for path, _ in self._columns)
        self._typed = [
            (name, _CONVERTERS[kind])
            for name, (_, kind) in zip(header, self._columns, strict=True)
            if kind
        ]

    def record(self, row: list[str]) -> Record:
        """Return one row as a record; a row of another length than the header is an error."""
        if len(row) != len(self.header):
            raise ValueError(
                f"Bulk API result row has {len(row)} fields but the header has "
                f"{len(self.header)}: the CSV is malformed"
            )
        if not self._nested:
            # A million rows pass here, so text columns skip convert_value, and the dict is built
            # by dict(zip()) in C rather than by a comprehension.
            flat = dict(zip(self.header, [text or None for text in row], strict=True))
            for name, convert in self._typed:
                text = flat[name]
                if text is not None:
                    flat[name] = convert(text)
            return flat
        record: Record = {}
        for (path, kind), text in zip(self._columns, row, strict=True):
            target = record
            for relationship in path[:-1]:
                target = target.setdefault(relationship, {})
            target[path[-1]] = convert_value(text, kind)
        return _empty_parents_as_null(record)


def convert_value(text: str, kind: FieldKind | None) -> Any:
    """Convert one CSV field to the value the REST API sends as JSON.

    Text that does not fit its kind is returned unchanged, so the record's mapper reports it as
    a data-quality problem instead of the reader stopping the whole result.
    """
    if text == "":
        return None
    if kind is None:
        return text
    return _CONVERTERS[kind](text)


def _boolean(text: str) -> bool | str:
    value = _BOOLEANS.get(text)
    if value is None:
        value = _BOOLEANS.get(text.casefold())
    return text if value is None else value


def _number(text: str) -> int | float | str:
    try:
        if "." in text or "e" in text or "E" in text:
            return float(text)
        return int(text)
    except ValueError:
        return text


def _datetime(text: str) -> str:
    # Bulk results end UTC datetimes in Z; the REST API writes the offset +0000.
    return text[:-1] + "+0000" if text.endswith("Z") else text


_BOOLEANS = {"true": True, "false": False}
_CONVERTERS: dict[FieldKind, Callable[[str], Any]] = {
    "boolean": _boolean,
    "number": _number,
    "datetime": _datetime,
}


def _empty_parents_as_null(record: Record) -> Record:
    """Replace a parent whose fields are all null by None, as REST sends an empty lookup.

    CSV cannot tell an empty lookup from a parent whose selected fields are all null, so both
    read as an empty lookup.
    """
    for name, value in record.items():
        if isinstance(value, dict):
            parent = _empty_parents_as_null(value)
            record[name] = None if all(item is None for item in parent.values()) else parent
    return record


def read_csv_records(
    content: bytes, kinds: dict[str, FieldKind], *, delimiter: str = ","
) -> Iterator[Record]:
    """Yield the records of one UTF-8 results page, whose first row is the header.

    Decoding runs as the rows are read, so only the page's bytes are held, not its records.
    Quoted fields may contain the delimiter, quotes and line breaks.
    """
    text = io.TextIOWrapper(io.BytesIO(content), encoding="utf-8-sig", newline="")
    rows = csv.reader(text, delimiter=delimiter, strict=True)
    header = next(rows, None)
    if header is None:
        return
    reader = CsvRecordReader(header, kinds)
    for row in rows:
        yield reader.record(row)
