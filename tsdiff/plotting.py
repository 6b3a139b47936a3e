"""Plots for tsdiff forecasts: fan charts, calibration diagnostics, reverse diffusion.

matplotlib is imported inside the functions, never at module import, so
``import tsdiff`` stays cheap and works without a display. Figures are created
with :mod:`matplotlib.pyplot` (so they show in notebooks); on a machine with no
display matplotlib falls back to its non-interactive ``Agg`` backend by itself,
and ``MPLBACKEND=Agg`` forces it.

Every function returns the matplotlib object it drew on (an ``Axes`` or a
``Figure``) and leaves saving or showing to the caller.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any, Hashable, Optional, Sequence, Union

import numpy as np
import pandas as pd

from .metrics import interval_coverage, pit_values
from .quantiles import central_intervals, forecast_frame_columns, quantile_columns, sample_columns, sample_quantile

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .forecast import Forecast

#: Central-interval levels drawn by default in fan charts (widest is lightest).
DEFAULT_INTERVALS: tuple[float, ...] = (0.5, 0.8, 0.95)

#: Name of the target column looked up in long frames when none is given.
DEFAULT_TARGET_COL = "target"

SeriesLike = Union[pd.Series, pd.DataFrame, None]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _pyplot() -> Any:
    """Import pyplot lazily (matplotlib picks Agg by itself when there is no display)."""
    import matplotlib.pyplot as plt

    return plt


def _subplots(nrows: int, ncols: int, figsize: tuple[float, float], **kwargs: Any) -> tuple["Figure", np.ndarray]:
    plt = _pyplot()
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, **kwargs)
    return fig, axes


def _x(index: Any) -> np.ndarray:
    """Timestamps as naive wall-clock datetime64 (matplotlib handles those everywhere)."""
    idx = pd.DatetimeIndex(index)
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    return idx.to_numpy()


def _check_levels(intervals: Sequence[float]) -> list[float]:
    levels = [float(v) for v in intervals]
    for v in levels:
        if not (0.0 < v < 1.0):
            raise ValueError(f"interval levels must lie strictly between 0 and 1, got {v!r}")
    return sorted(set(levels), reverse=True)  # widest first: drawn underneath


def _band_alphas(n: int) -> list[float]:
    """Alpha per band, widest (first) lightest; overlapping fills darken the inside further."""
    if n <= 0:
        return []
    if n == 1:
        return [0.3]
    return [0.15 + 0.2 * i / (n - 1) for i in range(n)]


def _same_item(values: pd.Series, item_id: Hashable) -> np.ndarray:
    """Boolean mask of rows whose id equals ``item_id`` (falling back to string comparison)."""
    mask = (values == item_id).to_numpy()
    if not mask.any():
        mask = (values.astype(str) == str(item_id)).to_numpy()
    return mask


def _as_series(data: SeriesLike, item_id: Hashable, id_col: str, timestamp_col: str,
               target_col: Optional[str], what: str) -> Optional[pd.Series]:
    """One series (values indexed by sorted timestamps) out of a Series or a long frame.

    Accepts a ``pd.Series`` indexed by timestamp (or by ``(item_id, timestamp)``),
    or a DataFrame with the forecast's id and timestamp columns (the id column may
    be absent for a single series; the timestamp may be the index) and a target
    column (``target_col``, else ``"target"``, else the only numeric column left).
    """
    if data is None:
        return None
    if isinstance(data, pd.Series):
        s = data
        if isinstance(s.index, pd.MultiIndex):
            if s.index.nlevels != 2:
                raise ValueError(f"{what}: a MultiIndex Series must be indexed by (item_id, timestamp)")
            level0 = pd.Series(s.index.get_level_values(0))
            s = s[_same_item(level0, item_id)]
            s = pd.Series(s.to_numpy(), index=s.index.get_level_values(1))
        values, raw_index = s.to_numpy(), s.index
    elif isinstance(data, pd.DataFrame):
        df = data
        if id_col in df.columns:
            df = df[_same_item(df[id_col], item_id)]
        if timestamp_col in df.columns:
            index = df[timestamp_col]
        elif isinstance(df.index, pd.DatetimeIndex):
            index = df.index
        else:
            raise ValueError(f"{what} has no timestamp column {timestamp_col!r} (columns: {list(data.columns)})")
        from .frames import guess_target_column

        col = guess_target_column(df, id_col, timestamp_col, target_col, where=what, hint="name it with target_col=")
        values, raw_index = df[col].to_numpy(), index
    else:
        raise TypeError(f"{what} must be a pandas Series or DataFrame, got {type(data).__name__}")
    try:
        idx = pd.DatetimeIndex(pd.to_datetime(raw_index))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what}: index/timestamps are not datetimes ({exc})") from exc
    return pd.Series(pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float), index=idx).sort_index()


def _draw_fan(ax: "Axes", x: np.ndarray, center: np.ndarray, center_label: str,
              bands: Sequence[tuple[float, np.ndarray, np.ndarray]], paths: Optional[np.ndarray],
              history: Optional[pd.Series], actuals: Optional[pd.Series], title: Optional[str],
              color: str, legend: bool) -> "Axes":
    """Shared drawing code of :func:`plot_forecast` and :func:`plot_forecast_frame`."""
    import matplotlib.dates as mdates

    if history is not None and len(history):
        ax.plot(_x(history.index), history.to_numpy(dtype=float), color="0.3", lw=1.2, label="history")
    alphas = _band_alphas(len(bands))
    for (level, lo, hi), alpha in zip(bands, alphas):
        ax.fill_between(x, lo, hi, color=color, alpha=alpha, lw=0, label=f"{level:.0%} interval")
    if paths is not None and len(paths):
        for j, path in enumerate(paths):
            ax.plot(x, path, color=color, lw=0.6, alpha=0.6, label="sample paths" if j == 0 else None)
    ax.plot(x, center, color=color, lw=2.0, label=center_label)
    if actuals is not None:
        lo_t, hi_t = x[0], x[-1]
        ax_x = _x(actuals.index)
        keep = (ax_x >= lo_t) & (ax_x <= hi_t)
        if keep.any():
            ax.plot(ax_x[keep], actuals.to_numpy(dtype=float)[keep], color="k", lw=1.2, marker=".",
                    ms=3, label="actual")
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if legend:
        ax.legend(loc="best", fontsize="small", framealpha=0.8)
    return ax


def _tail(s: Optional[pd.Series], n: int) -> Optional[pd.Series]:
    if s is None:
        return None
    if n <= 0:
        return s.iloc[:0]
    return s.iloc[-n:]


# ---------------------------------------------------------------------------
# fan charts
# ---------------------------------------------------------------------------
def plot_forecast(forecast: "Forecast", item_id: Optional[Hashable] = None, ax: Optional["Axes"] = None,
                  history: SeriesLike = None, actuals: SeriesLike = None,
                  intervals: Sequence[float] = DEFAULT_INTERVALS, n_paths: int = 0,
                  history_tail: Optional[int] = None, title: Optional[str] = None, color: str = "C0",
                  target_col: Optional[str] = None, legend: bool = True) -> "Axes":
    """Fan chart of one series of a :class:`~tsdiff.forecast.Forecast`.

    Draws the tail of the history, nested central prediction intervals (darker
    inside), the median, optionally a few sample paths and the actual future
    values, against timestamps.

    Parameters
    ----------
    forecast : Forecast
        The forecast to draw.
    item_id : hashable, optional
        Which series; ``None`` means the first one.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is created when ``None``.
    history : pd.Series or pd.DataFrame, optional
        Past values: a Series indexed by timestamp, or a long frame with the
        forecast's ``id_col`` and ``timestamp_col`` columns and a target column
        (``target_col``, else ``"target"``, else the only other numeric column).
    actuals : pd.Series or pd.DataFrame, optional
        True future values, same formats as ``history``; only the part inside
        the forecast window is drawn.
    intervals : sequence of float
        Central interval levels in (0, 1), e.g. 0.8 spans the 0.1 and 0.9
        sample quantiles.
    n_paths : int
        Number of individual sample paths drawn as thin lines (the first ones).
    history_tail : int, optional
        Number of most recent history points drawn; default ``4 * horizon``.
    title : str, optional
        Axes title; default the item id.
    color : str
        Matplotlib color of the median, bands and paths.
    target_col : str, optional
        Target column of long ``history``/``actuals`` frames.
    legend : bool
        Draw a legend.

    Returns
    -------
    matplotlib.axes.Axes
    """
    i = 0 if item_id is None else forecast.index_of(item_id)
    item = forecast.item_ids[i]
    if forecast.horizon == 0:
        raise ValueError("forecast has horizon 0: nothing to plot")
    samples = forecast.samples[i]  # (S, H)
    levels = _check_levels(intervals)
    bands = []
    for level in levels:
        lo_q = (1.0 - level) / 2.0
        bands.append((level, sample_quantile(samples, lo_q), sample_quantile(samples, 1.0 - lo_q)))
    center = sample_quantile(samples, 0.5)
    n_paths = max(0, min(int(n_paths), samples.shape[0]))
    paths = samples[:n_paths] if n_paths else None
    tail = 4 * forecast.horizon if history_tail is None else int(history_tail)
    hist = _tail(_as_series(history, item, forecast.id_col, forecast.timestamp_col, target_col, "history"), tail)
    act = _as_series(actuals, item, forecast.id_col, forecast.timestamp_col, target_col, "actuals")
    if ax is None:
        _, axes = _subplots(1, 1, figsize=(9, 4))
        ax = axes[0, 0]
    return _draw_fan(ax, _x(forecast.timestamps[i]), center, "median", bands, paths, hist, act,
                     str(item) if title is None else title, color, legend)


def plot_forecasts_grid(forecast: "Forecast", item_ids: Optional[Sequence[Hashable]] = None, ncols: int = 3,
                        max_series: int = 9, **kwargs: Any) -> "Figure":
    """Fan charts of several series on a grid of subplots.

    Parameters
    ----------
    forecast : Forecast
        The forecast to draw.
    item_ids : sequence, optional
        Series to draw; default the first ``max_series`` ones.
    ncols : int
        Number of subplot columns.
    max_series : int
        At most this many series are drawn (extra ids are dropped with a warning).
    **kwargs
        Passed to :func:`plot_forecast` (``history``, ``actuals``, ``intervals`` ...).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if ncols < 1 or max_series < 1:
        raise ValueError(f"ncols and max_series must be >= 1, got {ncols}, {max_series}")
    ids = list(forecast.item_ids if item_ids is None else item_ids)
    if not ids:
        raise ValueError("no series to plot")
    if len(ids) > max_series:
        if item_ids is not None:
            warnings.warn(f"plotting the first {max_series} of {len(ids)} series (raise max_series= for more)",
                          stacklevel=2)
        ids = ids[:max_series]
    for item in ids:
        forecast.index_of(item)  # KeyError naming an unknown id before any drawing
    ncols = min(ncols, len(ids))
    nrows = math.ceil(len(ids) / ncols)
    fig, axes = _subplots(nrows, ncols, figsize=(5.0 * ncols, 3.2 * nrows))
    kwargs.setdefault("legend", None)
    legend_first = kwargs.pop("legend")
    for k, item in enumerate(ids):
        ax = axes[k // ncols, k % ncols]
        plot_forecast(forecast, item_id=item, ax=ax, legend=(k == 0) if legend_first is None else legend_first,
                      **kwargs)
    for k in range(len(ids), nrows * ncols):
        axes[k // ncols, k % ncols].set_visible(False)
    fig.tight_layout()
    return fig


def plot_forecast_frame(frame: pd.DataFrame, item_id: Optional[Hashable] = None, ax: Optional["Axes"] = None,
                        history: SeriesLike = None, actuals: SeriesLike = None,
                        intervals: Optional[Sequence[float]] = None, n_paths: int = 0,
                        history_tail: Optional[int] = None, title: Optional[str] = None, color: str = "C0",
                        id_col: Optional[str] = None, timestamp_col: Optional[str] = None,
                        target_col: Optional[str] = None, legend: bool = True) -> "Axes":
    """Fan chart of one series from a long forecast frame with quantile columns.

    This is the plot for a forecast saved to disk (``Forecast.to_dataframe``
    written to CSV/Parquet and read back): bands come from the quantile columns
    (``"0.1"``, ``"0.9"`` ...), the center line from ``"0.5"`` (else ``"mean"``).

    Parameters
    ----------
    frame : pd.DataFrame
        Long forecast frame: id column, timestamp column, ``mean``, quantile
        columns, optionally ``sample_*`` columns.
    item_id : hashable, optional
        Which series; ``None`` means the first in the frame. Compared as is, then as a string.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is created when ``None``.
    history, actuals : pd.Series or pd.DataFrame, optional
        As in :func:`plot_forecast`.
    intervals : sequence of float, optional
        Central interval levels; default every interval the quantile columns
        span (0.8, 0.6, 0.4, 0.2 for the default 0.1 ... 0.9 columns). A level
        the columns do not span is an error.
    n_paths : int
        Sample paths drawn from ``sample_*`` columns, when the frame has them.
    history_tail : int, optional
        History points drawn; default ``4 * horizon``.
    title : str, optional
        Axes title; default the item id.
    color : str
        Matplotlib color of the forecast.
    id_col, timestamp_col : str, optional
        Column names; default ``"item_id"``/``"timestamp"`` when present, else
        the first two columns (the layout ``to_dataframe`` writes).
    target_col : str, optional
        Target column of long ``history``/``actuals`` frames.
    legend : bool
        Draw a legend.

    Returns
    -------
    matplotlib.axes.Axes
    """
    id_col, timestamp_col = forecast_frame_columns(frame, id_col, timestamp_col)
    if frame.empty:
        raise ValueError("the forecast frame is empty")
    if item_id is None:
        item_id = frame[id_col].iloc[0]
    rows = frame[_same_item(frame[id_col], item_id)]
    if rows.empty:
        shown = list(pd.unique(frame[id_col]))[:5]
        raise KeyError(f"item_id {item_id!r} is not in the forecast (ids start with {shown})")
    item = rows[id_col].iloc[0]
    rows = rows.assign(**{timestamp_col: pd.to_datetime(rows[timestamp_col])}).sort_values(timestamp_col)
    qcols = quantile_columns(rows)
    spans = central_intervals(qcols)
    if intervals is None:
        chosen = list(spans)
    else:
        chosen = []
        for level in _check_levels(intervals):
            match = [k for k in spans if abs(k - level) < 1e-9]
            if not match:
                raise ValueError(f"the forecast has no quantile columns for a {level:.0%} interval "
                                 f"(available: {[f'{k:.0%}' for k in spans] or 'none'})")
            chosen.append(match[0])
    bands = []
    for level in sorted(chosen, reverse=True):
        lo, hi = spans[level]
        bands.append((level, rows[qcols[lo]].to_numpy(dtype=float), rows[qcols[hi]].to_numpy(dtype=float)))
    median_col = next((c for lv, c in qcols.items() if abs(lv - 0.5) < 1e-9), None)
    if median_col is not None:
        center, center_label = rows[median_col].to_numpy(dtype=float), "median"
    elif "mean" in rows.columns:
        center, center_label = rows["mean"].to_numpy(dtype=float), "mean"
    else:
        raise ValueError("the forecast frame has neither a '0.5' nor a 'mean' column")
    paths = None
    scols = sample_columns(rows)
    if n_paths > 0 and scols:
        paths = rows[scols[:n_paths]].to_numpy(dtype=float).T
    horizon = len(rows)
    tail = 4 * horizon if history_tail is None else int(history_tail)
    hist = _tail(_as_series(history, item, id_col, timestamp_col, target_col, "history"), tail)
    act = _as_series(actuals, item, id_col, timestamp_col, target_col, "actuals")
    if ax is None:
        _, axes = _subplots(1, 1, figsize=(9, 4))
        ax = axes[0, 0]
    return _draw_fan(ax, _x(rows[timestamp_col]), center, center_label, bands, paths, hist, act,
                     str(item) if title is None else title, color, legend)


# ---------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------
def plot_calibration(y: np.ndarray, samples: np.ndarray,
                     levels: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
                     n_bins: int = 10, randomize: bool = True, seed: Optional[int] = 0,
                     color: str = "C0") -> "Figure":
    """Calibration diagnostics: PIT histogram and interval coverage.

    Left: histogram of PIT values (counts) with the uniform reference line; a
    calibrated forecast gives a flat histogram, a U shape means intervals that
    are too narrow, a hump too wide. Right: empirical coverage of central
    intervals against their nominal level, with the diagonal.

    Parameters
    ----------
    y : np.ndarray, shape (N, H)
        Observations (NaN = missing, skipped).
    samples : np.ndarray, shape (N, S, H)
        Forecast samples, e.g. ``Forecast.samples``.
    levels : sequence of float
        Nominal central interval levels for the coverage panel.
    n_bins : int
        Number of PIT histogram bins.
    randomize : bool
        Randomize PIT values of ties (see :func:`pit_values`).
    seed : int, optional
        Seed of that randomization.
    color : str
        Matplotlib color.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    lv = [float(v) for v in levels]
    if any(not (0.0 < v < 1.0) for v in lv):
        raise ValueError(f"levels must lie strictly between 0 and 1, got {list(levels)}")
    pit = pit_values(y, samples, randomize=randomize, seed=seed)
    cov = interval_coverage(y, samples, lv)
    fig, axes = _subplots(1, 2, figsize=(10, 4))
    ax_pit, ax_cov = axes[0, 0], axes[0, 1]
    ax_pit.hist(pit, bins=n_bins, range=(0.0, 1.0), color=color, alpha=0.7, edgecolor="white", label="PIT")
    ax_pit.axhline(len(pit) / n_bins, color="k", ls="--", lw=1.0, label="uniform")
    ax_pit.set_xlim(0.0, 1.0)
    ax_pit.set_xlabel("PIT value")
    ax_pit.set_ylabel("count")
    ax_pit.set_title(f"PIT histogram ({len(pit)} points)")
    ax_pit.legend(loc="upper center", fontsize="small")
    ax_cov.plot([0, 1], [0, 1], color="k", ls="--", lw=1.0, label="ideal")
    ax_cov.plot(lv, cov, color=color, marker="o", label="empirical")
    ax_cov.set_xlim(0.0, 1.0)
    ax_cov.set_ylim(0.0, 1.0)
    ax_cov.set_xlabel("nominal coverage of central interval")
    ax_cov.set_ylabel("empirical coverage")
    ax_cov.set_title("Interval coverage")
    ax_cov.grid(True, alpha=0.3)
    ax_cov.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# reverse diffusion
# ---------------------------------------------------------------------------
def plot_reverse_diffusion(trajectory: np.ndarray, steps: Sequence[int], timestamps: Optional[Any] = None,
                           history: Optional[Union[pd.Series, np.ndarray, Sequence[float]]] = None,
                           n_paths: int = 5, ncols: Optional[int] = None, sharey: bool = True,
                           color: str = "C0") -> "Figure":
    """How the sampler turns noise into a forecast: one panel per recorded step.

    Parameters
    ----------
    trajectory : np.ndarray, shape (K, S, H)
        The horizon values ``x`` at K recorded diffusion steps, the first being
        pure noise ``x_T`` and the last the final samples, in whatever units
        the caller chooses (scaled or original).
    steps : sequence of int, length K
        Label of each recorded step (the diffusion step ``t``; a negative label
        marks the final samples and is drawn as "x_0 (forecast)", as returned by
        :meth:`tsdiff.TSDiff.reverse_trajectory`).
    timestamps : array-like of datetimes, length H, optional
        x values of the horizon; default ``0 ... H-1``.
    history : pd.Series or array-like, optional
        Recent history drawn before the horizon in every panel (same units as
        ``trajectory``). A Series is placed at its own timestamps when
        ``timestamps`` are given.
    n_paths : int
        Sample paths drawn per panel.
    ncols : int, optional
        Panels per row; default ``min(K, 5)``.
    sharey : bool
        Share the y axis (shows the noise shrinking onto the forecast).
    color : str
        Matplotlib color of the paths.

    Returns
    -------
    matplotlib.figure.Figure
    """
    traj = np.asarray(trajectory, dtype=float)
    if traj.ndim != 3:
        raise ValueError(f"trajectory must have shape (K, S, H), got {traj.shape}")
    k, s, h = traj.shape
    steps = list(steps)
    if len(steps) != k:
        raise ValueError(f"got {len(steps)} step labels for {k} recorded steps")
    if k == 0 or s == 0 or h == 0:
        raise ValueError(f"trajectory is empty: shape {traj.shape}")
    n_paths = max(1, min(int(n_paths), s))
    if timestamps is not None:
        x = _x(timestamps)
        if len(x) != h:
            raise ValueError(f"got {len(x)} timestamps for a horizon of {h}")
    else:
        x = np.arange(h)
    hx = hy = None
    if history is not None:
        if isinstance(history, pd.Series) and timestamps is not None:
            hx, hy = _x(history.index), history.to_numpy(dtype=float)
        else:
            hy = np.asarray(history, dtype=float).reshape(-1)
            n = len(hy)
            if timestamps is None:
                hx = np.arange(-n, 0)
            elif h >= 2:
                step = x[1] - x[0]
                hx = x[0] - step * np.arange(n, 0, -1)
            else:
                raise ValueError("cannot place an unindexed history before a 1-step horizon; pass a pd.Series")
    ncols = min(k, 5) if ncols is None else max(1, int(ncols))
    nrows = math.ceil(k / ncols)
    fig, axes = _subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), sharey=sharey)
    for j in range(k):
        ax = axes[j // ncols, j % ncols]
        if hy is not None:
            ax.plot(hx, hy, color="0.3", lw=1.0)
        for p in range(n_paths):
            ax.plot(x, traj[j, p], color=color, lw=0.8, alpha=0.8)
        step = steps[j]
        ax.set_title("x_0 (forecast)" if isinstance(step, (int, np.integer)) and step < 0 else f"t = {step}")
        ax.grid(True, alpha=0.3)
        if timestamps is not None:
            import matplotlib.dates as mdates

            locator = mdates.AutoDateLocator(minticks=2, maxticks=5)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    for j in range(k, nrows * ncols):
        axes[j // ncols, j % ncols].set_visible(False)
    fig.suptitle("Reverse diffusion: from noise (left) to forecast (right)")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# backtest report
# ---------------------------------------------------------------------------
def plot_backtest_report(report: Any, title: Optional[str] = None, color: str = "C0") -> "Figure":
    """One-page figure of a backtest: reliability diagram, PIT histogram, wQL per window.

    Left: observed share of actuals at or below each quantile forecast against its nominal
    level (10% ... 90%), with the diagonal. Middle: PIT histogram with the uniform
    reference (needs samples; left empty with a note otherwise). Right: wQL (GluonTS
    mean weighted quantile loss) of every window, with seasonal naive on the same
    windows when the report has it.

    Parameters
    ----------
    report : tsdiff.metrics.BacktestReport
        From :func:`tsdiff.metrics.evaluate_backtest` (or ``evaluate(cv_frame, ...)``).
    title : str, optional
        Figure title; default a summary of the overall scores.
    color : str
        Matplotlib color of tsdiff's marks.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = _subplots(1, 3, figsize=(15, 4.2))
    ax_rel, ax_pit, ax_wql = axes[0, 0], axes[0, 1], axes[0, 2]
    rel = report.reliability
    rel = rel[(rel["quantile"] >= 0.1 - 1e-9) & (rel["quantile"] <= 0.9 + 1e-9)]
    ax_rel.plot([0, 1], [0, 1], color="k", ls="--", lw=1.0, label="ideal")
    ax_rel.plot(rel["quantile"], rel["observed"], color=color, marker="o", label="tsdiff")
    ax_rel.set_xlim(0.0, 1.0)
    ax_rel.set_ylim(0.0, 1.0)
    ax_rel.set_xlabel("nominal level of the quantile forecast")
    ax_rel.set_ylabel("observed share of actuals below it")
    ax_rel.set_title("Reliability (10%-90%)")
    ax_rel.grid(True, alpha=0.3)
    ax_rel.legend(loc="upper left", fontsize="small")
    counts, edges = np.asarray(report.pit_counts), np.asarray(report.pit_edges)
    if counts.sum() > 0:
        ax_pit.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=color, alpha=0.7,
                   edgecolor="white", label="PIT")
        ax_pit.axhline(counts.sum() / len(counts), color="k", ls="--", lw=1.0, label="uniform")
        ax_pit.legend(loc="upper center", fontsize="small")
    else:
        ax_pit.text(0.5, 0.5, "PIT needs samples\n(include_samples=True)", ha="center", va="center",
                    transform=ax_pit.transAxes)
    ax_pit.set_xlim(0.0, 1.0)
    ax_pit.set_xlabel("PIT value")
    ax_pit.set_ylabel("count")
    ax_pit.set_title(f"PIT histogram ({int(counts.sum())} points)")
    win = report.per_window
    ax_wql.plot(win["window"], win["wql_mean"], color=color, marker="o", label="tsdiff")
    if np.isfinite(win["wql_mean_seasonal_naive"].to_numpy(dtype=float)).any():
        ax_wql.plot(win["window"], win["wql_mean_seasonal_naive"], color="0.4", marker="s", ls="--",
                    label="seasonal naive")
    from matplotlib.ticker import MaxNLocator

    ax_wql.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_wql.set_xlabel("window (0 = oldest cut-off)")
    ax_wql.set_ylabel("wQL (GluonTS mean_wQuantileLoss)")
    ax_wql.set_title("wQL per window")
    ax_wql.set_ylim(bottom=0.0)
    ax_wql.grid(True, alpha=0.3)
    ax_wql.legend(loc="best", fontsize="small")
    o = report.overall
    if title is None:
        title = (f"{o['n_series']} series x {o['n_windows']} windows: wQL {o['wql_mean']:.4f} "
                 f"(seasonal naive {o['wql_mean_seasonal_naive']:.4f}), CRPS (exact) {o['crps']:.4f}, "
                 f"90% coverage {o.get('coverage_90', float('nan')):.2f}")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


__all__ = [
    "DEFAULT_INTERVALS",
    "plot_forecast",
    "plot_forecasts_grid",
    "plot_forecast_frame",
    "plot_calibration",
    "plot_reverse_diffusion",
    "plot_backtest_report",
]
