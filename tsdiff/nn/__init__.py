"""Neural networks of tsdiff: step embedding, 1D U-Net, context encoder, denoiser."""

from tsdiff.nn.context import ContextEncoder, static_embedding_dim
from tsdiff.nn.denoiser import ConditionalDenoiser, Conditioning
from tsdiff.nn.embeddings import SinusoidalEmbedding
from tsdiff.nn.unet1d import ResBlock1D, UNet1D

__all__ = [
    "ConditionalDenoiser",
    "Conditioning",
    "ContextEncoder",
    "ResBlock1D",
    "SinusoidalEmbedding",
    "UNet1D",
    "static_embedding_dim",
]
