"""Tests of cfmimo.circuit_io: the one broadcaster, binder, seed rule and bit decoder that
the exact engine, the Aer sampler and the IBM backends share.

The agreement tests run the same inputs through the engine (cfmimo.engine) and through
the samplers (Aer's SamplerV2 and cfmimo.execution on a fake backend) and compare outcome
by outcome; the references are Statevector and plain loops, never the code under test.
"""

import numpy as np
import pytest
from circuit_reference import exact_probabilities, stand_in_circuit, within_shot_noise
from qiskit import QuantumCircuit
from qiskit.circuit import ClassicalRegister, ParameterVector, QuantumRegister
from qiskit.primitives import BitArray
from qiskit.primitives.containers import DataBin
from qiskit_aer.primitives import SamplerV2

from cfmimo import circuit_io, engine, execution, qnn
from cfmimo.config import PAPER

# ---------------------------------------------------------------------------------------
# bit decoder
# ---------------------------------------------------------------------------------------


def test_counts_to_probabilities_matches_a_plain_loop():
    rng = np.random.default_rng(4)
    # two registers; register "b" holds circuit clbits 0 and 3, "a" holds 1, 2 (added second)
    b, a = ClassicalRegister(2, "b"), ClassicalRegister(2, "a")
    order = [b[0], a[0], a[1], b[1]]  # circuit clbit indices 0..3 in this order
    qc = QuantumCircuit(QuantumRegister(1))
    qc.add_bits(order)
    qc.add_register(b)
    qc.add_register(a)
    shape, shots = (2, 3), 50
    samples = rng.integers(0, 2, size=shape + (shots, 4)).astype(bool)  # [..., clbit index]
    pos_b = [qc.find_bit(bit).index for bit in b]
    pos_a = [qc.find_bit(bit).index for bit in a]
    data = DataBin(
        b=BitArray.from_bool_array(samples[..., pos_b], order="little"),
        a=BitArray.from_bool_array(samples[..., pos_a], order="little"),
        shape=shape,
    )
    probs = circuit_io.counts_to_probabilities(data, qc)
    expected = np.zeros(shape + (16,))
    for idx in np.ndindex(*shape):
        for s in range(shots):
            value = sum(int(samples[idx + (s, j)]) << j for j in range(4))
            expected[idx + (value,)] += 1.0 / shots
    np.testing.assert_allclose(probs, expected)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0)


def test_counts_to_probabilities_errors():
    qc = stand_in_circuit()
    data = DataBin(other=BitArray.from_bool_array(np.zeros((2, 3), bool)), shape=())
    with pytest.raises(ValueError, match="no data for classical register 'o'"):
        circuit_io.counts_to_probabilities(data, qc)
    with pytest.raises(ValueError, match="classical bits"):
        circuit_io.counts_to_probabilities(data, QuantumCircuit(1))


def basis_state_circuit():
    """Qubit q is flipped when x[q] = pi and measured into a clbit of one of two
    registers, in a scrambled order: a deterministic outcome whose index tests the
    decoder's bit order."""
    x = ParameterVector("x", 5)
    theta = ParameterVector("theta", 1)
    r1, r2 = ClassicalRegister(3, "r1"), ClassicalRegister(2, "r2")
    qc = QuantumCircuit(QuantumRegister(5, "q"), r1, r2)
    for q in range(5):
        qc.ry(x[q] + 0 * theta[0], q)
    qc.measure([0, 1, 2, 3, 4], [r2[1], r1[0], r2[0], r1[2], r1[1]])
    return qc


def test_engine_and_sampler_decoders_give_the_same_outcome_index():
    qc = basis_state_circuit()
    rng = np.random.default_rng(2)
    flips = rng.integers(0, 2, size=(6, 5))
    x = np.pi * flips
    theta = np.zeros(1)
    exact = engine.forward(engine.compile_circuit(qc), x, np.broadcast_to(theta, (6, 1)))
    values, batch = circuit_io.parameter_values(qc, x, theta)
    result = SamplerV2(seed=3).run([(qc, values, 8)]).result()
    sampled = circuit_io.counts_to_probabilities(result[0].data, qc)
    # the reference index: clbit j holds the qubit measured into it
    clbit_of_qubit = [qc.find_bit(bit).index for bit in (qc.cregs[1][1], qc.cregs[0][0], qc.cregs[1][0], qc.cregs[0][2], qc.cregs[0][1])]
    expected = [sum(int(f[q]) << clbit_of_qubit[q] for q in range(5)) for f in flips]
    assert batch == (6,)
    np.testing.assert_array_equal(np.argmax(exact, axis=-1), expected)
    np.testing.assert_array_equal(np.argmax(sampled, axis=-1), expected)
    np.testing.assert_array_equal(sampled.max(axis=-1), 1.0)


