"""cfmimo.notebooks.glue_values: many glue calls in one, keys checked before any is glued."""

import myst_nb
import pytest

from cfmimo.notebooks import glue_values


@pytest.fixture
def glued(monkeypatch):
    calls = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: calls.append((name, value, display)))
    return calls


def test_glues_every_value_in_order_with_its_prefix(glued):
    glue_values({"qnn": 0.91, "k": 3, "ref": "exhaustive"}, prefix="sc_4x3_")
    assert glued == [("sc_4x3_qnn", 0.91, False), ("sc_4x3_k", 3, False), ("sc_4x3_ref", "exhaustive", False)]


def test_display_is_passed_on(glued):
    glue_values({"n_ap": 4}, display=True)
    assert glued == [("n_ap", 4, True)]


@pytest.mark.parametrize("values", [[("n_ap", 4)], "n_ap"])
def test_a_non_mapping_is_refused(glued, values):
    with pytest.raises(TypeError, match="values"):
        glue_values(values)
    assert glued == []


@pytest.mark.parametrize("values, prefix", [({1: 4}, ""), ({"n ap": 4}, ""), ({"a:b": 1}, ""), ({"": 1}, "")])
def test_bad_keys_are_refused_before_anything_is_glued(glued, values, prefix):
    with pytest.raises((TypeError, ValueError), match="glue key"):
        glue_values({"fine": 0, **values}, prefix=prefix)
    assert glued == []
