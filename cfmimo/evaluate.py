"""Scoring assignment policies on Monte-Carlo channels.

Decisions are made on ``H_hat``; rates are scored on the true ``H``. Reported rates
are *physical*: an unserved user receives 0 bit/s/Hz (``penalty=0`` in
:func:`cfmimo.rates.user_rates`); how often that happens is reported separately as
``share_unserved``. The penalty of footnote 2 is a training device, not a rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import baselines
from .rates import gain_matrix, rates_from_gains, serves_every_user
from .stats import mean_ci

__all__ = ["PolicyScore", "score_policy", "baseline_assignments", "markdown_table"]


@dataclass(frozen=True)
class PolicyScore:
    """Summary of one policy over ``n_trials`` channel draws at one SNR.

    Attributes
    ----------
    name : str
    min_rate, min_rate_ci : float
        Mean minimum user rate (bit/s/Hz, unserved = 0) and its 95% CI half-width.
    sum_rate, sum_rate_ci : float
        Mean sum rate, Eq. (5) (bit/s/Hz, unserved = 0) and its 95% CI half-width.
    share_optimal : float or None
        Share of trials whose decision reaches the exhaustive optimum's min-rate on
        ``H_hat`` (the channel the decision is made on).
    share_unserved : float
        Share of trials that leave at least one user without an AP.
    n_trials : int
    """

    name: str
    min_rate: float
    min_rate_ci: float
    sum_rate: float
    sum_rate_ci: float
    share_optimal: float | None
    share_unserved: float
    n_trials: int


def score_policy(name, a, H, H_hat, rho, mu, optimal=None) -> PolicyScore:
    """Score assignments ``a`` ``(n, n_ap)`` on channels ``(n, n_ap, n_user, n_tx)``.

    Parameters
    ----------
    name : str
    a : ndarray of int, shape ``(n, n_ap)``
    H, H_hat : ndarray, complex, shape ``(n, n_ap, n_user, n_tx)``
    rho : float
        Linear SNR.
    mu : float
        Interference factor.
    optimal : ndarray of int, shape ``(n, n_ap)``, optional
        The exhaustive assignment; enables ``share_optimal``.
    """
    a = np.asarray(a)
    rates = rates_from_gains(gain_matrix(H, H_hat), a, rho, mu, penalty=0.0)
    n_user = H.shape[-2]
    unserved = ~serves_every_user(a, n_user)
    mins, mins_ci = mean_ci(rates.min(axis=-1))
    sums, sums_ci = mean_ci(rates.sum(axis=-1))
    share_optimal = None
    if optimal is not None:
        est_gains = gain_matrix(H_hat, H_hat)
        mine = rates_from_gains(est_gains, a, rho, mu, penalty=10.0).min(axis=-1)
        best = rates_from_gains(est_gains, optimal, rho, mu, penalty=10.0).min(axis=-1)
        share_optimal = float(np.mean(mine >= best - 1e-12 * np.abs(best)))
    return PolicyScore(
        name=name,
        min_rate=float(mins),
        min_rate_ci=float(mins_ci),
        sum_rate=float(sums),
        sum_rate_ci=float(sums_ci),
        share_optimal=share_optimal,
        share_unserved=float(np.mean(unserved)),
        n_trials=int(a.shape[0]),
    )


def baseline_assignments(H, H_hat, rho, mu, penalty=10.0, rng=None) -> dict[str, np.ndarray]:
    """Decisions of the classical policies on the same channels.

    Returns
    -------
    dict
        ``"oracle"``: exhaustive search scored on the true ``H`` (precoders from
        ``H_hat``), an upper bound on every policy's min-rate in every trial;
        ``"exhaustive"``: the max-min optimum on ``H_hat``, the best a decision on the
        estimate can do; ``"greedy"``, ``"strongest AP"``, ``"random"``.
    """
    return {
        "oracle": baselines.exhaustive(H_hat, rho, mu, penalty, H=H),
        "exhaustive": baselines.exhaustive(H_hat, rho, mu, penalty),
        "greedy": baselines.greedy(H_hat, rho, mu, penalty),
        "strongest AP": baselines.strongest_ap(H_hat),
        "random": baselines.random_assignment(H_hat, rng),
    }


def markdown_table(scores) -> str:
    """A Markdown table of :class:`PolicyScore` rows (rates in bit/s/Hz, 95% CI)."""
    lines = [
        "| policy | min rate (bit/s/Hz) | sum rate (bit/s/Hz) | optimal decisions | a user unserved |",
        "|---|---|---|---|---|",
    ]
    for s in scores:
        optimal = "-" if s.share_optimal is None else f"{100 * s.share_optimal:.1f}%"
        lines.append(
            f"| {s.name} | {s.min_rate:.3f} ± {s.min_rate_ci:.3f} | {s.sum_rate:.3f} ± {s.sum_rate_ci:.3f} "
            f"| {optimal} | {100 * s.share_unserved:.1f}% |"
        )
    return "\n".join(lines)
