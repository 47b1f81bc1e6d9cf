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
    "gradient_timings",
    "input_sensitivity",
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
    # state view (without the trailing batch axis) and the index of |0>, |1> of the qubit
    shape: tuple[int, ...] = ()
    i0: tuple = ()
    i1: tuple = ()


@dataclass(frozen=True)
class Program:
    """A circuit compiled for the exact engine.

    Attributes
    ----------
    n_qubits : int
        Qubits simulated: those in the backward light cone of the measurements (qubits
        that cannot influence a measured qubit are dropped, with every gate on them).
    n_inputs, n_weights : int
    gates : tuple of _Gate
        In circuit order, measurements removed, consecutive RZ's on a qubit fused.
    measured : tuple of int
        ``measured[c]`` is the (simulated) qubit measured into classical bit ``c``.
    n_circuit_qubits : int
        Qubits of the original circuit.
    """

    n_qubits: int
    n_inputs: int
    n_weights: int
    gates: tuple
    measured: tuple[int, ...]
    n_circuit_qubits: int = 0


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


def _merge_terms(a, b):
    out = dict(a)
    for i, c in b:
        out[i] = out.get(i, 0.0) + c
    return tuple(sorted(out.items()))


def _layout(gate: _Gate, n: int) -> _Gate:
    """Attach the state view shape and the |0>/|1> indices for a gate on ``n`` qubits."""
    if len(gate.qubits) == 1:
        q = gate.qubits[0]
        shape = (2 ** (n - 1 - q), 2, 2**q)
        i0 = (slice(None), 0)
        i1 = (slice(None), 1)
    else:
        hi, lo = max(gate.qubits), min(gate.qubits)
        shape = (2 ** (n - 1 - hi), 2, 2 ** (hi - lo - 1), 2, 2**lo)
        c, t = gate.qubits

        def index(bc, bt):
            idx = [slice(None)] * 4
            idx[1 if c == hi else 3] = bc
            idx[1 if t == hi else 3] = bt
            return tuple(idx)

        i0, i1 = index(1, 0), index(1, 1)
    return _Gate(gate.name, gate.qubits, gate.const, gate.x_terms, gate.t_terms, shape, i0, i1)


