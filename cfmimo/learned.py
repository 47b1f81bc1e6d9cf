"""The learned policies: one registry of (model builder, decoder) entries.

A learned policy is a trained model plus a decoder. Adding one is one
:class:`LearnedEntry` in :data:`LEARNED` per decoder, naming a *model builder*
``build(config, data) -> Model`` (see :class:`Model` and :class:`TrainingData`). A model
that gives each AP a distribution over users (``Model.log_probs``) gets the shared
decoders of :mod:`cfmimo.decoders` for free:

* ``decoder="covering"``: the most probable covering assignment
  (:func:`cfmimo.decoders.covering_argmax`);
* ``decoder="top-k"``: the ``k`` most probable covering assignments
  (:func:`cfmimo.decoders.top_k_covering`) re-ranked by the min-rate on the estimate
  (:func:`cfmimo.decoders.rerank`): a hybrid, ``k`` rate evaluations per decision;
* ``decoder="own"``: the model's own decoder (``Model.decide``), e.g. the paper's floor
  decoding of the literal circuit.

For example, a new QNN with a builder ``_per_user_qnn`` is added with the two lines
``LearnedEntry("per-user QNN", _per_user_qnn, "covering")`` and
``LearnedEntry("per-user QNN, top-{k} re-ranked", _per_user_qnn, "top-k")``; the builder
runs once for both. :func:`cfmimo.results.learned_policies` reads this registry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np

from . import classical, decoders, engine, qnn, scoring, train
from .config import Preset, db_to_linear
from .policies import Policy
from .rates import serves_every_user

__all__ = [
    "TOP_K",
    "QNN_SIZED_PARAMETERS",
    "LARGE_PERCEPTRON_HIDDEN",
    "Model",
    "TrainingData",
    "LearnedEntry",
    "LEARNED",
    "build_learned",
    "qnn_ap_log_probs",
    "reupload_top_k",
]

#: Default ``k`` of top-k re-ranking (the issue's target at 4 x 3: k <= 5).
TOP_K = 5
#: Parameter budget of the "QNN-sized" perceptron: about the improved QNN's count (40 at the
#: paper preset). A placeholder: set it to the one-qubit-per-AP QNN's count once it exists.
QNN_SIZED_PARAMETERS = 40
#: Hidden units of the large perceptron.
LARGE_PERCEPTRON_HIDDEN = 32


# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """A trained model, as the registry sees it.

    Attributes
    ----------
    n_parameters : int
    log_probs : callable or None
        ``log_probs(H_hat) -> (n, n_ap, n_user)``: each AP's log-distribution over users;
        enables the shared decoders (``"covering"``, ``"top-k"``).
    decide : callable or None
        ``decide(H_hat) -> (n, n_ap)``: the model's own decoder (``"own"``).
    top_k : callable or None
        ``top_k(H_hat, k) -> (n, k, n_ap)``: the model's own ``k`` most probable covering
        assignments, for a model whose joint distribution is not the product of per-AP
        distributions; default :func:`cfmimo.decoders.top_k_covering` of ``log_probs``.
    """

    n_parameters: int
    log_probs: Callable | None = None
    decide: Callable | None = None
    top_k: Callable | None = None


class TrainingData:
    """The training set the learned models share, computed on first use.

    ``channels``: the improved QNN's training channels
    (:func:`cfmimo.train.training_channels`); ``rho``: the training SNR (linear);
    ``rates``: the min-rate of every candidate on them (:func:`cfmimo.classical.candidate_rates`,
    small sizes only).
    """

    def __init__(self, config: Preset, cache_dir=None, weights_dir=None):
        self.config = config
        self.rho = db_to_linear(config.training.train_snr_db)
        self.cache_dir, self.weights_dir = cache_dir, weights_dir

    @cached_property
    def channels(self) -> np.ndarray:
        return train.training_channels(self.config, "reupload")

    @cached_property
    def rates(self) -> np.ndarray:
        s = self.config.system
        return classical.candidate_rates(self.channels, self.channels, self.rho, s.interference_factor, s.penalty)


@dataclass(frozen=True)
class LearnedEntry:
    """One learned policy of the registry: a model builder and a decoder.

    Attributes
    ----------
    name : str
        Display name; ``{k}`` is replaced by ``k`` of top-k. QNN policies must contain
        "QNN" (re-ranked ones too), the literal circuit's "paper" (DESIGN.md).
    build : callable
        ``build(config, data) -> Model``; called once per builder however many entries
        share it.
    decoder : {"own", "covering", "top-k"}
    """

    name: str
    build: Callable
    decoder: str = "covering"

    def __post_init__(self):
        if self.decoder not in ("own", "covering", "top-k"):
            raise ValueError(f"decoder = {self.decoder!r}; allowed: 'own', 'covering', 'top-k'")


def qnn_ap_log_probs(config: Preset, variant: str, weights, H_hat, *, chunk: int = 4096) -> np.ndarray:
    """Each AP's log-distribution over users from a QNN with a per-AP readout.

    For ``reupload``: the marginal of AP ``m``'s code, renormalised over the valid codes
    (:func:`cfmimo.qnn.outputs_from_probabilities`); ``(n, n_ap, n_user)``.
    """
    probs = _qnn_probabilities(config, variant, weights, H_hat, chunk)
    out = qnn.outputs_from_probabilities(config, variant, probs)
    return np.log(np.maximum(out, 1e-300))


def _qnn_probabilities(config, variant, weights, H_hat, chunk=4096):
    x = qnn.encode_angles(H_hat)
    flat = x.reshape(-1, x.shape[-1])
    return np.concatenate(
        [engine.exact_probabilities(config, variant, flat[i : i + chunk], weights) for i in range(0, len(flat), chunk)]
    )


def reupload_top_k(config: Preset, weights, H_hat, k: int) -> np.ndarray:
    """The ``k`` most probable covering assignments of the ``reupload`` QNN's joint distribution.

    ``reupload`` reads one code per AP from an entangled state, so its joint distribution
    over assignments is not the product of per-AP marginals; it enumerates the
    ``n_user**n_ap`` codes anyway (:func:`cfmimo.qnn.assignment_probabilities`). Ties go to
    the first candidate in :func:`cfmimo.qnn.candidate_assignments` order, so row 0 is
    :func:`cfmimo.train.decide`'s decision. ``(n, n_ap, n_user, n_tx) -> (n, k, n_ap)``;
    with fewer than ``k`` covering assignments, non-covering ones fill the tail.
    """
    s = config.system
    probs = _qnn_probabilities(config, "reupload", weights, H_hat)
    joint = qnn.assignment_probabilities(config, "reupload", probs)  # (n, C)
    cands = qnn.candidate_assignments(s.n_ap, s.n_user)
    covers = serves_every_user(cands, s.n_user)
    if covers.any():
        joint = np.where(covers, joint, -1.0)
    order = np.argsort(-joint, axis=1, kind="stable")[:, :k]
    return cands[order]


def _paper_qnn(config, data):
    result = train.trained(config, "paper", data.cache_dir)
    return Model(
        n_parameters=qnn.n_weights(config, "paper"),
        decide=lambda H_hat: train.decide(config, "paper", result.weights, H_hat),
    )


def _reupload_qnn(config, data):
    result = train.trained(config, "reupload", data.cache_dir)
    return Model(
        n_parameters=qnn.n_weights(config, "reupload"),
        decide=lambda H_hat: train.decide(config, "reupload", result.weights, H_hat),
        log_probs=lambda H_hat: qnn_ap_log_probs(config, "reupload", result.weights, H_hat),
        top_k=lambda H_hat, k: reupload_top_k(config, result.weights, H_hat, k),
    )


def _perceptron(hidden_of):
    def build(config, data):
        s = config.system
        features = classical.perceptron_features(data.channels)
        hidden = hidden_of(features.shape[1], s.n_ap, s.n_user)
        model = classical.fit_mlp_on_channels(
            features, data.channels, data.rho, s.interference_factor, s.penalty, hidden=hidden, rng=config.training.seed
        )
        return Model(
            n_parameters=model.n_parameters,
            log_probs=lambda H_hat: model.log_probs(classical.perceptron_features(H_hat)),
            decide=lambda H_hat: model.decide(classical.perceptron_features(H_hat)),
        )

    return build


_qnn_sized_perceptron = _perceptron(
    lambda n_features, n_ap, n_user: classical.hidden_for_parameters(QNN_SIZED_PARAMETERS, n_features, n_ap, n_user)
)
_large_perceptron = _perceptron(lambda n_features, n_ap, n_user: LARGE_PERCEPTRON_HIDDEN)


def _scoring_qnn(config, data):
    """The ``scoring`` variant (one qubit per AP, per-user scoring; :mod:`cfmimo.scoring`)."""
    run = scoring.trained(config, cache_dir=data.cache_dir, weights_dir=data.weights_dir)
    model = scoring.QuantumScorer(config)
    return Model(n_parameters=model.n_params, log_probs=lambda H_hat: scoring.channel_log_probs(model, run.weights, H_hat))


def _scoring_twin(config, data):
    """The scoring QNN's classical twin, trained by the same recipe on the same channels."""
    model, run = scoring.train_twin(config)
    return Model(n_parameters=model.n_params, log_probs=lambda H_hat: scoring.channel_log_probs(model, run.weights, H_hat))


