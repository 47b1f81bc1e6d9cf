"""Training and deployment of the cloud QNN: one entry point for every registered variant,
dispatched to the training recipe the variant names, and the on-disk cache of
deterministic training runs.

Recipes
-------
:data:`RECIPES` maps the recipe a variant names (:attr:`cfmimo.qnn.Variant.recipe`) to its
runner and its deployment, each in its own module:

``"algorithm1"`` (:mod:`cfmimo.algorithm1`, variant ``paper``)
    Algorithm 1: SGD on the decoded Eq. (11) loss with the parameter-shift rule (methods
    ``"shift"``, ``"printed"``: Eq. (17) as printed, ``"rotosolve"``).
``"reupload"`` (:mod:`cfmimo.reupload`, variant ``reupload``)
    Adam on the exact probabilities with adjoint gradients (methods ``"imitation"``,
    ``"expected"``).
``"scoring"`` (:mod:`cfmimo.scoring`, variant ``scoring``)
    Imitation, then per-AP fine-tuning of the per-user scores.

The first two decide with :func:`engine_decide` (the exact engine's probabilities,
decoded by the variant).

Randomness and resumption
-------------------------
A run is a deterministic function of ``(config, variant, method, seed)``: the initial
weights, the training channels and each epoch's shuffle (or fresh channels) come from
separate streams ``numpy.random.default_rng([seed, stream, epoch])``. A run resumed from
a :class:`TrainResult` with ``k`` finished epochs (``init=``, e.g. a checkpoint written
with ``checkpoint=``) therefore ends bit-identical to an uninterrupted run.

Code layout
-----------
Every recipe runs in the shared loop :func:`cfmimo.loop.run_epochs`, which owns the
epochs, visiting order, minibatches, progress bar, history, checkpoints and seeds; each
recipe module supplies a :class:`cfmimo.loop.Method`. A new variant registered in
:data:`cfmimo.qnn.VARIANTS` names one of the recipes; a new recipe is one module plus one
entry in :data:`RECIPES`. :func:`train`, :func:`train_seeds` and :func:`decide` dispatch
through the table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from . import engine, qnn, scoring
from ._validation import as_channel
from .algorithm1 import algorithm1_runs
from .channel import sample_channels
from .config import Preset, check_preset
from .loop import STREAM_DATA, STREAM_EPOCH, seed_of, stream
from .reupload import reupload_runs
from .weights import TrainResult, cache_key, cache_path, cached_run, check_weights_path, load_weights, save_weights

__all__ = [
    "METHODS",
    "DEFAULT_METHOD",
    "Recipe",
    "RECIPES",
    "recipe_of",
    "engine_decide",
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


# ---------------------------------------------------------------------------------------
# argument handling
# ---------------------------------------------------------------------------------------


def _check_method(variant, method):
    return qnn.get_variant(variant).check_method(method)


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
# deployment on the exact engine, and the recipe table
# ---------------------------------------------------------------------------------------


def engine_decide(config: Preset, variant: str, weights: np.ndarray, H_hat: np.ndarray, chunk: int) -> np.ndarray:
    """Assignments ``(n, n_ap)`` for ``H_hat`` ``(n, n_ap, n_user, n_tx)``: the exact
    engine's probabilities (``chunk`` channels per call) decoded by
    :func:`cfmimo.qnn.decide_from_probabilities` (the variant's own decoder; the deployment of the
    ``algorithm1`` and ``reupload`` recipes).

    References
    ----------
    Narottama & Duong (2022), Algorithm 1; Eq. (9).
    """
    v = qnn.get_variant(variant)
    x = v.inputs(config, H_hat)
    out = np.empty((x.shape[0], config.system.n_ap), dtype=np.int64)
    for start in range(0, x.shape[0], chunk):
        probs = engine.exact_probabilities(config, v.name, x[start : start + chunk], weights)
        out[start : start + chunk] = v.decide_from_probabilities(config, probs)
    return out


def _scoring_runs(config, seeds, method, inits, progress, checkpoint, variant="scoring") -> list:
    return scoring.train_runs(config, seeds, method, inits, progress, checkpoint)


def _scoring_decide(config, variant, weights, H_hat, chunk) -> np.ndarray:
    return scoring.decide_channels(config, weights, H_hat, chunk=chunk)


@dataclass(frozen=True)
class Recipe:
    """How the variants that name it (:attr:`cfmimo.qnn.Variant.recipe`) are trained and
    deployed.

    Attributes
    ----------
    runs : callable
        ``runs(config, seeds, method, inits, progress, checkpoint, variant)`` -> one
        :class:`TrainResult` per seed (``inits`` holds one ``init`` of :func:`train` per seed).
    decide : callable
        ``decide(config, variant, weights, H_hat, chunk)`` -> assignments ``(n, n_ap)`` for
        ``H_hat`` ``(n, n_ap, n_user, n_tx)``.
    """

    runs: Callable
    decide: Callable


RECIPES = {
    "algorithm1": Recipe(algorithm1_runs, engine_decide),
    "reupload": Recipe(reupload_runs, engine_decide),
    "scoring": Recipe(_scoring_runs, _scoring_decide),
}
"""Training recipes by name: Algorithm 1 (per-AP readout, floor decoding), Adam on exact
probabilities (a code per AP), and the per-user scoring recipe of :mod:`cfmimo.scoring`.
A variant names its recipe (:attr:`cfmimo.qnn.Variant.recipe`); a new recipe is one module
plus one entry here."""


def recipe_of(variant) -> Recipe:
    """The :class:`Recipe` that ``variant`` (a name or a :class:`cfmimo.qnn.Variant`) names.

    Raises
    ------
    ValueError
        An unknown variant, or a variant whose recipe is not in :data:`RECIPES`.
    """
    v = qnn.get_variant(variant)
    if v.recipe not in RECIPES:
        raise ValueError(f"variant {v.name!r} names the training recipe {v.recipe!r}; allowed: {list(RECIPES)}")
    return RECIPES[v.recipe]


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
    return recipe_of(variant).runs(config, [seed], method, [init], progress, checkpoint, variant)[0]


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
    return recipe_of(variant).runs(config, seeds, method, [None] * len(seeds), progress, None, variant)


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
    out = recipe_of(variant).decide(config, variant, weights, flat, int(chunk))
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
    return cached_run(path, config, lambda: train(config, variant, method=method, rng=seed, progress=progress))


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
