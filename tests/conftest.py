"""Shared fixtures: a fresh warehouse on SQLite and on PostgreSQL for every test that asks.

Each test run creates its own PostgreSQL database and drops it at the end. Set
``GIFTING_TEST_POSTGRES_URL`` to point at another server (default: trust auth on 127.0.0.1).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from gifting.warehouse import create_warehouse_engine, migrate
from gifting.warehouse.schema import Base

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

POSTGRES_ADMIN_URL = os.environ.get(
    "GIFTING_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """Create one PostgreSQL database for this test run and drop it afterwards."""
    name = f"gifting_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _empty_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_database_url: str
) -> Iterator[str]:
    """Return the URL of an empty, migrated warehouse, once per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    else:
        url = postgres_database_url
    engine = create_warehouse_engine(url)
    migrate(engine)
    _empty_tables(engine)
    engine.dispose()
    yield url


@pytest.fixture
def engine(warehouse_url: str) -> Iterator[Engine]:
    """Return an engine on an empty, migrated warehouse, once per backend."""
    engine = create_warehouse_engine(warehouse_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """Return an engine on an empty, migrated SQLite warehouse, for backend-neutral tests."""
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    migrate(engine)
    yield engine
    engine.dispose()
