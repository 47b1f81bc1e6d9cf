"""Wall-clock measurements that the book quotes as ratios (never as absolute seconds in tests).

Both sides of a ratio are measured in the same process, one after the other, each as
the best of several repeats, so that the ratio is robust to a busy machine.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .config import SystemConfig, db_to_linear

__all__ = ["best_time", "exhaustive_speedup", "load_benchmark"]


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
    from .baselines import exhaustive, exhaustive_loop
    from .channel import sample_channels

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
