"""The exact batched statevector engine for the QNN circuits: forward, gradients, light cones.

Public API (every other module and the notebooks use only these names)
----------------------------------------------------------------------
* :func:`compile_circuit` turns a :class:`~qiskit.circuit.QuantumCircuit` with the
  :class:`~qiskit.circuit.ParameterVector`\\ s ``x`` (inputs) and ``theta`` (weights) into
  a :class:`Program`; :func:`program_for` does it once per ``(config, variant)`` of
  :func:`cfmimo.qnn.build_circuit` (cached).
* :func:`forward` evaluates a batch: the bitstring probabilities of the measured
  classical bits (``output="probabilities"``) or the expectation :math:`\\langle Z\\rangle`
  of the qubit measured into each classical bit (``output="z"``).
* :func:`vjp` (a vector-Jacobian product: the gradient of
  :math:`\\sum_o w_o\\,\\mathrm{out}_o` with respect to the weights) and :func:`jacobian`
  (every output's gradient) by adjoint differentiation: one forward pass, then one
  backward pass that carries the cotangents of all outputs at once.
* Thin wrappers kept for the rest of the project: :func:`exact_probabilities`,
  :func:`exact_outputs`, :func:`exact_vjp` (``config, variant`` instead of a program;
  claim 1's :func:`cfmimo.claims.input_sensitivity` runs on :func:`exact_outputs`).

Qiskit Aer's sampler on the same circuits is :func:`cfmimo.execution.sampler_probabilities`
(with the IBM backends, which share its binder, seed rule and decoder); the timing of the
engine against Aer is :func:`cfmimo.timing.gradient_timings`.

Gate angles
-----------
Supported gates: ``h, x, y, z, rx, ry, rz, cx, cz`` (``barrier`` ignored, ``measure``
terminal). A rotation angle may be any

.. math:: \\phi = c + \\sum_j a_j\\theta_j + \\sum_i b_i x_i + \\sum_{j,i} c_{ji}\\,\\theta_j x_i,

that is, constant, linear in the weights and inputs, plus products of ONE weight and ONE
input (a trainable input weight, e.g. ``theta[3] * x[5] + theta[4]``, issue 10). Anything
else (``x**2``, ``theta*theta``, ``sin(x)``) is refused at compile time with a
``ValueError`` that names the gate and the angle. The backward pass uses
:math:`\\partial\\phi/\\partial\\theta_j = a_j + \\sum_i c_{ji} x_i`.

How it is simulated
-------------------
* **Pruning.** Gates outside the backward light cone of the measurements are dropped;
  so are diagonal gates (``rz, z, cz``) with nothing but diagonal gates after them on
  their qubits (they cannot change a computational-basis distribution). Commuting
  diagonal gates are treated as one layer when light cones are traced, so a ring of CZ
  gates spreads a cone by one qubit per side and layer.
* **Light cones for** ``output="z"``. Each measured qubit's :math:`\\langle Z\\rangle`
  depends only on its own backward light cone. When the cones together hold fewer
  amplitudes than the full state, each cone is simulated on its own (``L`` CZ rings
  before the last rotation layer give cones of ``2L + 1`` qubits: a 16-qubit circuit is
  then sixteen five-qubit simulations). Cones with the same gate structure (up to which
  inputs and weights feed the angles) are stacked and simulated as extra batch rows.
  ``Program.cone_qubits`` says how many qubits each output needs.
* **Fusion.** Consecutive one-qubit gates on a qubit become one 2x2 matrix per batch
  row (one matrix for the whole batch when its angles do not depend on the input and
  ``theta`` is shared). The runs that precede every two-qubit gate on their qubit build
  the starting product state directly. Consecutive CX/CZ gates become one signed
  permutation of the amplitudes (a gather), and a final one is folded into the read-out.
* **One backward pass for every output.** The adjoint pass carries the cotangents of all
  outputs as extra columns of one array. The gradient of every rotation of a fused run
  comes from a 2x2 "cross" matrix of the cotangent and the state (no pass per gate); for
  the starting product state, every qubit's cross matrix comes from one divide-and-conquer
  contraction.
* **Real arithmetic.** When every gate keeps the state real (``ry, h, x, z, cx, cz``),
  the state is stored as float64; a real gate on a complex state acts on a float view.
* **Memory.** A row of a block needs ``2**n`` amplitudes per state and per output
  column; rows are processed in chunks so that the working set stays below
  :data:`MEMORY_BUDGET` bytes (or the ``memory_budget`` argument). A circuit whose single
  row does not fit, or whose output array alone exceeds the budget, raises a
  ``ValueError`` that states the qubits and the bytes needed (no ``MemoryError`` from
  inside numpy).

Exactness and determinism: every cross-check is against
:class:`qiskit.quantum_info.Statevector` to ``1e-10`` (``tests/test_engine.py``). Only
element-wise numpy operations, gathers and ``np.einsum`` without BLAS (sums in a fixed
order) touch the amplitudes, so one row's values and gradients do not depend on the batch
it is evaluated in, bit for bit, and the same call always gives the same bits. Sums over
the batch (the gradient for a shared ``theta``) depend on the batch size in the last bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from . import qnn
from ._validation import as_real_array
from .circuit_io import broadcast_batch
from .config import Preset

__all__ = [
    "MEMORY_BUDGET",
    "OUTPUTS",
    "Program",
    "compile_circuit",
    "program_for",
    "forward",
    "vjp",
    "jacobian",
    "exact_probabilities",
    "exact_outputs",
    "exact_vjp",
]

#: Default bound, in bytes, on the engine's working set for one chunk of a batch.
MEMORY_BUDGET = 1 << 30

#: The two kinds of output of :func:`forward`.
OUTPUTS = ("probabilities", "z")

_ROTATIONS = {"rx", "ry", "rz"}
_FIXED_1Q = {"h", "x", "y", "z"}
_TWO_QUBIT = {"cx", "cz"}
_SUPPORTED = _ROTATIONS | _FIXED_1Q | _TWO_QUBIT
_DIAGONAL = {"rz", "z", "cz"}
_REAL = {"ry", "h", "x", "z", "cx", "cz"}

_S2 = 1.0 / math.sqrt(2.0)
_FIXED_MATRIX = {
    "h": np.array([[_S2, _S2], [_S2, -_S2]]),
    "x": np.array([[0.0, 1.0], [1.0, 0.0]]),
    "y": np.array([[0.0, -1j], [1j, 0.0]]),
    "z": np.array([[1.0, 0.0], [0.0, -1.0]]),
}
_PAULI = {
    "rx": np.array([[0.0, 1.0], [1.0, 0.0]], dtype=complex),
    "ry": np.array([[0.0, -1j], [1j, 0.0]]),
    "rz": np.array([[1.0, 0.0], [0.0, -1.0]], dtype=complex),
}


# ---------------------------------------------------------------------------------------
# compiled form
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Angle:
    """``const + sum(a * theta[j]) + sum(b * x[i]) + sum(c * theta[j] * x[i])``."""

    const: float
    t_terms: tuple = ()  # ((j, a), ...)
    x_terms: tuple = ()  # ((i, b), ...)
    p_terms: tuple = ()  # ((j, i, c), ...)


@dataclass(frozen=True)
class _Gate:
    name: str
    qubits: tuple
    angle: _Angle | None = None


class _Block:
    """A gate sequence on ``n`` local qubits, simulated for ``M`` members at once.

    Members share the gate structure; each has its own angle specification (which inputs
    and weights feed each rotation).

    ``init``: ``("u", q, elems, diag, real)`` fused one-qubit runs that act before any
    two-qubit gate on their qubit (they build a product state). ``body``: further runs
    and ``("perm", gates)``, consecutive CX/CZ gates applied as one signed permutation of
    the amplitudes. ``tail``: a final signed permutation, folded into the read-out.
    ``elems``: ``(name, angle_slot)``, ``angle_slot`` None for a fixed gate.
    """

    def __init__(self, n, ops, real, angles_per_member, measured_local, n_inputs, n_weights):
        self.n = n
        self.real = real
        self.dtype = np.float64 if real else np.complex128
        self.members = len(angles_per_member)
        self.measured = tuple(measured_local)  # local qubits read
        self.n_angles = len(angles_per_member[0]) if angles_per_member else 0
        self.init, self.body, self.tail = _schedule(ops)
        self._cache = {}
        M, G = self.members, self.n_angles

        def pad(kind, width):
            n_t = max([len(getattr(a, kind)) for ang in angles_per_member for a in ang] + [0])
            idx = np.zeros((M, G, n_t, width), dtype=np.int64)
            coef = np.zeros((M, G, n_t))
            for m, ang in enumerate(angles_per_member):
                for g, a in enumerate(ang):
                    for t, term in enumerate(getattr(a, kind)):
                        idx[m, g, t] = term[:-1]
                        coef[m, g, t] = term[-1]
            return idx, coef

        self.const = np.array([[a.const for a in ang] for ang in angles_per_member]).reshape(M, G)
        self.t_idx, self.t_coef = pad("t_terms", 1)
        self.x_idx, self.x_coef = pad("x_terms", 1)
        self.p_idx, self.p_coef = pad("p_terms", 2)
        # a slot whose angle is the same for every row when theta is shared
        self.row_constant = [
            all(not a[g].x_terms and not a[g].p_terms and a[g] == angles_per_member[0][g] for a in angles_per_member)
            for g in range(G)
        ]
        # flattened (member, angle, weight, coef[, input]) entries for the gradient scatter
        tm, tg, tt = np.nonzero(self.t_coef)
        self.g_lin = (tm, tg, self.t_idx[tm, tg, tt, 0], self.t_coef[tm, tg, tt])
        pm, pg, pt = np.nonzero(self.p_coef)
        self.g_prod = (pm, pg, self.p_idx[pm, pg, pt, 0], self.p_idx[pm, pg, pt, 1], self.p_coef[pm, pg, pt])
        self.n_inputs, self.n_weights = n_inputs, n_weights

    def angles(self, xT, tT, shared):
        """Per-slot angles: ``(M*B,)`` member-major, or ``(1,)`` for a row-constant slot.

        ``xT (n_in, B)``, ``tT (n_w, B)`` or ``(n_w, 1)`` when ``shared``.
        """
        B = xT.shape[1]
        M, G = self.members, self.n_angles
        out = np.empty((M, G, B))
        out[...] = self.const[..., None]
        for t in range(self.t_coef.shape[2]):
            out += self.t_coef[:, :, t, None] * tT[self.t_idx[:, :, t, 0]]
        for t in range(self.x_coef.shape[2]):
            out += self.x_coef[:, :, t, None] * xT[self.x_idx[:, :, t, 0]]
        for t in range(self.p_coef.shape[2]):
            out += self.p_coef[:, :, t, None] * tT[self.p_idx[:, :, t, 0]] * xT[self.p_idx[:, :, t, 1]]
        return [out[0, g, :1].copy() if shared and self.row_constant[g] else out[:, g, :].reshape(M * B) for g in range(G)]

    def perm(self, gates):
        key = ("perm", gates)
        if key not in self._cache:
            self._cache[key] = _signed_permutation(self.n, gates)
        return self._cache[key]

    def codes(self):
        """Integer of the measured bits of each basis state before the tail, ``(2**n,)``."""
        if "codes" not in self._cache:
            basis = np.arange(2**self.n)
            code = np.zeros(2**self.n, dtype=np.int64)
            for c, q in enumerate(self.measured):
                code |= ((basis >> q) & 1) << c
            if self.tail:
                code = code[self.perm(self.tail)[2]]  # state j after the tail holds basis idx[j]
            self._cache["codes"] = code
        return self._cache["codes"]

    def code_order(self):
        if "order" not in self._cache:
            self._cache["order"] = np.argsort(self.codes(), kind="stable")
        return self._cache["order"]

    def z_signs(self):
        """``(m, 2**n)``: +1/-1 of each measured bit for each basis state before the tail."""
        if "signs" not in self._cache:
            code = self.codes()
            self._cache["signs"] = np.stack([1.0 - 2.0 * ((code >> c) & 1) for c in range(len(self.measured))])
        return self._cache["signs"]


def _schedule(ops):
    """Split ops into initial runs, a body with merged permutations, and a tail.

    Consecutive two-qubit gates form one permutation group unless a one-qubit run must sit
    between two of them (it follows one and precedes the other on its qubit). Each run is
    then placed right after the group that precedes it on its qubit.
    """
    last_2q = {}  # qubit -> index of the latest two-qubit op on it
    group_of = {}  # two-qubit op index -> group number
    runs_after = {}  # group number (-1: none) -> one-qubit runs placed after it
    pending = {}  # qubit -> (run, its preceding two-qubit op index or None)
    groups = []
    for i, op in enumerate(ops):
        if op[0] == "u":
            pending[op[1]] = (op, last_2q.get(op[1]))
            continue
        qubits = op[1:]
        # a run on these qubits that follows a gate of the current group blocks joining it
        blocked = any(
            q in pending and pending[q][1] is not None and group_of[pending[q][1]] == len(groups) - 1 for q in qubits
        )
        if not groups or blocked:
            groups.append([])
        groups[-1].append((op[0],) + tuple(qubits))
        group_of[i] = len(groups) - 1
        for q in qubits:
            if q in pending:
                run, prev = pending.pop(q)
                runs_after.setdefault(-1 if prev is None else group_of[prev], []).append(run)
            last_2q[q] = i
    for q, (run, prev) in pending.items():
        runs_after.setdefault(-1 if prev is None else group_of[prev], []).append(run)
    init = tuple(runs_after.get(-1, ()))
    body = []
    for k, gates in enumerate(groups):
        body.append(("perm", tuple(gates)))
        body.extend(runs_after.get(k, ()))
    tail = ()
    if body and body[-1][0] == "perm":
        tail = body.pop()[1]
    return init, tuple(body), tail


def _op_qubits(op):
    return (op[1],) if op[0] == "u" else tuple(op[1:])


@dataclass(frozen=True, eq=False)
class Program:
    """A circuit compiled for the exact engine (see :func:`compile_circuit`).

    Attributes
    ----------
    n_qubits : int
        Qubits of the circuit.
    n_inputs : int
        Length of the circuit's ``x`` parameter vector.
    n_weights : int
        Length of the circuit's ``theta`` parameter vector.
    measured : tuple of int
        ``measured[c]`` is the circuit qubit measured into classical bit ``c``
        (``n_measured = len(measured)``).
    n_simulated : int
        Qubits simulated for ``output="probabilities"``: the joint backward light cone of
        all measurements.
    cone_qubits : tuple of int
        For ``output="z"``: qubits simulated for classical bit ``c``'s
        :math:`\\langle Z\\rangle` (its own light cone, or ``n_simulated`` when the full
        simulation is used for it).
    """

    n_qubits: int
    n_inputs: int
    n_weights: int
    measured: tuple
    n_simulated: int
    cone_qubits: tuple
    _full: _Block = field(repr=False)
    _z_plan: tuple = field(repr=False)  # ((block, clbits per member or None), ...)

    @property
    def n_measured(self) -> int:
        """Number of classical bits (each written by one measurement)."""
        return len(self.measured)


def _number(value) -> complex:
    return complex(value.numeric() if hasattr(value, "numeric") else value)


def _parse_angle(expr, x_of, t_of, where) -> _Angle:
    """Split an angle into constant, linear and (weight x input) product terms."""
    if not hasattr(expr, "parameters"):
        value = complex(expr)
        if value.imag:
            raise ValueError(f"{where}: angle {expr} is complex")
        return _Angle(float(value.real))
    params = list(expr.parameters)
    unknown = [p for p in params if p not in x_of and p not in t_of]
    if unknown:  # pragma: no cover - compile_circuit checks every parameter first
        raise ValueError(f"{where}: parameter {unknown[0]} belongs to neither 'x' nor 'theta'")
    form = (
        f"{where}: angle {expr} is not of the supported form "
        "c + sum_j a_j theta_j + sum_i b_i x_i + sum_ji c_ji theta_j x_i "
        "(products of one weight and one input only)"
    )
    zero = {p: 0.0 for p in params}

    def at(values):
        out = expr.bind(values) if values else expr
        try:
            return _number(out)
        except (TypeError, ValueError):  # pragma: no cover - fully bound is numeric
            raise ValueError(form) from None

    try:
        const = at(zero)
        lin = {}
        prod = {}
        for p in params:
            g = expr.gradient(p)
            a = _number(g.bind(zero)) if hasattr(g, "bind") else complex(g)
            if a != 0:
                lin[p] = a
            if p in t_of and hasattr(g, "parameters"):
                for q in params:
                    if q in x_of:
                        c = g.gradient(q)
                        c = _number(c.bind(zero)) if hasattr(c, "bind") else complex(c)
                        if c != 0:
                            prod[(p, q)] = c
    except (TypeError, ValueError, RuntimeError, ZeroDivisionError):
        raise ValueError(form) from None
    values = [complex(v) for v in [const, *lin.values(), *prod.values()]]
    if any(abs(v.imag) > 0 for v in values):
        raise ValueError(f"{where}: angle {expr} has a complex coefficient")
    # the form must reproduce the expression (catches x**2, theta*theta, sin(x), ...)
    rng = np.random.default_rng(12345)
    for _ in range(3):
        point = {p: float(rng.uniform(-1.7, 1.9)) for p in params}
        want = at(point)
        got = const + sum(a * point[p] for p, a in lin.items()) + sum(c * point[p] * point[q] for (p, q), c in prod.items())
        if not abs(want - got) <= 1e-9 * (1.0 + abs(want)):
            raise ValueError(form)
    return _Angle(
        float(const.real),
        tuple(sorted((t_of[p], a.real) for p, a in lin.items() if p in t_of)),
        tuple(sorted((x_of[p], a.real) for p, a in lin.items() if p in x_of)),
        tuple(sorted((t_of[p], x_of[q], c.real) for (p, q), c in prod.items())),
    )


def _read_circuit(circuit):
    """Gates (measurements removed), the measured qubit of each clbit, sizes."""
    x_of, t_of = {}, {}
    n_x = n_t = 0
    for p in circuit.parameters:
        vector = getattr(p, "vector", None)
        name = vector.name if vector is not None else p.name
        if name == "x":
            x_of[p] = p.index
            n_x = len(vector)
        elif name == "theta":
            t_of[p] = p.index
            n_t = len(vector)
        else:
            raise ValueError(f"circuit parameter {p} is neither in ParameterVector 'x' nor 'theta'")
    gates, measured, done = [], {}, set()
    for k, inst in enumerate(circuit.data):
        op = inst.operation
        qubits = tuple(circuit.find_bit(q).index for q in inst.qubits)
        if op.name == "barrier":
            continue
        where = f"gate {k} ({op.name} on qubit{'s' if len(qubits) > 1 else ''} {', '.join(map(str, qubits))})"
        if op.name == "measure":
            clbit = circuit.find_bit(inst.clbits[0]).index
            if clbit in measured:
                raise ValueError(f"classical bit {clbit} is written twice")
            measured[clbit] = qubits[0]
            done.add(qubits[0])
            continue
        if op.name not in _SUPPORTED:
            raise ValueError(f"{where}: gate {op.name!r} is not supported by the exact engine; supported: {sorted(_SUPPORTED)}")
        if done.intersection(qubits):
            raise ValueError(f"{where} acts on a measured qubit: only terminal measurements are supported")
        angle = _parse_angle(op.params[0], x_of, t_of, where) if op.name in _ROTATIONS else None
        gates.append(_Gate(op.name, qubits, angle))
    if not measured or sorted(measured) != list(range(circuit.num_clbits)):
        raise ValueError("every classical bit must be written by exactly one measurement (and at least one must be)")
    return gates, tuple(measured[c] for c in range(circuit.num_clbits)), n_x, n_t


def _prune_diagonal_tail(gates):
    """Drop diagonal gates followed only by diagonal gates on their qubits."""
    dense = set()
    kept = []
    for gate in reversed(gates):
        if gate.name in _DIAGONAL and not dense.intersection(gate.qubits):
            continue
        if gate.name not in _DIAGONAL:
            dense.update(gate.qubits)
        kept.append(gate)
    kept.reverse()
    return kept


def _light_cone(gates, qubits):
    """Gates in the backward light cone of ``qubits`` (runs of diagonal gates commute)."""
    cone = set(qubits)
    kept = []
    i = len(gates) - 1
    while i >= 0:
        if gates[i].name in _DIAGONAL:
            j = i
            while j >= 0 and gates[j].name in _DIAGONAL:
                j -= 1
            run = [g for g in gates[j + 1 : i + 1] if cone.intersection(g.qubits)]
            for g in run:
                cone.update(g.qubits)
            kept.extend(reversed(run))
            i = j
            continue
        if cone.intersection(gates[i].qubits):
            cone.update(gates[i].qubits)
            kept.append(gates[i])
        i -= 1
    kept.reverse()
    return kept, sorted(cone)


def _structure(gates, local):
    """Ops (fused one-qubit runs, two-qubit gates) on local qubits, and angle slots."""
    ops, angles = [], []
    pending = {}

    def flush(q):
        run = pending.pop(q, None)
        if run:
            elems = tuple(run)
            diag = all(name in ("rz", "z") for name, _ in elems)
            real = all(name in _REAL for name, _ in elems)
            ops.append(("u", q, elems, diag, real))

    for g in gates:
        qs = tuple(local[q] for q in g.qubits)
        if len(qs) == 1:
            slot = None
            if g.angle is not None:
                slot = len(angles)
                angles.append(g.angle)
            pending.setdefault(qs[0], []).append((g.name, slot))
        else:
            for q in qs:
                flush(q)
            ops.append((g.name,) + qs)
    for q in sorted(pending):
        flush(q)
    return ops, angles


def _signature(ops):
    return tuple((op[0], op[1], tuple(name for name, _ in op[2])) if op[0] == "u" else op for op in ops)


def compile_circuit(circuit) -> Program:
    """Compile a parameterised circuit for :func:`forward`, :func:`vjp` and :func:`jacobian`.

    Parameters
    ----------
    circuit : qiskit.QuantumCircuit
        Parameters: elements of a :class:`~qiskit.circuit.ParameterVector` named ``x``
        (inputs) and/or one named ``theta`` (weights); their declared lengths are
        ``n_inputs`` and ``n_weights``. Gates ``h, x, y, z, rx, ry, rz, cx, cz`` and
        ``barrier``; every classical bit written by exactly one terminal ``measure``.
        Rotation angles of the form
        :math:`c + \\sum_j a_j\\theta_j + \\sum_i b_i x_i + \\sum c_{ji}\\theta_j x_i`.

    Returns
    -------
    Program

    Raises
    ------
    ValueError
        An unsupported gate or angle (the message names the gate's position, name,
        qubits and angle), a gate after a measurement, a parameter outside ``x``/``theta``.
    """
    gates, measured, n_x, n_t = _read_circuit(circuit)
    gates = _prune_diagonal_tail(gates)
    full_gates, full_qubits = _light_cone(gates, set(measured))
    local = {q: i for i, q in enumerate(full_qubits)}
    ops, angles = _structure(full_gates, local)
    real = all(g.name in _REAL for g in full_gates)
    full = _Block(len(full_qubits), ops, real, [angles], [local[q] for q in measured], n_x, n_t)
    # light cones of the single measured qubits, grouped by gate structure
    cones = [_light_cone(full_gates, {q}) for q in measured]
    use_cones = sum(2 ** len(c[1]) for c in cones) < 2 ** len(full_qubits)
    plan = []
    if use_cones:
        groups = {}
        for clbit, (cgates, cqubits) in enumerate(cones):
            clocal = {q: i for i, q in enumerate(cqubits)}
            cops, cangles = _structure(cgates, clocal)
            key = (len(cqubits), _signature(cops), clocal[measured[clbit]])
            entry = groups.setdefault(key, [cops, all(g.name in _REAL for g in cgates), [], []])
            entry[2].append(cangles)
            entry[3].append(clbit)
        for (n, _, q0), (cops, creal, cangles, clbits) in groups.items():
            plan.append((_Block(n, cops, creal, cangles, [q0], n_x, n_t), tuple(clbits)))
        cone_qubits = tuple(len(c[1]) for c in cones)
    else:
        plan.append((full, None))
        cone_qubits = (len(full_qubits),) * len(measured)
    return Program(
        n_qubits=circuit.num_qubits,
        n_inputs=n_x,
        n_weights=n_t,
        measured=measured,
        n_simulated=len(full_qubits),
        cone_qubits=cone_qubits,
        _full=full,
        _z_plan=tuple(plan),
    )


@lru_cache(maxsize=64)
def _cached_program(config: Preset, variant) -> Program:
    return compile_circuit(qnn.build_circuit(config, variant))


def program_for(config: Preset, variant) -> Program:
    """The compiled :func:`cfmimo.qnn.build_circuit` of ``(config, variant)`` (cached).

    Raises
    ------
    ValueError
        As :func:`cfmimo.qnn.build_circuit` for a bad ``config`` or ``variant``.
    """
    try:
        hash((config, variant))
    except TypeError:
        raise ValueError(f"config and variant must be hashable (a Preset and a variant name), got {type(config).__name__}, {variant!r}") from None
    return _cached_program(config, variant)


# ---------------------------------------------------------------------------------------
# kernels. A state is stored as X[basis, col, row] of shape (2**n, K, R): R batch rows
# (member-major when a block simulates several light cones), K columns (1 for the state,
# one per output for the cotangents of the backward pass). Rows are the contiguous axis,
# so a per-row gate entry of shape (R,) broadcasts over everything else. Every kernel is
# element-wise (or a gather): a row's numbers never depend on the other rows.
# ---------------------------------------------------------------------------------------


def _fold(a):
    """Sum over axis 0 (a power of two) by pairwise halving: the order of additions is
    fixed by the length of axis 0 alone, whatever the other axes."""
    n = a.shape[0]
    if n == 1:
        return a[0].copy()
    a = a[: n // 2] + a[n // 2 :]
    n //= 2
    while n > 1:
        h = n // 2
        np.add(a[:h], a[h:n], out=a[:h])
        n = h
    return a[0]


def _mat2(elems, angles, R, dtype):
    """Fused 2x2 matrix of a one-qubit run (first gate rightmost), ``(R, 2, 2)``, or
    ``(1, 2, 2)`` when every angle in it is the same for all rows; ``angles`` is a list
    of per-slot arrays, each ``(R,)`` or ``(1,)``."""
    rows = max([angles[slot].shape[0] for _, slot in elems if slot is not None] + [1])
    if all(name in _REAL for name, _ in elems):
        dtype = np.float64  # a real run stays real (applied to complex states on float views)
    u = None
    for name, slot in elems:
        if slot is None:
            g = _FIXED_MATRIX[name].astype(dtype)[None]
        else:
            half = 0.5 * angles[slot]
            c, s = np.cos(half), np.sin(half)
            g = np.empty((half.shape[0], 2, 2), dtype=dtype)
            if name == "ry":
                g[:, 0, 0], g[:, 0, 1], g[:, 1, 0], g[:, 1, 1] = c, -s, s, c
            elif name == "rx":
                g[:, 0, 0], g[:, 0, 1], g[:, 1, 0], g[:, 1, 1] = c, -1j * s, -1j * s, c
            else:  # rz
                g[:, 0, 0], g[:, 1, 1] = c - 1j * s, c + 1j * s
                g[:, 0, 1] = g[:, 1, 0] = 0.0
        u = g if u is None else _mul2(g, u)
    if u.shape[0] != rows:  # pragma: no cover - matmul broadcasts (1, 2, 2) already
        u = np.broadcast_to(u, (rows, 2, 2))
    return u


def _mul2(a, b):
    """Products of stacks of 2x2 matrices, ``(R or 1, 2, 2)``, element-wise (``np.matmul``
    may call BLAS, whose rounding can depend on the stack size)."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape), dtype=np.result_type(a, b))
    for i in range(2):
        for j in range(2):
            out[:, i, j] = a[:, i, 0] * b[:, 0, j] + a[:, i, 1] * b[:, 1, j]
    return out


