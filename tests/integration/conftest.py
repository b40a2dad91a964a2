"""Fixtures for tests that need personalized gifts in the ledger, on both backends."""

from __future__ import annotations

from datetime import UTC

import pytest
from simple_salesforce import Salesforce
from sqlalchemy import Engine

from gifting.config import Catalog, ProgramConfig, load_catalog, load_program
from gifting.personalization.notes import note_environment
from gifting.personalization.prepare import personalize_gifts
from gifting.planning.milestones import plan_gifts
from gifting.salesforce.sync import sync_org
from tests.integration.ledger_fixtures import AS_OF, CONFIG

__all__ = ["AS_OF", "CONFIG"]


@pytest.fixture
def program() -> ProgramConfig:
    return load_program(CONFIG)


@pytest.fixture
def catalog() -> Catalog:
    return load_catalog(CONFIG)


@pytest.fixture
def kinds(catalog: Catalog) -> dict[str, str]:
    return {item.sku: item.kind for item in catalog.items}


@pytest.fixture
def planned(
    engine: Engine, salesforce: Salesforce, program: ProgramConfig, catalog: Catalog
) -> Engine:
    """Sync the sample org and plan every stage of every contract as due now (a backfill)."""
    sync_org(salesforce, engine, now=AS_OF.replace(tzinfo=UTC))
    plan_gifts(engine, program, as_of=AS_OF, backfill=True)
    personalize_gifts(engine, program, catalog, note_environment(CONFIG / "templates"), as_of=AS_OF)
    return engine
