"""Greedy + local search, the policy registry and the scorer."""

import itertools

import numpy as np
import pytest

from cfmimo import baselines, channel, evaluate, policies, rates, results
from cfmimo.config import PAPER, with_overrides


def _system(n_ap, n_user):
    return with_overrides(PAPER, n_ap=n_ap, n_user=n_user).system


def _neighbours(a, n_user):
    """Every single move and swap of one assignment (brute force)."""
    out = []
    for m, v in itertools.product(range(len(a)), range(n_user)):
        if v != a[m]:
            b = a.copy()
            b[m] = v
            out.append(b)
    for i, j in itertools.combinations(range(len(a)), 2):
        if a[i] != a[j]:
            b = a.copy()
            b[i], b[j] = a[j], a[i]
            out.append(b)
    return np.array(out)


@pytest.mark.parametrize("n_ap,n_user", [(3, 2), (4, 3), (5, 3)])
def test_local_search_ends_at_a_local_optimum_never_below_greedy(n_ap, n_user):
    _, H_hat = channel.sample_channels(_system(n_ap, n_user), 60, rng=n_ap + n_user, distance_mean=0.5)
    rho, mu = 10.0, 0.5
    g = baselines.greedy(H_hat, rho, mu)
    ls = baselines.greedy_local_search(H_hat, rho, mu)
    value = rates.min_rate(H_hat, H_hat, ls, rho, mu)
    assert np.all(value >= rates.min_rate(H_hat, H_hat, g, rho, mu) - 1e-12)
    for i in range(60):
        nb = _neighbours(ls[i], n_user)
        best_neighbour = rates.min_rate(H_hat[i], H_hat[i], nb, rho, mu).max()
        assert best_neighbour <= value[i] + 1e-9 * (1 + abs(value[i]))
    # and never above the optimum
    opt = rates.min_rate(H_hat, H_hat, baselines.exhaustive(H_hat, rho, mu), rho, mu)
    assert np.all(value <= opt + 1e-12)


def test_local_search_improves_on_greedy_and_often_finds_the_optimum():
    _, H_hat = channel.sample_channels(PAPER.system, 300, rng=21, distance_mean=0.5)
    rho, mu = 10.0, 0.5
    g = rates.min_rate(H_hat, H_hat, baselines.greedy(H_hat, rho, mu), rho, mu)
    ls = rates.min_rate(H_hat, H_hat, baselines.greedy_local_search(H_hat, rho, mu), rho, mu)
    opt = rates.min_rate(H_hat, H_hat, baselines.exhaustive(H_hat, rho, mu), rho, mu)
    assert np.mean(ls > g + 1e-9) > 0.1  # it does move
    assert np.mean(np.isclose(ls, opt)) > np.mean(np.isclose(g, opt))


def test_local_search_from_a_given_start_and_batch_shapes():
    _, H_hat = channel.sample_channels(PAPER.system, 12, rng=5)
    rho, mu = 10.0, 0.5
    start = np.tile(np.array([0, 1, 2, 2]), (12, 1))  # the same covering start for every channel
    ls = baselines.greedy_local_search(H_hat, rho, mu, start=start)
    assert np.all(rates.min_rate(H_hat, H_hat, ls, rho, mu) >= rates.min_rate(H_hat, H_hat, start, rho, mu))
    assert np.any(ls != start)
    batched = baselines.greedy_local_search(H_hat.reshape(3, 4, 4, 3, -1), rho, mu)
    np.testing.assert_array_equal(batched.reshape(12, 4), baselines.greedy_local_search(H_hat, rho, mu))
    per_channel_rho = np.full(12, rho)
    np.testing.assert_array_equal(
        baselines.greedy_local_search(H_hat, per_channel_rho, mu), baselines.greedy_local_search(H_hat, rho, mu)
    )
    assert baselines.greedy_local_search(H_hat, rho, mu, start=start, max_rounds=0).tolist() == start.tolist()
    with pytest.raises(ValueError, match="start"):
        baselines.greedy_local_search(H_hat, rho, mu, start=start[:3])
    with pytest.raises(ValueError, match="start"):
        baselines.greedy_local_search(H_hat, rho, mu, start=start + 3)
    with pytest.raises(ValueError, match="rho"):
        baselines.greedy_local_search(H_hat, np.ones(3), mu)


