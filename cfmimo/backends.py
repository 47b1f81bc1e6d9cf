"""IBM backends by name: offline fake devices, real devices, and the credentials they need.

:func:`get_backend` resolves the ``backend=`` argument of :mod:`cfmimo.execution` and
:mod:`cfmimo.noise_study`:

* a **fake backend name** such as ``"fake_melbourne"`` (15 qubits; see
  :func:`fake_backend_names`) or its class name (``"FakeMelbourneV2"``): a snapshot of a
  device's coupling map, native gates and calibrated noise from qiskit-ibm-runtime. It runs
  offline, without an account.
* a **real backend name** such as ``"ibm_torino"``: the device is opened through
  :class:`qiskit_ibm_runtime.QiskitRuntimeService`. Credentials come from the
  ``QISKIT_IBM_TOKEN`` environment variable (with ``QISKIT_IBM_INSTANCE``) or from an
  account saved once with ``QiskitRuntimeService.save_account``
  (:func:`credentials_status` says which). The token is never printed, logged, returned
  or put in an exception message by this module: messages that could echo it are redacted
  and the original exception is dropped. Without credentials :class:`CredentialsError`
  says what to set.
* a :class:`~qiskit.providers.BackendV2` instance (a fake backend, an
  :class:`~qiskit_aer.AerSimulator`, or an ``IBMBackend`` you already hold), returned as is.

This module holds everything that knows about accounts and device names; nothing here
transpiles or runs a circuit (that is :mod:`cfmimo.execution`).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import warnings

import qiskit_ibm_runtime
from qiskit.providers import BackendV2
from qiskit_aer import AerSimulator
from qiskit_ibm_runtime import fake_provider
from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

from ._validation import check_int

__all__ = [
    "DEFAULT_BACKEND",
    "DEFAULT_ACCOUNT_FILE",
    "TOKEN_ENV",
    "INSTANCE_ENV",
    "CredentialsError",
    "fake_backend_names",
    "fake_backend_qubits",
    "fake_backend_examples",
    "resolve_fake_name",
    "get_backend",
    "is_simulated",
    "credentials_status",
    "redact",
]

DEFAULT_BACKEND = "fake_melbourne"
"""The default fake backend: the smallest IBM fake device with room for the 8-qubit
circuits (IBM Q 16 Melbourne, a 2018 device; 15 qubits, CX basis, calibration snapshot
of March 2021: median CX error about 3%, readout error about 5%). Its coupling map, a
2 x 7 ladder plus one qubit, contains an 8-qubit cycle, so both QNN variants (the
``reupload`` one has a ring of CX gates) map onto 8 physical qubits without SWAPs, which
keeps the noisy (density-matrix) simulation cheap. On heavy-hex devices such as
``fake_guadalupe`` the ring needs SWAPs and 12 active qubits."""

DEFAULT_ACCOUNT_FILE = os.path.join("~", ".qiskit", "qiskit-ibm.json")
"""Where ``QiskitRuntimeService.save_account`` writes accounts (qiskit-ibm-runtime's
default; ``tests/test_backends.py`` checks that the two agree)."""

TOKEN_ENV = "QISKIT_IBM_TOKEN"
"""Environment variable holding the IBM Quantum API key."""

INSTANCE_ENV = "QISKIT_IBM_INSTANCE"
"""Environment variable holding the IBM Quantum instance (CRN)."""

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
# fake backends
# ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _fake_classes() -> dict:
    """``{backend_name: class}`` of every fake backend of qiskit_ibm_runtime."""
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
    min_qubits = check_int("min_qubits", min_qubits, 0)
    table = _fake_qubit_table()
    return sorted((n for n, q in table.items() if q >= min_qubits), key=lambda n: (table[n], n))


def fake_backend_qubits(name: str) -> int:
    """Number of qubits of the fake backend ``name`` (ValueError if unknown)."""
    table = _fake_qubit_table()
    if name not in table:
        raise ValueError(_unknown_fake_message(name))
    return table[name]


def fake_backend_examples(min_qubits: int = 1, n: int = 5) -> str:
    """The ``n`` smallest fake backends with at least ``min_qubits`` qubits, as text for
    error messages (``"'fake_melbourne' (15 qubits), ..."``)."""
    table = _fake_qubit_table()
    return ", ".join(f"{name!r} ({table[name]} qubits)" for name in fake_backend_names(min_qubits)[:n])


def _unknown_fake_message(name) -> str:
    return (
        f"backend = {name!r} is not a known fake backend; valid names include "
        f"{fake_backend_examples(8)} (all: cfmimo.backends.fake_backend_names())"
    )


@functools.lru_cache(maxsize=16)
def _fake_backend(name: str):
    return _fake_classes()[name]()


def resolve_fake_name(name: str) -> str | None:
    """The fake backend's ``backend_name`` for a backend name or class name, else ``None``."""
    classes = _fake_classes()
    if name in classes:
        return name
    for backend_name, cls in classes.items():
        if cls.__name__ == name:
            return backend_name
    return None


