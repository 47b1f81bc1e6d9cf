"""The Monte-Carlo study of Section IV: every policy on the same channels, over SNR and distance.

A *policy* is a callable ``policy(H_hat, rho) -> a`` that maps estimated channels
``(n, n_ap, n_user, n_tx)`` and a linear SNR to assignments ``(n, n_ap)``. Policies that
ignore ``rho`` (the QNNs, the perceptron, strongest-AP, random) are called once per
distance and reused at every SNR; pass their names in ``snr_independent``.

For each mean distance :math:`\\mu_d` one set of ``n_trials`` channels is drawn and shared
by every SNR and policy (common random numbers), so that differences between curves are
not sampling noise between channel sets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from . import baselines
from .channel import sample_channels
from .config import Preset, db_to_linear
from .rates import gain_matrix, rates_from_gains, serves_every_user
from .stats import mean_ci

__all__ = [
    "StudyResult",
    "run_study",
    "classical_policies",
    "LearnedPolicies",
    "learned_policies",
    "summary_rows",
    "summary_markdown",
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
    """The classical policies as ``policy(H_hat, rho)`` callables (see :mod:`cfmimo.baselines`)."""
    rng = np.random.default_rng(rng)
    return {
        "exhaustive": lambda H_hat, rho: baselines.exhaustive(H_hat, rho, mu, penalty),
        "greedy": lambda H_hat, rho: baselines.greedy(H_hat, rho, mu, penalty),
        "strongest AP": lambda H_hat, rho: baselines.strongest_ap(H_hat),
        "random": lambda H_hat, rho: baselines.random_assignment(H_hat, rng),
    }


@dataclass(frozen=True)
class LearnedPolicies:
    """The trained models of the study, as policies.

    Attributes
    ----------
    policies : dict of str to callable
        ``policy(H_hat, rho) -> a``; none of them depends on ``rho``.
    sizes : dict of str to int
        Trainable parameters of each.
    perceptron_names : tuple of str
        Names of the perceptrons, smallest first.
    n_training_channels : int
        Channels the perceptrons (and the improved QNN) were trained on.
    """

    policies: dict
    sizes: dict
    perceptron_names: tuple
    n_training_channels: int


def learned_policies(config: Preset, *, perceptron_hidden=(None, 32)) -> LearnedPolicies:
    """Both QNNs (:func:`cfmimo.train.trained`) and perceptrons trained on the same data.

    The perceptrons (:mod:`cfmimo.classical`) see the QNNs' inputs
    (:func:`cfmimo.qnn.encode_angles`) and exactly the improved QNN's training channels
    (:func:`cfmimo.train.training_channels`) at the training SNR, with its objective
    (imitation, then expected min-rate) and its serve-every-user decoder.

    Parameters
    ----------
    config : Preset
    perceptron_hidden : tuple of int or None
        Hidden sizes; ``None`` picks the smallest size with at least as many parameters as
        the improved QNN.
    """
    from . import classical, qnn, train

    system = config.system
    paper = train.trained(config, "paper")
    improved = train.trained(config, "reupload")
    channels = train.training_channels(config, "reupload")
    rho = db_to_linear(config.training.train_snr_db)
    rates = classical.candidate_rates(channels, channels, rho, system.interference_factor, system.penalty)
    features = qnn.encode_angles(channels)
    n_improved = qnn.n_weights(config, "reupload")
    policies = {
        "paper QNN": lambda H_hat, rho: train.decide(config, "paper", paper.weights, H_hat),
        "improved QNN": lambda H_hat, rho: train.decide(config, "reupload", improved.weights, H_hat),
    }
    sizes = {"paper QNN": qnn.n_weights(config, "paper"), "improved QNN": n_improved}
    names = []
    for hidden in perceptron_hidden:
        if hidden is None:
            hidden = next(
                h for h in range(1, 4096)
                if classical.n_parameters(features.shape[1], h, system.n_ap, system.n_user) >= n_improved
            )
        model = classical.fit_mlp(features, rates, system.n_ap, system.n_user, hidden=hidden, rng=config.training.seed)
        name = f"perceptron ({hidden} hidden)"
        policies[name] = lambda H_hat, rho, m=model: m.decide(qnn.encode_angles(H_hat))
        sizes[name] = model.n_parameters
        names.append(name)
    return LearnedPolicies(policies, sizes, tuple(names), len(channels))


def run_study(
    config: Preset,
    policies: dict,
    *,
    snr_independent=(),
    include_oracle: bool = True,
    progress: bool = False,
) -> StudyResult:
    """Evaluate every policy on ``config.n_trials`` channels per distance and SNR.

    Parameters
    ----------
    config : Preset
        Uses ``system``, ``n_trials``, ``distance_means`` and ``seed``.
    policies : dict of str to callable
        Must include ``"exhaustive"`` (the reference for ``optimal``).
    snr_independent : iterable of str
        Policies whose decision does not depend on ``rho``.
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
    seeds = np.random.SeedSequence(config.seed).spawn(len(config.distance_means))
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
                a = decisions[name]
                user_rates[p, i, j] = rates_from_gains(true_gains, a, rho, mu, penalty=0.0)
                mine = rates_from_gains(est_gains, a, rho, mu, penalty).min(axis=-1)
                optimal[p, i, j] = mine >= best - 1e-12 * np.abs(best)
                unserved[p, i, j] = ~serves_every_user(a, system.n_user)
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


def summary_rows(result: StudyResult, distance_index: int, snr_index: int, reference: str = "exhaustive") -> list[dict]:
    """One row per policy at one (distance, SNR): mean min-rate with CI, its fraction of
    the reference's, shares of optimal and unserved decisions, time per 10^3 decisions."""
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


def summary_markdown(rows: list[dict], sizes: dict | None = None) -> str:
    """A Markdown table of :func:`summary_rows` (parameter counts from ``sizes``)."""
    sizes = sizes or {}
    lines = [
        "| policy | parameters | min rate (bit/s/Hz) | of optimum | optimal decisions | user unserved |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['policy']} | {sizes.get(r['policy'], '-')} | {r['min_rate']:.3f} ± {r['min_rate_ci']:.3f} | "
            f"{100 * r['fraction_of_optimum']:.1f}% | {100 * r['share_optimal']:.1f}% | {100 * r['share_unserved']:.1f}% |"
        )
    return "\n".join(lines)
