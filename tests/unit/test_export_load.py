"""Loading a Salesforce data export: cell formats, and the report on each kind of bad input."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from flows.cli import app
from gifting.errors import ConfigurationError
from gifting.salesforce.config import FieldMapping
from gifting.sandbox.export_cells import CellError, infer_type, parse_cell
from gifting.sandbox.export_load import (
    ExportUnusable,
    LoadProblem,
    load_export,
    records_behind_watermarks,
)
from gifting.sandbox.org import OrgStore, to_18
from gifting.sandbox.org_file import forget_saved_org, read_saved_org, save_org
from gifting.warehouse.schema import SyncState

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
ACCOUNT = to_18("001Dn0000000001")
OTHER_ACCOUNT = to_18("001Dn0000000002")
CONTACT = to_18("003Dn0000000001")
DEAL = to_18("006Dn0000000001")
ROLE = to_18("00KDn0000000001")

BASE_FILES = {
    "Account.csv": (
        '"Id","Name","Industry","SystemModstamp"\r\n'
        f'"{ACCOUNT}","O\'Brien \\ Söhne 🎁","Retail","2026-05-01T10:00:00.000Z"\r\n'
        f'"{OTHER_ACCOUNT}","  spaced  ","","2026-05-01T10:00:00.000Z"\r\n'
    ),
    "Contact.csv": (
        '"Id","AccountId","FirstName","LastName","Gift_Opt_Out__c","MailingStreet"\r\n'
        f'"{CONTACT[:15]}","{ACCOUNT}","太郎","山田","false","1 Main St\nFloor 2"\r\n'
    ),
    "Opportunity.csv": (
        '"Id","AccountId","Name","Type","IsWon","CloseDate","Amount","CreatedDate"\r\n'
        f'"{DEAL}","{ACCOUNT}","Deal","New Business","true","2026-05-01","1500.50",'
        '"2026-04-01T09:00:00.000Z"\r\n'
    ),
    "OpportunityContactRole.csv": (
        '"Id","OpportunityId","ContactId","IsPrimary","Role"\r\n'
        f'"{ROLE}","{DEAL}","{CONTACT}","true","Economic Buyer"\r\n'
    ),
}


def _export(tmp_path: Path, **changes: str | None) -> Path:
    """Write the base export with files added, replaced or (value None) removed."""
    directory = tmp_path / "export"
    directory.mkdir(exist_ok=True)
    files: dict[str, str | None] = {**BASE_FILES, **changes}
    for name, text in files.items():
        if text is not None:
            (directory / name).write_text(text, encoding="utf-8", newline="")
    return directory


def _load(tmp_path: Path, **changes: str | None) -> tuple[list[str], object]:
    result = load_export(_export(tmp_path, **changes), FieldMapping(), now=NOW)
    return [str(problem) for problem in result.problems], result


def _append(name: str, row: str) -> str:
    return BASE_FILES[name] + row + "\r\n"


def test_clean_export_loads_typed_values(tmp_path: Path) -> None:
    problems, result = _load(tmp_path)
    store = result.store  # type: ignore[attr-defined]
    account = store.get("Account", ACCOUNT)
    contact = store.get("Contact", CONTACT)
    deal = store.get("Opportunity", DEAL)
    assert account["Name"] == "O'Brien \\ Söhne 🎁"
    assert store.get("Account", OTHER_ACCOUNT)["Name"] == "  spaced  "
    assert store.get("Account", OTHER_ACCOUNT)["Industry"] is None
    assert contact["Id"] == CONTACT
    assert contact["MailingStreet"] == "1 Main St\nFloor 2"
    assert contact["Gift_Opt_Out__c"] is False
    assert deal["IsWon"] is True
    assert deal["CloseDate"] == date(2026, 5, 1)
    assert deal["Amount"] == 1500.5
    assert deal["CreatedDate"] == datetime(2026, 4, 1, 9, tzinfo=UTC)
    assert deal["SystemModstamp"] == deal["CreatedDate"]
    assert deal["IsDeleted"] is False
    # Fields the sync queries but the files lack are reported and load as nulls.
    assert contact["Title"] is None
    [note] = [text for text in problems if text.startswith("Contact.csv, row 1: missing columns")]
    assert "Title" in note
    assert "Email" in note
    assert any(text.startswith("Contact.csv, row 1, column Time_Zone__c") for text in problems)


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    text = "\ufeff" + BASE_FILES["Account.csv"]
    _problems, result = _load(tmp_path, **{"Account.csv": text})
    assert result.store.get("Account", ACCOUNT)["Name"].startswith("O'Brien")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"Acount.csv": '"Id"\r\n'},
            "Acount.csv: unknown object 'Acount': if the file holds Account records, "
            "rename it to Account.csv (file skipped)",
        ),
        (
            {"Task.csv": '"Subject"\r\n"Call"\r\n'},
            "Task.csv, row 1, column Id: missing Id column",
        ),
        (
            {"Contact.csv": _append("Contact.csv", f'"{CONTACT}","{ACCOUNT}","A","B","false",""')},
            f"Contact.csv, row 3, column Id: duplicate Id {CONTACT}, already on row 2: "
            "remove one of the two rows (row skipped)",
        ),
        (
            {
                "Opportunity.csv": _append(
                    "Opportunity.csv",
                    f'"{to_18("006Dn0000000002")}","{ACCOUNT}","Bad","New Business","true",'
                    '"05/01/2026","1","2026-04-01T09:00:00.000Z"',
                )
            },
            "Opportunity.csv, row 3, column CloseDate: invalid date '05/01/2026': write YYYY-MM-DD",
        ),
        (
            {
                "Opportunity.csv": _append(
                    "Opportunity.csv",
                    f'"{to_18("006Dn0000000002")}","{ACCOUNT}","Bad","New Business","true",'
                    '"2026-05-01","1","yesterday"',
                )
            },
            "Opportunity.csv, row 3, column CreatedDate: invalid datetime 'yesterday'",
        ),
        (
            {
                "Opportunity.csv": _append(
                    "Opportunity.csv",
                    f'"{to_18("006Dn0000000002")}","{ACCOUNT}","Bad","New Business","maybe",'
                    '"2026-05-01","1","2026-04-01T09:00:00.000Z"',
                )
            },
            "Opportunity.csv, row 3, column IsWon: invalid checkbox value 'maybe'",
        ),
        (
            {
                "Opportunity.csv": _append(
                    "Opportunity.csv",
                    f'"{to_18("006Dn0000000002")}","{ACCOUNT}","Bad","New Business","true",'
                    '"2026-05-01","$1,500","2026-04-01T09:00:00.000Z"',
                )
            },
            "Opportunity.csv, row 3, column Amount: invalid number '$1,500'",
        ),
        (
            {
                "Contact.csv": _append(
                    "Contact.csv",
                    f'"{to_18("003Dn0000000002")}","{to_18("001Dn0000000099")}","A","B","false",""',
                )
            },
            "Contact.csv, row 3, column AccountId: AccountId 001Dn0000000099",
        ),
        (
            {"Contact.csv": _append("Contact.csv", f'"{to_18("003Dn0000000002")}","x"')},
            "Contact.csv, row 3: the row has 2 cells but the header has 6",
        ),
        (
            {"Contact.csv": _append("Contact.csv", f'"{DEAL}","{ACCOUNT}","A","B","false",""')},
            f"Contact.csv, row 3, column Id: Id {DEAL} does not start with 003",
        ),
        (
            {"Contact.csv": _append("Contact.csv", f'"not-an-id","{ACCOUNT}","A","B","false",""')},
            "Contact.csv, row 3, column Id: invalid Salesforce Id 'not-an-id'",
        ),
    ],
    ids=[
        "unknown object",
        "missing Id column",
        "duplicate Id",
        "bad date",
        "bad datetime",
        "bad checkbox",
        "bad number",
        "missing parent",
        "ragged row",
        "wrong key prefix",
        "invalid Id",
    ],
)
def test_bad_input_is_reported(tmp_path: Path, changes: dict[str, str], expected: str) -> None:
    problems, result = _load(tmp_path, **changes)
    assert any(text.startswith(expected) for text in problems), problems
    # The rest of the export still loads.
    assert result.store.get("Opportunity", DEAL) is not None  # type: ignore[attr-defined]


def test_child_of_skipped_parent_is_skipped(tmp_path: Path) -> None:
    account = BASE_FILES["Account.csv"].replace("2026-05-01T10:00:00.000Z", "last May", 1)
    with pytest.raises(ExportUnusable, match=r"no loadable record in Contact\.csv") as raised:
        _load(tmp_path, **{"Account.csv": account})
    problems = [str(problem) for problem in raised.value.problems]
    assert any(
        text.startswith("Account.csv, row 2, column SystemModstamp: invalid datetime")
        for text in problems
    )
    assert any(text.startswith("Contact.csv, row 2, column AccountId") for text in problems)
    assert any(text.startswith("Opportunity.csv, row 2, column AccountId") for text in problems)


def test_non_utf8_file_is_named(tmp_path: Path) -> None:
    directory = _export(tmp_path)
    (directory / "Case.csv").write_bytes(b'"Id","Subject"\r\n"5005g","Caf\xe9"\r\n')
    result = load_export(directory, FieldMapping(), now=NOW)
    [problem] = [p for p in result.problems if p.file == "Case.csv"]
    assert problem.outcome == "file skipped"
    assert problem.row == 2
    assert "not UTF-8 (byte 0xe9" in problem.message
    assert "CSV UTF-8" in problem.message


def test_missing_required_file_stops_load(tmp_path: Path) -> None:
    with pytest.raises(ExportUnusable, match=r"OpportunityContactRole\.csv") as raised:
        load_export(
            _export(tmp_path, **{"OpportunityContactRole.csv": None}), FieldMapping(), now=NOW
        )
    assert isinstance(raised.value, ConfigurationError)


def test_missing_directory_names_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"export directory .*nowhere.* not found"):
        load_export(tmp_path / "nowhere", FieldMapping(), now=NOW)


def test_saved_org_round_trips(tmp_path: Path) -> None:
    _problems, result = _load(tmp_path)
    store = result.store  # type: ignore[attr-defined]
    save_org(store, tmp_path / "home", source=tmp_path / "export", saved_at=NOW)
    saved = read_saved_org(tmp_path / "home")
    assert saved is not None
    restored, source = saved
    assert source == str((tmp_path / "export").resolve())
    for sobject in store.objects:
        assert restored.objects[sobject] == store.objects[sobject]
    assert forget_saved_org(tmp_path / "home")
    assert read_saved_org(tmp_path / "home") is None


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["true", "FALSE", ""], "boolean"),
        (["2026-01-02", ""], "date"),
        (["2026-01-02T03:04:05.000Z"], "dateTime"),
        (["02139", "10115"], "string"),
        (["true", "maybe"], "string"),
        ([], "string"),
    ],
)
def test_column_type_inference(values: list[str], expected: str) -> None:
    assert infer_type(values) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05T17:22:10.000Z", datetime(2024, 3, 5, 17, 22, 10, tzinfo=UTC)),
        ("2024-03-05T09:22:10.000-0800", datetime(2024, 3, 5, 17, 22, 10, tzinfo=UTC)),
        ("2024-03-05 17:22:10", datetime(2024, 3, 5, 17, 22, 10, tzinfo=UTC)),
    ],
)
def test_datetime_formats(text: str, expected: datetime) -> None:
    assert parse_cell(text, "dateTime") == expected


def test_date_rejects_day_first() -> None:
    with pytest.raises(CellError, match="write YYYY-MM-DD"):
        parse_cell("31/12/2026", "date")


def test_problem_names_place() -> None:
    problem = LoadProblem("Contact.csv", 7, "Email", "invalid", "row skipped")
    assert str(problem) == "Contact.csv, row 7, column Email: invalid (row skipped)"


def test_cli_reports_unusable_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIFTING_HOME", str(tmp_path / "home"))
    directory = _export(tmp_path, **{"Contact.csv": None})
    result = CliRunner().invoke(app, ["sandbox", "load", str(directory)], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "Contact.csv" in result.output
    assert read_saved_org(tmp_path / "home") is None


def test_cli_reset_forgets_loaded_org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("GIFTING_HOME", str(home))
    monkeypatch.setenv("GIFTING_DATABASE_URL", f"sqlite:///{tmp_path / 'warehouse.db'}")
    loaded = CliRunner().invoke(app, ["sandbox", "load", str(_export(tmp_path))])
    assert loaded.exit_code == 0, loaded.output
    assert read_saved_org(home) is not None
    reset = CliRunner().invoke(app, ["sandbox", "reset"])
    assert reset.exit_code == 0
    assert "sample org" in reset.output
    assert read_saved_org(home) is None


def test_new_ids_skip_loaded_ids() -> None:
    store = OrgStore()
    taken = store.new_id("Task")
    store.insert("Task", {"Id": taken, "Subject": "From the export"})
    store._counter = itertools.count(1)  # the next Id would repeat the loaded one
    created = store.insert("Task", {"Subject": "Written back"})
    assert created != taken
    assert store.get("Task", taken)["Subject"] == "From the export"


def test_watermarks_hiding_records_are_counted(tmp_path: Path, sqlite_engine: Engine) -> None:
    _problems, result = _load(tmp_path)
    store = result.store  # type: ignore[attr-defined]
    assert records_behind_watermarks(sqlite_engine, store) == {}
    with sqlite_engine.begin() as connection:
        connection.execute(
            SyncState.__table__.insert(),
            [
                {
                    "object_name": "Account",
                    "watermark": datetime(2026, 5, 1, 10),
                    "records_seen": 2,
                },
                {"object_name": "Contact", "watermark": datetime(2020, 1, 1), "records_seen": 1},
            ],
        )
    assert records_behind_watermarks(sqlite_engine, store) == {"Account": 2}
