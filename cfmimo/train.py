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
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from tqdm import tqdm

from . import engine, qnn
from ._validation import as_channel
from .baselines import candidate_min_rates, exhaustive
from .channel import sample_channels
from .config import Preset, db_to_linear
from .gradients import shift_gradient
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

_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-8
_STREAM_INIT, _STREAM_DATA, _STREAM_EPOCH = 0, 1, 2
_MAX_TABLE = 4096  # precompute per-candidate losses when n_user ** n_ap is at most this


# ---------------------------------------------------------------------------------------
# argument handling
# ---------------------------------------------------------------------------------------


def _check_method(variant, method):
    variant = qnn._check_variant(variant)
    if method is None:
        return DEFAULT_METHOD[variant]
    if method not in METHODS[variant]:
        raise ValueError(f"method = {method!r} is unknown for variant {variant!r}; allowed: {list(METHODS[variant])}")
    return method


def _seed_of(rng, config) -> int:
    if rng is None:
        return int(config.training.seed)
    if isinstance(rng, bool):
        raise ValueError(f"rng must be an int seed, a numpy Generator or None, got {rng!r}")
    if isinstance(rng, (int, np.integer)):
        if rng < 0:
            raise ValueError(f"rng = {rng} is out of range; allowed: int seed >= 0")
        return int(rng)
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63 - 1))
    raise ValueError(f"rng must be an int seed, a numpy Generator or None, got {type(rng).__name__}")


def _stream(seed, stream, epoch=0):
    return np.random.default_rng([seed, stream, epoch])


def training_channels(config: Preset, variant: str = "paper", seed=None) -> np.ndarray:
    """The estimated channels a training run sees, in the order it sees them.

    Paper variant: the ``n_data`` channels of Algorithm 1 (each epoch revisits them).
    Reupload variant: ``n_epoch * n_data`` fresh channels, epoch after epoch. Use this
    to train another model (e.g. :func:`cfmimo.classical.fit_mlp`) on exactly the same data.

    Returns
    -------
    ndarray, complex, shape ``(n, n_ap, n_user, n_tx)``
    """
    variant = qnn._check_variant(variant)
    seed = _seed_of(seed, config)
    tr = config.training
    if qnn.get_variant(variant).reuses_data:
        return sample_channels(config.system, tr.n_data, _stream(seed, _STREAM_DATA))[1]
    return np.concatenate(
        [sample_channels(config.system, tr.n_data, _stream(seed, _STREAM_EPOCH, epoch))[1] for epoch in range(tr.n_epoch)]
    )


def _check_init(init, config, variant, method, seed):
    """Normalise ``init`` to (weights, k epochs done, history lists, opt_state)."""
    n_w = qnn.n_weights(config, variant)
    if init is None:
        weights = qnn.init_weights(config, variant, _stream(seed, _STREAM_INIT))
        return weights, 0, ([], [], [], []), None
    if isinstance(init, TrainResult):
        if init.variant != variant or init.method != method or init.seed != seed or init.config != config:
            raise ValueError(
                "init is a TrainResult of a different run (config, variant, method or seed differ); "
                "pass init.weights to start a new run from its weights"
            )
        k = init.epochs_done
        hist = (list(init.loss), list(init.min_rate), list(init.objective), list(init.flat))
        state = init.opt_state if init.opt_state.size else None
        return np.array(init.weights, dtype=np.float64), k, hist, state
    weights = np.array(init, dtype=np.float64)
    if weights.shape != (n_w,):
        raise ValueError(f"init must have shape (n_weights = {n_w},), got shape {weights.shape}")
    if not np.all(np.isfinite(weights)):
        raise ValueError("init contains NaN or inf weights")
    return weights, 0, ([], [], [], []), None


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


def _paper_decide(program, config, x, thetas):
    """Floor-decoded assignments for x ``(S, 1, n_in)`` and thetas ``(S, R, P)``."""
    lead = np.broadcast_shapes(x.shape[:-1], thetas.shape[:-1])
    xb = np.broadcast_to(x, lead + x.shape[-1:]).reshape(-1, x.shape[-1])
    tb = np.broadcast_to(thetas, lead + thetas.shape[-1:]).reshape(-1, thetas.shape[-1])
    probs = engine.forward(program, xb, tb)
    o = qnn._bit_marginals(probs, config.system.n_ap)
    a = np.clip(np.floor(o * config.system.n_user), 0, config.system.n_user - 1).astype(np.int64)
    return a.reshape(lead + (config.system.n_ap,))


