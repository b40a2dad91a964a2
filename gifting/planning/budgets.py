"""Budget caps: per month for the program and for each stage, and per recipient per year.

Planning reserves an amount for every gift it plans, against the calendar month (UTC) and the
calendar year of the gift's due time. A gift that does not fit a cap is skipped with reason
``budget_exhausted``. It is not left waiting as ``planned``, because personalization writes a
note on every due planned gift and dispatch then releases it, so a waiting gift would be sent
and overspend.

A gift already in the ledger counts at its price once an item is chosen, else at its reserve.
Skipped, cancelled and rejected gifts count nothing, so their budget is free again for gifts
planned later.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, select

from gifting import ledger
from gifting.config import ProgramConfig
from gifting.warehouse.schema import Gift

BUDGET_EXHAUSTED = "budget_exhausted"
FREED = (ledger.SKIPPED, ledger.CANCELLED, ledger.REJECTED)

Month = tuple[int, int]


def reserve_amount(budget_min: Decimal, budget_max: Decimal, mode: str) -> Decimal:
    """Return what planning sets aside for a gift whose item is not chosen yet."""
    if mode == "midpoint":
        return (budget_min + budget_max) / 2
    return budget_max


@dataclass
class BudgetBook:
    """Spend reserved so far, by month, by stage and month, and by recipient and year."""

    program: ProgramConfig
    by_month: dict[Month, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    by_stage_month: dict[tuple[str, Month], Decimal] = field(
        default_factory=lambda: defaultdict(Decimal)
    )
    by_recipient_year: dict[tuple[str, int], Decimal] = field(
        default_factory=lambda: defaultdict(Decimal)
    )

    def add(self, stage: str, contact_id: str | None, due_at: datetime, amount: Decimal) -> None:
        month = (due_at.year, due_at.month)
        self.by_month[month] += amount
        self.by_stage_month[(stage, month)] += amount
        if contact_id is not None:
            self.by_recipient_year[(contact_id, due_at.year)] += amount

    def recipient_year_total(self, contact_id: str | None, due_at: datetime) -> Decimal:
        """Return what is reserved for the recipient in the calendar year of ``due_at``."""
        if contact_id is None:
            return Decimal(0)
        return self.by_recipient_year.get((contact_id, due_at.year), Decimal(0))

    def blocking_cap(
        self, stage: str, contact_id: str | None, due_at: datetime, amount: Decimal
    ) -> str | None:
        """Return the name of the first cap that ``amount`` would exceed, or ``None``."""
        caps = self.program.budget_caps
        month = (due_at.year, due_at.month)
        if self.by_month[month] + amount > self.program.monthly_budget_usd:
            return "monthly_budget_usd"
        stage_cap = caps.monthly_stage_usd.get(stage)
        if stage_cap is not None and self.by_stage_month[(stage, month)] + amount > stage_cap:
            return f"monthly_stage_usd.{stage}"
        yearly = caps.recipient_yearly_usd
        if yearly is None or contact_id is None:
            return None
        if self.by_recipient_year[(contact_id, due_at.year)] + amount > yearly:
            return "recipient_yearly_usd"
        return None

    def try_reserve(
        self, stage: str, contact_id: str | None, due_at: datetime, amount: Decimal
    ) -> str | None:
        """Reserve ``amount`` if every cap allows it; else return the cap that does not."""
        blocked = self.blocking_cap(stage, contact_id, due_at, amount)
        if blocked is None:
            self.add(stage, contact_id, due_at, amount)
        return blocked


def load_budget_book(connection: Connection, program: ProgramConfig) -> BudgetBook:
    """Return the spend already reserved by gifts in the ledger.

    Call it inside the planning transaction, so the book matches the rows that transaction
    reads and writes.
    """
    book = BudgetBook(program)
    rows = connection.execute(
        select(
            Gift.stage, Gift.contact_id, Gift.due_at, Gift.price, Gift.budget_min, Gift.budget_max
        ).where(Gift.status.not_in(FREED))
    )
    mode = program.budget_caps.reserve
    for row in rows:
        if row.price is not None:
            amount = Decimal(row.price)
        else:
            amount = reserve_amount(Decimal(row.budget_min), Decimal(row.budget_max), mode)
        book.add(row.stage, row.contact_id, row.due_at, amount)
    return book
