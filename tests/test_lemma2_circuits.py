"""Tests of cfmimo.lemma2_circuits: Eq. (23) and its gradient on the circuits of cfmimo.qnn."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import Statevector

from cfmimo import gradients, lemma2, lemma2_circuits, qnn, readings
from cfmimo.config import PAPER, SMOKE, with_overrides
from cfmimo.engine import exact_outputs
from cfmimo.qnn import build_circuit


ZERO = np.array([[1, 0], [0, 0]], dtype=complex)


# ------------------------------------------------------------ circuits of qnn


@pytest.fixture(scope="module")
def one_qubit_cfg():
    return with_overrides(PAPER, n_ap=1, n_layer=1)


@pytest.mark.parametrize("convention", gradients.CONVENTIONS)
def test_one_qubit_circuit_is_eq26_with_encoded_state(one_qubit_cfg, convention):
    rng = np.random.default_rng(9)
    x = rng.uniform(0, np.pi, (5, 3))
    theta = rng.uniform(0, 2 * np.pi, (5, 1))
    got = lemma2_circuits.readout_parity_cost(one_qubit_cfg, "paper", x, theta, convention)
    expected = lemma2.one_qubit_cost(theta[:, 0], lemma2.encoded_state(x), convention)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    zero = lemma2_circuits.readout_parity_cost(one_qubit_cfg, "paper", None, theta, convention)
    np.testing.assert_allclose(zero, lemma2.one_qubit_cost(theta[:, 0], ZERO, convention), atol=1e-12)


@pytest.mark.parametrize("convention, exact", [("qiskit", 1 / 8), ("appendix", 1 / 2)])
def test_expected_sq_gradient_of_one_qubit_circuit(one_qubit_cfg, convention, exact):
    est = lemma2_circuits.expected_sq_gradient_norm(one_qubit_cfg, "paper", None, 300, rng=4, convention=convention)
    assert abs(est.mean - exact) < est.half_width and est.n_samples == 300
    x = np.array([0.4, 1.0, 0.3])
    closed = lemma2.one_qubit_expected_sq_derivative(lemma2.encoded_state(x), convention)
    est = lemma2_circuits.expected_sq_gradient_norm(one_qubit_cfg, "paper", x, 2000, rng=4, convention=convention)
    assert abs(est.mean - closed) < est.half_width


def test_circuit_gradient_matches_finite_difference(paper_cfg):
    rng = np.random.default_rng(10)
    x = rng.uniform(0, np.pi, (3, 12))
    theta = rng.uniform(0, 2 * np.pi, (3, 8))
    for convention in gradients.CONVENTIONS:
        grad = lemma2_circuits.circuit_gradient(paper_cfg, "paper", x, theta, convention)
        h = 1e-6
        fd = np.empty_like(grad)
        for j in range(8):
            e = np.zeros(8)
            e[j] = h
            fd[:, j] = (
                lemma2_circuits.readout_parity_cost(paper_cfg, "paper", x, theta + e, convention)
                - lemma2_circuits.readout_parity_cost(paper_cfg, "paper", x, theta - e, convention)
            ) / (2 * h)
        np.testing.assert_allclose(grad, fd, atol=1e-7)


def test_parity_cost_against_statevector(paper_cfg):
    rng = np.random.default_rng(12)
    x = rng.uniform(0, np.pi, 12)
    theta = rng.uniform(0, 2 * np.pi, 8)
    qc = build_circuit(paper_cfg, "paper").remove_final_measurements(inplace=False)
    values = {p: (x if p.name.startswith("x[") else theta)[p.index] for p in qc.parameters}
    probs = Statevector(qc.assign_parameters(values)).probabilities(qargs=[4, 5, 6, 7])
    parity = sum(p for i, p in enumerate(probs) if bin(i).count("1") % 2)
    assert lemma2_circuits.readout_parity_cost(paper_cfg, "paper", x, theta) == pytest.approx(parity, abs=1e-12)


def test_zero_input_circuit_has_no_encoding(paper_cfg):
    qc = lemma2_circuits.zero_input_circuit(paper_cfg, "paper")
    assert not any(p.name.startswith("x[") for p in qc.parameters)
    assert "h" not in qc.count_ops() and "rz" not in qc.count_ops()
    assert qc.count_ops()["ry"] == 8 and qc.count_ops()["measure"] == 4


def test_expected_sq_gradient_norm_is_reproducible(paper_cfg):
    x = np.random.default_rng(1).uniform(0, np.pi, (50, 12))
    a = lemma2_circuits.expected_sq_gradient_norm(paper_cfg, "paper", x, 50, rng=3)
    b = lemma2_circuits.expected_sq_gradient_norm(paper_cfg, "paper", x, 50, rng=3)
    assert a == b
    with pytest.raises(ValueError, match="inputs"):
        lemma2_circuits.expected_sq_gradient_norm(paper_cfg, "paper", x, 40, rng=3)
    with pytest.raises(ValueError, match="x must have shape"):
        lemma2_circuits.readout_parity_cost(paper_cfg, "paper", x[:, :5], np.zeros(8))


def test_weight_check_rejects_shared_weight():
    th = ParameterVector("theta", 1)
    qc = QuantumCircuit(1)
    qc.ry(th[0], 0)
    qc.rz(th[0], 0)
    with pytest.raises(ValueError, match="one rotation"):
        lemma2_circuits._check_one_rotation_per_weight(qc)
    qc2 = QuantumCircuit(1)
    qc2.ry(2 * th[0], 0)
    with pytest.raises(ValueError, match="one rotation"):
        lemma2_circuits._check_one_rotation_per_weight(qc2)


def test_literal_output_closed_form(paper_cfg):
    # By hand: q3 = RY(t3) RZ(phi) H|0> has <Z> = -cos(phi) sin(t3); q4 = RY(t4)|0> has
    # <Z> = cos(t4); after CX(q3 -> q4), P(q4 = 1) = (1 - <Z3><Z4>)/2.
    rng = np.random.default_rng(21)
    x = rng.uniform(0, np.pi, (6, 12))
    theta = rng.uniform(0, 2 * np.pi, (6, 8))
    phi = x[:, 9:12].sum(axis=1)
    o0 = (1 + np.cos(phi) * np.sin(theta[:, 3]) * np.cos(theta[:, 4])) / 2
    out = exact_outputs(paper_cfg, "paper", x, theta)
    np.testing.assert_allclose(out[:, 0], o0, atol=1e-12)
    np.testing.assert_allclose(out[:, 1:], np.sin(theta[:, 5:8] / 2) ** 2, atol=1e-12)


# ------------------------------------------------------ the literal circuit of cfmimo.readings


def _grid_expectation(cfg, x, sigma, convention):
    """E over uniform weights of ||grad f||^2 by a tensor rectangle rule.

    Exact: the integrand has degree 2 * omega in each weight, below the number of points.
    """
    n_pts = 3 if convention == "qiskit" else 5
    n_w = qnn.n_weights(cfg, "paper")
    axis = 2 * np.pi * np.arange(n_pts) / n_pts
    theta = np.array(list(itertools.product(axis, repeat=n_w)))
    grad = readings.parity_gradient(cfg, x, theta, sigma=sigma, convention=convention)
    return float((grad**2).sum(axis=-1).mean())


@pytest.mark.parametrize("sigma", readings.SIGMA_QUBITS)
@pytest.mark.parametrize(("convention", "n_layer"), [("qiskit", 1), ("appendix", 1), ("qiskit", 2)])
def test_lemma2_closed_form_against_exact_quadrature(cfg2, sigma, convention, n_layer):
    cfg = with_overrides(cfg2, n_layer=n_layer)
    x = np.array([0.3, 0.9, 1.7, 0.4])
    want = _grid_expectation(cfg, x, sigma, convention)
    assert float(lemma2_circuits.lemma2_closed_form(cfg, x, sigma=sigma, convention=convention)) == pytest.approx(want, abs=1e-12)
    want0 = _grid_expectation(cfg, None, sigma, convention)
    assert float(lemma2_circuits.lemma2_closed_form(cfg, None, sigma=sigma, convention=convention)) == pytest.approx(want0, abs=1e-12)


def test_lemma2_closed_form_values_by_hand():
    # 4 APs, N_layer = 2, input |0>: 5/128 (readout qubits) and 7/512 (all), Qiskit gate
    assert float(lemma2_circuits.lemma2_closed_form(SMOKE, None, sigma="readout")) == pytest.approx(5 / 128)
    assert float(lemma2_circuits.lemma2_closed_form(SMOKE, None, sigma="all")) == pytest.approx(7 / 512)
    assert float(lemma2_circuits.lemma2_closed_form(SMOKE, None, sigma="readout", convention="appendix")) == pytest.approx(5 / 32)
    with pytest.raises(ValueError, match="n_layer"):
        lemma2_circuits.lemma2_closed_form(with_overrides(SMOKE, n_layer=3), None)


def test_expected_sq_gradient_norm_covers_closed_form(cfg2):
    cfg = with_overrides(cfg2, n_layer=2)
    x = np.array([0.3, 0.9, 1.7, 0.4])
    est = lemma2_circuits.literal_expected_sq_gradient_norm(cfg, x, 60, rng=4, sigma="all", convention="appendix")
    truth = float(lemma2_circuits.lemma2_closed_form(cfg, x, sigma="all", convention="appendix"))
    assert abs(est.mean - truth) < 2 * est.half_width  # ~4 sigma
    again = lemma2_circuits.literal_expected_sq_gradient_norm(cfg, x, 60, rng=4, sigma="all", convention="appendix")
    assert again.mean == est.mean
