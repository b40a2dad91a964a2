"""Account-level bootstrap of the program effects: expansion and NPS uplift and the ROI.

The account is the resampling unit (the cluster): all of an account's gifts, outcomes and
referrals move together, so accounts with many records do not shrink the intervals. Each arm is
resampled on its own, which keeps the arm sizes of the randomized design. Intervals are the
2.5 and 97.5 percentiles of the resampled statistic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from gifting.cohorts.estimators import EXPANSION_WINDOW_DAYS
from gifting.cohorts.resampling import WeightedArm, weighted_effects
from gifting.cohorts.roi import RoiInputs, roi_breakdown
from gifting.cohorts.survival import survival_probability

logger = logging.getLogger(__name__)

DEFAULT_RESAMPLES = 500
MIN_FINITE_SHARE = 0.9
"""Share of resamples that must give a finite statistic for an interval to be reported.

A small arm can draw a resample with, say, no NPS response; when that happens often the interval
of the remaining resamples would be too narrow, so none is reported.
"""

EFFECTS = ("expansion_rate_365_diff", "avg_nps_diff", "referrals_per_account_diff", "roi")


@dataclass(frozen=True)
class ArmSample:
    """The base-table columns the program effects need, as numpy arrays (one entry per account)."""

    durations: np.ndarray
    churned: np.ndarray
    expansion_eligible: np.ndarray
    expanded: np.ndarray
    expansion_amount: np.ndarray
    nps: np.ndarray
    referrals: np.ndarray
    gift_spend: np.ndarray
    contract_amount: np.ndarray

    @classmethod
    def from_frame(cls, accounts: pd.DataFrame) -> ArmSample:
        """Extract the arrays from base-table rows; missing NPS stays NaN."""
        expanded = accounts["expanded_within_365"].to_numpy(dtype=float) > 0
        eligible = (accounts["follow_up_days"].to_numpy(dtype=float) >= EXPANSION_WINDOW_DAYS) | (
            expanded
        )
        return cls(
            durations=accounts["duration_days"].to_numpy(dtype=float),
            churned=accounts["churned"].to_numpy(dtype=float) > 0,
            expansion_eligible=eligible,
            expanded=expanded,
            expansion_amount=accounts["expansion_amount"].to_numpy(dtype=float),
            nps=pd.to_numeric(accounts["nps"], errors="coerce").to_numpy(dtype=float),
            referrals=np.nan_to_num(accounts["referrals"].to_numpy(dtype=float)),
            gift_spend=np.nan_to_num(accounts["gift_spend"].to_numpy(dtype=float)),
            contract_amount=accounts["contract_amount"].to_numpy(dtype=float),
        )

    def weighted(self) -> WeightedArm:
        """Prepare this arm for resampling by account weights."""
        return WeightedArm.prepare(**{item.name: getattr(self, item.name) for item in fields(self)})

    def take(self, indices: np.ndarray) -> ArmSample:
        """Return the accounts at ``indices``, repeats included (one bootstrap resample)."""
        return ArmSample(**{item.name: getattr(self, item.name)[indices] for item in fields(self)})

    def __len__(self) -> int:
        return int(self.durations.size)


def program_effects(
    gifted: ArmSample, holdout: ArmSample, referral_value: float
) -> dict[str, float]:
    """Compute the bootstrapped effects (gifted minus holdout) and the ROI; NaN where undefined."""
    inputs = roi_inputs(gifted, holdout, referral_value)
    breakdown = roi_breakdown(inputs)
    return {
        "expansion_rate_365_diff": _none_to_nan(inputs.expansion_uplift),
        "avg_nps_diff": _nanmean(gifted.nps) - _nanmean(holdout.nps),
        "referrals_per_account_diff": _none_to_nan(inputs.referral_uplift),
        "roi": float("nan") if breakdown is None else breakdown.roi,
    }


def roi_inputs(gifted: ArmSample, holdout: ArmSample, referral_value: float) -> RoiInputs:
    """Measure the ROI inputs on the randomized population (gifted and holdout accounts)."""
    retention = [survival_probability(arm.durations, arm.churned, 365) for arm in (gifted, holdout)]
    expansion = [_nanmean(arm.expanded[arm.expansion_eligible]) for arm in (gifted, holdout)]
    contract_amount = np.concatenate([gifted.contract_amount, holdout.contract_amount])
    amounts = np.concatenate([gifted.expansion_amount, holdout.expansion_amount])
    return RoiInputs(
        retention_uplift=_nan_to_none(retention[0] - retention[1]),
        average_contract_amount=_nan_to_none(_nanmean(contract_amount)),
        expansion_uplift=_nan_to_none(expansion[0] - expansion[1]),
        average_expansion_amount=_nan_to_none(_nanmean(amounts[amounts > 0])),
        referral_uplift=_nan_to_none(_nanmean(gifted.referrals) - _nanmean(holdout.referrals)),
        referral_value=referral_value,
        spend_per_gifted_account=_nan_to_none(_nanmean(gifted.gift_spend)),
        gifted_accounts=len(gifted),
    )


def bootstrap_intervals(
    gifted: ArmSample,
    holdout: ArmSample,
    *,
    referral_value: float,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, tuple[float, float] | None]:
    """Return the percentile 95 % interval of each program effect, or None where it is undefined.

    The same ``seed`` and data always give the same intervals. Each resample is drawn as
    account weights (see ``gifting.cohorts.resampling``), so its cost grows with the arm size
    but no resampled copy of the arm is built.
    """
    if len(gifted) == 0 or len(holdout) == 0 or resamples < 1:
        return dict.fromkeys(EFFECTS)
    generator = np.random.default_rng(seed)
    weighted = gifted.weighted(), holdout.weighted()
    draws = {name: np.empty(resamples) for name in EFFECTS}
    for index in range(resamples):
        weights = weighted[0].draw_weights(generator), weighted[1].draw_weights(generator)
        for name, value in weighted_effects(*weighted, *weights, referral_value).items():
            draws[name][index] = value
    logger.debug("drew %s bootstrap resamples with seed %s", resamples, seed)
    return {name: _percentile_interval(values) for name, values in draws.items()}


def _percentile_interval(values: np.ndarray) -> tuple[float, float] | None:
    finite = values[np.isfinite(values)]
    if finite.size == 0 or finite.size < MIN_FINITE_SHARE * values.size:
        return None
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _nan_to_none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _none_to_nan(value: float | None) -> float:
    return float("nan") if value is None else value
