import numpy as np
import pytest

from cfmimo import baselines, channel, evaluate, rates
from cfmimo.config import PAPER


@pytest.fixture(scope="module")
def sample():
    return channel.sample_channels(PAPER.system, 200, rng=3)


def test_scores_match_direct_computation(sample):
    H, H_hat = sample
    decisions = evaluate.baseline_assignments(H, H_hat, 10.0, 0.1, rng=0)
    opt = decisions["exhaustive"]
    s = evaluate.score_policy("strongest", decisions["strongest AP"], H, H_hat, 10.0, 0.1, optimal=opt)
    r = rates.user_rates(H, H_hat, decisions["strongest AP"], 10.0, 0.1, penalty=0.0)
    assert s.min_rate == pytest.approx(r.min(axis=1).mean())
    assert s.sum_rate == pytest.approx(r.sum(axis=1).mean())
    unserved = [len(set(row)) < 3 for row in decisions["strongest AP"]]
    assert s.share_unserved == pytest.approx(np.mean(unserved))
    assert 0 <= s.share_optimal < 1


def test_share_optimal_counts_the_decisions_that_reach_a_brute_force_optimum(sample):
    H, H_hat = sample[0][:25], sample[1][:25]
    rho, mu = 10.0, 0.1
    decisions = evaluate.baseline_assignments(H, H_hat, rho, mu, rng=0)
    # brute force: the best min-rate on the estimate over every assignment, one by one
    every = baselines.all_assignments(4, 3)
    best = np.array([max(rates.min_rate(h, h, a, rho, mu) for a in every) for h in H_hat])
    for name, a in decisions.items():
        mine = rates.min_rate(H_hat, H_hat, a, rho, mu)
        assert np.all(mine <= best + 1e-12), name  # nobody beats the optimum on the estimate
        s = evaluate.score_policy(name, a, H, H_hat, rho, mu, optimal=decisions["exhaustive"])
        assert s.share_optimal == pytest.approx(np.mean(mine >= best - 1e-12 * np.abs(best))), name
    np.testing.assert_allclose(rates.min_rate(H_hat, H_hat, decisions["exhaustive"], rho, mu), best, rtol=1e-12)
    assert evaluate.score_policy("random", decisions["random"], H, H_hat, rho, mu, optimal=decisions["exhaustive"]).share_optimal < 1


def test_oracle_bounds_every_policy_in_every_trial(sample):
    H, H_hat = sample
    decisions = evaluate.baseline_assignments(H, H_hat, 10.0, 0.1, rng=0)
    oracle = rates.min_rate(H, H_hat, decisions["oracle"], 10.0, 0.1, penalty=0.0)
    for a in decisions.values():
        assert np.all(rates.min_rate(H, H_hat, a, 10.0, 0.1, penalty=0.0) <= oracle + 1e-12)
    # and the bound is not vacuous: the estimate-based optimum misses it in some trials
    exh = rates.min_rate(H, H_hat, decisions["exhaustive"], 10.0, 0.1, penalty=0.0)
    assert np.any(exh < oracle - 1e-9)


def test_markdown_table_has_one_row_per_policy(sample):
    H, H_hat = sample
    decisions = evaluate.baseline_assignments(H, H_hat, 10.0, 0.1, rng=0)
    scores = [evaluate.score_policy(k, v, H, H_hat, 10.0, 0.1) for k, v in decisions.items()]
    table = evaluate.markdown_table(scores)
    assert len(table.splitlines()) == 2 + len(decisions)
    assert "nan" not in table
    # one line per score, in order, showing its numbers (built by cfmimo.tables)
    for line, s in zip(table.splitlines()[2:], scores):
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        assert cells[0] == s.name
        assert cells[1] == f"{s.min_rate:.3f} ± {s.min_rate_ci:.3f}"
        assert cells[4] == f"{100 * s.share_unserved:.1f}%"
    assert table.splitlines()[1] == "|" + "---|" * 5
