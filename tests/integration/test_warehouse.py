"""The migration creates every table on both backends and is safe to run twice."""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from gifting.warehouse import migrate
from gifting.warehouse.schema import Base


def test_migration_creates_every_model_table(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_migration_runs_twice(engine: Engine) -> None:
    migrate(engine)
    assert "gifts" in inspect(engine).get_table_names()


def test_gifts_unique_per_contract_and_stage(engine: Engine) -> None:
    constraints = inspect(engine).get_unique_constraints("gifts")
    columns = [sorted(constraint["column_names"]) for constraint in constraints]
    assert ["contract_id", "stage"] in columns


def test_migration_creates_every_model_index(engine: Engine) -> None:
    inspector = inspect(engine)
    for table in Base.metadata.sorted_tables:
        expected = {(index.name, tuple(index.columns.keys())) for index in table.indexes}
        created = {
            (index["name"], tuple(index["column_names"]))
            for index in inspector.get_indexes(table.name)
            # PostgreSQL also lists the index behind each unique constraint.
            if not index.get("duplicates_constraint")
        }
        assert created == expected, table.name
