"""Link features: what a per-(AP, user) model sees of one AP-user link, as rotation angles.

Every learned policy that scores AP-user pairs (the one-qubit-per-AP QNN with per-user
scoring, its classical twin, the perceptrons) reads the same seven numbers per link,
computed here from the estimate ``H_hat`` (what the cloud knows).

Gains are the squared norms :math:`g_{m,k} = \\|\\hat{\\mathbf h}_{m,k}\\|^2`. With
maximum-ratio precoding from the estimate this is exactly the signal power user ``k``
receives from AP ``m`` when AP ``m`` serves it, on the estimate: the diagonal
``G[..., m, k, k]`` of :func:`cfmimo.rates.gain_matrix` ``(H_hat, H_hat)``, computed
without the ``n_user**2`` cross gains.

For user ``k`` and AP ``m`` the features are:

0. **gain**: :math:`g_{m,k} / \\max_{m',k'} g_{m',k'}` in dB, AP ``m``'s gain to ``k`` relative to
   the channel's strongest link (``<= 0`` dB), clipped to ``[-GAIN_RANGE_DB, 0]``;
1. **gap**: :math:`\\max_{k'} g_{m,k'} / g_{m,k}` in dB, how far AP ``m``'s gain to ``k`` lies
   below its gain to its best user (``>= 0`` dB, 0 for the AP's best user), clipped to
   ``[0, GAP_RANGE_DB]``;
2. **total**: :math:`T_k / \\max_{k'} T_{k'}` in dB with :math:`T_k = \\sum_{m'} g_{m',k}`, user
   ``k``'s total gain over all APs relative to the best-covered user (``<= 0`` dB), clipped to
   ``[-GAIN_RANGE_DB, 0]``. Normalising by the best user rather than by the strongest link
   keeps the feature in the same range whatever ``n_ap``;
3. **best AP**: :math:`\\max_{m'} g_{m',k} / g_{m,k}` in dB, how far AP ``m`` lies below user
   ``k``'s best AP (``>= 0`` dB, 0 for ``k``'s best AP), clipped to ``[0, GAP_RANGE_DB]``;
4. **share**: :math:`g_{m,k} / T_k` in dB, the share of user ``k``'s total gain that AP ``m``
   would turn from interference into signal by serving it (``<= 0`` dB), clipped to
   ``[-GAP_RANGE_DB, 0]``;
5. **favoured by**: the number of APs whose best user is ``k`` (the APs that the per-AP argmax
   would give to ``k``), divided by ``2 n_ap / n_user`` (twice a fair share) and clipped to
   ``[0, 1]``: 0 for a user no AP prefers, whom only a covering repair can serve;
6. **favoured share**: the share of :math:`T_k` that comes from the APs whose best user is
   ``k``, in ``[0, 1]``: what ``k`` would receive if every AP served its best user.

Features 0-2 describe the link and 3-6 the competition for it. Features 3-6 were added
when the three-feature QNN and its classical twin stayed below greedy at 16 APs x 8 users
(0.70 and 0.72 of greedy + local search with the pure decoder, greedy 0.83): the max-min
objective turns on which users would be left short, which features 0-2 do not show to
one AP. With all seven, the twin reached 0.87 (pure) and 0.97 (top-10 re-ranked) on the
same test channels during development; notebook 07 reports the current figures. Under maximum-ratio precoding with ``n_tx = 2`` and
:math:`\\mu = 0.1`, a user's rate is mostly set by :math:`\\sum_{m \\in A_k} g_{m,k}`
against :math:`\\mu \\sum_{m \\notin A_k} g_{m,k}`, which is what the shares measure.

Each is then mapped linearly onto ``[0, pi]``: 0 for the weakest value of its range and
``pi`` for the strongest (the gaps are reversed: ``pi`` for the best, 0 for a link
``GAP_RANGE_DB`` below it). All seven are invariant to a common scale of the channel
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

#: Names of the features, in the order of the last axis of :func:`link_features`.
FEATURE_NAMES = ("gain", "gap", "total", "best AP", "share", "favoured by", "favoured share")
#: Features per (user, AP) link.
N_FEATURES = len(FEATURE_NAMES)
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
    """The :data:`N_FEATURES` link features of every (user, AP) pair, as angles in ``[0, pi]``.

    Parameters
    ----------
    H_hat : array_like, complex, shape ``(..., n_ap, n_user, n_tx)``
        Estimated channels (any leading batch axes).

    Returns
    -------
    ndarray of float, shape ``(..., n_user, n_ap, N_FEATURES)``
        ``out[..., k, m, :]`` = the features of AP ``m`` for user ``k`` in the order of
        :data:`FEATURE_NAMES`, see the module docstring. Note the axis order: the user axis comes first, so that
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
    M, K = g.shape[-2:]
    strongest = g.max(axis=(-2, -1), keepdims=True)
    gain_db = np.clip(_relative_db(g, strongest), -GAIN_RANGE_DB, 0.0)
    gap_db = np.clip(-_relative_db(g, g.max(axis=-1, keepdims=True)), 0.0, GAP_RANGE_DB)
    total = g.sum(axis=-2)  # (..., K)
    total_db = np.clip(_relative_db(total, total.max(axis=-1, keepdims=True)), -GAIN_RANGE_DB, 0.0)
    best_ap_db = np.clip(-_relative_db(g, g.max(axis=-2, keepdims=True)), 0.0, GAP_RANGE_DB)
    share_db = np.clip(_relative_db(g, total[..., None, :]), -GAP_RANGE_DB, 0.0)
    favoured = g.argmax(axis=-1)[..., None] == np.arange(K)  # (..., M, K): AP m's best user is k
    favoured_by = np.clip(favoured.sum(axis=-2) * K / (2.0 * M), 0.0, 1.0)  # (..., K)
    favoured_total = np.where(favoured, g, 0.0).sum(axis=-2)
    favoured_share = np.where(total > 0, favoured_total / np.where(total > 0, total, 1.0), 1.0)
    per_user = lambda v: np.broadcast_to(v[..., None, :], g.shape)  # noqa: E731
    out = np.stack(
        [
            np.pi * (1.0 + gain_db / GAIN_RANGE_DB),
            np.pi * (1.0 - gap_db / GAP_RANGE_DB),
            np.pi * (1.0 + per_user(total_db) / GAIN_RANGE_DB),
            np.pi * (1.0 - best_ap_db / GAP_RANGE_DB),
            np.pi * (1.0 + share_db / GAP_RANGE_DB),
            np.pi * per_user(favoured_by),
            np.pi * per_user(favoured_share),
        ],
        axis=-1,
    )  # (..., M, K, F)
    return np.ascontiguousarray(np.swapaxes(out, -3, -2))
