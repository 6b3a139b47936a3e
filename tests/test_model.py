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


def _model(cfg, seed=0, perturb=False):
    torch.manual_seed(seed)
    model = TSDiffModel(cfg).eval()
    if perturb:
        _perturb_last_layer(model, seed)
    return model


def _perturb_last_layer(model, seed=0):
    """Give the zero-initialised final conv seeded random weights: an untrained model then outputs
    something that depends on its conditioning, so tests of that conditioning can fail."""
    g = torch.Generator().manual_seed(1000 + seed)
    conv = model.denoiser.unet.out_conv
    with torch.no_grad():
        conv.weight.copy_(0.3 * torch.randn(conv.weight.shape, generator=g))
        conv.bias.copy_(0.1 * torch.randn(conv.bias.shape, generator=g))
    return model


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
    model = _model(cfg, perturb=True)
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
    model = _model(cfg, perturb=True)
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
    # Version-1 inputs (no level feature, no scale floor): a shift of the history is then invisible
    # to the network, so it must shift the samples exactly.
    cfg = _cfg(scale_floor=0.0, level_input=False)
    model = _model(cfg, perturb=True)
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
    model = _model(cfg, perturb=True)
    batch = _batch(cfg, with_target=False)
    s = make_sampler("ddpm", model.schedule)
    a = model.sample(batch, 5, s, generator=torch.Generator().manual_seed(7))
    b = model.sample(batch, 5, s, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


@pytest.mark.parametrize("sampler_name", ["ddpm", "ddim"])
def test_samples_do_not_depend_on_future_targets(sampler_name):
    """Invariance: a batch carrying future values (e.g. validation windows) samples as if it had none."""
    cfg = _cfg()
    model = _model(cfg, perturb=True)
    batch = _batch(cfg, B=3, with_target=True)
    sampler = make_sampler(sampler_name, model.schedule, **({"steps": 4} if sampler_name == "ddim" else {}))
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    a = model.sample(batch, 4, sampler, generator=gen())
    changed = dict(batch)
    changed["future_target"] = batch["future_target"] * -7.0 + 100.0
    changed["future_observed"] = torch.zeros_like(batch["future_observed"])
    b = model.sample(changed, 4, sampler, generator=gen())
    no_future = {k: v for k, v in batch.items() if not k.startswith("future_") or k == "future_time_feat"}
    c = model.sample(no_future, 4, sampler, generator=gen())
    assert torch.equal(a, b) and torch.equal(a, c)


def test_changing_the_history_changes_the_samples():
    """Sensitivity: the history reaches the denoiser (tail, lags, encoder), per series."""
    cfg = _cfg()
    model = _model(cfg, perturb=True)
    batch = _batch(cfg, B=3, with_target=False)
    sampler = make_sampler("ddim", model.schedule, steps=4)
    gen = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    a = model.sample(batch, 4, sampler, generator=gen())
    changed = dict(batch)
    past = batch["past_target"].clone()
    past[1, :] = torch.flip(past[1, :], dims=[0])  # same values (same loc and scale), other order
    changed["past_target"] = past
    b = model.sample(changed, 4, sampler, generator=gen())
    assert torch.equal(a[[0, 2]], b[[0, 2]])  # other series untouched
    assert (a[1] - b[1]).abs().mean() > 1e-3 * a[1].abs().mean()


def test_horizon_mask_channel_marks_observed_future_points():
    cfg = _cfg()
    model = _model(cfg)
    batch = _batch(cfg, B=2)
    batch["future_observed"][0, 2:] = 0.0
    cond, _, _ = model.condition(batch)
    L = cfg.tail_length
    mask = cond.seq[:, -1]
    assert (mask[:, :L] == 0).all()
    torch.testing.assert_close(mask[:, L:], batch["future_observed"])
    no_future = {k: v for k, v in batch.items() if k not in ("future_target", "future_observed")}
    assert (model.condition(no_future)[0].seq[:, -1, L:] == 1).all()  # prediction: all ones
    legacy = _model(_cfg(horizon_mask=False))
    assert legacy.seq_channels == model.seq_channels - 1


def test_level_input_reaches_the_encoder():
    """With the level feature, shifting a history changes the embedding (std scaling alone removes it)."""
    cfg = _cfg(scale_floor=0.0)
    model = _model(cfg)
    batch = _batch(cfg, B=2, with_target=False)
    shifted = dict(batch)
    shifted["past_target"] = batch["past_target"] + 50.0 * batch["past_observed"]
    emb_a, emb_b = model.condition(batch)[0].emb, model.condition(shifted)[0].emb
    assert (emb_a - emb_b).abs().max() > 1e-4
    legacy = _model(_cfg(scale_floor=0.0, level_input=False))
    torch.testing.assert_close(legacy.condition(batch)[0].emb, legacy.condition(shifted)[0].emb,
                               rtol=1e-4, atol=1e-5)


def test_scale_floor_bounds_scaled_future_of_degenerate_contexts():
    """A constant context and a context with two observed points: with the per-series floor (batch
    key ``scale_floor``) the future stays within a few scaled units; version-1 scaling blows it up."""
    cfg = _cfg(num_time_features=0, lags=())
    rng = np.random.default_rng(0)
    T = 60
    const = np.r_[np.full(T - 5, 7.0), 7.0 + rng.normal(0, 2, 5)].astype(np.float32)
    sparse = (10.0 + rng.normal(0, 2, T)).astype(np.float32)
    sparse[:T - 5] = np.nan
    sparse[T - 7] = 10.0
    sparse[T - 6] = 10.0 + 1e-4
    series = [SeriesArrays(target=t, time_feat=np.zeros((0, T), np.float32), scale_floor=0.1 * 2.0)
              for t in (const, sparse)]
    batch = batch_to_tensors(make_batch(series, np.arange(2), np.full(2, T - 5), cfg.context_length,
                                        cfg.prediction_length), "cpu")
    for c, bound in ((cfg, 100.0), (_cfg(num_time_features=0, lags=(), scale_floor=0.0), None)):
        _, loc, scale = _model(c).condition(batch)
        x0 = ((batch["future_target"] - loc) / scale).abs().max(dim=1).values
        if bound is not None:
            assert (x0 < bound).all(), x0
        else:
            assert x0[1] > 1e3  # the legacy scaling of a mostly missing context
