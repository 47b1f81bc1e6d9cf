"""Lemma 2 for one qubit: Eq. (16), (19) and (26)-(31) evaluated as printed and exactly.

Appendix B proves Lemma 2 on one qubit: the cost of Eq. (26), its derivative (Eq. 27),
the average of its square over the weight (Eq. 28-30) and the lower bound of Eq. (31),
which Lemma 2 (Eq. 16, 19) states for the whole circuit. Every function here evaluates
one line of that derivation, in both gate conventions of :mod:`cfmimo.gradients`, so that
notebook 03 can compare the printed lines with the exact values. The same questions on
the circuits of :mod:`cfmimo.qnn` and :mod:`cfmimo.readings` are in
:mod:`cfmimo.lemma2_circuits`.

Monte-Carlo estimates are returned as :class:`cfmimo.stats.MCEstimate`; the same ``rng``
seed gives bit-identical numbers.
"""

from __future__ import annotations

import math

import numpy as np

from ._validation import check_count
from .gradients import PAULI, frequency, ry_matrix, ry_matrix_derivative
from .stats import MCEstimate, mc_estimate

__all__ = [
    "bloch_vector",
    "encoded_state",
    "one_qubit_cost",
    "one_qubit_derivative",
    "eq27_printed",
    "one_qubit_expected_sq_derivative",
    "one_qubit_expected_sq_derivative_quadrature",
    "one_qubit_expected_sq_derivative_mc",
    "one_qubit_expected_sq_derivative_over_inputs",
    "one_qubit_intended_bound",
    "random_density_matrices",
    "lemma2_lower_bound",
    "eq30_printed",
]


def _check_density(rho, name: str = "rho") -> np.ndarray:
    rho = np.asarray(rho)
    if rho.ndim < 2 or rho.shape[-1] != rho.shape[-2]:
        raise ValueError(f"{name} must have shape (..., d, d), got {rho.shape}")
    d = rho.shape[-1]
    if d < 2 or d & (d - 1):
        raise ValueError(f"{name} must act on qubits: d = {d} is not a power of 2 >= 2")
    if not np.all(np.isfinite(rho)):
        raise ValueError(f"{name} contains NaN or inf entries")
    rho = rho.astype(np.complex128)
    if not np.allclose(rho, np.conj(np.swapaxes(rho, -1, -2)), atol=1e-10):
        raise ValueError(f"{name} must be Hermitian")
    return rho


def _check_qubit_density(rho) -> np.ndarray:
    rho = _check_density(rho)
    if rho.shape[-1] != 2:
        raise ValueError(f"rho must be a one-qubit density matrix of shape (..., 2, 2), got {rho.shape}")
    return rho


def bloch_vector(rho) -> np.ndarray:
    """Bloch vector :math:`(\\mathrm{Tr}[X\\rho], \\mathrm{Tr}[Y\\rho], \\mathrm{Tr}[Z\\rho])`, shape ``(..., 3)``."""
    rho = _check_qubit_density(rho)
    return np.stack([np.einsum("ij,...ji->...", PAULI[p], rho).real for p in "XYZ"], axis=-1)


def encoded_state(angles) -> np.ndarray:
    """One AP's qubit after Eq. (14): :math:`\\prod_k R_Z(x_k)\\, H |0\\rangle`, as a density matrix.

    Parameters
    ----------
    angles : array_like, shape ``(..., n_user)``
        The input angles :math:`x_{m,k}` of one AP (the RZ angles of Eq. 14).

    Returns
    -------
    ndarray, complex, shape ``(..., 2, 2)``
        Computed as the product of the gate matrices :math:`R_Z(x) = \\mathrm{diag}
        (e^{-ix/2}, e^{ix/2})` applied one after another (no use of the fact that they
        commute, which is what claim 2 tests).

    References
    ----------
    Narottama & Duong (2022), Eq. (14).
    """
    angles = np.asarray(angles, dtype=np.float64)
    if angles.ndim < 1 or angles.shape[-1] < 1:
        raise ValueError(f"angles must have shape (..., n_user) with n_user >= 1, got {angles.shape}")
    psi = np.broadcast_to(np.array([1.0, 1.0], dtype=np.complex128) / math.sqrt(2.0), angles.shape[:-1] + (2,))
    for k in range(angles.shape[-1]):
        x = angles[..., k]
        rz = np.stack([np.exp(-0.5j * x), np.exp(0.5j * x)], axis=-1)
        psi = rz * psi
    return psi[..., :, None] * np.conj(psi[..., None, :])


