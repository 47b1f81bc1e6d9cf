"""Decoders shared by every learned policy: from per-AP distributions to one assignment.

A learned policy (a QNN or a perceptron) gives each AP ``m`` a distribution over users,
``log_probs[..., m, k] = log p_m(k)``; the joint distribution of an assignment ``a`` is the
product :math:`p(a) = \\prod_m p_m(a_m)`. Deciding each AP on its own (the argmax per AP, or
the paper's floor decoding) often leaves a user without an AP, which the min-rate objective
punishes hardest. The decoders here only return *covering* assignments (every user gets at
least one AP) and never enumerate the ``n_user**n_ap`` candidates:

* :func:`covering_argmax`: the most probable covering assignment, exactly, with one
  linear assignment problem (LAP) of size ``n_user x n_ap`` per channel;
* :func:`top_k_covering`: the ``k`` most probable covering assignments, exactly, by
  Lawler's partitioning (Murty's method) over that LAP;
* :func:`rerank`: scores candidates with the rate formula on the estimate (Eq. 4,
  min-rate) and keeps the best: ``k`` rate evaluations instead of exhaustive search's
  ``n_user**n_ap``. A policy that uses it is a *hybrid*: the model proposes, the rate
  formula chooses.

Why one LAP is exact. Let :math:`r_{m,k} = \\max_j \\log p_m(j) - \\log p_m(k) \\ge 0` be AP
``m``'s regret for serving ``k``. Maximising :math:`\\sum_m \\log p_m(a_m)` is minimising
:math:`\\sum_m r_{m,a_m}`. In a covering assignment pick, for each user, one of its APs (a
*designated* AP); its cost is at least the designated APs' regrets, since regrets are
non-negative. Conversely, any choice of distinct designated APs, one per user, with every
other AP at its own argmax (regret 0) is a covering assignment whose cost *is* the
designated regrets. So the optimum is the minimum-cost matching of users to distinct APs,
cost :math:`r_{m,k}`, plus argmax elsewhere. The same holds when some (AP, user) pairs are
forbidden (cost :math:`+\\infty`), which is all that Lawler's partitioning needs.
"""

from __future__ import annotations

import heapq
import itertools
import math

import numpy as np
from scipy.optimize import linear_sum_assignment

from ._validation import as_channel, check_count
from .rates import gain_matrix, rates_from_gains

__all__ = [
    "covering_argmax",
    "top_k_covering",
    "rerank",
    "n_covering_assignments",
    "assignment_log_probability",
]


def n_covering_assignments(n_ap: int, n_user: int) -> int:
    """Number of covering assignments (surjections from APs onto users).

    :math:`\\sum_{j=0}^{K} (-1)^j \\binom{K}{j} (K - j)^{M}`; 36 of the 81 assignments at
    4 APs x 3 users.
    """
    n_ap, n_user = check_count("n_ap", n_ap), check_count("n_user", n_user)
    return sum((-1) ** j * math.comb(n_user, j) * (n_user - j) ** n_ap for j in range(n_user + 1))


