"""One training loop for every training method: the skeleton each method plugs into.

The skeleton (:func:`run_epochs`) owns what every method shares: the seeds and their
random streams, the start or resumption of a run (:func:`start_run`), the epochs, the
order in which an epoch visits the training channels and its minibatches, the progress
bar, the per-epoch history, the checkpoint written after every epoch and the
:class:`~cfmimo.weights.TrainResult` of each run. A method supplies only what is its own,
as an object with the attributes and methods of :class:`Method`: the data it trains on,
one step (forward pass, objective, gradient or direct update) and its optimiser
(:class:`SGD`, :class:`Adam`).

Random streams
--------------
Every random number of a run comes from ``numpy.random.default_rng([seed, stream, epoch])``
(:func:`stream`), with one stream per purpose (:data:`STREAM_INIT`, :data:`STREAM_DATA`,
:data:`STREAM_EPOCH`, :data:`STREAM_ORDER`). A run is therefore a deterministic function
of its seed, several runs can be computed together, and a run resumed after ``k`` epochs
ends bit-identical to an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from .weights import TrainResult, save_weights

__all__ = [
    "STREAM_INIT",
    "STREAM_DATA",
    "STREAM_EPOCH",
    "STREAM_ORDER",
    "stream",
    "seed_of",
    "visiting_order",
    "Start",
    "start_run",
    "SGD",
    "Adam",
    "Method",
    "run_epochs",
]

STREAM_INIT = 0
"""Stream of the initial weights."""
STREAM_DATA = 1
"""Stream of the training channels drawn once (Algorithm 1's ``n_data`` channels)."""
STREAM_EPOCH = 2
"""Stream of epoch ``e``: its visiting order (``paper``) or its fresh channels."""
STREAM_ORDER = 3
"""Stream of epoch ``e``'s visiting order when :data:`STREAM_EPOCH` draws channels."""


def stream(seed: int, purpose: int, epoch: int = 0) -> np.random.Generator:
    """The generator ``numpy.random.default_rng([seed, purpose, epoch])``."""
    return np.random.default_rng([seed, purpose, epoch])


def seed_of(rng, default: int) -> int:
    """The integer seed of a run from ``rng`` (SPEC 7).

    ``None`` gives ``default`` (the config's seed), an int ``>= 0`` itself, a
    ``numpy.random.Generator`` one draw from it. Anything else: ``ValueError`` naming ``rng``.
    """
    if rng is None:
        return int(default)
    if isinstance(rng, bool):
        raise ValueError(f"rng must be an int seed, a numpy Generator or None, got {rng!r}")
    if isinstance(rng, (int, np.integer)):
        if rng < 0:
            raise ValueError(f"rng = {rng} is out of range; allowed: int seed >= 0")
        return int(rng)
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63 - 1))
    raise ValueError(f"rng must be an int seed, a numpy Generator or None, got {type(rng).__name__}")