def _bcast_theta_rho(theta, rho):
    theta = np.asarray(theta, dtype=np.float64)
    rho = _check_qubit_density(rho)
    return theta, rho


def one_qubit_cost(theta, rho, convention: str = "qiskit") -> np.ndarray:
    """Eq. (26): :math:`f = 1/2 - 1/2\\,\\mathrm{Tr}[Z R_y(\\theta) \\rho R_y(\\theta)^\\dagger]`.

    ``theta`` ``(...)`` and ``rho`` ``(..., 2, 2)`` broadcast; returns ``(...)``.

    References
    ----------
    Narottama & Duong (2022), Eq. (26).
    """
    theta, rho = _bcast_theta_rho(theta, rho)
    r = ry_matrix(theta, convention)
    out = r @ rho @ np.conj(np.swapaxes(r, -1, -2))
    return 0.5 - 0.5 * np.einsum("ij,...ji->...", PAULI["Z"], out).real


def one_qubit_derivative(theta, rho, convention: str = "qiskit") -> np.ndarray:
    """Exact :math:`df/d\\theta` of Eq. (26) by the product rule.

    .. math:: \\frac{df}{d\\theta} = -\\tfrac12\\mathrm{Tr}[Z(R'\\rho R^\\dagger + R\\rho R'^\\dagger)]
              = -\\mathrm{Re}\\,\\mathrm{Tr}[Z R'\\rho R^\\dagger]

    i.e. minus the real part of :func:`eq27_printed`.

    References
    ----------
    Narottama & Duong (2022), Eq. (27).
    """
    return -eq27_printed(theta, rho, convention).real


def eq27_printed(theta, rho, convention: str = "qiskit") -> np.ndarray:
    """Eq. (27) as printed: :math:`\\mathrm{Tr}[Z R'(\\theta)\\rho R(\\theta)^\\dagger]` (complex, ``(...)``).

    It drops the factor -1/2 and the second product-rule term; for a real rotation
    generator the two omissions cancel up to sign, so its square equals
    :math:`(df/d\\theta)^2`.

    References
    ----------
    Narottama & Duong (2022), Eq. (27).
    """
    theta, rho = _bcast_theta_rho(theta, rho)
    r = ry_matrix(theta, convention)
    dr = ry_matrix_derivative(theta, convention)
    return np.einsum("ij,...ji->...", PAULI["Z"], dr @ rho @ np.conj(np.swapaxes(r, -1, -2)))


def one_qubit_expected_sq_derivative(rho, convention: str = "qiskit") -> np.ndarray:
    """Closed form of Eq. (28): :math:`\\mathbb E_{\\theta\\sim U[0,2\\pi]}(df/d\\theta)^2`.

    With Bloch vector :math:`(r_x, r_y, r_z)` the cost is
    :math:`f = \\tfrac12 - \\tfrac12(r_z\\cos\\omega\\theta - r_x\\sin\\omega\\theta)`, so

    .. math:: \\mathbb E_\\theta (df/d\\theta)^2 = \\frac{\\omega^2}{8}(r_x^2 + r_z^2)

    i.e. :math:`(r_x^2+r_z^2)/8 \\le 1/8` for Qiskit's gate and
    :math:`(r_x^2+r_z^2)/2 \\le 1/2` for :math:`e^{-i\\theta Y}`. It depends on the
    state, and is 0 for the :math:`\\pm Y` eigenstates.

    Returns
    -------
    ndarray, shape ``(...)``

    References
    ----------
    Narottama & Duong (2022), Eq. (28); Eq. (29); Eq. (30).
    """
    omega = frequency(convention)
    r = bloch_vector(rho)
    return omega**2 / 8.0 * (r[..., 0] ** 2 + r[..., 2] ** 2)


