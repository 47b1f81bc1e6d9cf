"""Execution engines for the QNN circuits of :mod:`cfmimo.qnn`.

* :func:`exact_probabilities`: exact bitstring probabilities for many (input, weight)
  pairs in one call. The circuit built by :func:`cfmimo.qnn.build_circuit` is compiled
  once per (config, variant) into a list of gates; a batch of statevectors of shape
  ``(B, 2**n_qubits)`` is then pushed through it with numpy, each gate acting on a
  ``(B, ..., 2, ...)`` view of the qubit's axis (no Python loop over samples). Only
  element-wise operations touch the amplitudes, so a row's result does not depend on the
  batch it is evaluated in (bit for bit).
* :func:`exact_vjp`: the same forward pass plus an adjoint (reverse-mode) pass giving the
  gradient of any linear functional of the probabilities with respect to the weights
  (used to train the ``reupload`` variant on differentiable objectives).
* :func:`sampler_probabilities`: finite-shot estimates from Qiskit Aer's
  :class:`~qiskit_aer.primitives.SamplerV2`, one PUB with a parameter array, seeded.

Both exact functions are cross-checked against :class:`qiskit.quantum_info.Statevector`
in ``tests/test_engine.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import qnn
from ._validation import check_count
from .config import Preset

__all__ = [
    "compile_circuit",
    "exact_probabilities",
    "exact_outputs",
    "exact_vjp",
    "sampler_probabilities",
]

_SUPPORTED = {"h", "x", "rx", "ry", "rz", "cx", "cz"}
_ROTATION_AXIS = {"rx": "x", "ry": "y", "rz": "z"}


@dataclass(frozen=True)
class _Gate:
    name: str
    qubits: tuple[int, ...]
    # angle = const + sum(coef * x[ix]) + sum(coef * theta[it]); empty for fixed gates
    const: float = 0.0
    x_terms: tuple[tuple[int, float], ...] = ()
    t_terms: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class Program:
    """A circuit compiled for the exact engine.

    Attributes
    ----------
    n_qubits, n_inputs, n_weights : int
    gates : tuple of _Gate
        In circuit order; measurements removed.
    measured : tuple of int
        ``measured[c]`` is the qubit measured into classical bit ``c``.
    """

    n_qubits: int
    n_inputs: int
    n_weights: int
    gates: tuple
    measured: tuple[int, ...]


def _angle_terms(expr, x_index, t_index):
    """Split a gate angle, linear in the parameters, into constant and coefficients."""
    if isinstance(expr, (int, float, np.floating, np.integer)):
        return float(expr), (), ()
    params = list(expr.parameters)
    if not params:
        return float(expr.numeric()), (), ()
    const = expr.bind({p: 0.0 for p in params}).numeric()
    x_terms, t_terms = [], []
    for p in params:
        coef = expr.gradient(p)
        if not isinstance(coef, (int, float, complex)):
            raise ValueError(f"gate angle {expr} is not linear in {p}; the exact engine supports linear angles only")
        coef = complex(coef)
        if abs(coef.imag) > 0:
            raise ValueError(f"gate angle {expr} has a complex coefficient")
        if p in x_index:
            x_terms.append((x_index[p], coef.real))
        elif p in t_index:
            t_terms.append((t_index[p], coef.real))
        else:  # pragma: no cover - build_circuit only uses x and theta
            raise ValueError(f"parameter {p} belongs to neither 'x' nor 'theta'")
    return float(complex(const).real), tuple(sorted(x_terms)), tuple(sorted(t_terms))


def compile_circuit(circuit) -> Program:
    """Compile a circuit with parameter vectors ``x`` and ``theta`` for the exact engine.

    Supported: ``h, x, rx, ry, rz, cx, cz`` with angles linear in the parameters,
    ``barrier``, and terminal ``measure`` (no gate may act on a qubit after it is
    measured; every classical bit is written once).
    """
    x_index, t_index = {}, {}
    n_x = n_t = 0
    for p in circuit.parameters:
        name = p.vector.name if hasattr(p, "vector") else p.name
        if name == "x":
            x_index[p] = p.index
            n_x = max(n_x, p.index + 1)
        elif name == "theta":
            t_index[p] = p.index
            n_t = max(n_t, p.index + 1)
        else:
            raise ValueError(f"circuit parameter {p} is neither in ParameterVector 'x' nor 'theta'")
    gates = []
    measured = {}
    done = set()
    for inst in circuit.data:
        op = inst.operation
        qubits = tuple(circuit.find_bit(q).index for q in inst.qubits)
        if op.name == "barrier":
            continue
        if op.name == "measure":
            clbit = circuit.find_bit(inst.clbits[0]).index
            if clbit in measured:
                raise ValueError(f"classical bit {clbit} is written twice")
            measured[clbit] = qubits[0]
            done.add(qubits[0])
            continue
        if op.name not in _SUPPORTED:
            raise ValueError(f"gate {op.name!r} is not supported by the exact engine; supported: {sorted(_SUPPORTED)}")
        if done.intersection(qubits):
            raise ValueError(f"gate {op.name} acts on a measured qubit: only terminal measurements are supported")
        if op.name in _ROTATION_AXIS:
            const, xt, tt = _angle_terms(op.params[0], x_index, t_index)
            gates.append(_Gate(op.name, qubits, const, xt, tt))
        else:
            gates.append(_Gate(op.name, qubits))
    if sorted(measured) != list(range(circuit.num_clbits)):
        raise ValueError("every classical bit must be written by exactly one measurement")
    return Program(
        n_qubits=circuit.num_qubits,
        n_inputs=n_x,
        n_weights=n_t,
        gates=tuple(gates),
        measured=tuple(measured[c] for c in range(circuit.num_clbits)),
    )


@lru_cache(maxsize=64)
def _program(config: Preset, variant: str) -> Program:
    program = compile_circuit(qnn.build_circuit(config, variant))
    # a parameter absent from the circuit would shrink the counts: use the declared sizes
    return Program(
        n_qubits=program.n_qubits,
        n_inputs=qnn.n_inputs(config),
        n_weights=qnn.n_weights(config, variant),
        gates=program.gates,
        measured=program.measured,
    )


def _get_program(config, variant) -> Program:
    qnn._check_config(config)
    qnn._check_variant(variant)
    return _program(config, variant)


# ---------------------------------------------------------------------------------------
# statevector kernels (state viewed as (B,) + (2,) * n; qubit q is axis 1 + n - 1 - q)
# ---------------------------------------------------------------------------------------


def _idx(n, assignments):
    """Index tuple selecting ``{qubit: bit}`` on the ``(B,) + (2,)*n`` view."""
    index = [slice(None)] * (n + 1)
    for q, bit in assignments.items():
        index[1 + n - 1 - q] = bit
    return tuple(index)


def _angles(gate: _Gate, x, theta):
    """Gate angle per batch row, shape ``(B,)`` (or a float if constant)."""
    angle = gate.const
    for i, c in gate.x_terms:
        angle = angle + (x[:, i] if c == 1.0 else c * x[:, i])
    for i, c in gate.t_terms:
        angle = angle + (theta[:, i] if c == 1.0 else c * theta[:, i])
    return angle


def _col(v, n):
    """Reshape a per-row scalar array ``(B,)`` to broadcast against a ``(B,) + (2,)*(n-1)`` slice."""
    v = np.asarray(v)
    if v.ndim == 0:
        return v
    return v.reshape((-1,) + (1,) * (n - 1))


def _apply(gate: _Gate, view, n, x, theta, adjoint=False):
    """Apply ``gate`` (or its inverse) in place on the ``(B,) + (2,)*n`` view."""
    name = gate.name
    if name in ("h", "x"):
        q = gate.qubits[0]
        i0, i1 = _idx(n, {q: 0}), _idx(n, {q: 1})
        a0 = view[i0].copy()
        a1 = view[i1]
        if name == "x":
            view[i0] = a1
            view[i1] = a0
        else:
            s = 1.0 / np.sqrt(2.0)
            view[i0] = (a0 + a1) * s
            view[i1] = (a0 - a1) * s
        return
    if name in ("cx", "cz"):
        c, t = gate.qubits
        i10, i11 = _idx(n, {c: 1, t: 0}), _idx(n, {c: 1, t: 1})
        if name == "cz":
            view[i11] *= -1.0
        else:
            tmp = view[i10].copy()
            view[i10] = view[i11]
            view[i11] = tmp
        return
    q = gate.qubits[0]
    i0, i1 = _idx(n, {q: 0}), _idx(n, {q: 1})
    half = _angles(gate, x, theta) * 0.5
    if adjoint:
        half = -half
    if name == "rz":
        phase = np.exp(-1j * np.asarray(half))
        view[i0] *= _col(phase, n)
        view[i1] *= _col(np.conj(phase), n)
        return
    c = _col(np.cos(half), n)
    s = _col(np.sin(half), n)
    a0 = view[i0].copy()
    a1 = view[i1]
    if name == "ry":
        view[i0] = c * a0 - s * a1
        view[i1] = s * a0 + c * a1
    else:  # rx
        view[i0] = c * a0 - 1j * s * a1
        view[i1] = c * a1 - 1j * s * a0


def _broadcast_inputs(program: Program, x, theta):
    x = np.asarray(x, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    if x.ndim < 1 or x.shape[-1] != program.n_inputs:
        raise ValueError(f"x must have shape (..., n_inputs = {program.n_inputs}), got shape {x.shape}")
    if theta.ndim < 1 or theta.shape[-1] != program.n_weights:
        raise ValueError(f"theta must have shape (..., n_weights = {program.n_weights}), got shape {theta.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or inf angles")
    if not np.all(np.isfinite(theta)):
        raise ValueError("theta contains NaN or inf weights")
    try:
        lead = np.broadcast_shapes(x.shape[:-1], theta.shape[:-1])
    except ValueError:
        raise ValueError(f"batch shapes of x {x.shape[:-1]} and theta {theta.shape[:-1]} do not broadcast") from None
    size = int(np.prod(lead, dtype=np.int64))
    xb = np.ascontiguousarray(np.broadcast_to(x, lead + x.shape[-1:]).reshape(size, -1))
    tb = np.ascontiguousarray(np.broadcast_to(theta, lead + theta.shape[-1:]).reshape(size, -1))
    return lead, xb, tb


def _forward(program: Program, xb, tb) -> np.ndarray:
    n = program.n_qubits
    psi = np.zeros((xb.shape[0], 2**n), dtype=np.complex128)
    psi[:, 0] = 1.0
    view = psi.reshape((xb.shape[0],) + (2,) * n)
    for gate in program.gates:
        _apply(gate, view, n, xb, tb)
    return psi


def _measured_probabilities(program: Program, psi) -> np.ndarray:
    """Bitstring probabilities ``(B, 2**n_clbits)`` from statevectors, element-wise only."""
    n = program.n_qubits
    batch = psi.shape[0]
    p = psi.real**2 + psi.imag**2
    view = p.reshape((batch,) + (2,) * n)
    measured = program.measured
    # order the axes as (unmeasured..., clbit nc-1, ..., clbit 0)
    axes_meas = [1 + n - 1 - measured[c] for c in range(len(measured) - 1, -1, -1)]
    axes_rest = [1 + n - 1 - q for q in range(n - 1, -1, -1) if q not in measured]
    view = view.transpose([0] + axes_rest + axes_meas)
    for _ in axes_rest:
        view = view[:, 0] + view[:, 1]
    return np.ascontiguousarray(view).reshape(batch, 2 ** len(measured))


def exact_probabilities(config: Preset, variant: str, x, theta) -> np.ndarray:
    """Exact bitstring probabilities of the measured QNN circuit, batched.

    Parameters
    ----------
    config : cfmimo.config.Preset
    variant : {"paper", "reupload"}
    x : array_like, shape ``(..., n_inputs)``
        Input angles (see :func:`cfmimo.qnn.encode_angles`).
    theta : array_like, shape ``(..., n_weights)``
        Weights. The leading axes of ``x`` and ``theta`` broadcast.

    Returns
    -------
    ndarray, shape ``(..., 2**n_clbits)``
        Index = integer value of the bitstring, classical bit 0 least significant.
    """
    program = _get_program(config, variant)
    lead, xb, tb = _broadcast_inputs(program, x, theta)
    probs = _measured_probabilities(program, _forward(program, xb, tb))
    return probs.reshape(lead + probs.shape[-1:])


def exact_outputs(config: Preset, variant: str, x, theta) -> np.ndarray:
    """Readouts of :func:`cfmimo.qnn.outputs_from_probabilities` from the exact engine
    (paper: :math:`o` of shape ``(..., n_ap)``)."""
    return qnn.outputs_from_probabilities(config, variant, exact_probabilities(config, variant, x, theta))


def exact_vjp(config: Preset, variant: str, x, theta, cotangent):
    """Probabilities and the gradient of :math:`\\sum_c w_c\\, p_c` with respect to ``theta``.

    Adjoint differentiation: one forward pass stores the final state; the backward pass
    un-applies each gate to the state and to :math:`\\lambda = W\\psi` (``W`` diagonal with
    the weights of the measured bitstrings) and collects
    :math:`\\partial/\\partial\\theta = \\operatorname{Im}\\langle\\lambda|P|\\psi\\rangle` for a
    rotation :math:`e^{-i\\theta P/2}`. Exact (no shift, no sampling); about three forward
    passes of work.

    Parameters
    ----------
    x, theta : as in :func:`exact_probabilities`
    cotangent : array_like, shape ``(..., 2**n_clbits)``
        The weights :math:`w_c`, one per bitstring, per batch row (e.g.
        :math:`\\partial \\mathcal L/\\partial p_c`); broadcasts with the batch.

    Returns
    -------
    probs : ndarray, shape ``(..., 2**n_clbits)``
    grad : ndarray, shape ``(..., n_weights)``
        :math:`\\sum_c w_c \\partial p_c / \\partial \\theta_j` for each batch row.
    """
    program = _get_program(config, variant)
    lead, xb, tb = _broadcast_inputs(program, x, theta)
    n = program.n_qubits
    n_cl = len(program.measured)
    batch = xb.shape[0]
    w = np.asarray(cotangent, dtype=np.float64)
    if w.ndim < 1 or w.shape[-1] != 2**n_cl:
        raise ValueError(f"cotangent must have shape (..., 2**n_clbits = {2**n_cl}), got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("cotangent contains NaN or inf entries")
    try:
        w = np.broadcast_to(w, lead + w.shape[-1:]).reshape(batch, -1)
    except ValueError:
        raise ValueError(f"cotangent batch shape {w.shape[:-1]} does not broadcast to {lead}") from None
    psi = _forward(program, xb, tb)
    probs = _measured_probabilities(program, psi)
    # lambda = W psi, W diagonal: each basis state weighted by its measured bitstring's w
    wfull = w[:, _lift_index(program)]  # (B, 2**n)
    lam = wfull * psi
    vpsi = psi.reshape((batch,) + (2,) * n)
    vlam = lam.reshape((batch,) + (2,) * n)
    grad = np.zeros((batch, program.n_weights))
    for gate in reversed(program.gates):
        if gate.name in _ROTATION_AXIS and gate.t_terms:
            q = gate.qubits[0]
            i0, i1 = _idx(n, {q: 0}), _idx(n, {q: 1})
            l0, l1, p0, p1 = vlam[i0], vlam[i1], vpsi[i0], vpsi[i1]
            if gate.name == "rz":  # P = Z
                inner = np.conj(l0) * p0 - np.conj(l1) * p1
            elif gate.name == "ry":  # P = Y: (P psi)_0 = -i psi_1, (P psi)_1 = i psi_0
                inner = np.conj(l0) * (-1j * p1) + np.conj(l1) * (1j * p0)
            else:  # P = X
                inner = np.conj(l0) * p1 + np.conj(l1) * p0
            d = inner.reshape(batch, -1).sum(axis=1).imag
            for i, c in gate.t_terms:
                grad[:, i] += c * d
        _apply(gate, vpsi, n, xb, tb, adjoint=True)
        _apply(gate, vlam, n, xb, tb, adjoint=True)
    return probs.reshape(lead + probs.shape[-1:]), grad.reshape(lead + (program.n_weights,))


@lru_cache(maxsize=64)
def _lift_index_cached(n: int, measured: tuple[int, ...]) -> np.ndarray:
    basis = np.arange(2**n)
    index = np.zeros(2**n, dtype=np.int64)
    for c, q in enumerate(measured):
        index |= ((basis >> q) & 1) << c
    index.setflags(write=False)
    return index


def _lift_index(program: Program) -> np.ndarray:
    """For each basis state of the qubits, the index of its measured bitstring."""
    return _lift_index_cached(program.n_qubits, program.measured)


# ---------------------------------------------------------------------------------------
# Aer sampler
# ---------------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _sampler_circuit(config: Preset, variant: str):
    from qiskit import transpile
    from qiskit_aer import AerSimulator

    circuit = qnn.build_circuit(config, variant)
    tcirc = transpile(circuit, AerSimulator(), optimization_level=0, seed_transpiler=0)
    params = list(tcirc.parameters)
    return tcirc, params


def _seed_from(rng) -> int:
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng = {rng} is out of range; allowed: a non-negative int seed or a numpy Generator")
        return int(rng) % (2**63)
    return int(np.random.default_rng(rng).integers(0, 2**62))


def _column_values(params, x, theta):
    """Parameter values ``(B, len(params))`` in the circuit's parameter order."""
    cols = []
    for p in params:
        vec = x if p.vector.name == "x" else theta
        cols.append(vec[:, p.index])
    return np.stack(cols, axis=-1)


