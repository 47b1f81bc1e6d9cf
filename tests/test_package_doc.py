"""cfmimo/__init__.py introduces every module of the package in one line."""

import re
from pathlib import Path

import cfmimo

PACKAGE = Path(cfmimo.__file__).resolve().parent


def test_every_public_module_has_its_line_in_the_package_docstring():
    modules = sorted(p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_"))
    listed = re.findall(r"^\* :mod:`cfmimo\.(\w+)` - \S", cfmimo.__doc__, flags=re.MULTILINE)
    missing = [m for m in modules if m not in listed]
    assert not missing, f"add a line '* :mod:`cfmimo.<name>` - <what it holds>' for {missing} to cfmimo/__init__.py"
    assert sorted(set(listed)) == sorted(listed), "a module is listed twice"
    gone = [m for m in listed if m not in modules]
    assert not gone, f"cfmimo/__init__.py lists modules that do not exist: {gone}"
