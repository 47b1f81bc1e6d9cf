"""The literal circuit of Eq. (13)-(15) under every reading the text allows.

The paper leaves several structural choices open, and some verdicts of the errata depend
on them. :func:`cfmimo.qnn.build_circuit` fixes one reading (the book's); this module builds
the others and evaluates them on the Qiskit stack, so that notebook 03 can give each
verdict under each reading:

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
B. Narottama and T. Q. Duong, "Quantum neural networks for optimal resource allocation
in cell-free MIMO systems", 2022: Eq. (13)-(15), (19), (22), (23).
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np
from qiskit.circuit import ParameterVector, QuantumCircuit
from qiskit_aer.primitives import EstimatorV2

from ._validation import check_count
from .bounds import MCEstimate, encoding_transforms, frequency, mc_estimate
from .config import Preset

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
    "output_jacobian",
    "input_dependence_table",
    "encoding_invariance",
    "jacobian_ranks",
    "expected_sq_gradient_norm",
    "lemma2_closed_form",
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


def _dims(config: Preset, n_layer):
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
    """
    n_ap, n_user, n_layer, n_neuron = _dims(config, n_layer)
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


def _parameter_values(circuit, x, theta):
    """``(B, n_parameters)`` values in the order of ``circuit.parameters``."""
    columns = []
    for p in circuit.parameters:
        name, index = p.vector.name, p.index
        source = x if name == "x" else theta
        columns.append(source[..., index])
    return np.stack(columns, axis=-1)


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
    circuit, index = _light_cone(circuit, {q for s in z_sets for q in s})
    values = _parameter_values(circuit, xb, tb)  # (B, n_par)
    labels = [[_z_string([index[q] for q in s], circuit.num_qubits)] for s in z_sets]  # (n_obs, 1) x (B,)
    if len(values) == 0:
        return np.zeros(lead + (len(labels),))
    result = EstimatorV2().run([(circuit, labels, values)]).result()
    evs = np.asarray(result[0].data.evs, dtype=np.float64)  # (n_obs, B)
    return evs.T.reshape(lead + (len(labels),))


def literal_outputs(config: Preset, x, theta, **reading) -> np.ndarray:
    """Outputs :math:`o_m = P(\\text{readout qubit } m = 1)` of one reading, ``(..., n_ap)``.

    ``reading``: keyword arguments of :func:`build_literal_circuit`.
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
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1:
        raise ValueError(f"x must have shape (..., n_ap * n_user), got {x.shape}")
    pts = _shifted(x, x.shape[-1])  # (2, ..., n_in, n_in)
    theta = np.asarray(theta, dtype=np.float64)[..., None, :]
    o = literal_outputs(config, pts, theta, **reading)  # (2, ..., n_in, n_ap)
    return np.swapaxes(0.5 * (o[0] - o[1]), -1, -2)


def input_dependence_table(config: Preset, x, *, n_theta: int = 5, rng=None, n_layers=(1, 2, 3), tol: float = 1e-9) -> list[dict]:
    """Which outputs depend on the input, for every reading of the layer structure (claim 1).

    For each ``n_layer`` in ``n_layers``, CX direction and readout layer, and for
    ``n_theta`` uniform weight draws, the spread (standard deviation) of every
    :math:`o_m` over the inputs ``x``; an output depends on the input when its spread
    exceeds ``tol`` for some draw.

    Parameters
    ----------
    config : cfmimo.config.Preset
    x : array_like, shape ``(n_inputs >= 2, n_ap * n_user)``
    n_theta : int
    rng : int, numpy.random.Generator or None
    n_layers : sequence of int
    tol : float

    Returns
    -------
    list of dict
        Keys ``n_layer``, ``cx_direction``, ``readout``, ``spread`` (``(n_ap,)``, the
        largest over the draws) and ``n_dependent``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"x must have shape (n_inputs >= 2, n_ap * n_user), got {x.shape}")
    n_theta = check_count("n_theta", n_theta, 1)
    rng = np.random.default_rng(rng)
    rows = []
    for n_layer in n_layers:
        _, _, _, n_neuron = _dims(config, n_layer)
        theta = rng.uniform(0.0, 2 * np.pi, (n_theta, 1, n_layer * n_neuron))
        for cx_direction, readout in itertools.product(CX_DIRECTIONS, READOUTS):
            o = literal_outputs(config, x[None], theta, n_layer=n_layer, cx_direction=cx_direction, readout=readout)
            spread = o.std(axis=1).max(axis=0)
            rows.append(
                {
                    "n_layer": int(n_layer),
                    "cx_direction": cx_direction,
                    "readout": readout,
                    "spread": spread,
                    "n_dependent": int((spread > tol).sum()),
                }
            )
    return rows


