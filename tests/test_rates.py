"""Rates against an independent, loop-based implementation of Eq. (3)-(12)."""

import math

import numpy as np
import pytest

from cfmimo import channel, rates
from cfmimo.config import PAPER


def reference_rates(H, H_hat, a, rho, mu, penalty):
    """Eq. (4) written out with loops, one sample."""
    n_ap, n_user, _ = H.shape
    v = [H_hat[m, a[m]].conj() / np.linalg.norm(H_hat[m, a[m]]) for m in range(n_ap)]
    out = []
    for k in range(n_user):
        serving = [m for m in range(n_ap) if a[m] == k]
        if not serving:
            out.append(-penalty)
            continue
        sig = sum(rho * abs(H[m, k] @ v[m]) ** 2 for m in serving)
        intf = sum(mu * abs(H[n, k] @ v[n]) ** 2 for n in range(n_ap) if n not in serving)
        out.append(math.log2(1 + sig / (rho * intf + 1)))
    return np.array(out)


def reference_capacity(H_hat, rho):
    total = 0.0
    for Hm in H_hat:  # (K, T)
        mat = Hm.T @ Hm.conj()  # sum_k h h^H, (T, T)
        lam = np.linalg.eigvalsh(mat)
        total += sum(math.log2(1 + l * rho / Hm.shape[1]) for l in lam)
    return total


@pytest.fixture(scope="module")
def sample():
    rng = np.random.default_rng(5)
    H, H_hat = channel.sample_channels(PAPER.system, 30, rng)
    a = rng.integers(0, 3, size=(30, 4))
    return H, H_hat, a


def test_user_rates_match_reference(sample):
    H, H_hat, a = sample
    got = rates.user_rates(H, H_hat, a, 3.7, 0.1, penalty=10.0)
    want = np.array([reference_rates(H[i], H_hat[i], a[i], 3.7, 0.1, 10.0) for i in range(len(a))])
    assert got.shape == (30, 3)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    assert np.any(want == -10.0)  # the sample includes unserved users


def test_ideal_capacity_and_losses_match_reference(sample):
    H, H_hat, a = sample
    cap = rates.ideal_capacity(H_hat, 10.0)
    want_cap = np.array([reference_capacity(h, 10.0) for h in H_hat])
    np.testing.assert_allclose(cap, want_cap, rtol=1e-9)
    mins = np.array([reference_rates(H_hat[i], H_hat[i], a[i], 10.0, 0.1, 10.0).min() for i in range(len(a))])
    np.testing.assert_allclose(rates.reward(H_hat, H_hat, a, 10.0, 0.1), -mins, rtol=1e-9, atol=1e-12)
    # Eq. 11: (Q - Phi)^2 with Q = -min R, Phi = -C
    np.testing.assert_allclose(rates.loss(H_hat, H_hat, a, 10.0, 0.1), (-mins + want_cap) ** 2, rtol=1e-9)
    np.testing.assert_allclose(
        rates.normalized_loss(H_hat, H_hat, a, 10.0, 0.1), ((-mins + want_cap) / -want_cap) ** 2, rtol=1e-9
    )


def test_one_ap_one_user_closed_form():
    h = np.array([[[1 + 2j, -0.5j]]])  # (1, 1, 2)
    e = np.array([[[0.1, 0.2 + 0.1j]]])
    h_hat = h + e
    rho = 5.0
    gain = abs(h[0, 0] @ h_hat[0, 0].conj()) ** 2 / np.linalg.norm(h_hat[0, 0]) ** 2
    got = rates.user_rates(h, h_hat, np.array([0]), rho, 0.3)
    assert got.shape == (1,)
    assert got[0] == pytest.approx(math.log2(1 + rho * gain), rel=1e-12)
    # perfect CSI: MR gain is ||h||^2
    perfect = rates.user_rates(h, h, np.array([0]), rho, 0.3)
    assert perfect[0] == pytest.approx(math.log2(1 + rho * np.linalg.norm(h) ** 2), rel=1e-12)
    # ideal capacity with one user, N_tx = 2: the only non-zero eigenvalue is ||h||^2
    assert rates.ideal_capacity(h, rho) == pytest.approx(math.log2(1 + np.linalg.norm(h) ** 2 * rho / 2))


