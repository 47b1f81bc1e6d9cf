"""The QNN on IBM backends: fake (offline, noisy) ones and, optionally, real devices.

The cloud QNN of :mod:`cfmimo.qnn` runs here the way it would run on IBM hardware:

1. **Transpile** to an ISA circuit (only the backend's native gates, on its coupling
   map) with ``qiskit.transpiler.generate_preset_pass_manager``, seeded with
   ``seed_transpiler`` so the layout and routing are reproducible (:func:`isa_circuit`).
2. **Run** with qiskit-ibm-runtime's current sampler primitive,
   :class:`qiskit_ibm_runtime.executor_sampler.Sampler` (in 0.51 the top-level
   ``SamplerV2`` is deprecated and warns), with **one PUB per job**: the ISA circuit and a
   parameter array of shape ``(n_samples, n_parameters)``, so many channel samples go in
   one job (:func:`run_probabilities`).
3. **Count**: the measured bits become probability vectors in the convention of
   :mod:`cfmimo.engine` and :mod:`cfmimo.qnn`: shape ``(..., 2**n_clbits)``, index = the
   bitstring's integer value, classical bit 0 least significant
   (:func:`counts_to_probabilities`).

Backends (``backend=`` of every function):

* a **fake backend name** such as ``"fake_melbourne"`` (15 qubits; see
  :func:`fake_backend_names`): qiskit-ibm-runtime's *local testing mode* runs the job on
  an Aer simulator carrying the device's calibrated noise model (``noise=True``), or on a
  noiseless :class:`~qiskit_aer.AerSimulator` with the same ISA circuit
  (``noise=False``). No network, no account. The simulator is seeded through the
  sampler's ``options.simulator.seed_simulator``: the same ``rng`` gives bit-identical
  counts.
* a **real backend name** such as ``"ibm_torino"``: the job goes to IBM Quantum through
  :class:`qiskit_ibm_runtime.QiskitRuntimeService`. Credentials come from the
  ``QISKIT_IBM_TOKEN`` environment variable (with ``QISKIT_IBM_INSTANCE``) or from an
  account saved once with ``QiskitRuntimeService.save_account``. The token is never
  printed, logged, returned or put in an exception message by this module; without
  credentials :class:`CredentialsError` says what to set. Hardware sampling cannot be
  seeded: ``rng`` is then ignored.
* a :class:`~qiskit.providers.BackendV2` instance (a fake backend, an
  :class:`~qiskit_aer.AerSimulator`, or an ``IBMBackend`` you already hold).

Deviation from the paper: none in substance; the paper ran on "IBM Q" without saying
which device, transpiler settings or shot count. This module makes those choices
explicit arguments.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import warnings

import numpy as np

from ._validation import check_int as _check_int

__all__ = [
    "DEFAULT_BACKEND",
    "CredentialsError",
    "fake_backend_names",
    "fake_backend_qubits",
    "get_backend",
    "credentials_status",
    "isa_circuit",
    "transpile_summary",
    "parameter_values",
    "counts_to_probabilities",
    "run_probabilities",
    "backend_probabilities",
    "backend_decide",
    "boundary_z",
    "decision_study",
    "study_table",
]

DEFAULT_BACKEND = "fake_melbourne"
"""The default fake backend: the smallest IBM fake device with room for the 8-qubit
circuits (IBM Q 16 Melbourne, a 2018 device; 15 qubits, CX basis, calibration snapshot
of March 2021: median CX error about 3%, readout error about 5%). Its coupling map, a
2 x 7 ladder plus one qubit, contains an 8-qubit cycle, so both QNN variants (the
``reupload`` one has a ring of CX gates) map onto 8 physical qubits without SWAPs, which
keeps the noisy (density-matrix) simulation cheap. On heavy-hex devices such as
``fake_guadalupe`` the ring needs SWAPs and 12 active qubits."""

_MAX_SHOTS = 10**7
_TOKEN_ENV = "QISKIT_IBM_TOKEN"
_INSTANCE_ENV = "QISKIT_IBM_INSTANCE"
_NO_CREDENTIALS_HELP = (
    "set the QISKIT_IBM_TOKEN environment variable to your IBM Quantum API key (and "
    "QISKIT_IBM_INSTANCE to your instance CRN), or save an account once with "
    "qiskit_ibm_runtime.QiskitRuntimeService.save_account(token=..., instance=..., "
    "set_as_default=True). Fake backends such as 'fake_melbourne' run offline without an "
    "account."
)


class CredentialsError(RuntimeError):
    """No IBM Quantum credentials were found, or the service refused them.

    The message says what to set; it never contains the token.
    """


# ---------------------------------------------------------------------------------------
# backends
# ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _fake_classes() -> dict:
    """``{backend_name: class}`` of every fake backend of qiskit_ibm_runtime."""
    from qiskit_ibm_runtime import fake_provider
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    out = {}
    for obj in vars(fake_provider).values():
        if inspect.isclass(obj) and issubclass(obj, FakeBackendV2):
            name = getattr(obj, "backend_name", None)
            if isinstance(name, str) and name:
                out[name] = obj
    return out


@functools.lru_cache(maxsize=1)
def _fake_qubit_table() -> dict:
    """``{backend_name: n_qubits}`` read from the fake backends' configuration files.

    Reading the JSON avoids instantiating every fake backend (some warn on
    construction); a file that cannot be read falls back to instantiation.
    """
    table = {}
    for name, cls in _fake_classes().items():
        try:
            with open(os.path.join(cls.dirname, cls.conf_filename), encoding="utf-8") as handle:
                table[name] = int(json.load(handle)["n_qubits"])
        except Exception:  # pragma: no cover - depends on the installed package's layout
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                table[name] = int(cls().num_qubits)
    return table


def fake_backend_names(min_qubits: int = 1) -> list[str]:
    """Names of the fake IBM backends with at least ``min_qubits`` qubits.

    Sorted by number of qubits, then name, so the first entries are the cheapest to
    simulate.

    Parameters
    ----------
    min_qubits : int, default 1

    Returns
    -------
    list of str
        E.g. ``fake_backend_names(8)[0] == "fake_melbourne"`` (15 qubits).
    """
    min_qubits = _check_int("min_qubits", min_qubits, 0)
    table = _fake_qubit_table()
    return sorted((n for n, q in table.items() if q >= min_qubits), key=lambda n: (table[n], n))


def fake_backend_qubits(name: str) -> int:
    """Number of qubits of the fake backend ``name`` (ValueError if unknown)."""
    table = _fake_qubit_table()
    if name not in table:
        raise ValueError(_unknown_fake_message(name))
    return table[name]


def _examples(min_qubits: int = 1, n: int = 5) -> str:
    table = _fake_qubit_table()
    return ", ".join(f"{name!r} ({table[name]} qubits)" for name in fake_backend_names(min_qubits)[:n])


def _unknown_fake_message(name) -> str:
    return (
        f"backend = {name!r} is not a known fake backend; valid names include "
        f"{_examples(8)} (all: cfmimo.hardware.fake_backend_names())"
    )


@functools.lru_cache(maxsize=16)
def _fake_backend(name: str):
    return _fake_classes()[name]()


def _resolve_fake_name(name: str) -> str | None:
    """The fake backend's ``backend_name`` for a name or class name, else ``None``."""
    classes = _fake_classes()
    if name in classes:
        return name
    for backend_name, cls in classes.items():
        if cls.__name__ == name:
            return backend_name
    return None


