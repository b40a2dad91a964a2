"""Account-level bootstrap of a difference in shares, gifted minus holdout.

Each account falls into one of three classes: not eligible, an eligible miss, an eligible hit.
Drawing n accounts of an arm with replacement gives class counts from a multinomial with the
arm's class shares. One resample is therefore one multinomial draw per arm, whatever the arm
size, with exactly the distribution of resampling whole accounts.
"""

from __future__ import annotations

import numpy as np

from gifting.cohorts.bootstrap import DEFAULT_RESAMPLES, MIN_FINITE_SHARE
from gifting.cohorts.estimators import Estimate, ShareInputs


def share_difference(
    gifted: ShareInputs | None,
    holdout: ShareInputs | None,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """Estimate gifted minus holdout share of hits among eligible accounts, with a 95 % interval.

    The interval is the percentile bootstrap that resamples accounts within each arm.

    n is the accounts of both arms. The value is None when a share is undefined: the outcome is
    not measured or no account is eligible. The interval is None when fewer than
    ``MIN_FINITE_SHARE`` of the resamples give a defined difference.
    """
    if gifted is None or holdout is None:
        return Estimate(None, 0)
    n = int(gifted.eligible.size + holdout.eligible.size)
    counts = [_class_counts(arm) for arm in (gifted, holdout)]
    shares = [_share(arm_counts) for arm_counts in counts]
    if np.isnan(shares[0]) or np.isnan(shares[1]):
        return Estimate(None, n)
    value = float(shares[0] - shares[1])
    if resamples < 1:
        return Estimate(value, n)
    generator = np.random.default_rng(seed)
    draws = _resampled_shares(generator, counts[0], resamples) - _resampled_shares(
        generator, counts[1], resamples
    )
    finite = draws[np.isfinite(draws)]
    if finite.size == 0 or finite.size < MIN_FINITE_SHARE * resamples:
        return Estimate(value, n)
    low, high = np.percentile(finite, [2.5, 97.5])
    return Estimate(value, n, float(low), float(high))


def _class_counts(arm: ShareInputs) -> np.ndarray:
    """Count the arm's accounts as [not eligible, eligible miss, eligible hit]."""
    hits = int((arm.hits & arm.eligible).sum())
    eligible = int(arm.eligible.sum())
    return np.array([arm.eligible.size - eligible, eligible - hits, hits])


def _share(counts: np.ndarray) -> float:
    eligible = counts[1] + counts[2]
    return float(counts[2] / eligible) if eligible else float("nan")


def _resampled_shares(
    generator: np.random.Generator, counts: np.ndarray, resamples: int
) -> np.ndarray:
    size = int(counts.sum())
    if size == 0:
        return np.full(resamples, np.nan)
    drawn = generator.multinomial(size, counts / size, size=resamples)
    eligible = drawn[:, 1] + drawn[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(eligible > 0, drawn[:, 2] / eligible, np.nan)
