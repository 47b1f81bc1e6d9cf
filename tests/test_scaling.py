"""Shares of a reference min-rate (cfmimo.scaling)."""

import numpy as np
import pytest

from cfmimo import baselines, scaling
from cfmimo.config import SMOKE, with_overrides


def test_ratio_ci_is_the_ratio_of_means_with_a_delta_method_interval():
    rng = np.random.default_rng(0)
    ref = rng.uniform(1, 2, 400)
    val = 0.8 * ref + rng.normal(0, 0.05, 400)
    r, ci = scaling.ratio_ci(val, ref)
    assert r == pytest.approx(val.mean() / ref.mean())
    # bootstrap of the same ratio agrees with the delta-method half-width within 30%
    idx = rng.integers(0, 400, (2000, 400))
    boot = val[idx].mean(axis=1) / ref[idx].mean(axis=1)
    assert ci == pytest.approx(1.96 * boot.std(), rel=0.3)
    with pytest.raises(ValueError, match="same length"):
        scaling.ratio_ci(val, ref[:-1])


def test_share_table_and_summary():
    cfg = with_overrides(SMOKE, n_ap=3, n_user=2)
    mu = cfg.system.interference_factor
    policies = {
        "exhaustive": lambda H_hat, rho: baselines.exhaustive(H_hat, rho, mu),
        "strongest AP": lambda H_hat, rho: baselines.strongest_ap(H_hat),
    }
    rows = scaling.share_table(cfg, policies, "exhaustive", n_trials=30, seed=1)
    assert len(rows) == 2 * len(cfg.distance_means)
    ex = [r for r in rows if r["policy"] == "exhaustive"]
    assert all(r["share"] == 1.0 and r["share_ci"] == 0.0 and r["served"] == 1.0 for r in ex)
    s = scaling.summary(rows, "strongest AP")
    assert s["low"] <= s["share"] <= s["high"] and s["share"] < 1.0
    assert "| strongest AP |" in scaling.markdown_share_table(rows, "exhaustive")
    with pytest.raises(ValueError, match="reference"):
        scaling.share_table(cfg, policies, "greedy", n_trials=5)


def test_reference_policy_switches_to_local_search_when_exhaustive_is_too_big():
    assert scaling.reference_policy(SMOKE) == "exhaustive"
    assert scaling.reference_policy(with_overrides(SMOKE, n_ap=16, n_user=8)) == "greedy + local search"