LEARNED = (
    LearnedEntry("paper QNN", _paper_qnn, "own"),
    LearnedEntry("improved QNN", _reupload_qnn, "own"),
    LearnedEntry("improved QNN, top-{k} re-ranked", _reupload_qnn, "top-k"),
    LearnedEntry("scoring QNN", _scoring_qnn, "covering"),
    LearnedEntry("scoring QNN, top-{k} re-ranked", _scoring_qnn, "top-k"),
    LearnedEntry("classical twin", _scoring_twin, "covering"),
    LearnedEntry("classical twin, top-{k} re-ranked", _scoring_twin, "top-k"),
    LearnedEntry("perceptron (QNN-sized)", _qnn_sized_perceptron, "covering"),
    LearnedEntry("perceptron (QNN-sized), top-{k} re-ranked", _qnn_sized_perceptron, "top-k"),
    LearnedEntry("perceptron (large)", _large_perceptron, "covering"),
    LearnedEntry("perceptron (large), top-{k} re-ranked", _large_perceptron, "top-k"),
)
"""The learned policies, in display order."""


def _fingerprint(H_hat) -> tuple:
    arr = np.ascontiguousarray(H_hat)
    return arr.shape, hashlib.blake2b(arr.view(np.uint8), digest_size=16).hexdigest()


