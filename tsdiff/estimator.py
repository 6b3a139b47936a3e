"""`TSDiff`: the pandas-facing diffusion forecaster (scikit-learn conventions).

The constructor only stores parameters; :meth:`TSDiff.fit` returns ``self``
and sets attributes ending in ``_``; :meth:`TSDiff.predict` returns a
:class:`~tsdiff.forecast.Forecast`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from pathlib import Path
from typing import Any, Hashable, Iterator, Optional, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator

from . import backtest
from .backtest import CV_QUANTILES, history_before_windows  # noqa: F401  (history_before_windows: re-exported)
from .calibration import IntervalCalibrator
from .config import ConfigError, TSDiffConfig
from .diffusion import DiffusionSchedule, DistilledSampler, make_sampler
from .distillation import DEFAULT_STUDENT_STEPS, distill
from .distributed import current_context, rank_seed
from .errors import DataError, NotFittedError, TrainingError, _check_non_negative_int, _check_positive_int, subject
from .forecast import Forecast
from .frames import SeriesData, StaticEncoding, future_timestamps, read_future_covariates, read_series
from .memory import MemoryLimit, check_memory, format_bytes, resolve_memory_limit
from .metrics import weighted_quantile_loss
from .model import TSDiffModel, batch_to_tensors
from .prediction import _check_shard, _PredictPlan, _torch_threads, default_chunk_size, precision_dtype, rollout
from .serialization import (
    _Checkpointer,
    _fingerprint,
    damaged_file_errors,
    model_payload,
    read_model,
    restore_fitted,
    save_model,
    saved_params,
)
from .training import Trainer, TrainResult
from .windows import ContextSampler, SeriesArrays, TrainWindowSampler, make_batch

logger = logging.getLogger(__name__)


#: Held-out windows sampled to fit the calibration (a random subset when there are more).
_MAX_CALIBRATION_WINDOWS = 256


def _held_out_blocks(calibration_windows: Optional[int], lengths: np.ndarray, H: int) -> tuple[int, np.ndarray]:
    """Blocks of ``H`` points held out at the end of each series: ``(K, per-series counts)``.

    ``None`` (the default) chooses ``K = min(14, max(1, ceil(256 / n_series)))``: about 256 held-out
    windows in all, so that a small panel gets many days of them and a large one loses little training
    data (m4_hourly, 414 series of 700-1000 points: wQL 0.0358 with 4 windows per series withheld,
    0.0304 with 1). Why: a few consecutive windows share
    one regime (on the Jena weather set the last 4 days before the test period were twice as hard as
    the two weeks before them, and calibration factors fitted there widened the test intervals to
    cov90 0.98), and split conformal needs enough of them to be steady. A series keeps at least two
    thirds of its points for training (``K <= len / (3 H)``) and one block of history.
    """
    n = len(lengths)
    if calibration_windows is None:
        K = int(min(14, max(1, math.ceil(256 / max(n, 1)))))
        cap = np.maximum(0, lengths // (3 * H))
    else:
        K = 0 if calibration_windows == 0 else _check_positive_int("calibration_windows", calibration_windows)
        cap = np.full(n, K)
    return K, np.minimum(np.minimum(K, cap), np.maximum(0, (lengths - H) // H))


_SAMPLER_NAMES = ("auto", "dpmsolver", "ddim", "ddpm", "distilled")


def _check_sampler_name(arg: str, name: Any) -> None:
    if name not in _SAMPLER_NAMES:
        raise ValueError(f"{arg} must be one of {list(_SAMPLER_NAMES)}, got {name!r}")


def teacher_sampler_name(sampler: str) -> str:
    """The many-step sampler behind a ``sampler`` setting: the setting itself, or ``"dpmsolver"`` where it
    names the student (``"distilled"``, or ``"auto"``, which picks the student when there is one). The
    calibration is fitted on it and the student distilled from it."""
    return "dpmsolver" if sampler in ("auto", "distilled") else sampler


class _HeldOut:
    """The held-out windows of a fit (series index and split point of each), and their sampling."""

    def __init__(self, arrays: Sequence[SeriesArrays], series: np.ndarray, splits: np.ndarray,
                 context_length: int, prediction_length: int) -> None:
        self.arrays, self.series, self.splits = arrays, series, splits
        self.C, self.H = context_length, prediction_length

    def __len__(self) -> int:
        return len(self.series)

    def subset(self, rng: np.random.Generator, n: int) -> "_HeldOutBatch":
        """At most ``n`` distinct windows (a random subset drawn with ``rng`` when there are more)."""
        pick = np.arange(len(self.series))
        if len(pick) > n:
            pick = np.sort(rng.choice(pick, size=n, replace=False))
        batch = make_batch(self.arrays, self.series[pick], self.splits[pick], self.C, self.H)
        y = np.where(batch["future_observed"] > 0, batch["future_target"], np.nan)
        return _HeldOutBatch(batch, y)

    @staticmethod
    def sample(module: TSDiffModel, held: "_HeldOutBatch", n_samples: int, sampler: Any, *, seed: int,
               device: torch.device, chunk_size: int, denoiser: Any = None) -> np.ndarray:
        """``(windows, n_samples, H)`` paths in original units, with a fixed seed."""
        gen = torch.Generator(device=device).manual_seed(int(seed))
        out = module.sample(batch_to_tensors(held.inputs(), device), n_samples, sampler, generator=gen,
                            chunk_size=chunk_size, denoiser=denoiser)
        return out.cpu().numpy()


class _HeldOutBatch:
    def __init__(self, batch: dict[str, np.ndarray], y: np.ndarray) -> None:
        self.batch, self.y = batch, y

    def inputs(self) -> dict[str, np.ndarray]:
        """The windows without their future (what a forecast may read)."""
        return {k: v for k, v in self.batch.items() if k not in ("future_target", "future_observed")}

    def __len__(self) -> int:
        return len(self.y)


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else via ``torch.device``."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device (use 'auto', 'cpu', 'cuda', 'cuda:0')") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available; use device='cpu' or 'auto'")
    return dev


class TSDiff(BaseEstimator):
    """Probabilistic forecaster based on a conditional denoising diffusion model.

    A global model is trained over all series: a context encoder reads each
    history window once, and a 1D U-Net denoises the future window
    (``prediction_length`` steps) conditioned on it. Sampling many
    trajectories gives an ensemble forecast.

    Parameters
    ----------
    prediction_length : int, default 24
        Steps denoised at once. Longer horizons are forecast block by block.
    context_length : int, optional
        History steps the model reads. Default: ``max(2 * max(lags), 4 * prediction_length)``.
    freq : str, optional
        Pandas frequency alias; inferred from the data when omitted.
    lags : sequence of int, optional
        Seasonal lags (in steps) whose values, aligned to each future position,
        are fed to the denoiser. Default from the frequency (24, 48, ..., 168 for hourly data).
    tail_length : int, optional
        Recent history steps laid next to the horizon in the denoiser's window.
        Default ``max(prediction_length, 16)``, rounded up to a whole number of patches
        (capped by ``context_length``).
    scaling : {"std", "mean", "none"}, default "std"
        Per-series scaling computed on the context window only.
    scale_floor : float, default 0.1
        The scale of a context is at least this fraction of the std of the series'
        observed values given to ``fit`` (or to ``predict(df=...)`` for new histories),
        and at least 1% of the context's mean magnitude, so constant or mostly missing
        contexts do not blow their future up to hundreds of scaled units. ``0`` turns
        the floor off (the behaviour of models saved before format version 2).
    min_context_observed : int, optional
        Training windows need this many observed points in their context. Default
        ``min(context_length, max(prediction_length, 16))``: forecasts read the last
        ``context_length`` points, so windows made mostly of left padding teach the
        model about contexts it never meets. ``0`` draws every window.
    level_input : bool, default True
        Give the context encoder the series level (signed log of the context mean in
        units of its scale) next to the log scale.
    horizon_mask : bool, default True
        Give the denoiser a channel marking the observed horizon points, so missing
        future targets (zero-filled, outside the loss) are not read as data in training.
    nonnegative : {"auto", True, False}, default "auto"
        Clip sample paths at 0 (in the original units) for non-negative series.
        ``"auto"``: the series whose observed values given to ``fit`` are all >= 0
        (for histories passed to ``predict(df=...)``: all >= 0 there). ``True``: every
        series. ``False``: never.
    time_features : bool, default True
        Use GluonTS calendar features of the frequency.
    diffusion_steps, beta_schedule, beta_start, beta_end
        DDPM noise schedule (default: Ho et al.'s linear 1e-4 to 0.02 over 1000 steps; the fine grid
        near t = 0 is what lets the default 20-step sampler keep the ensemble's spread, see
        ``docs/how_it_works.md``). Schedules leaving more than 0.1 of the signal at step T are refused.
    hidden_channels, channel_mults, num_res_blocks, embedding_dim, encoder_channels, dropout
        Network sizes.
    patch_size : int, default 1
        Time steps the U-Net folds into one position (PatchTST-style patches); the
        denoiser then runs over ``(tail_length + prediction_length) / patch_size``
        positions. ``4`` sampled about 3.4x faster on a 2-core CPU, at some cost in accuracy
        on some datasets (see the patch-size ablation in ``docs/benchmarks.md``).
    batch_size, learning_rate, weight_decay, max_steps, max_time, grad_clip, ema_decay, val_every
        Training. ``max_time`` is a wall-clock budget in seconds; training stops at
        ``max_steps`` or ``max_time``, whichever comes first.
    validation : bool, default True
        Keep the checkpoint with the best forecast skill: the weighted quantile loss of
        ``val_samples`` sampled paths (``val_steps`` DPM-Solver steps, fixed noise) over up to
        ``num_val_windows`` distinct held-out windows (see ``calibration_windows``).
    num_val_windows, val_samples, val_steps : int, default 64, 8, 10
        Size of that validation (about 10% of the training time at the defaults).
    calibrate : bool, default True
        Fit a split-conformal widening of the ensembles on the held-out windows after training
        (:mod:`tsdiff.calibration`): per horizon step and interval level, a factor on each
        sample path's deviation from the median, so that held-out coverage matches nominal.
        ``predict(calibrated=False)`` returns the raw diffusion ensemble.
    calibration_windows : int, optional
        Held out from gradient steps: the last ``calibration_windows`` blocks of
        ``prediction_length`` points of every series with at least one more block of history.
        They serve validation and calibration, never training. Default: about 256 windows in all,
        1 to 14 per series (``min(14, max(1, ceil(256 / n_series)))``), at most a third of each series.
    calibration_samples : int, default 100
        Paths per held-out window (at most 256 windows, a random subset) sampled to fit the
        calibration. The factors carry over between ensemble sizes, but an ensemble as large as the
        one you predict with gives the most accurate coverage (a small one over-widens slightly).
    distill : bool, default False
        After training (and calibration), distil the default sampler into a student that draws
        nearly the same ensembles in 1, 2 or 4 network calls (:meth:`distill_student`), for
        ``predict(sampler="distilled", steps=k)``. Its cost against the training time is measured
        by ``benchmarks/distill_eval.py``; with ``max_time``, it is capped at ``max_time / 2``.
    distill_max_steps : int, optional
        Training steps of the student (default :data:`tsdiff.distillation.DEFAULT_DISTILL_STEPS`, 1000).
    student_steps : sequence of int, default (1, 2, 4)
        Network calls the student is trained for (each one a ``steps=`` of the distilled sampler).
        Every count gets an equal share of the student's training examples.
    student_tail_length : int, optional
        Context positions before the horizon that the student's U-Net runs over (the teacher's runs over
        ``tail_length``). The U-Net's cost is proportional to the window, so a shorter tail makes every
        network call cheaper. Default: at most :data:`tsdiff.distillation.STUDENT_TAIL_LENGTH` (32): the
        longest allowed tail up to 32, or ``tail_length`` when that is shorter (on m4_hourly, 48 + 48
        positions become 32 + 48). Must be ``tail_length`` minus a multiple of
        ``patch_size * 2 ** (len(channel_mults) - 1)``.
    sampler : {"auto", "dpmsolver", "ddim", "ddpm", "distilled"}, default "auto"
        Default sampler of :meth:`predict` (can be changed per call). ``"dpmsolver"`` is
        DPM-Solver++(2M) on a log-SNR grid, the calibrated teacher (see ``docs/how_it_works.md``).
        ``"distilled"`` is the student (needs ``distill=True`` or :meth:`distill_student`).
        ``"auto"``: the student when the model has one, else ``"dpmsolver"``.
    sampler_steps : int, default 20
        Default number of steps of the ``"dpmsolver"`` and ``"ddim"`` samplers (the distilled
        sampler's default is :data:`tsdiff.distillation.DEFAULT_PREDICT_STEPS` calls when the student
        was trained for it, else its fewest).
    spacing : str, optional
        Default timestep grid of those samplers (``"logsnr"`` for dpmsolver, ``"linspace"`` for ddim).
    chunk_size : int, optional
        Rows (series x samples) denoised at once; bounds memory when predicting.
        Default: 65536 on a GPU (fills the device); on the CPU as many rows as keep
        one U-Net activation near 4 MiB (cache-sized batches run fastest), 64 to 4096.
    id_col, timestamp_col, target_col : str, optional
        Column names of long frames; recognized automatically when omitted
        (``item_id``/``timestamp``/``target`` or ``unique_id``/``ds``/``y``).
    device : str, default "auto"
        ``"auto"`` uses CUDA when available.
    num_threads : int, optional
        CPU threads torch may use during ``fit`` and ``predict`` (restored afterwards).
        Default: leave torch's setting alone. On a busy or small machine ``1`` is often
        faster than several threads for this model's small convolutions.
    precision : {"auto", "fp32", "bf16", "fp16"}, default "auto"
        Precision of the denoiser when sampling (``torch.autocast``); the
        diffusion arithmetic stays in float32. ``"fp16"`` needs a CUDA device.
        ``"auto"``: bfloat16 for the distilled student on a CPU with native bf16
        (AVX512-BF16 or AMX; it cut the 2-call student's time on m4_hourly by a
        third with its scores unchanged), float32 otherwise (the teacher, and
        other devices). ``"fp32"`` keeps a seed's samples the same on CPUs with
        and without native bf16.
    compile : bool, default False
        Sample with a ``torch.compile``-d denoiser (compiled on first use; pays
        off for many series x samples on a GPU).
    seed : int, default 0
        Seeds weight initialization, training windows and noise. On CPU the
        same seed gives identical samples.
    progress : bool, default True
        Show a progress bar during training.
    """

    def __init__(self, prediction_length: int = 24, context_length: Optional[int] = None,
                 freq: Optional[str] = None, *, lags: Optional[Sequence[int]] = None,
                 tail_length: Optional[int] = None, scaling: str = "std", scale_floor: float = 0.1,
                 min_context_observed: Optional[int] = None, level_input: bool = True,
                 horizon_mask: bool = True, nonnegative: Any = "auto", time_features: bool = True,
                 diffusion_steps: int = 1000, beta_schedule: str = "linear", beta_start: float = 1e-4,
                 beta_end: float = 0.02, hidden_channels: int = 32, channel_mults: Sequence[int] = (1, 2, 2),
                 num_res_blocks: int = 1, patch_size: int = 1, embedding_dim: int = 128,
                 encoder_channels: int = 64, dropout: float = 0.0, batch_size: int = 64, learning_rate: float = 1e-3,
                 weight_decay: float = 1e-4, max_steps: int = 4000, max_time: Optional[float] = None,
                 grad_clip: float = 1.0, ema_decay: float = 0.995, val_every: int = 200,
                 validation: bool = True, num_val_windows: int = 64, val_samples: int = 8,
                 val_steps: int = 10, calibrate: bool = True, calibration_windows: Optional[int] = None,
                 calibration_samples: int = 100, distill: bool = False, distill_max_steps: Optional[int] = None,
                 student_steps: Sequence[int] = DEFAULT_STUDENT_STEPS, student_tail_length: Optional[int] = None,
                 sampler: str = "auto",
                 sampler_steps: Optional[int] = 20, spacing: Optional[str] = None, chunk_size: Optional[int] = None,
                 id_col: Optional[str] = None,
                 timestamp_col: Optional[str] = None, target_col: Optional[str] = None,
                 device: str = "auto", num_threads: Optional[int] = None, precision: str = "auto",
                 compile: bool = False, seed: int = 0, progress: bool = True) -> None:
        self.prediction_length = prediction_length
        self.context_length = context_length
        self.freq = freq
        self.lags = lags
        self.tail_length = tail_length
        self.scaling = scaling
        self.scale_floor = scale_floor
        self.min_context_observed = min_context_observed
        self.level_input = level_input
        self.horizon_mask = horizon_mask
        self.nonnegative = nonnegative
        self.time_features = time_features
        self.diffusion_steps = diffusion_steps
        self.beta_schedule = beta_schedule
        self.beta_start = beta_start
        self.beta_end = beta_end
        self.hidden_channels = hidden_channels
        self.channel_mults = channel_mults
        self.num_res_blocks = num_res_blocks
        self.patch_size = patch_size
        self.embedding_dim = embedding_dim
        self.encoder_channels = encoder_channels
        self.dropout = dropout
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_steps = max_steps
        self.max_time = max_time
        self.grad_clip = grad_clip
        self.ema_decay = ema_decay
        self.val_every = val_every
        self.validation = validation
        self.num_val_windows = num_val_windows
        self.val_samples = val_samples
        self.val_steps = val_steps
        self.calibrate = calibrate
        self.calibration_windows = calibration_windows
        self.calibration_samples = calibration_samples
        self.distill = distill
        self.distill_max_steps = distill_max_steps
        self.student_steps = student_steps
        self.student_tail_length = student_tail_length
        self.sampler = sampler
        self.sampler_steps = sampler_steps
        self.spacing = spacing
        self.chunk_size = chunk_size
        self.id_col = id_col
        self.timestamp_col = timestamp_col
        self.target_col = target_col
        self.device = device
        self.num_threads = num_threads
        self.precision = precision
        self.compile = compile
        self.seed = seed
        self.progress = progress

    # ------------------------------------------------------------------ config
    def _make_config(self, freq: str, num_known: int, num_past: int,
                     static_cardinalities: tuple[int, ...], num_static_real: int) -> TSDiffConfig:
        from .integrations.gluonts_features import default_lags, num_time_features

        H = _check_positive_int("prediction_length", self.prediction_length)
        lags = tuple(default_lags(freq, H)) if self.lags is None else tuple(self.lags)
        if self.context_length is None:
            C = max([2 * lag for lag in lags] + [4 * H, 16])
        else:
            C = _check_positive_int("context_length", self.context_length)
            if self.lags is None:  # default lags must fit in a user-given context
                lags = tuple(lag for lag in lags if lag <= C)
        patch = _check_positive_int("patch_size", self.patch_size)
        if self.tail_length is None:
            # A tail that is a whole number of patches lines the horizon up with patch boundaries.
            tail = min(C, -(-max(H, 16) // patch) * patch)
        else:
            tail = self.tail_length
        # Every config field that is also a constructor parameter is copied as given; the rest is derived here.
        derived = dict(prediction_length=H, context_length=C, freq=freq, lags=lags, tail_length=tail,
                       num_time_features=num_time_features(freq) if self.time_features else 0,
                       num_known_covariates=num_known, num_past_covariates=num_past,
                       static_cardinalities=static_cardinalities, num_static_real=num_static_real,
                       channel_mults=tuple(self.channel_mults), patch_size=patch)
        values = {f.name: derived[f.name] if f.name in derived else getattr(self, f.name)
                  for f in dataclasses.fields(TSDiffConfig)}
        try:
            return TSDiffConfig(**values)
        except ConfigError as exc:
            raise ValueError(f"invalid TSDiff parameter: {exc}") from None

    # ------------------------------------------------------------------ arrays
    def _arrays(self, series: Sequence[SeriesData], extra: int = 0,
                future_known: Optional[Sequence[np.ndarray]] = None,
                static_cat: Optional[np.ndarray] = None,
                static_real: Optional[np.ndarray] = None,
                scale_floors: Optional[np.ndarray] = None) -> list[SeriesArrays]:
        """Numpy view of each series, time features extended ``extra`` steps into the future.

        Static reals are standardized with the training statistics (models of
        format version 2); ``scale_floors`` (N,) is each series' scale floor.
        """
        from .integrations.gluonts_features import time_features

        cfg = self.config_
        if static_real is not None and getattr(self, "static_real_mean_", None) is not None:
            static_real = (static_real - self.static_real_mean_) / self.static_real_std_
        out = []
        for i, s in enumerate(series):
            T = len(s)
            tf = (time_features(cfg.freq, s.start, T + extra) if cfg.num_time_features
                  else np.zeros((0, T + extra), np.float32))
            known = None
            if cfg.num_known_covariates:
                known = s.known_covariates.astype(np.float32)
                if future_known is not None:
                    known = np.concatenate([known, future_known[i].astype(np.float32)], axis=1)
            past = s.past_covariates.astype(np.float32) if cfg.num_past_covariates else None
            out.append(SeriesArrays(
                target=s.target.astype(np.float32), time_feat=tf, known_cov=known, past_cov=past,
                static_cat=None if static_cat is None else static_cat[i].astype(np.int64),
                static_real=None if static_real is None else static_real[i].astype(np.float32),
                scale_floor=None if scale_floors is None else float(scale_floors[i])))
        return out

    def _series_stats(self, series: Sequence[SeriesData], ends: Optional[np.ndarray] = None
                      ) -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        """Per-series scale floors (N,) float32 and non-negative flags (N,) bool from the given values.

        The floor is ``scale_floor`` times the std of the observed values before ``ends[i]``
        (default: all; at fit time the held-out windows are left out) (None when the config
        has no floor); the flag follows the ``nonnegative`` parameter (None when it is False).
        """
        floors = None
        if self.config_.scale_floor > 0:
            heads = [s.target if ends is None else s.target[:int(e)] for s, e in
                     zip(series, ends if ends is not None else [None] * len(series))]
            floors = np.array([np.nanstd(t) if np.isfinite(t).any() else 0.0 for t in heads],
                              dtype=np.float64) * self.config_.scale_floor
            floors = floors.astype(np.float32)
        mode = self.nonnegative
        if isinstance(mode, (bool, np.bool_)):
            return floors, (np.ones(len(series), dtype=bool) if mode else None)
        if mode != "auto":
            raise ValueError(f"nonnegative must be 'auto', True or False, got {mode!r}")
        flags = np.array([bool(np.all(s.target[~np.isnan(s.target)] >= 0)) for s in series], dtype=bool)
        return floors, flags

    def _check_lengths(self, series: Sequence[SeriesData]) -> None:
        """Degenerate data: an error when no series has more than ``prediction_length`` observed
        points, one warning when many series are shorter than ``context_length``."""
        cfg = self.config_
        H, C = cfg.prediction_length, cfg.context_length
        observed = np.array([int(np.count_nonzero(~np.isnan(s.target))) for s in series])
        if not (observed > H).any():
            shown = ", ".join(f"{s.item_id!r}: {n}" for s, n in list(zip(series, observed))[:5])
            raise DataError(f"no series in {subject('df')} has more than prediction_length={H} observed points (observed "
                            f"points per series: {shown}{', ...' if len(series) > 5 else ''}); a forecaster "
                            f"cannot learn from them: pass longer histories or a smaller prediction_length")
        short = int((np.array([len(s) for s in series]) < C).sum())
        if short and short >= 0.1 * len(series):
            logger.warning("%d of %d series are shorter than context_length=%d: their training windows are "
                           "partly left padding (consider a smaller context_length)", short, len(series), C)

    def _encode_static(self, static_df: Optional[pd.DataFrame], item_ids: Sequence[Hashable],
                       fitting: bool) -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        """Static features -> (N, S) category codes (0 = category unseen at fit) and (N, R) reals.

        At fit time the categorical columns (non-numeric or bool) and real columns
        (numeric) of ``static_df`` are recorded with each category's vocabulary;
        the fitted series' features are kept in the model, so ``predict`` needs a
        ``static_df`` only for series it has not seen.
        """
        if fitting:
            self.static_categorical_: list[str] = []
            self.static_real_names_: list[str] = []
            self.static_vocab_: list[list[str]] = []
            self.static_real_cols_: int = 0
            self.static_codes_: Optional[np.ndarray] = None
            self.static_reals_: Optional[np.ndarray] = None
            if static_df is None:
                return None, None
            encoding, codes, reals = StaticEncoding.fit(static_df, item_ids, id_col=self._spec_id_col(static_df))
            self.static_real_names_ = encoding.real
            self.static_categorical_ = encoding.categorical
            self.static_vocab_ = encoding.vocab
            self.static_real_cols_ = 0 if reals is None else reals.shape[1]
        else:
            if not self.static_vocab_ and not self.static_real_cols_:
                return None, None
            if static_df is None:
                known = {i: k for k, i in enumerate(self.item_ids_)}
                missing = [i for i in item_ids if i not in known]
                if missing:
                    raise DataError(f"the model uses static features; pass static_df= with rows for the new "
                                    f"items {missing[:5]}")
                rows = [known[i] for i in item_ids]
                codes = None if self.static_codes_ is None else self.static_codes_[rows]
                reals = None if self.static_reals_ is None else self.static_reals_[rows]
                return codes, reals
            codes, reals = StaticEncoding(self.static_categorical_, self.static_real_names_,
                                          self.static_vocab_).transform(static_df, item_ids,
                                                                        id_col=self._spec_id_col(static_df))
        if fitting:
            self.static_codes_ = codes
            self.static_reals_ = reals
        return codes, reals

    def _spec_id_col(self, static_df: pd.DataFrame) -> Optional[str]:
        spec = getattr(self, "spec_", None)
        if spec is not None and spec.id_col in static_df.columns:
            return spec.id_col
        return self.id_col

    def _held_out_split(self, lengths: np.ndarray, hold_out: bool
                        ) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """Held-out windows (validation, calibration and the student's, never gradient steps): the last
        ``K`` blocks of ``H`` points of each series that keeps at least one block of history before them.

        Returns ``K``, the training ends (N,), and the series index and split point of each held-out window.
        """
        H = self.config_.prediction_length
        K, n_held = _held_out_blocks(self.calibration_windows if hold_out else 0, lengths, H)
        held_series = np.repeat(np.arange(len(lengths)), n_held)
        held_splits = np.concatenate([lengths[i] - H * np.arange(1, n + 1) for i, n in enumerate(n_held)]
                                     ).astype(np.int64) if n_held.any() else np.zeros(0, np.int64)
        return K, lengths - n_held * H, held_series, held_splits

    def _window_sampler(self, arrays: Sequence[SeriesArrays], ends: np.ndarray) -> TrainWindowSampler:
        cfg = self.config_
        try:
            return TrainWindowSampler(arrays, cfg.context_length, cfg.prediction_length, ends,
                                      min_context_observed=cfg.min_context_observed)
        except ValueError as exc:
            raise DataError(f"{subject('df')}: {exc} (items {self.item_ids_[:5]}); pass longer histories") from None

    # --------------------------------------------------------------------- fit
    def fit(self, df: pd.DataFrame, *, known_covariates: Optional[Sequence[str]] = None,
            past_covariates: Optional[Sequence[str]] = None,
            static_df: Optional[pd.DataFrame] = None, checkpoint_dir: Optional[str | os.PathLike] = None,
            checkpoint_every: Optional[int] = None, resume: bool = False) -> "TSDiff":
        """Train one global model on every series of ``df``.

        Parameters
        ----------
        df : pd.DataFrame
            Long format (``item_id``, ``timestamp``, ``target`` columns, or
            ``unique_id``, ``ds``, ``y``; names configurable) or wide format (a
            DatetimeIndex, one column per series). NaN targets are missing values.
        known_covariates : list of str, optional
            Columns of ``df`` known in the past and the future (pass their future
            values to :meth:`predict` as ``future_df``).
        past_covariates : list of str, optional
            Columns of ``df`` observed in the past only.
        static_df : pd.DataFrame, optional
            One row per item id with static features (object/category columns are
            embedded as categories, numeric columns used as reals).
        checkpoint_dir : str or path, optional
            Directory of the training checkpoint ``checkpoint.pt``, written atomically
            every ``checkpoint_every`` steps (by rank 0 under torchrun): model, EMA,
            optimizer, step, every random stream (noise generator, training-window
            sampler, dropout), best-so-far, history, and a fingerprint of the config
            and the data. It is also a loadable model (``TSDiff.load``) holding the best
            weights so far.
        checkpoint_every : int, optional
            Steps between checkpoints (default ``val_every``).
        resume : bool, default False
            Continue from ``checkpoint_dir``'s checkpoint when there is one (start
            afresh when there is none, e.g. the first launch under ``torchrun
            --max-restarts``). On a CPU a resumed run gives bit-for-bit the model of an
            uninterrupted one. ``max_time`` counts the time of the earlier runs.

        Returns
        -------
        self

        Raises
        ------
        CheckpointError
            ``resume=True`` with a checkpoint written for another config, other data or
            another number of processes.
        SaveError
            A checkpoint could not be written (e.g. the disk is full); the previous one is kept.
        """
        if resume and checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir= (the directory holding checkpoint.pt)")
        _check_sampler_name("sampler", self.sampler)  # before training, not at the first predict
        if checkpoint_every is not None:
            checkpoint_every = _check_positive_int("checkpoint_every", checkpoint_every)
        with _torch_threads(self.num_threads):
            return self._fit(df, known_covariates=known_covariates, past_covariates=past_covariates,
                             static_df=static_df, checkpoint_dir=checkpoint_dir,
                             checkpoint_every=checkpoint_every, resume=resume)

    def _fit(self, df: pd.DataFrame, *, known_covariates: Optional[Sequence[str]] = None,
            past_covariates: Optional[Sequence[str]] = None,
            static_df: Optional[pd.DataFrame] = None, checkpoint_dir: Optional[str | os.PathLike] = None,
            checkpoint_every: Optional[int] = None, resume: bool = False) -> "TSDiff":
        known = list(known_covariates or [])
        past = list(past_covariates or [])
        series, spec = read_series(df, id_col=self.id_col, timestamp_col=self.timestamp_col,
                                   target_col=self.target_col, freq=self.freq,
                                   known_covariates=known, past_covariates=past, arg_name="df")
        device = resolve_device(self.device)
        # Under torchrun (after tsdiff.distributed.init_from_env) train data-parallel on this process's device.
        dist_ctx = current_context(device)
        if dist_ctx.is_distributed:
            device = dist_ctx.device
        self.spec_ = spec
        self.freq_ = spec.freq
        self.student_ = None  # a student of an earlier fit is not this model's
        self.known_covariates_ = known
        self.past_covariates_ = past
        self.item_ids_ = [s.item_id for s in series]
        static_cat, static_real = self._encode_static(static_df, self.item_ids_, fitting=True)
        cfg = self._make_config(spec.freq, len(known), len(past),
                                tuple(len(v) + 1 for v in self.static_vocab_), self.static_real_cols_)
        self.config_ = cfg
        self.device_ = device
        if self.distill:  # fail before training, not after it
            from .distillation import check_student_tail

            check_student_tail(self.student_tail_length, cfg)
        H, C = cfg.prediction_length, cfg.context_length
        if (np.array([len(s) for s in series]) >= 2).any():
            self._check_lengths(series)
        lengths = np.array([len(s) for s in series])
        K, ends, held_series, held_splits = self._held_out_split(lengths, self.validation or self.calibrate)
        self.scale_floors_, self.nonnegative_ = self._series_stats(series, ends=ends)
        self.static_real_mean_ = self.static_real_std_ = None
        if static_real is not None:
            self.static_real_mean_ = static_real.mean(axis=0).astype(np.float32)
            std = static_real.std(axis=0)
            self.static_real_std_ = np.where(std > 0, std, 1.0).astype(np.float32)

        arrays = self._arrays(series, static_cat=static_cat, static_real=static_real,
                              scale_floors=self.scale_floors_)
        if (lengths < 2).all():
            raise DataError(f"every series in {subject('df')} has fewer than 2 time steps (items {self.item_ids_[:5]}); "
                            "tsdiff needs at least one series with 2 or more steps to train")
        rng = np.random.default_rng(cfg.seed)
        window_sampler = self._window_sampler(arrays, ends)
        held = _HeldOut(arrays, held_series, held_splits, C, H)
        val_fn = None
        if self.validation and len(held):
            # Distinct windows, never repeated; fixed noise so checkpoints are compared on equal terms.
            val = held.subset(rng, _check_positive_int("num_val_windows", self.num_val_windows))
            val_sampler = make_sampler("dpmsolver", DiffusionSchedule.from_config(cfg),
                                       steps=min(_check_positive_int("val_steps", self.val_steps),
                                                 cfg.diffusion_steps))
            val_n = _check_positive_int("val_samples", self.val_samples)

            def val_fn(module: TSDiffModel) -> float:
                samples = held.sample(module, val, val_n, val_sampler, seed=cfg.seed + 1, device=device,
                                      chunk_size=default_chunk_size(cfg, device.type))
                return weighted_quantile_loss(val.y, samples)

        # Weight init from the seed without touching torch's global RNG state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model = TSDiffModel(cfg)
        model.to(device)

        # Validation windows (drawn above) are the same on every process; training windows are per process.
        train_rng = np.random.default_rng([cfg.seed, dist_ctx.rank]) if dist_ctx.is_distributed else rng

        def sample_batch(step: int) -> dict[str, torch.Tensor]:
            return batch_to_tensors(window_sampler.sample(train_rng, cfg.batch_size), device)

        checkpointer = None
        if checkpoint_dir is not None:
            checkpointer = _Checkpointer(self, Path(checkpoint_dir), train_rng, dist_ctx,
                                         _fingerprint(cfg, [bool(self.validation), bool(self.calibrate), int(K),
                                                     int(self.num_val_windows), int(self.val_samples),
                                                     int(self.val_steps)], series, static_cat, static_real))
        trainer = Trainer(model, sample_batch, learning_rate=cfg.learning_rate,
                          weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip, ema_decay=cfg.ema_decay,
                          max_steps=cfg.max_steps, max_time=cfg.max_time, val_every=cfg.val_every,
                          seed=cfg.seed, device=device, progress=self.progress, dist=dist_ctx,
                          checkpoint_fn=None if checkpointer is None else checkpointer.write,
                          checkpoint_every=checkpoint_every, val_fn=val_fn)
        # Keep only what predict needs: the last context_length points of each series.
        self.series_ = [_tail(s, C, spec.freq) for s in series]
        if checkpointer is not None and resume:
            checkpointer.restore(trainer)
        logger.info("fitting tsdiff on %d series (%d training windows), freq=%s, context_length=%d, "
                    "prediction_length=%d", len(series), window_sampler.num_windows, cfg.freq, C, H)
        try:
            self.train_result_ = trainer.fit()
        except TrainingError:
            self.model_ = trainer.best_module()
            self.train_result_ = trainer.result
            raise
        self.model_ = trainer.best_module()
        if val_fn is not None:
            logger.info("chose the checkpoint of step %d (validation wQL %.5f over %d held-out windows)",
                        self.train_result_.best_step, self.train_result_.best_val_loss, len(val))
        self.calibrator_ = None
        cal = None
        if self.calibrate and len(held):
            cal = held.subset(rng, _MAX_CALIBRATION_WINDOWS)
            samples = held.sample(self.model_, cal, _check_positive_int("calibration_samples",
                                                                        self.calibration_samples),
                                  self._teacher_sampler(), seed=cfg.seed + 2, device=device,
                                  chunk_size=default_chunk_size(cfg, device.type))
            self.calibrator_ = IntervalCalibrator.fit(samples, cal.y)
            logger.info("calibration factors (50%% / 90%% intervals, mean over steps): %.3f / %.3f, tail cap %s, "
                        "from %d held-out windows", *self.calibrator_.mean_factors((0.5, 0.9)),
                        self.calibrator_.tail_cap, len(cal))
        self.student_ = None
        if self.distill and self.train_result_.stopped_reason != "interrupted":
            # Half the teacher's cap, when it has one: distillation gets at most half of training's cap.
            cap = None if cfg.max_time is None else cfg.max_time / 2
            self._distill(self._context_sampler(series, static_cat, static_real, self.scale_floors_), held, cal,
                          max_steps=self.distill_max_steps, max_time=cap, steps=self.student_steps, seed=cfg.seed)
        if self.train_result_.stopped_reason == "interrupted":
            logger.warning("fit was interrupted: the model holds the best checkpoint so far (step %d)",
                           self.train_result_.best_step)
        return self

    def _read_histories(self, df: pd.DataFrame) -> tuple[list[SeriesData], Any]:
        """Series of a new frame, read with the fitted column names where the frame has them."""
        cols = set(df.columns) if isinstance(df, pd.DataFrame) else set()
        fitted = self.spec_

        def name(col: Optional[str], user: Optional[str]) -> Optional[str]:
            return col if (not fitted.wide and col in cols) else user

        series, spec = read_series(df, id_col=name(fitted.id_col, self.id_col),
                                   timestamp_col=name(fitted.timestamp_col, self.timestamp_col),
                                   target_col=name(fitted.target_col, self.target_col),
                                   freq=None, known_covariates=self.known_covariates_,
                                   past_covariates=self.past_covariates_, arg_name="df")
        if spec.freq != self.freq_:
            raise DataError(f"{subject('df')} has frequency {spec.freq!r} but the model was fitted on "
                            f"{self.freq_!r}; resample {subject('df')} to the fitted frequency")
        return series, spec

    # ------------------------------------------------------------- distillation
    def distill_student(self, df: pd.DataFrame, *, static_df: Optional[pd.DataFrame] = None,
                        max_steps: Optional[int] = None, max_time: Optional[float] = None,
                        steps: Optional[Sequence[int]] = None, seed: Optional[int] = None) -> "TSDiff":
        """Distil the fitted model's default sampler into a few-step student (see :mod:`tsdiff.distillation`).

        The student is a copy of the denoiser (the context encoder and the conditioning are shared)
        trained to land, in ``k`` network calls, where the teacher's sampler lands from the same
        starting noise; ``predict(sampler="distilled", steps=k)`` then samples with it. Its own
        calibration is fitted on the held-out windows (kept apart from the teacher's). A student
        already there is replaced. ``TSDiff(distill=True)`` does this at the end of :meth:`fit`.

        Parameters
        ----------
        df : pd.DataFrame
            The training frame given to :meth:`fit` (or more data of the same series), in the same
            format, with the covariate columns the model uses. Its last windows are held out exactly as
            in :meth:`fit` (for the student's checkpoint choice and calibration).
        static_df : pd.DataFrame, optional
            Static features of series not seen at fit (default: those given to fit).
        max_steps : int, optional
            Training steps (default ``distill_max_steps``, else
            :data:`tsdiff.distillation.DEFAULT_DISTILL_STEPS`).
        max_time : float, optional
            Wall-clock cap in seconds (a stop: the learning-rate schedule follows ``max_steps``).
        steps : sequence of int, optional
            Network calls the student is trained for (default ``student_steps``).
        seed : int, optional
            Seeds the student's windows, starting noises and new layer, and the held-out windows that
            score its checkpoints (default: the model's seed, as ``distill=True`` in :meth:`fit` does;
            the calibration's windows do not depend on it). Students of one teacher from different seeds
            differ by more than sampling noise on some datasets (``docs/how_it_works.md``), so a
            comparison of students should cover several.

        Returns
        -------
        self
        """
        self._check_fitted("distill_student")
        seed = self.config_.seed if seed is None else _check_non_negative_int("seed", seed)
        with _torch_threads(self.num_threads):
            series, _ = self._read_histories(df)
            cfg = self.config_
            static_cat, static_real = self._encode_static(static_df, [s.item_id for s in series], fitting=False)
            lengths = np.array([len(s) for s in series])
            _, ends, held_series, held_splits = self._held_out_split(lengths, self.validation or self.calibrate)
            floors, _ = self._series_stats(series, ends=ends)
            arrays = self._arrays(series, static_cat=static_cat, static_real=static_real, scale_floors=floors)
            held = _HeldOut(arrays, held_series, held_splits, cfg.context_length, cfg.prediction_length)
            cal = held.subset(np.random.default_rng([cfg.seed, 2]), _MAX_CALIBRATION_WINDOWS) if len(held) else None
            self._distill(self._context_sampler(series, static_cat, static_real, floors), held,
                          cal if self.calibrate else None,
                          max_steps=self.distill_max_steps if max_steps is None else max_steps,
                          max_time=max_time, steps=self.student_steps if steps is None else steps, seed=seed)
        return self

    def _context_sampler(self, series: Sequence[SeriesData], static_cat: Optional[np.ndarray],
                         static_real: Optional[np.ndarray], floors: Optional[np.ndarray]) -> ContextSampler:
        """The student's contexts: ending anywhere up to each series' last point (no future values needed),
        :data:`~tsdiff.distillation.LATEST_CONTEXT_SHARE` of them at it. With known covariates, whose future
        values exist only inside the frame, contexts stop ``prediction_length`` steps before its end."""
        from .distillation import LATEST_CONTEXT_SHARE

        cfg = self.config_
        H = cfg.prediction_length
        lengths = np.array([len(s) for s in series])
        known = bool(cfg.num_known_covariates)
        arrays = self._arrays(series, extra=0 if known else H, static_cat=static_cat, static_real=static_real,
                              scale_floors=floors)
        ends = np.maximum(lengths - H, 0) if known else lengths
        try:
            return ContextSampler(arrays, cfg.context_length, H, ends, latest_share=LATEST_CONTEXT_SHARE)
        except ValueError as exc:
            raise DataError(f"{subject('df')}: {exc} (items {self.item_ids_[:5]}); pass longer histories") from None

    def _distill(self, window_sampler: ContextSampler, held: "_HeldOut", cal: Optional["_HeldOutBatch"], *,
                 max_steps: Optional[int], max_time: Optional[float], steps: Any, seed: int) -> None:
        """Train ``student_`` on ``window_sampler``'s contexts; checkpoint chosen and calibration fitted on ``held``."""
        cfg, device = self.config_, self.device_
        teacher_sampler = self._teacher_sampler()
        self.student_ = distill(self.model_.eval(), teacher_sampler, window_sampler, held, cal, seed=seed,
                                device=device, max_steps=max_steps, max_time=max_time, steps=steps,
                                progress=self.progress,
                                calibration_samples=_check_positive_int("calibration_samples",
                                                                        self.calibration_samples),
                                chunk_size=default_chunk_size(cfg, device.type), tail_length=self.student_tail_length)

    # ----------------------------------------------------------------- predict
    def _teacher_sampler(self) -> Any:
        """The teacher's default sampler (the ``sampler`` parameter's, or dpmsolver when that is "distilled" or "auto"):
        the one calibrated at fit and distilled into the student."""
        return self._default_sampler(teacher_sampler_name(self.sampler))

    def _default_sampler(self, sampler: Optional[str] = None, steps: Optional[int] = None, eta: float = 0.0,
                         spacing: Optional[str] = None, variance: Optional[str] = None) -> Any:
        """The sampler of a predict call: its arguments, else the estimator's defaults."""
        name = self.sampler if sampler is None else sampler
        _check_sampler_name("sampler", name)
        if name == "auto":
            name = "distilled" if getattr(self, "student_", None) is not None else "dpmsolver"
        if name == "distilled":
            student = getattr(self, "student_", None)
            if student is None:
                raise ValueError("sampler='distilled' needs a distilled student, and this model has none: fit with "
                                 "TSDiff(distill=True), or call model.distill_student(df) on the fitted model "
                                 "('tsdiff fit --distill' from the shell)")
            if eta != 0.0 or spacing is not None or variance is not None:
                raise ValueError("eta, spacing and variance do not apply to the distilled sampler (its grid is the "
                                 "teacher's, deterministic); pass sampler='dpmsolver' or 'ddim' for the teacher")
            return student.sampler(self.model_.schedule, steps)
        if name in ("ddim", "dpmsolver"):
            steps = self.sampler_steps if steps is None else steps
            spacing = self.spacing if spacing is None else spacing
        return make_sampler(name, self.model_.schedule, steps=steps, eta=eta, spacing=spacing, variance=variance)

    def _check_fitted(self, method: str = "predict") -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(f"this TSDiff instance is not fitted yet; call fit(df) before {method}()")

    def predict(self, horizon: Optional[int] = None, n_samples: int = 100, df: Optional[pd.DataFrame] = None,
                *, future_df: Optional[pd.DataFrame] = None, static_df: Optional[pd.DataFrame] = None,
                sampler: Optional[str] = None, steps: Optional[int] = None, eta: float = 0.0,
                spacing: Optional[str] = None, variance: Optional[str] = None,
                calibrated: Optional[bool] = None, seed: Optional[int] = None, chunk_size: Optional[int] = None,
                shard: Optional[tuple[int, int]] = None, memory_limit: MemoryLimit = None) -> Forecast:
        """Sample ``n_samples`` future paths of ``horizon`` steps for every series.

        Parameters
        ----------
        horizon : int, optional
            Steps ahead (default ``prediction_length``). Longer horizons are
            forecast block by block, each sample path conditioned on its own
            previous block.
        n_samples : int, default 100
        df : pd.DataFrame, optional
            Histories to forecast from (same format as in :meth:`fit`; new
            series allowed, no refit). Default: the end of each fitted series.
        future_df : pd.DataFrame, optional
            Future values of the known covariates over the horizon.
        static_df : pd.DataFrame, optional
            Static features of the series in ``df`` (default: those given to fit).
        sampler : {"auto", "dpmsolver", "ddim", "ddpm", "distilled"}, optional
            Default: the ``sampler`` parameter (``"auto"``: the student when the model has
            one, else dpmsolver). ``"dpmsolver"`` is DPM-Solver++(2M)
            with ``steps`` steps; ``"ddim"`` uses ``steps`` steps and ``eta``;
            ``"ddpm"`` is ancestral sampling over all diffusion steps; ``"distilled"``
            is the few-step student (``distill=True`` or :meth:`distill_student`).
        steps : int, optional
            Steps of dpmsolver / ddim (default ``sampler_steps``); for ``"distilled"``, one
            of the step counts the student was trained for (default: 2 when trained, else its
            fewest; :data:`tsdiff.distillation.DEFAULT_PREDICT_STEPS`).
        eta : float, default 0.0
            DDIM stochasticity (0 deterministic given the initial noise, 1 ~ DDPM).
        spacing : {"logsnr", "quadratic", "trailing", "linspace"}, optional
            Timestep grid of dpmsolver / ddim (default: the ``spacing`` parameter, else
            ``"logsnr"`` for dpmsolver and ``"linspace"`` for ddim).
        variance : {"beta", "posterior"}, optional
            DDPM's step variance (default ``"beta"``).
        calibrated : bool, optional
            Apply the calibration fitted at ``fit`` (default: yes when the model has one).
            ``False`` returns the raw diffusion ensemble. The factors were fitted on
            ensembles of the default sampler; the distilled sampler uses the student's own
            factors, fitted for each of its step counts.
        seed : int, optional
            Seed of the sampling noise (default: the estimator's ``seed``, so
            repeated calls give the same samples).
        chunk_size : int, optional
            Rows (series x samples) denoised at once (default ``chunk_size``).
        shard : (rank, world_size), optional
            Forecast only the ``rank``-th of ``world_size`` contiguous slices of the
            series (``np.array_split`` order), e.g. ``shard=(ctx.rank, ctx.world_size)``
            in each process under torchrun; concatenate the shards' forecasts in rank
            order for the whole set. Shard ``r`` samples with the seed
            ``tsdiff.distributed.rank_seed(seed, r, world_size)``: reproducible for a given
            ``(seed, world_size)``, but not the samples of an unsharded call.
        memory_limit : float or int, optional
            Memory the call may hold, estimated before sampling
            (``n_series x n_samples x horizon x 4`` bytes plus inputs and working memory):
            a fraction in (0, 1] of the memory available now (default
            ``tsdiff.memory.DEFAULT_MEMORY_FRACTION``), a number of bytes, or ``float("inf")``.

        Returns
        -------
        Forecast
            ``samples`` of shape ``(n_series, n_samples, horizon)``.

        Raises
        ------
        MemoryLimitError
            Before sampling, when the estimate exceeds the limit; the message gives the
            figure and the ways out (fewer samples, :meth:`predict_iter`, ``tsdiff predict --out``).
        """
        with _torch_threads(self.num_threads):
            return self._predict(horizon=horizon, n_samples=n_samples, df=df, future_df=future_df,
                                 static_df=static_df, sampler=sampler, steps=steps, eta=eta, spacing=spacing,
                                 variance=variance, calibrated=calibrated, seed=seed,
                                 chunk_size=chunk_size, shard=shard, memory_limit=memory_limit)

    def _predict(self, horizon: Optional[int] = None, n_samples: int = 100, df: Optional[pd.DataFrame] = None,
                *, future_df: Optional[pd.DataFrame] = None, static_df: Optional[pd.DataFrame] = None,
                sampler: Optional[str] = None, steps: Optional[int] = None, eta: float = 0.0,
                spacing: Optional[str] = None, variance: Optional[str] = None,
                calibrated: Optional[bool] = None, seed: Optional[int] = None, chunk_size: Optional[int] = None,
                shard: Optional[tuple[int, int]] = None, memory_limit: MemoryLimit = None) -> Forecast:
        plan = self._predict_plan(horizon=horizon, n_samples=n_samples, df=df, future_df=future_df,
                                  static_df=static_df, sampler=sampler, steps=steps, eta=eta, spacing=spacing,
                                  variance=variance, calibrated=calibrated, seed=seed,
                                  chunk_size=chunk_size, shard=shard, memory_limit=memory_limit)
        if not plan.series:  # e.g. more shards than series
            spec = plan.spec
            return Forecast(np.empty((0, plan.n_samples, plan.horizon), np.float32), [], [], self.freq_,
                            id_col=spec.id_col if not spec.wide else "item_id",
                            timestamp_col=spec.timestamp_col if not spec.wide else "timestamp",
                            info={"seed": int(plan.seed)})
        return self._forecast_slice(plan, 0, len(plan.series))

    def predict_iter(self, df: Optional[pd.DataFrame] = None, series_per_batch: Optional[int] = None, *,
                     horizon: Optional[int] = None, n_samples: int = 100,
                     future_df: Optional[pd.DataFrame] = None, static_df: Optional[pd.DataFrame] = None,
                     sampler: Optional[str] = None, steps: Optional[int] = None, eta: float = 0.0,
                     spacing: Optional[str] = None, variance: Optional[str] = None,
                     calibrated: Optional[bool] = None, seed: Optional[int] = None, chunk_size: Optional[int] = None,
                     memory_limit: MemoryLimit = None) -> Iterator[Forecast]:
        """Forecast batch of series by batch of series, yielding one :class:`Forecast` per batch.

        Memory holds one batch's samples at a time, however many series there
        are: write each chunk out (``Forecast.to_dataframe``) and drop it.
        Concatenating the chunks' samples gives exactly ``predict(...)``'s for the
        same arguments and seed: noise seeds are keyed to each group of series'
        place in the whole set (``max(1, chunk_size // n_samples)`` series per
        group), not to the call, and ``series_per_batch`` is rounded up to a
        whole number of such groups.

        Parameters
        ----------
        df : pd.DataFrame, optional
            Histories to forecast from (default: the end of each fitted series).
        series_per_batch : int, optional
            Series per yielded chunk. Default: as many as hold about 16 MiB of samples
            (``series_per_batch x n_samples x horizon x 4`` bytes).
        horizon, n_samples, future_df, static_df, sampler, steps, eta, spacing, variance, calibrated, seed, chunk_size
            As in :meth:`predict`.
        memory_limit : float or int, optional
            As in :meth:`predict`, checked for one batch.

        Returns
        -------
        Iterator of Forecast
            Chunks in the series' order, ``samples`` of shape ``(batch, n_samples, horizon)``.

        Raises
        ------
        MemoryLimitError
            At the call (before any sampling), when one batch would exceed the limit.
        """
        with _torch_threads(self.num_threads):
            plan = self._predict_plan(horizon=horizon, n_samples=n_samples, df=df, future_df=future_df,
                                      static_df=static_df, sampler=sampler, steps=steps, eta=eta, seed=seed,
                                      spacing=spacing, variance=variance, calibrated=calibrated,
                                      chunk_size=chunk_size, shard=None, memory_limit=memory_limit,
                                      series_per_batch=series_per_batch, iterating=True)
        return self._iter_forecasts(plan)

    def _iter_forecasts(self, plan: "_PredictPlan") -> Iterator[Forecast]:
        N = len(plan.series)
        for lo in range(0, N, plan.series_per_batch):
            with _torch_threads(self.num_threads):
                fc = self._forecast_slice(plan, lo, min(N, lo + plan.series_per_batch))
            yield fc

    def _predict_bytes(self, plan: "_PredictPlan", n_series: int) -> tuple[float, str]:
        """Estimated peak bytes of forecasting ``n_series`` series of ``plan``, and how it was computed."""
        cfg = self.config_
        S, H, total = plan.n_samples, cfg.prediction_length, plan.total
        samples = 4.0 * n_series * S * total
        block0 = 2 * 4.0 * n_series * S * H  # the first block's tensor and its numpy copy
        channels = 1 + cfg.num_time_features + cfg.num_known_covariates + cfg.num_past_covariates
        inputs = 4.0 * n_series * (cfg.context_length + total) * channels + 8.0 * n_series * plan.horizon
        seq_channels = 3 + 2 * len(cfg.lags) + cfg.num_time_features + cfg.num_known_covariates
        rows = min(n_series * S, plan.chunk * plan.workers)
        working = 4.0 * rows * cfg.window_length * (seq_channels + 8 * cfg.hidden_channels * max(cfg.channel_mults))
        detail = (f"{n_series} series x {S} samples x {total} steps x 4 bytes = {format_bytes(samples)} of samples, "
                  f"plus {format_bytes(block0 + inputs + working)} of inputs and working memory")
        return samples + block0 + inputs + working, detail

    def _predict_plan(self, *, horizon: Optional[int], n_samples: int, df: Optional[pd.DataFrame],
                      future_df: Optional[pd.DataFrame], static_df: Optional[pd.DataFrame],
                      sampler: Optional[str], steps: Optional[int], eta: float, seed: Optional[int],
                      chunk_size: Optional[int], shard: Optional[tuple[int, int]], memory_limit: MemoryLimit,
                      spacing: Optional[str] = None, variance: Optional[str] = None,
                      calibrated: Optional[bool] = None,
                      series_per_batch: Optional[int] = None, iterating: bool = False) -> "_PredictPlan":
        """Validate the arguments, read the histories, check memory: everything before sampling."""
        self._check_fitted()
        cfg = self.config_
        H, C = cfg.prediction_length, cfg.context_length
        horizon = H if horizon is None else _check_positive_int("horizon", horizon)
        n_samples = _check_positive_int("n_samples", n_samples)
        if series_per_batch is not None:
            series_per_batch = _check_positive_int("series_per_batch", series_per_batch)
        chunk = chunk_size if chunk_size is not None else self.chunk_size
        if chunk is None:
            chunk = default_chunk_size(cfg, self.device_.type)
        chunk = _check_positive_int("chunk_size", chunk)
        seed = _check_non_negative_int("seed", self.seed if seed is None else seed)
        diffusion_sampler = self._default_sampler(sampler, steps, eta, spacing, variance)
        denoiser = None
        if isinstance(diffusion_sampler, DistilledSampler):
            calibrator = self.student_.calibrators.get(diffusion_sampler.num_steps)
            denoiser = self.student_.denoiser(diffusion_sampler)
        else:
            calibrator = getattr(self, "calibrator_", None)
        if calibrated is None:
            calibrated = calibrator is not None
        elif not isinstance(calibrated, (bool, np.bool_)):
            raise ValueError(f"calibrated must be True, False or None, got {calibrated!r}")
        elif calibrated and calibrator is None:
            raise ValueError("calibrated=True but this model has no calibration (it was fitted with "
                             "calibrate=False, validation data too short, or saved by an older tsdiff)")

        if df is None:
            series, spec = self.series_, self.spec_
            static_cat, static_real = self._encode_static(static_df, [s.item_id for s in series], fitting=False)
            floors, nonneg = getattr(self, "scale_floors_", None), getattr(self, "nonnegative_", None)
        else:
            series, spec = self._read_histories(df)
            # Scale floors and non-negativity come from the whole histories given, before the tail is cut.
            floors, nonneg = self._series_stats(series)
            series = [_tail(s, C, spec.freq) for s in series]
            static_cat, static_real = self._encode_static(static_df, [s.item_id for s in series], fitting=False)
        if shard is not None:
            rank, world = _check_shard(shard)
            keep = np.array_split(np.arange(len(series)), world)[rank]
            series = [series[i] for i in keep]
            floors = None if floors is None else floors[keep]
            nonneg = None if nonneg is None else nonneg[keep]
            static_cat = None if static_cat is None else static_cat[keep]
            static_real = None if static_real is None else static_real[keep]
            seed = rank_seed(int(seed), rank, world)
        workers = 1 if self.device_.type == "cuda" else max(1, torch.get_num_threads())
        group = max(1, chunk // n_samples)  # series sharing one noise seed (see predict_iter)
        if series_per_batch is None:
            per_series = 4 * n_samples * math.ceil(horizon / H) * H
            series_per_batch = max(1, (16 << 20) // per_series)
        series_per_batch = -(-series_per_batch // group) * group
        plan = _PredictPlan(series=series, spec=spec, static_cat=static_cat, static_real=static_real,
                            future_known=None, horizon=horizon, total=math.ceil(horizon / H) * H,
                            n_samples=n_samples, chunk=chunk, workers=workers, group=group, seed=int(seed),
                            sampler=diffusion_sampler, shard=shard,
                            series_per_batch=min(series_per_batch, max(1, len(series))),
                            floors=floors, nonneg=nonneg, calibrated=bool(calibrated),
                            calibrator=calibrator if calibrated else None, denoiser=denoiser)
        held = plan.series_per_batch if iterating else len(series)
        needed, detail = self._predict_bytes(plan, held)
        call = "predict_iter" if iterating else "predict"
        one_series, _ = self._predict_bytes(plan, 1)
        if one_series > resolve_memory_limit(memory_limit)[0]:
            way_out = (f"One series alone needs about {format_bytes(one_series)}, so streaming cannot help: ask for "
                       "fewer samples (n_samples=) or a shorter horizon.")
        else:
            way_out = ("Ask for fewer samples (n_samples=) or a shorter horizon, or stream the series in batches "
                       "with predict_iter(series_per_batch=...) / 'tsdiff predict --out FILE'.")
        check_memory(needed, memory_limit, what=f"{call}(horizon={horizon}, n_samples={n_samples}) on "
                     f"{held} series{' per batch' if iterating else ''}", detail=detail, way_out=way_out)
        if cfg.num_known_covariates and series:
            if future_df is None:
                raise DataError(f"this model uses known covariates {self.known_covariates_}: pass their future "
                                f"values for the {horizon} steps after each series as predict(future_df=...)")
            future_known = read_future_covariates(future_df, series, spec, horizon, self.known_covariates_)
            # The last block may reach past the horizon: hold the covariates at their last value there.
            plan.future_known = [np.concatenate([f, np.repeat(f[:, -1:], plan.total - horizon, axis=1)], axis=1)
                                 for f in future_known]
        return plan

    def _forecast_slice(self, plan: "_PredictPlan", lo: int, hi: int) -> Forecast:
        """Sample the series ``lo:hi`` of ``plan`` (``lo`` a multiple of ``plan.group``).

        Noise seeds are keyed to the series' place in the whole set (see
        :func:`tsdiff.prediction.rollout`), so the samples of a series do not depend on which
        slice it is forecast in.
        """
        seed = plan.seed
        series = plan.series[lo:hi]
        sl = slice(lo, hi)
        arrays = self._arrays(series, extra=plan.total,
                              future_known=None if plan.future_known is None else plan.future_known[sl],
                              static_cat=None if plan.static_cat is None else plan.static_cat[sl],
                              static_real=None if plan.static_real is None else plan.static_real[sl],
                              scale_floors=None if plan.floors is None else plan.floors[sl])
        nonneg = None if plan.nonneg is None else plan.nonneg[sl]
        clip = None if nonneg is None or not nonneg.any() else np.flatnonzero(nonneg)

        def finish_block(blk: np.ndarray) -> None:
            # Calibrate, then clip, a block (a view into the samples) before later blocks condition on it.
            if plan.calibrated:
                blk[...] = plan.calibrator.apply(blk)
            if clip is not None:
                blk[clip] = np.maximum(blk[clip], 0.0)

        device = self.device_
        model = self.model_.to(device).eval()
        out = rollout(model, arrays, plan, first_group=lo // plan.group, device=device,
                      autocast_dtype=precision_dtype(self.precision, device, student=plan.denoiser is not None),
                      denoiser=plan.denoiser if plan.denoiser is not None
                      else self._compiled_denoiser() if self.compile else None, finish_block=finish_block)
        out = out[:, :, :plan.horizon]
        spec = plan.spec
        timestamps = []
        for s in series:
            last = s.start + (len(s) - 1) * pd.tseries.frequencies.to_offset(self.freq_)
            ts = future_timestamps(last, self.freq_, plan.horizon)
            if spec.tz is not None:
                ts = ts.tz_localize(spec.tz)
            timestamps.append(ts)
        return Forecast(out, [s.item_id for s in series], timestamps, self.freq_,
                        id_col=spec.id_col if not spec.wide else "item_id",
                        timestamp_col=spec.timestamp_col if not spec.wide else "timestamp",
                        info={"sampler": repr(plan.sampler), "seed": int(seed), "calibrated": bool(plan.calibrated),
                              **({"shard": list(plan.shard)} if plan.shard is not None else {})})

    def _compiled_denoiser(self) -> Any:
        """``torch.compile`` of the fitted denoiser, built once and cached (not saved)."""
        cached = getattr(self, "_compiled", None)
        if cached is None or cached[0] is not self.model_:
            cached = (self.model_, torch.compile(self.model_.denoiser, dynamic=True))
            self._compiled = cached
        return cached[1]

    def reverse_trajectory(self, item_id: Optional[Hashable] = None, n_samples: int = 5, *,
                           sampler: Optional[str] = None, steps: Optional[int] = None, eta: float = 0.0,
                           n_frames: int = 6, seed: Optional[int] = None) -> tuple[np.ndarray, list[int], pd.DatetimeIndex]:
        """Record the reverse diffusion of one fitted series, from pure noise to the forecast.

        Parameters
        ----------
        item_id : hashable, optional
            A fitted series (default: the first one).
        n_samples : int
            Sample paths to follow.
        n_frames : int
            Number of recorded states, evenly spread over the sampler's steps;
            the first is x_T (pure noise) and the last the final samples.

        Returns
        -------
        trajectory : np.ndarray, shape (n_frames, n_samples, prediction_length)
            States in the series' original units (x_t * scale + loc).
        steps : list of int
            Diffusion step of each frame (``-1`` marks the final x0).
        timestamps : pd.DatetimeIndex
            Timestamps of the forecast window.
        """
        self._check_fitted("reverse_trajectory")
        cfg = self.config_
        n_samples = _check_positive_int("n_samples", n_samples)
        n_frames = _check_positive_int("n_frames", n_frames)
        ids = [s.item_id for s in self.series_]
        if item_id is None:
            k = 0
        elif item_id in ids:
            k = ids.index(item_id)
        else:
            raise KeyError(f"item_id {item_id!r} is not a fitted series (ids start with {ids[:5]})")
        diffusion_sampler = self._default_sampler(sampler, steps, eta)
        if cfg.num_known_covariates:
            raise ValueError("reverse_trajectory does not support models with known covariates yet")
        series = [self.series_[k]]
        static_cat, static_real = self._encode_static(None, [series[0].item_id], fitting=False)
        floors = getattr(self, "scale_floors_", None)
        arrays = self._arrays(series, extra=cfg.prediction_length, static_cat=static_cat, static_real=static_real,
                              scale_floors=None if floors is None else floors[k:k + 1])
        batch = batch_to_tensors(make_batch(arrays, np.arange(1), np.array([len(arrays[0])]), cfg.context_length,
                                            cfg.prediction_length, with_target=False), self.device_)
        gen = torch.Generator(device=self.device_).manual_seed(int(self.seed if seed is None else seed))
        timesteps = diffusion_sampler.timesteps()
        keep = set(np.linspace(0, len(timesteps) - 1, max(n_frames - 1, 1)).round().astype(int).tolist()[:n_frames - 1])
        student = self.student_.denoiser(diffusion_sampler) if isinstance(diffusion_sampler, DistilledSampler) else None
        states, labels = self.model_.eval().reverse_trajectory(batch, n_samples, diffusion_sampler, generator=gen,
                                                               record=keep, denoiser=student)
        s = series[0]
        last = s.start + (len(s) - 1) * pd.tseries.frequencies.to_offset(self.freq_)
        return states.numpy(), labels, future_timestamps(last, self.freq_, cfg.prediction_length)

    # ------------------------------------------------------------ backtesting
    def cross_validation(self, df: pd.DataFrame, n_windows: int, step_size: Optional[int] = None, *,
                         horizon: Optional[int] = None, refit: bool = False, n_samples: int = 100,
                         static_df: Optional[pd.DataFrame] = None,
                         known_covariates: Optional[Sequence[str]] = None,
                         past_covariates: Optional[Sequence[str]] = None,
                         quantiles: Sequence[float] = CV_QUANTILES, include_samples: bool = False,
                         return_samples: Optional[str] = None, **predict_kwargs: Any) -> Any:
        """Rolling-origin backtest: forecast the last ``n_windows`` windows of every series from its own history.

        For a series of ``T`` steps, window ``k`` (``0 <= k < n_windows``, oldest first) is
        forecast from the first ``T - horizon - (n_windows - 1 - k) * step_size`` steps (its
        *cut-off* is the last of them) and scored on the ``horizon`` steps after it; the last
        window ends at the end of the series. No value after a window's cut-off reaches the
        model, the scaler or the past covariates; known covariates over the window's horizon
        are read from ``df`` itself (their future is known by definition).

        Parameters
        ----------
        df : pd.DataFrame
            Histories with their actual future values, in the format of :meth:`fit` (with the
            covariate columns the model uses).
        n_windows : int
            Number of cut-offs per series.
        step_size : int, optional
            Steps between consecutive cut-offs (default ``horizon``: windows tile the end).
        horizon : int, optional
            Steps forecast from each cut-off (default ``prediction_length``).
        refit : bool, default False
            ``False``: forecast every window with this fitted model, all windows of all
            series in ONE batched predict call (memory bounded by ``chunk_size``); fit the
            model on data before the first cut-off for honest scores. ``True``: fit a clone
            of this estimator on each cut-off's histories (honest, ``n_windows`` fits).
        n_samples : int, default 100
        static_df : pd.DataFrame, optional
            Static features (default: those given to :meth:`fit`).
        known_covariates, past_covariates : list of str, optional
            Covariate columns (default: those the model was fitted with; needed with
            ``refit=True`` on an unfitted estimator).
        quantiles : sequence of float
            Quantile columns of the frame, computed with GluonTS's sample-quantile rule
            (:func:`tsdiff.metrics.sample_quantile`). The default adds 0.025, 0.05, 0.25, 0.75,
            0.95, 0.975 to 0.1 ... 0.9 so that the 50/80/90/95% intervals can be scored.
        include_samples : bool, default False
            Add ``sample_0`` ... columns (needed to compute the exact CRPS and the PIT
            from the frame alone, e.g. by ``tsdiff evaluate``).
        return_samples : {None, "array", "forecasts"}
            Also return the samples: ``"array"`` one array of shape
            ``(n_series, n_windows, n_samples, horizon)``; ``"forecasts"`` a list of
            ``n_windows`` :class:`~tsdiff.forecast.Forecast` (window ``k`` of every series).
        **predict_kwargs
            Passed on to :meth:`predict` (``sampler``, ``steps``, ``eta``, ``seed``,
            ``chunk_size`` and any newer predict option).

        Returns
        -------
        pd.DataFrame or (pd.DataFrame, samples)
            Long frame: id, timestamp, ``cutoff``, ``actual`` (NaN where missing), ``mean``,
            one column per quantile, in series then cut-off then time order.
        """
        with _torch_threads(self.num_threads):
            return backtest.cross_validation(self, df, n_windows, step_size, horizon=horizon, refit=refit,
                                          n_samples=n_samples, static_df=static_df,
                                          known_covariates=known_covariates, past_covariates=past_covariates,
                                          quantiles=quantiles, include_samples=include_samples,
                                          return_samples=return_samples, predict_kwargs=predict_kwargs)

    # ------------------------------------------------------------- save / load
    def save(self, path: str | os.PathLike) -> Path:
        """Save the fitted model into the directory ``path`` (created if needed).

        The file ``model.pt`` holds the format version, the config and the
        estimator's parameters as plain data, the fitted metadata and the
        weights; it is written to a temporary file and renamed, so an
        interrupted save never replaces a good model with a broken one.
        ``config.json`` next to it is a human-readable copy of the config.

        Returns
        -------
        Path of the written ``model.pt``.
        """
        self._check_fitted("save")
        return save_model(self, Path(path))

    def _payload(self, state_dict: dict[str, torch.Tensor], train_result: TrainResult) -> dict[str, Any]:
        """The model file's contents (plain data and tensors) for the given weights."""
        return model_payload(self, state_dict, train_result)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto") -> "TSDiff":
        """Load a model saved by :meth:`save` (a directory or its ``model.pt``).

        The file is read with ``torch.load(weights_only=True)``: it can hold
        tensors and plain data only, so loading never executes code.

        Raises
        ------
        ModelFileError
            Missing, truncated, corrupted or foreign file, or a newer format version.
        """
        file, payload = read_model(path)
        with damaged_file_errors(file):
            est = cls(**saved_params(payload, device))
            est.device_ = resolve_device(device)
            restore_fitted(est, payload)
        return est


def _tail(s: SeriesData, n: int, freq: str) -> SeriesData:
    """The last ``n`` points of a series, its start moved accordingly."""
    T = len(s)
    if T <= n:
        return s
    k = T - n
    return SeriesData(item_id=s.item_id, start=s.start + k * pd.tseries.frequencies.to_offset(freq),
                      target=s.target[k:],
                      known_covariates=None if s.known_covariates is None else s.known_covariates[:, k:],
                      past_covariates=None if s.past_covariates is None else s.past_covariates[:, k:])


