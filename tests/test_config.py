import math
from dataclasses import FrozenInstanceError, replace

import pytest

from cfmimo import config


def test_presets_are_valid_and_frozen():
    for name in ("paper", "smoke"):
        p = config.preset(name)
        assert p.name == name
        with pytest.raises(FrozenInstanceError):
            p.system.n_ap = 5  # type: ignore[misc]


def test_paper_preset_matches_table_ii():
    s, t = config.PAPER.system, config.PAPER.training
    assert (s.n_ap, s.n_user, s.n_tx) == (4, 3, 2)
    assert s.interference_factor == 0.1 and s.distance_mean == 0.5 and s.penalty == 10.0
    assert t.step_size == 0.01 and t.n_epoch == 100 and t.shift == math.pi / 2
    assert s.n_assignments == 81
    assert config.PAPER.n_trials == 1000


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("n_ap", 0, r"n_ap = 0 is out of range; allowed: \[1, 16\]"),
        ("n_user", 2.5, "n_user must be an integer"),
        ("interference_factor", 1.5, r"interference_factor = 1.5 is out of range"),
        ("distance_mean", -0.1, "distance_mean"),
        ("csi_error", float("nan"), "csi_error = nan must be finite"),
        ("snr_db", (), "snr_db must be a non-empty"),
        ("snr_db", (0.0, float("inf")), r"snr_db\[1\]"),
        ("n_tx", True, "n_tx must be an integer"),
    ],
)
def test_system_validation_names_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        replace(config.PAPER.system, **{field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [("n_layer", 0), ("n_data", 0), ("step_size", 0.0), ("shift", -1.0), ("seed", -1), ("n_neuron", 0)],
)
def test_training_validation_names_field(field, value):
    with pytest.raises(ValueError, match=field):
        replace(config.PAPER.training, **{field: value})


def test_unknown_preset():
    with pytest.raises(ValueError, match="preset = 'nope' is unknown"):
        config.preset("nope")


def test_with_overrides_routes_fields_and_rejects_unknown():
    p = config.with_overrides(config.SMOKE, n_ap=3, n_layer=3, n_trials=10)
    assert (p.system.n_ap, p.training.n_layer, p.n_trials) == (3, 3, 10)
    with pytest.raises(ValueError, match="unknown parameter 'n_aps'"):
        config.with_overrides(config.SMOKE, n_aps=3)
    with pytest.raises(ValueError, match="n_ap = 99"):
        config.with_overrides(config.SMOKE, n_ap=99)


def test_db_to_linear():
    assert config.db_to_linear(10.0) == pytest.approx(10.0)
    assert config.PAPER.system.snr_linear[0] == 1.0