def _check_log_probs(log_probs) -> np.ndarray:
    try:
        lp = np.asarray(log_probs, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("log_probs must be a real array of shape (..., n_ap, n_user)") from None
    if lp.ndim < 2 or 0 in lp.shape[-2:]:
        raise ValueError(f"log_probs must have shape (..., n_ap, n_user) with n_ap, n_user >= 1, got {lp.shape}")
    if np.any(np.isnan(lp)) or np.any(lp == np.inf):
        raise ValueError("log_probs contains NaN or +inf; allowed: finite values or -inf (probability 0)")
    n_ap, n_user = lp.shape[-2:]
    if n_ap < n_user:
        raise ValueError(
            f"a covering assignment needs n_ap >= n_user, got n_ap = {n_ap}, n_user = {n_user}; "
            "allowed: n_user <= n_ap"
        )
    return lp


def assignment_log_probability(log_probs, a) -> np.ndarray:
    """:math:`\\sum_m \\log p_m(a_m)`: ``(..., n_ap, n_user)`` and ``(..., n_ap)`` -> ``(...)``.

    Leading axes broadcast (e.g. one channel's ``(n_ap, n_user)`` against ``(k, n_ap)``).
    """
    lp = np.asarray(log_probs, dtype=np.float64)
    a = np.asarray(a)
    if lp.ndim < 2 or a.ndim < 1 or a.shape[-1] != lp.shape[-2]:
        raise ValueError(f"log_probs (..., n_ap, n_user) and a (..., n_ap) do not match: {lp.shape} and {a.shape}")
    lead = np.broadcast_shapes(lp.shape[:-2], a.shape[:-1])
    lp = np.broadcast_to(lp, lead + lp.shape[-2:])
    a = np.broadcast_to(a, lead + a.shape[-1:])
    return np.take_along_axis(lp, a[..., None], axis=-1)[..., 0].sum(axis=-1)


def _best_covering(lp):
    """Most probable covering assignment of one channel; ``lp`` ``(M, K)`` with ``-inf`` = forbidden.

    Returns ``(a, score)`` or ``None`` when no covering assignment has a finite score.
    """
    rowmax = lp.max(axis=1)
    if np.any(rowmax == -np.inf):
        return None
    regret = rowmax[:, None] - lp  # (M, K), +inf where forbidden
    try:
        users, aps = linear_sum_assignment(regret.T)
    except ValueError:  # "cost matrix is infeasible": no matching avoids a forbidden pair
        return None
    a = lp.argmax(axis=1)
    a[aps] = users
    return a, float(lp[np.arange(lp.shape[0]), a].sum())


def _fallback_covering(lp):
    """A covering assignment when every covering assignment has log-probability ``-inf``."""
    finite = np.where(np.isfinite(lp), lp, -1e250)
    a, _ = _best_covering(finite)
    return a


def covering_argmax(log_probs) -> np.ndarray:
    """The most probable assignment among those that serve every user.

    Exact, without enumeration: one linear assignment problem per channel (see the module
    docstring); :math:`O(N_{user}^2 N_{AP})` each.

    Parameters
    ----------
    log_probs : array_like, float, shape ``(..., n_ap, n_user)``
        Per-AP log-probabilities (any normalisation: only differences within a row matter);
        ``-inf`` marks a pair that must not be chosen.

    Returns
    -------
    ndarray of int, shape ``(..., n_ap)``
        :math:`\\arg\\max_a \\sum_m` ``log_probs[..., m, a_m]`` over covering ``a``. Ties are
        broken deterministically (not necessarily by lexicographic order). If every
        covering assignment needs a ``-inf`` pair, one of them is returned.

    Raises
    ------
    ValueError
        If ``n_ap < n_user`` (no covering assignment exists) or ``log_probs`` holds NaN or +inf.

    References
    ----------
    Narottama & Duong (2022), Eq. (9); Eq. (10); footnote 2.
    """
    lp = _check_log_probs(log_probs)
    lead, (n_ap, n_user) = lp.shape[:-2], lp.shape[-2:]
    flat = lp.reshape((-1, n_ap, n_user))
    out = np.empty((flat.shape[0], n_ap), dtype=np.int64)
    for i, row in enumerate(flat):
        best = _best_covering(row)
        out[i] = _fallback_covering(row) if best is None else best[0]
    return out.reshape(lead + (n_ap,))


def _child_bounds(lp, allowed, a, free):
    """Upper bounds (covering constraint dropped) of Lawler's children of a solved node.

    Child ``i`` fixes the free APs ``free[:i]`` to ``a`` and forbids ``a`` at ``free[i]``.
    Returns ``(bounds, feasible)``, each ``(len(free),)``.
    """
    masked = np.where(allowed, lp, -np.inf)
    rowbest = masked.max(axis=1)  # (M,)
    chosen = lp[np.arange(lp.shape[0]), a]  # (M,)
    fixed_sum = chosen.sum() - chosen[free].sum()
    sub = masked[free].copy()
    sub[np.arange(len(free)), a[free]] = -np.inf
    second = sub.max(axis=1)  # best allowed alternative at the excluded AP
    before = np.concatenate([[0.0], np.cumsum(chosen[free])[:-1]])
    after = np.concatenate([np.cumsum(rowbest[free][::-1])[::-1][1:], [0.0]])
    feasible = second > -np.inf
    bounds = np.where(feasible, fixed_sum + before + second + after, -np.inf)
    return bounds, feasible


def _top_k_one(lp, k):
    """Lawler's partitioning with lazy evaluation for one channel; ``lp`` ``(M, K)``.

    The heap holds solved subsets (key: their best covering score) and *groups* of
    unsolved children of one expanded subset, sorted by their upper bounds (key: the
    largest bound not yet solved), so each expansion costs one heap push, not one per child.
    """
    allowed = np.isfinite(lp)
    root = _best_covering(np.where(allowed, lp, -np.inf))
    if root is None:
        a = _fallback_covering(lp)
        return [a] * k, [-np.inf] * k
    counter = itertools.count()
    # entries: (-key, tie, payload); payload = ("solved", a, mask) or ("group", mask, a, free, order, bounds, pos)
    heap = [(-root[1], next(counter), ("solved", root[0], allowed))]
    found, scores = [], []
    while heap and len(found) < k:
        neg_key, _, payload = heapq.heappop(heap)
        if payload[0] == "group":
            _, parent_mask, parent_a, free, order, bounds, pos = payload
            i = order[pos]
            if pos + 1 < len(order):
                heapq.heappush(heap, (-bounds[order[pos + 1]], next(counter), payload[:6] + (pos + 1,)))
            mask = parent_mask.copy()
            fix = free[:i]
            mask[fix] = False
            mask[fix, parent_a[fix]] = True
            mask[free[i], parent_a[free[i]]] = False
            best = _best_covering(np.where(mask, lp, -np.inf))
            if best is not None:
                heapq.heappush(heap, (-best[1], next(counter), ("solved", best[0], mask)))
            continue
        _, a, mask = payload
        found.append(a)
        scores.append(-neg_key)
        free = np.flatnonzero(mask.sum(axis=1) > 1)
        if len(free) == 0:
            continue
        bounds, feasible = _child_bounds(lp, mask, a, free)
        bounds = bounds + 1e-9 * (1.0 + np.abs(bounds))  # rounding must never put a bound below its child's score
        order = [int(x) for x in np.flatnonzero(feasible)[np.argsort(-bounds[feasible], kind="stable")]]
        if order:
            heapq.heappush(heap, (-bounds[order[0]], next(counter), ("group", mask, a, free, order, bounds, 0)))
    while len(found) < k:  # fewer than k covering assignments with finite probability
        found.append(found[-1])
        scores.append(-np.inf)
    return found, scores


def top_k_covering(log_probs, k: int):
    """The ``k`` most probable covering assignments, best first, exactly.

    Lawler's partitioning (Murty's method for k-best assignments): the best covering
    assignment of a subset of the assignment space is one LAP (see
    :func:`covering_argmax`); the rest of the subset splits into disjoint subsets that fix
    a prefix of the APs and forbid the best one's choice at the next AP. Children are first
    queued with a cheap upper bound (the per-AP argmax that ignores the covering
    constraint) and solved only when that bound reaches the top of the queue, so a channel
    costs at most ``k * n_ap`` small LAPs and usually far fewer. Nothing enumerates the
    ``n_user**n_ap`` assignments.

    Parameters
    ----------
    log_probs : array_like, float, shape ``(..., n_ap, n_user)``
        Per-AP log-probabilities; ``-inf`` marks a forbidden pair.
    k : int
        Number of assignments, ``>= 1``.

    Returns
    -------
    assignments : ndarray of int, shape ``(..., k, n_ap)``
        Distinct covering assignments in order of decreasing probability (ties in a
        deterministic order). If fewer than ``k`` covering assignments with a finite score
        exist (e.g. 2 at 2 APs x 2 users, see :func:`n_covering_assignments`), the last
        one found is repeated to fill ``k`` rows.
    scores : ndarray of float, shape ``(..., k)``
        :math:`\\sum_m \\log p_m(a_m)` of each row; ``-inf`` for the repeated filler rows.

    Raises
    ------
    ValueError
        If ``n_ap < n_user``, ``k < 1`` or ``log_probs`` holds NaN or +inf.

    References
    ----------
    Narottama & Duong (2022), Eq. (9).
    """
    lp = _check_log_probs(log_probs)
    k = check_count("k", k)
    lead, (n_ap, n_user) = lp.shape[:-2], lp.shape[-2:]
    flat = lp.reshape((-1, n_ap, n_user))
    out = np.empty((flat.shape[0], k, n_ap), dtype=np.int64)
    scores = np.empty((flat.shape[0], k))
    for i, row in enumerate(flat):
        found, s = _top_k_one(row, k)
        out[i] = found
        scores[i] = s
    return out.reshape(lead + (k, n_ap)), scores.reshape(lead + (k,))


def rerank(H_hat, candidates, rho, mu, penalty=10.0) -> np.ndarray:
    """Keep the candidate with the best min-rate on the estimate (Eq. 4, Eq. 7a).

    The hybrid step of a top-k policy: exactly ``k`` rate evaluations per channel (one per
    candidate), against ``n_user**n_ap`` for exhaustive search.

    Parameters
    ----------
    H_hat : array_like, complex, shape ``(..., n_ap, n_user, n_tx)``
        Estimated channels; precoders and rates both come from the estimate.
    candidates : array_like of int, shape ``(..., k, n_ap)``
        Candidate assignments per channel (e.g. from :func:`top_k_covering`), best model
        score first: ties in min-rate go to the earliest candidate.
    rho : float or array_like
        Linear SNR, a scalar or an array of the batch shape ``(...)``.
    mu : float
        Interference factor.
    penalty : float, default 10.0
        Rate of an unserved user (footnote 2); irrelevant for covering candidates.

    Returns
    -------
    ndarray of int, shape ``(..., n_ap)``

    References
    ----------
    Narottama & Duong (2022), Eq. (4); Eq. (7).
    """
    H_hat = as_channel("H_hat", H_hat)
    lead, (n_ap, n_user) = H_hat.shape[:-3], H_hat.shape[-3:-1]
    candidates = np.asarray(candidates)
    if candidates.ndim != len(lead) + 2 or candidates.shape[:-2] != lead or candidates.shape[-1] != n_ap:
        raise ValueError(
            f"candidates must have shape {lead + ('k', n_ap)} (batch of H_hat, k, n_ap), got {candidates.shape}"
        )
    if candidates.shape[-2] < 1:
        raise ValueError("candidates must hold at least one assignment per channel (k >= 1)")
    try:
        rho_arr = np.asarray(rho, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"rho must be a real number or array (linear SNR >= 0), got {rho!r}") from None
    if rho_arr.ndim:
        if rho_arr.shape != lead:
            raise ValueError(f"rho must be a scalar or have the batch shape {lead}, got {rho_arr.shape}")
        rho_arr = rho_arr[..., None]
    gains = gain_matrix(H_hat, H_hat)[..., None, :, :, :]  # (..., 1, M, K, K)
    values = rates_from_gains(gains, candidates, rho_arr, mu, penalty).min(axis=-1)  # (..., k)
    best = values.argmax(axis=-1)
    return np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
