"""A classical neural-network baseline for the assignment problem.

A one-hidden-layer perceptron (tanh) maps input features (by default
:func:`perceptron_features`: the link features of ``cfmimo.features.link_features``
that the one-qubit-per-AP QNN sees, flattened) to one softmax over users per AP. Its joint
distribution over assignments is the product of the per-AP softmaxes. It is trained like
the improved QNN:

1. **imitation**: cross-entropy of the per-AP softmaxes against the exhaustive max-min
   assignment of each training channel;
2. **fine-tuning**: gradient ascent on the expected min-rate over the *covering*
   assignments only (those that serve every user), under the model's distribution
   restricted to them and renormalised:
   :math:`J = \\sum_{c \\in \\mathcal C} q_\\theta(c) \\min_k R_k(c)`,
   :math:`q_\\theta(c) = p_\\theta(c) / \\sum_{c' \\in \\mathcal C} p_\\theta(c')` (rates on
   ``H_hat``). The decoders never return a non-covering assignment, so fine-tuning
   scores exactly the set the decision is taken from. (Until this version the sum ran
   over all assignments with the -10 penalty of an unserved user; that objective rewards
   moving probability mass away from uncovering assignments rather than towards good
   ones, and collapsed small models to one constant assignment.)

The decision uses the shared decoders of ``cfmimo.decoders``: the most probable covering
assignment (``MLP.decide``) or its top-k list for re-ranking (``MLP.top_k``).
Everything is plain numpy: mini-batch Adam, deterministic for a given ``rng``. Training
needs the min-rate of every candidate of the training channels (:func:`candidate_rates`),
so it is meant for sizes where ``n_user**n_ap`` stays small (4 x 3: 81).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._validation import as_channel, check_count, check_real
from .baselines import all_assignments, candidate_min_rates, greedy_local_search, move_min_rates
from .decoders import covering_argmax, top_k_covering
from .features import link_features
from .rates import serves_every_user

__all__ = [
    "MLP",
    "n_parameters",
    "hidden_for_parameters",
    "perceptron_features",
    "init_mlp",
    "candidate_rates",
    "fit_mlp",
    "fit_mlp_on_channels",
    "covering_objective",
    "per_ap_objective",
    "serve_all_mask",
]


def perceptron_features(H_hat) -> np.ndarray:
    """The QNN's link features, centred and flattened: ``(..., n_ap, n_user, n_tx) -> (n, n_user * n_ap * N_FEATURES)``.

    ``cfmimo.features.link_features`` (the seven features of every link; angles in
    ``[0, pi]``) mapped affinely to ``2 (x - pi / 2)`` in ``[-pi, pi]``,
    columns in the order (user, AP, feature); leading batch axes are flattened into ``n``.
    The shift matters for a tanh network: with 36 inputs (three features at the time) that are all positive, the hidden
    units start saturated, and the 32-hidden perceptron reached 0.88 of the exhaustive
    min-rate instead of 0.96 at 4 x 3 (10 dB, mu_d = 0.5).
    """
    f = link_features(H_hat)
    return 2.0 * (f.reshape((-1, int(np.prod(f.shape[-3:])))) - np.pi / 2)


def n_parameters(n_features: int, hidden: int, n_ap: int, n_user: int) -> int:
    """Weights and biases of the perceptron: ``(F + 1) h + (h + 1) n_ap n_user``."""
    return (n_features + 1) * hidden + (hidden + 1) * n_ap * n_user


def hidden_for_parameters(target: int, n_features: int, n_ap: int, n_user: int) -> int:
    """Hidden units whose :func:`n_parameters` is closest to ``target`` (at least 1; ties: fewer)."""
    target = check_count("target", target)
    n_features = check_count("n_features", n_features)
    per_unit = n_features + 1 + n_ap * n_user
    base = n_ap * n_user
    h = max(1, round((target - base) / per_unit))
    options = [x for x in (h - 1, h, h + 1) if x >= 1]
    return min(options, key=lambda x: (abs(n_parameters(n_features, x, n_ap, n_user) - target), x))


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

    def log_probs(self, features) -> np.ndarray:
        """Per-AP log-probabilities over users, ``(n, n_features) -> (n, n_ap, n_user)``."""
        return _log_softmax(self.logits(features))

    def assignment_log_probabilities(self, features) -> np.ndarray:
        """Log-probability of every candidate of :func:`cfmimo.baselines.all_assignments`, ``(n, n_user**n_ap)``.

        Enumerates the candidates: for analysis and tests at small sizes only.
        """
        log_p = self.log_probs(features)  # (n, M, K)
        cands = all_assignments(self.n_ap, self.n_user)
        return log_p[:, np.arange(self.n_ap), cands].sum(axis=-1)

    def decide(self, features) -> np.ndarray:
        """Most probable assignment among those that serve every user, ``(n, n_ap)``.

        ``cfmimo.decoders.covering_argmax`` (no enumeration). When ``n_ap < n_user``
        no assignment serves everyone and each AP takes its most probable user.
        """
        log_p = self.log_probs(features)
        if self.n_ap < self.n_user:
            return log_p.argmax(axis=-1)
        return covering_argmax(log_p)

    def top_k(self, features, k: int):
        """The ``k`` most probable covering assignments and their log-probabilities.

        ``cfmimo.decoders.top_k_covering``: ``(n, k, n_ap)`` and ``(n, k)``.
        """
        return top_k_covering(self.log_probs(features), k)


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

    References
    ----------
    Narottama & Duong (2022), Eq. (4); Eq. (7).
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


def covering_objective(log_p, candidates, rates):
    """Expected min-rate over covering candidates and its gradient with respect to the logits.

    :math:`J = \\sum_c q(c) r_c` with :math:`q(c) \\propto \\prod_m p_m(c_m)` over the given
    candidates only (renormalised), and
    :math:`\\partial J / \\partial z_{m,j} = \\sum_c q(c) (r_c - J)\\, 1[c_m = j]` (the
    :math:`-p_{m,j}` term of the softmax derivative cancels because
    :math:`\\sum_c q(c)(r_c - J) = 0`).

    Parameters
    ----------
    log_p : ndarray, shape ``(n, n_ap, n_user)``
        Per-AP log-softmax of the logits ``z``.
    candidates : ndarray of int, shape ``(C, n_ap)``
        The assignments the expectation runs over (the covering ones).
    rates : ndarray, shape ``(n, C)``
        Their min-rates.

    Returns
    -------
    J : ndarray, shape ``(n,)``
    grad : ndarray, shape ``(n, n_ap, n_user)``
    """
    n, n_ap, n_user = log_p.shape
    log_joint = log_p[:, np.arange(n_ap), candidates].sum(axis=-1)  # (n, C)
    q = np.exp(log_joint - log_joint.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)
    expected = (q * rates).sum(axis=1)
    weighted = q * (rates - expected[:, None])  # (n, C)
    onehot = (candidates[:, :, None] == np.arange(n_user)).reshape(len(candidates), -1).astype(np.float64)
    return expected, (weighted @ onehot).reshape(n, n_ap, n_user)


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
    """Train the perceptron: imitation of the per-channel optimum, then the expected
    min-rate over covering assignments (see the module docstring).

    Parameters
    ----------
    features : ndarray, shape ``(n, n_features)``
    rates : ndarray, shape ``(n, n_user**n_ap)``
        :func:`candidate_rates` of the training channels; the imitation target is its
        argmax (the exhaustive optimum) and fine-tuning reads its covering columns only
        (all columns when ``n_ap < n_user``, where no assignment covers).
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
    covering = serves_every_user(cands, n_user)
    if not covering.any():
        covering[:] = True
    cov_cands = cands[covering]
    cov_rates = rates[:, covering]  # (n, C_cov)

    def finetune(rows, log_p):
        expected, grad = covering_objective(log_p, cov_cands, cov_rates[rows])
        return float(expected.mean()), grad

    return _train(model, features, target, finetune, imitation_steps, finetune_steps, learning_rate, batch_size, rng)


