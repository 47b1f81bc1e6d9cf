"""Achievable rates, reward, ideal capacity and losses (Eq. 3-5, 8, 11, 12, 18).

Conventions (see DESIGN.md):

* ``H``, ``H_hat``: complex ``(..., n_ap, n_user, n_tx)``; ``H[..., m, k, :]`` is
  :math:`\\mathbf h_{m,k}`. Leading axes are batch axes and broadcast against each other
  and against the assignment's leading axes.
* ``a``: integer ``(..., n_ap)``; AP ``m`` serves user ``a[..., m]`` (Fig. 1, many-to-one).
  The paper's :math:`\\gamma` matrix (Eq. 10) is ``one_hot(a)``.
* Precoding is maximum ratio **from the estimate** (Section III-A):
  :math:`v_m = \\hat{\\mathbf h}^*_{m,a_m} / \\|\\hat{\\mathbf h}_{m,a_m}\\|`; rates are
  scored on the **true** channel ``H``. Training, which sees only the estimate, passes
  ``H_hat`` for both.
* ``rho`` is the *linear* transmit SNR :math:`\\rho = P_t/\\sigma^2` (use
  :func:`cfmimo.config.db_to_linear`); a scalar or an array broadcasting with the batch.
* ``mu`` is the interference factor :math:`\\mu_{n,k}`, the same for all pairs.
* ``penalty``: footnote 2 gives an unserved user the rate :math:`-r_{penalty}`. Table II
  lists :math:`r_{penalty} = -10`, which would make the rate +10 and *reward* leaving a
  user unserved; we read the intent, an unserved user's rate is ``-penalty = -10``.
"""

from __future__ import annotations

import numpy as np

from ._validation import as_assignment, as_channel, as_nonnegative, check_real

__all__ = [
    "gain_matrix",
    "rates_from_gains",
    "user_rates",
    "min_rate",
    "sum_rate",
    "reward",
    "ideal_capacity",
    "loss",
    "normalized_loss",
    "serves_every_user",
    "check_rate_args",
    "rates_from_selected",
]


def serves_every_user(a, n_user: int) -> np.ndarray:
    """Whether each assignment gives every user at least one AP.

    Parameters
    ----------
    a : array_like of int, shape ``(..., n_ap)``
    n_user : int

    Returns
    -------
    ndarray of bool, shape ``(...)``

    References
    ----------
    Narottama & Duong (2022), Eq. (10); footnote 2.
    """
    a = np.asarray(a)
    return np.all(np.any(a[..., None] == np.arange(n_user), axis=-2), axis=-1)


def _check_pair(H, H_hat):
    H = as_channel("H", H)
    H_hat = as_channel("H_hat", H_hat)
    if H.shape[-3:] != H_hat.shape[-3:]:
        raise ValueError(
            f"H and H_hat must have the same (n_ap, n_user, n_tx), got {H.shape[-3:]} and {H_hat.shape[-3:]}"
        )
    try:
        np.broadcast_shapes(H.shape[:-3], H_hat.shape[:-3])
    except ValueError:
        raise ValueError(f"batch shapes of H {H.shape[:-3]} and H_hat {H_hat.shape[:-3]} do not broadcast") from None
    return H, H_hat


def _check_batch(**shapes) -> tuple[int, ...]:
    """Broadcast the batch shapes of named arguments; ``ValueError`` naming them if impossible."""
    try:
        return np.broadcast_shapes(*shapes.values())
    except ValueError:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"batch shapes do not broadcast: {listed} (each is the shape before the trailing axes)") from None


def _gain_matrix(H, H_hat):
    # inner[..., m, j, k] = h_{m,k}^T conj(hhat_{m,j})
    inner = np.einsum("...kt,...jt->...jk", H, H_hat.conj())
    norm2 = np.einsum("...jt,...jt->...j", H_hat.real, H_hat.real) + np.einsum(
        "...jt,...jt->...j", H_hat.imag, H_hat.imag
    )
    power = inner.real**2 + inner.imag**2
    return np.divide(power, norm2[..., None], out=np.zeros_like(power), where=norm2[..., None] > 0)