def _dagger(u):
    return np.conj(np.swapaxes(u, -1, -2))


def _apply_u(X, buf, n, q, u, diag):
    """``u`` on qubit ``q`` of ``X (2**n, K, R)``; returns ``(new X, free buffer)``."""
    K, R = X.shape[1], X.shape[2]
    L, Q = 2 ** (n - 1 - q), 2**q
    per_row = u.shape[0] > 1
    if diag:
        u00, u11 = u[:, 0, 0], u[:, 1, 1]
        if not per_row:
            u00, u11 = u00[0], u11[0]
        v = X.reshape(L, 2, Q * K, R)
        np.multiply(v[:, 0], u00, out=v[:, 0])
        np.multiply(v[:, 1], u11, out=v[:, 1])
        return X, buf
    real_u = not np.iscomplexobj(u)
    if real_u and np.iscomplexobj(X):  # a real gate on a complex state: real arithmetic
        v = X.view(np.float64).reshape(L, 2, Q * K, 2 * R)
        o = buf.view(np.float64).reshape(L, 2, Q * K, 2 * R)
        entries = [np.repeat(u[:, i, j], 2) if per_row else u[0, i, j] for i, j in ((0, 0), (0, 1), (1, 0), (1, 1))]
    else:
        if np.iscomplexobj(u) and not np.iscomplexobj(X):  # pragma: no cover - blocks are typed at compile time
            raise TypeError("complex gate on a real state")
        v = X.reshape(L, 2, Q * K, R)
        o = buf.reshape(L, 2, Q * K, R)
        entries = [u[:, i, j] if per_row else u[0, i, j] for i, j in ((0, 0), (0, 1), (1, 0), (1, 1))]
    if not per_row and real_u:  # one real 2x2 for every row: a single pass (c_einsum: no BLAS)
        np.einsum("ab,lbn->lan", u[0], v.reshape(L, 2, -1), out=o.reshape(L, 2, -1))
        return buf, X
    u00, u01, u10, u11 = entries
    v0, v1, o0, o1 = v[:, 0], v[:, 1], o[:, 0], o[:, 1]
    np.multiply(v0, u00, out=o0)
    np.multiply(v1, u01, out=o1)
    np.add(o0, o1, out=o0)
    np.multiply(v0, u10, out=o1)
    np.multiply(v1, u11, out=v1)
    np.add(o1, v1, out=o1)
    return buf, X


