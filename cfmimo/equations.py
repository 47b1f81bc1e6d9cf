"""The equation index: every numbered item of the paper and the code that implements it.

Every public function or class of the package that implements (or checks) a numbered item
of the paper cites it in a numpydoc ``References`` section whose entry is one paragraph of
exactly this form::

    References
    ----------
    Narottama & Duong (2022), Eq. (17); Eq. (25); Table II.

Items are separated by ``"; "``; each is one of ``Eq. (N)``, ``Lemma N``, ``Algorithm 1``,
``Table II``, ``Fig. N`` or ``footnote N`` (:data:`PAPER_ITEMS` lists them all). This module
reads those sections (:func:`collect_references`), reads which items the book's errata page
corrects (:func:`errata_rows`, from the first column of its table) and writes one Markdown
page, a table with a row per item (:func:`render_index`)::

    python -m cfmimo.equations --errata book/errata.md --output book/equations.md

``--check`` writes nothing and exits with status 1 when the page is stale. ``make book``
regenerates the page before building; ``tests/test_equations.py`` fails when the committed
page differs from the generated one, and when an item has neither a function nor an
errata row (:func:`missing_items`).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import pkgutil
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .notebooks import atomic_write_text
from .tables import markdown_table

__all__ = [
    "CITATION",
    "PAPER_ITEMS",
    "Reference",
    "ErrataRow",
    "parse_references",
    "collect_references",
    "errata_rows",
    "missing_items",
    "render_index",
]

CITATION = "Narottama & Duong (2022), "
"""How every ``References`` entry begins."""

PAPER_ITEMS: dict[str, str] = {
    "Eq. (1)": r"channel coefficient $h_{m,k}^{[j]}$: multipath sum of Rayleigh gains and steering terms",
    "Eq. (2)": r"steering vector $a(\phi_n)$ and the antenna index set $\mathcal Z$",
    "Eq. (3)": "rate of a user served by one transmitter, with inter-transmitter interference",
    "Eq. (4)": r"achievable rate $R_k$ of user $k$ served by the APs $\mathcal A_k$",
    "Eq. (5)": r"sum rate $R_{sum}$",
    "Eq. (6)": "max-min problem over assignment and precoding, with the precoder norm constraint",
    "Eq. (7)": "max-min problem over the assignment, maximum-ratio precoding",
    "Eq. (8)": r"reward $Q_{assign} = -\min_k R_k$",
    "Eq. (9)": r"assignment policy $\pi_{assign}$: $\hat{\mathbf H} \to \gamma$",
    "Eq. (10)": r"assignment matrix $\gamma \in \{0,1\}^{N_{AP} \times N_{user}}$",
    "Eq. (11)": r"training loss $L_{assign} = \lVert Q_{assign} - \Phi_{assign}\rVert^2$",
    "Eq. (12)": r"ideal performance $\Phi_{assign}$ from eigenvalues",
    "Eq. (13)": r"cloud QNN $U^{cloud} = U_{connect} U_{encode} \lvert 0\rangle$",
    "Eq. (14)": r"encoding $U_{encode}$: $R_Z$ rotations after a Hadamard per AP",
    "Eq. (15)": r"connection $U_{connect}$: CZ between neurons, CX between layers, $R_y$ weights",
    "Eq. (16)": "bounds of the gradient norm (Section III-C)",
    "Eq. (17)": "parameter-shift gradient",
    "Eq. (18)": r"normalized loss $\hat L_{assign}$",
    "Eq. (19)": "Lemma 2: bounds of the gradient norm",
    "Eq. (20)": "gradient norm as a sum over weights",
    "Eq. (21)": r"upper bound $N_{layer} N_{neuron}$",
    "Eq. (22)": "expected gradient norm, first-layer lower bound",
    "Eq. (23)": r"cost function $f^{cloud}$ as a trace",
    "Eq. (24)": r"derivative $D_l$ of $f^{cloud}$",
    "Eq. (25)": r"derivative $W_l$ of a weight gate by a parameter shift",
    "Eq. (26)": "one-qubit cost function",
    "Eq. (27)": "its derivative",
    "Eq. (28)": "expected squared derivative, one qubit",
    "Eq. (29)": "the integrand A",
    "Eq. (30)": "the integral evaluated",
    "Eq. (31)": "the lower bound",
    "Lemma 1": "qubits required by the connection and encoding operations",
    "Lemma 2": "lower and upper bounds of the gradient norm",
    "Algorithm 1": "transmitter-user assignment: training by gradient descent, then deployment",
    "Table II": "simulation and training parameters",
    "Fig. 1": "assignment as a many-to-one bipartite graph",
    "Fig. 2": "QNN-based optimisation in the cloud",
    "Fig. 3": "sum rate against SNR",
    "Fig. 4": "training loss",
    "footnote 1": "max-min for fairness",
    "footnote 2": r"rate $-r_{penalty}$ of a user without an AP",
    "footnote 3": "quantum computations on IBM Qiskit",
    "footnote 4": "ideal performance under imperfect CSI",
    "footnote 5": r"decoding example $\hat o_1 = 2$",
    "footnote 6": "a handful of network elements; large networks left to future work",
}
"""Every numbered item of the paper, in the paper's order, with a short description."""