def gain_matrix(H, H_hat) -> np.ndarray:
    """Effective gains :math:`|\\mathbf h_{m,k}^T v_{m}|^2` for every choice of served user.

    Parameters
    ----------
    H, H_hat : array_like, complex, shape ``(..., n_ap, n_user, n_tx)``

    Returns
    -------
    ndarray, shape ``(..., n_ap, n_user, n_user)``
        ``G[..., m, j, k]`` is the power user ``k`` receives from AP ``m`` when AP ``m``
        points its maximum-ratio beam :math:`v_m = \\hat{\\mathbf h}^*_{m,j}/\\|\\hat{\\mathbf h}_{m,j}\\|`
        at user ``j``. An AP with a zero estimate has a zero precoder.

    References
    ----------
    Narottama & Duong (2022), Eq. (3); Eq. (4); Eq. (6); Eq. (7).
    """
    H, H_hat = _check_pair(H, H_hat)
    return _gain_matrix(H, H_hat)


def rates_from_selected(selected, served, rho, mu, penalty, active=None):
    """User rates, Eq. (4), from the selected gains and the serving mask (no checks).

    The core of :func:`rates_from_gains` for callers that have validated their arguments
    (:func:`check_rate_args`) and selected the gains themselves.

    Parameters
    ----------
    selected : ndarray, shape ``(..., n_ap, n_user)``
        Power user ``k`` receives from AP ``m`` under the assignment.
    served : ndarray of bool, shape ``(..., n_ap, n_user)``
        Whether AP ``m`` serves user ``k``.
    rho, mu, penalty : float or ndarray
    active : ndarray of bool, shape ``(..., n_ap)``, optional
        APs that transmit (others contribute nothing).

    Returns
    -------
    ndarray, shape ``(..., n_user)``
    """
    if active is not None:
        selected = selected * active[..., None]
        served = served & active[..., None]
    signal = np.where(served, selected, 0.0).sum(axis=-2)
    interference = np.where(served, 0.0, selected).sum(axis=-2)
    rho = np.asarray(rho)[..., None]
    rates = np.log2(1.0 + rho * signal / (rho * mu * interference + 1.0))
    return np.where(served.any(axis=-2), rates, -penalty)


def _select(gains, a):
    # gains (..., M, K, K), a (..., M) -> selected (..., M, K), served (..., M, K)
    n_user = gains.shape[-1]
    lead = np.broadcast_shapes(gains.shape[:-3], a.shape[:-1])
    gains = np.broadcast_to(gains, lead + gains.shape[-3:])
    a = np.broadcast_to(a, lead + a.shape[-1:])
    selected = np.take_along_axis(gains, a[..., None, None], axis=-2)[..., 0, :]
    served = a[..., None] == np.arange(n_user)
    return selected, served


def check_rate_args(rho, mu, penalty):
    """Validated ``(rho, mu, penalty)``: ``rho`` a non-negative array, ``mu`` in [0, 1],
    ``penalty`` in [0, 1e6]; ``ValueError`` naming the bad one."""
    rho = as_nonnegative("rho", rho)
    mu = check_real("mu", mu, 0.0, 1.0)
    penalty = check_real("penalty", penalty, 0.0, 1e6)
    return rho, mu, penalty


def rates_from_gains(gains, a, rho, mu, penalty=10.0) -> np.ndarray:
    """User rates (Eq. 4) from a precomputed :func:`gain_matrix`.

    Use this to score many assignments on the same channels without recomputing the
    gains: ``gains[:, None]`` against candidates ``a`` of shape ``(n_cand, n_ap)``.

    Parameters
    ----------
    gains : ndarray, shape ``(..., n_ap, n_user, n_user)``
    a : array_like of int, shape ``(..., n_ap)``
    rho, mu, penalty : see :func:`user_rates`

    Returns
    -------
    ndarray, shape ``(..., n_user)``

    References
    ----------
    Narottama & Duong (2022), Eq. (4); footnote 2.
    """
    try:
        gains = np.asarray(gains, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"gains must be a real array of shape (..., n_ap, n_user, n_user), got {type(gains).__name__}") from None
    if gains.ndim < 3 or gains.shape[-1] != gains.shape[-2]:
        raise ValueError(f"gains must have shape (..., n_ap, n_user, n_user), got {gains.shape}")
    if not np.all(np.isfinite(gains)):
        raise ValueError("gains contains NaN or inf entries; allowed: finite powers >= 0")
    if np.any(gains < 0):
        raise ValueError(f"gains has negative entries (smallest {gains.min():.3g}); allowed: powers >= 0")
    n_ap, n_user = gains.shape[-3], gains.shape[-1]
    a = as_assignment("a", a, n_ap, n_user)
    rho, mu, penalty = check_rate_args(rho, mu, penalty)
    _check_batch(gains=gains.shape[:-3], a=a.shape[:-1], rho=rho.shape)
    selected, served = _select(gains, a)
    return rates_from_selected(selected, served, rho, mu, penalty)


