"""Exact batched engine, adjoint gradients and the Aer sampler against Qiskit's
Statevector of the bound circuit."""

import numpy as np
import pytest
from qiskit.circuit import ClassicalRegister, ParameterVector, QuantumCircuit, QuantumRegister
from qiskit.quantum_info import Statevector

from cfmimo import engine, qnn
from cfmimo.config import PAPER, with_overrides

CONFIGS = [
    (PAPER, "paper"),
    (PAPER, "reupload"),
    (with_overrides(PAPER, n_layer=3, n_neuron=5, n_ap=3, n_user=2), "paper"),
    (with_overrides(PAPER, n_layer=1), "paper"),
    (with_overrides(PAPER, n_ap=2, n_user=5, n_layer=1), "reupload"),
    (with_overrides(PAPER, n_ap=3, n_user=2, n_layer=3), "reupload"),
]


def reference_probs(config, variant, x, theta):
    qc = qnn.build_circuit(config, variant)
    measured = [None] * qc.num_clbits
    for inst in qc.data:
        if inst.operation.name == "measure":
            measured[qc.find_bit(inst.clbits[0]).index] = qc.find_bit(inst.qubits[0]).index
    values = {p: float(x[p.index] if p.vector.name == "x" else theta[p.index]) for p in qc.parameters}
    bare = qc.assign_parameters(values).remove_final_measurements(inplace=False)
    return Statevector(bare).probabilities(qargs=measured)


def random_inputs(config, variant, rng, batch=()):
    x = rng.uniform(-np.pi, np.pi, batch + (qnn.n_inputs(config),))
    theta = rng.uniform(-2 * np.pi, 2 * np.pi, batch + (qnn.n_weights(config, variant),))
    return x, theta


@pytest.mark.parametrize("config,variant", CONFIGS)
def test_exact_matches_statevector(config, variant):
    rng = np.random.default_rng(0)
    x, theta = random_inputs(config, variant, rng, (4,))
    probs = engine.exact_probabilities(config, variant, x, theta)
    assert probs.shape == (4, 2 ** qnn.n_clbits(config, variant))
    for i in range(4):
        np.testing.assert_allclose(probs[i], reference_probs(config, variant, x[i], theta[i]), atol=1e-10, rtol=0)


def test_broadcasting_and_batch_independence():
    rng = np.random.default_rng(1)
    for variant in qnn.VARIANTS:
        x = rng.uniform(0, np.pi, (3, 1, 12))
        theta = rng.uniform(0, 2 * np.pi, (1, 5, qnn.n_weights(PAPER, variant)))
        probs = engine.exact_probabilities(PAPER, variant, x, theta)
        assert probs.shape == (3, 5, 2 ** qnn.n_clbits(PAPER, variant))
        for i in range(3):
            for j in range(5):
                single = engine.exact_probabilities(PAPER, variant, x[i, 0], theta[0, j])
                # bit-identical: element-wise kernels only
                np.testing.assert_array_equal(probs[i, j], single)
        o = engine.exact_outputs(PAPER, variant, x, theta)
        np.testing.assert_array_equal(o, qnn.outputs_from_probabilities(PAPER, variant, probs))


