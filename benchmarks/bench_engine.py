"""Per-gradient cost of the QNN engines: exact batched numpy vs Qiskit Aer, same process.

One parameter-shift gradient evaluates 2P + 1 circuits (P weights). Timed, each as the
best of several repeats: the exact engine (one call), Aer SamplerV2 one circuit per call,
Aer SamplerV2 with a parameter array, Aer EstimatorV2 with a parameter array.

Usage: .venv/bin/python benchmarks/bench_engine.py [--repeat 3] [--shots 1024]
Prints the times and the ratios (the numbers the book quotes).
"""

import argparse

from cfmimo.config import PAPER
from cfmimo.timing import gradient_timings
from cfmimo.qnn import VARIANTS


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shots", type=int, default=1024)
    args = parser.parse_args()
    for variant in VARIANTS:
        r = gradient_timings(PAPER, variant, shots=args.shots, repeat=args.repeat)
        print(f"variant {variant}: {r['n_circuits']} circuits per gradient, {r['n_qubits']} qubits (paper preset)")
        print(f"  exact engine, one batched call     : {r['exact_s'] * 1e3:9.3f} ms")
        print(f"  Aer SamplerV2, one circuit per call: {r['sampler_loop_s'] * 1e3:9.3f} ms  ({r['sampler_loop_ratio']:7.1f}x)")
        print(f"  Aer SamplerV2, parameter array     : {r['sampler_array_s'] * 1e3:9.3f} ms  ({r['sampler_array_ratio']:7.1f}x)")
        print(f"  Aer EstimatorV2, parameter array   : {r['estimator_array_s'] * 1e3:9.3f} ms  ({r['estimator_array_ratio']:7.1f}x)")


if __name__ == "__main__":
    main()