def _saved_account_exists(account_file) -> bool:
    """Whether ``account_file`` (default ``~/.qiskit/qiskit-ibm.json``) holds an account.

    Reads the file only if it exists; never creates it (qiskit-ibm-runtime's own reader
    creates an empty one).
    """
    from qiskit_ibm_runtime.accounts.management import _DEFAULT_ACCOUNT_CONFIG_JSON_FILE

    path = os.path.expanduser(account_file or _DEFAULT_ACCOUNT_CONFIG_JSON_FILE)
    if not os.path.isfile(path):
        return False
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and any(isinstance(v, dict) and v.get("token") for v in data.values())


def credentials_status(account_file=None) -> str:
    """Where IBM Quantum credentials would come from, without revealing them.

    Parameters
    ----------
    account_file : path-like, optional
        The saved-accounts file (default ``~/.qiskit/qiskit-ibm.json``).

    Returns
    -------
    str
        ``"environment"`` (``QISKIT_IBM_TOKEN`` is set), ``"saved account"`` or ``"none"``.
    """
    if os.environ.get(_TOKEN_ENV):
        return "environment"
    if _saved_account_exists(account_file):
        return "saved account"
    return "none"


def _secrets(account_file) -> list[str]:
    """Token values that must never appear in a message (held only to redact them)."""
    out = []
    token = os.environ.get(_TOKEN_ENV)
    if token:
        out.append(token)
    from qiskit_ibm_runtime.accounts.management import _DEFAULT_ACCOUNT_CONFIG_JSON_FILE

    path = os.path.expanduser(account_file or _DEFAULT_ACCOUNT_CONFIG_JSON_FILE)
    if os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            out.extend(v["token"] for v in data.values() if isinstance(v, dict) and isinstance(v.get("token"), str))
        except (OSError, ValueError, AttributeError):
            pass
    return [s for s in out if s]


