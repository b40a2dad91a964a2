"""Shared fixtures: a fresh warehouse on SQLite and on PostgreSQL for every test that uses one.

Each test run creates its own PostgreSQL database and drops it at the end. Set
``GIFTING_TEST_POSTGRES_URL`` to point at another server (default: trust auth on 127.0.0.1).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from simple_salesforce import Salesforce
from sqlalchemy import Engine, create_engine, text

from gifting.config import load_catalog
from gifting.salesforce.client import SalesforceCredentials, connect
from gifting.sandbox.launch import SANDBOX_CREDENTIALS
from gifting.sandbox.org import OrgStore
from gifting.sandbox.salesforce_server import SalesforceSandbox
from gifting.sandbox.sample_org import SampleOrgSpec, generate_sample_org
from gifting.sandbox.vendor_server import VendorSandbox
from gifting.settings import PROJECT_ROOT
from gifting.vendors.sandbox import SandboxVendorClient
from gifting.warehouse import create_warehouse_engine, migrate
from gifting.warehouse.schema import Base

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

CONFIG_DIR = PROJECT_ROOT / "config"
SAMPLE_AS_OF = datetime(2026, 6, 1, tzinfo=UTC)

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


@pytest.fixture
def sample_org() -> OrgStore:
    """Return a small deterministic sample org (40 accounts, 18 months of history)."""
    spec = SampleOrgSpec(accounts=40, seed=11, history_days=540, as_of=SAMPLE_AS_OF)
    return generate_sample_org(spec)


@pytest.fixture
def salesforce_sandbox(sample_org: OrgStore, tmp_path: Path) -> Iterator[SalesforceSandbox]:
    """Serve the sample org over HTTPS with small pages, so paging is exercised."""
    with SalesforceSandbox(
        sample_org, page_size=50, cert_dir=tmp_path / "certs", **SANDBOX_CREDENTIALS
    ) as sandbox:
        yield sandbox


@pytest.fixture
def salesforce(salesforce_sandbox: SalesforceSandbox) -> Salesforce:
    """Return a real simple-salesforce client logged in to the sandbox."""
    credentials = SalesforceCredentials(
        login_url=salesforce_sandbox.login_url,
        ca_bundle=salesforce_sandbox.ca_pem_path,
        **SANDBOX_CREDENTIALS,
    )
    return connect(credentials)


@pytest.fixture
def vendor_sandbox() -> Iterator[VendorSandbox]:
    catalog = [item.model_dump(mode="json") for item in load_catalog(CONFIG_DIR).items]
    with VendorSandbox(catalog) as sandbox:
        yield sandbox


@pytest.fixture
def vendor(vendor_sandbox: VendorSandbox) -> Iterator[SandboxVendorClient]:
    with SandboxVendorClient(
        vendor_sandbox.base_url,
        vendor_sandbox.api_key,
        rate_limit_per_second=1000,
        sleep=lambda _: None,
    ) as client:
        yield client