def one_qubit_expected_sq_derivative_quadrature(rho, convention: str = "qiskit", n_grid: int = 64) -> np.ndarray:
    """Eq. (28) by the rectangle rule on ``n_grid`` equispaced angles in ``[0, 2pi)``.

    Exact (to rounding) for trigonometric polynomials of degree below ``n_grid``; the
    integrand here has degree ``2 * omega``. Returns ``(...)``.

    References
    ----------
    Narottama & Duong (2022), Eq. (28).
    """
    n_grid = check_count("n_grid", n_grid, 8)
    rho = _check_qubit_density(rho)
    theta = 2 * np.pi * np.arange(n_grid) / n_grid
    d = one_qubit_derivative(theta.reshape((n_grid,) + (1,) * (rho.ndim - 2)), rho[None], convention)
    return (d**2).mean(axis=0)


def one_qubit_expected_sq_derivative_mc(
    rho, convention: str = "qiskit", n_samples: int = 1000, rng=None, level: float = 0.95
) -> MCEstimate:
    """Monte-Carlo estimate of Eq. (28) with uniform :math:`\\theta \\in [0, 2\\pi)`.

    Parameters
    ----------
    rho : array_like, shape ``(..., 2, 2)``
        One or a batch of states; every state gets ``n_samples`` own angle draws.
    convention : {"qiskit", "appendix"}
    n_samples : int
        Angle draws per state (>= 2).
    rng : int, numpy.random.Generator or None
    level : float
        Confidence level of the interval.

    Returns
    -------
    MCEstimate
        ``mean``/``half_width`` of shape ``rho.shape[:-2]`` (floats for one state).

    References
    ----------
    Narottama & Duong (2022), Eq. (28).
    """
    rho = _check_qubit_density(rho)
    n_samples = check_count("n_samples", n_samples, 2)
    rng = np.random.default_rng(rng)
    theta = rng.uniform(0.0, 2 * np.pi, size=(n_samples,) + rho.shape[:-2])
    d = one_qubit_derivative(theta, rho[None], convention)
    return mc_estimate(d**2, level)


