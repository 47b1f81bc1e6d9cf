"""Run a notebook over a parameter grid with papermill, resumably.

Usage::

    python -m cfmimo.sweep GRID.yaml
    python -m cfmimo.sweep GRID.yaml --workers 4          # local Dask cluster, 4 processes
    python -m cfmimo.sweep GRID.yaml --scheduler tcp://host:8786
    python -m cfmimo.sweep --notebook notebooks/01_system_model.ipynb --out sweeps/csi \\
        --set preset=smoke --grid csi_error=0,0.1,0.3 --grid n_trials=100,1000 \\
        --plot minrate_exhaustive

A grid file (YAML or JSON) has the same keys::

    notebook: notebooks/01_system_model.ipynb
    output: sweeps/csi            # one executed notebook per point, summary.csv, summary.png
    base: {preset: smoke}         # fixed parameters
    grid:                         # every combination is one point
      csi_error: [0.0, 0.1, 0.3]
      n_trials: [100, 1000]
    plot: [minrate_exhaustive]    # optional: glued values drawn in summary.png (default: all numeric)

A parameter is either a variable of the notebook's cell tagged ``parameters`` (e.g.
``preset``) or a field of :class:`cfmimo.config.SystemConfig`,
:class:`~cfmimo.config.TrainingConfig` or :class:`~cfmimo.config.Preset`; the latter are
passed to the notebook in its ``overrides`` dict. Every point is checked before anything
runs: an unknown name, an unknown or non-string ``preset`` or an invalid value stops the
sweep with the list of known names or the allowed range.

**Identity of a point.** A point's notebook is named by its grid values and a key
(``point_key``): the SHA-256 of every parameter it runs with (base settings and grid
values), of the notebook's cell sources (not its outputs) and of the package version and
source code. A point is reused only when a notebook with that key exists, so a sweep
resumed with other base settings, an edited notebook or changed code runs again, and
never reuses stale results. Each point's notebook is written atomically, so a point is
complete exactly when its file exists: a killed sweep resumes where it stopped, and the
temporary ``.*.partial`` files it left are removed on the next run.

**Failures.** A point whose notebook raises is recorded (``status`` ``failed``, the error
in ``error``, the partly executed notebook kept as ``NAME.KEY.failed.ipynb`` for
inspection), the sweep goes on with the other points, and the command exits with status 1
at the end. A resumed sweep retries failed points.

**On Dask.** ``--workers N`` runs the points on a local Dask cluster of ``N`` processes,
``--scheduler ADDRESS`` on a running scheduler (its workers must see the notebook and the
output folder on a shared file system). Each point is one task with the identity, resume
and failure rules above; a task whose worker dies is rerun elsewhere and finds a point
its first attempt completed. ``summary.csv`` is the serial run's, row for row. An
unreachable scheduler is an error (exit status 2) after a few seconds. See the book page
"Scale out".

**Outputs.** ``summary.csv`` has one row per point of this sweep: every parameter (base
and grid), ``status``, ``error``, ``notebook`` and every number the notebook glued;
``summary.png`` beside it draws each numeric glued value (or those named with ``--plot``)
against the first grid parameter, one line per combination of the others.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import itertools
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import yaml
from matplotlib.figure import Figure
from tqdm import tqdm

from . import __version__, distributed
from .config import Preset, SystemConfig, TrainingConfig, config_fields, preset, with_overrides
from .notebooks import atomic_write_text, execute_notebook, remove_stale_partials

__all__ = [
    "SweepSpec",
    "load_spec",
    "grid_points",
    "point_name",
    "point_key",
    "notebook_hash",
    "glued_values",
    "run_sweep",
    "plot_summary",
    "failed_points",
    "main",
]

CONFIG_NAMES = frozenset(config_fields(SystemConfig) + config_fields(TrainingConfig) + config_fields(Preset)) - {
    "system",
    "training",
    "name",
}

_SPEC_KEYS = ("notebook", "output", "base", "grid", "plot")
_STATUS_COLUMNS = ("status", "error", "notebook")


class SweepSpec(dict):
    """A validated sweep: ``notebook``, ``output``, ``base`` (dict), ``grid`` (dict of lists), ``plot`` (list)."""


def _parse_value(text: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _read_grid_file(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        kind = "JSON" if path.suffix == ".json" else "YAML"
        detail = " ".join(str(exc).split())
        raise ValueError(f"grid file {path} is not valid {kind}: {detail}") from None
    if not isinstance(data, dict):
        raise ValueError(f"grid file {path} must hold a mapping with keys {', '.join(_SPEC_KEYS)}")
    unknown = set(data) - set(_SPEC_KEYS)
    if unknown:
        raise ValueError(f"grid file {path} has unknown keys {sorted(unknown)}; allowed: {', '.join(_SPEC_KEYS)}")
    return data


def load_spec(path=None, *, notebook=None, output=None, base=None, grid=None, plot=None) -> SweepSpec:
    """Read a grid file and/or command-line pieces into a :class:`SweepSpec`.

    Command-line pieces override the file's. Raises ``ValueError`` on a grid file that is
    not valid YAML/JSON, a missing notebook, an empty grid or a non-list grid entry.
    """
    data = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"grid file {path} does not exist")
        data = _read_grid_file(path)
    for key in ("base", "grid"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise ValueError(f"{key} must be a mapping of parameter names to values, got {data[key]!r}")
    spec = SweepSpec(
        notebook=notebook or data.get("notebook"),
        output=output or data.get("output"),
        base={**(data.get("base") or {}), **(base or {})},
        grid={**(data.get("grid") or {}), **(grid or {})},
        plot=list(plot) if plot else data.get("plot") or [],
    )
    if not spec["notebook"]:
        raise ValueError("no notebook given: set `notebook:` in the grid file or pass --notebook")
    if not isinstance(spec["notebook"], str) or not Path(spec["notebook"]).is_file():
        raise ValueError(f"notebook {spec['notebook']} does not exist")
    if not spec["output"]:
        spec["output"] = str(Path("sweeps") / Path(spec["notebook"]).stem)
    if not spec["grid"]:
        raise ValueError("the grid is empty: give at least one parameter with a list of values")
    for name, values in spec["grid"].items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"grid entry {name!r} must be a non-empty list of values, got {values!r}")
    if isinstance(spec["plot"], str):
        spec["plot"] = [spec["plot"]]
    if not isinstance(spec["plot"], list) or not all(isinstance(p, str) for p in spec["plot"]):
        raise ValueError(f"plot must be a list of glued value names, got {spec['plot']!r}")
    return spec


def grid_points(grid: dict) -> list[dict]:
    """Every combination of the grid's values, in the order the grid lists them."""
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


