import numpy as np
import pytest
from scipy import stats

from cfmimo.stats import mean_ci, proportion_ci


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
