"""The gradient rules of Eq. (17) and (25): shift rules, their closed-form factors, and the
rotation matrices they act on.

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
:func:`shift_gradient` turns losses at shifted weights into the step direction of
Algorithm 1 (:mod:`cfmimo.train` calls it).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ._validation import check_real

__all__ = [
    "CONVENTIONS",
    "PAULI",
    "frequency",
    "ry_matrix",
    "ry_matrix_derivative",
    "SHIFT_METHODS",
    "shift_gradient",
    "EQ17_READINGS",
    "eq17_gradient",
    "parameter_shift_gradient",
    "central_difference_gradient",
    "eq17_factor",
    "eq25_factor",
    "eq25_matrix",
    "eq17_table",
]

CONVENTIONS = ("qiskit", "appendix")

PAULI = {
    "I": np.eye(2, dtype=np.complex128),
    "X": np.array([[0, 1], [1, 0]], dtype=np.complex128),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=np.complex128),
    "Z": np.array([[1, 0], [0, -1]], dtype=np.complex128),
}
"""The Pauli matrices (read-only by convention)."""


def _check_convention(convention) -> str:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention = {convention!r} is unknown; allowed: {list(CONVENTIONS)}")
    return convention


def frequency(convention: str) -> float:
    """Frequency :math:`\\omega` of an expectation value in one rotation angle.

    ``"qiskit"`` (:math:`e^{-i\\theta Y/2}`): 1; ``"appendix"`` (:math:`e^{-i\\theta Y}`): 2.

    References
    ----------
    Narottama & Duong (2022), Eq. (30).
    """
    return {"qiskit": 1.0, "appendix": 2.0}[_check_convention(convention)]


def ry_matrix(theta, convention: str = "qiskit") -> np.ndarray:
    """:math:`R_y(\\theta) = \\cos(\\omega\\theta/2) I - i\\sin(\\omega\\theta/2) Y`, shape ``(..., 2, 2)``.

    References
    ----------
    Narottama & Duong (2022), Eq. (15); Eq. (30).
    """
    omega = frequency(convention)
    half = 0.5 * omega * np.asarray(theta, dtype=np.float64)[..., None, None]
    return np.cos(half) * PAULI["I"] - 1j * np.sin(half) * PAULI["Y"]


def ry_matrix_derivative(theta, convention: str = "qiskit") -> np.ndarray:
    """:math:`dR_y/d\\theta = (\\omega/2)(-\\sin(\\omega\\theta/2) I - i\\cos(\\omega\\theta/2) Y)`.

    References
    ----------
    Narottama & Duong (2022), Eq. (25); Eq. (27).
    """
    omega = frequency(convention)
    half = 0.5 * omega * np.asarray(theta, dtype=np.float64)[..., None, None]
    return 0.5 * omega * (-np.sin(half) * PAULI["I"] - 1j * np.cos(half) * PAULI["Y"])


def _check_shift(shift) -> float:
    return check_real("shift", shift, 1e-12, math.pi)


SHIFT_METHODS = ("shift", "printed")
"""The methods of :func:`shift_gradient`: the textbook rule and Eq. (17) as printed."""


def shift_gradient(plus, minus, shift: float, method: str = "shift"):
    """The gradient estimate of Algorithm 1 from the losses at the shifted weights.

    Parameters
    ----------
    plus, minus : array_like, shape ``(..., P)``
        :math:`L(\\theta + \\varrho e_j)` and :math:`L(\\theta - \\varrho e_j)` for each weight ``j``.
    shift : float
        :math:`\\varrho` (Table II: :math:`\\pi/2`).
    method : {"shift", "printed"}
        ``"shift"``: the parameter-shift rule for Qiskit's :math:`e^{-i\\theta Y/2}`,
        :math:`[L(\\theta+\\varrho e_j) - L(\\theta-\\varrho e_j)] / (2\\sin\\varrho)`;
        ``"printed"``: Eq. (17) as printed, :math:`\\tfrac12\\sin(\\varrho)\\,[L(\\theta-\\varrho e_j) - L(\\theta+\\varrho e_j)]`
        (computed as :math:`-\\tfrac12\\sin(\\varrho)\\,[L_+ - L_-]`).

    Returns
    -------
    ndarray, shape ``(..., P)``
        The same floating-point operations as Algorithm 1's loop has always used, so
        training stays bit-identical.

    References
    ----------
    Narottama & Duong (2022), Eq. (17); Algorithm 1.
    """
    if method not in SHIFT_METHODS:
        raise ValueError(f"method = {method!r} is unknown; allowed: {list(SHIFT_METHODS)}")
    diff = np.asarray(plus, dtype=np.float64) - np.asarray(minus, dtype=np.float64)
    if method == "shift":
        return diff / (2.0 * np.sin(shift))
    return -0.5 * np.sin(shift) * diff


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

    References
    ----------
    Narottama & Duong (2022), Eq. (17).
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

    References
    ----------
    Narottama & Duong (2022), Eq. (17).
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

    References
    ----------
    Narottama & Duong (2022), Eq. (17).
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

    References
    ----------
    Narottama & Duong (2022), Eq. (17).
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

    References
    ----------
    Narottama & Duong (2022), Eq. (25).
    """
    shift = _check_shift(shift)
    omega = frequency(convention)
    return -(2.0 / omega) * math.sin(omega * shift / 2.0)


def eq25_matrix(theta, shift: float, convention: str) -> np.ndarray:
    """Eq. (25) as printed: :math:`\\tfrac12[R_y(\\theta-s) - R_y(\\theta+s)]`, shape ``(..., 2, 2)``.

    References
    ----------
    Narottama & Duong (2022), Eq. (25).
    """
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

    References
    ----------
    Narottama & Duong (2022), Eq. (17); Table II.
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
