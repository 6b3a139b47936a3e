"""Model-free diffusion maths: the DDPM forward process and reverse-process samplers."""

from .samplers import DDIMSampler, DDPMSampler, DPMSolverSampler, Sampler, make_sampler, sample_loop, timestep_grid
from .schedule import BUFFER_NAMES, DiffusionSchedule, make_betas

__all__ = [
    "BUFFER_NAMES",
    "DDIMSampler",
    "DDPMSampler",
    "DPMSolverSampler",
    "DiffusionSchedule",
    "Sampler",
    "make_betas",
    "make_sampler",
    "sample_loop",
    "timestep_grid",
]