def _signed_permutation(n, gates):
    """``(idx, sign, inv)`` with ``(G psi)[j] = sign[j] * psi[idx[j]]`` for a sequence
    of CX / CZ gates (``sign`` None when all +1)."""
    j = np.arange(2**n)
    idx = j.copy()
    sign = np.ones(2**n)
    for name, a, b in gates:
        if name == "cx":
            src = j ^ (((j >> a) & 1) << b)
            idx, sign = idx[src], sign[src]
        else:  # cz
            sign = sign * (1 - 2 * (((j >> a) & 1) & ((j >> b) & 1)))
    inv = np.empty_like(idx)
    inv[idx] = j
    if np.all(sign > 0):
        return idx, None, inv, None
    return idx, sign, inv, sign[inv]


def _apply_perm(X, buf, perm, inverse=False):
    idx, sign, inv, sign_inv = perm
    np.take(X, inv if inverse else idx, axis=0, out=buf)
    s = sign_inv if inverse else sign
    if s is not None:
        np.multiply(buf, s[:, None, None], out=buf)
    return buf, X


def _product_state(n, vectors, R, dtype):
    """``(2**n, 1, R)`` product state; ``vectors[q]`` is ``(rows, 2)`` or None (|0>)."""
    a = None
    for q in range(n - 1, -1, -1):
        v = vectors.get(q)
        if v is None:
            v = np.zeros((1, 2), dtype=dtype)
            v[0, 0] = 1.0
        vt = np.broadcast_to(v.T.astype(dtype, copy=False), (2, R))
        a = vt if a is None else (a[:, None, :] * vt[None, :, :]).reshape(-1, R)
    return np.ascontiguousarray(a).reshape(2**n, 1, R)


