"""Model-free diffusion maths: the DDPM forward process and reverse-process samplers."""

from .samplers import DDIMSampler, DDPMSampler, Sampler, make_sampler, sample_loop
from .schedule import BUFFER_NAMES, DiffusionSchedule, make_betas

__all__ = [
    "BUFFER_NAMES",
    "DDIMSampler",
    "DDPMSampler",
    "DiffusionSchedule",
    "Sampler",
    "make_betas",
    "make_sampler",
    "sample_loop",
]
