"""Model-free diffusion maths: the DDPM forward process and reverse-process samplers."""

from .samplers import (
    DDIMSampler,
    DDPMSampler,
    DistilledSampler,
    DPMSolverSampler,
    Sampler,
    distilled_grid,
    distilled_x0,
    make_sampler,
    sample_loop,
    timestep_grid,
)
from .schedule import BUFFER_NAMES, DiffusionSchedule, make_betas

__all__ = [
    "BUFFER_NAMES",
    "DDIMSampler",
    "DDPMSampler",
    "DistilledSampler",
    "DPMSolverSampler",
    "DiffusionSchedule",
    "distilled_grid",
    "distilled_x0",
    "Sampler",
    "make_betas",
    "make_sampler",
    "sample_loop",
    "timestep_grid",
]