def _cross_parts(lam, psi, n, q, needed):
    """Real and imaginary parts of ``C[a, b] = sum_rest conj(lam[a, rest]) psi[b, rest]``.

    ``needed``: ``(a, b, "re"/"im")`` entries. Returns ``{(a, b, "re"/"im"): (K, R)}``.
    Computed on float views (a complex product costs twice as much) by ``np.einsum``
    without BLAS: each sum runs in a fixed order, whatever the number of rows.
    """
    K, R = lam.shape[1], lam.shape[2]
    L, Q = 2 ** (n - 1 - q), 2**q
    out = {}
    if not np.iscomplexobj(lam):
        lv = lam.reshape(L, 2, Q, K, R)
        pv = psi.reshape(L, 2, Q, R)
        for a, b, part in needed:
            out[(a, b, part)] = np.einsum("lqkr,lqr->kr", lv[:, a], pv[:, b]) if part == "re" else np.zeros((K, R))
        return out
    lv = lam.view(np.float64).reshape(L, 2, Q, K, 2 * R)
    pv = psi.view(np.float64).reshape(L, 2, Q, R, 2)
    for a, b, part in needed:
        pb = pv[:, b]
        if part == "im":  # im(conj(l) p) = lr pi - li pr
            pb = np.stack([pb[..., 1], -pb[..., 0]], axis=-1)
        # re(conj(l) p) = lr pr + li pi: sum over the other qubits, then over the pair
        pair = np.einsum("lqkr,lqr->kr", lv[:, a], pb.reshape(L, Q, 2 * R)).reshape(K, R, 2)
        out[(a, b, part)] = pair[..., 0] + pair[..., 1]
    return out


