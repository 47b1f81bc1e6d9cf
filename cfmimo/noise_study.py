"""Notebook 06's experiment: how much of the QNN's decision quality survives shots and noise.

* :func:`boundary_z`: how far each exact decision sits from flipping, in shot-noise
  standard errors (each variant's decoder says where its boundaries are);
* :func:`decision_study`: the same channels decided by the exact engine, by the ISA
  circuit of a fake backend on a noiseless simulator and on the device's noise model,
  scored against each other and against the exhaustive optimum;
* :func:`study_table`: its rows as a Markdown table.

The paper reports no shot count and no device; these are the companion's additions
(notebook 06).
"""

from __future__ import annotations

import math
import time

import numpy as np

from . import engine, qnn
from ._validation import check_int
from .backends import DEFAULT_BACKEND, get_backend
from .baselines import exhaustive
from .evaluate import score_policy
from .execution import MAX_SHOTS, backend_probabilities
from .rates import gain_matrix, rates_from_gains
from .stats import mean_ci, proportion_ci
from .tables import markdown_table

__all__ = ["PATHS", "boundary_z", "decision_study", "study_table"]

PATHS = ("exact", "noiseless", "noisy")
"""The execution paths of :func:`decision_study`."""


def boundary_z(config, variant: str, probs, shots: int) -> np.ndarray:
    """Distance of each decision from its decoding boundary, in shot-noise standard errors.

    With ``shots`` shots every probability is estimated with a binomial standard error;
    a decision whose exact value sits within a few standard errors of a decoding
    boundary can flip under sampling alone. This returns that distance, as the variant's
    ``boundary_z`` method (:class:`cfmimo.qnn.Variant`) defines it for its decoder, for
    example:

    ``paper`` (decoder :math:`\\lfloor o_m N_{user} \\rfloor`): for each AP, the distance
    of :math:`o_m` to the nearest boundary :math:`j / N_{user}` (``j = 1 .. N_user - 1``)
    over :math:`\\sqrt{o_m (1 - o_m) / \\mathrm{shots}}`; the minimum over APs.

    ``reupload`` (most probable serving assignment): the gap between the best and the
    second-best serving assignment's probabilities :math:`p_1 - p_2` over the standard
    error of their estimated difference,
    :math:`\\sqrt{(p_1 + p_2 - (p_1 - p_2)^2) / \\mathrm{shots}}`.

    Parameters
    ----------
    config : Preset
    variant : str
        A name of :data:`cfmimo.qnn.VARIANTS`.
    probs : array_like, shape ``(..., 2**n_clbits)``
        The exact probabilities (:func:`cfmimo.engine.exact_probabilities`).
    shots : int >= 1

    Returns
    -------
    ndarray, shape ``(...)``
        ``inf`` where sampling cannot move the decision (zero variance away from a
        boundary); ``0`` on a boundary.

    References
    ----------
    Narottama & Duong (2022), Eq. (9); Algorithm 1.
    """
    shots = check_int("shots", shots, 1, MAX_SHOTS)
    probs = qnn.checked_probabilities(config, variant, probs)
    with np.errstate(divide="ignore", invalid="ignore"):
        return qnn.get_variant(variant).boundary_z(config, probs, shots)


