"""The peers tsdiff is benchmarked against, and GluonTS's last-window split: benchmark-only code.

Not part of the library (the installed package never needs them). Everything that builds,
trains or runs a peer lives here, so that the settings each peer gets can be read in one place:

- statistical: GluonTS's seasonal naive, statsforecast's AutoETS and AutoARIMA
  (:func:`statsforecast_forecasts`);
- learned, GluonTS torch: DeepAR (``deepar``: tsdiff's context length and the static category;
  ``deepar[default]``: GluonTS's defaults), PatchTST and TFT (:func:`gluonts_estimator`,
  :func:`train_gluonts`), each under an epoch x batch budget with early stopping on a validation
  split carved from the training data (:func:`validation_split`, checked against the test
  windows by :func:`check_no_test_overlap`);
- :func:`last_window_inputs`, which cuts a GluonTS test split the way
  ``make_evaluation_predictions`` does (with GluonTS's private ``_to_dataframe``).

The scripts put the repository root on ``sys.path`` before importing this module; they, not
these factories, seed the global RNGs that GluonTS's models draw from.
"""

from __future__ import annotations

import math
import time
from typing import Any, Optional

import numpy as np

from tsdiff.frames import normalize_freq
from tsdiff.integrations.gluonts_features import seasonality

__all__ = ["GLUONTS_MODELS", "STAT_MODELS", "check_no_test_overlap", "deepar_estimator", "gluonts_budget",
           "gluonts_estimator", "last_window_inputs", "peer_settings", "quantile_forecast_samples", "seasonal_naive_predictor",
           "series_key", "statsforecast_forecasts", "train_gluonts", "validation_split"]

#: Statistical peers (no training, one run: they have no seed).
STAT_MODELS = ("seasonal_naive", "autoets", "autoarima")
#: Learned GluonTS torch peers.
GLUONTS_MODELS = ("deepar", "deepar[default]", "patchtst", "tft")

# --------------------------------------------------------------------------- training budgets
#: Epoch x batch budget of each GluonTS peer and its early-stopping patience (epochs without a
#: better validation loss). One epoch = ``num_batches_per_epoch`` batches of ``batch_size`` windows,
#: then one pass over the validation windows. The best validation checkpoint is kept (GluonTS's
#: own ModelCheckpoint). Sized so that one training run stays under 15 minutes on 1 torch thread
#: on every local dataset (measured per-epoch times in benchmarks/README.md); 100 epochs x 50
#: batches is GluonTS's default (``max_epochs=100``, ``num_batches_per_epoch=50``).
GLUONTS_BUDGETS: dict[str, dict[str, int]] = {
    "deepar": {"max_epochs": 100, "num_batches_per_epoch": 50, "patience": 20},
    "deepar[default]": {"max_epochs": 100, "num_batches_per_epoch": 50, "patience": 20},
    "patchtst": {"max_epochs": 100, "num_batches_per_epoch": 50, "patience": 20},
    "tft": {"max_epochs": 100, "num_batches_per_epoch": 50, "patience": 20},
}
#: Per-dataset exceptions to :data:`GLUONTS_BUDGETS` (fewer epochs where one epoch is slow).
#: Measured seconds per 50-batch epoch on 1 thread (shared 2-core machine, 4-6 busy processes):
#: DeepAR 10.4 on ett_small_15min (context 672) -> 80 epochs; TFT 14.7 on m4_hourly (its validation
#: pass covers 414 windows) -> 55 epochs, 20.8 on ett_small_15min (context 672) -> 40 epochs.
GLUONTS_BUDGET_OVERRIDES: dict[tuple[str, str], dict[str, int]] = {
    ("deepar", "ett_small_15min"): {"max_epochs": 80},
    ("tft", "m4_hourly"): {"max_epochs": 55},
    ("tft", "ett_small_15min"): {"max_epochs": 40},
}


def gluonts_budget(model: str, dataset: str, **overrides: Optional[int]) -> dict[str, int]:
    """The epoch budget of ``model`` on ``dataset``: defaults, per-dataset exceptions, then ``overrides``."""
    budget = dict(GLUONTS_BUDGETS[model])
    budget.update(GLUONTS_BUDGET_OVERRIDES.get((model, dataset), {}))
    budget.update({k: int(v) for k, v in overrides.items() if v is not None})
    return budget


