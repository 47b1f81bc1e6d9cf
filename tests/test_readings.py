"""Tests of cfmimo.readings: the circuit of Eq. (13)-(15) under each reading of the text.

References: the project's exact engine for the book's reading, gate matrices multiplied by
hand, and tensor-grid quadrature (exact for trigonometric polynomials) for the closed forms.
"""

from __future__ import annotations

import numpy as np
import pytest

from cfmimo import engine, qnn, readings
from cfmimo.config import SMOKE, with_overrides

H_GATE = np.array([[1, 1], [1, -1]]) / np.sqrt(2)


def rz(a):
    return np.diag([np.exp(-0.5j * a), np.exp(0.5j * a)])


def ry(t):
    return np.array([[np.cos(t / 2), -np.sin(t / 2)], [np.sin(t / 2), np.cos(t / 2)]])


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
