"""Embeddings of scalar diffusion steps."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class SinusoidalEmbedding(nn.Module):
    """Transformer-style sinusoidal embedding of a diffusion step (as in DDPM).

    ``emb[:, i] = sin(t * f_i)`` for the first half and ``cos(t * f_i)`` for
    the second half, with frequencies ``f_i = max_period ** (-i / half)``.
    An odd ``dim`` gets one trailing zero column. The module has no
    parameters; users follow it with an MLP.

    Parameters
    ----------
    dim : int
        Output width ``D`` (>= 1).
    max_period : float, default 10000.0
        Longest period of the sinusoids.

    Shapes
    ------
    t : ``(B,)`` long or float step indices -> ``(B, D)`` (dtype of the module, float32 by default).
    """

    freqs: Tensor

    def __init__(self, dim: int, max_period: float = 10000.0) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.dim = dim
        half = dim // 2
        exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float64) / max(half, 1)
        # Not persistent: derived from ``dim``, so it never needs to be in a state dict.
        self.register_buffer("freqs", torch.exp(exponent).to(torch.float32), persistent=False)

    def forward(self, t: Tensor) -> Tensor:
        """Embed steps ``t`` of shape ``(B,)`` into ``(B, dim)``."""
        if t.dim() != 1:
            raise ValueError(f"t must have shape (B,), got {tuple(t.shape)}")
        args = t.to(self.freqs.dtype)[:, None] * self.freqs[None, :]
        emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
        if self.dim % 2 == 1:
            emb = nn.functional.pad(emb, (0, 1))
        return emb

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


__all__ = ["SinusoidalEmbedding"]