def _redact(text: str, secrets) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _real_backend(name: str, account_file=None, instance=None):
    """Open the real IBM backend ``name`` with the saved or environment credentials."""
    if credentials_status(account_file) == "none":
        raise CredentialsError(f"backend = {name!r} needs IBM Quantum credentials and none were found: {_NO_CREDENTIALS_HELP}")
    from qiskit_ibm_runtime import QiskitRuntimeService

    secrets = _secrets(account_file)
    kwargs = {}
    if account_file is not None:
        kwargs["filename"] = os.fspath(account_file)
    if instance is not None:
        kwargs["instance"] = instance
    try:
        service = QiskitRuntimeService(**kwargs)
    except Exception as exc:
        # The original exception is dropped (``from None``): its message or arguments
        # could echo credentials. The redacted text is kept for diagnosis.
        detail = _redact(f"{type(exc).__name__}: {exc}", secrets)[:500]
        raise CredentialsError(
            f"could not connect to IBM Quantum with the credentials found ({detail}). Check the "
            f"network and {_TOKEN_ENV}/{_INSTANCE_ENV} or the saved account; to use other "
            f"credentials, {_NO_CREDENTIALS_HELP}"
        ) from None
    try:
        return service.backend(name)
    except Exception as exc:
        detail = _redact(f"{type(exc).__name__}: {exc}", secrets)[:500]
        raise ValueError(
            f"backend = {name!r} is not available to this IBM Quantum account ({detail}); "
            f"fake backends that run offline include {_examples(8)}"
        ) from None


def get_backend(backend=DEFAULT_BACKEND, *, account_file=None, instance=None):
    """Resolve ``backend`` to a :class:`~qiskit.providers.BackendV2`.

    Parameters
    ----------
    backend : str or BackendV2
        A fake backend name (``"fake_melbourne"``) or class name (``"FakeMelbourneV2"``),
        a real IBM backend name (``"ibm_torino"``; needs credentials) or a backend
        instance (returned as is).
    account_file : path-like, optional
        Saved-accounts file for real backends (default ``~/.qiskit/qiskit-ibm.json``);
        ``QISKIT_IBM_TOKEN`` takes precedence over it.
    instance : str, optional
        IBM Quantum instance (CRN) for real backends; default ``QISKIT_IBM_INSTANCE`` or
        the saved account's.

    Returns
    -------
    BackendV2

    Raises
    ------
    ValueError
        ``backend`` is not a string or backend, an unknown ``fake_...`` name, or a real
        name the account cannot see.
    CredentialsError
        A real name and no credentials (the message says what to set).
    """
    from qiskit.providers import BackendV2

    if isinstance(backend, BackendV2):
        return backend
    if not isinstance(backend, str) or not backend:
        raise ValueError(f"backend must be a backend name or a BackendV2 instance, got {backend!r}")
    fake = _resolve_fake_name(backend)
    if fake is not None:
        return _fake_backend(fake)
    if backend.lower().startswith("fake"):
        raise ValueError(_unknown_fake_message(backend))
    return _real_backend(backend, account_file, instance)