def _generator_overlap(lam, psi, n, q, M):
    """``Im <lam| M_q |psi>`` per column and row, ``(K, R)``, for a purely imaginary 2x2
    ``M`` on qubit ``q`` (a real run's ``A Y A^T``): ``Re <lam| Im(M)_q |psi>``, one real
    pass over ``lam``."""
    K, R = lam.shape[1], lam.shape[2]
    L, Q = 2 ** (n - 1 - q), 2**q
    m = np.ascontiguousarray(M.imag)
    if not np.iscomplexobj(lam):
        mp = np.einsum("ab,lbn->lan", m, psi.reshape(L, 2, Q * R)).reshape(L, 2, Q, R)
        return np.einsum("laqkr,laqr->kr", lam.reshape(L, 2, Q, K, R), mp)
    mp = np.einsum("ab,lbn->lan", m, psi.view(np.float64).reshape(L, 2, Q * 2 * R)).reshape(L, 2, Q, 2 * R)
    pair = np.einsum("laqkr,laqr->kr", lam.view(np.float64).reshape(L, 2, Q, K, 2 * R), mp).reshape(K, R, 2)
    return pair[..., 0] + pair[..., 1]


def _run_matrices(elems, angles, R):
    """``(slot, A_i P_i A_i^dag)`` of every rotation of a run, each ``(R or 1, 2, 2)``."""
    A = None
    mats = []
    for name, slot in reversed(elems):
        if slot is not None:
            P = _PAULI[name][None]
            M = P if A is None else _mul2(_mul2(A, P), _dagger(A))
            mats.append((slot, M))
        single = _mat2(((name, slot),), angles, R, np.complex128)
        A = single if A is None else _mul2(A, single)
    return mats


@lru_cache(maxsize=4096)
def _run_pattern(elems):
    """Entries ``(a, b, part)`` of the cross matrix that a run's gradients need: the
    non-zero real/imaginary parts of ``A P A^dag`` at generic angles."""
    rng = np.random.default_rng(0)
    slots = [slot for _, slot in elems if slot is not None]
    angles = {slot: rng.uniform(0.1, 3.0, 3) for slot in slots}
    need = set()
    for _, M in _run_matrices(elems, angles, 3):
        for a in range(2):
            for b in range(2):
                if np.any(np.abs(M[:, a, b].imag) > 1e-12):
                    need.add((a, b, "re"))  # Im(m C) = Im(m) Re(C) + Re(m) Im(C)
                if np.any(np.abs(M[:, a, b].real) > 1e-12):
                    need.add((a, b, "im"))
    return tuple(sorted(need))


