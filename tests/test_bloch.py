"""Readout design (i): the per-AP Bloch-vector scorer (cfmimo.bloch)."""

import numpy as np
import pytest
from qiskit.quantum_info import Pauli, Statevector

from cfmimo import bloch, features, qnn
from cfmimo.config import SMOKE, with_overrides


def test_bloch_readout_is_the_bloch_vector_and_its_gradients_match():
    cfg = with_overrides(SMOKE, n_ap=3, n_user=2)
    model = bloch.BlochScorer(cfg)
    rng = np.random.default_rng(4)
    params = model.init(rng) + 0.2 * rng.normal(size=model.n_params)
    F = features.N_FEATURES
    x = rng.uniform(0, np.pi, (2 * cfg.system.n_user, cfg.system.n_ap * F))  # two channels, user rows
    s, ctx = model.scores(params, x)
    assert s.shape == x.shape[:1] + (cfg.system.n_ap,)
    # the Bloch vector of AP m from a Statevector of the circuit without basis change
    xb, r, _ = ctx
    qc = qnn.build_bloch_circuit(cfg, "z").remove_final_measurements(inplace=False)
    names = {p.name: p for p in qc.parameters}
    theta = params[: model.n_theta]
    values = {names[f"x[{i}]"]: v for i, v in enumerate(xb[1])} | {names[f"theta[{j}]"]: v for j, v in enumerate(theta) if f"theta[{j}]" in names}
    state = Statevector(qc.assign_parameters(values))
    for m in range(cfg.system.n_ap):
        for i, pauli in enumerate("XYZ"):
            label = ["I"] * cfg.system.n_ap
            label[cfg.system.n_ap - 1 - m] = pauli
            assert r[1, m, i] == pytest.approx(state.expectation_value(Pauli("".join(label))).real, abs=1e-10)
    cot = rng.normal(size=s.shape)
    grad = model.vjp(params, ctx, cot)
    eps = 1e-6
    for j in list(range(0, model.n_theta, 29)) + list(range(model.n_theta, model.n_params)):
        e = np.zeros_like(params)
        e[j] = eps
        fd = ((model.scores(params + e, x)[0] - model.scores(params - e, x)[0]) * cot).sum() / (2 * eps)
        assert grad[j] == pytest.approx(fd, abs=1e-6)
    with pytest.raises(ValueError, match="basis"):
        qnn.build_bloch_circuit(cfg, "w")


def test_bloch_weights_round_trip_and_refuse_another_config(tmp_path):
    cfg = with_overrides(SMOKE, n_ap=3, n_user=2, n_data=4, n_epoch=2)
    path = bloch.commit_bloch(cfg, tmp_path)
    assert path == bloch.bloch_weights_path(cfg, tmp_path)
    model, weights, from_file = bloch.trained_bloch(cfg, weights_dir=tmp_path)
    assert from_file and weights.shape == (model.n_params,)
    np.testing.assert_array_equal(weights, bloch.train_bloch(cfg)[1].weights)  # deterministic
    other = with_overrides(cfg, csi_error=0.3)
    path.rename(bloch.bloch_weights_path(other, tmp_path))
    with pytest.raises(ValueError, match="not the Bloch-readout weights"):
        bloch.trained_bloch(other, weights_dir=tmp_path)
