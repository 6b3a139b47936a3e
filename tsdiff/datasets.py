"""Benchmark datasets: where they are, how to load them, and pandas <-> GluonTS conversion.

Datasets are kept in GluonTS's on-disk layout (``<root>/<name>/metadata.json``,
``train/data.json.gz``, ``test/data.json.gz``) and loaded as GluonTS ``TrainDatasets``
(``.train``, ``.test``, ``.metadata``). The folder ``<root>`` is resolved by
:func:`resolve_data_path`:

1. the ``path`` argument;
2. the environment variable ``TSDIFF_DATA``;
3. the project's ``data/gluonts`` folder (next to the ``tsdiff`` package) when it
   holds ``<name>`` (ships ``ett_small_1h`` and ``weather_jena_hourly``);
4. ``../shared/data/gluonts`` relative to the project root when it holds ``<name>``;
5. otherwise none: GluonTS's ``get_dataset(name)`` with its default folder
   (``~/.gluonts/datasets``), which downloads on first use.

All GluonTS calls go through :mod:`tsdiff.integrations.gluonts_datasets` and
:mod:`tsdiff.integrations.gluonts_features` (the low floor, never the adapter), imported
inside the functions so that ``import tsdiff`` does not import GluonTS.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Hashable, Iterable, Literal, Mapping

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from gluonts.dataset.common import TrainDatasets

logger = logging.getLogger(__name__)

#: Environment variable naming a folder of datasets in GluonTS's layout.
DATA_ENV_VAR = "TSDIFF_DATA"
#: Name of the hourly Jena weather dataset built by ``benchmarks/build_weather_dataset.py``.
WEATHER_JENA_NAME = "weather_jena_hourly"

_DYNAMIC_FIELDS = ("feat_dynamic_real", "past_feat_dynamic_real", "feat_dynamic_cat")
_STATIC_FIELDS = ("feat_static_cat", "feat_static_real")
_FIELD_COLUMN = re.compile(r"^(past_feat_dynamic_real|feat_dynamic_real|feat_dynamic_cat"
                           r"|feat_static_cat|feat_static_real)_(\d+)$")

__all__ = [
    "DATA_ENV_VAR",
    "WEATHER_JENA_NAME",
    "project_root",
    "project_data_dir",
    "shared_data_dir",
    "resolve_data_path",
    "load_dataset",
    "load_weather_jena",
    "list_datasets",
    "dataset_to_frame",
    "frame_to_dataset",
]


# --------------------------------------------------------------------------- paths
def project_root() -> Path:
    """The folder holding the ``tsdiff`` package (the repository root in a checkout)."""
    return Path(__file__).resolve().parents[1]


def project_data_dir() -> Path:
    """``<project root>/data/gluonts``: the datasets shipped with the repository."""
    return project_root() / "data" / "gluonts"


def shared_data_dir() -> Path:
    """``<project root>/../shared/data/gluonts``: a shared offline copy of GluonTS datasets."""
    return project_root().parent / "shared" / "data" / "gluonts"


def _holds(folder: Path, name: str) -> bool:
    return (folder / name / "metadata.json").is_file()


def resolve_data_path(name: str, path: str | os.PathLike | None = None) -> Path | None:
    """The folder that ``get_dataset(name, path=...)`` should read, or None for GluonTS's default.

    Order: ``path``; then ``$TSDIFF_DATA``; then :func:`project_data_dir` if it holds
    ``name``; then :func:`shared_data_dir` if it holds ``name``; else None. An explicit
    ``path`` or ``$TSDIFF_DATA`` is returned whether or not it holds ``name`` (GluonTS
    then downloads into it, for the datasets it has a recipe for).

    Parameters
    ----------
    name : str
        Dataset name (the sub-folder), e.g. ``"ett_small_1h"``.
    path : str or PathLike, optional
        Folder containing ``<name>/``.

    Returns
    -------
    Path or None
    """
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env).expanduser()
    for folder in (project_data_dir(), shared_data_dir()):
        if _holds(folder, name):
            return folder
    return None


# --------------------------------------------------------------------------- loading
def load_dataset(name: str, path: str | os.PathLike | None = None) -> "TrainDatasets":
    """Load a dataset in GluonTS's layout as a GluonTS ``TrainDatasets``.

    The folder is resolved by :func:`resolve_data_path`. GluonTS repository names
    are loaded with ``gluonts.dataset.repository.get_dataset(name, path=folder)`` (never
    with ``regenerate=True``; a missing ``folder/name`` is downloaded by GluonTS).
    Other names (e.g. ``"weather_jena_hourly"``), which GluonTS 0.17's
    ``get_dataset`` refuses, are read from ``folder/name`` with
    ``gluonts.dataset.common.load_datasets``.

    Parameters
    ----------
    name : str
        ``"ett_small_1h"``, ``"m4_hourly"``, ``"weather_jena_hourly"``, ...
    path : str or PathLike, optional
        Folder containing ``<name>/``; see :func:`resolve_data_path` for the default.

    Returns
    -------
    gluonts.dataset.common.TrainDatasets
        ``.train``, ``.test`` (datasets of dict entries with ``start`` (``pd.Period``),
        ``target`` (float32 array), ...) and ``.metadata`` (``freq``,
        ``prediction_length``, ...).

    Raises
    ------
    FileNotFoundError
        For a name GluonTS has no recipe for that is not found on disk.
    """
    from .integrations.gluonts_datasets import load_gluonts_dataset

    folder = resolve_data_path(name, path)
    logger.info("loading dataset %r from %s", name, folder if folder is not None else "GluonTS's default folder")
    return load_gluonts_dataset(name, None if folder is None else str(folder))


def load_weather_jena(path: str | os.PathLike | None = None) -> "TrainDatasets":
    """Load ``weather_jena_hourly``: 21 hourly weather variables, Jena 2020 (see data/README.md).

    21 univariate series of 8784 hourly means (2020-01-01 00:00 to 2020-12-31 23:00),
    ``freq="h"``, ``prediction_length=24``; ``train`` ends 7 days before the end and
    ``test`` holds 7 rolling windows (147 entries, window by window, lengths
    8640, 8664, ..., 8784). A few hours are missing (NaN). Resolved and loaded like
    :func:`load_dataset`.
    """
    return load_dataset(WEATHER_JENA_NAME, path)


def list_datasets(path: str | os.PathLike | None = None) -> list[str]:
    """Names of the datasets available locally (no download).

    Looks in ``path`` (if given), ``$TSDIFF_DATA`` (if set), :func:`project_data_dir`
    and :func:`shared_data_dir` for sub-folders holding a ``metadata.json``.

    Returns
    -------
    list of str, sorted
    """
    folders = [Path(p).expanduser() for p in (path, os.environ.get(DATA_ENV_VAR)) if p]
    folders += [project_data_dir(), shared_data_dir()]
    names: set[str] = set()
    for folder in folders:
        if folder.is_dir():
            names.update(p.name for p in folder.iterdir() if (p / "metadata.json").is_file())
    return sorted(names)


# --------------------------------------------------------------------------- frames
def _period_freq(freq: str | None, entries: list[Mapping[str, Any]]) -> str:
    from .frames import normalize_freq

    if freq is None:
        for e in entries:
            start = e.get("start")
            if isinstance(start, pd.Period):
                return start.freqstr
        raise ValueError("freq is None and no entry has a pd.Period start to read it from; pass freq")
    return normalize_freq(freq)


def _as_period(start: Any, freq: str) -> pd.Period:
    from .integrations.gluonts_features import period_freq

    pfreq = period_freq(freq)
    if isinstance(start, pd.Period):
        return start.asfreq(pfreq) if start.freqstr != pfreq else start
    return pd.Period(pd.Timestamp(start), freq=pfreq)


def dataset_to_frame(
    entries: Iterable[Mapping[str, Any]],
    freq: str | None = None,
    *,
    duplicates: Literal["raise", "last"] = "raise",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn GluonTS-style entries (a ``TrainDatasets.train``/``.test``) into pandas frames.

    Parameters
    ----------
    entries : iterable of dict
        Each with ``start`` (``pd.Period``, timestamp or string) and a 1-D ``target``;
        optionally ``item_id``, ``feat_dynamic_real`` / ``past_feat_dynamic_real`` /
        ``feat_dynamic_cat`` (shape ``(K, T)``), ``feat_static_cat``,
        ``feat_static_real``. An entry without ``item_id`` gets its position.
    freq : str, optional
        Pandas frequency; read from the first ``pd.Period`` start when None.
    duplicates : {"raise", "last"}
        What to do when several entries share an ``item_id`` (a GluonTS test split
        with rolling windows, such as ``weather_jena_hourly``'s): ``"raise"`` a
        ValueError, or keep the ``"last"`` one (for rolling windows, the longest).

    Returns
    -------
    frame : pd.DataFrame
        Long format, one row per time step: ``item_id``, ``timestamp`` (start time of
        each period), ``target`` (float, NaN = missing), then ``feat_dynamic_real_0``,
        ..., ``past_feat_dynamic_real_0``, ..., ``feat_dynamic_cat_0``, ... when present.
        Dynamic features longer than the target (known future values) are cut to
        the target's length.
    static : pd.DataFrame
        One row per item: ``item_id``, then ``feat_static_cat_0``, ...,
        ``feat_static_real_0``, ... (only ``item_id`` when there are none).
    """
    entries = list(entries)
    freq = _period_freq(freq, entries)
    if duplicates not in ("raise", "last"):
        raise ValueError(f"duplicates must be 'raise' or 'last', got {duplicates!r}")

    by_id: dict[Hashable, Mapping[str, Any]] = {}
    for pos, entry in enumerate(entries):
        item = entry.get("item_id", pos)
        item = pos if item is None else item
        if item in by_id and duplicates == "raise":
            raise ValueError(
                f"item_id {item!r} occurs in several entries (a test split with rolling windows?); "
                "pass duplicates='last' to keep the last entry of each item")
        by_id.pop(item, None)  # "last": re-insert at the position of the last occurrence
        by_id[item] = entry

    frames, statics = [], []
    for item, entry in by_id.items():
        target = np.asarray(entry["target"], dtype=np.float64)
        if target.ndim != 1:
            raise ValueError(f"item {item!r}: target must be 1-D (univariate), got shape {target.shape}")
        n = target.shape[0]
        start = _as_period(entry["start"], freq)
        cols: dict[str, Any] = {
            "item_id": [item] * n,
            "timestamp": pd.period_range(start=start, periods=n, freq=freq).to_timestamp(),
            "target": target,
        }
        for field in _DYNAMIC_FIELDS:
            if entry.get(field) is None:
                continue
            feat = np.asarray(entry[field])
            feat = feat[None, :] if feat.ndim == 1 else feat
            if feat.shape[1] < n:
                raise ValueError(f"item {item!r}: {field} has {feat.shape[1]} steps, target has {n}")
            if feat.shape[1] > n:
                logger.debug("item %r: cutting %s from %d to %d steps", item, field, feat.shape[1], n)
            for k in range(feat.shape[0]):
                cols[f"{field}_{k}"] = feat[k, :n]
        frames.append(pd.DataFrame(cols))
        row: dict[str, Any] = {"item_id": item}
        for field in _STATIC_FIELDS:
            if entry.get(field) is not None:
                for k, v in enumerate(np.atleast_1d(np.asarray(entry[field]))):
                    row[f"{field}_{k}"] = v.item()
        statics.append(row)

    if not frames:
        return (pd.DataFrame({"item_id": [], "timestamp": pd.to_datetime([]), "target": []}),
                pd.DataFrame({"item_id": []}))
    frame = pd.concat(frames, ignore_index=True)
    static = pd.DataFrame(statics)
    return frame, static