def _run_gradients(elems, angles, R, C, dang):
    """Gradients of every rotation of a fused run from the cross matrix ``C`` of the
    cotangent and the state after the run (``{(a, b, "re"/"im"): (K, R)}``):
    ``d L / d phi_i = Im sum_ab (A_i P_i A_i^dag)[a, b] C[a, b]`` with ``A_i`` the product
    of the run's gates after rotation ``i``."""
    for slot, M in _run_matrices(elems, angles, R):
        d = 0.0
        for a, b, part in _run_pattern(elems):
            m = M[:, a, b] if M.shape[0] > 1 else M[0, a, b]
            d = d + (np.imag(m) if part == "re" else np.real(m)) * C[(a, b, part)]
        dang[slot] += d


def _init_cross(lam, vectors, n, qubits):
    """Cross matrices of the initial product state for each qubit in ``qubits``.

    With :math:`\\psi = \\bigotimes_p v_p`, ``C_q[a, b] = v_q[b] E_q[a]`` where
    ``E_q[a] = sum_rest conj(lam[a, rest]) prod_{p != q} v_p[rest_p]``. All ``E_q`` come
    from one divide-and-conquer contraction (about two passes over ``lam``).
    """
    K, R = lam.shape[1], lam.shape[2]
    zero = np.zeros((R, 2))
    zero[:, 0] = 1.0
    vec = {q: np.broadcast_to(vectors.get(q, zero), (R, 2)).T for q in range(n)}
    env = {}

    def product(qs):  # (2**len(qs), R), qubit qs[0] least significant
        a = None
        for q in reversed(qs):
            a = vec[q] if a is None else (a[:, None, :] * vec[q][None, :, :]).reshape(-1, R)
        return a

    def recurse(T, qs):  # T: (2**len(qs), K, R), conj(lam) contracted over the other qubits
        if not any(q in qubits for q in qs):
            return
        if len(qs) == 1:
            env[qs[0]] = T
            return
        h = len(qs) // 2
        low, high = qs[:h], qs[h:]
        view = T.reshape(2 ** len(high), 2**h, K, T.shape[-1])
        pl, ph = product(low), product(high)
        # contract the low qubits (axis 1), then the high ones (axis 0)
        recurse(np.add.reduce(view * pl[None, :, None, :], axis=1), high)
        recurse(np.add.reduce(view * ph[:, None, None, :], axis=0), low)

    recurse(np.conj(lam) if np.iscomplexobj(lam) else lam, list(range(n)))
    out = {}
    for q in qubits:
        E = env[q]  # (2, K, R)
        v = vec[q]  # (2, R)
        out[q] = {(a, b): E[a] * v[b][None, :] for a in range(2) for b in range(2)}
    return out


def _simulate(block, angles, R):
    """Forward pass: the state before the tail permutation, ``(2**n, 1, R)``."""
    n, dtype = block.n, block.dtype
    vectors = {op[1]: _mat2(op[2], angles, R, dtype)[:, :, 0] for op in block.init}
    X = _product_state(n, vectors, R, dtype)
    buf = np.empty_like(X)
    for op in block.body:
        if op[0] == "u":
            X, buf = _apply_u(X, buf, n, op[1], _mat2(op[2], angles, R, dtype), op[3])
        else:
            X, buf = _apply_perm(X, buf, block.perm(op[1]))
    return X


def _backward(block, angles, psi, lam):
    """Adjoint pass; ``dL/dangle`` of shape ``(G, K, R)``. ``psi``, ``lam`` are consumed."""
    n, dtype = block.n, block.dtype
    K, R = lam.shape[1], lam.shape[2]
    dang = np.zeros((block.n_angles, K, R))
    if not (psi.flags.c_contiguous and lam.flags.c_contiguous):  # pragma: no cover - internal invariant
        raise RuntimeError("the adjoint pass needs C-contiguous states")
    pbuf, lbuf = np.empty_like(psi), np.empty_like(lam)
    for op in reversed(block.body):
        if op[0] == "u":
            _, q, elems, diag, _ = op
            if any(slot is not None for _, slot in elems):
                mats = _run_matrices(elems, angles, R)
                if len(mats) <= 2 and all(M.shape[0] == 1 and not np.any(M.real) for _, M in mats):
                    for slot, M in mats:  # one pass over lam per rotation
                        dang[slot] += _generator_overlap(lam, psi, n, q, M[0])
                else:
                    C = _cross_parts(lam, psi, n, q, _run_pattern(elems))
                    _run_gradients(elems, angles, R, C, dang)
            u = _dagger(_mat2(elems, angles, R, dtype))
            psi, pbuf = _apply_u(psi, pbuf, n, q, u, diag)
            lam, lbuf = _apply_u(lam, lbuf, n, q, u, diag)
        else:
            perm = block.perm(op[1])
            psi, pbuf = _apply_perm(psi, pbuf, perm, inverse=True)
            lam, lbuf = _apply_perm(lam, lbuf, perm, inverse=True)
    # the initial runs act on different qubits and commute: each one's gradient comes
    # from the product state and the cotangent there, as if it were applied last
    trained = [op for op in block.init if any(slot is not None for _, slot in op[2])]
    if trained:
        vectors = {op[1]: _mat2(op[2], angles, R, dtype)[:, :, 0] for op in block.init}
        cross = _init_cross(lam, vectors, n, {op[1] for op in trained})
        for _, q, elems, _, _ in trained:
            Cq = cross[q]
            C = {(a, b, part): (Cq[(a, b)].real if part == "re" else (Cq[(a, b)].imag if np.iscomplexobj(Cq[(a, b)]) else 0.0)) for a, b, part in _run_pattern(elems)}
            _run_gradients(elems, angles, R, C, dang)
    return dang


def _basis_probabilities(psi):
    p = psi[:, 0]
    if np.iscomplexobj(p):
        return p.real**2 + p.imag**2
    return p * p


def _probabilities(block, psi):
    """Probabilities ``(2**m, R)`` of the measured bits (code of the measured qubits)."""
    p = _basis_probabilities(psi)  # (2**n, R)
    order = block.code_order()
    m = len(block.measured)
    grouped = np.take(p, order, axis=0).reshape(2**m, 2 ** (block.n - m), p.shape[1])
    return _fold(np.moveaxis(grouped, 1, 0)) if block.n > m else grouped[:, 0]


def _z_from_probabilities(P, m):
    """``<Z>`` of each measured bit from the code probabilities ``P (2**m, R)``, ``(m, R)``."""
    out = np.empty((m, P.shape[1]))
    for c in range(m):
        v = P.reshape(2 ** (m - 1 - c), 2, 2**c, P.shape[1])
        out[c] = _fold((v[:, 0] - v[:, 1]).reshape(-1, P.shape[1]))
    return out


def _weight_gradient(block, dang, xT, B):
    """``dL/dtheta`` per row, ``(M, K, B, n_w)``, from ``dang (G, K, M*B)``."""
    M, G = block.members, block.n_angles
    K = dang.shape[1]
    d = dang.reshape(G, K, M, B).transpose(2, 0, 1, 3)  # (M, G, K, B)
    grad = np.zeros((block.n_weights, M, K, B))
    m, g, j, c = block.g_lin
    if len(m):
        np.add.at(grad, (j, m), c[:, None, None] * d[m, g])
    m, g, j, i, c = block.g_prod
    if len(m):
        np.add.at(grad, (j, m), c[:, None, None] * xT[i][:, None, :] * d[m, g])
    return grad.transpose(1, 2, 3, 0)


# ---------------------------------------------------------------------------------------
# batching, chunking, validation
# ---------------------------------------------------------------------------------------


