"""The shared training loop (cfmimo.loop) with a toy method: least squares on fixed targets."""

import numpy as np
import pytest

from cfmimo import loop, weights
from cfmimo.config import SMOKE, with_overrides

CFG = with_overrides(SMOKE, n_epoch=5)


class LeastSquares:
    """Fit ``theta`` to the mean of 6 target vectors, 4 per step, with Adam (or SGD)."""

    variant, name, desc = "paper", "toy", "toy"
    n_weights, n_items, visits, batch = 3, 6, 6, 4
    order_stream = loop.STREAM_EPOCH
    tracks_flat = False

    def __init__(self, optimiser="adam"):
        self.kind = optimiser
        self.targets = np.arange(18.0).reshape(6, 3)
        self.seen = []

    def init_weights(self, rng):
        return rng.standard_normal(3)

    def optimiser(self, states, steps_per_epoch):
        return loop.Adam(0.1, states, 3, steps_per_epoch) if self.kind == "adam" else loop.SGD(0.1)

    def step(self, epoch, step, rows, theta, sums, optimiser):
        self.seen.append(rows.copy())
        diff = theta[:, None, :] - self.targets[rows]  # (S, nb, 3)
        sums[0] += (diff**2).sum(axis=(1, 2))
        sums[1] += -(diff**2).sum(axis=(1, 2))
        sums[2] += (diff**2).sum(axis=(1, 2))
        return optimiser.update(theta, diff.sum(axis=1), epoch, step)

    def begin_epoch(self, epoch):
        pass


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_the_loop_visits_every_item_once_per_epoch_and_learns(kind):
    method = LeastSquares(kind)
    run, = loop.run_epochs(method, CFG, [4], [None])
    assert run.epochs_done == 5 and run.variant == "paper" and run.method == "toy" and run.seed == 4
    assert len(method.seen) == 5 * 2 and [r.shape for r in method.seen[:2]] == [(1, 4), (1, 2)]
    for e in range(5):
        assert sorted(np.concatenate([method.seen[2 * e][0], method.seen[2 * e + 1][0]])) == list(range(6))
    assert not np.array_equal(method.seen[0], method.seen[2])  # a new order every epoch
    assert run.loss[-1] < run.loss[0] and np.all(np.isnan(run.flat))
    assert (run.opt_state.size == 6) == (kind == "adam")


def test_runs_together_equal_runs_alone_and_seeds_differ():
    a, b = loop.run_epochs(LeastSquares(), CFG, [4, 9], [None, None])
    alone, = loop.run_epochs(LeastSquares(), CFG, [9], [None])
    np.testing.assert_array_equal(b.weights, alone.weights)
    np.testing.assert_array_equal(b.loss, alone.loss)
    assert not np.array_equal(a.weights, b.weights)


def test_resuming_from_a_checkpoint_is_bit_identical(tmp_path, monkeypatch):
    whole, = loop.run_epochs(LeastSquares(), CFG, [4], [None])
    saved = []

    def save_and_stop(path, result):
        weights.save_weights(path, result)
        saved.append(result.epochs_done)
        if len(saved) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "save_weights", save_and_stop)
    with pytest.raises(KeyboardInterrupt):
        loop.run_epochs(LeastSquares(), CFG, [4], [None], checkpoint=tmp_path / "ck.npz")
    monkeypatch.undo()
    with np.load(tmp_path / "ck.npz") as f:  # not load_weights: it checks the sizes of a registered variant
        part = weights.TrainResult(weights=f["weights"], loss=f["loss"], min_rate=f["min_rate"], objective=f["objective"],
                                   config=CFG, variant="paper", method="toy", seed=4, opt_state=f["opt_state"], flat=f["flat"])
    assert part.epochs_done == 2
    resumed, = loop.run_epochs(LeastSquares(), CFG, [4], [part])
    np.testing.assert_array_equal(resumed.weights, whole.weights)
    np.testing.assert_array_equal(resumed.loss, whole.loss)
    with pytest.raises(ValueError, match="different run"):
        loop.run_epochs(LeastSquares(), CFG, [5], [part])


def test_bad_init_and_rng():
    with pytest.raises(ValueError, match="init"):
        loop.run_epochs(LeastSquares(), CFG, [4], [np.zeros(2)])
    with pytest.raises(ValueError, match="NaN"):
        loop.run_epochs(LeastSquares(), CFG, [4], [np.full(3, np.nan)])
    with pytest.raises(ValueError, match="rng"):
        loop.seed_of(-1, 0)
    assert loop.seed_of(None, 7) == 7 and loop.seed_of(np.int64(3), 0) == 3
    np.testing.assert_array_equal(loop.visiting_order(None, 4, 6), [0, 1, 2, 3, 0, 1])
    order = loop.visiting_order(np.random.default_rng(0), 4, 10)
    assert sorted(order[:4]) == sorted(order[4:8]) == [0, 1, 2, 3] and len(order) == 10
