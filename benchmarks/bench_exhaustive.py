"""Exhaustive max-min search: the split-and-prune search against the previous
implementations, in one process, at 4 APs x 3 users and 8 APs x 4 users.

For each size, on the same channels (10 dB, mu_d = 0.5):

* ``exhaustive``: :func:`cfmimo.baselines.exhaustive` (split search with pruning from
  2048 candidates on, the vectorised search below);
* ``previous``: the previous implementation, every candidate's min-rate in one vectorised
  table (:func:`cfmimo.baselines.candidate_min_rates`, chunked over channels) and its
  first argmax;
* ``loop`` (4 x 3 only): the plain Python loop :func:`cfmimo.baselines.exhaustive_loop`
  on ``--loop`` channels, scaled.

All must return the same decisions (checked). Prints seconds per 10^3 channels and the
ratios, and writes them atomically to ``benchmarks/results/bench_exhaustive.json``.

Usage: .venv/bin/python benchmarks/bench_exhaustive.py [--trials 1000] [--previous 200] [--loop 50]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from cfmimo.baselines import all_assignments, candidate_min_rates, exhaustive, exhaustive_loop
from cfmimo.channel import sample_channels
from cfmimo.config import PAPER, db_to_linear, with_overrides
from cfmimo.notebooks import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results" / "bench_exhaustive.json"


def previous(H_hat, rho, mu, penalty, block=50):
    n_ap, n_user = H_hat.shape[-3:-1]
    cands = all_assignments(n_ap, n_user)
    out = [cands[candidate_min_rates(H_hat[i : i + block], rho, mu, penalty).argmax(axis=-1)] for i in range(0, len(H_hat), block)]
    return np.concatenate(out)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--previous", type=int, default=200, help="channels timed with the previous implementation at 8 x 4 (scaled)")
    parser.add_argument("--loop", type=int, default=50, help="channels timed with the loop at 4 x 3 (scaled)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rho, mu = db_to_linear(10.0), 0.5
    rows = {}
    for n_ap, n_user in ((4, 3), (8, 4)):
        system = with_overrides(PAPER, n_ap=n_ap, n_user=n_user).system
        _, H_hat = sample_channels(system, args.trials, 0)
        penalty = system.penalty
        t_new, new = timed(lambda: exhaustive(H_hat, rho, mu, penalty))
        n_prev = args.trials if n_ap * n_user <= 12 else min(args.trials, args.previous)
        t_prev, old = timed(lambda: previous(H_hat[:n_prev], rho, mu, penalty))
        if not np.array_equal(new[:n_prev], old):
            raise RuntimeError(f"{n_ap} x {n_user}: the searches disagree")
        row = {
            "n_candidates": n_user**n_ap,
            "n_trials": args.trials,
            "exhaustive_s_per_1000": t_new / args.trials * 1000,
            "previous_s_per_1000": t_prev / n_prev * 1000,
            "previous_trials": n_prev,
        }
        row["speedup_vs_previous"] = row["previous_s_per_1000"] / row["exhaustive_s_per_1000"]
        line = (f"{n_ap} x {n_user} ({row['n_candidates']} candidates): exhaustive {row['exhaustive_s_per_1000']:8.3f} s per 10^3 channels, "
                f"previous {row['previous_s_per_1000']:8.3f} s ({row['speedup_vs_previous']:.1f}x)")
        if n_ap * n_user <= 12:
            n_loop = min(args.loop, args.trials)
            t_loop, slow = timed(lambda: exhaustive_loop(H_hat[:n_loop], rho, mu, penalty))
            if not np.array_equal(new[:n_loop], slow):
                raise RuntimeError("exhaustive and the loop reference disagree")
            row["loop_s_per_1000"] = t_loop / n_loop * 1000
            row["speedup_vs_loop"] = row["loop_s_per_1000"] / row["exhaustive_s_per_1000"]
            line += f", loop {row['loop_s_per_1000']:8.2f} s ({row['speedup_vs_loop']:.0f}x)"
        print(line, flush=True)
        rows[f"{n_ap}x{n_user}"] = row
    atomic_write_text(args.out, json.dumps({"note": "seconds per 10^3 channels, measured in one process (the machine may be loaded)", "rows": rows}, indent=1, sort_keys=True) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