def _top_k_policy(name, model, config, k):
    """A hybrid: top-k covering candidates (computed once per channel set) re-ranked at each ``rho``."""
    s = config.system
    memo = {}

    def candidates(H_hat):
        if model.top_k is not None:
            return model.top_k(H_hat, k)
        return decoders.top_k_covering(model.log_probs(H_hat), k)[0]

    def decide(H_hat, rho):
        H_hat = np.asarray(H_hat)
        key = _fingerprint(H_hat)
        if memo.get("key") != key:  # candidates do not depend on rho: reuse them across an SNR grid
            memo["key"], memo["cands"] = key, candidates(H_hat)
        return decoders.rerank(H_hat, memo["cands"], rho, s.interference_factor, s.penalty)

    return Policy(
        name, decide, uses_rho=True, hybrid=True, rate_evaluations=lambda n_ap, n_user: k, n_parameters=model.n_parameters
    )


def build_learned(config: Preset, entries=None, *, k: int = TOP_K, cache_dir=None, weights_dir=None) -> dict:
    """Train (or load) the models of ``entries`` and wrap them as :class:`Policy` objects.

    Parameters
    ----------
    config : Preset
    entries : sequence of LearnedEntry, optional
        Default :data:`LEARNED`. Entries whose decoder cannot apply at this size (the
        covering decoders need ``n_ap >= n_user``) are left out.
    k : int
        ``k`` of the top-k entries.
    cache_dir, weights_dir : str or Path, optional
        The cache folder of training runs and the folder of committed weight files
        (:class:`TrainingData`; ``None``: none).

    Returns
    -------
    dict of str to Policy

    References
    ----------
    Narottama & Duong (2022), Eq. (9).
    """
    entries = LEARNED if entries is None else tuple(entries)
    k = int(k)
    if k < 1:
        raise ValueError(f"k = {k} is out of range; allowed: >= 1")
    s = config.system
    data = TrainingData(config, cache_dir, weights_dir)
    models = {}
    out = {}
    for entry in entries:
        if entry.decoder != "own" and s.n_ap < s.n_user:
            continue
        if entry.build not in models:
            models[entry.build] = entry.build(config, data)
        model = models[entry.build]
        name = entry.name.format(k=k)
        if entry.decoder == "own":
            if model.decide is None:
                raise ValueError(f"{name!r}: its model has no own decoder")
            out[name] = Policy(
                name, lambda H_hat, rho, m=model: m.decide(H_hat), uses_rho=False,
                rate_evaluations=lambda n_ap, n_user: 0, n_parameters=model.n_parameters,
            )
            continue
        if model.log_probs is None and not (entry.decoder == "top-k" and model.top_k is not None):
            raise ValueError(f"{name!r}: its model gives no per-AP distribution for the shared decoders")
        if entry.decoder == "covering":
            out[name] = Policy(
                name, lambda H_hat, rho, m=model: decoders.covering_argmax(m.log_probs(H_hat)), uses_rho=False,
                rate_evaluations=lambda n_ap, n_user: 0, n_parameters=model.n_parameters,
            )
        else:
            out[name] = _top_k_policy(name, model, config, k)
    return out
