"""Tests of cfmimo.hardware: fake IBM backends in qiskit-ibm-runtime's local testing mode.

Everything runs offline. Expected probabilities come from
``qiskit.quantum_info.Statevector`` (independent of the sampler under test); sampled
estimates are compared within a few binomial standard errors.
"""

import json
import logging
import math
import os
import secrets

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import ClassicalRegister, ParameterVector, QuantumRegister
from qiskit.primitives import BitArray
from qiskit.primitives.containers import DataBin
from qiskit.quantum_info import Statevector

from cfmimo import hardware as hw
from cfmimo import qnn
from cfmimo.config import PAPER, SMOKE

BACKEND = "fake_melbourne"


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def stand_in_circuit(n_x=3, n_theta=4):
    """A small QNN-like circuit: ParameterVectors 'x' and 'theta', measured into 'o'.

    Four qubits, three classical bits measuring qubits 1, 3 and 0 (in that clbit order),
    so the clbit order differs from the qubit order.
    """
    x = ParameterVector("x", n_x)
    theta = ParameterVector("theta", n_theta)
    qc = QuantumCircuit(QuantumRegister(4, "q"), ClassicalRegister(3, "o"))
    for i in range(4):
        qc.ry(x[i % n_x], i)
    for i in range(4):
        qc.ry(theta[i], i)
    qc.cx(0, 1)
    qc.cx(2, 3)
    qc.cz(1, 2)
    qc.rz(x[0], 3)
    qc.h(3)
    qc.measure([1, 3, 0], [0, 1, 2])
    return qc


def exact_probabilities(circuit, x, theta):
    """Statevector probabilities over the classical bits, bit 0 least significant."""
    x = np.atleast_2d(x)
    theta = np.broadcast_to(theta, (x.shape[0], len(theta)))
    measured = {}
    body = QuantumCircuit(*circuit.qregs)
    for instr in circuit.data:
        if instr.operation.name == "measure":
            measured[circuit.find_bit(instr.clbits[0]).index] = circuit.find_bit(instr.qubits[0]).index
        else:
            body.append(instr.operation, [body.qubits[circuit.find_bit(q).index] for q in instr.qubits])
    qargs = [measured[c] for c in range(circuit.num_clbits)]
    out = []
    for xi, ti in zip(x, theta):
        binding = {}
        for p in body.parameters:
            binding[p] = (xi if p.vector.name == "x" else ti)[p.index]
        out.append(Statevector(body.assign_parameters(binding)).probabilities(qargs))
    return np.array(out)


def within_shot_noise(estimate, exact, shots, z=5.0):
    """Every estimated probability within ``z`` binomial standard errors of the exact one
    (the variance floored at one count, so that a single count of a rare outcome passes)."""
    se = np.sqrt(np.maximum(exact, 1.0 / shots) * (1 - exact) / shots)
    return np.all(np.abs(estimate - exact) <= z * se + 1e-9)


# ---------------------------------------------------------------------------------------
# backends and their errors
# ---------------------------------------------------------------------------------------


def test_fake_backend_names_sorted_and_filtered():
    names = hw.fake_backend_names(8)
    qubits = [hw.fake_backend_qubits(n) for n in names]
    assert qubits == sorted(qubits) and min(qubits) >= 8
    assert "fake_manila" not in names and "fake_manila" in hw.fake_backend_names(5)
    assert hw.DEFAULT_BACKEND in names
    # the table read from the JSON files agrees with the instantiated backends
    for name in ("fake_melbourne", "fake_guadalupe", "fake_manila"):
        assert hw.get_backend(name).num_qubits == hw.fake_backend_qubits(name)


def test_get_backend_accepts_names_class_names_and_instances():
    backend = hw.get_backend("fake_melbourne")
    assert backend.name == "fake_melbourne"
    assert hw.get_backend("FakeMelbourneV2") is backend
    assert hw.get_backend(backend) is backend