def _train(model, features, target, finetune, imitation_steps, finetune_steps, learning_rate, batch_size, rng):
    """Mini-batch Adam: cross-entropy against ``target`` ``(n, M, K)``, then ascent on ``finetune``.

    ``finetune(rows, log_p) -> (mean objective, d objective / d logits (b, M, K) summed over the batch)``.
    """
    n_ap, n_user = model.n_ap, model.n_user
    params = [model.W1, model.b1, model.W2, model.b2]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    history = {"cross_entropy": [], "expected_min_rate": []}
    order = np.empty(0, dtype=np.int64)
    step = 0
    for phase, steps in (("imitation", imitation_steps), ("finetune", finetune_steps)):
        for _ in range(steps):
            if len(order) < batch_size:
                order = np.concatenate([order, rng.permutation(len(features))])
            rows, order = order[:batch_size], order[batch_size:]
            x, n = features[rows], batch_size
            current = MLP(*params, n_ap=n_ap, n_user=n_user)
            log_p = _log_softmax(current.logits(x))  # (n, M, K)
            if phase == "imitation":
                history["cross_entropy"].append(float(-(target[rows] * log_p).sum() / n))
                dlogits = (np.exp(log_p) - target[rows]) / n  # gradient of the loss to minimise
            else:
                value, grad = finetune(rows, log_p)
                history["expected_min_rate"].append(value)
                dlogits = -grad / n  # ascent on the mean expected min-rate
            grads = _grads(current, x, dlogits)
            step += 1
            for i, g in enumerate(grads):
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.999 * v[i] + 0.001 * g * g
                m_hat, v_hat = m[i] / (1 - 0.9**step), v[i] / (1 - 0.999**step)
                params[i] = params[i] - learning_rate * m_hat / (np.sqrt(v_hat) + 1e-8)
    return MLP(*params, n_ap=n_ap, n_user=n_user, history={k: np.array(h) for k, h in history.items()})


