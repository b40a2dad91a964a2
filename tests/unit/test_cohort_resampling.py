"""The fast paths of the report's statistics against the slow ones they replaced.

Bootstrap resamples drawn as account weights must give exactly the effects of the resampled
copy of the arm, and the numpy log-rank statistic must equal lifelines'.
"""

from __future__ import annotations

import numpy as np
import pytest
from lifelines.statistics import logrank_test

from gifting.cohorts.bootstrap import ArmSample, program_effects
from gifting.cohorts.randomized import logrank_statistic
from gifting.cohorts.resampling import weighted_effects
from tests.unit.test_cohort_statistics import _random_arm


def _copy(arm: ArmSample, weights: np.ndarray) -> ArmSample:
    return arm.take(np.repeat(np.arange(len(arm)), weights.astype(int)))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("referral_value", [0.0, 750.0])
def test_weighted_resample_matches_copy(seed: int, referral_value: float) -> None:
    generator = np.random.default_rng(seed)
    gifted = ArmSample.from_frame(_random_arm(generator, 150, 1 / 500))
    holdout = ArmSample.from_frame(_random_arm(generator, 40, 1 / 250))
    weighted = gifted.weighted(), holdout.weighted()
    weights = weighted[0].draw_weights(generator), weighted[1].draw_weights(generator)

    expected = program_effects(
        _copy(gifted, weights[0]), _copy(holdout, weights[1]), referral_value
    )
    observed = weighted_effects(*weighted, *weights, referral_value)
    assert observed.keys() == expected.keys()
    for name, value in expected.items():
        assert observed[name] == pytest.approx(value, rel=1e-9, nan_ok=True), name


def test_weighted_resample_missing_values() -> None:
    """NaN NPS and contract amounts are skipped, and an arm never followed to day 365 gives NaN."""
    generator = np.random.default_rng(5)
    frame = _random_arm(generator, 30, 1 / 400)
    frame["duration_days"] = np.minimum(frame["duration_days"], 300)
    frame["churned"] = 0
    frame.loc[:9, "contract_amount"] = np.nan
    frame.loc[:, "nps"] = np.nan
    short = ArmSample.from_frame(frame)
    other = ArmSample.from_frame(_random_arm(generator, 30, 1 / 400))
    weighted = short.weighted(), other.weighted()
    weights = weighted[0].draw_weights(generator), weighted[1].draw_weights(generator)

    expected = program_effects(_copy(short, weights[0]), _copy(other, weights[1]), 0.0)
    observed = weighted_effects(*weighted, *weights, 0.0)
    for name, value in expected.items():
        assert observed[name] == pytest.approx(value, rel=1e-9, nan_ok=True), name
    assert np.isnan(observed["avg_nps_diff"])
    assert np.isnan(weighted[0].retention(weights[0], weighted[0].totals(weights[0])))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_logrank_statistic_matches_lifelines(seed: int) -> None:
    generator = np.random.default_rng(seed)
    first, second = _random_arm(generator, 200, 1 / 500), _random_arm(generator, 60, 1 / 300)
    expected = logrank_test(
        first["duration_days"],
        second["duration_days"],
        event_observed_A=first["churned"],
        event_observed_B=second["churned"],
    ).test_statistic
    observed = logrank_statistic(
        first["duration_days"].to_numpy(dtype=float),
        first["churned"].to_numpy() > 0,
        second["duration_days"].to_numpy(dtype=float),
        second["churned"].to_numpy() > 0,
    )
    assert observed == pytest.approx(expected, rel=1e-9)
