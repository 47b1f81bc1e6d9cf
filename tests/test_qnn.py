"""QNN circuits, input encoding and decoders (cfmimo.qnn), checked against Qiskit's
Statevector, closed forms and plain loops."""

import math

import numpy as np
import pytest
from qiskit.quantum_info import Statevector

from cfmimo import channel, engine, qnn
from cfmimo.config import PAPER, SMOKE, with_overrides


def bind(circuit, x, theta):
    """Bind by ParameterVector name (independent of the engine's compiler)."""
    values = {}
    for p in circuit.parameters:
        values[p] = float(x[p.index] if p.vector.name == "x" else theta[p.index])
    return circuit.assign_parameters(values)


def measured_qubits(circuit):
    out = [None] * circuit.num_clbits
    for inst in circuit.data:
        if inst.operation.name == "measure":
            out[circuit.find_bit(inst.clbits[0]).index] = circuit.find_bit(inst.qubits[0]).index
    return out


def statevector_probs(config, variant, x, theta):
    qc = qnn.build_circuit(config, variant)
    bare = bind(qc, x, theta).remove_final_measurements(inplace=False)
    return Statevector(bare).probabilities(qargs=measured_qubits(qc))


def bit_one(probs, bit):
    """P(bit = 1) by a plain loop over bitstrings."""
    return sum(p for i, p in enumerate(probs) if (i >> bit) & 1)


# --------------------------------------------------------------------------- structure


def test_parameters_and_sizes_paper():
    qc = qnn.build_circuit(PAPER, "paper")
    names = {p.vector.name for p in qc.parameters}
    assert names == {"x", "theta"}
    assert sum(p.vector.name == "x" for p in qc.parameters) == 12 == qnn.n_inputs(PAPER)
    assert sum(p.vector.name == "theta" for p in qc.parameters) == 8 == qnn.n_weights(PAPER, "paper")
    assert qc.num_qubits == 8 == qnn.n_qubits(PAPER, "paper")
    assert qc.num_clbits == 4 == qnn.n_clbits(PAPER, "paper")
    ops = qc.count_ops()
    # Eq. (14): one H per AP, one RZ per link; Eq. (15): one RY per qubit, N_layer - 1 CX,
    # (N_layer - 1)(N_neuron - 1) CZ
    assert (ops["h"], ops["rz"], ops["ry"], ops["cx"], ops["cz"], ops["measure"]) == (4, 12, 8, 1, 3, 4)
    # classical bit m reads the last layer's neuron m
    assert measured_qubits(qc) == [4, 5, 6, 7]


def test_paper_structure_other_sizes():
    cfg = with_overrides(PAPER, n_layer=3, n_neuron=5, n_ap=3, n_user=2)
    qc = qnn.build_circuit(cfg, "paper")
    assert qc.num_qubits == 15
    ops = qc.count_ops()
    assert (ops["h"], ops["rz"], ops["ry"], ops["cx"], ops["cz"]) == (3, 6, 15, 2, 8)
    assert measured_qubits(qc) == [10, 11, 12]


def test_reupload_sizes():
    qc = qnn.build_circuit(PAPER, "reupload")
    assert qnn.bits_per_ap(3) == 2 and qnn.bits_per_ap(2) == 1 and qnn.bits_per_ap(1) == 1 and qnn.bits_per_ap(5) == 3
    assert qc.num_qubits == 8 == qc.num_clbits
    assert qnn.n_weights(PAPER, "reupload") == (2 * 2 + 1) * 8
    assert sum(p.vector.name == "theta" for p in qc.parameters) == 40
    assert sum(p.vector.name == "x" for p in qc.parameters) == 12


def test_bad_arguments():
    with pytest.raises(ValueError, match="variant"):
        qnn.build_circuit(PAPER, "nope")
    with pytest.raises(ValueError, match="n_neuron"):
        qnn.build_circuit(with_overrides(PAPER, n_neuron=3), "paper")
    with pytest.raises(ValueError, match="config"):
        qnn.build_circuit("paper", "paper")
    with pytest.raises(ValueError, match="n_layer"):
        with_overrides(PAPER, n_layer=0)


# ------------------------------------------------------------- paper variant semantics


