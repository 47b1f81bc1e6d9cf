"""Exact batched engine, adjoint gradients and the Aer sampler against Qiskit's
Statevector of the bound circuit."""

import numpy as np
import pytest
from qiskit.circuit import ClassicalRegister, ParameterVector, QuantumCircuit, QuantumRegister
from qiskit.quantum_info import Statevector

from cfmimo import engine, execution, qnn
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
    x = rng.uniform(-np.pi, np.pi, batch + (qnn.n_inputs(config, variant),))
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
        x = rng.uniform(0, np.pi, (3, 1, qnn.n_inputs(PAPER, variant)))
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
        freq = execution.sampler_probabilities(PAPER, variant, x, theta, shots, rng=7)
        assert freq.shape == exact.shape
        np.testing.assert_allclose(freq.sum(axis=-1), 1.0)
        sigma = np.sqrt(exact * (1 - exact) / shots)
        assert np.all(np.abs(freq - exact) <= 5 * sigma + 2.0 / shots)
        again = execution.sampler_probabilities(PAPER, variant, x, theta, shots, rng=7)
        np.testing.assert_array_equal(freq, again)


def test_sampler_broadcasts():
    rng = np.random.default_rng(4)
    x = rng.uniform(0, np.pi, (2, 1, 12))
    theta = rng.uniform(0, 2 * np.pi, (3, 8))
    freq = execution.sampler_probabilities(PAPER, "paper", x, theta, 10, rng=np.random.default_rng(1))
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
        execution.sampler_probabilities(PAPER, "paper", x, theta, 0)
    with pytest.raises(ValueError, match="variant"):
        engine.exact_probabilities(PAPER, "other", x, theta)
    with pytest.raises(ValueError, match="cotangent"):
        engine.exact_vjp(PAPER, "paper", x, theta, np.ones(15))


# ---------------------------------------------------------------------------------------
# the public API on arbitrary circuits (product angles, light cones, memory)
# ---------------------------------------------------------------------------------------


def random_circuit(rng, n, n_in=3, n_w=4, depth=30, measured=None):
    """A random circuit of every supported gate, angles with weight x input products."""
    x = ParameterVector("x", n_in)
    t = ParameterVector("theta", n_w)
    measured = list(range(n)) if measured is None else measured
    qc = QuantumCircuit(n, len(measured))
    for _ in range(depth):
        kind = int(rng.integers(0, 9))
        q = int(rng.integers(n))
        if kind < 5:
            i, j = int(rng.integers(n_in)), int(rng.integers(n_w))
            angle = [
                x[i],
                t[j],
                t[j] * x[i] + t[(j + 1) % n_w],
                0.7 * x[i] - 1.3 * t[j] + 0.2 + 0.5 * t[j] * x[(i + 1) % n_in],
                -2.0 * t[j] * x[i],
            ][int(rng.integers(5))]
            getattr(qc, ["rx", "ry", "rz", "ry", "rz"][kind])(angle, q)
        elif kind == 5:
            getattr(qc, ["h", "x", "y", "z"][int(rng.integers(4))])(q)
        elif n > 1:
            r = int(rng.integers(n - 1))
            r += r >= q
            getattr(qc, ["cx", "cz", "cx"][kind - 6])(q, r)
    for c, q in enumerate(measured):
        qc.measure(q, c)
    return qc


def ring_circuit(n, n_feat=3, n_layer=2, entangler="cz"):
    """One qubit per site: features re-uploaded with trainable input weights, RY/RZ
    weights, a ring of entangling gates per layer, every qubit read."""
    x = ParameterVector("x", n * n_feat)
    t = ParameterVector("theta", n_layer * n * (n_feat + 2))
    qc = QuantumCircuit(n, n)
    qc.h(range(n))
    w = 0
    for _ in range(n_layer):
        for q in range(n):
            for k in range(n_feat):
                (qc.ry if k % 2 == 0 else qc.rz)(t[w] * x[q * n_feat + k], q)
                w += 1
        for q in range(n):
            qc.ry(t[w], q)
            qc.rz(t[w + 1], q)
            w += 2
        for q in range(n):
            getattr(qc, entangler)(q, (q + 1) % n)
    qc.measure(range(n), range(n))
    return qc


