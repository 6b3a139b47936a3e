"""Tests of tsdiff.diffusion.schedule against independent float64 numpy computations."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tsdiff.diffusion import BUFFER_NAMES, DiffusionSchedule, make_betas


def _ref_coefs(betas: np.ndarray) -> dict[str, np.ndarray]:
    """Independent float64 reference, written with explicit loops / paper formulas."""
    T = len(betas)
    ac = np.empty(T)
    run = 1.0
    for i, b in enumerate(betas):
        run *= 1.0 - b
        ac[i] = run
    ac_prev = np.array([1.0] + list(ac[:-1]))
    post_var = np.array([betas[t] * (1 - ac_prev[t]) / (1 - ac[t]) for t in range(T)])
    return {
        "betas": betas,
        "alphas": 1.0 - betas,
        "alphas_cumprod": ac,
        "alphas_cumprod_prev": ac_prev,
        "sqrt_alphas_cumprod": ac ** 0.5,
        "sqrt_one_minus_alphas_cumprod": (1 - ac) ** 0.5,
        "sqrt_recip_alphas_cumprod": ac ** -0.5,
        "sqrt_recipm1_alphas_cumprod": ((1 - ac) / ac) ** 0.5,
        "posterior_variance": post_var,
        "posterior_log_variance_clipped": np.log(np.where(np.arange(T) == 0, post_var[1], post_var)),
        "posterior_mean_coef1": betas * ac_prev ** 0.5 / (1 - ac),
        "posterior_mean_coef2": (1 - ac_prev) * (1 - betas) ** 0.5 / (1 - ac),
    }


# -- make_betas ----------------------------------------------------------------

def test_linear_betas_endpoints_and_dtype():
    b = make_betas("linear", 100)
    assert b.dtype == np.float64 and b.shape == (100,)
    assert b[0] == pytest.approx(1e-4, rel=1e-12)
    assert b[-1] == pytest.approx(0.1, rel=1e-12)
    assert np.all(np.diff(b) > 0)
    np.testing.assert_allclose(np.diff(b), (0.1 - 1e-4) / 99, rtol=1e-9)
    b2 = make_betas("linear", 50, beta_start=1e-3, beta_end=0.02)
    assert b2[0] == pytest.approx(1e-3) and b2[-1] == pytest.approx(0.02) and len(b2) == 50


def test_cosine_betas_match_cos2_formula():
    T, s = 100, 0.008
    b = make_betas("cosine", T)
    assert b.dtype == np.float64 and b.shape == (T,)
    assert np.all(b > 0) and np.all(b <= 0.999)
    assert b[-1] == pytest.approx(0.999)  # the singular last step is clipped
    assert np.all(np.diff(b) > 0)  # monotone increasing for this s and T
    ac = np.cumprod(1 - b)
    f = lambda u: math.cos((u / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    expected = np.array([f(t + 1) / f(0) for t in range(T)])
    # All steps but the clipped last one follow alpha_bar(t) = f(t)/f(0) exactly.
    np.testing.assert_allclose(ac[:-1], expected[:-1], rtol=1e-10)


def test_cosine_single_step():
    b = make_betas("cosine", 1)
    assert b.shape == (1,) and 0 < b[0] <= 0.999


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(kind="quadratic", num_steps=10), "kind"),
        (dict(kind=3, num_steps=10), "kind"),
        (dict(kind="linear", num_steps=0), "num_steps"),
        (dict(kind="linear", num_steps=2.5), "num_steps"),
        (dict(kind="linear", num_steps=True), "num_steps"),
        (dict(kind="linear", num_steps=10, beta_start=0.0), "beta_start"),
        (dict(kind="linear", num_steps=10, beta_start=float("nan")), "beta_start"),
        (dict(kind="linear", num_steps=10, beta_end=1.0), "beta_end"),
        (dict(kind="linear", num_steps=10, beta_start=0.2, beta_end=0.1), "beta_start"),
    ],
)
def test_make_betas_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_betas(**kwargs)


# -- DiffusionSchedule buffers ---------------------------------------------------

@pytest.mark.parametrize("kind, T, b0, b1", [("linear", 100, 1e-4, 0.1), ("linear", 1000, 1e-4, 0.02),
                                             ("cosine", 100, 1e-4, 0.1), ("linear", 7, 1e-4, 0.1)])
def test_buffers_match_float64_reference(kind, T, b0, b1):
    betas = make_betas(kind, T, b0, b1)
    sched = DiffusionSchedule(betas)
    ref = _ref_coefs(betas)
    assert sched.num_steps == T
    for name in BUFFER_NAMES:
        buf = getattr(sched, name)
        assert buf.dtype == torch.float32, name
        assert buf.shape == (T,), name
        # rtol 2e-7 ~ one float32 ulp: only true when computed in float64 and rounded once.
        np.testing.assert_allclose(buf.numpy().astype(np.float64), ref[name], rtol=2e-7, atol=0, err_msg=name)


def test_buffers_not_computed_in_float32():
    # 1 - float32(1 - 1e-4) loses ~4 digits; a float64 computation keeps sqrt(1 - abar_0) = sqrt(beta_0).
    sched = DiffusionSchedule(make_betas("linear", 100))
    assert sched.sqrt_one_minus_alphas_cumprod[0].item() == pytest.approx(0.01, rel=1e-6)
    assert sched.sqrt_recipm1_alphas_cumprod[0].item() == pytest.approx(math.sqrt(1e-4 / (1 - 1e-4)), rel=1e-6)
    assert sched.posterior_variance[0].item() == 0.0
    assert torch.isfinite(sched.posterior_log_variance_clipped).all()


def test_buffers_move_with_module_and_are_not_persistent():
    sched = DiffusionSchedule(make_betas("linear", 10))
    assert set(BUFFER_NAMES) <= {n for n, _ in sched.named_buffers()}
    assert len(sched.state_dict()) == 0  # derived data, rebuilt from the config
    moved = sched.to("meta")
    for name in BUFFER_NAMES:
        assert getattr(moved, name).device.type == "meta", name


def test_from_config():
    cfg = SimpleNamespace(beta_schedule="cosine", diffusion_steps=50, beta_start=1e-4, beta_end=0.1)
    sched = DiffusionSchedule.from_config(cfg)
    assert sched.num_steps == 50
    np.testing.assert_allclose(sched.betas.numpy(), make_betas("cosine", 50).astype(np.float32))
    import tsdiff.config as tsdiff_config

    real = tsdiff_config.TSDiffConfig(prediction_length=4, context_length=8, freq="h", tail_length=4,
                                      diffusion_steps=30, beta_end=0.4)
    s2 = DiffusionSchedule.from_config(real)
    assert s2.num_steps == 30
    assert s2.betas[-1].item() == pytest.approx(0.4)


@pytest.mark.parametrize("betas", [[], [[0.1, 0.2]], [0.1, 0.0], [0.1, 1.0], [0.1, float("nan")]])
def test_schedule_bad_betas(betas):
    with pytest.raises(ValueError, match="betas"):
        DiffusionSchedule(betas)


def test_single_step_schedule():
    sched = DiffusionSchedule([0.3])
    assert sched.num_steps == 1
    assert sched.posterior_variance[0].item() == 0.0
    assert sched.posterior_log_variance_clipped[0].item() == pytest.approx(math.log(0.3))


# -- forward process -------------------------------------------------------------

@pytest.fixture(scope="module")
def sched() -> DiffusionSchedule:
    return DiffusionSchedule(make_betas("linear", 100))


@pytest.mark.parametrize("t", [0, 10, 57, 99])
def test_q_sample_statistics(sched, t):
    n = 200_000
    g = torch.Generator().manual_seed(1234 + t)
    x0 = torch.full((n, 1), 1.7)
    eps = torch.randn(n, 1, generator=g)
    xt = sched.q_sample(x0, torch.full((n,), t, dtype=torch.long), eps).double()
    ac = float(np.prod(1 - make_betas("linear", 100)[: t + 1]))
    mean, var = 1.7 * math.sqrt(ac), 1 - ac
    assert xt.mean().item() == pytest.approx(mean, abs=5 * math.sqrt(var / n))
    assert xt.var().item() == pytest.approx(var, rel=5 * math.sqrt(2 / n))


@pytest.mark.parametrize("shape", [(3, 7), (5, 1, 13), (4,)])
def test_q_sample_per_example_broadcast(sched, shape):
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(shape, generator=g)
    eps = torch.randn(shape, generator=g)
    t = torch.randint(0, 100, (shape[0],), generator=g)
    xt = sched.q_sample(x0, t, eps)
    assert xt.shape == shape and xt.dtype == torch.float32
    ac = np.cumprod(1 - make_betas("linear", 100))
    for i in range(shape[0]):
        a = ac[t[i].item()]
        exp = math.sqrt(a) * x0[i].double() + math.sqrt(1 - a) * eps[i].double()
        torch.testing.assert_close(xt[i].double(), exp, rtol=1e-5, atol=1e-6)
    # an int t applies the same step to the whole batch
    torch.testing.assert_close(sched.q_sample(x0, 5, eps), sched.q_sample(x0, torch.full((shape[0],), 5), eps))


@pytest.mark.parametrize("shape", [(3, 7), (5, 1, 13)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_predict_x0_and_eps_invert_q_sample(sched, shape, dtype):
    g = torch.Generator().manual_seed(1)
    x0 = 3 * torch.randn(shape, generator=g, dtype=dtype)  # unbounded: no clipping allowed
    x0[0].fill_(25.0)
    eps = torch.randn(shape, generator=g, dtype=dtype)
    t = torch.randint(0, 100, (shape[0],), generator=g)
    t[0] = 99
    xt = sched.q_sample(x0, t, eps)
    assert xt.dtype == dtype
    torch.testing.assert_close(sched.predict_x0(xt, t, eps), x0, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(sched.predict_eps(xt, t, x0), eps, rtol=1e-5, atol=1e-4)


def test_bad_t_shape(sched):
    x = torch.zeros(3, 7)
    with pytest.raises(ValueError, match="t must"):
        sched.q_sample(x, torch.zeros(4, dtype=torch.long), x)
    with pytest.raises(ValueError, match="t must"):
        sched.q_sample(x, torch.zeros(3, 1, dtype=torch.long), x)
    with pytest.raises(ValueError, match="t must"):
        sched.q_sample(x, torch.zeros(3), x)


def _bayes_posterior(x0, xt, t, betas):
    """q(x_{t-1} | x_t, x0) by precision weighting q(x_t | x_{t-1}) and q(x_{t-1} | x0)."""
    ac = np.cumprod(1 - betas)
    a_t = 1 - betas[t]
    # likelihood in x_{t-1}: x_t = sqrt(a_t) x_{t-1} + N(0, beta_t)  -> precision a_t / beta_t
    prec_lik = a_t / betas[t]
    prec_prior = 1.0 / (1 - ac[t - 1])
    var = 1.0 / (prec_lik + prec_prior)
    mean = var * (math.sqrt(a_t) * xt / betas[t] + math.sqrt(ac[t - 1]) * x0 / (1 - ac[t - 1]))
    return mean, var


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("shape", [(3, 7), (5, 1, 13)])
def test_q_posterior_matches_bayes_rule(kind, shape):
    betas = make_betas(kind, 100)
    s = DiffusionSchedule(betas)
    g = torch.Generator().manual_seed(2)
    x0 = torch.randn(shape, generator=g, dtype=torch.float64)
    xt = torch.randn(shape, generator=g, dtype=torch.float64)
    t = torch.tensor([1, 50, 98, 2, 70][: shape[0]])
    mean, var, logvar = s.q_posterior(x0, xt, t)
    assert mean.shape == shape
    assert var.shape == (shape[0],) + (1,) * (len(shape) - 1) and logvar.shape == var.shape
    for i in range(shape[0]):
        m_ref, v_ref = _bayes_posterior(x0[i].numpy(), xt[i].numpy(), int(t[i]), betas)
        np.testing.assert_allclose(mean[i].numpy(), m_ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(var[i].item(), v_ref, rtol=1e-5)
        np.testing.assert_allclose(logvar[i].item(), math.log(v_ref), rtol=1e-5)


def test_q_posterior_at_t0_is_x0(sched):
    g = torch.Generator().manual_seed(3)
    x0, xt = torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g)
    mean, var, logvar = sched.q_posterior(x0, xt, torch.zeros(4, dtype=torch.long))
    torch.testing.assert_close(mean, x0, rtol=1e-6, atol=1e-6)
    assert torch.all(var == 0)
    assert torch.isfinite(logvar).all()


# -- training helpers ------------------------------------------------------------

def test_l_simple_unmasked():
    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(3, 7, generator=g), torch.randn(3, 7, generator=g)
    loss = DiffusionSchedule.l_simple(a, b)
    assert loss.ndim == 0
    assert loss.item() == pytest.approx(float(((a.double() - b.double()) ** 2).mean()), rel=1e-6)


def test_l_simple_mask_ignores_nan_and_gradient_is_finite():
    g = torch.Generator().manual_seed(5)
    eps = torch.randn(5, 1, 13, generator=g)
    raw = torch.randn(5, 1, 13, generator=g)
    mask = (torch.rand(5, 1, 13, generator=g) > 0.4).float()
    eps_hat = torch.where(mask.bool(), raw, torch.full_like(raw, float("nan"))).requires_grad_(True)
    loss = DiffusionSchedule.l_simple(eps, eps_hat, mask)
    m = mask.bool().numpy()
    expected = ((eps.numpy()[m].astype(np.float64) - raw.numpy()[m]) ** 2).mean()
    assert math.isfinite(loss.item())
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert torch.isfinite(eps_hat.grad).all()
    assert torch.all(eps_hat.grad[~mask.bool()] == 0)


def test_l_simple_differs_from_unmasked_mean():
    # catches an implementation that averages over all points instead of observed ones
    eps = torch.ones(2, 4)
    eps_hat = torch.zeros(2, 4)
    mask = torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 0]])
    assert DiffusionSchedule.l_simple(eps, eps_hat, mask).item() == pytest.approx(1.0)
    assert DiffusionSchedule.l_simple(eps, eps_hat, torch.zeros(2, 4)).item() == 0.0


def test_l_simple_shape_mismatch():
    with pytest.raises(ValueError, match="eps_hat"):
        DiffusionSchedule.l_simple(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="observed"):
        DiffusionSchedule.l_simple(torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, 4))


def test_sample_timesteps(sched):
    t = sched.sample_timesteps(50_000, generator=torch.Generator().manual_seed(6))
    assert t.dtype == torch.long and t.shape == (50_000,)
    assert t.min().item() == 0 and t.max().item() == 99
    counts = torch.bincount(t, minlength=100).double()
    assert (counts.max() / counts.min()).item() < 1.6  # roughly uniform (expected 500 each)
    t2 = sched.sample_timesteps(50_000, generator=torch.Generator().manual_seed(6))
    assert torch.equal(t, t2)
    with pytest.raises(ValueError, match="batch_size"):
        sched.sample_timesteps(0)
