"""Tests of cfmimo.backends: fake IBM backends by name, real ones by credentials.

Everything runs offline: real backends are reached only through a stand-in service, and
no test reads or writes ~/.qiskit (every account file lives in a temporary folder).
"""

import json
import logging
import os
import secrets

import pytest
import qiskit_ibm_runtime
from qiskit_aer import AerSimulator
from qiskit_ibm_runtime.accounts.management import _DEFAULT_ACCOUNT_CONFIG_JSON_FILE

from cfmimo import backends

# ---------------------------------------------------------------------------------------
# fake backends and their errors
# ---------------------------------------------------------------------------------------


def test_fake_backend_names_sorted_and_filtered():
    names = backends.fake_backend_names(8)
    qubits = [backends.fake_backend_qubits(n) for n in names]
    assert qubits == sorted(qubits) and min(qubits) >= 8
    assert "fake_manila" not in names and "fake_manila" in backends.fake_backend_names(5)
    assert backends.DEFAULT_BACKEND in names
    # the table read from the JSON files agrees with the instantiated backends
    for name in ("fake_melbourne", "fake_guadalupe", "fake_manila"):
        assert backends.get_backend(name).num_qubits == backends.fake_backend_qubits(name)


def test_get_backend_accepts_names_class_names_and_instances():
    backend = backends.get_backend("fake_melbourne")
    assert backend.name == "fake_melbourne"
    assert backends.get_backend("FakeMelbourneV2") is backend
    assert backends.get_backend(backend) is backend


@pytest.mark.parametrize("name", ["fake_nowhere", "FakeNowhereV2"])
def test_unknown_fake_backend_lists_valid_names(name):
    with pytest.raises(ValueError, match="not a known fake backend") as info:
        backends.get_backend(name)
    message = str(info.value)
    assert name in message and "fake_melbourne" in message and "fake_guadalupe" in message


@pytest.mark.parametrize("bad", [None, 3, ""])
def test_backend_must_be_name_or_backend(bad):
    with pytest.raises(ValueError, match="backend must be"):
        backends.get_backend(bad)


def test_is_simulated():
    assert backends.is_simulated(backends.get_backend("fake_melbourne"))
    assert backends.is_simulated(AerSimulator())
    assert not backends.is_simulated(object())


# ---------------------------------------------------------------------------------------
# credentials: never touch ~/.qiskit, never reveal the token
# ---------------------------------------------------------------------------------------


def test_default_account_file_is_qiskit_ibm_runtimes():
    assert os.path.expanduser(backends.DEFAULT_ACCOUNT_FILE) == os.path.expanduser(_DEFAULT_ACCOUNT_CONFIG_JSON_FILE)


def test_redact_replaces_every_secret():
    assert backends.redact("a tok1 b tok2 tok1", ["tok1", "tok2", ""]) == "a *** b *** ***"


def test_missing_account_says_what_to_set(no_credentials):
    with pytest.raises(backends.CredentialsError) as info:
        backends.get_backend("ibm_torino", account_file=no_credentials)
    message = str(info.value)
    assert "'ibm_torino'" in message and "QISKIT_IBM_TOKEN" in message and "save_account" in message
    assert isinstance(info.value, RuntimeError)
    assert not no_credentials.exists()  # the check did not create an account file
    # an existing but empty file is no account either
    no_credentials.write_text("{}")
    with pytest.raises(backends.CredentialsError, match="QISKIT_IBM_TOKEN"):
        backends.get_backend("ibm_torino", account_file=no_credentials)
    assert backends.credentials_status(no_credentials) == "none"


def test_credentials_status(no_credentials, monkeypatch):
    assert backends.credentials_status(no_credentials) == "none"
    marker = "tok" + secrets.token_hex(16)
    no_credentials.write_text(json.dumps({"default-ibm-quantum-platform": {"channel": "ibm_quantum_platform", "token": marker}}))
    status = backends.credentials_status(no_credentials)
    assert status == "saved account" and marker not in status
    monkeypatch.setenv("QISKIT_IBM_TOKEN", marker)
    assert backends.credentials_status(no_credentials) == "environment"


class _LeakyService:
    """Stands in for QiskitRuntimeService: its errors echo the token it was given."""

    fail_on = "init"

    def __init__(self, **kwargs):
        self.token = os.environ["QISKIT_IBM_TOKEN"]
        if self.fail_on == "init":
            raise RuntimeError(f"401 Unauthorized for token {self.token}")

    def backend(self, name):
        raise KeyError(f"no backend {name} for token={self.token}")


@pytest.mark.parametrize("fail_on", ["init", "backend"])
def test_token_never_appears_in_errors_or_logs(no_credentials, monkeypatch, caplog, fail_on):
    marker = "planted" + secrets.token_hex(20)
    monkeypatch.setenv("QISKIT_IBM_TOKEN", marker)
    monkeypatch.setattr(_LeakyService, "fail_on", fail_on)
    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", _LeakyService)
    expected = backends.CredentialsError if fail_on == "init" else ValueError
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(expected) as info:
            backends.get_backend("ibm_torino", account_file=no_credentials)
    text = str(info.value) + repr(info.value.args)
    assert marker not in text and "***" in text
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert marker not in caplog.text
    if fail_on == "backend":
        assert "fake_melbourne" in text  # points to the offline alternative