def _check_program(program):
    if not isinstance(program, Program):
        raise TypeError(f"program must be a cfmimo.engine.Program (from compile_circuit or program_for), got {type(program).__name__}")


def _check_output(output):
    if output not in OUTPUTS:
        raise ValueError(f"output = {output!r} is unknown; allowed: {list(OUTPUTS)}")


def _batch(program, x, theta):
    """Validate; return ``xT (n_in, B)``, ``tT (n_w, B or 1)``, B, shared, single."""
    x = as_real_array("x", x, "input angles")
    theta = as_real_array("theta", theta, "weights")
    if x.ndim not in (1, 2) or x.shape[-1] != program.n_inputs:
        raise ValueError(f"x must have shape (B, n_inputs = {program.n_inputs}) or (n_inputs,), got shape {x.shape}")
    if theta.ndim not in (1, 2) or theta.shape[-1] != program.n_weights:
        raise ValueError(f"theta must have shape (n_weights = {program.n_weights},) or (B, n_weights), got shape {theta.shape}")
    if x.ndim == 2 and x.shape[0] == 0 or theta.ndim == 2 and theta.shape[0] == 0:
        raise ValueError("x (and theta) must hold at least one batch row; got an empty batch")
    if x.ndim == 2 and theta.ndim == 2 and x.shape[0] != theta.shape[0]:
        raise ValueError(f"x has {x.shape[0]} batch rows and theta {theta.shape[0]}; they must agree (or theta be 1-D)")
    B = x.shape[0] if x.ndim == 2 else (theta.shape[0] if theta.ndim == 2 else 1)
    xT = np.ascontiguousarray(np.broadcast_to(x, (B, program.n_inputs)).T)
    tT = np.ascontiguousarray(theta.reshape(-1, program.n_weights).T)
    return xT, tT, B, theta.ndim == 1, x.ndim == 1 and theta.ndim == 1


