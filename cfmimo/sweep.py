"""Run a notebook over a parameter grid with papermill, resumably.

Usage::

    python -m cfmimo.sweep GRID.yaml
    python -m cfmimo.sweep --notebook notebooks/01_system_model.ipynb --out sweeps/csi \\
        --set preset=smoke --grid csi_error=0,0.1,0.3 --grid n_trials=100,1000

A grid file (YAML or JSON) has the same keys::

    notebook: notebooks/01_system_model.ipynb
    output: sweeps/csi            # one executed notebook per point, and summary.csv
    base: {preset: smoke}         # fixed parameters
    grid:                         # every combination is one point
      csi_error: [0.0, 0.1, 0.3]
      n_trials: [100, 1000]

A parameter is either a variable of the notebook's cell tagged ``parameters`` (e.g.
``preset``) or a field of :class:`cfmimo.config.SystemConfig`,
:class:`~cfmimo.config.TrainingConfig` or :class:`~cfmimo.config.Preset`; the latter are
passed to the notebook in its ``overrides`` dict. Any other name stops the sweep before
anything runs, with the list of known names. Each point's notebook is written atomically,
so a point is complete exactly when its file exists: a killed sweep resumes where it
stopped. ``summary.csv`` has one row per completed point: its parameters and every
number the notebook glued.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import re
import sys
from pathlib import Path

import yaml

from .config import SMOKE, config_fields, with_overrides, Preset, SystemConfig, TrainingConfig
from .notebooks import atomic_write_text, execute_notebook

__all__ = ["SweepSpec", "load_spec", "grid_points", "point_name", "glued_values", "run_sweep", "main"]

CONFIG_NAMES = frozenset(config_fields(SystemConfig) + config_fields(TrainingConfig) + config_fields(Preset)) - {
    "system",
    "training",
    "name",
}


class SweepSpec(dict):
    """A validated sweep: ``notebook``, ``output``, ``base`` (dict), ``grid`` (dict of lists)."""


def _parse_value(text: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def load_spec(path=None, *, notebook=None, output=None, base=None, grid=None) -> SweepSpec:
    """Read a grid file and/or command-line pieces into a :class:`SweepSpec`.

    Command-line pieces override the file's. Raises ``ValueError`` on a missing
    notebook, an empty grid or a non-list grid entry.
    """
    data = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"grid file {path} does not exist")
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        if not isinstance(data, dict):
            raise ValueError(f"grid file {path} must hold a mapping with keys notebook, output, base, grid")
        unknown = set(data) - {"notebook", "output", "base", "grid"}
        if unknown:
            raise ValueError(f"grid file {path} has unknown keys {sorted(unknown)}; allowed: notebook, output, base, grid")
    spec = SweepSpec(
        notebook=notebook or data.get("notebook"),
        output=output or data.get("output"),
        base={**(data.get("base") or {}), **(base or {})},
        grid={**(data.get("grid") or {}), **(grid or {})},
    )
    if not spec["notebook"]:
        raise ValueError("no notebook given: set `notebook:` in the grid file or pass --notebook")
    if not Path(spec["notebook"]).is_file():
        raise ValueError(f"notebook {spec['notebook']} does not exist")
    if not spec["output"]:
        spec["output"] = str(Path("sweeps") / Path(spec["notebook"]).stem)
    if not spec["grid"]:
        raise ValueError("the grid is empty: give at least one parameter with a list of values")
    for name, values in spec["grid"].items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"grid entry {name!r} must be a non-empty list of values, got {values!r}")
    return spec


def grid_points(grid: dict) -> list[dict]:
    """Every combination of the grid's values, in the order the grid lists them."""
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


def point_name(point: dict) -> str:
    """A file-system-safe, stable name for one point, e.g. ``csi_error=0.1__n_trials=100``."""
    parts = [f"{k}={v}" for k, v in point.items()]
    return re.sub(r"[^A-Za-z0-9_.=+-]", "_", "__".join(parts)) or "point"


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


def _write_summary(out_dir: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out_dir / "summary.csv", buffer.getvalue())


def run_sweep(spec: SweepSpec, *, progress: bool = True, execute=execute_notebook) -> Path:
    """Execute every point of ``spec`` that is not complete yet; return the summary path.

    Parameters
    ----------
    spec : SweepSpec
    progress : bool
        Show a progress bar over the points.
    execute : callable
        ``execute(src, dst, parameters)``; injectable for tests.
    """
    import papermill
    from tqdm import tqdm

    notebook = Path(spec["notebook"])
    notebook_params = set(papermill.inspect_notebook(str(notebook)))
    points = grid_points(spec["grid"])
    plans = []
    for point in points:  # validate every point before running any
        direct, overrides = _split_parameters(notebook_params, {**spec["base"], **point})
        preset_name = direct.get("preset", "paper")
        if overrides:
            from .config import preset

            with_overrides(preset(preset_name) if isinstance(preset_name, str) else SMOKE, **overrides)
            direct["overrides"] = overrides
        plans.append((point, direct))
    out_dir = Path(spec["output"])
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for point, parameters in tqdm(plans, desc="sweep", unit="point", disable=not progress):
        target = out_dir / f"{point_name(point)}.ipynb"
        if not target.exists():
            execute(notebook, target, parameters)
        rows.append({**{k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in point.items()}, **glued_values(target)})
        _write_summary(out_dir, rows)
    return out_dir / "summary.csv"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cfmimo.sweep", description="Run a notebook over a parameter grid.")
    parser.add_argument("grid_file", nargs="?", help="YAML or JSON grid file")
    parser.add_argument("--notebook", help="notebook to execute")
    parser.add_argument("--out", help="output folder")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="fixed parameter")
    parser.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2", help="swept parameter")
    parser.add_argument("--no-progress", action="store_true")
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
        spec = load_spec(args.grid_file, notebook=args.notebook, output=args.out, base=base, grid=grid)
        summary = run_sweep(spec, progress=not args.no_progress)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"summary: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
