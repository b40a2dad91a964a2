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


ENGAGEMENT_LABELS = {
    "replies_per_30d": "replies",
    "meetings_per_30d": "meetings held",
    "support_cases_per_30d": "support cases",
    "usage_per_30d": "product usage",
}


def engagement_png(metrics: pd.DataFrame) -> str | None:
    """Plot each engagement rate per arm as grouped bars with 95 % intervals; None if none has one.

    Product usage is left out of this plot, because its unit (events, active users, minutes) is
    set by the usage table and would dwarf the activity counts.
    """
    from matplotlib.figure import Figure

    names = [name for name in ENGAGEMENT_LABELS if name != "usage_per_30d"]
    overall = metrics[(metrics["cohort"] == "all") & metrics["metric"].isin(names)]
    overall = overall[overall["arm"].isin(ARMS) & overall["value"].notna()]
    if overall.empty:
        return None
    figure = Figure(figsize=(6.5, 3.4), dpi=110)
    axes = figure.add_subplot()
    width = 0.8 / len(ARMS)
    positions = np.arange(len(names))
    for offset, arm in enumerate(ARMS):
        rows = overall[overall["arm"] == arm].set_index("metric").reindex(names)
        values = rows["value"].to_numpy(dtype=float)
        lower = np.nan_to_num(values - rows["ci_low"].to_numpy(dtype=float)).clip(min=0)
        upper = np.nan_to_num(rows["ci_high"].to_numpy(dtype=float) - values).clip(min=0)
        axes.bar(
            positions + (offset - 1) * width,
            np.nan_to_num(values),
            width,
            yerr=[lower, upper],
            capsize=3,
            color=ARM_COLOURS[arm],
            label=arm,
        )
    axes.set_xticks(positions, [ENGAGEMENT_LABELS[name] for name in names])
    axes.set_ylabel("per 30 days as a customer")
    axes.grid(axis="y", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    return _to_base64_png(figure)


ROI_COMPONENTS = [
    ("roi_retention_value", "retention"),
    ("roi_expansion_value", "expansion"),
    ("roi_referral_value_gained", "referrals"),
    ("gift_spend_per_gifted_account", "gift spend"),
    ("roi_net_value_per_gifted_account", "net value"),
]


def roi_breakdown_png(metrics: pd.DataFrame) -> str | None:
    """Plot the value per gifted account by component, the spend and the net value.

    Returns None when the ROI breakdown could not be computed.
    """
    from matplotlib.figure import Figure

    program = metrics[(metrics["cohort"] == "all") & (metrics["arm"] == "program")]
    values = program.set_index("metric")["value"].reindex([name for name, _ in ROI_COMPONENTS])
    if values.isna().any():
        return None
    amounts = values.to_numpy(dtype=float)
    amounts[3] = -amounts[3]  # spend lowers the net value
    colours = ["#1b7f5f" if amount >= 0 else "#b5452f" for amount in amounts]
    figure = Figure(figsize=(6.0, 3.4), dpi=110)
    axes = figure.add_subplot()
    axes.bar([label for _, label in ROI_COMPONENTS], amounts, color=colours)
    axes.axhline(0, color="#222", linewidth=0.8)
    axes.set_ylabel("per gifted account (contract currency)")
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return _to_base64_png(figure)
