"""Bad input anywhere in the public API: a ValueError or TypeError that names the parameter.

One table of cases across the modules; each case is a call, the exception type(s) allowed
and a pattern that must appear in the message (the parameter's name, often with the
allowed range).
"""

import json
from dataclasses import replace

import nbformat
import numpy as np
import pytest

from cfmimo import backends, baselines, channel, circuit_io, config, engine, execution, noise_study, qnn, rates, sweep, train, weights
from cfmimo.config import SMOKE, SystemConfig, TrainingConfig, with_overrides

SYSTEM = SMOKE.system
H, H_HAT = channel.sample_channels(SYSTEM, 5, 0)
X = qnn.encode_angles(H_HAT)
W = np.zeros(qnn.n_weights(SMOKE, "paper"))
A = np.array([0, 1, 2, 0])
GAINS = rates.gain_matrix(H, H_HAT)
BOTH = (ValueError, TypeError)


def _notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell('preset = "smoke"\noverrides = {}')
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return path


def _spec(tmp_path, **grid):
    return sweep.load_spec(notebook=str(_notebook(tmp_path)), output=str(tmp_path / "out"), grid=grid)


def _never_called(*args):
    raise AssertionError("a point ran although the sweep was invalid")


def _grid_file(tmp_path, text, name="g.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


CASES = {
    # config
    "config-snr_db-scalar": (lambda t: SystemConfig(snr_db=10.0), ValueError, r"snr_db must be a non-empty sequence"),
    "config-snr_db-string": (lambda t: SystemConfig(snr_db="0,10"), ValueError, "snr_db"),
    "config-n_ap-zero": (lambda t: SystemConfig(n_ap=0), ValueError, r"n_ap = 0 is out of range; allowed: \[1, 16\]"),
    "config-n_user-float": (lambda t: SystemConfig(n_user=2.5), ValueError, "n_user must be an integer"),
    "config-csi_error-nan": (lambda t: SystemConfig(csi_error=float("nan")), ValueError, "csi_error = nan must be finite"),
    "config-mu-range": (lambda t: SystemConfig(interference_factor=1.5), ValueError, "interference_factor = 1.5 is out of range"),
    "config-n_epoch-zero": (lambda t: TrainingConfig(n_epoch=0), ValueError, "n_epoch = 0"),
    "config-seed-negative": (lambda t: TrainingConfig(seed=np.int64(-1)), ValueError, "seed = -1"),
    "config-distance_means-scalar": (lambda t: config.Preset(name="x", distance_means=0.5), ValueError, "distance_means"),
    "config-name": (lambda t: config.Preset(name=3), ValueError, "name must be a non-empty string"),
    "config-preset-unknown": (lambda t: config.preset("huge"), ValueError, "preset = 'huge' is unknown"),
    "config-override-unknown": (lambda t: with_overrides(SMOKE, n_aps=3), ValueError, "unknown parameter 'n_aps'"),
    # channel
    "channel-system-none": (lambda t: channel.sample_channels(None, 3), TypeError, "system must be a cfmimo.config.SystemConfig"),
    "channel-rng-string": (lambda t: channel.sample_channels(SYSTEM, 3, "abc"), TypeError, "rng must be None, an int seed"),
    "channel-rng-negative": (lambda t: channel.sample_channels(SYSTEM, 3, -1), ValueError, "rng = -1 is out of range"),
    "channel-n_samples-zero": (lambda t: channel.sample_channels(SYSTEM, 0), ValueError, "n_samples = 0"),
    "channel-distance-shape": (lambda t: channel.channels_at_distances(SYSTEM, np.ones((2, 3, 3))), ValueError, r"distance must have shape \(\.\.\., n_ap=4"),
    "channel-distance-negative": (lambda t: channel.channels_at_distances(SYSTEM, -np.ones((1, 4, 3))), ValueError, "distance must be finite and > 0"),
    "channel-distance_mean": (lambda t: channel.sample_channels(SYSTEM, 3, 0, distance_mean=-1.0), ValueError, "distance_mean = -1.0"),
    "channel-shape": (lambda t: channel.sample_distances(SYSTEM, (2, -1)), ValueError, r"shape\[1\] = -1"),
    # rates
    "rates-batch-a": (lambda t: rates.user_rates(H, H_HAT, np.zeros((3, 4), int), 1.0, 0.1), ValueError, r"batch shapes do not broadcast: H \(5,\).*a \(3,\)"),
    "rates-batch-rho": (lambda t: rates.user_rates(H, H_HAT, A, np.ones(3), 0.1), ValueError, r"batch shapes do not broadcast.*rho \(3,\)"),
    "rates-batch-gains": (lambda t: rates.rates_from_gains(GAINS, np.zeros((2, 4), int), 1.0, 0.1), ValueError, r"gains \(5,\), a \(2,\)"),
    "rates-capacity-rho": (lambda t: rates.ideal_capacity(H_HAT, np.ones(4)), ValueError, r"H_hat \(5,\), rho \(4,\)"),
    "rates-gains-nan": (lambda t: rates.rates_from_gains(np.full((4, 3, 3), np.nan), A, 1.0, 0.1), ValueError, "gains contains NaN"),
    "rates-gains-negative": (lambda t: rates.rates_from_gains(-np.ones((4, 3, 3)), A, 1.0, 0.1), ValueError, "gains has negative entries"),
    "rates-a-range": (lambda t: rates.user_rates(H, H_HAT, [0, 1, 3, 0], 1.0, 0.1), ValueError, r"a has user index 3 out of range; allowed: \[0, 2\]"),
    "rates-a-length": (lambda t: rates.user_rates(H, H_HAT, [0, 1, 2], 1.0, 0.1), ValueError, r"a must have shape \(\.\.\., n_ap=4\)"),
    "rates-rho-negative": (lambda t: rates.min_rate(H, H_HAT, A, -1.0, 0.1), ValueError, "rho = -1.0 is out of range"),
    "rates-mu-range": (lambda t: rates.min_rate(H, H_HAT, A, 1.0, 1.5), ValueError, r"mu = 1.5 is out of range; allowed: \[0.0, 1.0\]"),
    "rates-H-nan": (lambda t: rates.min_rate(np.full_like(H, np.nan), H_HAT, A, 1.0, 0.1), ValueError, "H contains NaN"),
    "rates-normalized-rho0": (lambda t: rates.normalized_loss(H, H_HAT, A, 0.0, 0.1), ValueError, "rho > 0"),
    # baselines
    "baselines-rho": (lambda t: baselines.exhaustive(H_HAT, -1.0, 0.1), ValueError, "rho = -1.0"),
    "baselines-penalty": (lambda t: baselines.exhaustive(H_HAT, 1.0, 0.1, penalty=-1), ValueError, "penalty = -1"),
    "baselines-H_hat-ndim": (lambda t: baselines.greedy(np.zeros((2, 4)), 1.0, 0.1), ValueError, "H_hat must have shape"),
    "baselines-H_hat-dtype": (lambda t: baselines.strongest_ap("abc"), ValueError, "H_hat must be a numeric array"),
    "baselines-n_ap": (lambda t: baselines.all_assignments(0, 3), ValueError, "n_ap = 0"),
    "baselines-H-shape": (lambda t: baselines.exhaustive(H_HAT, 1.0, 0.1, H=H[..., :1, :]), ValueError, "H and H_hat must have the same shape"),
    # qnn
    "qnn-variant": (lambda t: qnn.n_weights(SMOKE, "bogus"), ValueError, "variant = 'bogus' is unknown"),
    "qnn-config": (lambda t: qnn.build_circuit("smoke"), ValueError, "config must be a cfmimo.config.Preset"),
    "qnn-decode-range": (lambda t: qnn.decode_assignment(np.array([0.5, 1.5]), 3), ValueError, r"o has entries in \[0.5, 1.5\]"),
    "qnn-probs-shape": (lambda t: qnn.decide_from_probabilities(SMOKE, "paper", np.ones(3)), ValueError, r"probs must have shape"),
    # engine
    "engine-theta-shape": (lambda t: engine.exact_outputs(SMOKE, "paper", X, np.zeros(3)), ValueError, r"theta must have shape \(\.\.\., n_weights = 8\)"),
    "engine-x-shape": (lambda t: engine.exact_outputs(SMOKE, "paper", np.zeros((2, 5)), W), ValueError, r"x must have shape \(\.\.\., n_inputs = 12\)"),
    "engine-x-nan": (lambda t: engine.exact_probabilities(SMOKE, "paper", np.full_like(X, np.nan), W), ValueError, "x contains NaN"),
    "engine-variant": (lambda t: engine.exact_probabilities(SMOKE, "bogus", X, W), ValueError, "variant = 'bogus'"),
    # train and weight files
    "train-rng-string": (lambda t: train.train(SMOKE, "paper", rng="abc"), BOTH, "rng must be"),
    "train-rng-negative": (lambda t: train.train(SMOKE, "paper", rng=-1), ValueError, "rng = -1"),
    "train-method": (lambda t: train.train(SMOKE, "paper", method="bogus"), ValueError, "method = 'bogus' is unknown"),
    "train-init-shape": (lambda t: train.train(SMOKE, "paper", init=np.zeros(3)), ValueError, r"init must have shape \(n_weights = 8,\)"),
    "train-checkpoint-folder": (lambda t: train.train(SMOKE, "paper", checkpoint=t), ValueError, "checkpoint = .* is a folder"),
    "train-decide-chunk": (lambda t: train.decide(SMOKE, "paper", W, H_HAT, chunk=0), ValueError, "chunk = 0"),
    "train-seeds": (lambda t: train.train_seeds(SMOKE, "paper", seeds=[-1]), ValueError, "seeds must be non-negative"),
    "weights-load-missing": (lambda t: weights.load_weights(t / "none.npz"), ValueError, "path = .* is not a file"),
    "weights-load-empty": (lambda t: weights.load_weights(_grid_file(t, "", "w.npz")), ValueError, "path = .*w.npz"),
    "weights-load-type": (lambda t: weights.load_weights(3), TypeError, "path must be a str or path"),
    "weights-save-result": (lambda t: weights.save_weights(t / "w.npz", {"weights": 1}), ValueError, "result must be a TrainResult"),
    "weights-cache_dir": (lambda t: weights.cache_path(_grid_file(t, "x", "file"), SMOKE, "paper", "shift"), ValueError, "cache_dir = .* is not a folder"),
    "weights-cache_key-seed": (lambda t: weights.cache_key(SMOKE, "paper", "shift", seed=-3), ValueError, "seed = -3"),
    # sweep
    "sweep-yaml": (lambda t: sweep.load_spec(_grid_file(t, "grid: {a: [1\n")), ValueError, "grid file .* is not valid YAML"),
    "sweep-json": (lambda t: sweep.load_spec(_grid_file(t, "{", "g.json")), ValueError, "grid file .* is not valid JSON"),
    "sweep-grid-entry": (lambda t: sweep.load_spec(notebook=str(_notebook(t)), grid={"n_tx": 3}), ValueError, "grid entry 'n_tx' must be a non-empty list"),
    "sweep-preset-type": (lambda t: sweep.run_sweep(_spec(t, preset=["smoke", 1]), progress=False, execute=_never_called), ValueError, "preset = 1 must be a preset name"),
    "sweep-unknown-name": (lambda t: sweep.run_sweep(_spec(t, n_aps=[3]), progress=False, execute=_never_called), ValueError, "unknown parameter 'n_aps'"),
    "sweep-value-range": (lambda t: sweep.run_sweep(_spec(t, n_ap=[0]), progress=False, execute=_never_called), ValueError, "n_ap = 0 is out of range"),
    "sweep-base-type": (lambda t: sweep.load_spec(_grid_file(t, json.dumps({"notebook": str(_notebook(t)), "base": [1], "grid": {"a": [1]}}), "g.json")), ValueError, "base must be a mapping"),
    # IBM backends, execution, the noise study, circuit inputs and outputs
    "backends-name": (lambda t: backends.fake_backend_qubits("nope"), ValueError, "backend = 'nope' is not a known fake backend"),
    "backends-type": (lambda t: backends.get_backend(3), ValueError, "backend must be a backend name"),
    "backends-min_qubits": (lambda t: backends.fake_backend_names(-1), ValueError, "min_qubits = -1"),
    "execution-shots": (lambda t: execution.backend_decide(SMOKE, "paper", W, H_HAT, shots=0), ValueError, "shots = 0 is out of range"),
    "execution-optimization_level": (lambda t: execution.isa_circuit(qnn.build_circuit(SMOKE, "paper"), "fake_melbourne", optimization_level=7), ValueError, r"optimization_level = 7 is out of range; allowed: \[0, 3\]"),
    "noise_study-shots": (lambda t: noise_study.boundary_z(SMOKE, "paper", np.full(16, 1 / 16), 0), ValueError, "shots = 0 is out of range"),
    "circuit_io-x-shape": (lambda t: circuit_io.parameter_values(qnn.build_circuit(SMOKE, "paper"), np.zeros((2, 5)), W), ValueError, "x must have 12 entries"),
    "circuit_io-rng": (lambda t: circuit_io.simulator_seed(-1), ValueError, "rng = -1 is out of range"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_names_the_parameter(case, tmp_path):
    call, kind, match = CASES[case]
    with pytest.raises(kind, match=match):
        call(tmp_path)


def test_there_are_enough_cases_in_every_module():
    modules = {case.split("-")[0] for case in CASES}
    assert modules >= {"config", "channel", "rates", "baselines", "qnn", "engine", "train", "sweep", "backends", "execution"}
    assert len(CASES) >= 40


def test_numpy_numbers_are_accepted_and_normalised():
    cfg = replace(SYSTEM, n_ap=np.int64(3), distance_mean=np.float32(0.5), snr_db=np.array([0, 10]))
    assert (type(cfg.n_ap), type(cfg.distance_mean), cfg.snr_db) == (int, float, (0.0, 10.0))