@pytest.mark.parametrize("name", ["fake_nowhere", "FakeNowhereV2"])
def test_unknown_fake_backend_lists_valid_names(name):
    with pytest.raises(ValueError, match="not a known fake backend") as info:
        hw.get_backend(name)
    message = str(info.value)
    assert name in message and "fake_melbourne" in message and "fake_guadalupe" in message


@pytest.mark.parametrize("bad", [None, 3, ""])
def test_backend_must_be_name_or_backend(bad):
    with pytest.raises(ValueError, match="backend must be"):
        hw.get_backend(bad)


def test_too_few_qubits():
    qc = qnn.build_circuit(PAPER, "paper")  # 8 qubits
    with pytest.raises(ValueError, match=r"'fake_manila' has 5 qubits but the circuit needs 8") as info:
        hw.isa_circuit(qc, "fake_manila")
    assert "fake_melbourne" in str(info.value)
    with pytest.raises(ValueError, match="has 5 qubits"):
        hw.backend_probabilities(PAPER, "paper", np.zeros(12), np.zeros(8), 10, 0, backend="fake_manila")


@pytest.mark.parametrize("shots", [0, -5, 1.5, True, 10**8])
def test_bad_shots(shots):
    with pytest.raises(ValueError, match="shots"):
        hw.backend_probabilities(SMOKE, "paper", np.zeros(12), np.zeros(8), shots, 0)


def test_bad_arguments():
    qc = stand_in_circuit()
    with pytest.raises(ValueError, match="optimization_level"):
        hw.isa_circuit(qc, BACKEND, optimization_level=4)
    with pytest.raises(ValueError, match="seed_transpiler"):
        hw.isa_circuit(qc, BACKEND, seed_transpiler=-1)
    with pytest.raises(ValueError, match="circuit must be"):
        hw.isa_circuit("not a circuit", BACKEND)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., n_ap \* n_user = 12\)"):
        hw.backend_probabilities(SMOKE, "paper", np.zeros(5), np.zeros(8), 10, 0)
    with pytest.raises(ValueError, match="theta must have shape"):
        hw.backend_probabilities(SMOKE, "paper", np.zeros(12), np.zeros(3), 10, 0)
    with pytest.raises(ValueError, match="do not broadcast"):
        hw.backend_probabilities(SMOKE, "paper", np.zeros((3, 12)), np.zeros((2, 8)), 10, 0)
    with pytest.raises(ValueError, match="NaN"):
        hw.backend_probabilities(SMOKE, "paper", np.full(12, np.nan), np.zeros(8), 10, 0)
    with pytest.raises(ValueError, match="noise"):
        hw.backend_probabilities(SMOKE, "paper", np.zeros(12), np.zeros(8), 10, 0, noise="yes")
    with pytest.raises(ValueError, match="rng"):
        hw.backend_probabilities(SMOKE, "paper", np.zeros(12), np.zeros(8), 10, rng="seed")
    with pytest.raises(ValueError, match="variant"):
        hw.backend_probabilities(SMOKE, "nope", np.zeros(12), np.zeros(8), 10, 0)


