"""Tests of cfmimo.decoded_loss: Eq. (18) with both penalty signs, the floor-decoded and finite-shot losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from cfmimo import decoded_loss, engine, qnn, stats
from cfmimo.baselines import all_assignments, exhaustive
from cfmimo.channel import sample_channels
from cfmimo.config import SMOKE
from cfmimo.rates import ideal_capacity, normalized_loss, user_rates


ZERO = np.array([[1, 0], [0, 0]], dtype=complex)


@pytest.fixture(scope="module")
def channels():
    return sample_channels(SMOKE.system, 8, rng=11)



# ----------------------------------------------------- Eq. (18) and footnote 2


def test_eq18_both_signs_against_rates_loop(channels):
    _, H_hat = channels
    cand = all_assignments(4, 3)
    for unserved_rate in (10.0, -10.0):
        losses, unserved = decoded_loss.eq18_losses(H_hat, 10.0, 0.1, unserved_rate)
        cap = ideal_capacity(H_hat, 10.0)
        for i in (0, 7):
            for j in (0, 13, 40, 80):
                rates = user_rates(H_hat[i], H_hat[i], cand[j], 10.0, 0.1, 0.0)
                served = np.isin(np.arange(3), cand[j])
                rates = np.where(served, rates, unserved_rate)
                assert losses[i, j] == pytest.approx((1 - rates.min() / cap[i]) ** 2)
    assert unserved.sum() == 45  # 81 minus the 36 surjections of 4 APs onto 3 users


def test_eq18_in_range_only_with_literal_sign(channels):
    _, H_hat = channels
    lit, unserved = decoded_loss.eq18_losses(H_hat, 10.0, 0.1, +10.0)
    intended, _ = decoded_loss.eq18_losses(H_hat, 10.0, 0.1, -10.0)
    assert lit.min() >= 0 and lit.max() <= 1  # min rate in [0, 2C]
    assert np.all(intended[:, unserved] > 1)  # (1 + 10 / C)^2
    assert np.all(intended[:, ~unserved] <= 1)


def test_max_min_optimum_both_signs(channels):
    _, H_hat = channels
    best, leaves = decoded_loss.max_min_optimum(H_hat, 10.0, 0.1, -10.0)
    np.testing.assert_array_equal(best, exhaustive(H_hat, 10.0, 0.1, 10.0))
    assert not leaves.any()
    _, leaves_lit = decoded_loss.max_min_optimum(H_hat, 10.0, 0.1, +10.0)
    assert leaves_lit.any()



# ----------------------------------------------------- Algorithm 1, finite shots


@pytest.mark.parametrize("p", [0.0, 0.1, 0.33, 0.5, 0.97, 1.0])
def test_bin_probabilities_against_enumeration(p):
    shots, n_user = 30, 3
    prob, dprob = decoded_loss.bin_probabilities(np.array([p]), shots, n_user)
    counts = np.arange(shots + 1)
    decoded = np.minimum(np.floor(counts / shots * n_user), n_user - 1).astype(int)
    pmf = binom.pmf(counts, shots, p)
    want = np.array([pmf[decoded == k].sum() for k in range(n_user)])
    np.testing.assert_allclose(prob[0], want, atol=1e-12)
    if 0.0 < p < 1.0:
        h = 1e-6
        fd = (decoded_loss.bin_probabilities(np.array([p + h]), shots, n_user)[0] - decoded_loss.bin_probabilities(np.array([p - h]), shots, n_user)[0]) / (2 * h)
        np.testing.assert_allclose(dprob[0], fd[0], atol=1e-5)


@pytest.fixture(scope="module")
def shot_setup(channels):
    _, H_hat = channels
    theta = np.random.default_rng(6).uniform(0, 2 * np.pi, (len(H_hat), qnn.n_weights(SMOKE, "paper")))
    return H_hat, theta


def test_finite_shot_gradient_matches_finite_difference(shot_setup):
    H_hat, theta = shot_setup
    _, grad = decoded_loss.finite_shot_loss(SMOKE, H_hat, theta, 10.0, 0.1, 10.0, shots=1024)
    h = 1e-6
    for j in (3, 5, 7):
        step = np.zeros(theta.shape[1])
        step[j] = h
        lp, _ = decoded_loss.finite_shot_loss(SMOKE, H_hat, theta + step, 10.0, 0.1, 10.0, shots=1024)
        lm, _ = decoded_loss.finite_shot_loss(SMOKE, H_hat, theta - step, 10.0, 0.1, 10.0, shots=1024)
        np.testing.assert_allclose(grad[:, j], (lp - lm) / (2 * h), atol=1e-6)
    # the first layer's weights 0..N-2 never reach the last-layer readout (book's reading)
    np.testing.assert_array_equal(grad[:, :3], 0.0)


def test_finite_shot_expected_loss_against_sampled_shots(shot_setup):
    H_hat, theta = shot_setup
    shots = 64
    expected, _ = decoded_loss.finite_shot_loss(SMOKE, H_hat[:2], theta[:2], 10.0, 0.1, 10.0, shots=shots)
    losses, _ = decoded_loss.eq18_losses(H_hat[:2], 10.0, 0.1, -10.0)
    probs = engine.exact_probabilities(SMOKE, "paper", qnn.encode_angles(H_hat[:2]), theta[:2])
    rng = np.random.default_rng(9)
    n_rep = 4000
    for i in range(2):
        counts = rng.multinomial(shots, probs[i], size=n_rep)  # (n_rep, 16) joint bitstring counts
        ones = counts @ ((np.arange(16)[:, None] >> np.arange(4)) & 1)  # (n_rep, 4)
        a = np.minimum(np.floor(ones / shots * 3), 2).astype(int)
        sampled = losses[i, qnn.assignment_index(a, 3)]
        mean, hw = sampled.mean(), 4 * sampled.std(ddof=1) / math.sqrt(n_rep)
        assert abs(mean - expected[i]) < hw + 1e-12


def test_per_weight_squared_gradient_estimate_with_uncertainty(channels):
    """E(dE[L]/dtheta_j)^2 at 1024 shots: two independent samples agree within their CIs."""
    H_a, _ = channels
    _, H_b = sample_channels(SMOKE.system, 8, rng=12)
    ests = []
    for H_hat, seed in ((np.concatenate([H_a] * 25), 1), (np.concatenate([H_b] * 25), 2)):
        theta = np.random.default_rng(seed).uniform(0, 2 * np.pi, (len(H_hat), 8))
        _, grad = decoded_loss.finite_shot_loss(SMOKE, H_hat, theta, 10.0, 0.1, 10.0, shots=1024)
        ests.append(stats.mc_estimate(grad**2))
    a, b = ests
    assert a.n_samples == 200 and np.all(a.half_width[3:] > 0)
    assert np.all(np.abs(a.mean - b.mean) <= 2 * (a.half_width + b.half_width) + 1e-12)


def test_finite_shot_loss_rejects_bad_theta(shot_setup):
    H_hat, theta = shot_setup
    with pytest.raises(ValueError, match="theta"):
        decoded_loss.finite_shot_loss(SMOKE, H_hat, theta[:, :3], 10.0, 0.1, 10.0)


# ------------------------------------------------------- Eq. (18), footnote 2


@pytest.fixture(scope="module")
def small_channels():
    return sample_channels(SMOKE.system, 6, rng=5)


def test_eq18_losses_match_rates_normalized_loss(small_channels):
    _, H_hat = small_channels
    losses, unserved = decoded_loss.eq18_losses(H_hat, 10.0, 0.1, -10.0)
    cand = all_assignments(4, 3)
    assert losses.shape == (6, 81)
    for i in (0, 5):
        for j in (0, 17, 40, 80):
            assert losses[i, j] == pytest.approx(normalized_loss(H_hat[i], H_hat[i], cand[j], 10.0, 0.1, 10.0))
    # 81 - (surjections of 4 APs onto 3 users = 36) = 45 leave a user unserved (by hand)
    assert unserved.sum() == 45
    assert np.all(losses[:, unserved] > 1)
    with pytest.raises(ValueError, match="rho"):
        decoded_loss.eq18_losses(H_hat, 0.0, 0.1, -10.0)


def test_max_min_optimum_against_plain_loop(small_channels):
    _, H_hat = small_channels
    best, leaves = decoded_loss.max_min_optimum(H_hat, 10.0, 0.1, -10.0)
    np.testing.assert_array_equal(best, exhaustive(H_hat, 10.0, 0.1, 10.0))
    assert not leaves.any()
    best_lit, leaves_lit = decoded_loss.max_min_optimum(H_hat, 10.0, 0.1, 10.0)
    # with +10 for an unserved user, serving only one user with all APs beats serving all
    # whenever every served rate exceeds the served rates of a covering assignment;
    # check against a plain loop over candidates
    for i in range(len(H_hat)):
        scores = []
        for a in all_assignments(4, 3):
            r = user_rates(H_hat[i], H_hat[i], a, 10.0, 0.1, 0.0)
            r = np.where(np.isin(np.arange(3), a), r, 10.0)
            scores.append(r.min())
        j = int(np.argmax(scores))
        np.testing.assert_array_equal(best_lit[i], all_assignments(4, 3)[j])
        assert leaves_lit[i] == (len(set(all_assignments(4, 3)[j])) < 3)


# ------------------------------------------------------------ circuits of qnn




def test_floor_loss_is_piecewise_constant(paper_cfg, small_channels):
    _, H_hat = small_channels
    theta = np.random.default_rng(4).uniform(0, 2 * np.pi, (len(H_hat), 8))
    g = decoded_loss.floor_loss_gradients(paper_cfg, "paper", H_hat, theta, 10.0, 0.1)
    assert np.all(g["central"] == 0)
    np.testing.assert_array_equal(g["eq17"], -g["shift_rule"])  # factor -sin^2(pi/2) = -1
    loss = decoded_loss.floor_loss(paper_cfg, "paper", H_hat, theta, 10.0, 0.1)
    assert loss.shape == (len(H_hat),) and np.all(loss >= 0)

