"""Dask against serial on this machine: a sweep of smoke points and run_study at 10^4 trials.

Measured in one process, on one local cluster of ``--workers`` processes:

* the pure Dask cost of one task (no-op tasks through :func:`cfmimo.distributed.map_ordered`);
* a sweep of ``--points`` points of notebook 01 at the smoke preset (``csi_error`` swept),
  serially and on the cluster, and whether the two ``summary.csv`` are identical;
* :func:`cfmimo.results.run_study` with every policy of Fig. 3 (paper preset, classical and
  learned) at ``--trials`` trials in chunks of ``--chunk-size``, serially and on the
  cluster, and whether the results are bit-identical;
* from the serial cost per trial and the measured parallel efficiency, the workers a
  :math:`10^6`-trial Fig. 3 needs to finish in ``--budget`` seconds.

Cluster start-up, the workers' import of ``cfmimo`` included, is timed apart (paid once
per cluster). The models are trained (or read from the cache) before any timing: training
stays serial. Results go to ``benchmarks/results/bench_dask.json`` (atomically) and the
table of the book page "Scale out" to ``benchmarks/results/bench_dask.md``.

Usage::

    .venv/bin/python benchmarks/bench_dask.py [--workers 2] [--points 8] [--trials 10000]
    .venv/bin/python benchmarks/bench_dask.py --table   # only rewrite the table from the JSON
"""

import argparse
import csv
import json
import math
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from cfmimo import config, distributed, results, sweep, tables
from cfmimo.notebooks import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "bench_dask.json"
NOTEBOOK = ROOT / "notebooks" / "01_system_model.ipynb"
FIG3_TRIALS = 10**6


def _noop(x):
    return x


def _timed(func, *args, **kwargs):
    start = time.perf_counter()
    out = func(*args, **kwargs)
    return out, time.perf_counter() - start


def _fig3_policies(cfg):
    learned = results.learned_policies(cfg, cache_dir=ROOT / "notebooks" / "_cache", weights_dir=ROOT / "weights")
    system = cfg.system
    policies = {**results.classical_policies(system.interference_factor, system.penalty, rng=cfg.seed), **learned.policies}
    return policies, list(learned.policies) + ["strongest AP", "random"]


TIMING_SUFFIXES = ("_ms", "_s", "speedup")
"""Glued values that are wall-clock timings (notebook 01: ``exhaustive_ms``, ``exhaustive_speedup``)."""


def _summary_without_timings(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [{k: v for k, v in row.items() if not k.endswith(TIMING_SUFFIXES)} for row in rows]


def _compare(name, serial_s, dask_s, workers, tasks):
    speedup = serial_s / dask_s
    return {
        f"{name}_serial_s": serial_s,
        f"{name}_dask_s": dask_s,
        f"{name}_speedup": speedup,
        f"{name}_efficiency": speedup / workers,
        f"{name}_tasks": tasks,
        # worker-seconds beyond the serial work, per task: Dask plus contention for the cores
        f"{name}_overhead_per_task_s": (workers * dask_s - serial_s) / tasks,
    }


def measure(workers, points, trials, chunk_size, budget):
    values = [round(float(v), 3) for v in np.linspace(0.0, 0.7, points)]
    grid = {"csi_error": values}
    cfg = config.with_overrides(config.PAPER, n_trials=trials)
    policies, snr_independent = _fig3_policies(cfg)  # training (or the cache) stays serial
    record = {
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "loadavg_before": list(os.getloadavg())},
        "workers": workers,
        "sweep_points": points,
        "sweep_notebook": NOTEBOOK.name,
        "study_trials": trials,
        "study_chunk_size": chunk_size,
        "study_distances": len(cfg.distance_means),
        "study_snr_points": len(cfg.system.snr_db),
        "study_policies": len(policies) + 1,
    }
    with tempfile.TemporaryDirectory() as tmp:
        spec = {p: sweep.load_spec(notebook=str(NOTEBOOK), output=str(Path(tmp) / p), base={"preset": "smoke"}, grid=grid) for p in ("serial", "dask")}
        start = time.perf_counter()
        with distributed.connect(workers=workers) as client:
            client.run(__import__, "cfmimo.results")  # spawned workers import this script's imports at start
            record["cluster_start_s"] = time.perf_counter() - start
            n_noop = 200
            _, noop_s = _timed(distributed.map_ordered, client, _noop, range(n_noop), desc="noop", progress=False)
            record["noop_per_task_s"] = noop_s / n_noop
            dask_summary, sweep_dask_s = _timed(sweep.run_sweep, spec["dask"], client=client)
            on_dask, study_dask_s = _timed(results.run_study, cfg, policies, snr_independent=snr_independent, chunk_size=chunk_size, client=client, progress=True)
        serial_summary, sweep_serial_s = _timed(sweep.run_sweep, spec["serial"])
        serial, study_serial_s = _timed(results.run_study, cfg, policies, snr_independent=snr_independent, chunk_size=chunk_size, progress=True)
        record["sweep_summary_identical"] = _summary_without_timings(dask_summary) == _summary_without_timings(serial_summary)
    record["study_bit_identical"] = all(np.array_equal(getattr(serial, f), getattr(on_dask, f)) for f in ("user_rates", "optimal", "unserved"))
    n_chunks = len(cfg.distance_means) * len(distributed.chunk_sizes(trials, chunk_size))
    record.update(_compare("sweep", sweep_serial_s, sweep_dask_s, workers, points))
    record.update(_compare("study", study_serial_s, study_dask_s, workers, n_chunks))
    per_trial = study_serial_s / trials
    efficiency = min(1.0, record["study_efficiency"])
    record["fig3"] = {
        "trials": FIG3_TRIALS,
        "budget_s": budget,
        "serial_per_trial_s": per_trial,
        "serial_estimate_s": per_trial * FIG3_TRIALS,
        "workers_ideal": math.ceil(per_trial * FIG3_TRIALS / budget),
        "workers_at_measured_efficiency": math.ceil(per_trial * FIG3_TRIALS / budget / efficiency),
    }
    record["machine"]["loadavg_after"] = list(os.getloadavg())
    return record