def visiting_order(rng: np.random.Generator, n: int, visits: int) -> np.ndarray:
    """``visits`` indices into ``n`` items: random permutations of ``range(n)`` one after the
    other, cut after ``visits`` (one permutation when ``visits == n``). ``rng=None``: the
    items in order, ``0, 1, ..., n - 1, 0, 1, ...``."""
    if rng is None:
        return np.arange(visits) % n
    return np.concatenate([rng.permutation(n) for _ in range(-(-visits // n))])[:visits]


# ---------------------------------------------------------------------------------------
# start or resume
# ---------------------------------------------------------------------------------------


@dataclass
class Start:
    """Where a run starts: its weights, finished epochs, history so far and optimiser state."""

    weights: np.ndarray
    epochs_done: int
    history: tuple
    opt_state: np.ndarray | None


def start_run(init, *, config, variant: str, method: str, seed: int, n_weights: int, init_weights) -> Start:
    """Normalise a run's ``init``.

    Parameters
    ----------
    init : TrainResult, array_like or None
        ``None``: fresh weights ``init_weights(stream(seed, STREAM_INIT))``. A
        :class:`~cfmimo.weights.TrainResult` of this same run (config, variant, method,
        seed) resumes it after its finished epochs; an array of ``n_weights`` finite
        weights starts a new run from them.
    init_weights : callable
        ``init_weights(rng) -> ndarray (n_weights,)``.
    """
    if init is None:
        return Start(init_weights(stream(seed, STREAM_INIT)), 0, ([], [], [], []), None)
    if isinstance(init, TrainResult):
        if init.variant != variant or init.method != method or init.seed != seed or init.config != config:
            raise ValueError(
                "init is a TrainResult of a different run (config, variant, method or seed differ); "
                "pass init.weights to start a new run from its weights"
            )
        hist = (list(init.loss), list(init.min_rate), list(init.objective), list(init.flat))
        state = init.opt_state if init.opt_state.size else None
        return Start(np.array(init.weights, dtype=np.float64), init.epochs_done, hist, state)
    weights = np.array(init, dtype=np.float64)
    if weights.shape != (n_weights,):
        raise ValueError(f"init must have shape (n_weights = {n_weights},), got shape {weights.shape}")
    if not np.all(np.isfinite(weights)):
        raise ValueError("init contains NaN or inf weights")
    return Start(weights, 0, ([], [], [], []), None)


# ---------------------------------------------------------------------------------------
# optimisers
# ---------------------------------------------------------------------------------------


class SGD:
    """Algorithm 1's update :math:`\\theta \\leftarrow \\theta - \\mu_e g` with
    :math:`\\mu_e = \\mu / \\sqrt{e + 1}` in epoch ``e`` (Section IV). No state."""

    def __init__(self, step_size: float):
        self.step_size = step_size

    def update(self, theta, grad, epoch: int, step: int):
        lr = self.step_size / np.sqrt(epoch + 1.0)
        return theta - lr * grad

    def state(self, run: int):
        return None


class Adam:
    """Adam with a constant step, moments per run: ``(n_runs, n_weights)``.

    ``states`` holds each run's saved state (``concatenate([m, v])``) or ``None``; the
    step counter is ``epoch * steps_per_epoch + step + 1``, so a resumed run continues
    exactly.
    """

    BETAS = (0.9, 0.999)
    EPS = 1e-8

    def __init__(self, step_size: float, states, n_weights: int, steps_per_epoch: int):
        self.step_size = step_size
        self.steps_per_epoch = steps_per_epoch
        self.m = np.zeros((len(states), n_weights))
        self.v = np.zeros((len(states), n_weights))
        for s, st in enumerate(states):
            if st is not None:
                self.m[s], self.v[s] = st[:n_weights], st[n_weights:]

    def update(self, theta, grad, epoch: int, step: int):
        b1, b2 = self.BETAS
        t = epoch * self.steps_per_epoch + step + 1
        self.m = b1 * self.m + (1 - b1) * grad
        self.v = b2 * self.v + (1 - b2) * grad * grad
        mhat = self.m / (1 - b1**t)
        vhat = self.v / (1 - b2**t)
        return theta - self.step_size * mhat / (np.sqrt(vhat) + self.EPS)

    def state(self, run: int):
        return np.concatenate([self.m[run], self.v[run]])


# ---------------------------------------------------------------------------------------
# the skeleton
# ---------------------------------------------------------------------------------------


class Method:
    """What a training method plugs into :func:`run_epochs` (a protocol; subclassing is optional).

    Attributes
    ----------
    variant, name : str
        Recorded in the :class:`~cfmimo.weights.TrainResult` (``variant`` may be another
        label than a registered variant, e.g. ``"twin"``).
    desc : str
        Progress-bar label.
    n_weights : int
    n_items : int
        Training channels available in an epoch (the pool the visiting order draws from).
    visits : int
        Channel visits per epoch; the history is the per-epoch mean over them.
    batch : int
        Channels per step (the last step of an epoch may have fewer).
    order_stream : int or None
        The stream of each epoch's random visiting order (:func:`visiting_order`);
        ``None``: the channels in order.
    tracks_flat : bool
        Whether the method reports the share of zero updates (history ``flat``; NaN otherwise).
    """

    variant = ""
    name = ""
    desc = ""
    n_weights = 0
    n_items = 0
    visits = 0
    batch = 1
    order_stream = None
    tracks_flat = False

    def init_weights(self, rng):  # pragma: no cover - protocol
        """Fresh weights ``(n_weights,)`` from ``rng``."""
        raise NotImplementedError

    def optimiser(self, states, steps_per_epoch):  # pragma: no cover - protocol
        """The optimiser (:class:`SGD`, :class:`Adam`) of the runs, from their saved states."""
        raise NotImplementedError

    def begin_epoch(self, epoch: int) -> None:
        """Prepare epoch ``epoch`` (e.g. draw its fresh channels). Default: nothing."""

    def step(self, epoch: int, step: int, rows, theta, sums, optimiser):  # pragma: no cover - protocol
        """One step of every run.

        ``rows`` ``(S, nb)``: indices of the step's channels per run; ``theta`` ``(S, P)``.
        Adds the step's per-run totals to ``sums`` ``(4, S)`` (decoded loss, decoded
        min-rate, objective, zero updates) and returns the new ``theta``.
        """
        raise NotImplementedError


def run_epochs(method, config, seeds, inits, *, progress: bool = False, checkpoint=None) -> list[TrainResult]:
    """Train one run per seed with ``method`` (see :class:`Method`): the shared loop.

    Parameters
    ----------
    method : Method
    config : cfmimo.config.Preset
        ``training.n_epoch``.
    seeds : list of int
    inits : list
        One ``init`` per seed (:func:`start_run`); all resume from the same epoch.
    progress : bool
        A tqdm bar over epochs.
    checkpoint : Path, optional
        After every epoch, the first run so far is saved there atomically.

    Returns
    -------
    list of TrainResult
    """
    n_epoch = config.training.n_epoch
    S = len(seeds)
    starts = [
        start_run(init, config=config, variant=method.variant, method=method.name, seed=seed,
                  n_weights=method.n_weights, init_weights=method.init_weights)
        for init, seed in zip(inits, seeds)
    ]
    k0 = starts[0].epochs_done
    if any(s.epochs_done != k0 for s in starts):  # pragma: no cover - train_seeds has no init
        raise ValueError("all runs must resume from the same epoch")
    theta = np.stack([s.weights for s in starts])  # (S, P)
    hist = [s.history for s in starts]
    n_steps = -(-method.visits // method.batch)
    optimiser = method.optimiser([s.opt_state for s in starts], n_steps)

    def result(s):
        state = optimiser.state(s)
        return TrainResult(
            weights=np.array(theta[s]),
            loss=np.array(hist[s][0], dtype=np.float64),
            min_rate=np.array(hist[s][1], dtype=np.float64),
            objective=np.array(hist[s][2], dtype=np.float64),
            config=config,
            variant=method.variant,
            method=method.name,
            seed=int(seeds[s]),
            opt_state=np.zeros(0) if state is None else state,
            flat=np.array(hist[s][3], dtype=np.float64),
        )

    bar = tqdm(total=n_epoch, initial=k0, disable=not progress, desc=method.desc)
    for epoch in range(k0, n_epoch):
        method.begin_epoch(epoch)
        orders = np.stack([
            visiting_order(None if method.order_stream is None else stream(seed, method.order_stream, epoch),
                           method.n_items, method.visits)
            for seed in seeds
        ])  # (S, visits)
        sums = np.zeros((4, S))
        for step in range(n_steps):
            rows = orders[:, step * method.batch : (step + 1) * method.batch]
            theta = method.step(epoch, step, rows, theta, sums, optimiser)
        for s in range(S):
            for i in range(3):
                hist[s][i].append(sums[i, s] / method.visits)
            hist[s][3].append(sums[3, s] / method.visits if method.tracks_flat else np.nan)
        bar.update(1)
        bar.set_postfix(loss=f"{float(np.mean(sums[0])) / method.visits:.2f}",
                        min_rate=f"{float(np.mean(sums[1])) / method.visits:.3f}")
        if checkpoint is not None:
            save_weights(checkpoint, result(0))
    bar.close()
    return [result(s) for s in range(S)]
