"""The peers tsdiff is benchmarked against, and GluonTS's last-window split: benchmark-only code.

Not part of the library (the installed package never needs them): GluonTS's seasonal naive
predictor and torch DeepAR with a wall-clock budget, and :func:`last_window_inputs`, which cuts
a GluonTS test split the way ``make_evaluation_predictions`` does (with GluonTS's private
``_to_dataframe``). The scripts put the repository root on ``sys.path`` before importing this
module; they, not these factories, seed the global RNGs that DeepAR draws from.
"""

from __future__ import annotations

from typing import Any, Optional

from tsdiff.frames import normalize_freq
from tsdiff.integrations.gluonts_features import seasonality

__all__ = ["deepar_estimator", "last_window_inputs", "seasonal_naive_predictor"]


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


def seasonal_naive_predictor(freq: str, prediction_length: int, season_length: Optional[int] = None) -> Any:
    """GluonTS's ``SeasonalNaivePredictor`` with GluonTS's seasonality for ``freq`` by default."""
    from gluonts.model.seasonal_naive import SeasonalNaivePredictor

    season = seasonality(freq) if season_length is None else int(season_length)
    return SeasonalNaivePredictor(prediction_length=prediction_length, season_length=season)


def deepar_estimator(freq: str, prediction_length: int, context_length: Optional[int] = None, *,
                     max_time_seconds: Optional[float] = None, max_epochs: int = 100_000,
                     num_batches_per_epoch: int = 50, **kwargs: Any) -> Any:
    """GluonTS's torch ``DeepAREstimator`` (default architecture) with a wall-clock training budget.

    The budget is Lightning's ``max_time`` trainer argument; training stops at ``max_epochs``
    or ``max_time_seconds``, whichever comes first. GluonTS's DeepAR draws from the global
    torch/numpy RNGs, which the calling script seeds. Needs the ``lightning`` package
    (``pip install "gluonts[torch]"``): raises ImportError with that advice otherwise.
    """
    try:
        import lightning  # noqa: F401
    except ImportError as exc:
        raise ImportError("DeepAR needs the 'lightning' package, which GluonTS's torch models train with: "
                          "pip install 'gluonts[torch]'") from exc
    import datetime
    import tempfile

    from gluonts.torch import DeepAREstimator

    # GluonTS adds its own ModelCheckpoint (it reloads the best weights after training): keep
    # checkpointing on, in a temporary folder rather than the working directory.
    trainer_kwargs: dict = {"max_epochs": max_epochs, "enable_progress_bar": False, "logger": False,
                            "enable_model_summary": False, "accelerator": "auto",
                            "default_root_dir": tempfile.mkdtemp(prefix="tsdiff-deepar-")}
    if max_time_seconds is not None:
        trainer_kwargs["max_time"] = datetime.timedelta(seconds=float(max_time_seconds))
    trainer_kwargs.update(kwargs.pop("trainer_kwargs", {}))
    return DeepAREstimator(freq=normalize_freq(freq), prediction_length=prediction_length,
                           context_length=context_length, num_batches_per_epoch=num_batches_per_epoch,
                           trainer_kwargs=trainer_kwargs, **kwargs)
