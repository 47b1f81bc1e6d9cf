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
    # local search starts from greedy and never loses: optimal wherever greedy is
    greedy, local = res.optimal[res.index("greedy")], res.optimal[res.index("greedy + local search")]
    assert np.all(local >= greedy) and local.mean() > greedy.mean()
    assert not np.all(res.optimal[res.index("random")])


def test_optimal_flags_agree_with_a_brute_force_search():
    cfg = config.with_overrides(config.SMOKE, n_trials=8, snr_db=(0.0, 20.0), distance_means=(0.5,))
    pol = results.classical_policies(cfg.system.interference_factor, cfg.system.penalty, rng=0)
    pol["brute force"] = lambda H_hat, rho: baselines.exhaustive_loop(H_hat, rho, 0.1, 10.0)
    res = results.run_study(cfg, pol)
    # an independent max-min search (a Python loop) is flagged optimal in every trial
    assert np.all(res.optimal[res.index("brute force")])
    assert not np.all(res.optimal[res.index("strongest AP")])


def test_rates_match_direct_computation(tmp_path):
    cfg = config.with_overrides(config.SMOKE, n_trials=15, snr_db=(0.0, 20.0), distance_means=(0.3, 0.7))
    mu, penalty = cfg.system.interference_factor, cfg.system.penalty

    def recorded_greedy(H_hat, rho):  # saves the channels the study shows it, in call order
        np.save(tmp_path / f"{len(list(tmp_path.iterdir())):03d}.npy", H_hat)
        return baselines.greedy(H_hat, rho, mu, penalty)

    pol = {"exhaustive": lambda H_hat, rho: baselines.exhaustive(H_hat, rho, mu, penalty), "greedy": recorded_greedy}
    res = results.run_study(cfg, pol, snr_independent=())
    seen = [np.load(f) for f in sorted(tmp_path.iterdir())]
    assert len(seen) == 4  # (distance, SNR) in order; the chunk draws the channels once per distance
    np.testing.assert_array_equal(seen[0], seen[1])
    assert not np.array_equal(seen[0], seen[2])
    g = res.index("greedy")
    for i in range(2):
        for j, snr in enumerate(cfg.system.snr_db):
            H_hat, rho = seen[2 * i + j], config.db_to_linear(snr)
            a = baselines.greedy(H_hat, rho, mu, penalty)
            best = rates.min_rate(H_hat, H_hat, baselines.exhaustive_loop(H_hat, rho, mu, penalty), rho, mu, penalty)
            mine = rates.min_rate(H_hat, H_hat, a, rho, mu, penalty)
            np.testing.assert_array_equal(res.optimal[g, i, j], mine >= best - 1e-12 * np.abs(best))
            served = rates.serves_every_user(a, cfg.system.n_user)
            np.testing.assert_array_equal(res.unserved[g, i, j], ~served)
            # physical rates: an unserved user gets exactly 0, a served one more
            got = res.user_rates[g, i, j]
            users = np.arange(cfg.system.n_user)
            has_ap = (a[:, :, None] == users).any(axis=1)
            assert np.all(got[~has_ap] == 0.0) and np.all(got[has_ap] > 0.0)
            # the same decision on the same channels scores the same, whichever policy made it
            same = np.all(a == baselines.exhaustive(H_hat, rho, mu, penalty), axis=1)
            assert same.any()
            np.testing.assert_array_equal(got[same], res.user_rates[res.index("exhaustive"), i, j][same])


def test_physics_sum_rate_grows_with_snr_and_falls_with_distance(study):
    _, res = study
    mean_sum = res.sum_rate[res.index("exhaustive")].mean(axis=-1)  # (distance, snr)
    assert np.all(np.diff(mean_sum, axis=1) > 0)
    assert np.all(mean_sum[0] > mean_sum[1])


def test_summary_rows(study):
    _, res = study
    rows = results.summary_rows(res, 0, 1)
    by = {r["policy"]: r for r in rows}
    assert list(by) == list(res.policies)
    ref = res.min_rate[res.index("exhaustive"), 0, 1].mean()
    for p, name in enumerate(res.policies):  # distance 0, SNR 1
        assert by[name]["min_rate"] == pytest.approx(res.min_rate[p, 0, 1].mean(), rel=1e-12)
        assert by[name]["fraction_of_optimum"] == pytest.approx(by[name]["min_rate"] / ref, rel=1e-12)
        assert by[name]["share_optimal"] == pytest.approx(res.optimal[p, 0, 1].mean())
    assert by["oracle"]["fraction_of_optimum"] >= 1.0 > by["random"]["fraction_of_optimum"]
    assert by["greedy + local search"]["share_optimal"] > by["random"]["share_optimal"]
    assert by["random"]["share_unserved"] > 0
    assert results.summary_rows(res, 1, 1)[1]["min_rate"] != by["exhaustive"]["min_rate"]  # another distance


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
    # each distance column shows the fraction of summary_rows at that distance
    greedy = [c.strip() for c in frac[2].strip("|").split(" | ")]
    assert greedy[0] == "greedy" and len(greedy) == 1 + len(res.distance_means)
    for i, cell in enumerate(greedy[1:]):
        row = results.summary_rows(res, i, 1)[res.index("greedy")]
        assert cell == f"{100 * row['fraction_of_optimum']:.1f}%"
    # without rate evaluations there is no such column
    plain = results.summary_markdown(rows, {"greedy": 7}).splitlines()
    assert plain[0].endswith("| user unserved |") and plain[1] == "|" + "---|" * 6
    assert any(line.startswith("| greedy | 7 |") for line in plain)
