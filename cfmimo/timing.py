"""Wall-clock measurements that the book quotes as ratios (never as absolute seconds in tests).

Both sides of a ratio are measured in the same process, one after the other, each as
the best of several repeats, so that the ratio is robust to a busy machine.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from qiskit_aer.primitives import EstimatorV2, SamplerV2

from . import qnn
from .baselines import exhaustive, exhaustive_loop
from .channel import sample_channels
from .circuit_io import parameter_values
from .config import Preset, SystemConfig, db_to_linear
from .engine import exact_probabilities, program_for
from .execution import sampler_circuit, sampler_probabilities

__all__ = ["best_time", "exhaustive_speedup", "gradient_timings", "load_benchmark"]


def best_time(fn, repeat: int = 3) -> float:
    """Smallest wall time of ``repeat`` calls of ``fn()``, in seconds."""
    best = np.inf
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return float(best)


def exhaustive_speedup(system: SystemConfig, n_trials: int = 1000, n_loop: int = 20, snr_db: float = 10.0, rng=0) -> dict:
    """Time :func:`cfmimo.baselines.exhaustive` against the plain-loop reference.

    The vectorised search runs on ``n_trials`` channel draws; the loop, which is slow,
    on the first ``n_loop`` of them, and its time is scaled to ``n_trials`` (it is
    linear in the number of trials). Both must return the same decisions.

    Returns
    -------
    dict
        ``vectorised_s`` and ``loop_s`` (seconds for ``n_trials`` decisions),
        ``speedup`` (their ratio), ``n_trials``, ``n_candidates``.
    """
    _, H_hat = sample_channels(system, n_trials, rng)
    rho, mu = db_to_linear(snr_db), system.interference_factor
    fast = exhaustive(H_hat, rho, mu, system.penalty)
    slow = exhaustive_loop(H_hat[:n_loop], rho, mu, system.penalty)
    if not np.array_equal(fast[:n_loop], slow):
        raise RuntimeError("vectorised and loop exhaustive search disagree")
    vectorised = best_time(lambda: exhaustive(H_hat, rho, mu, system.penalty))
    loop = best_time(lambda: exhaustive_loop(H_hat[:n_loop], rho, mu, system.penalty), repeat=1) * n_trials / n_loop
    return {
        "vectorised_s": vectorised,
        "loop_s": loop,
        "speedup": loop / vectorised,
        "n_trials": n_trials,
        "n_candidates": system.n_assignments,
    }


def gradient_timings(config: Preset, variant="paper", *, shots: int = 1024, repeat: int = 3, rng=0) -> dict:
    """Wall time of the ``2P + 1`` circuit evaluations of one parameter-shift gradient.

    Measured in the same process, each the best of ``repeat`` runs:

    * ``exact_s``: :func:`cfmimo.engine.exact_probabilities`, one call for all ``2P + 1`` rows;
    * ``sampler_loop_s``: Aer ``SamplerV2``, one bound circuit per ``run`` call (the
      one-circuit-per-call loop of a naive implementation), ``shots`` shots each;
    * ``sampler_array_s``: Aer ``SamplerV2``, one PUB with a ``(2P + 1)``-row parameter
      array (:func:`cfmimo.execution.sampler_probabilities`);
    * ``estimator_array_s``: Aer ``EstimatorV2`` (exact expectation values,
      ``default_precision = 0``), one PUB with the parameter array and one Z observable per
      measured qubit.

    Returns
    -------
    dict
        The times, ``n_circuits = 2P + 1`` and the ratios ``*_ratio`` = time / ``exact_s``.

    References
    ----------
    Narottama & Duong (2022), Eq. (17).
    """
    program = program_for(config, variant)
    rng = np.random.default_rng(rng)
    n_w = program.n_weights
    x = rng.uniform(0, np.pi, program.n_inputs)
    theta = rng.uniform(0, 2 * np.pi, n_w)
    delta = np.concatenate([np.zeros((1, n_w)), np.pi / 2 * np.eye(n_w), -np.pi / 2 * np.eye(n_w)])
    thetas = theta + delta
    n_rows = thetas.shape[0]
    tcirc = sampler_circuit(config, variant)
    values, _ = parameter_values(tcirc, x, thetas)
    sampler = SamplerV2(seed=1)

    def exact():
        exact_probabilities(config, variant, x, thetas)

    def sampler_loop():
        for row in values:
            sampler.run([(tcirc, row, shots)]).result()

    def sampler_array():
        sampler_probabilities(config, variant, x, thetas, shots, rng=1)

    bare = qnn.build_circuit(config, variant).remove_final_measurements(inplace=False)
    n_bare = bare.num_qubits
    # one Z per measured qubit, as Pauli labels (qubit 0 rightmost), shape (n_clbits, 1)
    obs = [["".join("Z" if i == q else "I" for i in range(n_bare - 1, -1, -1))] for q in program.measured]
    est_values, _ = parameter_values(bare, x, thetas)
    estimator = EstimatorV2(options={"default_precision": 0.0})

    def estimator_array():
        estimator.run([(bare, obs, est_values[None, :, :])]).result()

    for fn in (exact, sampler_array, estimator_array):
        fn()  # warm up (compilation, caches)
    out = {
        "variant": variant,
        "n_circuits": n_rows,
        "n_qubits": program.n_qubits,
        "shots": shots,
        "exact_s": best_time(exact, repeat),
        "sampler_loop_s": best_time(sampler_loop, repeat),
        "sampler_array_s": best_time(sampler_array, repeat),
        "estimator_array_s": best_time(estimator_array, repeat),
    }
    for key in ("sampler_loop", "sampler_array", "estimator_array"):
        out[f"{key}_ratio"] = out[f"{key}_s"] / out["exact_s"]
    return out


def load_benchmark(path) -> dict:
    """A benchmark's committed result file (JSON with a ``ratios`` mapping), as a dict.

    The scripts in ``benchmarks/`` write these files atomically; the notebooks quote their
    ratios instead of timing peers during every build.

    Raises
    ------
    ValueError
        When ``path`` is not a readable JSON file with a ``ratios`` mapping.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"path = {str(path)!r} is not a readable benchmark result: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("ratios"), dict):
        raise ValueError(f"path = {str(path)!r} has no 'ratios' mapping; rerun the benchmark script that writes it")
    return data
