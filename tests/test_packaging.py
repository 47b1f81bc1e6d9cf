"""pyproject.toml and environment.yml must list the same dependencies (every extra included
except ``bench``, the peers that benchmarks/bench_peers.py times: PennyLane and jax are large
and no user of the book needs them)."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
NOT_IN_ENVIRONMENT = {"bench"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower()


def _normalise(requirements):
    return {_name(r): r.replace(" ", "") for r in requirements}


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for name, group in project["optional-dependencies"].items() if name not in NOT_IN_ENVIRONMENT for r in group]
    wanted = _normalise(project["dependencies"] + extras)
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = _normalise(r for r in pip_section if not r.startswith("-e"))
    assert listed == wanted
    assert "python=3.11" in env["dependencies"]
    assert project["requires-python"] == ">=3.11"


def test_bench_extra_stays_out_of_the_environment():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env_text = (ROOT / "environment.yml").read_text()
    assert "bench" in project["optional-dependencies"]
    for requirement in project["optional-dependencies"]["bench"]:
        assert _name(requirement) not in _normalise(
            r for d in yaml.safe_load(env_text)["dependencies"] if isinstance(d, dict) for r in d["pip"]
        )
