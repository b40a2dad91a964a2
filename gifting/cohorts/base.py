"""Warehouse access for cohort reporting: the account base table and the stored metric rows."""

from __future__ import annotations

import logging
from datetime import datetime

import pandas as pd
from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Engine,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlalchemy.exc import DBAPIError

from gifting.cohorts.arms import assign_arms
from gifting.cohorts.estimators import EXPANSION_WINDOW_DAYS
from gifting.cohorts.metrics import METRIC_COLUMNS, naive_utc
from gifting.cohorts.program import AnalysisOptions
from gifting.config import UsageTableConfig
from gifting.errors import ConfigurationError
from gifting.salesforce.mapping import EVENT_KINDS
from gifting.settings import PROJECT_ROOT
from gifting.warehouse.schema import CohortMetric, Contract

logger = logging.getLogger(__name__)

SQL_DIR = PROJECT_ROOT / "sql"

ACCOUNT_COLUMNS = [
    "account_id",
    "cohort",
    "arm",
    "signed_on",
    "duration_days",
    "churned",
    "expanded_within_365",
    "expansion_amount",
    "nps",
    "referrals",
    "gift_spend",
    "gifts_sent",
    "contract_amount",
    "follow_up_days",
    "holdout_assigned",
    "first_expansion_days",
    "first_gift_days",
    "replies",
    "meetings",
    "support_cases",
    "usage",
    "renewals",
    "testimonial",
    "case_study",
    "transfers_of_value",
    "transfer_of_value_spend",
]
"""Columns of the account base table, one row per account with a won contract.

``churned`` and ``duration_days`` end at the earlier of the churn date and the non-renewal date.
``renewals`` counts won renewal deals after signing; ``testimonial`` and ``case_study`` are 1
when the account took part. Each of the three is NaN for every account when the field mapping
leaves it out (``AnalysisOptions.unmapped_outcomes``). ``transfers_of_value`` and
``transfer_of_value_spend`` count and sum the sent gifts marked as transfers of value.

``replies``, ``meetings`` and ``support_cases`` count activities and cases from signing to the
report time. ``usage`` sums the configured usage table over the same days, and is NaN for every
account when no usage table is configured. ``holdout_assigned`` is false for accounts that
planning has not seen yet, which were never randomized. ``first_expansion_days`` and
``first_gift_days`` count days from signing to the first expansion and the first sent gift, NaN
when there was none (or its send time is unknown).
"""

_NUMERIC_COLUMNS = [
    "contract_amount",
    "gift_spend",
    "expansion_amount",
    "nps",
    "referrals",
    "transfer_of_value_spend",
]
_COUNT_COLUMNS = ["replies", "meetings", "support_cases", "transfers_of_value"]
_OPTIONAL_OUTCOMES = {
    "renewal": "renewals",
    "testimonial": "testimonial",
    "case_study": "case_study",
}
MEETING_KINDS = tuple(sorted(set(EVENT_KINDS.values())))
"""Activity kinds of Salesforce Events (meetings, kickoffs, go-lives, QBRs): meetings held."""


def load_account_cohorts(
    engine: Engine, as_of: datetime, options: AnalysisOptions | None = None
) -> pd.DataFrame:
    """Load one row per signed account as of ``as_of``, with its cohort, arm and outcomes.

    ``duration_days`` is the days from signing to churn for accounts that churned on or before
    ``as_of`` (``churned`` = 1), else the days of follow-up up to ``as_of`` (censored). An empty
    warehouse gives an empty frame with the same columns.

    Raises:
        ConfigurationError: The configured usage table or one of its columns does not exist.
    """
    options = options or AnalysisOptions()
    stamp = naive_utc(as_of)
    statement = text((SQL_DIR / "select_account_cohorts.sql").read_text()).bindparams(
        bindparam("as_of_date", value=stamp.date(), type_=Date()),
        bindparam("as_of", value=stamp, type_=DateTime()),
        bindparam("reply_kinds", value=list(options.reply_kinds), expanding=True),
        bindparam("meeting_kinds", value=list(MEETING_KINDS), expanding=True),
    )
    with engine.connect() as connection:
        result = connection.execute(statement)
        # Plain tuples, because building a mapping per row costs seconds at a million accounts.
        raw = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        if options.usage is not None and not raw.empty:
            usage = _usage_totals(connection, options.usage, stamp)
            raw["usage"] = raw["account_id"].map(usage).fillna(0.0)
    frame = _derive_columns(raw, stamp)
    for outcome in options.unmapped_outcomes:
        frame[_OPTIONAL_OUTCOMES[outcome]] = float("nan")
    logger.info("loaded %s signed accounts as of %s", len(frame), stamp)
    return frame