def user_rates(H, H_hat, a, rho, mu, penalty=10.0) -> np.ndarray:
    """Achievable rate of every user, Eq. (4), in bit/s/Hz.

    .. math::
        R_k = \\log_2\\Big(1 + \\frac{\\rho\\sum_{m\\in\\mathcal A_k}|\\mathbf h_{m,k}^T v_m|^2}
        {\\rho\\,\\mu\\sum_{n\\notin\\mathcal A_k}|\\mathbf h_{n,k}^T v_n|^2 + 1}\\Big)

    with :math:`\\mathcal A_k = \\{m : a_m = k\\}` and maximum-ratio precoders from
    ``H_hat``. A user with no AP gets ``-penalty`` (footnote 2).

    Parameters
    ----------
    H : array_like, complex, shape ``(..., n_ap, n_user, n_tx)``
        True channels, on which the rate is scored.
    H_hat : array_like, complex, shape ``(..., n_ap, n_user, n_tx)``
        Estimated channels, from which the precoders are built.
    a : array_like of int, shape ``(..., n_ap)``
        Assignment; entries in ``[0, n_user)``.
    rho : float or array_like
        Linear transmit SNR, ``>= 0``, broadcasting with the batch shape.
    mu : float
        Interference factor in ``[0, 1]``.
    penalty : float, default 10.0
        Rate of an unserved user is ``-penalty``.

    Returns
    -------
    ndarray, shape ``(..., n_user)``
        Batch shape is the broadcast of those of ``H``, ``H_hat``, ``a`` and ``rho``.

    References
    ----------
    Narottama & Duong (2022), Eq. (3); Eq. (4); Fig. 1; footnote 2.
    """
    H, H_hat = _check_pair(H, H_hat)
    n_ap, n_user = H.shape[-3], H.shape[-2]
    a = as_assignment("a", a, n_ap, n_user)
    rho, mu, penalty = check_rate_args(rho, mu, penalty)
    _check_batch(H=H.shape[:-3], H_hat=H_hat.shape[:-3], a=a.shape[:-1], rho=rho.shape)
    selected, served = _select(_gain_matrix(H, H_hat), a)
    return rates_from_selected(selected, served, rho, mu, penalty)


def min_rate(H, H_hat, a, rho, mu, penalty=10.0) -> np.ndarray:
    """The objective of Eq. (6a)/(7a), :math:`\\min_k R_k`; shape ``(...)``.

    References
    ----------
    Narottama & Duong (2022), Eq. (6); Eq. (7); footnote 1.
    """
    return user_rates(H, H_hat, a, rho, mu, penalty).min(axis=-1)


def sum_rate(H, H_hat, a, rho, mu, penalty=10.0) -> np.ndarray:
    """Sum rate, Eq. (5), :math:`\\sum_k R_k`; shape ``(...)``.

    An unserved user contributes ``-penalty``; pass ``penalty=0`` for the physical sum
    rate (an unserved user receives nothing), as the Fig. 3 reproduction does.

    References
    ----------
    Narottama & Duong (2022), Eq. (5); Fig. 3.
    """
    return user_rates(H, H_hat, a, rho, mu, penalty).sum(axis=-1)