def bound_statevector(qc, x, theta):
    values = {p: float(x[p.index] if p.vector.name == "x" else theta[p.index]) for p in qc.parameters}
    return Statevector(qc.assign_parameters(values).remove_final_measurements(inplace=False))


def measured_qubits(qc):
    out = [None] * qc.num_clbits
    for inst in qc.data:
        if inst.operation.name == "measure":
            out[qc.find_bit(inst.clbits[0]).index] = qc.find_bit(inst.qubits[0]).index
    return out


@pytest.mark.parametrize("seed", range(8))
def test_forward_matches_statevector_on_random_circuits(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 6))
    measured = [int(q) for q in rng.permutation(n)[: int(rng.integers(1, n + 1))]]
    qc = random_circuit(rng, n, measured=measured)
    program = engine.compile_circuit(qc)
    assert (program.n_qubits, program.n_inputs, program.n_weights) == (n, 3, 4)
    assert program.measured == tuple(measured)
    x = rng.uniform(-3, 3, (3, 3))
    theta = rng.uniform(-3, 3, (3, 4))
    probs = engine.forward(program, x, theta)
    z = engine.forward(program, x, theta, output="z")
    assert probs.shape == (3, 2 ** len(measured)) and z.shape == (3, len(measured))
    for b in range(3):
        sv = bound_statevector(qc, x[b], theta[b])
        np.testing.assert_allclose(probs[b], sv.probabilities(qargs=measured), atol=1e-10, rtol=0)
        for c, q in enumerate(measured):
            p = sv.probabilities(qargs=[q])
            assert abs(z[b, c] - (p[0] - p[1])) < 1e-10


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("output", engine.OUTPUTS)
def test_jacobian_and_vjp_match_finite_differences(seed, output):
    rng = np.random.default_rng(200 + seed)
    n = int(rng.integers(2, 5))
    qc = random_circuit(rng, n, depth=25)
    program = engine.compile_circuit(qc)
    x = rng.uniform(-3, 3, (3, 3))
    theta = rng.uniform(-3, 3, (3, 4))
    values, jac = engine.jacobian(program, x, theta, output=output)
    assert jac.shape == values.shape + (4,)
    eps = 1e-6
    for j in range(4):
        step = np.zeros(4)
        step[j] = eps
        fd = (engine.forward(program, x, theta + step, output=output) - engine.forward(program, x, theta - step, output=output)) / (2 * eps)
        np.testing.assert_allclose(jac[:, :, j], fd, atol=1e-7)
    w = rng.normal(size=values.shape)
    v2, g = engine.vjp(program, x, theta, w, output=output)
    np.testing.assert_array_equal(v2, values)
    np.testing.assert_allclose(g, np.einsum("bo,boj->bj", w, jac), atol=1e-12)
    # a weight vector shared by the batch: the gradient is summed over the rows
    v3, g3 = engine.vjp(program, x, theta[0], w, output=output)
    _, jac3 = engine.jacobian(program, x, theta[0], output=output)
    assert g3.shape == (4,)
    np.testing.assert_allclose(g3, np.einsum("bo,boj->j", w, jac3), atol=1e-12)
    # a callable cotangent sees the values and gives the same gradient
    seen = []
    v4, g4 = engine.vjp(program, x, theta, lambda v: (seen.append(v.copy()), w)[1], output=output)
    np.testing.assert_array_equal(seen[0], values)
    np.testing.assert_array_equal(g4, g)


def test_product_angle_gradient_is_input_times_cotangent():
    """RY(theta_0 * x_0 + theta_1) on |0>: <Z> = cos(phi), d/dtheta_0 = -sin(phi) x_0."""
    x = ParameterVector("x", 1)
    t = ParameterVector("theta", 2)
    qc = QuantumCircuit(1, 1)
    qc.ry(t[0] * x[0] + t[1], 0)
    qc.measure(0, 0)
    program = engine.compile_circuit(qc)
    xs = np.array([[0.3], [-1.2]])
    theta = np.array([0.8, 0.1])
    z, jac = engine.jacobian(program, xs, theta, output="z")
    phi = theta[0] * xs[:, 0] + theta[1]
    np.testing.assert_allclose(z[:, 0], np.cos(phi), atol=1e-14)
    np.testing.assert_allclose(jac[:, 0, 0], -np.sin(phi) * xs[:, 0], atol=1e-14)
    np.testing.assert_allclose(jac[:, 0, 1], -np.sin(phi), atol=1e-14)


