import numpy as np
import pytest
from scipy import stats

from cfmimo.stats import mc_estimate, mean_ci, proportion_ci


def test_mean_ci_matches_t_interval():
    x = np.array([1.0, 2.0, 4.0, 7.0])
    mean, half = mean_ci(x)
    low, high = stats.t.interval(0.95, 3, loc=x.mean(), scale=stats.sem(x))
    assert mean == pytest.approx(x.mean())
    assert half == pytest.approx((high - low) / 2)


def test_mean_ci_axis_and_errors():
    mean, half = mean_ci(np.arange(12.0).reshape(3, 4), axis=1)
    assert mean.shape == half.shape == (3,)
    with pytest.raises(ValueError, match="at least 2 samples"):
        mean_ci([1.0])


def test_proportion_ci_contains_p_and_is_ordered():
    p, low, high = proportion_ci(30, 100)
    assert low < p == 0.3 < high
    p, low, high = proportion_ci(0, 50)
    assert low == pytest.approx(0.0, abs=1e-12) and high > 0
    with pytest.raises(ValueError):
        proportion_ci(5, 3)


def test_mc_estimate_hand_values_and_shapes():
    # samples 1, 2, 3, 4: mean 2.5, s = sqrt(5/3), t_{0.975, 3} = 3.182446 (t table)
    est = mc_estimate([1.0, 2.0, 3.0, 4.0])
    assert isinstance(est.mean, float) and est.mean == pytest.approx(2.5)
    assert est.half_width == pytest.approx(3.182446 * np.sqrt(5 / 3) / 2, rel=1e-6)
    assert (est.n_samples, est.level) == (4, 0.95)
    batch = mc_estimate(np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0]]))
    assert batch.mean.shape == (2,) and batch.half_width[1] == 0.0
    with pytest.raises(ValueError, match="level"):
        mc_estimate([1.0, 2.0], level=1.5)