def test_unserved_user_gets_penalty():
    H, H_hat = channel.sample_channels(PAPER.system, 1, 0)
    r = rates.user_rates(H, H_hat, np.array([[0, 0, 1, 1]]), 10.0, 0.1, penalty=7.5)
    assert r[0, 2] == -7.5 and r[0, 0] > 0 and r[0, 1] > 0
    assert rates.sum_rate(H, H_hat, np.array([[0, 0, 1, 1]]), 10.0, 0.1, penalty=0.0)[0] == pytest.approx(r[0, :2].sum())


def test_permuting_users_permutes_rates(sample):
    H, H_hat, a = sample
    perm = np.array([2, 0, 1])
    inverse = np.argsort(perm)
    base = rates.user_rates(H, H_hat, a, 2.0, 0.1)
    permuted = rates.user_rates(H[:, :, perm], H_hat[:, :, perm], inverse[a], 2.0, 0.1)
    np.testing.assert_allclose(permuted, base[:, perm], rtol=1e-12)


def test_batch_of_candidates_and_rho_broadcast(sample):
    H, H_hat, _ = sample
    cands = np.array([[0, 1, 2, 0], [1, 1, 2, 0], [2, 2, 2, 2]])
    got = rates.user_rates(H[:, None], H_hat[:, None], cands, 4.0, 0.1)
    assert got.shape == (30, 3, 3)
    for c in range(3):
        np.testing.assert_array_equal(got[:, c], rates.user_rates(H, H_hat, cands[c], 4.0, 0.1))
    rho = np.array([1.0, 10.0])
    two = rates.user_rates(H[None], H_hat[None], cands[0], rho[:, None], 0.1)
    np.testing.assert_allclose(two[1], rates.user_rates(H, H_hat, cands[0], 10.0, 0.1), rtol=1e-12)
    gains = rates.gain_matrix(H, H_hat)
    np.testing.assert_array_equal(rates.rates_from_gains(gains, cands[1], 4.0, 0.1), got[:, 1])


def test_more_snr_more_rate(sample):
    H, H_hat, a = sample
    lo = rates.user_rates(H, H_hat, a, 1.0, 0.1)
    hi = rates.user_rates(H, H_hat, a, 100.0, 0.1)
    served = lo > -10
    assert np.all(hi[served] > lo[served])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"H": np.ones((4, 3))}, "H must have shape"),
        ({"H": np.full((1, 4, 3, 2), np.nan + 0j)}, "H contains NaN or inf"),
        ({"H_hat": np.ones((1, 4, 2, 2))}, "same \\(n_ap, n_user, n_tx\\)"),
        ({"a": np.array([0, 1, 2, 3])}, "user index 3 out of range; allowed: \\[0, 2\\]"),
        ({"a": np.array([0, 1, 2])}, "a must have shape \\(..., n_ap=4\\)"),
        ({"a": np.array([0.5, 1, 2, 0])}, "a must be an integer array"),
        ({"rho": -1.0}, "rho = -1.0 is out of range; allowed: >= 0"),
        ({"rho": np.inf}, "rho = inf must be finite"),
        ({"mu": 2.0}, "mu = 2.0 is out of range"),
        ({"penalty": -1.0}, "penalty = -1.0 is out of range"),
    ],
)
def test_bad_input_raises_clear_value_error(kwargs, match):
    H, H_hat = channel.sample_channels(PAPER.system, 1, 0)
    args = {"H": H, "H_hat": H_hat, "a": np.array([0, 1, 2, 0]), "rho": 1.0, "mu": 0.1, "penalty": 10.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        rates.user_rates(**args)


def test_normalized_loss_undefined_at_zero_snr():
    H, H_hat = channel.sample_channels(PAPER.system, 1, 0)
    with pytest.raises(ValueError, match="rho > 0"):
        rates.normalized_loss(H, H_hat, np.array([0, 1, 2, 0]), 0.0, 0.1)


def test_serves_every_user():
    a = np.array([[0, 1, 2, 0], [0, 0, 1, 1], [2, 2, 2, 2]])
    np.testing.assert_array_equal(rates.serves_every_user(a, 3), [True, False, False])
    assert rates.serves_every_user(np.array([0, 1]), 2).shape == ()
