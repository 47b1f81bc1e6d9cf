"""The cloud QNN of Section III-A (Eq. 9-15) as Qiskit circuits, its input encoding and
its decoders.

Two variants share the input and output conventions:

``"paper"``
    Eq. (13)-(15) built literally (see :func:`build_circuit` for every reading of the
    text). Classical bit ``m`` holds AP ``m``'s readout, :math:`o_m = P(\\text{bit } m = 1)`,
    decoded as :math:`\\hat o_m = \\lfloor o_m N_{user} \\rfloor` (Section III-A).
``"reupload"``
    An improved design (not in the paper): every AP owns
    :math:`b = \\lceil \\log_2 N_{user} \\rceil` qubits whose measured bits are a binary code
    of the user it serves; the channel angles are re-uploaded in every block, trainable
    RY-RZ rotations and a ring of CX gates follow, so every AP's code depends on every
    input. The decoder returns the most probable assignment *among those that serve every
    user* (DESIGN.md: the most important single improvement).

Conventions (DESIGN.md): the circuits have two
:class:`~qiskit.circuit.ParameterVector`\\ s, ``x`` (input angles, row-major over
(AP ``m``, user ``k``), length ``n_ap * n_user``) and ``theta`` (weights). Probabilities
over classical bitstrings are indexed by the bitstring's integer value with classical bit 0
least significant (Qiskit's convention).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from qiskit.circuit import ClassicalRegister, ParameterVector, QuantumCircuit, QuantumRegister

from ._validation import as_channel
from .baselines import all_assignments
from .config import Preset
from .decoders import covering_argmax, top_k_covering
from .features import N_FEATURES, link_features
from .rates import serves_every_user

__all__ = [
    "VARIANTS",
    "Variant",
    "PaperVariant",
    "ReuploadVariant",
    "ScoringVariant",
    "SCORING_FEATURES",
    "SCORING_GATES",
    "BLOCH_BASES",
    "build_bloch_circuit",
    "SCORING_MAX_CONE",
    "get_variant",
    "checked_probabilities",
    "bits_per_ap",
    "n_inputs",
    "n_qubits",
    "n_clbits",
    "n_weights",
    "build_circuit",
    "init_weights",
    "encode_angles",
    "candidate_assignments",
    "code_tables",
    "assignment_index",
    "outputs_from_probabilities",
    "assignment_probabilities",
    "decide_from_probabilities",
    "decode_assignment",
]

# ---------------------------------------------------------------------------------------
# sizes
# ---------------------------------------------------------------------------------------


def _check_config(config) -> Preset:
    if not isinstance(config, Preset):
        raise ValueError(f"config must be a cfmimo.config.Preset, got {type(config).__name__}")
    return config


def _check_variant(variant) -> str:
    return get_variant(variant).name


def _paper_dims(config: Preset) -> tuple[int, int, int, int]:
    """``(n_ap, n_user, n_layer, n_neuron)`` of the paper circuit, validated."""
    n_ap, n_user = config.system.n_ap, config.system.n_user
    n_layer = config.training.n_layer
    n_neuron = n_ap if config.training.n_neuron is None else config.training.n_neuron
    if n_neuron < n_ap:
        raise ValueError(
            f"n_neuron = {n_neuron} is out of range for the paper variant; allowed: >= n_ap = {n_ap} "
            "(Eq. 14 encodes AP m on the first-layer qubit n = m, and AP m is read from the "
            "last-layer qubit n = m)"
        )
    return n_ap, n_user, n_layer, n_neuron


def bits_per_ap(n_user: int) -> int:
    """Qubits per AP in the ``reupload`` variant: :math:`\\max(1, \\lceil\\log_2 N_{user}\\rceil)`."""
    return max(1, math.ceil(math.log2(n_user)))


def n_inputs(config: Preset, variant: str = "paper") -> int:
    """Number of input angles of one circuit evaluation (``x``'s length).

    ``paper`` and ``reupload``: ``n_ap * n_user`` (one per AP-user link, DESIGN.md);
    other variants say so in their docstring (``scoring``: ``n_ap * SCORING_FEATURES`` per user row).
    """
    return get_variant(variant).n_inputs(_check_config(config))


def n_qubits(config: Preset, variant: str = "paper") -> int:
    """Qubits of the circuit: ``n_layer * n_neuron`` (paper, Eq. 13), ``n_ap * bits_per_ap``
    (reupload) or ``n_ap`` (scoring).

    References
    ----------
    Narottama & Duong (2022), Eq. (13); Lemma 1.
    """
    return get_variant(variant).n_qubits(_check_config(config))


def n_clbits(config: Preset, variant: str = "paper") -> int:
    """Classical bits: ``n_ap`` (paper, scoring) or ``n_ap * bits_per_ap`` (reupload)."""
    return get_variant(variant).n_clbits(_check_config(config))


def n_weights(config: Preset, variant: str = "paper") -> int:
    """Trainable weights: ``n_layer * n_neuron`` RY angles (paper, Eq. 15),
    ``(2 n_layer + 1) * n_qubits`` (reupload: an RY and an RZ per qubit per block, and a
    final RY layer); see each variant's class for the others.

    References
    ----------
    Narottama & Duong (2022), Eq. (15).
    """
    return get_variant(variant).n_weights(_check_config(config))


# ---------------------------------------------------------------------------------------
# circuits
# ---------------------------------------------------------------------------------------


def build_circuit(config: Preset, variant: str = "paper") -> QuantumCircuit:
    """The cloud QNN as a parameterised Qiskit circuit, measurements included.

    Parameters
    ----------
    config : cfmimo.config.Preset
        Reads ``system.n_ap``, ``system.n_user``, ``training.n_layer`` and
        ``training.n_neuron`` (``None`` means ``n_ap``; the ``reupload`` variant ignores it).
    variant : {"paper", "reupload"}

    Returns
    -------
    qiskit.QuantumCircuit
        Parameters: ``ParameterVector("x", n_ap * n_user)`` (input angles, row-major over
        (AP, user), see :func:`encode_angles`) and ``ParameterVector("theta", n_weights)``.
        A new circuit on every call (callers may modify it).

    Notes
    -----
    **Paper variant, Eq. (13)-(15), built literally.** Qubit ``q_{l,n}`` (layer ``l``,
    neuron ``n``, both from 0 here) is circuit qubit ``l * n_neuron + n``; all start in
    :math:`|0\\rangle` (Eq. 13, Algorithm 1 line 2). Readings of the text:

    1. *Encoding, Eq. (14).* For AP ``m``: a Hadamard on the first-layer qubit
       ``q_{0,m}``, then one :math:`R_Z(x_{m,k})` per user ``k`` on that same qubit (the
       product is written with H rightmost, so H acts first). A complex vector
       :math:`\\hat{\\mathbf h}_{m,k}` cannot be a rotation angle; :func:`encode_angles`
       gives the real angle ``x[m * n_user + k]``. The RZ's of all users commute and add:
       only :math:`\\sum_k x_{m,k}` reaches the circuit.
    2. *Operator order of Eq. (15).* Read right to left like Eq. (13): first
       :math:`R_y(\\theta_{l,n})` on every qubit (weight ``theta[l * n_neuron + n]``), then
       the layer connections, then the neuron connections.
    3. *Layer connection.* :math:`C_X(q_{l+1,1}; q_{l,N})` for ``l = 1 .. N_layer - 1``:
       we take the *previous* layer's last neuron ``q_{l,N-1}`` as control and the next
       layer's first neuron ``q_{l+1,0}`` as target (information flows forward; the
       notation does not say which is which).
    4. *Neuron connection.* :math:`C_Z(q_{l,n+1}; q_{l,n})` for ``n = 1 .. N_neuron - 1``
       and, as printed, only for layers ``l = 1 .. N_layer - 1`` (the last layer has none).
       CZ is symmetric, so control/target does not matter.
    5. *Readout.* The paper reads ``N_AP`` outputs :math:`o_m \\in [0, 1]`; we measure the
       last layer's qubits ``q_{N_layer-1, m}`` into classical bit ``m`` in the Z basis,
       :math:`o_m = P(\\text{bit } m = 1)` (with ``N_layer = 1`` these are the encoded
       qubits themselves).

    Consequences of building it literally (notebook 02 shows them numerically): later
    layers start in :math:`|0\\rangle` and receive their only link to the input through one
    CX, so for ``N_layer = 2`` only :math:`o_0` depends on the input, and only through the
    sum :math:`\\sum_k x_{N-1,k}` of the *last* AP's angles; :math:`o_1 .. o_{N_{AP}-1}` are
    :math:`\\sin^2(\\theta/2)` of one weight. For ``N_layer >= 3`` no output depends on
    the input. The CZs are diagonal and sit right before Z measurements (or on unmeasured
    qubits): they change no output.

    **Reupload variant (this project's improvement).** ``b = bits_per_ap(n_user)`` qubits
    per AP, AP ``m`` owns qubits ``m*b .. m*b + b - 1`` and classical bit ``i`` measures
    qubit ``i``; the user code of AP ``m`` is :math:`\\sum_j 2^j \\cdot \\text{bit}_{mb+j}`.
    Layout: a Hadamard on every qubit, then ``n_layer`` blocks of
    (i) a *code-aligned* encoding: qubit ``m*b + j`` (bit ``j`` of AP ``m``'s code)
    gets :math:`R_Y(\\tfrac12\\sum_k s_{jk} x_{m,k})` with :math:`s_{jk} = +1` if bit ``j``
    of ``k`` is set and ``-1`` otherwise, so that the bit leans to 1 when the users it
    encodes have the stronger links (an encoding of one input per qubit and rotation
    learnt markedly worse in our tests: held-out min-rate about 1.1 vs 1.9 bit/s/Hz
    after the same cross-entropy training);
    (ii) trainable RY then RZ on every qubit; (iii) a ring of CX gates
    ``CX(i, i+1 mod n)`` for ``i = 0 .. n-1`` (for more than one qubit). A final trainable RY
    layer precedes the measurements. Weights are ordered block by block, RY's (qubit
    order) then RZ's, then the final RY layer.

    References
    ----------
    Narottama & Duong (2022), Eq. (13); Eq. (14); Eq. (15); Fig. 2; footnote 3.
    """
    return get_variant(variant).build(_check_config(config))


def _build_paper(config: Preset) -> QuantumCircuit:
    n_ap, n_user, n_layer, n_neuron = _paper_dims(config)
    x = ParameterVector("x", n_ap * n_user)
    theta = ParameterVector("theta", n_layer * n_neuron)
    qreg = QuantumRegister(n_layer * n_neuron, "q")
    creg = ClassicalRegister(n_ap, "o")
    qc = QuantumCircuit(qreg, creg, name="qnn_paper")

    def q(layer, neuron):
        return layer * n_neuron + neuron

    # Eq. (14): H then RZ(x_{m,k}) for every user, on the first-layer qubit of AP m.
    for m in range(n_ap):
        qc.h(q(0, m))
        for k in range(n_user):
            qc.rz(x[m * n_user + k], q(0, m))
    # Eq. (15), right to left: RY weights, layer connections, neuron connections.
    for layer in range(n_layer):
        for n in range(n_neuron):
            qc.ry(theta[layer * n_neuron + n], q(layer, n))
    for layer in range(n_layer - 1):
        qc.cx(q(layer, n_neuron - 1), q(layer + 1, 0))
    for layer in range(n_layer - 1):
        for n in range(n_neuron - 1):
            qc.cz(q(layer, n + 1), q(layer, n))
    for m in range(n_ap):
        qc.measure(q(n_layer - 1, m), creg[m])
    return qc


def _build_reupload(config: Preset) -> QuantumCircuit:
    n_ap, n_user = config.system.n_ap, config.system.n_user
    n_layer = config.training.n_layer
    b = bits_per_ap(n_user)
    n = n_ap * b
    x = ParameterVector("x", n_ap * n_user)
    theta = ParameterVector("theta", (2 * n_layer + 1) * n)
    qreg = QuantumRegister(n, "q")
    creg = ClassicalRegister(n, "c")
    qc = QuantumCircuit(qreg, creg, name="qnn_reupload")
    qc.h(range(n))
    w = 0
    for _ in range(n_layer):
        for m in range(n_ap):
            for j in range(b):
                # code-aligned encoding: bit j leans to 1 when the users whose code has
                # bit j set have the larger angles
                angle = 0
                for k in range(n_user):
                    angle = angle + (0.5 if (k >> j) & 1 else -0.5) * x[m * n_user + k]
                qc.ry(angle, m * b + j)
        for i in range(n):
            qc.ry(theta[w + i], i)
        w += n
        for i in range(n):
            qc.rz(theta[w + i], i)
        w += n
        if n > 1:
            for i in range(n):
                qc.cx(i, (i + 1) % n)
    for i in range(n):
        qc.ry(theta[w + i], i)
    w += n
    qc.measure(range(n), range(n))
    return qc


# ---------------------------------------------------------------------------------------
# weights and inputs
# ---------------------------------------------------------------------------------------


def init_weights(config: Preset, variant: str = "paper", rng=None) -> np.ndarray:
    """Initial weights, shape ``(n_weights,)``.

    ``paper``: uniform on :math:`[0, 2\\pi)` (the range of Appendix B's expectation).
    ``reupload``: :math:`\\mathcal N(0, 0.1^2)`, close to the identity, so that the first
    blocks pass the encoded inputs on (a uniform start gives a barren, input-blind start).

    Parameters
    ----------
    rng : int, numpy.random.Generator or None

    References
    ----------
    Narottama & Duong (2022), Algorithm 1.
    """
    return get_variant(variant).init_weights(_check_config(config), np.random.default_rng(rng))


def encode_angles(H_hat) -> np.ndarray:
    """Map each estimated channel vector :math:`\\hat{\\mathbf h}_{m,k}` to one RZ angle.

    Eq. (14) feeds the complex vector :math:`\\hat{\\mathbf h}_{m,k} \\in \\mathbb C^{N_{Tx}}`
    to an RZ gate, which takes one real angle. We use the link's gain relative to the
    sample's typical gain, squashed to :math:`(0, \\pi)`:

    .. math::
        x_{m,k} = \\pi \\, \\frac{g_{m,k}}{g_{m,k} + \\bar g}, \\qquad
        g_{m,k} = \\|\\hat{\\mathbf h}_{m,k}\\|^2, \\quad
        \\bar g = \\Big(\\prod_{m,k} g_{m,k}\\Big)^{1/(N_{AP} N_{user})}

    i.e. :math:`\\pi` times the logistic function of the log-gain minus the sample's mean
    log-gain. Why this map:

    * *the gain is what the max-min decision needs*: with maximum-ratio precoding the
      served power is :math:`\\rho\\|\\hat{\\mathbf h}_{m,k}\\|^2`; the phases of the vector
      carry no information about the assignment;
    * *scale-aware but scale-free*: the gains span orders of magnitude
      (:math:`d^{-\\kappa}` with Rayleigh fading), so raw gains would wrap around
      :math:`2\\pi` many times; dividing by the geometric mean makes the angle invariant to
      a common scale (pathloss offset) while keeping every comparison *across users and
      across APs* (the map is strictly increasing in :math:`g`);
    * *not per-AP normalised*: normalising each AP's gains to sum to one would make
      :math:`\\sum_k x_{m,k}` constant, and since the paper circuit only sees that sum
      (Eq. 14's RZ's add), the literal circuit would receive no information at all.

    A sample whose gains are all zero maps to :math:`\\pi/2` everywhere; a zero gain in a
    sample with non-zero gains maps to 0.

    Parameters
    ----------
    H_hat : array_like, complex, shape ``(..., n_ap, n_user, n_tx)``

    Returns
    -------
    ndarray, float, shape ``(..., n_ap * n_user)``
        Angles in :math:`[0, \\pi)`, row-major over (AP, user), matching the ``x``
        parameters of :func:`build_circuit`.

    References
    ----------
    Narottama & Duong (2022), Eq. (14).
    """
    H_hat = as_channel("H_hat", H_hat)
    gain = np.einsum("...t,...t->...", H_hat.real, H_hat.real) + np.einsum("...t,...t->...", H_hat.imag, H_hat.imag)
    flat = gain.reshape(gain.shape[:-2] + (-1,))
    positive = flat > 0
    log_gain = np.log(np.where(positive, flat, 1.0))
    count = positive.sum(axis=-1, keepdims=True)
    mean_log = np.where(count > 0, np.where(positive, log_gain, 0.0).sum(axis=-1, keepdims=True) / np.maximum(count, 1), 0.0)
    # pi * g / (g + gbar) = pi * logistic(log g - log gbar), computed stably
    z = np.clip(log_gain - mean_log, -700.0, 700.0)
    angle = np.pi / (1.0 + np.exp(-z))
    angle = np.where(positive, angle, 0.0)
    return np.where(count > 0, angle, np.pi / 2)


# ---------------------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------------------


def _candidates(n_ap: int, n_user: int) -> np.ndarray:
    return all_assignments(n_ap, n_user)


def candidate_assignments(n_ap: int, n_user: int) -> np.ndarray:
    """All ``n_user ** n_ap`` assignments, shape ``(n_user**n_ap, n_ap)``: the order of
    :func:`cfmimo.baselines.all_assignments` (row ``i`` is ``i`` written in base
    ``n_user``, AP 0 most significant)."""
    return _candidates(n_ap, n_user).copy()


def assignment_index(a, n_user: int) -> np.ndarray:
    """Row of :func:`candidate_assignments` for each assignment ``a`` ``(..., n_ap)`` -> ``(...)``."""
    a = np.asarray(a, dtype=np.int64)
    weights = n_user ** np.arange(a.shape[-1] - 1, -1, -1, dtype=np.int64)
    return (a * weights).sum(axis=-1)


@lru_cache(maxsize=32)
def _code_tables(n_ap: int, n_user: int):
    """Bitstring index of every candidate and the mask of those serving every user."""
    b = bits_per_ap(n_user)
    cand = _candidates(n_ap, n_user)
    shifts = (np.arange(n_ap) * b).astype(np.int64)
    index = (cand << shifts).sum(axis=1)
    covers = np.ones(len(cand), dtype=bool)
    for k in range(n_user):
        covers &= (cand == k).any(axis=1)
    index.setflags(write=False)
    covers.setflags(write=False)
    return index, covers


def code_tables(n_ap: int, n_user: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``reupload`` variant's codes of the candidate assignments.

    Returns
    -------
    index : ndarray of int, shape ``(n_user**n_ap,)``
        Bitstring (integer value, classical bit 0 least significant) of each row of
        :func:`candidate_assignments`: AP ``m``'s user in binary on bits
        ``m * b .. m * b + b - 1`` (``b`` = :func:`bits_per_ap`).
    covers : ndarray of bool, shape ``(n_user**n_ap,)``
        Whether the candidate serves every user. Both arrays are read-only.
    """
    return _code_tables(n_ap, n_user)


def checked_probabilities(config: Preset, variant: str, probs) -> np.ndarray:
    """``probs`` as a float array of shape ``(..., 2**n_clbits)``, finite and non-negative
    (``ValueError`` otherwise)."""
    return _check_probs(_check_config(config), _check_variant(variant), probs)


def _check_probs(config, variant, probs) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    size = 2 ** n_clbits(config, variant)
    if probs.ndim < 1 or probs.shape[-1] != size:
        raise ValueError(f"probs must have shape (..., 2**n_clbits = {size}), got shape {probs.shape}")
    if not np.all(np.isfinite(probs)):
        raise ValueError("probs contains NaN or inf entries")
    if probs.size and (probs.min() < -1e-9):
        raise ValueError(f"probs has a negative entry {probs.min()}; allowed: >= 0")
    return probs


def _bit_marginals(probs: np.ndarray, n_bits: int) -> np.ndarray:
    """P(bit i = 1) for every bit, ``(..., n_bits)``.

    Uses only element-wise additions (folding one bit at a time), so the result for one
    row never depends on how many rows are evaluated together.
    """
    lead = probs.shape[:-1]
    n_lead = len(lead)
    out = np.empty(lead + (n_bits,))
    view = probs.reshape(lead + (2,) * n_bits)  # axis n_lead + n_bits - 1 - i is bit i
    for i in range(n_bits):
        part = np.moveaxis(view, n_lead + n_bits - 1 - i, n_lead)
        while part.ndim > n_lead + 1:
            part = part[..., 0] + part[..., 1]
        out[..., i] = part[..., 1]
    return out


def outputs_from_probabilities(config: Preset, variant: str, probs) -> np.ndarray:
    """The variant's readouts from the bitstring probabilities.

    Parameters
    ----------
    config : Preset
    variant : {"paper", "reupload"}
    probs : array_like, shape ``(..., 2**n_clbits)``
        Index = integer value of the bitstring, classical bit 0 least significant.

    Returns
    -------
    ndarray
        ``paper``: :math:`o_m = P(\\text{bit } m = 1)`, shape ``(..., n_ap)``.
        ``reupload``: each AP's distribution over users, shape ``(..., n_ap, n_user)``:
        the marginal probability that AP ``m``'s code is ``k``, renormalised over the valid
        codes ``0 .. n_user - 1`` (uniform if no valid code has any probability).

    References
    ----------
    Narottama & Duong (2022), Eq. (13).
    """
    config, v = _check_config(config), get_variant(variant)
    return v.outputs(config, _check_probs(config, variant, probs))


def _code_marginals(config: Preset, probs: np.ndarray) -> np.ndarray:
    """``reupload``: each AP's distribution over users, ``(..., n_ap, n_user)``."""
    n_ap, n_user = config.system.n_ap, config.system.n_user
    b = bits_per_ap(n_user)
    lead = probs.shape[:-1]
    out = np.empty(lead + (n_ap, n_user))
    codes = np.arange(2**b)
    for m in range(n_ap):
        # AP m's code is (index >> (m*b)) & (2**b - 1)
        view = probs.reshape(lead + (2 ** (b * (n_ap - 1 - m)), 2**b, 2 ** (b * m)))
        marg = view.sum(axis=-1).sum(axis=-2)  # (..., 2**b)
        valid = marg[..., codes < n_user]
        total = valid.sum(axis=-1, keepdims=True)
        out[..., m, :] = np.where(total > 0, valid / np.where(total > 0, total, 1.0), 1.0 / n_user)
    return out


def assignment_probabilities(config: Preset, variant: str, probs) -> np.ndarray:
    """Joint probability of every candidate assignment, ``(..., n_user**n_ap)``.

    Only for ``reupload``: candidate ``i`` of :func:`candidate_assignments` is the
    bitstring whose AP codes are its user indices. Bitstrings with an invalid code
    (``>= n_user``) belong to no assignment, so the result sums to at most 1.
    """
    config, variant = _check_config(config), _check_variant(variant)
    if not get_variant(variant).code_per_ap:
        raise ValueError(f"variant = {variant!r}: assignment_probabilities is defined for 'reupload' only")
    probs = _check_probs(config, variant, probs)
    index, _ = _code_tables(config.system.n_ap, config.system.n_user)
    return probs[..., index]


def decide_from_probabilities(config: Preset, variant: str, probs) -> np.ndarray:
    """Assignments from the bitstring probabilities, ``(..., n_ap)`` int.

    ``paper``: Section III-A / Algorithm 1 line 10, :math:`\\hat o_m =
    \\lfloor o_m N_{user} \\rfloor` clipped to ``n_user - 1`` (:func:`decode_assignment`).
    ``reupload``: the most probable assignment among those that serve every user (the
    first in :func:`candidate_assignments` order on ties); if ``n_ap < n_user`` no
    assignment serves everyone and the most probable assignment is returned.

    References
    ----------
    Narottama & Duong (2022), Eq. (9); Algorithm 1.
    """
    config, v = _check_config(config), get_variant(variant)
    return v.decide_from_probabilities(config, _check_probs(config, variant, probs))


def _decide_codes(config: Preset, probs: np.ndarray) -> np.ndarray:
    """``reupload``: the most probable covering assignment from bitstring probabilities."""
    n_ap, n_user = config.system.n_ap, config.system.n_user
    index, covers = _code_tables(n_ap, n_user)
    joint = probs[..., index]
    if covers.any():
        joint = np.where(covers, joint, -1.0)
    return _candidates(n_ap, n_user)[np.argmax(joint, axis=-1)]


def decode_assignment(o, n_user: int) -> np.ndarray:
    """Section III-A's decoder :math:`\\hat o_m = \\lfloor o_m N_{user} \\rfloor`.

    ``o_m = 1`` would give ``n_user`` (no such user); it is clipped to ``n_user - 1``.
    Footnote 5's example (":math:`\\hat o_1 = 2` indicates that the second transmitter
    serves the first user") swaps the roles; we follow the convention of DESIGN.md:
    ``a[m]`` is the user served by AP ``m``.

    Parameters
    ----------
    o : array_like, shape ``(..., n_ap)``, entries in [0, 1]
    n_user : int

    Returns
    -------
    ndarray of int64, shape ``(..., n_ap)``

    References
    ----------
    Narottama & Duong (2022), Eq. (9); Eq. (10); Algorithm 1; footnote 5.
    """
    if isinstance(n_user, bool) or not isinstance(n_user, (int, np.integer)) or n_user < 1:
        raise ValueError(f"n_user = {n_user!r} is out of range; allowed: integer >= 1")
    o = np.asarray(o, dtype=np.float64)
    if o.ndim < 1:
        raise ValueError(f"o must have shape (..., n_ap), got a scalar {o!r}")
    if not np.all(np.isfinite(o)):
        raise ValueError("o contains NaN or inf entries")
    if o.size and (o.min() < -1e-9 or o.max() > 1 + 1e-9):
        raise ValueError(f"o has entries in [{o.min()}, {o.max()}]; allowed: [0, 1]")
    return np.clip(np.floor(o * n_user), 0, n_user - 1).astype(np.int64)


# ---------------------------------------------------------------------------------------
# variants as objects
# ---------------------------------------------------------------------------------------


class Variant:
    """A QNN circuit family: its sizes, circuit, initial weights, readout, decoder, and the
    training recipe and methods it names. The module-level functions (:func:`build_circuit`,
    :func:`n_weights`, ...) and :mod:`cfmimo.train`, :mod:`cfmimo.execution` dispatch to
    the registered object, so a new circuit is one subclass plus one line in
    :data:`VARIANTS` (and a new way to train one is one module plus one line in
    :data:`cfmimo.train.RECIPES`).

    Attributes
    ----------
    name : str
        Registry key.
    recipe : str
        The key of :data:`cfmimo.train.RECIPES` that trains it and decides with it:
        ``"algorithm1"`` (Algorithm 1, floor-decoded per-AP readout), ``"reupload"`` (Adam
        on exact probabilities of a code per AP), ``"scoring"`` (:mod:`cfmimo.scoring`).
    methods : tuple of str
        Training methods of its recipe (:func:`cfmimo.train.train`); the first is the default.
    reuses_data : bool
        True if training revisits ``n_data`` channels every epoch (Algorithm 1); False if
        every epoch draws ``n_data`` fresh channels.
    code_per_ap : bool
        True if the measured bits hold a binary user code per AP (the joint bitstring
        distribution is a distribution over assignments).
    input_label : str
        How ``n_inputs`` is formed, for error messages.
    rows_per_channel : str
        ``"one"``: one circuit evaluation per channel, ``x`` of shape ``(..., n_inputs)``;
        ``"user"``: one evaluation per (channel, user), ``x`` of shape
        ``(..., n_user, n_inputs)`` (see :meth:`inputs`).
    """

    name = ""
    recipe = ""
    methods: tuple = ()
    input_label = "n_ap * n_user"
    reuses_data = False
    code_per_ap = False
    rows_per_channel = "one"

    @property
    def default_method(self) -> str:
        return self.methods[0]

    def check_method(self, method) -> str:
        """``method`` if it is one of :attr:`methods`, the default for ``None``; else
        ``ValueError`` naming the allowed methods."""
        if method is None:
            return self.default_method
        if method not in self.methods:
            raise ValueError(f"method = {method!r} is unknown for variant {self.name!r}; allowed: {list(self.methods)}")
        return method

    # sizes ---------------------------------------------------------------------------
    def n_inputs(self, config: Preset) -> int:
        return config.system.n_ap * config.system.n_user

    def n_qubits(self, config: Preset) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def n_clbits(self, config: Preset) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def n_weights(self, config: Preset) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    # circuit and weights ---------------------------------------------------------------
    def build(self, config: Preset) -> QuantumCircuit:  # pragma: no cover - abstract
        raise NotImplementedError

    def init_weights(self, config: Preset, rng: np.random.Generator) -> np.ndarray:
        return 0.1 * rng.standard_normal(self.n_weights(config))

    def inputs(self, config: Preset, H_hat) -> np.ndarray:
        """Input angles for estimated channels ``(..., n_ap, n_user, n_tx)``: by default
        :func:`encode_angles`, ``(..., n_ap * n_user)``."""
        return encode_angles(H_hat)

    # readout and decoding --------------------------------------------------------------
    def outputs(self, config: Preset, probs: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def decide_from_probabilities(self, config: Preset, probs: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def boundary_z(self, config: Preset, probs: np.ndarray, shots: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError(f"variant {self.name!r} has no decision-boundary distance")


class PaperVariant(Variant):
    """Eq. (13)-(15) built literally (:func:`build_circuit`); decoded by
    :math:`\\lfloor o_m N_{user} \\rfloor`; trained by Algorithm 1.

    References
    ----------
    Narottama & Duong (2022), Eq. (13); Eq. (14); Eq. (15); Algorithm 1.
    """

    name = "paper"
    recipe = "algorithm1"
    methods = ("shift", "printed", "rotosolve")
    reuses_data = True

    def n_qubits(self, config):
        _, _, n_layer, n_neuron = _paper_dims(config)
        return n_layer * n_neuron

    def n_clbits(self, config):
        return config.system.n_ap

    def n_weights(self, config):
        _, _, n_layer, n_neuron = _paper_dims(config)
        return n_layer * n_neuron

    def build(self, config):
        return _build_paper(config)

    def init_weights(self, config, rng):
        return rng.uniform(0.0, 2.0 * np.pi, size=self.n_weights(config))

    def outputs(self, config, probs):
        return _bit_marginals(probs, config.system.n_ap)

    def decide_from_probabilities(self, config, probs):
        return decode_assignment(_bit_marginals(probs, config.system.n_ap), config.system.n_user)

    def boundary_z(self, config, probs, shots):
        n_user = config.system.n_user
        o = self.outputs(config, probs)  # (..., n_ap)
        if n_user < 2:
            return np.full(o.shape[:-1], np.inf)
        edges = np.arange(1, n_user) / n_user
        gap = np.min(np.abs(o[..., None] - edges), axis=-1)
        se = np.sqrt(np.clip(o * (1 - o), 0.0, None) / shots)
        z = np.where(gap == 0, 0.0, np.where(se > 0, gap / se, np.inf))
        return z.min(axis=-1)


class ReuploadVariant(Variant):
    """A binary user code per AP with re-uploaded, code-aligned encodings
    (:func:`build_circuit`); decoded by the most probable covering assignment; trained on
    exact probabilities with adjoint gradients."""

    name = "reupload"
    recipe = "reupload"
    methods = ("imitation", "expected")
    code_per_ap = True

    def n_qubits(self, config):
        return config.system.n_ap * bits_per_ap(config.system.n_user)

    def n_clbits(self, config):
        return self.n_qubits(config)

    def n_weights(self, config):
        return (2 * config.training.n_layer + 1) * self.n_qubits(config)

    def build(self, config):
        return _build_reupload(config)

    def outputs(self, config, probs):
        return _code_marginals(config, probs)

    def decide_from_probabilities(self, config, probs):
        return _decide_codes(config, probs)

    def boundary_z(self, config, probs, shots):
        n_ap, n_user = config.system.n_ap, config.system.n_user
        index, _ = _code_tables(n_ap, n_user)
        joint = probs[..., index]  # (..., n_cand)
        covers = serves_every_user(_candidates(n_ap, n_user), n_user)
        if covers.sum() >= 2:
            joint = joint[..., covers]
        if joint.shape[-1] < 2:
            return np.full(joint.shape[:-1], np.inf)
        top2 = -np.sort(-joint, axis=-1)[..., :2]
        p1, p2 = top2[..., 0], top2[..., 1]
        diff = p1 - p2
        se = np.sqrt(np.clip(p1 + p2 - diff**2, 0.0, None) / shots)
        return np.where(diff == 0, 0.0, np.where(se > 0, diff / se, np.inf))


SCORING_FEATURES = N_FEATURES
"""Link features per AP and user in the ``scoring`` variant (:mod:`cfmimo.features`)."""

SCORING_GATES = ("ry", "rz", "ry")
"""The trainable rotations of one re-uploading block of the ``scoring`` variant, per qubit."""

SCORING_MAX_CONE = 12
"""Largest light cone (qubits simulated per output) the ``scoring`` variant accepts: a
training batch of 250 channels x 8 users x 16 cones of 12 qubits already holds 2 GB of
amplitudes."""


def _scoring_dims(config: Preset) -> tuple[int, int]:
    """``(n_ap, n_layer)`` of the scoring circuit; ``ValueError`` if a light cone is too big."""
    n_ap, n_layer = config.system.n_ap, config.training.n_layer
    cone = min(n_ap, 2 * n_layer + 1)
    if cone > SCORING_MAX_CONE:
        rows = 250 * config.system.n_user * n_ap
        raise ValueError(
            f"the scoring variant with n_layer = {n_layer} and n_ap = {n_ap} would simulate light cones of "
            f"{cone} qubits (min(2 * n_layer + 1, n_ap)): {16 * 2**cone:,} bytes per cone and row, "
            f"{16 * 2**cone * rows:,} bytes for a training batch; allowed: at most {SCORING_MAX_CONE} qubits "
            f"(n_layer <= {(SCORING_MAX_CONE - 1) // 2} or n_ap <= {SCORING_MAX_CONE})"
        )
    return n_ap, n_layer


def _build_scoring(config: Preset) -> QuantumCircuit:
    n_ap, n_layer = _scoring_dims(config)
    F, G = SCORING_FEATURES, len(SCORING_GATES)
    x = ParameterVector("x", n_ap * F)
    theta = ParameterVector("theta", G * (F + 1) * (n_layer + 1) + 1)
    qreg = QuantumRegister(n_ap, "q")
    creg = ClassicalRegister(n_ap, "c")
    qc = QuantumCircuit(qreg, creg, name="qnn_scoring")
    _reupload_blocks(qc, x, theta, F, n_layer)
    qc.measure(range(n_ap), range(n_ap))
    return qc


def _reupload_blocks(qc: QuantumCircuit, x, theta, n_in: int, n_layer: int) -> None:
    """Append ``n_layer + 1`` re-uploading blocks to ``qc`` (one qubit per AP), with a CZ
    ring after each but the last: per qubit ``m`` the rotations :data:`SCORING_GATES`, each
    angle ``theta[base + n_in] + sum_i theta[base + i] * x[m * n_in + i]`` (weights block by
    block, rotation by rotation). Shared by the ``scoring`` and Bloch-readout circuits."""
    n_ap = qc.num_qubits
    w = 0
    for block in range(n_layer + 1):
        for m in range(n_ap):
            for j, gate in enumerate(SCORING_GATES):
                base = w + j * (n_in + 1)
                angle = theta[base + n_in]
                for i in range(n_in):
                    angle = angle + theta[base + i] * x[m * n_in + i]
                getattr(qc, gate)(angle, m)
        w += len(SCORING_GATES) * (n_in + 1)
        if block < n_layer and n_ap > 1:
            pairs = [(m, (m + 1) % n_ap) for m in range(n_ap)] if n_ap > 2 else [(0, 1)]
            for a, b in pairs:
                qc.cz(a, b)


BLOCH_BASES = ("x", "y", "z")
"""Measurement bases of :func:`build_bloch_circuit`: one circuit per Bloch component."""


def build_bloch_circuit(config: Preset, basis: str) -> QuantumCircuit:
    """The per-AP readout design (i) of issue 10, measured in ``basis``: one qubit per AP
    that reads ALL users' link features of its AP at once.

    The layout of the ``scoring`` circuit (``L = n_layer`` re-uploading blocks of
    :data:`SCORING_GATES`, a CZ ring after each but the last), except that qubit ``m``'s
    angles are trainable affine maps of AP ``m``'s ``n_user * F`` features (user-major:
    ``x[(m * n_user + k) * F + f]``), so that one evaluation serves every user. Before the
    measurement a basis change maps :math:`\\langle X\\rangle` (``RY(-pi/2)``) or
    :math:`\\langle Y\\rangle` (``RX(pi/2)``) onto :math:`\\langle Z\\rangle`: the three circuits
    together give each AP's Bloch vector, which :class:`cfmimo.bloch.BlochScorer` projects on
    ``n_user`` trainable directions (a softmax of three numbers over the users).

    Weights: ``3 * (n_user * F + 1) * (L + 1)`` (``theta``; the readout's directions and
    scale are classical and live in the scorer).

    Raises
    ------
    ValueError
        An unknown ``basis``, or light cones above :data:`SCORING_MAX_CONE` qubits.
    """
    if basis not in BLOCH_BASES:
        raise ValueError(f"basis = {basis!r} is unknown; allowed: {list(BLOCH_BASES)}")
    n_ap, n_layer = _scoring_dims(config)
    n_in = config.system.n_user * SCORING_FEATURES
    G = len(SCORING_GATES)
    x = ParameterVector("x", n_ap * n_in)
    theta = ParameterVector("theta", G * (n_in + 1) * (n_layer + 1))
    qc = QuantumCircuit(QuantumRegister(n_ap, "q"), ClassicalRegister(n_ap, "c"), name=f"qnn_bloch_{basis}")
    _reupload_blocks(qc, x, theta, n_in, n_layer)
    for m in range(n_ap):
        if basis == "x":
            qc.ry(-np.pi / 2, m)
        elif basis == "y":
            qc.rx(np.pi / 2, m)
    qc.measure(range(n_ap), range(n_ap))
    return qc


class ScoringVariant(Variant):
    """One qubit per AP, per-user scoring (issue 10, design ii): see
    :mod:`cfmimo.scoring` for the model, its decoders and its training.

    **Circuit** (:func:`build_circuit` with ``variant="scoring"``): ``n_ap`` qubits, qubit
    ``m`` is AP ``m``, classical bit ``m`` measures it. One evaluation scores one candidate
    user ``k``: qubit ``m`` receives AP ``m``'s :data:`SCORING_FEATURES` (7) link features for
    ``k`` (:func:`cfmimo.features.link_features`: the link's gain and its gaps to the AP's best
    user and to the user's best AP, the user's total gain, the link's share of it, and how
    much of the user's gain comes from APs that prefer it; angles in ``[0, pi]``).
    ``L = n_layer`` (default 2) blocks of (i) re-uploading with TRAINABLE input weights on
    every qubit, :math:`R_Y(\\phi_0)\\, R_Z(\\phi_1)\\, R_Y(\\phi_2)` with
    :math:`\\phi_j = c_j + \\sum_f a_{j,f} x_{m,f}` (:data:`SCORING_GATES`; each angle a trainable
    linear map of the AP's features: the encoding is trainable, and the biases are the
    trainable rotations), then (ii) a ring of CZ gates ``(m, m+1 mod n_ap)``; a last
    re-uploading block follows the last ring, then Z measurements. (A first version put one
    feature on each rotation, :math:`R_Y(a_0 f_0 + c_0) R_Z(a_1 f_1 + c_1) R_Y(a_2 f_2 + c_2)`;
    with seven features, seven such rotations per block trained to 0.34 of greedy + local
    search at 16 x 8, while three rotations that each read a learned mix of all seven
    train as well as the classical twin.)

    **Readout.** AP ``m``'s score for user ``k`` is :math:`e^{s}\\langle Z_m\\rangle` (``s``, the
    last weight, is a classical log-scale); a softmax over ``k`` per AP gives
    :math:`\\log p_m(k)`, shape ``(..., n_ap, n_user)``. The decoders need only
    :math:`\\langle Z\\rangle` (the scale is positive and the same for all APs, so it does not
    change the order of assignments).

    **Sizes.** Weights are shared by all APs and users: ``3 * (F + 1) * (L + 1) + 1`` with
    ``F = 7`` features (73 at ``L = 2``, whatever ``n_ap`` and ``n_user``), ordered block by
    block and rotation by rotation ``(a_{j,0}, ..., a_{j,F-1}, c_j)``, then ``s``. After ``L``
    CZ rings a qubit's :math:`\\langle Z\\rangle` depends on ``min(2L + 1, n_ap)`` qubits (its
    light cone: 5 at ``L = 2``), which is what the engine simulates per output; cones above
    :data:`SCORING_MAX_CONE` qubits raise ``ValueError``. One channel costs ``n_user``
    circuit evaluations (one per candidate user).

    **Inputs** ``x``: ``n_ap * F`` angles per evaluation, AP-major (``x[F m + f]`` is feature
    ``f`` of AP ``m``), one row per user: :meth:`inputs` gives ``(..., n_user, n_ap * F)``.
    This deviates from DESIGN.md's ``n_ap * n_user`` input convention of ``paper`` and
    ``reupload``.

    **Initial weights.** Input weights :math:`\\mathcal N(0, (0.5/\\sqrt F)^2)`, so that an angle
    starts with a spread of about 1 rad over channels (inputs lie in ``[0, pi]``); biases
    likewise; ``s = log 3``.
    """

    name = "scoring"
    recipe = "scoring"
    methods = ("imitation", "imitate_only")
    input_label = f"n_ap * {SCORING_FEATURES}"
    rows_per_channel = "user"

    def n_inputs(self, config):
        return config.system.n_ap * SCORING_FEATURES

    def n_qubits(self, config):
        return _scoring_dims(config)[0]

    def n_clbits(self, config):
        return config.system.n_ap

    def n_weights(self, config):
        return len(SCORING_GATES) * (SCORING_FEATURES + 1) * (_scoring_dims(config)[1] + 1) + 1

    def build(self, config):
        return _build_scoring(config)

    def init_weights(self, config, rng):
        n = self.n_weights(config)
        w = (0.5 / np.sqrt(SCORING_FEATURES)) * rng.standard_normal(n)
        w[-1] = np.log(3.0)
        return w

    def inputs(self, config, H_hat):
        """``(..., n_ap, n_user, n_tx)`` -> ``(..., n_user, n_ap * F)``: row ``k`` holds user
        ``k``'s link features AP by AP."""
        f = link_features(H_hat)  # (..., K, M, F)
        return f.reshape(f.shape[:-2] + (-1,))

    def outputs(self, config, probs):
        """:math:`\\langle Z_m\\rangle = 1 - 2 P(\\text{bit } m = 1)`, ``(..., n_ap)``."""
        return 1.0 - 2.0 * _bit_marginals(probs, config.system.n_ap)

    def decide_from_probabilities(self, config, probs):
        """probs ``(..., n_user, 2**n_ap)`` (one row per candidate user) -> ``(..., n_ap)``:
        the most probable covering assignment."""
        if probs.ndim < 2 or probs.shape[-2] != config.system.n_user:
            raise ValueError(f"probs must have shape (..., n_user = {config.system.n_user}, 2**n_ap), got {probs.shape}")
        z = self.outputs(config, probs)  # (..., K, M)
        return covering_argmax(np.swapaxes(z, -1, -2))

    def boundary_z(self, config, probs, shots):
        """Gap between the best and second-best covering assignments' summed
        :math:`\\langle Z\\rangle` scores over its shot-noise standard error,
        :math:`\\sqrt{\\sum_m (1 - z_{m,a_m}^2) + (1 - z_{m,b_m}^2)}/\\sqrt{S}` over the APs
        ``m`` where the two differ (each :math:`\\langle Z\\rangle` estimated from ``S`` shots;
        correlations between the qubits of one circuit are neglected)."""
        z = np.swapaxes(self.outputs(config, probs), -1, -2)  # (..., M, K)
        lead, (M, K) = z.shape[:-2], z.shape[-2:]
        flat = z.reshape((-1, M, K))
        if flat.shape[0] == 0:
            return np.zeros(lead)
        cand, score = top_k_covering(flat, 2)  # (n, 2, M)
        rows = np.arange(flat.shape[0])[:, None]
        z1 = flat[rows, np.arange(M), cand[:, 0]]
        z2 = flat[rows, np.arange(M), cand[:, 1]]
        differ = cand[:, 0] != cand[:, 1]
        var = np.where(differ, (1 - z1**2) + (1 - z2**2), 0.0).sum(axis=-1) / shots
        gap = np.where(np.isfinite(score[:, 1]), score[:, 0] - score[:, 1], np.inf)
        out = np.where(gap == 0, 0.0, np.where(var > 0, gap / np.sqrt(np.maximum(var, 1e-300)), np.inf))
        return out.reshape(lead)


class _Registry(dict):
    """Name -> :class:`Variant`; ``name in VARIANTS`` and iteration give the names."""

    def __repr__(self):
        return f"VARIANTS({list(self)})"


VARIANTS = _Registry((v.name, v) for v in (PaperVariant(), ReuploadVariant(), ScoringVariant()))
"""The registered circuit variants by name (``"paper"``: the literal circuit;
``"reupload"``: the code-per-AP improvement; ``"scoring"``: one qubit per AP, per-user
scoring). Adding a variant: one :class:`Variant` subclass and one entry here."""


def get_variant(variant) -> Variant:
    """The :class:`Variant` object registered as ``variant`` (a name or the object)."""
    if isinstance(variant, Variant):
        return variant
    if not isinstance(variant, str) or variant not in VARIANTS:
        raise ValueError(f"variant = {variant!r} is unknown; allowed: {list(VARIANTS)}")
    return VARIANTS[variant]