@pytest.mark.parametrize("config,variant", CONFIGS[:2] + CONFIGS[4:5])
def test_vjp_matches_parameter_shift(config, variant):
    """Adjoint gradient vs the exact parameter-shift rule computed from Statevector."""
    rng = np.random.default_rng(2)
    x, theta = random_inputs(config, variant, rng)
    n_codes = 2 ** qnn.n_clbits(config, variant)
    w = rng.normal(size=(2, n_codes))
    probs, grad = engine.exact_vjp(config, variant, x, theta, w)
    assert grad.shape == (2, qnn.n_weights(config, variant))
    np.testing.assert_allclose(probs[0], reference_probs(config, variant, x, theta), atol=1e-10)
    for j in range(0, theta.size, max(1, theta.size // 6)):
        shifted = []
        for sign in (+1, -1):
            t = theta.copy()
            t[j] += sign * np.pi / 2
            shifted.append(reference_probs(config, variant, x, t))
        dp = (shifted[0] - shifted[1]) / 2.0
        np.testing.assert_allclose(grad[:, j], w @ dp, atol=1e-10)


def test_sampler_within_statistical_error():
    rng = np.random.default_rng(3)
    shots = 4000
    for variant in qnn.VARIANTS:
        x, theta = random_inputs(PAPER, variant, rng, (3,))
        exact = engine.exact_probabilities(PAPER, variant, x, theta)
        freq = engine.sampler_probabilities(PAPER, variant, x, theta, shots, rng=7)
        assert freq.shape == exact.shape
        np.testing.assert_allclose(freq.sum(axis=-1), 1.0)
        sigma = np.sqrt(exact * (1 - exact) / shots)
        assert np.all(np.abs(freq - exact) <= 5 * sigma + 2.0 / shots)
        again = engine.sampler_probabilities(PAPER, variant, x, theta, shots, rng=7)
        np.testing.assert_array_equal(freq, again)


def test_sampler_broadcasts():
    rng = np.random.default_rng(4)
    x = rng.uniform(0, np.pi, (2, 1, 12))
    theta = rng.uniform(0, 2 * np.pi, (3, 8))
    freq = engine.sampler_probabilities(PAPER, "paper", x, theta, 10, rng=np.random.default_rng(1))
    assert freq.shape == (2, 3, 16)
    np.testing.assert_allclose(freq.sum(axis=-1), 1.0)


def test_bad_inputs():
    x = np.zeros(12)
    theta = np.zeros(8)
    with pytest.raises(ValueError, match="theta must have shape"):
        engine.exact_probabilities(PAPER, "paper", x, np.zeros(7))
    with pytest.raises(ValueError, match="x must have shape"):
        engine.exact_probabilities(PAPER, "paper", np.zeros(11), theta)
    with pytest.raises(ValueError, match="NaN"):
        engine.exact_probabilities(PAPER, "paper", np.full(12, np.nan), theta)
    with pytest.raises(ValueError, match="NaN"):
        engine.exact_probabilities(PAPER, "paper", x, np.full(8, np.inf))
    with pytest.raises(ValueError, match="broadcast"):
        engine.exact_probabilities(PAPER, "paper", np.zeros((2, 12)), np.zeros((3, 8)))
    with pytest.raises(ValueError, match="shots"):
        engine.sampler_probabilities(PAPER, "paper", x, theta, 0)
    with pytest.raises(ValueError, match="variant"):
        engine.exact_probabilities(PAPER, "other", x, theta)
    with pytest.raises(ValueError, match="cotangent"):
        engine.exact_vjp(PAPER, "paper", x, theta, np.ones(15))


def test_compile_rejects_unsupported_circuits():
    x = ParameterVector("x", 1)
    theta = ParameterVector("theta", 1)
    qc = QuantumCircuit(QuantumRegister(2), ClassicalRegister(1))
    qc.ry(theta[0], 0)
    qc.swap(0, 1)
    qc.measure(0, 0)
    with pytest.raises(ValueError, match="not supported"):
        engine.compile_circuit(qc)
    qc = QuantumCircuit(QuantumRegister(1), ClassicalRegister(1))
    qc.measure(0, 0)
    qc.rz(x[0], 0)
    with pytest.raises(ValueError, match="terminal"):
        engine.compile_circuit(qc)
    qc = QuantumCircuit(QuantumRegister(1), ClassicalRegister(1))
    qc.ry(x[0] * theta[0], 0)
    qc.measure(0, 0)
    with pytest.raises(ValueError, match="linear"):
        engine.compile_circuit(qc)


def test_compiled_program_prunes_the_paper_circuit():
    """Only the last AP's first-layer qubit and the output layer reach a measurement."""
    program = engine.compile_circuit(qnn.build_circuit(PAPER, "paper"))
    assert program.n_circuit_qubits == 8
    assert program.n_qubits == 5
    assert not any(g.name == "cz" for g in program.gates)
    # the three RZ's of the last AP are fused into one with three input terms
    rz = [g for g in program.gates if g.name == "rz"]
    assert len(rz) == 1 and [i for i, _ in rz[0].x_terms] == [9, 10, 11]


def test_input_sensitivity_pattern():
    """Paper: only o_0 depends on x, only on the last AP's angles (equally, as they add);
    reupload: every readout depends on every input."""
    s = engine.input_sensitivity(PAPER, "paper", n_samples=8)
    assert s.shape == (4, 12)
    assert np.all(s[0, 9:] > 1e-3)
    np.testing.assert_allclose(s[0, 9:], s[0, 9], rtol=1e-6)
    mask = np.ones_like(s, dtype=bool)
    mask[0, 9:] = False
    assert np.all(s[mask] < 1e-9)
    r = engine.input_sensitivity(PAPER, "reupload", n_samples=8)
    assert r.shape == (12, 12) and np.all(r > 1e-4)
