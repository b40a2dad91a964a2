"""The warehouse: schema, engines and migrations (SQLite by default, PostgreSQL in production)."""

from gifting.warehouse.engine import create_warehouse_engine, migrate, session_factory

__all__ = ["create_warehouse_engine", "migrate", "session_factory"]
