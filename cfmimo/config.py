"""Immutable, validated parameters of the system model and of training.

Every setting of Table II of the paper is a field here, and so is every setting the
paper leaves out (see ``book/parameters.md`` for the value chosen and why). The
dataclasses are frozen; ``__post_init__`` validates every field and raises a
``ValueError`` that names the field, the value and the allowed range, and stores
numbers as plain Python ``int``/``float`` (a ``numpy.int64`` given for ``n_ap`` becomes an
``int``, so a config always serialises to JSON). Use
``dataclasses.replace`` to derive a variant, e.g.
``replace(PAPER.system, n_ap=5)``; the result is validated again.

Names used in the paper, and here:

========================  ==========================  =================================
paper                     here                        meaning
========================  ==========================  =================================
:math:`N_{AP}`            ``n_ap``                    number of access points (APs)
:math:`N_{user}`          ``n_user``                  number of single-antenna users
:math:`N_{Tx}`            ``n_tx``                    antennas per AP
:math:`N_{path}`          ``n_path``                  propagation paths per link (Eq. 1)
:math:`\\kappa`            ``pathloss_exponent``       pathloss exponent
:math:`\\mu_{n,k}`         ``interference_factor``     inter-AP interference factor (Eq. 3-4)
:math:`r_{penalty}`       ``penalty``                 rate given to an unserved user is
                                                      ``-penalty`` (footnote 2)
:math:`N_{CSI}`           ``csi_error``               CSI error variance relative to the
                                                      path gain :math:`d^{-\\kappa}`
:math:`\\mu_d`             ``distance_mean``           mean AP-user distance
:math:`\\sigma_d^2`        ``distance_variance``       variance of the AP-user distance
:math:`\\rho`              ``snr_db``                  transmit SNR grid, in dB
:math:`N_{layer}`         ``n_layer``                 QNN layers
:math:`N_{neuron}`        ``n_neuron``                QNN qubits per layer
:math:`N_{data}`          ``n_data``                  training channel samples
:math:`N_{epoch}`         ``n_epoch``                 training epochs
:math:`\\mu` (Alg. 1)      ``step_size``               SGD step size
:math:`\\varrho`           ``shift``                   parameter-shift value (Eq. 17)
========================  ==========================  =================================
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, fields, replace

from ._validation import check_int as _check_int

__all__ = [
    "SystemConfig",
    "TrainingConfig",
    "Preset",
    "PAPER",
    "SMOKE",
    "preset",
    "check_preset",
    "db_to_linear",
]


def _check_float(
    name: str,
    value,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} = {value} must be finite")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ValueError(f"{name} = {value} is out of range; allowed: {left}{low}, {high}{right}")
    return value


def _normalise(obj, name: str, value) -> None:
    """Store the checked, plain-Python ``value`` (e.g. ``int`` for ``numpy.int64``) in a frozen field."""
    object.__setattr__(obj, name, value)


def _float_tuple(name: str, value, low: float, high: float, *, low_open: bool = False) -> tuple[float, ...]:
    """Check a non-empty sequence of real numbers and return it as a tuple of floats."""
    if isinstance(value, (str, bytes, numbers.Number)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{name} must be a non-empty sequence of numbers, e.g. (10.0,), got {value!r}")
    items = tuple(value)
    if not items:
        raise ValueError(f"{name} must be a non-empty sequence of numbers, got {value!r}")
    return tuple(_check_float(f"{name}[{i}]", v, low, high, low_open=low_open) for i, v in enumerate(items))


def db_to_linear(snr_db):
    """Convert an SNR in dB to the linear ratio :math:`\\rho = 10^{dB/10}` used in Eq. (4).

    References
    ----------
    Narottama & Duong (2022), Eq. (4).
    """
    return 10.0 ** (snr_db / 10.0)


@dataclass(frozen=True)
class SystemConfig:
    """The cell-free MIMO system of Section II and Table II.

    Attributes
    ----------
    n_ap, n_user, n_tx, n_path : int
        Access points, users, antennas per AP, paths per link (Eq. 1).
    pathloss_exponent : float
        :math:`\\kappa`; the Rayleigh gains are :math:`\\mathcal{CN}(0, d^{-\\kappa})`.
    interference_factor : float
        :math:`\\mu_{n,k}` of Eq. (3)-(4), the same for every pair, in [0, 1].
    penalty : float
        Footnote 2: an unserved user's rate is ``-penalty`` (Table II lists
        :math:`r_{penalty} = -10`; the rate is -10, so ``penalty = 10``).
    csi_error : float
        Variance of each CSI error entry relative to the link's path gain:
        :math:`\\hat h = h + e`, :math:`e \\sim \\mathcal{CN}(0, \\mathrm{csi\\_error}\\, d^{-\\kappa})`.
    distance_mean, distance_variance, distance_floor : float
        AP-user distances are :math:`\\mathcal{N}(\\mu_d, \\sigma_d^2)` truncated below
        at ``distance_floor`` (the untruncated normal has negative values).
    snr_db : tuple of float
        The transmit-SNR grid of Fig. 3, in dB.

    References
    ----------
    Narottama & Duong (2022), Eq. (1); Eq. (2); Eq. (4); Table II; Fig. 3; footnote 2.
    """

    n_ap: int = 4
    n_user: int = 3
    n_tx: int = 2
    n_path: int = 4
    pathloss_exponent: float = 3.0
    interference_factor: float = 0.1
    penalty: float = 10.0
    csi_error: float = 0.1
    distance_mean: float = 0.5
    distance_variance: float = 0.1
    distance_floor: float = 0.05
    snr_db: tuple[float, ...] = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0)

    def __post_init__(self) -> None:
        for name, low, high in (("n_ap", 1, 16), ("n_user", 1, 16), ("n_tx", 1, 64), ("n_path", 1, 1024)):
            _normalise(self, name, _check_int(name, getattr(self, name), low, high))
        for name, low, high, low_open in (
            ("pathloss_exponent", 0.0, 10.0, False),
            ("interference_factor", 0.0, 1.0, False),
            ("penalty", 0.0, 1e6, False),
            ("csi_error", 0.0, 10.0, False),
            ("distance_mean", 0.0, 1e6, True),
            ("distance_variance", 0.0, 1e6, False),
            ("distance_floor", 0.0, 1e6, True),
        ):
            _normalise(self, name, _check_float(name, getattr(self, name), low, high, low_open=low_open))
        _normalise(self, "snr_db", _float_tuple("snr_db", self.snr_db, -100.0, 100.0))

    @property
    def n_assignments(self) -> int:
        """Number of candidate assignments, ``n_user ** n_ap`` (81 for Table II)."""
        return self.n_user**self.n_ap

    @property
    def snr_linear(self) -> tuple[float, ...]:
        """The SNR grid as linear ratios :math:`\\rho`."""
        return tuple(db_to_linear(v) for v in self.snr_db)


@dataclass(frozen=True)
class TrainingConfig:
    """QNN and Algorithm 1 settings.

    Attributes
    ----------
    n_layer : int
        :math:`N_{layer}`; 2 is the smallest depth at which Eq. (15)'s layer
        connection exists (the paper does not give it).
    n_data, n_epoch : int
        Algorithm 1 runs ``n_data * n_epoch`` SGD steps (Table II: 100 epochs).
    step_size : float
        :math:`\\mu` of Algorithm 1; step ``i`` of epoch ``e`` uses
        ``step_size / sqrt(e + 1)`` (Section IV).
    shift : float
        :math:`\\varrho` of Eq. (17), radians (Table II: :math:`\\pi/2`).
    train_snr_db : float
        SNR of the training channels in dB (the paper does not give it).
    seed : int
        Seed of the training run (weights, channel draws).
    n_neuron : int or None
        Qubits per layer; ``None`` means one per AP (Eq. 14).

    References
    ----------
    Narottama & Duong (2022), Eq. (13); Eq. (14); Eq. (15); Eq. (17); Algorithm 1; Table II.
    """

    n_layer: int = 2
    n_data: int = 100
    n_epoch: int = 100
    step_size: float = 0.01
    shift: float = math.pi / 2
    train_snr_db: float = 10.0
    seed: int = 2022
    n_neuron: int | None = None

    def __post_init__(self) -> None:
        for name, low, high in (("n_layer", 1, 32), ("n_data", 1, 10**7), ("n_epoch", 1, 10**6), ("seed", 0, None)):
            _normalise(self, name, _check_int(name, getattr(self, name), low, high))
        _normalise(self, "step_size", _check_float("step_size", self.step_size, 0.0, 1e3, low_open=True))
        _normalise(self, "shift", _check_float("shift", self.shift, 0.0, math.pi, low_open=True))
        _normalise(self, "train_snr_db", _check_float("train_snr_db", self.train_snr_db, -100.0, 100.0))
        if self.n_neuron is not None:
            _normalise(self, "n_neuron", _check_int("n_neuron", self.n_neuron, 1, 32))

    @property
    def n_train(self) -> int:
        """:math:`N_{train} = N_{data} N_{epoch}`, the SGD steps of Algorithm 1."""
        return self.n_data * self.n_epoch


@dataclass(frozen=True)
class Preset:
    """A complete, named set of settings used by the notebooks.

    Attributes
    ----------
    name : str
        ``"paper"`` or ``"smoke"`` (or a user's own).
    system, training : SystemConfig, TrainingConfig
    n_trials : int
        Monte-Carlo trials per point (the paper: :math:`10^3`).
    distance_means : tuple of float
        The :math:`\\mu_d` values of Fig. 3.
    seed : int
        Seed of the evaluation channels (distinct from the training seed).
    """

    name: str
    system: SystemConfig = field(default_factory=SystemConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    n_trials: int = 1000
    distance_means: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7)
    seed: int = 7

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.system, SystemConfig):
            raise ValueError(f"system must be a SystemConfig, got {type(self.system).__name__}")
        if not isinstance(self.training, TrainingConfig):
            raise ValueError(f"training must be a TrainingConfig, got {type(self.training).__name__}")
        _normalise(self, "n_trials", _check_int("n_trials", self.n_trials, 1, 10**8))
        _normalise(self, "seed", _check_int("seed", self.seed, 0))
        _normalise(self, "distance_means", _float_tuple("distance_means", self.distance_means, 0.0, 1e6, low_open=True))


PAPER = Preset(name="paper")
"""Table II plus the documented choices for what the paper leaves out."""

SMOKE = Preset(
    name="smoke",
    system=SystemConfig(snr_db=(0.0, 15.0, 30.0)),
    training=TrainingConfig(n_data=10, n_epoch=3),
    n_trials=50,
    distance_means=(0.3, 0.5),
)
"""The same model at a size that runs in seconds (tests, quick checks)."""

_PRESETS = {"paper": PAPER, "smoke": SMOKE}


def check_preset(config, name: str = "config") -> Preset:
    """Return ``config`` if it is a :class:`Preset`; ``ValueError`` naming ``name`` otherwise."""
    if not isinstance(config, Preset):
        raise ValueError(f"{name} must be a cfmimo.config.Preset, got {type(config).__name__}")
    return config


def preset(name: str) -> Preset:
    """Return the preset called ``name`` (``"paper"`` or ``"smoke"``).

    References
    ----------
    Narottama & Duong (2022), Table II.
    """
    try:
        return _PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"preset = {name!r} is unknown; allowed: {sorted(_PRESETS)}") from None


def config_fields(cls) -> tuple[str, ...]:
    """Names of the fields of a config dataclass (used by the sweep to check names)."""
    return tuple(f.name for f in fields(cls))


def with_overrides(base: Preset, **overrides) -> Preset:
    """Return ``base`` with fields of its system, training or itself replaced.

    Each keyword names a field of :class:`SystemConfig`, :class:`TrainingConfig` or
    :class:`Preset`; an unknown name raises ``ValueError`` listing the known ones.
    """
    system_names = set(config_fields(SystemConfig))
    training_names = set(config_fields(TrainingConfig))
    preset_names = set(config_fields(Preset)) - {"system", "training"}
    sys_kw, train_kw, preset_kw = {}, {}, {}
    for key, value in overrides.items():
        if key in system_names:
            sys_kw[key] = value
        elif key in training_names:
            train_kw[key] = value
        elif key in preset_names:
            preset_kw[key] = value
        else:
            known = sorted(system_names | training_names | preset_names)
            raise ValueError(f"unknown parameter {key!r}; known parameters: {', '.join(known)}")
    return replace(
        base,
        system=replace(base.system, **sys_kw),
        training=replace(base.training, **train_kw),
        **preset_kw,
    )
