import numpy as np
import pytest

from cfmimo import baselines, channel, classical, rates
from cfmimo.config import PAPER


@pytest.fixture(scope="module")
def data():
    H, H_hat = channel.sample_channels(PAPER.system, 60, rng=4)
    features = np.abs(H_hat).sum(-1).reshape(60, -1)
    features = features / features.max(axis=1, keepdims=True)
    return H, H_hat, features


def test_candidate_rates_match_rates_module(data):
    H, H_hat, _ = data
    got = classical.candidate_rates(H, H_hat, 10.0, 0.1)
    cands = baselines.all_assignments(4, 3)
    want = rates.min_rate(H[:, None], H_hat[:, None], cands, 10.0, 0.1)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_array_equal(cands[got.argmax(1)], baselines.exhaustive(H_hat, 10.0, 0.1, H=H))


def test_parameter_count():
    model = classical.init_mlp(12, 2, 4, 3, rng=0)
    assert model.n_parameters == classical.n_parameters(12, 2, 4, 3) == 13 * 2 + 3 * 12


def test_gradient_matches_finite_difference(data):
    _, H_hat, features = data
    R = classical.candidate_rates(H_hat, H_hat, 10.0, 0.1)
    model = classical.init_mlp(features.shape[1], 3, 4, 3, rng=1)
    cands = baselines.all_assignments(4, 3)
    onehot = (cands[:, :, None] == np.arange(3)).astype(float)

    def objective(W1):
        m = classical.MLP(W1, model.b1, model.W2, model.b2, 4, 3)
        return float((np.exp(m.assignment_log_probabilities(features)) * R).sum() / len(R))

    log_p = classical._log_softmax(model.logits(features))
    joint = np.exp(log_p[:, np.arange(4), cands].sum(-1))
    weighted = joint * R
    dlogits = (np.einsum("nc,cmk->nmk", weighted, onehot) - weighted.sum(1)[:, None, None] * np.exp(log_p)) / len(R)
    analytic = classical._grads(model, features, dlogits)[0]
    eps = 1e-6
    for idx in [(0, 0), (5, 2), (11, 1)]:
        W = model.W1.copy()
        W[idx] += eps
        up = objective(W)
        W[idx] -= 2 * eps
        down = objective(W)
        assert analytic[idx] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-9)


def test_fit_is_reproducible_learns_and_serves_everyone(data):
    _, H_hat, features = data
    R = classical.candidate_rates(H_hat, H_hat, 10.0, 0.1)
    a = classical.fit_mlp(features, R, 4, 3, hidden=8, imitation_steps=150, finetune_steps=50, rng=3)
    b = classical.fit_mlp(features, R, 4, 3, hidden=8, imitation_steps=150, finetune_steps=50, rng=3)
    np.testing.assert_array_equal(a.W1, b.W1)
    ce = a.history["cross_entropy"]
    assert ce[-1] < ce[0]
    decisions = a.decide(features)
    assert all(set(row) == {0, 1, 2} for row in decisions)


def test_bad_input(data):
    _, H_hat, features = data
    R = classical.candidate_rates(H_hat, H_hat, 10.0, 0.1)
    with pytest.raises(ValueError, match="rates must have n_user \\*\\* n_ap = 81 columns"):
        classical.fit_mlp(features, R[:, :10], 4, 3)
    with pytest.raises(ValueError, match="features must have shape"):
        classical.fit_mlp(features[:5], R, 4, 3)
    with pytest.raises(ValueError, match="hidden = 0"):
        classical.fit_mlp(features, R, 4, 3, hidden=0)
