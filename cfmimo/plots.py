"""Plot helpers shared by the notebooks: labelled axes with units, confidence bands."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["new_axes", "plot_with_band", "plot_cdf", "plot_study", "plot_shot_sweep"]


def new_axes(xlabel: str, ylabel: str, title: str | None = None, *, figsize=(6.4, 4.0)):
    """A figure with one axes, labelled, with a light grid."""
    fig, ax = plt.subplots(figsize=figsize)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return fig, ax


def plot_with_band(ax, x, mean, half_width, label: str, **kwargs):
    """Plot ``mean`` against ``x`` with a shaded ``mean +- half_width`` band."""
    x, mean, half_width = (np.asarray(v, dtype=float) for v in (x, mean, half_width))
    (line,) = ax.plot(x, mean, marker="o", markersize=3, label=label, **kwargs)
    ax.fill_between(x, mean - half_width, mean + half_width, color=line.get_color(), alpha=0.2, linewidth=0)
    return line


def plot_cdf(ax, samples, label: str, **kwargs):
    """Empirical CDF of ``samples`` (flattened)."""
    values = np.sort(np.asarray(samples, dtype=float).ravel())
    probs = np.arange(1, values.size + 1) / values.size
    return ax.step(values, probs, where="post", label=label, **kwargs)[0]


def plot_study(study, metric: str, ylabel: str, policies=None, *, ncols: int = 2):
    """One panel per mean distance of a :class:`cfmimo.results.StudyResult`, ``metric``
    (``"min_rate"`` or ``"sum_rate"``) against SNR with 95% bands, one line per policy."""
    policies = list(study.policies if policies is None else policies)
    n = len(study.distance_means)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.5 * ncols, 4.0 * nrows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        if i >= n:
            ax.set_visible(False)
            continue
        for name in policies:
            mean, half = study.curve(metric, name, i)
            plot_with_band(ax, study.snr_db, mean, half, name)
        ax.set_title(f"$\\mu_d$ = {study.distance_means[i]}")
        ax.set_xlabel("transmit SNR $\\rho$ (dB)")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig, axes


def plot_shot_sweep(rows, title: str, variants=("paper", "reupload")):
    """Min-rate and share of optimal decisions against shots, one line per QNN variant.

    ``rows`` are the dicts of :func:`cfmimo.noise_study.decision_study`; for each variant the
    first row is the exact engine (drawn as a dashed line) and the others are sampled.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for v, color in zip(variants, ("tab:gray", "tab:blue", "tab:orange", "tab:green")):
        rows_v = [r for r in rows if r["variant"] == v]
        exact, sampled = rows_v[0], rows_v[1:]
        shots = [r["shots"] for r in sampled]
        axes[0].errorbar(shots, [r["min_rate"] for r in sampled], yerr=[r["min_rate_ci"] for r in sampled],
                         marker="o", color=color, capsize=3, label=f"{v}, sampled")
        axes[0].axhline(exact["min_rate"], color=color, ls="--", label=f"{v}, exact")
        share = np.array([r["share_optimal"] for r in sampled])
        err = np.clip([share - [r["share_optimal_low"] for r in sampled],
                       [r["share_optimal_high"] for r in sampled] - share], 0, None)
        axes[1].errorbar(shots, 100 * share, yerr=100 * err, marker="o", color=color, capsize=3, label=f"{v}, sampled")
        axes[1].axhline(100 * exact["share_optimal"], color=color, ls="--", label=f"{v}, exact")
    for ax, ylabel in zip(axes, ("mean min rate (bit/s/Hz)", "optimal decisions (%)")):
        ax.set_xscale("log")
        ax.set_xlabel("shots per channel sample")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig, axes
