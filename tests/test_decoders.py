"""Decoders (covering argmax, top-k, re-ranking) and link features, against brute force."""

import itertools
import time

import numpy as np
import pytest

from cfmimo import baselines, channel, decoders, features, rates
from cfmimo.config import PAPER, with_overrides

SMALL = [(2, 2), (3, 2), (3, 3), (4, 2), (4, 3), (5, 3)]


def _covering(n_ap, n_user):
    cands = np.array(list(itertools.product(range(n_user), repeat=n_ap)))
    return cands[rates.serves_every_user(cands, n_user)]


def _log_probs(rng, n, n_ap, n_user, kind):
    if kind == "softmax":
        z = rng.normal(size=(n, n_ap, n_user)) * 2
        return z - np.log(np.exp(z).sum(-1, keepdims=True))
    if kind == "ties":  # few distinct values: many exact ties between assignments
        return rng.integers(-3, 1, size=(n, n_ap, n_user)).astype(float)
    lp = rng.normal(size=(n, n_ap, n_user))  # "forbidden": some pairs have probability 0
    lp[rng.random(lp.shape) < 0.2] = -np.inf
    return lp


@pytest.mark.parametrize("n_ap,n_user", SMALL)
@pytest.mark.parametrize("kind", ["softmax", "ties", "forbidden"])
def test_covering_argmax_matches_brute_force(n_ap, n_user, kind):
    rng = np.random.default_rng(n_ap * 10 + n_user)
    lp = _log_probs(rng, 150, n_ap, n_user, kind)
    cov = _covering(n_ap, n_user)
    scores = lp[:, np.arange(n_ap), cov].sum(-1)  # (n, n_cov)
    best = scores.max(axis=1)
    a = decoders.covering_argmax(lp)
    assert a.shape == (150, n_ap)
    assert rates.serves_every_user(a, n_user).all()
    got = decoders.assignment_log_probability(lp, a)
    finite = np.isfinite(best)
    np.testing.assert_allclose(got[finite], best[finite], rtol=0, atol=1e-12)
    if kind == "forbidden":
        assert (~finite).any() or n_user == 2  # the fallback path is exercised somewhere
    # the per-AP argmax (the naive decoder) is never better and sometimes leaves a user out
    naive = lp.argmax(-1)
    assert np.all(decoders.assignment_log_probability(lp, naive) >= got - 1e-12)


@pytest.mark.parametrize("n_ap,n_user", SMALL)
@pytest.mark.parametrize("kind", ["softmax", "ties", "forbidden"])
def test_top_k_matches_brute_force(n_ap, n_user, kind):
    rng = np.random.default_rng(100 + n_ap * 10 + n_user)
    lp = _log_probs(rng, 60, n_ap, n_user, kind)
    cov = _covering(n_ap, n_user)
    scores = lp[:, np.arange(n_ap), cov].sum(-1)
    k = 7
    A, S = decoders.top_k_covering(lp, k)
    assert A.shape == (60, k, n_ap) and S.shape == (60, k)
    want = np.sort(scores, axis=1)[:, ::-1]
    if want.shape[1] < k:
        want = np.concatenate([want, np.full((60, k - want.shape[1]), -np.inf)], axis=1)
    want = want[:, :k]
    want = np.where(np.isfinite(want), want, -np.inf)
    np.testing.assert_allclose(S, want, rtol=0, atol=1e-12)
    assert np.all(np.diff(np.maximum(S, -1e300), axis=1) <= 1e-12)  # best first
    for i in range(60):
        real = np.isfinite(S[i])
        rows = A[i][real]
        assert len({tuple(r) for r in rows}) == len(rows)  # distinct
        assert rates.serves_every_user(A[i], n_user).all()
        np.testing.assert_allclose(decoders.assignment_log_probability(lp[i], rows), S[i][real], atol=1e-12)
    # k = 1 is the covering argmax
    A1, S1 = decoders.top_k_covering(lp, 1)
    finite = np.isfinite(S1[:, 0])
    np.testing.assert_allclose(
        S1[finite, 0], decoders.assignment_log_probability(lp, decoders.covering_argmax(lp))[finite], atol=1e-12
    )


