"""Landmark analysis of gifted against not-gifted accounts (observational).

Milestone gifts go only to accounts that are still customers when the milestone comes, so a
naive comparison credits the gift with survival the account had already shown (immortal-time
bias). A landmark analysis removes that: at each landmark day only accounts still active enter,
each is classed by whether it had been sent a gift by that day, and survival counts from the
landmark. Holdout accounts are left out, because this comparison is not the randomized one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gifting.cohorts.arms import GIFTED, HOLDOUT, NOT_GIFTED
from gifting.cohorts.estimators import Estimate, retention

LANDMARK_DAYS = (30, 90)
LANDMARK_HORIZON_DAYS = 365
LANDMARK_ARMS = (GIFTED, NOT_GIFTED)


def landmark_frame(frame: pd.DataFrame, landmark: int) -> pd.DataFrame:
    """Return the accounts still active at ``landmark`` days, timed from the landmark.

    An account enters when it was followed at least ``landmark`` days and did not churn on or
    before that day. ``arm`` becomes its exposure at the landmark: ``gifted`` when a gift was
    sent on or before the landmark, else ``not_gifted`` (a later gift does not count yet).
    Gifted accounts whose send time is unknown are left out, because their exposure is unknown.
    """
    candidates = frame[frame["arm"] != HOLDOUT]
    churned_by_landmark = (candidates["churned"] > 0) & (candidates["duration_days"] <= landmark)
    active = candidates[(candidates["duration_days"] >= landmark) & ~churned_by_landmark]
    first_gift = pd.to_numeric(active["first_gift_days"], errors="coerce")
    unknown_send_time = (active["arm"] == GIFTED) & first_gift.isna()
    entered = active[~unknown_send_time].copy()
    gifted_by_landmark = first_gift[~unknown_send_time] <= landmark
    entered["arm"] = np.where(gifted_by_landmark, GIFTED, NOT_GIFTED)
    entered["duration_days"] = entered["duration_days"] - landmark
    return entered


def landmark_metrics(frame: pd.DataFrame) -> dict[tuple[str, str], Estimate]:
    """Estimate retention to day 365 after signing, from each landmark, per exposure arm.

    Keys are (arm, metric), with metric ``landmark_<day>_retention_365``. The value is the
    Kaplan–Meier survival over the 365 − landmark days after the landmark, so it is the share
    retained to day 365 among accounts still active at the landmark.
    """
    estimates: dict[tuple[str, str], Estimate] = {}
    for landmark in LANDMARK_DAYS:
        entered = landmark_frame(frame, landmark)
        metric = f"landmark_{landmark}_retention_{LANDMARK_HORIZON_DAYS}"
        for arm in LANDMARK_ARMS:
            members = entered[entered["arm"] == arm]
            estimates[(arm, metric)] = retention(members, LANDMARK_HORIZON_DAYS - landmark)
    return estimates
