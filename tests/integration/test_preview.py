"""The gift preview on the synced sample org: it matches what personalization later stores,
and it writes nothing to the warehouse."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from jinja2.sandbox import SandboxedEnvironment
from simple_salesforce import Salesforce
from sqlalchemy import Engine, func, select

from gifting import ledger
from gifting.config import Catalog, ProgramConfig, load_catalog, load_program
from gifting.errors import GiftingError
from gifting.personalization.notes import note_environment
from gifting.personalization.prepare import personalize_gifts
from gifting.planning.milestones import plan_gifts
from gifting.preview import preview_gifts, preview_markdown, preview_table
from gifting.salesforce.sync import sync_org
from gifting.settings import PROJECT_ROOT
from gifting.warehouse.schema import Base, Gift

CONFIG = PROJECT_ROOT / "config"
AS_OF = datetime(2026, 6, 1)


@pytest.fixture
def program() -> ProgramConfig:
    return load_program(CONFIG)


@pytest.fixture
def catalog() -> Catalog:
    return load_catalog(CONFIG)


@pytest.fixture
def notes() -> SandboxedEnvironment:
    return note_environment(CONFIG / "templates")


@pytest.fixture
def planned(engine: Engine, salesforce: Salesforce, program: ProgramConfig) -> Engine:
    """Sync the sample org and plan every stage, leaving the gifts unpersonalized."""
    sync_org(salesforce, engine, now=AS_OF.replace(tzinfo=UTC))
    plan_gifts(engine, program, as_of=AS_OF, backfill=True)
    return engine


def _snapshot(engine: Engine) -> tuple[dict[str, int], list[Any]]:
    with engine.connect() as connection:
        counts = {
            table.name: connection.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }
        gifts = connection.execute(select(Gift.__table__).order_by(Gift.id)).all()
    return counts, gifts


def test_preview_writes_nothing(
    planned: Engine, program: ProgramConfig, catalog: Catalog, notes: SandboxedEnvironment
) -> None:
    before = _snapshot(planned)
    rows = preview_gifts(planned, program, catalog, notes, as_of=AS_OF, limit=50)
    assert rows
    assert _snapshot(planned) == before


def test_preview_matches_personalization(
    planned: Engine, program: ProgramConfig, catalog: Catalog, notes: SandboxedEnvironment
) -> None:
    rows = preview_gifts(planned, program, catalog, notes, as_of=AS_OF, horizon_days=0, limit=500)
    personalize_gifts(planned, program, catalog, notes, as_of=AS_OF)
    with planned.connect() as connection:
        stored = {
            gift.id: gift
            for gift in connection.execute(select(Gift.id, Gift.sku, Gift.note, Gift.status))
        }
    chosen = [row for row in rows if row.problem is None]
    assert chosen
    assert all(not row.personalized for row in rows)
    for row in chosen:
        assert row.sku == stored[row.gift_id].sku
        assert row.note == stored[row.gift_id].note
        assert row.selection_reasons
    for row in rows:
        if row.problem is not None:
            assert stored[row.gift_id].status == ledger.SKIPPED


def test_preview_orders_and_limits(
    planned: Engine, program: ProgramConfig, catalog: Catalog, notes: SandboxedEnvironment
) -> None:
    rows = preview_gifts(planned, program, catalog, notes, as_of=AS_OF, limit=5)
    assert len(rows) == 5
    assert [row.due_at for row in rows] == sorted(row.due_at for row in rows)
    assert all(row.status in (ledger.PLANNED, ledger.READY, ledger.NEEDS_REVIEW) for row in rows)


def test_preview_shows_review_reasons(
    planned: Engine, program: ProgramConfig, catalog: Catalog, notes: SandboxedEnvironment
) -> None:
    assert program.review is not None
    rows = preview_gifts(planned, program, catalog, notes, as_of=AS_OF, limit=500)
    expensive = [row for row in rows if row.price and row.price > program.review.max_price_usd]
    assert expensive
    assert all("high_value" in row.review_reasons for row in expensive)
    without_review = program.model_copy(update={"review": None})
    plain = preview_gifts(planned, without_review, catalog, notes, as_of=AS_OF, limit=500)
    assert all(row.review_reasons == [] for row in plain)


def test_preview_artifacts_render(
    planned: Engine, program: ProgramConfig, catalog: Catalog, notes: SandboxedEnvironment
) -> None:
    rows = preview_gifts(planned, program, catalog, notes, as_of=AS_OF, limit=3)
    table = preview_table(rows)
    markdown = preview_markdown(rows, as_of=AS_OF, horizon_days=14)
    assert [entry["gift_id"] for entry in table] == [row.gift_id for row in rows]
    for row in rows:
        assert row.gift_id in markdown
        if row.note:
            assert row.note in markdown


@pytest.mark.parametrize(("horizon_days", "limit"), [(-1, 20), (14, 0)])
def test_preview_rejects_bad_window(
    sqlite_engine: Engine,
    program: ProgramConfig,
    catalog: Catalog,
    notes: SandboxedEnvironment,
    horizon_days: int,
    limit: int,
) -> None:
    with pytest.raises(GiftingError, match="invalid preview window"):
        preview_gifts(
            sqlite_engine,
            program,
            catalog,
            notes,
            as_of=AS_OF,
            horizon_days=horizon_days,
            limit=limit,
        )
