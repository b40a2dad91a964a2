"""Great Expectations checks on the report: metric ranges, counts and spend against the ledger.

Four frames are validated: the metric rows, the rate rows among them, the account base table,
and a reconciliation frame with one row per arm that sets the base table's counts and spend
beside the metric rows' and the ledger's. The ledger spend is read here with its own query, so
a fault in the report's SQL shows up as a mismatch instead of being checked against itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Float, cast, func, or_, select

from gifting.cohorts.arms import ALL_COHORTS, ARMS
from gifting.cohorts.metrics import RATE_METRICS, naive_utc
from gifting.warehouse.schema import Gift

logger = logging.getLogger(__name__)

SENT_STATUSES = ("sent", "delivered")
NON_NEGATIVE_COLUMNS = (
    "duration_days",
    "gift_spend",
    "gifts_sent",
    "referrals",
    "expansion_amount",
    "replies",
    "meetings",
    "support_cases",
)
ACCOUNT_CHECK_COLUMNS = ["account_id", "arm", "churned", *NON_NEGATIVE_COLUMNS]
SPEND_TOLERANCE = 0.005
"""Largest spend difference accepted, half a cent, since prices are stored to the cent."""


@dataclass(frozen=True)
class CheckResult:
    """Outcome of ``check_report``.

    Attributes:
        success: True when every expectation passed.
        failures: One line per failed expectation: the frame, the expectation and examples.
    """

    success: bool
    failures: list[str] = field(default_factory=list)


def check_report(
    engine: Engine, metrics: pd.DataFrame, base: pd.DataFrame, as_of: datetime
) -> CheckResult:
    """Validate the metric rows and the base table against each other and the gift ledger.

    Great Expectations is imported here, not at module level, because importing it takes about
    two seconds and only the nightly report needs it.
    """
    frames = {
        "metrics": metrics,
        "rates": metrics[metrics["metric"].isin(RATE_METRICS)],
        # Only the checked columns, copied into one consolidated block per dtype. Great
        # Expectations copies the frame per expectation, and copying the base table's many
        # blocks took most of the checks' time at a million accounts.
        "accounts": base[ACCOUNT_CHECK_COLUMNS].copy(),
        "reconciliation": reconcile_arms(metrics, base, ledger_spend(engine, base, as_of)),
    }
    context = _ephemeral_context()
    failures: list[str] = []
    for name, frame in frames.items():
        failures.extend(_validate(context, name, frame, _expectations(name)))
    logger.info("ran report checks over %s frames: %s failures", len(frames), len(failures))
    if failures:
        logger.error("report checks failed: %s", "; ".join(failures))
    return CheckResult(success=not failures, failures=failures)


def ledger_spend(engine: Engine, base: pd.DataFrame, as_of: datetime) -> pd.Series:
    """Sum ``gifts.price`` of sent and delivered gifts up to ``as_of`` per account in ``base``.

    A sent gift without ``sent_at`` counts, as in the report's base table. Spend on accounts
    outside the base table (no won contract by ``as_of``) is logged, not counted.
    """
    stamp = naive_utc(as_of)
    # Summed as a float in the database, because converting a million Decimal sums in Python
    # took seconds. Prices are cents, far inside a double's exact range.
    query = (
        select(Gift.account_id, cast(func.sum(Gift.price), Float).label("spend"))
        .where(Gift.status.in_(SENT_STATUSES))
        .where(or_(Gift.sent_at.is_(None), Gift.sent_at <= stamp))
        .group_by(Gift.account_id)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    ledger = pd.DataFrame(rows, columns=["account_id", "spend"])
    spend = pd.to_numeric(ledger["spend"]).fillna(0.0).astype(float)
    spend.index = pd.Index(ledger["account_id"])
    outside = spend[~spend.index.isin(base["account_id"])]
    if not outside.empty:
        logger.warning(
            "%s accounts without a won contract have %.2f gift spend, left out of the report",
            len(outside),
            outside.sum(),
        )
    return spend.reindex(base["account_id"]).fillna(0.0)


def reconcile_arms(metrics: pd.DataFrame, base: pd.DataFrame, spend: pd.Series) -> pd.DataFrame:
    """Build one row per arm with counts and spend from the base table, metrics and ledger."""
    overall = metrics[metrics["cohort"] == ALL_COHORTS]
    by_cohort = metrics[metrics["cohort"] != ALL_COHORTS]
    rows = []
    for arm in ARMS:
        in_arm = base["arm"] == arm
        rows.append(
            {
                "arm": arm,
                "base_accounts": int(in_arm.sum()),
                "metric_accounts": _metric_n(overall, arm, "accounts"),
                "cohort_accounts": _metric_n(by_cohort, arm, "accounts"),
                "base_spend_gap": float(base.loc[in_arm, "gift_spend"].fillna(0).sum())
                - float(spend[in_arm.to_numpy()].sum()),
                "metric_spend_gap": _metric_value(overall, arm, "gift_spend_total")
                - float(spend[in_arm.to_numpy()].sum()),
            }
        )
    return pd.DataFrame(rows)


def _metric_n(metrics: pd.DataFrame, arm: str, metric: str) -> int:
    selected = metrics[(metrics["arm"] == arm) & (metrics["metric"] == metric)]
    return int(selected["n"].sum())


def _metric_value(metrics: pd.DataFrame, arm: str, metric: str) -> float:
    selected = metrics[(metrics["arm"] == arm) & (metrics["metric"] == metric)]
    return float(selected["value"].fillna(0).sum())


def _expectations(name: str) -> list[tuple[str, dict[str, Any]]]:
    """Return (expectation class name, arguments) pairs for one frame."""
    between = "ExpectColumnValuesToBeBetween"
    not_null = "ExpectColumnValuesToNotBeNull"
    if name == "metrics":
        return [
            (between, {"column": "n", "min_value": 0}),
            (not_null, {"column": "n"}),
            ("ExpectCompoundColumnsToBeUnique", {"column_list": ["cohort", "arm", "metric"]}),
        ]
    if name == "rates":
        within_interval = {"or_equal": True, "ignore_row_if": "either_value_is_missing"}
        return [
            *(
                (between, {"column": column, "min_value": 0, "max_value": 1})
                for column in ("value", "ci_low", "ci_high")
            ),
            (
                "ExpectColumnPairValuesAToBeGreaterThanB",
                {"column_A": "value", "column_B": "ci_low", **within_interval},
            ),
            (
                "ExpectColumnPairValuesAToBeGreaterThanB",
                {"column_A": "ci_high", "column_B": "value", **within_interval},
            ),
        ]
    if name == "accounts":
        return [
            ("ExpectColumnValuesToBeUnique", {"column": "account_id"}),
            (not_null, {"column": "account_id"}),
            ("ExpectColumnValuesToBeInSet", {"column": "arm", "value_set": list(ARMS)}),
            ("ExpectColumnValuesToBeInSet", {"column": "churned", "value_set": [0, 1]}),
            *((between, {"column": column, "min_value": 0}) for column in NON_NEGATIVE_COLUMNS),
        ]
    gap = {"min_value": -SPEND_TOLERANCE, "max_value": SPEND_TOLERANCE}
    return [
        (
            "ExpectColumnPairValuesToBeEqual",
            {"column_A": "base_accounts", "column_B": "metric_accounts"},
        ),
        (
            "ExpectColumnPairValuesToBeEqual",
            {"column_A": "base_accounts", "column_B": "cohort_accounts"},
        ),
        (between, {"column": "base_spend_gap", **gap}),
        (between, {"column": "metric_spend_gap", **gap}),
    ]


def _ephemeral_context() -> Any:
    """Create an in-memory Great Expectations context that writes no files and shows no bars."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # Progress bars would print to stderr on every nightly run.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _validate(
    context: Any, name: str, frame: pd.DataFrame, expectations: list[tuple[str, dict[str, Any]]]
) -> list[str]:
    """Run one suite over ``frame`` and describe each failed expectation."""
    import great_expectations as gx

    asset = context.data_sources.add_pandas(f"cohort_report_{name}").add_dataframe_asset(name)
    batch_definition = asset.add_batch_definition_whole_dataframe(name)
    suite = context.suites.add(gx.ExpectationSuite(name=name))
    for class_name, arguments in expectations:
        suite.add_expectation(getattr(gx.expectations, class_name)(**arguments))
    validation = gx.ValidationDefinition(data=batch_definition, suite=suite, name=name)
    result = context.validation_definitions.add(validation).run(
        batch_parameters={"dataframe": frame}
    )
    return [_describe(name, item) for item in result.results if not item.success]


def _describe(name: str, item: Any) -> str:
    config = item.expectation_config
    arguments = {
        key: value
        for key, value in config.kwargs.items()
        if key not in {"batch_id", "result_format"}
    }
    examples = (item.result or {}).get("partial_unexpected_list", [])[:3]
    count = (item.result or {}).get("unexpected_count")
    return f"{name}: {config.type} {arguments} failed ({count} unexpected, e.g. {examples})"