def encoding_invariance(config: Preset, x, theta, *, encoding: str = "h_once", **reading) -> dict:
    """Largest output change under input transformations, for one reading of Eq. (14).

    Parameters
    ----------
    x : array_like, shape ``(n, n_ap * n_user)``
    theta : array_like, shape ``(n, n_weights)`` or ``(n_weights,)``
    encoding : {"h_once", "pairs"}

    Returns
    -------
    dict of float
        ``"sum"``: every AP's angles replaced by (their sum, 0, ..., 0);
        ``"sign"``: all angles negated; ``"roll_aps"``: the APs' blocks rotated by one
        (a control that must change the outputs).
    """
    x, transformed = encoding_transforms(config, x)
    o = literal_outputs(config, np.stack([x, *transformed.values()]), theta, encoding=encoding, **reading)
    return {name: float(np.max(np.abs(o[i + 1] - o[0]))) for i, name in enumerate(transformed)}


def jacobian_ranks(config: Preset, x, theta, *, tol: float = 1e-7, **reading) -> dict:
    """How many input directions reach the readout (claim 2).

    Parameters
    ----------
    x : array_like, shape ``(n, n_ap * n_user)``
    theta : array_like, shape ``(n_w, n_weights)``
        Weight draws.
    tol : float
        Singular values below ``tol`` count as zero.

    Returns
    -------
    dict of int
        ``"per_draw"``: the largest rank of :math:`\\partial o/\\partial x` at one
        (input, weight) pair (at most ``n_ap``, the number of outputs);
        ``"over_weights"``: the largest, over the inputs, rank of the Jacobians of all
        weight draws stacked: the input directions that reach the readout for some
        weight.
    """
    x = np.asarray(x, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    if x.ndim != 2 or theta.ndim != 2:
        raise ValueError(f"x and theta must be 2-D (n, n_in) and (n_w, n_weights), got {x.shape}, {theta.shape}")
    jac = output_jacobian(config, x[:, None, :], theta[None], **reading)  # (n, n_w, n_ap, n_in)
    per_draw = np.linalg.matrix_rank(jac, tol=tol).max()
    stacked = jac.reshape(jac.shape[0], -1, jac.shape[-1])
    over = np.linalg.matrix_rank(stacked, tol=tol).max()
    return {"per_draw": int(per_draw), "over_weights": int(over)}


def expected_sq_gradient_norm(
    config: Preset, x, n_samples: int = 500, rng=None, *, sigma: str = "readout", convention: str = "qiskit",
    level: float = 0.95, **reading
) -> MCEstimate:
    """Monte-Carlo :math:`\\mathbb E_{\\theta\\sim U[0,2\\pi)^P}\\|\\nabla_\\theta f\\|^2` of Eq. (23).

    Parameters
    ----------
    x : array_like, shape ``(n_ap * n_user,)`` or ``(n_samples, n_ap * n_user)``, or None
    n_samples : int
        Weight draws (>= 2).
    rng : int, numpy.random.Generator or None
    sigma : {"readout", "all"}
    convention : {"qiskit", "appendix"}
    level : float
    **reading
        Keyword arguments of :func:`build_literal_circuit`.
    """
    n_samples = check_count("n_samples", n_samples, 2)
    if x is not None:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 2 and x.shape[0] != n_samples:
            raise ValueError(f"x has {x.shape[0]} inputs; pass one input or n_samples = {n_samples} inputs")
    lc = build_literal_circuit(config, **reading)
    n_w = sum(1 for p in lc.circuit.parameters if p.vector.name == "theta")
    theta = np.random.default_rng(rng).uniform(0.0, 2 * np.pi, (n_samples, n_w))
    grad = parity_gradient(config, x, theta, sigma=sigma, convention=convention, **reading)
    return mc_estimate((grad**2).sum(axis=-1), level)


def lemma2_closed_form(config: Preset, x, *, sigma: str = "readout", convention: str = "qiskit") -> np.ndarray:
    """Closed form of :math:`\\mathbb E_\\theta\\|\\nabla_\\theta f\\|^2` (Eq. 22-23) on the literal circuit.

    For the book's reading (forward CX, last-layer readout, ``h_once`` encoding) with
    ``N = N_neuron = N_AP`` and :math:`\\varphi_m = \\sum_k x_{m,k}` (AP ``m``'s angle
    sum; :math:`\\cos\\varphi_m = 1` for the input :math:`|0\\rangle`, ``x=None``):

    * :math:`N_{layer}=1` (both ``sigma``): :math:`\\omega^2 N 2^{-(N+2)}\\prod_m\\cos^2\\varphi_m`;
    * :math:`N_{layer}=2`, readout qubits: :math:`\\omega^2 (N+1) 2^{-(N+3)}\\cos^2\\varphi_{N}`;
    * :math:`N_{layer}=2`, all qubits: :math:`\\omega^2 (2N-1) 2^{-(2N+1)}\\prod_{m<N}\\cos^2\\varphi_m`.

    Derivation: the measured Z's are products of independent factors
    :math:`\\cos\\theta` or :math:`-\\cos\\varphi\\sin\\theta` (the CZs are diagonal and
    commute with them; the CX maps :math:`Z_t \\to Z_cZ_t` and :math:`Z_cZ_t \\to Z_t`),
    and a uniform angle gives :math:`\\mathbb E\\cos^2 = \\mathbb E\\sin^2 = 1/2`.

    Parameters
    ----------
    config : cfmimo.config.Preset
        ``n_layer`` in {1, 2}; ``n_neuron`` = ``n_ap``.
    x : array_like, shape ``(..., n_ap * n_user)``, or None
    sigma : {"readout", "all"}
    convention : {"qiskit", "appendix"}

    Returns
    -------
    ndarray, shape ``(...)``
    """
    n_ap, n_user, n_layer, n_neuron = _dims(config, None)
    _check_choice("sigma", sigma, SIGMA_QUBITS)
    if n_layer not in (1, 2) or n_neuron != n_ap:
        raise ValueError(f"closed form needs n_layer in (1, 2) and n_neuron = n_ap; got n_layer = {n_layer}, n_neuron = {n_neuron}")
    omega2 = frequency(convention) ** 2
    if x is None:
        cos2 = np.ones(n_ap)
    else:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim < 1 or x.shape[-1] != n_ap * n_user:
            raise ValueError(f"x must have shape (..., {n_ap * n_user}), got {x.shape}")
        cos2 = np.cos(x.reshape(x.shape[:-1] + (n_ap, n_user)).sum(axis=-1)) ** 2
    n = n_ap
    if n_layer == 1:
        return omega2 * n * 2.0 ** -(n + 2) * np.prod(cos2, axis=-1)
    if sigma == "readout":
        return omega2 * (n + 1) * 2.0 ** -(n + 3) * cos2[..., n - 1]
    return omega2 * (2 * n - 1) * 2.0 ** -(2 * n + 1) * np.prod(cos2[..., : n - 1], axis=-1)
