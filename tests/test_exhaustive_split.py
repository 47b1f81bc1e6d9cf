"""The split-and-prune exhaustive search returns the choices of the plain searches."""

import numpy as np
import pytest

from cfmimo import baselines, channel
from cfmimo.config import SystemConfig


def plain_choice(H_hat, rho, mu, H=None):
    """The argmax (first of equals) of the full candidate table: the plain search."""
    n_ap, n_user = H_hat.shape[-3:-1]
    table = baselines.candidate_min_rates(H_hat, rho, mu, H=H)
    return baselines.all_assignments(n_ap, n_user)[table.argmax(axis=-1)]


def test_split_search_equals_the_loop_reference(monkeypatch):
    _, H_hat = channel.sample_channels(SystemConfig(n_ap=4, n_user=3), 40, rng=21)
    monkeypatch.setattr(baselines, "_SPLIT_MIN_CANDIDATES", 1)  # force the split search at 4 x 3
    np.testing.assert_array_equal(baselines.exhaustive(H_hat, 10.0, 0.3), baselines.exhaustive_loop(H_hat, 10.0, 0.3))


@pytest.mark.parametrize("n_ap,n_user,n,mu,snr", [(6, 4, 40, 0.5, 10.0), (8, 4, 6, 0.1, 1.0), (12, 2, 20, 0.9, 100.0)])
def test_split_search_equals_the_plain_search(n_ap, n_user, n, mu, snr):
    H, H_hat = channel.sample_channels(SystemConfig(n_ap=n_ap, n_user=n_user), n, rng=n_ap)
    np.testing.assert_array_equal(baselines.exhaustive(H_hat, snr, mu), plain_choice(H_hat, snr, mu))
    # the oracle scores on the true channel with precoders from the estimate
    np.testing.assert_array_equal(baselines.exhaustive(H_hat, snr, mu, H=H), plain_choice(H_hat, snr, mu, H=H))


def test_split_search_breaks_ties_like_the_plain_search():
    """Two identical users make every assignment tie with its mirror image: the first in
    lexicographic order wins, as in the plain search."""
    _, H_hat = channel.sample_channels(SystemConfig(n_ap=6, n_user=4), 10, rng=3)
    H_hat[..., 1, :] = H_hat[..., 0, :]
    np.testing.assert_array_equal(baselines.exhaustive(H_hat, 10.0, 0.5), plain_choice(H_hat, 10.0, 0.5))
    # all-zero channels: every covering assignment has rate 0
    zero = np.zeros((2, 6, 4, 2), dtype=complex)
    np.testing.assert_array_equal(baselines.exhaustive(zero, 10.0, 0.5), plain_choice(zero, 10.0, 0.5))
