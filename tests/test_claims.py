"""Tests of cfmimo.claims: each claim checked against hand counts, plain loops or Qiskit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector

from cfmimo import claims, qnn, readings
from cfmimo.baselines import all_assignments
from cfmimo.channel import sample_channels
from cfmimo.config import SMOKE, with_overrides
from cfmimo.rates import loss, user_rates


@pytest.fixture(scope="module")
def channels():
    return sample_channels(SMOKE.system, 8, rng=11)



def test_constant_policy_table(channels):
    H, H_hat = channels
    rho_grid = np.array([1.0, 10.0, 100.0])
    table = claims.constant_policy_table(H, H_hat, rho_grid, 10.0, 0.1, 10.0)
    cand = all_assignments(4, 3)
    assert table["sum_rate"].shape == (3, 81) and table["loss"].shape == (81,)
    for j in (0, 20, 77):
        want = user_rates(H, H_hat, cand[j], 100.0, 0.1, 0.0).sum(axis=-1).mean()
        assert table["sum_rate"][2, j] == pytest.approx(want)
        assert table["loss"][j] == pytest.approx(loss(H_hat, H_hat, cand[j], 10.0, 0.1, 10.0).mean())
    assert np.all(np.diff(table["sum_rate"], axis=0) > 0)  # more SNR, more rate, whatever the policy


# ------------------------------------------------------------------- footnote 5


def test_floor_decoder_dead_share_by_hand():
    o = np.array([0.0, 0.2, 0.4, 1.0])  # floors with 3 users: 0, 0, 1, 3
    assert claims.floor_decoder_dead_share(o, 3, first_user=1) == pytest.approx(0.5)
    assert claims.floor_decoder_dead_share(o, 3, first_user=0) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="first_user"):
        claims.floor_decoder_dead_share(o, 3, first_user=2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        claims.floor_decoder_dead_share(np.array([1.5]), 3, first_user=1)


# ------------------------------------------------------------- Lemma 2, one qubit


# ------------------------------------------------------------------------ settings


def test_settings_not_given_excludes_what_the_paper_states():
    chosen = claims.settings_not_given()
    assert "n_neuron" not in chosen  # N_neuron = N_AP, next to Eq. (21)
    assert "distance_floor" not in chosen  # exists only because of the book's truncation
    assert {"n_layer", "n_path", "pathloss_exponent", "csi_error", "n_data"} <= set(chosen)
    assert not set(chosen) & set(claims.PAPER_SETTINGS)
    assert len(claims.STRUCTURAL_CHOICES) == len({c[0] for c in claims.STRUCTURAL_CHOICES})


# ------------------------------------------------------------------ small claims


def test_eq2_index_set_has_one_element_too_few():
    np.testing.assert_array_equal(claims.eq2_index_set(2), [0.5])
    np.testing.assert_array_equal(claims.eq2_index_set(4), [-0.5, 0.5, 1.5])
    assert claims.eq2_index_set(1).size == 0


def test_negative_distance_fraction():
    exact = claims.negative_distance_fraction(0.1, 0.1)
    assert exact == pytest.approx(0.5 * math.erfc(0.1 / math.sqrt(0.1) / math.sqrt(2)))
    mc = claims.negative_distance_fraction(0.1, 0.1, n_samples=200_000, rng=1)
    assert mc == pytest.approx(exact, abs=0.005)
    assert mc == claims.negative_distance_fraction(0.1, 0.1, n_samples=200_000, rng=1)
    with pytest.raises(ValueError, match="distance_variance"):
        claims.negative_distance_fraction(0.1, 0.0)
    with pytest.raises(ValueError, match="n_samples"):
        claims.negative_distance_fraction(0.1, 0.1, n_samples=-1)


def test_lemma1_paper_counts_by_hand():
    c = claims.lemma1_paper_counts(2, 4, 4)
    assert c["lemma1_connect"] == 1 + 3 + 8
    assert c["lemma1_total"] == 16
    assert c["eq13_qubits"] == 8
    assert (c["eq15_cz"], c["eq15_cx"], c["eq15_ry"]) == (3, 1, 8)
    with pytest.raises(ValueError, match="n_layer"):
        claims.lemma1_paper_counts(0, 4, 4)


def test_circuit_resources_of_hand_circuit():
    x, th = ParameterVector("x", 2), ParameterVector("theta", 3)
    qc = QuantumCircuit(2, 1)
    qc.h([0, 1])
    qc.rz(x[0], 0)
    qc.rz(x[1], 1)
    qc.ry(th[0], 0)
    qc.ry(th[1], 1)
    qc.cz(0, 1)
    qc.ry(th[2], 1)
    qc.measure(1, 0)
    res = claims.circuit_resources(qc)
    assert (res["qubits"], res["clbits"], res["n_x"], res["n_theta"], res["two_qubit"]) == (2, 1, 2, 3, 1)
    assert res["ops"]["ry"] == 3 and res["ops"]["h"] == 2



def test_lemma1_table_against_hand_counts(paper_cfg):
    rows = claims.lemma1_table(paper_cfg, "paper", n_layers=(1, 2, 3), n_aps=(2, 4))
    assert len(rows) == 6
    for r in rows:
        L, N = r["n_layer"], r["n_ap"]
        assert r["built_qubits"] == L * N  # Eq. (13): |0>^{N_layer x N_neuron}
        assert r["built_ry"] == L * N and r["built_cx"] == L - 1 and r["built_cz"] == (L - 1) * (N - 1)
        assert r["lemma1_total"] == (L - 1) + (N - 1) + L * N + N


def test_input_sensitivity_pattern(paper_cfg):
    """Paper: only o_0 depends on x, only on the last AP's angles (equally, as they add);
    reupload: every readout depends on every input."""
    s = claims.input_sensitivity(paper_cfg, "paper", n_samples=8)
    assert s.shape == (4, 12)
    assert np.all(s[0, 9:] > 1e-3)
    np.testing.assert_allclose(s[0, 9:], s[0, 9], rtol=1e-6)
    mask = np.ones_like(s, dtype=bool)
    mask[0, 9:] = False
    assert np.all(s[mask] < 1e-9)
    r = claims.input_sensitivity(paper_cfg, "reupload", n_samples=8)
    assert r.shape == (12, 12) and np.all(r > 1e-4)


def test_input_sensitivity_one_layer_reads_each_ap_own_qubit(paper_cfg):
    # one layer, no CZ or CX: o_m is AP m's encoded qubit, so it sees AP m's angles only
    s = claims.input_sensitivity(with_overrides(paper_cfg, n_layer=1), "paper", n_samples=8, rng=1)
    for m in range(4):
        assert np.all(s[m, 3 * m : 3 * m + 3] > 1e-3)
        assert np.all(np.delete(s[m], np.s_[3 * m : 3 * m + 3]) < 1e-9)
    with pytest.raises(ValueError, match="eps"):
        claims.input_sensitivity(paper_cfg, "paper", eps=0.0)


def test_encoding_invariance_and_jacobian(paper_cfg):
    rng = np.random.default_rng(3)
    x = rng.uniform(0, np.pi, (20, 12))
    theta = rng.uniform(0, 2 * np.pi, (20, 8))
    inv = claims.encoding_invariance(paper_cfg, x, theta)
    assert inv["sum"] < 1e-12 and inv["sign"] < 1e-12 and inv["roll_aps"] > 1e-2
    jac = readings.output_jacobian(paper_cfg, x[:3], theta[:3])
    assert jac.shape == (3, 4, 12)
    # only o_0 depends on the input, through AP 3's angle sum: equal partials in x_9, x_11
    np.testing.assert_allclose(jac[:, 0, 9], jac[:, 0, 11], atol=1e-8)
    assert np.all(np.abs(jac[:, 1:, :]) < 1e-9) and np.all(np.abs(jac[:, 0, :9]) < 1e-9)


# ------------------------------------------------- claims 1 and 2 under every reading


def test_input_dependence_counts_derived_by_hand():
    cfg = SMOKE  # 4 APs x 3 users
    x = np.random.default_rng(1).uniform(0, np.pi, (12, qnn.n_inputs(cfg)))
    rows = claims.input_dependence_table(cfg, x, n_theta=3, rng=2)
    got = {(r["n_layer"], r["cx_direction"], r["readout"]): r["n_dependent"] for r in rows}
    # N_layer = 1: the encoded qubits are read; forward CX at N_layer = 2: only the CX
    # target o_0 sees the last AP; backward CX: the measured control's Z is unchanged;
    # N_layer = 3 last layer: its CX control is a fresh |0> qubit; first layer: every AP.
    for d in readings.CX_DIRECTIONS:
        assert got[(1, d, "last")] == got[(1, d, "first")] == 4
        assert got[(2, d, "first")] == got[(3, d, "first")] == 4
        assert got[(3, d, "last")] == 0
    assert got[(2, "forward", "last")] == 1 and got[(2, "backward", "last")] == 0
    assert len(rows) == 12


def test_eq14_h_once_reading_sum_and_sign_invariant(cfg2, inputs):
    x, theta = inputs
    inv = claims.encoding_invariance(cfg2, x, theta[:, :2], encoding="h_once", n_layer=1)
    assert inv["sum"] < 1e-12 and inv["sign"] < 1e-12
    assert inv["roll_aps"] > 0.05


def test_eq14_pairs_reading_not_sum_invariant_but_sign_invariant(cfg2, inputs):
    x, theta = inputs
    inv = claims.encoding_invariance(cfg2, x, theta[:, :2], encoding="pairs", n_layer=1)
    assert inv["sum"] > 0.05  # H R_Z(b) H = R_X(b): the angles no longer add
    assert inv["sign"] < 1e-12  # every other gate is real: conjugate state, same probabilities
    assert inv["roll_aps"] > 0.05


@pytest.mark.parametrize(("encoding", "per_ap"), [("h_once", 1), ("pairs", 2)])
def test_jacobian_rank_both_readings(cfg2, inputs, encoding, per_ap):
    x, theta = inputs
    ranks = claims.jacobian_ranks(cfg2, x[:3], theta[:4, :2], encoding=encoding, n_layer=1)
    assert ranks["per_draw"] == 2  # one row per output
    assert ranks["over_weights"] == per_ap * 2  # cos(phi) per AP, or the Bloch x and z per AP