@pytest.mark.parametrize("entangler", ["cz", "cx"])
def test_light_cones_equal_the_full_simulation(entangler):
    qc = ring_circuit(9, n_layer=3, entangler=entangler)
    program = engine.compile_circuit(qc)
    if entangler == "cz":
        # two rings before the last RY/RZ layer reach two qubits per side (the last ring
        # is diagonal before the measurement and drops out)
        assert program.cone_qubits == (5,) * 9
    else:
        assert program.cone_qubits == (9,) * 9  # a CX chain carries every qubit
    rng = np.random.default_rng(5)
    x = rng.uniform(-2, 2, (3, program.n_inputs))
    theta = rng.uniform(-2, 2, program.n_weights)
    z, jac = engine.jacobian(program, x, theta, output="z")
    probs, jac_p = engine.jacobian(program, x, theta)
    signs = 1 - 2 * ((np.arange(2**9)[:, None] >> np.arange(9)) & 1)
    np.testing.assert_allclose(z, probs @ signs, atol=1e-12)
    np.testing.assert_allclose(jac, np.einsum("bcj,cq->bqj", jac_p, signs), atol=1e-12)
    sv = bound_statevector(qc, x[0], theta)
    for q in range(9):
        p = sv.probabilities(qargs=[q])
        assert abs(z[0, q] - (p[0] - p[1])) < 1e-10


def test_a_local_circuit_beyond_memory_runs_by_light_cones():
    """48 qubits: the full state (4 PiB) is refused with its size, <Z> by cones works."""
    qc = ring_circuit(48, n_feat=1, n_layer=2)
    program = engine.compile_circuit(qc)
    assert program.n_simulated == 48 and max(program.cone_qubits) == 3
    rng = np.random.default_rng(6)
    x = rng.uniform(-1, 1, (2, program.n_inputs))
    theta = rng.uniform(-1, 1, program.n_weights)
    with pytest.raises(ValueError, match=r"48 qubits needs [\d,]+ bytes"):
        engine.forward(program, x, theta)
    z, jac = engine.jacobian(program, x, theta, output="z")
    assert z.shape == (2, 48) and jac.shape == (2, 48, program.n_weights)
    # a small cut of the same ring checked against Statevector
    small = engine.compile_circuit(ring_circuit(6, n_feat=1, n_layer=2))
    xs = x[:, :6]
    ts = np.concatenate([theta[:6], theta[48:60], theta[144:150], theta[192:204]])
    z_small = engine.forward(small, xs, ts, output="z")
    # qubits 2 and 3 of the 6-ring see the same cone as qubits 2, 3 of the 48-ring
    np.testing.assert_allclose(z_small[:, 2:4], z[:, 2:4], atol=1e-12)


def test_memory_budget_chunks_without_changing_a_bit():
    rng = np.random.default_rng(7)
    qc = random_circuit(rng, 5, depth=40)
    program = engine.compile_circuit(qc)
    x = rng.uniform(-3, 3, (37, 3))
    theta = rng.uniform(-3, 3, (37, 4))
    for output in engine.OUTPUTS:
        v, j = engine.jacobian(program, x, theta, output=output)
        v_small, j_small = engine.jacobian(program, x, theta, output=output, memory_budget=100_000)
        np.testing.assert_array_equal(v, v_small)
        np.testing.assert_array_equal(j, j_small)
    with pytest.raises(ValueError, match="memory_budget"):
        engine.forward(program, x, theta, memory_budget=0)
    with pytest.raises(ValueError, match=r"5 qubits needs [\d,]+ bytes"):
        engine.forward(program, x, theta, memory_budget=100)