# --------------------------------------------------------------------------- what each peer gets
def _patchtst_settings(freq: str, context_length: int) -> dict[str, Any]:
    """PatchTST's settings for the frequency, from the paper's own run scripts.

    Nie et al., "A Time Series is Worth 64 Words" (ICLR 2023), github.com/yuqinie98/PatchTST,
    ``PatchTST_supervised/scripts``: look-back L = 336, patch_len 16, stride 8 on hourly and 15-minute
    data (``scripts/PatchTST/univariate/etth1.sh``, ``ettm1.sh``, ``weather.sh``,
    ``EXP-LongForecasting/PatchTST/electricity.sh``); for weekly data (ILI,
    ``EXP-LongForecasting/PatchTST/illness.sh``) L = 104, patch_len 24, stride 2. RevIN
    (``run_longExp.py --revin 1``, no affine) is GluonTS's ``scaling="std"``. The context is the
    dataset's tsdiff context (336 hourly, 312 m4_hourly, 360 business-day, 672 15-minute, 104 weekly):
    the paper's L where it has one.

    Encoder: the scripts' small one (3 layers, 4 heads, d_model 16, d_ff 128, dropout 0.3; ETTh1/2 and
    ILI) on every dataset. Their large one (3 layers, 16 heads, d_model 128, d_ff 256, dropout 0.2;
    ETTm, weather, electricity) takes 54 s per 50-batch epoch on m4_hourly on 1 thread: 15 epochs
    (680 s) scored wQL 0.0463, against 0.0328 for the small encoder under the full budget (early
    stopping at epoch 85 of 100, 420 s), one seed each on a shared machine (see benchmarks/README.md).
    Optimizer settings stay GluonTS's (Adam, lr 1e-3, batch 32): the scripts' lr 1e-4 with batch 128
    goes with epochs over every window of a long multivariate set, not with our epoch budget.
    """
    arch = dict(num_encoder_layers=3, nhead=4, d_model=16, dim_feedforward=128, dropout=0.3)
    if normalize_freq(freq).startswith("W"):
        return dict(context_length=context_length, patch_len=24, stride=2, scaling="std", **arch)
    return dict(context_length=context_length, patch_len=16, stride=8, scaling="std", **arch)


def _tft_settings(freq: str, context_length: int) -> dict[str, Any]:
    """TFT's settings for the frequency, from the paper's own code where the time budget allows.

    Lim et al., "Temporal Fusion Transformers" (IJF 2021), github.com/google-research/google-research
    ``tft/data_formatters``: hourly electricity (``electricity.py``) reads one week of history
    (``num_encoder_steps`` 7 x 24 = 168) with 4 heads, dropout 0.1, lr 1e-3; daily financial data
    (``volatility.py``) one trading year (252) with 1 head, dropout 0.3, lr 0.01. 15-minute data: one
    week (672), the paper's rule; weekly data has no paper setting: tsdiff's context (104). The static
    item category and GluonTS's calendar features of the frequency (``time_features_from_frequency_str``)
    are the paper's static and known inputs.

    Hidden size: GluonTS's default 32 (``hidden_dim`` = ``variable_dim`` = 32), not the paper's 160.
    On 1 torch thread one epoch of 50 batches took 57 s with 160, 16 s with 64 and 7.5 s with 32
    (ett_small_1h, context 168): 100 epochs of the paper's size would take 95 minutes, against a
    15-minute limit per training run.
    """
    f = normalize_freq(freq)
    dims = dict(hidden_dim=32, variable_dim=32)
    if f == "h":
        return dict(context_length=168, num_heads=4, dropout_rate=0.1, lr=1e-3, **dims)
    if f == "15min":
        return dict(context_length=672, num_heads=4, dropout_rate=0.1, lr=1e-3, **dims)
    if f in ("B", "D"):
        return dict(context_length=252, num_heads=1, dropout_rate=0.3, lr=1e-2, **dims)
    return dict(context_length=context_length, num_heads=4, dropout_rate=0.1, lr=1e-3, **dims)


#: TFT's quantile grid: GluonTS's default 0.1..0.9 plus 0.05 and 0.95, so that the 90% interval is a
#: learned one rather than GluonTS's tail extrapolation.
TFT_QUANTILES = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]


