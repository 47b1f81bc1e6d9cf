"""Shares of a reference min-rate, per policy and distance, on shared fresh channels.

Every policy ``policy(H_hat, rho) -> a`` decides on the estimate; decisions are scored on
the true channel with physical rates (an unserved user gets 0 bit/s/Hz, as in
:mod:`cfmimo.evaluate`). The *share* of a policy is its mean min-rate over the mean
min-rate of a reference policy on the same channels (exhaustive search where
``n_user**n_ap`` allows it, else greedy + local search), with a 95% confidence interval by
the delta method on the paired trials.
"""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
import numpy as np

from . import scoring, tables
from .bloch import trained_bloch
from .channel import sample_channels
from .config import Preset, db_to_linear, with_overrides
from .engine import program_for
from .policies import Policy, classical_policies
from .rates import gain_matrix, rates_from_gains, serves_every_user

__all__ = [
    "EXHAUSTIVE_REFERENCE_MAX",
    "LEFT_OUT",
    "BLOCH_NAME",
    "reference_policy",
    "comparison_policies",
    "ratio_ci",
    "share_table",
    "markdown_share_table",
    "markdown_size_table",
    "summary",
    "run_scaling_study",
    "plot_share_vs_size",
    "SIZE_SUMMARY_POLICIES",
    "size_summary",
    "size_reading",
]

EXHAUSTIVE_REFERENCE_MAX = 10**5
"""Largest ``n_user**n_ap`` for which exhaustive search is the reference of the shares."""

BLOCH_NAME = "Bloch-readout QNN"
"""Display name of readout design (i), :class:`cfmimo.bloch.BlochScorer`, in the study."""

LEFT_OUT = ("random",)
"""Registered classical policies (:data:`cfmimo.policies.CLASSICAL`) the scaling study leaves
out: every other one takes part, so a newly registered policy appears without an edit here."""


def reference_policy(config: Preset) -> str:
    """``"exhaustive"`` while ``n_user**n_ap <=`` :data:`EXHAUSTIVE_REFERENCE_MAX`, else
    ``"greedy + local search"``."""
    n_ap, n_user = config.system.n_ap, config.system.n_user
    return "exhaustive" if n_user**n_ap <= EXHAUSTIVE_REFERENCE_MAX else "greedy + local search"


def comparison_policies(config: Preset, learned: dict, *, k: int = 5) -> dict:
    """The classical policies that run at this size and every learned score model, pure
    and top-``k`` re-ranked (a hybrid).

    Parameters
    ----------
    config : Preset
    learned : dict
        Display name -> ``(model, weights)`` with ``model`` a
        :class:`cfmimo.scoring.QuantumScorer`, :class:`cfmimo.bloch.BlochScorer` or
        :class:`cfmimo.scoring.ClassicalTwin`.
    k : int
        Candidates re-ranked by the rate formula on the estimate.

    Returns
    -------
    dict of str to :class:`cfmimo.policies.Policy`
    """
    sys = config.system
    feasible = sys.n_user**sys.n_ap <= EXHAUSTIVE_REFERENCE_MAX
    every = classical_policies(sys.interference_factor, sys.penalty, n_ap=sys.n_ap, n_user=sys.n_user)
    out = {name: p for name, p in every.items() if name not in LEFT_OUT and (feasible or name != "exhaustive")}
    for name, (model, weights) in learned.items():
        out[name] = Policy(name, scoring.policy(config, weights, model=model), uses_rho=False,
                           rate_evaluations=lambda n_ap, n_user: 0, n_parameters=model.n_params)
        out[f"{name}, top-{k} re-ranked"] = Policy(
            f"{name}, top-{k} re-ranked", scoring.policy(config, weights, k=k, model=model), hybrid=True,
            rate_evaluations=lambda n_ap, n_user, k=k: k, n_parameters=model.n_params)
    return out


