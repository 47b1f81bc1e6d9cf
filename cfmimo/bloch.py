"""Readout design (i) of issue 10: each AP's qubit alone gives a distribution over users.

Shown beside the per-user scoring QNN (:mod:`cfmimo.scoring`) in notebook 07, because the
issue asked for both readouts to be built and compared. The circuit
(:func:`cfmimo.qnn.build_bloch_circuit`) has one qubit per AP, like the scoring variant, but
qubit ``m`` reads the link features of every user of AP ``m`` at once; the three circuits
measured in the X, Y and Z bases give AP ``m``'s Bloch vector, which is projected on one
trainable direction per user before a softmax over users. It is trained by the scoring
recipe (:func:`cfmimo.scoring.train_model`) on the same channels, teacher and seed, and
decided by the same decoders. Three numbers per AP must pick one of ``n_user`` users, and a
user is told apart only by its slot in the input, so it does not scale in ``n_user``.

Its weights are committed beside the scoring QNN's (``weights/bloch-imitation-<key>.npz``,
:func:`commit_bloch`); the key is the scoring run's :func:`cfmimo.weights.cache_key`, whose
hashed sources include this module.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import engine, qnn
from .config import Preset
from .features import N_FEATURES
from .scoring import train_model, training_data
from .weights import atomic_savez, cache_key, config_from_dict, config_to_dict

__all__ = ["BlochScorer", "bloch_weights_path", "train_bloch", "trained_bloch", "commit_bloch"]


class BlochScorer:
    """Readout design (i) of issue 10, shown beside the per-user design: each AP's qubit
    gives a distribution over users by itself.

    Circuit :func:`cfmimo.qnn.build_bloch_circuit` (one qubit per AP, reading all users'
    features of its AP), evaluated once per channel in each of the three bases: AP ``m``'s
    Bloch vector :math:`\\mathbf r_m`. User ``k``'s score at AP ``m`` is
    :math:`e^{s}\\,\\mathbf r_m \\cdot \\mathbf d_k` with a trainable unit direction
    :math:`\\mathbf d_k` per user (polar and azimuthal angle); a softmax over ``k`` follows.
    Three numbers per AP must pick one of ``n_user`` users, and user ``k`` is told apart
    only by its slot in the input: the design does not share weights across users.

    ``params``: the circuit's ``theta``, then the ``2 n_user`` direction angles, then ``s``.
    Same interface as :class:`cfmimo.scoring.QuantumScorer` (rows are (channel, user) pairs; the rows of
    one channel are evaluated together).
    """

    def __init__(self, config: Preset):
        self.config = config
        self.n_user = config.system.n_user
        self.programs = [engine.compile_circuit(qnn.build_bloch_circuit(config, b)) for b in qnn.BLOCH_BASES]
        self.n_theta = self.programs[0].n_weights
        self.n_params = self.n_theta + 2 * self.n_user + 1

    def init(self, rng) -> np.ndarray:
        p = (0.5 / np.sqrt(self.n_user * N_FEATURES)) * rng.standard_normal(self.n_params)
        K = self.n_user
        p[self.n_theta : self.n_theta + K] = np.arccos(rng.uniform(-1.0, 1.0, K))
        p[self.n_theta + K : self.n_theta + 2 * K] = rng.uniform(0.0, 2 * np.pi, K)
        p[-1] = np.log(3.0)
        return p

    def _directions(self, params):
        K = self.n_user
        polar, azimuth = params[self.n_theta : self.n_theta + K], params[self.n_theta + K : self.n_theta + 2 * K]
        d = np.stack([np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)], axis=-1)
        d_polar = np.stack([np.cos(polar) * np.cos(azimuth), np.cos(polar) * np.sin(azimuth), -np.sin(polar)], axis=-1)
        d_azimuth = np.stack([-np.sin(polar) * np.sin(azimuth), np.sin(polar) * np.cos(azimuth), np.zeros(K)], axis=-1)
        return d, d_polar, d_azimuth

    def scores(self, params, x):
        """x ``(B * n_user, n_ap * N_FEATURES)`` (user rows of each channel, consecutive) ->
        scores ``(B * n_user, n_ap)`` and a context for :meth:`vjp`."""
        K = self.n_user
        B, M = x.shape[0] // K, x.shape[1] // N_FEATURES
        xb = x.reshape(B, K, M, N_FEATURES).transpose(0, 2, 1, 3).reshape(B, M * K * N_FEATURES)
        theta = params[: self.n_theta]
        r = np.stack([engine.forward(p, xb, theta, output="z") for p in self.programs], axis=-1)  # (B, M, 3)
        d = self._directions(params)[0]
        s = np.exp(params[-1]) * (r @ d.T)  # (B, M, K)
        return np.ascontiguousarray(s.transpose(0, 2, 1).reshape(B * K, M)), (xb, r, s)

    def vjp(self, params, ctx, cot):
        """Gradient of ``sum(cot * scores)`` with respect to ``params``."""
        xb, r, s = ctx
        K = self.n_user
        B, M = r.shape[:2]
        c = cot.reshape(B, K, M).transpose(0, 2, 1)  # (B, M, K)
        scale = np.exp(params[-1])
        d, d_polar, d_azimuth = self._directions(params)
        grad = np.zeros(self.n_params)
        g_r = scale * (c @ d)  # (B, M, 3)
        theta = params[: self.n_theta]
        for i, program in enumerate(self.programs):
            _, g = engine.vjp(program, xb, theta, g_r[..., i], output="z")
            grad[: self.n_theta] += g.sum(axis=0) if g.ndim == 2 else g
        g_d = scale * np.einsum("bmk,bmi->ki", c, r)  # (K, 3)
        grad[self.n_theta : self.n_theta + K] = (g_d * d_polar).sum(axis=-1)
        grad[self.n_theta + K : self.n_theta + 2 * K] = (g_d * d_azimuth).sum(axis=-1)
        grad[-1] = float((c * s).sum())
        return grad


def bloch_weights_path(config: Preset, weights_dir, *, seed=None) -> Path | None:
    """Where the committed weights of the :class:`BlochScorer` run of ``config`` live:
    ``<weights_dir>/bloch-imitation-<key[:24]>.npz`` with the key of the ``scoring`` run
    of the same config and seed (:func:`cfmimo.weights.cache_key`: the Bloch model is
    trained by this module's code too), or ``None`` when ``weights_dir`` is ``None``."""
    if weights_dir is None:
        return None
    key = cache_key(config, "scoring", qnn.get_variant("scoring").default_method, seed)
    return Path(weights_dir) / f"bloch-imitation-{key[:24]}.npz"


def train_bloch(config: Preset, *, seed=None, progress: bool = False):
    """Train the Bloch-readout design (i) exactly as the ``scoring`` QNN: same channels,
    teacher, recipe and seed. Returns ``(model, TrainResult)`` (``variant="bloch"``)."""
    seed = config.training.seed if seed is None else int(seed)
    model = BlochScorer(config)
    H_hat, teacher = training_data(config, seed)
    res = train_model(model, config, H_hat, teacher, seed=seed, progress=progress,
                      desc="train bloch/imitation", result_variant="bloch")
    return model, res


def trained_bloch(config: Preset, *, weights_dir=None, seed=None, progress: bool = False):
    """The Bloch-readout model of ``config`` and its weights: the committed file
    (:func:`bloch_weights_path`) when it exists for exactly this run, else a training run
    (:func:`train_bloch`). Returns ``(model, weights, from_file)``.

    Raises
    ------
    ValueError
        A committed file that is not for this config or has the wrong number of weights.
    """
    path = bloch_weights_path(config, weights_dir, seed=seed)
    model = BlochScorer(config)
    if path is None or not path.is_file():
        return model, train_bloch(config, seed=seed, progress=progress)[1].weights, False
    with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:
        weights, meta = np.array(data["weights"]), json.loads(str(data["meta"]))
    if config_from_dict(meta.get("config")) != config or weights.shape != (model.n_params,):
        raise ValueError(f"{path}: not the Bloch-readout weights of this config ({model.n_params} weights expected)")
    return model, weights, True


def commit_bloch(config: Preset, weights_dir, *, seed=None, progress: bool = False) -> Path:
    """Train the Bloch-readout run of ``config`` and write its weights (with the config and
    seed as metadata) atomically to :func:`bloch_weights_path`. Returns the path."""
    seed = config.training.seed if seed is None else int(seed)
    _, res = train_bloch(config, seed=seed, progress=progress)
    meta = json.dumps({"config": config_to_dict(config), "seed": seed}, sort_keys=True)
    return atomic_savez(bloch_weights_path(config, weights_dir, seed=seed), weights=res.weights, meta=np.array(meta))
