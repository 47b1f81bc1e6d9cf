"""The values printed in book/parameters.md are those of the code's paper preset."""

import math
import re
from pathlib import Path

import pytest

from cfmimo.config import PAPER

PAGE = (Path(__file__).resolve().parents[1] / "book" / "parameters.md").read_text()


def _rows():
    for line in PAGE.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"`[a-z_]+`", cells[1]):
            yield cells[0], cells[1].strip("`"), cells[2]


def _code_value(label, field):
    if label.startswith("evaluation seed"):
        return PAPER.seed
    for obj in (PAPER.system, PAPER.training, PAPER):
        if hasattr(obj, field):
            return getattr(obj, field)
    raise AssertionError(f"no field {field}")


def _matches(text, value):
    if value is None:
        return text == "None"
    if isinstance(value, tuple):
        return [float(v) for v in text.split(",")] == list(value)
    return math.isclose(float(text), float(value), rel_tol=1e-4)


ROWS = list(_rows())


def test_page_lists_every_field():
    listed = {field for _, field, _ in ROWS}
    expected = {f for f in vars(PAPER.system)} | {f for f in vars(PAPER.training)} | {"n_trials", "distance_means"}
    assert expected <= listed


@pytest.mark.parametrize(("label", "field", "text"), ROWS, ids=[r[1] + ":" + r[0][:12] for r in ROWS])
def test_value_on_page_equals_code(label, field, text):
    assert _matches(text, _code_value(label, field)), f"{field}: page says {text}"