def algorithm1_runs(config, seeds, method, inits, progress, checkpoint) -> list:
    """Algorithm 1 for the ``paper`` variant, one run per seed (the runner behind
    :func:`train` and :func:`train_seeds`; ``inits`` holds one ``init`` per seed)."""
    variant = "paper"
    program = engine.program_for(config, variant)
    tr = config.training
    n_w = qnn.n_weights(config, variant)
    S = len(seeds)
    starts = [_check_init(init, config, variant, method, seed) for init, seed in zip(inits, seeds)]
    k0 = starts[0][1]
    if any(s[1] != k0 for s in starts):  # pragma: no cover - train_seeds has no init
        raise ValueError("all runs must resume from the same epoch")
    theta = np.stack([s[0] for s in starts])  # (S, P)
    hist = [s[2] for s in starts]
    data = [sample_channels(config.system, tr.n_data, _stream(seed, _STREAM_DATA)) for seed in seeds]
    x_all = np.stack([qnn.encode_angles(H_hat) for _, H_hat in data])  # (S, n_data, n_in)
    scorers = [_Scorer(config, H_hat) for _, H_hat in data]
    rows_s = np.arange(S)
    shift = tr.shift
    if method in ("shift", "printed"):
        delta = np.zeros((2 * n_w + 1, n_w))
        delta[1 : n_w + 1] = shift * np.eye(n_w)
        delta[n_w + 1 :] = -shift * np.eye(n_w)
    else:
        delta = None
    table = np.stack([sc.table for sc in scorers]) if scorers[0].table is not None else None
    mtable = np.stack([sc.min_table for sc in scorers]) if table is not None else None

    def score(order_rows, a):
        # order_rows (S,), a (S, R, M) -> loss, min-rate (S, R)
        if table is not None:
            idx = qnn.assignment_index(a, config.system.n_user)
            return table[rows_s[:, None], order_rows[:, None], idx], mtable[rows_s[:, None], order_rows[:, None], idx]
        loss = np.stack([scorers[s].loss(order_rows[s], a[s]) for s in range(S)])
        mr = np.stack([scorers[s].min_rate(order_rows[s], a[s]) for s in range(S)])
        return loss, mr

    bar = tqdm(total=tr.n_epoch, initial=k0, disable=not progress, desc=f"train paper/{method}")
    for epoch in range(k0, tr.n_epoch):
        lr = tr.step_size / np.sqrt(epoch + 1.0)
        orders = np.stack([_stream(seed, _STREAM_EPOCH, epoch).permutation(tr.n_data) for seed in seeds])
        loss_sum = np.zeros(S)
        mr_sum = np.zeros(S)
        flat_sum = np.zeros(S)
        for step in range(tr.n_data):
            rows = orders[:, step]
            x = x_all[rows_s, rows][:, None, :]  # (S, 1, n_in)
            if delta is not None:
                a = _paper_decide(program, config, x, theta[:, None, :] + delta)
                L, mr = score(rows, a)
                loss_sum += L[:, 0]
                mr_sum += mr[:, 0]
                flat_sum += np.all(L[:, 1:] == L[:, :1], axis=1)
                grad = shift_gradient(L[:, 1 : n_w + 1], L[:, n_w + 1 :], shift, method)
                theta = theta - lr * grad
            else:  # rotosolve, one weight at a time
                for j in range(n_w):
                    trio = np.repeat(theta[:, None, :], 3, axis=1)
                    trio[:, 1, j] += np.pi / 2
                    trio[:, 2, j] -= np.pi / 2
                    L, mr = score(rows, _paper_decide(program, config, x, trio))
                    if j == 0:
                        loss_sum += L[:, 0]
                        mr_sum += mr[:, 0]
                    theta = theta.copy()
                    theta[:, j] = (
                        theta[:, j] - np.pi / 2 - np.arctan2(2 * L[:, 0] - L[:, 1] - L[:, 2], L[:, 1] - L[:, 2])
                    )
        for s in range(S):
            hist[s][0].append(loss_sum[s] / tr.n_data)
            hist[s][1].append(mr_sum[s] / tr.n_data)
            hist[s][2].append(loss_sum[s] / tr.n_data)
            hist[s][3].append(flat_sum[s] / tr.n_data if delta is not None else np.nan)
        bar.update(1)
        bar.set_postfix(loss=f"{float(np.mean(loss_sum)) / tr.n_data:.2f}")
        if checkpoint is not None:
            save_weights(checkpoint, _result(config, variant, method, seeds[0], theta[0], hist[0], None))
    bar.close()
    return [_result(config, variant, method, seeds[s], theta[s], hist[s], None) for s in range(S)]