def per_ap_objective(log_p, moves, a):
    """Expected min-rate factorised per AP, over the changes that keep every user served.

    For each AP ``m``, the other APs stay at the decoded assignment ``a`` and AP ``m``
    draws its user from its softmax restricted to the users ``v`` for which the changed
    assignment still serves everyone (renormalised, :math:`q_{m,v}`):
    :math:`J = \\sum_m \\sum_v q_{m,v} r_{m,v}` with :math:`r_{m,v}` the min-rate of ``a``
    with :math:`a_m = v` (``cfmimo.baselines.move_min_rates``), and
    :math:`\\partial J / \\partial z_{m,v} = q_{m,v} (r_{m,v} - J_m)`. Cost
    :math:`O(N_{AP} N_{user})` per channel: the objective of fine-tuning where the
    ``n_user**n_ap`` assignments cannot be listed.

    Parameters
    ----------
    log_p : ndarray, shape ``(n, n_ap, n_user)``
    moves : ndarray, shape ``(n, n_ap, n_user)``
        ``cfmimo.baselines.move_min_rates`` of ``a``.
    a : ndarray of int, shape ``(n, n_ap)``
        A covering assignment (the model's decoded decision).

    Returns
    -------
    J : ndarray, shape ``(n,)``
        Mean over APs of :math:`J_m`.
    grad : ndarray, shape ``(n, n_ap, n_user)``
        Gradient of ``J`` (the mean over APs) with respect to the logits.
    """
    n, n_ap, n_user = log_p.shape
    users = np.arange(n_user)
    count = (a[..., None] == users).sum(axis=1)  # (n, K)
    own_count = np.take_along_axis(count, a, axis=1)  # (n, M): APs serving AP m's user
    keeps = (own_count[..., None] > 1) | (users == a[..., None])  # (n, M, K)
    z = np.where(keeps, log_p, -np.inf)
    q = np.exp(z - z.max(axis=-1, keepdims=True))
    q /= q.sum(axis=-1, keepdims=True)
    r = np.where(keeps, moves, 0.0)
    per_ap = (q * r).sum(axis=-1)  # (n, M)
    grad = q * (r - per_ap[..., None]) / n_ap
    return per_ap.mean(axis=-1), grad


