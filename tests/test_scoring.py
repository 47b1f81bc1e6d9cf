"""The one-qubit-per-AP scoring QNN, its classical twin, their training and the variant registry."""

from pathlib import Path

import numpy as np
import pytest
from qiskit.quantum_info import Statevector

from cfmimo import channel, engine, features, loop, qnn, scoring, train
from cfmimo.config import PAPER, SMOKE, with_overrides
from cfmimo.rates import serves_every_user

SMALL = with_overrides(SMOKE, n_ap=3, n_user=2)
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"  # the repository's committed weight files


@pytest.fixture(scope="module")
def smoke_run():
    return train.train(SMOKE, "scoring", rng=5)


def test_registry_holds_objects_and_names():
    assert list(qnn.VARIANTS) == ["paper", "reupload", "scoring"]
    assert "scoring" in qnn.VARIANTS and "nope" not in qnn.VARIANTS
    assert qnn.get_variant("scoring") is qnn.VARIANTS["scoring"]
    for name in qnn.VARIANTS:
        v = qnn.get_variant(name)
        assert isinstance(v, qnn.Variant) and v.name == name
        assert train.DEFAULT_METHOD[name] == v.methods[0] and train.METHODS[name] == v.methods
    with pytest.raises(ValueError, match="allowed"):
        qnn.get_variant("nope")
    with pytest.raises(ValueError, match="allowed"):
        qnn.n_weights(PAPER, ["paper"])


def test_scoring_sizes_do_not_grow_with_users():
    for over in ({}, dict(n_ap=16, n_user=8), dict(n_ap=6, n_user=4)):
        cfg = with_overrides(PAPER, **over)
        assert qnn.n_qubits(cfg, "scoring") == cfg.system.n_ap
        assert qnn.n_clbits(cfg, "scoring") == cfg.system.n_ap
        F = features.N_FEATURES
        assert qnn.n_inputs(cfg, "scoring") == F * cfg.system.n_ap
        # three rotations per qubit and block, each angle a trainable affine map of the F features
        assert qnn.n_weights(cfg, "scoring") == 3 * (F + 1) * (cfg.training.n_layer + 1) + 1
        qc = qnn.build_circuit(cfg, "scoring")
        assert qc.num_qubits == cfg.system.n_ap


def test_light_cones_at_16x8():
    cfg = with_overrides(PAPER, n_ap=16, n_user=8)
    program = engine.program_for(cfg, "scoring")
    assert max(program.cone_qubits) == 2 * cfg.training.n_layer + 1 <= 20


def test_too_large_cone_is_a_value_error_with_the_size():
    cfg = with_overrides(PAPER, n_ap=16, n_user=8, n_layer=7)
    with pytest.raises(ValueError, match="15 qubits"):
        qnn.build_circuit(cfg, "scoring")


def _statevector_z(cfg, x, theta):
    qc = qnn.build_circuit(cfg, "scoring").remove_final_measurements(inplace=False)
    values = dict(zip(qc.parameters, [0.0] * qc.num_parameters))
    for p in qc.parameters:
        values[p] = x[p.index] if p.vector.name == "x" else theta[p.index]
    probs = Statevector(qc.assign_parameters(values)).probabilities()
    n = qc.num_qubits
    return np.array([sum(pr * (1 - 2 * ((i >> q) & 1)) for i, pr in enumerate(probs)) for q in range(n)])


def test_scores_match_statevector_and_readout():
    cfg = with_overrides(SMOKE, n_ap=5, n_user=3)
    rng = np.random.default_rng(0)
    theta = rng.normal(size=qnn.n_weights(cfg, "scoring"))
    x = rng.uniform(0, np.pi, (3, qnn.n_inputs(cfg, "scoring")))
    model = scoring.QuantumScorer(cfg)
    s, _ = model.scores(theta, x)
    for i in range(3):
        np.testing.assert_allclose(s[i], np.exp(theta[-1]) * _statevector_z(cfg, x[i], theta), atol=1e-10)
    probs = engine.exact_probabilities(cfg, "scoring", x, theta)
    np.testing.assert_allclose(qnn.outputs_from_probabilities(cfg, "scoring", probs), s / np.exp(theta[-1]), atol=1e-10)