def _is_simulated(backend) -> bool:
    from qiskit_aer import AerSimulator
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    return isinstance(backend, (FakeBackendV2, AerSimulator))


# ---------------------------------------------------------------------------------------
# transpilation
# ---------------------------------------------------------------------------------------


def _check_fits(circuit, backend) -> None:
    n_backend = backend.num_qubits
    if n_backend is not None and circuit.num_qubits > n_backend:
        name = getattr(backend, "name", type(backend).__name__)
        raise ValueError(
            f"backend {name!r} has {n_backend} qubits but the circuit needs {circuit.num_qubits}; "
            f"fake backends with enough qubits include {_examples(circuit.num_qubits)}"
        )


def isa_circuit(circuit, backend=DEFAULT_BACKEND, *, optimization_level: int = 2, seed_transpiler: int = 0, **backend_kwargs):
    """Transpile ``circuit`` to an ISA circuit of ``backend``.

    Parameters
    ----------
    circuit : qiskit.QuantumCircuit
        With measurements and parameters (parameters stay unbound).
    backend : str or BackendV2
        See :func:`get_backend`.
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
    from qiskit import QuantumCircuit
    from qiskit.transpiler import generate_preset_pass_manager

    if not isinstance(circuit, QuantumCircuit):
        raise ValueError(f"circuit must be a qiskit QuantumCircuit, got {type(circuit).__name__}")
    optimization_level = _check_int("optimization_level", optimization_level, 0, 3)
    seed_transpiler = _check_int("seed_transpiler", seed_transpiler, 0)
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
# parameters and counts
# ---------------------------------------------------------------------------------------


def parameter_values(circuit, x, theta) -> tuple[np.ndarray, tuple]:
    """Parameter array for ``circuit`` from the inputs ``x`` and weights ``theta``.

    Parameters
    ----------
    circuit : qiskit.QuantumCircuit
        Its parameters are elements of ParameterVectors named ``"x"`` and ``"theta"``
        (the :mod:`cfmimo.qnn` convention); transpilation may have dropped some.
    x : array_like, shape ``(..., n_x)``
    theta : array_like, shape ``(n_theta,)`` or ``(..., n_theta)`` broadcasting with ``x``

    Returns
    -------
    values : ndarray, shape ``(n, len(circuit.parameters))``
        ``n`` is the product of the broadcast batch shape; columns follow
        ``circuit.parameters``.
    batch_shape : tuple
    """
    x = _as_real_array("x", x, min_ndim=1)
    theta = _as_real_array("theta", theta, min_ndim=1)
    try:
        batch = np.broadcast_shapes(x.shape[:-1], theta.shape[:-1])
    except ValueError:
        raise ValueError(f"batch shapes of x {x.shape[:-1]} and theta {theta.shape[:-1]} do not broadcast") from None
    sources = {"x": x, "theta": theta}
    columns = []
    for param in circuit.parameters:
        vector = getattr(param, "vector", None)
        source = sources.get(getattr(vector, "name", None))
        if source is None:
            raise ValueError(f"circuit parameter {param.name!r} is not an element of the 'x' or 'theta' ParameterVector")
        if len(vector) != source.shape[-1]:
            name = vector.name
            raise ValueError(f"{name} must have {len(vector)} entries on its last axis, got shape {source.shape}")
        columns.append(np.broadcast_to(source[..., param.index], batch))
    n = math.prod(batch)
    if n == 0:
        raise ValueError(f"x and theta give an empty batch (shape {batch})")
    values = np.stack(columns, axis=-1).reshape(n, len(columns)) if columns else np.zeros((n, 0))
    return values, batch


def _as_real_array(name: str, value, *, min_ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real array, got {type(value).__name__}") from None
    if arr.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf entries")
    return arr


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
        :mod:`cfmimo.engine`'s convention). Each row sums to 1.
    """
    data = getattr(data, "data", data)
    n_clbits = circuit.num_clbits
    if n_clbits < 1 or n_clbits > 24:
        raise ValueError(f"circuit has {n_clbits} classical bits; allowed: [1, 24]")
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
        raw = bits.array.astype(np.int64)
        value = np.zeros(raw.shape[:-1], dtype=np.int64)
        for j in range(raw.shape[-1]):
            value = (value << 8) | raw[..., j]
        positions = np.array([circuit.find_bit(bit).index for bit in creg], dtype=np.int64)
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