def peer_settings(model: str, freq: str, context_length: int, cardinality: Optional[int]) -> dict[str, Any]:
    """The estimator arguments of a GluonTS peer (besides freq, prediction_length and the budget).

    ``context_length`` is tsdiff's context for the dataset; ``cardinality`` the number of values of
    the dataset's ``feat_static_cat`` (the series index), None where it has none (ETT).
    """
    statics = {"num_feat_static_cat": 1, "cardinality": [int(cardinality)]} if cardinality else {}
    if model == "deepar":  # fair inputs: tsdiff's context and its static category; GluonTS's architecture
        return dict(context_length=context_length, **statics)
    if model == "deepar[default]":  # GluonTS's defaults: context = prediction_length, no statics
        return {}
    if model == "patchtst":  # univariate: no static or calendar inputs in GluonTS's PatchTST
        return _patchtst_settings(freq, context_length)
    if model == "tft":
        return dict(_tft_settings(freq, context_length), quantiles=list(TFT_QUANTILES),
                    **({"static_cardinalities": [int(cardinality)]} if cardinality else {}))
    raise ValueError(f"unknown GluonTS peer {model!r}; expected one of {GLUONTS_MODELS}")


# --------------------------------------------------------------------------- splits
def last_window_inputs(test_entries: list[dict], prediction_length: int) -> tuple[list[dict], list]:
    """Split each test entry at its last ``prediction_length`` steps the way ``make_evaluation_predictions`` does.

    Returns ``(inputs, tss)``: the input entries (target without its last window;
    ``feat_dynamic_real`` kept over history + horizon) and the ground-truth frames the
    Evaluator expects, in the order of ``test_entries``.
    """
    from gluonts.dataset.split import split
    from gluonts.evaluation.backtest import _to_dataframe

    _, template = split(test_entries, offset=-prediction_length)
    instances = list(template.generate_instances(prediction_length))
    return [inp for inp, _ in instances], [_to_dataframe(inst) for inst in instances]


def series_key(entry: dict) -> Any:
    """Which series an entry belongs to: its ``feat_static_cat`` (the series index) where present, else ``item_id``.

    The ``*_nips`` and weather test splits hold several windows of one series, each its own entry with
    its own ``item_id``; ``feat_static_cat`` names the series.
    """
    cat = entry.get("feat_static_cat")
    if cat is not None and len(np.atleast_1d(cat)):
        return ("cat", int(np.atleast_1d(cat)[0]))
    return ("id", str(entry.get("item_id")))


def _end(entry: dict) -> Any:
    """The period just after the entry's last target point."""
    return entry["start"] + len(entry["target"])


def validation_split(train_entries: list[dict], prediction_length: int) -> tuple[list[dict], list[dict]]:
    """Training and validation entries for the GluonTS peers, both cut from the training split only.

    Training entries are the training series without their last ``prediction_length`` points;
    validation entries are the full training series. GluonTS's ``ValidationSplitSampler(min_future=
    prediction_length)`` (the validation sampler of DeepAR, PatchTST and TFT) takes exactly one window
    per validation entry: its last ``prediction_length`` points, which the training entries do not
    hold. Series with at most ``prediction_length`` points are left out of training (and kept for
    validation). Time-varying fields are cut with the target.
    """
    H = int(prediction_length)
    train = []
    for e in train_entries:
        n = len(e["target"])
        if n <= H:
            continue
        cut = dict(e)
        cut["target"] = np.asarray(e["target"])[..., : n - H]
        for k in ("feat_dynamic_real", "past_feat_dynamic_real", "feat_dynamic_cat"):
            if k in e and e[k] is not None:
                cut[k] = np.asarray(e[k])[..., : n - H]
        train.append(cut)
    return train, list(train_entries)