def _result(config, variant, method, seed, weights, hist, opt_state):
    return TrainResult(
        weights=np.array(weights),
        loss=np.array(hist[0], dtype=np.float64),
        min_rate=np.array(hist[1], dtype=np.float64),
        objective=np.array(hist[2], dtype=np.float64),
        config=config,
        variant=variant,
        method=method,
        seed=int(seed),
        opt_state=np.zeros(0) if opt_state is None else np.array(opt_state),
        flat=np.array(hist[3], dtype=np.float64),
    )


# ---------------------------------------------------------------------------------------
# reupload variant
# ---------------------------------------------------------------------------------------


def reupload_runs(config, seeds, method, inits, progress, checkpoint) -> list:
    """Adam on exact probabilities for the ``reupload`` variant, one run per seed (the
    runner behind :func:`train` and :func:`train_seeds`)."""
    variant = "reupload"
    program = engine.program_for(config, variant)
    tr, sys = config.training, config.system
    n_w = qnn.n_weights(config, variant)
    S = len(seeds)
    starts = [_check_init(init, config, variant, method, seed) for init, seed in zip(inits, seeds)]
    k0 = starts[0][1]
    theta = np.stack([s[0] for s in starts])  # (S, P)
    hist = [s[2] for s in starts]
    m_adam = np.zeros((S, n_w))
    v_adam = np.zeros((S, n_w))
    for s, st in enumerate(starts):
        if st[3] is not None:
            m_adam[s], v_adam[s] = st[3][:n_w], st[3][n_w:]
    rho = db_to_linear(tr.train_snr_db)
    index, covers = qnn._code_tables(sys.n_ap, sys.n_user)
    n_codes = 2 ** qnn.n_clbits(config, variant)
    # map every bitstring to its candidate (or -1 for an invalid code)
    code_to_cand = np.full(n_codes, -1, dtype=np.int64)
    code_to_cand[index] = np.arange(len(index))
    valid = code_to_cand >= 0
    cover_code = np.zeros(n_codes, dtype=bool)
    cover_code[index[covers]] = True
    if not covers.any():
        cover_code = valid.copy()
    n_imitate = int(round(IMITATION_FRACTION * tr.n_epoch)) if method == "imitation" else 0
    batch = min(BATCH, tr.n_data)
    n_steps = -(-tr.n_data // batch)
    b1, b2 = _ADAM_BETAS
    bar = tqdm(total=tr.n_epoch, initial=k0, disable=not progress, desc=f"train reupload/{method}")
    for epoch in range(k0, tr.n_epoch):
        lr = ADAM_STEP
        xs, targets, mtabs, ltabs = [], [], [], []
        for seed in seeds:
            _, H_hat = sample_channels(sys, tr.n_data, _stream(seed, _STREAM_EPOCH, epoch))
            sc = _Scorer(config, H_hat)
            xs.append(qnn.encode_angles(H_hat))
            if epoch < n_imitate:
                best = exhaustive(H_hat, rho, sys.interference_factor, sys.penalty)
                targets.append(index[qnn.assignment_index(best, sys.n_user)])
            # per-bitstring min-rate and loss (invalid code: an unserved user)
            mr = np.full((tr.n_data, n_codes), -sys.penalty)
            mr[:, valid] = sc.min_table[:, code_to_cand[valid]]
            mtabs.append(mr)
            ltabs.append((sc.capacity[:, None] - mr) ** 2)
        xs, mtabs, ltabs = np.stack(xs), np.stack(mtabs), np.stack(ltabs)
        sums = np.zeros((3, S))
        for step in range(n_steps):
            sl = slice(step * batch, min((step + 1) * batch, tr.n_data))
            nb = sl.stop - sl.start
            x = xs[:, sl]  # (S, nb, n_in)
            th = theta[:, None, :]
            xb = x.reshape(S * nb, -1)
            tb = np.repeat(theta, nb, axis=0)  # (S * nb, P)
            probs = engine.forward(program, xb, tb).reshape(S, nb, n_codes)  # (S, nb, C)
            if epoch < n_imitate:
                tgt = np.stack(targets)[:, sl]  # (S, nb)
                p_t = np.take_along_axis(probs, tgt[..., None], axis=-1)[..., 0]
                p_t = np.maximum(p_t, 1e-12)
                obj = -np.log(p_t)
                cot = np.zeros_like(probs)
                np.put_along_axis(cot, tgt[..., None], (-1.0 / p_t / nb)[..., None], axis=-1)
            elif method == "imitation":
                q = np.where(cover_code, probs, 0.0)
                z = np.maximum(q.sum(axis=-1), 1e-12)
                r = mtabs[:, sl]
                expected = (q * r).sum(axis=-1) / z
                obj = -expected
                cot = np.where(cover_code, -(r - expected[..., None]) / z[..., None] / nb, 0.0)
            else:  # expected loss over all bitstrings
                lt = ltabs[:, sl]
                obj = (probs * lt).sum(axis=-1)
                cot = lt / nb
            _, g = engine.vjp(program, xb, tb, cot.reshape(-1, n_codes))
            grad = g.reshape(S, nb, n_w).sum(axis=1)  # (S, P)
            # history: decoded assignments at the weights in force
            q = np.where(cover_code, probs, -1.0)
            chosen = np.argmax(q, axis=-1)  # bitstring of the decoded assignment
            dec_mr = np.take_along_axis(mtabs[:, sl], chosen[..., None], -1)[..., 0]
            dec_loss = np.take_along_axis(ltabs[:, sl], chosen[..., None], -1)[..., 0]
            sums[0] += dec_loss.sum(axis=1)
            sums[1] += dec_mr.sum(axis=1)
            sums[2] += obj.sum(axis=1)
            # Adam
            t = epoch * n_steps + step + 1
            m_adam = b1 * m_adam + (1 - b1) * grad
            v_adam = b2 * v_adam + (1 - b2) * grad * grad
            mhat = m_adam / (1 - b1**t)
            vhat = v_adam / (1 - b2**t)
            theta = theta - lr * mhat / (np.sqrt(vhat) + _ADAM_EPS)
        for s in range(S):
            for i in range(3):
                hist[s][i].append(sums[i, s] / tr.n_data)
            hist[s][3].append(np.nan)
        bar.update(1)
        bar.set_postfix(loss=f"{float(np.mean(sums[0])) / tr.n_data:.2f}")
        if checkpoint is not None:
            state = np.concatenate([m_adam[0], v_adam[0]])
            save_weights(checkpoint, _result(config, variant, method, seeds[0], theta[0], hist[0], state))
    bar.close()
    return [
        _result(config, variant, method, seeds[s], theta[s], hist[s], np.concatenate([m_adam[s], v_adam[s]]))
        for s in range(S)
    ]


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
    """
    config = qnn._check_config(config)
    variant = qnn._check_variant(variant)
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
    config = qnn._check_config(config)
    variant = qnn._check_variant(variant)
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
    """
    config = qnn._check_config(config)
    variant = qnn._check_variant(variant)
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
        The cache folder (the notebooks pass ``"_cache"``). Default:
        ``cfmimo.weights.default_cache_dir()`` (``notebooks/_cache`` of a source
        checkout; no cache outside one).
    method, seed : optional
        As in :func:`train` (``seed`` defaults to ``config.training.seed``).
    """
    config = qnn._check_config(config)
    variant = qnn._check_variant(variant)
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
