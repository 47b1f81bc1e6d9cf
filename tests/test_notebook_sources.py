"""Each notebook's source as text: notebooks/NN_x.md (MyST Markdown, jupytext) beside the
executed notebooks/NN_x.ipynb, the two in sync."""

from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FORMATS = "ipynb,md:myst"
FIX = "make notebook-sources  (jupytext --to md:myst notebooks/NN_x.ipynb; after editing the .md instead: make notebook-inputs)"

# Cell metadata that changes what a cell is or how the book, papermill or nbval treat it.
KEPT_METADATA = ("tags", "jupyter", "editable", "slideshow")


def _cells(notebook):
    # Trailing newlines and empty tag lists do not survive Markdown (papermill ends its
    # injected cell with a newline; the notebooks carry "tags": [] on untagged cells).
    return [
        (cell.cell_type, cell.source.rstrip("\n"), {k: cell.metadata[k] for k in KEPT_METADATA if cell.metadata.get(k, []) != []})
        for cell in notebook.cells
    ]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 7


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_is_paired_with_its_markdown_source(ipynb):
    md = ipynb.with_suffix(".md")
    assert md.is_file(), f"{md.relative_to(ROOT)} is missing: run {FIX}"
    notebook = jupytext.read(ipynb)
    assert notebook.metadata.get("jupytext", {}).get("formats") == FORMATS, (
        f"{ipynb.relative_to(ROOT)} is not paired with its .md: run make notebook-sources"
    )
    text = md.read_text(encoding="utf-8")
    header = yaml.safe_load(text.split("---\n", 2)[1])
    assert header["jupytext"]["formats"] == FORMATS
    assert header["jupytext"]["text_representation"]["format_name"] == "myst"


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=lambda p: p.stem)
def test_markdown_source_and_notebook_have_the_same_cells(ipynb):
    md = ipynb.with_suffix(".md")
    if not md.is_file():
        pytest.fail(f"{md.relative_to(ROOT)} is missing: run {FIX}")
    text_cells = _cells(jupytext.read(md))
    stored_cells = _cells(jupytext.read(ipynb))
    for i, (from_text, stored) in enumerate(zip(text_cells, stored_cells)):
        assert from_text == stored, f"{md.name} and {ipynb.name} differ at cell {i}: run {FIX}"
    assert len(text_cells) == len(stored_cells), f"{md.name} and {ipynb.name} differ in cell count: run {FIX}"


def test_the_book_and_nbval_ignore_the_markdown_sources():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert "notebooks/[0-9][0-9]_*.md" in config["exclude_patterns"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))" in makefile
