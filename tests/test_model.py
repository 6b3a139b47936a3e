import numpy as np
import pytest
import torch

from tsdiff.config import TSDiffConfig
from tsdiff.diffusion import make_sampler
from tsdiff.model import TSDiffModel, batch_to_tensors
from tsdiff.windows import SeriesArrays, make_batch


def _cfg(**kw):
    args = dict(prediction_length=5, context_length=30, freq="h", lags=(7, 12), tail_length=6,
                num_time_features=2, hidden_channels=8, channel_mults=(1, 2), embedding_dim=16,
                encoder_channels=8, diffusion_steps=10, beta_end=0.7)
    args.update(kw)
    return TSDiffConfig(**args)


def _batch(cfg, B=3, seed=0, with_target=True):
    rng = np.random.default_rng(seed)
    T = 60
    series = [SeriesArrays(target=rng.normal(5, 2, T).astype(np.float32),
                           time_feat=rng.uniform(-0.5, 0.5, (cfg.num_time_features, T + 10)).astype(np.float32))
              for _ in range(B)]
    splits = np.full(B, T - cfg.prediction_length) if with_target else np.full(B, T)
    return batch_to_tensors(make_batch(series, np.arange(B), splits, cfg.context_length, cfg.prediction_length,
                                       with_target=with_target), "cpu")


def _model(cfg, seed=0):
    torch.manual_seed(seed)
    return TSDiffModel(cfg).eval()


def test_lag_channels_match_an_independent_computation():
    cfg = _cfg(num_time_features=0)
    model = _model(cfg)
    batch = _batch(cfg, B=2)
    cond, loc, scale = model.condition(batch)
    W, L, C = cfg.window_length, cfg.tail_length, cfg.context_length
    past = ((batch["past_target"] - loc) / scale).numpy()
    seq = cond.seq.numpy()
    assert seq.shape == (2, model.seq_channels, W)
    # Channel 0: scaled tail then zeros over the horizon.
    np.testing.assert_allclose(seq[:, 0, :L], past[:, -L:], rtol=1e-5)
    assert (seq[:, 0, L:] == 0).all()
    for j, lag in enumerate(cfg.lags):
        vals, mask = seq[:, 2 + j], seq[:, 2 + len(cfg.lags) + j]
        for p in range(W):
            src = C + (p - L) - lag  # context index of the value `lag` steps before position p
            if 0 <= src < C:
                np.testing.assert_allclose(vals[:, p], past[:, src], rtol=1e-5)
                assert (mask[:, p] == 1).all()
            else:
                assert (vals[:, p] == 0).all() and (mask[:, p] == 0).all()


def test_loss_ignores_unobserved_future_points():
    cfg = _cfg()
    model = _model(cfg)
    batch = _batch(cfg)
    batch["future_observed"][:, 2:] = 0
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    base = model.loss(batch, generator=g())
    batch["future_target"][:, 2:] = 1e6  # garbage at unobserved points changes nothing
    assert torch.isfinite(base)
    assert model.loss(batch, generator=g()).item() == pytest.approx(base.item(), rel=1e-6)


@pytest.mark.parametrize("H,L", [(1, 1), (5, 3), (7, 6), (13, 9)])
def test_sample_shapes_odd_lengths(H, L):
    cfg = _cfg(prediction_length=H, tail_length=L)
    model = _model(cfg)
    batch = _batch(cfg, B=2, with_target=False)
    out = model.sample(batch, 3, make_sampler("ddim", model.schedule, steps=3), generator=torch.Generator())
    assert out.shape == (2, 3, H) and torch.isfinite(out).all()


def test_history_is_encoded_once_per_series_chunk():
    cfg = _cfg()
    model = _model(cfg)
    calls = []
    model.encoder.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    steps_seen = []
    model.denoiser.register_forward_hook(lambda m, i, o: steps_seen.append(i[0].shape[0]))
    batch = _batch(cfg, B=3, with_target=False)
    model.sample(batch, 50, make_sampler("ddpm", model.schedule), generator=torch.Generator())
    assert calls == [3]  # one encoder call for the 3 series, not one per step or per sample
    assert len(steps_seen) == cfg.diffusion_steps and steps_seen[0] == 150


def test_chunking_bounds_rows_and_keeps_shapes():
    cfg = _cfg()
    model = _model(cfg)
    rows = []
    model.denoiser.register_forward_hook(lambda m, i, o: rows.append(i[0].shape[0]))
    batch = _batch(cfg, B=3, with_target=False)
    out = model.sample(batch, 40, make_sampler("ddim", model.schedule, steps=2), generator=torch.Generator(),
                       chunk_size=16)
    assert out.shape == (3, 40, cfg.prediction_length)
    assert max(rows) <= 16


@pytest.mark.parametrize("sampler_name", ["ddpm", "ddim"])
def test_samples_do_not_depend_on_workers(sampler_name):
    """Each chunk has its own generator seeded in chunk order: 1 or 3 worker threads, same samples."""
    cfg = _cfg()
    model = _model(cfg)
    batch = _batch(cfg, B=5, with_target=False)
    sampler = make_sampler(sampler_name, model.schedule, **({"steps": 3, "eta": 1.0} if sampler_name == "ddim" else {}))
    threads = torch.get_num_threads()
    runs = [model.sample(batch, 6, sampler, generator=torch.Generator().manual_seed(1), chunk_size=12, workers=w)
            for w in (1, 3, 1)]
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)
    torch.testing.assert_close(runs[0], runs[2], rtol=0, atol=0)
    assert torch.get_num_threads() == threads  # restored after the worker threads
    other = model.sample(batch, 6, sampler, generator=torch.Generator().manual_seed(2), chunk_size=12, workers=3)
    assert not torch.equal(other, runs[0])
    with pytest.raises(ValueError, match="workers"):
        model.sample(batch, 6, sampler, workers=0)


def test_samples_are_in_original_units():
    cfg = _cfg()
    model = _model(cfg)
    batch = _batch(cfg, B=2, with_target=False)
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    sampler = make_sampler("ddim", model.schedule, steps=4)
    a = model.sample(batch, 4, sampler, generator=gen())
    shifted = dict(batch)
    shifted["past_target"] = batch["past_target"] + 1e3 * batch["past_observed"]
    b = model.sample(shifted, 4, sampler, generator=gen())
    # std scaling: shifting the history's level shifts the samples by the same amount
    # (the scale, and so the log-scale feature, is unchanged).
    torch.testing.assert_close(b, a + 1e3, rtol=1e-4, atol=1e-2)
    assert a.abs().mean() < 100  # and samples live near the data (~5), not in scaled units


def test_same_generator_seed_same_samples():
    cfg = _cfg()
    model = _model(cfg)
    batch = _batch(cfg, with_target=False)
    s = make_sampler("ddpm", model.schedule)
    a = model.sample(batch, 5, s, generator=torch.Generator().manual_seed(7))
    b = model.sample(batch, 5, s, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