def ratio_ci(values, reference, z: float = 1.96) -> tuple[float, float]:
    """``mean(values) / mean(reference)`` over paired trials and its CI half-width (delta
    method: the standard error of ``mean(values - r * reference) / mean(reference)``)."""
    values, reference = np.asarray(values, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if values.shape != reference.shape or values.ndim != 1 or values.size < 2:
        raise ValueError(f"values and reference must be 1-d of the same length >= 2, got {values.shape}, {reference.shape}")
    ref = reference.mean()
    if ref == 0:
        raise ValueError("reference has a zero mean: the share is undefined")
    r = values.mean() / ref
    d = values - r * reference
    return float(r), float(z * d.std(ddof=1) / np.sqrt(values.size) / abs(ref))


def share_table(config: Preset, policies: dict, reference: str, *, distance_means=None, n_trials=None,
                snr_db: float = 10.0, seed=None) -> list[dict]:
    """Score ``policies`` on fresh channels at every distance mean.

    Parameters
    ----------
    config : Preset
        ``system`` (sizes, channel model); ``n_trials``, ``distance_means`` and ``seed``
        are the defaults of the arguments below.
    policies : dict
        Display name -> ``policy(H_hat, rho) -> a`` ``(n, n_ap)``.
    reference : str
        Name (a key of ``policies``) of the policy whose mean min-rate is the denominator.
    distance_means : sequence of float, optional
    n_trials : int, optional
        Channels per distance mean (the same channels for every policy).
    snr_db : float
    seed : int, optional
        Seed of the channels (one stream per distance mean).

    Returns
    -------
    list of dict
        One row per (policy, distance mean): ``policy``, ``mu_d``, ``min_rate`` (mean,
        bit/s/Hz), ``share`` and ``share_ci`` (of the reference), ``served`` (share of trials
        that serve every user), ``distinct`` (distinct decisions), ``seconds_per_1000``
        (wall time of deciding, per 1000 channels; machine-dependent).

    References
    ----------
    Narottama & Duong (2022), footnote 6.
    """
    if reference not in policies:
        raise ValueError(f"reference = {reference!r} is not one of the policies {list(policies)}")
    distance_means = config.distance_means if distance_means is None else tuple(distance_means)
    n_trials = config.n_trials if n_trials is None else int(n_trials)
    seed = config.seed if seed is None else int(seed)
    rho, mu = db_to_linear(snr_db), config.system.interference_factor
    rows = []
    for i, mu_d in enumerate(distance_means):
        H, H_hat = sample_channels(config.system, n_trials, np.random.default_rng([seed, i]), distance_mean=mu_d)
        gains = gain_matrix(H, H_hat)
        mins, decided, seconds = {}, {}, {}
        for name, policy in policies.items():
            start = time.perf_counter()
            a = np.asarray(policy(H_hat, rho))
            seconds[name] = time.perf_counter() - start
            decided[name] = a
            mins[name] = rates_from_gains(gains, a, rho, mu, penalty=0.0).min(axis=-1)
        for name in policies:
            share, ci = ratio_ci(mins[name], mins[reference])
            rows.append({
                "policy": name,
                "mu_d": float(mu_d),
                "min_rate": float(mins[name].mean()),
                "share": share,
                "share_ci": ci,
                "served": float(serves_every_user(decided[name], config.system.n_user).mean()),
                "distinct": int(len(np.unique(decided[name], axis=0))),
                "seconds_per_1000": 1000.0 * seconds[name] / n_trials,
            })
    return rows


def markdown_share_table(rows, reference: str) -> str:
    """The rows of :func:`share_table` as a Markdown table, one line per policy and
    distance (built by :func:`cfmimo.tables.markdown_table`)."""
    header = ["policy", "mu_d", "min rate (bit/s/Hz)", f"share of {reference} (95% CI)", "every user served",
              "distinct decisions"]
    return tables.markdown_table(header, (
        [r["policy"], f"{r['mu_d']:g}", f"{r['min_rate']:.3f}", f"{r['share']:.3f} ± {r['share_ci']:.3f}",
         f"{100 * r['served']:.1f}%", r["distinct"]]
        for r in rows
    ))


def markdown_size_table(rows) -> str:
    """The rows of :func:`run_scaling_study` as a Markdown table, one line per size and
    policy (built by :func:`cfmimo.tables.markdown_table`).

    A missing qubit or parameter count (a classical policy) shows as ``-``; training
    times read from a committed weight file are marked ``(file)``.
    """
    header = ["size", "policy", "share (95% CI)", "of", "served", "distinct", "qubits simulated", "parameters",
              "training (s)", "decisions (s per 10^3)"]
    return tables.markdown_table(header, (
        [f"{r['n_ap']} x {r['n_user']} ({r['n_trials']} ch.)", r["policy"], f"{r['share']:.3f} ± {r['share_ci']:.3f}",
         r["reference"], f"{100 * r['served']:.1f}%", r["distinct"], r["qubits"] or "-", r["parameters"] or "-",
         f"{r['train_seconds']:.1f}{' (file)' if r['from_file'] else ''}", f"{r['seconds_per_1000']:.2f}"]
        for r in rows
    ))


def summary(rows, name: str) -> dict:
    """Over the distance means of :func:`share_table`: ``share`` (mean), ``low``/``high``
    (extremes), ``spread`` (high - low), ``served`` (lowest share of trials serving every
    user) of policy ``name``."""
    mine = [r for r in rows if r["policy"] == name]
    if not mine:
        raise ValueError(f"policy {name!r} is not in the rows")
    shares = np.array([r["share"] for r in mine])
    return {
        "share": float(shares.mean()),
        "low": float(shares.min()),
        "high": float(shares.max()),
        "spread": float(shares.max() - shares.min()),
        "served": float(min(r["served"] for r in mine)),
    }


def _trials_for(n_ap: int, n_user: int, n_trials: int, exhaustive_trials: int) -> int:
    if n_user**n_ap <= 1000 or n_user**n_ap > EXHAUSTIVE_REFERENCE_MAX:
        return n_trials
    return min(n_trials, exhaustive_trials)


def run_scaling_study(base: Preset, sizes=((4, 3), (8, 4), (16, 8)), *, n_trials: int = 1000,
                      exhaustive_trials: int = 200, distance_mean=None, snr_db: float = 10.0,
                      k_small: int = 5, k_large: int = 10, seed=None, progress: bool = False, bloch: bool = True,
                      cache_dir=None, weights_dir=None) -> list[dict]:
    """Every policy at every size on shared fresh channels (notebook 07).

    For each ``(n_ap, n_user)``: the ``scoring`` QNN (:func:`cfmimo.scoring.trained`: the
    committed weights when they match, else a training run) and its classical twin
    (:func:`cfmimo.scoring.train_twin`), pure and top-``k`` re-ranked (``k_small`` at
    ``n_user**n_ap <= 1000``, else ``k_large``), next to exhaustive search (while
    ``n_user**n_ap <=`` :data:`EXHAUSTIVE_REFERENCE_MAX`; on ``exhaustive_trials`` channels
    when the table is large), greedy, greedy + local search and strongest-AP. With
    ``bloch=True`` the per-AP readout design (i), :class:`cfmimo.bloch.BlochScorer`
    (:data:`BLOCH_NAME`; :func:`cfmimo.bloch.trained_bloch`), is shown beside them. ``weights_dir``
    is the folder of committed weight files, ``cache_dir`` the cache folder of training runs
    (``None``: none).

    Returns
    -------
    list of dict
        The rows of :func:`share_table` (one distance mean) plus ``n_ap``, ``n_user``,
        ``reference``, ``n_trials``, ``k``, ``qubits`` (qubits simulated per circuit for the
        QNN rows: its largest light cone; 0 otherwise), ``parameters`` and
        ``train_seconds`` (wall time of obtaining the weights; ~0 when they came from a
        file, see ``from_file``).

    References
    ----------
    Narottama & Duong (2022), footnote 6.
    """
    mu_d = base.system.distance_mean if distance_mean is None else float(distance_mean)
    out = []
    for n_ap, n_user in sizes:
        cfg = with_overrides(base, n_ap=int(n_ap), n_user=int(n_user))
        from_file = scoring.committed_weights(cfg, weights_dir) is not None
        start = time.perf_counter()
        run = scoring.trained(cfg, cache_dir=cache_dir, weights_dir=weights_dir, progress=progress)
        qnn_seconds = time.perf_counter() - start
        start = time.perf_counter()
        twin_model, twin_run = scoring.train_twin(cfg, progress=progress)
        twin_seconds = time.perf_counter() - start
        learned = {"QNN": (scoring.QuantumScorer(cfg), run.weights), "twin": (twin_model, twin_run.weights)}
        bloch_seconds, bloch_file, bloch_cone = 0.0, False, 0
        if bloch:
            start = time.perf_counter()
            bloch_model, bloch_weights, bloch_file = trained_bloch(cfg, weights_dir=weights_dir, progress=progress)
            bloch_seconds = time.perf_counter() - start
            bloch_cone = max(bloch_model.programs[0].cone_qubits)
            learned[BLOCH_NAME] = (bloch_model, bloch_weights)
        k = k_small if n_user**n_ap <= 1000 else k_large
        policies = comparison_policies(cfg, learned, k=k)
        reference = reference_policy(cfg)
        trials = _trials_for(n_ap, n_user, n_trials, exhaustive_trials)
        rows = share_table(cfg, policies, reference, distance_means=(mu_d,), n_trials=trials, snr_db=snr_db, seed=seed)
        cone = max(program_for(cfg, "scoring").cone_qubits)
        for r in rows:
            is_qnn, is_twin = r["policy"].startswith("QNN"), r["policy"].startswith("twin")
            is_bloch = r["policy"].startswith(BLOCH_NAME)
            r.update(n_ap=int(n_ap), n_user=int(n_user), reference=reference, n_trials=trials, k=k,
                     qubits=cone if is_qnn else bloch_cone if is_bloch else 0,
                     parameters=policies[r["policy"]].n_parameters,
                     train_seconds=(qnn_seconds if is_qnn else twin_seconds if is_twin
                                    else bloch_seconds if is_bloch else 0.0),
                     from_file=bool((from_file and is_qnn) or (bloch_file and is_bloch)))
            out.append(r)
    return out


def _family(policy: str) -> str:
    return policy.split(", top-")[0] + (", top-k re-ranked" if ", top-" in policy else "")


SIZE_SUMMARY_POLICIES = {
    "qnn": "QNN", "qnn_top": "QNN, top-k re-ranked", "twin": "twin", "twin_top": "twin, top-k re-ranked",
    "greedy": "greedy", "gls": "greedy + local search",
    "bloch": BLOCH_NAME, "bloch_top": f"{BLOCH_NAME}, top-k re-ranked",
}
"""Short key -> policy family (pure or top-k) of the shares :func:`size_summary` reports."""


def _rows_at(rows, n_ap: int, n_user: int) -> dict:
    return {_family(r["policy"]): r for r in rows if (r["n_ap"], r["n_user"]) == (n_ap, n_user)}


def size_summary(rows, n_ap: int, n_user: int) -> dict:
    """The numbers notebook 07 quotes for one size of :func:`run_scaling_study`'s rows.

    Returns
    -------
    dict
        The share of every policy of :data:`SIZE_SUMMARY_POLICIES` present (rounded to 3
        digits), ``qnn_ci`` and ``qnn_top_ci`` (95% half-widths), ``k``, ``ref`` (the
        reference policy), ``qubits`` (the QNN's largest light cone), ``served`` (% of
        trials in which the QNN, pure and re-ranked, served every user: the smaller),
        ``qnn_beats_twin`` and ``qnn_vs_greedy`` (pure QNN at least level with greedy).
    """
    at = _rows_at(rows, n_ap, n_user)
    qnn, top = at["QNN"], at["QNN, top-k re-ranked"]
    return {**{key: round(at[name]["share"], 3) for key, name in SIZE_SUMMARY_POLICIES.items() if name in at},
            "qnn_top_ci": round(top["share_ci"], 3), "qnn_ci": round(qnn["share_ci"], 3),
            "k": top["k"], "ref": qnn["reference"], "qubits": qnn["qubits"],
            "served": round(100 * min(qnn["served"], top["served"]), 1),
            "qnn_beats_twin": bool(qnn["share"] > at["twin"]["share"]),
            "qnn_vs_greedy": bool(qnn["share"] >= at["greedy"]["share"])}


def size_reading(rows, n_ap: int, n_user: int) -> str:
    """One clause on the pure QNN at this size: against greedy, and against its twin."""
    at = _rows_at(rows, n_ap, n_user)
    qnn = at["QNN"]["share"]
    text = "the pure QNN is at least level with greedy" if qnn >= at["greedy"]["share"] else "the pure QNN stays below greedy"
    gap = qnn - at["twin"]["share"]
    return text + f", and it is {abs(gap):.3f} {'above' if gap > 0 else 'below'} its classical twin"


def plot_share_vs_size(rows, ax=None):
    """Share of the reference against size, one line per policy family (pure or top-k);
    the tick labels name each size's reference (exhaustive or greedy + local search)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    sizes = sorted({(r["n_ap"], r["n_user"]) for r in rows}, key=lambda s: s[0] * s[1])
    reference = {(r["n_ap"], r["n_user"]): r["reference"] for r in rows}
    names = list(dict.fromkeys(_family(r["policy"]) for r in rows))
    for name in names:
        pts = [(i, r["share"], r["share_ci"]) for i, size in enumerate(sizes) for r in rows
               if _family(r["policy"]) == name and (r["n_ap"], r["n_user"]) == size]
        if pts:
            xs, ys, es = zip(*pts)
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=name)
    ax.set_xticks(range(len(sizes)), [f"{m} x {k}\n(vs {reference[(m, k)]})" for m, k in sizes])
    ax.set_xlabel("APs x users")
    ax.set_ylabel("share of the reference's mean min-rate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return ax
