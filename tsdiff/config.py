"""One flat, frozen configuration for a tsdiff model and its training.

The config is saved inside every checkpoint (as plain data, next to
:data:`FORMAT_VERSION`) so a model file is self-describing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

#: Version of the on-disk model format written by :meth:`tsdiff.TSDiff.save`.
#: Version 2 added the robust-input fields (:data:`LEGACY_VALUES`) and per-series input statistics;
#: version 1 files still load, with those fields at their legacy values. Version 3 added the distilled
#: student (an optional ``student`` entry: its weights, grid and calibration); files of versions 1 and 2
#: load as before, without a student. Version 4 added the student's ``tail_cut`` (it may run on a shorter
#: window than the teacher); a version-3 student runs on the teacher's window, as it was trained.
FORMAT_VERSION = 4

#: Values of the fields added after format version 1 that reproduce the version-1 model exactly.
#: :meth:`TSDiffConfig.from_dict` fills them in for a config that lacks them (a file from version 1).
LEGACY_VALUES: dict[str, Any] = {
    "scale_floor": 0.0,
    "min_context_observed": 0,
    "level_input": False,
    "horizon_mask": False,
}

_SCALINGS = ("mean", "std", "none")
_SCHEDULES = ("linear", "cosine")


class ConfigError(ValueError):
    """An invalid configuration value; the message names the field."""


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def _non_negative_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")


@dataclass(frozen=True)
class TSDiffConfig:
    """Every setting of a tsdiff model, validated on construction.

    Window sizes use GluonTS words: the model sees ``context_length`` past
    steps and denoises ``prediction_length`` future steps. The denoiser runs
    over ``tail_length + prediction_length`` positions only (the recent tail of
    the history plus the horizon), so one denoising step costs the same for
    any ``context_length``; the full context is read once per series by the
    context encoder.
    """

    # -- windows and inputs ------------------------------------------------
    prediction_length: int
    context_length: int
    freq: str
    lags: tuple[int, ...] = ()
    tail_length: int = 24
    num_time_features: int = 0
    num_known_covariates: int = 0
    num_past_covariates: int = 0
    static_cardinalities: tuple[int, ...] = ()
    num_static_real: int = 0
    scaling: str = "std"
    #: Floor of each series' scale, as a fraction of the std of that series' observed training values;
    #: the scale is also at least ``0.01 * |context mean|``. 0 keeps the version-1 scaling (scale
    #: floored at ``1e-8 * |mean|`` only, so near-constant or mostly missing contexts blow up).
    scale_floor: float = 0.1
    #: Training windows need at least this many observed context points (0: any window). None means
    #: ``min(context_length, max(prediction_length, 16))``: at prediction time a context holds the
    #: last ``context_length`` points, so a window with fewer points than the horizon it forecasts (or
    #: fewer than 16, too few for a std) is mostly padding that the model never meets when forecasting.
    min_context_observed: Optional[int] = None
    #: Give the context encoder the series level ``sign(m) * log1p(|m| / scale)`` (m: context mean).
    level_input: bool = True
    #: Denoiser channel marking the observed horizon points (1 on every point when sampling).
    horizon_mask: bool = True
    # -- diffusion (DDPM, Ho et al. 2020) ----------------------------------
    diffusion_steps: int = 1000
    beta_schedule: str = "linear"
    beta_start: float = 1e-4
    beta_end: float = 0.02
    # -- network -----------------------------------------------------------
    hidden_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1
    patch_size: int = 1
    embedding_dim: int = 128
    encoder_channels: int = 64
    dropout: float = 0.0
    # -- training ----------------------------------------------------------
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    max_steps: int = 4000
    max_time: Optional[float] = None
    grad_clip: float = 1.0
    ema_decay: float = 0.995
    val_every: int = 200
    num_val_windows: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        if self.min_context_observed is None and isinstance(self.context_length, int) \
                and isinstance(self.prediction_length, int):
            object.__setattr__(self, "min_context_observed",
                               min(self.context_length, max(self.prediction_length, 16)))
        for name in ("prediction_length", "context_length", "tail_length", "diffusion_steps",
                     "hidden_channels", "num_res_blocks", "patch_size", "embedding_dim", "encoder_channels",
                     "batch_size", "max_steps", "val_every", "num_val_windows"):
            _positive_int(name, getattr(self, name))
        for name in ("num_time_features", "num_known_covariates", "num_past_covariates",
                     "num_static_real", "seed", "min_context_observed"):
            _non_negative_int(name, getattr(self, name))
        if not isinstance(self.freq, str) or not self.freq:
            raise ConfigError(f"freq must be a non-empty pandas frequency string, got {self.freq!r}")
        # Tuples, not lists: keeps the dataclass hashable and frozen in spirit.
        object.__setattr__(self, "lags", tuple(self.lags))
        object.__setattr__(self, "channel_mults", tuple(self.channel_mults))
        object.__setattr__(self, "static_cardinalities", tuple(self.static_cardinalities))
        for lag in self.lags:
            _positive_int("lags[i]", lag)
            if lag > self.context_length:
                raise ConfigError(
                    f"lags contains {lag}, longer than context_length={self.context_length}; "
                    "increase context_length or drop the lag")
        if self.tail_length > self.context_length:
            raise ConfigError(f"tail_length={self.tail_length} must be <= context_length={self.context_length}")
        if not self.channel_mults:
            raise ConfigError("channel_mults must hold at least one level")
        for m in self.channel_mults:
            _positive_int("channel_mults[i]", m)
        for c in self.static_cardinalities:
            _positive_int("static_cardinalities[i]", c)
        if self.scaling not in _SCALINGS:
            raise ConfigError(f"scaling must be one of {_SCALINGS}, got {self.scaling!r}")
        if not (0.0 <= self.scale_floor < 1e3) or self.scale_floor != self.scale_floor:
            raise ConfigError(f"scale_floor must be a fraction >= 0 of a series' std, got {self.scale_floor}")
        if self.min_context_observed > self.context_length:
            raise ConfigError(f"min_context_observed={self.min_context_observed} must be <= "
                              f"context_length={self.context_length}")
        for name in ("level_input", "horizon_mask"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.beta_schedule not in _SCHEDULES:
            raise ConfigError(f"beta_schedule must be one of {_SCHEDULES}, got {self.beta_schedule!r}")
        if not (0.0 < self.beta_start < self.beta_end < 1.0):
            raise ConfigError(f"need 0 < beta_start < beta_end < 1, got {self.beta_start}, {self.beta_end}")
        # Sampling starts from N(0, I): a schedule that leaves sqrt(abar_T) > 0.1 of the signal at
        # step T would start every sample from the wrong distribution (q(x_T | x0) != N(0, I)).
        from .diffusion.schedule import make_betas

        signal_left = float(np.sqrt(np.prod(1.0 - make_betas(self.beta_schedule, self.diffusion_steps,
                                                             self.beta_start, self.beta_end))))
        if signal_left > 0.1:
            raise ConfigError(
                f"the noise schedule ({self.beta_schedule}, diffusion_steps={self.diffusion_steps}, "
                f"beta_start={self.beta_start}, beta_end={self.beta_end}) leaves sqrt(alphas_cumprod[T-1]) = "
                f"{signal_left:.2f} of the signal at the last step (at most 0.1 allowed): sampling from N(0, I) "
                "would be wrong; raise diffusion_steps or beta_end, or use beta_schedule='cosine'")
        if not (0.0 <= self.dropout < 1.0):
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if not (self.learning_rate > 0):
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not (self.grad_clip > 0):
            raise ConfigError(f"grad_clip must be > 0 (gradient clipping is always on), got {self.grad_clip}")
        if not (0.0 <= self.ema_decay < 1.0):
            raise ConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.max_time is not None and not (self.max_time > 0):
            raise ConfigError(f"max_time must be None or > 0 seconds, got {self.max_time}")

    # -- serialization -----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain-data view (lists instead of tuples) for checkpoints and JSON."""
        out = dataclasses.asdict(self)
        for k, v in out.items():
            if isinstance(v, tuple):
                out[k] = list(v)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TSDiffConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error.

        Fields missing from ``data`` that were added after format version 1
        take their :data:`LEGACY_VALUES`, so a config read from an old model
        file rebuilds the old network and scaling exactly.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"config must be a dict, got {type(data).__name__}")
        data = {**LEGACY_VALUES, **data}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config keys: {unknown}")
        return cls(**data)

    def replace(self, **changes: Any) -> "TSDiffConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def window_length(self) -> int:
        """Length the denoiser runs over: ``tail_length + prediction_length``."""
        return self.tail_length + self.prediction_length


__all__ = ["TSDiffConfig", "ConfigError", "FORMAT_VERSION", "LEGACY_VALUES"]
