"""Execute the project's notebooks with papermill, atomically and reproducibly.

``python -m cfmimo.notebooks [--preset paper] [--cache-dir _cache] notebooks/*.ipynb``
executes each notebook in place (the way ``make book`` refreshes the committed outputs). Each
result is written to a temporary file beside the target (``.NAME.XXXX.partial.ipynb``) and
moved over it only when execution succeeded, so an interrupted run never leaves a
half-written notebook; ``remove_stale_partials`` deletes what a killed run left.

Re-executing an unchanged notebook gives an identical file, apart from the outputs of
cells tagged ``nbval-ignore-output`` (wall-clock timings): papermill's timestamps and
durations are removed and the id of its injected-parameters cell, random otherwise, is
pinned to ``injected-parameters`` (``strip_volatile_metadata``).

Kernels are started over IPC (Unix sockets, ``IPCKernelManager``) instead of TCP:
nothing listens on a network port, and ipykernel does not print its "Kernel is running
over TCP without encryption" warning.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import default

from .config import preset

__all__ = [
    "execute_notebook",
    "strip_volatile_metadata",
    "atomic_write_text",
    "glue_values",
    "remove_stale_partials",
    "IPCKernelManager",
    "INJECTED_CELL_ID",
    "PARTIAL_SUFFIX",
]

INJECTED_CELL_ID = "injected-parameters"
"""The fixed id given to papermill's injected-parameters cell (papermill draws a random one)."""

PARTIAL_SUFFIX = ".partial"
"""Suffix of the temporary files a run writes beside its targets."""


class IPCKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels talk over IPC (Unix domain sockets), not TCP.

    Each manager gets its own socket prefix ``<tmp>/cfmimo-kernel-<uuid>-ipc`` (the
    sockets are ``<prefix>-<n>``), so that kernels started at the same time never pick
    the same socket; jupyter_client removes the socket files when the kernel stops.
    """

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    @default("ip")
    def _default_ip(self) -> str:
        return os.path.join(tempfile.gettempdir(), f"cfmimo-kernel-{uuid.uuid4().hex}-ipc")


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def glue_values(values, *, prefix: str = "", display: bool = False) -> None:
    """Glue many values at once (myst-nb ``glue``), for the book's ``{glue:text}`` roles.

    Replaces a run of ``glue(key, value, display=False)`` lines or a loop of them in a
    notebook cell: ``glue_values({"n_ap": 4, "n_user": 3})``.

    Parameters
    ----------
    values : mapping of str to object
        Glue key (without ``prefix``) -> value, glued in the mapping's order. A value is
        glued as it is (round it first where the prose shows a rounded number).
    prefix : str
        Prepended to every key, e.g. ``"sc_4x3_"``.
    display : bool
        Also display each value in the cell's output (myst-nb's ``display``).

    Raises
    ------
    TypeError
        If ``values`` is not a mapping or a key is not a string.
    ValueError
        If a key (with its prefix) is empty or holds whitespace or ``:``, which the
        ``{glue:text}`key:format``` role cannot name.
    """
    # myst_nb is deferred: it comes with the book's tools (the dev extra), not with the
    # library, and only notebook cells call this function.
    from myst_nb import glue

    if not isinstance(values, Mapping):
        raise TypeError(f"values must be a mapping of glue keys to values, got {type(values).__name__}")
    for key in values:
        if not isinstance(key, str):
            raise TypeError(f"values: glue keys must be strings, got {key!r}")
        full = prefix + key
        if not full or any(ch.isspace() or ch == ":" for ch in full):
            raise ValueError(f"values: glue key {full!r} must be non-empty, without whitespace or ':'")
    for key, value in values.items():
        glue(prefix + key, value, display=display)


def remove_stale_partials(folder) -> list[Path]:
    """Delete the temporary ``.*.partial`` and ``.*.partial.ipynb`` files a killed run left in ``folder``.

    Run it only when no other run writes into ``folder``. Returns the removed paths.
    """
    removed = []
    folder = Path(folder)
    stale = set(folder.glob(f".*{PARTIAL_SUFFIX}")) | set(folder.glob(f".*{PARTIAL_SUFFIX}.ipynb"))
    for path in sorted(stale):
        if path.is_file():
            path.unlink()
            removed.append(path)
    return removed


def _lines(text: str) -> list[str]:
    """nbformat's multi-line form: one string per line, each but the last ending in a newline."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _merge_streams(outputs: list) -> list:
    """Join consecutive ``stream`` outputs of the same name and re-split them by line.

    How a kernel's stdout is cut into messages depends on timing, so two runs of the same
    cell can store the same text in different pieces.
    """
    merged = []
    for out in outputs:
        if out.get("output_type") != "stream":
            merged.append(out)
            continue
        text = out.get("text", "")
        text = "".join(text) if isinstance(text, list) else text
        if merged and merged[-1].get("output_type") == "stream" and merged[-1].get("name") == out.get("name"):
            merged[-1]["text"] += text
        else:
            merged.append({**out, "text": text})
    for out in merged:
        if out.get("output_type") == "stream":
            out["text"] = _lines(out["text"])
    return merged


