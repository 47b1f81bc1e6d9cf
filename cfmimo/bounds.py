"""Numerical checks of the paper's derivations: Lemma 1, Lemma 2, Eq. (17)-(31).

Every function here turns one claim of the paper into a number that can be compared
with the paper's formula (notebook ``03_bounds`` and the errata chapter quote them).

Gate conventions
----------------
Appendix B writes rotations as :math:`e^{-i\\theta\\sigma}` (Eq. 30), while Qiskit's
``RYGate(theta)`` is :math:`e^{-i\\theta Y/2}`. An expectation value of a circuit in
which ``theta`` enters through one rotation is then a trigonometric polynomial of
frequency :math:`\\omega` in ``theta``, with

* ``convention="qiskit"``: :math:`R_y(\\theta) = e^{-i\\theta Y/2}`, :math:`\\omega = 1`;
* ``convention="appendix"``: :math:`R_y(\\theta) = e^{-i\\theta Y}`, :math:`\\omega = 2`.

For :math:`f(\\theta) = a\\cos\\omega\\theta + b\\sin\\omega\\theta + c` the exact
derivative is :math:`f' = \\omega\\,[f(\\theta+s) - f(\\theta-s)] / (2\\sin\\omega s)`
for every shift ``s`` with :math:`\\sin\\omega s \\neq 0` (the textbook
parameter-shift rule of [25]). The rule printed as Eq. (17),
:math:`\\tfrac12\\sin(s)\\,[f(\\theta-s) - f(\\theta+s)]`, therefore returns
:math:`-\\sin(s)\\sin(\\omega s)/\\omega` times the derivative (:func:`eq17_factor`).

Monte-Carlo estimates are returned as :class:`MCEstimate` (mean, half-width of the
Student-t confidence interval, sample size, level); the same ``rng`` seed gives
bit-identical numbers.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

from ._validation import check_count, check_real

__all__ = [
    "CONVENTIONS",
    "MCEstimate",
    "mc_estimate",
    "frequency",
    # Eq. (17) and (25)
    "EQ17_READINGS",
    "eq17_gradient",
    "parameter_shift_gradient",
    "central_difference_gradient",
    "eq17_factor",
    "eq25_factor",
    "eq25_matrix",
    "eq17_table",
    # one-qubit Lemma 2, Eq. (26)-(31)
    "PAULI",
    "ry_matrix",
    "ry_matrix_derivative",
    "bloch_vector",
    "encoded_state",
    "one_qubit_cost",
    "one_qubit_derivative",
    "eq27_printed",
    "one_qubit_expected_sq_derivative",
    "one_qubit_expected_sq_derivative_quadrature",
    "one_qubit_expected_sq_derivative_mc",
    "one_qubit_expected_sq_derivative_over_inputs",
    "random_density_matrices",
    "lemma2_lower_bound",
    "eq30_printed",
    # circuits of cfmimo.qnn
    "lemma1_paper_counts",
    "circuit_resources",
    "lemma1_table",
    "zero_input_circuit",
    "readout_parity_cost",
    "circuit_gradient",
    "expected_sq_gradient_norm",
    "input_dependence",
    "encoding_invariance",
    "encoding_transforms",
    "input_jacobian",
    # Eq. (18) and the floor decoder
    "floor_loss",
    "floor_loss_gradients",
    "normalized_loss_all_assignments",
    "literal_penalty_optimum",
    # small claims
    "eq2_index_set",
    "negative_distance_fraction",
]

CONVENTIONS = ("qiskit", "appendix")

PAULI = {
    "I": np.eye(2, dtype=np.complex128),
    "X": np.array([[0, 1], [1, 0]], dtype=np.complex128),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=np.complex128),
    "Z": np.array([[1, 0], [0, -1]], dtype=np.complex128),
}
"""The Pauli matrices (read-only by convention)."""


class MCEstimate(NamedTuple):
    """A Monte-Carlo estimate: ``mean +- half_width`` at confidence ``level``."""

    mean: np.ndarray | float
    half_width: np.ndarray | float
    n_samples: int
    level: float


def _check_convention(convention) -> str:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention = {convention!r} is unknown; allowed: {list(CONVENTIONS)}")
    return convention


def frequency(convention: str) -> float:
    """Frequency :math:`\\omega` of an expectation value in one rotation angle.

    ``"qiskit"`` (:math:`e^{-i\\theta Y/2}`): 1; ``"appendix"`` (:math:`e^{-i\\theta Y}`): 2.
    """
    return {"qiskit": 1.0, "appendix": 2.0}[_check_convention(convention)]


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
    from .stats import mean_ci

    samples = np.asarray(samples, dtype=np.float64)
    mean, half = mean_ci(samples, axis=0, level=level)
    if np.ndim(mean) == 0:
        mean, half = float(mean), float(half)
    return MCEstimate(mean, half, int(samples.shape[0]), float(level))


def _check_shift(shift) -> float:
    return check_real("shift", shift, 1e-12, math.pi)


# ---------------------------------------------------------------------------------
# Eq. (17): gradient rules
# ---------------------------------------------------------------------------------


def _shifted_values(f, theta, shift):
    """Evaluate ``f`` at ``theta +- shift e_i`` for every i in one batched call.

    Returns ``(f_plus, f_minus)`` of shape ``(..., P)``.
    """
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim < 1 or theta.shape[-1] < 1:
        raise ValueError(f"theta must have shape (..., P) with P >= 1, got {theta.shape}")
    n_par = theta.shape[-1]
    step = shift * np.eye(n_par)
    points = np.stack([theta[..., None, :] + step, theta[..., None, :] - step])  # (2, ..., P, P)
    values = np.asarray(f(points), dtype=np.float64)
    if values.shape != points.shape[:-1]:
        raise ValueError(
            f"f must map theta of shape (..., P) to values of shape (...): got {values.shape} "
            f"for input {points.shape}"
        )
    return values[0], values[1]


EQ17_READINGS = ("product", "reciprocal")
"""The two readings of Eq. (17)'s printed factor "1/2 sin(rho)": :math:`\\tfrac12\\sin\\varrho`
(``"product"``) and :math:`1/(2\\sin\\varrho)` (``"reciprocal"``)."""


def _check_reading(reading) -> str:
    if reading not in EQ17_READINGS:
        raise ValueError(f"reading = {reading!r} is unknown; allowed: {list(EQ17_READINGS)}")
    return reading


def _eq17_coefficient(shift: float, reading: str) -> float:
    return 0.5 * math.sin(shift) if reading == "product" else 0.5 / math.sin(shift)


def eq17_gradient(f: Callable, theta, shift: float, reading: str = "product") -> np.ndarray:
    """The gradient rule of Eq. (17), printed as "1/2 sin(rho) (L(theta - rho) - L(theta + rho))".

    .. math:: \\nabla_\\theta L = c(\\varrho)\\,[L(\\theta-\\varrho) - L(\\theta+\\varrho)]

    with :math:`c = \\tfrac12\\sin\\varrho` (``reading="product"``) or
    :math:`c = 1/(2\\sin\\varrho)` (``reading="reciprocal"``), applied to each
    component of ``theta``.

    Parameters
    ----------
    f : callable
        Maps ``theta`` of shape ``(..., P)`` to values ``(...)`` (batched).
    theta : array_like, shape ``(..., P)``
    shift : float
        :math:`\\varrho` in ``(0, pi]``.
    reading : {"product", "reciprocal"}

    Returns
    -------
    ndarray, shape ``(..., P)``
        Equals ``eq17_factor(shift, convention, reading)`` times the exact derivative
        when ``f`` depends on each angle through one rotation of the given convention.
    """
    shift = _check_shift(shift)
    coef = _eq17_coefficient(shift, _check_reading(reading))
    plus, minus = _shifted_values(f, theta, shift)
    return coef * (minus - plus)


def parameter_shift_gradient(f: Callable, theta, shift: float = math.pi / 2, convention: str = "qiskit") -> np.ndarray:
    """Textbook parameter-shift gradient [25], exact for one rotation per angle.

    .. math:: \\partial_i f = \\omega\\,\\frac{f(\\theta + s e_i) - f(\\theta - s e_i)}{2\\sin(\\omega s)}

    Parameters
    ----------
    f : callable
        Maps ``theta`` of shape ``(..., P)`` to values ``(...)`` (batched).
    theta : array_like, shape ``(..., P)``
    shift : float
        ``s`` in ``(0, pi]`` with :math:`\\sin(\\omega s) \\neq 0`.
    convention : {"qiskit", "appendix"}

    Returns
    -------
    ndarray, shape ``(..., P)``

    Raises
    ------
    ValueError
        If :math:`\\sin(\\omega s) = 0` (e.g. ``shift = pi/2`` in the appendix
        convention: both shifted circuits then give the same value).
    """
    shift = _check_shift(shift)
    omega = frequency(convention)
    denom = 2.0 * math.sin(omega * shift)
    if abs(denom) < 1e-9:
        raise ValueError(
            f"shift = {shift} gives sin(omega * shift) = 0 for convention {convention!r} (omega = {omega}); "
            "allowed: shifts with sin(omega * shift) != 0"
        )
    plus, minus = _shifted_values(f, theta, shift)
    return omega * (plus - minus) / denom


def central_difference_gradient(f: Callable, theta, step: float = 1e-5) -> np.ndarray:
    """Central finite difference :math:`[f(\\theta+h e_i) - f(\\theta-h e_i)]/(2h)`.

    Parameters
    ----------
    f : callable
        Maps ``theta`` of shape ``(..., P)`` to values ``(...)``.
    theta : array_like, shape ``(..., P)``
    step : float
        ``h`` in ``(0, 0.1]``.

    Returns
    -------
    ndarray, shape ``(..., P)``
    """
    step = check_real("step", step, 1e-12, 0.1)
    plus, minus = _shifted_values(f, theta, step)
    return (plus - minus) / (2.0 * step)


def eq17_factor(shift: float, convention: str, reading: str = "product") -> float:
    """Ratio of the Eq. (17) value to the exact derivative, in closed form.

    With :math:`f(\\theta-s)-f(\\theta+s) = -(2/\\omega)\\sin(\\omega s) f'(\\theta)`:

    * ``reading="product"`` (:math:`\\tfrac12\\sin s`): :math:`-\\sin(s)\\sin(\\omega s)/\\omega`;
      ``qiskit``: :math:`-\\sin^2 s` (-1 at :math:`\\pi/2`, -1/2 at :math:`\\pi/4`);
      ``appendix``: 0 at :math:`\\pi/2`, :math:`-\\sqrt2/4` at :math:`\\pi/4`.
    * ``reading="reciprocal"`` (:math:`1/(2\\sin s)`): :math:`-\\sin(\\omega s)/(\\omega\\sin s)`;
      ``qiskit``: -1 for every shift; ``appendix``: :math:`-\\cos s`, 0 at :math:`\\pi/2`,
      :math:`-\\sqrt2/2` at :math:`\\pi/4`.

    Negative (or zero) in every case: the difference has the wrong sign.
    """
    shift = _check_shift(shift)
    omega = frequency(convention)
    return -_eq17_coefficient(shift, _check_reading(reading)) * 2.0 * math.sin(omega * shift) / omega


def eq25_factor(shift: float, convention: str) -> float:
    """Ratio of Eq. (25)'s :math:`W = \\tfrac12[U(\\theta-s) - U(\\theta+s)]` to :math:`dU/d\\theta`.

    For :math:`U = e^{-i\\omega\\theta Y/2}` the ratio is the scalar
    :math:`-(2/\\omega)\\sin(\\omega s/2)`, negative for every shift in ``(0, pi]``:
    Eq. (25) is never the derivative of the gate (at the printed :math:`s=\\pi/4` it is
    :math:`-\\sqrt2/2` times it in the appendix convention).
    """
    shift = _check_shift(shift)
    omega = frequency(convention)
    return -(2.0 / omega) * math.sin(omega * shift / 2.0)


def eq25_matrix(theta, shift: float, convention: str) -> np.ndarray:
    """Eq. (25) as printed: :math:`\\tfrac12[R_y(\\theta-s) - R_y(\\theta+s)]`, shape ``(..., 2, 2)``."""
    shift = _check_shift(shift)
    theta = np.asarray(theta, dtype=np.float64)
    return 0.5 * (ry_matrix(theta - shift, convention) - ry_matrix(theta + shift, convention))


def eq17_table(f_by_convention: dict, exact_by_convention: dict, theta, shifts=(math.pi / 2, math.pi / 4), step: float = 1e-5) -> list[dict]:
    """Compare the gradient rules with the exact derivative of given costs.

    Parameters
    ----------
    f_by_convention : dict
        ``{convention: f}``, ``f`` batched as in :func:`eq17_gradient`.
    exact_by_convention : dict
        ``{convention: exact gradient at theta}``, each ``(..., P)``.
    theta : array_like, shape ``(..., P)``
    shifts : sequence of float
    step : float
        Step of the central difference.

    Returns
    -------
    list of dict
        One row per (convention, shift, rule) with keys ``convention``, ``shift``,
        ``rule`` (``"eq17"``: Eq. (17) with :math:`\\tfrac12\\sin\\varrho`;
        ``"eq17_reciprocal"``: with :math:`1/(2\\sin\\varrho)`; ``"textbook"``,
        ``"central"``), ``factor`` (closed form of
        rule / exact; NaN where the textbook rule is undefined), ``measured`` (least-
        squares slope of the rule's values on the exact derivative), ``max_abs_error``
        (largest ``|rule - factor * exact|``) and ``max_abs_value``.
    """
    rows = []
    for convention, f in f_by_convention.items():
        exact = np.asarray(exact_by_convention[convention], dtype=np.float64)
        denom = float(np.sum(exact * exact))
        omega = frequency(convention)
        for shift in shifts:
            cases = [
                ("eq17", eq17_factor(shift, convention), lambda: eq17_gradient(f, theta, shift)),
                (
                    "eq17_reciprocal",
                    eq17_factor(shift, convention, "reciprocal"),
                    lambda: eq17_gradient(f, theta, shift, "reciprocal"),
                ),
            ]
            if abs(math.sin(omega * shift)) > 1e-9:
                cases.append(("textbook", 1.0, lambda: parameter_shift_gradient(f, theta, shift, convention)))
            else:  # report the raw difference f(t+s) - f(t-s): identically 0
                def raw():
                    plus, minus = _shifted_values(f, theta, shift)
                    return plus - minus

                cases.append(("textbook", float("nan"), raw))
            for rule, factor, fn in cases:
                values = fn()
                ref = 0.0 if math.isnan(factor) else factor
                rows.append(
                    {
                        "convention": convention,
                        "shift": float(shift),
                        "rule": rule,
                        "factor": factor,
                        "measured": float(np.sum(values * exact) / denom),
                        "max_abs_error": float(np.max(np.abs(values - ref * exact))),
                        "max_abs_value": float(np.max(np.abs(values))),
                    }
                )
        values = central_difference_gradient(f, theta, step)
        rows.append(
            {
                "convention": convention,
                "shift": float(step),
                "rule": "central",
                "factor": 1.0,
                "measured": float(np.sum(values * exact) / denom),
                "max_abs_error": float(np.max(np.abs(values - exact))),
                "max_abs_value": float(np.max(np.abs(values))),
            }
        )
    return rows


# ---------------------------------------------------------------------------------
# One-qubit Lemma 2, Eq. (26)-(31)
# ---------------------------------------------------------------------------------


def ry_matrix(theta, convention: str = "qiskit") -> np.ndarray:
    """:math:`R_y(\\theta) = \\cos(\\omega\\theta/2) I - i\\sin(\\omega\\theta/2) Y`, shape ``(..., 2, 2)``."""
    omega = frequency(convention)
    half = 0.5 * omega * np.asarray(theta, dtype=np.float64)[..., None, None]
    return np.cos(half) * PAULI["I"] - 1j * np.sin(half) * PAULI["Y"]


def ry_matrix_derivative(theta, convention: str = "qiskit") -> np.ndarray:
    """:math:`dR_y/d\\theta = (\\omega/2)(-\\sin(\\omega\\theta/2) I - i\\cos(\\omega\\theta/2) Y)`."""
    omega = frequency(convention)
    half = 0.5 * omega * np.asarray(theta, dtype=np.float64)[..., None, None]
    return 0.5 * omega * (-np.sin(half) * PAULI["I"] - 1j * np.cos(half) * PAULI["Y"])


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
    """
    theta, rho = _bcast_theta_rho(theta, rho)
    r = ry_matrix(theta, convention)
    out = r @ rho @ np.conj(np.swapaxes(r, -1, -2))
    return 0.5 - 0.5 * np.einsum("ij,...ji->...", PAULI["Z"], out).real


def one_qubit_derivative(theta, rho, convention: str = "qiskit") -> np.ndarray:
    """Exact :math:`df/d\\theta` of Eq. (26) by the product rule.

    .. math:: \\frac{df}{d\\theta} = -\\tfrac12\\mathrm{Tr}[Z(R'\\rho R^\\dagger + R\\rho R'^\\dagger)]
              = -\\mathrm{Re}\\,\\mathrm{Tr}[Z R'\\rho R^\\dagger]
    """
    theta, rho = _bcast_theta_rho(theta, rho)
    r = ry_matrix(theta, convention)
    dr = ry_matrix_derivative(theta, convention)
    term = dr @ rho @ np.conj(np.swapaxes(r, -1, -2))
    return -np.einsum("ij,...ji->...", PAULI["Z"], term).real


def eq27_printed(theta, rho, convention: str = "qiskit") -> np.ndarray:
    """Eq. (27) as printed: :math:`\\mathrm{Tr}[Z R'(\\theta)\\rho R(\\theta)^\\dagger]` (complex, ``(...)``).

    It drops the factor -1/2 and the second product-rule term; for a real rotation
    generator the two omissions cancel up to sign, so its square equals
    :math:`(df/d\\theta)^2`.
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
    """
    omega = frequency(convention)
    r = bloch_vector(rho)
    return omega**2 / 8.0 * (r[..., 0] ** 2 + r[..., 2] ** 2)


def one_qubit_expected_sq_derivative_quadrature(rho, convention: str = "qiskit", n_grid: int = 64) -> np.ndarray:
    """Eq. (28) by the rectangle rule on ``n_grid`` equispaced angles in ``[0, 2pi)``.

    Exact (to rounding) for trigonometric polynomials of degree below ``n_grid``; the
    integrand here has degree ``2 * omega``. Returns ``(...)``.
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
    """
    rho = _check_qubit_density(rho)
    if rho.ndim != 3 or rho.shape[0] < 2:
        raise ValueError(f"rho must have shape (n >= 2, 2, 2), got {rho.shape}")
    rng = np.random.default_rng(rng)
    theta = rng.uniform(0.0, 2 * np.pi, size=rho.shape[0])
    return mc_estimate(one_qubit_derivative(theta, rho, convention) ** 2, level)


def random_density_matrices(n_qubits: int, n: int, rng=None) -> np.ndarray:
    """``n`` random mixed states of ``n_qubits`` qubits (Ginibre: :math:`AA^\\dagger/\\mathrm{Tr}`).

    Returns
    -------
    ndarray, complex, shape ``(n, 2**n_qubits, 2**n_qubits)``
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


# ---------------------------------------------------------------------------------
# Small claims of Section II and IV
# ---------------------------------------------------------------------------------


def eq2_index_set(n_tx: int) -> np.ndarray:
    """The antenna index set :math:`\\mathcal Z` of Eq. (2) exactly as printed.

    :math:`\\{n - 0.5(N_{Tx}-1)\\}_{n\\in\\{1,\\dots,N_{Tx}-1\\}}`: ``n_tx - 1`` elements
    for a steering vector that must have ``n_tx`` (compare
    :func:`cfmimo.channel.antenna_positions`).
    """
    n_tx = check_count("n_tx", n_tx, 1)
    return np.arange(1, n_tx, dtype=np.float64) - 0.5 * (n_tx - 1)


def negative_distance_fraction(distance_mean, distance_variance, n_samples: int = 0, rng=None):
    """Share of :math:`d\\sim\\mathcal N(\\mu_d, \\sigma_d^2)` draws that are negative (Section IV).

    Parameters
    ----------
    distance_mean, distance_variance : float
        :math:`\\mu_d > 0`, :math:`\\sigma_d^2 > 0`.
    n_samples : int
        0 returns the exact value :math:`\\Phi(-\\mu_d/\\sigma_d)`; otherwise a
        Monte-Carlo share from ``n_samples`` untruncated draws.
    rng : int, numpy.random.Generator or None
    """
    from scipy.special import ndtr

    mean = check_real("distance_mean", distance_mean, 1e-12, 1e6)
    var = check_real("distance_variance", distance_variance, 1e-12, 1e6)
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 0:
        raise ValueError(f"n_samples = {n_samples!r} is out of range; allowed: integer >= 0")
    if n_samples == 0:
        return float(ndtr(-mean / math.sqrt(var)))
    rng = np.random.default_rng(rng)
    d = rng.normal(mean, math.sqrt(var), size=int(n_samples))
    return float(np.mean(d < 0))


# ---------------------------------------------------------------------------------
# Eq. (18), footnote 2: losses over all assignments
# ---------------------------------------------------------------------------------


def _unserved_mask(assignments, n_user):
    """``(n_assign, n_user)`` bool: user k has no AP under each assignment."""
    return ~(assignments[..., :, None] == np.arange(n_user)).any(axis=-2)


def normalized_loss_all_assignments(H_hat, rho, mu, penalty: float = 10.0):
    """Eq. (18) for every one of the :math:`N_{user}^{N_{AP}}` assignments.

    Parameters
    ----------
    H_hat : array_like, complex, shape ``(n, n_ap, n_user, n_tx)``
        Channels (scored on themselves, as in training).
    rho : float
        Linear SNR (> 0).
    mu, penalty : float
        As in :func:`cfmimo.rates.user_rates`.

    Returns
    -------
    losses : ndarray, shape ``(n, n_assign)``
        :func:`cfmimo.rates.normalized_loss` of each candidate of
        :func:`cfmimo.baselines.all_assignments`.
    leaves_unserved : ndarray of bool, shape ``(n_assign,)``
        Whether the candidate leaves some user without an AP.
    """
    from .baselines import all_assignments, candidate_min_rates
    from .rates import ideal_capacity, serves_every_user

    if np.ndim(H_hat) != 4:
        raise ValueError(f"H_hat must have shape (n, n_ap, n_user, n_tx), got {np.shape(H_hat)}")
    n_ap, n_user = np.shape(H_hat)[-3:-1]
    capacity = ideal_capacity(H_hat, rho)  # (n,)
    if np.any(capacity <= 0):
        raise ValueError("rho must be > 0: Eq. (18) divides by the ideal capacity")
    losses = (1.0 - candidate_min_rates(H_hat, rho, mu, penalty) / capacity[:, None]) ** 2
    return losses, ~serves_every_user(all_assignments(n_ap, n_user), n_user)


def literal_penalty_optimum(H_hat, rho, mu, unserved_rate: float):
    """Max-min optimum when an unserved user's rate is ``unserved_rate`` (footnote 2).

    Footnote 2 sets an unserved user's rate to :math:`-r_{penalty}`, and Table II lists
    :math:`r_{penalty} = -10`: read literally, an unserved user has rate +10. Pass
    ``unserved_rate=+10`` for that reading and ``-10`` for the intended penalty.

    Parameters
    ----------
    H_hat : array_like, complex, shape ``(n, n_ap, n_user, n_tx)``
    rho, mu : float
    unserved_rate : float

    Returns
    -------
    best : ndarray of int, shape ``(n, n_ap)``
        Max-min optimal assignment (first in lexicographic order on ties).
    leaves_unserved : ndarray of bool, shape ``(n,)``
        Whether that optimum leaves a user without an AP.
    """
    from .claims import max_min_optimum

    return max_min_optimum(H_hat, rho, mu, unserved_rate)


# ---------------------------------------------------------------------------------
# Lemma 1: qubits and gates
# ---------------------------------------------------------------------------------


def lemma1_paper_counts(n_layer: int, n_neuron: int, n_ap: int) -> dict:
    """The resource counts that Section III-C and Eq. (13)-(15) state.

    Returns
    -------
    dict
        ``lemma1_connect``: :math:`(N_{layer}-1) + (N_{neuron}-1) + N_{layer}N_{neuron}`
        (Lemma 1, "qubits" of :math:`U_{connect}`); ``lemma1_encode``: :math:`N_{AP}`;
        ``lemma1_total``: their sum; ``eq13_qubits``: :math:`N_{layer}N_{neuron}`
        (the register that Eq. 13 prepares); ``eq15_cz``: :math:`(N_{layer}-1)(N_{neuron}-1)`,
        ``eq15_cx``: :math:`N_{layer}-1`, ``eq15_ry``: :math:`N_{layer}N_{neuron}`
        (gates of Eq. 15 as printed).
    """
    n_layer = check_count("n_layer", n_layer)
    n_neuron = check_count("n_neuron", n_neuron)
    n_ap = check_count("n_ap", n_ap)
    connect = (n_layer - 1) + (n_neuron - 1) + n_layer * n_neuron
    return {
        "lemma1_connect": connect,
        "lemma1_encode": n_ap,
        "lemma1_total": connect + n_ap,
        "eq13_qubits": n_layer * n_neuron,
        "eq15_cz": (n_layer - 1) * (n_neuron - 1),
        "eq15_cx": n_layer - 1,
        "eq15_ry": n_layer * n_neuron,
    }


def circuit_resources(circuit) -> dict:
    """Qubits, classical bits, parameters and gate counts of a ``QuantumCircuit``.

    Returns
    -------
    dict
        ``qubits``, ``clbits``, ``n_x``/``n_theta`` (sizes of the parameter vectors
        named ``x`` and ``theta``), ``depth``, ``two_qubit`` (gates on two qubits) and
        ``ops`` (``{name: count}``, measurements and barriers included).
    """
    n_x = sum(1 for p in circuit.parameters if p.name.startswith("x["))
    n_theta = sum(1 for p in circuit.parameters if p.name.startswith("theta["))
    two = sum(1 for inst in circuit.data if len(inst.qubits) == 2 and inst.operation.name != "barrier")
    return {
        "qubits": circuit.num_qubits,
        "clbits": circuit.num_clbits,
        "n_x": n_x,
        "n_theta": n_theta,
        "depth": circuit.depth(),
        "two_qubit": two,
        "ops": {k: int(v) for k, v in circuit.count_ops().items()},
    }


def lemma1_table(base, variant: str = "paper", n_layers=(1, 2, 3, 4), n_aps=(2, 3, 4, 5, 6)) -> list[dict]:
    """Lemma 1's counts next to those of :func:`cfmimo.qnn.build_circuit`, over a grid.

    Parameters
    ----------
    base : cfmimo.config.Preset
        Settings to start from; ``n_layer`` and ``n_ap`` are replaced (``n_neuron``
        follows ``n_ap`` when the preset leaves it ``None``).
    variant : str
        Circuit variant passed to ``build_circuit``.
    n_layers, n_aps : sequence of int

    Returns
    -------
    list of dict
        One row per ``(n_layer, n_ap)``: the grid point, ``n_neuron``, every key of
        :func:`lemma1_paper_counts` and, prefixed ``built_``, the ``qubits``,
        ``clbits``, ``n_theta``, ``two_qubit`` and the ``cx``/``cz``/``ry``/``rz``/``h``
        counts of the built circuit.
    """
    from .config import with_overrides
    from .qnn import build_circuit

    rows = []
    for n_layer in n_layers:
        for n_ap in n_aps:
            cfg = with_overrides(base, n_layer=int(n_layer), n_ap=int(n_ap))
            n_neuron = cfg.training.n_neuron or cfg.system.n_ap
            res = circuit_resources(build_circuit(cfg, variant))
            row = {"n_layer": int(n_layer), "n_ap": int(n_ap), "n_neuron": n_neuron}
            row.update(lemma1_paper_counts(n_layer, n_neuron, n_ap))
            for key in ("qubits", "clbits", "n_theta", "two_qubit"):
                row["built_" + key] = res[key]
            for op in ("cx", "cz", "ry", "rz", "h"):
                row["built_" + op] = res["ops"].get(op, 0)
            rows.append(row)
    return rows


# ---------------------------------------------------------------------------------
# Lemma 2 on the circuits of cfmimo.qnn
# ---------------------------------------------------------------------------------


def _check_one_rotation_per_weight(circuit) -> None:
    """Raise unless every ``theta`` parameter enters exactly one rx/ry/rz gate, as the angle itself."""
    uses: dict = {}
    for inst in circuit.data:
        for par in inst.operation.params:
            for p in getattr(par, "parameters", ()):
                if p.name.startswith("theta["):
                    ok = inst.operation.name in ("rx", "ry", "rz") and par == p
                    uses.setdefault(p.name, []).append(ok)
    bad = [name for name, oks in uses.items() if len(oks) != 1 or not oks[0]]
    if bad:
        raise ValueError(
            f"the exact shift rule needs each weight in one rotation gate; {bad[:3]} are used otherwise"
        )


def _x_theta(config, variant, x, theta, convention):
    from .qnn import n_weights

    omega = frequency(convention)
    theta = np.asarray(theta, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    n_in = config.system.n_ap * config.system.n_user
    if x.ndim < 1 or x.shape[-1] != n_in:
        raise ValueError(f"x must have shape (..., n_ap * n_user = {n_in}), got {x.shape}")
    n_par = n_weights(config, variant)
    if theta.ndim < 1 or theta.shape[-1] != n_par:
        raise ValueError(f"theta must have shape (..., {n_par}), got {theta.shape}")
    lead = np.broadcast_shapes(x.shape[:-1], theta.shape[:-1])
    x = np.broadcast_to(x, lead + x.shape[-1:])
    theta = np.broadcast_to(theta, lead + theta.shape[-1:])
    # appendix convention: e^{-i t Y} = Qiskit RY(2 t)
    return x, omega * theta


def zero_input_circuit(config, variant: str = "paper"):
    """The circuit of :func:`cfmimo.qnn.build_circuit` with its input encoding removed.

    Drops every gate with an ``x`` parameter and every Hadamard on a qubit that later
    receives such a gate, so the weights act on :math:`|0\\rangle^{\\otimes n}`: the
    :math:`m_{input} = |0\\rangle\\langle 0|` of Lemma 2 (an input the real circuit cannot
    receive, since Eq. 14 always applies H first). Measurements are kept.
    """
    from .qnn import build_circuit

    circuit = build_circuit(config, variant)
    encoded = set()
    for inst in circuit.data:
        if any(p.name.startswith("x[") for par in inst.operation.params for p in getattr(par, "parameters", ())):
            encoded.update(circuit.find_bit(q).index for q in inst.qubits)
    out = circuit.copy_empty_like()
    for inst in circuit.data:
        has_x = any(p.name.startswith("x[") for par in inst.operation.params for p in getattr(par, "parameters", ()))
        is_encoding_h = inst.operation.name == "h" and circuit.find_bit(inst.qubits[0]).index in encoded
        if not (has_x or is_encoding_h):
            out.append(inst)
    return out


def _parity_signs(n_out: int) -> np.ndarray:
    return np.array([(-1) ** bin(i).count("1") for i in range(n_out)], dtype=np.float64)


def _statevector_parity(circuit, theta_q) -> np.ndarray:
    """Readout parity cost of a circuit whose only parameters are ``theta``, by Qiskit Statevector.

    A Python loop over rows (about 1 ms each at 8 qubits): for small samples and checks.
    """
    from qiskit.quantum_info import Statevector

    measured = [None] * circuit.num_clbits
    for inst in circuit.data:
        if inst.operation.name == "measure":
            measured[circuit.find_bit(inst.clbits[0]).index] = circuit.find_bit(inst.qubits[0]).index
    bare = circuit.remove_final_measurements(inplace=False)
    params = sorted(bare.parameters, key=lambda p: p.index)
    theta_q = np.asarray(theta_q, dtype=np.float64)
    flat = theta_q.reshape(-1, theta_q.shape[-1])
    sign = _parity_signs(2 ** len(measured))
    out = np.empty(len(flat))
    for i, row in enumerate(flat):
        bound = bare.assign_parameters({p: row[p.index] for p in params})
        probs = Statevector(bound).probabilities(qargs=measured)
        out[i] = 0.5 - 0.5 * probs @ sign
    return out.reshape(theta_q.shape[:-1])


def readout_parity_cost(config, variant: str, x, theta, convention: str = "qiskit") -> np.ndarray:
    """Eq. (23): :math:`f = 1/2 - 1/2\\,\\mathrm{Tr}[\\sigma_{(3,\\dots,3)} U m_{input} U^\\dagger]`.

    :math:`\\sigma_{(3,\\dots,3)}` is read as the product of Z on the qubits that the
    circuit measures (its classical bits), so ``f`` is the probability of an odd number
    of ones in the readout.

    Parameters
    ----------
    config : cfmimo.config.Preset
    variant : str
    x : array_like, shape ``(..., n_ap * n_user)``, or None
        Input angles (:func:`cfmimo.qnn.encode_angles`), evaluated with
        :func:`cfmimo.engine.exact_probabilities`; ``None`` means the input
        :math:`|0\\rangle` (:func:`zero_input_circuit`, evaluated with Qiskit's
        ``Statevector``, row by row).
    theta : array_like, shape ``(..., n_weights)``
        Weights in the chosen ``convention``; the appendix convention's
        :math:`e^{-i\\theta Y}` is Qiskit's ``RY(2 theta)``.
    convention : {"qiskit", "appendix"}

    Returns
    -------
    ndarray, shape ``(...)`` (broadcast of the batch shapes of ``x`` and ``theta``)
    """
    if x is None:
        from .qnn import n_weights

        theta = np.asarray(theta, dtype=np.float64)
        n_par = n_weights(config, variant)
        if theta.ndim < 1 or theta.shape[-1] != n_par:
            raise ValueError(f"theta must have shape (..., {n_par}), got {theta.shape}")
        return _statevector_parity(zero_input_circuit(config, variant), frequency(convention) * theta)
    from .engine import exact_probabilities

    x, theta_q = _x_theta(config, variant, x, theta, convention)
    probs = np.asarray(exact_probabilities(config, variant, x, theta_q))
    return 0.5 - 0.5 * probs @ _parity_signs(probs.shape[-1])


def circuit_gradient(config, variant: str, x, theta, convention: str = "qiskit") -> np.ndarray:
    """Exact gradient of the readout-parity cost (Eq. 23) with respect to the weights.

    With inputs ``x``: adjoint differentiation (:func:`cfmimo.engine.exact_vjp`), which
    uses no shift rule, so it is an independent reference for Eq. (17). With
    ``x=None`` (input ``|0>``): the parameter-shift rule with shift :math:`\\pi/(2\\omega)`
    on Qiskit ``Statevector`` values, exact because each weight enters one rotation
    gate (checked on the built circuit). The appendix convention's
    :math:`e^{-i\\theta Y}` is ``RY(2 theta)``, so its gradient is twice Qiskit's at
    ``2 theta``.

    Parameters
    ----------
    config, variant, x, theta, convention
        As in :func:`readout_parity_cost`.

    Returns
    -------
    ndarray, shape ``(..., n_weights)``
    """
    from .qnn import build_circuit

    _check_one_rotation_per_weight(build_circuit(config, variant))
    omega = frequency(convention)
    if x is None:
        theta = np.asarray(theta, dtype=np.float64)

        def f(points):  # points (2, ..., P, P)
            return readout_parity_cost(config, variant, None, points, convention)

        return parameter_shift_gradient(f, theta, shift=math.pi / (2 * omega), convention=convention)
    from .engine import exact_vjp

    x, theta_q = _x_theta(config, variant, x, theta, convention)
    n_out = 2 ** len([i for i in build_circuit(config, variant).data if i.operation.name == "measure"])
    _, grad = exact_vjp(config, variant, x, theta_q, -0.5 * _parity_signs(n_out))
    return omega * np.asarray(grad)


def expected_sq_gradient_norm(
    config, variant: str, x, n_samples: int = 500, rng=None, convention: str = "qiskit", level: float = 0.95
) -> MCEstimate:
    """Monte-Carlo :math:`\\mathbb E_{\\theta\\sim U[0,2\\pi)^P}\\|\\nabla_\\theta f\\|^2` (Lemma 2, Eq. 19/22).

    Parameters
    ----------
    config : cfmimo.config.Preset
    variant : str
    x : array_like, shape ``(n_ap * n_user,)`` or ``(n_samples, n_ap * n_user)``, or None
        One input, one input per sample (e.g. encoded channel draws), or ``None`` for
        the input ``|0>`` (slow path, see :func:`readout_parity_cost`).
    n_samples : int
        Weight draws (>= 2).
    rng : int, numpy.random.Generator or None
    convention : {"qiskit", "appendix"}
    level : float

    Returns
    -------
    MCEstimate
        Mean, CI half-width, ``n_samples`` and ``level`` (per-sample gradients:
        :func:`circuit_gradient`).
    """
    from .qnn import n_weights

    n_samples = check_count("n_samples", n_samples, 2)
    if x is not None:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 2 and x.shape[0] != n_samples:
            raise ValueError(f"x has {x.shape[0]} inputs; pass one input or n_samples = {n_samples} inputs")
    rng = np.random.default_rng(rng)
    theta = rng.uniform(0.0, 2 * np.pi, size=(n_samples, n_weights(config, variant)))
    grad = circuit_gradient(config, variant, x, theta, convention)
    return mc_estimate((grad**2).sum(axis=-1), level)


def input_dependence(config, variant: str, x, n_theta: int = 20, rng=None) -> np.ndarray:
    """How much each output :math:`o_m` varies with the input (claim 1).

    For each of ``n_theta`` uniformly random weight vectors, the standard deviation of
    every output over the inputs ``x``; the maximum over the weight draws is returned.
    An output whose value is ~1e-16 does not depend on the input at all.

    Parameters
    ----------
    config : cfmimo.config.Preset
    variant : str
    x : array_like, shape ``(n_inputs, n_ap * n_user)``
    n_theta : int
    rng : int, numpy.random.Generator or None

    Returns
    -------
    ndarray, shape ``(n_outputs,)``
    """
    from .engine import exact_outputs
    from .qnn import n_weights

    n_theta = check_count("n_theta", n_theta, 1)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"x must have shape (n_inputs >= 2, n_ap * n_user), got {x.shape}")
    rng = np.random.default_rng(rng)
    theta = rng.uniform(0.0, 2 * np.pi, size=(n_theta, 1, n_weights(config, variant)))
    out = np.asarray(exact_outputs(config, variant, np.broadcast_to(x[None], (n_theta,) + x.shape), np.broadcast_to(theta, (n_theta, x.shape[0], theta.shape[-1]))))
    return out.std(axis=1).max(axis=0)


def _outputs(config, variant, x, theta):
    from .engine import exact_outputs

    return np.asarray(exact_outputs(config, variant, x, theta))


def encoding_invariance(config, variant: str, x, theta) -> dict:
    """Largest output change under input transformations (claim 2).

    Parameters
    ----------
    config : cfmimo.config.Preset
    variant : str
    x : array_like, shape ``(n, n_ap * n_user)``
    theta : array_like, shape ``(n, n_weights)`` or ``(n_weights,)``

    Returns
    -------
    dict of float
        ``"sum"``: every AP's angles replaced by (their sum, 0, ..., 0) - unchanged if
        only :math:`\\sum_k x_{m,k}` reaches the circuit (Eq. 14's RZ's add);
        ``"sign"``: all angles negated - unchanged if only :math:`\\cos\\sum_k x_{m,k}`
        reaches the readout; ``"roll_aps"``: the APs' blocks of angles rotated by one
        (a control that keeps the multiset of sums but moves them between APs).
    """
    x, transformed = encoding_transforms(config, x)
    base = _outputs(config, variant, x, theta)
    return {name: float(np.max(np.abs(_outputs(config, variant, other, theta) - base))) for name, other in transformed.items()}


def encoding_transforms(config, x) -> tuple:
    """The input transformations of claim 2, shared by every reading of Eq. (14).

    Parameters
    ----------
    config : cfmimo.config.Preset
    x : array_like, shape ``(n, n_ap * n_user)``

    Returns
    -------
    x : ndarray, shape ``(n, n_ap * n_user)``
        The input as float64.
    transformed : dict of ndarray, each of shape ``(n, n_ap * n_user)``
        ``"sum"``: every AP's angles replaced by (their sum, 0, ..., 0); ``"sign"``: all
        angles negated; ``"roll_aps"``: the APs' blocks of angles rotated by one.
    """
    x = np.asarray(x, dtype=np.float64)
    n_ap, n_user = config.system.n_ap, config.system.n_user
    if x.ndim != 2 or x.shape[1] != n_ap * n_user:
        raise ValueError(f"x must have shape (n, n_ap * n_user = {n_ap * n_user}), got {x.shape}")
    blocks = x.reshape(len(x), n_ap, n_user)
    summed = np.zeros_like(blocks)
    summed[..., 0] = blocks.sum(axis=-1)
    rolled = np.roll(blocks, 1, axis=1)
    return x, {"sum": summed.reshape(x.shape), "sign": -x, "roll_aps": rolled.reshape(x.shape)}


def input_jacobian(config, variant: str, x, theta, step: float = 1e-5) -> np.ndarray:
    """Central-difference Jacobian of the outputs with respect to the input angles.

    Parameters
    ----------
    x : array_like, shape ``(..., n_ap * n_user)``
    theta : array_like, shape ``(..., n_weights)``
    step : float

    Returns
    -------
    ndarray, shape ``(..., n_outputs, n_ap * n_user)``
        Its rank is the number of independent input directions the readout can see.
    """
    step = check_real("step", step, 1e-12, 0.1)
    x = np.asarray(x, dtype=np.float64)
    n_in = x.shape[-1]
    eye = step * np.eye(n_in)
    theta = np.asarray(theta, dtype=np.float64)[..., None, :]
    plus = _outputs(config, variant, x[..., None, :] + eye, theta)  # (..., n_in, n_out)
    minus = _outputs(config, variant, x[..., None, :] - eye, theta)
    return np.swapaxes((plus - minus) / (2 * step), -1, -2)


# ---------------------------------------------------------------------------------
# Claim 8: the loss of floor-decoded assignments
# ---------------------------------------------------------------------------------


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
    """
    from .engine import exact_probabilities
    from .qnn import decide_from_probabilities, encode_angles
    from .rates import normalized_loss

    H_hat = np.asarray(H_hat)
    x, theta = _x_theta(config, variant, encode_angles(H_hat), theta, "qiskit")
    lead = x.shape[:-1]
    H_b = np.broadcast_to(H_hat, lead + H_hat.shape[-3:])
    a = decide_from_probabilities(config, variant, exact_probabilities(config, variant, x, theta))
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
    """
    H_hat = np.asarray(H_hat)

    def f(points):  # (2, ..., P, P)
        return floor_loss(config, variant, H_hat[..., None, :, :, :], points, rho, mu, penalty)

    return {
        "eq17": eq17_gradient(f, theta, shift),
        "shift_rule": parameter_shift_gradient(f, theta, shift, "qiskit"),
        "central": central_difference_gradient(f, theta, step),
    }
