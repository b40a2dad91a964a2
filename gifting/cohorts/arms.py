"""Arm and cohort labels, and the rule that puts each account in one arm."""

from __future__ import annotations

import numpy as np
import pandas as pd

GIFTED = "gifted"
HOLDOUT = "holdout"
NOT_GIFTED = "not_gifted"
ARMS = (GIFTED, HOLDOUT, NOT_GIFTED)
PROGRAM_ARM = "program"
"""Arm label of program-level rows, which compare gifted with holdout in the ``all`` cohort."""

ALL_COHORTS = "all"


def assign_arms(holdout: pd.Series, gifts_sent: pd.Series) -> pd.Series:
    """Label each account ``holdout``, ``gifted`` or ``not_gifted``.

    Holdout wins over gifts: a holdout account that got a gift by mistake still belongs to the
    randomized control, so the comparison stays intention-to-treat. A missing holdout flag means
    the account was never assigned and counts as not held out.
    """
    is_holdout = holdout.astype(object).where(holdout.notna(), False).astype(bool)
    arms = np.where(is_holdout, HOLDOUT, np.where(gifts_sent.fillna(0) > 0, GIFTED, NOT_GIFTED))
    return pd.Series(arms, index=holdout.index, dtype=object)
