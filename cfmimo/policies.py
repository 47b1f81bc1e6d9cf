"""One registry of assignment policies: the :class:`Policy` type and the classical entries.

A *policy* is a callable ``policy(H_hat, rho) -> a`` (estimated channels
``(n, n_ap, n_user, n_tx)``, linear SNR, assignments ``(n, n_ap)``). Every policy built
here is a :class:`Policy`, which also says whether it reads ``rho``, whether it is a
hybrid (a learned model proposes, the rate formula chooses) and how many rate
evaluations one decision costs.

Adding a policy is one entry:

* a classical heuristic: one :class:`ClassicalEntry` in :data:`CLASSICAL`;
* a learned one: one :class:`cfmimo.learned.LearnedEntry` in :data:`cfmimo.learned.LEARNED`
  per decoder (see :mod:`cfmimo.learned`).

:func:`cfmimo.results.classical_policies`, :func:`cfmimo.evaluate.baseline_assignments`,
:func:`cfmimo.results.learned_policies` and the notebooks all read these registries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import baselines

__all__ = [
    "Policy",
    "ClassicalEntry",
    "CLASSICAL",
    "classical_policies",
    "snr_independent",
    "distinct_decisions",
    "distinct_decision_counts",
]


class Policy:
    """An assignment policy ``policy(H_hat, rho) -> a`` and what it costs.

    Parameters
    ----------
    name : str
    decide : callable
        ``decide(H_hat, rho) -> a``, ``(n, n_ap, n_user, n_tx) -> (n, n_ap)``.
    uses_rho : bool
        ``False`` when the decision ignores ``rho`` (it may then be computed once and
        reused at every SNR).
    hybrid : bool
        The decision calls the rate formula on candidates proposed by a learned model.
    rate_evaluations : callable or None
        ``(n_ap, n_user) -> int``: min-rate evaluations per decision (``None``: not a
        fixed number).
    n_parameters : int or None
        Trainable parameters of a learned policy.

    References
    ----------
    Narottama & Duong (2022), Eq. (9).
    """

    def __init__(self, name, decide, *, uses_rho=True, hybrid=False, rate_evaluations=None, n_parameters=None):
        self.name = str(name)
        self._decide = decide
        self.uses_rho = bool(uses_rho)
        self.hybrid = bool(hybrid)
        self.rate_evaluations = rate_evaluations
        self.n_parameters = n_parameters

    def __call__(self, H_hat, rho):
        return self._decide(H_hat, rho)

    def __repr__(self):
        return f"Policy({self.name!r}, uses_rho={self.uses_rho}, hybrid={self.hybrid})"


# ---------------------------------------------------------------------------------------
# classical policies
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassicalEntry:
    """One classical policy of the registry.

    Attributes
    ----------
    name : str
        Display name (a key of :func:`classical_policies`).
    make : callable
        ``make(mu, penalty, rng) -> decide(H_hat, rho)``.
    uses_rho : bool
    rate_evaluations : callable or None
        ``(n_ap, n_user) -> int`` per decision, ``None`` when it varies.
    feasible : callable
        ``(n_ap, n_user) -> bool``: whether the policy can run at that size.
    """

    name: str
    make: Callable
    uses_rho: bool = True
    rate_evaluations: Callable | None = None
    feasible: Callable = field(default=lambda n_ap, n_user: True)


def _exhaustive_feasible(n_ap, n_user):
    return n_user**n_ap <= 10**7


CLASSICAL = (
    ClassicalEntry(
        "exhaustive",
        lambda mu, penalty, rng: lambda H_hat, rho: baselines.exhaustive(H_hat, rho, mu, penalty),
        rate_evaluations=lambda n_ap, n_user: n_user**n_ap,
        feasible=_exhaustive_feasible,
    ),
    ClassicalEntry(
        "greedy",
        lambda mu, penalty, rng: lambda H_hat, rho: baselines.greedy(H_hat, rho, mu, penalty),
        rate_evaluations=lambda n_ap, n_user: n_ap,
    ),
    ClassicalEntry(
        "greedy + local search",
        lambda mu, penalty, rng: lambda H_hat, rho: baselines.greedy_local_search(H_hat, rho, mu, penalty),
    ),
    ClassicalEntry(
        "strongest AP",
        lambda mu, penalty, rng: lambda H_hat, rho: baselines.strongest_ap(H_hat),
        uses_rho=False,
        rate_evaluations=lambda n_ap, n_user: 0,
    ),
    ClassicalEntry(
        "random",
        lambda mu, penalty, rng: lambda H_hat, rho: baselines.random_assignment(H_hat, rng),
        uses_rho=False,
        rate_evaluations=lambda n_ap, n_user: 0,
    ),
)
"""The classical policies, in display order."""


def classical_policies(mu: float, penalty: float, rng=None, *, n_ap=None, n_user=None) -> dict:
    """Every policy of :data:`CLASSICAL` as a :class:`Policy`.

    Parameters
    ----------
    mu, penalty : float
        Interference factor and unserved-user penalty (from the configuration).
    rng : int, numpy.random.Generator or None
        For ``"random"``.
    n_ap, n_user : int, optional
        When both are given, policies that cannot run at that size (exhaustive search
        beyond :math:`10^7` candidates) are left out.

    Returns
    -------
    dict of str to Policy
    """
    rng = np.random.default_rng(rng)
    out = {}
    for entry in CLASSICAL:
        if n_ap is not None and n_user is not None and not entry.feasible(n_ap, n_user):
            continue
        out[entry.name] = Policy(
            entry.name,
            entry.make(mu, penalty, rng),
            uses_rho=entry.uses_rho,
            rate_evaluations=entry.rate_evaluations,
        )
    return out


def snr_independent(policies: dict) -> list:
    """Names of the policies whose decision ignores ``rho`` (plain callables count as using it)."""
    return [name for name, p in policies.items() if not getattr(p, "uses_rho", True)]


def distinct_decisions(a) -> int:
    """How many distinct assignments a policy made: ``a`` ``(..., n_ap)`` -> int.

    A policy that collapsed to a constant makes 1; the exhaustive optimum on :math:`10^3`
    channels at 4 x 3 makes about as many as there are covering assignments (36).
    """
    a = np.asarray(a)
    if a.ndim < 1:
        raise ValueError(f"a must have shape (..., n_ap), got a scalar {a!r}")
    return int(len(np.unique(a.reshape(-1, a.shape[-1]), axis=0)))


def distinct_decision_counts(policies: dict, H_hat, rho) -> dict:
    """:func:`distinct_decisions` of every policy on the same channels ``H_hat`` at SNR ``rho``.

    Returns
    -------
    dict of str to int
    """
    return {name: distinct_decisions(policy(H_hat, rho)) for name, policy in policies.items()}
