"""Channels of Section II: Eq. (1)-(2) with Rayleigh gains, pathloss and imperfect CSI.

The model, and where it reads the paper:

* **Distances.** :math:`d_{m,k} \\sim \\mathcal{N}(\\mu_d, \\sigma_d^2)` (Section IV) has
  negative values (for :math:`\\mu_d = 0.1, \\sigma_d^2 = 0.1` about 40% of draws), and
  :math:`d^{-\\kappa}` is then meaningless. Distances are drawn from the normal
  *truncated* below at ``distance_floor`` (exact inverse-CDF sampling, no clipping:
  clipping would put a point mass of huge gains at the floor).
* **Eq. (1).** :math:`h^{[j]}_{m,k} = N_{path}^{-1/2}\\sum_n g^{[j]}_{m,k} a(\\phi_n)` writes
  one scalar per antenna as a sum of steering *vectors* with a gain that does not depend
  on the path. We read it as the standard geometric model
  :math:`\\mathbf h_{m,k} = N_{path}^{-1/2} \\sum_{n=1}^{N_{path}} g_{m,k,n}\\, \\mathbf a(\\phi_{m,k,n})`
  with one Rayleigh gain :math:`g \\sim \\mathcal{CN}(0, d_{m,k}^{-\\kappa})` per path and
  :math:`\\phi \\sim \\mathcal U(-\\pi/2, \\pi/2)` (Section IV), so that
  :math:`\\mathbb E\\|\\mathbf h_{m,k}\\|^2 = N_{Tx} d_{m,k}^{-\\kappa}`.
* **Eq. (2).** The index set :math:`\\{n - (N_{Tx}-1)/2\\}_{n \\in \\{1..N_{Tx}-1\\}}` has
  :math:`N_{Tx}-1` elements for :math:`N_{Tx}` antennas. We use :math:`n \\in \\{0..N_{Tx}-1\\}`,
  the centred array :math:`z \\in \\{-(N_{Tx}-1)/2, \\dots, (N_{Tx}-1)/2\\}` with
  :math:`N_{Tx}` elements, and keep the printed phase :math:`e^{-j2\\pi\\phi z}`.
* **Imperfect CSI.** :math:`\\hat{\\mathbf H} = \\mathbf H + \\mathbf N_{CSI}` with i.i.d.
  entries :math:`\\mathcal{CN}(0, \\epsilon\\, d_{m,k}^{-\\kappa})`, :math:`\\epsilon` =
  ``csi_error`` (the paper gives no model; 0.1 is a 10% relative error).

Arrays follow the project convention: ``H[..., m, k, :]`` is :math:`\\mathbf h_{m,k}`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

from ._validation import as_rng, check_count, check_instance, check_real
from .config import SystemConfig

__all__ = [
    "antenna_positions",
    "steering_vectors",
    "sample_distances",
    "channels_at_distances",
    "sample_channels",
]


def _check_shape(shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of int, got {shape!r}") from None
    for i, n in enumerate(shape):
        check_count(f"shape[{i}]", n, 0)
    return tuple(int(n) for n in shape)


def antenna_positions(n_tx: int) -> np.ndarray:
    """Centred antenna index set :math:`\\mathcal Z` of Eq. (2), shape ``(n_tx,)``.

    Deviation: the paper's set has ``n_tx - 1`` elements; this one has ``n_tx``
    (``z_n = n - (n_tx - 1)/2`` for ``n = 0..n_tx-1``).

    References
    ----------
    Narottama & Duong (2022), Eq. (2).
    """
    n_tx = check_count("n_tx", n_tx)
    return np.arange(n_tx) - 0.5 * (n_tx - 1)


def steering_vectors(phi, n_tx: int) -> np.ndarray:
    """Steering vectors :math:`\\mathbf a(\\phi) = \\{e^{-j 2\\pi \\phi z}\\}_{z}` of Eq. (2).

    Parameters
    ----------
    phi : array_like, shape ``(...)``
        Antenna response angles in radians.
    n_tx : int
        Antennas per AP.

    Returns
    -------
    ndarray, complex, shape ``(..., n_tx)``

    References
    ----------
    Narottama & Duong (2022), Eq. (2).
    """
    phi = np.asarray(phi, dtype=np.float64)
    return np.exp(-2j * np.pi * phi[..., None] * antenna_positions(n_tx))


def sample_distances(system: SystemConfig, shape, rng=None, *, distance_mean: float | None = None) -> np.ndarray:
    """Draw AP-user distances from :math:`\\mathcal N(\\mu_d, \\sigma_d^2)` truncated below.

    Parameters
    ----------
    system : SystemConfig
    shape : tuple of int
        Output shape, e.g. ``(n, n_ap, n_user)``.
    rng : int, numpy.random.Generator or None
        An int must be ``>= 0``; anything else raises ``TypeError`` naming ``rng``.
    distance_mean : float, optional
        Overrides ``system.distance_mean`` (the :math:`\\mu_d` sweep of Fig. 3).

    Returns
    -------
    ndarray, shape ``shape``, every entry ``>= system.distance_floor``.

    References
    ----------
    Narottama & Duong (2022), Fig. 3.
    """
    check_instance("system", system, SystemConfig)
    shape = _check_shape(shape)
    rng = as_rng("rng", rng)
    mean = system.distance_mean if distance_mean is None else check_real("distance_mean", distance_mean, 1e-12, 1e6)
    std = np.sqrt(system.distance_variance)
    if std == 0.0:
        return np.full(shape, max(mean, system.distance_floor))
    # Inverse-CDF sampling of the normal truncated to [floor, inf).
    low = ndtr((system.distance_floor - mean) / std)
    if low >= 1.0:
        raise ValueError(
            f"distance_floor = {system.distance_floor} is too far above distance_mean = {mean} "
            f"for distance_variance = {system.distance_variance}: no probability mass remains"
        )
    u = rng.uniform(low, 1.0, size=shape)
    return np.maximum(mean + std * ndtri(u), system.distance_floor)


def channels_at_distances(system: SystemConfig, distance, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Draw true and estimated channels for given distances (Eq. 1-2, imperfect CSI).

    Parameters
    ----------
    system : SystemConfig
    distance : array_like, shape ``(..., n_ap, n_user)``
        Positive AP-user distances.
    rng : int, numpy.random.Generator or None

    Returns
    -------
    H, H_hat : ndarray, complex, shape ``(..., n_ap, n_user, n_tx)``

    References
    ----------
    Narottama & Duong (2022), Eq. (1); Eq. (2).
    """
    check_instance("system", system, SystemConfig)
    rng = as_rng("rng", rng)
    try:
        distance = np.asarray(distance, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"distance must be a real array of shape (..., n_ap, n_user), got {type(distance).__name__}") from None
    if distance.ndim < 2 or distance.shape[-2:] != (system.n_ap, system.n_user):
        raise ValueError(
            f"distance must have shape (..., n_ap={system.n_ap}, n_user={system.n_user}), got {distance.shape}"
        )
    if not np.all(np.isfinite(distance)) or np.any(distance <= 0):
        raise ValueError("distance must be finite and > 0 everywhere")
    batch = distance.shape
    path_gain = distance ** (-system.pathloss_exponent)  # (..., M, K)
    shape = batch + (system.n_path,)
    gain = np.sqrt(path_gain[..., None] / 2) * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))
    phi = rng.uniform(-np.pi / 2, np.pi / 2, size=shape)
    a = steering_vectors(phi, system.n_tx)  # (..., M, K, P, T)
    H = np.einsum("...p,...pt->...t", gain, a) / np.sqrt(system.n_path)
    err_shape = batch + (system.n_tx,)
    err_std = np.sqrt(system.csi_error * path_gain[..., None] / 2)
    noise = err_std * (rng.standard_normal(err_shape) + 1j * rng.standard_normal(err_shape))
    return H, H + noise


def sample_channels(
    system: SystemConfig, n_samples: int, rng=None, *, distance_mean: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n_samples`` independent realisations of ``(H, H_hat)``.

    Parameters
    ----------
    system : SystemConfig
    n_samples : int
        Monte-Carlo samples (leading batch axis).
    rng : int, numpy.random.Generator or None
        The same seed gives bit-identical channels.
    distance_mean : float, optional
        Overrides ``system.distance_mean``.

    Returns
    -------
    H, H_hat : ndarray, complex, shape ``(n_samples, n_ap, n_user, n_tx)``

    References
    ----------
    Narottama & Duong (2022), Eq. (1); Eq. (2); Fig. 3.
    """
    check_instance("system", system, SystemConfig)
    n_samples = check_count("n_samples", n_samples)
    rng = as_rng("rng", rng)
    distance = sample_distances(system, (n_samples, system.n_ap, system.n_user), rng, distance_mean=distance_mean)
    return channels_at_distances(system, distance, rng)
