"""Per-user scoring policies: the one-qubit-per-AP QNN (variant ``"scoring"``), its
classical twin, and their shared training recipe.

Both models give every (AP ``m``, user ``k``) pair a score :math:`s_{m,k}` computed by ONE
function with weights shared across users (and across APs): it is evaluated once per
candidate user ``k`` with that user's link features on every AP
(:func:`cfmimo.features.link_features`: AP ``m``'s gain to ``k``, its gaps to AP ``m``'s
best user and to ``k``'s best AP, ``k``'s total gain, the link's share of it, and how much of
it comes from APs that prefer ``k``). A softmax over ``k`` per AP turns the scores into
:math:`\\log p_m(k)`, shape ``(..., n_ap, n_user)``; the shared decoders of
:mod:`cfmimo.decoders` pick the assignment (most probable covering assignment, or top-k
re-ranked by the rate formula on the estimate: a hybrid). Nothing enumerates the
``n_user**n_ap`` assignments.

* **QNN** (:class:`QuantumScorer`, circuit :func:`cfmimo.qnn.build_circuit` with
  ``variant="scoring"``): one qubit per AP; the score is a trainable scale times AP ``m``'s
  qubit's :math:`\\langle Z\\rangle`. With ``L`` CZ-ring layers each :math:`\\langle Z_m\\rangle`
  depends on the ``2L + 1`` APs around ``m`` on the ring (its light cone); the engine
  simulates each cone on its own.
* **Classical twin** (:class:`ClassicalTwin`): a one-hidden-layer tanh perceptron that sees
  exactly what the qubit's light cone sees: the features of AP ``m`` and of its ``L``
  ring neighbours on each side, for user ``k``; the same weights for every AP and user.

Training recipe (:func:`train_runs`, both models)
-------------------------------------------------
1. **Imitation.** Cross-entropy per AP, :math:`-\\sum_m \\log p_m(a^*_m)`, of the best
   known assignment :math:`a^*`: exhaustive search while ``n_user**n_ap <=``
   :data:`EXHAUSTIVE_TEACHER_MAX`, greedy + local search
   (:func:`cfmimo.baselines.greedy_local_search`) above.
2. **Fine-tuning** on the min-rate, restricted to covering assignments and factorised per
   AP. For a channel let :math:`\\bar a` be the model's covering decision (a vectorised
   repair of the per-AP argmax: each unserved user takes the AP with the smallest
   log-probability regret among APs whose user keeps another AP). For every AP ``m`` and
   user ``k``, :math:`r_{m,k}` is the min-rate on the estimate of :math:`\\bar a` with AP
   ``m`` moved to ``k`` (``n_ap * n_user`` rate evaluations: linear in ``n_ap``);
   moves that leave a user unserved are excluded. The objective is the sum over APs of the
   expected :math:`r_{m,\\cdot}` under AP ``m``'s distribution renormalised over the allowed
   moves, :math:`J = \\sum_m \\sum_k q_{m,k} r_{m,k}`; its gradient with respect to the
   scores is :math:`q_{m,k}(r_{m,k} - \\bar r_m)`: an exact per-AP expectation (no sampling,
   the mean :math:`\\bar r_m` is the baseline), with rates divided by the channel's best
   :math:`r` so that every channel weighs alike. The imitation cross-entropy stays in the
   objective with weight :data:`IMITATION_WEIGHT` (0.3), :math:`-J + 0.3\\,\\mathrm{CE}`: the
   rate term alone improves the re-ranked policy, whose candidates are the most probable
   assignments, but spreads each AP's probability over moves that do not change the
   min-rate, and the pure decoder, which keeps only the most probable one, fell back to
   greedy's level at 16 x 8.

Adam (step :data:`ADAM_STEP`), minibatches of :data:`BATCH` channels, progress bars,
seeds and checkpoints are those of the shared training loop (:func:`cfmimo.loop.run_epochs`;
:class:`_ScoreFit` is the recipe's step), the cache that of :func:`cfmimo.train.trained`. The run
sees the ``n_data * n_epoch`` channels of :func:`cfmimo.train.training_channels` (drawn
once), :func:`passes` times each in all (16 at 4 x 3, 4 at 16 x 8): each epoch visits
``passes * n_data`` of them in a random order. The first :data:`IMITATION_FRACTION` of the epochs imitate, the rest
fine-tune (method ``"imitation"``; ``"imitate_only"`` skips the fine-tuning).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import engine, qnn
from .baselines import exhaustive, greedy_local_search
from .channel import sample_channels
from .config import Preset, check_preset, db_to_linear
from .decoders import covering_argmax, rerank, top_k_covering
from .features import N_FEATURES
from .loop import STREAM_EPOCH, STREAM_ORDER, Adam, run_epochs, seed_of, stream
from .rates import gain_matrix, ideal_capacity, rates_from_gains
from .weights import TrainResult, cache_key, cache_path, cached_run, save_weights

__all__ = [
    "BATCH",
    "ADAM_STEP",
    "PASSES",
    "MIN_PASSES",
    "passes",
    "IMITATION_FRACTION",
    "IMITATION_WEIGHT",
    "EXHAUSTIVE_TEACHER_MAX",
    "TWIN_HIDDEN",
    "QuantumScorer",
    "ClassicalTwin",
    "scoring_inputs",
    "log_probabilities",
    "teacher_assignments",
    "decide",
    "train_runs",
    "train_model",
    "training_data",
    "channel_log_probs",
    "decide_channels",
    "policy",
    "train_twin",
    "committed_weights",
    "trained",
    "commit_weights",
]

BATCH = 250
"""Channels per Adam step."""

ADAM_STEP = 0.02
"""Adam step size (constant)."""

PASSES = 16
"""Visits of every training channel over a whole run at the paper's 4 x 3 (see :func:`passes`)."""