_ITEM = re.compile(r"Eq\. \((\d+)\)|Lemma \d+|Algorithm \d+|Table [IVX]+|Fig\. \d+|footnote \d+")
_HEADER = re.compile(r"^References\n-{10,}\n", re.MULTILINE)


@dataclass(frozen=True)
class Reference:
    """One documented object and the paper items its ``References`` section cites.

    Attributes
    ----------
    target : str
        Dotted path, e.g. ``"cfmimo.rates.user_rates"``.
    role : str
        Sphinx role of the object: ``"func"``, ``"class"`` or ``"meth"``.
    items : tuple of str
        Cited items, as in :data:`PAPER_ITEMS`, in the docstring's order.
    """

    target: str
    role: str
    items: tuple[str, ...]

    def link(self) -> str:
        """The MyST role linking to the object on the API page, shown without ``cfmimo.``."""
        shown = self.target.removeprefix("cfmimo.")
        return f"{{py:{self.role}}}`{shown} <{self.target}>`"


@dataclass(frozen=True)
class ErrataRow:
    """A row of the errata table: its first cell and the paper items that cell names."""

    title: str
    items: tuple[str, ...]


def parse_references(doc: str | None, where: str = "docstring") -> tuple[str, ...]:
    """The paper items cited by the ``References`` section of a docstring.

    Parameters
    ----------
    doc : str or None
        A docstring (cleaned, as ``inspect.getdoc`` returns it).
    where : str
        Name used in error messages.

    Returns
    -------
    tuple of str
        The items in order; empty when there is no ``References`` section.

    Raises
    ------
    ValueError
        If the section's entry is not ``Narottama & Duong (2022), <item>; <item>.`` with
        every item one of :data:`PAPER_ITEMS`.
    """
    if not doc:
        return ()
    match = _HEADER.search(doc)
    if match is None:
        return ()
    paragraph = doc[match.end():].split("\n\n", 1)[0]
    entry = " ".join(line.strip() for line in paragraph.splitlines())
    if not entry.startswith(CITATION) or not entry.endswith("."):
        raise ValueError(
            f"{where}: the References entry must read {CITATION!r} followed by items separated by '; ' "
            f"and a final '.', got {entry!r}"
        )
    items = tuple(entry[len(CITATION):-1].split("; "))
    unknown = [item for item in items if item not in PAPER_ITEMS]
    if unknown:
        raise ValueError(
            f"{where}: unknown paper item(s) {unknown} in the References entry; allowed: Eq. (1)-(31) "
            "written one by one as 'Eq. (N)', 'Lemma 1', 'Lemma 2', 'Algorithm 1', 'Table II', "
            "'Fig. 1'-'Fig. 4', 'footnote 1'-'footnote 6'"
        )
    if len(set(items)) != len(items):
        raise ValueError(f"{where}: a paper item is cited twice in {entry!r}")
    return items


def _public_names(module) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name in vars(module) if not name.startswith("_")]
    return list(names)


def collect_references(package: str = "cfmimo") -> list[Reference]:
    """Every public function, class and method of ``package`` whose docstring cites the paper.

    The modules are the package's public submodules (names not starting with ``_``); the
    objects are those a module exports (its ``__all__``, else its public names) and defines
    itself (re-exports are found in their own module), plus the public methods those
    classes define.

    Returns
    -------
    list of Reference
        Sorted by target.
    """
    root = importlib.import_module(package)
    found = {}
    for info in pkgutil.iter_modules(root.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        for name in _public_names(module):
            obj = getattr(module, name, None)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)) or obj.__module__ != module.__name__:
                continue
            target = f"{module.__name__}.{name}"
            role = "class" if inspect.isclass(obj) else "func"
            items = parse_references(inspect.getdoc(obj), target)
            if items:
                found[target] = Reference(target, role, items)
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_") or not inspect.isfunction(member):
                        continue
                    items = parse_references(inspect.getdoc(member), f"{target}.{attr}")
                    if items:
                        found[f"{target}.{attr}"] = Reference(f"{target}.{attr}", "meth", items)
    return [found[key] for key in sorted(found)]


_EQ_GROUP = re.compile(r"Eq\.\s*((?:\(\d+\)(?:\s*(?:-|–|,|and)\s*)?)+)")
_OTHER = re.compile(r"\b(Lemma \d+|Algorithm \d+|Table [IVX]+|Fig\. \d+|[Ff]ootnote \d+)")


