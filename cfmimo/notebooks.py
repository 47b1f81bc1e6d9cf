"""Execute the project's notebooks with papermill, atomically.

``python -m cfmimo.notebooks [--preset paper] notebooks/*.ipynb`` executes each
notebook in place (the way ``make book`` refreshes the committed outputs). Each
result is written to a temporary file beside the target and moved over it only when
execution succeeded, so an interrupted run never leaves a half-written notebook.
Papermill's wall-clock metadata is removed so that a re-run with the same seeds
changes only the cells whose output legitimately varies (tagged ``nbval-ignore-output``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

__all__ = ["execute_notebook", "strip_volatile_metadata", "atomic_write_text"]


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def strip_volatile_metadata(nb: dict) -> dict:
    """Drop papermill's timestamps and durations (notebook and cell level).

    Also tags papermill's injected-parameters cell ``remove-cell`` so that the book
    does not show the parameters twice.
    """
    paper = nb.get("metadata", {}).get("papermill")
    if isinstance(paper, dict):
        for key in ("start_time", "end_time", "duration", "input_path", "output_path"):
            paper.pop(key, None)
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {})
        meta.pop("execution", None)
        tags = meta.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")  # the book shows the parameters cell once, not twice
        pm = meta.get("papermill")
        if isinstance(pm, dict):
            for key in ("start_time", "end_time", "duration", "exception", "status"):
                pm.pop(key, None)
            if not pm:
                meta.pop("papermill")
    return nb


def execute_notebook(src, dst=None, parameters: dict | None = None, *, progress: bool = False) -> Path:
    """Execute ``src`` with papermill and write it to ``dst`` (default: in place) atomically.

    Parameters
    ----------
    src, dst : path-like
        Input notebook and output path. The kernel's working folder is ``src``'s folder.
    parameters : dict, optional
        Values for the cell tagged ``parameters``.
    progress : bool
        Show papermill's per-cell progress bar.

    Returns
    -------
    pathlib.Path
        The written notebook.
    """
    import papermill

    src = Path(src).resolve()
    dst = src if dst is None else Path(dst).resolve()
    if not src.is_file():
        raise ValueError(f"notebook {src} does not exist")
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.stem}.", suffix=".ipynb", dir=dst.parent)
    os.close(fd)
    try:
        papermill.execute_notebook(
            str(src),
            tmp,
            parameters=parameters or {},
            kernel_name="python3",
            cwd=str(src.parent),
            progress_bar=progress,
        )
        nb = strip_volatile_metadata(json.loads(Path(tmp).read_text(encoding="utf-8")))
        atomic_write_text(dst, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cfmimo.notebooks", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--preset", default="paper", help="value of the notebooks' `preset` parameter")
    args = parser.parse_args(argv)
    from .config import preset

    preset(args.preset)  # fail early on an unknown preset name
    for i, path in enumerate(args.notebooks, 1):
        print(f"[{i}/{len(args.notebooks)}] executing {path} (preset={args.preset})", flush=True)
        execute_notebook(path, parameters={"preset": args.preset})
    return 0


if __name__ == "__main__":
    sys.exit(main())
