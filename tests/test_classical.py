import numpy as np
import pytest

from cfmimo import baselines, channel, classical, decoders, features, policies, rates
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


def test_covering_objective_gradient_matches_finite_difference(data):
    _, H_hat, _ = data
    cands = baselines.all_assignments(4, 3)
    covering = rates.serves_every_user(cands, 3)
    R = classical.candidate_rates(H_hat, H_hat, 10.0, 0.1)[:, covering]
    rng = np.random.default_rng(8)
    z = rng.normal(size=(60, 4, 3))

    def J(z):
        return classical.covering_objective(classical._log_softmax(z), cands[covering], R)[0]

    value, grad = classical.covering_objective(classical._log_softmax(z), cands[covering], R)
    # it is the expectation under p restricted to the covering set and renormalised
    p = np.exp(classical._log_softmax(z))
    joint = p[:, np.arange(4), cands[covering]].prod(-1)
    np.testing.assert_allclose(value, (joint * R).sum(1) / joint.sum(1), rtol=1e-10)
    eps = 1e-6
    for idx in [(0, 0, 0), (7, 2, 1), (33, 3, 2)]:
        up, down = z.copy(), z.copy()
        up[idx] += eps
        down[idx] -= eps
        fd = (J(up)[idx[0]] - J(down)[idx[0]]) / (2 * eps)
        assert grad[idx] == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_perceptron_features_and_shared_decoders(data):
    _, H_hat, _ = data
    F = classical.perceptron_features(H_hat)
    assert F.shape == (60, 3 * 4 * features.N_FEATURES)
    assert F.min() >= -np.pi - 1e-12 and F.max() <= np.pi + 1e-12
    np.testing.assert_allclose(F, 2 * (features.link_features(H_hat).reshape(60, -1) - np.pi / 2))
    model = classical.init_mlp(F.shape[1], 3, 4, 3, rng=0)
    log_p = model.log_probs(F)
    np.testing.assert_allclose(np.exp(log_p).sum(-1), 1.0)
    a = model.decide(F)
    np.testing.assert_array_equal(a, decoders.covering_argmax(log_p))
    # the decision is the most probable covering candidate of the enumerated joint
    mask = classical.serve_all_mask(4, 3)
    joint = np.where(mask, model.assignment_log_probabilities(F), -np.inf)
    np.testing.assert_allclose(decoders.assignment_log_probability(log_p, a), joint.max(1), atol=1e-12)
    A, S = model.top_k(F, 4)
    assert A.shape == (60, 4, 4) and np.all(S[:, 0] >= S[:, -1])


def test_hidden_for_parameters_is_closest():
    for target in (40, 200, 800):
        h = classical.hidden_for_parameters(target, 36, 4, 3)
        best = min(range(1, 100), key=lambda x: (abs(classical.n_parameters(36, x, 4, 3) - target), x))
        assert h == best


def test_small_perceptron_does_not_collapse_to_one_assignment():
    """Fine-tuning on covering assignments keeps a 2-hidden perceptron's decisions varied."""
    H, H_hat = channel.sample_channels(PAPER.system, 400, rng=9, distance_mean=0.5)
    R = classical.candidate_rates(H_hat, H_hat, 10.0, 0.5)
    F = classical.perceptron_features(H_hat)
    model = classical.fit_mlp(F, R, 4, 3, hidden=2, imitation_steps=300, finetune_steps=300, rng=1)
    before = classical.fit_mlp(F, R, 4, 3, hidden=2, imitation_steps=300, finetune_steps=0, rng=1)
    assert policies.distinct_decisions(model.decide(F)) > 1
    fine = rates.min_rate(H_hat, H_hat, model.decide(F), 10.0, 0.5).mean()
    imitated = rates.min_rate(H_hat, H_hat, before.decide(F), 10.0, 0.5).mean()
    assert fine >= imitated - 0.05  # fine-tuning does not undo imitation
    assert model.history["expected_min_rate"][-1] > model.history["expected_min_rate"][0]


def test_per_ap_objective_gradient_and_covering_moves():
    _, H_hat = channel.sample_channels(PAPER.system, 30, rng=6)
    rng = np.random.default_rng(2)
    z = rng.normal(size=(30, 4, 3))
    log_p = classical._log_softmax(z)
    a = decoders.covering_argmax(log_p)
    moves = baselines.move_min_rates(H_hat, a, 10.0, 0.5)
    value, grad = classical.per_ap_objective(log_p, moves, a)
    # only moves that keep every user served carry probability: by brute force
    for i in range(30):
        for m in range(4):
            for v in range(3):
                b = a[i].copy()
                b[m] = v
                if not rates.serves_every_user(b, 3):
                    assert grad[i, m, v] == 0.0

    def J(z):
        return classical.per_ap_objective(classical._log_softmax(z), moves, a)[0]

    eps = 1e-6
    for idx in [(0, 0, 0), (4, 1, 2), (29, 3, 1)]:
        up, down = z.copy(), z.copy()
        up[idx] += eps
        down[idx] -= eps
        assert grad[idx] == pytest.approx((J(up)[idx[0]] - J(down)[idx[0]]) / (2 * eps), rel=1e-5, abs=1e-9)


def test_fit_on_channels_exact_below_and_factorised_above_the_threshold(data):
    _, H_hat, _ = data
    F = classical.perceptron_features(H_hat)
    kw = dict(hidden=3, imitation_steps=40, finetune_steps=40, rng=5)
    exact = classical.fit_mlp_on_channels(F, H_hat, 10.0, 0.5, **kw)
    ref = classical.fit_mlp(F, classical.candidate_rates(H_hat, H_hat, 10.0, 0.5), 4, 3, **kw)
    np.testing.assert_array_equal(exact.W1, ref.W1)
    big = classical.fit_mlp_on_channels(F, H_hat, 10.0, 0.5, max_candidates=10, **kw)  # as if 4 x 3 were too large
    assert not np.array_equal(big.W1, exact.W1)
    assert len(big.history["expected_min_rate"]) == 40
    assert rates.serves_every_user(big.decide(F), 3).all()
    with pytest.raises(ValueError, match="features"):
        classical.fit_mlp_on_channels(F[:5], H_hat, 10.0, 0.5, max_candidates=10, **kw)
