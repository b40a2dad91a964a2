"""Read the CSV files of a Salesforce data export, and the problems found on the way.

Each file is decoded as UTF-8 (a byte-order mark is dropped) and split by the csv module, so a
quoted cell may hold commas, quotes and line breaks. Row numbers count CSV records as a
spreadsheet shows them: the header is row 1.
"""

from __future__ import annotations

import csv
import difflib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
class CsvTable:
    """One CSV file read into memory: header and rows with their spreadsheet row numbers."""

    sobject: str
    path: Path
    header: list[str]
    rows: list[tuple[int, list[str]]]


def read_tables(directory: Path, problems: list[LoadProblem]) -> dict[str, CsvTable]:
    """Read each known object's file; report files of objects the sandbox does not serve."""
    # NOTE: only comma-separated files in one directory are read. Data Export's ZIP archives must
    # be extracted first, and an object split over several archives must be merged into one file.
    tables: dict[str, CsvTable] = {}
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


def _read_table(sobject: str, path: Path, problems: list[LoadProblem]) -> CsvTable | None:
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
    return CsvTable(sobject, path, header, records[1:])


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
