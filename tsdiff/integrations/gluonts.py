"""The one module of tsdiff that imports gluonts.

GluonTS moves its import paths between releases; keeping every import here
means a new GluonTS release breaks (at most) this file. Other tsdiff modules
import from here lazily, inside functions, so ``import tsdiff`` stays cheap.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from gluonts.time_feature import get_seasonality as _gluonts_seasonality
from gluonts.time_feature import norm_freq_str as _norm_freq_str
from gluonts.time_feature import time_features_from_frequency_str as _time_features_from_freq


def normalize_freq(freq: str) -> str:
    """Canonical pandas offset alias for ``freq`` (``"H"`` -> ``"h"``, ``"1h"`` -> ``"h"``).

    Raises
    ------
    ValueError
        If pandas does not understand ``freq``; the message names it.
    """
    try:
        with warnings.catch_warnings():
            # pandas >= 2.2 deprecates "H", "T", "M": accept them, return the new alias.
            warnings.simplefilter("ignore", FutureWarning)
            offset = pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"freq={freq!r} is not a pandas frequency string (e.g. 'h', '15min', 'D', 'W')") from exc
    return offset.freqstr


def num_time_features(freq: str) -> int:
    """Number of calendar features GluonTS defines for ``freq``."""
    return len(_time_features_from_freq(normalize_freq(freq)))


def time_features(freq: str, start: pd.Timestamp, length: int) -> np.ndarray:
    """GluonTS calendar features (values in [-0.5, 0.5]) for ``length`` steps from ``start``.

    Returns
    -------
    np.ndarray, shape (num_time_features(freq), length), float32
    """
    freq = normalize_freq(freq)
    feats = _time_features_from_freq(freq)
    if not feats or length == 0:
        return np.zeros((len(feats), length), dtype=np.float32)
    index = pd.period_range(start=pd.Period(start, freq=freq), periods=length, freq=freq)
    return np.stack([np.asarray(f(index), dtype=np.float32) for f in feats])


def seasonality(freq: str) -> int:
    """GluonTS's seasonal period for ``freq`` (24 for hourly, 7 for daily, 1 when none)."""
    return int(_gluonts_seasonality(normalize_freq(freq)))


def default_lags(freq: str, prediction_length: int) -> tuple[int, ...]:
    """Seasonal lags (in steps) for the lag channels of ``freq``.

    Hourly data gets one day and one week (24, 168); 15-minute data one day
    and one week (96, 672); daily data one week (7); business days one week
    (5); weekly data one year (52); monthly one year (12). Lags shorter than
    ``prediction_length`` are dropped only when no longer lag is available, since
    a lag channel is informative for the first ``lag`` steps of the horizon.
    """
    freq = normalize_freq(freq)
    offset = pd.tseries.frequencies.to_offset(freq)
    base, mult = offset.name, offset.n
    minutes_per_step = {"s": 1 / 60, "min": 1, "h": 60}.get(base)
    if minutes_per_step is not None:
        step = minutes_per_step * mult
        day = max(1, round(24 * 60 / step))
        lags: Sequence[int] = (day, 7 * day)
    elif base in ("D",):
        lags = (7, 28) if mult == 1 else ()
    elif base in ("B",):
        lags = (5, 20)
    elif base.startswith("W"):
        lags = (4, 52)
    elif base in ("ME", "MS"):
        lags = (12,)
    elif base.startswith("Q"):
        lags = (4,)
    else:
        s = seasonality(freq)
        lags = (s,) if s > 1 else ()
    return tuple(sorted(set(int(l) for l in lags if l >= 1)))


# --------------------------------------------------------------------------- datasets
# Used by tsdiff.datasets. Everything GluonTS-specific about reading and building
# datasets lives here; tsdiff.datasets only deals in paths, numpy and pandas.


def dataset_recipe_names() -> list[str]:
    """Names GluonTS's ``get_dataset`` knows a recipe (download + processing) for."""
    from gluonts.dataset.repository.datasets import dataset_recipes

    return sorted(dataset_recipes)


def load_gluonts_dataset(name: str, path: "str | None" = None):
    """Load a dataset in GluonTS's on-disk layout as a ``gluonts.dataset.common.TrainDatasets``.

    Names GluonTS has a recipe for go through ``get_dataset(name, path=path)``
    (``get_dataset(name)``, GluonTS's default folder, when ``path`` is None). It reads
    ``path/name`` when that folder exists and downloads into it otherwise;
    ``regenerate`` is never set. GluonTS 0.17's ``get_dataset`` refuses any other name
    (it asserts the name is a recipe), so a custom dataset written in the same layout
    (such as tsdiff's ``weather_jena_hourly``) is read with
    ``gluonts.dataset.common.load_datasets(metadata, train, test)``, which is what
    ``get_dataset`` itself calls once the folder exists.

    Raises
    ------
    FileNotFoundError
        For a name with no GluonTS recipe and no ``path/name/metadata.json``.
    """
    from pathlib import Path

    from gluonts.dataset.common import load_datasets
    from gluonts.dataset.repository import get_dataset

    if name in dataset_recipe_names():
        if path is None:
            return get_dataset(name)
        return get_dataset(name, path=Path(path))
    folder = Path(path) / name if path is not None else None
    if folder is None or not (folder / "metadata.json").is_file():
        where = f"{folder}" if folder is not None else "no data folder"
        raise FileNotFoundError(
            f"dataset {name!r} is not a GluonTS repository dataset and was not found ({where}); "
            f"custom datasets must be in GluonTS's layout: <path>/{name}/metadata.json, train/, test/")
    test = folder / "test"
    return load_datasets(metadata=folder, train=folder / "train", test=test if test.is_dir() else None)


def make_list_dataset(entries: "list[dict]", freq: str):
    """A ``gluonts.dataset.common.ListDataset`` of ``entries`` (dicts with ``start``, ``target``, ...)."""
    from gluonts.dataset.common import ListDataset

    return ListDataset(entries, freq=normalize_freq(freq))
