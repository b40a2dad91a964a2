"""Engine construction and schema migration through Alembic."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from gifting.errors import ConfigurationError

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def create_warehouse_engine(url: str) -> Engine:
    """Build an engine for the warehouse URL, creating the SQLite folder when needed.

    SQLite gets a 30 s busy timeout and foreign keys on, so that a second writer waits for the
    lock instead of failing at once.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ConfigurationError(
            f"invalid warehouse URL {url!r}: expected an SQLAlchemy URL such as "
            "sqlite:///path/warehouse.db or postgresql+psycopg://user@host/db"
        ) from error
    backend = parsed.get_backend_name()
    if backend == "postgres":  # the scheme Heroku and many tools print
        parsed = parsed.set(drivername="postgresql")
        backend = "postgresql"
    if backend not in ("sqlite", "postgresql"):
        raise ConfigurationError(
            f"unsupported warehouse database {backend!r} in GIFTING_DATABASE_URL: use "
            "sqlite:///path/warehouse.db or postgresql+psycopg://user@host/db"
        )
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        return create_engine(parsed, pool_pre_ping=True)
    except (NoSuchModuleError, ModuleNotFoundError) as error:
        raise ConfigurationError(
            f"the driver for {parsed.drivername!r} in GIFTING_DATABASE_URL is not installed: "
            "use postgresql+psycopg://, whose driver ships with gifting"
        ) from error


def _configure_sqlite(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL syncs at checkpoints instead of at every commit. A power cut may lose the
    # last commits, never consistency. Dispatch repairs a lost claim or send record through the
    # vendor's idempotency keys, and sync and planning redo lost work on their next run.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def migrate(engine: Engine) -> None:
    """Bring the warehouse schema to the newest Alembic revision.

    Raises:
        ConfigurationError: The database cannot be reached; the message names the URL without
            its password and the variable to check.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as error:
        raise ConfigurationError(
            f"cannot open the warehouse at {engine.url.render_as_string(hide_password=True)}: "
            f"{error.orig}. Check GIFTING_DATABASE_URL and that the database server is running"
        ) from error
    logger.info("warehouse schema is at the newest revision")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
