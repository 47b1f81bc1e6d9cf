"""The house rules of the package's layout (issue 13), checked on the source with ``ast``:

* no package module imports another inside a function (imports sit at the top);
* a third-party import inside a function defers an OPTIONAL dependency (not one of
  pyproject's required ``dependencies``) and says so in a comment just above it;
* no module imports another module's private name (``from .x import _y``) or reaches
  for one through the module (``x._y``);
* no module is over :data:`MAX_LINES` lines unless :data:`LONG_MODULES` says why it is
  still one job.
"""

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cfmimo"
MODULES = sorted(PACKAGE.glob("*.py"))
MAX_LINES = 600

LONG_MODULES = {
    "engine": "one job, the exact simulator: its compiled form (blocks of fused gates, light "
    "cones) exists only for its kernels, and the two halves share private data layouts",
    "qnn": "one job, the registry of circuit variants: each variant's circuit, sizes, encoding, "
    "readout and decoder, and the module-level functions that dispatch to them",
}
"""Modules allowed over :data:`MAX_LINES` lines, with the reason they are one job."""


IMPORT_NAMES = {"pyyaml": "yaml"}
"""Distribution names whose import name differs."""


def _function_imports(tree):
    """``(function name, import node)`` for every import inside a function body."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    yield node.name, sub


def _is_package_import(node):
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] == "cfmimo"
    return any(a.name.split(".")[0] == "cfmimo" for a in node.names)


def _top_names(node):
    if isinstance(node, ast.ImportFrom):
        return {(node.module or "").split(".")[0]}
    return {a.name.split(".")[0] for a in node.names}


def _required_imports():
    """Import names of pyproject's required dependencies (``qiskit-aer`` -> ``qiskit_aer``)."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~\[; ]", d.strip(), maxsplit=1)[0].lower().replace("-", "_") for d in deps}
    return {IMPORT_NAMES.get(n, n) for n in names}


def _private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def function_imports_of_the_package(source):
    """Package imports inside functions: ``["f (line 3)", ...]``."""
    return [f"{fn} (line {node.lineno})" for fn, node in _function_imports(ast.parse(source)) if _is_package_import(node)]


def undeclared_deferrals(source, required):
    """Third-party imports inside functions that import a required dependency, or that no
    comment in the four lines above calls deferred."""
    lines = source.splitlines()
    bad = []
    for fn, node in _function_imports(ast.parse(source)):
        if _is_package_import(node):
            continue  # function_imports_of_the_package
        names = _top_names(node)
        above = " ".join(lines[max(0, node.lineno - 5) : node.lineno - 1]).lower()
        if names & required:
            bad.append(f"{fn} (line {node.lineno}) imports the required {sorted(names & required)}: import it at the top")
        elif "deferred" not in above:
            bad.append(f"{fn} (line {node.lineno}) defers {sorted(names)} without a comment saying which and why")
    return bad


def private_names_of_other_modules(source):
    """``from .x import _y`` and ``x._y`` for a package module ``x`` imported at the top."""
    tree = ast.parse(source)
    modules, found = set(), []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and _is_package_import(node):
            if node.module is None or node.module == "cfmimo":
                modules |= {a.asname or a.name for a in node.names}
            found += [f"{a.name} from {node.module} (line {node.lineno})" for a in node.names if _private(a.name)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            if _private(node.attr):
                found.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_no_package_import_inside_a_function(path):
    inside = function_imports_of_the_package(path.read_text(encoding="utf-8"))
    assert not inside, f"{path.name} imports package modules inside {inside}: import them at the top"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_a_deferred_import_is_an_optional_dependency_and_says_so(path):
    bad = undeclared_deferrals(path.read_text(encoding="utf-8"), _required_imports())
    assert not bad, f"{path.name}: {bad}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_no_private_name_of_another_module(path):
    found = private_names_of_other_modules(path.read_text(encoding="utf-8"))
    assert not found, f"{path.name} uses private names of other modules: {found}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_a_long_module_is_one_job(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    if path.stem in LONG_MODULES:
        assert n > MAX_LINES, f"{path.name} has {n} lines: take it off LONG_MODULES"
    else:
        assert n <= MAX_LINES, (
            f"{path.name} has {n} lines (> {MAX_LINES}): split it along a seam, or say in LONG_MODULES why it is one job"
        )


BREACHES = """\
from . import engine
from .qnn import _paper_dims, build_circuit
from cfmimo import train as t


def f():
    from . import scoring
    import numpy
    from papermill import execute_notebook
    # deferred: the optional cluster extra
    from dask_jobqueue import SLURMCluster
    return engine._run, t._check_method, engine.forward, build_circuit.__doc__
"""


def test_the_scans_find_each_kind_of_breach():
    assert function_imports_of_the_package(BREACHES) == ["f (line 7)"]
    bad = undeclared_deferrals(BREACHES, {"numpy", "qiskit"})
    assert len(bad) == 2 and "line 8" in bad[0] and "required" in bad[0]
    assert "line 9" in bad[1] and "papermill" in bad[1]
    assert private_names_of_other_modules(BREACHES) == [
        "_paper_dims from qnn (line 2)",
        "engine._run (line 12)",
        "t._check_method (line 12)",
    ]
    assert "numpy" in _required_imports() and "qiskit_aer" in _required_imports()
