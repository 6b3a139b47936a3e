"""GluonTS's Estimator/Predictor interface around :class:`tsdiff.TSDiff`: the top floor.

GluonTS tooling (``make_evaluation_predictions``, ``Evaluator``, ``backtest_metrics``) runs on
tsdiff unchanged. gluonts is imported only under ``tsdiff/integrations/``: the helpers the core
needs are in :mod:`tsdiff.integrations.gluonts_features` and dataset loading in
:mod:`tsdiff.integrations.gluonts_datasets` (both re-exported here); this module is imported by
no other tsdiff module.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- Estimator / Predictor
# GluonTS's Estimator/Predictor interface around tsdiff.TSDiff, so that GluonTS tooling
# (make_evaluation_predictions, Evaluator, backtest_metrics) runs on tsdiff unchanged.
import json as _json
import logging as _logging
import warnings
from pathlib import Path as _Path
from typing import Any as _Any
from typing import Iterator as _Iterator
from typing import Optional as _Optional
from typing import Sequence

import numpy as np
import pandas as pd
from gluonts.model.estimator import Estimator as _GluonTSEstimator
from gluonts.model.forecast import SampleForecast as _SampleForecast
from gluonts.model.predictor import Predictor as _GluonTSPredictor

from ..frames import normalize_freq  # noqa: F401  (re-exported)
from .gluonts_datasets import dataset_recipe_names, load_gluonts_dataset, make_list_dataset  # noqa: F401
from .gluonts_features import default_lags, num_time_features, period_freq, seasonality, time_features  # noqa: F401

_adapter_logger = _logging.getLogger(__name__)

_PREDICTOR_FILE = "tsdiff-predictor.json"
_MODEL_DIR = "tsdiff-model"
_KNOWN_PREFIX = "feat_dynamic_real_"
_PAST_PREFIX = "past_feat_dynamic_real_"


def _entry_start(entry: dict, freq: str) -> pd.Period:
    start = entry["start"]
    if isinstance(start, pd.Period):
        return start if start.freqstr == freq else start.asfreq(freq)
    return pd.Period(pd.Timestamp(start), freq=freq)


def _on_offset_grid(timestamps: "pd.Series | pd.DatetimeIndex", freq: str) -> "pd.Series | pd.DatetimeIndex":
    """Move period start times onto the grid of ``freq``'s pandas offset (what TSDiff validates against).

    ``dataset_to_frame`` stamps each GluonTS period with its start time. For fixed-length
    frequencies (hours, minutes, days) that is on the offset's grid; for anchored ones it is
    not: a ``W-SUN`` period starts on a Monday while the ``W-SUN`` offset lands on Sundays,
    a month ``M`` starts on the 1st while ``ME`` lands on month ends. Those are moved to the
    day of the period's end, which is the offset's anchor.
    """
    offset = pd.tseries.frequencies.to_offset(freq)
    if isinstance(offset, pd.tseries.offsets.Tick):
        return timestamps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # Period with BDay freq (GluonTS's own business days)
        periods = pd.PeriodIndex(pd.DatetimeIndex(timestamps), freq=period_freq(freq))
        moved = periods.to_timestamp(how="end").normalize()
    if isinstance(timestamps, pd.Series):
        return pd.Series(moved, index=timestamps.index, name=timestamps.name)
    return moved


def _with_period_starts(entries: "list[dict]", pfreq: str) -> "list[dict]":
    """Entries whose ``start`` is a ``pd.Period`` of ``pfreq``.

    ``dataset_to_frame`` is then called without ``freq`` and reads the Period alias from the
    starts (``"M"``): handing it the offset alias (``"ME"``) fails for monthly data, which
    ``pd.Period`` refuses.
    """
    return [e if isinstance(e["start"], pd.Period) and e["start"].freqstr == pfreq
            else {**e, "start": _entry_start(e, pfreq)} for e in entries]


def _with_index_ids(entries: "list[dict]") -> "list[dict]":
    """Shallow copies of ``entries`` whose ``item_id`` is their position (unique, even with rolling windows)."""
    out = []
    for i, entry in enumerate(entries):
        target = np.asarray(entry["target"])
        if target.ndim != 1:
            raise ValueError(f"entry {i} ({entry.get('item_id')!r}): tsdiff is univariate, target must be 1-D, "
                             f"got shape {target.shape}")
        out.append({**entry, "item_id": i})
    return out


def _static_frame(static: pd.DataFrame) -> "pd.DataFrame | None":
    """The static frame of :func:`tsdiff.datasets.dataset_to_frame` as TSDiff reads it, or None.

    ``feat_static_cat_<k>`` columns hold integer codes; they are turned into strings so that
    TSDiff embeds them as categories instead of reading them as real numbers.
    """
    feats = [c for c in static.columns if c != "item_id"]
    if not feats:
        return None
    static = static.copy()
    for col in feats:
        if str(col).startswith("feat_static_cat_"):
            static[col] = static[col].map(lambda v: str(int(v)) if pd.notna(v) else "nan").astype(object)
    return static


class TSDiffPredictor(_GluonTSPredictor):
    """A fitted :class:`tsdiff.TSDiff` behind GluonTS's ``Predictor`` interface.

    ``predict(dataset, num_samples=100)`` forecasts the ``prediction_length`` steps after the end
    of each entry's ``target`` and yields one ``SampleForecast`` per entry, in the order of the
    dataset (``samples`` of shape ``(num_samples, prediction_length)``, ``start_date`` the period
    after the last target value, ``item_id`` the entry's). Entries may repeat item ids (rolling
    test windows): each is forecast on its own.

    Covariates: an entry's ``feat_dynamic_real`` must cover the history *and* the horizon (GluonTS's
    convention, which ``make_evaluation_predictions`` follows); ``past_feat_dynamic_real`` covers
    the history; ``feat_static_cat`` / ``feat_static_real`` are used when the model was trained
    with them.

    Parameters
    ----------
    model : tsdiff.TSDiff
        A fitted model.
    prediction_length : int
        Its ``config_.prediction_length`` by default.
    freq : str, optional
        Pandas frequency (the model's by default).
    sampler, steps, seed, eta, spacing, variance, calibrated
        Defaults of :meth:`predict` (see :meth:`tsdiff.TSDiff.predict`).
    """

    def __init__(self, model: _Any, prediction_length: _Optional[int] = None, freq: _Optional[str] = None,
                 *, sampler: _Optional[str] = None, steps: _Optional[int] = None,
                 seed: _Optional[int] = None, use_static: _Optional[bool] = None, eta: float = 0.0,
                 spacing: _Optional[str] = None, variance: _Optional[str] = None,
                 calibrated: _Optional[bool] = None) -> None:
        if not hasattr(model, "model_"):
            raise ValueError("TSDiffPredictor needs a fitted tsdiff.TSDiff (call fit first)")
        H = int(model.config_.prediction_length if prediction_length is None else prediction_length)
        super().__init__(prediction_length=H)
        self.model = model
        self.freq = normalize_freq(freq if freq is not None else model.freq_)
        self._pfreq = period_freq(self.freq)
        self.sampler = sampler
        self.steps = steps
        self.seed = seed
        self.eta, self.spacing, self.variance, self.calibrated = eta, spacing, variance, calibrated
        self.known_covariates = list(model.known_covariates_)
        self.past_covariates = list(model.past_covariates_)
        self.use_static = (bool(model.static_vocab_ or model.static_real_cols_)
                           if use_static is None else bool(use_static))

    # ------------------------------------------------------------------ predict
    def _frames(self, entries: "list[dict]") -> "tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]":
        from ..datasets import dataset_to_frame

        H = self.prediction_length
        df, static = dataset_to_frame(_with_period_starts(entries, self._pfreq))
        df["timestamp"] = _on_offset_grid(df["timestamp"], self.freq)
        keep = ["item_id", "timestamp", "target"] + self.known_covariates + self.past_covariates
        missing = [c for c in keep if c not in df.columns]
        if missing:
            raise ValueError(f"the model was trained with covariates {missing} that the dataset's entries lack "
                             "(feat_dynamic_real_<k> / past_feat_dynamic_real_<k>)")
        df = df[keep]
        future_df = None
        if self.known_covariates:
            k = len(self.known_covariates)
            parts = []
            for entry in entries:
                T = len(entry["target"])
                feat = np.asarray(entry["feat_dynamic_real"], dtype=np.float64)
                feat = feat[None, :] if feat.ndim == 1 else feat
                if feat.shape[0] < k or feat.shape[1] < T + H:
                    raise ValueError(
                        f"entry {entry['item_id']}: feat_dynamic_real has shape {feat.shape}; the model needs "
                        f"{k} rows covering the history and the horizon ({T} + {H} = {T + H} steps)")
                first = _entry_start(entry, self._pfreq) + T
                ts = _on_offset_grid(pd.period_range(start=first, periods=H, freq=self._pfreq).to_timestamp(),
                                     self.freq)
                cols = {"item_id": [entry["item_id"]] * H, "timestamp": ts}
                for name in self.known_covariates:
                    cols[name] = feat[int(name[len(_KNOWN_PREFIX):]), T:T + H]
                parts.append(pd.DataFrame(cols))
            future_df = pd.concat(parts, ignore_index=True)
        static_df = _static_frame(static) if self.use_static else None
        return df, future_df, static_df

    def predict(self, dataset: _Any, num_samples: int = 100, *, sampler: _Optional[str] = None,
                steps: _Optional[int] = None, seed: _Optional[int] = None,
                batch_size: int = 1024, eta: _Optional[float] = None, spacing: _Optional[str] = None,
                variance: _Optional[str] = None, calibrated: _Optional[bool] = None,
                **kwargs: _Any) -> "_Iterator[_SampleForecast]":
        """Yield one ``SampleForecast`` per entry of ``dataset``, in its order.

        Entries are forecast ``batch_size`` at a time (one :meth:`tsdiff.TSDiff.predict` call
        each); ``sampler``, ``steps``, ``seed``, ``eta``, ``spacing``, ``variance`` and ``calibrated``
        default to the predictor's (then the model's).
        The same seed gives the same samples for the same batch on CPU.
        """
        if kwargs:
            _adapter_logger.debug("TSDiffPredictor.predict ignores %s", sorted(kwargs))
        sampler = self.sampler if sampler is None else sampler
        steps = self.steps if steps is None else steps
        seed = self.seed if seed is None else seed
        options = {"eta": self.eta if eta is None else eta,
                   "spacing": self.spacing if spacing is None else spacing,
                   "variance": self.variance if variance is None else variance,
                   "calibrated": self.calibrated if calibrated is None else calibrated}
        batch: list[dict] = []
        for entry in dataset:
            batch.append(entry)
            if len(batch) >= batch_size:
                yield from self._predict_batch(batch, num_samples, sampler, steps, seed, options)
                batch = []
        if batch:
            yield from self._predict_batch(batch, num_samples, sampler, steps, seed, options)

    def _predict_batch(self, batch: "list[dict]", num_samples: int, sampler: _Optional[str],
                       steps: _Optional[int], seed: _Optional[int],
                       options: "dict[str, _Any]") -> "_Iterator[_SampleForecast]":
        entries = _with_index_ids(batch)
        df, future_df, static_df = self._frames(entries)
        fc = self.model.predict(self.prediction_length, n_samples=num_samples, df=df, future_df=future_df,
                                static_df=static_df, sampler=sampler, steps=steps, seed=seed, **options)
        row = {item: k for k, item in enumerate(fc.item_ids)}
        for i, (orig, entry) in enumerate(zip(batch, entries)):
            start = _entry_start(entry, self._pfreq) + len(entry["target"])
            yield _SampleForecast(samples=np.asarray(fc.samples[row[i]], dtype=np.float32),
                                  start_date=start, item_id=orig.get("item_id"), info=orig.get("info"))

    # ------------------------------------------------------------- (de)serialize
    def serialize(self, path: "_Path | str") -> None:
        """Write ``gluonts-config.json``, the predictor's settings and the TSDiff model into ``path``."""
        path = _Path(path)
        path.mkdir(parents=True, exist_ok=True)
        super().serialize(path)
        self.model.save(path / _MODEL_DIR)
        settings = {"prediction_length": self.prediction_length, "freq": self.freq, "sampler": self.sampler,
                    "steps": self.steps, "seed": self.seed, "use_static": self.use_static, "eta": self.eta,
                    "spacing": self.spacing, "variance": self.variance, "calibrated": self.calibrated}
        (path / _PREDICTOR_FILE).write_text(_json.dumps(settings, indent=2) + "\n")

    @classmethod
    def deserialize(cls, path: "_Path | str", device: str = "auto", **kwargs: _Any) -> "TSDiffPredictor":
        """Inverse of :meth:`serialize` (also reached through ``gluonts.model.predictor.Predictor.deserialize``)."""
        from ..estimator import TSDiff

        path = _Path(path)
        settings = _json.loads((path / _PREDICTOR_FILE).read_text())
        model = TSDiff.load(path / _MODEL_DIR, device=device)
        return cls(model, **settings)


