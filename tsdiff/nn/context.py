"""Context encoder: one embedding per series from its whole history window."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from tsdiff.nn.unet1d import group_norm

#: Number of stride-2 blocks when ``num_layers`` is None.
DEFAULT_ENCODER_LAYERS = 4


def static_embedding_dim(cardinality: int) -> int:
    """Embedding width for a categorical feature: ``min(16, (cardinality + 1) // 2)``."""
    return max(1, min(16, (cardinality + 1) // 2))


class _DownBlock(nn.Module):
    """Pre-activation residual block halving the length.

    ``(B, C, L) -> (B, C, ceil(L / 2))``; the last output position always sees
    the last input position (k=3, stride 2, padding 1).
    """

    def __init__(self, channels: int, groups: int = 8) -> None:
        super().__init__()
        self.norm1 = group_norm(channels, groups)
        self.conv1 = nn.Conv1d(channels, channels, kernel_size=3, stride=2, padding=1)
        self.norm2 = group_norm(channels, groups)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size=3, padding=1)
        self.skip = nn.Conv1d(channels, channels, kernel_size=1, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class ContextEncoder(nn.Module):
    """Encode a history window (plus static features and scale) into one vector.

    A k=3 stem conv, then ``num_layers`` residual blocks each halving the
    length with a stride-2 conv (total cost ``O(C)``), a final
    GroupNorm -> SiLU, then pooling: the mean over time concatenated with the
    features at the last (most recent) position. The pooled ``2 * hidden``
    features are concatenated with one ``nn.Embedding`` per categorical static
    feature (width ``min(16, (cardinality + 1) // 2)``), the static reals and
    ``log_scale`` (zeros when not given), and mapped to ``out_dim`` by a
    two-layer MLP. Any ``C >= 1`` works. Batch elements are independent.

    Parameters
    ----------
    in_channels : int
        Channels of ``past`` (e.g. scaled values, observed mask, time features).
    hidden : int, default 64
        Width of the convolutional stack.
    out_dim : int, default 128
        Width ``D`` of the returned embedding.
    static_cardinalities : sequence of int, default ()
        Cardinality of each categorical static feature (``S`` of them).
    num_static_real : int, default 0
        Number ``R`` of real static features.
    num_layers : int or None, default None
        Number of stride-2 blocks; None means :data:`DEFAULT_ENCODER_LAYERS` (4).
    with_level : bool, default False
        Also read a ``level`` scalar per series (concatenated after ``log_scale``).

    Shapes
    ------
    past : ``(B, in_channels, C)``; static_cat : ``(B, S)`` long;
    static_real : ``(B, R)``; log_scale, level : ``(B, 1)`` -> ``(B, out_dim)``.
    """

    def __init__(self, in_channels: int, hidden: int = 64, out_dim: int = 128,
                 static_cardinalities: Sequence[int] = (), num_static_real: int = 0,
                 num_layers: Optional[int] = None, with_level: bool = False) -> None:
        super().__init__()
        if num_layers is None:
            num_layers = DEFAULT_ENCODER_LAYERS
        for name, value in (("in_channels", in_channels), ("hidden", hidden), ("out_dim", out_dim)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if num_layers < 0 or num_static_real < 0:
            raise ValueError("num_layers and num_static_real must be >= 0")
        static_cardinalities = tuple(int(c) for c in static_cardinalities)
        if any(c < 1 for c in static_cardinalities):
            raise ValueError(f"static cardinalities must be >= 1, got {static_cardinalities}")
        self.in_channels = in_channels
        self.out_dim = out_dim
        self.static_cardinalities = static_cardinalities
        self.num_static_real = num_static_real
        self.with_level = bool(with_level)

        self.stem = nn.Conv1d(in_channels, hidden, kernel_size=3, padding=1)
        self.blocks = nn.Sequential(*[_DownBlock(hidden) for _ in range(num_layers)])
        self.out_norm = group_norm(hidden, 8)
        self.static_embeddings = nn.ModuleList(
            [nn.Embedding(c, static_embedding_dim(c)) for c in static_cardinalities])
        mlp_in = (2 * hidden + sum(static_embedding_dim(c) for c in static_cardinalities)
                  + num_static_real + 1 + int(self.with_level))
        self.mlp = nn.Sequential(nn.Linear(mlp_in, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))

    def forward(self, past: Tensor, static_cat: Optional[Tensor] = None,
                static_real: Optional[Tensor] = None,
                log_scale: Optional[Tensor] = None, level: Optional[Tensor] = None) -> Tensor:
        """Encode the history.

        Parameters
        ----------
        past : Tensor, shape ``(B, in_channels, C)``, any ``C >= 1``.
        static_cat : Tensor, shape ``(B, S)`` long, required iff ``S > 0``.
        static_real : Tensor, shape ``(B, R)``, required iff ``R > 0``.
        log_scale : Tensor, shape ``(B, 1)``, optional (zeros when None).
        level : Tensor, shape ``(B, 1)``, optional (zeros when None); read only ``with_level``.

        Returns
        -------
        Tensor, shape ``(B, out_dim)``.
        """
        if past.dim() != 3 or past.shape[1] != self.in_channels or past.shape[2] < 1:
            raise ValueError(f"past must have shape (B, {self.in_channels}, C>=1), got {tuple(past.shape)}")
        batch = past.shape[0]
        h = self.blocks(self.stem(past))
        h = F.silu(self.out_norm(h))
        parts = [h.mean(dim=-1), h[..., -1]]

        n_cat = len(self.static_cardinalities)
        if n_cat:
            if static_cat is None or static_cat.shape != (batch, n_cat):
                raise ValueError(f"static_cat must have shape ({batch}, {n_cat}), got "
                                 f"{None if static_cat is None else tuple(static_cat.shape)}")
            parts.extend(emb(static_cat[:, i].long()) for i, emb in enumerate(self.static_embeddings))
        elif static_cat is not None and static_cat.numel():
            raise ValueError("static_cat given but the encoder has no categorical static features")

        if self.num_static_real:
            if static_real is None or static_real.shape != (batch, self.num_static_real):
                raise ValueError(f"static_real must have shape ({batch}, {self.num_static_real}), got "
                                 f"{None if static_real is None else tuple(static_real.shape)}")
            parts.append(static_real.to(h.dtype))
        elif static_real is not None and static_real.numel():
            raise ValueError("static_real given but the encoder has num_static_real=0")

        if log_scale is None:
            log_scale = h.new_zeros(batch, 1)
        elif log_scale.shape != (batch, 1):
            raise ValueError(f"log_scale must have shape ({batch}, 1), got {tuple(log_scale.shape)}")
        parts.append(log_scale.to(h.dtype))
        if self.with_level:
            if level is None:
                level = h.new_zeros(batch, 1)
            elif level.shape != (batch, 1):
                raise ValueError(f"level must have shape ({batch}, 1), got {tuple(level.shape)}")
            parts.append(level.to(h.dtype))
        elif level is not None:
            raise ValueError("level given but the encoder was built with with_level=False")
        return self.mlp(torch.cat(parts, dim=1))


__all__ = ["ContextEncoder", "static_embedding_dim", "DEFAULT_ENCODER_LAYERS"]
