"""Two planners at once on PostgreSQL: the budget caps still hold.

Planning reserves budget in memory against a book loaded at the start of its transaction, so two
runs that overlap could both spend the same headroom. An advisory lock serialises the runs, and
the second one loads the book after the first has committed. SQLite needs no test of its own: it
allows one writer at a time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select, text, update

from gifting import ledger
from gifting.config import ProgramConfig
from gifting.planning.milestones import plan_gifts
from gifting.warehouse import create_warehouse_engine, migrate
from gifting.warehouse.schema import Account, Gift
from tests.conftest import _empty_tables
from tests.integration.test_planning_rules import _seed, program

__all__ = ["program"]


@pytest.fixture
def postgres_engine(postgres_database_url: str) -> Iterator[Engine]:
    engine = create_warehouse_engine(postgres_database_url)
    migrate(engine)
    _empty_tables(engine)
    yield engine
    engine.dispose()


def test_concurrent_planners_keep_cap(postgres_engine: Engine, program: ProgramConfig) -> None:
    # Three contracts signed each day; the welcome cap fits four 250 USD gifts.
    program.budget_caps.monthly_stage_usd["welcome"] = Decimal(4 * 250)
    for number in range(1, 7):
        _seed(postgres_engine, number, date(2026, 6, 1 + (number - 1) // 3))
    # Flags already recorded, so the planners do not queue behind each other's account updates.
    with postgres_engine.begin() as connection:
        connection.execute(update(Account).values(holdout=False))
    errors: list[BaseException] = []

    def planner(as_of: datetime) -> None:
        try:
            plan_gifts(postgres_engine, program, as_of=as_of)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    # Both times fall inside the welcome window of the contracts signed on 1 June, which ends
    # at 15:00 UTC on 2 June, so either order plans four welcome gifts.
    moments = [datetime(2026, 6, 1, 16, 0), datetime(2026, 6, 2, 14, 0)]
    threads = [threading.Thread(target=planner, args=(moment,)) for moment in moments]
    # Hold back every insert into gifts until both planners have had time to read the ledger,
    # so that without serialisation both would reserve against the same empty budget book.
    with postgres_engine.connect() as blocker:
        blocker.execute(text("LOCK TABLE gifts IN SHARE MODE"))
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        blocker.commit()
    for thread in threads:
        thread.join()

    assert errors == []
    with postgres_engine.connect() as connection:
        welcome = connection.execute(
            select(Gift.status, Gift.budget_max).where(Gift.stage == "welcome")
        ).all()
    assert len(welcome) == 6
    planned = [Decimal(row.budget_max) for row in welcome if row.status == ledger.PLANNED]
    assert sum(planned) == Decimal(1000)
    assert len(planned) == 4
