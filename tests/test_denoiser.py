"""Tests of the conditional denoiser, Conditioning and the step embedding."""

from __future__ import annotations

import pytest
import torch

from tsdiff.nn import ConditionalDenoiser, Conditioning, SinusoidalEmbedding

SEQ, D = 4, 16


def make_denoiser(seq_channels: int = SEQ, perturb: bool = True, seed: int = 0) -> ConditionalDenoiser:
    """Small denoiser; ``perturb`` moves the zero-initialised final conv off zero."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ConditionalDenoiser(seq_channels, cond_dim=D, base_channels=8, channel_mults=(1, 2))
    if perturb:
        g = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            w = net.unet.out_conv.weight
            w.copy_(0.2 * torch.randn(w.shape, generator=g))
    return net.eval()


def make_inputs(batch: int, horizon: int, tail: int, seed: int = 0, seq_channels: int = SEQ):
    g = torch.Generator().manual_seed(seed)
    x_t = torch.randn(batch, horizon, generator=g)
    t = torch.randint(0, 100, (batch,), generator=g)
    seq = torch.randn(batch, seq_channels, tail + horizon, generator=g)
    emb = torch.randn(batch, D, generator=g)
    return x_t, t, seq, emb


# -- SinusoidalEmbedding ---------------------------------------------------

@pytest.mark.parametrize("dim", [1, 7, 16])
def test_sinusoidal_embedding_shape_and_values(dim: int) -> None:
    emb = SinusoidalEmbedding(dim)
    t = torch.tensor([0, 1, 50, 99])
    out = emb(t)
    assert out.shape == (4, dim) and out.dtype == torch.float32
    half = dim // 2
    torch.testing.assert_close(out[0, :half], torch.zeros(half))  # sin(0)
    torch.testing.assert_close(out[0, half:2 * half], torch.ones(half))  # cos(0)
    if dim % 2:
        assert torch.equal(out[:, -1], torch.zeros(4))
    torch.testing.assert_close(emb(t.float()), out)  # long and float steps agree
    if dim > 1:
        assert torch.cdist(out, out).fill_diagonal_(1.0).min() > 1e-3  # distinct steps differ


def test_sinusoidal_embedding_has_no_state() -> None:
    emb = SinusoidalEmbedding(8)
    assert list(emb.parameters()) == [] and emb.state_dict() == {}


# -- ConditionalDenoiser ---------------------------------------------------

@pytest.mark.parametrize("tail", [0, 3, 24])
@pytest.mark.parametrize("horizon", [1, 5, 24])
def test_output_shape(horizon: int, tail: int) -> None:
    net = make_denoiser()
    with torch.no_grad():
        out = net(*make_inputs(3, horizon, tail))
    assert out.shape == (3, horizon)
    assert torch.isfinite(out).all() and out.abs().sum() > 0


def test_zero_init_predicts_zero_noise() -> None:
    net = make_denoiser(perturb=False)
    with torch.no_grad():
        out = net(*make_inputs(2, 7, 5))
    assert torch.equal(out, torch.zeros(2, 7))


def test_shared_emb_different_t_gives_different_output() -> None:
    net = make_denoiser()
    x_t, _, seq, emb = make_inputs(1, 7, 5)
    x_t, seq, emb = x_t.expand(3, -1), seq.expand(3, -1, -1), emb.expand(3, -1)
    with torch.no_grad():
        out = net(x_t, torch.tensor([0, 10, 99]), seq, emb)
    assert (out[0] - out[1]).abs().max() > 1e-4
    assert (out[1] - out[2]).abs().max() > 1e-4


def test_output_depends_on_emb_seq_and_x_t() -> None:
    net = make_denoiser()
    x_t, t, seq, emb = make_inputs(2, 6, 4)
    with torch.no_grad():
        base = net(x_t, t, seq, emb)
        seq_tail = seq.clone()
        seq_tail[:, :, :4] += 1.0  # the tail only
        for changed in (net(x_t + 1.0, t, seq, emb), net(x_t, t, seq_tail, emb),
                        net(x_t, t, seq, emb + 1.0)):
            assert (changed - base).abs().max(dim=1).values.min() > 1e-5


def test_unet_input_layout_and_output_positions() -> None:
    """Channel 0 = zeros on the tail then x_t; then seq; the output is the horizon part."""
    net = make_denoiser()
    x_t, t, seq, emb = make_inputs(2, 5, 3)
    first = torch.cat([torch.zeros(2, 3), x_t], dim=1)[:, None]
    with torch.no_grad():
        cond = net.step_mlp(net.step_embedding(t)) + net.emb_proj(emb)
        expected = net.unet(torch.cat([first, seq], dim=1), cond)[:, 0, 3:]
        torch.testing.assert_close(net(x_t, t, seq, emb), expected)


def test_scalar_t_is_broadcast() -> None:
    net = make_denoiser()
    x_t, _, seq, emb = make_inputs(3, 5, 2)
    with torch.no_grad():
        torch.testing.assert_close(net(x_t, torch.tensor(17), seq, emb),
                                   net(x_t, torch.full((3,), 17), seq, emb))


def test_no_seq_channels() -> None:
    net = make_denoiser(seq_channels=0)
    with torch.no_grad():
        out = net(*make_inputs(2, 5, 3, seq_channels=0))
    assert out.shape == (2, 5)


def test_all_parameters_get_gradients() -> None:
    net = make_denoiser().train()
    x_t, t, seq, emb = make_inputs(4, 6, 6)
    net(x_t, t, seq, emb).pow(2).mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, missing


def test_bad_shapes_raise() -> None:
    net = make_denoiser()
    x_t, t, seq, emb = make_inputs(2, 5, 3)
    with pytest.raises(ValueError, match="seq"):
        net(x_t, t, seq[:, :, :4], emb)  # W < H
    with pytest.raises(ValueError, match="seq"):
        net(x_t, t, seq[:, :2], emb)
    with pytest.raises(ValueError, match="emb"):
        net(x_t, t, seq, emb[:, :3])
    with pytest.raises(ValueError, match="t must"):
        net(x_t, torch.zeros(3, dtype=torch.long), seq, emb)
    x4, t4, seq4, emb4 = make_inputs(4, 5, 3)
    with pytest.raises(ValueError, match="G dividing"):
        net(x4, t4, seq4, emb4[:3])


@pytest.mark.parametrize("per_row_t", [False, True])
def test_group_embedding_equals_repeated_embedding(per_row_t: bool) -> None:
    """emb with one row per group of B / G rows (and a shared step) = the repeated per-row embedding."""
    net = make_denoiser().eval()
    with torch.no_grad():  # the final conv starts at zero: give it weights so outputs differ
        net.unet.out_conv.weight.normal_(0, 0.3, generator=torch.Generator().manual_seed(3))
    x_t, _, seq, _ = make_inputs(6, 5, 3)
    emb = torch.randn(2, net.cond_dim, generator=torch.Generator().manual_seed(4))
    t_rows = torch.full((6,), 7, dtype=torch.long)
    with torch.no_grad():
        expected = net(x_t, t_rows, seq, emb.repeat_interleave(3, dim=0))
        got = net(x_t, t_rows if per_row_t else torch.tensor(7), seq, emb)
        other_step = net(x_t, torch.tensor(8), seq, emb)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(other_step, expected)


# -- Conditioning ----------------------------------------------------------

def labelled_conditioning(n: int) -> Conditioning:
    """Row i is filled with the value i in both fields."""
    ids = torch.arange(n, dtype=torch.float32)
    return Conditioning(seq=ids[:, None, None].expand(n, SEQ, 9).clone(),
                        emb=ids[:, None].expand(n, D).clone())


def test_conditioning_repeat_interleave_is_series_major() -> None:
    cond = labelled_conditioning(3).repeat_interleave(4)
    assert cond.batch_size == 12 and len(cond) == 12
    expected = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2], dtype=torch.float32)
    assert torch.equal(cond.seq[:, 0, 0], expected)
    assert torch.equal(cond.emb[:, 0], expected)
    assert cond.seq.shape == (12, SEQ, 9) and cond.emb.shape == (12, D)
    # the same order as reshaping (series, samples) rows
    assert torch.equal(cond.emb[:, 0].reshape(3, 4), torch.arange(3.0)[:, None].expand(3, 4))


def test_conditioning_slicing() -> None:
    cond = labelled_conditioning(5)
    part = cond[1:4]
    assert isinstance(part, Conditioning) and part.batch_size == 3
    assert torch.equal(part.emb[:, 0], torch.tensor([1.0, 2.0, 3.0]))
    assert torch.equal(part.seq[:, 0, 0], torch.tensor([1.0, 2.0, 3.0]))
    assert cond[2].batch_size == 1 and cond[2].emb[0, 0] == 2.0
    assert cond[-1].batch_size == 1 and cond[-1].emb[0, 0] == 4.0


def test_conditioning_rejects_mismatched_rows() -> None:
    with pytest.raises(ValueError):
        Conditioning(seq=torch.zeros(3, SEQ, 9), emb=torch.zeros(2, D))


def test_chunked_sampling_matches_full_batch() -> None:
    """The lead's pattern: condition once, repeat over samples, denoise in chunks."""
    net = make_denoiser()
    _, _, seq, emb = make_inputs(3, 6, 4)
    cond = Conditioning(seq, emb).repeat_interleave(5)  # 15 rows
    g = torch.Generator().manual_seed(7)
    x_t = torch.randn(cond.batch_size, 6, generator=g)
    t = torch.full((cond.batch_size,), 42)
    with torch.no_grad():
        full = net(x_t, t, cond.seq, cond.emb)
        chunks = []
        for start in range(0, cond.batch_size, 4):
            c = cond[start:start + 4]
            chunks.append(net(x_t[start:start + 4], t[start:start + 4], c.seq, c.emb))
    torch.testing.assert_close(torch.cat(chunks), full, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("horizon,tail", [(5, 8), (24, 24), (1, 0)])
def test_precomputed_conditioning_equals_repeated_channels(horizon: int, tail: int) -> None:
    """precompute(seq) once per series == the seq channels repeated over the series' sample paths."""
    den = make_denoiser()
    g = torch.Generator().manual_seed(3)
    seq = torch.randn(2, SEQ, horizon + tail, generator=g)
    emb = torch.randn(2, D, generator=g)
    x_t = torch.randn(8, horizon, generator=g)
    t = torch.tensor([17])
    with torch.no_grad():
        full = den(x_t, t, seq.repeat_interleave(4, dim=0), emb)
        fast = den(x_t, t, den.precompute(seq), emb)
        extra = torch.randn(1, D, generator=g)
        assert not torch.allclose(den(x_t, t, den.precompute(seq), emb, extra=extra), fast)
    torch.testing.assert_close(fast, full, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="seq"):
        make_denoiser(seq_channels=0).precompute(seq[:, :0])