def _derive_columns(raw: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """Turn the SQL rows into the base table: dates, durations, flags and arms."""
    if raw.empty:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in ACCOUNT_COLUMNS})
    as_of_day = pd.Timestamp(as_of.date())
    # SQLite returns ISO 8601 text (with or without microseconds), PostgreSQL date objects.
    signed_on = pd.to_datetime(raw["signed_on"], format="ISO8601")
    # Notice not to renew ends the account as a customer just as churn does: the earlier counts.
    churned_on = pd.to_datetime(raw["churned_on"], format="ISO8601")
    non_renewed_on = pd.to_datetime(raw["non_renewed_on"], format="ISO8601")
    churned_on = churned_on.mask(churned_on.isna() | (non_renewed_on < churned_on), non_renewed_on)
    first_expansion_on = pd.to_datetime(raw["first_expansion_on"], format="ISO8601")
    frame = raw[["account_id"]].copy()
    # numpy formats month precision as YYYY-MM far faster than strftime on a million rows.
    frame["cohort"] = signed_on.to_numpy(dtype="datetime64[M]").astype(str)
    frame["arm"] = assign_arms(raw["holdout"], raw["gifts_sent"])
    frame["signed_on"] = signed_on.dt.date
    frame["follow_up_days"] = (as_of_day - signed_on).dt.days
    frame["churned"] = churned_on.notna().astype(int)
    frame["duration_days"] = (churned_on.fillna(as_of_day) - signed_on).dt.days
    days_to_expansion = (first_expansion_on - signed_on).dt.days
    frame["expanded_within_365"] = (days_to_expansion <= EXPANSION_WINDOW_DAYS).astype(int)
    frame["first_expansion_days"] = days_to_expansion.astype(float)
    first_sent_on = pd.to_datetime(raw["first_sent_at"], format="ISO8601").dt.normalize()
    frame["first_gift_days"] = (first_sent_on - signed_on).dt.days.astype(float)
    frame["holdout_assigned"] = raw["holdout"].notna()
    frame["gifts_sent"] = raw["gifts_sent"].astype(int)
    for column in _NUMERIC_COLUMNS:
        # PostgreSQL returns NUMERIC sums as Decimal; the metrics need floats.
        frame[column] = pd.to_numeric(raw[column], errors="coerce").astype(float)
    for column in _COUNT_COLUMNS:
        frame[column] = raw[column].astype(int)
    for column in _OPTIONAL_OUTCOMES.values():
        frame[column] = pd.to_numeric(raw[column], errors="coerce").astype(float)
    usage = raw["usage"] if "usage" in raw else pd.Series(float("nan"), index=raw.index)
    frame["usage"] = pd.to_numeric(usage, errors="coerce").astype(float)
    return frame[ACCOUNT_COLUMNS]


def _usage_totals(connection: Connection, usage: UsageTableConfig, as_of: datetime) -> pd.Series:
    """Sum the usage table per account from its first signing day to the report date.

    The table and column names come from config/program.yaml, so the query is built with
    SQLAlchemy Core, which quotes them, instead of living in ``sql/``.
    """
    source = sql_table(
        usage.table,
        sql_column(usage.account_column),
        sql_column(usage.date_column),
        sql_column(usage.value_column),
    )
    account = source.c[usage.account_column]
    day = source.c[usage.date_column]
    signings = (
        select(Contract.account_id, func.min(Contract.signed_on).label("signed_on"))
        .where(Contract.status == "won", Contract.signed_on <= as_of.date())
        .group_by(Contract.account_id)
        .subquery()
    )
    query = (
        select(account.label("account_id"), func.sum(source.c[usage.value_column]).label("usage"))
        .join(signings, signings.c.account_id == account)
        .where(day >= signings.c.signed_on, day <= as_of.date())
        .group_by(account)
    )
    try:
        rows = connection.execute(query).all()
    except DBAPIError as error:
        connection.rollback()
        reason = str(error.orig).splitlines()[0]  # PostgreSQL adds the query and a caret
        raise ConfigurationError(
            f"cannot read the usage table {usage.table!r} with columns {usage.account_column!r}, "
            f"{usage.date_column!r} and {usage.value_column!r}: {reason}. Fix report.usage "
            "in config/program.yaml, or set it to null to leave usage out of the report"
        ) from error
    return pd.Series({row.account_id: float(row.usage or 0) for row in rows}, dtype=float)


def write_cohort_metrics(engine: Engine, metrics: pd.DataFrame) -> int:
    """Replace the stored rows of every ``as_of`` in ``metrics`` with these rows.

    Delete and insert run in one transaction, so a re-run for the same ``as_of`` leaves exactly
    one set of rows and a failed run leaves the previous set. Returns the number of rows written.
    """
    records = [_to_record(row) for row in metrics[METRIC_COLUMNS].to_dict("records")]
    stamps = sorted({record["as_of"] for record in records})
    with engine.begin() as connection:
        for stamp in stamps:
            connection.execute(delete(CohortMetric).where(CohortMetric.as_of == stamp))
        if records:
            connection.execute(insert(CohortMetric), records)
    logger.info("stored %s cohort metric rows for %s report dates", len(records), len(stamps))
    return len(records)


def _to_record(row: dict[str, object]) -> dict[str, object]:
    """Convert pandas values to plain Python, since NaN must be stored as NULL."""
    record = {key: (None if _is_missing(value) else value) for key, value in row.items()}
    record["as_of"] = naive_utc(pd.Timestamp(record["as_of"]).to_pydatetime())
    record["n"] = int(record["n"])  # type: ignore[call-overload]
    return record


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def read_cohort_metrics(engine: Engine, as_of: datetime | None = None) -> pd.DataFrame:
    """Read the stored metric rows of one report run, by default the newest one.

    Returns an empty frame with the metric columns when no run is stored yet.
    """
    with engine.connect() as connection:
        if as_of is None:
            latest = select(CohortMetric.as_of).order_by(CohortMetric.as_of.desc()).limit(1)
            as_of = connection.execute(latest).scalar_one_or_none()
        if as_of is None:
            return pd.DataFrame(columns=METRIC_COLUMNS)
        query = (
            select(*(getattr(CohortMetric, column) for column in METRIC_COLUMNS))
            .where(CohortMetric.as_of == naive_utc(as_of))
            .order_by(CohortMetric.cohort, CohortMetric.arm, CohortMetric.metric)
        )
        rows = connection.execute(query).mappings().all()
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)
