import numpy as np
import pytest
from dataclasses import replace

from cfmimo import channel
from cfmimo.config import PAPER

SYSTEM = PAPER.system


def test_shapes_and_dtype():
    H, H_hat = channel.sample_channels(SYSTEM, 5, rng=0)
    assert H.shape == H_hat.shape == (5, 4, 3, 2)
    assert H.dtype == np.complex128


def test_same_seed_bit_identical_and_different_seed_differs():
    a = channel.sample_channels(SYSTEM, 7, rng=123)
    b = channel.sample_channels(SYSTEM, 7, rng=np.random.default_rng(123))
    c = channel.sample_channels(SYSTEM, 7, rng=124)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_distances_truncated_not_clipped():
    d = channel.sample_distances(SYSTEM, (20000,), rng=1, distance_mean=0.1)
    assert d.min() >= SYSTEM.distance_floor
    # truncation: no point mass at the floor (clipping would put ~44% there)
    assert np.mean(d == SYSTEM.distance_floor) < 1e-3
    # mean of a normal truncated at a is mu + sigma * phi(alpha) / (1 - Phi(alpha))
    from scipy.stats import norm

    sigma = np.sqrt(SYSTEM.distance_variance)
    alpha = (SYSTEM.distance_floor - 0.1) / sigma
    expected = 0.1 + sigma * norm.pdf(alpha) / norm.sf(alpha)
    assert abs(d.mean() - expected) < 4 * d.std() / np.sqrt(d.size)


def test_channel_power_follows_pathloss_and_csi_error():
    system = replace(SYSTEM, distance_variance=0.0)  # every distance = mean
    H, H_hat = channel.sample_channels(system, 20000, rng=2)
    path_gain = system.distance_mean ** (-system.pathloss_exponent)
    power = np.mean(np.abs(H) ** 2) / path_gain  # E|h_j|^2 / d^-kappa = 1
    err = np.mean(np.abs(H_hat - H) ** 2) / path_gain
    assert abs(power - 1.0) < 0.03
    assert abs(err - system.csi_error) < 0.003


def test_steering_vector_index_set_has_n_tx_entries():
    z = channel.antenna_positions(4)
    assert np.allclose(z, [-1.5, -0.5, 0.5, 1.5])
    a = channel.steering_vectors(np.array([0.0, 0.25]), 4)
    assert a.shape == (2, 4)
    assert np.allclose(a[0], 1.0)
    assert np.allclose(np.abs(a), 1.0)
    assert np.allclose(a[1], np.exp(-2j * np.pi * 0.25 * z))


def test_bad_inputs():
    with pytest.raises(ValueError, match="n_samples = 0"):
        channel.sample_channels(SYSTEM, 0)
    with pytest.raises(ValueError, match="distance must have shape"):
        channel.channels_at_distances(SYSTEM, np.ones((2, 3, 3)))
    with pytest.raises(ValueError, match="distance must be finite and > 0"):
        channel.channels_at_distances(SYSTEM, -np.ones((1, 4, 3)))