def reward(H, H_hat, a, rho, mu, penalty=10.0) -> np.ndarray:
    """Reward of Eq. (8), :math:`Q_{assign} = -\\min_k R_k`; shape ``(...)``.

    Note the sign: the paper calls the *negative* minimum rate a reward, so a better
    assignment has a *lower* "reward". Eq. (11) subtracts a likewise negated capacity.

    References
    ----------
    Narottama & Duong (2022), Eq. (8).
    """
    return -min_rate(H, H_hat, a, rho, mu, penalty)


def ideal_capacity(H_hat, rho) -> np.ndarray:
    """The "ideal" performance of Eq. (12), as a positive capacity; shape ``(...)``.

    .. math::
        C(\\hat{\\mathbf H}) = \\sum_{m=1}^{N_{AP}} \\sum_{i=1}^{N_\\lambda}
        \\log_2\\big(1 + \\lambda_i^{[m]} \\rho / N_\\lambda\\big)

    where :math:`\\lambda^{[m]}_i` are the eigenvalues of :math:`\\mathbf H_m\\mathbf H_m^H`,
    :math:`\\mathbf H_m = [\\hat{\\mathbf h}_{m,1},\\dots,\\hat{\\mathbf h}_{m,K}] \\in
    \\mathbb C^{N_{Tx}\\times N_{user}}`, and :math:`N_\\lambda = N_{Tx}`.

    Deviation: Eq. (12) defines :math:`\\Phi_{assign} = -C` and says the eigenvalues are
    "of :math:`\\mathbf h_{m,k}`" (a vector has none); we return :math:`C = -\\Phi_{assign}`
    and use the per-AP Gram matrix.

    Parameters
    ----------
    H_hat : array_like, complex, shape ``(..., n_ap, n_user, n_tx)``
    rho : float or array_like
        Linear SNR, broadcasting with the batch shape.

    References
    ----------
    Narottama & Duong (2022), Eq. (12); footnote 4.
    """
    H_hat = as_channel("H_hat", H_hat)
    rho = as_nonnegative("rho", rho)
    _check_batch(H_hat=H_hat.shape[:-3], rho=rho.shape)
    n_tx = H_hat.shape[-1]
    gram = np.einsum("...kt,...ks->...ts", H_hat, H_hat.conj())  # (..., M, T, T)
    eig = np.clip(np.linalg.eigvalsh(gram), 0.0, None)  # (..., M, T)
    return np.log2(1.0 + eig * np.asarray(rho)[..., None, None] / n_tx).sum(axis=(-2, -1))


def loss(H, H_hat, a, rho, mu, penalty=10.0) -> np.ndarray:
    """Training loss of Eq. (11), :math:`(Q_{assign} - \\Phi_{assign})^2`; shape ``(...)``.

    With :math:`Q = -\\min_k R_k` and :math:`\\Phi = -C` this is
    :math:`(C(\\hat{\\mathbf H}) - \\min_k R_k)^2`.

    References
    ----------
    Narottama & Duong (2022), Eq. (11).
    """
    gap = ideal_capacity(H_hat, rho) - min_rate(H, H_hat, a, rho, mu, penalty)
    return gap**2


def normalized_loss(H, H_hat, a, rho, mu, penalty=10.0) -> np.ndarray:
    """Normalized loss of Eq. (18), :math:`((Q - \\Phi)/\\Phi)^2`; shape ``(...)``.

    Equals :math:`(1 - \\min_k R_k / C)^2`. The paper states it lies in [0, 1]; that
    holds only when :math:`0 \\le \\min_k R_k \\le 2C`: an unserved user
    (:math:`\\min_k R_k = -r_{penalty}`) gives :math:`(1 + r_{penalty}/C)^2 > 1`
    (see the errata chapter). Undefined at ``rho = 0`` (then :math:`C = 0`): raises.

    References
    ----------
    Narottama & Duong (2022), Eq. (18).
    """
    capacity = ideal_capacity(H_hat, rho)
    if np.any(capacity <= 0):
        raise ValueError("normalized_loss needs rho > 0: Eq. (18) divides by the ideal capacity, which is 0 at rho = 0")
    gap = capacity - min_rate(H, H_hat, a, rho, mu, penalty)
    return (gap / capacity) ** 2
