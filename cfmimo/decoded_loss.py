"""The loss of decoded assignments: Eq. (18) with both signs of footnote 2's penalty, and
the loss that Algorithm 1 trains on, at exact probabilities (piecewise constant) and at
finite shots (smooth).

Each function turns one statement of the paper, under one named reading, into a number
that notebook 03 glues into the errata rows.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import binom

from . import engine, qnn
from ._validation import check_count, check_real
from .baselines import all_assignments
from .config import Preset
from .gradients import central_difference_gradient, eq17_gradient, parameter_shift_gradient
from .lemma2_circuits import circuit_inputs
from .rates import gain_matrix, ideal_capacity, normalized_loss, rates_from_gains, serves_every_user

__all__ = [
    "check_channels",
    "candidate_user_rates",
    "max_min_optimum",
    "eq18_losses",
    "floor_loss",
    "floor_loss_gradients",
    "bin_probabilities",
    "finite_shot_loss",
]


def check_channels(H_hat) -> np.ndarray:
    """``H_hat`` as an array of shape ``(n, n_ap, n_user, n_tx)``, or ``ValueError``."""
    H_hat = np.asarray(H_hat)
    if H_hat.ndim != 4:
        raise ValueError(f"H_hat must have shape (n, n_ap, n_user, n_tx), got {H_hat.shape}")
    return H_hat


def candidate_user_rates(H_hat, rho, mu, unserved_rate: float, *, H=None, reduce: str = "min", max_elements: int = 2_000_000):
    """Min or sum of the user rates of every assignment, an unserved user's rate set by hand.

    Footnote 2 gives an unserved user the rate :math:`-r_{penalty}`, Table II
    :math:`r_{penalty}=-10`: ``unserved_rate=+10`` is the literal reading, ``-10`` the
    intended one, ``0`` the physical rate.

    Parameters
    ----------
    H_hat : array_like, complex, shape ``(n, n_ap, n_user, n_tx)``
        Estimates (precoders); also the scored channel unless ``H`` is given.
    rho, mu : float
        Linear SNR (> 0) and interference factor.
    unserved_rate : float
    H : array_like, optional
        True channels to score on.
    reduce : {"min", "sum"}
    max_elements : int
        Channels are processed in chunks of at most this many (channel, assignment,
        user) entries.

    Returns
    -------
    ndarray, shape ``(n, n_user ** n_ap)``
        Columns in the order of :func:`cfmimo.baselines.all_assignments`.

    References
    ----------
    Narottama & Duong (2022), Eq. (5); footnote 2.
    """
    H_hat = check_channels(H_hat)
    H = H_hat if H is None else check_channels(H)
    unserved_rate = check_real("unserved_rate", unserved_rate, -1e6, 1e6)
    if reduce not in ("min", "sum"):
        raise ValueError(f"reduce = {reduce!r} is unknown; allowed: ['min', 'sum']")
    n, n_ap, n_user = H_hat.shape[:3]
    cand = all_assignments(n_ap, n_user)
    unserved = ~(cand[:, :, None] == np.arange(n_user)).any(axis=1)  # (A, K)
    chunk = max(1, int(max_elements) // (len(cand) * n_user * n_ap))
    out = np.empty((n, len(cand)))
    for start in range(0, n, chunk):
        gains = gain_matrix(H[start : start + chunk], H_hat[start : start + chunk])
        rates = rates_from_gains(gains[:, None], cand[None], rho, mu, 0.0)  # (c, A, K)
        rates = np.where(unserved[None], unserved_rate, rates)
        out[start : start + chunk] = rates.min(axis=-1) if reduce == "min" else rates.sum(axis=-1)
    return out


def max_min_optimum(H_hat, rho, mu, unserved_rate: float):
    """Max-min optimum when an unserved user's rate is ``unserved_rate`` (footnote 2).

    Parameters
    ----------
    H_hat : array_like, complex, shape ``(n, n_ap, n_user, n_tx)``
    rho, mu : float
    unserved_rate : float
        ``+10``: footnote 2 with Table II's :math:`r_{penalty}=-10`, literally;
        ``-10``: the intended penalty.

    Returns
    -------
    best : ndarray of int, shape ``(n, n_ap)``
        Max-min optimal assignment (first in lexicographic order on ties).
    leaves_unserved : ndarray of bool, shape ``(n,)``
        Whether that optimum leaves a user without an AP.

    References
    ----------
    Narottama & Duong (2022), Eq. (7); footnote 2.
    """
    H_hat = check_channels(H_hat)
    n_ap, n_user = H_hat.shape[1:3]
    cand = all_assignments(n_ap, n_user)
    best = np.argmax(candidate_user_rates(H_hat, rho, mu, unserved_rate), axis=-1)
    return cand[best], ~serves_every_user(cand[best], n_user)


def eq18_losses(H_hat, rho, mu, unserved_rate: float):
    """Eq. (18), :math:`\\hat L = (1 - \\min_k R_k / C)^2`, of every assignment.

    Parameters
    ----------
    H_hat : array_like, complex, shape ``(n, n_ap, n_user, n_tx)``
        Scored on themselves, as in training.
    rho, mu : float
    unserved_rate : float
        An unserved user's rate: ``+10`` (footnote 2 with Table II's sign, literally) or
        ``-10`` (the intended penalty).

    Returns
    -------
    losses : ndarray, shape ``(n, n_user ** n_ap)``
    leaves_unserved : ndarray of bool, shape ``(n_user ** n_ap,)``

    References
    ----------
    Narottama & Duong (2022), Eq. (18); footnote 2.
    """
    H_hat = check_channels(H_hat)
    capacity = ideal_capacity(H_hat, rho)
    if np.any(capacity <= 0):
        raise ValueError("rho must be > 0: Eq. (18) divides by the ideal capacity")
    n_ap, n_user = H_hat.shape[1:3]
    losses = (1.0 - candidate_user_rates(H_hat, rho, mu, unserved_rate) / capacity[:, None]) ** 2
    return losses, ~serves_every_user(all_assignments(n_ap, n_user), n_user)


def floor_loss(config, variant: str, H_hat, theta, rho, mu, penalty: float = 10.0) -> np.ndarray:
    """Eq. (18) of the assignment that the circuit's outputs decode to (Algorithm 1, steps 4-6).

    Parameters
    ----------
    config : cfmimo.config.Preset
    variant : str
    H_hat : array_like, complex, shape ``(..., n_ap, n_user, n_tx)``
    theta : array_like, shape ``(..., n_weights)`` (Qiskit convention)
    rho, mu, penalty : float

    Returns
    -------
    ndarray, shape ``(...)``
        Piecewise constant in ``theta``: the decoded assignment only changes where an
        output crosses a bin edge of :math:`\\lfloor o_m N_{user} \\rfloor`.

    References
    ----------
    Narottama & Duong (2022), Eq. (18); Algorithm 1.
    """
    H_hat = np.asarray(H_hat)
    x, theta = circuit_inputs(config, variant, qnn.encode_angles(H_hat), theta, "qiskit")
    lead = x.shape[:-1]
    H_b = np.broadcast_to(H_hat, lead + H_hat.shape[-3:])
    a = qnn.decide_from_probabilities(config, variant, engine.exact_probabilities(config, variant, x, theta))
    return normalized_loss(H_b, H_b, a, rho, mu, penalty)


def floor_loss_gradients(
    config, variant: str, H_hat, theta, rho, mu, penalty: float = 10.0, shift: float = math.pi / 2, step: float = 1e-5
) -> dict:
    """What gradient rules return on the piecewise-constant loss of :func:`floor_loss`.

    Returns
    -------
    dict of ndarray, each ``(..., n_weights)``
        ``"eq17"``: Eq. (17) as printed with ``shift``; ``"shift_rule"``: the textbook
        rule (Qiskit convention) with ``shift``; ``"central"``: central difference with
        ``step`` (the exact derivative is 0 wherever no output sits on a bin edge).

    References
    ----------
    Narottama & Duong (2022), Eq. (17); Eq. (18); Algorithm 1.
    """
    H_hat = np.asarray(H_hat)

    def f(points):  # (2, ..., P, P)
        return floor_loss(config, variant, H_hat[..., None, :, :, :], points, rho, mu, penalty)

    return {
        "eq17": eq17_gradient(f, theta, shift),
        "shift_rule": parameter_shift_gradient(f, theta, shift, "qiskit"),
        "central": central_difference_gradient(f, theta, step),
    }


def bin_probabilities(p, shots: int, n_user: int):
    """Distribution of the decoded user :math:`\\min(\\lfloor (C/S) N_{user}\\rfloor, N_{user}-1)`, :math:`C\\sim\\mathrm{Bin}(S, p)`.

    Parameters
    ----------
    p : array_like, shape ``(...)``, entries in [0, 1]
        Exact :math:`P(\\text{bit}=1)`.
    shots : int
        :math:`S`.
    n_user : int

    Returns
    -------
    prob : ndarray, shape ``(..., n_user)``
    dprob_dp : ndarray, shape ``(..., n_user)``
        Exact derivative, from :math:`\\partial_p F(c; S, p) = -S\\,\\mathrm{pmf}(c; S-1, p)`.

    References
    ----------
    Narottama & Duong (2022), Algorithm 1.
    """
    shots = check_count("shots", shots)
    n_user = check_count("n_user", n_user)
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    k = np.arange(n_user)
    lo = np.ceil(k * shots / n_user).astype(int)  # first count of bin k
    hi = np.ceil((k + 1) * shots / n_user).astype(int) - 1  # last count of bin k
    hi[-1] = shots  # C = S decodes to N_user, clipped to the last user
    pe = p[..., None]
    cdf_hi = binom.cdf(hi, shots, pe)
    cdf_lo = np.where(lo > 0, binom.cdf(lo - 1, shots, pe), 0.0)

    def dcdf(c):
        return np.where((c >= 0) & (c < shots), -shots * binom.pmf(c, shots - 1, pe), 0.0)

    return cdf_hi - cdf_lo, dcdf(hi) - dcdf(lo - 1)


def finite_shot_loss(config: Preset, H_hat, theta, rho, mu, penalty: float = 10.0, shots: int = 1024):
    """Expected Eq. (18) loss of the floor-decoded assignment at ``shots`` shots, and its gradient.

    Algorithm 1 decodes :math:`\\hat o_m = \\lfloor o_m N_{user}\\rfloor` from measured
    outputs. With :math:`S` shots, :math:`o_m = C_m/S`; the expectation over the shot
    noise, :math:`\\mathbb E[\\hat L](\\theta) = \\sum_a \\hat L(a) P_\\theta(a)`, is smooth in
    :math:`\\theta` (unlike the loss at exact probabilities, which is piecewise constant).

    Needs readout bits that are independent (true for the literal circuit at the book's
    reading, where the last layer's qubits share no gate after the CX; checked).

    Parameters
    ----------
    config : cfmimo.config.Preset
    H_hat : array_like, complex, shape ``(n, n_ap, n_user, n_tx)``
    theta : array_like, shape ``(n, n_weights)`` (Qiskit convention)
    rho, mu, penalty : float
        An unserved user's rate is ``-penalty``.
    shots : int

    Returns
    -------
    loss : ndarray, shape ``(n,)``
        :math:`\\mathbb E[\\hat L]`.
    grad : ndarray, shape ``(n, n_weights)``
        Its exact gradient (chain rule through :func:`bin_probabilities` and the adjoint
        marginal gradients of :func:`cfmimo.engine.exact_vjp`).

    References
    ----------
    Narottama & Duong (2022), Eq. (18); Algorithm 1.
    """
    H_hat = check_channels(H_hat)
    theta = np.asarray(theta, dtype=np.float64)
    n, n_ap, n_user = H_hat.shape[:3]
    if theta.shape != (n, qnn.n_weights(config, "paper")):
        raise ValueError(f"theta must have shape ({n}, {qnn.n_weights(config, 'paper')}), got {theta.shape}")
    x = qnn.encode_angles(H_hat)
    probs = engine.exact_probabilities(config, "paper", x, theta)  # (n, 2**n_ap)
    bits = (np.arange(probs.shape[-1])[:, None] >> np.arange(n_ap)) & 1  # (2**n_ap, n_ap)
    marg = probs @ bits  # (n, n_ap)
    product = np.prod(np.where(bits[None] == 1, marg[:, None, :], 1.0 - marg[:, None, :]), axis=-1)
    if np.max(np.abs(product - probs)) > 1e-9:
        raise ValueError("the readout bits are correlated at this configuration; finite_shot_loss needs independent bits")
    dmarg = np.stack([engine.exact_vjp(config, "paper", x, theta, bits[:, m].astype(float))[1] for m in range(n_ap)], axis=1)
    losses, _ = eq18_losses(H_hat, rho, mu, -penalty)  # (n, A), A = K**M, AP 0 slowest
    table = losses.reshape((n,) + (n_user,) * n_ap)
    pk, dpk = bin_probabilities(marg, shots, n_user)  # (n, M, K)
    letters = "abcdefghij"[:n_ap]
    expected = np.einsum(f"z{letters}," + ",".join(f"z{c}" for c in letters) + "->z", table, *[pk[:, m] for m in range(n_ap)])
    dloss_dp = np.empty((n, n_ap))
    for m in range(n_ap):
        factors = [dpk[:, j] if j == m else pk[:, j] for j in range(n_ap)]
        dloss_dp[:, m] = np.einsum(f"z{letters}," + ",".join(f"z{c}" for c in letters) + "->z", table, *factors)
    grad = np.einsum("zm,zmj->zj", dloss_dp, dmarg)
    return expected, grad