def test_same_call_same_bits_and_rows_independent_of_the_batch():
    rng = np.random.default_rng(8)
    program = engine.compile_circuit(random_circuit(rng, 4, depth=40))
    x = rng.uniform(-3, 3, (11, 3))
    theta = rng.uniform(-3, 3, 4)
    for output in engine.OUTPUTS:
        first = engine.jacobian(program, x, theta, output=output)
        again = engine.jacobian(program, x, theta, output=output)
        np.testing.assert_array_equal(first[0], again[0])
        np.testing.assert_array_equal(first[1], again[1])
        single = engine.jacobian(program, x[4], theta, output=output)
        np.testing.assert_array_equal(single[0], first[0][4])
        np.testing.assert_array_equal(single[1], first[1][4])


@pytest.mark.parametrize(
    "make_angle",
    [
        lambda x, t: x[0] * x[0],
        lambda x, t: t[0] * t[1],
        lambda x, t: t[0] * x[0] * x[0],
        lambda x, t: x[0].sin(),
    ],
)
def test_compile_rejects_angles_beyond_weight_times_input(make_angle):
    x = ParameterVector("x", 1)
    t = ParameterVector("theta", 2)
    qc = QuantumCircuit(2, 1)
    qc.h(0)
    qc.ry(make_angle(x, t), 1)
    qc.measure(1, 0)
    with pytest.raises(ValueError, match=r"gate 1 \(ry on qubit 1\): angle .* not of the supported form"):
        engine.compile_circuit(qc)


def test_compile_rejects_unsupported_circuits():
    x = ParameterVector("x", 1)
    theta = ParameterVector("theta", 1)
    qc = QuantumCircuit(QuantumRegister(2), ClassicalRegister(1))
    qc.ry(theta[0], 0)
    qc.swap(0, 1)
    qc.measure(0, 0)
    with pytest.raises(ValueError, match="'swap' is not supported"):
        engine.compile_circuit(qc)
    qc = QuantumCircuit(QuantumRegister(1), ClassicalRegister(1))
    qc.measure(0, 0)
    qc.rz(x[0], 0)
    with pytest.raises(ValueError, match="terminal"):
        engine.compile_circuit(qc)
    other = ParameterVector("w", 1)
    qc = QuantumCircuit(QuantumRegister(1), ClassicalRegister(1))
    qc.ry(other[0], 0)
    qc.measure(0, 0)
    with pytest.raises(ValueError, match="neither in ParameterVector 'x' nor 'theta'"):
        engine.compile_circuit(qc)


def test_public_api_bad_inputs():
    rng = np.random.default_rng(9)
    program = engine.compile_circuit(random_circuit(rng, 3))
    x, theta = np.zeros((2, 3)), np.zeros(4)
    with pytest.raises(ValueError, match="x must be real"):
        engine.forward(program, x + 1j, theta)
    with pytest.raises(ValueError, match="theta must be real"):
        engine.forward(program, x, theta + 0j)
    with pytest.raises(ValueError, match="empty batch"):
        engine.forward(program, np.zeros((0, 3)), theta)
    with pytest.raises(ValueError, match="x has 2 batch rows and theta 3"):
        engine.forward(program, x, np.zeros((3, 4)))
    with pytest.raises(ValueError, match="output = 'zz' is unknown"):
        engine.forward(program, x, theta, output="zz")
    with pytest.raises(ValueError, match="cotangent must have the shape"):
        engine.vjp(program, x, theta, np.zeros((2, 2)), output="z")
    with pytest.raises(TypeError, match="program must be"):
        engine.forward("circuit", x, theta)
    with pytest.raises(ValueError, match="x must be real"):
        engine.exact_outputs(PAPER, "paper", np.zeros(12) + 0.5j, np.zeros(8))
    with pytest.raises(ValueError, match="empty batch"):
        engine.exact_outputs(PAPER, "paper", np.zeros((0, 12)), np.zeros(8))


def test_program_for_is_cached_and_matches_the_circuit():
    for variant in qnn.VARIANTS:
        program = engine.program_for(PAPER, variant)
        assert program is engine.program_for(PAPER, variant)
        assert program.n_qubits == qnn.n_qubits(PAPER, variant)
        assert program.n_inputs == qnn.n_inputs(PAPER, variant)
        assert program.n_weights == qnn.n_weights(PAPER, variant)
        assert program.n_measured == qnn.n_clbits(PAPER, variant)
