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
    table = scaling.markdown_share_table(rows, "exhaustive").splitlines()
    assert len(table) == 2 + len(rows) and "share of exhaustive (95% CI)" in table[0]
    for line, r in zip(table[2:], rows):
        assert line == (f"| {r['policy']} | {r['mu_d']:g} | {r['min_rate']:.3f} | {r['share']:.3f} ± {r['share_ci']:.3f} "
                        f"| {100 * r['served']:.1f}% | {r['distinct']} |")
    with pytest.raises(ValueError, match="reference"):
        scaling.share_table(cfg, policies, "greedy", n_trials=5)


def test_reference_policy_switches_to_local_search_when_exhaustive_is_too_big():
    assert scaling.reference_policy(SMOKE) == "exhaustive"
    assert scaling.reference_policy(with_overrides(SMOKE, n_ap=16, n_user=8)) == "greedy + local search"


def test_markdown_size_table_marks_classical_rows_and_file_times():
    base = {"n_ap": 4, "n_user": 3, "n_trials": 50, "share": 0.91234, "share_ci": 0.0456, "reference": "exhaustive",
            "served": 0.987, "distinct": 12, "seconds_per_1000": 1.2345}
    rows = [dict(base, policy="QNN", qubits=4, parameters=36, train_seconds=12.34, from_file=True),
            dict(base, policy="greedy", qubits=0, parameters=0, train_seconds=0.0, from_file=False)]
    lines = scaling.markdown_size_table(rows).splitlines()
    assert len(lines) == 4 and lines[1] == "|" + "---|" * 10
    qnn = [c.strip() for c in lines[2].strip("|").split(" | ")]
    greedy = [c.strip() for c in lines[3].strip("|").split(" | ")]
    assert qnn[:6] == ["4 x 3 (50 ch.)", "QNN", "0.912 ± 0.046", "exhaustive", "98.7%", "12"]
    assert qnn[6:] == ["4", "36", "12.3 (file)", "1.23"]
    assert greedy[6:9] == ["-", "-", "0.0"]


def test_size_summary_and_reading_follow_the_rows():
    rng = np.random.default_rng(5)
    names = ["QNN", "QNN, top-10 re-ranked", "twin", "twin, top-10 re-ranked", "greedy", "greedy + local search"]
    rows = []
    for size in ((4, 3), (16, 8)):
        for name in names:
            rows.append({"n_ap": size[0], "n_user": size[1], "policy": name, "share": float(rng.uniform(0.5, 1.0)),
                         "share_ci": float(rng.uniform(0.0, 0.05)), "served": float(rng.uniform(0.9, 1.0)),
                         "k": 10, "reference": "greedy + local search", "qubits": 5 if name.startswith("QNN") else 0})
    at = {r["policy"]: r for r in rows if r["n_ap"] == 16}
    s = scaling.size_summary(rows, 16, 8)
    assert s["qnn"] == round(at["QNN"]["share"], 3) and s["qnn_top"] == round(at["QNN, top-10 re-ranked"]["share"], 3)
    assert s["gls"] == round(at["greedy + local search"]["share"], 3) and "bloch" not in s  # absent policies are left out
    assert s["served"] == round(100 * min(at["QNN"]["served"], at["QNN, top-10 re-ranked"]["served"]), 1)
    assert s["qnn_vs_greedy"] == (at["QNN"]["share"] >= at["greedy"]["share"])
    assert s["qnn_beats_twin"] == (at["QNN"]["share"] > at["twin"]["share"])
    assert (s["k"], s["qubits"], s["ref"]) == (10, 5, "greedy + local search")
    text = scaling.size_reading(rows, 16, 8)
    gap = at["QNN"]["share"] - at["twin"]["share"]
    assert text.endswith(f"{abs(gap):.3f} {'above' if gap > 0 else 'below'} its classical twin")
    assert text.startswith("the pure QNN is at least level" if s["qnn_vs_greedy"] else "the pure QNN stays below")