# ---------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------


def _simulator_seed(rng) -> int:
    if isinstance(rng, bool):
        raise ValueError(f"rng must be an int seed, a numpy Generator or None, got {rng!r}")
    try:
        gen = np.random.default_rng(rng)
    except (TypeError, ValueError):
        raise ValueError(f"rng must be an int seed, a numpy Generator or None, got {rng!r}") from None
    return int(gen.integers(0, 2**31 - 1))


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
        One row per parameter set; columns follow ``isa.parameters``.
    shots : int >= 1
        Shots per parameter set.
    rng : int, numpy.random.Generator or None
        Seeds the simulator (one draw from it); the same seed gives identical counts.
        Ignored on real hardware.
    backend : str or BackendV2
        See :func:`get_backend`.
    noise : bool, default True
        Simulated backends only: ``False`` runs the same ISA circuit on a noiseless
        :class:`~qiskit_aer.AerSimulator` (shot noise only).

    Returns
    -------
    ndarray, shape ``(n, 2**isa.num_clbits)``
        See :func:`counts_to_probabilities`.
    """
    from qiskit_aer import AerSimulator
    from qiskit_ibm_runtime.executor_sampler import Sampler

    shots = _check_int("shots", shots, 1, _MAX_SHOTS)
    if not isinstance(noise, (bool, np.bool_)):
        raise ValueError(f"noise must be True or False, got {noise!r}")
    backend = get_backend(backend, **backend_kwargs)
    _check_fits(isa, backend)
    values = _as_real_array("values", values, min_ndim=2)
    if values.ndim != 2 or values.shape[1] != isa.num_parameters or values.shape[0] < 1:
        raise ValueError(f"values must have shape (n >= 1, {isa.num_parameters}), got {values.shape}")
    simulated = _is_simulated(backend)
    seed = _simulator_seed(rng) if simulated else None
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
    from . import qnn

    return isa_circuit(
        qnn.build_circuit(config, variant),
        backend_name,
        optimization_level=optimization_level,
        seed_transpiler=seed_transpiler,
    )


def _isa_for(config, variant, backend, optimization_level, seed_transpiler, backend_kwargs):
    from . import qnn

    if isinstance(backend, str) and _resolve_fake_name(backend) is not None and not backend_kwargs:
        qnn.n_qubits(config, variant)  # validates config and variant before caching
        return _cached_isa(config, variant, _resolve_fake_name(backend), optimization_level, seed_transpiler)
    return isa_circuit(
        qnn.build_circuit(config, variant),
        backend,
        optimization_level=optimization_level,
        seed_transpiler=seed_transpiler,
        **backend_kwargs,
    )


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

    The hardware counterpart of ``cfmimo.engine.exact_probabilities`` (exact) and
    ``cfmimo.engine.sampler_probabilities`` (Aer, logical circuit): the circuit of
    :func:`cfmimo.qnn.build_circuit` is transpiled for ``backend`` (cached per fake
    backend) and all ``x`` rows run in one job, one PUB with a parameter array.

    Parameters
    ----------
    config : cfmimo.config.Preset
    variant : {"paper", "reupload"}
    x : array_like, shape ``(..., n_ap * n_user)``
        Input angles (:func:`cfmimo.qnn.encode_angles`).
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
        ``account_file``, ``instance`` for real backends (see :func:`get_backend`).

    Returns
    -------
    ndarray, shape ``(..., 2**n_clbits)``
        Index = integer value of the bitstring, classical bit 0 least significant; rows
        sum to 1 and are multiples of ``1 / shots``.
    """
    shots = _check_int("shots", shots, 1, _MAX_SHOTS)
    _check_widths(config, variant, x, theta)
    isa = _isa_for(config, variant, backend, optimization_level, seed_transpiler, backend_kwargs)
    values, batch = parameter_values(isa, x, theta)
    probs = run_probabilities(isa, values, shots, rng, backend=backend, noise=noise, **backend_kwargs)
    return probs.reshape(batch + (probs.shape[-1],))


