"""Adam on exact probabilities: the training recipe ``"reupload"`` of
:data:`cfmimo.train.RECIPES`, for the improved ``reupload`` variant (and any variant whose
bitstrings hold a binary user code per AP).

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

The recipe runs in the shared loop :func:`cfmimo.loop.run_epochs` as one
:class:`cfmimo.loop.Method` (``_Reupload``).
"""

from __future__ import annotations

import numpy as np

from . import engine, qnn
from .algorithm1 import TrainingLosses
from .baselines import exhaustive
from .channel import sample_channels
from .config import db_to_linear
from .loop import STREAM_EPOCH, Adam, run_epochs, stream

__all__ = ["BATCH", "ADAM_STEP", "IMITATION_FRACTION", "reupload_runs"]

BATCH = 25
"""Minibatch size (channels per Adam step) of the reupload variant."""

ADAM_STEP = 0.05
"""Adam step size of the reupload variant (constant)."""

IMITATION_FRACTION = 0.3
"""Fraction of the epochs spent on cross-entropy imitation (method ``imitation``)."""


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
            sc = TrainingLosses(self.config, H_hat)
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
    per seed (the runner behind :func:`cfmimo.train.train` and
    :func:`cfmimo.train.train_seeds`).

    References
    ----------
    Narottama & Duong (2022), Eq. (11).
    """
    return run_epochs(_Reupload(config, seeds, method, variant), config, seeds, inits, progress=progress, checkpoint=checkpoint)