@pytest.mark.parametrize("kind", ["qnn", "twin"])
def test_model_gradients_match_finite_differences(kind):
    cfg = with_overrides(SMOKE, n_ap=5, n_user=3)
    rng = np.random.default_rng(1)
    model = scoring.QuantumScorer(cfg) if kind == "qnn" else scoring.ClassicalTwin(cfg, hidden=3)
    params = model.init(rng) + 0.3 * rng.normal(size=model.n_params)
    x = rng.uniform(0, np.pi, (4, features.N_FEATURES * cfg.system.n_ap))
    s, ctx = model.scores(params, x)
    cot = rng.normal(size=s.shape)
    grad = model.vjp(params, ctx, cot)
    eps = 1e-6
    for j in range(model.n_params):
        e = np.zeros(model.n_params)
        e[j] = eps
        fd = ((model.scores(params + e, x)[0] - model.scores(params - e, x)[0]) * cot).sum() / (2 * eps)
        assert grad[j] == pytest.approx(fd, abs=1e-6)


def test_twin_sees_only_the_light_cone():
    cfg = with_overrides(SMOKE, n_ap=8, n_user=3)
    model = scoring.ClassicalTwin(cfg, hidden=3)
    rng = np.random.default_rng(2)
    params = model.init(rng)
    F = features.N_FEATURES
    x = rng.uniform(0, np.pi, (1, 8 * F))
    y = x.copy()
    y[0, F * 4 : F * 5] += 1.0  # AP 4's features
    changed = np.abs(model.scores(params, x)[0] - model.scores(params, y)[0])[0] > 1e-12
    np.testing.assert_array_equal(np.flatnonzero(changed), [2, 3, 4, 5, 6])


def test_repair_covering_serves_everyone_and_keeps_a_covering_argmax():
    rng = np.random.default_rng(3)
    lp = np.log(rng.dirichlet(np.ones(4), size=(200, 6)))
    a = scoring._repair_covering(lp)
    assert serves_every_user(a, 4).all()
    argmax = lp.argmax(axis=-1)
    covering = serves_every_user(argmax, 4)
    np.testing.assert_array_equal(a[covering], argmax[covering])


def test_passes_and_teacher():
    assert scoring.passes(PAPER) == scoring.PASSES
    assert scoring.passes(with_overrides(PAPER, n_ap=16, n_user=8)) == scoring.MIN_PASSES
    _, H_hat = channel.sample_channels(SMALL.system, 5, 0)
    from cfmimo.baselines import exhaustive

    np.testing.assert_array_equal(scoring.teacher_assignments(H_hat, 10.0, 0.5), exhaustive(H_hat, 10.0, 0.5))


def test_training_is_deterministic(smoke_run, tmp_path):
    ck = tmp_path / "run.npz"
    again = train.train(SMOKE, "scoring", rng=5, checkpoint=ck)
    np.testing.assert_array_equal(again.weights, smoke_run.weights)
    np.testing.assert_array_equal(again.objective, smoke_run.objective)
    np.testing.assert_array_equal(train.load_weights(ck).weights, smoke_run.weights)
    assert smoke_run.finished and smoke_run.variant == "scoring" and smoke_run.method == "imitation"
    assert smoke_run.weights.shape == (qnn.n_weights(SMOKE, "scoring"),)
    other = train.train(SMOKE, "scoring", rng=6)
    assert not np.array_equal(other.weights, smoke_run.weights)


def test_resume_from_checkpoint_bit_identical(tmp_path, monkeypatch):
    cfg = with_overrides(SMOKE, n_epoch=4)
    ck = tmp_path / "ck.npz"
    whole = train.train(cfg, "scoring", rng=1)

    class Stop(Exception):
        pass

    saved = []
    original = loop.save_weights  # the training loop writes the checkpoints

    def stop_after_two(path, result):
        original(path, result)
        saved.append(result.epochs_done)
        if len(saved) == 2:
            raise Stop

    monkeypatch.setattr(loop, "save_weights", stop_after_two)
    with pytest.raises(Stop):
        train.train(cfg, "scoring", rng=1, checkpoint=ck)
    monkeypatch.undo()
    part = train.load_weights(ck)
    assert part.epochs_done == 2
    resumed = train.train(cfg, "scoring", rng=1, init=part)
    np.testing.assert_array_equal(resumed.weights, whole.weights)
    np.testing.assert_array_equal(resumed.min_rate, whole.min_rate)


