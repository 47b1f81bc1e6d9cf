"""Lemma 2 on whole circuits: Eq. (19), (22) and (23) on the circuits of :mod:`cfmimo.qnn`
and on the literal circuit of :mod:`cfmimo.readings`.

Lemma 2 states :math:`\\mathbb E_\\theta\\|\\nabla_\\theta f\\|^2 \\ge 1/4` for the readout-parity
cost of Eq. (23). This module evaluates that cost and its exact gradient, estimates the
expectation by Monte Carlo over uniform weights (:func:`expected_sq_gradient_norm` on a
registered circuit, :func:`literal_expected_sq_gradient_norm` on one reading of the
literal circuit) and gives its closed form on the literal circuit
(:func:`lemma2_closed_form`). The one-qubit derivation of Appendix B is in
:mod:`cfmimo.lemma2`.
"""

from __future__ import annotations

import math

import numpy as np
from qiskit.quantum_info import Statevector

from ._validation import check_count
from .config import Preset
from .engine import exact_probabilities, exact_vjp
from .gradients import frequency, parameter_shift_gradient
from .qnn import build_circuit, n_weights
from .readings import SIGMA_QUBITS, build_literal_circuit, literal_dims, parity_gradient
from .stats import MCEstimate, mc_estimate

__all__ = [
    "circuit_inputs",
    "zero_input_circuit",
    "readout_parity_cost",
    "circuit_gradient",
    "expected_sq_gradient_norm",
    "literal_expected_sq_gradient_norm",
    "lemma2_closed_form",
]


def _check_one_rotation_per_weight(circuit) -> None:
    """Raise unless every ``theta`` parameter enters exactly one rx/ry/rz gate, as the angle itself."""
    uses: dict = {}
    for inst in circuit.data:
        for par in inst.operation.params:
            for p in getattr(par, "parameters", ()):
                if p.name.startswith("theta["):
                    ok = inst.operation.name in ("rx", "ry", "rz") and par == p
                    uses.setdefault(p.name, []).append(ok)
    bad = [name for name, oks in uses.items() if len(oks) != 1 or not oks[0]]
    if bad:
        raise ValueError(
            f"the exact shift rule needs each weight in one rotation gate; {bad[:3]} are used otherwise"
        )


