"""Sweeps and studies on a 2-worker local Dask cluster give the serial run's results."""

import importlib.util
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from cfmimo import config, distributed, results, sweep

MAIN_PID = os.getpid()


@pytest.fixture(scope="module")
def client():
    with distributed.connect(workers=2, announce=False) as c:
        yield c


def _notebook(path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell('preset = "smoke"\noverrides = {}\nscale = 1')
    cell.metadata["tags"] = ["parameters"]
    body = (  # what myst_nb.glue writes, without importing myst_nb (seconds per kernel)
        "from IPython.display import display\nfrom cfmimo import config\n"
        "cfg = config.with_overrides(config.preset(preset), **overrides)\n"
        "display({'text/plain': repr(1 / scale * cfg.system.csi_error)}, raw=True,\n"
        "        metadata={'scrapbook': {'name': 'value', 'mime_prefix': ''}})"
    )
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)
    return path


def _slow_execute(src, dst, parameters):
    """A picklable fake executor: marks its start, sleeps, writes a glued value, logs the write."""
    dst = Path(dst)
    (dst.parent / f"started.{dst.name}.{os.getpid()}").write_text("")
    time.sleep(0.5)
    nb = nbformat.read(src, as_version=4)
    out = nbformat.v4.new_output("display_data", data={"text/plain": repr(parameters["scale"])}, metadata={"scrapbook": {"name": "value"}})
    nb.cells[1].outputs = [out]
    nbformat.write(nb, dst)
    with open(dst.parent / "writes.log", "a") as log:
        log.write(dst.name + "\n")


class CountingPolicy:
    """Strongest-AP policy that counts how often the test process pickles it."""

    pickled_here = 0
    uses_rho = False

    def __call__(self, H_hat, rho):
        return results.classical_policies(0.1, 10.0)["strongest AP"](H_hat, rho)

    def __reduce__(self):
        if os.getpid() == MAIN_PID:
            CountingPolicy.pickled_here += 1
        return (CountingPolicy, ())


def _study_config(n_trials):
    return config.with_overrides(config.SMOKE, n_trials=n_trials, snr_db=(0.0, 20.0), distance_means=(0.3, 0.7))


def test_chunked_study_is_bit_identical_to_serial_and_scatters_the_policies_once(client):
    cfg = _study_config(13)
    classical = results.classical_policies(cfg.system.interference_factor, cfg.system.penalty, rng=0)
    policies = {name: classical[name] for name in ("exhaustive", "strongest AP", "random")} | {"counting": CountingPolicy()}
    serial = results.run_study(cfg, policies, chunk_size=5)
    CountingPolicy.pickled_here = 0
    on_dask = results.run_study(cfg, policies, chunk_size=5, client=client)  # 6 chunks
    assert CountingPolicy.pickled_here == 1  # sent once, not once per chunk
    assert on_dask.policies == serial.policies and on_dask.user_rates.shape == (5, 2, 2, 13, 3)
    for field in ("user_rates", "optimal", "unserved"):
        np.testing.assert_array_equal(getattr(on_dask, field), getattr(serial, field))
    c = serial.index("counting")
    np.testing.assert_array_equal(serial.user_rates[c], serial.user_rates[serial.index("strongest AP")])
    # the chunking, not the workers, fixes the numbers: other chunks draw other channels
    other = results.run_study(cfg, policies, chunk_size=13)
    assert not np.array_equal(other.user_rates, serial.user_rates)


def test_run_study_checks_its_new_arguments():
    cfg = _study_config(4)
    policies = results.classical_policies(0.1, 10.0, rng=0)
    with pytest.raises(ValueError, match="chunk_size = 0 must be >= 1"):
        results.run_study(cfg, policies, chunk_size=0)
    with pytest.raises(ValueError, match="workers = 0 must be >= 1"):
        results.run_study(cfg, policies, workers=0)
    with pytest.raises(TypeError, match="chunk_size must be an integer"):
        results.run_study(cfg, policies, chunk_size=2.5)


