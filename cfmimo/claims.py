"""The paper's claims that are not about gradients or the loss, each checked by one function.

* the settings the paper leaves open (:data:`PAPER_SETTINGS`, :data:`STRUCTURAL_CHOICES`,
  :func:`settings_not_given`);
* Eq. (2)'s antenna index set (:func:`eq2_index_set`) and Section IV's negative distances
  (:func:`negative_distance_fraction`);
* Lemma 1's resource counts (:func:`lemma1_paper_counts`, :func:`circuit_resources`,
  :func:`lemma1_table`);
* claim 1, which outputs depend on the input: :func:`input_sensitivity` on the
  registered circuits (exact engine), :func:`input_dependence_table` under every reading
  of the literal circuit (:mod:`cfmimo.readings`), and what an input-blind policy
  achieves (:func:`constant_policy_table`);
* claim 2, what of the input Eq. (14) lets through (:func:`encoding_invariance`,
  :func:`jacobian_ranks`);
* footnote 5's floor decoder (:func:`floor_decoder_dead_share`).

Notebooks 02 and 03 glue the numbers into the errata rows. Gradients are in
:mod:`cfmimo.gradients`, Lemma 2 in :mod:`cfmimo.lemma2` and
:mod:`cfmimo.lemma2_circuits`, the Eq. (18) loss in :mod:`cfmimo.decoded_loss`.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.special import ndtr

from ._validation import check_count, check_real
from .config import Preset, SystemConfig, TrainingConfig, config_fields, with_overrides
from .decoded_loss import candidate_user_rates, check_channels
from .engine import exact_outputs, program_for
from .qnn import build_circuit
from .rates import ideal_capacity
from .readings import CX_DIRECTIONS, READOUTS, literal_dims, literal_outputs, output_jacobian

__all__ = [
    "PAPER_SETTINGS",
    "STRUCTURAL_CHOICES",
    "settings_not_given",
    "eq2_index_set",
    "negative_distance_fraction",
    "lemma1_paper_counts",
    "circuit_resources",
    "lemma1_table",
    "input_sensitivity",
    "input_dependence_table",
    "constant_policy_table",
    "encoding_invariance",
    "jacobian_ranks",
    "floor_decoder_dead_share",
]

PAPER_SETTINGS = {
    "n_ap": "Table II",
    "n_user": "Table II",
    "n_tx": "Table II",
    "interference_factor": "Table II",
    "distance_mean": "Table II",
    "penalty": "Table II",
    "step_size": "Table II",
    "n_epoch": "Table II",
    "shift": "Table II",
    "distance_variance": "Sec. IV",
    "n_trials": "Sec. IV",
    "distance_means": "Sec. IV",
    "n_neuron": "next to Eq. (21): N_neuron = N_AP",
    "distance_floor": "none: the book's truncation of the normal of Sec. IV needs it",
    "seed": "none: a reproducibility device, not a model setting",
}
"""Where the paper fixes each configuration field (or why the field is not a gap)."""

STRUCTURAL_CHOICES = (
    ("angle map", "Eq. (14) feeds a complex vector to an RZ gate", "qnn.encode_angles: pi * g / (g + geometric mean g)"),
    ("qubits read", "Eq. (13)-(15) do not say which qubits give o_m", "the last layer"),
    ("CX direction", "C_X(q_{l+1,1}; q_{l,N}) does not say which qubit controls", "previous layer's last neuron controls"),
    ("shots", "Algorithm 1 decodes measured outputs; no shot count is given", "exact probabilities; 1024 (Qiskit's default) where shots are studied"),
    ("eigenvalues in Eq. (12)", '"eigenvalues of h_{m,k}", a vector', "eigenvalues of the per-AP Gram matrix H_m H_m^H"),
)
"""Structural choices the paper leaves open: (choice, what the paper says, the book's reading)."""


def settings_not_given() -> list[str]:
    """Configuration fields whose value the paper does not give.

    Every field of :class:`~cfmimo.config.SystemConfig` and
    :class:`~cfmimo.config.TrainingConfig`, plus ``n_trials`` and ``distance_means``,
    minus those of :data:`PAPER_SETTINGS`.

    References
    ----------
    Narottama & Duong (2022), Table II.
    """
    fields = [f for cls in (SystemConfig, TrainingConfig) for f in config_fields(cls)]
    fields += ["n_trials", "distance_means"]
    return [f for f in fields if f not in PAPER_SETTINGS]


# ---------------------------------------------------------------------------------
# Eq. (2) and Section IV
# ---------------------------------------------------------------------------------


def eq2_index_set(n_tx: int) -> np.ndarray:
    """The antenna index set :math:`\\mathcal Z` of Eq. (2) exactly as printed.

    :math:`\\{n - 0.5(N_{Tx}-1)\\}_{n\\in\\{1,\\dots,N_{Tx}-1\\}}`: ``n_tx - 1`` elements
    for a steering vector that must have ``n_tx`` (compare
    :func:`cfmimo.channel.antenna_positions`).

    References
    ----------
    Narottama & Duong (2022), Eq. (2).
    """
    n_tx = check_count("n_tx", n_tx, 1)
    return np.arange(1, n_tx, dtype=np.float64) - 0.5 * (n_tx - 1)


def negative_distance_fraction(distance_mean, distance_variance, n_samples: int = 0, rng=None):
    """Share of :math:`d\\sim\\mathcal N(\\mu_d, \\sigma_d^2)` draws that are negative (Section IV).

    Parameters
    ----------
    distance_mean, distance_variance : float
        :math:`\\mu_d > 0`, :math:`\\sigma_d^2 > 0`.
    n_samples : int
        0 returns the exact value :math:`\\Phi(-\\mu_d/\\sigma_d)`; otherwise a
        Monte-Carlo share from ``n_samples`` untruncated draws.
    rng : int, numpy.random.Generator or None

    References
    ----------
    Narottama & Duong (2022), Table II.
    """
    mean = check_real("distance_mean", distance_mean, 1e-12, 1e6)
    var = check_real("distance_variance", distance_variance, 1e-12, 1e6)
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 0:
        raise ValueError(f"n_samples = {n_samples!r} is out of range; allowed: integer >= 0")
    if n_samples == 0:
        return float(ndtr(-mean / math.sqrt(var)))
    rng = np.random.default_rng(rng)
    d = rng.normal(mean, math.sqrt(var), size=int(n_samples))
    return float(np.mean(d < 0))


# ---------------------------------------------------------------------------------
# Lemma 1: qubits and gates
# ---------------------------------------------------------------------------------


def lemma1_paper_counts(n_layer: int, n_neuron: int, n_ap: int) -> dict:
    """The resource counts that Section III-C and Eq. (13)-(15) state.

    Returns
    -------
    dict
        ``lemma1_connect``: :math:`(N_{layer}-1) + (N_{neuron}-1) + N_{layer}N_{neuron}`
        (Lemma 1, "qubits" of :math:`U_{connect}`); ``lemma1_encode``: :math:`N_{AP}`;
        ``lemma1_total``: their sum; ``eq13_qubits``: :math:`N_{layer}N_{neuron}`
        (the register that Eq. 13 prepares); ``eq15_cz``: :math:`(N_{layer}-1)(N_{neuron}-1)`,
        ``eq15_cx``: :math:`N_{layer}-1`, ``eq15_ry``: :math:`N_{layer}N_{neuron}`
        (gates of Eq. 15 as printed).

    References
    ----------
    Narottama & Duong (2022), Lemma 1; Eq. (13); Eq. (15).
    """
    n_layer = check_count("n_layer", n_layer)
    n_neuron = check_count("n_neuron", n_neuron)
    n_ap = check_count("n_ap", n_ap)
    connect = (n_layer - 1) + (n_neuron - 1) + n_layer * n_neuron
    return {
        "lemma1_connect": connect,
        "lemma1_encode": n_ap,
        "lemma1_total": connect + n_ap,
        "eq13_qubits": n_layer * n_neuron,
        "eq15_cz": (n_layer - 1) * (n_neuron - 1),
        "eq15_cx": n_layer - 1,
        "eq15_ry": n_layer * n_neuron,
    }


def circuit_resources(circuit) -> dict:
    """Qubits, classical bits, parameters and gate counts of a ``QuantumCircuit``.

    Returns
    -------
    dict
        ``qubits``, ``clbits``, ``n_x``/``n_theta`` (sizes of the parameter vectors
        named ``x`` and ``theta``), ``depth``, ``two_qubit`` (gates on two qubits) and
        ``ops`` (``{name: count}``, measurements and barriers included).

    References
    ----------
    Narottama & Duong (2022), Lemma 1.
    """
    n_x = sum(1 for p in circuit.parameters if p.name.startswith("x["))
    n_theta = sum(1 for p in circuit.parameters if p.name.startswith("theta["))
    two = sum(1 for inst in circuit.data if len(inst.qubits) == 2 and inst.operation.name != "barrier")
    return {
        "qubits": circuit.num_qubits,
        "clbits": circuit.num_clbits,
        "n_x": n_x,
        "n_theta": n_theta,
        "depth": circuit.depth(),
        "two_qubit": two,
        "ops": {k: int(v) for k, v in circuit.count_ops().items()},
    }


def lemma1_table(base, variant: str = "paper", n_layers=(1, 2, 3, 4), n_aps=(2, 3, 4, 5, 6)) -> list[dict]:
    """Lemma 1's counts next to those of :func:`cfmimo.qnn.build_circuit`, over a grid.

    Parameters
    ----------
    base : cfmimo.config.Preset
        Settings to start from; ``n_layer`` and ``n_ap`` are replaced (``n_neuron``
        follows ``n_ap`` when the preset leaves it ``None``).
    variant : str
        Circuit variant passed to ``build_circuit``.
    n_layers, n_aps : sequence of int

    Returns
    -------
    list of dict
        One row per ``(n_layer, n_ap)``: the grid point, ``n_neuron``, every key of
        :func:`lemma1_paper_counts` and, prefixed ``built_``, the ``qubits``,
        ``clbits``, ``n_theta``, ``two_qubit`` and the ``cx``/``cz``/``ry``/``rz``/``h``
        counts of the built circuit.

    References
    ----------
    Narottama & Duong (2022), Lemma 1; Eq. (13); Eq. (15).
    """
    rows = []
    for n_layer in n_layers:
        for n_ap in n_aps:
            cfg = with_overrides(base, n_layer=int(n_layer), n_ap=int(n_ap))
            n_neuron = cfg.training.n_neuron or cfg.system.n_ap
            res = circuit_resources(build_circuit(cfg, variant))
            row = {"n_layer": int(n_layer), "n_ap": int(n_ap), "n_neuron": n_neuron}
            row.update(lemma1_paper_counts(n_layer, n_neuron, n_ap))
            for key in ("qubits", "clbits", "n_theta", "two_qubit"):
                row["built_" + key] = res[key]
            for op in ("cx", "cz", "ry", "rz", "h"):
                row["built_" + op] = res["ops"].get(op, 0)
            rows.append(row)
    return rows


# ---------------------------------------------------------------------------------
# Claim 1: which outputs depend on the input
# ---------------------------------------------------------------------------------


def input_sensitivity(config: Preset, variant, *, n_samples: int = 32, eps: float = 1e-4, rng=0) -> np.ndarray:
    """Largest finite-difference sensitivity of each readout to each input angle.

    For ``n_samples`` random inputs :math:`x \\sim \\mathcal U(0, \\pi)` and weights
    :math:`\\theta \\sim \\mathcal U(0, 2\\pi)` (uniform, so that a near-identity start
    does not hide couplings), the central difference
    :math:`|o(x + \\epsilon e_i) - o(x - \\epsilon e_i)| / 2\\epsilon` of every readout
    (:func:`cfmimo.qnn.outputs_from_probabilities`, flattened) is computed in one
    exact-engine call, and its maximum over the samples is returned.

    Returns
    -------
    ndarray, shape ``(n_outputs, n_inputs)``
        ``paper``: ``n_outputs = n_ap``; ``reupload``: ``n_ap * n_user`` (AP-major).
        An entry at round-off level (about ``1e-12``) means "does not depend".

    References
    ----------
    Narottama & Duong (2022), Eq. (14); Eq. (15).
    """
    program = program_for(config, variant)
    n_samples = check_count("n_samples", n_samples, 1)
    eps = check_real("eps", eps, 1e-12, 0.1)
    rng = np.random.default_rng(rng)
    n_in, n_w = program.n_inputs, program.n_weights
    x = rng.uniform(0, np.pi, (n_samples, 1, n_in))
    theta = rng.uniform(0, 2 * np.pi, (n_samples, 1, n_w))
    step = eps * np.eye(n_in)
    xs = np.concatenate([x + step, x - step], axis=1)  # (n, 2 n_in, n_in)
    o = exact_outputs(config, variant, xs, theta)
    o = o.reshape(o.shape[:2] + (-1,))  # (n, 2 n_in, n_out)
    diff = np.abs(o[:, :n_in] - o[:, n_in:]) / (2 * eps)  # (n, n_in, n_out)
    return diff.max(axis=0).T


def input_dependence_table(config: Preset, x, *, n_theta: int = 5, rng=None, n_layers=(1, 2, 3), tol: float = 1e-9) -> list[dict]:
    """Which outputs depend on the input, for every reading of the layer structure (claim 1).

    For each ``n_layer`` in ``n_layers``, CX direction and readout layer, and for
    ``n_theta`` uniform weight draws, the spread (standard deviation) of every
    :math:`o_m` over the inputs ``x``; an output depends on the input when its spread
    exceeds ``tol`` for some draw.

    Parameters
    ----------
    config : cfmimo.config.Preset
    x : array_like, shape ``(n_inputs >= 2, n_ap * n_user)``
    n_theta : int
    rng : int, numpy.random.Generator or None
    n_layers : sequence of int
    tol : float

    Returns
    -------
    list of dict
        Keys ``n_layer``, ``cx_direction``, ``readout``, ``spread`` (``(n_ap,)``, the
        largest over the draws) and ``n_dependent``.

    References
    ----------
    Narottama & Duong (2022), Eq. (13); Eq. (14); Eq. (15).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"x must have shape (n_inputs >= 2, n_ap * n_user), got {x.shape}")
    n_theta = check_count("n_theta", n_theta, 1)
    rng = np.random.default_rng(rng)
    rows = []
    for n_layer in n_layers:
        _, _, _, n_neuron = literal_dims(config, n_layer)
        theta = rng.uniform(0.0, 2 * np.pi, (n_theta, 1, n_layer * n_neuron))
        for cx_direction, readout in itertools.product(CX_DIRECTIONS, READOUTS):
            o = literal_outputs(config, x[None], theta, n_layer=n_layer, cx_direction=cx_direction, readout=readout)
            spread = o.std(axis=1).max(axis=0)
            rows.append(
                {
                    "n_layer": int(n_layer),
                    "cx_direction": cx_direction,
                    "readout": readout,
                    "spread": spread,
                    "n_dependent": int((spread > tol).sum()),
                }
            )
    return rows


def constant_policy_table(H, H_hat, rho_grid, train_rho, mu, penalty: float = 10.0) -> dict:
    """What an input-blind policy (one fixed assignment for every channel) achieves.

    Parameters
    ----------
    H, H_hat : array_like, complex, shape ``(n, n_ap, n_user, n_tx)``
    rho_grid : array_like, shape ``(n_rho,)``
        Linear SNRs for the sum rate (Fig. 3's axis).
    train_rho : float
        Linear SNR of the training loss.
    mu, penalty : float

    Returns
    -------
    dict of ndarray
        ``"sum_rate"``: ``(n_rho, A)`` mean physical sum rate (Eq. 5, an unserved user
        gets 0) of each fixed assignment, scored on ``H`` with precoders from ``H_hat``;
        ``"loss"``: ``(A,)`` mean Eq. (11) loss :math:`(C - \\min_k R_k)^2` on ``H_hat``
        at ``train_rho`` (an unserved user's rate is ``-penalty``).

    References
    ----------
    Narottama & Duong (2022), Eq. (5); Eq. (11); Fig. 3.
    """
    rho_grid = np.asarray(rho_grid, dtype=np.float64)
    sum_rate = np.stack([candidate_user_rates(H_hat, r, mu, 0.0, H=H, reduce="sum").mean(axis=0) for r in rho_grid])
    gap = ideal_capacity(check_channels(H_hat), train_rho)[:, None] - candidate_user_rates(H_hat, train_rho, mu, -penalty)
    return {"sum_rate": sum_rate, "loss": (gap**2).mean(axis=0)}


# ---------------------------------------------------------------------------------
# Claim 2: what of the input reaches the readout (Eq. 14)
# ---------------------------------------------------------------------------------


def _encoding_transforms(config, x) -> tuple:
    """The input transformations of claim 2, shared by every reading of Eq. (14).

    Parameters
    ----------
    config : cfmimo.config.Preset
    x : array_like, shape ``(n, n_ap * n_user)``

    Returns
    -------
    x : ndarray, shape ``(n, n_ap * n_user)``
        The input as float64.
    transformed : dict of ndarray, each of shape ``(n, n_ap * n_user)``
        ``"sum"``: every AP's angles replaced by (their sum, 0, ..., 0); ``"sign"``: all
        angles negated; ``"roll_aps"``: the APs' blocks of angles rotated by one.
    """
    x = np.asarray(x, dtype=np.float64)
    n_ap, n_user = config.system.n_ap, config.system.n_user
    if x.ndim != 2 or x.shape[1] != n_ap * n_user:
        raise ValueError(f"x must have shape (n, n_ap * n_user = {n_ap * n_user}), got {x.shape}")
    blocks = x.reshape(len(x), n_ap, n_user)
    summed = np.zeros_like(blocks)
    summed[..., 0] = blocks.sum(axis=-1)
    rolled = np.roll(blocks, 1, axis=1)
    return x, {"sum": summed.reshape(x.shape), "sign": -x, "roll_aps": rolled.reshape(x.shape)}


def encoding_invariance(config: Preset, x, theta, *, encoding: str = "h_once", **reading) -> dict:
    """Largest output change under input transformations, for one reading of Eq. (14).

    Parameters
    ----------
    x : array_like, shape ``(n, n_ap * n_user)``
    theta : array_like, shape ``(n, n_weights)`` or ``(n_weights,)``
    encoding : {"h_once", "pairs"}

    Returns
    -------
    dict of float
        ``"sum"``: every AP's angles replaced by (their sum, 0, ..., 0);
        ``"sign"``: all angles negated; ``"roll_aps"``: the APs' blocks rotated by one
        (a control that must change the outputs).

    References
    ----------
    Narottama & Duong (2022), Eq. (14).
    """
    x, transformed = _encoding_transforms(config, x)
    o = literal_outputs(config, np.stack([x, *transformed.values()]), theta, encoding=encoding, **reading)
    return {name: float(np.max(np.abs(o[i + 1] - o[0]))) for i, name in enumerate(transformed)}


def jacobian_ranks(config: Preset, x, theta, *, tol: float = 1e-7, **reading) -> dict:
    """How many input directions reach the readout (claim 2).

    Parameters
    ----------
    x : array_like, shape ``(n, n_ap * n_user)``
    theta : array_like, shape ``(n_w, n_weights)``
        Weight draws.
    tol : float
        Singular values below ``tol`` count as zero.

    Returns
    -------
    dict of int
        ``"per_draw"``: the largest rank of :math:`\\partial o/\\partial x` at one
        (input, weight) pair (at most ``n_ap``, the number of outputs);
        ``"over_weights"``: the largest, over the inputs, rank of the Jacobians of all
        weight draws stacked: the input directions that reach the readout for some
        weight.

    References
    ----------
    Narottama & Duong (2022), Eq. (14).
    """
    x = np.asarray(x, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    if x.ndim != 2 or theta.ndim != 2:
        raise ValueError(f"x and theta must be 2-D (n, n_in) and (n_w, n_weights), got {x.shape}, {theta.shape}")
    jac = output_jacobian(config, x[:, None, :], theta[None], **reading)  # (n, n_w, n_ap, n_in)
    per_draw = np.linalg.matrix_rank(jac, tol=tol).max()
    stacked = jac.reshape(jac.shape[0], -1, jac.shape[-1])
    over = np.linalg.matrix_rank(stacked, tol=tol).max()
    return {"per_draw": int(per_draw), "over_weights": int(over)}


# ---------------------------------------------------------------------------------
# Footnote 5
# ---------------------------------------------------------------------------------


def floor_decoder_dead_share(o, n_user: int, first_user: int) -> float:
    """Share of outputs whose :math:`\\lfloor o_m N_{user}\\rfloor` names no user.

    :math:`\\lfloor o N_{user}\\rfloor` takes the :math:`N_{user}+1` values
    :math:`0..N_{user}` on :math:`o\\in[0,1]`. With users numbered from 1 (the paper,
    ``first_user=1``) the value 0 is dead: every :math:`o < 1/N_{user}`. Numbered from 0
    (the code, ``first_user=0``) the value :math:`N_{user}` is dead: only :math:`o = 1`.

    Parameters
    ----------
    o : array_like, entries in [0, 1]
    n_user : int
    first_user : {0, 1}

    Returns
    -------
    float

    References
    ----------
    Narottama & Duong (2022), footnote 5.
    """
    n_user = check_count("n_user", n_user)
    if first_user not in (0, 1):
        raise ValueError(f"first_user = {first_user!r}; allowed: 0 or 1")
    o = np.asarray(o, dtype=np.float64)
    if o.size == 0 or not np.all(np.isfinite(o)) or o.min() < 0 or o.max() > 1:
        raise ValueError("o must be a non-empty array with entries in [0, 1]")
    values = np.floor(o * n_user)
    valid = (values >= first_user) & (values <= first_user + n_user - 1)
    return float(np.mean(~valid))