def point_name(point: dict) -> str:
    """A file-system-safe, readable name for one point, e.g. ``csi_error=0.1__n_trials=100``."""
    parts = [f"{k}={v}" for k, v in point.items()]
    return re.sub(r"[^A-Za-z0-9_.=+-]", "_", "__".join(parts)) or "point"


def notebook_hash(notebook) -> str:
    """SHA-256 of a notebook's cell types and sources (outputs and metadata do not count).

    Re-executing a notebook (``make book``) leaves it unchanged; editing any cell changes it.
    papermill's injected-parameters cell is ignored.
    """
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    cells = []
    for cell in nb.get("cells", []):
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            continue
        source = cell.get("source", "")
        cells.append([cell.get("cell_type"), "".join(source) if isinstance(source, list) else source])
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def _package_hash() -> str:
    """SHA-256 of the package's version and of every module's source."""
    h = hashlib.sha256(__version__.encode())
    for source in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(source.name.encode())
        h.update(source.read_bytes())
    return h.hexdigest()


def point_key(parameters: dict, notebook_sha: str, package_sha: str | None = None) -> str:
    """Identity of one point: SHA-256 of its parameters, the notebook's and the package's hashes.

    Parameters
    ----------
    parameters : dict
        What the notebook runs with (base settings and grid values, as passed to papermill).
    notebook_sha : str
        :func:`notebook_hash` of the notebook.
    package_sha : str, optional
        Hash of the package version and source (default: the installed package's).
    """
    payload = {
        "parameters": parameters,
        "notebook": notebook_sha,
        "package": package_sha or _package_hash(),
        "version": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=repr).encode()).hexdigest()


