"""Algorithm 1: the training recipe ``"algorithm1"`` of :data:`cfmimo.train.RECIPES`, for the
``paper`` variant (and any variant whose readout is one probability per AP, decoded by the
floor rule).

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

The methods run in the shared loop :func:`cfmimo.loop.run_epochs` as one
:class:`cfmimo.loop.Method` (``_Algorithm1``, whose update direction is
``_shift_rule_gradient``); :class:`TrainingLosses` tabulates the Eq. (11) loss on the
training channels (the ``reupload`` recipe uses it too).
"""

from __future__ import annotations

import numpy as np

from . import engine, qnn
from .baselines import candidate_min_rates
from .channel import sample_channels
from .config import Preset, db_to_linear
from .gradients import shift_gradient
from .loop import SGD, STREAM_DATA, STREAM_EPOCH, run_epochs, stream
from .rates import gain_matrix, ideal_capacity, rates_from_gains

__all__ = ["TrainingLosses", "algorithm1_runs"]

_MAX_TABLE = 4096  # precompute per-candidate losses when n_user ** n_ap is at most this


# ---------------------------------------------------------------------------------------
# losses on decoded assignments
# ---------------------------------------------------------------------------------------


class TrainingLosses:
    """Eq. (11) loss and min-rate of assignments on a fixed set of training channels.

    Parameters
    ----------
    config : Preset
        ``training.train_snr_db`` and the system's interference factor and penalty.
    H_hat : ndarray, complex, shape ``(n, n_ap, n_user, n_tx)``
        The training channels (estimates, used for both channels of the rate).

    Attributes
    ----------
    capacity : ndarray, shape ``(n,)``
        The ideal capacity of each channel.
    min_table, table : ndarray, shape ``(n, n_user**n_ap)`` or ``table`` None
        Min-rate and loss of every candidate assignment, tabulated while
        ``n_user**n_ap <= 4096`` (``table`` is None above; ``loss`` and ``min_rate``
        then evaluate the rates).

    References
    ----------
    Narottama & Duong (2022), Eq. (11).
    """

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
# Algorithm 1
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
        self.scorers = [TrainingLosses(config, H_hat) for _, H_hat in data]
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
    behind :func:`cfmimo.train.train` and :func:`cfmimo.train.train_seeds`; ``inits`` holds
    one ``init`` per seed).

    References
    ----------
    Narottama & Duong (2022), Algorithm 1; Eq. (11); Eq. (17).
    """
    return run_epochs(_Algorithm1(config, seeds, method, variant), config, seeds, inits, progress=progress, checkpoint=checkpoint)