def _chunk_rows(block, K, B, budget):
    """Rows per chunk for a block whose backward pass carries ``K`` cotangent columns."""
    item = 8 if block.real else 16
    # state and its buffer, cotangents and their buffer, temporaries of the size of each
    per_row = (2**block.n) * block.members * item * (3 + 3 * K)
    if per_row > budget:
        raise ValueError(
            f"simulating {block.n} qubits needs {per_row:,} bytes for one batch row "
            f"(2**{block.n} amplitudes x {block.members} light cone(s)), more than the memory budget of "
            f"{budget:,} bytes; reduce the circuit (qubits measured, light cones) or raise memory_budget"
        )
    return max(1, min(B, budget // per_row))


def _check_budget(memory_budget):
    if memory_budget is None:
        return MEMORY_BUDGET
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, (int, np.integer)) or memory_budget < 1:
        raise ValueError(f"memory_budget = {memory_budget!r} is out of range; allowed: a positive int (bytes) or None")
    return int(memory_budget)


def _check_cotangent(cot, B, n_out, single):
    w = as_real_array("cotangent", cot, "entries")
    want = (n_out,) if single else (B, n_out)
    if w.shape != want:
        raise ValueError(f"cotangent must have the shape of the values, {want}, got shape {w.shape}")
    return w.reshape(B, n_out)


def _run(program, x, theta, output, memory_budget, cotangent=None, jac=False):
    """Forward (and backward) over every block and chunk.

    Returns ``values (B, n_out)``, ``grad`` (``(B, n_out, n_w)`` for the Jacobian,
    ``(B, n_w)`` for a cotangent, None otherwise), ``shared``, ``single``.
    """
    _check_program(program)
    _check_output(output)
    budget = _check_budget(memory_budget)
    xT, tT, B, shared, single = _batch(program, x, theta)
    n_out = 2**program.n_measured if output == "probabilities" else program.n_measured
    if cotangent is not None and not callable(cotangent):
        cotangent = _check_cotangent(cotangent, B, n_out, single)
    want_grad = cotangent is not None or jac
    plan = ((program._full, None),) if output == "probabilities" else program._z_plan
    # sizes first: a refusal must come before any large allocation
    chunks = [_chunk_rows(block, (n_out if (jac and clbits is None) else 1) if want_grad else 0, B, budget) for block, clbits in plan]
    out_bytes = 8 * B * n_out * (1 + (program.n_weights if jac else 0))
    if out_bytes > budget:
        raise ValueError(
            f"the {'Jacobian' if jac else 'values'} of {B} rows x {n_out} outputs need {out_bytes:,} bytes, more than "
            f"the memory budget of {budget:,} bytes; pass fewer rows, or output='z' for {program.n_measured} measured qubits"
        )
    values = np.empty((B, n_out))
    states = []
    # forward passes (all values first: a callable cotangent may need them all)
    for (block, clbits), rows in zip(plan, chunks):
        for start in range(0, B, rows):
            sl = slice(start, min(B, start + rows))
            b = sl.stop - sl.start
            angles = block.angles(xT[:, sl], tT if shared else tT[:, sl], shared)
            psi = _simulate(block, angles, block.members * b)
            P = _probabilities(block, psi)  # (2**m, M*b)
            if clbits is None:
                values[sl] = P.T if output == "probabilities" else _z_from_probabilities(P, len(block.measured)).T
            else:
                z = _z_from_probabilities(P, 1)[0]
                values[sl, list(clbits)] = z.reshape(block.members, b).T
            if want_grad:
                states.append((block, clbits, sl, angles, psi))
    if not want_grad:
        return values, None, shared, single
    if callable(cotangent):
        cotangent = _check_cotangent(cotangent(values[0] if single else values), B, n_out, single)
    grad = np.zeros((B, n_out, program.n_weights)) if jac else np.zeros((B, program.n_weights))
    while states:
        block, clbits, sl, angles, psi = states.pop(0)
        b = sl.stop - sl.start
        n = block.n
        R = block.members * b
        if clbits is None:
            if output == "probabilities":
                code = block.codes()  # (2**n,) code of each basis state
                if jac:
                    lam = np.zeros((2**n, n_out, R), dtype=psi.dtype)
                    lam[np.arange(2**n), code, :] = psi[:, 0]
                else:
                    lam = (cotangent[sl].T[code] * psi[:, 0])[:, None, :]
            else:
                signs = block.z_signs()  # (m, 2**n)
                if jac:
                    lam = signs.T[:, :, None] * psi
                else:
                    w = np.zeros((2**n, R))
                    for c in range(len(block.measured)):
                        w += signs[c][:, None] * cotangent[sl, c][None, :]
                    lam = (w * psi[:, 0])[:, None, :]
            dang = _backward(block, angles, psi, np.ascontiguousarray(lam))
            g = _weight_gradient(block, dang, xT[:, sl], b)[0]  # (K, b, n_w)
            if jac:
                grad[sl] += g.transpose(1, 0, 2)
            else:
                grad[sl] += g[0]
        else:
            sign = block.z_signs()[0][:, None]
            w = np.ones((block.members, b)) if jac else cotangent[sl][:, list(clbits)].T  # (M, b)
            lam = (sign * w.reshape(1, R) * psi[:, 0])[:, None, :]
            dang = _backward(block, angles, psi, np.ascontiguousarray(lam))
            g = _weight_gradient(block, dang, xT[:, sl], b)[:, 0]  # (M, b, n_w)
            if jac:
                for m, c in enumerate(clbits):
                    grad[sl, c] += g[m]
            else:
                for m in range(block.members):
                    grad[sl] += g[m]
    return values, grad, shared, single


def _shape_out(values, single):
    return values[0] if single else values


def forward(program: Program, x, theta, *, output: str = "probabilities", memory_budget: int | None = None) -> np.ndarray:
    """Evaluate a compiled circuit on a batch of inputs.

    Parameters
    ----------
    program : Program
        From :func:`compile_circuit` or :func:`program_for`.
    x : array_like, shape ``(B, n_inputs)`` or ``(n_inputs,)``
        Input angles (real).
    theta : array_like, shape ``(n_weights,)`` or ``(B, n_weights)``
        Weights, shared by the batch (1-D) or one row per input (2-D).
    output : {"probabilities", "z"}
        ``"probabilities"``: the distribution of the measured classical bits,
        ``(B, 2**n_measured)``, index = the bitstring's integer, classical bit 0 least
        significant. ``"z"``: :math:`\\langle Z\\rangle` of the qubit measured into each
        classical bit, ``(B, n_measured)`` in classical-bit order.
    memory_budget : int, optional
        Bytes of working set per chunk of rows (default :data:`MEMORY_BUDGET`).

    Returns
    -------
    ndarray
        Shapes as above; without the batch axis when ``x`` and ``theta`` are both 1-D.

    Raises
    ------
    ValueError
        Bad shapes, an empty batch, complex/NaN/inf entries, an unknown ``output``, or a
        simulation whose single row exceeds the memory budget (the message states qubits
        and bytes).
    """
    values, _, _, single = _run(program, x, theta, output, memory_budget)
    return _shape_out(values, single)


def vjp(program: Program, x, theta, cotangent, *, output: str = "probabilities", memory_budget: int | None = None):
    """Values and the weight gradient of :math:`\\sum_{b,o} w_{b,o}\\,\\mathrm{out}_{b,o}`.

    Adjoint differentiation: one forward pass, one backward pass (exact; no shifts).

    Parameters
    ----------
    program, x, theta, output, memory_budget : as in :func:`forward`
    cotangent : array_like or callable
        :math:`w`, with the shape of the values (``(B, n_out)`` or ``(n_out,)``). A
        callable receives the values and returns the cotangent: the loss gradient of a
        training step then costs one forward pass, not two.

    Returns
    -------
    values : ndarray
        As :func:`forward`.
    grad_theta : ndarray
        ``(n_weights,)``, summed over the batch, when ``theta`` is 1-D; ``(B, n_weights)``
        (row ``b``: the gradient of row ``b``'s term) when ``theta`` is 2-D.
    """
    if cotangent is None:
        raise ValueError("cotangent must be an array with the shape of the values, or a callable")
    values, grad, shared, single = _run(program, x, theta, output, memory_budget, cotangent=cotangent)
    if shared:
        grad = grad.sum(axis=0)
    return _shape_out(values, single), grad


def jacobian(program: Program, x, theta, *, output: str = "probabilities", memory_budget: int | None = None):
    """Values and the Jacobian of every output with respect to the weights.

    All outputs' cotangents are carried through ONE backward pass (per light cone for
    ``output="z"`` when cones are simulated separately).

    Returns
    -------
    values : ndarray, ``(B, n_out)`` (``(n_out,)`` for a single row)
    jac : ndarray, ``(B, n_out, n_weights)`` (``(n_out, n_weights)`` for a single row)
        ``jac[b, o, j] = d values[b, o] / d theta_j`` (of row ``b``'s weights).

    References
    ----------
    Narottama & Duong (2022), Eq. (24).
    """
    values, grad, _, single = _run(program, x, theta, output, memory_budget, jac=True)
    return _shape_out(values, single), _shape_out(grad, single)


# ---------------------------------------------------------------------------------------
# wrappers by (config, variant), old broadcasting convention (leading axes broadcast)
# ---------------------------------------------------------------------------------------


def exact_probabilities(config: Preset, variant, x, theta) -> np.ndarray:
    """Exact bitstring probabilities of the measured QNN circuit, batched.

    Parameters
    ----------
    config : cfmimo.config.Preset
    variant : a variant of :mod:`cfmimo.qnn`
    x : array_like, shape ``(..., n_inputs)``
        Input angles (see :func:`cfmimo.qnn.encode_angles`).
    theta : array_like, shape ``(..., n_weights)``
        Weights. The leading axes of ``x`` and ``theta`` broadcast.

    Returns
    -------
    ndarray, shape ``(..., 2**n_clbits)``
        Index = integer value of the bitstring, classical bit 0 least significant.

    References
    ----------
    Narottama & Duong (2022), Eq. (13).
    """
    program = program_for(config, variant)
    lead, xf, tf = broadcast_batch(x, theta, program.n_inputs, program.n_weights)
    probs = forward(program, xf, tf)
    return probs.reshape(lead + probs.shape[-1:])


def exact_outputs(config: Preset, variant, x, theta) -> np.ndarray:
    """Readouts of :func:`cfmimo.qnn.outputs_from_probabilities` from the exact engine
    (paper: :math:`o` of shape ``(..., n_ap)``).

    References
    ----------
    Narottama & Duong (2022), Eq. (13).
    """
    return qnn.outputs_from_probabilities(config, variant, exact_probabilities(config, variant, x, theta))


def exact_vjp(config: Preset, variant, x, theta, cotangent):
    """Probabilities and the per-row gradient of :math:`\\sum_c w_c\\, p_c` w.r.t. ``theta``.

    Parameters
    ----------
    x, theta : as in :func:`exact_probabilities`
    cotangent : array_like, shape ``(..., 2**n_clbits)``
        The weights :math:`w_c`, one per bitstring, per batch row; broadcasts with the
        batch.

    Returns
    -------
    probs : ndarray, shape ``(..., 2**n_clbits)``
    grad : ndarray, shape ``(..., n_weights)``
        :math:`\\sum_c w_c \\partial p_c / \\partial \\theta_j` for each batch row.

    References
    ----------
    Narottama & Duong (2022), Eq. (17).
    """
    program = program_for(config, variant)
    n_codes = 2**program.n_measured
    w = as_real_array("cotangent", cotangent, "entries")
    if w.ndim < 1 or w.shape[-1] != n_codes:
        raise ValueError(f"cotangent must have shape (..., 2**n_clbits = {n_codes}), got shape {w.shape}")
    x = as_real_array("x", x, "input angles")
    theta = as_real_array("theta", theta, "weights")
    try:
        lead = np.broadcast_shapes(x.shape[:-1], theta.shape[:-1], w.shape[:-1])
    except ValueError:
        raise ValueError(
            f"batch shapes of x {x.shape[:-1]}, theta {theta.shape[:-1]} and cotangent {w.shape[:-1]} do not broadcast"
        ) from None
    if x.ndim >= 1:
        x = np.broadcast_to(x, lead + x.shape[-1:])
    if theta.ndim >= 1:
        theta = np.broadcast_to(theta, lead + theta.shape[-1:])
    lead, xf, tf = broadcast_batch(x, theta, program.n_inputs, program.n_weights)
    tf = np.broadcast_to(tf, (xf.shape[0], program.n_weights))
    wf = np.broadcast_to(w, lead + (n_codes,)).reshape(-1, n_codes)
    probs, grad = vjp(program, xf, tf, wf)
    return probs.reshape(lead + (n_codes,)), grad.reshape(lead + (program.n_weights,))
