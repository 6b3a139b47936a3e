"""Conditional noise predictor eps_theta(x_t, t | seq, emb) over the ``[tail | horizon]`` window."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union

import torch
from torch import Tensor, nn

from tsdiff.nn.embeddings import SinusoidalEmbedding
from tsdiff.nn.unet1d import StemShare, UNet1D


@dataclass(eq=False)
class Conditioning:
    """Per-series conditioning computed once and reused at every diffusion step.

    Attributes
    ----------
    seq : Tensor, shape ``(N, C_seq, W)``
        Window channels fed to :class:`ConditionalDenoiser` (see docs/architecture.md).
    emb : Tensor, shape ``(N, D)``
        Context embedding from :class:`~tsdiff.nn.context.ContextEncoder`.
    """

    seq: Tensor
    emb: Tensor

    def __post_init__(self) -> None:
        if self.seq.dim() != 3 or self.emb.dim() != 2 or self.seq.shape[0] != self.emb.shape[0]:
            raise ValueError(f"need seq (N, C_seq, W) and emb (N, D) with the same N, got "
                             f"{tuple(self.seq.shape)} and {tuple(self.emb.shape)}")

    @property
    def batch_size(self) -> int:
        """Number of rows ``N``."""
        return self.seq.shape[0]

    def __len__(self) -> int:
        return self.batch_size

    def repeat_interleave(self, n: int) -> "Conditioning":
        """Repeat each row ``n`` times, series-major: rows ``[s0]*n + [s1]*n + ...``.

        ``(N, ...) -> (N * n, ...)``; row ``i * n + j`` is sample ``j`` of series ``i``.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        return Conditioning(self.seq.repeat_interleave(n, dim=0), self.emb.repeat_interleave(n, dim=0))

    def __getitem__(self, index: Union[slice, int, Tensor]) -> "Conditioning":
        """Select rows (a slice, an index tensor or an int; an int keeps the batch axis)."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return Conditioning(self.seq[index], self.emb[index])

    def to(self, *args: Any, **kwargs: Any) -> "Conditioning":
        """``Tensor.to`` on both fields (device / dtype)."""
        return Conditioning(self.seq.to(*args, **kwargs), self.emb.to(*args, **kwargs))


class ConditionalDenoiser(nn.Module):
    """Noise predictor over the window ``W = L + H`` (recent tail + horizon).

    The U-Net input is one channel holding ``x_t`` on the last ``H`` positions
    (zeros on the tail) followed by the ``seq`` channels. The FiLM vector is
    ``MLP(Sinusoidal(t)) + Linear(emb)``. The output is the first U-Net
    channel on the last ``H`` positions. One call costs ``O(W)``, whatever
    the context length (the history reaches the denoiser only through ``emb``
    and the tail channels of ``seq``).

    Parameters
    ----------
    seq_channels : int
        ``C_seq``, channels of ``seq`` (may be 0).
    cond_dim : int, default 128
        Width ``D`` of ``emb`` and of the FiLM vector.
    base_channels, channel_mults, num_res_blocks, dropout, patch_size
        Passed to :class:`~tsdiff.nn.unet1d.UNet1D`.

    Shapes
    ------
    x_t : ``(B, H)``; t : ``(B,)`` long, or ``()`` / ``(1,)`` for one step shared by all rows;
    seq : ``(B, C_seq, W)`` with ``W >= H``; emb : ``(G, D)`` with ``B % G == 0``, row ``g``
    shared by rows ``g * B / G, ...`` (the sample paths of one series) -> eps_hat ``(B, H)``.
    With a shared step and ``G < B`` the FiLM vectors are computed once per group.
    """

    def __init__(self, seq_channels: int, cond_dim: int = 128, base_channels: int = 64,
                 channel_mults: Sequence[int] = (1, 2, 2), num_res_blocks: int = 1,
                 dropout: float = 0.0, patch_size: int = 1) -> None:
        super().__init__()
        if seq_channels < 0:
            raise ValueError(f"seq_channels must be >= 0, got {seq_channels}")
        self.seq_channels = seq_channels
        self.cond_dim = cond_dim
        self.step_embedding = SinusoidalEmbedding(cond_dim)
        self.step_mlp = nn.Sequential(nn.Linear(cond_dim, cond_dim), nn.SiLU(),
                                      nn.Linear(cond_dim, cond_dim))
        self.emb_proj = nn.Linear(cond_dim, cond_dim)
        self.unet = UNet1D(1 + seq_channels, 1, base_channels=base_channels,
                           channel_mults=channel_mults, num_res_blocks=num_res_blocks,
                           cond_dim=cond_dim, dropout=dropout, patch_size=patch_size)

    def precompute(self, seq: Tensor) -> StemShare:
        """The first convolution's share from the conditioning channels ``seq``, computed once.

        ``seq`` does not change between diffusion steps or between the sample paths of a series, so
        its part of the U-Net's stem convolution is computed once per series and reused by every call
        of :meth:`forward` (which then convolves the ``x_t`` channel only).

        Parameters
        ----------
        seq : Tensor, shape ``(G, C_seq, W)``, one row per series.

        Returns
        -------
        StemShare, pass it to :meth:`forward` as ``seq`` (rows ``B`` a multiple of ``G``).
        """
        if seq.dim() != 3 or seq.shape[1] != self.seq_channels or self.seq_channels == 0:
            raise ValueError(f"seq must have shape (G, {self.seq_channels}, W) with seq_channels >= 1, "
                             f"got {tuple(seq.shape)}")
        return self.unet.fixed_stem(seq)

    def forward(self, x_t: Tensor, t: Tensor, seq: Union[Tensor, StemShare], emb: Tensor,
                extra: Optional[Tensor] = None) -> Tensor:
        """Predict the noise in ``x_t``.

        Parameters
        ----------
        x_t : Tensor, shape ``(B, H)``
            Noisy horizon (scaled units).
        t : Tensor, shape ``(B,)`` long, or ``()`` / ``(1,)``
            Diffusion step of each row, or one step for all rows.
        seq : Tensor, shape ``(B, C_seq, W)``, or StemShare
            Window channels, ``W = L + H``; or their :meth:`precompute` (one row per group of rows).
        emb : Tensor, shape ``(G, cond_dim)``, ``B % G == 0``
            Context embedding, one row per group of ``B / G`` consecutive rows.
        extra : Tensor, shape ``(1 or B, cond_dim)``, optional
            Added to the FiLM vector (e.g. a student's target-step embedding).

        Returns
        -------
        Tensor, shape ``(B, H)``: ``eps_hat``.
        """
        if x_t.dim() != 2:
            raise ValueError(f"x_t must have shape (B, H), got {tuple(x_t.shape)}")
        batch, horizon = x_t.shape
        shared = isinstance(seq, StemShare)
        width = seq.length if shared else seq.shape[2] if seq.dim() == 3 else -1
        if not shared and (seq.dim() != 3 or seq.shape[0] != batch or seq.shape[1] != self.seq_channels) \
                or width < horizon:
            raise ValueError(f"seq must have shape ({batch}, {self.seq_channels}, W>={horizon}), "
                             f"got {tuple(seq.h.shape if shared else seq.shape)}")
        if emb.dim() != 2 or emb.shape[1] != self.cond_dim or emb.shape[0] < 1 or batch % emb.shape[0]:
            raise ValueError(f"emb must have shape (G, {self.cond_dim}) with G dividing the batch size {batch}, "
                             f"got {tuple(emb.shape)}")
        if t.dim() == 0:
            t = t.reshape(1)
        if t.shape not in ((1,), (batch,)):
            raise ValueError(f"t must have shape ({batch},), (1,) or (), got {tuple(t.shape)}")
        per_row = t.shape[0] != 1 or (extra is not None and extra.shape[0] != 1)
        if per_row and emb.shape[0] != batch:  # per-row steps: one FiLM vector per row
            emb = emb.repeat_interleave(batch // emb.shape[0], dim=0)
        tail = width - horizon
        first = torch.cat([x_t.new_zeros(batch, tail), x_t], dim=1).unsqueeze(1)
        # (1 or B, D) + (G or B, D): one vector per group when the step is shared.
        cond = self.step_mlp(self.step_embedding(t)) + self.emb_proj(emb)
        if extra is not None:
            cond = cond + extra
        if shared:
            out = self.unet(first, cond, fixed_stem=seq)
        else:
            out = self.unet(torch.cat([first, seq.to(x_t.dtype)], dim=1), cond)
        return out[:, 0, tail:]


__all__ = ["ConditionalDenoiser", "Conditioning"]
