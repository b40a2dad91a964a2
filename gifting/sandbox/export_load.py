"""Load a Salesforce data export (one CSV file per object) into an ``OrgStore``.

The export is what Setup > Data Export, Data Loader or Bulk API 2.0 writes: ``Account.csv``,
``Contact.csv`` and so on, a header row of API field names, UTF-8 text (a byte-order mark is
allowed), and empty cells for nulls. A bad row is reported with its file, row, column and fix
and skipped, and the rest loads. A row whose parent was skipped or is missing is skipped too, so
the loaded org has no dangling lookups. Only a missing directory or a missing required file stops
the load.
"""

from __future__ import annotations

import csv
import difflib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect, select

from gifting.errors import ConfigurationError
from gifting.salesforce import mapping
from gifting.salesforce.config import FieldMapping
from gifting.sandbox.export_cells import CellError, CellType, declared_types, infer_type, parse_cell
from gifting.sandbox.org import KEY_PREFIXES, RELATIONSHIPS, OrgStore
from gifting.warehouse.schema import SyncState

logger = logging.getLogger(__name__)

# Parents before children, so every lookup can be checked against records already loaded.
LOAD_ORDER = (
    "User",
    "Account",
    "Contact",
    "Opportunity",
    "Contract",
    "OpportunityContactRole",
    "Task",
    "Event",
    "Case",
)

# Fields the sync reads from OpportunityContactRole to find each contract's recipient.
_ROLE_FIELDS = ("OpportunityId", "ContactId", "Role", "IsPrimary")


