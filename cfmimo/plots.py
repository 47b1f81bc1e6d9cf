"""Plot helpers shared by the notebooks: labelled axes with units, confidence bands."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["new_axes", "plot_with_band", "plot_cdf", "plot_study"]


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
