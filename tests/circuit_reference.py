"""Reference helpers for the tests of the circuit runners (circuit_io, execution,
noise_study): a small QNN-like circuit and its exact distribution from
``qiskit.quantum_info.Statevector``, independent of every sampler under test."""

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ClassicalRegister, ParameterVector, QuantumRegister
from qiskit.quantum_info import Statevector


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