def _check_widths(config, variant, x, theta) -> None:
    from . import qnn

    if np.ndim(x) < 1 or np.ndim(theta) < 1:
        raise ValueError(f"x and theta must be arrays, got shapes {np.shape(x)} and {np.shape(theta)}")
    n_x, n_theta = qnn.n_inputs(config, variant), qnn.n_weights(config, variant)
    if np.shape(x)[-1] != n_x:
        label = qnn.get_variant(variant).input_label
        raise ValueError(f"x must have shape (..., {label} = {n_x}), got shape {np.shape(x)}")
    if np.shape(theta)[-1] != n_theta:
        raise ValueError(f"theta must have shape (..., n_weights = {n_theta}), got shape {np.shape(theta)}")


def backend_decide(config, variant: str, weights, H_hat, shots: int, rng=None, **kwargs) -> np.ndarray:
    """QNN assignments for the channel estimates ``H_hat``, sampled on a backend.

    Encodes ``H_hat`` (:func:`cfmimo.qnn.encode_angles`), estimates the bitstring
    probabilities with :func:`backend_probabilities` and decodes them with
    :func:`cfmimo.qnn.decide_from_probabilities` (Algorithm 1, lines 9-10).

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
    """
    from . import qnn

    x = qnn.get_variant(variant).inputs(config, H_hat)
    probs = backend_probabilities(config, variant, x, weights, shots, rng, **kwargs)
    return qnn.decide_from_probabilities(config, variant, probs)


# ---------------------------------------------------------------------------------------
# how far a decision is from flipping
# ---------------------------------------------------------------------------------------


def boundary_z(config, variant: str, probs, shots: int) -> np.ndarray:
    """Distance of each decision from its decoding boundary, in shot-noise standard errors.

    With ``shots`` shots every probability is estimated with a binomial standard error;
    a decision whose exact value sits within a few standard errors of a decoding
    boundary can flip under sampling alone. This returns that distance.

    ``paper`` (decoder :math:`\\lfloor o_m N_{user} \\rfloor`): for each AP, the distance
    of :math:`o_m` to the nearest boundary :math:`j / N_{user}` (``j = 1 .. N_user - 1``)
    over :math:`\\sqrt{o_m (1 - o_m) / \\mathrm{shots}}`; the minimum over APs.

    ``reupload`` (most probable serving assignment): the gap between the best and the
    second-best serving assignment's probabilities :math:`p_1 - p_2` over the standard
    error of their estimated difference,
    :math:`\\sqrt{(p_1 + p_2 - (p_1 - p_2)^2) / \\mathrm{shots}}`.

    Parameters
    ----------
    config : Preset
    variant : {"paper", "reupload"}
    probs : array_like, shape ``(..., 2**n_clbits)``
        The exact probabilities (``cfmimo.engine.exact_probabilities``).
    shots : int >= 1

    Returns
    -------
    ndarray, shape ``(...)``
        ``inf`` where sampling cannot move the decision (zero variance away from a
        boundary); ``0`` on a boundary.
    """
    from . import qnn

    shots = _check_int("shots", shots, 1, _MAX_SHOTS)
    probs = qnn.checked_probabilities(config, variant, probs)
    with np.errstate(divide="ignore", invalid="ignore"):
        return qnn.get_variant(variant).boundary_z(config, probs, shots)