def is_simulated(backend) -> bool:
    """Whether ``backend`` runs on a local simulator (a fake backend or an AerSimulator),
    so that it can be seeded."""
    return isinstance(backend, (FakeBackendV2, AerSimulator))


# ---------------------------------------------------------------------------------------
# credentials
# ---------------------------------------------------------------------------------------


def _saved_tokens(account_file) -> list[str]:
    """Tokens of the accounts in ``account_file`` (default :data:`DEFAULT_ACCOUNT_FILE`).

    Reads the file only if it exists; never creates it (qiskit-ibm-runtime's own reader
    creates an empty one). An unreadable file holds no tokens.
    """
    path = os.path.expanduser(account_file or DEFAULT_ACCOUNT_FILE)
    if not os.path.isfile(path):
        return []
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict):
        return []
    return [v["token"] for v in data.values() if isinstance(v, dict) and isinstance(v.get("token"), str) and v["token"]]


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
    if os.environ.get(TOKEN_ENV):
        return "environment"
    if _saved_tokens(account_file):
        return "saved account"
    return "none"


def _secrets(account_file) -> list[str]:
    """Token values that must never appear in a message (held only to redact them)."""
    token = os.environ.get(TOKEN_ENV)
    return ([token] if token else []) + _saved_tokens(account_file)


def redact(text: str, secrets) -> str:
    """``text`` with every occurrence of each string of ``secrets`` replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _real_backend(name: str, account_file=None, instance=None):
    """Open the real IBM backend ``name`` with the saved or environment credentials."""
    if credentials_status(account_file) == "none":
        raise CredentialsError(f"backend = {name!r} needs IBM Quantum credentials and none were found: {_NO_CREDENTIALS_HELP}")
    secrets = _secrets(account_file)
    kwargs = {}
    if account_file is not None:
        kwargs["filename"] = os.fspath(account_file)
    if instance is not None:
        kwargs["instance"] = instance
    try:
        # looked up at call time, so that tests can stand in a fake service
        service = qiskit_ibm_runtime.QiskitRuntimeService(**kwargs)
    except Exception as exc:
        # The original exception is dropped (``from None``): its message or arguments
        # could echo credentials. The redacted text is kept for diagnosis.
        detail = redact(f"{type(exc).__name__}: {exc}", secrets)[:500]
        raise CredentialsError(
            f"could not connect to IBM Quantum with the credentials found ({detail}). Check the "
            f"network and {TOKEN_ENV}/{INSTANCE_ENV} or the saved account; to use other "
            f"credentials, {_NO_CREDENTIALS_HELP}"
        ) from None
    try:
        return service.backend(name)
    except Exception as exc:
        detail = redact(f"{type(exc).__name__}: {exc}", secrets)[:500]
        raise ValueError(
            f"backend = {name!r} is not available to this IBM Quantum account ({detail}); "
            f"fake backends that run offline include {fake_backend_examples(8)}"
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
        Fake backends are cached: the same name gives the same object.

    Raises
    ------
    ValueError
        ``backend`` is not a string or backend, an unknown ``fake_...`` name, or a real
        name the account cannot see.
    CredentialsError
        A real name and no credentials (the message says what to set).
    """
    if isinstance(backend, BackendV2):
        return backend
    if not isinstance(backend, str) or not backend:
        raise ValueError(f"backend must be a backend name or a BackendV2 instance, got {backend!r}")
    fake = resolve_fake_name(backend)
    if fake is not None:
        return _fake_backend(fake)
    if backend.lower().startswith("fake"):
        raise ValueError(_unknown_fake_message(backend))
    return _real_backend(backend, account_file, instance)
