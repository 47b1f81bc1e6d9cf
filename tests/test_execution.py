"""Tests of cfmimo.execution: the QNN transpiled for IBM fake backends and sampled in
qiskit-ibm-runtime's local testing mode.

Everything runs offline. Expected probabilities come from
``qiskit.quantum_info.Statevector`` (independent of the sampler under test); sampled
estimates are compared within a few binomial standard errors.
"""

import math

import numpy as np
import pytest
from circuit_reference import exact_probabilities, stand_in_circuit, within_shot_noise

from cfmimo import backends, engine, execution, noise_study, qnn
from cfmimo.channel import sample_channels
from cfmimo.circuit_io import parameter_values
from cfmimo.config import PAPER, SMOKE

BACKEND = "fake_melbourne"

# ---------------------------------------------------------------------------------------
# arguments
# ---------------------------------------------------------------------------------------


def test_too_few_qubits():
    qc = qnn.build_circuit(PAPER, "paper")  # 8 qubits
    with pytest.raises(ValueError, match=r"'fake_manila' has 5 qubits but the circuit needs 8") as info:
        execution.isa_circuit(qc, "fake_manila")
    assert "fake_melbourne" in str(info.value)
    with pytest.raises(ValueError, match="has 5 qubits"):
        execution.backend_probabilities(PAPER, "paper", np.zeros(12), np.zeros(8), 10, 0, backend="fake_manila")


@pytest.mark.parametrize("shots", [0, -5, 1.5, True, 10**8])
def test_bad_shots(shots):
    with pytest.raises(ValueError, match="shots"):
        execution.backend_probabilities(SMOKE, "paper", np.zeros(12), np.zeros(8), shots, 0)


def test_bad_arguments():
    qc = stand_in_circuit()
    with pytest.raises(ValueError, match="optimization_level"):
        execution.isa_circuit(qc, BACKEND, optimization_level=4)
    with pytest.raises(ValueError, match="seed_transpiler"):
        execution.isa_circuit(qc, BACKEND, seed_transpiler=-1)
    with pytest.raises(ValueError, match="circuit must be"):
        execution.isa_circuit("not a circuit", BACKEND)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., n_ap \* n_user = 12\)"):
        execution.backend_probabilities(SMOKE, "paper", np.zeros(5), np.zeros(8), 10, 0)
    with pytest.raises(ValueError, match="theta must have shape"):
        execution.backend_probabilities(SMOKE, "paper", np.zeros(12), np.zeros(3), 10, 0)
    with pytest.raises(ValueError, match="do not broadcast"):
        execution.backend_probabilities(SMOKE, "paper", np.zeros((3, 12)), np.zeros((2, 8)), 10, 0)
    with pytest.raises(ValueError, match="NaN"):
        execution.backend_probabilities(SMOKE, "paper", np.full(12, np.nan), np.zeros(8), 10, 0)
    with pytest.raises(ValueError, match="noise"):
        execution.backend_probabilities(SMOKE, "paper", np.zeros(12), np.zeros(8), 10, 0, noise="yes")
    with pytest.raises(TypeError, match="rng"):
        execution.backend_probabilities(SMOKE, "paper", np.zeros(12), np.zeros(8), 10, rng="seed")
    with pytest.raises(ValueError, match="variant"):
        execution.backend_probabilities(SMOKE, "nope", np.zeros(12), np.zeros(8), 10, 0)


def test_missing_account_through_the_run_functions(no_credentials):
    with pytest.raises(backends.CredentialsError, match="QISKIT_IBM_TOKEN"):
        execution.backend_probabilities(
            SMOKE, "paper", np.zeros(12), np.zeros(8), 10, 0, backend="ibm_kingston", account_file=no_credentials
        )


# ---------------------------------------------------------------------------------------
# transpilation
# ---------------------------------------------------------------------------------------


def test_isa_circuit_uses_native_gates_on_coupled_qubits():
    backend = backends.get_backend(BACKEND)
    qc = qnn.build_circuit(PAPER, "reupload")
    isa = execution.isa_circuit(qc, backend, seed_transpiler=3)
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
    assert execution.isa_circuit(qc, backend, seed_transpiler=3) == isa


def test_transpile_summary_counts():
    qc = stand_in_circuit()
    rows = execution.transpile_summary(qc, [BACKEND, "fake_guadalupe"])
    assert [r["backend"] for r in rows] == ["logical", BACKEND, "fake_guadalupe"]
    assert rows[0]["two_qubit_count"] == 3 and rows[0]["active_qubits"] == 4 and math.isnan(rows[0]["esp"])
    for row in rows[1:]:
        isa = execution.isa_circuit(qc, row["backend"])
        counts = isa.count_ops()
        assert row["two_qubit_count"] == sum(counts.get(g, 0) for g in ("cx", "cz", "ecr", "swap"))
        assert row["two_qubit_count"] >= 3 and row["depth"] == isa.depth()
        assert 0 < row["esp"] < 1


