"""SOQL parser for the Salesforce sandbox, built on a lark LALR grammar.

The grammar covers the subset the product sends (see ``_GRAMMAR``). Lark's LALR parser must consume
the whole input, so trailing text and any clause outside the subset (``GROUP BY``, subqueries,
functions, ``FOR UPDATE``) fail to parse and come back as ``MALFORMED_QUERY`` instead of being
skipped. Evaluation against an ``OrgStore`` lives in ``soql_eval``; ``run_soql`` joins the two.
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime
from typing import Any, cast

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError

from gifting.sandbox.org import OrgStore
from gifting.sandbox.soql_ast import (
    BoolOp,
    Comparison,
    Condition,
    FieldPath,
    Like,
    Membership,
    Not,
    Operator,
    OrderItem,
    RelativeDate,
    SoqlError,
    SoqlQuery,
    Value,
)
from gifting.sandbox.soql_eval import SelectedRecord, SoqlResult, evaluate

__all__ = [
    "SelectedRecord",
    "SoqlError",
    "SoqlQuery",
    "SoqlResult",
    "parse_soql",
    "run_soql",
]

# Keywords are case-insensitive in SOQL. A keyword that is also a valid NAME (``count``) is
# re-typed by lark only when the whole word matches, so ``CountOfGifts__c`` stays a NAME. The
# literal terminals carry priorities so that ``2026-01-01`` lexes as a DATE, never as the
# NUMBER 2026 followed by junk.
_GRAMMAR = r"""
start: _SELECT select_list _FROM NAME where? order_by? limit? offset?

select_list: COUNT "(" ")"                  -> count_all
           | field_path ("," field_path)*   -> field_list

field_path: NAME ("." NAME)*

where: _WHERE condition

?condition: unary
          | unary (_AND unary)+             -> and_chain
          | unary (_OR unary)+              -> or_chain

?unary: _NOT unary                          -> negation
      | "(" condition ")"
      | field_path OPERATOR value           -> comparison
      | field_path _IN value_list           -> in_list
      | field_path _NOT _IN value_list      -> not_in_list
      | field_path _LIKE STRING             -> like

value_list: "(" value ("," value)* ")"

value: STRING                               -> string
     | NUMBER                               -> number
     | DATETIME                             -> datetime
     | DATE                                 -> date
     | _NULL                                -> null
     | TRUE                                 -> true
     | FALSE                                -> false
     | RELATIVE_DAY                         -> relative_day
     | N_DAYS                               -> n_days

order_by: _ORDER _BY order_item ("," order_item)*
order_item: field_path direction? nulls?
direction: DIRECTION
nulls: _NULLS NULLS_POSITION

limit: _LIMIT NUMBER
offset: _OFFSET NUMBER

_SELECT: "select"i
_FROM: "from"i
_WHERE: "where"i
_AND: "and"i
_OR: "or"i
_NOT: "not"i
_IN: "in"i
_LIKE: "like"i
_NULL: "null"i
_ORDER: "order"i
_BY: "by"i
_NULLS: "nulls"i
_LIMIT: "limit"i
_OFFSET: "offset"i
COUNT: "count"i
TRUE: "true"i
FALSE: "false"i
DIRECTION: "asc"i | "desc"i
NULLS_POSITION: "first"i | "last"i

NAME: /[a-z][a-z0-9_]*/i
OPERATOR: /!=|<>|<=|>=|=|<|>/
STRING: /'(?:[^'\\]|\\.)*'/s
NUMBER: /-?\d+(\.\d+)?/
DATE.2: /\d{4}-\d{2}-\d{2}/
DATETIME.3: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})/
RELATIVE_DAY.2: /(today|yesterday|tomorrow)\b/i
N_DAYS.2: /(last|next)_n_days:\d+\b/i