def test_decide_serves_every_user_and_checks_shapes(smoke_run):
    _, H_hat = channel.sample_channels(SMOKE.system, 6, 1)
    a = train.decide(SMOKE, "scoring", smoke_run, H_hat)
    assert a.shape == (6, SMOKE.system.n_ap) and serves_every_user(a, SMOKE.system.n_user).all()
    b = train.decide(SMOKE, "scoring", smoke_run, H_hat.reshape(2, 3, *H_hat.shape[1:]))
    np.testing.assert_array_equal(b.reshape(6, -1), a)
    # pure decisions from the engine's probabilities agree with the z readout
    x = qnn.get_variant("scoring").inputs(SMOKE, H_hat)
    probs = engine.exact_probabilities(SMOKE, "scoring", x, smoke_run.weights)
    np.testing.assert_array_equal(qnn.decide_from_probabilities(SMOKE, "scoring", probs), a)
    rerank = scoring.policy(SMOKE, smoke_run.weights, k=3)(H_hat, 10.0)
    assert serves_every_user(rerank, SMOKE.system.n_user).all()


def test_decide_checks_the_full_shape_of_h_hat(smoke_run):
    # 3 x 4 has as many links as the config's 4 x 3: the shape, not the count, must match
    _, H_hat = channel.sample_channels(with_overrides(SMOKE, n_ap=3, n_user=4).system, 2, 1)
    for variant in qnn.VARIANTS:
        w = smoke_run.weights if variant == "scoring" else qnn.init_weights(SMOKE, variant, 0)
        with pytest.raises(ValueError, match=r"\(n_ap, n_user\)"):
            train.decide(SMOKE, variant, w, H_hat)


def test_committed_smoke_weights_are_reproduced_bit_for_bit():
    """The committed weights/ files come from train.train: retraining the smoke one gives
    the same bits (whatever cache key the current sources give it)."""
    files = sorted(WEIGHTS_DIR.glob("scoring-imitation-*.npz"))
    smoke = [f for f in files if train.load_weights(f).config == SMOKE]
    assert smoke, f"no committed smoke weights in {WEIGHTS_DIR}; write them with scoring.commit_weights(SMOKE, 'weights')"
    committed = train.load_weights(smoke[0])
    again = train.train(SMOKE, "scoring", rng=committed.seed)
    np.testing.assert_array_equal(again.weights, committed.weights)
    np.testing.assert_array_equal(again.min_rate, committed.min_rate)


def test_committed_weights_are_found_in_the_folder_the_caller_names(tmp_path):
    cfg = with_overrides(SMALL, n_epoch=2, n_data=20)
    assert scoring.committed_weights(cfg, tmp_path) is None and scoring.committed_weights(cfg, None) is None
    path = scoring.commit_weights(cfg, tmp_path / "weights")
    assert scoring.committed_weights(cfg, tmp_path / "weights") == path
    assert scoring.committed_weights(cfg, tmp_path / "weights", seed=cfg.training.seed + 1) is None
    # trained() reads the committed file: nothing is written to the cache folder
    run = scoring.trained(cfg, cache_dir=tmp_path / "cache", weights_dir=tmp_path / "weights")
    np.testing.assert_array_equal(run.weights, train.load_weights(path).weights)
    assert not (tmp_path / "cache").exists()
    # without committed weights it trains into the cache folder, bit-identically
    other = scoring.trained(cfg, cache_dir=tmp_path / "cache", weights_dir=tmp_path / "elsewhere")
    np.testing.assert_array_equal(other.weights, run.weights)
    assert len(list((tmp_path / "cache").glob("scoring-*.npz"))) == 1

