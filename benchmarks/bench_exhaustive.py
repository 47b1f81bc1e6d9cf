"""Exhaustive max-min search: vectorised vs a plain Python loop, same process.

Usage: .venv/bin/python benchmarks/bench_exhaustive.py [--trials 1000] [--loop 50]
Prints the time for the trials' decisions and the speed-up ratio (the number the book quotes).
"""

import argparse

from cfmimo.config import PAPER
from cfmimo.timing import exhaustive_speedup


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--loop", type=int, default=50, help="trials timed with the loop (scaled up)")
    args = parser.parse_args()
    r = exhaustive_speedup(PAPER.system, n_trials=args.trials, n_loop=args.loop)
    print(f"{r['n_trials']} trials x {r['n_candidates']} candidates (paper preset)")
    print(f"vectorised exhaustive : {r['vectorised_s'] * 1e3:9.2f} ms")
    print(f"plain loop (scaled)   : {r['loop_s'] * 1e3:9.2f} ms")
    print(f"speed-up              : {r['speedup']:9.1f}x")


if __name__ == "__main__":
    main()
