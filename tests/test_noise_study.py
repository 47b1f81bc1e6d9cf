"""Tests of cfmimo.noise_study: distances to the decoding boundary and the decision
study of notebook 06 (small sizes; the notebook runs the real ones)."""

import math

import numpy as np
import pytest
from circuit_reference import exact_probabilities

from cfmimo import engine, execution, noise_study, qnn, tables
from cfmimo.channel import sample_channels
from cfmimo.config import PAPER, SMOKE, db_to_linear
from cfmimo.evaluate import score_policy

def test_many_shots_decisions_agree_except_near_a_boundary():
    """Noiseless, 10^4 shots: a decision differs from the exact one only where the
    exact output lies within sampling error of a decoding boundary."""
    rng = np.random.default_rng(12)
    x = rng.uniform(0, np.pi, (40, 12))
    for variant in ("paper", "reupload"):
        theta = qnn.init_weights(PAPER, variant, rng)
        shots = 10_000
        probs = execution.backend_probabilities(PAPER, variant, x, theta, shots, 4, noise=False)
        exact = exact_probabilities(qnn.build_circuit(PAPER, variant), x, theta)
        sampled = qnn.decide_from_probabilities(PAPER, variant, probs)
        truth = qnn.decide_from_probabilities(PAPER, variant, exact)
        differ = np.any(sampled != truth, axis=-1)
        z = noise_study.boundary_z(PAPER, variant, exact, shots)
        assert np.all(z[differ] < 4.0), (variant, z[differ])
        assert np.mean(differ) < 0.5


def _product_distribution(marginals):
    """P(bitstring) for independent bits with P(bit j = 1) = marginals[j]."""
    n = len(marginals)
    probs = np.ones(2**n)
    for i in range(2**n):
        for j, o in enumerate(marginals):
            probs[i] *= o if (i >> j) & 1 else 1 - o
    return probs


def test_boundary_z_paper_closed_form():
    shots = 1000
    o = [0.30, 0.5, 0.9, 0.64]  # boundaries at 1/3 and 2/3
    z = noise_study.boundary_z(PAPER, "paper", _product_distribution(o), shots)
    per_ap = [abs(v - min((1 / 3, 2 / 3), key=lambda e: abs(v - e))) / math.sqrt(v * (1 - v) / shots) for v in o]
    assert z == pytest.approx(min(per_ap))
    # deterministic outputs cannot flip
    assert noise_study.boundary_z(PAPER, "paper", _product_distribution([0, 1, 0, 1]), shots) == np.inf


def test_boundary_z_reupload_closed_form():
    cand = qnn.candidate_assignments(4, 3)
    covering = [i for i, a in enumerate(cand) if set(a) == {0, 1, 2}]
    n_clbits = qnn.n_clbits(PAPER, "reupload")
    probs = np.zeros(2**n_clbits)

    def index(a):  # AP m's user code in bits 2m, 2m+1
        return sum(int(u) << (2 * m) for m, u in enumerate(a))

    p1, p2 = 0.40, 0.35
    probs[index(cand[covering[0]])] = p1
    probs[index(cand[covering[1]])] = p2
    probs[index((0, 0, 0, 0))] = 0.25  # not serving every user: ignored by the decoder
    shots = 500
    z = noise_study.boundary_z(PAPER, "reupload", probs, shots)
    assert z == pytest.approx((p1 - p2) / math.sqrt((p1 + p2 - (p1 - p2) ** 2) / shots))


# ---------------------------------------------------------------------------------------
# the decision study and its table
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def study():
    H, H_hat = sample_channels(SMOKE.system, 12, 3)
    rho, mu = db_to_linear(SMOKE.training.train_snr_db), SMOKE.system.interference_factor
    weights = qnn.init_weights(SMOKE, "reupload", 4)
    runs = [("exact", None), ("noiseless", 10_000), ("noiseless", 10)]
    rows = noise_study.decision_study(SMOKE, "reupload", weights, H, H_hat, rho, mu, runs, rng=5)
    return rows, (H, H_hat, rho, mu, weights, runs)


def test_decision_study_rows(study):
    rows, (H, H_hat, rho, mu, weights, runs) = study
    assert [(r["path"], r["shots"]) for r in rows] == [("exact", None), ("noiseless", 10_000), ("noiseless", 10)]
    assert rows[0]["backend"] is None and rows[1]["backend"] == "fake_melbourne"
    # the exact row scores the exact engine's decisions, computed here independently
    x = qnn.get_variant("reupload").inputs(SMOKE, H_hat)
    a = qnn.decide_from_probabilities(SMOKE, "reupload", engine.exact_probabilities(SMOKE, "reupload", x, weights))
    assert rows[0]["min_rate"] == pytest.approx(score_policy("exact", a, H, H_hat, rho, mu).min_rate)
    for r in rows:
        assert r["n"] == 12 and 0 <= r["disagree_near"] <= min(r["disagree"], r["near_boundary"])
        assert r["share_optimal_low"] <= r["share_optimal"] <= r["share_optimal_high"]
    # with 10^4 shots a decision flips only near a boundary
    assert rows[1]["disagree"] == rows[1]["disagree_near"]
    # 10 shots put more channels near a boundary than 10^4 do
    assert rows[2]["near_boundary"] >= rows[1]["near_boundary"]


def test_decision_study_is_seeded(study):
    rows, (H, H_hat, rho, mu, weights, runs) = study
    again = noise_study.decision_study(SMOKE, "reupload", weights, H, H_hat, rho, mu, runs[1:], rng=5)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in rows[1:]]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in again] == strip
    with pytest.raises(ValueError, match="run path = 'quantum' is unknown"):
        noise_study.decision_study(SMOKE, "reupload", weights, H, H_hat, rho, mu, [("quantum", 10)])


def test_study_table(study):
    rows, _ = study
    text = noise_study.study_table(rows)
    lines = text.splitlines()
    assert len(lines) == len(rows) + 2 and lines[1] == "|" + "---|" * 10
    assert all(line.count("|") == 11 for line in lines)
    cells = [c.strip() for c in lines[3].strip("|").split("|")]
    assert cells[:4] == ["reupload", "noiseless", "10^4", "12"]
    assert cells[4] == f"{rows[1]['min_rate']:.3f} ± {rows[1]['min_rate_ci']:.3f}"
    assert [c.strip() for c in lines[2].split("|")][3] == "exact"
    assert [c.strip() for c in lines[4].split("|")][3] == "10"
    timing = noise_study.study_table(rows, timing=True).splitlines()
    assert timing[1] == "|" + "---|" * 6 and len(timing) == len(rows) + 2
    assert [c.strip() for c in timing[3].split("|")][4] == "fake_melbourne"


def test_markdown_table():
    text = tables.markdown_table(["a", "b|c"], [(1, "x|y"), ("2\n3", 4.5)])
    assert text.splitlines() == ["| a | b\\|c |", "|---|---|", "| 1 | x\\|y |", "| 2 3 | 4.5 |"]
    with pytest.raises(ValueError, match="row 0 has 1 cells; the header has 2"):
        tables.markdown_table(["a", "b"], [(1,)])
    with pytest.raises(ValueError, match="header"):
        tables.markdown_table([], [])