def test_sweep_on_cluster_matches_serial_row_for_row(client, tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb")
    grid = {"scale": [0, 4]}  # scale = 0 raises ZeroDivisionError in the notebook
    serial = sweep.run_sweep(sweep.load_spec(notebook=str(nb), output=str(tmp_path / "serial"), grid=grid), progress=False)
    spec = sweep.load_spec(notebook=str(nb), output=str(tmp_path / "dask"), grid=grid)
    on_dask = sweep.run_sweep(spec, progress=False, client=client)
    assert on_dask.read_text() == serial.read_text()
    assert [r["status"] for r in sweep.failed_points(on_dask)] == ["failed"]
    assert "ZeroDivisionError" in sweep.failed_points(on_dask)[0]["error"]
    assert len(list((tmp_path / "dask").glob("scale=0.*.failed.ipynb"))) == 1


def test_killed_worker_loses_no_point(client, tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb")
    out = tmp_path / "out"
    spec = sweep.load_spec(notebook=str(nb), output=str(out), grid={"scale": [1, 2, 3, 4]})
    killed = []

    def kill_first_worker():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            for marker in out.glob("started.*"):
                pid = int(marker.name.rsplit(".", 1)[1])
                os.kill(pid, signal.SIGKILL)
                killed.append(marker.name)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_first_worker)
    killer.start()
    summary = sweep.run_sweep(spec, progress=False, execute=_slow_execute, client=client)
    killer.join()
    assert killed, "no worker was killed"
    point = killed[0].split(".", 1)[1].rsplit(".", 1)[0]  # the killed task's notebook
    assert len(list(out.glob(f"started.{point}.*"))) == 2  # it was run again elsewhere
    rows = sweep.failed_points(summary)
    assert rows == []
    writes = (out / "writes.log").read_text().split()
    assert sorted(writes) == sorted(p.name for p in out.glob("scale=*.ipynb"))  # each point written once
    assert len(writes) == 4


def test_unreachable_scheduler_fails_fast_with_an_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT", 1.0)  # the default, 5 s, is the same code path
    nb = _notebook(tmp_path / "nb.ipynb")
    start = time.monotonic()
    rc = sweep.main(["--notebook", str(nb), "--out", str(tmp_path / "o"), "--grid", "scale=1,2", "--no-progress", "--scheduler", "tcp://127.0.0.1:1"])
    assert rc == 2
    assert time.monotonic() - start < 15
    err = capsys.readouterr().err
    assert "error: scheduler = 'tcp://127.0.0.1:1' could not be reached within 1 s" in err
    assert not (tmp_path / "o").exists()


def test_reseeded_copy_is_deterministic_and_keeps_sharing():
    g = np.random.default_rng(0)
    obj = {"a": g, "b": [g], "c": np.random.default_rng(1)}
    one = distributed.reseeded_copy(obj, distributed.chunk_seed(7, 0, 1))
    two = distributed.reseeded_copy(obj, distributed.chunk_seed(7, 0, 1))
    other = distributed.reseeded_copy(obj, distributed.chunk_seed(7, 0, 2))
    assert one["a"] is one["b"][0] and one["a"] is not one["c"]
    draws = [x["a"].random(3).tolist() + x["c"].random(3).tolist() for x in (one, two, other)]
    assert draws[0] == draws[1] and draws[0] != draws[2]
    assert g.random() == np.random.default_rng(0).random()  # the original is untouched
    with pytest.raises(TypeError, match="SeedSequence"):
        distributed.reseeded_copy(obj, 3)
    with pytest.raises(TypeError, match="picklable by cloudpickle"):
        distributed.reseeded_copy({"lock": threading.Lock()}, distributed.chunk_seed(7, 0))


def test_chunk_sizes_and_seeds():
    assert distributed.chunk_sizes(10, 4) == [4, 4, 2]
    assert distributed.chunk_sizes(3, 1000) == [3]
    spawned = np.random.SeedSequence(5).spawn(3)[2].spawn(4)[1]
    assert distributed.chunk_seed(5, 2, 1).generate_state(4).tolist() == spawned.generate_state(4).tolist()


def test_slurm_job_script():
    pytest.importorskip("dask_jobqueue")
    cluster = distributed.slurm_cluster(cores=4, memory="8GiB", walltime="00:30:00", queue="short", prologue=["module load python/3.11"])
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    print(script)
    assert "#SBATCH -p short" in script and "#SBATCH -t 00:30:00" in script and "#SBATCH --cpus-per-task=4" in script
    assert "module load python/3.11" in script
    assert f"{sys.executable} -m distributed.cli.dask_worker" in script and "--nworkers 4" in script and "--nthreads 1" in script
    with pytest.raises(ValueError, match="cores = 0 must be >= 1"):
        distributed.slurm_cluster(cores=0)


def test_scale_out_table_is_generated_from_the_committed_measurement():
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("bench_dask", root / "benchmarks" / "bench_dask.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    record = json.loads((root / "benchmarks" / "results" / "bench_dask.json").read_text())
    assert (root / "benchmarks" / "results" / "bench_dask.md").read_text() == bench.markdown_table(record)
    assert record["sweep_summary_identical"] and record["study_bit_identical"]
    assert record["workers"] == 2 and record["sweep_points"] == 8 and record["study_trials"] == 10**4
    page = (root / "book" / "scale_out.md").read_text()
    assert "{include} ../benchmarks/results/bench_dask.md" in page
