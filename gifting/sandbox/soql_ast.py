"""Syntax tree of the SOQL subset that the Salesforce sandbox parses and evaluates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal as TypingLiteral

from gifting.errors import PermanentError


class SoqlError(PermanentError):
    """A query that Salesforce would reject, with the ``errorCode`` its REST API reports.

    Salesforce rejects every such query with HTTP 400 and a body of
    ``[{"message": ..., "errorCode": ...}]``, so the server only needs the code and the message.

    Attributes:
        error_code: ``MALFORMED_QUERY``, ``INVALID_FIELD``, ``INVALID_TYPE`` or
            ``NUMBER_OUTSIDE_VALID_RANGE``.
    """

    def __init__(self, message: str, *, error_code: str = "MALFORMED_QUERY") -> None:
        super().__init__(message, reason=error_code.lower())
        self.error_code = error_code


@dataclass(frozen=True)
class FieldPath:
    """A field reference as written, such as ``Name`` or ``Account.Owner.Name``."""

    parts: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class RelativeDate:
    """A relative date literal (``TODAY``, ``LAST_N_DAYS:7``), resolved when the query runs.

    Attributes:
        keyword: The literal in upper case, without the ``:n`` suffix.
        days: The ``n`` of ``LAST_N_DAYS:n`` and ``NEXT_N_DAYS:n``, else None.
    """

    keyword: str
    days: int | None = None

    def day_range(self, today: date) -> tuple[date, date]:
        """Return the half-open range ``[start, end)`` of days that the literal covers."""
        one_day = timedelta(days=1)
        if self.keyword == "TODAY":
            return today, today + one_day
        if self.keyword == "YESTERDAY":
            return today - one_day, today
        if self.keyword == "TOMORROW":
            return today + one_day, today + 2 * one_day
        assert self.days is not None
        # Salesforce counts today in both ranges: LAST_N_DAYS:1 is yesterday and today.
        if self.keyword == "LAST_N_DAYS":
            return today - self.days * one_day, today + one_day
        return today, today + (self.days + 1) * one_day

    def __str__(self) -> str:
        return self.keyword if self.days is None else f"{self.keyword}:{self.days}"


# A literal on the right of an operator. Numbers stay int or float as written.
Value = str | int | float | bool | date | datetime | RelativeDate | None

Operator = TypingLiteral["=", "!=", "<", "<=", ">", ">="]


@dataclass(frozen=True)
class Comparison:
    """``field operator value``; ``<>`` is stored as ``!=``."""

    field: FieldPath
    operator: Operator
    value: Value


@dataclass(frozen=True)
class Membership:
    """``field IN (...)`` or, when ``negated``, ``field NOT IN (...)``."""

    field: FieldPath
    values: tuple[Value, ...]
    negated: bool


@dataclass(frozen=True)
class Like:
    """``field LIKE 'pattern'``, with the pattern compiled to a case-insensitive regex."""

    field: FieldPath
    pattern: str
    regex: re.Pattern[str]


@dataclass(frozen=True)
class Not:
    operand: Condition


@dataclass(frozen=True)
class BoolOp:
    """A chain of conditions joined by one operator.

    SOQL rejects ``a AND b OR c`` without parentheses, so a chain never mixes the two.
    """

    operator: TypingLiteral["AND", "OR"]
    operands: tuple[Condition, ...]


Condition = Comparison | Membership | Like | Not | BoolOp


@dataclass(frozen=True)
class OrderItem:
    """One ``ORDER BY`` key. Salesforce sorts nulls first unless the key has ``NULLS LAST``."""

    field: FieldPath
    descending: bool = False
    nulls_last: bool = False


@dataclass(frozen=True)
class SoqlQuery:
    """A parsed ``SELECT``; ``count_only`` is ``SELECT COUNT()``, which has no field list."""

    sobject: str
    fields: tuple[FieldPath, ...]
    count_only: bool = False
    where: Condition | None = None
    order_by: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset: int | None = None