def fit_mlp_on_channels(
    features,
    H_hat,
    rho,
    mu,
    penalty=10.0,
    *,
    max_candidates: int = 4096,
    hidden: int = 2,
    imitation_steps: int = 1500,
    finetune_steps: int = 1500,
    learning_rate: float = 0.02,
    batch_size: int = 256,
    rng=None,
) -> MLP:
    """Train the perceptron on channels, at any size.

    While ``n_user**n_ap <= max_candidates`` this is :func:`fit_mlp` on
    :func:`candidate_rates` (imitation of the exhaustive optimum, then the exact expected
    min-rate over covering assignments). Above it nothing lists the assignments: imitation
    of ``cfmimo.baselines.greedy_local_search``, then fine-tuning on
    :func:`per_ap_objective` around the model's own covering decision
    (``cfmimo.decoders.covering_argmax``).

    Parameters
    ----------
    features : ndarray, shape ``(n, n_features)``
    H_hat : array_like, complex, shape ``(n, n_ap, n_user, n_tx)``
        The training channels (estimates); rates are scored on them.
    rho : float
        Linear training SNR.
    mu, penalty : float
    max_candidates : int
        Largest ``n_user**n_ap`` trained with the exact objective.
    hidden, imitation_steps, finetune_steps, learning_rate, batch_size, rng
        As in :func:`fit_mlp`.

    Returns
    -------
    MLP
    """
    H_hat = as_channel("H_hat", H_hat, min_ndim=4)
    if H_hat.ndim != 4:
        raise ValueError(f"H_hat must have shape (n, n_ap, n_user, n_tx), got {H_hat.shape}")
    n_ap, n_user = H_hat.shape[1:3]
    max_candidates = check_count("max_candidates", max_candidates)
    kwargs = dict(hidden=hidden, imitation_steps=imitation_steps, finetune_steps=finetune_steps,
                  learning_rate=learning_rate, batch_size=batch_size, rng=rng)
    if n_user**n_ap <= max_candidates:
        return fit_mlp(features, candidate_rates(H_hat, H_hat, rho, mu, penalty), n_ap, n_user, **kwargs)
    if n_ap < n_user:
        raise ValueError(f"n_ap = {n_ap} < n_user = {n_user}: no covering assignment; allowed above max_candidates: n_user <= n_ap")
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) != len(H_hat):
        raise ValueError(f"features must have shape (n={len(H_hat)}, n_features), got {features.shape}")
    features = _check_features(features, features.shape[1])
    learning_rate = check_real("learning_rate", learning_rate, 1e-9, 10.0)
    rng = np.random.default_rng(rng)
    batch_size = min(check_count("batch_size", batch_size), len(features))
    model = init_mlp(features.shape[1], hidden, n_ap, n_user, rng)
    teacher = greedy_local_search(H_hat, rho, mu, penalty)
    target = (teacher[..., None] == np.arange(n_user)).astype(np.float64)

    def finetune(rows, log_p):
        a = covering_argmax(log_p)
        value, grad = per_ap_objective(log_p, move_min_rates(H_hat[rows], a, rho, mu, penalty), a)
        return float(value.mean()), grad

    return _train(model, features, target, finetune, imitation_steps, finetune_steps, learning_rate, batch_size, rng)
