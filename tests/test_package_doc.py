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


ROOT = PACKAGE.parent


def test_readme_intro_and_api_page_name_every_module():
    """The README's layout table, the book's "What is where" and the API page match the modules."""
    modules = sorted(p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout") :]
    intro = (ROOT / "book" / "intro.md").read_text(encoding="utf-8")
    where = intro[intro.index("## What is where") :]
    api = (ROOT / "book" / "api.md").read_text(encoding="utf-8")
    assert [m for m in modules if f"`{m}`" not in layout] == [], "README layout table lacks these modules"
    assert [m for m in modules if f"<cfmimo.{m}>`" not in where] == [], "book/intro.md 'What is where' lacks these modules"
    assert [m for m in modules if f".. automodule:: cfmimo.{m}\n" not in api] == [], "book/api.md lacks these modules"
