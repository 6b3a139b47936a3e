import numpy as np
import pytest
import torch

from tsdiff.scaling import mean_abs_scale, scale, std_scale


def _data():
    x = torch.tensor([[1.0, -2.0, 0.0, 4.0], [5.0, 5.0, 5.0, 5.0], [0.0, 0.0, 0.0, 0.0]])
    obs = torch.tensor([[1.0, 1.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    return x, obs


def test_mean_abs_matches_numpy_on_observed_points():
    x, obs = _data()
    xs, loc, sc = mean_abs_scale(x, obs)
    assert sc[0, 0].item() == pytest.approx(np.mean([1, 2, 4]))
    assert loc.abs().sum() == 0
    np.testing.assert_allclose(xs[0].numpy(), np.array([1, -2, 0, 4]) / (7 / 3) * np.array([1, 1, 0, 1]), rtol=1e-6)


def test_std_matches_numpy_and_constant_series_are_finite():
    x, obs = _data()
    xs, loc, sc = std_scale(x, obs)
    v = np.array([1.0, -2.0, 4.0])
    assert loc[0, 0].item() == pytest.approx(v.mean())
    assert sc[0, 0].item() == pytest.approx(v.std(), rel=1e-6)
    assert torch.isfinite(xs).all() and (sc > 0).all()
    assert sc[1, 0].item() == pytest.approx(5.0)  # constant -> |mean|
    assert sc[2, 0].item() == pytest.approx(1.0)  # all zero -> 1


@pytest.mark.parametrize("kind", ["mean", "std", "none"])
def test_inverse(kind):
    x, obs = _data()
    xs, loc, sc = scale(kind, x, obs)
    back = xs * sc + loc
    np.testing.assert_allclose((back * obs).numpy(), (x * obs).numpy(), rtol=1e-5, atol=1e-6)


def test_unknown_scaling():
    x, obs = _data()
    with pytest.raises(ValueError, match="scaling"):
        scale("minmax", x, obs)
