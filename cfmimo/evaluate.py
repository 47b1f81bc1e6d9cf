"""Scoring assignment policies on Monte-Carlo channels.

Decisions are made on ``H_hat``; rates are scored on the true ``H``. Reported rates
are *physical*: an unserved user receives 0 bit/s/Hz (``penalty=0`` in
:func:`cfmimo.rates.user_rates`); how often that happens is reported separately as
``share_unserved``. The penalty of footnote 2 is a training device, not a rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import baselines, tables
from .policies import classical_policies
from .rates import gain_matrix, rates_from_gains, serves_every_user
from .stats import mean_ci

__all__ = ["PolicyScore", "decision_metrics", "score_policy", "baseline_assignments", "markdown_table"]


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

    References
    ----------
    Narottama & Duong (2022), Eq. (4); Eq. (5); Fig. 3.
    """

    name: str
    min_rate: float
    min_rate_ci: float
    sum_rate: float
    sum_rate_ci: float
    share_optimal: float | None
    share_unserved: float
    n_trials: int


def decision_metrics(a, true_gains, est_gains, rho, mu, penalty=10.0, best_estimate=None):
    """The one scorer: what every report says about decisions ``a`` on a set of channels.

    Parameters
    ----------
    a : ndarray of int, shape ``(n, n_ap)``
    true_gains, est_gains : ndarray, shape ``(n, n_ap, n_user, n_user)``
        :func:`cfmimo.rates.gain_matrix` of ``(H, H_hat)`` and of ``(H_hat, H_hat)``.
    rho : float
        Linear SNR.
    mu : float
        Interference factor.
    penalty : float, default 10.0
        The configuration's penalty (footnote 2), used only for the min-rate *on the
        estimate* that decides whether a decision is optimal.
    best_estimate : ndarray, shape ``(n,)``, optional
        The exhaustive optimum's min-rate on the estimate (same ``penalty``).

    Returns
    -------
    user_rates : ndarray, shape ``(n, n_user)``
        Physical rates on the true channel (unserved user = 0 bit/s/Hz).
    optimal : ndarray of bool, shape ``(n,)``, or None
        The decision reaches ``best_estimate`` (``None`` without it).
    unserved : ndarray of bool, shape ``(n,)``
        The decision leaves a user without an AP.

    References
    ----------
    Narottama & Duong (2022), Eq. (4); Eq. (5); footnote 2.
    """
    a = np.asarray(a)
    user_rates = rates_from_gains(true_gains, a, rho, mu, penalty=0.0)
    unserved = ~serves_every_user(a, true_gains.shape[-1])
    optimal = None
    if best_estimate is not None:
        mine = rates_from_gains(est_gains, a, rho, mu, penalty).min(axis=-1)
        optimal = mine >= best_estimate - 1e-12 * np.abs(best_estimate)
    return user_rates, optimal, unserved


def score_policy(name, a, H, H_hat, rho, mu, optimal=None, *, penalty=10.0) -> PolicyScore:
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
    penalty : float, default 10.0
        The configuration's ``system.penalty``; see :func:`decision_metrics`.

    References
    ----------
    Narottama & Duong (2022), Eq. (4); Eq. (5); Fig. 3.
    """
    a = np.asarray(a)
    est_gains = gain_matrix(H_hat, H_hat)
    best = None
    if optimal is not None:
        best = rates_from_gains(est_gains, optimal, rho, mu, penalty).min(axis=-1)
    rates, is_optimal, unserved = decision_metrics(a, gain_matrix(H, H_hat), est_gains, rho, mu, penalty, best)
    mins, mins_ci = mean_ci(rates.min(axis=-1))
    sums, sums_ci = mean_ci(rates.sum(axis=-1))
    return PolicyScore(
        name=name,
        min_rate=float(mins),
        min_rate_ci=float(mins_ci),
        sum_rate=float(sums),
        sum_rate_ci=float(sums_ci),
        share_optimal=None if is_optimal is None else float(np.mean(is_optimal)),
        share_unserved=float(np.mean(unserved)),
        n_trials=int(a.shape[0]),
    )


def baseline_assignments(H, H_hat, rho, mu, penalty=10.0, rng=None) -> dict[str, np.ndarray]:
    """Decisions of the classical policies (``cfmimo.policies.CLASSICAL``) on the same channels.

    Returns
    -------
    dict
        ``"oracle"``: exhaustive search scored on the true ``H`` (precoders from
        ``H_hat``), an upper bound on every policy's min-rate in every trial; then every
        entry of the registry that can run at this size, in its order:
        ``"exhaustive"`` (the max-min optimum on ``H_hat``, the best a decision on the
        estimate can do), ``"greedy"``, ``"greedy + local search"``, ``"strongest AP"``,
        ``"random"``.
    """
    n_ap, n_user = np.shape(H_hat)[-3:-1]
    out = {}
    if n_user**n_ap <= 10**7:
        out["oracle"] = baselines.exhaustive(H_hat, rho, mu, penalty, H=H)
    for name, policy in classical_policies(mu, penalty, rng, n_ap=n_ap, n_user=n_user).items():
        out[name] = policy(H_hat, rho)
    return out


def markdown_table(scores) -> str:
    """A Markdown table of :class:`PolicyScore` rows (rates in bit/s/Hz, 95% CI), built by
    :func:`cfmimo.tables.markdown_table`."""
    header = ["policy", "min rate (bit/s/Hz)", "sum rate (bit/s/Hz)", "optimal decisions", "a user unserved"]
    rows = (
        [
            s.name,
            f"{s.min_rate:.3f} ± {s.min_rate_ci:.3f}",
            f"{s.sum_rate:.3f} ± {s.sum_rate_ci:.3f}",
            "-" if s.share_optimal is None else f"{100 * s.share_optimal:.1f}%",
            f"{100 * s.share_unserved:.1f}%",
        ]
        for s in scores
    )
    return tables.markdown_table(header, rows)
