"""Kaplan–Meier survival curves and the summaries read off them: survival at a day, restricted
mean survival time (RMST) and median time to event.

Every estimator here is checked against lifelines in the unit tests, but written with numpy so
the bootstrap can call it hundreds of times per report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

Z_95 = 1.959963984540054
"""Two-sided 95 % quantile of the standard normal distribution."""


@dataclass(frozen=True)
class SurvivalPoint:
    """Kaplan–Meier survival at one day, with its Greenwood variance and 95 % interval."""

    survival: float
    variance: float
    ci_low: float
    ci_high: float


def kaplan_meier(durations: pd.Series, events: pd.Series) -> pd.DataFrame:
    """Estimate the survival curve with Greenwood's variance and a log(-log) 95 % interval.

    The interval uses the exponential Greenwood formula, so it always lies in [0, 1]; this is
    also what ``lifelines.KaplanMeierFitter`` reports. Returns one row per distinct observed time
    (plus day 0), indexed by time, with columns at_risk, events, survival, variance, ci_low and
    ci_high. Survival is a step function, so the row for time t gives the value from t onward.
    """
    times = pd.Series(durations, dtype=float).to_numpy()
    observed = pd.Series(events, dtype=float).to_numpy() > 0
    timeline = np.unique(np.concatenate([[0.0], times]))
    sorted_times = np.sort(times)
    at_risk = (len(times) - np.searchsorted(sorted_times, timeline, side="left")).astype(float)
    event_times = np.sort(times[observed])
    deaths = (
        np.searchsorted(event_times, timeline, side="right")
        - np.searchsorted(event_times, timeline, side="left")
    ).astype(float)

    with np.errstate(divide="ignore", invalid="ignore"):
        factors = np.where(at_risk > 0, 1.0 - deaths / at_risk, 1.0)
        # A time where every account at risk churns drives survival to 0. Its Greenwood term
        # is infinite and is dropped, which leaves a zero-width interval at 0.
        terms = np.where(at_risk > deaths, deaths / (at_risk * (at_risk - deaths)), 0.0)
    survival = np.cumprod(factors)
    greenwood_sum = np.cumsum(terms)
    ci_low, ci_high = _log_log_interval(survival, greenwood_sum)
    return pd.DataFrame(
        {
            "at_risk": at_risk.astype(int),
            "events": deaths.astype(int),
            "survival": survival,
            "variance": survival**2 * greenwood_sum,
            "ci_low": ci_low,
            "ci_high": ci_high,
        },
        index=pd.Index(timeline, name="time"),
    )


def _log_log_interval(
    survival: np.ndarray, greenwood_sum: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the 95 % bounds of exp(-exp(log(-log S) ± z·σ)), with σ from Greenwood's sum."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_survival = np.log(survival)
        centre = np.log(-log_survival)
        spread = Z_95 * np.sqrt(greenwood_sum) / log_survival
        low = np.exp(-np.exp(centre - spread))
        high = np.exp(-np.exp(centre + spread))
    # Where survival is still 1 the transform is undefined and the interval collapses to 1.
    low = np.where(np.isnan(low), 1.0, low)
    high = np.where(np.isnan(high), 1.0, high)
    return low, high


def survival_at(curve: pd.DataFrame, day: float) -> SurvivalPoint | None:
    """Read the survival curve at ``day``, or None when no account was followed that long.

    Past the longest follow-up the curve is unknown, so carrying the last value forward would
    overstate what the data shows. A curve that already reached 0 stays at 0.
    """
    if curve.empty:
        return None
    last_time = float(curve.index.max())
    row = curve.loc[curve.index[curve.index <= day].max()]
    if day > last_time and row["survival"] > 0:
        return None
    return SurvivalPoint(
        survival=float(row["survival"]),
        variance=float(row["variance"]),
        ci_low=float(row["ci_low"]),
        ci_high=float(row["ci_high"]),
    )


@dataclass(frozen=True)
class RestrictedMean:
    """Restricted mean survival time up to ``horizon`` days, with the variance of the estimate."""

    value: float
    variance: float
    horizon: float


def restricted_mean_survival(curve: pd.DataFrame, horizon: float) -> RestrictedMean | None:
    """Integrate the Kaplan–Meier curve from day 0 to ``horizon`` (the RMST, in days).

    The variance is the standard delta-method estimate, the sum over event times t ≤ horizon of
    A(t)² · d / (n · (n − d)), where A(t) is the area under the curve from t to the horizon.
    Returns None when no account was followed to the horizon and the curve has not reached 0,
    because the area past the last follow-up would be a guess.
    """
    if curve.empty:
        return None
    times = curve.index.to_numpy(dtype=float)
    survival = curve["survival"].to_numpy()
    if times[-1] < horizon and survival[-1] > 0:
        return None
    ends = np.minimum(np.append(times[1:], horizon), horizon)
    areas = survival * np.clip(ends - times, 0.0, None)
    area_after = np.cumsum(areas[::-1])[::-1]
    at_risk = curve["at_risk"].to_numpy(dtype=float)
    deaths = curve["events"].to_numpy(dtype=float)
    counted = (deaths > 0) & (at_risk > deaths) & (times <= horizon)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(counted, area_after**2 * deaths / (at_risk * (at_risk - deaths)), 0.0)
    return RestrictedMean(float(areas.sum()), float(terms.sum()), float(horizon))


def median_survival_time(curve: pd.DataFrame) -> float | None:
    """Return the first time the curve drops to 0.5 or below, or None if it never does.

    This matches ``lifelines.KaplanMeierFitter.median_survival_time_``, which reports infinity
    where this returns None.
    """
    reached = curve.index[curve["survival"].to_numpy() <= 0.5]
    return float(reached.min()) if len(reached) else None


def survival_probability(durations: np.ndarray, churned: np.ndarray, day: float) -> float:
    """Compute Kaplan–Meier survival at ``day`` from arrays; NaN where ``survival_at`` gives None.

    This is the fast path for the bootstrap: it builds no curve, only the product over event
    times up to ``day``.
    """
    if durations.size == 0:
        return float("nan")
    events = churned.astype(bool)
    event_times, deaths = np.unique(durations[events & (durations <= day)], return_counts=True)
    ordered = np.sort(durations)
    at_risk = durations.size - np.searchsorted(ordered, event_times, side="left")
    survival = float(np.prod(1.0 - deaths / at_risk))
    if ordered[-1] < day and survival > 0:
        return float("nan")
    return survival
