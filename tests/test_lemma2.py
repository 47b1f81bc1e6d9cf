"""Tests of cfmimo.lemma2: the one-qubit Lemma 2 against Qiskit, scipy quadrature and hand values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.library import RYGate
from qiskit.quantum_info import DensityMatrix, SparsePauliOp
from scipy.integrate import quad

from cfmimo import gradients, lemma2


ZERO = np.array([[1, 0], [0, 0]], dtype=complex)
PLUS_I = 0.5 * np.array([[1, -1j], [1j, 1]])  # +Y eigenstate


def random_density(n_qubits, rng, n=1):
    d = 2**n_qubits
    a = rng.standard_normal((n, d, d)) + 1j * rng.standard_normal((n, d, d))
    rho = a @ np.conj(np.swapaxes(a, -1, -2))
    return rho / np.trace(rho, axis1=-2, axis2=-1)[:, None, None]


# ----------------------------------------------------------- one-qubit Lemma 2


@pytest.mark.parametrize("convention, factor", [("qiskit", 1.0), ("appendix", 2.0)])
def test_one_qubit_cost_matches_qiskit_density_matrix(convention, factor):
    rho = random_density(1, np.random.default_rng(3))[0]
    for theta in (0.0, 0.7, 2.5, 5.1):
        dm = DensityMatrix(rho).evolve(RYGate(factor * theta))
        expected = 0.5 - 0.5 * dm.expectation_value(SparsePauliOp("Z")).real
        assert lemma2.one_qubit_cost(theta, rho, convention) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("convention", gradients.CONVENTIONS)
def test_one_qubit_derivative_matches_finite_difference(convention):
    rho = random_density(1, np.random.default_rng(4))[0]
    theta = np.linspace(0, 2 * np.pi, 9)
    h = 1e-6
    fd = (lemma2.one_qubit_cost(theta + h, rho, convention) - lemma2.one_qubit_cost(theta - h, rho, convention)) / (2 * h)
    np.testing.assert_allclose(lemma2.one_qubit_derivative(theta, rho, convention), fd, atol=1e-8)


def test_eq28_integral_by_hand_for_zero_state():
    # Qiskit: f = (1 - cos t)/2, f' = sin(t)/2, mean of sin^2/4 = 1/8.
    # Appendix: f = (1 - cos 2t)/2, f' = sin 2t, mean = 1/2.
    qiskit = quad(lambda t: (math.sin(t) / 2) ** 2, 0, 2 * math.pi)[0] / (2 * math.pi)
    appendix = quad(lambda t: math.sin(2 * t) ** 2, 0, 2 * math.pi)[0] / (2 * math.pi)
    assert qiskit == pytest.approx(1 / 8)
    assert appendix == pytest.approx(1 / 2)
    assert lemma2.one_qubit_expected_sq_derivative(ZERO, "qiskit") == pytest.approx(qiskit, abs=1e-12)
    assert lemma2.one_qubit_expected_sq_derivative(ZERO, "appendix") == pytest.approx(appendix, abs=1e-12)
    assert lemma2.one_qubit_expected_sq_derivative_quadrature(ZERO, "appendix") == pytest.approx(appendix, abs=1e-12)


def test_eq28_is_zero_for_y_eigenstate_below_lemma2_bound():
    for convention in gradients.CONVENTIONS:
        assert lemma2.one_qubit_expected_sq_derivative(PLUS_I, convention) == pytest.approx(0.0, abs=1e-15)
        assert lemma2.one_qubit_expected_sq_derivative_quadrature(PLUS_I, convention) == pytest.approx(0.0, abs=1e-15)
    assert lemma2.lemma2_lower_bound(PLUS_I) == pytest.approx(0.25)


@pytest.mark.parametrize("convention", gradients.CONVENTIONS)
def test_closed_form_matches_scipy_quad_on_random_states(convention):
    rhos = random_density(1, np.random.default_rng(5), n=4)
    closed = lemma2.one_qubit_expected_sq_derivative(rhos, convention)
    for rho, value in zip(rhos, closed):
        ref = quad(lambda t: lemma2.one_qubit_derivative(t, rho, convention) ** 2, 0, 2 * math.pi)[0] / (2 * math.pi)
        assert value == pytest.approx(ref, abs=1e-10)
    np.testing.assert_allclose(lemma2.one_qubit_expected_sq_derivative_quadrature(rhos, convention), closed, atol=1e-12)


def test_monte_carlo_is_reproducible_and_covers_truth():
    a = lemma2.one_qubit_expected_sq_derivative_mc(ZERO, "qiskit", 4000, rng=11)
    b = lemma2.one_qubit_expected_sq_derivative_mc(ZERO, "qiskit", 4000, rng=np.random.default_rng(11))
    assert a == b
    assert a.n_samples == 4000 and a.level == 0.95 and a.half_width > 0
    assert abs(a.mean - 1 / 8) < a.half_width
    c = lemma2.one_qubit_expected_sq_derivative_mc(ZERO, "qiskit", 4000, rng=12)
    assert c.mean != a.mean


def test_monte_carlo_batch_of_states():
    rhos = np.stack([ZERO, PLUS_I])
    est = lemma2.one_qubit_expected_sq_derivative_mc(rhos, "appendix", 3000, rng=2)
    assert est.mean.shape == (2,)
    assert abs(est.mean[0] - 0.5) < est.half_width[0]
    assert est.mean[1] == pytest.approx(0.0, abs=1e-12)


def test_eq27_squared_equals_derivative_squared():
    rho = random_density(1, np.random.default_rng(6))[0]
    theta = np.linspace(0, 6, 7)
    for convention in gradients.CONVENTIONS:
        printed = lemma2.eq27_printed(theta, rho, convention)
        exact = lemma2.one_qubit_derivative(theta, rho, convention)
        np.testing.assert_allclose(np.abs(printed) ** 2, exact**2, atol=1e-12)


@pytest.mark.parametrize("n_qubits", [1, 2, 3])
def test_lemma2_bound_is_one_quarter_for_every_state(n_qubits):
    rhos = random_density(n_qubits, np.random.default_rng(n_qubits), n=5)
    np.testing.assert_allclose(lemma2.lemma2_lower_bound(rhos), 0.25, atol=1e-12)
    np.testing.assert_allclose(lemma2.lemma2_lower_bound(2 * rhos), 1.0, atol=1e-12)  # Tr = 2


def test_eq30_middle_line_is_three_quarters():
    # (3/8) Tr[m]^2 + (3/8) Tr[ZmZ]^2, the Tr[Zm] terms cancel
    rhos = random_density(1, np.random.default_rng(8), n=3)
    np.testing.assert_allclose(lemma2.eq30_printed(rhos), 0.75, atol=1e-12)


def test_density_validation():
    with pytest.raises(ValueError, match="shape"):
        lemma2.lemma2_lower_bound(np.ones((2, 3)))
    with pytest.raises(ValueError, match="power of 2"):
        lemma2.lemma2_lower_bound(np.eye(3))
    with pytest.raises(ValueError, match="Hermitian"):
        lemma2.lemma2_lower_bound(np.array([[1, 1], [0, 0]]))
    with pytest.raises(ValueError, match="one-qubit"):
        lemma2.one_qubit_expected_sq_derivative(np.eye(4) / 4)
    with pytest.raises(ValueError, match="convention"):
        lemma2.one_qubit_expected_sq_derivative(ZERO, "cirq")
    with pytest.raises(ValueError, match="n_samples"):
        lemma2.one_qubit_expected_sq_derivative_mc(ZERO, n_samples=1)


def test_encoded_state_matches_qiskit_and_depends_on_sum_only():
    angles = np.array([[0.3, -1.2, 2.0], [2.5, 0.1, 0.4]])
    rho = lemma2.encoded_state(angles)
    for row, r in zip(angles, rho):
        qc = QuantumCircuit(1)
        qc.h(0)
        for x in row:
            qc.rz(x, 0)
        np.testing.assert_allclose(r, DensityMatrix(qc).data, atol=1e-12)
    moved = np.zeros_like(angles)
    moved[:, 0] = angles.sum(axis=1)
    np.testing.assert_allclose(lemma2.encoded_state(moved), rho, atol=1e-12)
    np.testing.assert_allclose(lemma2.bloch_vector(rho)[:, 0], np.cos(angles.sum(axis=1)), atol=1e-12)


# ------------------------------------------------------------------ small claims


def test_random_density_matrices_and_over_inputs_mc():
    rhos = lemma2.random_density_matrices(2, 4, rng=1)
    assert rhos.shape == (4, 4, 4)
    np.testing.assert_allclose(np.trace(rhos, axis1=1, axis2=2), 1.0, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(rhos) > -1e-12)
    np.testing.assert_array_equal(rhos, lemma2.random_density_matrices(2, 4, rng=1))
    states = np.broadcast_to(ZERO, (3000, 2, 2))
    est = lemma2.one_qubit_expected_sq_derivative_over_inputs(states, "qiskit", rng=5)
    assert est.n_samples == 3000 and abs(est.mean - 1 / 8) < 2 * est.half_width  # ~4 sigma
    with pytest.raises(ValueError, match="n >= 2"):
        lemma2.one_qubit_expected_sq_derivative_over_inputs(ZERO, "qiskit")


@pytest.mark.parametrize("convention", gradients.CONVENTIONS)
def test_intended_one_qubit_bound_matches_quadrature(convention):
    states = lemma2.random_density_matrices(1, 20, rng=4)
    np.testing.assert_allclose(lemma2.one_qubit_intended_bound(states, convention),
                               lemma2.one_qubit_expected_sq_derivative_quadrature(states, convention), atol=1e-14)


def test_intended_one_qubit_bound_hand_values():
    # |0>: Tr[X x] = 0, Tr[Z x] = 1 -> 1/8 (Qiskit) and 1/2 (appendix): (31) holds only for the latter
    assert float(lemma2.one_qubit_intended_bound(ZERO, "qiskit")) == pytest.approx(1 / 8)
    assert float(lemma2.one_qubit_intended_bound(ZERO, "appendix")) == pytest.approx(1 / 2)
    plus_i = 0.5 * np.array([[1, -1j], [1j, 1]])
    assert float(lemma2.one_qubit_intended_bound(plus_i, "appendix")) == pytest.approx(0.0, abs=1e-15)


def test_uniform_phase_share_below_quarter_is_one_half():
    # R_Z(phi) H |0>: (omega^2 / 8) cos^2 phi < 1/4 iff cos^2 phi < 1/2 with omega = 2
    phi = 2 * np.pi * (np.arange(4000) + 0.5) / 4000
    values = lemma2.one_qubit_expected_sq_derivative(lemma2.encoded_state(phi[:, None]), "appendix")
    assert np.mean(values < 0.25) == pytest.approx(0.5, abs=1e-3)