def decision_study(
    config,
    variant: str,
    weights,
    H,
    H_hat,
    rho,
    mu,
    runs,
    *,
    optimal=None,
    backend=DEFAULT_BACKEND,
    rng=None,
    z_crit: float = 4.0,
    level: float = 0.95,
) -> list[dict]:
    """Decisions of the trained QNN by several execution paths, scored and compared.

    Each run decides every channel of ``H_hat`` and is scored on ``H``
    (:func:`cfmimo.evaluate.score_policy`: physical min-rate, unserved user = 0) and
    against the exact engine's decisions on the same channels.

    Parameters
    ----------
    config : Preset
    variant : str
        A name of :data:`cfmimo.qnn.VARIANTS`.
    weights : array_like, shape ``(n_weights,)``
    H, H_hat : ndarray, complex, shape ``(n, n_ap, n_user, n_tx)``
    rho, mu : float
        Linear SNR and interference factor.
    runs : sequence of ``(path, shots)``
        ``path`` is ``"exact"`` (:func:`cfmimo.engine.exact_probabilities`; ``shots``
        ignored), ``"noiseless"`` (the ISA circuit of ``backend`` on a noiseless
        simulator) or ``"noisy"`` (``backend`` with its noise model); see
        :func:`cfmimo.execution.backend_probabilities`.
    optimal : ndarray of int, shape ``(n, n_ap)``, optional
        Exhaustive max-min assignments (:func:`cfmimo.baselines.exhaustive`); computed
        if omitted.
    backend : str or BackendV2
    rng : int, numpy.random.Generator or None
        Seeds the simulator runs (one stream for all runs, in order).
    z_crit : float, default 4.0
        A channel is *near a boundary* at ``shots`` if :func:`boundary_z` of its exact
        probabilities is below ``z_crit``.
    level : float
        Confidence level of the intervals.

    Returns
    -------
    list of dict
        One row per run: ``variant``, ``path``, ``shots`` (``None`` for exact),
        ``backend``, ``n``, ``min_rate``, ``min_rate_ci`` (half-width), ``share_optimal``
        with its Wilson interval ``share_optimal_low``/``_high``, ``disagree`` (channels
        whose decision differs from the exact engine's), ``near_boundary`` (channels within
        ``z_crit`` standard errors of a decoding boundary), ``disagree_near`` (both),
        ``delta_min_rate`` and ``delta_min_rate_ci`` (paired difference to the exact
        decisions' min-rate) and ``seconds`` (wall time of producing the decisions,
        transpilation and simulation included).

    References
    ----------
    Narottama & Duong (2022), Eq. (9).
    """
    gen = np.random.default_rng(rng)
    if optimal is None:
        optimal = exhaustive(H_hat, rho, mu, config.system.penalty)
    weights = np.asarray(weights, dtype=np.float64)
    x = qnn.get_variant(variant).inputs(config, H_hat)
    p_exact = engine.exact_probabilities(config, variant, x, weights)
    a_exact = qnn.decide_from_probabilities(config, variant, p_exact)
    gains = gain_matrix(H, H_hat)
    exact_min = rates_from_gains(gains, a_exact, rho, mu, penalty=0.0).min(axis=-1)
    n = x.shape[0]
    rows = []
    for path, shots in runs:
        if path not in PATHS:
            raise ValueError(f"run path = {path!r} is unknown; allowed: {list(PATHS)}")
        start = time.perf_counter()
        if path == "exact":
            a = qnn.decide_from_probabilities(config, variant, engine.exact_probabilities(config, variant, x, weights))
            shots = None
        else:
            probs = backend_probabilities(
                config, variant, x, weights, shots, gen, backend=backend, noise=(path == "noisy")
            )
            a = qnn.decide_from_probabilities(config, variant, probs)
        seconds = time.perf_counter() - start
        score = score_policy(path, a, H, H_hat, rho, mu, optimal=optimal)
        wins = round(score.share_optimal * n)
        _, low, high = proportion_ci(wins, n, level)
        differ = np.any(a != a_exact, axis=-1)
        if shots is None:
            near = np.zeros(n, dtype=bool)
        else:
            near = boundary_z(config, variant, p_exact, shots) < z_crit
        min_rate = rates_from_gains(gains, a, rho, mu, penalty=0.0).min(axis=-1)
        d_mean, d_ci = mean_ci(min_rate - exact_min, level=level)
        mean, ci = mean_ci(min_rate, level=level)
        rows.append(
            {
                "variant": variant,
                "path": path,
                "shots": shots,
                "backend": None if path == "exact" else getattr(get_backend(backend), "name", str(backend)),
                "n": int(n),
                "min_rate": float(mean),
                "min_rate_ci": float(ci),
                "share_optimal": float(score.share_optimal),
                "share_optimal_low": float(low),
                "share_optimal_high": float(high),
                "disagree": int(differ.sum()),
                "near_boundary": int(near.sum()),
                "disagree_near": int((differ & near).sum()),
                "delta_min_rate": float(d_mean),
                "delta_min_rate_ci": float(d_ci),
                "seconds": float(seconds),
            }
        )
    return rows


_STUDY_COLUMNS = (
    "variant", "path", "shots", "channels", "min rate (bit/s/Hz)", "change vs exact (paired)",
    "optimal decisions", "differ from exact", "of which near a boundary", "near a boundary",
)
_TIMING_COLUMNS = ("variant", "path", "shots", "backend", "channels", "wall time per 10^3 decisions (s)")


def study_table(rows, *, timing: bool = False) -> str:
    """A Markdown table of :func:`decision_study` rows.

    With ``timing=False`` (default) every entry is deterministic given the seeds; with
    ``timing=True`` only the wall time per :math:`10^3` decisions is shown.
    """
    if timing:
        return markdown_table(
            _TIMING_COLUMNS,
            (
                (r["variant"], r["path"], _shots_text(r["shots"]), r["backend"] or "-", r["n"],
                 f"{1000.0 * r['seconds'] / r['n']:.3g}")
                for r in rows
            ),
        )
    return markdown_table(
        _STUDY_COLUMNS,
        (
            (
                r["variant"], r["path"], _shots_text(r["shots"]), r["n"],
                f"{r['min_rate']:.3f} ± {r['min_rate_ci']:.3f}",
                f"{r['delta_min_rate']:+.3f} ± {r['delta_min_rate_ci']:.3f}",
                f"{100 * r['share_optimal']:.1f}% [{100 * r['share_optimal_low']:.1f}, {100 * r['share_optimal_high']:.1f}]",
                r["disagree"], r["disagree_near"], r["near_boundary"],
            )
            for r in rows
        ),
    )


def _shots_text(shots) -> str:
    if shots is None:
        return "exact"
    exponent = math.log10(shots)
    return f"10^{int(round(exponent))}" if abs(exponent - round(exponent)) < 1e-12 and shots >= 100 else str(shots)