%ignore /\s+/
"""

# The backslash escapes SOQL allows in string literals; any other escape is a syntax error.
_STRING_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
}

# Salesforce rejects OFFSET above this with NUMBER_OUTSIDE_VALID_RANGE.
MAX_OFFSET = 2000


@functools.cache
def _parser() -> Lark:
    return Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False)


def parse_soql(text: str) -> SoqlQuery:
    """Parse a SOQL query, rejecting anything outside the supported subset.

    Raises:
        SoqlError: ``MALFORMED_QUERY`` for a syntax error, unsupported clause or bad literal, and
            ``NUMBER_OUTSIDE_VALID_RANGE`` for an OFFSET above 2000.
    """
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as error:
        raise SoqlError(_syntax_message(text, error)) from error
    try:
        return cast(SoqlQuery, _ToQuery().transform(tree))
    except VisitError as error:
        if isinstance(error.orig_exc, SoqlError):
            raise error.orig_exc from None
        raise


def run_soql(
    text: str, store: OrgStore, *, include_deleted: bool = False, now: datetime | None = None
) -> SoqlResult:
    """Parse and run a query against the store, as the ``query`` and ``queryAll`` resources do.

    Args:
        text: The SOQL query.
        store: The records to query.
        include_deleted: True for ``queryAll``, which also returns records with IsDeleted set.
        now: The clock for ``TODAY`` and friends; defaults to the current UTC time.
    """
    return evaluate(parse_soql(text), store, include_deleted=include_deleted, now=now)


def _syntax_message(text: str, error: UnexpectedInput) -> str:
    """Format a parse error like Salesforce: the query line, a caret and the position."""
    token = getattr(error, "token", None)
    at_end = isinstance(error, UnexpectedEOF) or getattr(token, "type", None) == "$END"
    lines = text.splitlines() or [""]
    if at_end:
        line, column = len(lines), len(lines[-1]) + 1
        reason = "unexpected token: <EOF>"
    else:
        line, column = error.line, error.column
        if isinstance(error, UnexpectedCharacters):
            reason = f"unexpected character: {error.char!r}"
        else:
            reason = f"unexpected token: {token}"
    caret = " " * (column - 1) + "^"
    return f"\n{lines[line - 1]}\n{caret}\nERROR at Row:{line}:Column:{column}\n{reason}"


def decode_string(raw: str) -> str:
    """Decode a quoted SOQL string literal such as ``'O\\'Brien'``."""
    return "".join(char for char, _ in _unescape(raw, allow_like_escapes=False))


def compile_like(raw: str) -> re.Pattern[str]:
    """Compile a quoted LIKE pattern: ``%`` is any run, ``_`` one character, case-insensitive."""
    parts = []
    for char, escaped in _unescape(raw, allow_like_escapes=True):
        if char == "%" and not escaped:
            parts.append(".*")
        elif char == "_" and not escaped:
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _unescape(raw: str, *, allow_like_escapes: bool) -> list[tuple[str, bool]]:
    """Split a quoted literal into characters, flagging those that came from an escape."""
    body = raw[1:-1]
    characters: list[tuple[str, bool]] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            characters.append((char, False))
            index += 1
            continue
        code = body[index + 1]
        if code.lower() in _STRING_ESCAPES:
            characters.append((_STRING_ESCAPES[code.lower()], True))
        elif allow_like_escapes and code in "%_":
            characters.append((code, True))
        else:
            # Salesforce accepts \% and \_ only in LIKE patterns and rejects other escapes.
            raise SoqlError(f"Invalid string literal {raw}. Illegal escape sequence \\{code}")
        index += 2
    return characters


def _parse_number(token: Token) -> int | float:
    return float(token) if "." in token else int(token)


def _parse_count(token: Token, clause: str) -> int:
    number = _parse_number(token)
    if not isinstance(number, int) or number < 0:
        raise SoqlError(f"{clause} must be a non-negative integer, found {token}")
    return number