def _items_in(title: str) -> tuple[str, ...]:
    """The paper items a title names: ``Eq. (13)-(15)`` gives three, ``Eq. (16), (19)`` two."""
    items = []
    for match in _EQ_GROUP.finditer(title):
        tokens = re.findall(r"\((\d+)\)|(-|–)", match.group(1))
        numbers, dash = [], False
        for number, sep in tokens:
            if sep:
                dash = True
                continue
            n = int(number)
            if dash and numbers:
                numbers.extend(range(numbers[-1] + 1, n + 1))
            else:
                numbers.append(n)
            dash = False
        items.extend(f"Eq. ({n})" for n in numbers)
    for match in _OTHER.finditer(title):
        text = match.group(1)
        items.append(text[0].lower() + text[1:] if text.lower().startswith("footnote") else text)
    known = [item for item in items if item in PAPER_ITEMS]
    return tuple(dict.fromkeys(known))


def errata_rows(markdown: str) -> list[ErrataRow]:
    """The rows of the errata page's table and the paper items each row's first cell names.

    Parameters
    ----------
    markdown : str
        Text of the errata page: a ``list-table`` whose rows start with ``* - `` and whose
        first cell names the equations (``Eq. (13)-(15)``, ``Eq. (16), (19), (31)``), lemmas,
        ``Algorithm 1``, ``Table II``, figures or footnotes the row corrects.

    Returns
    -------
    list of ErrataRow
        In the page's order, the header row left out.
    """
    rows = []
    for line in markdown.splitlines():
        if line.startswith("* - "):
            title = line[4:].strip()
            rows.append(ErrataRow(title, _items_in(title)))
    return rows[1:]


def missing_items(references: list[Reference], errata: list[ErrataRow]) -> list[str]:
    """Items of :data:`PAPER_ITEMS` that no docstring cites and no errata row names."""
    covered = {item for ref in references for item in ref.items} | {item for row in errata for item in row.items}
    return [item for item in PAPER_ITEMS if item not in covered]


def _cell(text: str) -> str:
    """``text`` for a Markdown table cell; a ``|`` (write ``\\lvert``/``\\lVert`` in maths) would split the row."""
    if "|" in text:
        raise ValueError(f"table cell text must not contain '|': {text!r}")
    return text


def render_index(references: list[Reference], errata: list[ErrataRow], errata_page: str = "errata.md") -> str:
    """The Markdown page: one table row per item of :data:`PAPER_ITEMS`.

    Parameters
    ----------
    references : list of Reference
        From :func:`collect_references`.
    errata : list of ErrataRow
        From :func:`errata_rows`.
    errata_page : str
        Link target of the errata rows, relative to the written page.

    Returns
    -------
    str
        The page, ending in a newline.
    """
    lines = [
        "(equations)=",
        "# Where is Eq. N?",
        "",
        "Every numbered item of the paper (equations, lemmas, Algorithm 1, Table II, the figures",
        "and the footnotes), the functions that implement or check it, and the row of the",
        f"[errata]({errata_page}) that corrects it, where the paper is wrong. The page is generated",
        "from the `References` sections of the docstrings by `python -m cfmimo.equations` (run by",
        "`make book`); do not edit it by hand. `tests/test_equations.py` fails when it is stale and",
        "when an item has neither a function nor an errata row.",
        "",
    ]
    rows = []
    for item, what in PAPER_ITEMS.items():
        code = ", ".join(ref.link() for ref in references if item in ref.items) or "—"
        fixes = "; ".join(f"[{_cell(row.title)}]({errata_page})" for row in errata if item in row.items)
        rows.append([item, _cell(what), code, fixes])
    lines.append(markdown_table(["Paper", "What it is", "Implemented or checked by", "Errata"], rows))
    return "\n".join(lines) + "\n"


def _relative(target: Path, page: Path) -> str:
    """``target`` relative to the folder of ``page``, with forward slashes."""
    return Path(os.path.relpath(target.resolve(), page.resolve().parent)).as_posix()



def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cfmimo.equations", description=__doc__.splitlines()[0])
    parser.add_argument("--errata", type=Path, required=True, help="the book's errata page (Markdown)")
    parser.add_argument("--output", type=Path, required=True, help="the page to write")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when --output is stale")
    args = parser.parse_args(argv)
    errata = errata_rows(args.errata.read_text(encoding="utf-8"))
    references = collect_references()
    text = render_index(references, errata, _relative(args.errata, args.output))
    missing = missing_items(references, errata)
    if missing:
        print(f"warning: no function and no errata row for {', '.join(missing)}", file=sys.stderr)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python -m cfmimo.equations --errata {args.errata} --output {args.output}",
                  file=sys.stderr)
            return 1
        return 0
    atomic_write_text(args.output, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
