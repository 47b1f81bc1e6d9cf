"""Algorithm 1 and the reupload training: determinism, the update rules, files, cache."""

import numpy as np
import pytest

from cfmimo import channel, engine, loop, qnn, rates, train
from cfmimo.config import SMOKE, db_to_linear, with_overrides

ONE_STEP = with_overrides(SMOKE, n_data=1, n_epoch=1)


@pytest.fixture(scope="module")
def paper_run():
    return train.train(SMOKE, "paper", rng=3)


@pytest.fixture(scope="module")
def reupload_run():
    return train.train(SMOKE, "reupload", rng=3)


def test_same_seed_same_weights(paper_run, reupload_run):
    again = train.train(SMOKE, "paper", rng=3)
    np.testing.assert_array_equal(again.weights, paper_run.weights)
    np.testing.assert_array_equal(again.loss, paper_run.loss)
    again = train.train(SMOKE, "reupload", rng=3)
    np.testing.assert_array_equal(again.weights, reupload_run.weights)
    np.testing.assert_array_equal(again.objective, reupload_run.objective)
    other = train.train(SMOKE, "paper", rng=4)
    assert not np.array_equal(other.weights, paper_run.weights)


def test_result_shapes(paper_run, reupload_run):
    for run, variant in ((paper_run, "paper"), (reupload_run, "reupload")):
        assert run.weights.shape == (qnn.n_weights(SMOKE, variant),)
        assert run.loss.shape == run.min_rate.shape == run.objective.shape == (SMOKE.training.n_epoch,)
        assert run.finished and run.variant == variant and run.seed == 3
        assert not run.weights.flags.writeable
    assert paper_run.method == "shift" and reupload_run.method == "imitation"


def test_train_seeds_equals_single_runs(paper_run, reupload_run):
    for variant, single in (("paper", paper_run), ("reupload", reupload_run)):
        many = train.train_seeds(SMOKE, variant, seeds=[5, 3])
        np.testing.assert_array_equal(many[1].weights, single.weights)
        np.testing.assert_array_equal(many[1].loss, single.loss)
        np.testing.assert_array_equal(many[0].weights, train.train(SMOKE, variant, rng=5).weights)


def test_one_step_of_algorithm1_by_hand():
    """Replay the single SGD step of a 1x1 run with public functions only."""
    seed = 9
    cfg = ONE_STEP
    tr = cfg.training
    theta0 = qnn.init_weights(cfg, "paper", np.random.default_rng([seed, 0, 0]))
    _, H_hat = channel.sample_channels(cfg.system, 1, np.random.default_rng([seed, 1, 0]))
    x = qnn.encode_angles(H_hat)[0]
    rho = db_to_linear(tr.train_snr_db)

    def loss(theta):
        o = engine.exact_outputs(cfg, "paper", x, theta)
        a = qnn.decode_assignment(o, cfg.system.n_user)
        return float(rates.loss(H_hat[0], H_hat[0], a, rho, cfg.system.interference_factor, cfg.system.penalty))

    grad = np.zeros_like(theta0)
    for j in range(theta0.size):
        e = np.zeros_like(theta0)
        e[j] = tr.shift
        grad[j] = (loss(theta0 + e) - loss(theta0 - e)) / (2 * np.sin(tr.shift))
    expected = theta0 - tr.step_size * grad
    result = train.train(cfg, "paper", rng=seed)
    np.testing.assert_allclose(result.weights, expected, rtol=0, atol=1e-12)
    assert result.loss[0] == pytest.approx(loss(theta0))


def test_printed_rule_climbs_at_half_pi():
    """Eq. (17) as printed has the opposite sign: at shift pi/2 its step is the negative
    of the correct rule's step from the same start."""
    for seed in range(4):
        start = qnn.init_weights(ONE_STEP, "paper", np.random.default_rng([seed, 0, 0]))
        good = train.train(ONE_STEP, "paper", method="shift", rng=seed).weights - start
        printed = train.train(ONE_STEP, "paper", method="printed", rng=seed).weights - start
        np.testing.assert_allclose(printed, -good, atol=1e-15)


