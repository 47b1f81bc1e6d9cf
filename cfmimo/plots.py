"""Plot helpers shared by the notebooks: labelled axes with units, confidence bands."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["new_axes", "plot_with_band", "plot_cdf"]


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