def _split_parameters(notebook_params: set, values: dict) -> tuple[dict, dict]:
    """Split ``values`` into notebook parameters and config overrides; reject unknown names."""
    direct, overrides = {}, {}
    for name, value in values.items():
        if name in notebook_params and name != "overrides":
            direct[name] = value
        elif name in CONFIG_NAMES:
            overrides[name] = value
        else:
            known = sorted((notebook_params - {"overrides"}) | CONFIG_NAMES)
            raise ValueError(f"unknown parameter {name!r}; known parameters: {', '.join(known)}")
    if overrides and "overrides" not in notebook_params:
        raise ValueError(
            f"the notebook has no `overrides` parameter, so config fields {sorted(overrides)} cannot be set"
        )
    return direct, overrides


def _check_point(direct: dict, overrides: dict, point: dict) -> None:
    """Validate the preset name and the config the point's notebook will build."""
    where = f" (point {point_name(point)})"
    name = direct.get("preset", "paper")
    if not isinstance(name, str):
        raise ValueError(f"preset = {name!r} must be a preset name (a string), e.g. 'smoke'{where}")
    try:
        with_overrides(preset(name), **overrides)
    except ValueError as exc:
        raise ValueError(f"{exc}{where}") from None


def glued_values(notebook_path) -> dict:
    """Scalar values a notebook glued with ``myst_nb.glue`` (their ``text/plain`` form)."""
    nb = json.loads(Path(notebook_path).read_text(encoding="utf-8"))
    values = {}
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            scrap = out.get("metadata", {}).get("scrapbook", {})
            name = scrap.get("name")
            text = out.get("data", {}).get(scrap.get("mime_prefix", "") + "text/plain")
            if name and text is not None:
                text = "".join(text) if isinstance(text, list) else text
                values[name] = text.strip("'\"")
    return values


def _cell(value):
    return json.dumps(value) if isinstance(value, (dict, list)) else value


def _write_summary(out_dir: Path, rows: list[dict]) -> Path:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    path = out_dir / "summary.csv"
    atomic_write_text(path, buffer.getvalue())
    return path


def _as_float(text):
    if isinstance(text, bool):
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value


def plot_summary(rows: list[dict], grid: dict, path, names=None, *, base=()) -> Path | None:
    """Draw glued values against the first grid parameter and save the figure to ``path``.

    Parameters
    ----------
    rows : list of dict
        The rows of ``summary.csv``.
    grid : dict
        The sweep's grid: its first parameter is the x axis; each combination of the others
        is one line.
    path : path-like
        PNG file, written atomically.
    names : list of str, optional
        Glued values to draw (one panel each); default: every glued value that is numeric
        in every completed row. A name no row has raises ``ValueError``.
    base : iterable of str
        Names of the fixed parameters (columns that are not glued values).

    Returns
    -------
    pathlib.Path or None
        ``None`` when there is nothing numeric to draw.
    """
    done = [r for r in rows if r.get("status") == "ok"]
    if not done:
        return None
    params = set(grid) | set(base) | set(_STATUS_COLUMNS)
    glued = [k for k in dict.fromkeys(k for r in done for k in r) if k not in params]
    if names:
        unknown = [n for n in names if n not in glued]
        if unknown:
            raise ValueError(f"--plot names {unknown} are not glued by the notebook; glued: {', '.join(glued) or 'none'}")
    else:
        names = [k for k in glued if all(k in r and _as_float(r[k]) is not None for r in done)]
    if not names:
        return None
    x_name, others = list(grid)[0], list(grid)[1:]
    x_values = grid[x_name]
    numeric_x = all(_as_float(v) is not None for v in x_values)
    position = {json.dumps(v, default=repr): (float(v) if numeric_x else i) for i, v in enumerate(x_values)}
    ncols = min(2, len(names))
    nrows = -(-len(names) // ncols)
    fig = Figure(figsize=(5.2 * ncols, 3.6 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        lines = {}
        for row in done:
            label = ", ".join(f"{o}={row.get(o)}" for o in others)
            x = position.get(json.dumps(_parse_value(str(row[x_name])), default=repr))
            y = _as_float(row.get(name))
            if x is not None and y is not None:
                lines.setdefault(label, []).append((x, y))
        for label, pts in lines.items():
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label or None)
        ax.set_xlabel(f"{x_name} (grid parameter)")
        ax.set_ylabel(f"{name} (glued value, notebook units)")
        ax.grid(True, alpha=0.3)
        if not numeric_x:
            ax.set_xticks(range(len(x_values)), [str(v) for v in x_values])
        if others:
            ax.legend(fontsize="small")
    for ax in axes[len(names):]:
        ax.set_visible(False)
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=100)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _error_message(exc: BaseException) -> str:
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    text = f"{ename}: {evalue}" if ename else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:500]