def circuit_inputs(config, variant: str, x, theta, convention: str = "qiskit"):
    """Validate and broadcast inputs and weights of a registered circuit, weights in Qiskit's convention.

    Parameters
    ----------
    config : cfmimo.config.Preset
    variant : str
    x : array_like, shape ``(..., n_ap * n_user)``
    theta : array_like, shape ``(..., n_weights)``
        Weights in ``convention``.
    convention : {"qiskit", "appendix"}

    Returns
    -------
    x, theta_q : ndarray, shapes ``(..., n_ap * n_user)`` and ``(..., n_weights)``
        Broadcast to a common batch shape; ``theta_q`` is :math:`\\omega\\theta`, the angles
        of Qiskit's ``RY`` (the appendix's :math:`e^{-i\\theta Y}` is ``RY(2 theta)``).
    """
    omega = frequency(convention)
    theta = np.asarray(theta, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    n_in = config.system.n_ap * config.system.n_user
    if x.ndim < 1 or x.shape[-1] != n_in:
        raise ValueError(f"x must have shape (..., n_ap * n_user = {n_in}), got {x.shape}")
    n_par = n_weights(config, variant)
    if theta.ndim < 1 or theta.shape[-1] != n_par:
        raise ValueError(f"theta must have shape (..., {n_par}), got {theta.shape}")
    lead = np.broadcast_shapes(x.shape[:-1], theta.shape[:-1])
    x = np.broadcast_to(x, lead + x.shape[-1:])
    theta = np.broadcast_to(theta, lead + theta.shape[-1:])
    # appendix convention: e^{-i t Y} = Qiskit RY(2 t)
    return x, omega * theta


def zero_input_circuit(config, variant: str = "paper"):
    """The circuit of :func:`cfmimo.qnn.build_circuit` with its input encoding removed.

    Drops every gate with an ``x`` parameter and every Hadamard on a qubit that later
    receives such a gate, so the weights act on :math:`|0\\rangle^{\\otimes n}`: the
    :math:`m_{input} = |0\\rangle\\langle 0|` of Lemma 2 (an input the real circuit cannot
    receive, since Eq. 14 always applies H first). Measurements are kept.

    References
    ----------
    Narottama & Duong (2022), Lemma 2; Eq. (13); Eq. (15).
    """
    circuit = build_circuit(config, variant)
    encoded = set()
    for inst in circuit.data:
        if any(p.name.startswith("x[") for par in inst.operation.params for p in getattr(par, "parameters", ())):
            encoded.update(circuit.find_bit(q).index for q in inst.qubits)
    out = circuit.copy_empty_like()
    for inst in circuit.data:
        has_x = any(p.name.startswith("x[") for par in inst.operation.params for p in getattr(par, "parameters", ()))
        is_encoding_h = inst.operation.name == "h" and circuit.find_bit(inst.qubits[0]).index in encoded
        if not (has_x or is_encoding_h):
            out.append(inst)
    return out


def _parity_signs(n_out: int) -> np.ndarray:
    return np.array([(-1) ** bin(i).count("1") for i in range(n_out)], dtype=np.float64)


def _statevector_parity(circuit, theta_q) -> np.ndarray:
    """Readout parity cost of a circuit whose only parameters are ``theta``, by Qiskit Statevector.

    A Python loop over rows (about 1 ms each at 8 qubits): for small samples and checks.
    """
    measured = [None] * circuit.num_clbits
    for inst in circuit.data:
        if inst.operation.name == "measure":
            measured[circuit.find_bit(inst.clbits[0]).index] = circuit.find_bit(inst.qubits[0]).index
    bare = circuit.remove_final_measurements(inplace=False)
    params = sorted(bare.parameters, key=lambda p: p.index)
    theta_q = np.asarray(theta_q, dtype=np.float64)
    flat = theta_q.reshape(-1, theta_q.shape[-1])
    sign = _parity_signs(2 ** len(measured))
    out = np.empty(len(flat))
    for i, row in enumerate(flat):
        bound = bare.assign_parameters({p: row[p.index] for p in params})
        probs = Statevector(bound).probabilities(qargs=measured)
        out[i] = 0.5 - 0.5 * probs @ sign
    return out.reshape(theta_q.shape[:-1])


def readout_parity_cost(config, variant: str, x, theta, convention: str = "qiskit") -> np.ndarray:
    """Eq. (23): :math:`f = 1/2 - 1/2\\,\\mathrm{Tr}[\\sigma_{(3,\\dots,3)} U m_{input} U^\\dagger]`.

    :math:`\\sigma_{(3,\\dots,3)}` is read as the product of Z on the qubits that the
    circuit measures (its classical bits), so ``f`` is the probability of an odd number
    of ones in the readout.

    Parameters
    ----------
    config : cfmimo.config.Preset
    variant : str
    x : array_like, shape ``(..., n_ap * n_user)``, or None
        Input angles (:func:`cfmimo.qnn.encode_angles`), evaluated with
        :func:`cfmimo.engine.exact_probabilities`; ``None`` means the input
        :math:`|0\\rangle` (:func:`zero_input_circuit`, evaluated with Qiskit's
        ``Statevector``, row by row).
    theta : array_like, shape ``(..., n_weights)``
        Weights in the chosen ``convention``; the appendix convention's
        :math:`e^{-i\\theta Y}` is Qiskit's ``RY(2 theta)``.
    convention : {"qiskit", "appendix"}

    Returns
    -------
    ndarray, shape ``(...)`` (broadcast of the batch shapes of ``x`` and ``theta``)

    References
    ----------
    Narottama & Duong (2022), Eq. (23).
    """
    if x is None:
        theta = np.asarray(theta, dtype=np.float64)
        n_par = n_weights(config, variant)
        if theta.ndim < 1 or theta.shape[-1] != n_par:
            raise ValueError(f"theta must have shape (..., {n_par}), got {theta.shape}")
        return _statevector_parity(zero_input_circuit(config, variant), frequency(convention) * theta)
    x, theta_q = circuit_inputs(config, variant, x, theta, convention)
    probs = np.asarray(exact_probabilities(config, variant, x, theta_q))
    return 0.5 - 0.5 * probs @ _parity_signs(probs.shape[-1])


def circuit_gradient(config, variant: str, x, theta, convention: str = "qiskit") -> np.ndarray:
    """Exact gradient of the readout-parity cost (Eq. 23) with respect to the weights.

    With inputs ``x``: adjoint differentiation (:func:`cfmimo.engine.exact_vjp`), which
    uses no shift rule, so it is an independent reference for Eq. (17). With
    ``x=None`` (input ``|0>``): the parameter-shift rule with shift :math:`\\pi/(2\\omega)`
    on Qiskit ``Statevector`` values, exact because each weight enters one rotation
    gate (checked on the built circuit). The appendix convention's
    :math:`e^{-i\\theta Y}` is ``RY(2 theta)``, so its gradient is twice Qiskit's at
    ``2 theta``.

    Parameters
    ----------
    config, variant, x, theta, convention
        As in :func:`readout_parity_cost`.

    Returns
    -------
    ndarray, shape ``(..., n_weights)``

    References
    ----------
    Narottama & Duong (2022), Eq. (17); Eq. (23).
    """
    _check_one_rotation_per_weight(build_circuit(config, variant))
    omega = frequency(convention)
    if x is None:
        theta = np.asarray(theta, dtype=np.float64)

        def f(points):  # points (2, ..., P, P)
            return readout_parity_cost(config, variant, None, points, convention)

        return parameter_shift_gradient(f, theta, shift=math.pi / (2 * omega), convention=convention)
    x, theta_q = circuit_inputs(config, variant, x, theta, convention)
    n_out = 2 ** len([i for i in build_circuit(config, variant).data if i.operation.name == "measure"])
    _, grad = exact_vjp(config, variant, x, theta_q, -0.5 * _parity_signs(n_out))
    return omega * np.asarray(grad)


def _sq_norm_estimate(gradient, n_w, x, n_samples, rng, level) -> MCEstimate:
    """Mean of :math:`\\|\\nabla_\\theta f\\|^2` over ``n_samples`` uniform weight draws.

    ``gradient(x, theta)`` maps ``theta`` of shape ``(n_samples, n_w)`` to the gradient of
    the same shape.
    """
    n_samples = check_count("n_samples", n_samples, 2)
    if x is not None:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 2 and x.shape[0] != n_samples:
            raise ValueError(f"x has {x.shape[0]} inputs; pass one input or n_samples = {n_samples} inputs")
    theta = np.random.default_rng(rng).uniform(0.0, 2 * np.pi, size=(n_samples, n_w))
    grad = gradient(x, theta)
    return mc_estimate((grad**2).sum(axis=-1), level)


def expected_sq_gradient_norm(
    config, variant: str, x, n_samples: int = 500, rng=None, convention: str = "qiskit", level: float = 0.95
) -> MCEstimate:
    """Monte-Carlo :math:`\\mathbb E_{\\theta\\sim U[0,2\\pi)^P}\\|\\nabla_\\theta f\\|^2` (Lemma 2, Eq. 19/22).

    Parameters
    ----------
    config : cfmimo.config.Preset
    variant : str
    x : array_like, shape ``(n_ap * n_user,)`` or ``(n_samples, n_ap * n_user)``, or None
        One input, one input per sample (e.g. encoded channel draws), or ``None`` for
        the input ``|0>`` (slow path, see :func:`readout_parity_cost`).
    n_samples : int
        Weight draws (>= 2).
    rng : int, numpy.random.Generator or None
    convention : {"qiskit", "appendix"}
    level : float

    Returns
    -------
    MCEstimate
        Mean, CI half-width, ``n_samples`` and ``level`` (per-sample gradients:
        :func:`circuit_gradient`).

    References
    ----------
    Narottama & Duong (2022), Lemma 2; Eq. (19); Eq. (22); Eq. (23).
    """
    return _sq_norm_estimate(
        lambda x, theta: circuit_gradient(config, variant, x, theta, convention),
        n_weights(config, variant), x, n_samples, rng, level,
    )


def literal_expected_sq_gradient_norm(
    config: Preset, x, n_samples: int = 500, rng=None, *, sigma: str = "readout", convention: str = "qiskit",
    level: float = 0.95, **reading
) -> MCEstimate:
    """Monte-Carlo :math:`\\mathbb E_{\\theta\\sim U[0,2\\pi)^P}\\|\\nabla_\\theta f\\|^2` of Eq. (23) on one reading of the literal circuit.

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
        Keyword arguments of :func:`cfmimo.readings.build_literal_circuit`.

    Returns
    -------
    MCEstimate
        Per-sample gradients: :func:`cfmimo.readings.parity_gradient`.

    References
    ----------
    Narottama & Duong (2022), Lemma 2; Eq. (19); Eq. (22); Eq. (23).
    """
    lc = build_literal_circuit(config, **reading)
    n_w = sum(1 for p in lc.circuit.parameters if p.vector.name == "theta")
    return _sq_norm_estimate(
        lambda x, theta: parity_gradient(config, x, theta, sigma=sigma, convention=convention, **reading),
        n_w, x, n_samples, rng, level,
    )


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

    References
    ----------
    Narottama & Duong (2022), Lemma 2; Eq. (22); Eq. (23).
    """
    n_ap, n_user, n_layer, n_neuron = literal_dims(config)
    if sigma not in SIGMA_QUBITS:
        raise ValueError(f"sigma = {sigma!r} is unknown; allowed: {list(SIGMA_QUBITS)}")
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
