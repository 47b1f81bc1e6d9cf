"""Adding a circuit variant or a classical policy is one class (or entry) plus its
registration: a throwaway variant and a throwaway policy, registered inside the test,
flow through the public functions (training, deployment, weight files; the policy
registry, the shared scorer and the study). A new training recipe is one module plus one
entry in train.RECIPES: a throwaway recipe trains and deploys the variants that name it."""

import numpy as np
import pytest
from qiskit.circuit import ClassicalRegister, ParameterVector, QuantumCircuit, QuantumRegister

from cfmimo import algorithm1, channel, engine, evaluate, policies, qnn, rates, results, scaling, train, weights
from cfmimo.config import SMOKE, with_overrides

TINY = with_overrides(SMOKE, n_ap=3, n_user=2, n_data=4, n_epoch=2)


class OneQubitPerAP(qnn.PaperVariant):
    """A throwaway circuit: qubit ``m`` gets ``RY(x[m, 0]) RY(theta_m)``, then a CZ chain;
    read out and trained as the paper variant (floor decoding, Algorithm 1)."""

    name = "toy"
    methods = ("shift", "rotosolve")

    def n_qubits(self, config):
        return config.system.n_ap

    def n_weights(self, config):
        return config.system.n_ap

    def build(self, config):
        n_ap, n_user = config.system.n_ap, config.system.n_user
        x = ParameterVector("x", n_ap * n_user)
        theta = ParameterVector("theta", n_ap)
        qc = QuantumCircuit(QuantumRegister(n_ap, "q"), ClassicalRegister(n_ap, "c"))
        for m in range(n_ap):
            qc.ry(x[m * n_user], m)
            qc.ry(theta[m], m)
        for m in range(n_ap - 1):
            qc.cz(m, m + 1)
        qc.measure(range(n_ap), range(n_ap))
        return qc


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(qnn.VARIANTS, "toy", OneQubitPerAP())
    yield "toy"


def test_a_registered_variant_trains_decides_and_is_saved(toy, tmp_path):
    assert toy in qnn.VARIANTS and train.METHODS[toy] == ("shift", "rotosolve")
    assert qnn.n_weights(TINY, toy) == 3 and qnn.n_qubits(TINY, toy) == 3
    run = train.train(TINY, toy, rng=1)
    assert run.variant == toy and run.method == "shift" and run.epochs_done == 2
    again = train.train(TINY, toy, rng=1)
    np.testing.assert_array_equal(run.weights, again.weights)
    assert not np.array_equal(train.train(TINY, toy, rng=2).weights, run.weights)
    # several seeds at once give the runs of one seed each
    both = train.train_seeds(TINY, toy, seeds=[2, 1])
    np.testing.assert_array_equal(both[1].weights, run.weights)
    roto = train.train(TINY, toy, method="rotosolve", rng=1)
    assert roto.method == "rotosolve" and np.all(np.isnan(roto.flat))
    # deployment: the engine's probabilities, decoded by the variant's rule
    _, H_hat = channel.sample_channels(TINY.system, 5, rng=0)
    a = train.decide(TINY, toy, run, H_hat)
    assert a.shape == (5, 3) and a.min() >= 0 and a.max() <= 1
    x = qnn.get_variant(toy).inputs(TINY, H_hat)
    probs = engine.exact_probabilities(TINY, toy, x, run.weights)
    np.testing.assert_array_equal(qnn.decide_from_probabilities(TINY, toy, probs), a)
    # weight files and the cache know the variant through the registry
    back = weights.load_weights(weights.save_weights(tmp_path / "toy.npz", run))
    assert back.variant == toy
    np.testing.assert_array_equal(back.weights, run.weights)
    cached = train.trained(TINY, toy, tmp_path / "cache", seed=1)
    np.testing.assert_array_equal(cached.weights, run.weights)
    with pytest.raises(ValueError, match="method"):
        train.train(TINY, toy, method="printed")


def test_an_unregistered_variant_is_refused():
    with pytest.raises(ValueError, match="variant"):
        train.train(TINY, "toy")


class RecordedRecipe(OneQubitPerAP):
    """The throwaway circuit, trained and deployed by the recipe ``"recorded"``."""

    name = "toy_recorded"
    recipe = "recorded"


