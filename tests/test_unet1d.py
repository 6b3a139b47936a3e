"""Tests of the generic 1D U-Net (tsdiff/nn/unet1d.py)."""

from __future__ import annotations

from typing import Callable, TypeVar

import numpy as np
import pytest
import torch

from tsdiff.nn.unet1d import ResBlock1D, UNet1D, num_groups

T = TypeVar("T")
COND = 16


def seeded(build: Callable[[], T], seed: int = 0) -> T:
    """Build a module under a fixed seed without touching the global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def perturb_final_conv(net: UNet1D, seed: int = 1) -> None:
    """Give the zero-initialised final conv non-zero weights (as after some training)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w = net.out_conv.weight
        w.copy_(0.2 * torch.randn(w.shape, generator=g))
        net.out_conv.bias.copy_(0.1 * torch.randn(net.out_conv.bias.shape, generator=g))


def small_unet(channel_mults: tuple[int, ...] = (1, 2, 2), **kw) -> UNet1D:
    kw.setdefault("base_channels", 8)
    return seeded(lambda: UNet1D(3, 2, channel_mults=channel_mults, cond_dim=COND, **kw))


def inputs(batch: int, length: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, length, generator=g), torch.randn(batch, COND, generator=g)


@pytest.mark.parametrize("channel_mults", [(1,), (1, 2), (1, 2, 2), (1, 2, 2, 2)])
@pytest.mark.parametrize("length", [1, 3, 7, 13, 25, 97])
def test_output_shape_any_length_and_depth(length: int, channel_mults: tuple[int, ...]) -> None:
    net = small_unet(channel_mults).eval()
    perturb_final_conv(net)
    x, cond = inputs(2, length)
    with torch.no_grad():
        y = net(x, cond)
    assert y.shape == (2, 2, length)
    assert torch.isfinite(y).all()
    assert y.abs().sum() > 0


def test_zero_init_outputs_zero_but_final_conv_gets_gradient() -> None:
    net = small_unet()
    x, cond = inputs(2, 13)
    y = net(x, cond)
    assert torch.equal(y, torch.zeros_like(y))
    (y - torch.ones_like(y)).pow(2).mean().backward()
    assert net.out_conv.weight.grad is not None
    assert net.out_conv.weight.grad.abs().sum() > 0
    assert net.out_conv.bias.grad.abs().sum() > 0