class TSDiffEstimator(_GluonTSEstimator):
    """GluonTS ``Estimator`` that trains a :class:`tsdiff.TSDiff` and returns a :class:`TSDiffPredictor`.

    Parameters
    ----------
    freq : str
        Pandas frequency of the data.
    prediction_length : int
    context_length : int, optional
        History the model reads (TSDiff's default when None).
    use_feat_dynamic_real, use_past_feat_dynamic_real, use_feat_static_cat, use_feat_static_real : bool
        Use these fields when the training entries have them (all True by default):
        ``feat_dynamic_real`` -> known covariates, ``past_feat_dynamic_real`` -> past
        covariates, ``feat_static_cat`` (embedded as categories) / ``feat_static_real`` ->
        static features. ``feat_dynamic_cat`` is not used.
    sampler, steps, seed : optional
        Defaults of the returned predictor's ``predict``.
    **tsdiff_kwargs
        Forwarded to :class:`tsdiff.TSDiff` (``max_steps``, ``max_time``, ``hidden_channels``,
        ``device``, ``seed``, ...).

    ``train(training_data, validation_data=None)``: TSDiff selects its checkpoint on the last
    ``prediction_length`` points of each training series, so ``validation_data`` is not used
    (a message is logged when it is given).
    """

    def __init__(self, freq: str, prediction_length: int, context_length: _Optional[int] = None, *,
                 use_feat_dynamic_real: bool = True, use_past_feat_dynamic_real: bool = True,
                 use_feat_static_cat: bool = True, use_feat_static_real: bool = True,
                 sampler: _Optional[str] = None, steps: _Optional[int] = None,
                 lead_time: int = 0, **tsdiff_kwargs: _Any) -> None:
        super().__init__(lead_time=lead_time)
        if lead_time != 0:
            raise ValueError("TSDiffEstimator supports lead_time=0 only")
        for key in ("prediction_length", "context_length", "freq"):
            if key in tsdiff_kwargs:
                raise TypeError(f"pass {key} as TSDiffEstimator's own argument, not in tsdiff_kwargs")
        self.freq = normalize_freq(freq)
        self._pfreq = period_freq(self.freq)
        self.prediction_length = int(prediction_length)
        self.context_length = context_length
        self.use_feat_dynamic_real = use_feat_dynamic_real
        self.use_past_feat_dynamic_real = use_past_feat_dynamic_real
        self.use_feat_static_cat = use_feat_static_cat
        self.use_feat_static_real = use_feat_static_real
        self.sampler = sampler
        self.steps = steps
        self.tsdiff_kwargs = dict(tsdiff_kwargs)

    def create_model(self) -> _Any:
        """The unfitted :class:`tsdiff.TSDiff`."""
        from ..estimator import TSDiff

        return TSDiff(prediction_length=self.prediction_length, context_length=self.context_length,
                      freq=self.freq, **self.tsdiff_kwargs)

    def training_frames(self, training_data: _Any) -> "tuple[pd.DataFrame, _Any, _Any, pd.DataFrame | None]":
        """The frames :meth:`train` fits on: ``(df, known_covariates, past_covariates, static_df)``.

        Also what :meth:`tsdiff.TSDiff.distill_student` of the fitted model needs, to distil on the same
        series (``model.distill_student(df, static_df=static_df)``).
        """
        from ..datasets import dataset_to_frame

        entries = _with_index_ids(list(training_data))
        if not entries:
            raise ValueError("training_data is empty")
        df, static = dataset_to_frame(_with_period_starts(entries, self._pfreq))
        df["timestamp"] = _on_offset_grid(df["timestamp"], self.freq)
        known = [c for c in df.columns if str(c).startswith(_KNOWN_PREFIX)] if self.use_feat_dynamic_real else []
        past = [c for c in df.columns if str(c).startswith(_PAST_PREFIX)] if self.use_past_feat_dynamic_real else []
        if any(str(c).startswith("feat_dynamic_cat_") for c in df.columns):
            _adapter_logger.warning("TSDiffEstimator: feat_dynamic_cat is not used by tsdiff")
        drop = [c for c in static.columns
                if (str(c).startswith("feat_static_cat_") and not self.use_feat_static_cat)
                or (str(c).startswith("feat_static_real_") and not self.use_feat_static_real)]
        static_df = _static_frame(static.drop(columns=drop))
        return df[["item_id", "timestamp", "target"] + known + past], known or None, past or None, static_df

    def train(self, training_data: _Any, validation_data: _Any = None, **kwargs: _Any) -> TSDiffPredictor:
        """Fit TSDiff on every entry of ``training_data``; return the :class:`TSDiffPredictor`."""
        if validation_data is not None:
            _adapter_logger.info("TSDiffEstimator.train: validation_data is not used (TSDiff validates on the "
                                 "last prediction_length points of each training series)")
        if kwargs:
            _adapter_logger.debug("TSDiffEstimator.train ignores %s", sorted(kwargs))
        df, known, past, static_df = self.training_frames(training_data)
        model = self.create_model()
        model.fit(df, known_covariates=known, past_covariates=past, static_df=static_df)
        return TSDiffPredictor(model, self.prediction_length, self.freq, sampler=self.sampler, steps=self.steps,
                               use_static=static_df is not None)


