"""Tests of cfmimo.gradients: Eq. (17) and (25) against Qiskit Statevector and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp, Statevector

from cfmimo import gradients, lemma2


ZERO = np.array([[1, 0], [0, 0]], dtype=complex)


# ----------------------------------------------------------------- Eq. (17) rules


def two_qubit_cost(theta):
    """<Z_1> after RY(a) x RY(b) and CX(0->1), by Qiskit Statevector; batched by a loop."""
    theta = np.asarray(theta, dtype=float)
    flat = theta.reshape(-1, 2)
    obs = SparsePauliOp("ZI")  # Z on qubit 1 (little-endian)
    out = []
    for a, b in flat:
        qc = QuantumCircuit(2)
        qc.ry(a, 0)
        qc.ry(b, 1)
        qc.cx(0, 1)
        out.append(Statevector(qc).expectation_value(obs).real)
    return np.array(out).reshape(theta.shape[:-1])


def two_qubit_derivative(theta):
    # CX maps Z_1 to Z_0 Z_1, so <Z_1> = cos a cos b (by hand)
    a, b = theta[..., 0], theta[..., 1]
    return np.stack([-np.sin(a) * np.cos(b), -np.cos(a) * np.sin(b)], axis=-1)


THETAS = np.array([[0.3, 1.1], [2.0, -0.7], [4.5, 5.9]])


@pytest.mark.parametrize("shift", [math.pi / 2, math.pi / 4, 0.3])
def test_parameter_shift_is_exact_on_qiskit_circuit(shift):
    got = gradients.parameter_shift_gradient(two_qubit_cost, THETAS, shift, "qiskit")
    np.testing.assert_allclose(got, two_qubit_derivative(THETAS), atol=1e-12)


def test_central_difference_matches_exact_derivative():
    got = gradients.central_difference_gradient(two_qubit_cost, THETAS, step=1e-5)
    np.testing.assert_allclose(got, two_qubit_derivative(THETAS), atol=1e-8)


@pytest.mark.parametrize("shift", [math.pi / 2, math.pi / 4])
def test_eq17_is_minus_sin_squared_times_derivative_for_qiskit_gate(shift):
    got = gradients.eq17_gradient(two_qubit_cost, THETAS, shift)
    np.testing.assert_allclose(got, -math.sin(shift) ** 2 * two_qubit_derivative(THETAS), atol=1e-12)


def test_eq17_factor_hand_values():
    assert gradients.eq17_factor(math.pi / 2, "qiskit") == pytest.approx(-1.0)
    assert gradients.eq17_factor(math.pi / 4, "qiskit") == pytest.approx(-0.5)
    assert gradients.eq17_factor(math.pi / 2, "appendix") == pytest.approx(0.0, abs=1e-15)
    assert gradients.eq17_factor(math.pi / 4, "appendix") == pytest.approx(-math.sqrt(2) / 4)


@pytest.mark.parametrize(
    ("convention", "shift", "expected"),
    [
        ("qiskit", math.pi / 2, -1.0),  # 1/(2 sin) * (-2 sin) = -1 for every shift
        ("qiskit", math.pi / 4, -1.0),
        ("appendix", math.pi / 2, 0.0),  # sin(2 s) = 0
        ("appendix", math.pi / 4, -math.sqrt(2) / 2),  # -sin(pi/2) / (2 sin(pi/4))
    ],
)
def test_eq17_factor_reciprocal_reading_hand_values(convention, shift, expected):
    assert gradients.eq17_factor(shift, convention, "reciprocal") == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("reading", gradients.EQ17_READINGS)
@pytest.mark.parametrize("convention", gradients.CONVENTIONS)
@pytest.mark.parametrize("shift", [math.pi / 2, math.pi / 4])
def test_eq17_both_readings_match_one_qubit_ratio(reading, convention, shift):
    theta = np.array([0.4, 1.3, 2.9])

    def f(t):
        return lemma2.one_qubit_cost(t[..., 0], ZERO, convention)

    exact = lemma2.one_qubit_derivative(theta, ZERO, convention)
    got = gradients.eq17_gradient(f, theta[:, None], shift, reading)[:, 0]
    np.testing.assert_allclose(got, gradients.eq17_factor(shift, convention, reading) * exact, atol=1e-12)
    # the printed difference has the wrong sign in both readings: never a positive multiple
    assert gradients.eq17_factor(shift, convention, reading) <= 0


def test_eq17_reciprocal_reading_is_minus_textbook_for_qiskit():
    got = gradients.eq17_gradient(two_qubit_cost, THETAS, 0.7, "reciprocal")
    np.testing.assert_allclose(got, -two_qubit_derivative(THETAS), atol=1e-12)
    with pytest.raises(ValueError, match="reading"):
        gradients.eq17_gradient(two_qubit_cost, THETAS, 0.7, "inverse")


@pytest.mark.parametrize("convention", gradients.CONVENTIONS)
@pytest.mark.parametrize("shift", [math.pi / 2, math.pi / 4, 1.0])
def test_eq17_factor_matches_one_qubit_ratio(convention, shift):
    theta = np.array([0.4, 1.3, 2.9])

    def f(t):
        return lemma2.one_qubit_cost(t[..., 0], ZERO, convention)

    exact = lemma2.one_qubit_derivative(theta, ZERO, convention)
    got = gradients.eq17_gradient(f, theta[:, None], shift)[:, 0]
    np.testing.assert_allclose(got, gradients.eq17_factor(shift, convention) * exact, atol=1e-12)


def test_appendix_shift_rule_at_pi_over_2_is_undefined():
    with pytest.raises(ValueError, match="shift"):
        gradients.parameter_shift_gradient(two_qubit_cost, THETAS, math.pi / 2, "appendix")


def test_appendix_shift_rule_at_pi_over_4_is_exact():
    theta = np.array([[0.2], [1.7], [3.3]])

    def f(t):
        return lemma2.one_qubit_cost(t[..., 0], ZERO, "appendix")

    got = gradients.parameter_shift_gradient(f, theta, math.pi / 4, "appendix")[:, 0]
    np.testing.assert_allclose(got, np.sin(2 * theta[:, 0]), atol=1e-12)  # f = (1 - cos 2t)/2


@pytest.mark.parametrize("convention", gradients.CONVENTIONS)
@pytest.mark.parametrize("shift", [math.pi / 2, math.pi / 4])
def test_eq25_matrix_is_factor_times_gate_derivative(convention, shift):
    theta = np.array([0.1, 2.2, 4.0])
    w = gradients.eq25_matrix(theta, shift, convention)
    d = gradients.ry_matrix_derivative(theta, convention)
    np.testing.assert_allclose(w, gradients.eq25_factor(shift, convention) * d, atol=1e-12)
    assert gradients.eq25_factor(math.pi / 4, "appendix") == pytest.approx(-math.sqrt(2) / 2)


def test_gradient_rules_reject_bad_input():
    with pytest.raises(ValueError, match="shift"):
        gradients.eq17_gradient(two_qubit_cost, THETAS, 0.0)
    with pytest.raises(ValueError, match="shift"):
        gradients.parameter_shift_gradient(two_qubit_cost, THETAS, 4.0)
    with pytest.raises(ValueError, match="convention"):
        gradients.parameter_shift_gradient(two_qubit_cost, THETAS, 1.0, "pennylane")
    with pytest.raises(ValueError, match="step"):
        gradients.central_difference_gradient(two_qubit_cost, THETAS, step=1.0)
    with pytest.raises(ValueError, match="theta"):
        gradients.eq17_gradient(two_qubit_cost, 0.3, 1.0)
    with pytest.raises(ValueError, match="f must map"):
        gradients.eq17_gradient(lambda t: np.zeros(3), THETAS, 1.0)



def test_eq17_table_rows():
    theta = np.array([[0.3, 1.1], [2.0, -0.7]])
    fs = {"qiskit": two_qubit_cost}
    rows = gradients.eq17_table(fs, {"qiskit": two_qubit_derivative(theta)}, theta)
    by = {(r["rule"], round(r["shift"], 4)): r for r in rows}
    assert by[("eq17", round(math.pi / 2, 4))]["measured"] == pytest.approx(-1.0)
    assert by[("eq17", round(math.pi / 4, 4))]["measured"] == pytest.approx(-0.5)
    assert by[("eq17_reciprocal", round(math.pi / 4, 4))]["measured"] == pytest.approx(-1.0)
    assert by[("textbook", round(math.pi / 4, 4))]["max_abs_error"] < 1e-12
    assert by[("central", 0.0)]["max_abs_error"] < 1e-8

    def f_app(t):
        return lemma2.one_qubit_cost(t[..., 0], ZERO, "appendix")

    th1 = np.array([[0.4], [1.9]])
    rows = gradients.eq17_table({"appendix": f_app}, {"appendix": np.sin(2 * th1)}, th1)
    undefined = [r for r in rows if r["rule"] == "textbook" and math.isnan(r["factor"])]
    assert len(undefined) == 1 and undefined[0]["max_abs_value"] < 1e-15


@pytest.mark.parametrize("shift", [math.pi / 2, math.pi / 4, 0.3])
def test_shift_gradient_on_a_sinusoid(shift):
    # f(t) = sin(t): [f(t+s) - f(t-s)] = 2 cos(t) sin(s), by hand
    t = np.array([[0.2, 1.4, -2.5]])
    plus, minus = np.sin(t + shift), np.sin(t - shift)
    np.testing.assert_allclose(gradients.shift_gradient(plus, minus, shift, "shift"), np.cos(t), atol=1e-12)
    printed = gradients.shift_gradient(plus, minus, shift, "printed")
    np.testing.assert_allclose(printed, -np.sin(shift) ** 2 * np.cos(t), atol=1e-12)
    with pytest.raises(ValueError, match="method"):
        gradients.shift_gradient(plus, minus, shift, "rotosolve")