@pytest.mark.parametrize("num_res_blocks", [1, 2])
def test_all_parameters_get_gradients(num_res_blocks: int) -> None:
    net = small_unet(num_res_blocks=num_res_blocks)
    perturb_final_conv(net)
    x, cond = inputs(3, 13)
    target = torch.randn(3, 2, 13, generator=torch.Generator().manual_seed(5))
    (net(x, cond) - target).pow(2).mean().backward()
    missing = [name for name, p in net.named_parameters()
               if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    assert not missing, f"parameters without gradient: {missing}"


def test_film_conditioning_changes_output() -> None:
    net = small_unet().eval()
    perturb_final_conv(net)
    x, cond = inputs(2, 25)
    other = torch.randn(cond.shape, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        y1, y1_again, y2 = net(x, cond), net(x, cond), net(x, other)
    assert torch.equal(y1, y1_again)
    assert (y1 - y2).abs().max() > 1e-3


def test_batch_elements_are_independent() -> None:
    net = small_unet(dropout=0.1).eval()
    perturb_final_conv(net)
    x, cond = inputs(4, 13)
    x2, cond2 = x.clone(), cond.clone()
    g = torch.Generator().manual_seed(3)
    x2[2] = torch.randn(x2[2].shape, generator=g) * 5
    cond2[2] = torch.randn(cond2[2].shape, generator=g)
    with torch.no_grad():
        y, y2 = net(x, cond), net(x2, cond2)
    keep = [0, 1, 3]
    torch.testing.assert_close(y[keep], y2[keep], rtol=1e-4, atol=1e-5)
    assert (y[2] - y2[2]).abs().max() > 1e-3
    # One row on its own gives the same answer as inside the batch.
    with torch.no_grad():
        alone = net(x[1:2], cond[1:2])
    torch.testing.assert_close(alone, y[1:2], rtol=1e-4, atol=1e-5)


def test_batch_elements_are_independent_in_train_mode_without_dropout() -> None:
    net = small_unet().train()
    perturb_final_conv(net)
    x, cond = inputs(3, 10)
    x2 = x.clone()
    x2[0] = x2[0] * 4.0 + 1.0
    with torch.no_grad():
        y, y2 = net(x, cond), net(x2, cond)
    torch.testing.assert_close(y[1:], y2[1:], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("length", [1, 5, 13])
def test_pads_zeros_on_the_right_and_crops_back(length: int) -> None:
    net = small_unet((1, 2, 2)).eval()  # lengths are padded to a multiple of 4
    perturb_final_conv(net)
    x, cond = inputs(2, length)
    padded = torch.nn.functional.pad(x, (0, (-length) % 4))
    with torch.no_grad():
        torch.testing.assert_close(net(x, cond), net(padded, cond)[..., :length],
                                   rtol=1e-4, atol=1e-5)


def test_output_depends_on_input_values() -> None:
    net = small_unet().eval()
    perturb_final_conv(net)
    x, cond = inputs(1, 24)
    x2 = x.clone()
    x2[0, 0, 0] += 3.0  # a change at the far left reaches the right end
    with torch.no_grad():
        y, y2 = net(x, cond), net(x2, cond)
    assert (y[..., -1] - y2[..., -1]).abs().max() > 0


def test_num_groups_divides_channels() -> None:
    assert num_groups(64, 8) == 8
    assert num_groups(12, 8) == 6
    assert num_groups(7, 8) == 1  # a prime: one group (>= 2 channels per group)
    assert num_groups(8, 8) == 4 and num_groups(1, 8) == 1
    assert num_groups(11, 8) == 1
    assert num_groups(3, 8) == 1 and num_groups(6, 8) == 3
    net = seeded(lambda: UNet1D(5, 1, base_channels=12, channel_mults=(1, 3), cond_dim=COND))
    y = net(torch.zeros(2, 5, 9), torch.zeros(2, COND))
    assert y.shape == (2, 1, 9)


def test_resblock_shapes_and_skip() -> None:
    same = seeded(lambda: ResBlock1D(8, 8, COND))
    change = seeded(lambda: ResBlock1D(8, 16, COND))
    assert isinstance(same.skip, torch.nn.Identity)
    assert isinstance(change.skip, torch.nn.Conv1d)
    x = torch.randn(2, 8, 5, generator=torch.Generator().manual_seed(0))
    c = torch.zeros(2, COND)
    assert same(x, c).shape == (2, 8, 5)
    assert change(x, c).shape == (2, 16, 5)


def test_bad_shapes_raise() -> None:
    net = small_unet()
    with pytest.raises(ValueError, match="x must have shape"):
        net(torch.zeros(2, 4, 8), torch.zeros(2, COND))
    with pytest.raises(ValueError, match="x must have shape"):
        net(torch.zeros(2, 3, 0), torch.zeros(2, COND))
    with pytest.raises(ValueError, match="cond must have shape"):
        net(torch.zeros(2, 3, 8), torch.zeros(3, COND))
    with pytest.raises(ValueError, match="cond must have shape"):
        net(torch.zeros(6, 3, 8), torch.zeros(4, COND))
    with pytest.raises(ValueError, match="channel_mults"):
        UNet1D(3, 2, channel_mults=())


# -- patching ------------------------------------------------------------------
@pytest.mark.parametrize("patch_size", [2, 3, 4, 8])
@pytest.mark.parametrize("length", [1, 5, 13, 24, 97])
def test_patched_output_shape_any_length(length: int, patch_size: int) -> None:
    net = small_unet((1, 2), patch_size=patch_size).eval()
    perturb_final_conv(net)
    x, cond = inputs(2, length)
    with torch.no_grad():
        y = net(x, cond)
    assert y.shape == (2, 2, length)
    assert torch.isfinite(y).all() and y.abs().sum() > 0
    assert net.length_multiple == 2 * patch_size


def test_patch_layout_matches_numpy_reshape() -> None:
    """Stem input channel c * p + k at position i holds x[c, i * p + k]; the output unfolds the same way."""
    p, length = 4, 16
    net = small_unet((1, 2), patch_size=p).eval()
    x, cond = inputs(1, length)
    seen = {}
    net.stem.register_forward_hook(lambda mod, args, out: seen.update(stem_in=args[0].clone()))
    # A final conv that copies channel j of the last activation: out channel o * p + k emits feature o * p + k.
    with torch.no_grad():
        net.out_conv.weight.zero_()
        net.out_conv.bias.copy_(torch.arange(2 * p, dtype=torch.float32))
        y = net(x, cond)
    xn = x.numpy()[0]                                     # (C, L)
    expected_in = np.empty((3 * p, length // p), dtype=np.float32)
    for c in range(3):
        for k in range(p):
            expected_in[c * p + k] = xn[c, k::p]
    np.testing.assert_array_equal(seen["stem_in"].numpy()[0], expected_in)
    # Output channel o, step i * p + k comes from out_conv channel o * p + k (its bias here).
    expected_out = np.array([[o * p + (t % p) for t in range(length)] for o in range(2)], dtype=np.float32)
    np.testing.assert_array_equal(y.numpy()[0], expected_out)


def test_patched_net_is_cheaper_per_position() -> None:
    """Patching divides the positions every conv runs over: count the stem's output length."""
    lengths = {}
    for p in (1, 4):
        net = small_unet((1, 2), patch_size=p).eval()
        net.stem.register_forward_hook(lambda mod, args, out, p=p: lengths.update({p: out.shape[-1]}))
        x, cond = inputs(1, 96)
        with torch.no_grad():
            net(x, cond)
    assert lengths == {1: 96, 4: 24}


def test_bad_patch_size_raises() -> None:
    with pytest.raises(ValueError, match="patch_size"):
        UNet1D(3, 2, patch_size=0)


@pytest.mark.parametrize("patch_size", [1, 4])
def test_grouped_cond_equals_repeated_cond(patch_size: int) -> None:
    """cond (G, D) conditions B / G consecutive rows each: same output as the repeated (B, D) cond."""
    net = small_unet((1, 2), patch_size=patch_size).eval()
    perturb_final_conv(net)
    x, _ = inputs(6, 13)
    cond = torch.randn(2, COND, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        grouped = net(x, cond)
        repeated = net(x, cond.repeat_interleave(3, dim=0))
        swapped = net(x, cond.flip(0))
    torch.testing.assert_close(grouped, repeated, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(grouped[:3], swapped[:3])  # rows 0-2 follow cond row 0, not row 1


@pytest.mark.parametrize("patch_size,length,fixed", [(1, 13, 2), (1, 1, 1), (4, 13, 2), (3, 7, 1), (2, 96, 2)])
def test_fixed_stem_share_equals_the_full_stem(patch_size: int, length: int, fixed: int) -> None:
    """The first convolution split: its share from the fixed last channels, computed once (one row per
    group) and added to the convolution of the varying channels, gives the full network's output."""
    net = small_unet((1, 2, 2), patch_size=patch_size).eval()
    perturb_final_conv(net)
    x, cond = inputs(6, length)
    share_input = x[::3, 3 - fixed:]          # one row per group of 3: rows 0-2 share row 0's fixed channels
    full_x = torch.cat([x[:, :3 - fixed], share_input.repeat_interleave(3, dim=0)], dim=1)
    with torch.no_grad():
        full = net(full_x, cond)
        share = net.fixed_stem(share_input)
        split = net(x[:, :3 - fixed], cond, fixed_stem=share)
        per_row = net(x[:, :3 - fixed], cond, fixed_stem=share.repeat_interleave(3))
    assert share.h.shape == (2, net.stem.out_channels, -(-length // net.length_multiple) * net.length_multiple
                             // patch_size)
    torch.testing.assert_close(split, full, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(per_row, full, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="fixed_stem"):
        net(x[:, :3 - fixed, :length - 1] if length > 1 else x[:, :3 - fixed].repeat(1, 1, 2), cond, fixed_stem=share)
    with pytest.raises(ValueError, match="C_fixed"):
        net.fixed_stem(x)  # every channel fixed: nothing would vary


@pytest.mark.parametrize("groups", [1, 3, 6])
@pytest.mark.parametrize("length", [5, 13])
def test_no_grad_path_equals_autograd_path(groups: int, length: int) -> None:
    """Without autograd the blocks update their intermediates in place: same values, and the input is
    left untouched (the in-place ops only write the blocks' own temporaries)."""
    net = seeded(lambda: UNet1D(3, 1, base_channels=8, channel_mults=(1, 2), num_res_blocks=2, cond_dim=COND))
    perturb_final_conv(net)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(6, 3, length, generator=g)
    cond = torch.randn(groups, COND, generator=g)
    x_before = x.clone()
    with torch.enable_grad():
        ref = net(x, cond)
    assert ref.requires_grad
    with torch.no_grad():
        out = net(x, cond)
    assert torch.equal(out, ref.detach())
    assert torch.equal(x, x_before)
    with torch.inference_mode():
        assert torch.equal(net(x, cond), ref.detach())


def test_no_grad_block_keeps_the_autocast_dtype() -> None:
    """Under bf16 autocast the block's output dtype (and values) are those of the autograd path:
    the in-place residual add is skipped when it would change the dtype of ``skip + h``."""
    block = seeded(lambda: ResBlock1D(8, 8, COND))
    g = torch.Generator().manual_seed(4)
    x, cond = torch.randn(4, 8, 7, generator=g), torch.randn(4, COND, generator=g)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with torch.enable_grad():
            ref = block(x, cond)
        with torch.no_grad():
            out = block(x, cond)
    assert out.dtype == ref.dtype
    assert torch.equal(out, ref.detach())
