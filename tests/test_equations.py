"""The equation index (book/equations.md): generated from the docstrings, complete, linked."""

import importlib
import re
from pathlib import Path

import pytest

from cfmimo import equations

ROOT = Path(__file__).resolve().parents[1]
ERRATA = ROOT / "book" / "errata.md"
PAGE = ROOT / "book" / "equations.md"
API = ROOT / "book" / "api.md"
REGENERATE = "python -m cfmimo.equations --errata book/errata.md --output book/equations.md"


@pytest.fixture(scope="module")
def references():
    return equations.collect_references()


@pytest.fixture(scope="module")
def errata():
    return equations.errata_rows(ERRATA.read_text(encoding="utf-8"))


def test_committed_page_is_the_generated_one(references, errata):
    generated = equations.render_index(references, errata)
    assert PAGE.read_text(encoding="utf-8") == generated, f"book/equations.md is stale: run {REGENERATE}"


def test_every_paper_item_has_a_function_or_an_errata_row(references, errata):
    missing = equations.missing_items(references, errata)
    assert not missing, (
        f"no function cites {', '.join(missing)} in a References section and no row of book/errata.md names "
        "it: add 'Narottama & Duong (2022), <item>.' to the docstring of the function that implements it"
    )


def test_paper_items_are_the_papers():
    items = list(equations.PAPER_ITEMS)
    assert items[:31] == [f"Eq. ({n})" for n in range(1, 32)]
    assert {"Lemma 1", "Lemma 2", "Algorithm 1", "Table II"} <= set(items)
    assert [i for i in items if i.startswith("Fig.")] == [f"Fig. {n}" for n in range(1, 5)]
    assert [i for i in items if i.startswith("footnote")] == [f"footnote {n}" for n in range(1, 7)]


def test_parse_references_reads_the_entry():
    doc = "Summary.\n\nReferences\n----------\nNarottama & Duong (2022), Eq. (17); Eq. (25);\nTable II.\n\nExamples\n--------\nx"
    assert equations.parse_references(doc) == ("Eq. (17)", "Eq. (25)", "Table II")
    assert equations.parse_references("Summary.\n\nParameters\n----------\nx : int") == ()
    assert equations.parse_references(None) == ()


@pytest.mark.parametrize(
    "entry",
    [
        "Eq. (17).",  # no citation
        "Narottama & Duong (2022), Eq. (17)",  # no final period
        "Narottama & Duong (2022), Eq. (13)-(15).",  # a range
        "Narottama & Duong (2022), Eq. (32).",  # not in the paper
        "Narottama & Duong (2022), Eq. (17), Eq. (18).",  # wrong separator
        "Narottama & Duong (2022), Eq. (4); Eq. (4).",  # twice
        "[1] Narottama & Duong (2022), Eq. (4).",  # a citation label
    ],
)
def test_parse_references_rejects_malformed_entries(entry):
    with pytest.raises(ValueError, match="f_name"):
        equations.parse_references(f"Summary.\n\nReferences\n----------\n{entry}\n", "f_name")


def test_errata_titles_name_every_item_of_a_range():
    page = "\n".join(
        [
            "* - Equation / line",
            "  - The paper says",
            "* - Eq. (13)-(15), Sec. III-A (literal circuit)",
            "* - Eq. (28)-(30) and (31) (one-qubit case)",
            "* - Lemma 2 lower bound, Eq. (16), (19), (31)",
            "* - Footnote 5 and $x$",
            "* - Table II vs App. B",
            "* - Sec. IV (distances)",
        ]
    )
    rows = equations.errata_rows(page)
    assert [row.items for row in rows] == [
        ("Eq. (13)", "Eq. (14)", "Eq. (15)"),
        ("Eq. (28)", "Eq. (29)", "Eq. (30)", "Eq. (31)"),
        ("Eq. (16)", "Eq. (19)", "Eq. (31)", "Lemma 2"),
        ("footnote 5",),
        ("Table II",),
        (),
    ]
    assert rows[0].title == "Eq. (13)-(15), Sec. III-A (literal circuit)"


def test_index_lists_a_cited_function_and_its_errata_row():
    refs = [
        equations.Reference("cfmimo.rates.loss", "func", ("Eq. (11)",)),
        equations.Reference("cfmimo.qnn.Variant", "class", ("Eq. (11)", "Eq. (13)")),
    ]
    rows = [equations.ErrataRow("Eq. (13) (the circuit)", ("Eq. (13)",))]
    page = equations.render_index(refs, rows, "errata.md").splitlines()
    eq11 = next(line for line in page if line.startswith("| Eq. (11) |"))
    eq13 = next(line for line in page if line.startswith("| Eq. (13) |"))
    eq12 = next(line for line in page if line.startswith("| Eq. (12) |"))
    assert "{py:func}`rates.loss <cfmimo.rates.loss>`, {py:class}`qnn.Variant <cfmimo.qnn.Variant>`" in eq11
    assert eq13.endswith("| [Eq. (13) (the circuit)](errata.md) |") and "rates.loss" not in eq13
    assert "| — |" in eq12
    assert sum(line.startswith("| ") for line in page) == len(equations.PAPER_ITEMS) + 1  # + header


def test_a_pipe_in_a_cell_is_refused():
    with pytest.raises(ValueError, match="must not contain"):
        equations.render_index([], [equations.ErrataRow("Eq. (1) $|x|$", ("Eq. (1)",))])


def _documented_on_api_page() -> dict[str, set[str] | None]:
    """Module -> names autodoc documents on book/api.md (None: every name of ``__all__``)."""
    documented: dict[str, set[str] | None] = {}
    text = API.read_text(encoding="utf-8")
    for block in re.split(r"(?=\.\. automodule:: )", text)[1:]:
        module = block.split()[2]
        members = re.search(r":members:(.*)", block)
        excluded = re.search(r":exclude-members:(.*)", block)
        names = {n.strip() for n in members.group(1).split(",") if n.strip()} if members else set()
        if members and not names:
            names = set(importlib.import_module(module).__all__)
        if excluded:
            names -= {n.strip() for n in excluded.group(1).split(",")}
        documented[module] = names
    return documented


def test_every_indexed_object_is_on_the_api_page(references):
    documented = _documented_on_api_page()
    absent = []
    for ref in references:
        parts = ref.target.split(".")
        module, name = ".".join(parts[:2]), parts[2]
        if name not in documented.get(module, set()):
            absent.append(ref.target)
    assert not absent, f"book/api.md does not document {absent}: their links in book/equations.md cannot resolve"


def test_cli_check_and_write(tmp_path, capsys):
    errata = tmp_path / "errata.md"
    errata.write_text("* - Equation / line\n* - Eq. (24) (x)\n", encoding="utf-8")
    page = tmp_path / "equations.md"
    assert equations.main(["--errata", str(errata), "--output", str(page), "--check"]) == 1
    assert "stale" in capsys.readouterr().err and not page.exists()
    assert equations.main(["--errata", str(errata), "--output", str(page)]) == 0
    assert "[Eq. (24) (x)](errata.md)" in page.read_text(encoding="utf-8")
    assert equations.main(["--errata", str(errata), "--output", str(page), "--check"]) == 0