def frame_to_dataset(
    df: pd.DataFrame,
    freq: str,
    *,
    static: pd.DataFrame | None = None,
    id_col: str = "item_id",
    timestamp_col: str = "timestamp",
    target_col: str = "target",
):
    """Turn a long frame (as made by :func:`dataset_to_frame`) into a GluonTS ``ListDataset``.

    Parameters
    ----------
    df : pd.DataFrame
        One row per (item, time step) with ``id_col``, ``timestamp_col``, ``target_col``
        and, optionally, columns ``feat_dynamic_real_<k>``, ``past_feat_dynamic_real_<k>``,
        ``feat_dynamic_cat_<k>`` (stacked in the order of ``k``). Items keep their order
        of first appearance; rows may come in any order. Steps missing inside an item's
        range become NaN (missing) in the target and features.
    freq : str
        Pandas frequency of the timestamps.
    static : pd.DataFrame, optional
        One row per item: ``id_col`` (column or index) and ``feat_static_cat_<k>`` /
        ``feat_static_real_<k>`` columns.

    Returns
    -------
    gluonts.dataset.common.ListDataset
        Entries ``{"start": pd.Period, "target": float32, "item_id": ..., features...}``.

    Raises
    ------
    ValueError
        Missing columns, or two rows of one item in the same period.
    """
    from .frames import normalize_freq
    from .integrations.gluonts_datasets import make_list_dataset

    freq = normalize_freq(freq)
    for col, arg in ((id_col, "id_col"), (timestamp_col, "timestamp_col"), (target_col, "target_col")):
        if col not in df.columns:
            raise ValueError(f"df has no column {col!r} ({arg}); columns: {list(df.columns)}")
    dyn_cols: dict[str, list[str]] = {}
    for col in df.columns:
        m = _FIELD_COLUMN.match(str(col))
        if m and m.group(1) in _DYNAMIC_FIELDS:
            dyn_cols.setdefault(m.group(1), []).append(col)
    for field in dyn_cols:
        dyn_cols[field].sort(key=lambda c: int(c.rsplit("_", 1)[1]))

    static_rows: dict[Hashable, dict[str, list]] = {}
    if static is not None:
        st = static if id_col in static.columns else static.reset_index()
        if id_col not in st.columns:
            raise ValueError(f"static has no column or index named {id_col!r}")
        if st[id_col].duplicated().any():
            raise ValueError(f"static has several rows for one {id_col}")
        fields: dict[str, list[str]] = {}
        for col in st.columns:
            m = _FIELD_COLUMN.match(str(col))
            if m and m.group(1) in _STATIC_FIELDS:
                fields.setdefault(m.group(1), []).append(col)
        for field in fields:
            fields[field].sort(key=lambda c: int(c.rsplit("_", 1)[1]))
        for rec in st.to_dict("records"):
            static_rows[rec[id_col]] = {f: [rec[c] for c in cs] for f, cs in fields.items()}

    entries = []
    for item, group in df.groupby(id_col, sort=False):
        periods = pd.PeriodIndex(pd.DatetimeIndex(group[timestamp_col]), freq=freq)
        order = np.argsort(periods.asi8, kind="stable")
        periods = periods[order]
        if periods.has_duplicates:
            raise ValueError(f"item {item!r}: several rows fall in the same {freq} period")
        start = periods[0]
        pos = (periods.asi8 - start.ordinal) // max(1, int(getattr(start.freq, "n", 1)))
        length = int(pos[-1]) + 1
        target = np.full(length, np.nan, dtype=np.float32)
        target[pos] = group[target_col].to_numpy(dtype=np.float64)[order]
        entry: dict[str, Any] = {"start": start, "target": target, "item_id": item}
        for field, cols in dyn_cols.items():
            dtype = np.int64 if field == "feat_dynamic_cat" else np.float32
            fill = -1 if field == "feat_dynamic_cat" else np.nan
            feat = np.full((len(cols), length), fill, dtype=dtype)
            feat[:, pos] = group[cols].to_numpy()[order].T
            entry[field] = feat
        if item in static_rows:
            entry.update(static_rows[item])
        elif static is not None:
            raise ValueError(f"static has no row for item {item!r}")
        entries.append(entry)
    return make_list_dataset(entries, freq)
