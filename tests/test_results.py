import numpy as np
import pytest

from cfmimo import baselines, channel, config, rates, results


@pytest.fixture(scope="module")
def study():
    cfg = config.with_overrides(config.SMOKE, n_trials=40, snr_db=(0.0, 20.0), distance_means=(0.3, 0.7))
    policies = results.classical_policies(cfg.system.interference_factor, cfg.system.penalty, rng=0)
    return cfg, results.run_study(cfg, policies, snr_independent=("strongest AP", "random"))


def test_shapes_and_oracle_bound(study):
    cfg, res = study
    assert res.policies[0] == "oracle"
    assert res.policies[1:] == tuple(results.classical_policies(0.1, 10.0))
    assert res.user_rates.shape == (1 + len(res.policies[1:]), 2, 2, 40, 3)
    oracle = res.min_rate[res.index("oracle")]
    assert np.all(res.min_rate <= oracle + 1e-12)
    assert np.all(res.optimal[res.index("exhaustive")])


def test_rates_match_direct_computation(study):
    cfg, res = study
    seed = np.random.SeedSequence(cfg.seed, spawn_key=(1, 0))  # distance 1, chunk 0 (40 trials: one chunk)
    H, H_hat = channel.sample_channels(cfg.system, 40, np.random.default_rng(seed), distance_mean=0.7)
    a = baselines.greedy(H_hat, 100.0, 0.1, 10.0)
    want = rates.user_rates(H, H_hat, a, 100.0, 0.1, penalty=0.0)
    np.testing.assert_allclose(res.user_rates[res.index("greedy"), 1, 1], want, rtol=1e-12)


def test_physics_sum_rate_grows_with_snr_and_falls_with_distance(study):
    _, res = study
    mean_sum = res.sum_rate[res.index("exhaustive")].mean(axis=-1)  # (distance, snr)
    assert np.all(np.diff(mean_sum, axis=1) > 0)
    assert np.all(mean_sum[0] > mean_sum[1])


def test_summary_rows(study):
    _, res = study
    rows = results.summary_rows(res, 0, 1)
    by = {r["policy"]: r for r in rows}
    assert by["exhaustive"]["fraction_of_optimum"] == pytest.approx(1.0)
    assert by["exhaustive"]["share_optimal"] == 1.0
    assert by["random"]["share_unserved"] > 0


def test_bad_policies():
    cfg = config.SMOKE
    with pytest.raises(ValueError, match="must include 'exhaustive'"):
        results.run_study(cfg, {"x": lambda H, r: None})
    pol = results.classical_policies(0.1, 10.0)
    with pytest.raises(ValueError, match="unknown policies"):
        results.run_study(cfg, pol, snr_independent=("qnn",))
    pol["bad"] = lambda H_hat, rho: np.zeros((3, 4), dtype=int)
    with pytest.raises(ValueError, match="policy 'bad' returned shape"):
        results.run_study(cfg, pol)


def test_learned_policies_on_smoke_preset():
    cfg = config.SMOKE
    learned = results.learned_policies(cfg, k=3)
    small, large = learned.perceptron_names
    assert learned.sizes[small] < learned.sizes[large]
    assert learned.n_training_channels == cfg.training.n_data * cfg.training.n_epoch
    assert any("paper" in name and "QNN" in name for name in learned.policies)
    hybrids = [name for name, p in learned.policies.items() if p.hybrid]
    assert hybrids and all("top-3" in name for name in hybrids)
    assert all(learned.policies[name].rate_evaluations(4, 3) == 3 for name in hybrids)
    H, H_hat = channel.sample_channels(cfg.system, 5, rng=0)
    for name, policy in learned.policies.items():
        a = policy(H_hat, 1.0)
        assert a.shape == (5, 4) and a.min() >= 0 and a.max() <= 2, name
        if name != "paper QNN":  # every decoder but the paper's floor decoding covers
            assert rates.serves_every_user(a, 3).all(), name
    # a re-ranked policy is never worse on the estimate than its pure decoder
    for name in hybrids:
        pure = learned.policies[name.split(", top-")[0]](H_hat, 10.0)
        mixed = learned.policies[name](H_hat, 10.0)
        mu = cfg.system.interference_factor
        assert np.all(rates.min_rate(H_hat, H_hat, mixed, 10.0, mu) >= rates.min_rate(H_hat, H_hat, pure, 10.0, mu) - 1e-12)


def test_grid_point_picks_and_explains():
    assert results.grid_point(10.0, (0.0, 10.0, 20.0), "table_snr_db", 5.0) == (10.0, "")
    assert results.grid_point(None, (0.0, 10.0, 20.0), "table_snr_db", 10.0) == (10.0, "")
    point, note = results.grid_point(None, (0.0, 15.0, 30.0), "table_snr_db", 10.0)
    assert point == 15.0 and "nearest" in note and "table_snr_db" in note
    point, note = results.grid_point(4.0, (0.0, 15.0, 30.0), "table_snr_db", 10.0)
    assert point == 0.0 and "not on the grid" in note
    with pytest.raises(ValueError, match="empty"):
        results.grid_point(None, (), "x", 1.0)


def test_tables_with_rate_evaluations_and_fractions(study):
    cfg, res = study
    pol = results.classical_policies(0.1, 10.0)
    counts = results.rate_evaluation_counts(pol, 4, 3)
    assert counts["exhaustive"] == 81 and counts["greedy + local search"] is None
    rows = results.summary_rows(res, 0, 1)
    table = results.summary_markdown(rows, {}, counts)
    lines = table.splitlines()
    assert lines[0].endswith("rate evaluations |") and len(lines) == 2 + len(res.policies)
    assert any(line.startswith("| exhaustive |") and line.endswith(" 81 |") for line in lines)
    assert any(line.startswith("| greedy + local search |") and line.endswith(" varies |") for line in lines)
    frac = results.fraction_table(res, ["greedy", "not a policy", "exhaustive"], 1).splitlines()
    assert len(frac) == 4 and frac[-1].startswith("| exhaustive | 100.0% | 100.0% |")