# ---------------------------------------------------------------------------------------
# credentials: never touch ~/.qiskit, never reveal the token
# ---------------------------------------------------------------------------------------


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """No token in the environment and an account file that does not exist."""
    for var in ("QISKIT_IBM_TOKEN", "QISKIT_IBM_INSTANCE", "QISKIT_IBM_CHANNEL", "QISKIT_IBM_URL"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "qiskit-ibm.json"


def test_missing_account_says_what_to_set(no_credentials):
    with pytest.raises(hw.CredentialsError) as info:
        hw.get_backend("ibm_torino", account_file=no_credentials)
    message = str(info.value)
    assert "'ibm_torino'" in message and "QISKIT_IBM_TOKEN" in message and "save_account" in message
    assert isinstance(info.value, RuntimeError)
    assert not no_credentials.exists()  # the check did not create an account file
    # an existing but empty file is no account either
    no_credentials.write_text("{}")
    with pytest.raises(hw.CredentialsError, match="QISKIT_IBM_TOKEN"):
        hw.get_backend("ibm_torino", account_file=no_credentials)
    assert hw.credentials_status(no_credentials) == "none"


def test_missing_account_through_the_run_functions(no_credentials):
    with pytest.raises(hw.CredentialsError, match="QISKIT_IBM_TOKEN"):
        hw.backend_probabilities(
            SMOKE, "paper", np.zeros(12), np.zeros(8), 10, 0, backend="ibm_kingston", account_file=no_credentials
        )


def test_credentials_status(no_credentials, monkeypatch):
    assert hw.credentials_status(no_credentials) == "none"
    marker = "tok" + secrets.token_hex(16)
    no_credentials.write_text(json.dumps({"default-ibm-quantum-platform": {"channel": "ibm_quantum_platform", "token": marker}}))
    status = hw.credentials_status(no_credentials)
    assert status == "saved account" and marker not in status
    monkeypatch.setenv("QISKIT_IBM_TOKEN", marker)
    assert hw.credentials_status(no_credentials) == "environment"


class _LeakyService:
    """Stands in for QiskitRuntimeService: its errors echo the token it was given."""

    fail_on = "init"

    def __init__(self, **kwargs):
        self.token = os.environ["QISKIT_IBM_TOKEN"]
        if self.fail_on == "init":
            raise RuntimeError(f"401 Unauthorized for token {self.token}")

    def backend(self, name):
        raise KeyError(f"no backend {name} for token={self.token}")


@pytest.mark.parametrize("fail_on", ["init", "backend"])
def test_token_never_appears_in_errors_or_logs(no_credentials, monkeypatch, caplog, fail_on):
    import qiskit_ibm_runtime

    marker = "planted" + secrets.token_hex(20)
    monkeypatch.setenv("QISKIT_IBM_TOKEN", marker)
    monkeypatch.setattr(_LeakyService, "fail_on", fail_on)
    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", _LeakyService)
    expected = hw.CredentialsError if fail_on == "init" else ValueError
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(expected) as info:
            hw.get_backend("ibm_torino", account_file=no_credentials)
    text = str(info.value) + repr(info.value.args)
    assert marker not in text and "***" in text
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert marker not in caplog.text
    if fail_on == "backend":
        assert "fake_melbourne" in text  # points to the offline alternative


# ---------------------------------------------------------------------------------------
# transpilation
# ---------------------------------------------------------------------------------------


def test_isa_circuit_uses_native_gates_on_coupled_qubits():
    backend = hw.get_backend(BACKEND)
    qc = qnn.build_circuit(PAPER, "reupload")
    isa = hw.isa_circuit(qc, backend, seed_transpiler=3)
    target = backend.target
    assert isa.num_qubits == backend.num_qubits
    for instr in isa.data:
        name = instr.operation.name
        if name == "barrier":
            continue
        qargs = tuple(isa.find_bit(q).index for q in instr.qubits)
        assert target.instruction_supported(name, qargs), (name, qargs)
    assert {p.name for p in isa.parameters} <= {p.name for p in qc.parameters}
    assert [c.name for c in isa.cregs] == [c.name for c in qc.cregs]
    # seeded: the same seed gives the same circuit
    assert hw.isa_circuit(qc, backend, seed_transpiler=3) == isa


def test_transpile_summary_counts():
    qc = stand_in_circuit()
    rows = hw.transpile_summary(qc, [BACKEND, "fake_guadalupe"])
    assert [r["backend"] for r in rows] == ["logical", BACKEND, "fake_guadalupe"]
    assert rows[0]["two_qubit_count"] == 3 and rows[0]["active_qubits"] == 4 and math.isnan(rows[0]["esp"])
    for row in rows[1:]:
        isa = hw.isa_circuit(qc, row["backend"])
        counts = isa.count_ops()
        assert row["two_qubit_count"] == sum(counts.get(g, 0) for g in ("cx", "cz", "ecr", "swap"))
        assert row["two_qubit_count"] >= 3 and row["depth"] == isa.depth()
        assert 0 < row["esp"] < 1


# ---------------------------------------------------------------------------------------
# counts -> probabilities
# ---------------------------------------------------------------------------------------


def test_counts_to_probabilities_matches_a_plain_loop():
    rng = np.random.default_rng(4)
    # two registers; register "b" holds circuit clbits 0 and 3, "a" holds 1, 2 (added second)
    b, a = ClassicalRegister(2, "b"), ClassicalRegister(2, "a")
    qc = QuantumCircuit(QuantumRegister(1), b, a)
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
    probs = hw.counts_to_probabilities(data, qc)
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
        hw.counts_to_probabilities(data, qc)


# ---------------------------------------------------------------------------------------
# sampling in local testing mode
# ---------------------------------------------------------------------------------------


def test_noiseless_run_matches_statevector():
    qc = stand_in_circuit()
    rng = np.random.default_rng(1)
    x = rng.uniform(0, np.pi, (6, 3))
    theta = rng.uniform(0, 2 * np.pi, 4)
    isa = hw.isa_circuit(qc, BACKEND)
    values, batch = hw.parameter_values(isa, x, theta)
    shots = 20_000
    probs = hw.run_probabilities(isa, values, shots, 7, backend=BACKEND, noise=False)
    assert batch == (6,) and probs.shape == (6, 8)
    assert within_shot_noise(probs, exact_probabilities(qc, x, theta), shots)


def test_parameter_values_columns_follow_circuit_parameters():
    qc = stand_in_circuit()
    x = np.arange(6.0).reshape(2, 3)
    theta = 10 + np.arange(4.0)
    values, batch = hw.parameter_values(qc, x, theta)
    assert batch == (2,)
    for j, p in enumerate(qc.parameters):
        expected = x[:, p.index] if p.vector.name == "x" else np.full(2, theta[p.index])
        np.testing.assert_array_equal(values[:, j], expected)
    with pytest.raises(ValueError, match="x must have 3 entries"):
        hw.parameter_values(qc, np.zeros((2, 4)), theta)


def test_same_seed_same_counts_and_noise_is_on():
    qc = stand_in_circuit()
    isa = hw.isa_circuit(qc, BACKEND)
    values, _ = hw.parameter_values(isa, np.zeros((2, 3)), np.zeros(4))
    # with all angles zero the ideal circuit gives |0..0>, then H on qubit 3 (clbit 1)
    noisy = [hw.run_probabilities(isa, values, 400, 5, backend=BACKEND) for _ in range(2)]
    np.testing.assert_array_equal(noisy[0], noisy[1])
    ideal = [hw.run_probabilities(isa, values, 400, seed, backend=BACKEND, noise=False) for seed in (5, 6)]
    assert not np.array_equal(ideal[0], ideal[1])
    impossible = np.ones(8, bool)
    impossible[[0, 2]] = False  # only clbit 1 may be set without noise
    assert ideal[0][:, impossible].sum() == 0
    assert noisy[0][:, impossible].sum() > 0  # the device's noise model is applied
    gen = np.random.default_rng(9)
    first = hw.run_probabilities(isa, values, 50, gen, backend=BACKEND, noise=False)
    again = hw.run_probabilities(isa, values, 50, np.random.default_rng(9), backend=BACKEND, noise=False)
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("variant", ["paper", "reupload"])
def test_backend_probabilities_of_the_qnn(variant):
    rng = np.random.default_rng(11)
    x = rng.uniform(0, np.pi, (2, 2, 12))
    theta = qnn.init_weights(PAPER, variant, rng)
    shots = 4000
    probs = hw.backend_probabilities(PAPER, variant, x, theta, shots, 3, noise=False)
    n_clbits = qnn.n_clbits(PAPER, variant)
    assert probs.shape == (2, 2, 2**n_clbits)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0)
    assert np.allclose(probs * shots, np.round(probs * shots))
    exact = exact_probabilities(qnn.build_circuit(PAPER, variant), x.reshape(4, 12), theta).reshape(probs.shape)
    assert within_shot_noise(probs, exact, shots)


