"""Shared fixtures."""

import fcntl
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cfmimo.config import PAPER, SMOKE, with_overrides

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def built_book_html(tmp_path_factory, worker_id) -> Path:
    """The book built from the committed notebooks into a temporary folder (once per run).

    The same command as ``make book`` uses, minus re-executing the notebooks; returns the
    ``html`` folder. Under pytest-xdist (``make test`` runs two workers) the first worker
    that needs it builds it in the run's shared temporary folder while holding a lock; the
    others wait and reuse it.
    """
    if worker_id == "master":
        return _build_book(tmp_path_factory.mktemp("book"))
    shared = tmp_path_factory.getbasetemp().parent  # one folder per run, shared by the workers
    with open(shared / "book.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "book" / "built"
        if not done.exists():
            _build_book(shared / "book")
            done.touch()
    return shared / "book" / "_build" / "html"


def _build_book(out: Path) -> Path:
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run(
        [str(jb), "build", str(ROOT), "-W", "-n", "--keep-going", "--path-output", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out / "_build" / "html"


@pytest.fixture(scope="module")
def paper_cfg():
    """The paper preset (4 APs x 3 users, N_layer = 2)."""
    return PAPER


@pytest.fixture(scope="module")
def cfg2():
    """2 APs x 2 users: small enough for tensor-grid quadrature."""
    return with_overrides(SMOKE, n_ap=2, n_user=2)


@pytest.fixture(scope="module")
def inputs():
    """Five input-angle and weight rows for :func:`cfg2` (4 angles, up to 4 weights)."""
    rng = np.random.default_rng(3)
    return rng.uniform(0, np.pi, (5, 4)), rng.uniform(0, 2 * np.pi, (5, 4))


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """No token in the environment and an account file that does not exist."""
    for var in ("QISKIT_IBM_TOKEN", "QISKIT_IBM_INSTANCE", "QISKIT_IBM_CHANNEL", "QISKIT_IBM_URL"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "qiskit-ibm.json"

