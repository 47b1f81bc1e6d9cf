"""The QNN run the way it would run on IBM hardware: transpile, bind, sample, count.

1. **Transpile** to an ISA circuit (only the backend's native gates, on its coupling
   map) with ``qiskit.transpiler.generate_preset_pass_manager``, seeded with
   ``seed_transpiler`` so the layout and routing are reproducible (:func:`isa_circuit`,
   :func:`transpile_summary`).
2. **Bind** inputs and weights to the ISA circuit's parameters
   (:func:`cfmimo.circuit_io.parameter_values`, the binder of the Aer sampler below
   too).
3. **Run** with qiskit-ibm-runtime's current sampler primitive,
   :class:`qiskit_ibm_runtime.executor_sampler.Sampler` (in 0.51 the top-level
   ``SamplerV2`` is deprecated and warns), with **one PUB per job**: the ISA circuit and a
   parameter array of shape ``(n_samples, n_parameters)``, so many channel samples go in
   one job (:func:`run_probabilities`).
4. **Count**: the measured bits become probability vectors in the convention of
   :mod:`cfmimo.engine` (:func:`cfmimo.circuit_io.counts_to_probabilities`, the engine's
   own decoder).

:func:`backend_probabilities` and :func:`backend_decide` do all four for a
``(config, variant)`` of :mod:`cfmimo.qnn`, any registered variant.

``backend=`` is resolved by :func:`cfmimo.backends.get_backend`. On a fake backend,
qiskit-ibm-runtime's *local testing mode* runs the job on an Aer simulator carrying the
device's calibrated noise model (``noise=True``), or on a noiseless
:class:`~qiskit_aer.AerSimulator` with the same ISA circuit (``noise=False``). The
simulator is seeded by :func:`cfmimo.circuit_io.simulator_seed` (the engine's rule): the
same ``rng`` gives bit-identical counts. Real hardware cannot be seeded: ``rng`` is then
ignored.

:func:`sampler_probabilities` samples the *logical* circuit (no device, no ISA) with Qiskit
Aer's own ``SamplerV2``: the finite-shot counterpart of
:func:`cfmimo.engine.exact_probabilities`, with the same binder, seed rule and decoder.

Deviation from the paper: none in substance; the paper ran on "IBM Q" without saying
which device, transpiler settings or shot count. This module makes those choices
explicit arguments.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from qiskit import QuantumCircuit, transpile
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_aer import AerSimulator
from qiskit_aer.primitives import SamplerV2
from qiskit_ibm_runtime.executor_sampler import Sampler

from . import qnn
from ._validation import as_real_array, check_count, check_int
from .backends import DEFAULT_BACKEND, fake_backend_examples, get_backend, is_simulated, resolve_fake_name
from .circuit_io import broadcast_batch, counts_to_probabilities, parameter_values, simulator_seed
from .engine import program_for

__all__ = [
    "MAX_SHOTS",
    "isa_circuit",
    "transpile_summary",
    "run_probabilities",
    "backend_probabilities",
    "backend_decide",
    "sampler_circuit",
    "sampler_probabilities",
]

MAX_SHOTS = 10**7
"""Most shots per parameter set that the functions here accept."""


# ---------------------------------------------------------------------------------------
# transpilation
# ---------------------------------------------------------------------------------------


def _check_fits(circuit, backend) -> None:
    n_backend = backend.num_qubits
    if n_backend is not None and circuit.num_qubits > n_backend:
        name = getattr(backend, "name", type(backend).__name__)
        raise ValueError(
            f"backend {name!r} has {n_backend} qubits but the circuit needs {circuit.num_qubits}; "
            f"fake backends with enough qubits include {fake_backend_examples(circuit.num_qubits)}"
        )


def isa_circuit(circuit, backend=DEFAULT_BACKEND, *, optimization_level: int = 2, seed_transpiler: int = 0, **backend_kwargs):
    """Transpile ``circuit`` to an ISA circuit of ``backend``.

    Parameters
    ----------
    circuit : qiskit.QuantumCircuit
        With measurements and parameters (parameters stay unbound).
    backend : str or BackendV2
        See :func:`cfmimo.backends.get_backend`.
    optimization_level : int in [0, 3], default 2
        Preset pass manager level (Qiskit's default).
    seed_transpiler : int, default 0
        Seed of the stochastic layout and routing passes: same seed, same circuit.
    **backend_kwargs
        ``account_file``, ``instance`` for real backends.

    Returns
    -------
    qiskit.QuantumCircuit
        On the backend's ``num_qubits`` physical qubits, native gates only, with the
        original classical registers and a ``layout``.

    Raises
    ------
    ValueError
        Too few qubits on the backend, bad levels or seeds, unknown backend.
    """
    if not isinstance(circuit, QuantumCircuit):
        raise ValueError(f"circuit must be a qiskit QuantumCircuit, got {type(circuit).__name__}")
    optimization_level = check_int("optimization_level", optimization_level, 0, 3)
    seed_transpiler = check_int("seed_transpiler", seed_transpiler, 0)
    backend = get_backend(backend, **backend_kwargs)
    _check_fits(circuit, backend)
    pm = generate_preset_pass_manager(
        optimization_level=optimization_level, backend=backend, seed_transpiler=seed_transpiler
    )
    return pm.run(circuit)


def _two_qubit_layers(circuit) -> int:
    """Depth counting only gates that act on two or more qubits."""
    return circuit.depth(lambda instr: instr.operation.num_qubits >= 2 and instr.operation.name != "barrier")


def transpile_summary(circuit, backends, *, optimization_level: int = 2, seed_transpiler: int = 0) -> list[dict]:
    """Depth and gate counts of ``circuit`` transpiled for each backend.

    Parameters
    ----------
    circuit : qiskit.QuantumCircuit
    backends : iterable of str or BackendV2
    optimization_level, seed_transpiler : int
        As in :func:`isa_circuit`.

    Returns
    -------
    list of dict
        One row per backend: ``backend`` (name), ``backend_qubits``, ``two_qubit_gates``
        (the native 2-qubit gate names used), ``depth``, ``two_qubit_count``,
        ``two_qubit_depth``, ``size`` (all operations), ``active_qubits`` (physical qubits
        touched) and ``esp``, the *estimated success probability*
        :math:`\\prod_g (1 - \\epsilon_g)` over the ISA circuit's gates and measurements
        with the backend's calibrated errors :math:`\\epsilon_g` (``nan`` for the
        logical circuit; a crude, widely used proxy for how much noise a run sees).
        The first row ``"logical"`` describes ``circuit`` itself.
    """
    rows = [_summary_row("logical", circuit, circuit.num_qubits, None)]
    for backend in backends:
        backend = get_backend(backend)
        isa = isa_circuit(circuit, backend, optimization_level=optimization_level, seed_transpiler=seed_transpiler)
        rows.append(_summary_row(backend.name, isa, backend.num_qubits, backend.target))
    return rows


def _summary_row(name: str, circuit, n_qubits, target) -> dict:
    two = [i.operation.name for i in circuit.data if i.operation.num_qubits >= 2 and i.operation.name != "barrier"]
    active = {circuit.find_bit(q).index for i in circuit.data if i.operation.name != "barrier" for q in i.qubits}
    esp = math.nan
    if target is not None:
        esp = 1.0
        for instr in circuit.data:
            name_op = instr.operation.name
            if name_op == "barrier" or name_op not in target.operation_names:
                continue
            qargs = tuple(circuit.find_bit(q).index for q in instr.qubits)
            props = target[name_op].get(qargs)
            if props is not None and props.error is not None:
                esp *= 1.0 - props.error
    return {
        "backend": name,
        "backend_qubits": int(n_qubits),
        "two_qubit_gates": ",".join(sorted(set(two))),
        "depth": int(circuit.depth()),
        "two_qubit_count": len(two),
        "two_qubit_depth": int(_two_qubit_layers(circuit)),
        "size": int(circuit.size()),
        "active_qubits": len(active),
        "esp": float(esp),
    }


# ---------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------


def run_probabilities(
    isa,
    values,
    shots: int,
    rng=None,
    *,
    backend=DEFAULT_BACKEND,
    noise: bool = True,
    **backend_kwargs,
) -> np.ndarray:
    """Sample an ISA circuit for many parameter sets in **one** job and count.

    Parameters
    ----------
    isa : qiskit.QuantumCircuit
        Transpiled for ``backend`` (see :func:`isa_circuit`).
    values : array_like, shape ``(n, len(isa.parameters))``
        One row per parameter set; columns follow ``isa.parameters``
        (:func:`cfmimo.circuit_io.parameter_values`).
    shots : int >= 1
        Shots per parameter set.
    rng : int, numpy.random.Generator or None
        Seeds the simulator (:func:`cfmimo.circuit_io.simulator_seed`); the same seed
        gives identical counts. Ignored on real hardware.
    backend : str or BackendV2
        See :func:`cfmimo.backends.get_backend`.
    noise : bool, default True
        Simulated backends only: ``False`` runs the same ISA circuit on a noiseless
        :class:`~qiskit_aer.AerSimulator` (shot noise only).

    Returns
    -------
    ndarray, shape ``(n, 2**isa.num_clbits)``
        See :func:`cfmimo.circuit_io.counts_to_probabilities`.
    """
    shots = check_int("shots", shots, 1, MAX_SHOTS)
    if not isinstance(noise, (bool, np.bool_)):
        raise ValueError(f"noise must be True or False, got {noise!r}")
    backend = get_backend(backend, **backend_kwargs)
    _check_fits(isa, backend)
    values = as_real_array("values", values, "parameter values")
    if values.ndim != 2 or values.shape[1] != isa.num_parameters or values.shape[0] < 1:
        raise ValueError(f"values must have shape (n >= 1, {isa.num_parameters}), got {values.shape}")
    simulated = is_simulated(backend)
    seed = simulator_seed(rng) if simulated else None
    # noiseless: Aer with parallel experiments (parameter sets) over the available cores
    mode = backend if (noise or not simulated) else AerSimulator(max_parallel_experiments=0)
    sampler = Sampler(mode=mode)
    if simulated:
        sampler.options.simulator.seed_simulator = seed
        # the local runner rounds angles to multiples of (pi/2) * 10**-angle_decimals;
        # 12 decimals keep it far below any effect on the counts
        sampler.options.simulator.angle_decimals = 12
    pub = (isa, values) if isa.num_parameters else (isa,)
    result = sampler.run([pub], shots=shots).result()
    probs = counts_to_probabilities(result[0].data, isa)
    if probs.ndim == 1:
        probs = np.broadcast_to(probs, (values.shape[0], probs.shape[-1])).copy()
    return probs


@functools.lru_cache(maxsize=32)
def _cached_isa(config, variant: str, backend_name: str, optimization_level: int, seed_transpiler: int):
    return isa_circuit(
        qnn.build_circuit(config, variant),
        backend_name,
        optimization_level=optimization_level,
        seed_transpiler=seed_transpiler,
    )


def _isa_for(config, variant, backend, optimization_level, seed_transpiler, backend_kwargs):
    """The ISA circuit of ``(config, variant)`` for ``backend``, cached for fake backends."""
    if isinstance(backend, str) and resolve_fake_name(backend) is not None and not backend_kwargs:
        qnn.n_qubits(config, variant)  # validates config and variant before caching
        return _cached_isa(config, variant, resolve_fake_name(backend), optimization_level, seed_transpiler)
    return isa_circuit(
        qnn.build_circuit(config, variant),
        backend,
        optimization_level=optimization_level,
        seed_transpiler=seed_transpiler,
        **backend_kwargs,
    )


def _check_widths(config, variant, x, theta) -> None:
    """Widths of ``x`` and ``theta`` against the variant's, with the variant's labels."""
    if np.ndim(x) < 1 or np.ndim(theta) < 1:
        raise ValueError(f"x and theta must be arrays, got shapes {np.shape(x)} and {np.shape(theta)}")
    n_x, n_theta = qnn.n_inputs(config, variant), qnn.n_weights(config, variant)
    if np.shape(x)[-1] != n_x:
        label = qnn.get_variant(variant).input_label
        raise ValueError(f"x must have shape (..., {label} = {n_x}), got shape {np.shape(x)}")
    if np.shape(theta)[-1] != n_theta:
        raise ValueError(f"theta must have shape (..., n_weights = {n_theta}), got shape {np.shape(theta)}")


def backend_probabilities(
    config,
    variant: str,
    x,
    theta,
    shots: int,
    rng=None,
    *,
    backend=DEFAULT_BACKEND,
    noise: bool = True,
    optimization_level: int = 2,
    seed_transpiler: int = 0,
    **backend_kwargs,
) -> np.ndarray:
    """Bitstring probabilities of the QNN estimated on ``backend`` with ``shots`` shots.

    The hardware counterpart of :func:`cfmimo.engine.exact_probabilities` (exact) and
    :func:`sampler_probabilities` (Aer, logical circuit), with the same
    broadcasting, parameter binding, seed rule and outcome order
    (:mod:`cfmimo.circuit_io`): the circuit of :func:`cfmimo.qnn.build_circuit` is
    transpiled for ``backend`` (cached per fake backend) and all ``x`` rows run in one
    job, one PUB with a parameter array.

    Parameters
    ----------
    config : cfmimo.config.Preset
    variant : str
        A name of :data:`cfmimo.qnn.VARIANTS`.
    x : array_like, shape ``(..., n_inputs)``
        Input angles (``cfmimo.qnn.get_variant(variant).inputs``).
    theta : array_like, shape ``(n_weights,)`` or ``(..., n_weights)``
    shots : int >= 1
    rng : int, numpy.random.Generator or None
        Simulator seed source; same seed, same output. Ignored on real hardware.
    backend : str or BackendV2, default ``"fake_melbourne"``
    noise : bool, default True
        ``False``: the same ISA circuit on a noiseless simulator.
    optimization_level, seed_transpiler : int
        See :func:`isa_circuit`.
    **backend_kwargs
        ``account_file``, ``instance`` for real backends (see
        :func:`cfmimo.backends.get_backend`).

    Returns
    -------
    ndarray, shape ``(..., 2**n_clbits)``
        Index = integer value of the bitstring, classical bit 0 least significant; rows
        sum to 1 and are multiples of ``1 / shots``.

    References
    ----------
    Narottama & Duong (2022), Eq. (9).
    """
    shots = check_int("shots", shots, 1, MAX_SHOTS)
    _check_widths(config, variant, x, theta)
    isa = _isa_for(config, variant, backend, optimization_level, seed_transpiler, backend_kwargs)
    values, batch = parameter_values(isa, x, theta)
    probs = run_probabilities(isa, values, shots, rng, backend=backend, noise=noise, **backend_kwargs)
    return probs.reshape(batch + (probs.shape[-1],))


def backend_decide(config, variant: str, weights, H_hat, shots: int, rng=None, **kwargs) -> np.ndarray:
    """QNN assignments for the channel estimates ``H_hat``, sampled on a backend.

    Encodes ``H_hat`` with the variant's input map (``qnn.get_variant(variant).inputs``),
    estimates the bitstring probabilities with :func:`backend_probabilities` and decodes
    them with :func:`cfmimo.qnn.decide_from_probabilities` (Algorithm 1, lines 9-10):
    the policy of Eq. (9) on a device.

    Parameters
    ----------
    config, variant, shots, rng
        As in :func:`backend_probabilities`.
    weights : array_like, shape ``(n_weights,)``
        Trained weights (``cfmimo.train.trained(config, variant).weights``).
    H_hat : array_like, complex, shape ``(..., n_ap, n_user, n_tx)``
    **kwargs
        ``backend``, ``noise``, ``optimization_level``, ``seed_transpiler``,
        ``account_file``, ``instance``.

    Returns
    -------
    ndarray of int, shape ``(..., n_ap)``
        The serving user of each AP (the rows of :math:`\\gamma`, Eq. (10)).

    References
    ----------
    Narottama & Duong (2022), Eq. (9); Eq. (10); Algorithm 1.
    """
    x = qnn.get_variant(variant).inputs(config, H_hat)
    probs = backend_probabilities(config, variant, x, weights, shots, rng, **kwargs)
    return qnn.decide_from_probabilities(config, variant, probs)


# ---------------------------------------------------------------------------------------
# Aer sampler on the logical circuit
# ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def sampler_circuit(config, variant):
    """The circuit of :func:`cfmimo.qnn.build_circuit` transpiled for a plain
    :class:`~qiskit_aer.AerSimulator` (``optimization_level=0``, ``seed_transpiler=0``:
    the logical circuit, no device), cached per ``(config, variant)``."""
    circuit = qnn.build_circuit(config, variant)
    return transpile(circuit, AerSimulator(), optimization_level=0, seed_transpiler=0)


def sampler_probabilities(config, variant, x, theta, shots: int, rng=None) -> np.ndarray:
    """Bitstring frequencies from Qiskit Aer's ``SamplerV2`` (finite sampling).

    One PUB with a parameter-value array of the broadcast batch shape: Aer simulates all
    rows in one ``run`` call.

    Parameters
    ----------
    config, variant, x, theta : as in :func:`cfmimo.engine.exact_probabilities`
    shots : int
        Shots per row, ``>= 1``.
    rng : int, numpy.random.Generator or None
        Seeds Aer's simulator by :func:`cfmimo.circuit_io.simulator_seed` (an int is the
        seed itself, a Generator gives one draw), the rule of the IBM backends too. The
        same seed gives identical counts.

    Returns
    -------
    ndarray, shape ``(..., 2**n_clbits)``
        Frequencies ``counts / shots``; index convention as
        :func:`cfmimo.engine.exact_probabilities`.

    References
    ----------
    Narottama & Duong (2022), Eq. (13); footnote 3.
    """
    program = program_for(config, variant)
    shots = check_count("shots", shots, 1)
    lead, xf, tf = broadcast_batch(x, theta, program.n_inputs, program.n_weights)
    seed = simulator_seed(rng)
    tcirc = sampler_circuit(config, variant)
    values, _ = parameter_values(tcirc, xf, tf)
    result = SamplerV2(seed=seed).run([(tcirc, values, shots)]).result()
    return counts_to_probabilities(result[0].data, tcirc).reshape(lead + (-1,))