def test_top_k_pads_when_fewer_covering_assignments_exist():
    lp = np.log(np.array([[0.7, 0.3], [0.4, 0.6]]))
    A, S = decoders.top_k_covering(lp, 5)
    assert decoders.n_covering_assignments(2, 2) == 2
    assert {tuple(r) for r in A[:2]} == {(0, 1), (1, 0)}
    assert np.all(np.isfinite(S[:2])) and np.all(S[2:] == -np.inf)
    np.testing.assert_array_equal(A[2:], np.broadcast_to(A[1], (3, 2)))


def test_n_covering_assignments_counts_surjections():
    for n_ap, n_user in SMALL + [(6, 4)]:
        assert decoders.n_covering_assignments(n_ap, n_user) == len(_covering(n_ap, n_user))
    assert decoders.n_covering_assignments(4, 3) == 36


def test_decoders_keep_leading_axes():
    rng = np.random.default_rng(5)
    lp = _log_probs(rng, 6, 4, 3, "softmax").reshape(2, 3, 4, 3)
    assert decoders.covering_argmax(lp).shape == (2, 3, 4)
    A, S = decoders.top_k_covering(lp, 4)
    assert A.shape == (2, 3, 4, 4) and S.shape == (2, 3, 4)
    np.testing.assert_array_equal(decoders.covering_argmax(lp)[1, 2], decoders.covering_argmax(lp[1, 2]))


