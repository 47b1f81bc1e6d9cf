"""Link features: what a per-(AP, user) model sees of one AP-user link, as rotation angles.

Every learned policy that scores AP-user pairs (the one-qubit-per-AP QNN with per-user
scoring, its classical twin, the perceptrons) reads the same three numbers per link,
computed here from the estimate ``H_hat`` (what the cloud knows).

Gains are the squared norms :math:`g_{m,k} = \\|\\hat{\\mathbf h}_{m,k}\\|^2`. With
maximum-ratio precoding from the estimate this is exactly the signal power user ``k``
receives from AP ``m`` when AP ``m`` serves it, on the estimate: the diagonal
``G[..., m, k, k]`` of :func:`cfmimo.rates.gain_matrix` ``(H_hat, H_hat)``, computed
without the ``n_user**2`` cross gains.

For user ``k`` and AP ``m`` the features are, in dB (:math:`10\\log_{10}`):

0. **gain**: :math:`g_{m,k} / \\max_{m',k'} g_{m',k'}`, AP ``m``'s gain to ``k`` relative to
   the channel's strongest link (``<= 0`` dB), clipped to ``[-GAIN_RANGE_DB, 0]``;
1. **gap**: :math:`\\max_{k'} g_{m,k'} / g_{m,k}`, how far AP ``m``'s gain to ``k`` lies below
   its gain to its best user (``>= 0`` dB, 0 for the AP's best user), clipped to
   ``[0, GAP_RANGE_DB]``;
2. **total**: :math:`\\sum_{m'} g_{m',k} / \\max_{k'} \\sum_{m'} g_{m',k'}`, user ``k``'s total
   gain over all APs relative to the best-covered user (``<= 0`` dB), clipped to
   ``[-GAIN_RANGE_DB, 0]``. Normalising by the best user rather than by the strongest link
   keeps the feature in the same range whatever ``n_ap``.

Each is then mapped linearly onto ``[0, pi]``: 0 for the weakest value of its range and
``pi`` for the strongest (the gap is reversed: ``pi`` for the AP's best user, 0 for a user
``GAP_RANGE_DB`` below it). All three are invariant to a common scale of the channel
(transmit power, mean distance), so one set of weights serves every ``mu_d``. Measured on
the default channel model (pathloss exponent 3, ``mu_d = 0.1 .. 0.7``): at 16 APs x 8 users
fewer than 0.3% of links lie more than 50 dB below the strongest one and 5-7% lie more
than 30 dB below their AP's best user (at 4 x 3: below 0.1% and 3%); clipping them loses
nothing useful, such a link is never worth serving.

Deviation from the paper: Eq. (14) feeds the complex vector :math:`\\hat{\\mathbf h}_{m,k}`
to an RZ gate (which needs a real angle); these features are this project's choice for the
scalable QNN, documented in the book's parameters page.
"""

from __future__ import annotations

import numpy as np

from ._validation import as_channel

__all__ = ["N_FEATURES", "FEATURE_NAMES", "GAIN_RANGE_DB", "GAP_RANGE_DB", "link_gains", "link_features"]

#: Features per (user, AP) link.
N_FEATURES = 3
#: Names of the features, in the order of the last axis of :func:`link_features`.
FEATURE_NAMES = ("gain", "gap", "total")
#: Dynamic range (dB) below the strongest link (features 0 and 2) mapped onto ``[0, pi]``.
GAIN_RANGE_DB = 50.0
#: Dynamic range (dB) of the gap to an AP's best user (feature 1) mapped onto ``[0, pi]``.
GAP_RANGE_DB = 30.0

# Floor of a gain relative to the reference before taking the log (keeps log10 finite).
_TINY = 1e-30


def link_gains(H_hat) -> np.ndarray:
    """Squared norms :math:`\\|\\hat{\\mathbf h}_{m,k}\\|^2`, ``(..., n_ap, n_user, n_tx) -> (..., n_ap, n_user)``."""
    H_hat = as_channel("H_hat", H_hat)
    return (H_hat.real**2 + H_hat.imag**2).sum(axis=-1)


def _relative_db(value, reference):
    """``10 log10(value / reference)``; ``0`` dB where the reference is 0 (an all-zero channel)."""
    safe_ref = np.where(reference > 0, reference, 1.0)
    ratio = np.where(reference > 0, value / safe_ref, 1.0)
    return 10.0 * np.log10(np.maximum(ratio, _TINY))


def link_features(H_hat) -> np.ndarray:
    """The three link features of every (user, AP) pair, as angles in ``[0, pi]``.

    Parameters
    ----------
    H_hat : array_like, complex, shape ``(..., n_ap, n_user, n_tx)``
        Estimated channels (any leading batch axes).

    Returns
    -------
    ndarray of float, shape ``(..., n_user, n_ap, N_FEATURES)``
        ``out[..., k, m, :]`` = (gain, gap, total) of AP ``m`` to user ``k``, see the
        module docstring. Note the axis order: the user axis comes first, so that
        ``out[..., k, :, :]`` is what a per-user scoring circuit receives on its
        ``n_ap`` qubits. Deterministic; an all-zero channel gives the top of each range.

    Raises
    ------
    ValueError
        If ``H_hat`` is not a finite numeric array of shape ``(..., n_ap, n_user, n_tx)``.

    References
    ----------
    Narottama & Duong (2022), Eq. (14).
    """
    g = link_gains(H_hat)  # (..., M, K)
    strongest = g.max(axis=(-2, -1), keepdims=True)
    gain_db = np.clip(_relative_db(g, strongest), -GAIN_RANGE_DB, 0.0)
    gap_db = np.clip(-_relative_db(g, g.max(axis=-1, keepdims=True)), 0.0, GAP_RANGE_DB)
    total = g.sum(axis=-2)  # (..., K)
    total_db = np.clip(_relative_db(total, total.max(axis=-1, keepdims=True)), -GAIN_RANGE_DB, 0.0)
    total_db = np.broadcast_to(total_db[..., None, :], g.shape)
    out = np.stack(
        [
            np.pi * (1.0 + gain_db / GAIN_RANGE_DB),
            np.pi * (1.0 - gap_db / GAP_RANGE_DB),
            np.pi * (1.0 + total_db / GAIN_RANGE_DB),
        ],
        axis=-1,
    )  # (..., M, K, F)
    return np.ascontiguousarray(np.swapaxes(out, -3, -2))
