"""What goes into a QNN circuit run and what comes out: one rule each, for every simulator.

The exact engine (:mod:`cfmimo.engine`), the Aer sampler and the IBM backends of
:mod:`cfmimo.execution` take the same inputs and return the same kind of output. The
rules that connect them live here, once:

* :func:`broadcast_batch`: the inputs ``x`` ``(..., n_inputs)`` and weights ``theta``
  ``(..., n_weights)`` broadcast over their leading axes into flat batch rows;
* :func:`parameter_values`: those rows bound to a circuit's parameters, in the order of
  ``circuit.parameters`` (the ``(n, n_parameters)`` array of a sampler PUB);
* :func:`simulator_seed`: an ``rng`` (SPEC 7) turned into the integer seed a simulator
  takes;
* :func:`counts_to_probabilities`: the measured bits of a sampler result turned into
  probability vectors indexed like :func:`cfmimo.engine.forward`'s: index = the bitstring's
  integer value, classical bit 0 least significant.

Only numpy is needed here (a sampler result is read through its attributes), so the
exact engine, which is on the training path, imports no simulator through this module.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._validation import as_real_array, as_rng

__all__ = [
    "MAX_SEED",
    "broadcast_batch",
    "parameter_values",
    "simulator_seed",
    "counts_to_probabilities",
]

MAX_SEED = 2**63 - 1
"""The largest int seed :func:`simulator_seed` passes on (Aer's seeds are 64-bit)."""

_DRAWN_SEED_BOUND = 2**31 - 1
"""A seed drawn from a Generator lies in ``[0, 2**31 - 1)``: it fits a signed 32-bit
integer, which every simulator accepts. (The committed outputs of notebook 06 were drawn
with this bound; changing it changes their counts.)"""

_MAX_CLBITS = 24


def broadcast_batch(x, theta, n_inputs: int | None = None, n_weights: int | None = None):
    """Broadcast the leading (batch) axes of ``x`` and ``theta`` and flatten them.

    Parameters
    ----------
    x : array_like, shape ``(..., n_inputs)``
        Input angles (:func:`cfmimo.qnn.encode_angles`).
    theta : array_like, shape ``(..., n_weights)``
        Weights; the leading axes broadcast with those of ``x``.
    n_inputs, n_weights : int, optional
        Required widths of the last axes (``None``: any width).

    Returns
    -------
    batch_shape : tuple
        The broadcast leading shape; ``n = prod(batch_shape) >= 1``.
    xf : ndarray, shape ``(n, n_inputs)``
    tf : ndarray, shape ``(n_weights,)`` if ``theta`` is 1-D (shared by every row),
        else ``(n, n_weights)``.

    Raises
    ------
    ValueError
        Non-real or non-finite entries, wrong widths, batch shapes that do not broadcast,
        or an empty batch.
    """
    x = as_real_array("x", x, "input angles")
    theta = as_real_array("theta", theta, "weights")
    if x.ndim < 1 or (n_inputs is not None and x.shape[-1] != n_inputs):
        raise ValueError(f"x must have shape (..., n_inputs = {n_inputs}), got shape {x.shape}")
    if theta.ndim < 1 or (n_weights is not None and theta.shape[-1] != n_weights):
        raise ValueError(f"theta must have shape (..., n_weights = {n_weights}), got shape {theta.shape}")
    try:
        lead = np.broadcast_shapes(x.shape[:-1], theta.shape[:-1])
    except ValueError:
        raise ValueError(f"batch shapes of x {x.shape[:-1]} and theta {theta.shape[:-1]} do not broadcast") from None
    size = math.prod(lead)
    if size == 0:
        raise ValueError(f"x and theta describe an empty batch (batch shape {lead}); give at least one row")
    xf = np.broadcast_to(x, lead + x.shape[-1:]).reshape(size, -1)
    if theta.ndim == 1:
        tf = theta
    else:
        tf = np.broadcast_to(theta, lead + theta.shape[-1:]).reshape(size, -1)
    return lead, xf, tf


def parameter_values(circuit, x, theta) -> tuple[np.ndarray, tuple]:
    """Bind inputs and weights to a circuit's parameters: the array of one sampler PUB.

    Parameters
    ----------
    circuit : qiskit.QuantumCircuit
        Its parameters are elements of ParameterVectors named ``"x"`` and ``"theta"``
        (the :mod:`cfmimo.qnn` convention); transpilation may have dropped some.
    x : array_like, shape ``(..., n_x)``
        ``n_x`` = the length of the circuit's ``x`` vector.
    theta : array_like, shape ``(n_theta,)`` or ``(..., n_theta)`` broadcasting with ``x``

    Returns
    -------
    values : ndarray, shape ``(n, len(circuit.parameters))``
        Row ``i`` binds batch row ``i`` of :func:`broadcast_batch`; columns follow
        ``circuit.parameters``.
    batch_shape : tuple
        ``n = prod(batch_shape)``.

    Raises
    ------
    ValueError
        As :func:`broadcast_batch`; a parameter outside the ``x`` and ``theta`` vectors; a
        last axis whose width differs from its vector's length.
    """
    lead, xf, tf = broadcast_batch(x, theta)
    tf = np.broadcast_to(tf, (xf.shape[0], tf.shape[-1]))
    sources = {"x": xf, "theta": tf}
    columns = []
    for param in circuit.parameters:
        vector = getattr(param, "vector", None)
        source = sources.get(getattr(vector, "name", None))
        if source is None:
            raise ValueError(f"circuit parameter {param.name!r} is not an element of the 'x' or 'theta' ParameterVector")
        if len(vector) != source.shape[-1]:
            given = np.shape(x) if vector.name == "x" else np.shape(theta)
            raise ValueError(f"{vector.name} must have {len(vector)} entries on its last axis, got shape {given}")
        columns.append(source[:, param.index])
    n = xf.shape[0]
    values = np.stack(columns, axis=-1) if columns else np.zeros((n, 0))
    return values, lead


def simulator_seed(rng) -> int:
    """The integer seed a simulator gets from ``rng`` (SPEC 7).

    Parameters
    ----------
    rng : int, numpy.random.Generator or None
        An int in ``[0, MAX_SEED]`` is the seed itself; a Generator gives one draw in
        ``[0, 2**31 - 1)`` (and advances); ``None`` draws from fresh entropy.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        A negative or too large int seed.
    TypeError
        Anything else that is not a Generator (a string, a float, a bool).
    """
    if isinstance(rng, numbers.Integral) and not isinstance(rng, (bool, np.bool_)):
        if rng < 0 or rng > MAX_SEED:
            raise ValueError(f"rng = {rng} is out of range; allowed: an int seed in [0, 2**63 - 1] or a numpy Generator")
        return int(rng)
    gen = as_rng("rng", rng)
    return int(gen.integers(0, _DRAWN_SEED_BOUND))


def counts_to_probabilities(data, circuit) -> np.ndarray:
    """Empirical bitstring probabilities from a sampler result's measured bits.

    Parameters
    ----------
    data : DataBin or SamplerPubResult
        ``pub_result.data`` (or the pub result): one :class:`~qiskit.primitives.BitArray`
        per classical register of ``circuit``, each of shape ``batch`` with ``shots`` shots.
    circuit : qiskit.QuantumCircuit
        Gives the registers and their bits' positions among the circuit's classical bits.

    Returns
    -------
    ndarray, float, shape ``batch + (2**circuit.num_clbits,)``
        ``p[..., i]`` = share of shots whose classical bits read the integer ``i``, bit
        ``j`` of ``i`` being classical bit ``j`` (bit 0 least significant, Qiskit's and
        :func:`cfmimo.engine.forward`'s convention). Each row sums to 1.

    Raises
    ------
    ValueError
        No or too many (> 24) classical bits, a register missing from ``data``, or
        registers with different shapes or shot counts.
    """
    data = getattr(data, "data", data)
    n_clbits = circuit.num_clbits
    if n_clbits < 1 or n_clbits > _MAX_CLBITS:
        raise ValueError(f"circuit has {n_clbits} classical bits; allowed: [1, {_MAX_CLBITS}]")
    ints = None
    shape = shots = None
    for creg in circuit.cregs:
        bits = getattr(data, creg.name, None)
        if bits is None:
            raise ValueError(f"the result has no data for classical register {creg.name!r}")
        if shape is None:
            shape, shots = bits.shape, bits.num_shots
        elif bits.shape != shape or bits.num_shots != shots:
            raise ValueError("the classical registers' results have different shapes or shot counts")
        # ``array`` is (..., shots, ceil(n/8)) uint8, big-endian over bytes, bit 0 in the
        # least significant position of the last byte.
        raw = np.asarray(bits.array, dtype=np.int64)
        value = np.zeros(raw.shape[:-1], dtype=np.int64)
        for j in range(raw.shape[-1]):
            value = (value << 8) | raw[..., j]
        positions = [circuit.find_bit(bit).index for bit in creg]
        if positions == list(range(len(positions))):
            part = value
        else:
            part = np.zeros_like(value)
            for i, position in enumerate(positions):
                part |= ((value >> i) & 1) << position
        ints = part if ints is None else ints | part
    if ints is None:
        raise ValueError("circuit has no classical registers")
    size = 2**n_clbits
    n = math.prod(shape)
    flat = ints.reshape(n, shots) + (np.arange(n, dtype=np.int64) * size)[:, None]
    counts = np.bincount(flat.ravel(), minlength=n * size).reshape(shape + (size,))
    return counts / float(shots)