# ---------------------------------------------------------------------------------------
# sampling in local testing mode
# ---------------------------------------------------------------------------------------


def test_noiseless_run_matches_statevector():
    qc = stand_in_circuit()
    rng = np.random.default_rng(1)
    x = rng.uniform(0, np.pi, (6, 3))
    theta = rng.uniform(0, 2 * np.pi, 4)
    isa = execution.isa_circuit(qc, BACKEND)
    values, batch = parameter_values(isa, x, theta)
    shots = 20_000
    probs = execution.run_probabilities(isa, values, shots, 7, backend=BACKEND, noise=False)
    assert batch == (6,) and probs.shape == (6, 8)
    assert within_shot_noise(probs, exact_probabilities(qc, x, theta), shots)


def test_same_seed_same_counts_and_noise_is_on():
    qc = stand_in_circuit()
    isa = execution.isa_circuit(qc, BACKEND)
    values, _ = parameter_values(isa, np.zeros((2, 3)), np.zeros(4))
    # with all angles zero the ideal circuit gives |0..0>, then H on qubit 3 (clbit 1)
    noisy = [execution.run_probabilities(isa, values, 400, 5, backend=BACKEND) for _ in range(2)]
    np.testing.assert_array_equal(noisy[0], noisy[1])
    ideal = [execution.run_probabilities(isa, values, 400, seed, backend=BACKEND, noise=False) for seed in (5, 6)]
    assert not np.array_equal(ideal[0], ideal[1])
    impossible = np.ones(8, bool)
    impossible[[0, 2]] = False  # only clbit 1 may be set without noise
    assert ideal[0][:, impossible].sum() == 0
    assert noisy[0][:, impossible].sum() > 0  # the device's noise model is applied
    gen = np.random.default_rng(9)
    first = execution.run_probabilities(isa, values, 50, gen, backend=BACKEND, noise=False)
    again = execution.run_probabilities(isa, values, 50, np.random.default_rng(9), backend=BACKEND, noise=False)
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("variant", ["paper", "reupload"])
def test_backend_probabilities_of_the_qnn(variant):
    rng = np.random.default_rng(11)
    x = rng.uniform(0, np.pi, (2, 2, 12))
    theta = qnn.init_weights(PAPER, variant, rng)
    shots = 4000
    probs = execution.backend_probabilities(PAPER, variant, x, theta, shots, 3, noise=False)
    n_clbits = qnn.n_clbits(PAPER, variant)
    assert probs.shape == (2, 2, 2**n_clbits)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0)
    assert np.allclose(probs * shots, np.round(probs * shots))
    exact = exact_probabilities(qnn.build_circuit(PAPER, variant), x.reshape(4, 12), theta).reshape(probs.shape)
    assert within_shot_noise(probs, exact, shots)


def test_backend_decide_shapes():
    _, H_hat = sample_channels(PAPER.system, 3, 0)
    theta = qnn.init_weights(PAPER, "reupload", 0)
    a = execution.backend_decide(PAPER, "reupload", theta, H_hat, 200, 1, noise=False)
    assert a.shape == (3, 4) and a.min() >= 0 and a.max() < 3


def test_a_new_variant_needs_no_change_here(monkeypatch):
    """execution and noise_study dispatch through the variant registry: a variant
    registered in cfmimo.qnn.VARIANTS runs on a backend without any branch for it."""
    class Toy(qnn.ReuploadVariant):
        name = "toy"

    monkeypatch.setitem(qnn.VARIANTS, "toy", Toy())
    _, H_hat = sample_channels(PAPER.system, 4, 1)
    theta = qnn.init_weights(PAPER, "toy", 2)
    x = qnn.get_variant("toy").inputs(PAPER, H_hat)
    shots = 4000
    probs = execution.backend_probabilities(PAPER, "toy", x, theta, shots, 6, noise=False)
    exact = engine.exact_probabilities(PAPER, "toy", x, theta)
    assert within_shot_noise(probs, exact, shots)
    a = execution.backend_decide(PAPER, "toy", theta, H_hat, 100, 6, noise=False)
    assert a.shape == (4, 4)
    assert noise_study.boundary_z(PAPER, "toy", exact, shots).shape == (4,)
