"""Weight files, checkpoints and the on-disk cache of deterministic training runs.

A :class:`TrainResult` is saved as one ``.npz`` file (:func:`save_weights`, atomic: a
temporary file in the same folder moved over the target with ``os.replace``) holding the
arrays and a JSON ``meta`` entry (config, variant, method, seed, package version).
:func:`load_weights` checks everything it reads (the metadata keys, the config, the
variant, the shapes of the weights and of the history) and raises a ``ValueError`` that
names what is wrong, so that a damaged or foreign file is never used.

The cache (:func:`cache_path`, :func:`load_cached`) names a finished run's file by
:func:`cache_key`; an entry that cannot be read (truncated, empty, foreign) counts as
missing, with a :class:`CacheWarning`, and the caller trains again
(:func:`cfmimo.train.trained`). The caller names the cache folder (the notebooks pass
their ``cache_dir`` parameter, ``_cache`` beside themselves); the library knows no
folder of its own.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import io
import json
import os
import tempfile
import tokenize
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__, qnn
from .config import Preset, SystemConfig, TrainingConfig

__all__ = [
    "TrainResult",
    "CacheWarning",
    "save_weights",
    "atomic_savez",
    "config_to_dict",
    "config_from_dict",
    "load_weights",
    "check_weights_path",
    "cache_key",
    "source_modules",
    "code_fingerprint",
    "cache_path",
    "load_cached",
    "cached_run",
]

_ARRAYS = ("weights", "loss", "min_rate", "objective", "opt_state", "flat")
_HISTORY = ("loss", "min_rate", "objective", "flat")
_META_KEYS = ("config", "variant", "method", "seed", "version")
_TRAINING_ROOTS = ("train", "scoring", "qnn", "bloch")
"""Modules whose training runs are cached; :func:`cache_key` hashes their import closure."""


class CacheWarning(UserWarning):
    """A cache entry could not be read and is treated as missing (the run is redone)."""



@dataclass(frozen=True, eq=False)
class TrainResult:
    """Outcome of a training run (arrays are read-only).

    Attributes
    ----------
    weights : ndarray, shape ``(n_weights,)``
    loss : ndarray, shape ``(epochs_done,)``
        Per-epoch mean of Eq. (11) (``rates.loss`` with ``H_hat`` for both channels, at the
        training SNR) of the *decoded* assignments of the epoch's training channels, each
        taken with the weights in force when the channel was visited (Fig. 4's quantity).
    min_rate : ndarray, shape ``(epochs_done,)``
        Per-epoch mean min-rate (bit/s/Hz, on the estimate) of the same assignments.
    objective : ndarray, shape ``(epochs_done,)``
        Per-epoch mean of the optimised objective (``paper``: the same as ``loss``;
        ``reupload``: cross-entropy in nats, or minus the expected min-rate, or the expected
        loss, depending on the epoch and method).
    config : cfmimo.config.Preset
    variant : str
    method : str
    seed : int
    opt_state : ndarray
        Optimiser state needed to resume (Adam moments for ``reupload``; empty otherwise).
    flat : ndarray, shape ``(epochs_done,)``
        ``paper`` with ``shift``/``printed``: per-epoch share of steps whose ``2P`` shifted
        losses all equal the centre loss, i.e. whose update is exactly zero (the decoded
        loss is piecewise constant in the weights); NaN for the other methods.
    """

    weights: np.ndarray
    loss: np.ndarray
    min_rate: np.ndarray
    objective: np.ndarray
    config: Preset
    variant: str
    method: str
    seed: int
    opt_state: np.ndarray = field(default_factory=lambda: np.zeros(0))
    flat: np.ndarray | None = None

    def __post_init__(self):
        if self.flat is None:
            object.__setattr__(self, "flat", np.full(np.shape(self.loss), np.nan))
        for name in ("weights", "loss", "min_rate", "objective", "opt_state", "flat"):
            arr = np.array(getattr(self, name), dtype=np.float64)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def epochs_done(self) -> int:
        """Number of finished epochs."""
        return int(self.loss.shape[0])

    @property
    def finished(self) -> bool:
        """Whether all ``config.training.n_epoch`` epochs are done."""
        return self.epochs_done >= self.config.training.n_epoch




# ---------------------------------------------------------------------------------------
# weight files
# ---------------------------------------------------------------------------------------


def config_to_dict(config: Preset) -> dict:
    """A Preset as plain JSON-able nested dicts (``dataclasses.asdict``); inverse of :func:`config_from_dict`."""
    return dataclasses.asdict(config)


def config_from_dict(d) -> Preset:
    """Rebuild a Preset from its ``asdict`` form; ``ValueError`` naming the bad entry."""
    if not isinstance(d, dict):
        raise ValueError(f"metadata 'config' must be a mapping, got {type(d).__name__}")
    missing = [k for k in ("name", "system", "training", "n_trials", "distance_means", "seed") if k not in d]
    if missing:
        raise ValueError(f"metadata 'config' lacks {missing}")
    for part in ("system", "training"):
        if not isinstance(d[part], dict):
            raise ValueError(f"metadata 'config.{part}' must be a mapping, got {type(d[part]).__name__}")
    try:
        return Preset(
            name=d["name"],
            system=SystemConfig(**d["system"]),
            training=TrainingConfig(**d["training"]),
            n_trials=d["n_trials"],
            distance_means=d["distance_means"],
            seed=d["seed"],
        )
    except TypeError as exc:  # unknown field names
        raise ValueError(f"metadata 'config' has an unknown field: {exc}") from None


def check_weights_path(path, name: str = "path") -> Path:
    """Return ``path`` as a :class:`~pathlib.Path` that a weight file can be written to.

    Raises ``ValueError`` naming ``name`` when ``path`` is an existing folder or a
    parent of it exists and is not a folder. Used to reject a bad
    ``checkpoint=`` before training starts.
    """
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or path, got {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{name} = {str(path)!r} is a folder; give a file name ending in .npz")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{name} = {str(path)!r}: {str(parent)!r} is not a folder")
            break
    return path


def save_weights(path, result: TrainResult) -> Path:
    """Write ``result`` to ``path`` (``.npz``) atomically.

    The file is written to a temporary file in the same folder and moved over ``path``
    with ``os.replace``: a run killed while saving leaves the previous file intact.

    Parameters
    ----------
    path : str or Path
        Target file (``.npz`` by convention); its folder is created when missing.
    result : TrainResult

    Returns
    -------
    pathlib.Path
    """
    if not isinstance(result, TrainResult):
        raise ValueError(f"result must be a TrainResult, got {type(result).__name__}")
    path = check_weights_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "config": config_to_dict(result.config),
        "variant": result.variant,
        "method": result.method,
        "seed": int(result.seed),
        "version": __version__,
    }
    return atomic_savez(path, meta=np.array(json.dumps(meta, sort_keys=True)), **{k: getattr(result, k) for k in _ARRAYS})


def atomic_savez(path, **arrays) -> Path:
    """``numpy.savez(path, **arrays)`` written to a temporary file in the same folder and
    moved over ``path`` with ``os.replace``: a run killed while saving leaves the previous
    file intact. The folder is created when missing. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _read_npz(path: Path) -> tuple[dict, dict]:
    """Raw metadata and arrays of a weight file; ``ValueError`` if it cannot be read."""
    try:
        # open the file here: np.load leaks its own handle when the archive is damaged
        with open(path, "rb") as fh:
            data = np.load(fh, allow_pickle=False)
            if not hasattr(data, "files"):
                raise ValueError("it holds a single array, not an .npz archive")
            with data:
                missing = [k for k in ("meta",) + _ARRAYS if k not in data.files]
                if missing:
                    raise ValueError(f"it lacks the entries {missing}")
                meta_text = str(data["meta"])
                arrays = {k: np.array(data[k]) for k in _ARRAYS}
    except ValueError as exc:
        raise ValueError(f"path = {str(path)!r} is not a weights file written by save_weights: {exc}") from None
    except Exception as exc:  # BadZipFile, EOFError, OSError, zlib errors of a damaged file
        raise ValueError(
            f"path = {str(path)!r} is not a readable weights file ({type(exc).__name__}: {exc})"
        ) from None
    try:
        meta = json.loads(meta_text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"path = {str(path)!r}: metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"path = {str(path)!r}: metadata must be a JSON object")
    return meta, arrays


def load_weights(path) -> TrainResult:
    """Read and validate a :class:`TrainResult` written by :func:`save_weights`.

    Checks, each with a ``ValueError`` that names what is wrong: the file is a readable
    ``.npz`` with every entry; the metadata has ``config``, ``variant``, ``method``,
    ``seed`` and ``version``; the config is valid; the variant is one of
    :data:`cfmimo.qnn.VARIANTS`; ``weights`` has shape ``(n_weights,)`` for that config and
    variant (:func:`cfmimo.qnn.n_weights`) and finite entries; the history arrays are 1-d
    of one length, at most ``n_epoch``.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    TrainResult
    """
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path = {str(path)!r} is not a file")
    meta, arrays = _read_npz(path)
    where = f"weights file {str(path)!r}"
    missing = [k for k in _META_KEYS if k not in meta]
    if missing:
        raise ValueError(f"{where}: metadata lacks {missing} (written by an older or foreign program?)")
    try:
        config = config_from_dict(meta["config"])
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    variant = meta["variant"]
    if not isinstance(variant, str) or variant not in qnn.VARIANTS:
        raise ValueError(f"{where}: variant = {variant!r} is unknown; allowed: {list(qnn.VARIANTS)}")
    method = meta["method"]
    if not isinstance(method, str) or not method:
        raise ValueError(f"{where}: method must be a non-empty string, got {method!r}")
    seed = meta["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"{where}: seed must be an integer >= 0, got {seed!r}")
    for name, arr in arrays.items():
        if not np.issubdtype(arr.dtype, np.floating):
            raise ValueError(f"{where}: {name} must be a float array, got dtype {arr.dtype}")
        if arr.ndim != 1:
            raise ValueError(f"{where}: {name} must be 1-d, got shape {arr.shape}")
    n_w = qnn.n_weights(config, variant)
    if arrays["weights"].shape != (n_w,):
        raise ValueError(
            f"{where}: weights have shape {arrays['weights'].shape}, but variant {variant!r} at "
            f"n_ap={config.system.n_ap}, n_user={config.system.n_user}, n_layer={config.training.n_layer} "
            f"needs (n_weights = {n_w},)"
        )
    if not np.all(np.isfinite(arrays["weights"])):
        raise ValueError(f"{where}: weights contain NaN or inf")
    lengths = {name: arrays[name].shape[0] for name in _HISTORY}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{where}: history arrays have different lengths {lengths}")
    if lengths["loss"] > config.training.n_epoch:
        raise ValueError(f"{where}: {lengths['loss']} epochs of history, but n_epoch = {config.training.n_epoch}")
    return TrainResult(config=config, variant=variant, method=method, seed=seed, **arrays)


# ---------------------------------------------------------------------------------------
# cache
# ---------------------------------------------------------------------------------------


def _check_cache_args(config, variant, method, seed):
    if not isinstance(config, Preset):
        raise ValueError(f"config must be a cfmimo.config.Preset, got {type(config).__name__}")
    if not isinstance(variant, str) or variant not in qnn.VARIANTS:
        raise ValueError(f"variant = {variant!r} is unknown; allowed: {list(qnn.VARIANTS)}")
    if method is not None and (not isinstance(method, str) or not method):
        raise ValueError(f"method must be a non-empty string or None, got {method!r}")
    if seed is None:
        seed = config.training.seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed = {seed!r} is out of range; allowed: an integer >= 0 or None (the config's seed)")
    return int(seed)


def cache_key(config: Preset, variant: str, method=None, seed=None) -> str:
    """SHA-256 of everything a training run depends on.

    The config, variant, method, seed, the package and numpy versions and the source
    code of the modules that compute the run (:func:`source_modules`), read through
    :func:`code_fingerprint` so that docstrings and comments do not count.

    Parameters
    ----------
    config : Preset
    variant : str
        One of :data:`cfmimo.qnn.VARIANTS`.
    method : str or None
        The training method; ``None`` is hashed as given (:func:`cfmimo.train.trained`
        passes the resolved method name).
    seed : int or None
        ``None``: ``config.training.seed``.

    Returns
    -------
    str
        64 hex digits.
    """
    seed = _check_cache_args(config, variant, method, seed)
    h = hashlib.sha256()
    payload = {"config": config_to_dict(config), "variant": variant, "method": method, "seed": seed, "version": __version__}
    h.update(json.dumps(payload, sort_keys=True).encode())
    here = Path(__file__).resolve().parent
    for name in source_modules():
        h.update(name.encode())
        h.update(code_fingerprint((here / f"{name}.py").read_text(encoding="utf-8")).encode())
    h.update(np.__version__.encode())
    return h.hexdigest()


def source_modules(roots=_TRAINING_ROOTS) -> tuple[str, ...]:
    """The package modules a training run can execute: the import closure of ``roots``.

    Found statically from the ``from . import x`` / ``from .x import y`` statements, so a
    module split out of a training module is covered without editing a list.

    Returns
    -------
    tuple of str
        Module names (files ``cfmimo/<name>.py``), sorted.
    """
    here = Path(__file__).resolve().parent
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or not (here / f"{name}.py").is_file():
            continue
        seen.add(name)
        tree = ast.parse((here / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                todo.extend([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
    return tuple(sorted(seen))


def code_fingerprint(source: str) -> str:
    """``source`` without its docstrings, comments, blank lines and trailing spaces.

    What :func:`cache_key` hashes, so that editing documentation does not invalidate
    trained weights while any change to code does. Docstrings (every statement that is only
    a string literal: module, class, function and attribute docstrings) are found with
    ``ast``, comments with ``tokenize``.
    """
    lines = source.splitlines()
    spans = []  # (start line, start col, end line, end col), 1-based lines
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            spans.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset))
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            spans.append((token.start[0], token.start[1], token.end[0], token.end[1]))
    for l0, c0, l1, c1 in sorted(spans, reverse=True):
        if l0 == l1:
            lines[l0 - 1] = lines[l0 - 1][:c0] + lines[l0 - 1][c1:]
        else:
            lines[l0 - 1 : l1] = [lines[l0 - 1][:c0] + lines[l1 - 1][c1:]]
    return "\n".join(line.rstrip() for line in lines if line.strip())


def cache_path(cache_dir, config: Preset, variant: str, method: str, seed=None) -> Path | None:
    """File of a run in the cache folder ``cache_dir``: ``<variant>-<method>-<key[:24]>.npz``
    (:func:`cache_key`).

    Returns ``None`` when ``cache_dir`` is ``None`` (no cache).
    """
    if cache_dir is None:
        return None
    if isinstance(cache_dir, bool) or not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir must be a str, a path or None, got {type(cache_dir).__name__}")
    directory = Path(cache_dir)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"cache_dir = {str(directory)!r} is not a folder")
    key = cache_key(config, variant, method, seed)
    return directory / f"{variant}-{method}-{key[:24]}.npz"


def load_cached(path, config: Preset | None = None) -> TrainResult | None:
    """The finished run stored at ``path``, or ``None`` when it must be (re)computed.

    A missing file or an unfinished run gives ``None``. A file that cannot be read or fails
    :func:`load_weights`'s checks (truncated, empty, foreign), or that holds another
    config than ``config``, also gives ``None``, with a :class:`CacheWarning`; the caller
    then trains again and overwrites it.
    """
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        return None
    try:
        result = load_weights(path)
    except ValueError as exc:
        warnings.warn(f"ignoring unreadable cache entry, training again: {exc}", CacheWarning, stacklevel=2)
        return None
    if config is not None and result.config != config:
        warnings.warn(f"cache entry {str(path)!r} holds another config; training again", CacheWarning, stacklevel=2)
        return None
    return result if result.finished else None


def cached_run(path, config: Preset, run) -> TrainResult:
    """The finished run cached at ``path`` (:func:`load_cached`), else ``run()`` saved there.

    Parameters
    ----------
    path : Path or None
        From :func:`cache_path`; ``None``: no cache, ``run()`` every time.
    config : Preset
        The run's configuration (a cached file holding another is ignored).
    run : callable
        ``run() -> TrainResult``, the training run itself.
    """
    result = load_cached(path, config)
    if result is not None:
        return result
    result = run()
    if path is not None:
        save_weights(path, result)
    return result