def sampler_probabilities(config: Preset, variant: str, x, theta, shots: int, rng=None) -> np.ndarray:
    """Bitstring frequencies from Qiskit Aer's ``SamplerV2`` (finite sampling).

    One PUB with a parameter-value array of the broadcast batch shape: Aer simulates all
    rows in one ``run`` call.

    Parameters
    ----------
    config, variant, x, theta : as in :func:`exact_probabilities`
    shots : int
        Shots per row, ``>= 1``.
    rng : int, numpy.random.Generator or None
        Seeds Aer's simulator (an int is used as the seed itself). The same seed gives
        identical counts.

    Returns
    -------
    ndarray, shape ``(..., 2**n_clbits)``
        Frequencies ``counts / shots``; index convention as :func:`exact_probabilities`.
    """
    from qiskit_aer.primitives import SamplerV2

    program = _get_program(config, variant)
    shots = check_count("shots", shots, 1)
    lead, xb, tb = _broadcast_inputs(program, x, theta)
    seed = _seed_from(rng)
    tcirc, params = _sampler_circuit(config, variant)
    values = _column_values(params, xb, tb)
    sampler = SamplerV2(seed=seed)
    result = sampler.run([(tcirc, values, shots)]).result()
    bits = getattr(result[0].data, tcirc.cregs[0].name)
    n_cl = tcirc.num_clbits
    raw = np.asarray(bits.array, dtype=np.int64)  # (B, shots, n_bytes), big-endian bytes
    ints = np.zeros(raw.shape[:-1], dtype=np.int64)
    for j in range(raw.shape[-1]):
        ints = (ints << 8) | raw[..., j]
    size = 2**n_cl
    offsets = np.arange(ints.shape[0], dtype=np.int64)[:, None] * size
    counts = np.bincount((ints + offsets).ravel(), minlength=ints.shape[0] * size).reshape(-1, size)
    return (counts / shots).reshape(lead + (size,))
