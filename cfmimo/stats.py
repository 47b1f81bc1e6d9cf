"""Confidence intervals for Monte-Carlo estimates."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats as _stats

from ._validation import check_real

__all__ = ["MCEstimate", "mc_estimate", "mean_ci", "proportion_ci"]


class MCEstimate(NamedTuple):
    """A Monte-Carlo estimate: ``mean +- half_width`` at confidence ``level``."""

    mean: np.ndarray | float
    half_width: np.ndarray | float
    n_samples: int
    level: float


def mean_ci(x, axis: int = 0, level: float = 0.95):
    """Sample mean and half-width of its Student-t confidence interval.

    Parameters
    ----------
    x : array_like
        Samples along ``axis`` (at least 2).
    axis : int
    level : float
        Confidence level in (0, 1).

    Returns
    -------
    mean, half_width : ndarray
        The interval is ``mean +- half_width``; shapes are ``x``'s without ``axis``.
    """
    level = check_real("level", level, 1e-9, 1 - 1e-9)
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[axis] if x.ndim else 0
    if n < 2:
        raise ValueError(f"mean_ci needs at least 2 samples along axis {axis}, got {n}")
    mean = x.mean(axis=axis)
    sem = x.std(axis=axis, ddof=1) / np.sqrt(n)
    return mean, _stats.t.ppf(0.5 + level / 2, n - 1) * sem


def proportion_ci(successes, n, level: float = 0.95):
    """Wilson score interval for a proportion.

    Returns
    -------
    p, low, high : ndarray
        Observed share and the interval bounds.
    """
    level = check_real("level", level, 1e-9, 1 - 1e-9)
    successes = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    if np.any(n < 1) or np.any(successes < 0) or np.any(successes > n):
        raise ValueError("proportion_ci needs 0 <= successes <= n and n >= 1")
    z = _stats.norm.ppf(0.5 + level / 2)
    p = successes / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return p, centre - half, centre + half


def mc_estimate(samples, level: float = 0.95) -> MCEstimate:
    """Mean and Student-t confidence half-width of i.i.d. samples along axis 0.

    Parameters
    ----------
    samples : array_like, shape ``(n, ...)``, ``n >= 2``
    level : float

    Returns
    -------
    MCEstimate
        Floats for 1-D ``samples``, arrays of shape ``samples.shape[1:]`` otherwise.
    """
    samples = np.asarray(samples, dtype=np.float64)
    mean, half = mean_ci(samples, axis=0, level=level)
    if np.ndim(mean) == 0:
        mean, half = float(mean), float(half)
    return MCEstimate(mean, half, int(samples.shape[0]), float(level))