def test_rotosolve_runs_and_is_deterministic():
    cfg = with_overrides(SMOKE, n_data=3, n_epoch=2)
    a = train.train(cfg, "paper", method="rotosolve", rng=1)
    b = train.train(cfg, "paper", method="rotosolve", rng=1)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert a.loss.shape == (2,) and np.all(np.isfinite(a.weights))


def test_expected_method_runs():
    r = train.train(with_overrides(SMOKE, n_epoch=2), "reupload", method="expected", rng=0)
    assert r.method == "expected" and r.loss.shape == (2,)


def test_decide(paper_run, reupload_run):
    _, H_hat = channel.sample_channels(SMOKE.system, 6, 0)
    a = train.decide(SMOKE, "paper", paper_run, H_hat)
    x = qnn.encode_angles(H_hat)
    o = engine.exact_outputs(SMOKE, "paper", x, paper_run.weights)
    np.testing.assert_array_equal(a, qnn.decode_assignment(o, SMOKE.system.n_user))
    b = train.decide(SMOKE, "reupload", reupload_run.weights, H_hat.reshape(2, 3, *H_hat.shape[1:]), chunk=4)
    assert b.shape == (2, 3, SMOKE.system.n_ap)
    probs = engine.exact_probabilities(SMOKE, "reupload", x, reupload_run.weights)
    np.testing.assert_array_equal(b.reshape(6, -1), qnn.decide_from_probabilities(SMOKE, "reupload", probs))
    with pytest.raises(ValueError, match="weights"):
        train.decide(SMOKE, "paper", np.zeros(7), H_hat)


def test_save_load_roundtrip(tmp_path, reupload_run):
    path = train.save_weights(tmp_path / "w.npz", reupload_run)
    back = train.load_weights(path)
    for name in ("weights", "loss", "min_rate", "objective", "opt_state"):
        np.testing.assert_array_equal(getattr(back, name), getattr(reupload_run, name))
    assert back.config == SMOKE and back.variant == "reupload" and back.seed == 3
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]  # no temp file left
    with pytest.raises(ValueError, match="not a file"):
        train.load_weights(tmp_path / "missing.npz")


def test_killed_save_keeps_previous_file(tmp_path, monkeypatch, paper_run, reupload_run):
    path = tmp_path / "w.npz"
    train.save_weights(path, paper_run)

    def boom(*args, **kwargs):
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(train.np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        train.save_weights(path, reupload_run)
    monkeypatch.undo()
    back = train.load_weights(path)
    assert back.variant == "paper"
    np.testing.assert_array_equal(back.weights, paper_run.weights)
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]


