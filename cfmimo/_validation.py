"""Input checks shared by the modules: clear ``ValueError``s instead of numpy tracebacks."""

from __future__ import annotations

import numbers

import numpy as np


def as_channel(name: str, value, *, min_ndim: int = 3) -> np.ndarray:
    """Return ``value`` as a complex array of shape ``(..., n_ap, n_user, n_tx)``."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise ValueError(f"{name} must be an array of channel coefficients: {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)):
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim < min_ndim:
        raise ValueError(
            f"{name} must have shape (..., n_ap, n_user, n_tx) with at least {min_ndim} "
            f"dimensions, got shape {arr.shape}"
        )
    if 0 in arr.shape[-3:]:
        raise ValueError(f"{name} has an empty n_ap, n_user or n_tx axis: shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf entries")
    return arr.astype(np.complex128, copy=False)


def as_assignment(name: str, value, n_ap: int, n_user: int, *, allow_unassigned: bool = False) -> np.ndarray:
    """Return ``value`` as an integer array ``(..., n_ap)`` with entries in ``[0, n_user)``."""
    arr = np.asarray(value)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and arr.size and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{name} must be an integer array of user indices, got dtype {arr.dtype}")
    if arr.ndim < 1 or arr.shape[-1] != n_ap:
        raise ValueError(f"{name} must have shape (..., n_ap={n_ap}), got shape {arr.shape}")
    low = -1 if allow_unassigned else 0
    if arr.size and (arr.min() < low or arr.max() >= n_user):
        bad = arr[(arr < low) | (arr >= n_user)].ravel()[0]
        raise ValueError(f"{name} has user index {bad} out of range; allowed: [{low}, {n_user - 1}]")
    return arr


def as_nonnegative(name: str, value) -> np.ndarray:
    """Return ``value`` as a finite, non-negative float array (scalars allowed)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number or array, got {value!r}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} = {value!r} must be finite")
    if np.any(arr < 0):
        raise ValueError(f"{name} = {value!r} is out of range; allowed: >= 0 (linear scale)")
    return arr


def as_real_array(name: str, value, what: str = "entries") -> np.ndarray:
    """Return ``value`` as a finite float64 array (``ValueError`` for complex, non-numeric
    or non-finite ``value``; ``what`` names the entries in the message)."""
    arr = np.asarray(value)
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real {what}, got a complex array")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be a numeric array of {what}, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf {what}")
    return arr


def check_real(name: str, value, low: float, high: float) -> float:
    """Return ``value`` as a float in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < low or value > high:
        raise ValueError(f"{name} = {value} is out of range; allowed: [{low}, {high}]")
    return value


def check_int(name: str, value, low: int, high: int | None = None) -> int:
    """Return ``value`` as an int in ``[low, high]`` (``high=None``: no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        allowed = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} = {value} is out of range; allowed: {allowed}")
    return int(value)


def as_rng(name: str, value) -> np.random.Generator:
    """Return a Generator from ``value``: ``None``, an int seed ``>= 0`` or a Generator (SPEC 7)."""
    if value is None or isinstance(value, (np.random.Generator, np.random.BitGenerator, np.random.SeedSequence)):
        return np.random.default_rng(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be None, an int seed >= 0 or a numpy.random.Generator, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} = {value} is out of range; allowed: an int seed >= 0")
    return np.random.default_rng(int(value))


def check_instance(name: str, value, cls):
    """Return ``value`` if it is a ``cls``; ``TypeError`` naming ``name`` otherwise."""
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be a {cls.__module__}.{cls.__qualname__}, got {type(value).__name__}")
    return value


def check_count(name: str, value, low: int = 1) -> int:
    """Return ``value`` as an int ``>= low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} = {value} is out of range; allowed: >= {low}")
    return int(value)
