"""The program ROI estimate, built only from measured inputs, and its breakdown.

Value gained per gifted account = retention uplift × average contract amount (the LTV proxy)
+ expansion uplift × average expansion amount + referral uplift × value per referral. Every
uplift is gifted minus holdout, the randomized comparison. ROI = value gained / gift spend − 1.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RoiInputs:
    """Measured inputs of the ROI, all per gifted account except ``referral_value``.

    Attributes:
        retention_uplift: Gifted minus holdout Kaplan–Meier retention at 365 days.
        average_contract_amount: Mean contract amount, the proxy for a retained year's revenue.
        expansion_uplift: Gifted minus holdout share that expanded within 365 days.
        average_expansion_amount: Mean expansion amount per expanding account.
        referral_uplift: Gifted minus holdout referrals per account.
        referral_value: Value of one referral, set by the caller; 0 leaves referrals out.
        spend_per_gifted_account: Ledger gift spend per gifted account.
        gifted_accounts: Number of gifted accounts, which scales the per-account figures.
    """

    retention_uplift: float | None
    average_contract_amount: float | None
    expansion_uplift: float | None
    average_expansion_amount: float | None
    referral_uplift: float | None
    referral_value: float
    spend_per_gifted_account: float | None
    gifted_accounts: int


@dataclass(frozen=True)
class RoiBreakdown:
    """The ROI and the value components it adds up, per gifted account and for the program."""

    retention_value: float
    expansion_value: float
    referral_value: float
    value_per_gifted_account: float
    net_value_per_gifted_account: float
    program_value: float
    program_spend: float
    program_net_value: float
    roi: float


def estimate_roi(
    *,
    retention_uplift: float | None,
    average_contract_amount: float | None,
    expansion_uplift: float | None,
    average_expansion_amount: float | None,
    spend_per_gifted_account: float | None,
    referral_uplift: float | None = None,
    referral_value: float = 0.0,
) -> float | None:
    """Estimate the program ROI per gifted account: value gained / gift spend − 1.

    This is an estimate: it assumes the contract amount is the revenue a retained account keeps
    for the year, and it ignores the uncertainty of the uplifts (the bootstrap interval in the
    report covers that). Returns None when an input is missing or nothing was spent, because an
    ROI built on guessed inputs would mislead.
    """
    inputs = RoiInputs(
        retention_uplift=retention_uplift,
        average_contract_amount=average_contract_amount,
        expansion_uplift=expansion_uplift,
        average_expansion_amount=average_expansion_amount,
        referral_uplift=referral_uplift,
        referral_value=referral_value,
        spend_per_gifted_account=spend_per_gifted_account,
        gifted_accounts=1,
    )
    breakdown = roi_breakdown(inputs)
    return None if breakdown is None else breakdown.roi


def roi_breakdown(inputs: RoiInputs) -> RoiBreakdown | None:
    """Add up the value components and scale them to the program; None if an input is missing.

    An uplift of exactly 0 needs no amount to go with it, so a program without any expansion
    still gets an ROI. Referrals count only when ``referral_value`` is above 0.
    """
    spend = inputs.spend_per_gifted_account
    if not spend or spend <= 0:
        return None
    if inputs.retention_uplift is None or inputs.average_contract_amount is None:
        return None
    expansion = _component(inputs.expansion_uplift, inputs.average_expansion_amount)
    referral = 0.0
    if inputs.referral_value > 0:
        referral = _component(inputs.referral_uplift, inputs.referral_value)
    if expansion is None or referral is None:
        return None
    retention = inputs.retention_uplift * inputs.average_contract_amount
    value = retention + expansion + referral
    accounts = inputs.gifted_accounts
    return RoiBreakdown(
        retention_value=retention,
        expansion_value=expansion,
        referral_value=referral,
        value_per_gifted_account=value,
        net_value_per_gifted_account=value - spend,
        program_value=value * accounts,
        program_spend=spend * accounts,
        program_net_value=(value - spend) * accounts,
        roi=value / spend - 1,
    )


def _component(uplift: float | None, amount: float | None) -> float | None:
    """Return uplift × amount, 0 for a zero uplift, or None when either is unknown."""
    if uplift is None:
        return None
    if uplift == 0:
        return 0.0
    if amount is None:
        return None
    return uplift * amount