def test_local_search_at_16x8_runs_fast_and_beats_greedy():
    _, H_hat = channel.sample_channels(_system(16, 8), 100, rng=6, distance_mean=0.5)
    rho, mu = 10.0, 0.5
    g = rates.min_rate(H_hat, H_hat, baselines.greedy(H_hat, rho, mu), rho, mu)
    ls = rates.min_rate(H_hat, H_hat, baselines.greedy_local_search(H_hat, rho, mu), rho, mu)
    assert np.all(ls >= g - 1e-12) and ls.mean() > g.mean()


def test_one_registry_feeds_every_list_of_classical_policies():
    H, H_hat = channel.sample_channels(PAPER.system, 30, rng=1)
    pol = policies.classical_policies(0.5, 10.0, rng=0)
    assert list(pol) == [e.name for e in policies.CLASSICAL]
    assert "greedy + local search" in pol
    assert list(evaluate.baseline_assignments(H, H_hat, 10.0, 0.5, rng=0)) == ["oracle"] + list(pol)
    assert list(results.classical_policies(0.5, 10.0)) == list(pol)
    assert sorted(policies.snr_independent(pol)) == ["random", "strongest AP"]
    assert pol["exhaustive"].rate_evaluations(4, 3) == 81
    # exhaustive search drops out where it cannot run
    big = policies.classical_policies(0.5, 10.0, n_ap=16, n_user=8)
    assert "exhaustive" not in big and "greedy + local search" in big
    for name, p in pol.items():
        a = p(H_hat, 10.0)
        assert a.shape == (30, 4), name


def test_scorer_takes_the_penalty_from_the_caller():
    H, H_hat = channel.sample_channels(PAPER.system, 200, rng=2)
    rho, mu = 10.0, 0.5
    d = evaluate.baseline_assignments(H, H_hat, rho, mu, penalty=10.0, rng=0)
    # reported rates are physical (unserved = 0) whatever the penalty
    s10 = evaluate.score_policy("s", d["strongest AP"], H, H_hat, rho, mu, optimal=d["exhaustive"], penalty=10.0)
    s0 = evaluate.score_policy("s", d["strongest AP"], H, H_hat, rho, mu, optimal=d["exhaustive"], penalty=0.0)
    assert s10.min_rate == s0.min_rate and s10.share_unserved == s0.share_unserved
    g = rates.gain_matrix(H_hat, H_hat)
    best = rates.rates_from_gains(g, d["exhaustive"], rho, mu, 0.0).min(-1)
    _, optimal, _ = evaluate.decision_metrics(d["exhaustive"], rates.gain_matrix(H, H_hat), g, rho, mu, 0.0, best)
    assert optimal.all()
    # the penalty reaches the rate formula (validated there)
    with pytest.raises(ValueError, match="penalty"):
        evaluate.score_policy("s", d["greedy"], H, H_hat, rho, mu, optimal=d["exhaustive"], penalty=-1.0)


def test_distinct_decisions_counts_unique_rows():
    a = np.array([[0, 1, 2, 2], [0, 1, 2, 2], [2, 1, 0, 0]])
    assert policies.distinct_decisions(a) == 2
    assert policies.distinct_decisions(a.reshape(1, 3, 4)) == 2
    _, H_hat = channel.sample_channels(PAPER.system, 100, rng=3)
    assert policies.distinct_decisions(baselines.exhaustive(H_hat, 10.0, 0.5)) > 1
    with pytest.raises(ValueError, match="shape"):
        policies.distinct_decisions(3)


def test_move_min_rates_match_direct_computation():
    _, H_hat = channel.sample_channels(_system(5, 3), 20, rng=4)
    rho, mu = 10.0, 0.5
    a = baselines.greedy(H_hat, rho, mu)
    table = baselines.move_min_rates(H_hat, a, rho, mu)
    assert table.shape == (20, 5, 3)
    for m, v in itertools.product(range(5), range(3)):
        b = a.copy()
        b[:, m] = v
        np.testing.assert_allclose(table[:, m, v], rates.min_rate(H_hat, H_hat, b, rho, mu), rtol=1e-10)
    rhos = np.full(20, rho)
    np.testing.assert_allclose(baselines.move_min_rates(H_hat, a, rhos, mu), table)
    with pytest.raises(ValueError, match="a must"):
        baselines.move_min_rates(H_hat, a[:3], rho, mu)
