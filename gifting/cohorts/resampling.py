"""Bootstrap resamples as account weights, so a resample of a million accounts is never copied.

Drawing n accounts with replacement gives each account a count (its multinomial weight), and
every program effect is a function of weighted sums over the arm: shares, means and the
Kaplan–Meier product up to day 365. ``WeightedArm`` prepares those sums once per arm. Accounts
with the same discrete features (flags, NPS, referrals) share a code, so each resample costs
one weight vector, three ``bincount`` calls and one product with the three money columns.
``weighted_effects`` returns exactly what ``program_effects`` returns on the copied resample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gifting.cohorts.roi import RoiInputs, roi_breakdown

RETENTION_DAY = 365

# Positions in ``WeightedArm.totals``: the discrete columns, then the money columns.
ELIGIBLE, EXPANDED, NPS_ANSWERED, NPS_SUM, REFERRALS, AMOUNT_KNOWN, EXPANDING, REACHED = range(8)
GIFT_SPEND, CONTRACT_AMOUNT, EXPANSION_AMOUNT = range(8, 11)


@dataclass(frozen=True)
class WeightedArm:
    """One arm's accounts as feature codes, money columns and Kaplan–Meier slots.

    Attributes:
        codes: Per account, the row of ``levels`` with its discrete features.
        levels: One row per distinct combination of the discrete columns named at the top of
            this module, in that order.
        money: The money columns named at the top of this module, one row each, one column
            per account.
        risk_slot: Per account, the number of distinct churn times up to day 365 at or before
            its duration. The account is at risk at every churn time with a lower slot.
        event_accounts: Positions of the accounts whose churn falls on or before day 365.
        event_slot: The churn-time slot of each of those accounts.
        slots: Number of distinct churn times up to day 365.
    """

    codes: np.ndarray
    levels: np.ndarray
    money: np.ndarray
    risk_slot: np.ndarray
    event_accounts: np.ndarray
    event_slot: np.ndarray
    slots: int

    @classmethod
    def prepare(
        cls,
        *,
        durations: np.ndarray,
        churned: np.ndarray,
        expansion_eligible: np.ndarray,
        expanded: np.ndarray,
        expansion_amount: np.ndarray,
        nps: np.ndarray,
        referrals: np.ndarray,
        gift_spend: np.ndarray,
        contract_amount: np.ndarray,
    ) -> WeightedArm:
        """Build the weighted form of an arm from the arrays of ``ArmSample``."""
        answered = ~np.isnan(nps)
        amount_known = ~np.isnan(contract_amount)
        expanding = expansion_amount > 0  # NaN compares false, as in the unweighted mean
        discrete = np.column_stack(
            [
                expansion_eligible,
                expanded & expansion_eligible,
                answered,
                np.where(answered, nps, 0.0),
                referrals,
                amount_known,
                expanding,
                durations >= RETENTION_DAY,
            ]
        ).astype(float)
        levels, codes = np.unique(discrete, axis=0, return_inverse=True)
        money = np.vstack(
            [
                gift_spend,
                np.where(amount_known, contract_amount, 0.0),
                np.where(expanding, expansion_amount, 0.0),
            ]
        ).astype(float)
        counted = churned & (durations <= RETENTION_DAY)
        event_times = np.unique(durations[counted])
        event_accounts = np.flatnonzero(counted)
        return cls(
            codes=codes.reshape(-1),
            levels=levels,
            money=np.ascontiguousarray(money),
            risk_slot=np.searchsorted(event_times, durations, side="right"),
            event_accounts=event_accounts,
            event_slot=np.searchsorted(event_times, durations[event_accounts], side="left"),
            slots=int(event_times.size),
        )

    def __len__(self) -> int:
        return int(self.codes.size)

    def draw_weights(self, generator: np.random.Generator) -> np.ndarray:
        """Draw one bootstrap resample: how often each account is picked in n draws."""
        size = len(self)
        return np.bincount(generator.integers(0, size, size), minlength=size).astype(float)

    def totals(self, weights: np.ndarray) -> np.ndarray:
        """Sum every column named at the top of this module over the resample."""
        per_code = np.bincount(self.codes, weights=weights, minlength=len(self.levels))
        return np.concatenate([per_code @ self.levels, self.money @ weights])

    def retention(self, weights: np.ndarray, totals: np.ndarray) -> float:
        """Compute the resample's Kaplan–Meier survival at day 365.

        This is ``survival_probability`` with each account counted ``weights`` times, so it is
        NaN when no drawn account was followed to day 365 and survival is above 0.
        """
        at_or_after = np.bincount(self.risk_slot, weights=weights, minlength=self.slots + 1)
        at_risk = weights.sum() - np.cumsum(at_or_after)[: self.slots]
        deaths = np.bincount(
            self.event_slot, weights=weights[self.event_accounts], minlength=self.slots
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            factors = np.where(deaths > 0, 1.0 - deaths / at_risk, 1.0)
        survival = float(np.prod(factors))
        if survival > 0 and totals[REACHED] == 0:
            return float("nan")
        return survival


def weighted_effects(
    gifted: WeightedArm,
    holdout: WeightedArm,
    gifted_weights: np.ndarray,
    holdout_weights: np.ndarray,
    referral_value: float,
) -> dict[str, float]:
    """Compute the program effects of one weighted resample; NaN where undefined."""
    gifted_totals = gifted.totals(gifted_weights)
    holdout_totals = holdout.totals(holdout_weights)
    both = gifted_totals + holdout_totals
    gifted_count, holdout_count = gifted_weights.sum(), holdout_weights.sum()
    expansion = _ratio(gifted_totals, EXPANDED, ELIGIBLE) - _ratio(
        holdout_totals, EXPANDED, ELIGIBLE
    )
    referrals = gifted_totals[REFERRALS] / gifted_count - holdout_totals[REFERRALS] / holdout_count
    retention = gifted.retention(gifted_weights, gifted_totals) - holdout.retention(
        holdout_weights, holdout_totals
    )
    inputs = RoiInputs(
        retention_uplift=_nan_to_none(retention),
        average_contract_amount=_nan_to_none(_ratio(both, CONTRACT_AMOUNT, AMOUNT_KNOWN)),
        expansion_uplift=_nan_to_none(expansion),
        average_expansion_amount=_nan_to_none(_ratio(both, EXPANSION_AMOUNT, EXPANDING)),
        referral_uplift=_nan_to_none(referrals),
        referral_value=referral_value,
        spend_per_gifted_account=_nan_to_none(gifted_totals[GIFT_SPEND] / gifted_count),
        gifted_accounts=len(gifted),
    )
    breakdown = roi_breakdown(inputs)
    return {
        "expansion_rate_365_diff": expansion,
        "avg_nps_diff": _ratio(gifted_totals, NPS_SUM, NPS_ANSWERED)
        - _ratio(holdout_totals, NPS_SUM, NPS_ANSWERED),
        "referrals_per_account_diff": referrals,
        "roi": float("nan") if breakdown is None else breakdown.roi,
    }


def _ratio(totals: np.ndarray, numerator: int, denominator: int) -> float:
    if totals[denominator] <= 0:
        return float("nan")
    return float(totals[numerator] / totals[denominator])


def _nan_to_none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)