def test_many_shots_decisions_agree_except_near_a_boundary():
    """Noiseless, 10^4 shots: a decision differs from the exact one only where the
    exact output lies within sampling error of a decoding boundary."""
    rng = np.random.default_rng(12)
    x = rng.uniform(0, np.pi, (40, 12))
    for variant in ("paper", "reupload"):
        theta = qnn.init_weights(PAPER, variant, rng)
        shots = 10_000
        probs = hw.backend_probabilities(PAPER, variant, x, theta, shots, 4, noise=False)
        exact = exact_probabilities(qnn.build_circuit(PAPER, variant), x, theta)
        sampled = qnn.decide_from_probabilities(PAPER, variant, probs)
        truth = qnn.decide_from_probabilities(PAPER, variant, exact)
        differ = np.any(sampled != truth, axis=-1)
        z = hw.boundary_z(PAPER, variant, exact, shots)
        assert np.all(z[differ] < 4.0), (variant, z[differ])
        assert np.mean(differ) < 0.5


def test_backend_decide_shapes():
    from cfmimo.channel import sample_channels

    _, H_hat = sample_channels(PAPER.system, 3, 0)
    theta = qnn.init_weights(PAPER, "reupload", 0)
    a = hw.backend_decide(PAPER, "reupload", theta, H_hat, 200, 1, noise=False)
    assert a.shape == (3, 4) and a.min() >= 0 and a.max() < 3