def check_no_test_overlap(train_entries: list[dict], test_inputs: list[dict]) -> dict[str, Any]:
    """Check that no training (hence no validation) point lies in a scored test window.

    Every test input (history before a scored window, from :func:`last_window_inputs`) is matched to
    the training entry of the same series (:func:`series_key`); the training entry must end at or
    before the window's first point. Raises ValueError naming the first offending series; returns
    ``{"n_checked": ..., "min_gap": ...}`` (``min_gap``: the smallest number of steps between the end
    of a training series and the start of one of its test windows, 0 = adjacent).
    """
    by_key = {}
    for e in train_entries:
        by_key.setdefault(series_key(e), []).append(e)
    gaps = []
    for inp in test_inputs:
        for e in by_key.get(series_key(inp), []):
            if e["start"] != inp["start"]:
                gap = (_end(inp) - _end(e)).n
            else:
                gap = len(inp["target"]) - len(e["target"])
            if gap < 0:
                raise ValueError(f"training series {series_key(e)} ends {-gap} steps inside a test window: "
                                 "the training split overlaps the scored windows")
            gaps.append(gap)
    if not gaps:
        raise ValueError("no test entry could be matched to a training series (by feat_static_cat or item_id)")
    return {"n_checked": len(gaps), "min_gap": int(min(gaps))}


# --------------------------------------------------------------------------- GluonTS peers
def _require_lightning() -> None:
    try:
        import lightning  # noqa: F401
    except ImportError as exc:
        raise ImportError("GluonTS's torch models need the 'lightning' package: pip install 'gluonts[torch]'") from exc


def deepar_estimator(freq: str, prediction_length: int, context_length: Optional[int] = None, *,
                     max_time_seconds: Optional[float] = None, max_epochs: int = 100_000,
                     num_batches_per_epoch: int = 50, **kwargs: Any) -> Any:
    """GluonTS's torch ``DeepAREstimator`` (default architecture), stopped at ``max_epochs`` or ``max_time_seconds``.

    Used by ``sampling_speed.py`` (a wall-clock budget: a speed figure, not an accuracy row).
    The accuracy tables build DeepAR with :func:`gluonts_estimator` instead (epoch budget, early
    stopping). Needs the ``lightning`` package (``pip install "gluonts[torch]"``): raises ImportError
    with that advice otherwise.
    """
    _require_lightning()
    from gluonts.torch import DeepAREstimator

    trainer_kwargs = _trainer_kwargs(max_epochs, max_time_seconds)
    trainer_kwargs.update(kwargs.pop("trainer_kwargs", {}))
    return DeepAREstimator(freq=normalize_freq(freq), prediction_length=prediction_length,
                           context_length=context_length, num_batches_per_epoch=num_batches_per_epoch,
                           trainer_kwargs=trainer_kwargs, **kwargs)


def _trainer_kwargs(max_epochs: int, cap_seconds: Optional[float]) -> dict[str, Any]:
    """Lightning trainer settings: quiet, checkpoints in a temporary folder, optional wall-clock cap."""
    import datetime
    import tempfile

    # GluonTS adds its own ModelCheckpoint (it reloads the best weights after training): keep
    # checkpointing on, in a temporary folder rather than the working directory.
    kwargs: dict[str, Any] = {"max_epochs": int(max_epochs), "enable_progress_bar": False, "logger": False,
                              "enable_model_summary": False, "accelerator": "auto",
                              "default_root_dir": tempfile.mkdtemp(prefix="tsdiff-peer-")}
    if cap_seconds is not None:
        kwargs["max_time"] = datetime.timedelta(seconds=float(cap_seconds))
    return kwargs


def gluonts_estimator(model: str, freq: str, prediction_length: int, context_length: int,
                      cardinality: Optional[int], *, max_epochs: int, num_batches_per_epoch: int,
                      patience: int, cap_seconds: Optional[float] = None,
                      overrides: Optional[dict[str, Any]] = None) -> tuple[Any, dict[str, Any]]:
    """A GluonTS torch peer with its settings, an epoch budget and early stopping on ``val_loss``.

    ``overrides`` replace or add estimator arguments (ablations: ``run_benchmarks.py --peer-param``).

    Returns ``(estimator, callbacks)``: ``callbacks`` holds the Lightning ``EarlyStopping`` and a
    recorder of the validation loss per epoch, read back by :func:`train_gluonts`.
    """
    _require_lightning()
    from lightning.pytorch.callbacks import EarlyStopping

    settings = {**peer_settings(model, freq, context_length, cardinality), **(overrides or {})}
    callbacks = {"early_stopping": EarlyStopping(monitor="val_loss", mode="min", patience=int(patience)),
                 "history": _history_callback()}
    trainer_kwargs = _trainer_kwargs(max_epochs, cap_seconds)
    trainer_kwargs["callbacks"] = list(callbacks.values())
    freq = normalize_freq(freq)
    common = dict(prediction_length=int(prediction_length), num_batches_per_epoch=int(num_batches_per_epoch),
                  trainer_kwargs=trainer_kwargs)
    if model in ("deepar", "deepar[default]"):
        from gluonts.torch import DeepAREstimator

        return DeepAREstimator(freq=freq, **common, **settings), callbacks
    if model == "patchtst":
        from gluonts.torch.model.patch_tst import PatchTSTEstimator

        return PatchTSTEstimator(**common, **settings), callbacks
    if model == "tft":
        from gluonts.torch.model.tft import TemporalFusionTransformerEstimator

        return TemporalFusionTransformerEstimator(freq=freq, **common, **settings), callbacks
    raise ValueError(f"unknown GluonTS peer {model!r}")


