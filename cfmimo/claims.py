"""The errata claims that are not about gradients of one circuit: Eq. (18) with both penalty
signs, footnote 5 in both indexings, Lemma 2's one-qubit expression, the finite-shot
decoded loss of Algorithm 1, input-blind policies, and the settings the paper leaves open.

Each function turns one statement of the paper, under one named reading, into a number
(notebook 03 glues them into the errata rows).

References
----------
B. Narottama and T. Q. Duong, "Quantum neural networks for optimal resource allocation
in cell-free MIMO systems", 2022: Eq. (11), (12), (18)-(21), (26)-(31),
footnotes 2 and 5, Table II, Algorithm 1.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom

from . import engine, qnn
from ._validation import check_count, check_real
from .baselines import all_assignments
from .bounds import PAULI, frequency
from .config import Preset, SystemConfig, TrainingConfig, config_fields
from .rates import gain_matrix, ideal_capacity, rates_from_gains, serves_every_user

__all__ = [
    "PAPER_SETTINGS",
    "STRUCTURAL_CHOICES",
    "settings_not_given",
    "candidate_user_rates",
    "max_min_optimum",
    "eq18_losses",
    "constant_policy_table",
    "floor_decoder_dead_share",
    "one_qubit_intended_bound",
    "bin_probabilities",
    "finite_shot_loss",
]

PAPER_SETTINGS = {
    "n_ap": "Table II",
    "n_user": "Table II",
    "n_tx": "Table II",
    "interference_factor": "Table II",
    "distance_mean": "Table II",
    "penalty": "Table II",
    "step_size": "Table II",
    "n_epoch": "Table II",
    "shift": "Table II",
    "distance_variance": "Sec. IV",
    "n_trials": "Sec. IV",
    "distance_means": "Sec. IV",
    "n_neuron": "next to Eq. (21): N_neuron = N_AP",
    "distance_floor": "none: the book's truncation of the normal of Sec. IV needs it",
    "seed": "none: a reproducibility device, not a model setting",
}
"""Where the paper fixes each configuration field (or why the field is not a gap)."""

STRUCTURAL_CHOICES = (
    ("angle map", "Eq. (14) feeds a complex vector to an RZ gate", "qnn.encode_angles: pi * g / (g + geometric mean g)"),
    ("qubits read", "Eq. (13)-(15) do not say which qubits give o_m", "the last layer"),
    ("CX direction", "C_X(q_{l+1,1}; q_{l,N}) does not say which qubit controls", "previous layer's last neuron controls"),
    ("shots", "Algorithm 1 decodes measured outputs; no shot count is given", "exact probabilities; 1024 (Qiskit's default) where shots are studied"),
    ("eigenvalues in Eq. (12)", '"eigenvalues of h_{m,k}", a vector', "eigenvalues of the per-AP Gram matrix H_m H_m^H"),
)
"""Structural choices the paper leaves open: (choice, what the paper says, the book's reading)."""


def settings_not_given() -> list[str]:
    """Configuration fields whose value the paper does not give.

    Every field of :class:`~cfmimo.config.SystemConfig` and
    :class:`~cfmimo.config.TrainingConfig`, plus ``n_trials`` and ``distance_means``,
    minus those of :data:`PAPER_SETTINGS`.
    """
    fields = [f for cls in (SystemConfig, TrainingConfig) for f in config_fields(cls)]
    fields += ["n_trials", "distance_means"]
    return [f for f in fields if f not in PAPER_SETTINGS]


# ---------------------------------------------------------------------------------
# Eq. (18) and footnote 2
# ---------------------------------------------------------------------------------


def _channels(H_hat) -> np.ndarray:
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
    """
    H_hat = _channels(H_hat)
    H = H_hat if H is None else _channels(H)
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
    """
    H_hat = _channels(H_hat)
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
    """
    H_hat = _channels(H_hat)
    capacity = ideal_capacity(H_hat, rho)
    if np.any(capacity <= 0):
        raise ValueError("rho must be > 0: Eq. (18) divides by the ideal capacity")
    n_ap, n_user = H_hat.shape[1:3]
    losses = (1.0 - candidate_user_rates(H_hat, rho, mu, unserved_rate) / capacity[:, None]) ** 2
    return losses, ~serves_every_user(all_assignments(n_ap, n_user), n_user)


def constant_policy_table(H, H_hat, rho_grid, train_rho, mu, penalty: float = 10.0) -> dict:
    """What an input-blind policy (one fixed assignment for every channel) achieves.

    Parameters
    ----------
    H, H_hat : array_like, complex, shape ``(n, n_ap, n_user, n_tx)``
    rho_grid : array_like, shape ``(n_rho,)``
        Linear SNRs for the sum rate (Fig. 3's axis).
    train_rho : float
        Linear SNR of the training loss.
    mu, penalty : float

    Returns
    -------
    dict of ndarray
        ``"sum_rate"``: ``(n_rho, A)`` mean physical sum rate (Eq. 5, an unserved user
        gets 0) of each fixed assignment, scored on ``H`` with precoders from ``H_hat``;
        ``"loss"``: ``(A,)`` mean Eq. (11) loss :math:`(C - \\min_k R_k)^2` on ``H_hat``
        at ``train_rho`` (an unserved user's rate is ``-penalty``).
    """
    rho_grid = np.asarray(rho_grid, dtype=np.float64)
    sum_rate = np.stack([candidate_user_rates(H_hat, r, mu, 0.0, H=H, reduce="sum").mean(axis=0) for r in rho_grid])
    gap = ideal_capacity(_channels(H_hat), train_rho)[:, None] - candidate_user_rates(H_hat, train_rho, mu, -penalty)
    return {"sum_rate": sum_rate, "loss": (gap**2).mean(axis=0)}


# ---------------------------------------------------------------------------------
# Footnote 5
# ---------------------------------------------------------------------------------


def floor_decoder_dead_share(o, n_user: int, first_user: int) -> float:
    """Share of outputs whose :math:`\\lfloor o_m N_{user}\\rfloor` names no user.

    :math:`\\lfloor o N_{user}\\rfloor` takes the :math:`N_{user}+1` values
    :math:`0..N_{user}` on :math:`o\\in[0,1]`. With users numbered from 1 (the paper,
    ``first_user=1``) the value 0 is dead: every :math:`o < 1/N_{user}`. Numbered from 0
    (the code, ``first_user=0``) the value :math:`N_{user}` is dead: only :math:`o = 1`.

    Parameters
    ----------
    o : array_like, entries in [0, 1]
    n_user : int
    first_user : {0, 1}

    Returns
    -------
    float
    """
    n_user = check_count("n_user", n_user)
    if first_user not in (0, 1):
        raise ValueError(f"first_user = {first_user!r}; allowed: 0 or 1")
    o = np.asarray(o, dtype=np.float64)
    if o.size == 0 or not np.all(np.isfinite(o)) or o.min() < 0 or o.max() > 1:
        raise ValueError("o must be a non-empty array with entries in [0, 1]")
    values = np.floor(o * n_user)
    valid = (values >= first_user) & (values <= first_user + n_user - 1)
    return float(np.mean(~valid))


# ---------------------------------------------------------------------------------
# Lemma 2, one qubit
# ---------------------------------------------------------------------------------


def one_qubit_intended_bound(rho, convention: str = "qiskit") -> np.ndarray:
    """The expression Eq. (30) most likely meant: :math:`\\tfrac{\\omega^2}{8}\\{\\mathrm{Tr}[\\sigma_x x]^2 + \\mathrm{Tr}[\\sigma_z x]^2\\}`.

    Eq. (30) prints :math:`\\tfrac18\\{\\mathrm{Tr}[x]^2 + \\mathrm{Tr}[\\sigma_z x\\sigma_z]^2\\}`
    (= 1/4 for every state). With :math:`\\mathrm{Tr}[x]\\to\\mathrm{Tr}[\\sigma_x x]` and
    :math:`\\mathrm{Tr}[\\sigma_z x\\sigma_z]\\to\\mathrm{Tr}[\\sigma_z x]` it is the exact
    :math:`\\mathbb E_\\theta(df/d\\theta)^2` of Eq. (26)-(28) for Qiskit's
    :math:`e^{-i\\theta Y/2}` (:math:`\\omega=1`); for :math:`e^{-i\\theta Y}` the factor
    is :math:`\\omega^2/8 = 1/2`. Computed from the traces directly.

    Parameters
    ----------
    rho : array_like, complex, shape ``(..., 2, 2)``
    convention : {"qiskit", "appendix"}

    Returns
    -------
    ndarray, shape ``(...)``
    """
    rho = np.asarray(rho, dtype=np.complex128)
    if rho.ndim < 2 or rho.shape[-2:] != (2, 2):
        raise ValueError(f"rho must have shape (..., 2, 2), got {rho.shape}")
    tr_x = np.trace(PAULI["X"] @ rho, axis1=-2, axis2=-1).real
    tr_z = np.trace(PAULI["Z"] @ rho, axis1=-2, axis2=-1).real
    return frequency(convention) ** 2 / 8.0 * (tr_x**2 + tr_z**2)


# ---------------------------------------------------------------------------------
# Algorithm 1 with finite shots
# ---------------------------------------------------------------------------------


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
    """
    H_hat = _channels(H_hat)
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