class ExportUnusable(ConfigurationError):
    """An export the product cannot run on; ``problems`` lists what was found on the way."""

    def __init__(self, message: str, problems: list[LoadProblem]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class LoadProblem:
    """One thing wrong with the export, where it is, and what happened because of it.

    Attributes:
        file: CSV file name, such as ``Contact.csv``.
        row: Row number as a spreadsheet shows it (the header is row 1), or None for the file.
        column: Field API name, or None when the problem is not about one column.
        message: What is wrong and how to fix it.
        outcome: ``row skipped``, ``file skipped`` or ``loaded`` (a note; the data loaded).
    """

    file: str
    row: int | None
    column: str | None
    message: str
    outcome: str = "row skipped"

    def __str__(self) -> str:
        place = self.file
        if self.row is not None:
            place += f", row {self.row}"
        if self.column is not None:
            place += f", column {self.column}"
        return f"{place}: {self.message} ({self.outcome})"


@dataclass
class ObjectCounts:
    """Rows read from one object's file and records loaded from them."""

    file: str
    rows: int = 0
    loaded: int = 0


@dataclass
class ExportLoad:
    """The loaded org, per-object counts and every problem found, in file and row order."""

    store: OrgStore
    counts: dict[str, ObjectCounts] = field(default_factory=dict)
    problems: list[LoadProblem] = field(default_factory=list)

    @property
    def skipped_rows(self) -> int:
        return sum(1 for problem in self.problems if problem.outcome == "row skipped")


@dataclass
class _Table:
    """One CSV file read into memory: header and rows with their spreadsheet row numbers."""

    sobject: str
    path: Path
    header: list[str]
    rows: list[tuple[int, list[str]]]


def load_export(directory: Path, fields: FieldMapping, *, now: datetime) -> ExportLoad:
    """Read every CSV file of an export directory and build the org they describe.

    Args:
        directory: The unzipped export, one ``<Object>.csv`` per object.
        fields: The field mapping, which names the trigger object and the custom fields.
        now: Stamp for records whose file has no CreatedDate or SystemModstamp column.

    Raises:
        ConfigurationError: The directory is missing.
        ExportUnusable: An object the product cannot run without (Account, Contact, the
            trigger object, OpportunityContactRole when the recipient is the primary contact
            role) has no file, an unreadable file or no loadable row.
    """
    if not directory.is_dir():
        raise ConfigurationError(
            f"export directory {str(directory)!r} not found: pass the folder that holds "
            "Account.csv, Contact.csv and the other files of the unzipped export"
        )
    result = ExportLoad(store=OrgStore())
    tables = _read_tables(directory, result.problems)
    for sobject in LOAD_ORDER:
        table = tables.get(sobject)
        if table is None:
            continue
        result.counts[sobject] = ObjectCounts(file=table.path.name, rows=len(table.rows))
        _load_table(table, fields, result, now=now)
    _note_unchecked_parents(tables, result.problems)
    _require_objects(directory, result, fields)
    logger.info(
        "loaded export %s: %s, %d problems",
        directory,
        {name: counts.loaded for name, counts in result.counts.items()},
        len(result.problems),
    )
    return result


def required_objects(fields: FieldMapping) -> list[str]:
    """Return the objects an export must contain for the product to plan any gift."""
    required = ["Account", "Contact", fields.trigger.object]
    if fields.recipient.rule == "primary_contact_role":
        required.append("OpportunityContactRole")
    return required


def queried_fields(sobject: str, fields: FieldMapping) -> list[str]:
    """Return the fields the product's queries name on ``sobject``; a missing one fails them."""
    if sobject == "OpportunityContactRole":
        return list(_ROLE_FIELDS)
    if sobject in mapping.STANDARD_FIELDS:
        return mapping.query_fields(sobject, fields)
    return []


def _require_objects(directory: Path, result: ExportLoad, fields: FieldMapping) -> None:
    empty = [
        name
        for name in required_objects(fields)
        if name not in result.counts or result.counts[name].loaded == 0
    ]
    if empty:
        names = ", ".join(f"{name}.csv" for name in empty)
        raise ExportUnusable(
            f"the export in {str(directory)!r} has no loadable record in {names}: export "
            "these objects with Data Export (Include all data) or Data Loader, one file per "
            "object named after its API name, and fix the problems listed",
            result.problems,
        )


def _read_tables(directory: Path, problems: list[LoadProblem]) -> dict[str, _Table]:
    """Read each known object's file; report files of objects the sandbox does not serve."""
    tables: dict[str, _Table] = {}
    ignored: list[str] = []
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.suffix.casefold() != ".csv":
            continue
        sobject = _object_for(path.stem)
        if sobject is None:
            suggestion = difflib.get_close_matches(path.stem, LOAD_ORDER, n=1, cutoff=0.8)
            if suggestion:
                problems.append(
                    LoadProblem(
                        path.name,
                        None,
                        None,
                        f"unknown object {path.stem!r}: if the file holds {suggestion[0]} "
                        f"records, rename it to {suggestion[0]}.csv",
                        "file skipped",
                    )
                )
            else:
                ignored.append(path.name)
            continue
        table = _read_table(sobject, path, problems)
        if table is not None:
            tables[sobject] = table
    if ignored:
        logger.info("ignored %d files of objects the product does not read", len(ignored))
        objects = ", ".join(Path(name).stem for name in ignored)
        problems.append(
            LoadProblem(
                ignored[0] if len(ignored) == 1 else f"{len(ignored)} files",
                None,
                None,
                f"the product reads no records of {objects}",
                "file skipped",
            )
        )
    return tables


def _object_for(stem: str) -> str | None:
    """Return the object a file name stands for, ignoring case as Salesforce API names do."""
    return next((name for name in LOAD_ORDER if name.casefold() == stem.casefold()), None)


def _read_table(sobject: str, path: Path, problems: list[LoadProblem]) -> _Table | None:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        problems.append(
            LoadProblem(
                path.name,
                line,
                None,
                f"the file is not UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start}): "
                "choose UTF-8 as the export's encoding, or save the file again as CSV UTF-8",
                "file skipped",
            )
        )
        return None
    try:
        records = list(_numbered_rows(text))
    except csv.Error as error:
        problems.append(
            LoadProblem(
                path.name,
                None,
                None,
                f"the file is not valid CSV ({error}): check for an unclosed quote",
                "file skipped",
            )
        )
        return None
    if not records:
        problems.append(LoadProblem(path.name, None, None, "the file is empty", "file skipped"))
        return None
    header = [name.strip() for name in records[0][1]]
    if not _header_ok(path.name, header, problems):
        return None
    return _Table(sobject, path, header, records[1:])


def _numbered_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield each CSV record with its row number; a quoted line break stays inside one row."""
    for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        if row:
            yield number, row


def _header_ok(name: str, header: list[str], problems: list[LoadProblem]) -> bool:
    folded = [column.casefold() for column in header]
    duplicates = sorted({column for column in header if folded.count(column.casefold()) > 1})
    if duplicates:
        problems.append(
            LoadProblem(
                name,
                1,
                duplicates[0],
                "the column appears more than once in the header: keep one of them",
                "file skipped",
            )
        )
        return False
    if "id" not in folded:
        problems.append(
            LoadProblem(
                name,
                1,
                "Id",
                "missing Id column: every record needs its Salesforce Id, so add Id to the "
                "exported fields (Data Loader: tick Id; SOQL: SELECT Id, ...)",
                "file skipped",
            )
        )
        return False
    return True


def _column_types(table: _Table, fields: FieldMapping) -> dict[str, CellType]:
    declared = declared_types(table.sobject, fields)
    by_folded = {name.casefold(): (name, cell_type) for name, cell_type in declared.items()}
    types: dict[str, CellType] = {}
    for index, column in enumerate(table.header):
        known = by_folded.get(column.casefold())
        if known is not None:
            types[column] = known[1]
        else:
            types[column] = infer_type([row[index] for _, row in table.rows if index < len(row)])
    return types


def _canonical_names(table: _Table, fields: FieldMapping) -> list[str]:
    """Return header names in the spelling the product queries, such as ``Id`` for ``ID``."""
    known = {name.casefold(): name for name in declared_types(table.sobject, fields)}
    known.update({name.casefold(): name for name in queried_fields(table.sobject, fields)})
    return [known.get(column.casefold(), column) for column in table.header]


def _load_table(table: _Table, fields: FieldMapping, result: ExportLoad, *, now: datetime) -> None:
    types = _column_types(table, fields)
    names = _canonical_names(table, fields)
    missing = _note_missing_columns(table, names, fields, result.problems)
    first_row: dict[str, int] = {}
    for number, cells in table.rows:
        record = _parse_row(table, number, cells, types, names, result.problems)
        if record is None:
            continue
        record_id = record.get("Id")
        if not _id_ok(table, number, record_id, first_row, result.problems):
            continue
        if not _parents_ok(table, number, record, result):
            continue
        record.update(dict.fromkeys(missing))
        _stamp(record, now)
        result.store.insert(table.sobject, record)
        first_row[record["Id"]] = number
        result.counts[table.sobject].loaded += 1


def _note_missing_columns(
    table: _Table, names: list[str], fields: FieldMapping, problems: list[LoadProblem]
) -> list[str]:
    """Report fields the sync queries that the file lacks; they load as empty values."""
    present = {name.casefold() for name in names}
    missing = [
        name
        for name in queried_fields(table.sobject, fields)
        if name.casefold() not in present and name not in ("IsDeleted", "SystemModstamp")
    ]
    entries = {value: key for key, value in fields.entries(table.sobject).items()}
    for name in missing:
        if name in entries:
            fix = (
                f"config/salesforce.yaml reads it as {entries[name]}: add the column to the "
                f"export, or set {entries[name]} to null"
            )
        else:
            fix = "the sync reads this standard field: add the column to the export"
        problems.append(LoadProblem(table.path.name, 1, name, f"missing column; {fix}", "loaded"))
    return missing


def _parse_row(
    table: _Table,
    number: int,
    cells: list[str],
    types: dict[str, CellType],
    names: list[str],
    problems: list[LoadProblem],
) -> dict[str, Any] | None:
    if len(cells) != len(table.header):
        problems.append(
            LoadProblem(
                table.path.name,
                number,
                None,
                f"the row has {len(cells)} cells but the header has {len(table.header)}: "
                "quote any cell that contains a comma, a quote or a line break",
            )
        )
        return None
    record: dict[str, Any] = {}
    for column, name, value in zip(table.header, names, cells, strict=True):
        try:
            record[name] = parse_cell(value, types[column])
        except CellError as error:
            problems.append(LoadProblem(table.path.name, number, name, str(error)))
            return None
    return record


def _id_ok(
    table: _Table,
    number: int,
    record_id: Any,
    first_row: dict[str, int],
    problems: list[LoadProblem],
) -> bool:
    name = table.path.name
    if record_id is None:
        problems.append(LoadProblem(name, number, "Id", "missing Id: fill in the record's Id"))
        return False
    prefix = KEY_PREFIXES[table.sobject]
    if not record_id.startswith(prefix):
        problems.append(
            LoadProblem(
                name,
                number,
                "Id",
                f"Id {record_id} does not start with {prefix}, the key prefix of "
                f"{table.sobject} records: check that the row belongs in {name}",
            )
        )
        return False
    if record_id in first_row:
        problems.append(
            LoadProblem(
                name,
                number,
                "Id",
                f"duplicate Id {record_id}, already on row {first_row[record_id]}: "
                "remove one of the two rows",
            )
        )
        return False
    return True


def _parents_ok(table: _Table, number: int, record: dict[str, Any], result: ExportLoad) -> bool:
    """Check that each lookup names a loaded parent when the parent's file is in the export."""
    for relation in RELATIONSHIPS.get(table.sobject, {}).values():
        value = record.get(relation.foreign_key)
        target = relation.target
        # Polymorphic lookups such as WhoId may name a Lead, and OwnerId a queue: only an Id
        # with the target's key prefix is checked.
        if value is None or target not in result.counts:
            continue
        if not value.startswith(KEY_PREFIXES[target]):
            continue
        if result.store.get(target, value) is None:
            result.problems.append(
                LoadProblem(
                    table.path.name,
                    number,
                    relation.foreign_key,
                    f"{relation.foreign_key} {value} names no {target} in "
                    f"{result.counts[target].file} (it is missing or its row was skipped): "
                    "add the parent to the export, or clear the cell",
                )
            )
            return False
    return True


def _stamp(record: dict[str, Any], now: datetime) -> None:
    """Fill the system fields an export may leave out, as Salesforce would have set them."""
    record["IsDeleted"] = bool(record.get("IsDeleted"))
    created = record.get("CreatedDate") or now
    record["CreatedDate"] = created
    modified = record.get("SystemModstamp") or record.get("LastModifiedDate")
    record["SystemModstamp"] = modified or created


def _note_unchecked_parents(tables: dict[str, _Table], problems: list[LoadProblem]) -> None:
    """Say once per lookup that lookups into an object missing from the export went unchecked."""
    for sobject, table in tables.items():
        header = {column.casefold() for column in table.header}
        for relation in RELATIONSHIPS.get(sobject, {}).values():
            if relation.target in tables or relation.foreign_key.casefold() not in header:
                continue
            problems.append(
                LoadProblem(
                    table.path.name,
                    None,
                    relation.foreign_key,
                    f"{relation.target}.csv is not in the export, so these Ids were not "
                    f"checked: add {relation.target}.csv to check them",
                    "loaded",
                )
            )


def records_behind_watermarks(engine: Engine, store: OrgStore) -> dict[str, int]:
    """Count loaded records per object that the warehouse's sync watermarks would never read.

    The sync reads records changed after each object's watermark (less a short lookback), so
    records of an older export loaded over a warehouse that synced a newer org stay invisible.
    """
    if not inspect(engine).has_table(SyncState.__tablename__):
        return {}
    with engine.connect() as connection:
        rows = connection.execute(select(SyncState.object_name, SyncState.watermark)).all()
    hidden: dict[str, int] = {}
    for sobject, watermark in rows:
        if watermark is None or sobject not in store.objects:
            continue
        mark = watermark.replace(tzinfo=UTC)
        count = sum(1 for record in store.records(sobject) if record["SystemModstamp"] <= mark)
        if count:
            hidden[sobject] = count
    return hidden
