"""Classical assignment policies: the exhaustive max-min optimum and simple heuristics.

Every policy decides on the estimate ``H_hat`` (what the cloud knows), takes a batch
``(..., n_ap, n_user, n_tx)`` and returns assignments ``(..., n_ap)``: AP ``m`` serves
user ``a[..., m]``. Score them on the true channel with :func:`cfmimo.rates.user_rates`.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np

from ._validation import as_channel, check_count
from .rates import check_rate_args, gain_matrix, rates_from_selected, user_rates

__all__ = [
    "all_assignments",
    "candidate_min_rates",
    "exhaustive",
    "exhaustive_loop",
    "strongest_ap",
    "greedy",
    "greedy_local_search",
    "move_min_rates",
    "random_assignment",
    "random",
]

#: Upper bound on the number of floats of one chunk of candidate rates.
_CHUNK_ELEMENTS = 1 << 22

#: From this many candidates on, :func:`exhaustive` uses the split search with pruning
#: (its per-channel work pays off); below, the plain vectorised search is faster.
_SPLIT_MIN_CANDIDATES = 2048


@lru_cache(maxsize=32)
def _all_assignments(n_ap: int, n_user: int) -> np.ndarray:
    out = np.array(list(itertools.product(range(n_user), repeat=n_ap)), dtype=np.int64)
    out.setflags(write=False)
    return out


def all_assignments(n_ap: int, n_user: int) -> np.ndarray:
    """Every assignment of ``n_ap`` APs to ``n_user`` users.

    Returns
    -------
    ndarray of int, shape ``(n_user ** n_ap, n_ap)``
        Lexicographic order, AP 0 varying slowest (read-only).

    References
    ----------
    Narottama & Duong (2022), Eq. (10); Fig. 1.
    """
    n_ap = check_count("n_ap", n_ap)
    n_user = check_count("n_user", n_user)
    if n_user**n_ap > 10**7:
        raise ValueError(f"n_user ** n_ap = {n_user ** n_ap} candidates is too many for exhaustive search (max 10^7)")
    return _all_assignments(n_ap, n_user)


def _block_min_rates(gains, block, rho, mu, penalty):
    """Min-rate of each candidate in ``block`` ``(c, n_ap)`` on gains ``(n, M, K, K)`` -> ``(n, c)``."""
    n_ap, n_user = gains.shape[-3], gains.shape[-1]
    selected = gains[:, np.arange(n_ap), block, :]  # (n, c, M, K)
    served = block[:, :, None] == np.arange(n_user)  # (c, M, K)
    return rates_from_selected(selected, served, rho, mu, penalty).min(axis=-1)


def _prepare(H_hat, H, rho, mu, penalty):
    H_hat = as_channel("H_hat", H_hat)
    H = H_hat if H is None else as_channel("H", H)
    if H.shape != H_hat.shape:
        raise ValueError(f"H and H_hat must have the same shape, got {H.shape} and {H_hat.shape}")
    rho, mu, penalty = check_rate_args(rho, mu, penalty)
    if rho.ndim:
        raise ValueError("rho must be one scalar here; loop over an SNR grid outside")
    n_ap, n_user = H_hat.shape[-3:-1]
    gains = gain_matrix(H, H_hat).reshape((-1, n_ap, n_user, n_user))
    return H_hat.shape[:-3], gains, rho, mu, penalty


def candidate_min_rates(H_hat, rho, mu, penalty=10.0, *, H=None) -> np.ndarray:
    """Min-rate :math:`\\min_k R_k` of every candidate assignment on every channel.

    The table behind :func:`exhaustive` (its argmax along the last axis), for callers
    that need all of it: training losses, imitation targets, Eq. (18) over all
    assignments. Scored on ``H_hat`` (or on ``H`` with precoders from ``H_hat``).

    Parameters
    ----------
    H_hat : array_like, complex, shape ``(..., n_ap, n_user, n_tx)``
    rho, mu, penalty : float
        As in :func:`cfmimo.rates.user_rates` (one scalar ``rho``).
    H : array_like, complex, optional

    Returns
    -------
    ndarray, shape ``(..., n_user ** n_ap)``
        Columns in the order of :func:`all_assignments`.

    References
    ----------
    Narottama & Duong (2022), Eq. (7).
    """
    lead, gains, rho, mu, penalty = _prepare(H_hat, H, rho, mu, penalty)
    n_ap, n_user = gains.shape[-3], gains.shape[-1]
    table = _block_min_rates(gains, all_assignments(n_ap, n_user), rho, mu, penalty)
    return table.reshape(lead + (table.shape[-1],))


def exhaustive(H_hat, rho, mu, penalty=10.0, *, H=None) -> np.ndarray:
    """Max-min optimal assignment by exhaustive search (Eq. 7 over all :math:`N_{user}^{N_{AP}}`).

    Every candidate is scored on ``H_hat`` (or, with ``H``, on the true channel with
    precoders from ``H_hat``: the *oracle* that knows which decision will turn out best,
    an upper bound in every trial on the min-rate of any policy that precodes from the
    estimate) with the rates of :func:`cfmimo.rates.rates_from_gains`. Ties go to the
    first candidate in lexicographic order.

    How (the result is the argmax of :func:`candidate_min_rates`, found faster): the APs
    are split into two halves; each half's partial assignments get a table of the signal
    and interference power they give every user (shared by all candidates), and every
    candidate's signal and interference powers are sums of one entry from each table, from
    which its :math:`\\min_k` SINR follows (the rate is increasing in the SINR). Only the candidates whose min-SINR lies within a
    relative ``1e-9`` of the best are then re-scored with the rate formula itself, so the
    choice (ties included) is the one of the plain candidate-by-candidate search. Per
    channel, an upper bound of each half-assignment's best completion (its own signal plus
    the other half's largest, its own interference plus the other half's smallest) prunes
    the half-assignments that cannot beat a lower bound found first. Used from 2048
    candidates on (8 APs x 4 users: 65,536); below, and with fewer APs than users (no
    candidate serves everyone), every candidate is scored in one vectorised pass.

    Parameters
    ----------
    H_hat : array_like, complex, shape ``(..., n_ap, n_user, n_tx)``
    rho : float
        Linear SNR.
    mu : float
        Interference factor.
    penalty : float, default 10.0
    H : array_like, complex, optional
        True channels, same shape as ``H_hat``, for the oracle.

    Returns
    -------
    ndarray of int, shape ``(..., n_ap)``

    References
    ----------
    Narottama & Duong (2022), Eq. (7); footnote 1.
    """
    lead, gains, rho, mu, penalty = _prepare(H_hat, H, rho, mu, penalty)
    n_ap, n_user = gains.shape[-3], gains.shape[-1]
    candidates = all_assignments(n_ap, n_user)
    if n_ap < n_user or len(candidates) < _SPLIT_MIN_CANDIDATES or not float(rho) > 0:
        best_index = _exhaustive_plain(gains, candidates, rho, mu, penalty)
    else:
        best_index = _exhaustive_split(gains, rho, mu, penalty)
    return candidates[best_index].reshape(lead + (n_ap,))


def _exhaustive_plain(gains, candidates, rho, mu, penalty):
    """Index of the best candidate per channel, scoring every candidate (chunked)."""
    n, n_ap, n_user = gains.shape[0], gains.shape[-3], gains.shape[-1]
    best_value = np.full(n, -np.inf)
    best_index = np.zeros(n, dtype=np.int64)
    chunk = max(1, _CHUNK_ELEMENTS // max(1, n * n_ap * n_user))
    for start in range(0, len(candidates), chunk):
        value = _block_min_rates(gains, candidates[start : start + chunk], rho, mu, penalty)  # (n, c)
        arg = value.argmax(axis=1)
        top = value[np.arange(n), arg]
        better = top > best_value
        best_value = np.where(better, top, best_value)
        best_index = np.where(better, start + arg, best_index)
    return best_index


def _half_tables(gains, aps, n_user):
    """Signal ``(n, P, K)``, interference ``(n, P, K)`` and served-user bit masks ``(P,)``
    of the ``P = n_user**len(aps)`` partial assignments of the APs ``aps``."""
    part = _all_assignments(len(aps), n_user)  # (P, h), lexicographic
    sel = gains[:, np.asarray(aps)[None, :], part, :]  # (n, P, h, K): gain to k of AP m serving part[m]
    served = part[:, :, None] == np.arange(n_user)  # (P, h, K)
    signal = np.where(served, sel, 0.0).sum(axis=2)
    interference = np.where(served, 0.0, sel).sum(axis=2)
    mask = (served.any(axis=1) * (1 << np.arange(n_user))).sum(axis=1)
    return signal, interference, mask


def _exhaustive_split(gains, rho, mu, penalty):
    n, n_ap, n_user = gains.shape[0], gains.shape[-3], gains.shape[-1]
    h = n_ap // 2
    sA, iA, mA = _half_tables(gains, list(range(h)), n_user)
    sB, iB, mB = _half_tables(gains, list(range(h, n_ap)), n_user)
    PB = sB.shape[1]
    covers = (mA[:, None] | mB[None, :]) == (1 << n_user) - 1  # (PA, PB)
    noise = 1.0 / float(rho)
    out = np.zeros(n, dtype=np.int64)

    def min_sinr(r, rows, cols):
        """min_k SINR of the candidates rows x cols of channel r (-inf if not covering)."""
        worst = None
        sa, ia, sb, ib = sA[r][rows], iA[r][rows], sB[r][cols], iB[r][cols]  # (rows or cols, K)
        for k in range(n_user):
            sig = sa[:, None, k] + sb[None, :, k]
            den = ia[:, None, k] + ib[None, :, k]
            den *= mu
            den += noise
            np.divide(sig, den, out=sig)
            worst = sig if worst is None else np.minimum(worst, sig, out=worst)
        return np.where(covers[np.ix_(rows, cols)], worst, -np.inf)

    all_cols = np.arange(PB)
    for r in range(n):
        # upper bound of every row (columns): its best signal and least interference
        ub_rows = ((sA[r] + sB[r].max(axis=0)) / (mu * (iA[r] + iB[r].min(axis=0)) + noise)).min(axis=1)
        ub_cols = ((sB[r] + sA[r].max(axis=0)) / (mu * (iB[r] + iA[r].min(axis=0)) + noise)).min(axis=1)
        # a lower bound from the most promising row, then prune what cannot reach it
        first = int(np.argmax(ub_rows))
        lower = min_sinr(r, np.array([first]), all_cols).max()
        if np.isfinite(lower):
            keep = lower * (1.0 - 1e-9)
            rows = np.flatnonzero(ub_rows >= keep)
            cols = np.flatnonzero(ub_cols >= keep)
        else:
            rows, cols = np.arange(sA.shape[1]), all_cols
        value = min_sinr(r, rows, cols)
        top = value.max()
        ri, ci = np.nonzero(value >= top * (1.0 - 1e-9))
        close = np.sort(rows[ri] * PB + cols[ci])
        if close.size == 1:
            out[r] = close[0]
            continue
        # near-ties (within rounding of the split sums) are settled by the rate formula
        cand = _all_assignments(n_ap, n_user)[close]
        rates = _block_min_rates(gains[r : r + 1], cand, rho, mu, penalty)[0]
        out[r] = close[int(np.argmax(rates))]
    return out


def exhaustive_loop(H_hat, rho, mu, penalty=10.0) -> np.ndarray:
    """Reference implementation of :func:`exhaustive`: a plain Python loop.

    One sample and one candidate at a time, scored with :func:`cfmimo.rates.user_rates`.
    Used by the tests and by ``benchmarks/bench_exhaustive.py`` as the baseline.
    Shape ``(n, n_ap, n_user, n_tx) -> (n, n_ap)``.

    References
    ----------
    Narottama & Duong (2022), Eq. (7).
    """
    H_hat = as_channel("H_hat", H_hat)
    n_ap, n_user = H_hat.shape[-3:-1]
    flat = H_hat.reshape((-1,) + H_hat.shape[-3:])
    out = np.zeros((flat.shape[0], n_ap), dtype=np.int64)
    for i, h in enumerate(flat):
        best, best_a = -np.inf, None
        for a in itertools.product(range(n_user), repeat=n_ap):
            value = user_rates(h, h, np.array(a), rho, mu, penalty).min()
            if value > best:
                best, best_a = value, a
        out[i] = best_a
    return out.reshape(H_hat.shape[:-3] + (n_ap,))


def strongest_ap(H_hat) -> np.ndarray:
    """Each AP serves the user to which its estimated channel is strongest.

    :math:`a_m = \\arg\\max_k \\|\\hat{\\mathbf h}_{m,k}\\|^2`. Can leave users unserved.

    Returns
    -------
    ndarray of int, shape ``(..., n_ap)``
    """
    H_hat = as_channel("H_hat", H_hat)
    return np.argmax((H_hat.real**2 + H_hat.imag**2).sum(axis=-1), axis=-1)


def greedy(H_hat, rho, mu, penalty=10.0) -> np.ndarray:
    """Greedy max-min: repeatedly give an AP to the currently worst user.

    Start with every AP silent. At each of ``n_ap`` steps compute the rates (Eq. 4) of
    the APs assigned so far (silent APs cause no interference), find the worst user
    (ties: lowest index, so unserved users are served first), and give it the unassigned
    AP whose maximum-ratio gain to it is largest.

    Returns
    -------
    ndarray of int, shape ``(..., n_ap)``
    """
    H_hat = as_channel("H_hat", H_hat)
    rho, mu, penalty = check_rate_args(rho, mu, penalty)
    lead, (n_ap, n_user) = H_hat.shape[:-3], H_hat.shape[-3:-1]
    gains = gain_matrix(H_hat, H_hat).reshape((-1, n_ap, n_user, n_user))
    n = gains.shape[0]
    rows = np.arange(n)
    a = np.zeros((n, n_ap), dtype=np.int64)
    active = np.zeros((n, n_ap), dtype=bool)
    own_gain = np.einsum("nmkk->nmk", gains)  # gain of AP m to user k when serving k
    rho_b = np.broadcast_to(rho, lead).reshape(-1) if rho.ndim else rho
    for _ in range(n_ap):
        selected = np.take_along_axis(gains, a[:, :, None, None], axis=2)[:, :, 0, :]
        served = a[:, :, None] == np.arange(n_user)
        rates = rates_from_selected(selected, served, rho_b, mu, penalty, active=active)
        worst = rates.argmin(axis=1)
        candidate_gain = np.where(active, -np.inf, own_gain[rows, :, worst])
        pick = candidate_gain.argmax(axis=1)
        a[rows, pick] = worst
        active[rows, pick] = True
    return a.reshape(lead + (n_ap,))


def random_assignment(H_hat, rng=None) -> np.ndarray:
    """Uniformly random assignment (each AP picks a user independently).

    Parameters
    ----------
    H_hat : array_like, shape ``(..., n_ap, n_user, n_tx)``
        Only its shape is used.
    rng : int, numpy.random.Generator or None

    Returns
    -------
    ndarray of int, shape ``(..., n_ap)``
    """
    H_hat = as_channel("H_hat", H_hat)
    rng = np.random.default_rng(rng)
    n_ap, n_user = H_hat.shape[-3:-1]
    return rng.integers(0, n_user, size=H_hat.shape[:-3] + (n_ap,))


random = random_assignment


#: Channels per chunk of ``greedy_local_search`` (bounds its memory, ~50 MB at 16 x 8).
_LOCAL_SEARCH_CHUNK = 1024


def _min_rate_from_parts(signal, total, count, rho, mu, penalty):
    """Min-rate from per-user signal, total received power and serving count, ``(..., K) -> (...)``."""
    rate = np.log2(1.0 + rho * signal / (rho * mu * (total - signal) + 1.0))
    return np.where(count > 0, rate, -penalty).min(axis=-1)


def _serving_parts(gains, a):
    """What users receive under ``a``: ``gains`` ``(n, M, K, K)``, ``a`` ``(n, M)`` ->
    ``sel`` (power user ``k`` receives from AP ``m`` now), ``mine`` (AP ``m`` serves ``k``),
    ``sel_sig`` (``sel`` where ``mine``), all ``(n, M, K)``; per-user ``signal``, ``total``
    received power and serving ``count``, ``(n, K)``."""
    n, n_ap, n_user = gains.shape[0], gains.shape[1], gains.shape[-1]
    sel = gains[np.arange(n)[:, None], np.arange(n_ap), a]
    mine = a[..., None] == np.arange(n_user)
    sel_sig = np.where(mine, sel, 0.0)
    return sel, mine, sel_sig, sel_sig.sum(1), sel.sum(1), mine.sum(1)


def _move_table(gains, a, rho, mu, penalty, parts=None):
    """Min-rate after AP ``m`` moves to user ``v``: ``gains`` ``(n, M, K, K)``, ``a`` ``(n, M)`` -> ``(n, M, K)``.

    ``parts``: :func:`_serving_parts` of ``(gains, a)`` when the caller has them."""
    users = np.arange(gains.shape[-1])
    own = np.einsum("nmkk->nmk", gains)  # (n, M, K): power to k when AP m serves k
    sel, mine, sel_sig, signal, total, count = _serving_parts(gains, a) if parts is None else parts
    is_v = (users[:, None] == users)[None, None]  # (1, 1, V, K): k == v
    mv_total = total[:, None, None] - sel[:, :, None] + gains
    mv_signal = signal[:, None, None] - sel_sig[:, :, None] + np.where(is_v, own[:, :, :, None], 0.0)
    mv_count = count[:, None, None] - mine[:, :, None] + is_v
    rho_v = rho[:, None, None, None] if np.ndim(rho) else rho
    return _min_rate_from_parts(mv_signal, mv_total, mv_count, rho_v, mu, penalty)


def _check_batch_rho(rho, lead):
    if rho.ndim and rho.shape != lead:
        raise ValueError(f"rho must be a scalar or have the batch shape {lead}, got {rho.shape}")


def _check_start(name, a, lead, n_ap, n_user):
    """``a`` as an integer array of shape ``lead + (n_ap,)`` with users in range; ``ValueError`` naming ``name``."""
    a = np.asarray(a)
    if a.shape != lead + (n_ap,) or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array of shape {lead + (n_ap,)}, got {a.dtype} {a.shape}")
    if a.size and (a.min() < 0 or a.max() >= n_user):
        raise ValueError(f"{name} has a user index out of range; allowed: [0, {n_user - 1}]")
    return a


def move_min_rates(H_hat, a, rho, mu, penalty=10.0) -> np.ndarray:
    """Min-rate (Eq. 7a, on the estimate) of every single-AP change of an assignment.

    ``out[..., m, v]`` is the min-rate of ``a`` with AP ``m`` serving user ``v`` instead
    (``v = a[..., m]``: ``a`` itself). The rates are updated from ``a``'s, not recomputed:
    :math:`O(N_{AP} N_{user}^2)` per channel, the per-AP factorisation that fine-tuning on
    the expected min-rate needs where the ``n_user**n_ap`` assignments cannot be listed.

    Parameters
    ----------
    H_hat : array_like, complex, shape ``(..., n_ap, n_user, n_tx)``
    a : array_like of int, shape ``(..., n_ap)``
    rho : float or array_like
        Linear SNR, a scalar or an array of the batch shape.
    mu, penalty : float

    Returns
    -------
    ndarray, shape ``(..., n_ap, n_user)``

    References
    ----------
    Narottama & Duong (2022), Eq. (7).
    """
    H_hat = as_channel("H_hat", H_hat)
    rho, mu, penalty = check_rate_args(rho, mu, penalty)
    lead, (n_ap, n_user) = H_hat.shape[:-3], H_hat.shape[-3:-1]
    _check_batch_rho(rho, lead)
    a = _check_start("a", a, lead, n_ap, n_user)
    gains = gain_matrix(H_hat, H_hat).reshape((-1, n_ap, n_user, n_user))
    out = _move_table(gains, a.reshape(-1, n_ap), rho.reshape(-1) if rho.ndim else rho, mu, penalty)
    return out.reshape(lead + (n_ap, n_user))


def _local_search_chunk(gains, a, rho, mu, penalty, max_rounds):
    """Steepest-ascent moves and swaps on one chunk: ``gains`` ``(n, M, K, K)``, ``a`` ``(n, M)``."""
    n, n_ap, n_user = gains.shape[0], gains.shape[1], gains.shape[-1]
    users = np.arange(n_user)
    pair_i, pair_j = np.triu_indices(n_ap, k=1)
    a_all, gains_all, rho_all = a, gains, rho
    active = np.arange(n)
    for _ in range(max_rounds):
        # only channels still improving take part in a round
        a, gains = a_all[active], gains_all[active]
        rho = rho_all[active] if rho_all.ndim else rho_all
        rho_c = rho[:, None, None] if rho.ndim else rho
        rho_s = rho[:, None] if rho.ndim else rho
        n = len(active)
        rows = np.arange(n)
        parts = _serving_parts(gains, a)
        sel, mine, sel_sig, signal, total, count = parts  # (n, M, K) and (n, K)
        current = _min_rate_from_parts(signal, total, count, rho_s, mu, penalty)
        move = _move_table(gains, a, rho, mu, penalty, parts)  # (n, M, V)
        move = np.where(users == a[..., None], -np.inf, move).reshape(n, -1)  # (n, M * V)
        # swap the users of APs i < j: (n, P, K)
        ai, aj = a[:, pair_i], a[:, pair_j]
        gi_new, gj_new = gains[rows[:, None], pair_i, aj], gains[rows[:, None], pair_j, ai]  # (n, P, K)
        sw_total = total[:, None] - sel[:, pair_i] - sel[:, pair_j] + gi_new + gj_new
        sw_signal = (
            signal[:, None]
            - sel_sig[:, pair_i]
            - sel_sig[:, pair_j]
            + np.where(users == aj[..., None], gi_new, 0.0)
            + np.where(users == ai[..., None], gj_new, 0.0)
        )
        swap = _min_rate_from_parts(sw_signal, sw_total, count[:, None], rho_c, mu, penalty)
        swap = np.where(ai == aj, -np.inf, swap)  # (n, P)
        best_move, best_swap = move.max(axis=1), swap.max(axis=1)
        gain_needed = current + 1e-12 * (1.0 + np.abs(current))
        do_move = (best_move > gain_needed) & (best_move >= best_swap)
        do_swap = (best_swap > gain_needed) & ~do_move
        mi = move.argmax(axis=1)
        r = np.flatnonzero(do_move)
        a[r, mi[r] // n_user] = mi[r] % n_user
        si = swap.argmax(axis=1)
        r = np.flatnonzero(do_swap)
        i, j = pair_i[si[r]], pair_j[si[r]]
        a[r, i], a[r, j] = a[r, j], a[r, i].copy()
        a_all[active] = a
        active = active[do_move | do_swap]
        if len(active) == 0:
            break
    return a_all


def greedy_local_search(H_hat, rho, mu, penalty=10.0, *, start=None, max_rounds=None) -> np.ndarray:
    """Greedy, then local search: move or swap one AP while the min-rate on the estimate improves.

    Starts from :func:`greedy` (or ``start``) and repeats steepest ascent: among all
    ``n_ap (n_user - 1)`` *moves* (AP ``m`` serves another user) and ``n_ap (n_ap - 1) / 2``
    *swaps* (two APs exchange their users), take the one with the largest min-rate
    (Eq. 7a on ``H_hat``, rates of Eq. 4) if it beats the current one; stop at a local
    optimum. Each round costs :math:`O(N_{AP}^2 N_{user} + N_{AP} N_{user}^2)` per channel
    (rates are updated, not recomputed), vectorised over the batch; channels that have
    stopped keep their assignment. The result is never worse than the start, and it is
    the strong classical reference where exhaustive search is impossible.

    Parameters
    ----------
    H_hat : array_like, complex, shape ``(..., n_ap, n_user, n_tx)``
    rho : float or array_like
        Linear SNR, a scalar or an array of the batch shape.
    mu : float
        Interference factor.
    penalty : float, default 10.0
        Rate of an unserved user (footnote 2).
    start : array_like of int, shape ``(..., n_ap)``, optional
        Starting assignments; default :func:`greedy` (which serves every user when
        ``n_ap >= n_user``). A start that leaves two or more users unserved may not move:
        no single move or swap raises its min-rate above ``-penalty``.
    max_rounds : int, optional
        Cap on improving rounds (default ``4 * n_ap * n_user``; each strictly raises the
        min-rate, so the search ends at a local optimum well before it in practice).

    Returns
    -------
    ndarray of int, shape ``(..., n_ap)``

    References
    ----------
    Narottama & Duong (2022), Eq. (7).
    """
    H_hat = as_channel("H_hat", H_hat)
    rho, mu, penalty = check_rate_args(rho, mu, penalty)
    lead, (n_ap, n_user) = H_hat.shape[:-3], H_hat.shape[-3:-1]
    _check_batch_rho(rho, lead)
    start = greedy(H_hat, rho, mu, penalty) if start is None else _check_start("start", start, lead, n_ap, n_user)
    max_rounds = 4 * n_ap * n_user if max_rounds is None else check_count("max_rounds", max_rounds, 0)
    gains = gain_matrix(H_hat, H_hat).reshape((-1, n_ap, n_user, n_user))
    a = np.array(start, dtype=np.int64).reshape(-1, n_ap)
    rho_flat = rho.reshape(-1) if rho.ndim else rho
    for lo in range(0, len(a), _LOCAL_SEARCH_CHUNK):
        hi = lo + _LOCAL_SEARCH_CHUNK
        rho_c = rho_flat[lo:hi] if rho.ndim else rho
        a[lo:hi] = _local_search_chunk(gains[lo:hi], a[lo:hi], rho_c, mu, penalty, max_rounds)
    return a.reshape(lead + (n_ap,))
