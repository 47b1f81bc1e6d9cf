"""pyproject.toml and environment.yml must list the same dependencies (every extra included)."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower()


def _normalise(requirements):
    return {_name(r): r.replace(" ", "") for r in requirements}


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    wanted = _normalise(project["dependencies"] + extras)
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = _normalise(r for r in pip_section if not r.startswith("-e"))
    assert listed == wanted
    assert "python=3.11" in env["dependencies"]
    assert project["requires-python"] == ">=3.11"
