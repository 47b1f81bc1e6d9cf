import itertools

import numpy as np
import pytest

from cfmimo import baselines, channel, rates
from cfmimo.config import PAPER, SystemConfig


@pytest.fixture(scope="module")
def channels():
    return channel.sample_channels(PAPER.system, 40, rng=11)


def test_all_assignments():
    cands = baselines.all_assignments(4, 3)
    assert cands.shape == (81, 4)
    assert len({tuple(c) for c in cands}) == 81
    with pytest.raises(ValueError, match="n_ap = 0"):
        baselines.all_assignments(0, 3)


def test_exhaustive_equals_plain_loop(channels):
    _, H_hat = channels
    np.testing.assert_array_equal(baselines.exhaustive(H_hat, 10.0, 0.1), baselines.exhaustive_loop(H_hat, 10.0, 0.1))


def test_exhaustive_chunked_equals_unchunked(channels, monkeypatch):
    _, H_hat = channels
    full = baselines.exhaustive(H_hat, 3.0, 0.1)
    monkeypatch.setattr(baselines, "_CHUNK_ELEMENTS", 40 * 4 * 3 * 7)  # chunks of 7 candidates
    np.testing.assert_array_equal(baselines.exhaustive(H_hat, 3.0, 0.1), full)


def test_exhaustive_is_optimal_on_estimate_and_beats_heuristics(channels):
    H, H_hat = channels
    best = rates.min_rate(H_hat, H_hat, baselines.exhaustive(H_hat, 10.0, 0.1), 10.0, 0.1)
    cands = baselines.all_assignments(4, 3)
    every = rates.min_rate(H_hat[:, None], H_hat[:, None], cands, 10.0, 0.1)
    np.testing.assert_allclose(best, every.max(axis=1))
    for policy in (baselines.strongest_ap(H_hat), baselines.greedy(H_hat, 10.0, 0.1), baselines.random(H_hat, 0)):
        assert np.all(rates.min_rate(H_hat, H_hat, policy, 10.0, 0.1) <= best + 1e-12)


def test_exhaustive_keeps_batch_shape():
    H, H_hat = channel.sample_channels(SystemConfig(n_ap=3, n_user=2), 6, rng=0)
    out = baselines.exhaustive(H_hat.reshape(2, 3, 3, 2, 2), 1.0, 0.1)
    assert out.shape == (2, 3, 3)


def test_strongest_ap_picks_largest_norm(channels):
    _, H_hat = channels
    a = baselines.strongest_ap(H_hat)
    for i, m in itertools.product(range(5), range(4)):
        norms = np.linalg.norm(H_hat[i, m], axis=-1)
        assert a[i, m] == np.argmax(norms)


def test_greedy_serves_everyone_when_enough_aps(channels):
    _, H_hat = channels
    a = baselines.greedy(H_hat, 10.0, 0.1)
    assert a.shape == (40, 4)
    assert all(set(row) == {0, 1, 2} for row in a)


def test_greedy_first_steps_by_hand():
    # user k only reachable well by AP k; AP 3 strongest to user 0
    H = np.zeros((1, 4, 3, 1), dtype=complex)
    H[0, :, :, 0] = np.array([[3, 0.1, 0.1], [0.1, 2, 0.1], [0.1, 0.1, 1], [5, 0.2, 0.3]])
    a = baselines.greedy(H, 1.0, 0.0)
    # step 1: all unserved -> user 0 gets its strongest AP (AP 3); step 2: user 1 -> AP 1;
    # step 3: user 2 -> AP 2; step 4: worst user is user 2 (|1|^2) -> remaining AP 0
    np.testing.assert_array_equal(a, [[2, 1, 2, 0]])


def test_random_reproducible_and_in_range(channels):
    _, H_hat = channels
    a = baselines.random(H_hat, 3)
    np.testing.assert_array_equal(a, baselines.random_assignment(H_hat, np.random.default_rng(3)))
    assert a.min() >= 0 and a.max() <= 2


def test_bad_input(channels):
    _, H_hat = channels
    with pytest.raises(ValueError, match="H_hat contains NaN"):
        baselines.exhaustive(np.full_like(H_hat, np.nan), 1.0, 0.1)
    with pytest.raises(ValueError, match="rho = -1"):
        baselines.greedy(H_hat, -1.0, 0.1)


def test_candidate_min_rates_table(channels):
    H, H_hat = channels
    table = baselines.candidate_min_rates(H_hat, 10.0, 0.1)
    cands = baselines.all_assignments(4, 3)
    np.testing.assert_allclose(table, rates.min_rate(H_hat[:, None], H_hat[:, None], cands, 10.0, 0.1), rtol=1e-12)
    np.testing.assert_array_equal(cands[table.argmax(axis=1)], baselines.exhaustive(H_hat, 10.0, 0.1))
    oracle = baselines.candidate_min_rates(H_hat, 10.0, 0.1, H=H)
    np.testing.assert_allclose(oracle, rates.min_rate(H[:, None], H_hat[:, None], cands, 10.0, 0.1), rtol=1e-12)
    with pytest.raises(ValueError, match="rho must be one scalar"):
        baselines.candidate_min_rates(H_hat, np.array([1.0, 2.0]), 0.1)