def markdown_table(record: dict) -> str:
    """The table of the book page "Scale out", from the JSON record."""
    w = record["workers"]
    f = record["fig3"]
    load = max(record["machine"]["loadavg_before"][0], record["machine"]["loadavg_after"][0])
    fig3_tasks = record["study_distances"] * math.ceil(f["trials"] / record["study_chunk_size"])
    fig3_overhead = fig3_tasks * record["noop_per_task_s"]
    workers_with_overhead = math.ceil((f["serial_estimate_s"] + fig3_overhead) / f["budget_s"])
    header = ["work", "tasks", "serial (s)", f"{w} workers (s)", "speed-up", "efficiency", "overhead per task (s)", "same result"]
    cells = [
        [label, record[name + "_tasks"], f"{record[name + '_serial_s']:.1f}", f"{record[name + '_dask_s']:.1f}",
         f"{record[name + '_speedup']:.2f}x", f"{100 * record[name + '_efficiency']:.0f}%",
         f"{record[name + '_overhead_per_task_s']:.3f}", "yes" if same else "NO"]
        for name, label, same in (
            ("sweep", f"sweep, {record['sweep_points']} smoke points of {record['sweep_notebook']}", record["sweep_summary_identical"]),
            ("study", f"`run_study`, Fig. 3 policies, {record['study_trials']:,} trials", record["study_bit_identical"]),
        )
    ]
    rows = [tables.markdown_table(header, cells)]
    rows += [
        "",
        f"Measured on a machine with {record['machine']['cpu_count']} cores shared with other jobs "
        f"(load average up to {load:.1f} during the run), so absolute times are pessimistic; the ratios "
        f"were measured in the same process. Fixed cost, paid once per cluster: start-up, with the workers' "
        f"import of `cfmimo`, {record['cluster_start_s']:.1f} s. "
        f"A no-op task costs {1e3 * record['noop_per_task_s']:.1f} ms of pure Dask overhead.",
        "",
        f"Serial cost per trial of Fig. 3 (all {record['study_distances']} distances, {record['study_snr_points']} SNRs and "
        f"{record['study_policies']} policies): {1e3 * f['serial_per_trial_s']:.1f} ms, so {f['trials']:,} trials take "
        f"{f['serial_estimate_s'] / 3600:.1f} h serially. Finishing in {f['budget_s'] / 60:.0f} minutes needs "
        f"**{f['workers_ideal']} workers** with a core each and perfect scaling; adding the measured no-op "
        f"overhead of its {fig3_tasks:,} chunk tasks ({fig3_overhead:.0f} worker-seconds in all) gives "
        f"**{workers_with_overhead}**, and **{f['workers_at_measured_efficiency']}** at the efficiency measured on "
        f"this oversubscribed machine (a pessimistic bound: there the two workers competed with the other jobs for "
        f"the two cores).",
    ]
    return "\n".join(rows) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--points", type=int, default=8)
    parser.add_argument("--trials", type=int, default=10**4)
    parser.add_argument("--chunk-size", type=int, default=results.DEFAULT_CHUNK_SIZE)
    parser.add_argument("--budget", type=float, default=600.0, help="seconds for the 10^6-trial estimate")
    parser.add_argument("--table", action="store_true", help="only rewrite the Markdown table from the JSON")
    args = parser.parse_args()
    if not args.table:
        record = measure(args.workers, args.points, args.trials, args.chunk_size, args.budget)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(OUT, json.dumps(record, indent=1) + "\n")
    record = json.loads(OUT.read_text(encoding="utf-8"))
    table = markdown_table(record)
    atomic_write_text(OUT.with_suffix(".md"), table)
    print(table)


if __name__ == "__main__":
    main()
