"""Frequencies and the regular time grid: :func:`normalize_freq`, frequency inference,
the position of every timestamp on its series' grid, and :func:`future_timestamps`."""

from __future__ import annotations

import warnings
from typing import Any, Optional

import numpy as np
import pandas as pd

from tsdiff.errors import DataError, option, subject

from ._common import _fmt_ts

#: A series may span at most this many grid steps per row it has (or 100,000 steps):
#: far more means a wrong timestamp (a typo in the year) rather than real gaps.
_MAX_GAP_FACTOR = 100
_MIN_GRID_LIMIT = 100_000


def normalize_freq(freq: str) -> str:
    """Canonical pandas offset alias for ``freq`` (``"H"`` -> ``"h"``, ``"1h"`` -> ``"h"``); pure pandas.

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


def _offset(freq: str) -> pd.DateOffset:
    return pd.tseries.frequencies.to_offset(normalize_freq(freq))


def _normalize_freq_arg(freq: Any, arg: str = "freq") -> str:
    if not isinstance(freq, str) and not isinstance(freq, pd.DateOffset):
        raise DataError(f"{option(arg, repr(freq))} is not a pandas frequency string (e.g. 'h', '15min', 'D', 'W')")
    try:
        return normalize_freq(freq)
    except ValueError as exc:
        raise DataError(str(exc).replace("freq=", f"{arg}=", 1)) from None


def _tick_nanos(offset: pd.DateOffset) -> Optional[int]:
    """Length of one step in ns for fixed-length frequencies ('h', 'D', '15min'), else None."""
    if not isinstance(offset, pd.offsets.Tick):
        return None
    try:
        return int(pd.Timedelta(offset).value)
    except (ValueError, TypeError):
        return None


def _shift(ts: pd.Timestamp, offset: pd.DateOffset, n: int) -> pd.Timestamp:
    if n == 0:
        return pd.Timestamp(ts)
    return pd.Timestamp(ts) + offset * n


# --------------------------------------------------------------------------- frequency


def _fallback_freq(seg: np.ndarray) -> Optional[str]:
    """Frequency of a series with gaps, or None.

    Month-based data (all month starts, or all month ends) is read with month
    arithmetic; otherwise the most common step, or else the smallest step, if
    it divides every step.
    """
    idx = pd.DatetimeIndex(seg.view("M8[ns]"))
    normalized = (idx == idx.normalize()).all()
    for on_month, off in ((idx.is_month_start, pd.offsets.MonthBegin), (idx.is_month_end, pd.offsets.MonthEnd)):
        if normalized and on_month.all():
            months = idx.year.to_numpy() * 12 + idx.month.to_numpy()
            steps = np.diff(months)
            vals, counts = np.unique(steps, return_counts=True)
            m = int(vals[np.argmax(counts)])
            if m > 0 and (steps % m == 0).all():
                synth = pd.DatetimeIndex([idx[0], idx[0] + off(m), idx[0] + off(2 * m)])
                return pd.infer_freq(synth)
    steps = np.diff(seg)
    vals, counts = np.unique(steps, return_counts=True)
    for d in (int(vals[np.argmax(counts)]), int(vals[0])):
        if d > 0 and (steps % d == 0).all():
            synth = pd.DatetimeIndex(np.array([seg[0], seg[0] + d, seg[0] + 2 * d]).view("M8[ns]"))
            return pd.infer_freq(synth)
    return None


def _irregular(item: Any, seg: np.ndarray, arg_name: str) -> DataError:
    """Why the frequency of ``seg`` cannot be inferred: a timestamp off the most common step's grid, if any."""
    steps = np.diff(seg)
    vals, counts = np.unique(steps, return_counts=True)
    d = int(vals[np.argmax(counts)])
    phase = (seg - seg[0]) % d
    pv, pc = np.unique(phase, return_counts=True)
    off = np.flatnonzero(phase != pv[np.argmax(pc)])
    if off.size and counts.max() > 1 and 2 * counts.max() >= len(steps):
        return DataError(
            f"cannot infer the frequency of item {item!r} in {subject(arg_name)}: its most common step is {_fmt_step(d)!r}, "
            f"but timestamp {_fmt_ts(seg[off[0]])} is off that grid; fix that timestamp, or pass {option('freq')}"
        )
    return DataError(
        f"cannot infer the frequency of item {item!r} in {subject(arg_name)}: its timestamps are irregular "
        f"(steps of {', '.join(_fmt_step(x) for x in vals[:3])}, ...); pass {option('freq')} (e.g. {option('freq', repr('h'))})"
    )