def test_decoders_reject_bad_input():
    with pytest.raises(ValueError, match="n_ap >= n_user"):
        decoders.covering_argmax(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="n_ap >= n_user"):
        decoders.top_k_covering(np.zeros((2, 3)), 2)
    with pytest.raises(ValueError, match="NaN"):
        decoders.covering_argmax(np.array([[0.0, np.nan], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="shape"):
        decoders.covering_argmax(np.zeros(3))
    with pytest.raises(ValueError, match="k"):
        decoders.top_k_covering(np.zeros((3, 2)), 0)


def test_decoders_at_16x8_are_fast():
    rng = np.random.default_rng(7)
    lp = _log_probs(rng, 1000, 16, 8, "softmax")
    start = time.perf_counter()
    a = decoders.covering_argmax(lp)
    elapsed = time.perf_counter() - start
    assert rates.serves_every_user(a, 8).all()
    assert elapsed < 1.0, f"covering_argmax took {elapsed:.2f} s for 10^3 channels at 16 x 8"
    A, S = decoders.top_k_covering(lp[:100], 10)
    assert rates.serves_every_user(A, 8).all()
    assert np.all(np.diff(S, axis=1) <= 1e-12)
    np.testing.assert_allclose(S[:, 0], decoders.assignment_log_probability(lp[:100], a[:100]), atol=1e-12)


def test_rerank_keeps_the_best_candidate_by_min_rate():
    H, H_hat = channel.sample_channels(PAPER.system, 40, rng=11)
    cov = _covering(4, 3)
    rng = np.random.default_rng(12)
    cands = cov[rng.integers(0, len(cov), size=(40, 6))]
    rho, mu = 10.0, 0.5
    got = decoders.rerank(H_hat, cands, rho, mu)
    values = rates.min_rate(H_hat[:, None], H_hat[:, None], cands, rho, mu)
    np.testing.assert_allclose(rates.min_rate(H_hat, H_hat, got, rho, mu), values.max(axis=1))
    # all covering candidates: re-ranking is exhaustive search over the covering set
    every = np.broadcast_to(cov, (40,) + cov.shape)
    best = decoders.rerank(H_hat, every, rho, mu)
    opt = baselines.exhaustive(H_hat, rho, mu)
    np.testing.assert_allclose(rates.min_rate(H_hat, H_hat, best, rho, mu), rates.min_rate(H_hat, H_hat, opt, rho, mu))
    with pytest.raises(ValueError, match="candidates"):
        decoders.rerank(H_hat, cands[:10], rho, mu)
    with pytest.raises(ValueError, match="rho"):
        decoders.rerank(H_hat, cands, np.ones(3), mu)
    with pytest.raises(ValueError, match="rho"):
        decoders.rerank(H_hat, cands, -1.0, mu)
    # per-channel SNRs: the same as one call per channel
    rhos = np.linspace(1.0, 100.0, 40)
    per = decoders.rerank(H_hat, cands, rhos, mu)
    np.testing.assert_array_equal(per[7], decoders.rerank(H_hat[7:8], cands[7:8], rhos[7], mu)[0])


def test_link_features_definition_and_range():
    system = with_overrides(PAPER, n_ap=5, n_user=3).system
    _, H_hat = channel.sample_channels(system, 30, rng=2)
    f = features.link_features(H_hat)
    assert f.shape == (30, 3, 5, features.N_FEATURES) and features.N_FEATURES == len(features.FEATURE_NAMES) == 7
    assert np.all((f >= 0) & (f <= np.pi))
    g = (np.abs(H_hat) ** 2).sum(-1)  # (n, M, K)
    # the gain is the MR signal power on the estimate, the diagonal of rates.gain_matrix
    np.testing.assert_allclose(np.einsum("nmkk->nmk", rates.gain_matrix(H_hat, H_hat)), g, rtol=1e-10)
    gain_db = np.clip(10 * np.log10(g / g.max(axis=(1, 2), keepdims=True)), -features.GAIN_RANGE_DB, 0)
    np.testing.assert_allclose(f[..., 0], np.pi * (1 + gain_db / features.GAIN_RANGE_DB).transpose(0, 2, 1))
    # the AP's best user has gap 0 -> angle pi; the strongest link has gain angle pi
    best_user = g.argmax(axis=2)  # (n, M)
    n_idx, m_idx = np.meshgrid(np.arange(30), np.arange(5), indexing="ij")
    np.testing.assert_allclose(f[n_idx, best_user, m_idx, 1], np.pi)
    assert np.allclose(f[..., 0].max(axis=(1, 2)), np.pi)
    # the total is the same for every AP of a user, and pi for the best-covered user
    assert np.allclose(f[..., 2], f[..., :1, 2])
    np.testing.assert_allclose(f[..., 0, 2].max(axis=1), np.pi)
    order = np.argsort(g.sum(axis=1), axis=1)
    assert np.all(np.diff(np.take_along_axis(f[..., 0, 2], order, axis=1), axis=1) >= -1e-12)
    # best AP: pi for each user's strongest AP, and the gap to it in dB below
    best_ap = g.argmax(axis=1)  # (n, K)
    n_idx, k_idx = np.meshgrid(np.arange(30), np.arange(3), indexing="ij")
    np.testing.assert_allclose(f[n_idx, k_idx, best_ap, 3], np.pi)
    below = np.clip(10 * np.log10(g.max(axis=1, keepdims=True) / g), 0, features.GAP_RANGE_DB)
    np.testing.assert_allclose(f[..., 3], np.pi * (1 - below / features.GAP_RANGE_DB).transpose(0, 2, 1))
    # share: the link's share of the user's total gain, in dB
    share_db = np.clip(10 * np.log10(g / g.sum(axis=1, keepdims=True)), -features.GAP_RANGE_DB, 0)
    np.testing.assert_allclose(f[..., 4], np.pi * (1 + share_db / features.GAP_RANGE_DB).transpose(0, 2, 1))
    # favoured by / favoured share: counted from each AP's best user, by a plain loop
    for n in range(3):
        for k in range(3):
            fans = [m for m in range(5) if best_user[n, m] == k]
            assert np.allclose(f[n, k, :, 5], np.pi * min(1.0, len(fans) * 3 / (2 * 5)))
            assert np.allclose(f[n, k, :, 6], np.pi * g[n, fans, k].sum() / g[n, :, k].sum())


def test_link_features_are_scale_invariant_and_deterministic():
    _, H_hat = channel.sample_channels(PAPER.system, 10, rng=3)
    f = features.link_features(H_hat)
    np.testing.assert_allclose(features.link_features(H_hat * 7.5), f, atol=1e-12)
    np.testing.assert_array_equal(features.link_features(H_hat), f)
    assert features.link_features(H_hat[0]).shape == (3, 4, features.N_FEATURES)
    zero = features.link_features(np.zeros((4, 3, 2), dtype=complex))
    assert np.all(np.isfinite(zero))
    with pytest.raises(ValueError, match="H_hat"):
        features.link_features(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="H_hat"):
        features.link_features(np.full((4, 3, 2), np.nan))
