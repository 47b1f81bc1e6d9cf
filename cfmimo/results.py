"""The Monte-Carlo study of Section IV: every policy on the same channels, over SNR and distance.

A *policy* is a callable ``policy(H_hat, rho) -> a`` that maps estimated channels
``(n, n_ap, n_user, n_tx)`` and a linear SNR to assignments ``(n, n_ap)``. Policies that
ignore ``rho`` (the QNNs, the perceptron, strongest-AP, random) are called once per
distance and reused at every SNR: ``cfmimo.policies.Policy`` objects say so themselves
(``uses_rho``), plain callables can be named in ``snr_independent``.

For each mean distance :math:`\\mu_d` one set of ``n_trials`` channels is drawn and shared
by every SNR and policy (common random numbers), so that differences between curves are
not sampling noise between channel sets. The channels are drawn in chunks of
``chunk_size`` trials, each with its own seed, so that the chunks can run as Dask tasks on
any number of workers with the same result (:func:`run_study`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from . import baselines, distributed, learned, policies as registry, tables
from .channel import sample_channels
from .config import Preset, db_to_linear
from .evaluate import decision_metrics
from .rates import gain_matrix, rates_from_gains
from .stats import mean_ci

__all__ = [
    "StudyResult",
    "run_study",
    "DEFAULT_CHUNK_SIZE",
    "classical_policies",
    "LearnedPolicies",
    "learned_policies",
    "summary_rows",
    "summary_markdown",
    "rate_evaluation_counts",
    "fraction_table",
    "grid_point",
]


@dataclass(frozen=True)
class StudyResult:
    """Per-trial outcomes of :func:`run_study`.

    Attributes
    ----------
    policies : tuple of str
    distance_means, snr_db : tuple of float
    user_rates : ndarray, shape ``(n_policy, n_distance, n_snr, n_trials, n_user)``
        Physical rates on the true channel (unserved user = 0 bit/s/Hz).
    optimal : ndarray of bool, shape ``(n_policy, n_distance, n_snr, n_trials)``
        Decision reaches the exhaustive optimum's min-rate on the estimate.
    unserved : ndarray of bool, shape ``(n_policy, n_distance, n_snr, n_trials)``
    seconds_per_1000 : dict
        Wall time of each policy's decisions, per :math:`10^3` decisions.
    """

    policies: tuple
    distance_means: tuple
    snr_db: tuple
    user_rates: np.ndarray
    optimal: np.ndarray
    unserved: np.ndarray
    seconds_per_1000: dict

    def index(self, policy: str) -> int:
        try:
            return self.policies.index(policy)
        except ValueError:
            raise ValueError(f"policy {policy!r} is not in this study; have {list(self.policies)}") from None

    def curve(self, metric: str, policy: str, distance_index: int):
        """Mean and 95% CI half-width of ``metric`` (``"min_rate"`` or ``"sum_rate"``) over SNR.

        Returns
        -------
        mean, half_width : ndarray, shape ``(n_snr,)``
        """
        if metric not in ("min_rate", "sum_rate"):
            raise ValueError(f"metric = {metric!r}; allowed: 'min_rate', 'sum_rate'")
        values = getattr(self, metric)[self.index(policy), distance_index]  # (n_snr, n_trials)
        return mean_ci(values, axis=-1)

    @property
    def min_rate(self) -> np.ndarray:
        """``(n_policy, n_distance, n_snr, n_trials)``."""
        return self.user_rates.min(axis=-1)

    @property
    def sum_rate(self) -> np.ndarray:
        """Eq. (5), ``(n_policy, n_distance, n_snr, n_trials)``."""
        return self.user_rates.sum(axis=-1)


def classical_policies(mu: float, penalty: float, rng=None) -> dict:
    """The classical policies as ``policy(H_hat, rho)`` callables: ``cfmimo.policies.classical_policies``."""
    return registry.classical_policies(mu, penalty, rng)


@dataclass(frozen=True)
class LearnedPolicies:
    """The trained models of the study, as policies.

    Attributes
    ----------
    policies : dict of str to cfmimo.policies.Policy
        ``policy(H_hat, rho) -> a``. Pure decoders ignore ``rho``; the top-k re-ranked
        ones (``Policy.hybrid``) score their candidates at ``rho``.
    sizes : dict of str to int
        Trainable parameters of each.
    perceptron_names : tuple of str
        Names of the perceptrons with the covering decoder, smallest first.
    n_training_channels : int
        Channels the perceptrons (and the improved QNN) were trained on.
    k : int
        ``k`` of the top-k re-ranked policies.
    """

    policies: dict
    sizes: dict
    perceptron_names: tuple
    n_training_channels: int
    k: int = learned.TOP_K


def learned_policies(config: Preset, *, k: int = learned.TOP_K, entries=None, cache_dir=None, weights_dir=None) -> LearnedPolicies:
    """Every learned policy of ``cfmimo.learned.LEARNED``, trained on the same data.

    Both QNNs come from :func:`cfmimo.train.trained` (cached on disk); the perceptrons
    (:mod:`cfmimo.classical`) see the link features of ``cfmimo.features`` and exactly
    the improved QNN's training channels (:func:`cfmimo.train.training_channels`) at the
    training SNR. Each model appears with its decoders: its own (the QNNs), the most
    probable covering assignment, and top-``k`` re-ranking (hybrids).

    Parameters
    ----------
    config : Preset
    k : int
        ``k`` of top-k re-ranking.
    entries : sequence of cfmimo.learned.LearnedEntry, optional
        Default ``cfmimo.learned.LEARNED``.
    cache_dir : str or Path, optional
        Cache folder of the training runs (:func:`cfmimo.train.trained`); ``None``: train
        every time.
    weights_dir : str or Path, optional
        Folder of committed weight files (:func:`cfmimo.scoring.committed_weights`).

    References
    ----------
    Narottama & Duong (2022), Eq. (9).
    """
    policies = learned.build_learned(config, entries, k=k, cache_dir=cache_dir, weights_dir=weights_dir)
    sizes = {name: p.n_parameters for name, p in policies.items()}
    names = tuple(n for n, p in policies.items() if n.startswith("perceptron") and not p.hybrid)
    n_train = config.training.n_data * config.training.n_epoch
    return LearnedPolicies(policies, sizes, names, n_train, int(k))


def _study_block(
    config: Preset,
    policies: dict,
    *,
    snr_independent=None,
    include_oracle: bool = True,
    progress: bool = False,
    channel_seeds=None,
) -> StudyResult:
    """One block of :func:`run_study`: every trial of ``config`` in one process.

    ``channel_seeds`` (one ``SeedSequence`` per distance) replaces the default
    ``SeedSequence(config.seed).spawn(n_distance)``.

    Parameters
    ----------
    config : Preset
        Uses ``system``, ``n_trials``, ``distance_means`` and ``seed``.
    policies : dict of str to callable
        Must include ``"exhaustive"`` (the reference for ``optimal``).
    snr_independent : iterable of str, optional
        Policies whose decision does not depend on ``rho`` (decided once per distance).
        Default: those whose ``uses_rho`` attribute is false (``cfmimo.policies.Policy``).
    include_oracle : bool
        Add ``"oracle"``: exhaustive search scored on the true channel, an upper bound on
        every policy's min-rate in every trial.
    progress : bool

    Returns
    -------
    StudyResult
    """
    if "exhaustive" not in policies:
        raise ValueError("policies must include 'exhaustive', the reference for optimal decisions")
    system = config.system
    mu, penalty = system.interference_factor, system.penalty
    names = (("oracle",) if include_oracle else ()) + tuple(policies)
    if snr_independent is None:
        snr_independent = registry.snr_independent(policies)
    snr_independent = set(snr_independent)
    unknown = snr_independent - set(policies)
    if unknown:
        raise ValueError(f"snr_independent names unknown policies {sorted(unknown)}")
    shape = (len(names), len(config.distance_means), len(system.snr_db), config.n_trials)
    user_rates = np.zeros(shape + (system.n_user,))
    optimal = np.zeros(shape, dtype=bool)
    unserved = np.zeros(shape, dtype=bool)
    seconds = dict.fromkeys(names, 0.0)
    decisions_made = dict.fromkeys(names, 0)
    seeds = channel_seeds or np.random.SeedSequence(config.seed).spawn(len(config.distance_means))
    steps = len(config.distance_means) * len(system.snr_db)
    bar = tqdm(total=steps, desc="study", unit="point", disable=not progress)
    for i, mu_d in enumerate(config.distance_means):
        H, H_hat = sample_channels(system, config.n_trials, np.random.default_rng(seeds[i]), distance_mean=mu_d)
        true_gains, est_gains = gain_matrix(H, H_hat), gain_matrix(H_hat, H_hat)
        cached = {}
        for j, snr in enumerate(system.snr_db):
            rho = db_to_linear(snr)
            decisions = {}
            for name in names:
                if name in cached:
                    decisions[name] = cached[name]
                    continue
                start = time.perf_counter()
                if name == "oracle":
                    a = baselines.exhaustive(H_hat, rho, mu, penalty, H=H)
                else:
                    a = np.asarray(policies[name](H_hat, rho))
                seconds[name] += time.perf_counter() - start
                decisions_made[name] += len(a)
                if a.shape != (config.n_trials, system.n_ap):
                    raise ValueError(f"policy {name!r} returned shape {a.shape}, expected {(config.n_trials, system.n_ap)}")
                decisions[name] = a
                if name in snr_independent:
                    cached[name] = a
            best = rates_from_gains(est_gains, decisions["exhaustive"], rho, mu, penalty).min(axis=-1)
            for p, name in enumerate(names):
                user_rates[p, i, j], optimal[p, i, j], unserved[p, i, j] = decision_metrics(
                    decisions[name], true_gains, est_gains, rho, mu, penalty, best
                )
            bar.update()
    bar.close()
    per_1000 = {name: 1000 * seconds[name] / max(1, decisions_made[name]) for name in names}
    return StudyResult(
        policies=names,
        distance_means=tuple(config.distance_means),
        snr_db=tuple(system.snr_db),
        user_rates=user_rates,
        optimal=optimal,
        unserved=unserved,
        seconds_per_1000=per_1000,
    )


DEFAULT_CHUNK_SIZE = 1000
"""Trials per chunk of :func:`run_study` (the chunks, not the workers, fix the numbers)."""


def run_study(
    config: Preset,
    policies: dict,
    *,
    snr_independent=None,
    include_oracle: bool = True,
    progress: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    client=None,
    workers=None,
) -> StudyResult:
    """Evaluate every policy on ``config.n_trials`` channels per distance and SNR.

    The trials of each distance are computed in chunks of ``chunk_size``: serially by
    default, or as Dask tasks on ``client`` (or on a local cluster of ``workers``
    processes started for the call). Chunk ``c`` of distance ``i`` draws its channels
    from ``SeedSequence(config.seed, spawn_key=(i, c))``
    (``cfmimo.distributed.chunk_seed``) and runs on a copy of ``policies`` whose
    random generators are reseeded from that seed's children
    (``cfmimo.distributed.reseeded_copy``), so a chunk's outcome depends only on
    ``(config, policies, chunk_size)``: the result is bit-identical for any number of
    workers, serial included (timings aside). All SNRs and policies of a trial share
    its channels (common random numbers), within a chunk as before.

    Parameters
    ----------
    config : Preset
        Uses ``system``, ``n_trials``, ``distance_means`` and ``seed``.
    policies : dict of str to callable
        Must include ``"exhaustive"`` (the reference for ``optimal``), and be picklable by
        cloudpickle (each chunk runs on a copy; ``TypeError`` otherwise). With Dask they
        are sent to each worker once (scattered), so train the models before the call:
        training stays in the calling process.
    snr_independent : iterable of str, optional
        Policies whose decision does not depend on ``rho`` (decided once per distance).
        Default: those whose ``uses_rho`` attribute is false (:class:`cfmimo.policies.Policy`).
    include_oracle : bool
        Add ``"oracle"``: exhaustive search scored on the true channel, an upper bound on
        every policy's min-rate in every trial.
    progress : bool
        Progress bar over the chunks (across workers with Dask).
    chunk_size : int
        Trials per chunk (>= 1). Changing it changes the channels drawn, and so the
        numbers; the number of workers does not.
    client : distributed.Client, optional
        Run the chunks on this cluster.
    workers : int, optional
        Without ``client``: start a local cluster of this many processes for the call.

    Returns
    -------
    StudyResult
        ``seconds_per_1000`` is averaged over the chunks, weighted by their trials.

    References
    ----------
    Narottama & Duong (2022), Eq. (5); Eq. (7); Table II; Fig. 3.
    """
    if "exhaustive" not in policies:
        raise ValueError("policies must include 'exhaustive', the reference for optimal decisions")
    sizes = distributed.chunk_sizes(config.n_trials, chunk_size)
    if workers is not None:
        distributed.check_workers(workers)
        if client is not None:
            raise ValueError("give client= or workers=, not both")
    if snr_independent is None:
        snr_independent = registry.snr_independent(policies)
    options = {"snr_independent": list(snr_independent), "include_oracle": include_oracle}
    chunks = [(config, i, c, n) for i in range(len(config.distance_means)) for c, n in enumerate(sizes)]
    if client is None and workers is None:
        parts = [_study_chunk(chunk, policies=policies, options=options) for chunk in tqdm(chunks, desc="study", unit="chunk", disable=not progress)]
    elif client is None:
        with distributed.connect(workers=workers, announce=progress) as own:
            parts = _study_on(own, chunks, policies, options, progress)
    else:
        parts = _study_on(client, chunks, policies, options, progress)
    return _merge_chunks(config, parts, len(sizes))


def _study_on(client, chunks, policies, options, progress):
    shared = distributed.scatter_once(client, policies)
    return distributed.map_ordered(client, _study_chunk, chunks, desc="study", unit="chunk", progress=progress, policies=shared, options=options)


def _study_chunk(chunk, *, policies, options) -> StudyResult:
    """One chunk ``(config, distance_index, chunk_index, n_trials)`` of :func:`run_study`."""
    config, i, c, n = chunk
    seed = distributed.chunk_seed(config.seed, i, c)
    block = dataclasses.replace(config, n_trials=n, distance_means=(config.distance_means[i],))
    return _study_block(block, distributed.reseeded_copy(policies, seed), channel_seeds=[seed], **options)


def _merge_chunks(config: Preset, parts: list, n_chunks: int) -> StudyResult:
    """Concatenate the chunks' trials per distance (axis 3), then the distances (axis 1)."""
    def joined(field):
        rows = [np.concatenate([getattr(p, field) for p in parts[k : k + n_chunks]], axis=3) for k in range(0, len(parts), n_chunks)]
        return np.concatenate(rows, axis=1)

    names = parts[0].policies
    trials = np.array([p.user_rates.shape[3] for p in parts], dtype=float)
    per_1000 = {name: float(np.dot([p.seconds_per_1000[name] for p in parts], trials) / trials.sum()) for name in names}
    return StudyResult(
        policies=names,
        distance_means=tuple(config.distance_means),
        snr_db=tuple(config.system.snr_db),
        user_rates=joined("user_rates"),
        optimal=joined("optimal"),
        unserved=joined("unserved"),
        seconds_per_1000=per_1000,
    )


