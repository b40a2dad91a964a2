"""Plots of the cohort report, rendered to base64 PNG so the HTML page needs no other file."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gifting.cohorts.metrics import ARMS, kaplan_meier

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ARM_COLOURS = {"gifted": "#1b7f5f", "holdout": "#b5452f", "not_gifted": "#6b6f80"}


def survival_curves_png(accounts: pd.DataFrame) -> str | None:
    """Plot Kaplan–Meier retention per arm with 95 % bands; None when no arm has accounts."""
    from matplotlib.figure import Figure

    if accounts.empty:
        return None
    figure = Figure(figsize=(7.5, 4.2), dpi=110)
    axes = figure.add_subplot()
    for arm in ARMS:
        members = accounts[accounts["arm"] == arm]
        if members.empty:
            continue
        curve = kaplan_meier(members["duration_days"], members["churned"])
        colour = ARM_COLOURS[arm]
        label = f"{arm} (n={len(members)})"
        axes.step(curve.index, curve["survival"], where="post", color=colour, label=label)
        axes.fill_between(
            curve.index, curve["ci_low"], curve["ci_high"], step="post", color=colour, alpha=0.15
        )
    axes.set_xlabel("days since signing")
    axes.set_ylabel("share of accounts retained")
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left")
    figure.tight_layout()
    return _to_base64_png(figure)


def _to_base64_png(figure: Figure) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    # Matplotlib writes its version and web address into the PNG metadata by default.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def arm_comparison_png(metrics: pd.DataFrame, metric: str, ylabel: str) -> str | None:
    """Plot one ``all``-cohort metric per arm as bars with 95 % intervals; None if none has one."""
    from matplotlib.figure import Figure

    rows = metrics[(metrics["cohort"] == "all") & (metrics["metric"] == metric)]
    rows = rows[rows["arm"].isin(ARMS) & rows["value"].notna()].set_index("arm")
    arms = [arm for arm in ARMS if arm in rows.index]
    if not arms:
        return None
    values = rows.loc[arms, "value"].to_numpy(dtype=float)
    # An arm without an interval (fewer than two answers) gets no error bar.
    lower = np.nan_to_num(values - rows.loc[arms, "ci_low"].to_numpy(dtype=float)).clip(min=0)
    upper = np.nan_to_num(rows.loc[arms, "ci_high"].to_numpy(dtype=float) - values).clip(min=0)
    figure = Figure(figsize=(4.5, 3.2), dpi=110)
    axes = figure.add_subplot()
    axes.bar(arms, values, yerr=[lower, upper], capsize=4, color=[ARM_COLOURS[a] for a in arms])
    axes.set_ylabel(ylabel)
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return _to_base64_png(figure)