def one_qubit_expected_sq_derivative_over_inputs(
    rho, convention: str = "qiskit", rng=None, level: float = 0.95
) -> MCEstimate:
    """Monte-Carlo :math:`\\mathbb E_{input}\\,\\mathbb E_\\theta (df/d\\theta)^2` over a sample of input states.

    Each state of the batch is paired with one uniform angle draw, so the estimate
    averages over the inputs and the weight together.

    Parameters
    ----------
    rho : array_like, shape ``(n, 2, 2)``
        Input states (e.g. :func:`encoded_state` of channel draws), ``n >= 2``.
    convention : {"qiskit", "appendix"}
    rng : int, numpy.random.Generator or None
    level : float

    Returns
    -------
    MCEstimate
        ``n_samples = n``.

    References
    ----------
    Narottama & Duong (2022), Eq. (28); Eq. (31).
    """
    rho = _check_qubit_density(rho)
    if rho.ndim != 3 or rho.shape[0] < 2:
        raise ValueError(f"rho must have shape (n >= 2, 2, 2), got {rho.shape}")
    rng = np.random.default_rng(rng)
    theta = rng.uniform(0.0, 2 * np.pi, size=rho.shape[0])
    return mc_estimate(one_qubit_derivative(theta, rho, convention) ** 2, level)


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

    References
    ----------
    Narottama & Duong (2022), Eq. (30).
    """
    rho = np.asarray(rho, dtype=np.complex128)
    if rho.ndim < 2 or rho.shape[-2:] != (2, 2):
        raise ValueError(f"rho must have shape (..., 2, 2), got {rho.shape}")
    tr_x = np.trace(PAULI["X"] @ rho, axis1=-2, axis2=-1).real
    tr_z = np.trace(PAULI["Z"] @ rho, axis1=-2, axis2=-1).real
    return frequency(convention) ** 2 / 8.0 * (tr_x**2 + tr_z**2)


def random_density_matrices(n_qubits: int, n: int, rng=None) -> np.ndarray:
    """``n`` random mixed states of ``n_qubits`` qubits (Ginibre: :math:`AA^\\dagger/\\mathrm{Tr}`).

    Returns
    -------
    ndarray, complex, shape ``(n, 2**n_qubits, 2**n_qubits)``

    References
    ----------
    Narottama & Duong (2022), Lemma 2.
    """
    n_qubits = check_count("n_qubits", n_qubits)
    n = check_count("n", n)
    rng = np.random.default_rng(rng)
    d = 2**n_qubits
    a = rng.standard_normal((n, d, d)) + 1j * rng.standard_normal((n, d, d))
    rho = a @ np.conj(np.swapaxes(a, -1, -2))
    rho = 0.5 * (rho + np.conj(np.swapaxes(rho, -1, -2)))
    return rho / np.trace(rho, axis1=-2, axis2=-1).real[:, None, None]


def lemma2_lower_bound(rho) -> np.ndarray:
    """The lower bound of Lemma 2 (Eq. 16, 19, 31): :math:`\\tfrac18(\\mathrm{Tr}[\\rho]^2 + \\mathrm{Tr}[Z\\rho Z]^2)`.

    :math:`Z` is :math:`\\sigma_z^{\\otimes n}` for an ``n``-qubit ``rho``. Since
    conjugation by a unitary keeps the trace, both traces equal :math:`\\mathrm{Tr}\\rho`,
    and the bound is 1/4 for every density matrix: it does not depend on the input.

    Parameters
    ----------
    rho : array_like, shape ``(..., 2**n, 2**n)``

    Returns
    -------
    ndarray, shape ``(...)``

    References
    ----------
    Narottama & Duong (2022), Lemma 2; Eq. (16); Eq. (19); Eq. (31).
    """
    rho = _check_density(rho)
    d = rho.shape[-1]
    zdiag = np.array([(-1) ** bin(i).count("1") for i in range(d)], dtype=np.float64)
    tr = np.trace(rho, axis1=-2, axis2=-1).real
    zrz = zdiag[:, None] * rho * zdiag[None, :]
    tr_z = np.trace(zrz, axis1=-2, axis2=-1).real
    return (tr**2 + tr_z**2) / 8.0


def eq30_printed(rho, n_grid: int = 64) -> np.ndarray:
    """The middle line of Eq. (30) evaluated as printed.

    .. math::
        \\overline{\\cos^4}\\,\\mathrm{Tr}[m]^2 - \\overline{\\sin^2\\cos^2}\\,\\mathrm{Tr}[Zm]^2
        + \\overline{\\sin^2\\cos^2}\\,\\mathrm{Tr}[Zm]^2 + \\overline{\\sin^4}\\,\\mathrm{Tr}[ZmZ]^2

    with the angle averages over ``[0, 2pi)`` computed numerically (3/8, 1/8, 3/8). For a
    state this is 3/4, whereas the last line of Eq. (30) gives 1/4.

    References
    ----------
    Narottama & Duong (2022), Eq. (30).
    """
    n_grid = check_count("n_grid", n_grid, 8)
    rho = _check_qubit_density(rho)
    t = 2 * np.pi * np.arange(n_grid) / n_grid
    c4, sc, s4 = np.mean(np.cos(t) ** 4), np.mean((np.sin(t) * np.cos(t)) ** 2), np.mean(np.sin(t) ** 4)
    z = PAULI["Z"]
    tr = np.trace(rho, axis1=-2, axis2=-1).real
    tr_zm = np.einsum("ij,...ji->...", z, rho).real
    tr_zmz = np.trace(z @ rho @ z, axis1=-2, axis2=-1).real
    return c4 * tr**2 - sc * tr_zm**2 + sc * tr_zm**2 + s4 * tr_zmz**2