# ---------------------------------------------------------------------------------------
# shots and noise vs decision quality
# ---------------------------------------------------------------------------------------

_PATHS = ("exact", "noiseless", "noisy")


def decision_study(
    config,
    variant: str,
    weights,
    H,
    H_hat,
    rho,
    mu,
    runs,
    *,
    optimal=None,
    backend=DEFAULT_BACKEND,
    rng=None,
    z_crit: float = 4.0,
    level: float = 0.95,
) -> list[dict]:
    """Decisions of the trained QNN by several execution paths, scored and compared.

    Each run decides every channel of ``H_hat`` and is scored on ``H``
    (:func:`cfmimo.evaluate.score_policy`: physical min-rate, unserved user = 0) and
    against the exact engine's decisions on the same channels.

    Parameters
    ----------
    config : Preset
    variant : {"paper", "reupload"}
    weights : array_like, shape ``(n_weights,)``
    H, H_hat : ndarray, complex, shape ``(n, n_ap, n_user, n_tx)``
    rho, mu : float
        Linear SNR and interference factor.
    runs : sequence of ``(path, shots)``
        ``path`` is ``"exact"`` (:func:`cfmimo.engine.exact_probabilities`; ``shots``
        ignored), ``"noiseless"`` (the ISA circuit of ``backend`` on a noiseless
        simulator) or ``"noisy"`` (``backend`` with its noise model).
    optimal : ndarray of int, shape ``(n, n_ap)``, optional
        Exhaustive max-min assignments (:func:`cfmimo.baselines.exhaustive`); computed
        if omitted.
    backend : str or BackendV2
    rng : int, numpy.random.Generator or None
        Seeds the simulator runs (one stream for all runs, in order).
    z_crit : float, default 4.0
        A channel is *near a boundary* at ``shots`` if :func:`boundary_z` of its exact
        probabilities is below ``z_crit``.
    level : float
        Confidence level of the intervals.

    Returns
    -------
    list of dict
        One row per run: ``variant``, ``path``, ``shots`` (``None`` for exact),
        ``backend``, ``n``, ``min_rate``, ``min_rate_ci`` (half-width), ``share_optimal``
        with its Wilson interval ``share_optimal_low``/``_high``, ``disagree`` (channels
        whose decision differs from the exact engine's), ``near_boundary`` (channels within
        ``z_crit`` standard errors of a decoding boundary), ``disagree_near`` (both),
        ``delta_min_rate`` and ``delta_min_rate_ci`` (paired difference to the exact
        decisions' min-rate) and ``seconds`` (wall time of producing the decisions,
        transpilation and simulation included).
    """
    import time

    from . import engine, qnn
    from .baselines import exhaustive
    from .evaluate import score_policy
    from .rates import gain_matrix, rates_from_gains
    from .stats import mean_ci, proportion_ci

    gen = np.random.default_rng(rng)
    if optimal is None:
        optimal = exhaustive(H_hat, rho, mu, config.system.penalty)
    weights = np.asarray(weights, dtype=np.float64)
    x = qnn.get_variant(variant).inputs(config, H_hat)
    p_exact = engine.exact_probabilities(config, variant, x, weights)
    a_exact = qnn.decide_from_probabilities(config, variant, p_exact)
    gains = gain_matrix(H, H_hat)
    exact_min = rates_from_gains(gains, a_exact, rho, mu, penalty=0.0).min(axis=-1)
    n = x.shape[0]
    rows = []
    for path, shots in runs:
        if path not in _PATHS:
            raise ValueError(f"run path = {path!r} is unknown; allowed: {list(_PATHS)}")
        start = time.perf_counter()
        if path == "exact":
            a = qnn.decide_from_probabilities(config, variant, engine.exact_probabilities(config, variant, x, weights))
            shots = None
        else:
            probs = backend_probabilities(
                config, variant, x, weights, shots, gen, backend=backend, noise=(path == "noisy")
            )
            a = qnn.decide_from_probabilities(config, variant, probs)
        seconds = time.perf_counter() - start
        score = score_policy(path, a, H, H_hat, rho, mu, optimal=optimal)
        wins = round(score.share_optimal * n)
        _, low, high = proportion_ci(wins, n, level)
        differ = np.any(a != a_exact, axis=-1)
        if shots is None:
            near = np.zeros(n, dtype=bool)
        else:
            near = boundary_z(config, variant, p_exact, shots) < z_crit
        delta = rates_from_gains(gains, a, rho, mu, penalty=0.0).min(axis=-1) - exact_min
        d_mean, d_ci = mean_ci(delta, level=level)
        mean, ci = mean_ci(rates_from_gains(gains, a, rho, mu, penalty=0.0).min(axis=-1), level=level)
        rows.append(
            {
                "variant": variant,
                "path": path,
                "shots": shots,
                "backend": None if path == "exact" else getattr(get_backend(backend), "name", str(backend)),
                "n": int(n),
                "min_rate": float(mean),
                "min_rate_ci": float(ci),
                "share_optimal": float(score.share_optimal),
                "share_optimal_low": float(low),
                "share_optimal_high": float(high),
                "disagree": int(differ.sum()),
                "near_boundary": int(near.sum()),
                "disagree_near": int((differ & near).sum()),
                "delta_min_rate": float(d_mean),
                "delta_min_rate_ci": float(d_ci),
                "seconds": float(seconds),
            }
        )
    return rows