# --------------------------------------------------------------------------- evaluation helpers
# GluonTS's backtest and Evaluator. The benchmark peers (seasonal naive, DeepAR) and the
# last-window split live in benchmarks/_peers.py.


def make_evaluation_predictions(dataset: _Any, predictor: _Any, num_samples: int = 100) -> "tuple[list, list]":
    """GluonTS's ``make_evaluation_predictions``, materialized: ``(forecasts, tss)`` lists.

    Every entry of ``dataset`` is forecast at its last ``prediction_length`` steps.
    """
    from gluonts.evaluation import make_evaluation_predictions as _mep

    forecast_it, ts_it = _mep(dataset=dataset, predictor=predictor, num_samples=num_samples)
    return list(forecast_it), list(ts_it)


def evaluate(tss: "list", forecasts: "list", quantiles: "Sequence[float]" = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
             seasonality: _Optional[int] = None, num_workers: int = 0) -> "tuple[dict, pd.DataFrame]":  # noqa: F811 (an argument; the function is re-exported)
    """GluonTS ``Evaluator(quantiles=...)`` on ``(tss, forecasts)``: ``(agg_metrics, item_metrics)``.

    ``agg_metrics["mean_wQuantileLoss"]`` is the number the TSDiff paper calls CRPS. Runs in
    this process (``num_workers=0``) by default.
    """
    from gluonts.evaluation import Evaluator

    evaluator = Evaluator(quantiles=tuple(quantiles), seasonality=seasonality, num_workers=num_workers)
    return evaluator(iter(tss), iter(forecasts), num_series=len(forecasts))


def sample_forecast(samples: np.ndarray, start: pd.Period, item_id: _Any = None) -> _SampleForecast:
    """A GluonTS ``SampleForecast`` of ``samples`` (``(num_samples, horizon)``) starting at ``start``."""
    return _SampleForecast(samples=np.asarray(samples, dtype=np.float32), start_date=start, item_id=item_id)