def _history_callback() -> Any:
    """A Lightning callback recording ``(epoch, val_loss)`` after every validation pass."""
    import lightning.pytorch as pl

    class ValLossHistory(pl.Callback):
        def __init__(self) -> None:
            self.history: list[tuple[int, float]] = []

        def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.sanity_checking:
                return
            value = trainer.callback_metrics.get("val_loss")
            if value is not None:
                self.history.append((int(trainer.current_epoch) + 1, float(value)))

    return ValLossHistory()


def train_gluonts(estimator: Any, callbacks: dict[str, Any], train_entries: list[dict], prediction_length: int,
                  *, max_epochs: int, cap_seconds: Optional[float] = None) -> tuple[Any, dict[str, Any]]:
    """Train a peer from :func:`gluonts_estimator` on :func:`validation_split` of ``train_entries``.

    Returns ``(predictor, info)``; ``info`` holds ``epochs`` (completed), ``steps`` (optimizer steps),
    ``best_epoch`` and ``best_val_loss`` (the checkpoint GluonTS reloads), ``stop_reason``
    (``early_stopping``, ``max_epochs``, or ``max_time``: the wall-clock safety cap), ``val_history``
    and ``train_windows_series`` (series in the training part).
    """
    train, validation = validation_split(train_entries, prediction_length)
    t0 = time.perf_counter()
    out = estimator.train_model(train, validation_data=validation, cache_data=True)
    seconds = time.perf_counter() - t0
    trainer = out.trainer
    history = callbacks["history"].history
    epochs = int(trainer.current_epoch)
    if callbacks["early_stopping"].stopped_epoch > 0:
        reason = "early_stopping"
    elif epochs >= int(max_epochs):
        reason = "max_epochs"
    elif cap_seconds is not None and seconds >= float(cap_seconds) * 0.98:
        reason = "max_time"
    else:
        reason = "other"
    best = min(history, key=lambda t: t[1]) if history else (None, math.nan)
    return out.predictor, {"epochs": epochs, "steps": int(trainer.global_step), "best_epoch": best[0],
                           "best_val_loss": best[1], "stop_reason": reason, "val_history": history,
                           "train_series": len(train), "validation_series": len(validation)}


def quantile_forecast_samples(forecast: Any, n_samples: int) -> np.ndarray:
    """An ``(n_samples, H)`` ensemble from a GluonTS ``QuantileForecast`` (TFT's output).

    Sample k is GluonTS's ``QuantileForecast.quantile`` at level ``(k + 0.5) / n_samples`` (linear
    between the learned quantiles, GluonTS's exponential tails outside them), sorted per step so that
    crossing quantiles still give an ensemble. Used for the exact ensemble CRPS and the coverage;
    wQL is GluonTS's Evaluator on the QuantileForecast itself.
    """
    levels = (np.arange(n_samples) + 0.5) / n_samples
    out = np.stack([np.asarray(forecast.quantile(float(q)), dtype=np.float64) for q in levels])
    return np.sort(out, axis=0)


# --------------------------------------------------------------------------- statistical peers
def seasonal_naive_predictor(freq: str, prediction_length: int, season_length: Optional[int] = None) -> Any:
    """GluonTS's ``SeasonalNaivePredictor`` with GluonTS's seasonality for ``freq`` by default."""
    from gluonts.model.seasonal_naive import SeasonalNaivePredictor

    season = seasonality(freq) if season_length is None else int(season_length)
    return SeasonalNaivePredictor(prediction_length=prediction_length, season_length=season)