def test_engine_sampler_and_backend_estimate_the_engines_distribution():
    """The three runners bind, broadcast and decode alike: x (2, 1, n) against theta
    (3, n_w) gives a (2, 3) batch, and every sampled row is within shot noise of the same
    row of the exact engine."""
    rng = np.random.default_rng(5)
    x = rng.uniform(0, np.pi, (2, 1, 12))
    theta = rng.uniform(0, 2 * np.pi, (3, 8))
    exact = engine.exact_probabilities(PAPER, "paper", x, theta)
    shots = 4000
    aer = execution.sampler_probabilities(PAPER, "paper", x, theta, shots, rng=1)
    ibm = execution.backend_probabilities(PAPER, "paper", x, theta, shots, 1, noise=False)
    reference = exact_probabilities(qnn.build_circuit(PAPER, "paper"), np.broadcast_to(x, (2, 3, 12)).reshape(6, 12),
                                    np.broadcast_to(theta, (2, 3, 8)).reshape(6, 8)[0])
    assert exact.shape == aer.shape == ibm.shape == (2, 3, 16)
    np.testing.assert_allclose(exact[:, 0], reference[[0, 3]], atol=1e-10)  # theta row 0
    assert within_shot_noise(aer, exact, shots) and within_shot_noise(ibm, exact, shots)


# ---------------------------------------------------------------------------------------
# broadcaster and binder
# ---------------------------------------------------------------------------------------


def test_parameter_values_columns_follow_circuit_parameters():
    qc = stand_in_circuit()
    x = np.arange(6.0).reshape(2, 3)
    theta = 10 + np.arange(4.0)
    values, batch = circuit_io.parameter_values(qc, x, theta)
    assert batch == (2,)
    for j, p in enumerate(qc.parameters):
        expected = x[:, p.index] if p.vector.name == "x" else np.full(2, theta[p.index])
        np.testing.assert_array_equal(values[:, j], expected)
    with pytest.raises(ValueError, match="x must have 3 entries"):
        circuit_io.parameter_values(qc, np.zeros((2, 4)), theta)


def test_broadcast_batch_rows_follow_numpy_broadcasting():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 1, 3))
    theta = rng.normal(size=(4, 5))
    lead, xf, tf = circuit_io.broadcast_batch(x, theta, 3, 5)
    assert lead == (2, 4) and xf.shape == (8, 3) and tf.shape == (8, 5)
    for i, (a, b) in enumerate(np.ndindex(2, 4)):
        np.testing.assert_array_equal(xf[i], x[a, 0])
        np.testing.assert_array_equal(tf[i], theta[b])
    # a 1-D theta stays shared (the engine's fast path)
    _, _, shared = circuit_io.broadcast_batch(x, theta[0], 3, 5)
    assert shared.shape == (5,)


@pytest.mark.parametrize(
    "x, theta, match",
    [
        (np.zeros((2, 3)), np.zeros((3, 5)), "do not broadcast"),
        (np.zeros((0, 3)), np.zeros(5), "empty batch"),
        (np.zeros(4), np.zeros(5), r"x must have shape \(\.\.\., n_inputs = 3\)"),
        (np.zeros(3), np.zeros(6), r"theta must have shape \(\.\.\., n_weights = 5\)"),
        (np.full(3, np.nan), np.zeros(5), "NaN"),
        (np.zeros(3, complex), np.zeros(5), "real"),
        (np.array(["a", "b", "c"]), np.zeros(5), "numeric"),
    ],
)
def test_broadcast_batch_errors(x, theta, match):
    with pytest.raises(ValueError, match=match):
        circuit_io.broadcast_batch(x, theta, 3, 5)


# ---------------------------------------------------------------------------------------
# seed rule
# ---------------------------------------------------------------------------------------


def test_simulator_seed_rule():
    assert circuit_io.simulator_seed(7) == 7
    assert circuit_io.simulator_seed(np.int64(2**40)) == 2**40
    assert circuit_io.simulator_seed(circuit_io.MAX_SEED) == 2**63 - 1
    gen, twin = np.random.default_rng(9), np.random.default_rng(9)
    first = circuit_io.simulator_seed(gen)
    assert first == int(twin.integers(0, 2**31 - 1))  # one draw below 2**31 - 1
    assert circuit_io.simulator_seed(gen) == int(twin.integers(0, 2**31 - 1))  # and it advances
    assert 0 <= circuit_io.simulator_seed(None) < 2**31 - 1


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (2**63, ValueError), ("seed", TypeError), (True, TypeError), (1.5, TypeError)])
def test_simulator_seed_refuses(bad, error):
    with pytest.raises(error, match="rng"):
        circuit_io.simulator_seed(bad)


def test_engine_sampler_and_backends_seed_by_the_one_rule(monkeypatch):
    """Both samplers of cfmimo.execution take their seed from circuit_io.simulator_seed:
    with a patched rule that always returns 11, any rng gives the counts of seed 11."""
    assert execution.simulator_seed is circuit_io.simulator_seed
    rng = np.random.default_rng(8)
    x = rng.uniform(0, np.pi, (3, 12))
    theta = rng.uniform(0, 2 * np.pi, 8)
    aer_11 = execution.sampler_probabilities(PAPER, "paper", x, theta, 50, rng=11)
    ibm_11 = execution.backend_probabilities(PAPER, "paper", x, theta, 50, 11, noise=False)
    calls = []

    def rule(rng):
        calls.append(rng)
        return 11

    monkeypatch.setattr(circuit_io, "simulator_seed", rule)
    monkeypatch.setattr(execution, "simulator_seed", rule)
    np.testing.assert_array_equal(execution.sampler_probabilities(PAPER, "paper", x, theta, 50, rng=12345), aer_11)
    np.testing.assert_array_equal(execution.backend_probabilities(PAPER, "paper", x, theta, 50, 999, noise=False), ibm_11)
    assert calls == [12345, 999]