def _failed_path(target: Path) -> Path:
    return target.with_name(target.name[: -len(".ipynb")] + ".failed.ipynb")


def _execute_point(src, dst, parameters):
    """The default executor: papermill over IPC, keeping a failed notebook beside ``dst``."""
    execute_notebook(src, dst, parameters, keep_failed=_failed_path(Path(dst)))


def _stamp(target: Path, identity: dict) -> None:
    """Record the point's identity in its notebook's metadata (``cfmimo_sweep``)."""
    nb = json.loads(target.read_text(encoding="utf-8"))
    nb.setdefault("metadata", {})["cfmimo_sweep"] = identity
    atomic_write_text(target, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def _stamped_key(target: Path):
    try:
        nb = json.loads(target.read_text(encoding="utf-8"))
        return nb["metadata"]["cfmimo_sweep"]["key"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _target(out_dir: Path, point: dict, identity: dict) -> Path:
    return out_dir / f"{point_name(point)}.{identity['key'][:12]}.ipynb"


def _done(target: Path, identity: dict) -> bool:
    return target.exists() and _stamped_key(target) == identity["key"]


class _RecordedError(Exception):
    """A point's error, raised again where the sweep writes its row (Dask mode)."""

    def __init__(self, ename, evalue):
        super().__init__(f"{ename}: {evalue}")
        self.ename, self.evalue = ename, evalue


def _point_task(item, *, notebook, execute):
    """One point as a Dask task: execute and stamp ``target`` unless it is already done.

    Idempotent: a task that Dask reruns because its worker died after writing the point
    finds the stamped notebook and returns. Returns ``None`` on success, else the error's
    ``(ename, evalue)`` (the partly executed notebook is kept, as in the serial sweep).
    """
    target, parameters, identity = item
    if _done(target, identity):
        return None
    try:
        execute(notebook, target, parameters)
    except Exception as exc:
        if target.exists():
            target.unlink()
        ename = getattr(exc, "ename", None)
        return (ename, getattr(exc, "evalue", None)) if ename else (type(exc).__name__, str(exc))
    _stamp(target, identity)
    failed = _failed_path(target)
    if failed.exists():
        failed.unlink()
    return None


def _run_on_cluster(client, notebook: Path, out_dir: Path, plans: list, execute, progress: bool):
    """Run the points not done yet as Dask tasks; return an executor that replays their errors.

    The serial loop of :func:`run_sweep` then finds every successful point done and
    writes the rows in grid order, exactly as a serial run would.
    """
    out_dir = out_dir.resolve()  # workers may run in another folder (a shared file system is needed)
    pending = [(_target(out_dir, p, identity), parameters, identity) for p, parameters, identity in plans]
    pending = [item for item in pending if not _done(item[0], item[2])]
    outcomes = distributed.map_ordered(
        client, _point_task, pending, desc="sweep", unit="point", progress=progress, notebook=notebook.resolve(), execute=execute
    )
    errors = {item[0]: outcome for item, outcome in zip(pending, outcomes) if outcome is not None}

    def replay(src, dst, parameters):
        raise _RecordedError(*errors.get(Path(dst).resolve(), ("RuntimeError", "the point was not run on the cluster")))

    return replay


def run_sweep(spec: SweepSpec, *, progress: bool = True, execute=_execute_point, client=None) -> Path:
    """Execute every point of ``spec`` that has no up-to-date result yet; return the summary path.

    Parameters
    ----------
    spec : SweepSpec
    progress : bool
        Show a progress bar over the points.
    execute : callable
        ``execute(src, dst, parameters)``; injectable for tests. An exception it raises
        (other than ``KeyboardInterrupt`` and the like) marks the point failed.
    client : distributed.Client, optional
        Run the points as Dask tasks on this cluster (``cfmimo.distributed``), one task
        per point, with the same identity, resume and failure rules; ``execute`` must then
        be picklable. The rows of ``summary.csv`` are the serial run's, in grid order.

    Returns
    -------
    pathlib.Path
        ``summary.csv``; its ``status`` column says which points failed.
    """
    # papermill is deferred: it comes with the book's tools (the dev extra), not with the
    # library, and only a sweep that runs notebooks needs it.
    import papermill

    notebook = Path(spec["notebook"])
    notebook_params = set(papermill.inspect_notebook(str(notebook)))
    nb_sha, pkg_sha = notebook_hash(notebook), _package_hash()
    plans = []
    for point in grid_points(spec["grid"]):  # validate every point before running any
        direct, overrides = _split_parameters(notebook_params, {**spec["base"], **point})
        _check_point(direct, overrides, point)
        parameters = dict(direct)
        if overrides:
            parameters["overrides"] = overrides
        key = point_key(parameters, nb_sha, pkg_sha)
        identity = {"key": key, "parameters": parameters, "notebook_sha256": nb_sha, "version": __version__}
        plans.append((point, parameters, identity))
    out_dir = Path(spec["output"])
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(out_dir)
    base_only = {k: v for k, v in spec["base"].items() if k not in spec["grid"]}
    if client is not None:
        execute = _run_on_cluster(client, notebook, out_dir, plans, execute, progress)
        progress = False
    rows = []
    summary = out_dir / "summary.csv"
    for point, parameters, identity in tqdm(plans, desc="sweep", unit="point", disable=not progress):
        target = _target(out_dir, point, identity)
        failed = _failed_path(target)
        row = {**{k: _cell(v) for k, v in point.items()}, **{k: _cell(v) for k, v in base_only.items()}}
        if not _done(target, identity):
            try:
                execute(notebook, target, parameters)
            except Exception as exc:
                if target.exists():
                    target.unlink()
                rows.append({**row, "status": "failed", "error": _error_message(exc), "notebook": failed.name if failed.exists() else ""})
                summary = _write_summary(out_dir, rows)
                continue
            _stamp(target, identity)
            if failed.exists():
                failed.unlink()
        rows.append({**row, "status": "ok", "error": "", "notebook": target.name, **glued_values(target)})
        summary = _write_summary(out_dir, rows)
    picture = out_dir / "summary.png"
    if plot_summary(rows, spec["grid"], picture, spec.get("plot") or None, base=base_only) is None and picture.exists():
        picture.unlink()  # a picture of an earlier sweep would be stale
    return summary


def failed_points(summary) -> list[dict]:
    """Rows of ``summary.csv`` whose point failed."""
    with open(summary, newline="", encoding="utf-8") as fh:
        return [row for row in csv.DictReader(fh) if row.get("status") == "failed"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cfmimo.sweep", description="Run a notebook over a parameter grid.")
    parser.add_argument("grid_file", nargs="?", help="YAML or JSON grid file")
    parser.add_argument("--notebook", help="notebook to execute")
    parser.add_argument("--out", help="output folder")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="fixed parameter")
    parser.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2", help="swept parameter")
    parser.add_argument("--plot", action="append", default=[], metavar="NAME", help="glued value to draw in summary.png (repeatable; default: all numeric)")
    parser.add_argument("--no-progress", action="store_true")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N", help="run the points on a local Dask cluster of N processes")
    where.add_argument("--scheduler", metavar="ADDRESS", help="run the points on a running Dask scheduler, e.g. tcp://host:8786")
    args = parser.parse_args(argv)
    try:
        base, grid = {}, {}
        for item in args.set + args.grid:
            if "=" not in item:
                raise ValueError(f"expected NAME=VALUE, got {item!r}")
        for item in args.set:
            name, value = item.split("=", 1)
            base[name] = _parse_value(value)
        for item in args.grid:
            name, values = item.split("=", 1)
            grid[name] = [_parse_value(v) for v in values.split(",")]
        spec = load_spec(args.grid_file, notebook=args.notebook, output=args.out, base=base, grid=grid, plot=args.plot)
        if args.workers is None and args.scheduler is None:
            summary = run_sweep(spec, progress=not args.no_progress)
        else:
            with distributed.connect(workers=args.workers, scheduler=args.scheduler) as client:
                summary = run_sweep(spec, progress=not args.no_progress, client=client)
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"summary: {summary}")
    failed = failed_points(summary)
    if failed:
        print(f"error: {len(failed)} point(s) failed; see the status and error columns of {summary}:", file=sys.stderr)
        for row in failed:
            print(f"  {row.get('notebook') or '(no notebook)'}: {row['error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
