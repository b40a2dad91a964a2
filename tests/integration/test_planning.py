"""Planning on both backends: one gift per contract and stage, holdout, windows, cancellation."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import Engine, func, select, update

from gifting import ledger
from gifting.config import ProgramConfig, load_program
from gifting.dispatch import release_due_gifts
from gifting.planning.holdout import is_holdout
from gifting.planning.milestones import plan_gifts
from gifting.settings import PROJECT_ROOT
from gifting.warehouse.schema import Account, Contact, Contract, Gift, GiftEvent, Outcome

NOW = datetime(2026, 6, 1, 12, 0)


@pytest.fixture
def program() -> ProgramConfig:
    return load_program(PROJECT_ROOT / "config")


def _account_id(number: int) -> str:
    from gifting.sandbox.org import id_checksum

    id15 = f"001000000{number:06d}"
    return id15 + id_checksum(id15)


def _seed(engine: Engine, *, accounts: int, signed_on: date, opted_out: bool = False) -> list[str]:
    ids = [_account_id(n) for n in range(1, accounts + 1)]
    with engine.begin() as connection:
        for n, account_id in enumerate(ids, start=1):
            contact_id = f"003{account_id[3:]}"
            connection.execute(
                Account.__table__.insert().values(
                    id=account_id,
                    name=f"Account {n}",
                    is_strategic=False,
                    is_deleted=False,
                    system_modstamp=NOW,
                    synced_at=NOW,
                )
            )
            connection.execute(
                Contact.__table__.insert().values(
                    id=contact_id,
                    account_id=account_id,
                    first_name="Ana",
                    last_name=f"L{n}",
                    street="1 Main St",
                    city="Austin",
                    state="TX",
                    postal_code="73301",
                    country="US",
                    time_zone="America/Chicago",
                    gift_opt_out=opted_out,
                    is_deleted=False,
                    system_modstamp=NOW,
                    synced_at=NOW,
                )
            )
            connection.execute(
                Contract.__table__.insert().values(
                    id=f"006{account_id[3:]}",
                    account_id=account_id,
                    contact_id=contact_id,
                    name=f"Deal {n}",
                    signed_on=signed_on,
                    status="won",
                    first_seen_at=NOW,
                    system_modstamp=NOW,
                    synced_at=NOW,
                )
            )
    return ids


def _gift_count(engine: Engine, **filters: object) -> int:
    query = select(func.count()).select_from(Gift)
    for column, value in filters.items():
        query = query.where(getattr(Gift, column) == value)
    with engine.connect() as connection:
        return connection.scalar(query) or 0


def test_plan_creates_one_gift_per_stage(engine: Engine, program: ProgramConfig) -> None:
    ids = _seed(engine, accounts=20, signed_on=NOW.date())
    plan_gifts(engine, program, as_of=NOW)
    plan_gifts(engine, program, as_of=NOW)
    assert _gift_count(engine) == 20 * len(program.stages)
    holdout = [a for a in ids if is_holdout(a, program.holdout.salt, program.holdout.share)]
    assert _gift_count(engine, reason="holdout") == len(holdout) * len(program.stages)


def test_every_gift_starts_with_an_event(engine: Engine, program: ProgramConfig) -> None:
    _seed(engine, accounts=3, signed_on=NOW.date())
    plan_gifts(engine, program, as_of=NOW)
    with engine.connect() as connection:
        events = connection.scalar(select(func.count()).select_from(GiftEvent))
    assert events == _gift_count(engine)


def test_late_contract_skips_missed_windows(engine: Engine, program: ProgramConfig) -> None:
    _seed(engine, accounts=5, signed_on=date(2026, 5, 1))
    plan_gifts(engine, program, as_of=NOW)
    with engine.connect() as connection:
        welcome = connection.scalars(select(Gift.reason).where(Gift.stage == "welcome")).all()
        quarter = connection.scalars(select(Gift.status).where(Gift.stage == "first_quarter")).all()
    assert set(welcome) <= {"window_missed", "holdout"}
    assert "window_missed" in welcome
    assert set(quarter) <= {"planned", "skipped"}


def test_backfill_plans_missed_windows(engine: Engine, program: ProgramConfig) -> None:
    _seed(engine, accounts=5, signed_on=date(2026, 5, 1))
    plan_gifts(engine, program, as_of=NOW, backfill=True)
    assert _gift_count(engine, reason="window_missed") == 0


def test_opted_out_contact_gets_no_gift(engine: Engine, program: ProgramConfig) -> None:
    _seed(engine, accounts=4, signed_on=NOW.date(), opted_out=True)
    plan_gifts(engine, program, as_of=NOW)
    assert _gift_count(engine, status=ledger.PLANNED) == 0


def test_lost_contract_cancels_unsent_gifts(engine: Engine, program: ProgramConfig) -> None:
    _seed(engine, accounts=10, signed_on=NOW.date())
    plan_gifts(engine, program, as_of=NOW)
    planned = _gift_count(engine, status=ledger.PLANNED)
    with engine.begin() as connection:
        connection.execute(update(Contract).values(status="lost"))
    result = plan_gifts(engine, program, as_of=NOW)
    assert result.cancelled == planned
    assert _gift_count(engine, status=ledger.CANCELLED) == planned


def test_churned_account_is_skipped_at_release(engine: Engine, program: ProgramConfig) -> None:
    ids = _seed(engine, accounts=10, signed_on=NOW.date())
    plan_gifts(engine, program, as_of=NOW)
    with engine.begin() as connection:
        for account_id in ids:
            connection.execute(
                Outcome.__table__.insert().values(
                    id=f"churn:{account_id}",
                    account_id=account_id,
                    kind="churn",
                    occurred_on=date(2026, 6, 5),
                    synced_at=NOW,
                )
            )
    later = datetime(2026, 6, 9, 23, 0)
    outcome = release_due_gifts(engine, as_of=later)
    assert outcome["skipped:churned"] == _gift_count(engine, reason="churned")
    assert _gift_count(engine, stage="first_month", reason="churned") == 0
    assert outcome["skipped:churned"] > 0


def test_illegal_transition_is_rejected(engine: Engine, program: ProgramConfig) -> None:
    _seed(engine, accounts=1, signed_on=NOW.date())
    plan_gifts(engine, program, as_of=NOW)
    with engine.connect() as connection:
        gift_id = connection.scalar(select(Gift.id).where(Gift.status == ledger.PLANNED))
    assert gift_id is not None or is_holdout(
        _account_id(1), program.holdout.salt, program.holdout.share
    )
    if gift_id is None:
        return
    with engine.begin() as connection, pytest.raises(Exception, match="illegal gift transition"):
        ledger.move(connection, gift_id, ledger.PLANNED, ledger.DELIVERED, at=NOW, actor="test")


def test_stale_move_raises_conflict(engine: Engine, program: ProgramConfig) -> None:
    _seed(engine, accounts=30, signed_on=NOW.date())
    plan_gifts(engine, program, as_of=NOW)
    with engine.connect() as connection:
        gift_id = connection.scalar(select(Gift.id).where(Gift.status == ledger.PLANNED))
    with engine.begin() as connection:
        ledger.move(connection, gift_id, ledger.PLANNED, ledger.READY, at=NOW, actor="test")
    with engine.begin() as connection, pytest.raises(ledger.LedgerConflict):
        ledger.move(connection, gift_id, ledger.PLANNED, ledger.READY, at=NOW, actor="test")


def test_long_reason_truncated_on_gift_only(engine: Engine, program: ProgramConfig) -> None:
    _seed(engine, accounts=30, signed_on=NOW.date())
    plan_gifts(engine, program, as_of=NOW)
    with engine.connect() as connection:
        gift_id = connection.scalar(select(Gift.id).where(Gift.status == ledger.PLANNED))
    reason = "rejected by the account owner: " + "the customer asked for no physical gifts " * 3
    with engine.begin() as connection:
        ledger.move(
            connection, gift_id, ledger.PLANNED, ledger.SKIPPED, at=NOW, actor="test", reason=reason
        )
    with engine.connect() as connection:
        stored = connection.scalar(select(Gift.reason).where(Gift.id == gift_id))
        event = connection.scalar(
            select(GiftEvent.reason).where(
                GiftEvent.gift_id == gift_id, GiftEvent.to_status == ledger.SKIPPED
            )
        )
    assert len(stored) == ledger.REASON_COLUMN_LENGTH
    assert event == reason


def test_plan_more_contracts_than_parameter_limit(engine: Engine, program: ProgramConfig) -> None:
    """PostgreSQL takes at most 65,535 bind parameters; planning must not build one IN list."""
    from sqlalchemy import insert

    count = 65_536
    ids = [f"{n:015d}AAA" for n in range(count)]
    with engine.begin() as connection:
        connection.execute(
            insert(Account),
            [
                {
                    "id": f"001{i[3:]}",
                    "name": "A",
                    "is_strategic": False,
                    "is_deleted": False,
                    "holdout": False,
                    "system_modstamp": NOW,
                    "synced_at": NOW,
                }
                for i in ids
            ],
        )
        connection.execute(
            insert(Contract),
            [
                {
                    "id": f"006{i[3:]}",
                    "account_id": f"001{i[3:]}",
                    "contact_id": None,
                    "name": "D",
                    "signed_on": NOW.date(),
                    "status": "won",
                    "first_seen_at": NOW,
                    "system_modstamp": NOW,
                    "synced_at": NOW,
                }
                for i in ids
            ],
        )
    plan_gifts(engine, program, as_of=NOW)
    assert _gift_count(engine) == count * len(program.stages)