def statsforecast_forecasts(model: str, inputs: list, freq: str, H: int, n_samples: int, max_history: int,
                            time_limit: Optional[float] = None) -> tuple[Optional[list], str]:
    """statsforecast ``AutoETS`` or ``AutoARIMA`` on each input entry; samples = Gaussian quantile ensemble.

    Both give Gaussian predictive distributions; the ensemble holds the ``(k + 0.5) / n`` quantiles
    (k = 0..n-1) of N(mean, sigma) at each step, with sigma read from the 80% interval. Missing values
    (weather set) are filled by linear interpolation (ends: nearest value) for these models only. The
    fit uses the last ``max_history`` points; ``season_length`` is GluonTS's seasonality.

    ``time_limit`` (CPU seconds, AutoARIMA): the first series (up to 4) are fitted one at a time, and
    the run is skipped as soon as their mean CPU time, times the number of series, exceeds it (CPU
    time of this single-threaded fit, so a busy machine does not skip more). Returns ``(None, reason)``
    then, else ``(forecasts, note)``.
    """
    import pandas as pd
    from scipy.stats import norm
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS

    from tsdiff.integrations.gluonts import sample_forecast

    season = seasonality(freq)
    make = {"autoets": lambda: AutoETS(season_length=season), "autoarima": lambda: AutoARIMA(season_length=season)}
    if model not in make:
        raise ValueError(f"unknown statsforecast model {model!r}")
    frames, n_filled = [], 0
    for i, entry in enumerate(inputs):
        y = np.asarray(entry["target"], dtype=np.float64)[-max_history:]
        if np.isnan(y).any():
            n_filled += int(np.isnan(y).sum())
            y = pd.Series(y).interpolate(limit_direction="both").to_numpy()
        frames.append(pd.DataFrame({"unique_id": i, "ds": np.arange(len(y)), "y": y}))
    column = {"autoets": "AutoETS", "autoarima": "AutoARIMA"}[model]

    def fit(parts: list) -> Any:
        sf = StatsForecast(models=[make[model]()], freq=1, n_jobs=1)
        out = sf.forecast(df=pd.concat(parts, ignore_index=True), h=H, level=[80])
        return out.reset_index() if "unique_id" not in out.columns else out

    note = f"statsforecast {column}, season_length={season}; fit on the last {max_history} points"
    cpu0 = time.process_time()
    if time_limit is not None:
        heads, cpu = [], 0.0
        for k in range(min(len(frames), 4)):
            t0 = time.process_time()
            heads.append(fit(frames[k:k + 1]))
            cpu += time.process_time() - t0
            estimate = cpu / (k + 1) * len(frames)
            if estimate > time_limit:
                return None, (f"skipped: {k + 1} series took {cpu:.0f} CPU s, about {estimate:.0f} CPU s for all "
                              f"{len(frames)} (limit {time_limit:.0f} s); {note}")
        rest = [fit(frames[len(heads):])] if len(frames) > len(heads) else []
        out = pd.concat(heads + rest, ignore_index=True)
    else:
        out = fit(frames)
    note += f"; fit {time.process_time() - cpu0:.0f} CPU s"
    z80 = norm.ppf(0.9)
    zs = norm.ppf((np.arange(n_samples) + 0.5) / n_samples)
    forecasts = []
    for i, entry in enumerate(inputs):
        rows = out[out["unique_id"] == i]
        mean = rows[column].to_numpy(dtype=np.float64)
        sigma = np.nan_to_num((rows[f"{column}-hi-80"].to_numpy(dtype=np.float64) - mean) / z80, nan=0.0)
        sigma = np.maximum(sigma, 0.0)
        mean = np.nan_to_num(mean, nan=float(np.nanmean(np.asarray(entry["target"], dtype=np.float64))))
        samples = mean[None, :] + zs[:, None] * sigma[None, :]
        start = entry["start"] + len(entry["target"])
        forecasts.append(sample_forecast(samples, start, entry.get("item_id")))
    if n_filled:
        note += f"; {n_filled} missing values interpolated for this model only"
    return forecasts, note
