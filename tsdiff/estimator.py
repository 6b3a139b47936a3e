"""`TSDiff`: the pandas-facing diffusion forecaster (scikit-learn conventions).

The constructor only stores parameters; :meth:`TSDiff.fit` returns ``self``
and sets attributes ending in ``_``; :meth:`TSDiff.predict` returns a
:class:`~tsdiff.forecast.Forecast`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Hashable, Iterator, Optional, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator

from .config import FORMAT_VERSION, ConfigError, TSDiffConfig
from .distributed import current_context, rank_seed
from .errors import DataError, ModelFileError, NotFittedError, TrainingError
from .forecast import Forecast
from .frames import (FrameSpec, SeriesData, future_timestamps, read_future_covariates, read_series,
                     read_static, to_long_frame)
from .model import TSDiffModel, batch_to_tensors
from .training import Trainer, TrainResult
from .windows import SeriesArrays, TrainWindowSampler, make_batch

logger = logging.getLogger(__name__)

MODEL_FILE = "model.pt"

#: Quantile columns of :meth:`TSDiff.cross_validation`: 0.1 ... 0.9 (wQL) plus the ends of the
#: central 50%, 90% and 95% intervals.
CV_QUANTILES: tuple[float, ...] = (0.025, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9,
                                   0.95, 0.975)


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@contextlib.contextmanager
def _torch_threads(n: Optional[int]) -> Iterator[None]:
    """Let torch use ``n`` CPU threads inside the block, then restore the previous setting."""
    if n is None:
        yield
        return
    n = _check_positive_int("num_threads", n)
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def default_chunk_size(config: TSDiffConfig, device_type: str) -> int:
    """Rows (series x samples) denoised at once when ``chunk_size=None``.

    On a GPU, 65536 rows fill the device. On a CPU a smaller batch is faster,
    not only leaner: the U-Net's activations (rows x positions x channels
    floats) should stay near the size of the CPU caches (about 4 MiB), so the
    chunk is ``2**20 / (positions * hidden_channels)`` rows, kept in [64, 4096].
    """
    if device_type == "cuda":
        return 65536
    positions = -(-(config.tail_length + config.prediction_length) // config.patch_size)
    return int(min(4096, max(64, 2**20 // (positions * config.hidden_channels))))


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
        are fed to the denoiser. Default from the frequency (24 and 168 for hourly data).
    tail_length : int, optional
        Recent history steps laid next to the horizon in the denoiser's window.
        Default ``max(prediction_length, 16)``, rounded up to a whole number of patches
        (capped by ``context_length``).
    scaling : {"std", "mean", "none"}, default "std"
        Per-series scaling computed on the context window only.
    time_features : bool, default True
        Use GluonTS calendar features of the frequency.
    diffusion_steps, beta_schedule, beta_start, beta_end
        DDPM noise schedule (default: linear 1e-4 to 0.1 over 100 steps).
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
        Hold out the last ``prediction_length`` points of each series as a
        validation window and keep the checkpoint with the lowest validation loss.
    sampler : {"ddim", "ddpm"}, default "ddim"
        Default sampler of :meth:`predict` (can be changed per call).
    sampler_steps : int, default 20
        Default number of DDIM steps.
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
    precision : {"fp32", "bf16", "fp16"}, default "fp32"
        Precision of the denoiser when sampling (``torch.autocast``); the
        diffusion arithmetic stays in float32. ``"fp16"`` needs a CUDA device.
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
                 tail_length: Optional[int] = None, scaling: str = "std", time_features: bool = True,
                 diffusion_steps: int = 100, beta_schedule: str = "linear", beta_start: float = 1e-4,
                 beta_end: float = 0.1, hidden_channels: int = 32, channel_mults: Sequence[int] = (1, 2, 2),
                 num_res_blocks: int = 1, patch_size: int = 1, embedding_dim: int = 128,
                 encoder_channels: int = 64, dropout: float = 0.0, batch_size: int = 64, learning_rate: float = 1e-3,
                 weight_decay: float = 1e-4, max_steps: int = 4000, max_time: Optional[float] = None,
                 grad_clip: float = 1.0, ema_decay: float = 0.995, val_every: int = 200,
                 validation: bool = True, num_val_windows: int = 256, sampler: str = "ddim",
                 sampler_steps: Optional[int] = 20, chunk_size: Optional[int] = None, id_col: Optional[str] = None,
                 timestamp_col: Optional[str] = None, target_col: Optional[str] = None,
                 device: str = "auto", num_threads: Optional[int] = None, precision: str = "fp32",
                 compile: bool = False, seed: int = 0, progress: bool = True) -> None:
        self.prediction_length = prediction_length
        self.context_length = context_length
        self.freq = freq
        self.lags = lags
        self.tail_length = tail_length
        self.scaling = scaling
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
        self.sampler = sampler
        self.sampler_steps = sampler_steps
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
        from .integrations.gluonts import default_lags, num_time_features

        H = _check_positive_int("prediction_length", self.prediction_length)
        lags = tuple(default_lags(freq, H)) if self.lags is None else tuple(self.lags)
        if self.context_length is None:
            C = max([2 * l for l in lags] + [4 * H, 16])
        else:
            C = _check_positive_int("context_length", self.context_length)
            if self.lags is None:  # default lags must fit in a user-given context
                lags = tuple(l for l in lags if l <= C)
        patch = _check_positive_int("patch_size", self.patch_size)
        if self.tail_length is None:
            # A tail that is a whole number of patches lines the horizon up with patch boundaries.
            tail = min(C, -(-max(H, 16) // patch) * patch)
        else:
            tail = self.tail_length
        try:
            return TSDiffConfig(
                prediction_length=H, context_length=C, freq=freq, lags=lags, tail_length=tail,
                num_time_features=num_time_features(freq) if self.time_features else 0,
                num_known_covariates=num_known, num_past_covariates=num_past,
                static_cardinalities=static_cardinalities, num_static_real=num_static_real,
                scaling=self.scaling, diffusion_steps=self.diffusion_steps, beta_schedule=self.beta_schedule,
                beta_start=self.beta_start, beta_end=self.beta_end, hidden_channels=self.hidden_channels,
                channel_mults=tuple(self.channel_mults), num_res_blocks=self.num_res_blocks, patch_size=patch,
                embedding_dim=self.embedding_dim, encoder_channels=self.encoder_channels,
                dropout=self.dropout, batch_size=self.batch_size, learning_rate=self.learning_rate,
                weight_decay=self.weight_decay, max_steps=self.max_steps, max_time=self.max_time,
                grad_clip=self.grad_clip, ema_decay=self.ema_decay, val_every=self.val_every,
                num_val_windows=self.num_val_windows, seed=self.seed)
        except ConfigError as exc:
            raise ValueError(f"invalid TSDiff parameter: {exc}") from None

    # ------------------------------------------------------------------ arrays
    def _arrays(self, series: Sequence[SeriesData], extra: int = 0,
                future_known: Optional[Sequence[np.ndarray]] = None,
                static_cat: Optional[np.ndarray] = None,
                static_real: Optional[np.ndarray] = None) -> list[SeriesArrays]:
        """Numpy view of each series, time features extended ``extra`` steps into the future."""
        from .integrations.gluonts import time_features

        cfg = self.config_
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
                static_real=None if static_real is None else static_real[i].astype(np.float32)))
        return out

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
            cats, reals = read_static(static_df, item_ids, id_col=self._spec_id_col(static_df))
            id_col = self._spec_id_col(static_df)
            feature_cols = [c for c in static_df.columns if c not in (id_col, "item_id", "unique_id")]
            numeric = [c for c in feature_cols if pd.api.types.is_numeric_dtype(static_df[c])
                       and not pd.api.types.is_bool_dtype(static_df[c])]
            self.static_real_names_ = numeric
            self.static_categorical_ = [c for c in feature_cols if c not in numeric]
            self.static_vocab_ = ([sorted(set(map(str, cats[:, j]))) for j in range(cats.shape[1])]
                                  if cats is not None else [])
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
            cats, reals = read_static(static_df, item_ids, id_col=self._spec_id_col(static_df),
                                      categorical=self.static_categorical_, real=self.static_real_names_)
        codes = None
        if cats is not None:
            codes = np.zeros(cats.shape, dtype=np.int64)
            for j, vocab in enumerate(self.static_vocab_):
                lookup = {v: k + 1 for k, v in enumerate(vocab)}
                codes[:, j] = [lookup.get(str(v), 0) for v in cats[:, j]]
        if fitting:
            self.static_codes_ = codes
            self.static_reals_ = reals
        return codes, reals

    def _spec_id_col(self, static_df: pd.DataFrame) -> Optional[str]:
        spec = getattr(self, "spec_", None)
        if spec is not None and spec.id_col in static_df.columns:
            return spec.id_col
        return self.id_col

    # --------------------------------------------------------------------- fit
    def fit(self, df: pd.DataFrame, *, known_covariates: Optional[Sequence[str]] = None,
            past_covariates: Optional[Sequence[str]] = None,
            static_df: Optional[pd.DataFrame] = None) -> "TSDiff":
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

        Returns
        -------
        self
        """
        with _torch_threads(self.num_threads):
            return self._fit(df, known_covariates=known_covariates, past_covariates=past_covariates,
                             static_df=static_df)

    def _fit(self, df: pd.DataFrame, *, known_covariates: Optional[Sequence[str]] = None,
            past_covariates: Optional[Sequence[str]] = None,
            static_df: Optional[pd.DataFrame] = None) -> "TSDiff":
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
        self.known_covariates_ = known
        self.past_covariates_ = past
        self.item_ids_ = [s.item_id for s in series]
        static_cat, static_real = self._encode_static(static_df, self.item_ids_, fitting=True)
        cfg = self._make_config(spec.freq, len(known), len(past),
                                tuple(len(v) + 1 for v in self.static_vocab_), self.static_real_cols_)
        self.config_ = cfg
        self.device_ = device
        H, C = cfg.prediction_length, cfg.context_length

        arrays = self._arrays(series, static_cat=static_cat, static_real=static_real)
        lengths = np.array([len(a) for a in arrays])
        # Hold out the last H points of each long-enough series for validation.
        has_val = (lengths >= H + 2) if self.validation else np.zeros(len(arrays), bool)
        ends = np.where(has_val, lengths - H, lengths)
        if (lengths < 2).all():
            raise DataError(f"every series in df has fewer than 2 time steps (items {self.item_ids_[:5]}); "
                            "tsdiff needs at least one series with 2 or more steps to train")
        rng = np.random.default_rng(cfg.seed)
        window_sampler = TrainWindowSampler(arrays, C, H, ends)
        val_batches = []
        if has_val.any():
            val_idx = np.flatnonzero(has_val)
            if len(val_idx) >= cfg.num_val_windows:
                val_idx = np.sort(rng.choice(val_idx, size=cfg.num_val_windows, replace=False))
            else:  # several noise draws per window for a steadier estimate
                val_idx = np.resize(val_idx, cfg.num_val_windows)
            for j in range(0, len(val_idx), 4 * cfg.batch_size):
                idx = val_idx[j:j + 4 * cfg.batch_size]
                val_batches.append(batch_to_tensors(make_batch(arrays, idx, lengths[idx] - H, C, H), device))

        # Weight init from the seed without touching torch's global RNG state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model = TSDiffModel(cfg)
        model.to(device)

        # Validation windows (drawn above) are the same on every process; training windows are per process.
        train_rng = np.random.default_rng([cfg.seed, dist_ctx.rank]) if dist_ctx.is_distributed else rng

        def sample_batch(step: int) -> dict[str, torch.Tensor]:
            return batch_to_tensors(window_sampler.sample(train_rng, cfg.batch_size), device)

        trainer = Trainer(model, sample_batch, val_batches=val_batches, learning_rate=cfg.learning_rate,
                          weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip, ema_decay=cfg.ema_decay,
                          max_steps=cfg.max_steps, max_time=cfg.max_time, val_every=cfg.val_every,
                          seed=cfg.seed, device=device, progress=self.progress, dist=dist_ctx)
        logger.info("fitting tsdiff on %d series (%d training windows), freq=%s, context_length=%d, "
                    "prediction_length=%d", len(series), window_sampler.num_windows, cfg.freq, C, H)
        # Keep only what predict needs: the last context_length points of each series.
        self.series_ = [_tail(s, C, spec.freq) for s in series]
        try:
            self.train_result_ = trainer.fit()
        except TrainingError:
            self.model_ = trainer.best_module()
            self.train_result_ = trainer.result
            raise
        self.model_ = trainer.best_module()
        if self.train_result_.stopped_reason == "interrupted":
            logger.warning("fit was interrupted: the model holds the best checkpoint so far (step %d)",
                           self.train_result_.best_step)
        return self

    # ----------------------------------------------------------------- predict
    def _check_fitted(self, method: str = "predict") -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(f"this TSDiff instance is not fitted yet; call fit(df) before {method}()")

    def predict(self, horizon: Optional[int] = None, n_samples: int = 100, df: Optional[pd.DataFrame] = None,
                *, future_df: Optional[pd.DataFrame] = None, static_df: Optional[pd.DataFrame] = None,
                sampler: Optional[str] = None, steps: Optional[int] = None, eta: float = 0.0,
                seed: Optional[int] = None, chunk_size: Optional[int] = None,
                shard: Optional[tuple[int, int]] = None) -> Forecast:
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
        sampler : {"ddim", "ddpm"}, optional
            Default: the ``sampler`` parameter. ``"ddpm"`` is ancestral sampling
            over all diffusion steps; ``"ddim"`` uses ``steps`` steps and ``eta``.
        steps : int, optional
            DDIM steps (default ``sampler_steps``).
        eta : float, default 0.0
            DDIM stochasticity (0 deterministic given the initial noise, 1 ~ DDPM).
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

        Returns
        -------
        Forecast
            ``samples`` of shape ``(n_series, n_samples, horizon)``.
        """
        with _torch_threads(self.num_threads):
            return self._predict(horizon=horizon, n_samples=n_samples, df=df, future_df=future_df,
                                 static_df=static_df, sampler=sampler, steps=steps, eta=eta, seed=seed,
                                 chunk_size=chunk_size, shard=shard)

    def _predict(self, horizon: Optional[int] = None, n_samples: int = 100, df: Optional[pd.DataFrame] = None,
                *, future_df: Optional[pd.DataFrame] = None, static_df: Optional[pd.DataFrame] = None,
                sampler: Optional[str] = None, steps: Optional[int] = None, eta: float = 0.0,
                seed: Optional[int] = None, chunk_size: Optional[int] = None,
                shard: Optional[tuple[int, int]] = None) -> Forecast:
        from .diffusion import make_sampler

        self._check_fitted()
        cfg = self.config_
        H, C = cfg.prediction_length, cfg.context_length
        horizon = H if horizon is None else _check_positive_int("horizon", horizon)
        n_samples = _check_positive_int("n_samples", n_samples)
        chunk = chunk_size if chunk_size is not None else self.chunk_size
        if chunk is None:
            chunk = default_chunk_size(cfg, self.device_.type)
        chunk = _check_positive_int("chunk_size", chunk)
        seed = self.seed if seed is None else seed
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        name = self.sampler if sampler is None else sampler
        if name == "ddim" and steps is None:
            steps = self.sampler_steps
        diffusion_sampler = make_sampler(name, self.model_.schedule, steps=steps, eta=eta)

        if df is None:
            series, spec = self.series_, self.spec_
            static_cat, static_real = self._encode_static(static_df, [s.item_id for s in series], fitting=False)
        else:
            # Read new histories with the fitted column names where the frame has them.
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
                raise DataError(f"df has frequency {spec.freq!r} but the model was fitted on {self.freq_!r}; "
                                "resample df to the fitted frequency")
            series = [_tail(s, C, spec.freq) for s in series]
            static_cat, static_real = self._encode_static(static_df, [s.item_id for s in series], fitting=False)
        if shard is not None:
            rank, world = _check_shard(shard)
            keep = np.array_split(np.arange(len(series)), world)[rank]
            series = [series[i] for i in keep]
            static_cat = None if static_cat is None else static_cat[keep]
            static_real = None if static_real is None else static_real[keep]
            seed = rank_seed(int(seed), rank, world)
        if not series:  # e.g. more shards than series
            return Forecast(np.empty((0, n_samples, horizon), np.float32), [], [], self.freq_,
                            id_col=spec.id_col if not spec.wide else "item_id",
                            timestamp_col=spec.timestamp_col if not spec.wide else "timestamp",
                            info={"seed": int(seed)})

        n_blocks = math.ceil(horizon / H)
        total = n_blocks * H
        future_known = None
        if cfg.num_known_covariates:
            if future_df is None:
                raise DataError(f"this model uses known covariates {self.known_covariates_}: pass their future "
                                f"values for the {horizon} steps after each series as predict(future_df=...)")
            future_known = read_future_covariates(future_df, series, spec, horizon, self.known_covariates_)
            # The last block may reach past the horizon: hold the covariates at their last value there.
            future_known = [np.concatenate([f, np.repeat(f[:, -1:], total - horizon, axis=1)], axis=1)
                            for f in future_known]
        arrays = self._arrays(series, extra=total, future_known=future_known,
                              static_cat=static_cat, static_real=static_real)
        device = self.device_
        model = self.model_.to(device).eval()
        autocast_dtype = _autocast_dtype(self.precision, device)
        denoiser = self._compiled_denoiser() if self.compile else None
        gen = torch.Generator(device=device).manual_seed(int(seed))
        # On a CPU, chunks run in parallel threads of one torch thread each (see TSDiffModel.sample).
        workers = 1 if device.type == "cuda" else max(1, torch.get_num_threads())
        N, S = len(series), n_samples
        ends = np.array([len(a) for a in arrays])
        out = np.empty((N, S, total), dtype=np.float32)
        base = make_batch(arrays, np.arange(N), ends, C, H, with_target=False)
        base_t = batch_to_tensors(base, device)
        out[:, :, :H] = model.sample(base_t, S, diffusion_sampler, generator=gen, chunk_size=chunk,
                                     autocast_dtype=autocast_dtype, denoiser=denoiser,
                                     workers=workers).cpu().numpy()
        for k in range(1, n_blocks):
            # Block k: each sample path conditions on its own previous blocks. Rows (series x samples)
            # are built and denoised chunk by chunk, so memory stays bounded by chunk_size.
            blk = make_batch(arrays, np.arange(N), ends + k * H, C, H, with_target=False)
            rows_per_call = chunk * workers  # split again into `workers` chunks by model.sample
            for r0 in range(0, N * S, rows_per_call):
                r = np.arange(r0, min(N * S, r0 + rows_per_call))
                si, sj = r // S, r % S
                rows = {key: v[si] for key, v in blk.items()}
                rows["past_target"] = np.concatenate([base["past_target"][si], out[si, sj, :k * H]], axis=1)[:, -C:]
                rows["past_observed"] = np.concatenate(
                    [base["past_observed"][si], np.ones((len(r), k * H), np.float32)], axis=1)[:, -C:]
                if cfg.num_past_covariates:
                    # Past-only covariates are unknown over generated blocks: hold their last observed value.
                    pc = base["past_past_cov"][si]
                    held = np.repeat(pc[:, -1:, :], k * H, axis=1)
                    rows["past_past_cov"] = np.concatenate([pc, held], axis=1)[:, -C:]
                rows_t = batch_to_tensors(rows, device)
                blk_samples = model.sample(rows_t, 1, diffusion_sampler, generator=gen, chunk_size=chunk,
                                           autocast_dtype=autocast_dtype, denoiser=denoiser, workers=workers)
                out[si, sj, k * H:(k + 1) * H] = blk_samples[:, 0].cpu().numpy()
        out = out[:, :, :horizon]
        timestamps = []
        for s in series:
            last = s.start + (len(s) - 1) * pd.tseries.frequencies.to_offset(self.freq_)
            ts = future_timestamps(last, self.freq_, horizon)
            if spec.tz is not None:
                ts = ts.tz_localize(spec.tz)
            timestamps.append(ts)
        return Forecast(out, [s.item_id for s in series], timestamps, self.freq_,
                        id_col=spec.id_col if not spec.wide else "item_id",
                        timestamp_col=spec.timestamp_col if not spec.wide else "timestamp",
                        info={"sampler": repr(diffusion_sampler), "seed": int(seed),
                              **({"shard": list(shard)} if shard is not None else {})})

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
        from .diffusion import make_sampler, sample_loop

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
        name = self.sampler if sampler is None else sampler
        if name == "ddim" and steps is None:
            steps = self.sampler_steps
        diffusion_sampler = make_sampler(name, self.model_.schedule, steps=steps, eta=eta)
        if cfg.num_known_covariates:
            raise ValueError("reverse_trajectory does not support models with known covariates yet")
        series = [self.series_[k]]
        static_cat, static_real = self._encode_static(None, [series[0].item_id], fitting=False)
        arrays = self._arrays(series, extra=cfg.prediction_length, static_cat=static_cat, static_real=static_real)
        batch = batch_to_tensors(make_batch(arrays, np.arange(1), np.array([len(arrays[0])]), cfg.context_length,
                                            cfg.prediction_length, with_target=False), self.device_)
        model = self.model_.eval()
        gen = torch.Generator(device=self.device_).manual_seed(int(self.seed if seed is None else seed))
        timesteps = diffusion_sampler.timesteps()
        keep = set(np.linspace(0, len(timesteps) - 1, max(n_frames - 1, 1)).round().astype(int).tolist()[:n_frames - 1])
        frames: list[np.ndarray] = []
        labels: list[int] = []
        with torch.no_grad():
            cond, loc, scale = model.condition(batch)
            rows = cond.repeat_interleave(n_samples)

            def record(i: int, t: int, x_t: torch.Tensor) -> None:
                if i in keep:
                    frames.append((x_t * scale + loc).cpu().numpy())
                    labels.append(int(t))

            x0 = sample_loop(lambda x_t, t: model.denoiser(x_t, t, rows.seq, rows.emb),
                             (n_samples, cfg.prediction_length), diffusion_sampler, generator=gen,
                             device=self.device_, callback=record)
        frames.append((x0 * scale + loc).cpu().numpy())
        labels.append(-1)
        s = series[0]
        last = s.start + (len(s) - 1) * pd.tseries.frequencies.to_offset(self.freq_)
        return np.stack(frames), labels, future_timestamps(last, self.freq_, cfg.prediction_length)

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
            return self._cross_validation(df, n_windows, step_size, horizon=horizon, refit=refit,
                                          n_samples=n_samples, static_df=static_df,
                                          known_covariates=known_covariates, past_covariates=past_covariates,
                                          quantiles=quantiles, include_samples=include_samples,
                                          return_samples=return_samples, predict_kwargs=predict_kwargs)

    def _cross_validation(self, df: pd.DataFrame, n_windows: int, step_size: Optional[int], *,
                          horizon: Optional[int], refit: bool, n_samples: int, static_df: Optional[pd.DataFrame],
                          known_covariates: Optional[Sequence[str]], past_covariates: Optional[Sequence[str]],
                          quantiles: Sequence[float], include_samples: bool, return_samples: Optional[str],
                          predict_kwargs: dict[str, Any]) -> Any:
        fitted = hasattr(self, "model_")
        if not refit:
            self._check_fitted("cross_validation")
        n_windows = _check_positive_int("n_windows", n_windows)
        H = self.config_.prediction_length if fitted else _check_positive_int("prediction_length",
                                                                              self.prediction_length)
        horizon = H if horizon is None else _check_positive_int("horizon", horizon)
        step = horizon if step_size is None else _check_positive_int("step_size", step_size)
        n_samples = _check_positive_int("n_samples", n_samples)
        if return_samples not in (None, "array", "forecasts"):
            raise ValueError(f"return_samples must be None, 'array' or 'forecasts', got {return_samples!r}")
        reserved = sorted(set(predict_kwargs) & {"df", "future_df", "horizon", "n_samples", "static_df", "shard"})
        if reserved:
            raise ValueError(f"cross_validation sets {reserved} itself; use its own arguments (horizon=, "
                             "n_samples=, static_df=) instead")
        known = list(self.known_covariates_ if known_covariates is None and fitted else known_covariates or [])
        past = list(self.past_covariates_ if past_covariates is None and fitted else past_covariates or [])
        series, spec = self._read_backtest_frame(df, known, past, fitted)
        cuts = _cutoff_positions(series, n_windows, horizon, step)
        N = len(series)
        if static_df is None and fitted:
            static_df = self._fitted_static_frame([s.item_id for s in series])
        if not refit:
            samples = self._cv_one_call(series, spec, cuts, horizon, n_samples, static_df, known, past,
                                        predict_kwargs)
        else:
            samples = self._cv_refit(series, spec, cuts, horizon, n_samples, static_df, known, past,
                                     predict_kwargs)
        frame = _cv_frame(series, spec, cuts, horizon, samples, quantiles, include_samples)
        logger.info("cross_validation: %d series x %d windows of %d steps (refit=%s)", N, n_windows, horizon, refit)
        if return_samples is None:
            return frame
        if return_samples == "array":
            return frame, samples
        freq = spec.freq
        forecasts = []
        for k in range(n_windows):
            ts = [_localize(future_timestamps(_stamp(s, int(cuts[i, k]) - 1, freq), freq, horizon), spec.tz)
                  for i, s in enumerate(series)]
            forecasts.append(Forecast(samples[:, k], [s.item_id for s in series], ts, freq,
                                      id_col=spec.id_col, timestamp_col=spec.timestamp_col,
                                      info={"window": k}))
        return frame, forecasts

    def _read_backtest_frame(self, df: pd.DataFrame, known: list[str], past: list[str],
                             fitted: bool) -> tuple[list[SeriesData], FrameSpec]:
        """Read ``df`` with the fitted column names where it has them (as predict does)."""
        cols = set(df.columns) if isinstance(df, pd.DataFrame) else set()
        spec = getattr(self, "spec_", None)

        def pick(attr: str, user: Optional[str]) -> Optional[str]:
            col = getattr(spec, attr) if spec is not None and not spec.wide else None
            return col if col in cols else user

        series, spec_read = read_series(df, id_col=pick("id_col", self.id_col),
                                        timestamp_col=pick("timestamp_col", self.timestamp_col),
                                        target_col=pick("target_col", self.target_col),
                                        freq=self.freq_ if fitted else self.freq, known_covariates=known,
                                        past_covariates=past, arg_name="df")
        return series, spec_read

    def _fitted_static_frame(self, item_ids: Sequence[Hashable]) -> Optional[pd.DataFrame]:
        """The static features given to fit, as a frame (rows of the fitted ``item_ids``), or None."""
        if not getattr(self, "static_vocab_", None) and not getattr(self, "static_real_cols_", 0):
            return None
        known = {i: k for k, i in enumerate(self.item_ids_)}
        missing = [i for i in item_ids if i not in known]
        if missing:
            raise DataError(f"the model uses static features; pass static_df= with rows for the items {missing[:5]}")
        rows = [known[i] for i in item_ids]
        data: dict[str, Any] = {_long_spec(self.spec_, None).id_col: list(item_ids)}
        for j, name in enumerate(self.static_categorical_):
            vocab = self.static_vocab_[j]
            data[name] = [vocab[c - 1] if c > 0 else None for c in self.static_codes_[rows, j]]
        for j, name in enumerate(self.static_real_names_):
            data[name] = self.static_reals_[rows, j]
        return pd.DataFrame(data)

    def _cv_one_call(self, series: list[SeriesData], spec: FrameSpec, cuts: np.ndarray, horizon: int,
                     n_samples: int, static_df: Optional[pd.DataFrame], known: list[str], past: list[str],
                     predict_kwargs: dict[str, Any]) -> np.ndarray:
        """Every (series, cut-off) history as one pseudo-series; one predict call for all of them."""
        N, K = cuts.shape
        C = self.config_.context_length
        pseudo, fut = [], []
        for i, s in enumerate(series):
            for k in range(K):
                c = int(cuts[i, k])
                pseudo.append(_window_series(s, max(0, c - C), c, self.freq_, item_id=i * K + k))
                if known:
                    fut.append(s.known_covariates[:, c:c + horizon])
        pseudo_spec = _long_spec(self.spec_, tz=None)
        hist_df = _series_frame(pseudo, pseudo_spec, known, past)
        future_df = _future_frame(pseudo, fut, pseudo_spec, horizon, known) if known else None
        static = None
        if static_df is not None:
            id_col = self._spec_id_col(static_df) or "item_id"
            lookup = static_df.set_index(id_col)
            static = lookup.reindex([s.item_id for s in series for _ in range(K)]).reset_index(drop=True)
            static.insert(0, pseudo_spec.id_col, np.arange(N * K))
        fc = self.predict(horizon=horizon, n_samples=n_samples, df=hist_df, future_df=future_df,
                          static_df=static, **predict_kwargs)
        order = np.argsort(np.asarray(fc.item_ids, dtype=np.int64), kind="stable")
        return fc.samples[order].reshape(N, K, n_samples, horizon)

    def _cv_refit(self, series: list[SeriesData], spec: FrameSpec, cuts: np.ndarray, horizon: int,
                  n_samples: int, static_df: Optional[pd.DataFrame], known: list[str], past: list[str],
                  predict_kwargs: dict[str, Any]) -> np.ndarray:
        """Fit a clone on each cut-off's histories and forecast from their ends."""
        from sklearn.base import clone

        N, K = cuts.shape
        out = np.empty((N, K, n_samples, horizon), dtype=np.float32)
        names = _long_spec(spec, tz=None)
        for k in range(K):
            hist = [_window_series(s, 0, int(cuts[i, k]), spec.freq) for i, s in enumerate(series)]
            est = clone(self).set_params(id_col=names.id_col, timestamp_col=names.timestamp_col,
                                         target_col=names.target_col, freq=spec.freq)
            est.fit(_series_frame(hist, names, known, past), known_covariates=known or None,
                    past_covariates=past or None, static_df=static_df)
            future_df = None
            if known:
                fut = [s.known_covariates[:, int(cuts[i, k]):int(cuts[i, k]) + horizon] for i, s in enumerate(series)]
                future_df = _future_frame(hist, fut, names, horizon, known)
            fc = est.predict(horizon=horizon, n_samples=n_samples, future_df=future_df, **predict_kwargs)
            row = {item: j for j, item in enumerate(fc.item_ids)}
            out[:, k] = fc.samples[[row[s.item_id] for s in series]]
            logger.info("cross_validation: refit %d/%d done", k + 1, K)
        return out

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
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()}
        payload = {
            "format_version": FORMAT_VERSION,
            "kind": "tsdiff.TSDiff",
            "config": self.config_.to_dict(),
            "params": params,
            "state_dict": {k: v.detach().cpu() for k, v in self.model_.state_dict().items()},
            "fitted": {
                "freq": self.freq_,
                "spec": {k: getattr(self.spec_, k) for k in ("id_col", "timestamp_col", "target_col",
                                                             "freq", "tz", "wide")},
                "known_covariates": list(self.known_covariates_),
                "past_covariates": list(self.past_covariates_),
                "static_vocab": [list(v) for v in self.static_vocab_],
                "static_real_cols": int(self.static_real_cols_),
                "static_categorical": list(self.static_categorical_),
                "static_real_names": list(self.static_real_names_),
                "static_codes": None if self.static_codes_ is None else torch.from_numpy(self.static_codes_),
                "static_reals": None if self.static_reals_ is None else torch.from_numpy(self.static_reals_),
                "series": [_series_to_plain(s) for s in self.series_],
                "train_result": {"steps": self.train_result_.steps, "best_step": self.train_result_.best_step,
                                 "best_val_loss": float(self.train_result_.best_val_loss),
                                 "stopped_reason": self.train_result_.stopped_reason,
                                 "elapsed": float(self.train_result_.elapsed)},
            },
        }
        payload["checksum"] = _checksum(payload)
        target = directory / MODEL_FILE
        fd, tmp = tempfile.mkstemp(prefix=MODEL_FILE + ".tmp-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(payload, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        (directory / "config.json").write_text(json.dumps(self.config_.to_dict(), indent=2) + "\n")
        return target

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
        p = Path(path)
        file = p / MODEL_FILE if p.is_dir() else p
        if not file.exists():
            raise ModelFileError(f"no tsdiff model at {str(path)!r} (expected a directory holding {MODEL_FILE})")
        try:
            payload = torch.load(file, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle errors, zip errors, unsafe globals ...
            # torch's own message suggests weights_only=False, which would run code from the file: not shown.
            raise ModelFileError(f"{str(file)!r} is not a readable tsdiff model file (truncated, corrupted, "
                                 f"or not written by tsdiff; {type(exc).__name__}). Nothing in it was "
                                 "executed: tsdiff reads model files with torch.load(weights_only=True)") from None
        if not isinstance(payload, dict) or payload.get("kind") != "tsdiff.TSDiff":
            raise ModelFileError(f"{str(file)!r} is not a tsdiff model file")
        version = payload.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ModelFileError(f"{str(file)!r} has format version {version!r}; this tsdiff reads versions up to "
                                 f"{FORMAT_VERSION}: upgrade tsdiff to load it")
        if payload.get("checksum") != _checksum(payload):
            raise ModelFileError(f"{str(file)!r} is corrupted: its checksum does not match its contents")
        try:
            params = dict(payload["params"])
            params["device"] = device
            est = cls(**params)
            cfg = TSDiffConfig.from_dict(payload["config"])
            fitted = payload["fitted"]
            est.config_ = cfg
            est.device_ = resolve_device(device)
            with torch.random.fork_rng(devices=[]):
                model = TSDiffModel(cfg)
            model.load_state_dict(payload["state_dict"])
            est.model_ = model.to(est.device_).eval()
            est.freq_ = fitted["freq"]
            est.spec_ = FrameSpec(**fitted["spec"])
            est.known_covariates_ = list(fitted["known_covariates"])
            est.past_covariates_ = list(fitted["past_covariates"])
            est.static_vocab_ = [list(v) for v in fitted["static_vocab"]]
            est.static_real_cols_ = int(fitted["static_real_cols"])
            est.static_categorical_ = list(fitted["static_categorical"])
            est.static_real_names_ = list(fitted["static_real_names"])
            est.static_codes_ = None if fitted["static_codes"] is None else fitted["static_codes"].numpy()
            est.static_reals_ = None if fitted["static_reals"] is None else fitted["static_reals"].numpy()
            est.series_ = [_series_from_plain(d) for d in fitted["series"]]
            est.item_ids_ = [s.item_id for s in est.series_]
            est.train_result_ = TrainResult(**fitted["train_result"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ModelFileError(f"{str(file)!r} is a damaged tsdiff model file: {type(exc).__name__}: "
                                 f"{str(exc)[:200]}") from None
        return est


def _checksum(payload: dict[str, Any]) -> str:
    """SHA-256 over the config, parameters, fitted metadata and every weight tensor's bytes.

    Detects corruption that the zip container does not (torch does not verify CRCs on load).
    """
    import hashlib

    h = hashlib.sha256()
    meta = {k: payload.get(k) for k in ("format_version", "kind", "config", "params")}
    h.update(json.dumps(meta, sort_keys=True, default=str).encode())
    fitted = payload.get("fitted") or {}
    plain = {k: v for k, v in fitted.items() if k != "series" and not isinstance(v, torch.Tensor)}
    h.update(json.dumps(plain, sort_keys=True, default=str).encode())
    tensors = [(f"w.{k}", v) for k, v in sorted((payload.get("state_dict") or {}).items())]
    tensors += [(f"f.{k}", v) for k, v in sorted(fitted.items()) if isinstance(v, torch.Tensor)]
    for i, ser in enumerate(fitted.get("series") or []):
        h.update(repr((ser.get("item_id"), ser.get("start"))).encode())
        tensors += [(f"s{i}.{k}", ser[k]) for k in ("target", "known_covariates", "past_covariates")
                    if isinstance(ser.get(k), torch.Tensor)]
    for name, t in tensors:
        if not isinstance(t, torch.Tensor):
            continue
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _autocast_dtype(precision: str, device: torch.device) -> Optional[torch.dtype]:
    """``precision`` -> the autocast dtype for ``device`` (None for full float32)."""
    table = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precision not in table:
        raise ValueError(f"precision must be one of {sorted(table)}, got {precision!r}")
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision='fp16' needs a CUDA device; use precision='bf16' on the CPU")
    return table[precision]


def _check_shard(shard: Any) -> tuple[int, int]:
    """Validate ``shard=(rank, world_size)``."""
    try:
        rank, world = shard
    except (TypeError, ValueError):
        raise ValueError(f"shard must be a pair (rank, world_size), got {shard!r}") from None
    ints = all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in (rank, world))
    if not ints or world < 1 or not 0 <= rank < world:
        raise ValueError(f"shard must be (rank, world_size) with 0 <= rank < world_size, got {shard!r}")
    return int(rank), int(world)


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


def _series_to_plain(s: SeriesData) -> dict[str, Any]:
    return {
        "item_id": s.item_id if isinstance(s.item_id, (str, int)) else str(s.item_id),
        "start": s.start.isoformat(),
        "target": torch.from_numpy(np.ascontiguousarray(s.target, dtype=np.float32)),
        "known_covariates": None if s.known_covariates is None else torch.from_numpy(
            np.ascontiguousarray(s.known_covariates, dtype=np.float32)),
        "past_covariates": None if s.past_covariates is None else torch.from_numpy(
            np.ascontiguousarray(s.past_covariates, dtype=np.float32)),
    }


def _series_from_plain(d: dict[str, Any]) -> SeriesData:
    return SeriesData(item_id=d["item_id"], start=pd.Timestamp(d["start"]), target=d["target"].numpy(),
                      known_covariates=None if d["known_covariates"] is None else d["known_covariates"].numpy(),
                      past_covariates=None if d["past_covariates"] is None else d["past_covariates"].numpy())


def _cutoff_positions(series: Sequence[SeriesData], n_windows: int, horizon: int, step: int) -> np.ndarray:
    """``(n_series, n_windows)`` history lengths: window ``k`` is forecast from ``target[:cuts[i, k]]``."""
    lengths = np.array([len(s) for s in series], dtype=np.int64)
    offsets = horizon + (n_windows - 1 - np.arange(n_windows)) * step
    cuts = lengths[:, None] - offsets[None, :]
    short = np.flatnonzero(cuts[:, 0] < 1)
    if short.size:
        i = int(short[0])
        need = int(offsets[0]) + 1
        raise DataError(f"series {series[i].item_id!r} of df has {lengths[i]} steps; n_windows={n_windows} windows "
                        f"of horizon {horizon} every step_size={step} steps need at least {need} "
                        f"({len(short)} series are too short): lower n_windows or step_size")
    return cuts


def _long_spec(spec: FrameSpec, tz: Optional[str]) -> FrameSpec:
    """The column names of a long frame for data read with ``spec`` (wide frames get the defaults)."""
    if spec.wide:
        return FrameSpec(id_col="item_id", timestamp_col="timestamp", target_col="target", freq=spec.freq, tz=tz,
                         wide=False)
    return FrameSpec(id_col=spec.id_col, timestamp_col=spec.timestamp_col, target_col=spec.target_col,
                     freq=spec.freq, tz=tz, wide=False)


def _stamp(s: SeriesData, pos: int, freq: str) -> pd.Timestamp:
    """tz-naive timestamp of ``s.target[pos]``."""
    return s.start + pos * pd.tseries.frequencies.to_offset(freq)


def _localize(ts: pd.DatetimeIndex, tz: Optional[str]) -> pd.DatetimeIndex:
    """Naive local timestamps in the user's time zone (as ``frames.to_long_frame`` writes them)."""
    if tz is None:
        return ts
    return ts.tz_localize(tz, ambiguous=np.zeros(len(ts), dtype=bool), nonexistent="shift_forward")


def _window_series(s: SeriesData, a: int, b: int, freq: str, item_id: Optional[Hashable] = None) -> SeriesData:
    """Steps ``a:b`` of a series (covariates too), optionally under another id."""
    return SeriesData(item_id=s.item_id if item_id is None else item_id, start=_stamp(s, a, freq),
                      target=s.target[a:b],
                      known_covariates=None if s.known_covariates is None else s.known_covariates[:, a:b],
                      past_covariates=None if s.past_covariates is None else s.past_covariates[:, a:b])


def _series_frame(series: Sequence[SeriesData], spec: FrameSpec, known: Sequence[str],
                  past: Sequence[str]) -> pd.DataFrame:
    """Series back into a long frame (target and covariate columns) named as in ``spec``."""
    columns: dict[str, list[np.ndarray]] = {spec.target_col: [s.target for s in series]}
    for j, name in enumerate(known):
        columns[name] = [s.known_covariates[j] for s in series]
    for j, name in enumerate(past):
        columns[name] = [s.past_covariates[j] for s in series]
    return to_long_frame([s.item_id for s in series], [s.timestamps(spec.freq) for s in series], columns, spec)


def _future_frame(series: Sequence[SeriesData], future: Sequence[np.ndarray], spec: FrameSpec, horizon: int,
                  known: Sequence[str]) -> pd.DataFrame:
    """Known covariates ``future[i]`` (shape ``(K, horizon)``) over the steps after each series."""
    stamps = [future_timestamps(s.last_timestamp(spec.freq), spec.freq, horizon) for s in series]
    columns = {name: [f[j] for f in future] for j, name in enumerate(known)}
    return to_long_frame([s.item_id for s in series], stamps, columns, spec)


def _cv_frame(series: Sequence[SeriesData], spec: FrameSpec, cuts: np.ndarray, horizon: int, samples: np.ndarray,
              quantiles: Sequence[float], include_samples: bool) -> pd.DataFrame:
    """The long frame of :meth:`TSDiff.cross_validation` from samples ``(N, K, S, horizon)``."""
    from .forecast import _quantile_name
    from .metrics import sample_quantile

    N, K, S, _ = samples.shape
    flat = samples.reshape(N * K, S, horizon)
    ids, stamps, cutoffs, actual = [], [], [], []
    for i, s in enumerate(series):
        for k in range(K):
            c = int(cuts[i, k])
            ids.append(s.item_id)
            cutoffs.append(_stamp(s, c - 1, spec.freq))
            stamps.append(future_timestamps(cutoffs[-1], spec.freq, horizon))
            actual.append(s.target[c:c + horizon].astype(np.float64))
    columns: dict[str, list[np.ndarray]] = {"actual": actual, "mean": list(flat.mean(axis=1))}
    for q in quantiles:
        columns[_quantile_name(q)] = list(sample_quantile(flat, float(q)))
    if include_samples:
        for j in range(S):
            columns[f"sample_{j}"] = list(flat[:, j])
    frame = to_long_frame(ids, stamps, columns, _long_spec(spec, spec.tz))
    frame.insert(2, "cutoff", _localize(pd.DatetimeIndex(np.repeat(np.array(cutoffs, dtype="M8[ns]"), horizon)),
                                        spec.tz))
    return frame


def history_before_windows(df: pd.DataFrame, n_windows: int, horizon: int, step_size: Optional[int] = None, *,
                           id_col: Optional[str] = None, timestamp_col: Optional[str] = None,
                           target_col: Optional[str] = None, freq: Optional[str] = None,
                           known_covariates: Sequence[str] = (), past_covariates: Sequence[str] = ()) -> pd.DataFrame:
    """Each series of ``df`` up to the first cut-off of :meth:`TSDiff.cross_validation`'s windows.

    Fit on this frame and backtest on ``df`` with ``refit=False``: no window's future (nor any
    later value) was seen in training.

    Parameters
    ----------
    df : pd.DataFrame
        Any frame :meth:`TSDiff.fit` reads.
    n_windows, horizon, step_size
        As in :meth:`TSDiff.cross_validation` (``step_size`` defaults to ``horizon``).
    id_col, timestamp_col, target_col, freq, known_covariates, past_covariates
        As in :meth:`TSDiff.fit`.

    Returns
    -------
    pd.DataFrame
        Long frame (id, timestamp, target, covariates) named as ``df``'s columns.
    """
    n_windows = _check_positive_int("n_windows", n_windows)
    horizon = _check_positive_int("horizon", horizon)
    step = horizon if step_size is None else _check_positive_int("step_size", step_size)
    known, past = list(known_covariates), list(past_covariates)
    series, spec = read_series(df, id_col=id_col, timestamp_col=timestamp_col, target_col=target_col, freq=freq,
                               known_covariates=known, past_covariates=past, arg_name="df")
    cuts = _cutoff_positions(series, n_windows, horizon, step)
    hist = [_window_series(s, 0, int(cuts[i, 0]), spec.freq) for i, s in enumerate(series)]
    return _series_frame(hist, _long_spec(spec, spec.tz), known, past)
