"""A classical neural-network baseline for the assignment problem.

A one-hidden-layer perceptron (tanh) maps the same input features as the QNN (by default
the encoded angles of :func:`cfmimo.qnn.encode_angles`, one per AP-user link) to one
softmax over users per AP. Its joint distribution over assignments is the product of the
per-AP softmaxes. It is trained like the improved QNN:

1. **imitation**: cross-entropy of the per-AP softmaxes against the exhaustive max-min
   assignment of each training channel;
2. **fine-tuning**: gradient ascent on the expected min-rate
   :math:`\\sum_c p_\\theta(c)\\, \\min_k R_k(c)` over all candidates :math:`c` (rates on
   ``H_hat`` with the penalty of footnote 2, as in training the QNN).

The decision is the most probable assignment among those that serve every user (falls
back to the most probable overall when ``n_user > n_ap``). Everything is plain numpy:
full-batch Adam, deterministic for a given ``rng``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._validation import check_count, check_real
from .baselines import all_assignments, candidate_min_rates
from .rates import serves_every_user

__all__ = ["MLP", "n_parameters", "init_mlp", "candidate_rates", "fit_mlp", "serve_all_mask"]


def n_parameters(n_features: int, hidden: int, n_ap: int, n_user: int) -> int:
    """Weights and biases of the perceptron: ``(F + 1) h + (h + 1) n_ap n_user``."""
    return (n_features + 1) * hidden + (hidden + 1) * n_ap * n_user


@dataclass(frozen=True)
class MLP:
    """Weights of the perceptron and its training history.

    Attributes
    ----------
    W1 : ndarray, ``(n_features, hidden)``;  b1 : ``(hidden,)``
    W2 : ndarray, ``(hidden, n_ap * n_user)``;  b2 : ``(n_ap * n_user,)``
    n_ap, n_user : int
    history : dict of ndarray
        ``"cross_entropy"`` per imitation step, ``"expected_min_rate"`` per fine-tuning step.
    """

    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray
    n_ap: int
    n_user: int
    history: dict = field(default_factory=dict, compare=False)

    @property
    def n_parameters(self) -> int:
        return self.W1.size + self.b1.size + self.W2.size + self.b2.size

    def logits(self, features) -> np.ndarray:
        """Per-AP logits, ``(n, n_features) -> (n, n_ap, n_user)``."""
        features = _check_features(features, self.W1.shape[0])
        hidden = np.tanh(features @ self.W1 + self.b1)
        return (hidden @ self.W2 + self.b2).reshape(-1, self.n_ap, self.n_user)

    def assignment_log_probabilities(self, features) -> np.ndarray:
        """Log-probability of every candidate of :func:`cfmimo.baselines.all_assignments`, ``(n, n_user**n_ap)``."""
        log_p = _log_softmax(self.logits(features))  # (n, M, K)
        cands = all_assignments(self.n_ap, self.n_user)
        return log_p[:, np.arange(self.n_ap), cands].sum(axis=-1)

    def decide(self, features) -> np.ndarray:
        """Most probable assignment among those that serve every user, ``(n, n_ap)``."""
        log_p = self.assignment_log_probabilities(features)
        mask = serve_all_mask(self.n_ap, self.n_user)
        if mask.any():
            log_p = np.where(mask, log_p, -np.inf)
        return all_assignments(self.n_ap, self.n_user)[np.argmax(log_p, axis=-1)]


def _check_features(features, n_features: int) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] != n_features:
        raise ValueError(f"features must have shape (n, {n_features}), got {features.shape}")
    if not np.all(np.isfinite(features)):
        raise ValueError("features contain NaN or inf")
    return features


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def serve_all_mask(n_ap: int, n_user: int) -> np.ndarray:
    """Which candidates of :func:`~cfmimo.baselines.all_assignments` serve every user, ``(n_user**n_ap,)``."""
    cands = all_assignments(n_ap, n_user)
    return serves_every_user(cands, n_user)


def candidate_rates(H, H_hat, rho, mu, penalty=10.0) -> np.ndarray:
    """Min-rate of every candidate assignment on every channel, ``(n, n_user**n_ap)``.

    :func:`cfmimo.baselines.candidate_min_rates` scored on ``H`` with precoders from ``H_hat``.
    """
    return candidate_min_rates(H_hat, rho, mu, penalty, H=H)


def init_mlp(n_features: int, hidden: int, n_ap: int, n_user: int, rng=None) -> MLP:
    """Glorot-uniform weights, zero biases."""
    n_features, hidden = check_count("n_features", n_features), check_count("hidden", hidden)
    rng = np.random.default_rng(rng)
    out = n_ap * n_user
    lim1, lim2 = np.sqrt(6 / (n_features + hidden)), np.sqrt(6 / (hidden + out))
    return MLP(
        W1=rng.uniform(-lim1, lim1, (n_features, hidden)),
        b1=np.zeros(hidden),
        W2=rng.uniform(-lim2, lim2, (hidden, out)),
        b2=np.zeros(out),
        n_ap=n_ap,
        n_user=n_user,
    )


def _grads(model: MLP, features, dlogits):
    """Backpropagate d(objective)/d(logits) ``(n, M, K)`` to the weights."""
    hidden = np.tanh(features @ model.W1 + model.b1)
    d_out = dlogits.reshape(len(features), -1)
    gW2 = hidden.T @ d_out
    gb2 = d_out.sum(axis=0)
    d_hidden = (d_out @ model.W2.T) * (1 - hidden**2)
    return [features.T @ d_hidden, d_hidden.sum(axis=0), gW2, gb2]


def fit_mlp(
    features,
    rates,
    n_ap: int,
    n_user: int,
    *,
    hidden: int = 2,
    imitation_steps: int = 1500,
    finetune_steps: int = 1500,
    learning_rate: float = 0.02,
    batch_size: int = 256,
    rng=None,
) -> MLP:
    """Train the perceptron: imitation of the per-channel optimum, then expected min-rate.

    Parameters
    ----------
    features : ndarray, shape ``(n, n_features)``
    rates : ndarray, shape ``(n, n_user**n_ap)``
        :func:`candidate_rates` of the training channels; the imitation target is its
        argmax (the exhaustive optimum).
    n_ap, n_user : int
    hidden : int
        Hidden units; :func:`n_parameters` gives the size.
    imitation_steps, finetune_steps : int
        Adam steps of each phase.
    learning_rate : float
    batch_size : int
        Channels per step, drawn without replacement epoch by epoch (``>= n``: full batch).
    rng : int, numpy.random.Generator or None

    Returns
    -------
    MLP
    """
    rates = np.asarray(rates, dtype=np.float64)
    if rates.ndim != 2 or not np.all(np.isfinite(rates)):
        raise ValueError(f"rates must be a finite (n, n_candidates) array, got shape {rates.shape}")
    learning_rate = check_real("learning_rate", learning_rate, 1e-9, 10.0)
    n_ap, n_user = check_count("n_ap", n_ap), check_count("n_user", n_user)
    if rates.shape[1] != n_user**n_ap:
        raise ValueError(f"rates must have n_user ** n_ap = {n_user ** n_ap} columns, got {rates.shape[1]}")
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) != len(rates):
        raise ValueError(f"features must have shape (n={len(rates)}, n_features), got {features.shape}")
    features = _check_features(features, features.shape[1])
    rng = np.random.default_rng(rng)
    batch_size = min(check_count("batch_size", batch_size), len(features))
    model = init_mlp(features.shape[1], hidden, n_ap, n_user, rng)
    cands = all_assignments(n_ap, n_user)
    onehot = (cands[:, :, None] == np.arange(n_user)).astype(np.float64)  # (C, M, K)
    target = onehot[np.argmax(rates, axis=1)]  # (n, M, K)
    params = [model.W1, model.b1, model.W2, model.b2]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    history = {"cross_entropy": [], "expected_min_rate": []}
    order = np.empty(0, dtype=np.int64)
    step = 0
    onehot_flat = onehot.reshape(len(cands), -1)
    for phase, steps in (("imitation", imitation_steps), ("finetune", finetune_steps)):
        for _ in range(steps):
            if len(order) < batch_size:
                order = np.concatenate([order, rng.permutation(len(features))])
            rows, order = order[:batch_size], order[batch_size:]
            x, n = features[rows], batch_size
            current = MLP(*params, n_ap=n_ap, n_user=n_user)
            log_p = _log_softmax(current.logits(x))  # (n, M, K)
            p = np.exp(log_p)
            if phase == "imitation":
                history["cross_entropy"].append(float(-(target[rows] * log_p).sum() / n))
                dlogits = (p - target[rows]) / n  # gradient of the loss to minimise
            else:
                joint = np.exp(log_p[:, np.arange(n_ap), cands].sum(axis=-1))  # (n, C)
                weighted = joint * rates[rows]  # d/dz_{mj} sum_c p_c r_c = sum_c p_c r_c (1[c_m=j] - p_mj)
                history["expected_min_rate"].append(float(weighted.sum() / n))
                dlogits = -((weighted @ onehot_flat).reshape(n, n_ap, n_user) - weighted.sum(1)[:, None, None] * p) / n
            grads = _grads(current, x, dlogits)
            step += 1
            for i, g in enumerate(grads):
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.999 * v[i] + 0.001 * g * g
                m_hat, v_hat = m[i] / (1 - 0.9**step), v[i] / (1 - 0.999**step)
                params[i] = params[i] - learning_rate * m_hat / (np.sqrt(v_hat) + 1e-8)
    return MLP(*params, n_ap=n_ap, n_user=n_user, history={k: np.array(h) for k, h in history.items()})