def _infer_freq(ts: np.ndarray, starts: np.ndarray, ends: np.ndarray, items: list, arg_name: str) -> str:
    reliable: dict[str, int] = {}
    gappy: list[int] = []
    for g, (s, e) in enumerate(zip(starts, ends)):
        if e - s < 3:
            continue
        f = pd.infer_freq(pd.DatetimeIndex(ts[s:e].view("M8[ns]")))
        if f is None:
            gappy.append(g)
        else:
            f = normalize_freq(f)
            reliable.setdefault(f, g)
            if len(reliable) > 1:
                (f1, g1), (f2, g2) = list(reliable.items())[:2]
                raise _mixed_freq(items[g1], f1, items[g2], f2, arg_name)
    if reliable:
        freq, g_ref = next(iter(reliable.items()))
        nanos = _tick_nanos(pd.tseries.frequencies.to_offset(freq))
        if nanos is not None:  # a gappy series with another typical step is another frequency
            for g in gappy:
                seg = ts[starts[g]:ends[g]]
                steps = np.diff(seg)
                vals, counts = np.unique(steps, return_counts=True)
                if int(vals[np.argmax(counts)]) != nanos:
                    other = normalize_freq(_fallback_freq(seg) or _fmt_step(vals[np.argmax(counts)]))
                    if other != freq:
                        raise _mixed_freq(items[g_ref], freq, items[g], other, arg_name)
        return freq
    if not gappy:
        raise DataError(
            f"cannot infer the frequency of {subject(arg_name)}: every series has fewer than 3 timestamps; "
            f"pass {option('freq')} (e.g. {option('freq', repr('h'))} or {option('freq', repr('D'))})"
        )
    found: dict[str, int] = {}
    for g in gappy:
        seg = ts[starts[g]:ends[g]]
        f = _fallback_freq(seg)
        if f is None:
            raise _irregular(items[g], seg, arg_name)
        f = normalize_freq(f)
        found.setdefault(f, g)
        if len(found) > 1:
            (f1, g1), (f2, g2) = list(found.items())[:2]
            raise _mixed_freq(items[g1], f1, items[g2], f2, arg_name)
    return next(iter(found))


def _fmt_step(ns: Any) -> str:
    return pd.tseries.frequencies.to_offset(pd.Timedelta(int(ns))).freqstr


def _mixed_freq(item1: Any, f1: str, item2: Any, f2: str, arg_name: str) -> DataError:
    return DataError(
        f"mixed frequencies in {subject(arg_name)}: item {item1!r} is {f1!r}, item {item2!r} is {f2!r}; "
        f"resample the series to one frequency, or pass {option('freq')} to read them all on that grid"
    )


# --------------------------------------------------------------------------- grid


def _grid_positions(
    ts: np.ndarray, starts: np.ndarray, ends: np.ndarray, offset: pd.DateOffset, freq: str,
    items: list, where: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Position of every (sorted) timestamp on its series' grid; returns (pos, grid_start_ns, grid_len)."""
    n_groups = len(starts)
    counts = ends - starts
    first = ts[starts]
    nanos = _tick_nanos(offset)
    limit = np.maximum(_MAX_GAP_FACTOR * counts, _MIN_GRID_LIMIT)
    if nanos is not None:
        rel = ts - np.repeat(first, counts)
        phase = rel % nanos
        if phase.any():
            for g in np.unique(np.repeat(np.arange(n_groups), counts)[phase != 0]):
                seg_phase = phase[starts[g]:ends[g]]
                vals, cnt = np.unique(seg_phase, return_counts=True)
                major = vals[np.argmax(cnt)]
                k = int(np.argmax(seg_phase != major))
                ok = int(np.argmax(seg_phase == major))
                raise _off_grid(items[g], ts[starts[g] + k], ts[starts[g] + ok], freq, where)
        pos = rel // nanos
        glen = pos[ends - 1] + 1
        too_long = glen > limit
        if too_long.any():
            g = int(np.argmax(too_long))
            raise _too_long(items[g], first[g], ts[ends[g] - 1], int(glen[g]), int(counts[g]), freq, where)
        return pos, first, glen
    pos = np.empty(len(ts), dtype=np.int64)
    glen = np.empty(n_groups, dtype=np.int64)
    step_ns = max(1, int((pd.Timestamp(2001, 1, 1) + offset - pd.Timestamp(2001, 1, 1)).value))
    for g in range(n_groups):
        s, e = int(starts[g]), int(ends[g])
        seg = ts[s:e]
        approx = (seg[-1] - seg[0]) // step_ns + 1
        if approx > 2 * limit[g]:
            raise _too_long(items[g], seg[0], seg[-1], int(approx), e - s, freq, where)
        grid = pd.date_range(start=pd.Timestamp(int(seg[0])), end=pd.Timestamp(int(seg[-1])), freq=offset)
        grid_ns = grid.as_unit("ns").asi8
        p = np.searchsorted(grid_ns, seg)
        found = (p < len(grid_ns)) & (grid_ns[np.minimum(p, len(grid_ns) - 1)] == seg)
        if not found.all():
            k = int(np.argmax(~found))
            ok = int(np.argmax(found)) if found.any() else None
            raise _off_grid(items[g], seg[k], None if ok is None else seg[ok], freq, where)
        pos[s:e] = p
        glen[g] = len(grid_ns)
    return pos, first, glen


def _off_grid(item: Any, bad_ns: int, ok_ns: Optional[int], freq: str, where: str) -> DataError:
    grid = f" (its grid runs through {_fmt_ts(ok_ns)})" if ok_ns is not None else ""
    return DataError(
        f"{where}: item {item!r} has a timestamp off its {freq!r} grid: {_fmt_ts(bad_ns)}{grid}; "
        f"round the timestamps (e.g. .dt.floor({freq!r})) or pass the right {option('freq')}"
    )


def _too_long(item: Any, first: int, last: int, steps: int, rows: int, freq: str, where: str) -> DataError:
    return DataError(
        f"{where}: item {item!r} spans {_fmt_ts(first)} to {_fmt_ts(last)}, {steps:,} steps of {freq!r}, "
        f"but has only {rows:,} rows; check for a wrong timestamp (e.g. a typo in the year) or the {option('freq')}"
    )


def future_timestamps(last: pd.Timestamp, freq: str, horizon: int) -> pd.DatetimeIndex:
    """The ``horizon`` timestamps right after ``last`` on the grid of ``freq``."""
    if int(horizon) < 0:
        raise ValueError(f"horizon must be >= 0, got {horizon}")
    offset = _offset(freq)
    return pd.date_range(start=pd.Timestamp(last) + offset, periods=int(horizon), freq=offset)
