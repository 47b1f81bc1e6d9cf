"""Every notebook runs at the smoke preset and at a system-size override; re-runs are identical.

Each notebook (``notebooks/NN_*.ipynb``, so a new one is picked up) is executed with
papermill twice: at ``preset="smoke"``, and at ``preset="smoke"`` with
``overrides=OVERRIDE`` (another system size at which every user can be served). The runs
share one pool of two kernels (the machine has two cores); each test then checks one run.
A failed run's notebook is kept beside the others, with the error in the failing cell.

``make book`` idempotence: notebook 01 is executed a second time at smoke and must give a
file identical to the first run, apart from the outputs of cells tagged
``nbval-ignore-output`` (wall-clock timings).
"""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cfmimo.notebooks import INJECTED_CELL_ID, execute_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
OVERRIDE = {"n_ap": 3, "n_user": 3}
RUNS = {
    **{(nb.stem, "smoke"): (nb, {"preset": "smoke"}) for nb in NOTEBOOKS},
    **{(nb.stem, "override"): (nb, {"preset": "smoke", "overrides": OVERRIDE}) for nb in NOTEBOOKS},
}
TWICE = "01_system_model"


def _error(exc: BaseException) -> str:
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    return f"{ename}: {evalue}" if ename else f"{type(exc).__name__}: {exc}"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Execute every run (two at a time); map each key to (output path, error or None)."""
    out = tmp_path_factory.mktemp("presets")
    jobs = dict(RUNS)
    if (TWICE, "smoke") in jobs:
        jobs[(TWICE, "smoke-again")] = jobs[(TWICE, "smoke")]

    def run(key):
        src, parameters = jobs[key]
        dst = out / f"{key[0]}-{key[1]}.ipynb"
        try:
            execute_notebook(src, dst, parameters, keep_failed=dst.with_suffix(".failed.ipynb"))
        except Exception as exc:  # reported by the test of this run
            return key, (dst, _error(exc))
        finally:
            _close_thread_event_loop()
        return key, (dst, None)

    # later notebooks are the slower ones: start them first so that both kernels stay busy
    order = sorted((k for k in jobs if k[1] != "smoke-again"), reverse=True) + [k for k in jobs if k[1] == "smoke-again"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, order))


def _close_thread_event_loop():
    """Close the event loop papermill's client created in this worker thread (else it leaks)."""
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return
    if not loop.is_running():
        loop.close()


@pytest.mark.parametrize("key", list(RUNS), ids=[f"{nb}-{kind}" for nb, kind in RUNS])
def test_notebook_runs(executed, key):
    path, error = executed[key]
    assert error is None, f"{key[0]} at {RUNS[key][1]} failed: {error} (partly executed notebook: {path.with_suffix('.failed.ipynb')})"
    nb = json.loads(path.read_text(encoding="utf-8"))
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]


def _without_timing_outputs(path: Path) -> dict:
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if "nbval-ignore-output" in cell.get("metadata", {}).get("tags", []):
            cell["outputs"] = []
    return nb


def test_re_execution_changes_only_timing_cells(executed):
    first, error = executed[(TWICE, "smoke")]
    again, error_again = executed[(TWICE, "smoke-again")]
    assert error is None and error_again is None
    a, b = _without_timing_outputs(first), _without_timing_outputs(again)
    injected = [c for c in a["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert [c["id"] for c in injected] == [INJECTED_CELL_ID]
    for meta in (a["metadata"].get("papermill", {}), *(c["metadata"] for c in a["cells"])):
        assert not {"start_time", "end_time", "duration"} & set(meta.get("papermill", meta)), "volatile metadata left"
    assert len(a["cells"]) == len(b["cells"])
    for i, (ca, cb) in enumerate(zip(a["cells"], b["cells"])):
        assert ca == cb, f"cell {i} ({ca.get('id')}) differs between two runs"
    assert a == b
