"""Training of the cloud QNN: Algorithm 1 (paper variant) and a differentiable objective
for the improved ``reupload`` variant; deployment decisions; atomic weight files and an
on-disk cache of deterministic training runs.

Paper variant, Algorithm 1
--------------------------
``n_data`` training channels :math:`\\hat{\\mathbf H}_{train}^{[i]}` are drawn once (at
``training.train_snr_db``, distance mean ``system.distance_mean``); each of the
``n_epoch`` epochs visits them in a fresh random order, one SGD step per channel
(:math:`N_{train} = N_{data} N_{epoch}` steps), with step size
:math:`\\mu / \\sqrt{e + 1}` in epoch ``e`` (Section IV). The loss of a step is Eq. (11)
of the *decoded* assignment (:func:`cfmimo.rates.loss` with ``H_hat`` for both channels),
and its "gradient" is formed from the same loss at shifted weights. All ``2P + 1``
evaluations of a step (centre and :math:`\\pm\\varrho` for each of the ``P`` weights) are
one call of the exact engine. Methods:

``"shift"`` (default)
    The correct parameter-shift rule for a gate :math:`e^{-i\\theta Y/2}` with shift
    :math:`\\varrho`: :math:`g_j = [L(\\theta + \\varrho e_j) - L(\\theta - \\varrho e_j)] /
    (2\\sin\\varrho)`, then :math:`\\theta \\leftarrow \\theta - \\mu_e g`.
``"printed"``
    Eq. (17) exactly as printed: :math:`g_j = \\tfrac12 \\sin(\\varrho)\\,[L(\\theta -
    \\varrho e_j) - L(\\theta + \\varrho e_j)]` (the opposite sign, so the update climbs
    the loss; the factor :math:`\\sin(\\varrho)/2` instead of :math:`1/(2\\sin\\varrho)`,
    equal at :math:`\\varrho = \\pi/2`).
``"rotosolve"``
    The alternative named in Algorithm 1 line 7: for each channel, each weight in turn
    jumps to the minimiser of the sinusoid through :math:`L` at
    :math:`\\theta_j, \\theta_j \\pm \\pi/2` (Ostaszewski et al. 2021); exact for an
    expectation value, a heuristic for the piecewise-constant decoded loss. The shift is
    always :math:`\\pi/2` and the step size is not used.

Because the decoded loss is piecewise constant in :math:`\\theta`, the shifted
differences are not a gradient (DESIGN claim 8); notebook 04 shows what they do.

Reupload variant
----------------
Trained on the exact probabilities with adjoint gradients
(:func:`cfmimo.engine.exact_vjp`) and Adam with the constant step :data:`ADAM_STEP` (a
decaying step as in Algorithm 1 learnt markedly worse), in minibatches of :data:`BATCH`
channels. Each epoch draws *fresh* channels (``n_data``
of them, online learning; a deviation from Algorithm 1, which reuses ``n_data``
channels: the map to be learnt has 81 classes and 100 channels over-fit). Methods:

``"imitation"`` (default)
    The first :data:`IMITATION_FRACTION` of the epochs minimise the cross-entropy
    :math:`-\\log p(\\text{code}(a^*))` of the exhaustive max-min assignment
    :math:`a^*` (:func:`cfmimo.baselines.exhaustive` on the estimate); the rest maximise
    the expected min-rate under the model's distribution restricted (and renormalised)
    to the assignments that serve every user, i.e. the candidates of the decoder.
``"expected"``
    Minimise the expected Eq. (11) loss :math:`\\sum_c p_c L(a_c)` over all bitstrings
    (an invalid code counts as an unserved user) throughout, for comparison (DESIGN.md
    notes that this tends to collapse to a constant policy).

Randomness and resumption
-------------------------
A run is a deterministic function of ``(config, variant, method, seed)``: the initial
weights, the training channels and each epoch's shuffle (or fresh channels) come from
separate streams ``numpy.random.default_rng([seed, stream, epoch])``. A run resumed from
a :class:`TrainResult` with ``k`` finished epochs (``init=``, e.g. a checkpoint written
with ``checkpoint=``) therefore ends bit-identical to an uninterrupted run.

Code layout
-----------
Both methods run in the shared loop :func:`cfmimo.loop.run_epochs`, which owns the
epochs, visiting order, minibatches, progress bar, history, checkpoints and seeds; each
is a :class:`cfmimo.loop.Method` here (``_Algorithm1``, whose update direction is
``_shift_rule_gradient``, and ``_Reupload``). A new variant registered in
:data:`cfmimo.qnn.VARIANTS` trains with either by calling ``algorithm1_runs`` or
``reupload_runs`` with its name, or with its own Method.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import engine, qnn
from ._validation import as_channel
from .baselines import candidate_min_rates, exhaustive
from .channel import sample_channels
from .config import Preset, check_preset, db_to_linear
from .gradients import shift_gradient
from .loop import SGD, STREAM_DATA, STREAM_EPOCH, Adam, run_epochs, seed_of, stream
from .rates import gain_matrix, ideal_capacity, rates_from_gains
from .weights import TrainResult, cache_key, cache_path, check_weights_path, load_cached, load_weights, save_weights

__all__ = [
    "METHODS",
    "DEFAULT_METHOD",
    "BATCH",
    "ADAM_STEP",
    "IMITATION_FRACTION",
    "TrainResult",
    "train",
    "train_seeds",
    "decide",
    "save_weights",
    "load_weights",
    "trained",
    "cache_key",
    "convergence_epoch",
    "training_channels",
]

class _VariantTable(Mapping):
    """A read-only view of one attribute of every registered variant (:data:`cfmimo.qnn.VARIANTS`)."""

    def __init__(self, attribute):
        self._attribute = attribute

    def __getitem__(self, name):
        if name not in qnn.VARIANTS:
            raise KeyError(name)
        return getattr(qnn.VARIANTS[name], self._attribute)

    def __iter__(self):
        return iter(qnn.VARIANTS)

    def __len__(self):
        return len(qnn.VARIANTS)

    def __repr__(self):
        return repr(dict(self))


METHODS = _VariantTable("methods")
"""Training methods available for each variant (the first is the default)."""

DEFAULT_METHOD = _VariantTable("default_method")

BATCH = 25
"""Minibatch size (channels per Adam step) of the reupload variant."""

ADAM_STEP = 0.05
"""Adam step size of the reupload variant (constant)."""

IMITATION_FRACTION = 0.3
"""Fraction of the epochs spent on cross-entropy imitation (method ``imitation``)."""

_MAX_TABLE = 4096  # precompute per-candidate losses when n_user ** n_ap is at most this


# ---------------------------------------------------------------------------------------
# argument handling
# ---------------------------------------------------------------------------------------


def _check_method(variant, method):
    variant = qnn.get_variant(variant).name
    if method is None:
        return DEFAULT_METHOD[variant]
    if method not in METHODS[variant]:
        raise ValueError(f"method = {method!r} is unknown for variant {variant!r}; allowed: {list(METHODS[variant])}")
    return method


def _seed_of(rng, config) -> int:
    return seed_of(rng, config.training.seed)


def training_channels(config: Preset, variant: str = "paper", seed=None) -> np.ndarray:
    """The estimated channels a training run sees, in the order it sees them.

    Paper variant: the ``n_data`` channels of Algorithm 1 (each epoch revisits them).
    Reupload variant: ``n_epoch * n_data`` fresh channels, epoch after epoch. Use this
    to train another model (e.g. :func:`cfmimo.classical.fit_mlp`) on exactly the same data.

    Returns
    -------
    ndarray, complex, shape ``(n, n_ap, n_user, n_tx)``
    """
    variant = qnn.get_variant(variant)
    seed = _seed_of(seed, config)
    tr = config.training
    if variant.reuses_data:
        return sample_channels(config.system, tr.n_data, stream(seed, STREAM_DATA))[1]
    return np.concatenate(
        [sample_channels(config.system, tr.n_data, stream(seed, STREAM_EPOCH, epoch))[1] for epoch in range(tr.n_epoch)]
    )


# ---------------------------------------------------------------------------------------
# losses on decoded assignments
# ---------------------------------------------------------------------------------------


class _Scorer:
    """Eq. (11) loss and min-rate of assignments on a fixed set of training channels."""

    def __init__(self, config: Preset, H_hat):
        sys = config.system
        self.rho = db_to_linear(config.training.train_snr_db)
        self.mu, self.penalty, self.n_user = sys.interference_factor, sys.penalty, sys.n_user
        self.gains = gain_matrix(H_hat, H_hat)  # (n, M, K, K)
        self.capacity = ideal_capacity(H_hat, self.rho)  # (n,)
        self.table = None
        if sys.n_user**sys.n_ap <= _MAX_TABLE:
            self.min_table = candidate_min_rates(H_hat, self.rho, self.mu, self.penalty)  # (n, n_cand)
            self.table = (self.capacity[:, None] - self.min_table) ** 2

    def min_rate(self, rows, a):
        """``rows`` (...) sample indices, ``a`` (..., M) -> min-rate (...)."""
        if self.table is not None:
            return self.min_table[rows, qnn.assignment_index(a, self.n_user)]
        rates = rates_from_gains(self.gains[rows], a, self.rho, self.mu, self.penalty)
        return rates.min(axis=-1)

    def loss(self, rows, a):
        if self.table is not None:
            return self.table[rows, qnn.assignment_index(a, self.n_user)]
        return (self.capacity[rows] - self.min_rate(rows, a)) ** 2


# ---------------------------------------------------------------------------------------
# paper variant: Algorithm 1
# ---------------------------------------------------------------------------------------


def _paper_decide(program, config, x, thetas, variant="paper"):
    """Floor-decoded assignments for x ``(S, 1, n_in)`` and thetas ``(S, R, P)``."""
    lead = np.broadcast_shapes(x.shape[:-1], thetas.shape[:-1])
    xb = np.broadcast_to(x, lead + x.shape[-1:]).reshape(-1, x.shape[-1])
    tb = np.broadcast_to(thetas, lead + thetas.shape[-1:]).reshape(-1, thetas.shape[-1])
    probs = engine.forward(program, xb, tb)
    o = qnn.get_variant(variant).outputs(config, probs)
    a = np.clip(np.floor(o * config.system.n_user), 0, config.system.n_user - 1).astype(np.int64)
    return a.reshape(lead + (config.system.n_ap,))


def _shift_rule_gradient(L, method, shift):
    """The update direction of Algorithm 1 line 7 from the losses of one step.

    ``L`` ``(S, 2P + 1)``: the loss at the centre, at :math:`\\theta + \\varrho e_j`
    (columns ``1..P``) and at :math:`\\theta - \\varrho e_j` (columns ``P+1..2P``).
    ``"shift"``: the correct rule :math:`[L_+ - L_-] / (2 \\sin\\varrho)`; ``"printed"``:
    Eq. (17) as printed, :math:`\\tfrac12 \\sin(\\varrho) [L_- - L_+]`. Returns ``(S, P)``.
    """
    n_w = (L.shape[1] - 1) // 2
    return shift_gradient(L[:, 1 : n_w + 1], L[:, n_w + 1 :], shift, method)


class _Algorithm1:
    """Algorithm 1 as a :class:`cfmimo.loop.Method`: one SGD step per channel on the
    ``n_data`` channels drawn once, shuffled every epoch. For the ``paper`` variant, or any
    variant whose readout is one probability per AP (decoded by the floor rule)."""

    batch = 1
    order_stream = STREAM_EPOCH

    def __init__(self, config, seeds, method, variant="paper"):
        tr = config.training
        self.config, self.name, self.shift, self.variant = config, method, tr.shift, variant
        self.desc = f"train {variant}/{method}"
        self.program = engine.program_for(config, variant)
        self.n_weights = n_w = qnn.n_weights(config, variant)
        self.n_items = self.visits = tr.n_data
        self.tracks_flat = method != "rotosolve"
        data = [sample_channels(config.system, tr.n_data, stream(seed, STREAM_DATA)) for seed in seeds]
        inputs = qnn.get_variant(variant).inputs
        self.x_all = np.stack([inputs(config, H_hat) for _, H_hat in data])  # (S, n_data, n_in)
        self.scorers = [_Scorer(config, H_hat) for _, H_hat in data]
        self.rows_s = np.arange(len(seeds))
        if method in ("shift", "printed"):
            self.delta = np.zeros((2 * n_w + 1, n_w))
            self.delta[1 : n_w + 1] = self.shift * np.eye(n_w)
            self.delta[n_w + 1 :] = -self.shift * np.eye(n_w)
        have_table = self.scorers[0].table is not None
        self.table = np.stack([sc.table for sc in self.scorers]) if have_table else None
        self.mtable = np.stack([sc.min_table for sc in self.scorers]) if have_table else None

    def init_weights(self, rng):
        return qnn.init_weights(self.config, self.variant, rng)

    def optimiser(self, states, steps_per_epoch):
        return SGD(self.config.training.step_size)

    def begin_epoch(self, epoch):
        pass

    def _score(self, order_rows, a):
        # order_rows (S,), a (S, R, M) -> loss, min-rate (S, R)
        if self.table is not None:
            idx = qnn.assignment_index(a, self.config.system.n_user)
            at = (self.rows_s[:, None], order_rows[:, None], idx)
            return self.table[at], self.mtable[at]
        loss = np.stack([sc.loss(order_rows[s], a[s]) for s, sc in enumerate(self.scorers)])
        mr = np.stack([sc.min_rate(order_rows[s], a[s]) for s, sc in enumerate(self.scorers)])
        return loss, mr

    def step(self, epoch, step, rows, theta, sums, optimiser):
        rows = rows[:, 0]
        x = self.x_all[self.rows_s, rows][:, None, :]  # (S, 1, n_in)
        if self.name == "rotosolve":  # one weight at a time
            for j in range(self.n_weights):
                trio = np.repeat(theta[:, None, :], 3, axis=1)
                trio[:, 1, j] += np.pi / 2
                trio[:, 2, j] -= np.pi / 2
                L, mr = self._score(rows, _paper_decide(self.program, self.config, x, trio, self.variant))
                if j == 0:
                    sums[0] += L[:, 0]
                    sums[1] += mr[:, 0]
                    sums[2] += L[:, 0]
                theta = theta.copy()
                theta[:, j] = theta[:, j] - np.pi / 2 - np.arctan2(2 * L[:, 0] - L[:, 1] - L[:, 2], L[:, 1] - L[:, 2])
            return theta
        a = _paper_decide(self.program, self.config, x, theta[:, None, :] + self.delta, self.variant)
        L, mr = self._score(rows, a)
        sums[0] += L[:, 0]
        sums[1] += mr[:, 0]
        sums[2] += L[:, 0]
        sums[3] += np.all(L[:, 1:] == L[:, :1], axis=1)
        return optimiser.update(theta, _shift_rule_gradient(L, self.name, self.shift), epoch, step)


def algorithm1_runs(config, seeds, method, inits, progress, checkpoint, variant="paper") -> list:
    """Algorithm 1 for the ``paper`` variant (or ``variant``), one run per seed (the runner
    behind :func:`train` and :func:`train_seeds`; ``inits`` holds one ``init`` per seed)."""
    return run_epochs(_Algorithm1(config, seeds, method, variant), config, seeds, inits, progress=progress, checkpoint=checkpoint)


# ---------------------------------------------------------------------------------------
# reupload variant
# ---------------------------------------------------------------------------------------


class _Reupload:
    """Adam on exact probabilities as a :class:`cfmimo.loop.Method`: fresh channels every
    epoch, minibatches in order. For the ``reupload`` variant, or any variant whose
    bitstrings hold a binary user code per AP."""

    order_stream = None
    tracks_flat = False

    def __init__(self, config, seeds, method, variant="reupload"):
        tr, sys = config.training, config.system
        self.config, self.seeds, self.name, self.variant = config, seeds, method, variant
        self.desc = f"train {variant}/{method}"
        self.program = engine.program_for(config, variant)
        self.n_weights = qnn.n_weights(config, variant)
        self.n_items = self.visits = tr.n_data
        self.batch = min(BATCH, tr.n_data)
        self.rho = db_to_linear(tr.train_snr_db)
        self.index, covers = index, covers = qnn.code_tables(sys.n_ap, sys.n_user)
        self.n_codes = n_codes = 2 ** qnn.n_clbits(config, variant)
        # map every bitstring to its candidate (or -1 for an invalid code)
        self.code_to_cand = np.full(n_codes, -1, dtype=np.int64)
        self.code_to_cand[index] = np.arange(len(index))
        self.valid = self.code_to_cand >= 0
        self.cover_code = np.zeros(n_codes, dtype=bool)
        self.cover_code[index[covers]] = True
        if not covers.any():
            self.cover_code = self.valid.copy()
        self.n_imitate = int(round(IMITATION_FRACTION * tr.n_epoch)) if method == "imitation" else 0

    def init_weights(self, rng):
        return qnn.init_weights(self.config, self.variant, rng)

    def optimiser(self, states, steps_per_epoch):
        return Adam(ADAM_STEP, states, self.n_weights, steps_per_epoch)

    def begin_epoch(self, epoch):
        tr, sys = self.config.training, self.config.system
        xs, targets, mtabs, ltabs = [], [], [], []
        for seed in self.seeds:
            _, H_hat = sample_channels(sys, tr.n_data, stream(seed, STREAM_EPOCH, epoch))
            sc = _Scorer(self.config, H_hat)
            xs.append(qnn.get_variant(self.variant).inputs(self.config, H_hat))
            if epoch < self.n_imitate:
                best = exhaustive(H_hat, self.rho, sys.interference_factor, sys.penalty)
                targets.append(self.index[qnn.assignment_index(best, sys.n_user)])
            # per-bitstring min-rate and loss (invalid code: an unserved user)
            mr = np.full((tr.n_data, self.n_codes), -sys.penalty)
            mr[:, self.valid] = sc.min_table[:, self.code_to_cand[self.valid]]
            mtabs.append(mr)
            ltabs.append((sc.capacity[:, None] - mr) ** 2)
        self.xs, self.mtabs, self.ltabs = np.stack(xs), np.stack(mtabs), np.stack(ltabs)
        self.targets = np.stack(targets) if targets else None

    def step(self, epoch, step, rows, theta, sums, optimiser):
        S, nb = rows.shape
        n_codes, cover_code = self.n_codes, self.cover_code
        at = (np.arange(S)[:, None], rows)
        xb = self.xs[at].reshape(S * nb, -1)
        tb = np.repeat(theta, nb, axis=0)  # (S * nb, P)
        probs = engine.forward(self.program, xb, tb).reshape(S, nb, n_codes)  # (S, nb, C)
        mtab, ltab = self.mtabs[at], self.ltabs[at]  # (S, nb, C)
        if epoch < self.n_imitate:
            tgt = self.targets[at]  # (S, nb)
            p_t = np.take_along_axis(probs, tgt[..., None], axis=-1)[..., 0]
            p_t = np.maximum(p_t, 1e-12)
            obj = -np.log(p_t)
            cot = np.zeros_like(probs)
            np.put_along_axis(cot, tgt[..., None], (-1.0 / p_t / nb)[..., None], axis=-1)
        elif self.name == "imitation":
            q = np.where(cover_code, probs, 0.0)
            z = np.maximum(q.sum(axis=-1), 1e-12)
            expected = (q * mtab).sum(axis=-1) / z
            obj = -expected
            cot = np.where(cover_code, -(mtab - expected[..., None]) / z[..., None] / nb, 0.0)
        else:  # expected loss over all bitstrings
            obj = (probs * ltab).sum(axis=-1)
            cot = ltab / nb
        _, g = engine.vjp(self.program, xb, tb, cot.reshape(-1, n_codes))
        grad = g.reshape(S, nb, self.n_weights).sum(axis=1)  # (S, P)
        # history: decoded assignments at the weights in force
        chosen = np.argmax(np.where(cover_code, probs, -1.0), axis=-1)  # bitstring of the decoded assignment
        sums[0] += np.take_along_axis(ltab, chosen[..., None], -1)[..., 0].sum(axis=1)
        sums[1] += np.take_along_axis(mtab, chosen[..., None], -1)[..., 0].sum(axis=1)
        sums[2] += obj.sum(axis=1)
        return optimiser.update(theta, grad, epoch, step)


def reupload_runs(config, seeds, method, inits, progress, checkpoint, variant="reupload") -> list:
    """Adam on exact probabilities for the ``reupload`` variant (or ``variant``), one run
    per seed (the runner behind :func:`train` and :func:`train_seeds`)."""
    return run_epochs(_Reupload(config, seeds, method, variant), config, seeds, inits, progress=progress, checkpoint=checkpoint)


# ---------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------


def train(config: Preset, variant: str = "paper", *, method=None, rng=None, progress: bool = False, init=None, checkpoint=None) -> TrainResult:
    """Train the QNN (Algorithm 1 for ``paper``; see the module docstring).

    Parameters
    ----------
    config : cfmimo.config.Preset
        Uses ``config.system`` and ``config.training`` (``n_data``, ``n_epoch``,
        ``step_size``, ``shift``, ``train_snr_db``, ``seed``, ``n_layer``, ``n_neuron``).
    variant : {"paper", "reupload"}
    method : str, optional
        ``paper``: ``"shift"`` (default), ``"printed"`` (Eq. 17 as printed) or
        ``"rotosolve"``; ``reupload``: ``"imitation"`` (default) or ``"expected"``.
    rng : int, numpy.random.Generator or None
        Seed of the run; ``None`` uses ``config.training.seed``. Same seed, same result
        (bit for bit).
    progress : bool
        Show a tqdm bar over epochs.
    init : TrainResult, array_like or None
        A :class:`TrainResult` of this same run (e.g. :func:`cfmimo.weights.load_weights` of a
        checkpoint) resumes it after its finished epochs; an array of ``n_weights``
        weights starts a new run from them.
    checkpoint : str or Path, optional
        After every epoch, the run so far is saved there atomically (:func:`cfmimo.weights.save_weights`).

    Returns
    -------
    TrainResult
        Its ``loss`` history, one value per epoch, is Fig. 4's training loss.

    References
    ----------
    Narottama & Duong (2022), Algorithm 1; Eq. (11); Fig. 4.
    """
    config = check_preset(config)
    variant = qnn.get_variant(variant).name
    method = _check_method(variant, method)
    seed = _seed_of(rng, config)
    if checkpoint is not None:
        checkpoint = check_weights_path(checkpoint, "checkpoint")
    return qnn.get_variant(variant).train_runs(config, [seed], method, [init], progress, checkpoint)[0]


def train_seeds(config: Preset, variant: str = "paper", seeds=(0, 1, 2), *, method=None, progress: bool = False) -> list[TrainResult]:
    """Train several independent runs at once (one engine call per step for all seeds).

    Result ``i`` is bit-identical to ``train(config, variant, method=method,
    rng=seeds[i])``; batching only amortises the Python overhead.

    Parameters
    ----------
    seeds : sequence of int
        Non-negative, at least one.
    """
    config = check_preset(config)
    variant = qnn.get_variant(variant).name
    method = _check_method(variant, method)
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must contain at least one seed")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"seeds must be non-negative integers, got {s!r}")
    seeds = [int(s) for s in seeds]
    return qnn.get_variant(variant).train_runs(config, seeds, method, [None] * len(seeds), progress, None)


def decide(config: Preset, variant: str, weights, H_hat, *, chunk: int = 4096) -> np.ndarray:
    """Deployment (Algorithm 1 lines 9-10): assignments for estimated channels.

    Parameters
    ----------
    config : Preset
    variant : {"paper", "reupload"}
    weights : array_like, shape ``(n_weights,)`` (or a :class:`TrainResult`)
    H_hat : array_like, complex, shape ``(..., n_ap, n_user, n_tx)``
    chunk : int
        Channels per engine call (bounds memory).

    Returns
    -------
    ndarray of int, shape ``(..., n_ap)``

    References
    ----------
    Narottama & Duong (2022), Algorithm 1; Eq. (9); Eq. (10).
    """
    config = check_preset(config)
    variant = qnn.get_variant(variant).name
    if isinstance(weights, TrainResult):
        weights = weights.weights
    weights = np.asarray(weights, dtype=np.float64)
    n_w = qnn.n_weights(config, variant)
    if weights.shape != (n_w,):
        raise ValueError(f"weights must have shape (n_weights = {n_w},), got shape {weights.shape}")
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"chunk = {chunk!r} is out of range; allowed: integer >= 1")
    H_hat = as_channel("H_hat", H_hat)
    n_ap, n_user = config.system.n_ap, config.system.n_user
    if H_hat.shape[-3:-1] != (n_ap, n_user):
        raise ValueError(
            f"H_hat has shape {H_hat.shape}: (n_ap, n_user) = {H_hat.shape[-3:-1]}, the config has "
            f"(n_ap, n_user) = {(n_ap, n_user)}"
        )
    lead = H_hat.shape[:-3]
    flat = H_hat.reshape((-1,) + H_hat.shape[-3:])
    out = qnn.get_variant(variant).decide(config, weights, flat, int(chunk))
    return out.reshape(lead + (n_ap,))


# ---------------------------------------------------------------------------------------
# files and cache
# ---------------------------------------------------------------------------------------


def trained(config: Preset, variant: str = "paper", cache_dir=None, *, method=None, seed=None, progress: bool = False) -> TrainResult:
    """A deterministic training run, cached on disk.

    The cache file is named by :func:`cfmimo.weights.cache_key`, so any change of the configuration,
    seed, method or of the code that computes the result starts a fresh run. The
    result is bit-identical whether it comes from the cache or not (``.npz`` stores
    float64 exactly). An unreadable cache entry (truncated, empty) is treated as missing,
    with a ``cfmimo.weights.CacheWarning``, and overwritten by a fresh run.

    Parameters
    ----------
    cache_dir : str or Path, optional
        The cache folder (the notebooks pass their ``cache_dir`` parameter, ``"_cache"``);
        created when missing. ``None``: no cache (the run is computed every time).
    method, seed : optional
        As in :func:`train` (``seed`` defaults to ``config.training.seed``).
    """
    config = check_preset(config)
    variant = qnn.get_variant(variant).name
    method = _check_method(variant, method)
    path = cache_path(cache_dir, config, variant, method, seed)
    result = load_cached(path, config)
    if result is not None:
        return result
    result = train(config, variant, method=method, rng=seed, progress=progress)
    if path is not None:
        save_weights(path, result)
    return result


def convergence_epoch(loss, rel_tol: float = 0.01, tail: int = 10) -> int:
    """First epoch from which the loss stays within ``rel_tol`` of its final level.

    The final level is the mean of the last ``tail`` epochs; the result is the smallest
    ``e`` such that every epoch ``>= e`` is within ``rel_tol * |level|`` of it (the number
    of epochs if none is).

    Parameters
    ----------
    loss : array_like, shape ``(n_epoch,)``
    rel_tol : float, > 0
    tail : int, >= 1
    """
    loss = np.asarray(loss, dtype=np.float64)
    if loss.ndim != 1 or loss.size == 0 or not np.all(np.isfinite(loss)):
        raise ValueError(f"loss must be a non-empty 1-d array of finite numbers, got shape {loss.shape}")
    if not (isinstance(rel_tol, (int, float)) and rel_tol > 0):
        raise ValueError(f"rel_tol = {rel_tol!r} is out of range; allowed: > 0")
    if isinstance(tail, bool) or not isinstance(tail, (int, np.integer)) or tail < 1:
        raise ValueError(f"tail = {tail!r} is out of range; allowed: integer >= 1")
    level = loss[-min(tail, loss.size):].mean()
    outside = np.abs(loss - level) > rel_tol * abs(level)
    if not outside.any():
        return 0
    return int(np.flatnonzero(outside)[-1] + 1)