@pytest.fixture
def recorded(monkeypatch):
    calls = []

    def runs(config, seeds, method, inits, progress, checkpoint, variant):
        calls.append(("runs", variant, method, tuple(seeds)))
        return algorithm1.algorithm1_runs(config, seeds, method, inits, progress, checkpoint, variant)

    def decide(config, variant, weights, H_hat, chunk):
        calls.append(("decide", variant, H_hat.shape, chunk))
        return np.broadcast_to(np.arange(config.system.n_ap) % config.system.n_user, (len(H_hat), config.system.n_ap))

    monkeypatch.setitem(train.RECIPES, "recorded", train.Recipe(runs, decide))
    monkeypatch.setitem(qnn.VARIANTS, "toy_recorded", RecordedRecipe())
    yield calls


def test_a_registered_recipe_trains_and_deploys_the_variants_that_name_it(recorded):
    run = train.train(TINY, "toy_recorded", rng=1)
    assert recorded == [("runs", "toy_recorded", "shift", (1,))]
    assert run.variant == "toy_recorded" and run.epochs_done == TINY.training.n_epoch
    train.train_seeds(TINY, "toy_recorded", seeds=[2, 3], method="rotosolve")
    assert recorded[-1] == ("runs", "toy_recorded", "rotosolve", (2, 3))
    _, H_hat = channel.sample_channels(TINY.system, 6, rng=0)
    a = train.decide(TINY, "toy_recorded", run, H_hat.reshape(2, 3, *H_hat.shape[1:]), chunk=4)
    assert recorded[-1] == ("decide", "toy_recorded", H_hat.shape, 4)
    np.testing.assert_array_equal(a, np.broadcast_to([0, 1, 0], (2, 3, 3)))


def test_a_variant_that_names_no_registered_recipe_is_refused(monkeypatch):
    monkeypatch.setattr(RecordedRecipe, "recipe", "nowhere")
    monkeypatch.setitem(qnn.VARIANTS, "toy_recorded", RecordedRecipe())
    with pytest.raises(ValueError, match="recipe 'nowhere'"):
        train.train(TINY, "toy_recorded")


def _round_robin(H_hat):
    """AP ``m`` serves user ``m mod n_user``: a fixed rule that ignores the channel."""
    n_ap, n_user = np.shape(H_hat)[-3:-1]
    return np.broadcast_to(np.arange(n_ap) % n_user, np.shape(H_hat)[:-3] + (n_ap,)).copy()


@pytest.fixture
def round_robin(monkeypatch):
    entry = policies.ClassicalEntry(
        "round robin",
        lambda mu, penalty, rng: lambda H_hat, rho: _round_robin(H_hat),
        uses_rho=False,
        rate_evaluations=lambda n_ap, n_user: 0,
    )
    monkeypatch.setattr(policies, "CLASSICAL", policies.CLASSICAL + (entry,))
    yield entry.name


def test_a_registered_policy_flows_through_the_scorer_and_the_study(round_robin):
    pol = policies.classical_policies(0.1, 10.0)
    assert list(pol)[-1] == round_robin and not pol[round_robin].uses_rho
    assert results.rate_evaluation_counts(pol, 4, 3)[round_robin] == 0
    H, H_hat = channel.sample_channels(SMOKE.system, 30, rng=4)
    decisions = evaluate.baseline_assignments(H, H_hat, 10.0, 0.1, rng=0)
    np.testing.assert_array_equal(decisions[round_robin], _round_robin(H_hat))
    score = evaluate.score_policy(round_robin, decisions[round_robin], H, H_hat, 10.0, 0.1, optimal=decisions["exhaustive"])
    want = rates.min_rate(H, H_hat, _round_robin(H_hat), 10.0, 0.1, penalty=0.0).mean()
    assert score.min_rate == pytest.approx(want, rel=1e-12)
    cfg = with_overrides(SMOKE, n_trials=20, snr_db=(0.0, 20.0), distance_means=(0.5,))
    study = results.run_study(cfg, policies.classical_policies(0.1, 10.0, rng=0))
    assert round_robin in study.policies
    rows = {r["policy"]: r for r in results.summary_rows(study, 0, 1)}
    assert rows[round_robin]["min_rate"] <= rows["oracle"]["min_rate"]
    # a fixed rule serves every user at 4 APs x 3 users, and is rarely the optimum
    assert rows[round_robin]["share_unserved"] == 0.0
    assert rows[round_robin]["share_optimal"] < 1.0
    # and the scaling study compares it too
    assert round_robin in scaling.comparison_policies(SMOKE, {})


def test_the_registry_is_restored_after_the_test():
    assert "round robin" not in policies.classical_policies(0.1, 10.0)
    assert "toy" not in qnn.VARIANTS and "toy_recorded" not in qnn.VARIANTS
    assert "recorded" not in train.RECIPES