def strip_volatile_metadata(nb: dict) -> dict:
    """Drop what changes between two runs of an unchanged notebook.

    Papermill's timestamps and durations (notebook and cell level) go, the random id
    papermill gives its injected-parameters cell becomes ``INJECTED_CELL_ID``, and
    consecutive stream outputs are joined and split by line (how stdout is cut into
    messages depends on timing). The
    injected cell is also tagged ``remove-cell`` so that the book does not show the
    parameters twice.
    """
    paper = nb.get("metadata", {}).get("papermill")
    if isinstance(paper, dict):
        for key in ("start_time", "end_time", "duration", "input_path", "output_path"):
            paper.pop(key, None)
    for cell in nb.get("cells", []):
        if "outputs" in cell:
            cell["outputs"] = _merge_streams(cell["outputs"])
        meta = cell.get("metadata", {})
        meta.pop("execution", None)
        tags = meta.get("tags", [])
        if "injected-parameters" in tags:
            cell["id"] = INJECTED_CELL_ID
            if "remove-cell" not in tags:
                tags.append("remove-cell")  # the book shows the parameters cell once, not twice
        pm = meta.get("papermill")
        if isinstance(pm, dict):
            for key in ("start_time", "end_time", "duration", "exception", "status"):
                pm.pop(key, None)
            if not pm:
                meta.pop("papermill")
    return nb


def execute_notebook(src, dst=None, parameters: dict | None = None, *, progress: bool = False, keep_failed=None) -> Path:
    """Execute ``src`` with papermill and write it to ``dst`` (default: in place) atomically.

    Parameters
    ----------
    src, dst : path-like
        Input notebook and output path. The kernel's working folder is ``src``'s folder.
    parameters : dict, optional
        Values for the cell tagged ``parameters``.
    progress : bool
        Show papermill's per-cell progress bar.
    keep_failed : path-like, optional
        When execution fails, the partly executed notebook (with the error in the failing
        cell's output) is written there before the error is raised; otherwise it is deleted.

    Returns
    -------
    pathlib.Path
        The written notebook.
    """
    # papermill is deferred: it comes with the book's tools (the dev extra), not with the
    # library, and only running a notebook needs it.
    import papermill

    src = Path(src).resolve()
    dst = src if dst is None else Path(dst).resolve()
    if not src.is_file():
        raise ValueError(f"notebook {src} does not exist")
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=PARTIAL_SUFFIX + ".ipynb", dir=dst.parent)
    os.close(fd)
    try:
        try:
            papermill.execute_notebook(
                str(src),
                tmp,
                parameters=parameters or {},
                kernel_name="python3",
                cwd=str(src.parent),
                progress_bar=progress,
                kernel_manager_class=IPCKernelManager,
            )
        except Exception:
            if keep_failed is not None and os.path.getsize(tmp) > 0:
                nb = strip_volatile_metadata(json.loads(Path(tmp).read_text(encoding="utf-8")))
                atomic_write_text(keep_failed, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
            raise
        nb = strip_volatile_metadata(json.loads(Path(tmp).read_text(encoding="utf-8")))
        atomic_write_text(dst, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dst


def _parameter_names(path) -> set[str]:
    """Names assigned in the notebook's cell tagged ``parameters``."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            tree = ast.parse("".join(cell["source"]))
            return {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}
    return set()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cfmimo.notebooks", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--preset", default="paper", help="value of the notebooks' `preset` parameter")
    parser.add_argument("--cache-dir", default=None,
                        help="value of the `cache_dir` parameter (cache folder of training runs, relative to "
                        "the notebook) of the notebooks that have one; default: their own")
    args = parser.parse_args(argv)
    preset(args.preset)  # fail early on an unknown preset name
    for folder in sorted({path.resolve().parent for path in args.notebooks}):
        remove_stale_partials(folder)
    for i, path in enumerate(args.notebooks, 1):
        print(f"[{i}/{len(args.notebooks)}] executing {path} (preset={args.preset})", flush=True)
        parameters = {"preset": args.preset}
        if args.cache_dir is not None and "cache_dir" in _parameter_names(path):
            parameters["cache_dir"] = args.cache_dir
        execute_notebook(path, parameters=parameters)
    return 0


if __name__ == "__main__":
    sys.exit(main())
