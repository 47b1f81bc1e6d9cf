"""Training the scoring QNN at the sizes whose weights are committed, timed and checked.

For each size (default 16 x 8, the paper preset's settings otherwise): trains the
``scoring`` variant from scratch exactly as :func:`cfmimo.scoring.commit_weights` does
(10^4 training channels, greedy + local search as teacher above 4 x 3), in this process,
and records

* the wall time of the whole run (teacher assignments included), and the wall time of
  greedy + local search on the same channels (the teacher alone), as a ratio;
* whether the weights equal, bit for bit, the committed file ``weights/scoring-...npz``
  of that run (so that the book's numbers come from a run anyone can repeat).

Writes ``benchmarks/results/bench_training.json`` atomically; notebook 07 quotes it for
the sizes whose weights it loads from a file. Times are wall-clock on this machine: the
JSON records its CPU count.

Usage: .venv/bin/python benchmarks/bench_training.py [--sizes 16x8 8x4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from cfmimo import scoring, train, weights
from cfmimo.config import PAPER, db_to_linear, with_overrides
from cfmimo.notebooks import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bench_training.json"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["16x8"], help="sizes as NAPxNUSER")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rows = {}
    ratios = {}
    for size in args.sizes:
        n_ap, n_user = (int(v) for v in size.split("x"))
        cfg = with_overrides(PAPER, n_ap=n_ap, n_user=n_user)
        start = time.perf_counter()
        result = train.train(cfg, "scoring")
        seconds = time.perf_counter() - start
        H_hat, _ = scoring.training_data(cfg, cfg.training.seed)
        start = time.perf_counter()
        scoring.teacher_assignments(H_hat, db_to_linear(cfg.training.train_snr_db), cfg.system.interference_factor,
                                    cfg.system.penalty)
        teacher_seconds = time.perf_counter() - start
        committed = scoring.committed_weights(cfg, ROOT / "weights")
        same = committed is not None and np.array_equal(weights.load_weights(committed).weights, result.weights)
        rows[size] = {"seconds": seconds, "teacher_seconds": teacher_seconds, "n_train": cfg.training.n_train,
                      "matches_committed": bool(same), "committed": committed.name if committed else None}
        ratios[f"{size}_teacher_share"] = teacher_seconds / seconds
        print(f"{size}: {seconds:.1f} s ({teacher_seconds:.1f} s teacher), matches committed weights: {same}")
    data = {
        "note": "wall-clock seconds of one training run per size, in one process",
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count()},
        "rows": rows,
        "ratios": ratios,
    }
    atomic_write_text(args.out, json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
