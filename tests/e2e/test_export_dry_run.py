"""A dry run on an org's own data: ``gifting sandbox load`` an export, then the whole pipeline.

The export under ``tests/fixtures/salesforce_export`` is written in Data Export's format: quoted
cells, CRLF line ends, a byte-order mark on some files, line breaks inside cells, and names
that break naive quoting (O'Brien, a backslash, emoji, CJK, right-to-left scripts, SOQL
keywords). It also contains three bad rows, which the load reports and skips.

The expected gifts are derived from the CSV files alone, by the program's rules: a won New
Business deal of an account outside the holdout, whose primary contact has not opted out and
whose industry allows gifts, gets every stage due by ``NOW``. A contact without an address gets
e-gifts.
"""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner

from flows.cli import app
from flows.pipeline import pipeline
from gifting import ledger
from gifting.config import load_catalog, load_program
from gifting.planning.holdout import is_holdout
from gifting.sandbox.launch import running_sandboxes
from gifting.sandbox.org import to_18
from gifting.sandbox.vendor_server import VendorSandbox
from gifting.settings import PROJECT_ROOT
from gifting.warehouse import create_warehouse_engine
from gifting.warehouse.schema import Account, Contact, Gift

EXPORT = Path(__file__).parents[1] / "fixtures" / "salesforce_export"
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
REPLAY_FROM = date(2026, 2, 15)
# Stage offsets in days. The fixture signs its deals so that every stage is due either well
# before NOW or well after it, so timing rules (business days, lead times) cannot blur the set.
OFFSETS = {"welcome": 0, "first_week": 7, "first_month": 30, "first_quarter": 90}
MARGIN = timedelta(days=9)
# The deal whose CloseDate is written 03/05/2026: the load skips it.
SKIPPED_DEAL = "006Dn0000000900IAA"
# Public-sector gifts are capped per gift and per calendar year (the public_sector rule in
# config/program.yaml), so which of their stages fit depends on the prices chosen; the test checks
# those caps instead of an exact set. Healthcare's cap still fits each stage, so it gets every gift.
CAPPED_INDUSTRIES = {"Government"}
HOSTILE_NAMES = {
    "O'Brien & Sons Ltd.",
    "Back\\slash Partners",
    "Gift 🎁 Emoji GmbH",
    "株式会社東京テック",
    "شركة دبي للتقنية",
    "SELECT Id FROM Account WHERE Name LIKE '%' OR Name != null LIMIT 1",
    'Acme, "The Best" Inc.',
}
HOSTILE_PEOPLE = {
    "Seán O'Brien",
    "Zoë Back\\slash",
    "Party 🎉 Emoji 😀",
    "太郎 山田",
    "محمد العربي",
    "דוד כהן",
    "Robert'); DROP TABLE contacts;-- SELECT FROM WHERE AND OR NOT",
}


def _rows(name: str) -> list[dict[str, str]]:
    with (EXPORT / name).open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _expected_gifts() -> set[tuple[str, str]]:
    """Return (contract Id, stage) of every gift the export's won contracts should produce."""
    program = load_program(PROJECT_ROOT / "config")
    accounts = {row["Id"]: row for row in _rows("Account.csv")}
    contacts = {row["Id"]: row for row in _rows("Contact.csv")}
    primary = {
        row["OpportunityId"]: row["ContactId"]
        for row in _rows("OpportunityContactRole.csv")
        if row["IsPrimary"] == "true"
    }
    expected: set[tuple[str, str]] = set()
    for deal in _rows("Opportunity.csv"):
        if deal["Type"] != "New Business" or deal["IsWon"] != "true":
            continue
        if deal["Id"] == SKIPPED_DEAL:
            continue
        account = accounts[deal["AccountId"]]
        contact = contacts[primary[deal["Id"]]]
        if (
            is_holdout(to_18(account["Id"]), program.holdout.salt, program.holdout.share)
            or account["Industry"] in CAPPED_INDUSTRIES
            or contact["Gift_Opt_Out__c"] == "true"
        ):
            continue
        signed = date.fromisoformat(deal["CloseDate"])
        for stage, offset in OFFSETS.items():
            due = signed + timedelta(days=offset)
            assert not NOW.date() - MARGIN < due < NOW.date() + MARGIN, (deal["Id"], stage)
            if due <= NOW.date() - MARGIN:
                expected.add((deal["Id"], stage))
    return expected


@pytest.fixture
def config_without_review(tmp_path: Path) -> Path:
    """Copy the shipped config without its review gate, so every ready gift is sent."""
    config = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", config)
    program = yaml.safe_load((config / "program.yaml").read_text(encoding="utf-8"))
    program.pop("review")
    (config / "program.yaml").write_text(yaml.safe_dump(program), encoding="utf-8")
    return config