def compile_circuit(circuit) -> Program:
    """Compile a circuit with parameter vectors ``x`` and ``theta`` for the exact engine.

    Supported: ``h, x, rx, ry, rz, cx, cz`` with angles linear in the parameters,
    ``barrier``, and terminal ``measure`` (no gate may act on a qubit after it is
    measured; every classical bit is written once). Optimisations, none of which changes
    the measured distribution: gates outside the backward light cone of the measured
    qubits are dropped, qubits that no remaining gate touches and that are not measured
    are removed, and consecutive RZ's on the same qubit are fused into one (their angles
    add).
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
    # backward light cone of the measured qubits
    cone = set(measured.values())
    kept = []
    for gate in reversed(gates):
        if cone.intersection(gate.qubits):
            cone.update(gate.qubits)
            kept.append(gate)
    kept.reverse()
    # fuse consecutive RZ's on a qubit (nothing else acted on that qubit in between)
    fused = []
    last_on = {}
    for gate in kept:
        q0 = gate.qubits[0]
        prev = last_on.get(q0)
        if gate.name == "rz" and prev is not None and fused[prev].name == "rz":
            p = fused[prev]
            fused[prev] = _Gate(
                "rz", p.qubits, p.const + gate.const, _merge_terms(p.x_terms, gate.x_terms), _merge_terms(p.t_terms, gate.t_terms)
            )
            continue
        fused.append(gate)
        for q in gate.qubits:
            last_on[q] = len(fused) - 1
    # renumber the qubits that remain (order preserved)
    used = sorted(cone)
    new = {q: i for i, q in enumerate(used)}
    n = len(used)
    final = tuple(
        _layout(_Gate(g.name, tuple(new[q] for q in g.qubits), g.const, g.x_terms, g.t_terms), n) for g in fused
    )
    return Program(
        n_qubits=n,
        n_inputs=n_x,
        n_weights=n_t,
        gates=final,
        measured=tuple(new[measured[c]] for c in range(circuit.num_clbits)),
        n_circuit_qubits=circuit.num_qubits,
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
        n_circuit_qubits=program.n_circuit_qubits,
    )


def _get_program(config, variant) -> Program:
    qnn._check_config(config)
    qnn._check_variant(variant)
    return _program(config, variant)


# ---------------------------------------------------------------------------------------
# statevector kernels. The state is stored batch-last, psi[basis, row], shape
# (2**n, B); a gate on qubit q views it as (2**(n-1-q), 2, 2**q, B), so every
# element-wise operation runs over contiguous rows of B (or more) numbers.
# ---------------------------------------------------------------------------------------


def _angles(gate: _Gate, x, theta):
    """Gate angle per batch row, shape ``(B,)`` (or a float if constant)."""
    angle = gate.const
    for i, c in gate.x_terms:
        angle = angle + (x[i] if c == 1.0 else c * x[i])
    for i, c in gate.t_terms:
        angle = angle + (theta[i] if c == 1.0 else c * theta[i])
    return angle


def _scratch(psi):
    """Two work buffers, each half the size of the state (reused by every gate)."""
    half = (psi.shape[0] // 2, psi.shape[1])
    return np.empty(half, dtype=np.complex128), np.empty(half, dtype=np.complex128)


def _apply(gate: _Gate, psi, x, theta, adjoint=False, scratch=None):
    """Apply ``gate`` (or its inverse) in place on the batch-last state ``(2**n, B)``.

    All arithmetic writes into the state or into the two ``scratch`` buffers: large
    temporaries would cost more (allocation, page faults) than the arithmetic itself.
    """
    name = gate.name
    batch = psi.shape[-1]
    view = psi.reshape(gate.shape + (batch,))
    v0, v1 = view[gate.i0], view[gate.i1]
    if name == "cz":
        np.negative(v1, out=v1)
        return
    if scratch is None:
        scratch = _scratch(psi)
    b0 = scratch[0].reshape(-1)[: v0.size].reshape(v0.shape)
    if name == "cx" or name == "x":
        np.copyto(b0, v0)
        np.copyto(v0, v1)
        np.copyto(v1, b0)
        return
    if name == "h":
        s = 1.0 / np.sqrt(2.0)
        np.copyto(b0, v0)
        np.add(v0, v1, out=v0)
        np.multiply(v0, s, out=v0)
        np.subtract(b0, v1, out=v1)
        np.multiply(v1, s, out=v1)
        return
    half = _angles(gate, x, theta) * 0.5
    if adjoint:
        half = -half
    if name == "rz":
        phase = np.exp(-1j * np.asarray(half))
        np.multiply(v0, phase, out=v0)
        np.multiply(v1, np.conj(phase), out=v1)
        return
    b1 = scratch[1].reshape(v0.shape)
    c = np.cos(half)
    s = np.sin(half)
    # RY: [[c, -s], [s, c]];  RX: [[c, -i s], [-i s, c]]
    upper, lower = (-1j * s, -1j * s) if name == "rx" else (-s, s)
    np.multiply(v0, c, out=b0)
    np.multiply(v1, upper, out=b1)
    np.add(b0, b1, out=b0)  # new |0>
    np.multiply(v0, lower, out=b1)
    np.multiply(v1, c, out=v1)
    np.add(v1, b1, out=v1)  # new |1>
    np.copyto(v0, b0)


def _broadcast_inputs(program: Program, x, theta):
    """Validate and broadcast; return the batch shape and column-major (n, B) arrays."""
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
    xb = np.ascontiguousarray(np.broadcast_to(x, lead + x.shape[-1:]).reshape(size, -1).T)
    tb = np.ascontiguousarray(np.broadcast_to(theta, lead + theta.shape[-1:]).reshape(size, -1).T)
    return lead, xb, tb


def _forward(program: Program, xb, tb) -> np.ndarray:
    batch = xb.shape[1]
    psi = np.zeros((2**program.n_qubits, batch), dtype=np.complex128)
    psi[0] = 1.0
    scratch = _scratch(psi)
    for gate in program.gates:
        _apply(gate, psi, xb, tb, scratch=scratch)
    return psi


def _measured_probabilities(program: Program, psi) -> np.ndarray:
    """Bitstring probabilities ``(B, 2**n_clbits)`` from batch-last statevectors.

    Unmeasured qubits are summed out by element-wise additions only.
    """
    n = program.n_qubits
    batch = psi.shape[-1]
    p = psi.real**2 + psi.imag**2
    view = p.reshape((2,) * n + (batch,))  # axis n - 1 - q is qubit q
    measured = program.measured
    axes_rest = [n - 1 - q for q in range(n - 1, -1, -1) if q not in measured]
    axes_meas = [n - 1 - measured[c] for c in range(len(measured) - 1, -1, -1)]
    view = view.transpose(axes_rest + axes_meas + [n])
    for _ in axes_rest:
        view = view[0] + view[1]
    return np.ascontiguousarray(view.reshape(2 ** len(measured), batch).T)


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
    n_cl = len(program.measured)
    w = np.asarray(cotangent, dtype=np.float64)
    if w.ndim < 1 or w.shape[-1] != 2**n_cl:
        raise ValueError(f"cotangent must have shape (..., 2**n_clbits = {2**n_cl}), got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("cotangent contains NaN or inf entries")
    x = np.asarray(x, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    try:
        lead = np.broadcast_shapes(x.shape[:-1], theta.shape[:-1], w.shape[:-1])
    except ValueError:
        raise ValueError(
            f"batch shapes of x {x.shape[:-1]}, theta {theta.shape[:-1]} and cotangent {w.shape[:-1]} do not broadcast"
        ) from None
    if x.ndim >= 1:  # let the cotangent's batch axes widen the batch as well
        x = np.broadcast_to(x, lead + x.shape[-1:])
    lead, xb, tb = _broadcast_inputs(program, x, theta)
    w = np.broadcast_to(w, lead + w.shape[-1:]).reshape(xb.shape[1], -1)
    psi = _forward(program, xb, tb)
    probs = _measured_probabilities(program, psi)
    grad = _backward(program, psi, xb, tb, w)
    return probs.reshape(lead + probs.shape[-1:]), grad.reshape(lead + (program.n_weights,))


def _backward(program: Program, psi, xb, tb, w) -> np.ndarray:
    """Adjoint pass: gradient ``(B, n_weights)`` of ``sum_c w[b, c] p_c`` (``psi`` is consumed)."""
    batch = psi.shape[-1]
    # lambda = W psi, W diagonal: each basis state weighted by its measured bitstring's w
    lam = np.ascontiguousarray(w.T)[_lift_index(program)] * psi  # (2**n, B)
    grad = np.zeros((program.n_weights, batch))
    scratch = _scratch(psi)
    for gate in reversed(program.gates):
        if gate.name in _ROTATION_AXIS and gate.t_terms:
            shape = gate.shape + (batch,)
            vl, vp = lam.reshape(shape), psi.reshape(shape)
            l0, l1, p0, p1 = vl[gate.i0], vl[gate.i1], vp[gate.i0], vp[gate.i1]
            if gate.name == "rz":  # P = Z
                inner = np.conj(l0) * p0 - np.conj(l1) * p1
            elif gate.name == "ry":  # P = Y: (P psi)_0 = -i psi_1, (P psi)_1 = i psi_0
                inner = 1j * (np.conj(l1) * p0 - np.conj(l0) * p1)
            else:  # P = X
                inner = np.conj(l0) * p1 + np.conj(l1) * p0
            d = inner.reshape(-1, batch).imag.sum(axis=0)
            for i, c in gate.t_terms:
                grad[i] += c * d
        _apply(gate, psi, xb, tb, adjoint=True, scratch=scratch)
        _apply(gate, lam, xb, tb, adjoint=True, scratch=scratch)
    return np.ascontiguousarray(grad.T)


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
    """Parameter values ``(B, len(params))`` in the circuit's parameter order
    (``x``, ``theta`` given column-major, ``(n, B)``)."""
    cols = []
    for p in params:
        vec = x if p.vector.name == "x" else theta
        cols.append(vec[p.index])
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


# ---------------------------------------------------------------------------------------
# timing (benchmarks/bench_engine.py and the book quote the ratios)
# ---------------------------------------------------------------------------------------


def gradient_timings(config: Preset, variant: str = "paper", *, shots: int = 1024, repeat: int = 3, rng=0) -> dict:
    """Wall time of the ``2P + 1`` circuit evaluations of one parameter-shift gradient.

    Measured in the same process, each the best of ``repeat`` runs:

    * ``exact_s``: :func:`exact_probabilities`, one call for all ``2P + 1`` rows;
    * ``sampler_loop_s``: Aer ``SamplerV2``, one bound circuit per ``run`` call (the
      one-circuit-per-call loop of a naive implementation), ``shots`` shots each;
    * ``sampler_array_s``: Aer ``SamplerV2``, one PUB with a ``(2P + 1)``-row parameter
      array (:func:`sampler_probabilities`);
    * ``estimator_array_s``: Aer ``EstimatorV2`` (exact expectation values,
      ``default_precision = 0``), one PUB with the parameter array and one Z observable per
      measured qubit.

    Returns
    -------
    dict
        The times, ``n_circuits = 2P + 1`` and the ratios ``*_ratio`` = time / ``exact_s``.
    """
    from qiskit_aer.primitives import EstimatorV2, SamplerV2

    from .timing import best_time

    program = _get_program(config, variant)
    rng = np.random.default_rng(rng)
    n_w = program.n_weights
    x = rng.uniform(0, np.pi, qnn.n_inputs(config))
    theta = rng.uniform(0, 2 * np.pi, n_w)
    delta = np.concatenate([np.zeros((1, n_w)), np.pi / 2 * np.eye(n_w), -np.pi / 2 * np.eye(n_w)])
    thetas = theta + delta
    n_rows = thetas.shape[0]
    tcirc, params = _sampler_circuit(config, variant)
    _, xb, tb = _broadcast_inputs(program, x, thetas)
    values = _column_values(params, xb, tb)
    sampler = SamplerV2(seed=1)

    def exact():
        exact_probabilities(config, variant, x, thetas)

    def sampler_loop():
        for row in values:
            sampler.run([(tcirc, row, shots)]).result()

    def sampler_array():
        sampler_probabilities(config, variant, x, thetas, shots, rng=1)

    bare = qnn.build_circuit(config, variant)
    measured = []
    for inst in bare.data:
        if inst.operation.name == "measure":
            measured.append((bare.find_bit(inst.clbits[0]).index, bare.find_bit(inst.qubits[0]).index))
    bare = bare.remove_final_measurements(inplace=False)
    n_bare = bare.num_qubits
    # one Z per measured qubit, as Pauli labels (qubit 0 rightmost), shape (n_clbits, 1)
    obs = [["".join("Z" if i == q else "I" for i in range(n_bare - 1, -1, -1))] for _, q in sorted(measured)]
    est_params = list(bare.parameters)
    est_values = _column_values(est_params, xb, tb)
    estimator = EstimatorV2(options={"default_precision": 0.0})

    def estimator_array():
        estimator.run([(bare, obs, est_values[None, :, :])]).result()

    for fn in (exact, sampler_array, estimator_array):
        fn()  # warm up (compilation, caches)
    out = {
        "variant": variant,
        "n_circuits": n_rows,
        "n_qubits": qnn.n_qubits(config, variant),
        "shots": shots,
        "exact_s": best_time(exact, repeat),
        "sampler_loop_s": best_time(sampler_loop, repeat),
        "sampler_array_s": best_time(sampler_array, repeat),
        "estimator_array_s": best_time(estimator_array, repeat),
    }
    for key in ("sampler_loop", "sampler_array", "estimator_array"):
        out[f"{key}_ratio"] = out[f"{key}_s"] / out["exact_s"]
    return out


def input_sensitivity(config: Preset, variant: str, *, n_samples: int = 32, eps: float = 1e-4, rng=0) -> np.ndarray:
    """Largest finite-difference sensitivity of each readout to each input angle.

    For ``n_samples`` random inputs :math:`x \\sim \\mathcal U(0, \\pi)` and weights
    (:func:`cfmimo.qnn.init_weights` for ``paper``, :math:`\\mathcal U(0, 2\\pi)` for
    ``reupload`` so that its near-identity start does not hide couplings), the central
    difference :math:`|o(x + \\epsilon e_i) - o(x - \\epsilon e_i)| / 2\\epsilon` of every
    readout (:func:`cfmimo.qnn.outputs_from_probabilities`, flattened) is computed in one
    exact-engine call, and its maximum over the samples is returned.

    Returns
    -------
    ndarray, shape ``(n_outputs, n_inputs)``
        ``paper``: ``n_outputs = n_ap``; ``reupload``: ``n_ap * n_user`` (AP-major).
        An entry at round-off level (about ``1e-12``) means "does not depend".
    """
    program = _get_program(config, variant)
    n_samples = check_count("n_samples", n_samples, 1)
    rng = np.random.default_rng(rng)
    n_in, n_w = program.n_inputs, program.n_weights
    x = rng.uniform(0, np.pi, (n_samples, 1, n_in))
    if variant == "paper":
        theta = np.stack([qnn.init_weights(config, variant, rng) for _ in range(n_samples)])[:, None, :]
    else:
        theta = rng.uniform(0, 2 * np.pi, (n_samples, 1, n_w))
    step = eps * np.eye(n_in)
    xs = np.concatenate([x + step, x - step], axis=1)  # (n, 2 n_in, n_in)
    o = exact_outputs(config, variant, xs, theta)
    o = o.reshape(o.shape[:2] + (-1,))  # (n, 2 n_in, n_out)
    diff = np.abs(o[:, :n_in] - o[:, n_in:]) / (2 * eps)  # (n, n_in, n_out)
    return diff.max(axis=0).T
