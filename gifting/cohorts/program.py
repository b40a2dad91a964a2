"""Program-level rows: the randomized effects of gifting, the ROI breakdown and the SRM check."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from gifting.cohorts.arms import GIFTED, HOLDOUT
from gifting.cohorts.bootstrap import (
    DEFAULT_RESAMPLES,
    ArmSample,
    bootstrap_intervals,
    program_effects,
    roi_inputs,
)
from gifting.cohorts.estimators import (
    ENGAGEMENT_COLUMNS,
    PARTICIPATION_COLUMNS,
    Estimate,
    expansion_amount,
    mean,
    participation_inputs,
    proportion,
    renewal_inputs,
)
from gifting.cohorts.randomized import (
    check_sample_ratio,
    engagement_rate_difference,
    logrank_p,
    retention_difference,
    rmst_difference,
)
from gifting.cohorts.roi import RoiBreakdown, roi_breakdown
from gifting.cohorts.shares import share_difference
from gifting.config import UsageTableConfig


@dataclass(frozen=True)
class AnalysisOptions:
    """Parameters of the program comparison that come from outside the warehouse.

    Attributes:
        holdout_share: The configured holdout share (``holdout.share`` in config/program.yaml).
        referral_value: Value of one referral in the contract currency; 0 leaves referrals
            out of the ROI.
        bootstrap_resamples: Resamples per bootstrap interval.
        seed: Seed of the bootstrap's ``numpy.random.default_rng``.
        reply_kinds: Activity kinds counted as replies, from ``engagement.reply_task_types``
            in config/salesforce.yaml.
        usage: The product-usage table (``report.usage`` in config/program.yaml), or None to
            leave usage out.
        unmapped_outcomes: Optional outcome kinds (``renewal``, ``testimonial``,
            ``case_study``) that config/salesforce.yaml leaves out, so the report leaves out
            their metrics; ``FieldMapping.unmapped_outcomes``.
    """

    holdout_share: float = 0.10
    referral_value: float = 0.0
    bootstrap_resamples: int = DEFAULT_RESAMPLES
    seed: int = 0
    reply_kinds: tuple[str, ...] = ("email",)
    usage: UsageTableConfig | None = None
    unmapped_outcomes: tuple[str, ...] = ()


def program_metrics(frame: pd.DataFrame, options: AnalysisOptions) -> dict[str, Estimate]:
    """Compare the gifted arm with the randomized holdout over all cohorts.

    Returns the retention and RMST differences, the log-rank p-value, the engagement rate
    differences, bootstrap intervals for the expansion, NPS and referral uplifts, the renewal,
    testimonial and case-study rate differences and the ROI,
    every ROI input and component (so a reader of the stored table can recompute it), and the
    sample-ratio check.
    """
    gifted, holdout = frame[frame["arm"] == GIFTED], frame[frame["arm"] == HOLDOUT]
    samples = ArmSample.from_frame(gifted), ArmSample.from_frame(holdout)
    n = len(gifted) + len(holdout)
    metrics = {
        "retention_365_diff": retention_difference(gifted, holdout, 365),
        "rmst_365_diff": rmst_difference(gifted, holdout),
        "logrank_p": logrank_p(gifted, holdout),
    }
    for column in ENGAGEMENT_COLUMNS:
        metrics[f"{column}_per_30d_diff"] = engagement_rate_difference(gifted, holdout, column)
    metrics.update(_bootstrapped_effects(*samples, options, n))
    metrics.update(_share_effects(gifted, holdout, options))
    metrics.update(_roi_rows(gifted, holdout, *samples, options))
    metrics.update(_sample_ratio_rows(frame, options.holdout_share))
    return metrics


def _bootstrapped_effects(
    gifted: ArmSample, holdout: ArmSample, options: AnalysisOptions, n: int
) -> dict[str, Estimate]:
    points = program_effects(gifted, holdout, options.referral_value)
    intervals = bootstrap_intervals(
        gifted,
        holdout,
        referral_value=options.referral_value,
        resamples=options.bootstrap_resamples,
        seed=options.seed,
    )
    estimates = {}
    for name, point in points.items():
        interval = intervals[name] if pd.notna(point) else None
        low, high = interval if interval is not None else (None, None)
        value = None if pd.isna(point) else float(point)
        estimates[name] = Estimate(value, len(gifted) if name == "roi" else n, low, high)
    return estimates


def _share_effects(
    gifted: pd.DataFrame, holdout: pd.DataFrame, options: AnalysisOptions
) -> dict[str, Estimate]:
    """Bootstrap the renewal, testimonial and case-study rate differences by account."""
    resampling = {"resamples": options.bootstrap_resamples, "seed": options.seed}
    effects = {
        "renewal_rate_diff": share_difference(
            renewal_inputs(gifted), renewal_inputs(holdout), **resampling
        )
    }
    for column in PARTICIPATION_COLUMNS:
        effects[f"{column}_rate_diff"] = share_difference(
            participation_inputs(gifted, column),
            participation_inputs(holdout, column),
            **resampling,
        )
    return effects


def _roi_rows(
    gifted: pd.DataFrame,
    holdout: pd.DataFrame,
    gifted_sample: ArmSample,
    holdout_sample: ArmSample,
    options: AnalysisOptions,
) -> dict[str, Estimate]:
    """List each measured ROI input and each value component, with the n it rests on."""
    inputs = roi_inputs(gifted_sample, holdout_sample, options.referral_value)
    randomized = pd.concat([gifted, holdout])
    rows = {
        "avg_contract_amount": mean(randomized["contract_amount"]),
        "avg_expansion_amount": expansion_amount(randomized),
        "referral_value": Estimate(options.referral_value, 0),
        "gift_spend_per_gifted_account": mean(gifted["gift_spend"]),
    }
    breakdown = roi_breakdown(inputs)
    rows.update(_breakdown_rows(breakdown, len(gifted)))
    return rows


def _breakdown_rows(breakdown: RoiBreakdown | None, gifted: int) -> dict[str, Estimate]:
    names = [
        "retention_value",
        "expansion_value",
        "referral_value_gained",
        "value_per_gifted_account",
        "net_value_per_gifted_account",
        "program_value",
        "program_spend",
        "program_net_value",
    ]
    if breakdown is None:
        return {f"roi_{name}": Estimate(None, gifted) for name in names}
    values = [
        breakdown.retention_value,
        breakdown.expansion_value,
        breakdown.referral_value,
        breakdown.value_per_gifted_account,
        breakdown.net_value_per_gifted_account,
        breakdown.program_value,
        breakdown.program_spend,
        breakdown.program_net_value,
    ]
    return {
        f"roi_{name}": Estimate(value, gifted) for name, value in zip(names, values, strict=True)
    }


def _sample_ratio_rows(frame: pd.DataFrame, expected_share: float) -> dict[str, Estimate]:
    check = check_sample_ratio(frame, expected_share)
    return {
        "holdout_share": proportion(check.holdout, check.assigned),
        "holdout_share_expected": Estimate(expected_share, check.assigned),
        "srm_p": Estimate(check.p_value, check.assigned),
    }
