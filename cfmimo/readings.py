"""The literal circuit of Eq. (13)-(15) under every reading the text allows.

The paper leaves several structural choices open, and some verdicts of the errata depend
on them. :func:`cfmimo.qnn.build_circuit` fixes one reading (the book's); this module builds
the others and evaluates them on the Qiskit stack, so that :mod:`cfmimo.claims` and
:mod:`cfmimo.lemma2_circuits` can give each verdict under each reading:

``n_layer``
    :math:`N_{layer}` (the paper gives none; the book uses 2).
``cx_direction``
    Eq. (15)'s layer connection :math:`C_X(q_{l+1,1}; q_{l,N})` does not say which qubit
    controls. ``"forward"`` (the book's): the previous layer's last neuron controls the next
    layer's first neuron; ``"backward"``: the other way round.
``readout``
    Which layer is measured into :math:`o_1, \\dots, o_{N_{AP}}`: ``"last"`` (the book's) or
    ``"first"`` (the encoded qubits).
``encoding``
    Eq. (14), :math:`\\prod_k R_Z(\\hat{\\mathbf h}_{m,k})\\,\\mathbf H`, read as
    ``"h_once"`` (the book's: one Hadamard, then every user's RZ, which commute and add) or
    ``"pairs"`` (the product of :math:`[R_Z\\,\\mathbf H]` pairs: a Hadamard before every
    user's RZ, so that :math:`H R_Z(b) H = R_X(b)` separates the angles).

With the defaults the circuit is gate for gate the one of
:func:`cfmimo.qnn.build_circuit` (``variant="paper"``), which a test checks.

Evaluation uses Qiskit Aer's ``EstimatorV2`` with exact expectation values (one PUB with
a parameter array per call): an engine independent of :mod:`cfmimo.engine`, which only
runs the circuits of :mod:`cfmimo.qnn`. Gradients with respect to the weights and the
input angles use the parameter-shift rule at :math:`\\pi/2`, exact here because every
``theta`` and every ``x`` enters exactly one Qiskit rotation :math:`e^{-i\\alpha P/2}`.

References
----------
Narottama & Duong (2022), Eq. (13); Eq. (14); Eq. (15); Eq. (23).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from qiskit.circuit import ParameterVector, QuantumCircuit
from qiskit_aer.primitives import EstimatorV2

from ._validation import check_count
from .circuit_io import parameter_values
from .config import Preset
from .gradients import frequency

__all__ = [
    "CX_DIRECTIONS",
    "READOUTS",
    "ENCODINGS",
    "SIGMA_QUBITS",
    "LiteralCircuit",
    "build_literal_circuit",
    "expectations",
    "literal_outputs",
    "parity_cost",
    "parity_gradient",
    "literal_dims",
    "output_jacobian",
]

CX_DIRECTIONS = ("forward", "backward")
READOUTS = ("last", "first")
ENCODINGS = ("h_once", "pairs")
SIGMA_QUBITS = ("readout", "all")
"""Which qubits :math:`\\sigma_{(3,\\dots,3)}` of Eq. (23) covers: the measured ones or all."""


class LiteralCircuit(NamedTuple):
    """A reading of Eq. (13)-(15): the circuit (no measurements) and its readout qubits.

    ``readout[m]`` is the qubit whose :math:`P(1)` is :math:`o_m`.
    """

    circuit: QuantumCircuit
    readout: tuple[int, ...]


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name} = {value!r} is unknown; allowed: {list(allowed)}")
    return value


def literal_dims(config: Preset, n_layer: int | None = None) -> tuple[int, int, int, int]:
    """``(n_ap, n_user, n_layer, n_neuron)`` of the literal circuit for ``config``.

    ``n_layer`` overrides ``config.training.n_layer``; ``n_neuron`` is
    ``config.training.n_neuron`` or, when that is ``None``, ``n_ap``.
    """
    if not isinstance(config, Preset):
        raise TypeError(f"config must be a cfmimo.config.Preset, got {type(config).__name__}")
    n_layer = config.training.n_layer if n_layer is None else check_count("n_layer", n_layer, 1)
    n_ap, n_user = config.system.n_ap, config.system.n_user
    n_neuron = config.training.n_neuron or n_ap
    if n_neuron < n_ap:
        raise ValueError(f"n_neuron = {n_neuron} must be >= n_ap = {n_ap} (one encoded qubit per AP, Eq. 14)")
    return n_ap, n_user, n_layer, n_neuron


def build_literal_circuit(
    config: Preset,
    *,
    n_layer: int | None = None,
    cx_direction: str = "forward",
    readout: str = "last",
    encoding: str = "h_once",
) -> LiteralCircuit:
    """Eq. (13)-(15) under one reading of each open choice (module docstring).

    Parameters
    ----------
    config : cfmimo.config.Preset
        Reads ``n_ap``, ``n_user``, ``n_neuron`` (``None``: ``n_ap``) and, unless
        ``n_layer`` is given, ``n_layer``.
    n_layer : int, optional
        Overrides ``config.training.n_layer`` (>= 1).
    cx_direction : {"forward", "backward"}
    readout : {"last", "first"}
    encoding : {"h_once", "pairs"}

    Returns
    -------
    LiteralCircuit
        Parameters ``x`` (``n_ap * n_user``, row-major over (AP, user)) and ``theta``
        (``n_layer * n_neuron``, weight ``theta[l * n_neuron + n]`` on qubit
        ``l * n_neuron + n``), as in :func:`cfmimo.qnn.build_circuit`; no measurements.

    References
    ----------
    Narottama & Duong (2022), Eq. (13); Eq. (14); Eq. (15).
    """
    n_ap, n_user, n_layer, n_neuron = literal_dims(config, n_layer)
    _check_choice("cx_direction", cx_direction, CX_DIRECTIONS)
    _check_choice("readout", readout, READOUTS)
    _check_choice("encoding", encoding, ENCODINGS)
    x = ParameterVector("x", n_ap * n_user)
    theta = ParameterVector("theta", n_layer * n_neuron)
    qc = QuantumCircuit(n_layer * n_neuron, name=f"eq13_{n_layer}_{cx_direction}_{readout}_{encoding}")

    def q(layer, neuron):
        return layer * n_neuron + neuron

    for m in range(n_ap):  # Eq. (14), rightmost factor first
        for k in range(n_user):
            if encoding == "pairs" or k == 0:
                qc.h(q(0, m))
            qc.rz(x[m * n_user + k], q(0, m))
    for layer in range(n_layer):  # Eq. (15), right to left
        for n in range(n_neuron):
            qc.ry(theta[layer * n_neuron + n], q(layer, n))
    for layer in range(n_layer - 1):
        prev, nxt = q(layer, n_neuron - 1), q(layer + 1, 0)
        if cx_direction == "forward":
            qc.cx(prev, nxt)
        else:
            qc.cx(nxt, prev)
    for layer in range(n_layer - 1):
        for n in range(n_neuron - 1):
            qc.cz(q(layer, n + 1), q(layer, n))
    read_layer = n_layer - 1 if readout == "last" else 0
    return LiteralCircuit(qc, tuple(q(read_layer, m) for m in range(n_ap)))


def _z_string(qubits, n_qubits) -> str:
    """Pauli label with Z on ``qubits`` (Qiskit's label: qubit 0 rightmost)."""
    chars = ["I"] * n_qubits
    for i in qubits:
        chars[n_qubits - 1 - i] = "Z"
    return "".join(chars)


def _light_cone(circuit: QuantumCircuit, qubits):
    """The gates of ``circuit`` that can act on ``qubits``' final state, on a compact register.

    Walks the gates backwards and keeps a gate when it touches a qubit already in the cone
    (whose qubits then join it). Returns ``(reduced circuit, {old qubit: new qubit})``;
    expectations of operators on ``qubits`` are unchanged.
    """
    cone = set(qubits)
    kept = []
    for inst in reversed(circuit.data):
        idx = [circuit.find_bit(q).index for q in inst.qubits]
        if cone.intersection(idx):
            cone.update(idx)
            kept.append((inst.operation, idx))
    order = sorted(cone)
    index = {q: i for i, q in enumerate(order)}
    out = QuantumCircuit(len(order), name=circuit.name)
    for op, idx in reversed(kept):
        out.append(op, [index[q] for q in idx])
    return out, index


def expectations(circuit: QuantumCircuit, z_sets, x, theta) -> np.ndarray:
    """Exact :math:`\\langle Z_{S}\\rangle` for every set ``S`` of ``z_sets``, batched.

    Parameters
    ----------
    circuit : qiskit.QuantumCircuit
        Parameters in the vectors ``x`` and ``theta`` only; no measurements.
    z_sets : sequence of sequence of int
        Each entry: the qubits of one product of Z's.
    x : array_like, shape ``(..., n_x)``
    theta : array_like, shape ``(..., n_theta)``; batch axes broadcast with ``x``

    Returns
    -------
    ndarray, shape ``(..., len(z_sets))``
        Computed by Qiskit Aer's ``EstimatorV2`` (exact statevector expectations) on the
        backward light cone of the measured qubits (gates outside it are dropped).
    """
    n_x = sum(1 for p in circuit.parameters if p.vector.name == "x")
    n_t = sum(1 for p in circuit.parameters if p.vector.name == "theta")
    x = np.asarray(x, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    if x.ndim < 1 or x.shape[-1] != n_x:
        raise ValueError(f"x must have shape (..., {n_x}), got {x.shape}")
    if theta.ndim < 1 or theta.shape[-1] != n_t:
        raise ValueError(f"theta must have shape (..., {n_t}), got {theta.shape}")
    try:
        lead = np.broadcast_shapes(x.shape[:-1], theta.shape[:-1])
    except ValueError:
        raise ValueError(f"batch shapes of x {x.shape[:-1]} and theta {theta.shape[:-1]} do not broadcast") from None
    size = math.prod(lead)
    xb = np.broadcast_to(x, lead + (n_x,)).reshape(size, n_x)
    tb = np.broadcast_to(theta, lead + (n_t,)).reshape(size, n_t)
    if size == 0:
        return np.zeros(lead + (len(z_sets),))
    circuit, index = _light_cone(circuit, {q for s in z_sets for q in s})
    values, _ = parameter_values(circuit, xb, tb)  # (B, n_par), the binder every backend uses
    labels = [[_z_string([index[q] for q in s], circuit.num_qubits)] for s in z_sets]  # (n_obs, 1) x (B,)
    result = EstimatorV2().run([(circuit, labels, values)]).result()
    evs = np.asarray(result[0].data.evs, dtype=np.float64)  # (n_obs, B)
    return evs.T.reshape(lead + (len(labels),))


def literal_outputs(config: Preset, x, theta, **reading) -> np.ndarray:
    """Outputs :math:`o_m = P(\\text{readout qubit } m = 1)` of one reading, ``(..., n_ap)``.

    ``reading``: keyword arguments of :func:`build_literal_circuit`.

    References
    ----------
    Narottama & Duong (2022), Eq. (13); Eq. (14); Eq. (15).
    """
    lc = build_literal_circuit(config, **reading)
    z = expectations(lc.circuit, [(q,) for q in lc.readout], x, theta)
    return 0.5 * (1.0 - z)


def _sigma_set(lc: LiteralCircuit, sigma: str):
    _check_choice("sigma", sigma, SIGMA_QUBITS)
    return tuple(lc.readout) if sigma == "readout" else tuple(range(lc.circuit.num_qubits))


def _strip_encoding(circuit: QuantumCircuit) -> QuantumCircuit:
    """The circuit without its Eq. (14) gates (every H and RZ before the first RY)."""
    out = circuit.copy_empty_like()
    for inst in circuit.data:
        if inst.operation.name in ("h", "rz"):
            continue
        out.append(inst)
    return out


def parity_cost(config: Preset, x, theta, *, sigma: str = "readout", convention: str = "qiskit", **reading) -> np.ndarray:
    """Eq. (23): :math:`f = 1/2 - 1/2\\,\\mathrm{Tr}[\\sigma_{(3,\\dots,3)} U m_{input} U^\\dagger]`.

    Parameters
    ----------
    config : cfmimo.config.Preset
    x : array_like, shape ``(..., n_ap * n_user)``, or None
        Input angles; ``None`` is the input :math:`|0\\rangle` (the encoding removed).
    theta : array_like, shape ``(..., n_weights)``
        Weights in ``convention``: the appendix's :math:`e^{-i\\theta Y}` is Qiskit's
        ``RY(2 theta)``.
    sigma : {"readout", "all"}
        The qubits that :math:`\\sigma_{(3,\\dots,3)}` covers.
    convention : {"qiskit", "appendix"}
    **reading
        Keyword arguments of :func:`build_literal_circuit`.

    Returns
    -------
    ndarray, shape ``(...)``

    References
    ----------
    Narottama & Duong (2022), Eq. (23).
    """
    lc = build_literal_circuit(config, **reading)
    circuit = lc.circuit
    omega = frequency(convention)
    theta = omega * np.asarray(theta, dtype=np.float64)
    if x is None:
        circuit = _strip_encoding(circuit)
        x = np.zeros(theta.shape[:-1] + (0,))
    z = expectations(circuit, [_sigma_set(lc, sigma)], x, theta)
    return 0.5 - 0.5 * z[..., 0]


def _shifted(theta, index_axis_size):
    """``theta +- pi/2 e_j`` for every j: shape ``(2, ..., P, P)``."""
    step = 0.5 * math.pi * np.eye(index_axis_size)
    return np.stack([theta[..., None, :] + step, theta[..., None, :] - step])


def parity_gradient(config: Preset, x, theta, *, sigma: str = "readout", convention: str = "qiskit", **reading) -> np.ndarray:
    """Exact gradient of :func:`parity_cost` with respect to the weights, ``(..., n_weights)``.

    Parameter shift at :math:`\\pi/2` on Qiskit's ``RY`` (exact: each weight enters one
    rotation); the appendix convention's gradient is :math:`\\omega = 2` times Qiskit's at
    ``2 theta``.

    References
    ----------
    Narottama & Duong (2022), Eq. (23).
    """
    omega = frequency(convention)
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim < 1:
        raise ValueError(f"theta must have shape (..., n_weights), got {theta.shape}")
    pts = _shifted(omega * theta, theta.shape[-1])
    xs = None if x is None else np.asarray(x, dtype=np.float64)[..., None, :]
    vals = parity_cost(config, xs, pts, sigma=sigma, convention="qiskit", **reading)
    return omega * 0.5 * (vals[0] - vals[1])


def output_jacobian(config: Preset, x, theta, **reading) -> np.ndarray:
    """Exact :math:`\\partial o_m/\\partial x_i`, shape ``(..., n_ap, n_ap * n_user)``.

    Parameter shift at :math:`\\pi/2` in each input angle (every ``x`` enters one RZ).

    References
    ----------
    Narottama & Duong (2022), Eq. (14).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1:
        raise ValueError(f"x must have shape (..., n_ap * n_user), got {x.shape}")
    pts = _shifted(x, x.shape[-1])  # (2, ..., n_in, n_in)
    theta = np.asarray(theta, dtype=np.float64)[..., None, :]
    o = literal_outputs(config, pts, theta, **reading)  # (2, ..., n_in, n_ap)
    return np.swapaxes(0.5 * (o[0] - o[1]), -1, -2)