def summary_rows(result: StudyResult, distance_index: int, snr_index: int, reference: str = "exhaustive") -> list[dict]:
    """One row per policy at one (distance, SNR): mean min-rate with CI, its fraction of
    the reference's, shares of optimal and unserved decisions, time per 10^3 decisions.

    References
    ----------
    Narottama & Duong (2022), Fig. 3.
    """
    ref = result.min_rate[result.index(reference), distance_index, snr_index].mean()
    rows = []
    for p, name in enumerate(result.policies):
        mins = result.min_rate[p, distance_index, snr_index]
        mean, half = mean_ci(mins)
        rows.append(
            {
                "policy": name,
                "min_rate": float(mean),
                "min_rate_ci": float(half),
                "fraction_of_optimum": float(mean / ref) if ref > 0 else float("inf"),
                "share_optimal": float(result.optimal[p, distance_index, snr_index].mean()),
                "share_unserved": float(result.unserved[p, distance_index, snr_index].mean()),
                "ms_per_1000": 1e3 * result.seconds_per_1000[name],
            }
        )
    return rows


def summary_markdown(rows: list[dict], sizes: dict | None = None, rate_evaluations: dict | None = None) -> str:
    """A Markdown table of :func:`summary_rows` (parameter counts from ``sizes``; with
    ``rate_evaluations``, a column of min-rate evaluations per decision, ``None`` = varies),
    built by :func:`cfmimo.tables.markdown_table`."""
    sizes = sizes or {}
    evals = rate_evaluations is not None
    rate_evaluations = rate_evaluations or {}
    header = ["policy", "parameters", "min rate (bit/s/Hz)", "of optimum", "optimal decisions", "user unserved"]
    body = []
    for r in rows:
        row = [
            r["policy"],
            sizes.get(r["policy"], "-"),
            f"{r['min_rate']:.3f} ± {r['min_rate_ci']:.3f}",
            f"{100 * r['fraction_of_optimum']:.1f}%",
            f"{100 * r['share_optimal']:.1f}%",
            f"{100 * r['share_unserved']:.1f}%",
        ]
        if evals:
            n = rate_evaluations.get(r["policy"], "-")
            row.append("varies" if n is None else n)
        body.append(row)
    return tables.markdown_table(header + (["rate evaluations"] if evals else []), body)