def test_paper_outputs_closed_form():
    """N_layer = 2: o_0 = p3 (1 - p4) + (1 - p3) p4 with p3 from the last AP's qubit,
    o_m = sin^2(theta_{1,m}/2) for m >= 1 (the literal circuit's consequences)."""
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = rng.uniform(0, np.pi, 12)
        theta = rng.uniform(0, 2 * np.pi, 8)
        probs = statevector_probs(PAPER, "paper", x, theta)
        o = [bit_one(probs, m) for m in range(4)]
        s = x[9:12].sum()  # RZ's of AP 3 add up
        p3 = (1 + math.cos(s) * math.sin(theta[3])) / 2
        p4 = math.sin(theta[4] / 2) ** 2
        assert o[0] == pytest.approx(p3 * (1 - p4) + (1 - p3) * p4, abs=1e-12)
        for m in range(1, 4):
            assert o[m] == pytest.approx(math.sin(theta[4 + m] / 2) ** 2, abs=1e-12)


def test_paper_input_dependence():
    """Only o_0 moves, and only with the last AP's angle sum."""
    rng = np.random.default_rng(2)
    theta = rng.uniform(0, 2 * np.pi, 8)
    x = rng.uniform(0, np.pi, 12)
    base = qnn.outputs_from_probabilities(PAPER, "paper", statevector_probs(PAPER, "paper", x, theta))
    x_first = x.copy()
    x_first[:9] = rng.uniform(0, np.pi, 9)  # APs 0..2 change
    same = qnn.outputs_from_probabilities(PAPER, "paper", statevector_probs(PAPER, "paper", x_first, theta))
    np.testing.assert_allclose(same, base, atol=1e-12)
    x_perm = x.copy()
    x_perm[9:12] = [x[11] + 0.3, x[9] - 0.3, x[10]]  # same sum for AP 3
    same = qnn.outputs_from_probabilities(PAPER, "paper", statevector_probs(PAPER, "paper", x_perm, theta))
    np.testing.assert_allclose(same, base, atol=1e-12)
    x_last = x.copy()
    x_last[10] += 0.7
    moved = qnn.outputs_from_probabilities(PAPER, "paper", statevector_probs(PAPER, "paper", x_last, theta))
    assert abs(moved[0] - base[0]) > 1e-4
    np.testing.assert_allclose(moved[1:], base[1:], atol=1e-12)


def test_paper_three_layers_ignores_input():
    cfg = with_overrides(PAPER, n_layer=3)
    rng = np.random.default_rng(3)
    theta = rng.uniform(0, 2 * np.pi, 12)
    p1 = statevector_probs(cfg, "paper", rng.uniform(0, np.pi, 12), theta)
    p2 = statevector_probs(cfg, "paper", rng.uniform(0, np.pi, 12), theta)
    np.testing.assert_allclose(p1, p2, atol=1e-12)


def test_reupload_every_output_depends_on_every_input():
    rng = np.random.default_rng(4)
    theta = qnn.init_weights(PAPER, "reupload", rng) + rng.normal(0, 0.5, 40)
    x = rng.uniform(0, np.pi, 12)
    base = statevector_probs(PAPER, "reupload", x, theta)
    base_bits = np.array([bit_one(base, i) for i in range(8)])
    for i in range(12):
        xi = x.copy()
        xi[i] += 0.05
        p = statevector_probs(PAPER, "reupload", xi, theta)
        bits = np.array([bit_one(p, j) for j in range(8)])
        assert np.all(np.abs(bits - base_bits) > 1e-7), (i, bits - base_bits)


# --------------------------------------------------------------------------- encoding


def test_encode_angles_closed_form_and_properties():
    rng = np.random.default_rng(5)
    H, H_hat = channel.sample_channels(PAPER.system, 7, rng)
    x = qnn.encode_angles(H_hat)
    assert x.shape == (7, 12)
    # independent computation, sample by sample
    for i in range(7):
        g = np.array([[np.vdot(H_hat[i, m, k], H_hat[i, m, k]).real for k in range(3)] for m in range(4)]).ravel()
        gbar = math.exp(np.mean(np.log(g)))
        np.testing.assert_allclose(x[i], np.pi * g / (g + gbar), rtol=1e-12)
    assert np.all((x > 0) & (x < np.pi))
    # scale-free: a common factor (and a common phase) changes nothing
    np.testing.assert_allclose(qnn.encode_angles(3.7j * H_hat), x, rtol=1e-12)
    # increasing in each link's gain
    bigger = H_hat.copy()
    bigger[:, 1, 2] *= 2.0
    assert np.all(qnn.encode_angles(bigger)[:, 5] > x[:, 5])
    # the per-AP sum is not constant (the paper circuit sees only this sum)
    sums = x.reshape(7, 4, 3).sum(axis=-1)
    assert np.ptp(sums) > 0.1