MIN_PASSES = 4
"""Fewest visits of every training channel (large configurations)."""

IMITATION_FRACTION = 0.5
"""Fraction of the epochs spent imitating the teacher (method ``"imitation"``)."""

IMITATION_WEIGHT = 0.3
"""Weight of the imitation cross-entropy kept in the fine-tuning objective (see the module
docstring): without it fine-tuning raised the top-10 re-ranked share at 16 x 8 (0.96 to
0.98 for the twin) but lowered the pure decoder's (0.87 to 0.83, level with greedy)."""

EXHAUSTIVE_TEACHER_MAX = 1000
"""Largest ``n_user**n_ap`` for which the teacher is exhaustive search."""

TWIN_HIDDEN = 4
"""Hidden units of the classical twin's perceptron."""



def passes(config: Preset) -> int:
    """Visits of every training channel over a run: :data:`PASSES` at 4 APs x 3 users, and
    fewer where one channel costs more circuit work (``n_ap * n_user`` evaluations of
    light cones of ``min(2L + 1, n_ap)`` qubits), so that a run's work grows about linearly
    with the number of channels only; never fewer than :data:`MIN_PASSES`. 16 at 4 x 3 and
    3 x 3, 6 at 6 x 4, 5 at 8 x 4, 4 at 16 x 8."""
    n_ap, n_user, L = config.system.n_ap, config.system.n_user, config.training.n_layer
    work = n_ap * n_user * min(2 * L + 1, n_ap)
    return int(np.clip(round(PASSES * 48 / work), MIN_PASSES, PASSES))


# ---------------------------------------------------------------------------------------
# inputs and log-probabilities
# ---------------------------------------------------------------------------------------


def scoring_inputs(H_hat) -> np.ndarray:
    """Circuit inputs of the ``scoring`` variant: one row per user.

    Returns
    -------
    ndarray, float, shape ``(..., n_user, n_ap * N_FEATURES)``
        Row ``k`` holds user ``k``'s link features (:func:`cfmimo.features.link_features`)
        AP by AP: ``x[..., k, N_FEATURES * m + j]`` is feature ``j`` of AP ``m`` for user ``k``.
        (This deviates from DESIGN.md's ``n_ap * n_user`` input convention of the other
        variants.)
    """
    return qnn.get_variant("scoring").inputs(None, H_hat)


