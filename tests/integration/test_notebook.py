"""The ROI exploration notebook must run headless against a real warehouse.

Analysts open it by hand, so nothing else would notice when an API change breaks it.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from sqlalchemy import Engine, insert

from gifting.report import build_report
from gifting.warehouse import create_warehouse_engine, migrate
from gifting.warehouse.schema import Account, Contract, Gift, Outcome

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "roi_exploration.ipynb"
AS_OF = datetime(2026, 3, 1, 2, 0)
SYNCED = datetime(2026, 2, 28, 23, 0)


def _populate(engine: Engine) -> None:
    """Insert one account per arm: a gifted, a holdout that churns, and a not-gifted one."""
    accounts = [
        {"id": account_id, "name": account_id, "holdout": holdout}
        for account_id, holdout in (("NB-G", False), ("NB-H", True), ("NB-N", False))
    ]
    contracts = [
        {
            "id": f"C-{account_id}",
            "account_id": account_id,
            "name": f"Deal {account_id}",
            "amount": 10_000,
            "signed_on": date(2025, 1, 15),
            "status": "won",
            "first_seen_at": SYNCED,
        }
        for account_id in ("NB-G", "NB-H", "NB-N")
    ]
    gift = {
        "id": "gift-nb-1",
        "contract_id": "C-NB-G",
        "stage": "first_week",
        "account_id": "NB-G",
        "status": "delivered",
        "due_at": SYNCED,
        "window_ends_at": SYNCED,
        "budget_min": 20,
        "budget_max": 80,
        "price": 45.0,
        "created_at": SYNCED,
        "updated_at": SYNCED,
    }
    churn = {"id": "o-nb-1", "account_id": "NB-H", "kind": "churn", "synced_at": SYNCED}
    with engine.begin() as connection:
        connection.execute(
            insert(Account),
            [{**row, "system_modstamp": SYNCED, "synced_at": SYNCED} for row in accounts],
        )
        connection.execute(
            insert(Contract),
            [{**row, "system_modstamp": SYNCED, "synced_at": SYNCED} for row in contracts],
        )
        connection.execute(insert(Gift), [gift])
        connection.execute(insert(Outcome), [{**churn, "occurred_on": date(2025, 3, 1)}])


@pytest.fixture
def warehouse_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Return the URL of a populated SQLite warehouse, also exported as GIFTING_DATABASE_URL."""
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    engine = create_warehouse_engine(url)
    migrate(engine)
    _populate(engine)
    engine.dispose()
    monkeypatch.setenv("GIFTING_DATABASE_URL", url)
    return url


def _execute(working_dir: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=120,
        resources={"metadata": {"path": str(working_dir)}},
    )
    client.execute()
    return notebook


def _stream_text(notebook: nbformat.NotebookNode) -> str:
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
    )


def _has_image(notebook: nbformat.NotebookNode) -> bool:
    return any(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )


def test_notebook_reads_stored_metrics(warehouse_url: str, tmp_path: Path) -> None:
    engine = create_warehouse_engine(warehouse_url)
    build_report(engine, AS_OF, tmp_path / "report")
    engine.dispose()

    notebook = _execute(tmp_path)

    text = _stream_text(notebook)
    assert "(stored report)" in text
    assert "2026-03-01 02:00:00" in text
    for arm in ("gifted", "holdout", "not_gifted"):
        assert arm in text
    assert _has_image(notebook)


def test_notebook_computes_without_stored_run(warehouse_url: str, tmp_path: Path) -> None:
    notebook = _execute(tmp_path)

    text = _stream_text(notebook)
    assert "(computed now)" in text
    assert "holdout" in text
    assert _has_image(notebook)
