"""Tests of cfmimo.readings: the circuit of Eq. (13)-(15) under each reading of the text.

References: the project's exact engine for the book's reading, gate matrices multiplied by
hand, and tensor-grid quadrature (exact for trigonometric polynomials) for the closed forms.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cfmimo import engine, qnn, readings
from cfmimo.config import SMOKE, with_overrides

H_GATE = np.array([[1, 1], [1, -1]]) / np.sqrt(2)


def rz(a):
    return np.diag([np.exp(-0.5j * a), np.exp(0.5j * a)])


def ry(t):
    return np.array([[np.cos(t / 2), -np.sin(t / 2)], [np.sin(t / 2), np.cos(t / 2)]])


@pytest.fixture(scope="module")
def cfg2():
    """2 APs x 2 users: small enough for tensor-grid quadrature."""
    return with_overrides(SMOKE, n_ap=2, n_user=2)


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(3)
    return rng.uniform(0, np.pi, (5, 4)), rng.uniform(0, 2 * np.pi, (5, 4))


@pytest.mark.parametrize("n_layer", [1, 2, 3])
def test_default_reading_is_the_books_circuit(n_layer):
    cfg = with_overrides(SMOKE, n_layer=n_layer)
    rng = np.random.default_rng(n_layer)
    x = rng.uniform(0, np.pi, (7, qnn.n_inputs(cfg)))
    theta = rng.uniform(0, 2 * np.pi, (7, qnn.n_weights(cfg, "paper")))
    np.testing.assert_allclose(readings.literal_outputs(cfg, x, theta, n_layer=n_layer),
                               engine.exact_outputs(cfg, "paper", x, theta), atol=1e-12)


@pytest.mark.parametrize("encoding", readings.ENCODINGS)
def test_one_layer_outputs_by_hand(encoding):
    cfg = with_overrides(SMOKE, n_ap=1, n_user=3, n_layer=1)
    x = np.array([0.4, 1.3, 2.2])
    theta = np.array([0.9])
    psi = np.array([1.0, 0.0], dtype=complex)
    for k, a in enumerate(x):
        if encoding == "pairs" or k == 0:
            psi = H_GATE @ psi
        psi = rz(a) @ psi
    psi = ry(theta[0]) @ psi
    got = readings.literal_outputs(cfg, x, theta, encoding=encoding)
    assert got.shape == (1,)
    assert got[0] == pytest.approx(abs(psi[1]) ** 2, abs=1e-12)


def test_input_dependence_counts_derived_by_hand():
    cfg = SMOKE  # 4 APs x 3 users
    x = np.random.default_rng(1).uniform(0, np.pi, (12, qnn.n_inputs(cfg)))
    rows = readings.input_dependence_table(cfg, x, n_theta=3, rng=2)
    got = {(r["n_layer"], r["cx_direction"], r["readout"]): r["n_dependent"] for r in rows}
    # N_layer = 1: the encoded qubits are read; forward CX at N_layer = 2: only the CX
    # target o_0 sees the last AP; backward CX: the measured control's Z is unchanged;
    # N_layer = 3 last layer: its CX control is a fresh |0> qubit; first layer: every AP.
    for d in readings.CX_DIRECTIONS:
        assert got[(1, d, "last")] == got[(1, d, "first")] == 4
        assert got[(2, d, "first")] == got[(3, d, "first")] == 4
        assert got[(3, d, "last")] == 0
    assert got[(2, "forward", "last")] == 1 and got[(2, "backward", "last")] == 0
    assert len(rows) == 12


def test_eq14_h_once_reading_sum_and_sign_invariant(cfg2, inputs):
    x, theta = inputs
    inv = readings.encoding_invariance(cfg2, x, theta[:, :2], encoding="h_once", n_layer=1)
    assert inv["sum"] < 1e-12 and inv["sign"] < 1e-12
    assert inv["roll_aps"] > 0.05


def test_eq14_pairs_reading_not_sum_invariant_but_sign_invariant(cfg2, inputs):
    x, theta = inputs
    inv = readings.encoding_invariance(cfg2, x, theta[:, :2], encoding="pairs", n_layer=1)
    assert inv["sum"] > 0.05  # H R_Z(b) H = R_X(b): the angles no longer add
    assert inv["sign"] < 1e-12  # every other gate is real: conjugate state, same probabilities
    assert inv["roll_aps"] > 0.05


@pytest.mark.parametrize(("encoding", "per_ap"), [("h_once", 1), ("pairs", 2)])
def test_jacobian_rank_both_readings(cfg2, inputs, encoding, per_ap):
    x, theta = inputs
    ranks = readings.jacobian_ranks(cfg2, x[:3], theta[:4, :2], encoding=encoding, n_layer=1)
    assert ranks["per_draw"] == 2  # one row per output
    assert ranks["over_weights"] == per_ap * 2  # cos(phi) per AP, or the Bloch x and z per AP


def test_output_jacobian_matches_finite_difference(cfg2, inputs):
    x, theta = inputs
    jac = readings.output_jacobian(cfg2, x[0], theta[0], encoding="pairs")
    h = 1e-6
    for i in range(4):
        step = np.zeros(4)
        step[i] = h
        fd = (readings.literal_outputs(cfg2, x[0] + step, theta[0], encoding="pairs")
              - readings.literal_outputs(cfg2, x[0] - step, theta[0], encoding="pairs")) / (2 * h)
        np.testing.assert_allclose(jac[:, i], fd, atol=1e-7)


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
    assert float(readings.lemma2_closed_form(cfg, x, sigma=sigma, convention=convention)) == pytest.approx(want, abs=1e-12)
    want0 = _grid_expectation(cfg, None, sigma, convention)
    assert float(readings.lemma2_closed_form(cfg, None, sigma=sigma, convention=convention)) == pytest.approx(want0, abs=1e-12)


def test_lemma2_closed_form_values_by_hand():
    # 4 APs, N_layer = 2, input |0>: 5/128 (readout qubits) and 7/512 (all), Qiskit gate
    assert float(readings.lemma2_closed_form(SMOKE, None, sigma="readout")) == pytest.approx(5 / 128)
    assert float(readings.lemma2_closed_form(SMOKE, None, sigma="all")) == pytest.approx(7 / 512)
    assert float(readings.lemma2_closed_form(SMOKE, None, sigma="readout", convention="appendix")) == pytest.approx(5 / 32)
    with pytest.raises(ValueError, match="n_layer"):
        readings.lemma2_closed_form(with_overrides(SMOKE, n_layer=3), None)


def test_expected_sq_gradient_norm_covers_closed_form(cfg2):
    cfg = with_overrides(cfg2, n_layer=2)
    x = np.array([0.3, 0.9, 1.7, 0.4])
    est = readings.expected_sq_gradient_norm(cfg, x, 60, rng=4, sigma="all", convention="appendix")
    truth = float(readings.lemma2_closed_form(cfg, x, sigma="all", convention="appendix"))
    assert abs(est.mean - truth) < 2 * est.half_width  # ~4 sigma
    again = readings.expected_sq_gradient_norm(cfg, x, 60, rng=4, sigma="all", convention="appendix")
    assert again.mean == est.mean


def test_bad_reading_names_the_parameter():
    with pytest.raises(ValueError, match="cx_direction"):
        readings.build_literal_circuit(SMOKE, cx_direction="up")
    with pytest.raises(ValueError, match="readout"):
        readings.build_literal_circuit(SMOKE, readout="middle")
    with pytest.raises(ValueError, match="encoding"):
        readings.build_literal_circuit(SMOKE, encoding="sum")
    with pytest.raises(ValueError, match="sigma"):
        readings.parity_cost(SMOKE, None, np.zeros(8), sigma="some")
    with pytest.raises(ValueError, match="x must have shape"):
        readings.literal_outputs(SMOKE, np.zeros(5), np.zeros(8))
