"""Tests of cfmimo.claims: Eq. (18) under both penalty signs, footnote 5 in both indexings,
the one-qubit expression of Lemma 2, and the finite-shot decoded loss of Algorithm 1.

References: the rate functions of cfmimo.rates called one assignment at a time, hand
counts, quadrature, finite differences and sampled shots.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from cfmimo import bounds, claims, engine, qnn
from cfmimo.baselines import all_assignments, exhaustive
from cfmimo.channel import sample_channels
from cfmimo.config import SMOKE
from cfmimo.rates import ideal_capacity, loss, user_rates

ZERO = np.array([[1, 0], [0, 0]], dtype=complex)


@pytest.fixture(scope="module")
def channels():
    return sample_channels(SMOKE.system, 8, rng=11)


# ----------------------------------------------------- Eq. (18) and footnote 2


def test_eq18_both_signs_against_rates_loop(channels):
    _, H_hat = channels
    cand = all_assignments(4, 3)
    for unserved_rate in (10.0, -10.0):
        losses, unserved = claims.eq18_losses(H_hat, 10.0, 0.1, unserved_rate)
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
    lit, unserved = claims.eq18_losses(H_hat, 10.0, 0.1, +10.0)
    intended, _ = claims.eq18_losses(H_hat, 10.0, 0.1, -10.0)
    assert lit.min() >= 0 and lit.max() <= 1  # min rate in [0, 2C]
    assert np.all(intended[:, unserved] > 1)  # (1 + 10 / C)^2
    assert np.all(intended[:, ~unserved] <= 1)


def test_max_min_optimum_both_signs(channels):
    _, H_hat = channels
    best, leaves = claims.max_min_optimum(H_hat, 10.0, 0.1, -10.0)
    np.testing.assert_array_equal(best, exhaustive(H_hat, 10.0, 0.1, 10.0))
    assert not leaves.any()
    _, leaves_lit = claims.max_min_optimum(H_hat, 10.0, 0.1, +10.0)
    assert leaves_lit.any()


def test_constant_policy_table(channels):
    H, H_hat = channels
    rho_grid = np.array([1.0, 10.0, 100.0])
    table = claims.constant_policy_table(H, H_hat, rho_grid, 10.0, 0.1, 10.0)
    cand = all_assignments(4, 3)
    assert table["sum_rate"].shape == (3, 81) and table["loss"].shape == (81,)
    for j in (0, 20, 77):
        want = user_rates(H, H_hat, cand[j], 100.0, 0.1, 0.0).sum(axis=-1).mean()
        assert table["sum_rate"][2, j] == pytest.approx(want)
        assert table["loss"][j] == pytest.approx(loss(H_hat, H_hat, cand[j], 10.0, 0.1, 10.0).mean())
    assert np.all(np.diff(table["sum_rate"], axis=0) > 0)  # more SNR, more rate, whatever the policy


# ------------------------------------------------------------------- footnote 5


def test_floor_decoder_dead_share_by_hand():
    o = np.array([0.0, 0.2, 0.4, 1.0])  # floors with 3 users: 0, 0, 1, 3
    assert claims.floor_decoder_dead_share(o, 3, first_user=1) == pytest.approx(0.5)
    assert claims.floor_decoder_dead_share(o, 3, first_user=0) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="first_user"):
        claims.floor_decoder_dead_share(o, 3, first_user=2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        claims.floor_decoder_dead_share(np.array([1.5]), 3, first_user=1)


# ------------------------------------------------------------- Lemma 2, one qubit


@pytest.mark.parametrize("convention", bounds.CONVENTIONS)
def test_intended_one_qubit_bound_matches_quadrature(convention):
    states = bounds.random_density_matrices(1, 20, rng=4)
    np.testing.assert_allclose(claims.one_qubit_intended_bound(states, convention),
                               bounds.one_qubit_expected_sq_derivative_quadrature(states, convention), atol=1e-14)


def test_intended_one_qubit_bound_hand_values():
    # |0>: Tr[X x] = 0, Tr[Z x] = 1 -> 1/8 (Qiskit) and 1/2 (appendix): (31) holds only for the latter
    assert float(claims.one_qubit_intended_bound(ZERO, "qiskit")) == pytest.approx(1 / 8)
    assert float(claims.one_qubit_intended_bound(ZERO, "appendix")) == pytest.approx(1 / 2)
    plus_i = 0.5 * np.array([[1, -1j], [1j, 1]])
    assert float(claims.one_qubit_intended_bound(plus_i, "appendix")) == pytest.approx(0.0, abs=1e-15)


def test_uniform_phase_share_below_quarter_is_one_half():
    # R_Z(phi) H |0>: (omega^2 / 8) cos^2 phi < 1/4 iff cos^2 phi < 1/2 with omega = 2
    phi = 2 * np.pi * (np.arange(4000) + 0.5) / 4000
    values = bounds.one_qubit_expected_sq_derivative(bounds.encoded_state(phi[:, None]), "appendix")
    assert np.mean(values < 0.25) == pytest.approx(0.5, abs=1e-3)


# ----------------------------------------------------- Algorithm 1, finite shots


@pytest.mark.parametrize("p", [0.0, 0.1, 0.33, 0.5, 0.97, 1.0])
def test_bin_probabilities_against_enumeration(p):
    shots, n_user = 30, 3
    prob, dprob = claims.bin_probabilities(np.array([p]), shots, n_user)
    counts = np.arange(shots + 1)
    decoded = np.minimum(np.floor(counts / shots * n_user), n_user - 1).astype(int)
    pmf = binom.pmf(counts, shots, p)
    want = np.array([pmf[decoded == k].sum() for k in range(n_user)])
    np.testing.assert_allclose(prob[0], want, atol=1e-12)
    if 0.0 < p < 1.0:
        h = 1e-6
        fd = (claims.bin_probabilities(np.array([p + h]), shots, n_user)[0] - claims.bin_probabilities(np.array([p - h]), shots, n_user)[0]) / (2 * h)
        np.testing.assert_allclose(dprob[0], fd[0], atol=1e-5)


@pytest.fixture(scope="module")
def shot_setup(channels):
    _, H_hat = channels
    theta = np.random.default_rng(6).uniform(0, 2 * np.pi, (len(H_hat), qnn.n_weights(SMOKE, "paper")))
    return H_hat, theta


def test_finite_shot_gradient_matches_finite_difference(shot_setup):
    H_hat, theta = shot_setup
    _, grad = claims.finite_shot_loss(SMOKE, H_hat, theta, 10.0, 0.1, 10.0, shots=1024)
    h = 1e-6
    for j in (3, 5, 7):
        step = np.zeros(theta.shape[1])
        step[j] = h
        lp, _ = claims.finite_shot_loss(SMOKE, H_hat, theta + step, 10.0, 0.1, 10.0, shots=1024)
        lm, _ = claims.finite_shot_loss(SMOKE, H_hat, theta - step, 10.0, 0.1, 10.0, shots=1024)
        np.testing.assert_allclose(grad[:, j], (lp - lm) / (2 * h), atol=1e-6)
    # the first layer's weights 0..N-2 never reach the last-layer readout (book's reading)
    np.testing.assert_array_equal(grad[:, :3], 0.0)


def test_finite_shot_expected_loss_against_sampled_shots(shot_setup):
    H_hat, theta = shot_setup
    shots = 64
    expected, _ = claims.finite_shot_loss(SMOKE, H_hat[:2], theta[:2], 10.0, 0.1, 10.0, shots=shots)
    losses, _ = claims.eq18_losses(H_hat[:2], 10.0, 0.1, -10.0)
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
        _, grad = claims.finite_shot_loss(SMOKE, H_hat, theta, 10.0, 0.1, 10.0, shots=1024)
        ests.append(bounds.mc_estimate(grad**2))
    a, b = ests
    assert a.n_samples == 200 and np.all(a.half_width[3:] > 0)
    assert np.all(np.abs(a.mean - b.mean) <= 2 * (a.half_width + b.half_width) + 1e-12)


def test_finite_shot_loss_rejects_bad_theta(shot_setup):
    H_hat, theta = shot_setup
    with pytest.raises(ValueError, match="theta"):
        claims.finite_shot_loss(SMOKE, H_hat, theta[:, :3], 10.0, 0.1, 10.0)


# ------------------------------------------------------------------------ settings


def test_settings_not_given_excludes_what_the_paper_states():
    chosen = claims.settings_not_given()
    assert "n_neuron" not in chosen  # N_neuron = N_AP, next to Eq. (21)
    assert "distance_floor" not in chosen  # exists only because of the book's truncation
    assert {"n_layer", "n_path", "pathloss_exponent", "csi_error", "n_data"} <= set(chosen)
    assert not set(chosen) & set(claims.PAPER_SETTINGS)
    assert len(claims.STRUCTURAL_CHOICES) == len({c[0] for c in claims.STRUCTURAL_CHOICES})