def rate_evaluation_counts(policies: dict, n_ap: int, n_user: int) -> dict:
    """Min-rate evaluations per decision of each ``cfmimo.policies.Policy`` (``None``: varies)."""
    out = {}
    for name, p in policies.items():
        count = getattr(p, "rate_evaluations", None)
        out[name] = None if count is None else int(count(n_ap, n_user))
    return out


def fraction_table(result: StudyResult, names, snr_index: int, reference: str = "exhaustive") -> str:
    """Markdown table: each policy's mean min-rate as a fraction of ``reference``'s, one
    column per distance (built by :func:`cfmimo.tables.markdown_table`)."""
    names = [n for n in names if n in result.policies]
    per_distance = [summary_rows(result, i, snr_index, reference) for i in range(len(result.distance_means))]
    header = ["policy"] + [f"mu_d = {d}" for d in result.distance_means]
    rows = (
        [name] + [f"{100 * rows_d[result.index(name)]['fraction_of_optimum']:.1f}%" for rows_d in per_distance]
        for name in names
    )
    return tables.markdown_table(header, rows)


def grid_point(value, grid, name: str, default):
    """Pick the operating point of a table from a grid.

    ``value=None`` takes the grid point nearest to ``default``; a value not on the grid
    takes the nearest one. Returns ``(point, note)``; ``note`` says what was chosen and
    why (empty when ``value`` is on the grid).
    """
    grid = tuple(float(g) for g in grid)
    if not grid:
        raise ValueError(f"{name}: the grid is empty")
    target = float(default if value is None else value)
    point = min(grid, key=lambda g: (abs(g - target), g))
    if float(target) in grid:
        return float(target), ""
    reason = f"the default {target:g}" if value is None else f"{name} = {value:g}, which is not on the grid"
    return point, f"{name} = {point:g}: the grid point {grid} nearest to {reason}"