@pytest.mark.parametrize("variant", ["paper", "reupload"])
def test_resume_from_checkpoint_is_bit_identical(tmp_path, monkeypatch, variant):
    cfg = with_overrides(SMOKE, n_epoch=3)
    full = train.train(cfg, variant, rng=2)
    ckpt = tmp_path / "ckpt.npz"
    real_save = loop.save_weights  # the training loop writes the checkpoints
    calls = []

    def save_then_die(path, result):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed after epoch 1")
        return real_save(path, result)

    monkeypatch.setattr(loop, "save_weights", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train.train(cfg, variant, rng=2, checkpoint=ckpt)
    monkeypatch.undo()
    partial = train.load_weights(ckpt)
    assert partial.epochs_done == 1 and not partial.finished
    resumed = train.train(cfg, variant, rng=2, init=partial)
    np.testing.assert_array_equal(resumed.weights, full.weights)
    np.testing.assert_array_equal(resumed.loss, full.loss)
    with pytest.raises(ValueError, match="different run"):
        train.train(cfg, variant, rng=3, init=partial)


def test_trained_cache_is_bit_identical(tmp_path):
    cfg = with_overrides(SMOKE, n_epoch=2)
    fresh = train.trained(cfg, "paper", cache_dir=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    cached = train.trained(cfg, "paper", cache_dir=tmp_path)
    direct = train.train(cfg, "paper")
    for r in (fresh, cached):
        np.testing.assert_array_equal(r.weights, direct.weights)
        np.testing.assert_array_equal(r.loss, direct.loss)
    assert train.cache_key(cfg, "paper") != train.cache_key(with_overrides(cfg, step_size=0.02), "paper")
    assert train.cache_key(cfg, "paper") != train.cache_key(cfg, "paper", method="printed")


def test_init_array_starts_from_weights():
    start = np.linspace(0, 1, qnn.n_weights(ONE_STEP, "paper"))
    r = train.train(ONE_STEP, "paper", init=start, rng=0)
    assert r.weights.shape == start.shape
    assert np.max(np.abs(r.weights - start)) < 1.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        train.train(SMOKE, "paper", method="imitation")
    with pytest.raises(ValueError, match="variant"):
        train.train(SMOKE, "classical")
    with pytest.raises(ValueError, match="rng"):
        train.train(SMOKE, "paper", rng=-1)
    with pytest.raises(ValueError, match="init"):
        train.train(SMOKE, "paper", init=np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        train.train(SMOKE, "paper", init=np.full(8, np.nan))
    with pytest.raises(ValueError, match="seeds"):
        train.train_seeds(SMOKE, "paper", seeds=[])
    with pytest.raises(ValueError, match="seeds"):
        train.train_seeds(SMOKE, "paper", seeds=[1.5])
    with pytest.raises(ValueError, match="TrainResult"):
        train.save_weights("x.npz", {"weights": 1})


def test_flat_fraction_and_convergence(paper_run, reupload_run):
    assert np.all((paper_run.flat >= 0) & (paper_run.flat <= 1))
    assert np.all(np.isnan(reupload_run.flat))
    assert train.convergence_epoch(np.array([5.0, 3.0, 2.0, 2.0, 2.0]), tail=2) == 2
    assert train.convergence_epoch(np.array([2.0, 2.0]), tail=1) == 0
    assert train.convergence_epoch(np.array([1.0, 2.0, 3.0]), tail=1) == 2
    with pytest.raises(ValueError, match="loss"):
        train.convergence_epoch(np.array([]))
    with pytest.raises(ValueError, match="rel_tol"):
        train.convergence_epoch(np.ones(3), rel_tol=0)


def test_training_channels_are_those_the_runs_see():
    cfg = SMOKE
    paper = train.training_channels(cfg, "paper")
    assert paper.shape == (cfg.training.n_data, 4, 3, 2)
    stream = train.training_channels(cfg, "reupload")
    assert stream.shape == (cfg.training.n_data * cfg.training.n_epoch, 4, 3, 2)
    n = cfg.training.n_data
    assert not np.array_equal(stream[:n], stream[n : 2 * n])  # every epoch draws fresh channels
    np.testing.assert_array_equal(train.training_channels(cfg, "paper", seed=5), train.training_channels(cfg, "paper", seed=5))
    assert not np.array_equal(train.training_channels(cfg, "paper", seed=5), train.training_channels(cfg, "paper", seed=6))
    # with one channel and one step, the history's first entry is the decision of the
    # initial weights on that channel: the channel the run saw is the one returned here
    rho = db_to_linear(ONE_STEP.training.train_snr_db)
    mu, penalty = ONE_STEP.system.interference_factor, ONE_STEP.system.penalty
    for variant in ("paper", "reupload"):
        w0 = qnn.init_weights(ONE_STEP, variant, 11)
        for seed in (5, 6):
            H_hat = train.training_channels(ONE_STEP, variant, seed=seed)
            a = train.decide(ONE_STEP, variant, w0, H_hat)
            run = train.train(ONE_STEP, variant, rng=seed, init=w0)
            want = rates.min_rate(H_hat, H_hat, a, rho, mu, penalty)
            assert run.min_rate[0] == pytest.approx(want[0], rel=1e-12, abs=1e-12), (variant, seed)
            assert run.loss[0] == pytest.approx(rates.loss(H_hat, H_hat, a, rho, mu, penalty)[0], rel=1e-12), (variant, seed)