def study_table(rows, *, timing: bool = False) -> str:
    """A Markdown table of :func:`decision_study` rows.

    With ``timing=False`` (default) every entry is deterministic given the seeds; with
    ``timing=True`` only the wall time per :math:`10^3` decisions is shown.
    """
    if timing:
        lines = ["| variant | path | shots | backend | channels | wall time per 10^3 decisions (s) |", "|---|---|---|---|---|---|"]
        for r in rows:
            per = 1000.0 * r["seconds"] / r["n"]
            lines.append(f"| {r['variant']} | {r['path']} | {_shots_text(r['shots'])} | {r['backend'] or '-'} | {r['n']} | {per:.3g} |")
        return "\n".join(lines)
    lines = [
        "| variant | path | shots | channels | min rate (bit/s/Hz) | change vs exact (paired) | optimal decisions | differ from exact | of which near a boundary | near a boundary |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['path']} | {_shots_text(r['shots'])} | {r['n']} "
            f"| {r['min_rate']:.3f} ± {r['min_rate_ci']:.3f} | {r['delta_min_rate']:+.3f} ± {r['delta_min_rate_ci']:.3f} "
            f"| {100 * r['share_optimal']:.1f}% [{100 * r['share_optimal_low']:.1f}, {100 * r['share_optimal_high']:.1f}] "
            f"| {r['disagree']} | {r['disagree_near']} | {r['near_boundary']} |"
        )
    return "\n".join(lines)


def _shots_text(shots) -> str:
    if shots is None:
        return "exact"
    exponent = math.log10(shots)
    return f"10^{int(round(exponent))}" if abs(exponent - round(exponent)) < 1e-12 and shots >= 100 else str(shots)