@pytest.fixture
def loaded(
    tmp_path: Path, config_without_review: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, str, str]]:
    """Load the export with the command into a fresh home; return home, warehouse URL, output."""
    home = tmp_path / "home"
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    monkeypatch.setenv("GIFTING_HOME", str(home))
    monkeypatch.setenv("GIFTING_DATABASE_URL", url)
    monkeypatch.setenv("GIFTING_CONFIG_DIR", str(config_without_review))
    result = CliRunner().invoke(app, ["sandbox", "load", str(EXPORT)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    yield home, url, result.output


def _spy_on_orders(monkeypatch: pytest.MonkeyPatch, vendor: VendorSandbox) -> list[dict[str, Any]]:
    """Record every order body the vendor sandbox received over HTTP."""
    received: list[dict[str, Any]] = []
    place = vendor.book.place

    def recording(body: Any, idempotency_key: str) -> Any:
        received.append(body)
        return place(body, idempotency_key)

    monkeypatch.setattr(vendor.book, "place", recording)
    return received


def test_load_reports_bad_rows(loaded: tuple[Path, str, str]) -> None:
    _home, _url, output = loaded
    assert "Contact.csv, row 102, column Id: duplicate Id 003Dn0000000006IAA" in output
    assert "Contact.csv, row 103, column AccountId: AccountId 001Dn0000000999IAA" in output
    assert "Opportunity.csv, row 50, column CloseDate: invalid date '03/05/2026'" in output
    assert "3 row(s) skipped" in output
    assert "Lead" in output


def test_dry_run_sends_expected_gifts(
    loaded: tuple[Path, str, str], config_without_review: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, url, _output = loaded
    catalog = load_catalog(config_without_review)
    with running_sandboxes(home, catalog, now=NOW) as (connection, _salesforce, vendor):
        for name, value in connection.as_environment().items():
            monkeypatch.setenv(name, value)
        received = _spy_on_orders(monkeypatch, vendor)
        result = pipeline(as_of=NOW, replay_from=REPLAY_FROM)

    assert Path(result["report"]["html_path"]).exists()
    engine = create_warehouse_engine(url)
    with engine.connect() as connection:
        sent_rows = connection.execute(
            select(Gift.contract_id, Gift.stage, Gift.price, Gift.due_at, Account.industry)
            .join(Account, Account.id == Gift.account_id)
            .where(Gift.status.in_([ledger.SENT, ledger.DELIVERED]))
        ).all()
        account_names = set(connection.scalars(select(Account.name)).all())
        contact_names = {
            f"{first} {last}"
            for first, last in connection.execute(select(Contact.first_name, Contact.last_name))
        }
    engine.dispose()

    sent = {
        (row.contract_id, row.stage) for row in sent_rows if row.industry not in CAPPED_INDUSTRIES
    }
    capped = [row for row in sent_rows if row.industry in CAPPED_INDUSTRIES]
    expected = _expected_gifts()
    assert len(expected) > 60
    assert sent == expected
    rule = next(
        rule
        for rule in load_program(PROJECT_ROOT / "config").compliance.rules
        if CAPPED_INDUSTRIES & set(rule.industries)
    )
    assert capped, "a public-sector recipient should still get gifts within the caps"
    assert all(row.price <= rule.max_gift_usd for row in capped)
    yearly: defaultdict[tuple[str, int], Decimal] = defaultdict(Decimal)
    for row in capped:
        yearly[(row.contract_id, row.due_at.year)] += row.price
    assert max(yearly.values()) <= rule.max_yearly_usd
    assert account_names >= HOSTILE_NAMES
    assert contact_names >= HOSTILE_PEOPLE
    recipients = {order["recipient"]["name"] for order in received}
    assert recipients >= HOSTILE_PEOPLE
    assert len(received) == len(expected) + len(capped)


def test_export_of_required_files_only_syncs(
    tmp_path: Path, config_without_review: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Event.csv, Case.csv and the other optional files may be absent: the sync still runs."""
    export = tmp_path / "export"
    export.mkdir()
    for name in ("Account.csv", "Contact.csv", "Opportunity.csv", "OpportunityContactRole.csv"):
        shutil.copy(EXPORT / name, export / name)
    home = tmp_path / "home"
    monkeypatch.setenv("GIFTING_HOME", str(home))
    monkeypatch.setenv("GIFTING_DATABASE_URL", f"sqlite:///{tmp_path / 'warehouse.db'}")
    monkeypatch.setenv("GIFTING_CONFIG_DIR", str(config_without_review))
    loaded = CliRunner().invoke(app, ["sandbox", "load", str(export)], env={"COLUMNS": "200"})
    assert loaded.exit_code == 0, loaded.output

    catalog = load_catalog(config_without_review)
    with running_sandboxes(home, catalog, now=NOW) as (connection, _salesforce, _vendor):
        for name, value in connection.as_environment().items():
            monkeypatch.setenv(name, value)
        synced = CliRunner().invoke(app, ["sync"], env={"COLUMNS": "200"})

    assert synced.exit_code == 0, synced.output
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    with engine.connect() as connection:
        accounts = connection.scalar(select(func.count()).select_from(Account))
    engine.dispose()
    assert accounts == len(_rows("Account.csv"))