class _ToQuery(Transformer[Token, Any]):
    """Turn the lark parse tree into ``soql_ast`` objects."""

    def start(self, children: list[Any]) -> SoqlQuery:
        select, sobject, *clauses = children
        query: dict[str, Any] = {}
        for clause in clauses:
            query.update(clause)
        count_only = select is None
        return SoqlQuery(
            sobject=str(sobject),
            fields=() if count_only else select,
            count_only=count_only,
            **query,
        )

    def count_all(self, _children: list[Token]) -> None:
        return None

    def field_list(self, paths: list[FieldPath]) -> tuple[FieldPath, ...]:
        return tuple(paths)

    def field_path(self, names: list[Token]) -> FieldPath:
        return FieldPath(tuple(str(name) for name in names))

    def where(self, children: list[Condition]) -> dict[str, Condition]:
        return {"where": children[0]}

    def and_chain(self, operands: list[Condition]) -> BoolOp:
        return BoolOp("AND", tuple(operands))

    def or_chain(self, operands: list[Condition]) -> BoolOp:
        return BoolOp("OR", tuple(operands))

    def negation(self, children: list[Condition]) -> Not:
        return Not(children[0])

    @v_args(inline=True)
    def comparison(self, field: FieldPath, operator: Token, value: Value) -> Comparison:
        symbol = "!=" if operator == "<>" else str(operator)
        return Comparison(field, cast(Operator, symbol), value)

    @v_args(inline=True)
    def in_list(self, field: FieldPath, values: tuple[Value, ...]) -> Membership:
        return Membership(field, values, negated=False)

    @v_args(inline=True)
    def not_in_list(self, field: FieldPath, values: tuple[Value, ...]) -> Membership:
        return Membership(field, values, negated=True)

    @v_args(inline=True)
    def like(self, field: FieldPath, pattern: Token) -> Like:
        return Like(field, str(pattern), compile_like(str(pattern)))

    def value_list(self, values: list[Value]) -> tuple[Value, ...]:
        return tuple(values)

    @v_args(inline=True)
    def string(self, token: Token) -> str:
        return decode_string(str(token))

    @v_args(inline=True)
    def number(self, token: Token) -> int | float:
        return _parse_number(token)

    @v_args(inline=True)
    def date(self, token: Token) -> date:
        try:
            return date.fromisoformat(token)
        except ValueError:
            raise SoqlError(f"Invalid date: {token}") from None

    @v_args(inline=True)
    def datetime(self, token: Token) -> datetime:
        try:
            return datetime.fromisoformat(token)
        except ValueError:
            raise SoqlError(f"Invalid datetime: {token}") from None

    def null(self, _children: list[Token]) -> None:
        return None

    def true(self, _children: list[Token]) -> bool:
        return True

    def false(self, _children: list[Token]) -> bool:
        return False

    @v_args(inline=True)
    def relative_day(self, token: Token) -> RelativeDate:
        return RelativeDate(token.upper())

    @v_args(inline=True)
    def n_days(self, token: Token) -> RelativeDate:
        keyword, days = token.upper().split(":")
        return RelativeDate(keyword, int(days))

    def order_by(self, items: list[OrderItem]) -> dict[str, tuple[OrderItem, ...]]:
        return {"order_by": tuple(items)}

    def order_item(self, children: list[Any]) -> OrderItem:
        field, *modifiers = children
        options = dict(modifiers)
        return OrderItem(
            field,
            descending=options.get("direction") == "DESC",
            nulls_last=options.get("nulls") == "LAST",
        )

    @v_args(inline=True)
    def direction(self, keyword: Token) -> tuple[str, str]:
        return "direction", keyword.upper()

    @v_args(inline=True)
    def nulls(self, position: Token) -> tuple[str, str]:
        return "nulls", position.upper()

    @v_args(inline=True)
    def limit(self, token: Token) -> dict[str, int]:
        return {"limit": _parse_count(token, "LIMIT")}

    @v_args(inline=True)
    def offset(self, token: Token) -> dict[str, int]:
        offset = _parse_count(token, "OFFSET")
        if offset > MAX_OFFSET:
            raise SoqlError(
                f"Maximum SOQL offset allowed is {MAX_OFFSET}, found {offset}",
                error_code="NUMBER_OUTSIDE_VALID_RANGE",
            )
        return {"offset": offset}