def test_encode_angles_edge_cases():
    H = np.zeros((2, 3, 2), dtype=complex)
    np.testing.assert_allclose(qnn.encode_angles(H), np.full(6, np.pi / 2))
    H[0, 0] = [1, 0]
    H[1, 2] = [0, 2j]
    x = qnn.encode_angles(H)
    assert x[1] == 0.0 and x[0] > 0
    with pytest.raises(ValueError, match="NaN"):
        qnn.encode_angles(np.full((2, 3, 2), np.nan))
    with pytest.raises(ValueError, match="shape"):
        qnn.encode_angles(np.ones((3, 2)))


# --------------------------------------------------------------------------- decoding


def test_decode_assignment():
    o = np.array([[0.0, 0.33, 0.34, 0.999], [1.0, 0.5, 0.66, 0.67]])
    expected = np.array([[0, 0, 1, 2], [2, 1, 1, 2]])  # floor(3 o), 3 -> 2
    np.testing.assert_array_equal(qnn.decode_assignment(o, 3), expected)
    for bad in (np.array([0.2, 1.2]), np.array([np.nan, 0.1])):
        with pytest.raises(ValueError, match="o "):
            qnn.decode_assignment(bad, 3)
    with pytest.raises(ValueError, match="n_user"):
        qnn.decode_assignment(np.array([0.2]), 0)


def test_outputs_from_probabilities_paper_loop():
    rng = np.random.default_rng(6)
    probs = rng.dirichlet(np.ones(16), size=(3, 2))
    o = qnn.outputs_from_probabilities(PAPER, "paper", probs)
    assert o.shape == (3, 2, 4)
    for idx in np.ndindex(3, 2):
        for m in range(4):
            assert o[idx][m] == pytest.approx(bit_one(probs[idx], m), abs=1e-15)
    a = qnn.decide_from_probabilities(PAPER, "paper", probs)
    np.testing.assert_array_equal(a, qnn.decode_assignment(o, 3))


def test_reupload_decoder_prefers_covering():
    n_codes = 256
    cand = qnn.candidate_assignments(4, 3)

    def code(a):
        return sum(int(u) << (2 * m) for m, u in enumerate(a))

    probs = np.full(n_codes, 0.0)
    probs[code([0, 0, 0, 0])] = 0.4  # most probable but leaves users 1, 2 unserved
    probs[code([2, 1, 0, 0])] = 0.3  # the most probable covering assignment
    probs[code([1, 2, 0, 1])] = 0.2
    probs[0b11111111] = 0.1  # invalid codes
    np.testing.assert_array_equal(qnn.decide_from_probabilities(PAPER, "reupload", probs), [2, 1, 0, 0])
    joint = qnn.assignment_probabilities(PAPER, "reupload", probs)
    assert joint.shape == (81,)
    assert joint.sum() == pytest.approx(0.9)
    assert joint[qnn.assignment_index(np.array([2, 1, 0, 0]), 3)] == 0.3
    np.testing.assert_array_equal(cand[qnn.assignment_index(cand, 3)], cand)
    out = qnn.outputs_from_probabilities(PAPER, "reupload", probs)
    assert out.shape == (4, 3)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0)
    # AP 0: code 0 w.p. 0.4, code 2 w.p. 0.3, code 1 w.p. 0.2 (0.1 invalid)
    np.testing.assert_allclose(out[0], np.array([0.4, 0.2, 0.3]) / 0.9)


def test_probability_validation():
    with pytest.raises(ValueError, match="2\\*\\*n_clbits"):
        qnn.outputs_from_probabilities(PAPER, "paper", np.ones(8) / 8)
    with pytest.raises(ValueError, match="NaN"):
        qnn.decide_from_probabilities(PAPER, "reupload", np.full(256, np.nan))
    with pytest.raises(ValueError, match="reupload"):
        qnn.assignment_probabilities(PAPER, "paper", np.ones(16) / 16)


def test_init_weights_deterministic():
    for variant in qnn.VARIANTS:
        w1 = qnn.init_weights(SMOKE, variant, 11)
        w2 = qnn.init_weights(SMOKE, variant, np.random.default_rng(11))
        np.testing.assert_array_equal(w1, w2)
        assert w1.shape == (qnn.n_weights(SMOKE, variant),)
    w = qnn.init_weights(PAPER, "paper", 0)
    assert np.all((w >= 0) & (w < 2 * np.pi))


def test_decide_matches_engine_readout():
    rng = np.random.default_rng(8)
    x = rng.uniform(0, np.pi, (5, 12))
    theta = rng.uniform(0, 2 * np.pi, 8)
    o = engine.exact_outputs(PAPER, "paper", x, theta)
    np.testing.assert_array_equal(
        qnn.decide_from_probabilities(PAPER, "paper", engine.exact_probabilities(PAPER, "paper", x, theta)),
        np.clip(np.floor(o * 3), 0, 2),
    )
