"""Load a Salesforce data export (one CSV file per object) into an ``OrgStore``.

The export is what Setup > Data Export, Data Loader or Bulk API 2.0 writes: ``Account.csv``,
``Contact.csv`` and so on, a header row of API field names, UTF-8 text (a byte-order mark is
allowed), and empty cells for nulls. A bad row is reported with its file, row, column and fix
and skipped, and the rest loads. A row whose parent was skipped or is missing is skipped too, so
the loaded org has no dangling lookups. Only a missing directory, or a required object without a
loadable record, stops the load.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect, select

from gifting.errors import ConfigurationError
from gifting.salesforce import mapping
from gifting.salesforce.config import FieldMapping
from gifting.sandbox.export_cells import CellError, CellType, declared_types, infer_type, parse_cell
from gifting.sandbox.export_files import LOAD_ORDER, CsvTable, LoadProblem, read_tables
from gifting.sandbox.org import KEY_PREFIXES, RELATIONSHIPS, OrgStore
from gifting.warehouse.schema import SyncState

logger = logging.getLogger(__name__)

# Fields the sync reads from OpportunityContactRole to find each contract's recipient.
_ROLE_FIELDS = ("OpportunityId", "ContactId", "Role", "IsPrimary")


class ExportUnusable(ConfigurationError):
    """An export the product cannot run on; ``problems`` lists what was found on the way."""

    def __init__(self, message: str, problems: list[LoadProblem]) -> None:
        super().__init__(message)
        self.problems = problems


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
            f"export directory {str(directory)!r} not found: pass the folder that contains "
            "Account.csv, Contact.csv and the other files of the unzipped export"
        )
    result = ExportLoad(store=OrgStore())
    tables = read_tables(directory, result.problems)
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


def _column_types(table: CsvTable, fields: FieldMapping) -> dict[str, CellType]:
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


def _canonical_names(table: CsvTable, fields: FieldMapping) -> list[str]:
    """Return header names in the spelling the product queries, such as ``Id`` for ``ID``."""
    known = {name.casefold(): name for name in declared_types(table.sobject, fields)}
    known.update({name.casefold(): name for name in queried_fields(table.sobject, fields)})
    return [known.get(column.casefold(), column) for column in table.header]


def _load_table(
    table: CsvTable, fields: FieldMapping, result: ExportLoad, *, now: datetime
) -> None:
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
    table: CsvTable, names: list[str], fields: FieldMapping, problems: list[LoadProblem]
) -> list[str]:
    """Report fields the sync queries that the file lacks; they load as empty values."""
    present = {name.casefold() for name in names}
    missing = [
        name
        for name in queried_fields(table.sobject, fields)
        if name.casefold() not in present and name not in ("IsDeleted", "SystemModstamp")
    ]
    entries = {value: key for key, value in fields.entries(table.sobject).items()}
    standard = [name for name in missing if name not in entries]
    for name in missing:
        if name in entries:
            entry = entries[name]
            message = (
                f"missing column; config/salesforce.yaml reads it as {entry}: add the column "
                f"to the export, or set {entry} to null"
            )
            problems.append(LoadProblem(table.path.name, 1, name, message, "loaded"))
    if standard:
        message = (
            f"missing columns {', '.join(standard)}: the sync reads these standard fields, so "
            "they load as empty values; add them to the export for a faithful dry run"
        )
        problems.append(LoadProblem(table.path.name, 1, None, message, "loaded"))
    return missing


def _parse_row(
    table: CsvTable,
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
    table: CsvTable,
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


def _parents_ok(table: CsvTable, number: int, record: dict[str, Any], result: ExportLoad) -> bool:
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


def _note_unchecked_parents(tables: dict[str, CsvTable], problems: list[LoadProblem]) -> None:
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
