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


def test_floored_scale_keeps_degenerate_contexts_bounded():
    from tsdiff.scaling import FLOOR_REL, floored_scale

    x = torch.tensor([[7.0] * 6, [0.0] * 6, [10.0, 10.0001, 0, 0, 0, 0], [1.0, -2.0, 3.0, 0.5, 2.0, -1.0]])
    obs = torch.tensor([[1.0] * 6, [1.0] * 6, [1, 1, 0, 0, 0, 0], [1.0] * 6])
    floor = torch.tensor([[0.5], [0.0], [0.05], [0.01]])
    xs, loc, sc = floored_scale("std", x, obs, floor)
    assert sc[0, 0] == 0.5 and loc[0, 0] == 7.0            # constant context: the series floor
    assert sc[1, 0] == 1.0                                  # all zero, no floor: 1, never 0
    assert sc[2, 0] == pytest.approx(FLOOR_REL * 10.00005)  # two points: 1% of the level, not their 5e-5 std
    _, _, plain = std_scale(x, obs)
    assert sc[3, 0] == plain[3, 0]                          # ordinary context: the std, unchanged
    assert plain[2, 0] < 1e-3                               # what version 1 did with the mostly missing one
    _, loc_m, sc_m = floored_scale("mean", x, obs, floor)
    assert loc_m.abs().sum() == 0 and sc_m[0, 0] == 7.0
    xs_n, _, sc_n = floored_scale("none", x, obs, floor)
    assert (sc_n == 1).all()
    with pytest.raises(ValueError, match="scaling"):
        floored_scale("minmax", x, obs, floor)


def test_signed_log_level():
    from tsdiff.scaling import signed_log_level

    x = torch.tensor([[3.0, 5.0], [-4.0, -4.0], [0.0, 0.0]])
    obs = torch.ones_like(x)
    lvl = signed_log_level(x, obs, torch.tensor([[1.0], [2.0], [1.0]]))
    torch.testing.assert_close(lvl[:, 0], torch.tensor([np.log1p(4.0), -np.log1p(2.0), 0.0], dtype=torch.float32))