def log_probabilities(scores) -> np.ndarray:
    """Per-AP log-softmax over users: scores ``(..., n_user, n_ap)`` -> ``(..., n_ap, n_user)``."""
    s = np.swapaxes(np.asarray(scores, dtype=np.float64), -1, -2)
    top = s.max(axis=-1, keepdims=True)
    return s - top - np.log(np.exp(s - top).sum(axis=-1, keepdims=True))


# ---------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------


class QuantumScorer:
    """The ``scoring`` QNN as a score function: ``scores(params, x)`` and its VJP.

    ``params`` are the variant's weights: the circuit's ``theta`` (all but the last) and
    the log of the softmax scale (the last; the score is
    :math:`e^{s}\\langle Z\\rangle`, applied classically).
    """

    def __init__(self, config: Preset):
        self.config = config
        self.program = engine.program_for(config, "scoring")
        self.n_params = qnn.n_weights(config, "scoring")

    def init(self, rng) -> np.ndarray:
        return qnn.init_weights(self.config, "scoring", rng)

    def scores(self, params, x):
        """x ``(R, n_ap * N_FEATURES)`` -> scores ``(R, n_ap)`` and a context for :meth:`vjp`."""
        z = engine.forward(self.program, x, params, output="z")  # the circuit ignores params[-1]
        return np.exp(params[-1]) * z, (x, z)

    def vjp(self, params, ctx, cot):
        """Gradient of ``sum(cot * scores)`` with respect to ``params``."""
        x, z = ctx
        scale = np.exp(params[-1])
        _, g = engine.vjp(self.program, x, params, scale * cot, output="z")
        grad = np.array(g.sum(axis=0) if g.ndim == 2 else g, dtype=np.float64)
        grad[-1] = float((cot * z).sum()) * scale
        return grad


