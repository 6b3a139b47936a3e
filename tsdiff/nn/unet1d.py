"""A generic 1D U-Net with FiLM conditioning from a vector.

The network knows nothing about time series: it maps ``(B, C_in, L)`` to
``(B, C_out, L)`` for any ``L >= 1`` and is conditioned by one vector per
batch element (in tsdiff: diffusion-step embedding + context embedding).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def num_groups(channels: int, groups: int) -> int:
    """Largest divisor of ``channels`` that is ``<= groups`` and leaves >= 2 channels per group.

    Two channels per group keep GroupNorm defined on length-1 inputs (a group of
    one value has no variance). A single channel gets one group.
    """
    for g in range(min(groups, max(channels // 2, 1)), 0, -1):
        if channels % g == 0:
            return g
    return 1


def group_norm(channels: int, groups: int) -> nn.GroupNorm:
    """``nn.GroupNorm`` over ``channels`` with a group count that divides them."""
    return nn.GroupNorm(num_groups(channels, groups), channels)


class ResBlock1D(nn.Module):
    """Residual block with FiLM conditioning.

    ``h = Conv1d_k3(SiLU(GroupNorm(x)))``;
    ``h = Conv1d_k3(Dropout(SiLU(GroupNorm(h) * (1 + scale) + shift)))``;
    ``out = skip(x) + h`` with ``(scale, shift) = Linear(SiLU(cond))`` and
    ``skip`` a 1x1 conv when the channel count changes (identity otherwise).

    FiLM is applied right after the second GroupNorm (the "scale-shift norm"
    of Improved DDPM) rather than before it, so that the normalisation cannot
    cancel the conditioning.

    Parameters
    ----------
    in_channels, out_channels : int
        Channel counts of input and output.
    cond_dim : int
        Width of the conditioning vector.
    dropout : float, default 0.0
        Dropout probability before the second convolution.
    groups : int, default 8
        Maximum GroupNorm group count (reduced to a divisor of the channels).

    Shapes
    ------
    x : ``(B, in_channels, L)``, cond : ``(G, cond_dim)`` with ``B % G == 0`` -> ``(B, out_channels, L)``.
    Row ``g`` of ``cond`` conditions the ``B / G`` consecutive rows ``g * B / G, ...`` of ``x``
    (``G = B``: one vector per row).
    """

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int,
                 dropout: float = 0.0, groups: int = 8) -> None:
        super().__init__()
        self.norm1 = group_norm(in_channels, groups)
        self.conv1 = nn.Conv1d(in_channels, out_channels, kernel_size=3, padding=1)
        self.film = nn.Linear(cond_dim, 2 * out_channels)
        self.norm2 = group_norm(out_channels, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv1d(out_channels, out_channels, kernel_size=3, padding=1)
        self.skip: nn.Module = (nn.Identity() if in_channels == out_channels
                                else nn.Conv1d(in_channels, out_channels, kernel_size=1))

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        """Apply the block: ``(B, C_in, L), (G, D) -> (B, C_out, L)`` (``B % G == 0``)."""
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(F.silu(cond)).unsqueeze(-1).chunk(2, dim=1)   # (G, C_out, 1) each
        h = self.norm2(h)
        batch, groups = h.shape[0], cond.shape[0]
        if groups == batch:
            h = h * (1.0 + scale) + shift
        else:  # FiLM once per group, broadcast over its B / G rows
            h = (h.view(groups, batch // groups, *h.shape[1:]) * (1.0 + scale[:, None])
                 + shift[:, None]).view_as(h)
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class Downsample1D(nn.Module):
    """Halve the length with a stride-2 conv: ``(B, C, L) -> (B, C, ceil(L / 2))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel_size=3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample1D(nn.Module):
    """Double the length (nearest neighbour, then a k=3 conv): ``(B, C, L) -> (B, C, 2L)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UNet1D(nn.Module):
    """1D U-Net with FiLM conditioning, for any input length.

    Layout (DDPM-style): a k=3 stem conv; per level ``num_res_blocks``
    :class:`ResBlock1D` then (except at the last level) a stride-2
    downsampling conv; a middle of two residual blocks; a mirrored decoder
    with ``num_res_blocks + 1`` residual blocks per level, each fed the
    matching encoder activation concatenated on the channel axis, and
    nearest-neighbour upsampling between levels; a final
    GroupNorm -> SiLU -> 1x1 conv. The final conv starts at zero (the network
    initially outputs zeros), which still lets its own weights receive
    gradients, so training moves it off zero at the first step.

    With ``patch_size = p > 1`` the length axis is cut into patches of ``p``
    steps that become channels (``(B, C, L) -> (B, C * p, L / p)``, as in
    PatchTST) before the stem, and the final conv emits ``C_out * p``
    channels that are unfolded back: every layer then runs over ``L / p``
    positions, about ``p`` times fewer operations for the same widths.

    The input is zero-padded on the right to a multiple of
    ``patch_size * 2 ** (len(channel_mults) - 1)`` and the output cropped back.
    The network has no batch-coupling layers (GroupNorm only), so batch
    elements are independent.

    Parameters
    ----------
    in_channels, out_channels : int
        ``C_in`` and ``C_out``.
    base_channels : int, default 64
        Channels at the first level; level ``i`` has ``base_channels * channel_mults[i]``.
    channel_mults : sequence of int, default (1, 2, 2)
        One multiplier per level; the number of levels sets the depth.
    num_res_blocks : int, default 1
        Residual blocks per encoder level (decoder levels get one more).
    cond_dim : int, default 128
        Width ``D`` of the conditioning vector.
    dropout : float, default 0.0
        Dropout inside the residual blocks.
    groups : int, default 8
        Maximum GroupNorm group count.
    patch_size : int, default 1
        Time steps per patch (1: no patching).

    Shapes
    ------
    x : ``(B, C_in, L)``, cond : ``(G, D)`` with ``B % G == 0`` -> ``(B, C_out, L)``; row ``g`` of
    ``cond`` conditions rows ``g * B / G`` to ``(g + 1) * B / G - 1`` of ``x`` (``G = B``: one
    vector per row; ``G < B`` saves the FiLM projections when rows share their conditioning,
    as the sample paths of one series do at one diffusion step).
    """

    def __init__(self, in_channels: int, out_channels: int, base_channels: int = 64,
                 channel_mults: Sequence[int] = (1, 2, 2), num_res_blocks: int = 1,
                 cond_dim: int = 128, dropout: float = 0.0, groups: int = 8,
                 patch_size: int = 1) -> None:
        super().__init__()
        channel_mults = tuple(int(m) for m in channel_mults)
        if not channel_mults or any(m < 1 for m in channel_mults):
            raise ValueError(f"channel_mults must be non-empty positive ints, got {channel_mults}")
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("base_channels", base_channels), ("num_res_blocks", num_res_blocks),
                            ("cond_dim", cond_dim), ("groups", groups), ("patch_size", patch_size)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.cond_dim = cond_dim
        self.channel_mults = channel_mults
        self.num_res_blocks = num_res_blocks
        self.patch_size = patch_size
        self.length_multiple = patch_size * 2 ** (len(channel_mults) - 1)
        last = len(channel_mults) - 1

        self.stem = nn.Conv1d(in_channels * patch_size, base_channels, kernel_size=3, padding=1)
        skip_channels = [base_channels]
        ch = base_channels
        self.down = nn.ModuleList()
        for level, mult in enumerate(channel_mults):
            out_ch = base_channels * mult
            for _ in range(num_res_blocks):
                self.down.append(ResBlock1D(ch, out_ch, cond_dim, dropout, groups))
                ch = out_ch
                skip_channels.append(ch)
            if level != last:
                self.down.append(Downsample1D(ch))
                skip_channels.append(ch)

        self.mid = nn.ModuleList([ResBlock1D(ch, ch, cond_dim, dropout, groups),
                                  ResBlock1D(ch, ch, cond_dim, dropout, groups)])

        self.up = nn.ModuleList()
        for level in reversed(range(len(channel_mults))):
            out_ch = base_channels * channel_mults[level]
            for _ in range(num_res_blocks + 1):
                self.up.append(ResBlock1D(ch + skip_channels.pop(), out_ch, cond_dim, dropout, groups))
                ch = out_ch
            if level != 0:
                self.up.append(Upsample1D(ch))
        assert not skip_channels

        self.out_norm = group_norm(ch, groups)
        self.out_conv = nn.Conv1d(ch, out_channels * patch_size, kernel_size=1)
        nn.init.zeros_(self.out_conv.weight)
        nn.init.zeros_(self.out_conv.bias)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        """Run the U-Net.

        Parameters
        ----------
        x : Tensor, shape ``(B, C_in, L)``, any ``L >= 1``.
        cond : Tensor, shape ``(G, cond_dim)`` with ``B % G == 0`` (``G = B`` typically).

        Returns
        -------
        Tensor, shape ``(B, C_out, L)``.
        """
        if x.dim() != 3 or x.shape[1] != self.in_channels or x.shape[2] < 1:
            raise ValueError(f"x must have shape (B, {self.in_channels}, L>=1), got {tuple(x.shape)}")
        if cond.dim() != 2 or cond.shape[1] != self.cond_dim or cond.shape[0] < 1 \
                or x.shape[0] % cond.shape[0]:
            raise ValueError(f"cond must have shape (G, {self.cond_dim}) with G dividing the batch size "
                             f"{x.shape[0]}, got {tuple(cond.shape)}")
        length = x.shape[-1]
        pad = (-length) % self.length_multiple
        if pad:
            x = F.pad(x, (0, pad))
        batch, p = x.shape[0], self.patch_size
        n = x.shape[-1] // p
        if p > 1:  # (B, C, n * p) -> (B, C * p, n); channel c * p + k holds step k of each patch
            x = x.reshape(batch, self.in_channels, n, p).transpose(2, 3).reshape(batch, self.in_channels * p, n)

        h = self.stem(x)
        skips = [h]
        for module in self.down:
            h = module(h, cond) if isinstance(module, ResBlock1D) else module(h)
            skips.append(h)
        for block in self.mid:
            h = block(h, cond)
        for module in self.up:
            if isinstance(module, ResBlock1D):
                h = module(torch.cat([h, skips.pop()], dim=1), cond)
            else:
                h = module(h)
        h = self.out_conv(F.silu(self.out_norm(h)))
        if p > 1:  # (B, C_out * p, n) -> (B, C_out, n * p)
            h = h.reshape(batch, self.out_channels, p, n).transpose(2, 3).reshape(batch, self.out_channels, n * p)
        return h[..., :length]


__all__ = ["UNet1D", "ResBlock1D", "Downsample1D", "Upsample1D", "num_groups", "group_norm"]