# ---------------------------------------------------------------------------------------
# distance to the decoding boundary
# ---------------------------------------------------------------------------------------


def _product_distribution(marginals):
    """P(bitstring) for independent bits with P(bit j = 1) = marginals[j]."""
    n = len(marginals)
    probs = np.ones(2**n)
    for i in range(2**n):
        for j, o in enumerate(marginals):
            probs[i] *= o if (i >> j) & 1 else 1 - o
    return probs


def test_boundary_z_paper_closed_form():
    shots = 1000
    o = [0.30, 0.5, 0.9, 0.64]  # boundaries at 1/3 and 2/3
    z = hw.boundary_z(PAPER, "paper", _product_distribution(o), shots)
    per_ap = [abs(v - min((1 / 3, 2 / 3), key=lambda e: abs(v - e))) / math.sqrt(v * (1 - v) / shots) for v in o]
    assert z == pytest.approx(min(per_ap))
    # deterministic outputs cannot flip
    assert hw.boundary_z(PAPER, "paper", _product_distribution([0, 1, 0, 1]), shots) == np.inf


def test_boundary_z_reupload_closed_form():
    cand = qnn.candidate_assignments(4, 3)
    covering = [i for i, a in enumerate(cand) if set(a) == {0, 1, 2}]
    n_clbits = qnn.n_clbits(PAPER, "reupload")
    probs = np.zeros(2**n_clbits)

    def index(a):  # AP m's user code in bits 2m, 2m+1
        return sum(int(u) << (2 * m) for m, u in enumerate(a))

    p1, p2 = 0.40, 0.35
    probs[index(cand[covering[0]])] = p1
    probs[index(cand[covering[1]])] = p2
    probs[index((0, 0, 0, 0))] = 0.25  # not serving every user: ignored by the decoder
    shots = 500
    z = hw.boundary_z(PAPER, "reupload", probs, shots)
    assert z == pytest.approx((p1 - p2) / math.sqrt((p1 + p2 - (p1 - p2) ** 2) / shots))