class ClassicalTwin:
    """The QNN's classical twin: the same features, the same per-user, per-AP structure.

    AP ``m``'s score for user ``k`` is :math:`v^T \\tanh(W f + b) + c`, where ``f`` holds
    the 3 link features of APs ``m - L .. m + L`` (ring order, as the QNN's light cone
    after ``L = n_layer`` CZ rings) for user ``k``. Parameters: ``W`` (hidden x 3(2L+1)),
    ``b``, ``v`` (hidden), ``c``; shared by every AP and user.
    """

    def __init__(self, config: Preset, hidden: int = TWIN_HIDDEN):
        self.config = config
        self.hidden = int(hidden)
        n_ap, L = config.system.n_ap, config.training.n_layer
        width = min(2 * L + 1, n_ap)
        offsets = np.arange(-(width // 2), width - width // 2)
        self.neighbours = (np.arange(n_ap)[:, None] + offsets[None, :]) % n_ap  # (M, width)
        self.n_in = width * N_FEATURES
        self.n_params = self.hidden * self.n_in + 2 * self.hidden + 1

    def init(self, rng) -> np.ndarray:
        p = np.zeros(self.n_params)
        h, n = self.hidden, self.n_in
        p[: h * n] = rng.standard_normal(h * n) / np.sqrt(n)
        p[h * n + h : h * n + 2 * h] = rng.standard_normal(h) / np.sqrt(h)
        return p

    def _split(self, params):
        h, n = self.hidden, self.n_in
        W = params[: h * n].reshape(h, n)
        b = params[h * n : h * n + h]
        v = params[h * n + h : h * n + 2 * h]
        return W, b, v, params[-1]

    def scores(self, params, x):
        M = self.neighbours.shape[0]
        f = x.reshape(x.shape[0], M, N_FEATURES)[:, self.neighbours].reshape(x.shape[0], M, self.n_in)
        W, b, v, c = self._split(params)
        hid = np.tanh(f @ W.T + b)  # (R, M, h)
        return hid @ v + c, (f, hid)

    def vjp(self, params, ctx, cot):
        f, hid = ctx
        W, b, v, c = self._split(params)
        d_hid = cot[..., None] * v * (1.0 - hid**2)  # (R, M, h)
        grad = np.empty(self.n_params)
        h, n = self.hidden, self.n_in
        grad[: h * n] = np.einsum("rmh,rmn->hn", d_hid, f).ravel()
        grad[h * n : h * n + h] = d_hid.sum(axis=(0, 1))
        grad[h * n + h : h * n + 2 * h] = np.einsum("rm,rmh->h", cot, hid)
        grad[-1] = cot.sum()
        return grad


def _log_probs(model, params, x):
    """x ``(B, K, n_in)`` -> log-probs ``(B, M, K)`` and the context for the VJP."""
    B, K = x.shape[:2]
    s, ctx = model.scores(params, x.reshape(B * K, -1))
    return log_probabilities(s.reshape(B, K, -1)), ctx


def _backward(model, params, ctx, cot_s):
    """cot_s ``(B, M, K)`` (cotangent of the scores, AP-major) -> gradient."""
    B, M, K = cot_s.shape
    return model.vjp(params, ctx, np.swapaxes(cot_s, 1, 2).reshape(B * K, M))


# ---------------------------------------------------------------------------------------
# decisions
# ---------------------------------------------------------------------------------------


def _repair_covering(lp) -> np.ndarray:
    """A covering assignment near the per-AP argmax, vectorised: ``(B, M, K) -> (B, M)``.

    Each unserved user in turn takes the AP with the smallest regret
    ``max_j lp[m, j] - lp[m, k]`` among APs whose current user has another AP.
    """
    B, M, K = lp.shape
    a = lp.argmax(axis=-1)
    regret = lp.max(axis=-1, keepdims=True) - lp
    rows = np.arange(B)
    for _ in range(K):
        counts = np.zeros((B, K), dtype=np.int64)
        np.add.at(counts, (rows[:, None], a), 1)
        unserved = counts == 0
        if not unserved.any() or M < K:
            break
        u = unserved.argmax(axis=1)  # first unserved user (only used where one exists)
        need = unserved.any(axis=1)
        movable = counts[rows[:, None], a] >= 2  # (B, M)
        cost = np.where(movable, regret[rows, :, u], np.inf)
        m = cost.argmin(axis=1)
        ok = need & np.isfinite(cost[rows, m])
        a[rows[ok], m[ok]] = u[ok]
    return a


def decide(log_probs, H_hat=None, rho=None, mu=None, *, k: int = 1, penalty: float = 10.0) -> np.ndarray:
    """Assignments from per-AP log-probabilities ``(..., n_ap, n_user)``.

    ``k = 1``: the most probable covering assignment (:func:`cfmimo.decoders.covering_argmax`,
    the pure policy). ``k > 1``: the ``k`` most probable covering assignments re-ranked by
    the min-rate on ``H_hat`` (:func:`cfmimo.decoders.top_k_covering` and
    :func:`cfmimo.decoders.rerank`; needs ``H_hat``, ``rho``, ``mu``): a hybrid.
    """
    if k == 1:
        return covering_argmax(log_probs)
    if H_hat is None or rho is None or mu is None:
        raise ValueError("k > 1 re-ranks by the rate formula: pass H_hat, rho and mu")
    candidates, _ = top_k_covering(log_probs, k)
    return rerank(H_hat, candidates, rho, mu, penalty)


def teacher_assignments(H_hat, rho, mu, penalty=10.0) -> np.ndarray:
    """The assignments imitated in training: exhaustive max-min while ``n_user**n_ap <=``
    :data:`EXHAUSTIVE_TEACHER_MAX`, else greedy + local search; ``(n, n_ap)``."""
    n_ap, n_user = np.shape(H_hat)[-3:-1]
    if n_user**n_ap <= EXHAUSTIVE_TEACHER_MAX:
        return exhaustive(H_hat, rho, mu, penalty)
    return greedy_local_search(H_hat, rho, mu, penalty)


# ---------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------


def _move_rates(gains, a, rho, mu, penalty):
    """Min-rate of ``a`` with AP ``m`` moved to user ``k``: ``(B, M, K)``, and whether the
    moved assignment serves every user."""
    B, M = a.shape
    K = gains.shape[-1]
    moved = np.broadcast_to(a[:, None, None, :], (B, M, K, M)).copy()
    idx = np.arange(M)
    moved[:, idx, :, idx] = np.arange(K)[None, None, :]
    r = rates_from_gains(gains[:, None, None], moved, rho, mu, penalty).min(axis=-1)
    counts = np.zeros((B, M, K, K), dtype=np.int64)
    for m in range(M):
        counts += moved[..., m, None] == np.arange(K)
    return r, (counts > 0).all(axis=-1)


class _ScoreFit:
    """The scoring recipe (module docstring) as a :class:`cfmimo.loop.Method`: one run of
    ``model`` on ``H_hat``, visited in a random order (:data:`cfmimo.loop.STREAM_ORDER`)."""

    order_stream = STREAM_ORDER
    tracks_flat = False

    def __init__(self, model, config, H_hat, teacher, method, variant, desc):
        tr, sys = config.training, config.system
        self.model, self.teacher, self.name, self.variant, self.desc = model, teacher, method, variant, desc
        self.rho, self.mu, self.penalty = db_to_linear(tr.train_snr_db), sys.interference_factor, sys.penalty
        self.n_items = n = H_hat.shape[0]
        self.x_all = scoring_inputs(H_hat)  # (n, K, n_in)
        self.gains_all = gain_matrix(H_hat, H_hat)
        self.capacity = ideal_capacity(H_hat, self.rho)
        self.n_weights = model.n_params
        self.n_imitate = int(round(IMITATION_FRACTION * tr.n_epoch)) if method == "imitation" else tr.n_epoch
        self.visits = max(1, passes(config) * n // tr.n_epoch)
        self.batch = min(BATCH, self.visits)

    def init_weights(self, rng):
        return self.model.init(rng)

    def optimiser(self, states, steps_per_epoch):
        return Adam(ADAM_STEP, states, self.n_weights, steps_per_epoch)

    def begin_epoch(self, epoch):
        pass

    def step(self, epoch, step, rows, theta, sums, optimiser):
        rows, params = rows[0], theta[0]
        rho, mu, penalty = self.rho, self.mu, self.penalty
        model, nb = self.model, rows.size
        lp, ctx = _log_probs(model, params, self.x_all[rows])
        p = np.exp(lp)
        a_dec = _repair_covering(lp)
        gains = self.gains_all[rows]
        onehot = np.zeros_like(lp)
        np.put_along_axis(onehot, self.teacher[rows][..., None], 1.0, axis=-1)
        cross_entropy = -(onehot * lp).sum(axis=(1, 2)) / lp.shape[1]
        if epoch < self.n_imitate:
            obj = cross_entropy
            cot = -(onehot - p) / nb
            dec_mr = rates_from_gains(gains, a_dec, rho, mu, penalty).min(axis=-1)
        else:
            r, allowed = _move_rates(gains, a_dec, rho, mu, penalty)
            scale = np.maximum(np.where(allowed, r, -np.inf).max(axis=(1, 2)), 1e-9)  # (nb,)
            rn = r / scale[:, None, None]
            q = np.where(allowed, p, 0.0)
            z = q.sum(axis=-1, keepdims=True)
            q = np.where(z > 0, q / np.where(z > 0, z, 1.0), 0.0)
            rbar = (q * np.where(allowed, rn, 0.0)).sum(axis=-1, keepdims=True)
            g = np.where(allowed, q * (rn - rbar), 0.0)
            obj = -(q * np.where(allowed, rn, 0.0)).sum(axis=(1, 2)) / lp.shape[1] + IMITATION_WEIGHT * cross_entropy
            cot = -g / nb - IMITATION_WEIGHT * (onehot - p) / nb
            dec_mr = r[np.arange(nb), 0, a_dec[:, 0]]
        grad = _backward(model, params, ctx, cot)
        sums[0] += ((self.capacity[rows] - dec_mr) ** 2).sum()
        sums[1] += dec_mr.sum()
        sums[2] += obj.sum()
        return optimiser.update(theta, grad, epoch, step)


def train_model(model, config: Preset, H_hat, teacher, *, seed: int, method: str = "imitation",
                init=None, progress: bool = False, checkpoint=None, desc: str = "train scoring",
                result_variant: str = "scoring"):
    """Train a score model (:class:`QuantumScorer` or :class:`ClassicalTwin`) on ``H_hat``.

    Parameters
    ----------
    model : QuantumScorer or ClassicalTwin
    config : Preset
        ``training.n_epoch``, ``n_data``, ``train_snr_db``; ``system.interference_factor``,
        ``penalty``.
    H_hat : ndarray, complex, shape ``(n, n_ap, n_user, n_tx)``
        Training channels (estimates).
    teacher : ndarray of int, shape ``(n, n_ap)``
        Assignments to imitate (:func:`teacher_assignments`).
    seed : int
        Seeds the initial weights and the visiting order.
    method : {"imitation", "imitate_only"}
    init : TrainResult, array_like or None
        A :class:`cfmimo.train.TrainResult` of this run resumes it; an array starts from it.
    checkpoint : str or Path, optional
        Written atomically after every epoch.

    Returns
    -------
    cfmimo.train.TrainResult
        ``objective`` is the per-epoch mean cross-entropy (nats per AP) while imitating and
        minus the mean normalised per-AP expected min-rate plus :data:`IMITATION_WEIGHT`
        times the cross-entropy while fine-tuning.
    """
    fit = _ScoreFit(model, config, H_hat, teacher, method, result_variant, desc)
    return run_epochs(fit, config, [int(seed)], [init], progress=progress, checkpoint=checkpoint)[0]


def training_data(config: Preset, seed: int):
    """The training channels of a ``scoring`` run (those of
    :func:`cfmimo.train.training_channels`) and their teacher assignments."""
    tr, sys = config.training, config.system
    H_hat = np.concatenate(
        [sample_channels(sys, tr.n_data, stream(seed, STREAM_EPOCH, e))[1] for e in range(tr.n_epoch)]
    )
    teacher = teacher_assignments(H_hat, db_to_linear(tr.train_snr_db), sys.interference_factor, sys.penalty)
    return H_hat, teacher


def train_runs(config: Preset, seeds, method, inits, progress, checkpoint) -> list:
    """The ``scoring`` variant's runner behind :func:`cfmimo.train.train` (one run per seed)."""
    model = QuantumScorer(config)
    out = []
    for seed, init in zip(seeds, inits):
        H_hat, teacher = training_data(config, seed)
        out.append(train_model(model, config, H_hat, teacher, seed=seed, method=method, init=init,
                               progress=progress, checkpoint=checkpoint, desc=f"train scoring/{method}"))
    return out


# ---------------------------------------------------------------------------------------
# deployment
# ---------------------------------------------------------------------------------------


def channel_log_probs(model, params, H_hat, *, chunk: int = 4096) -> np.ndarray:
    """Per-AP log-probabilities ``(n, n_ap, n_user)`` of a score model for ``H_hat``
    ``(n, n_ap, n_user, n_tx)``, ``chunk`` channels per model call."""
    x = scoring_inputs(H_hat)
    n, M, K = x.shape[0], H_hat.shape[-3], H_hat.shape[-2]
    out = np.empty((n, M, K))
    for start in range(0, n, chunk):
        out[start : start + chunk] = _log_probs(model, params, x[start : start + chunk])[0]
    return out


def decide_channels(config: Preset, weights, H_hat, *, k: int = 1, rho=None, model=None, chunk: int = 4096) -> np.ndarray:
    """Assignments ``(n, n_ap)`` of a trained score model for ``H_hat`` ``(n, n_ap, n_user, n_tx)``.

    Parameters
    ----------
    config : Preset
    weights : ndarray, shape ``(n_params,)``
    H_hat : ndarray, complex
    k : int
        1: the pure policy (most probable covering assignment); ``> 1``: top-``k``
        re-ranked by the min-rate on ``H_hat`` (a hybrid; needs ``rho``).
    rho : float, optional
        Linear SNR for re-ranking.
    model : QuantumScorer or ClassicalTwin, optional
        Default: the ``scoring`` QNN of ``config``.
    """
    model = QuantumScorer(config) if model is None else model
    lp = channel_log_probs(model, np.asarray(weights, dtype=np.float64), H_hat, chunk=chunk)
    return decide(lp, H_hat, rho, config.system.interference_factor, k=k, penalty=config.system.penalty)


def policy(config: Preset, weights, *, k: int = 1, model=None):
    """``policy(H_hat, rho) -> a`` (the convention of :func:`cfmimo.results.learned_policies`).

    References
    ----------
    Narottama & Duong (2022), Eq. (9).
    """
    model = QuantumScorer(config) if model is None else model
    weights = np.array(weights, dtype=np.float64)

    def run(H_hat, rho):
        H_hat = np.asarray(H_hat)
        lead = H_hat.shape[:-3]
        flat = H_hat.reshape((-1,) + H_hat.shape[-3:])
        rho_flat = rho if np.ndim(rho) == 0 else np.broadcast_to(rho, lead).reshape(-1)
        a = decide_channels(config, weights, flat, k=k, rho=rho_flat, model=model)
        return a.reshape(lead + (H_hat.shape[-3],))

    return run


def train_twin(config: Preset, *, hidden: int = TWIN_HIDDEN, seed=None, method: str = "imitation", progress: bool = False):
    """Train the classical twin exactly as the ``scoring`` QNN: same channels, teacher,
    recipe and seed. Returns ``(model, TrainResult)`` (``variant="twin"``)."""
    seed = config.training.seed if seed is None else int(seed)
    model = ClassicalTwin(config, hidden)
    H_hat, teacher = training_data(config, seed)
    res = train_model(model, config, H_hat, teacher, seed=seed, method=method, progress=progress,
                      desc=f"train twin/{method}", result_variant="twin")
    return model, res


def committed_weights(config: Preset, weights_dir, *, method=None, seed=None) -> Path | None:
    """The committed weight file of this ``scoring`` run in the folder ``weights_dir`` (the
    repository's tracked ``weights/``; its name holds the first 24 hex digits of
    :func:`cfmimo.weights.cache_key`), or ``None`` (also when ``weights_dir`` is ``None``
    or not a folder)."""
    method = method or qnn.get_variant("scoring").default_method
    key = cache_key(config, "scoring", method, seed)[:24]
    if weights_dir is None or not Path(weights_dir).is_dir():
        return None
    found = sorted(Path(weights_dir).glob(f"scoring-*-{key}.npz"))
    return found[0] if found else None


def _one_run(config: Preset, method: str, seed, progress: bool) -> TrainResult:
    """The run :func:`cfmimo.train.train` gives for ``(config, "scoring", method, rng=seed)``."""
    return train_runs(config, [seed_of(seed, config.training.seed)], method, [None], progress, None)[0]


def trained(config: Preset, *, cache_dir=None, weights_dir=None, method=None, seed=None, progress: bool = False) -> TrainResult:
    """:func:`cfmimo.train.trained` for the ``scoring`` variant, starting from the committed
    weights in ``weights_dir`` when they exist for exactly this run (same cache key), else
    from the cache folder ``cache_dir`` (training if needed; ``None``: no cache)."""
    config = check_preset(config)
    method = qnn.get_variant("scoring").check_method(method)
    committed = committed_weights(config, weights_dir, method=method, seed=seed)
    folder = committed.parent if committed is not None else cache_dir
    path = cache_path(folder, config, "scoring", method, seed)
    return cached_run(path, config, lambda: _one_run(config, method, seed, progress))


def commit_weights(config: Preset, weights_dir, *, method=None, seed=None, progress: bool = False) -> Path:
    """Train this ``scoring`` run and write it to the folder ``weights_dir`` under the name
    :func:`cfmimo.train.trained` would give it (``scoring-<method>-<key[:24]>.npz``), for
    sizes whose training is too long for the book build. Returns the path."""
    config = check_preset(config)
    method = qnn.get_variant("scoring").check_method(method)
    key = cache_key(config, "scoring", method, seed)
    result = _one_run(config, method, seed, progress)
    return save_weights(Path(weights_dir) / f"scoring-{method}-{key[:24]}.npz", result)
