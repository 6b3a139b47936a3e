"""The ``tsdiff`` command line: fit, predict, plot, evaluate, backtest, demo, bench.

Every sub-command reads and writes plain files (CSV, CSV.gz or Parquet long
frames: one row per series and timestamp), so the command line needs no
Python. Errors are reported as one line ``tsdiff: error: <message>`` on stderr
with exit status 2 for bad usage or bad data and 1 for anything else; ``--debug``
adds the traceback.

Heavy imports (torch, the estimator, matplotlib) happen inside the commands,
so ``tsdiff --help`` is fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import subprocess
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence

from .errors import DataError
from .forecast import DEFAULT_QUANTILES as _DEFAULT_QUANTILES

PROG = "tsdiff"

#: Quantile levels written by ``tsdiff predict`` by default (as ``Forecast.to_dataframe``).
DEFAULT_QUANTILES = _DEFAULT_QUANTILES

_TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")

log = logging.getLogger("tsdiff.cli")


class CLIError(Exception):
    """An error reported as one line; ``code`` is the exit status (2 usage/data, 1 other)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """ArgumentParser that raises :class:`CLIError` instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CLIError(f"{message} (see '{self.prog} --help')", code=2)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples in epilogs as written; wider option column."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


# ---------------------------------------------------------------------------
# argument types
# ---------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


_DURATION_UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_DURATION_BARE = re.compile(rf"\s*({_NUMBER})\s*")
_DURATION_FULL = re.compile(rf"\s*(?:{_NUMBER}\s*(?:sec|min|s|m|h|d)\s*)+", re.IGNORECASE)
_DURATION_PART = re.compile(rf"({_NUMBER})\s*(sec|min|s|m|h|d)", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """Seconds in a duration like ``90``, ``90s``, ``10m``, ``1.5h``, ``1h30m`` or ``2d``.

    Raises
    ------
    argparse.ArgumentTypeError
        When ``text`` is not such a duration or is not positive.
    """
    s = str(text)
    total = float("nan")
    bare = _DURATION_BARE.fullmatch(s)
    if bare:
        total = float(bare.group(1))
    elif _DURATION_FULL.fullmatch(s):
        total = sum(float(n) * _DURATION_UNITS[u.lower()] for n, u in _DURATION_PART.findall(s))
    if not (total > 0 and math.isfinite(total)):
        raise argparse.ArgumentTypeError(
            f"expected a positive duration such as 90, 90s, 10m, 1h or 1h30m, got {text!r}")
    return total


def _name_list(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated column names, got {text!r}")
    return names


def _int_list(text: str) -> list[int]:
    try:
        out = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        out = []
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers such as 1,2,4, got {text!r}")
    return out


def _level_list(text: str) -> list[float]:
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers in (0, 1), got {text!r}") from None
        if not (0.0 < value < 1.0):
            raise argparse.ArgumentTypeError(f"levels must lie strictly between 0 and 1, got {part!r}")
        out.append(value)
    if not out:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers in (0, 1), got {text!r}")
    return out


def _table_path(text: str) -> str:
    if not text.lower().endswith(_TABLE_SUFFIXES):
        raise argparse.ArgumentTypeError(
            f"{text!r}: the output file must end in .csv, .csv.gz or .parquet")
    return text


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------
def read_table(path: str, what: str = "data") -> Any:
    """Read a CSV / CSV.gz / Parquet file with :func:`tsdiff.frames.read_table`, naming it as ``what``.

    Adds the command line's own checks: a missing file or a directory names the role of the file
    (``"training data file not found: ..."``), and a file without rows is an error.
    """
    from .frames import read_table as frames_read_table

    p = Path(path)
    if not p.exists():
        raise CLIError(f"{what} file not found: {path}")
    if p.is_dir():
        raise CLIError(f"{what} path {path} is a directory; expected a .csv, .csv.gz or .parquet file")
    df = frames_read_table(path)
    if len(df.columns) == 0 or len(df) == 0:
        raise CLIError(f"{what} file {path} holds no rows")
    return df


def write_table(df: Any, path: str) -> None:
    """Write a frame to CSV / CSV.gz / Parquet by the suffix of ``path``."""
    p = Path(path)
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    name = p.name.lower()
    if name.endswith((".parquet", ".pq")):
        df.to_parquet(p, index=False)
    elif name.endswith((".csv", ".csv.gz")):
        df.to_csv(p, index=False)
    else:
        raise CLIError(f"{path}: the output file must end in .csv, .csv.gz or .parquet")


def _long_frame(path: str, what: str, id_col: str, timestamp_col: str, target_col: Optional[str]) -> Any:
    """Read a history/actuals file: keep id, parsed timestamp and target (renamed ``target``)."""
    import pandas as pd

    from .frames import guess_target_column, read_timestamps

    df = read_table(path, what)
    if timestamp_col not in df.columns:
        raise CLIError(f"{what} file {path} has no timestamp column {timestamp_col!r} "
                       f"(columns: {list(df.columns)[:10]}); name it with --timestamp-col")
    col = guess_target_column(df, id_col, timestamp_col, target_col, where=f"{what} file {path}",
                              hint="name it with --target-col")
    out = pd.DataFrame({timestamp_col: read_timestamps(df[timestamp_col], f"{what} file {path}"),
                        "target": pd.to_numeric(df[col], errors="coerce")})
    if out["target"].isna().all() and df[col].notna().any():
        raise CLIError(f"{what} file {path}: column {col!r} holds no numbers")
    if id_col in df.columns:
        out.insert(0, id_col, df[id_col].to_numpy())
    return out


def _forecast_frame(path: str, id_col: Optional[str], timestamp_col: Optional[str]) -> tuple[Any, str, str]:
    from .forecast import forecast_frame_columns, quantile_columns
    from .frames import read_timestamps

    fc = read_table(path, "forecast")
    try:
        id_col, timestamp_col = forecast_frame_columns(fc, id_col, timestamp_col)
    except ValueError as exc:
        raise CLIError(f"forecast file {path}: {exc}") from exc
    if not quantile_columns(fc) and "mean" not in fc.columns:
        raise CLIError(f"forecast file {path} has no quantile columns ('0.1', '0.5' ...) and no 'mean' column; "
                       f"is it the output of 'tsdiff predict'?")
    fc = fc.copy()
    fc[timestamp_col] = read_timestamps(fc[timestamp_col], f"forecast file {path}")
    return fc, id_col, timestamp_col


#: The command-line flag of each keyword option a library message may advise.
_OPTION_FLAGS = {"id_col": "--id-col", "timestamp_col": "--timestamp-col", "target_col": "--target-col",
                 "freq": "--freq", "known_covariates": "--known-covariates", "past_covariates": "--past-covariates"}


def _cli_wording(exc: DataError, files: dict[str, str]) -> str:
    """A library :class:`~tsdiff.errors.DataError` in command-line words, from its structured fields.

    The data at fault (``exc.arg``, ``exc.column``) becomes the file given for it (``column 'x' of
    FILE``); ``files`` maps the library's argument names (``df``, ``future_df``, ``static_df``) to
    those files. The options it advises (``exc.options``) become flags (``--timestamp-col``).
    """
    def subject_words(arg: str, column: Optional[str]) -> str:
        label = files.get(arg)
        if label is None:
            return arg if column is None else f"{arg}[{column}]"
        return label if column is None else f"column {column} of {label}"

    def option_words(name: str, value: Optional[str]) -> str:
        flag = _OPTION_FLAGS.get(name)
        if flag is None:
            return name if value is None else f"{name}={value}"
        return f"{flag} {value}" if value else flag

    return exc.worded(subject_words, option_words)


def _memory_limit(text: str) -> float:
    """``0.5`` (a fraction of the available memory), ``4G``, ``512M``, ``1e9`` (bytes) or ``inf``."""
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    scale = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}.get(t[-1:], 1)
    try:
        value = float(t[:-1] if scale > 1 else t) * scale
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a memory limit: use a fraction such as 0.5, "
                                         "a size such as 4G or 512M, or inf")
    return value


def write_table_chunks(frames: Any, path: str) -> tuple[int, int]:
    """Write an iterable of frames to one CSV / CSV.gz / Parquet file, one frame at a time.

    Only one frame is in memory at a time. The file is written under a
    temporary name next to ``path`` and renamed at the end, so an interrupted
    run never leaves a truncated ``path``. Parquet needs pyarrow.

    Returns
    -------
    (number of series, number of rows) written.
    """
    import os
    import tempfile

    p = Path(path)
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    name = p.name.lower()
    parquet = name.endswith((".parquet", ".pq"))
    if parquet:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise CLIError(f"{path}: writing parquet needs pyarrow (pip install pyarrow), or use --out FILE.csv") from None
    elif not name.endswith((".csv", ".csv.gz")):
        raise CLIError(f"{path}: the output file must end in .csv, .csv.gz or .parquet")
    fd, tmp = tempfile.mkstemp(prefix=p.name + ".tmp-", dir=p.parent or ".")
    os.close(fd)
    writer, n_series, n_rows = None, 0, 0
    try:
        for i, frame in enumerate(frames):
            if parquet:
                table = pa.Table.from_pandas(frame, preserve_index=False,
                                             schema=None if writer is None else writer.schema)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
            else:
                frame.to_csv(tmp, index=False, mode="w" if i == 0 else "a", header=i == 0,
                             compression="gzip" if name.endswith(".gz") else None)
            n_series += frame.iloc[:, 0].nunique() if len(frame) else 0
            n_rows += len(frame)
        if writer is not None:
            writer.close()
            writer = None
        os.replace(tmp, p)
    finally:
        if writer is not None:
            writer.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
    return n_series, n_rows


# ---------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------
def _cmd_fit(args: argparse.Namespace) -> int:
    df = read_table(args.data, "training data")
    static_df = read_table(args.static_features, "static features") if args.static_features else None
    from .estimator import TSDiff

    kwargs: dict[str, Any] = dict(
        prediction_length=args.prediction_length, context_length=args.context_length, freq=args.freq,
        max_time=args.max_time, seed=args.seed, progress=not args.quiet, device=args.device,
        num_threads=args.threads, id_col=args.id_col, timestamp_col=args.timestamp_col, target_col=args.target_col)
    for name in ("max_steps", "hidden_channels", "batch_size", "diffusion_steps", "learning_rate",
                 "distill_max_steps", "student_steps", "student_tail_length"):
        value = getattr(args, name)
        if value is not None:
            kwargs[name] = value
    if args.distill:
        kwargs["distill"] = True
    model = TSDiff(**kwargs)
    fit_kwargs: dict[str, Any] = {}
    if args.known_covariates:
        fit_kwargs["known_covariates"] = args.known_covariates
    if args.past_covariates:
        fit_kwargs["past_covariates"] = args.past_covariates
    if static_df is not None:
        fit_kwargs["static_df"] = static_df
    if args.resume and not args.checkpoint_dir:
        raise CLIError("--resume needs --checkpoint-dir DIR (the directory holding checkpoint.pt)")
    if args.checkpoint_dir:
        fit_kwargs.update(checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every,
                          resume=args.resume)
    from .distributed import barrier, cleanup, init_from_env

    # Under torchrun: join the process group (gloo on CPU, NCCL on CUDA); otherwise a no-op.
    dist_ctx = init_from_env(device=args.device)
    if not dist_ctx.is_main:  # one process reports, shows progress and writes the model
        args.quiet = True
        logging.getLogger("tsdiff").setLevel(logging.ERROR)
    log.info("training on %s (%d rows)", args.data, len(df))
    try:
        try:
            model.fit(df, **fit_kwargs)
        except DataError as exc:
            frames = {"df": args.data}
            if args.static_features:
                frames["static_df"] = args.static_features
            raise CLIError(_cli_wording(exc, frames)) from exc
        if dist_ctx.is_main:
            model.save(args.out)
            if not args.quiet:
                print(f"saved model to {args.out}")
        barrier(dist_ctx)
    finally:
        cleanup(dist_ctx)
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    model_dir = Path(args.model)
    if not model_dir.exists():
        raise CLIError(f"model directory not found: {args.model} (create one with 'tsdiff fit ... --out DIR')")
    history = read_table(args.history, "history") if args.history else None
    future = read_table(args.future_covariates, "future covariates") if args.future_covariates else None
    from .estimator import TSDiff

    static_df = read_table(args.static_features, "static features") if args.static_features else None
    model = TSDiff.load(str(model_dir), device=args.device)
    model.set_params(progress=not args.quiet, num_threads=args.threads)
    if future is None and model.known_covariates_:
        horizon = args.horizon or model.config_.prediction_length
        raise CLIError(f"this model uses known covariates {model.known_covariates_}: pass their future values "
                       f"for the {horizon} steps after each series with --future-covariates FILE")
    try:
        chunks = model.predict_iter(df=history, series_per_batch=args.series_per_batch, horizon=args.horizon,
                                    n_samples=args.n_samples, future_df=future, static_df=static_df,
                                    sampler=args.sampler, steps=args.steps, eta=args.eta, spacing=args.spacing,
                                    variance=args.variance, calibrated=False if args.raw else None, seed=args.seed,
                                    memory_limit=args.memory_limit)
        frames = (fc.to_dataframe(quantiles=args.quantiles, include_samples=args.include_samples) for fc in chunks)
        n_series, _ = write_table_chunks(frames, args.out)
    except MemoryError as exc:  # tsdiff's MemoryLimitError: say it in command-line words
        message = _one_line(exc).replace("predict_iter(series_per_batch=...) / 'tsdiff predict --out FILE'",
                                         "a smaller --series-per-batch").replace(
            "memory_limit= (bytes, or a fraction of the available memory; float('inf') turns the check off)",
            "--memory-limit (4G, 0.9 of the available memory, or inf)").replace("(n_samples=)", "(--n-samples)")
        raise CLIError(message) from exc
    except DataError as exc:
        frames_named = {"df": args.history or "the history",
                        "future_df": args.future_covariates or "the future covariates",
                        "static_df": args.static_features or "the static features"}
        raise CLIError(_cli_wording(exc, frames_named)) from exc
    if not args.quiet:
        horizon = args.horizon or model.config_.prediction_length
        print(f"wrote {n_series} series x {horizon} steps ({args.n_samples} samples each) to {args.out}")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    fc, id_col, ts_col = _forecast_frame(args.forecast, args.id_col, args.timestamp_col)
    history = _long_frame(args.history, "history", id_col, ts_col, args.target_col) if args.history else None
    actuals = _long_frame(args.actuals, "actuals", id_col, ts_col, args.target_col) if args.actuals else None
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    from .plotting import plot_forecast_frame

    fig = Figure(figsize=(args.width, args.height))
    ax = fig.add_subplot()
    supported = fig.canvas.get_supported_filetypes()
    suffix = Path(args.out).suffix.lower().lstrip(".")
    if suffix not in supported:
        raise CLIError(f"{args.out}: unsupported image type {suffix!r}; use one of {sorted(supported)}")
    plot_forecast_frame(fc, item_id=args.item, ax=ax, history=history, actuals=actuals, intervals=args.intervals,
                        n_paths=args.n_paths, history_tail=args.history_tail, title=args.title,
                        id_col=id_col, timestamp_col=ts_col, target_col="target")
    fig.tight_layout()
    out = Path(args.out)
    if not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=args.dpi)
    if not args.quiet:
        print(f"wrote {args.out}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    if args.actuals is None and not Path(args.forecast).is_file():
        raise CLIError(f"forecast file not found: {args.forecast}; and --actuals is missing (required unless "
                       "FORECAST is a backtest frame written by 'tsdiff backtest')")
    fc, id_col, ts_col = _forecast_frame(args.forecast, args.id_col, args.timestamp_col)
    if "cutoff" in fc.columns:  # a backtest frame (tsdiff backtest / TSDiff.cross_validation)
        return _evaluate_backtest_frame(fc, id_col, ts_col, args)
    if args.actuals is None:
        raise CLIError("the following arguments are required: --actuals (unless FORECAST is a backtest frame "
                       "written by 'tsdiff backtest')")
    actuals = _long_frame(args.actuals, "actuals", id_col, ts_col, args.target_col)
    history = _long_frame(args.history, "history", id_col, ts_col, args.target_col) if args.history else None
    from .metrics import evaluate_forecast_frame

    results = evaluate_forecast_frame(fc, actuals, id_col, ts_col, history=history, season=args.season)
    notes = results.pop("_notes")
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=False, default=float))
        return 0
    rows = [(k, _fmt(v), notes.get(k, "")) for k, v in results.items()]
    w0 = max(len("metric"), *(len(r[0]) for r in rows))
    w1 = max(len("value"), *(len(r[1]) for r in rows))
    print(f"{'metric':<{w0}}  {'value':>{w1}}  note")
    for name, value, note in rows:
        print(f"{name:<{w0}}  {value:>{w1}}  {note}".rstrip())
    return 0


def _evaluate_backtest_frame(fc: Any, id_col: str, ts_col: str, args: argparse.Namespace) -> int:
    """``tsdiff evaluate`` of a backtest frame: the report of :func:`tsdiff.metrics.evaluate_backtest`."""
    from .frames import read_timestamps
    from .metrics import evaluate_backtest

    fc["cutoff"] = read_timestamps(fc["cutoff"], f"forecast file {args.forecast}")
    actuals = _long_frame(args.actuals, "actuals", id_col, ts_col, args.target_col) if args.actuals else None
    history = _long_frame(args.history, "history", id_col, ts_col, args.target_col) if args.history else None
    report = evaluate_backtest(fc, actuals, history=history, season=args.season)
    _print_report(report, args)
    return 0


def _print_report(report: Any, args: argparse.Namespace) -> None:
    if getattr(args, "json", False):
        print(json.dumps(report.to_dict(), indent=2, default=str))
    elif not args.quiet:
        print(report.to_text())


def _cmd_backtest(args: argparse.Namespace) -> int:
    df = read_table(args.data, "data")
    static_df = read_table(args.static_features, "static features") if args.static_features else None
    from .estimator import TSDiff, history_before_windows
    from .metrics import evaluate_backtest

    if args.model is not None:
        model = TSDiff.load(args.model, device=args.device)
        model.set_params(progress=not args.quiet, num_threads=args.threads)
    else:
        if args.prediction_length is None:
            raise CLIError("--prediction-length is required (or --model MODEL_DIR to backtest a saved model)")
        kwargs: dict[str, Any] = dict(
            prediction_length=args.prediction_length, context_length=args.context_length, freq=args.freq,
            max_time=args.max_time, seed=args.seed or 0, progress=not args.quiet, device=args.device,
            num_threads=args.threads, id_col=args.id_col, timestamp_col=args.timestamp_col,
            target_col=args.target_col)
        for name in ("max_steps", "hidden_channels", "batch_size", "diffusion_steps", "learning_rate"):
            if getattr(args, name) is not None:
                kwargs[name] = getattr(args, name)
        model = TSDiff(**kwargs)
    horizon = args.horizon or model.prediction_length
    covariates = {"known_covariates": args.known_covariates, "past_covariates": args.past_covariates}
    predict_kwargs = {k: getattr(args, k) for k in ("sampler", "steps", "seed") if getattr(args, k) is not None}
    try:
        if args.model is None and not args.refit:
            # Train on what precedes the first cut-off: no window's future is seen.
            train = history_before_windows(df, args.n_windows, horizon, args.step_size, id_col=args.id_col,
                                           timestamp_col=args.timestamp_col, target_col=args.target_col,
                                           freq=args.freq, known_covariates=args.known_covariates or (),
                                           past_covariates=args.past_covariates or ())
            model.fit(train, static_df=static_df, **covariates)
        frame = model.cross_validation(df, args.n_windows, args.step_size, horizon=horizon, refit=args.refit,
                                       n_samples=args.n_samples, static_df=static_df, include_samples=True,
                                       **covariates, **predict_kwargs)
    except DataError as exc:
        frames = {"df": args.data, "static_df": args.static_features or "the static features"}
        raise CLIError(_cli_wording(exc, frames)) from exc
    from .forecast import sample_columns

    write_table(frame if args.include_samples else frame.drop(columns=sample_columns(frame)), args.out)
    id_col, ts_col = frame.columns[0], frame.columns[1]
    history = df if (id_col in df.columns and ts_col in df.columns) else None
    report = evaluate_backtest(frame, history=history, season=args.season,
                               seed=args.seed if args.seed is not None else 0)
    if args.report:
        from .plotting import plot_backtest_report

        fig = plot_backtest_report(report)
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.report, dpi=110)
        import matplotlib.pyplot as plt

        plt.close(fig)
    _print_report(report, args)
    if not args.quiet and not args.json:
        print(f"wrote {args.out}" + (f" and {args.report}" if args.report else ""))
    return 0


def _fmt(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{value:.4f}"


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    kwargs: dict[str, Any] = {"progress": not args.quiet, "echo": None if args.quiet else print,
                              "num_threads": args.threads}
    if args.out is not None:
        kwargs["out_dir"] = args.out
    if args.quick:  # a short training budget and fewer samples
        kwargs.update(max_steps=_QUICK_DEMO_STEPS, n_samples=50)
    if args.max_time is not None:
        kwargs["max_time"] = args.max_time
    run_demo(**kwargs)
    return 0


#: Training budget (steps) of ``tsdiff demo --quick``.
_QUICK_DEMO_STEPS = 300


def _benchmarks_dir() -> Optional[Path]:
    here = Path(__file__).resolve().parent.parent / "benchmarks"
    return here if here.is_dir() else None


def _bench_scripts(root: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(root.glob("*.py")) if not p.name.startswith("_")}


def _cmd_bench(args: argparse.Namespace) -> int:
    root = _benchmarks_dir()
    if root is None:
        raise CLIError("the benchmark scripts are not installed with the package; run 'tsdiff bench' from a "
                       "source checkout of tsdiff (they live in benchmarks/)", code=1)
    scripts = _bench_scripts(root)
    if args.script is None:
        if not scripts:
            raise CLIError(f"no benchmark scripts found in {root}", code=1)
        print("benchmark scripts (run 'tsdiff bench NAME [ARGS...]'):")
        for name in scripts:
            print(f"  {name}")
        return 0
    name = args.script[:-3] if args.script.endswith(".py") else args.script
    if name not in scripts:
        raise CLIError(f"unknown benchmark {args.script!r}; available: {', '.join(scripts) or 'none'}")
    cmd = [sys.executable, str(scripts[name]), *args.args]
    log.info("running %s", " ".join(cmd))
    return subprocess.call(cmd)


# ---------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------
_ROOT_EPILOG = """\
Examples:
  tsdiff fit train.csv --prediction-length 24 --max-time 10m --out model/
  tsdiff predict model/ --history train.csv --n-samples 100 --out forecast.csv
  tsdiff plot forecast.csv --history train.csv --actuals test.csv --out fan.png
  tsdiff evaluate forecast.csv --actuals test.csv --history train.csv
  tsdiff backtest data.csv --prediction-length 24 --n-windows 14 --out cv.csv --report report.png
  tsdiff demo --quick

Data files are long frames (CSV, CSV.gz or Parquet): one row per series and
timestamp, with an id column, a timestamp column and a target column.
Run 'tsdiff COMMAND --help' for the options of a command.
"""

_EPILOGS = {
    "fit": """\
Example:
  tsdiff fit train.csv --prediction-length 24 --freq h --max-time 10m \\
      --id-col item_id --timestamp-col timestamp --target-col target --out model/

The columns are inferred when not named. Known covariates need values over the
forecast horizon at prediction time (tsdiff predict --future-covariates).
""",
    "predict": """\
Example:
  tsdiff predict model/ --history train.csv --horizon 24 --n-samples 100 \\
      --sampler ddim --steps 20 --out forecast.csv

Writes one row per series and future timestamp: id, timestamp, mean and one
column per quantile ("0.1" ... "0.9"); --include-samples adds sample_0 ... .
Without --history the model forecasts from the end of its training data.
""",
    "plot": """\
Example:
  tsdiff plot forecast.csv --history train.csv --actuals test.csv --item A --out fan.png

Draws the median and the central intervals the quantile columns span (0.1-0.9
is 80%, 0.2-0.8 is 60% ...). The image type follows the suffix (.png, .pdf, .svg).
""",
    "evaluate": """\
Example:
  tsdiff evaluate forecast.csv --actuals test.csv --history train.csv --season 24

Metrics: wql_mean (GluonTS mean weighted quantile loss over the quantile columns),
coverage of each central interval, nd, mase (needs --history), crps (exact
ensemble CRPS / sum|y|, needs a forecast written with --include-samples).
""",
    "backtest": """\
Example:
  tsdiff backtest data.csv --prediction-length 24 --n-windows 14 --max-time 5m \\
      --out cv.csv --report report.png

Trains on what precedes the first cut-off (or, with --refit, on each cut-off's
history), forecasts every window from its own history and writes one row per
series, cut-off and timestamp: cutoff, actual, mean, quantile columns. Prints
wQL (GluonTS mean_wQuantileLoss), exact CRPS, MASE, seasonal naive's wQL on the
same windows and the 50/80/90/95% coverage with bootstrap CIs over windows.
'tsdiff evaluate cv.csv --history data.csv' prints the same report from the file.
""",
    "demo": """\
Example:
  tsdiff demo --quick --out demo_output/
""",
    "bench": """\
Example:
  tsdiff bench                 # list the benchmark scripts
  tsdiff bench NAME --help     # run benchmarks/NAME.py with its own arguments
""",
}


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """``--quiet``, ``--verbose``, ``--debug``; sub-parsers use SUPPRESS so the root's values survive."""
    d = (lambda v: argparse.SUPPRESS) if suppress else (lambda v: v)
    g = parser.add_argument_group("global options")
    g.add_argument("-q", "--quiet", action="store_true", default=d(False),
                   help="no progress bars and no messages on success")
    g.add_argument("-v", "--verbose", action="count", default=d(0), help="log progress (INFO); -vv for DEBUG")
    g.add_argument("--debug", action="store_true", default=d(False), help="show the traceback of errors")


def _column_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("columns")
    g.add_argument("--id-col", metavar="NAME", help="series id column (default: inferred / first column)")
    g.add_argument("--timestamp-col", metavar="NAME", help="timestamp column (default: inferred / second column)")
    g.add_argument("--target-col", metavar="NAME", help="target column (default: inferred, 'target' if present)")


def build_parser() -> argparse.ArgumentParser:
    """The ``tsdiff`` argument parser (exposed for documentation and tests)."""
    parser = _Parser(prog=PROG, formatter_class=_Formatter, epilog=_ROOT_EPILOG,
                     description="Probabilistic time-series forecasting with conditional denoising diffusion.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=_EPILOGS[name],
                           formatter_class=_Formatter)
        _global_options(p, suppress=True)
        return p

    # fit -------------------------------------------------------------------
    p = add("fit", "train a model on a long data file and save it to a directory")
    p.add_argument("data", metavar="DATA", help="training data (.csv, .csv.gz or .parquet)")
    p.add_argument("--prediction-length", type=_positive_int, required=True, metavar="H",
                   help="forecast horizon the model is trained for")
    p.add_argument("--context-length", type=_positive_int, metavar="N", help="history length the model reads")
    p.add_argument("--freq", metavar="FREQ", help="pandas frequency (h, D, 15min ...); default: inferred")
    p.add_argument("--max-time", type=parse_duration, metavar="DURATION",
                   help="training time budget: 90, 90s, 10m, 1h, 1h30m")
    p.add_argument("--max-steps", type=_positive_int, metavar="N", help="maximum number of optimizer steps")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:0 ... (default: %(default)s)")
    p.add_argument("--threads", type=_positive_int, metavar="N",
                   help="CPU threads for torch (default: torch's; 1 is often fastest on a busy machine)")
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="directory the model is saved to")
    _column_options(p)
    g = p.add_argument_group("covariates")
    g.add_argument("--known-covariates", type=_name_list, metavar="A,B",
                   help="columns known in advance (needed over the horizon when predicting)")
    g.add_argument("--past-covariates", type=_name_list, metavar="C,D", help="columns only observed in the past")
    g.add_argument("--static-features", metavar="DATA", help="file with one row of static features per series")
    g = p.add_argument_group("model and training")
    g.add_argument("--hidden-channels", type=_positive_int, metavar="N", help="width of the denoising U-Net")
    g.add_argument("--batch-size", type=_positive_int, metavar="N", help="training batch size")
    g.add_argument("--diffusion-steps", type=_positive_int, metavar="T", help="number of diffusion steps")
    g.add_argument("--learning-rate", type=_positive_float, metavar="LR", help="AdamW learning rate")
    g = p.add_argument_group("few-step student")
    g.add_argument("--distill", action="store_true",
                   help="after training, distil a student that samples in 1-4 network calls "
                        "('tsdiff predict --sampler distilled'); with --max-time, capped at half of it")
    g.add_argument("--distill-max-steps", type=_positive_int, metavar="N", help="training steps of the student")
    g.add_argument("--student-steps", type=_int_list, metavar="K,K",
                   help="network calls the student is trained for (default: 1,2,4)")
    g.add_argument("--student-tail-length", type=_non_negative_int, metavar="N",
                   help="context positions before the horizon the student's network runs over (default: at most "
                        "32; shorter is cheaper per call)")
    g = p.add_argument_group("checkpoints (long runs)")
    g.add_argument("--checkpoint-dir", metavar="DIR",
                   help="write a resumable training checkpoint (checkpoint.pt) here, atomically")
    g.add_argument("--checkpoint-every", type=_positive_int, metavar="N",
                   help="steps between checkpoints (default: the validation interval, 200)")
    g.add_argument("--resume", action="store_true",
                   help="continue from --checkpoint-dir's checkpoint if there is one (for torchrun --max-restarts)")
    p.set_defaults(func=_cmd_fit)

    # predict ---------------------------------------------------------------
    p = add("predict", "sample forecasts from a saved model and write them as a long table")
    p.add_argument("model", metavar="MODEL_DIR", help="directory written by 'tsdiff fit'")
    p.add_argument("--history", metavar="DATA", help="history to forecast from (default: the training data)")
    p.add_argument("--future-covariates", metavar="DATA", help="known covariates over the forecast horizon")
    p.add_argument("--horizon", type=_positive_int, metavar="H",
                   help="steps to forecast (default: the model's prediction length)")
    p.add_argument("--n-samples", type=_positive_int, default=100, metavar="S",
                   help="sample paths per series (default: %(default)s)")
    p.add_argument("--sampler", choices=("auto", "dpmsolver", "ddim", "ddpm", "distilled"),
                   help="dpmsolver (DPM-Solver++(2M), few steps), ddim (few steps), ddpm (every diffusion "
                        "step), distilled (the student of a model fitted with --distill, 1-4 steps) or auto "
                        "(the student when the model has one, else dpmsolver); default: the model's (auto for "
                        "models fitted by this version, dpmsolver for older ones)")
    p.add_argument("--steps", type=_positive_int, metavar="N",
                   help="dpmsolver / DDIM denoising steps (default: the model's, 20), or the distilled "
                        "student's network calls (one it was trained for; default: 2, else its fewest)")
    p.add_argument("--eta", type=_non_negative_float, default=0.0,
                   help="DDIM noise, 0 = deterministic (default: %(default)s)")
    p.add_argument("--spacing", choices=("logsnr", "quadratic", "trailing", "linspace"),
                   help="timestep grid of dpmsolver / ddim (default: logsnr for dpmsolver, linspace for ddim)")
    p.add_argument("--variance", choices=("beta", "posterior"),
                   help="DDPM step variance (default: beta)")
    p.add_argument("--raw", action="store_true",
                   help="the raw diffusion ensemble, without the calibration fitted at training time")
    p.add_argument("--seed", type=_non_negative_int, help="random seed of the sampler")
    p.add_argument("--quantiles", type=_level_list, default=list(DEFAULT_QUANTILES), metavar="Q,Q",
                   help="quantile columns to write (default: 0.1,...,0.9)")
    p.add_argument("--include-samples", action="store_true", help="also write sample_0 ... sample_{S-1} columns")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda ... (default: %(default)s)")
    p.add_argument("--threads", type=_positive_int, metavar="N",
                   help="CPU threads for torch (default: torch's; 1 is often fastest on a busy machine)")
    p.add_argument("--static-features", metavar="DATA",
                   help="static features of series the model has not seen (one row per series)")
    p.add_argument("--out", required=True, type=_table_path, metavar="FORECAST",
                   help="output file (.csv, .csv.gz or .parquet), written batch of series by batch")
    p.add_argument("--series-per-batch", type=_positive_int, metavar="N",
                   help="series sampled and written at a time (default: about 16 MiB of samples)")
    p.add_argument("--memory-limit", type=_memory_limit, metavar="BYTES|FRACTION",
                   help="memory one batch may hold: 0.5 (of the available memory), 4G, 512M, inf "
                        "(default: 75%% of the available memory)")
    p.set_defaults(func=_cmd_predict)

    # plot ------------------------------------------------------------------
    p = add("plot", "draw a fan chart of one series of a forecast file")
    p.add_argument("forecast", metavar="FORECAST", help="file written by 'tsdiff predict'")
    p.add_argument("--history", metavar="DATA", help="past values to draw before the forecast")
    p.add_argument("--actuals", metavar="DATA", help="true future values to draw over the forecast")
    p.add_argument("--item", metavar="ID", help="series id to draw (default: the first)")
    p.add_argument("--intervals", type=_level_list, metavar="L,L",
                   help="central interval levels, e.g. 0.8,0.6 (default: all the quantile columns span)")
    p.add_argument("--n-paths", type=_non_negative_int, default=0, metavar="N",
                   help="sample paths to draw (needs --include-samples at predict time)")
    p.add_argument("--history-tail", type=_non_negative_int, metavar="N",
                   help="history points to draw (default: 4 x horizon)")
    p.add_argument("--title", help="plot title (default: the series id)")
    p.add_argument("--width", type=_positive_float, default=10.0, help="inches (default: %(default)s)")
    p.add_argument("--height", type=_positive_float, default=4.5, help="inches (default: %(default)s)")
    p.add_argument("--dpi", type=_positive_int, default=120, help="default: %(default)s")
    p.add_argument("--out", required=True, metavar="IMAGE", help="output image (.png, .pdf, .svg ...)")
    _column_options(p)
    p.set_defaults(func=_cmd_plot)

    # evaluate --------------------------------------------------------------
    p = add("evaluate", "score a forecast file against the actual values")
    p.add_argument("forecast", metavar="FORECAST", help="file written by 'tsdiff predict'")
    p.add_argument("--actuals", metavar="DATA",
                   help="true values over the forecast horizon (required unless FORECAST is a backtest frame)")
    p.add_argument("--history", metavar="DATA", help="past values, for MASE")
    p.add_argument("--season", type=_positive_int, metavar="M",
                   help="seasonal period for MASE (default: from the frequency, e.g. 24 for hourly)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    _column_options(p)
    p.set_defaults(func=_cmd_evaluate)

    # backtest --------------------------------------------------------------
    p = add("backtest", "rolling-window backtest: forecast the last windows of every series from its own history")
    p.add_argument("data", metavar="DATA", help="the series with their last windows (.csv, .csv.gz or .parquet)")
    p.add_argument("--prediction-length", type=_positive_int, metavar="H",
                   help="horizon the model is trained for (required without --model)")
    p.add_argument("--model", metavar="MODEL_DIR", help="backtest a saved model instead of training one")
    p.add_argument("--n-windows", type=_positive_int, required=True, metavar="N", help="cut-offs per series")
    p.add_argument("--step-size", type=_positive_int, metavar="S", help="steps between cut-offs (default: horizon)")
    p.add_argument("--horizon", type=_positive_int, metavar="H", help="steps forecast per window (default: H)")
    p.add_argument("--refit", action="store_true",
                   help="fit a model on each cut-off's history (default: fit once, before the first cut-off)")
    p.add_argument("--n-samples", type=_positive_int, default=100, metavar="S",
                   help="sample paths per window (default: %(default)s)")
    p.add_argument("--context-length", type=_positive_int, metavar="N", help="history length the model reads")
    p.add_argument("--freq", metavar="FREQ", help="pandas frequency (default: inferred)")
    p.add_argument("--max-time", type=parse_duration, metavar="DURATION", help="training time budget per fit")
    p.add_argument("--max-steps", type=_positive_int, metavar="N", help="maximum optimizer steps per fit")
    p.add_argument("--seed", type=_non_negative_int, help="random seed of training and sampling (default: 0)")
    p.add_argument("--sampler", choices=("ddpm", "ddim"), help="default: the model's (ddim)")
    p.add_argument("--steps", type=_positive_int, metavar="N", help="DDIM denoising steps")
    p.add_argument("--season", type=_positive_int, metavar="M",
                   help="seasonal period of MASE and seasonal naive (default: from the frequency)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda ... (default: %(default)s)")
    p.add_argument("--threads", type=_positive_int, metavar="N", help="CPU threads for torch (default: torch's)")
    p.add_argument("--include-samples", action="store_true", help="also write sample_* columns")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--out", required=True, type=_table_path, metavar="CV", help="output frame (.csv, .parquet)")
    p.add_argument("--report", metavar="IMAGE", help="one-page figure: reliability, PIT, wQL per window")
    _column_options(p)
    g = p.add_argument_group("covariates and model")
    g.add_argument("--known-covariates", type=_name_list, metavar="A,B", help="columns known in advance")
    g.add_argument("--past-covariates", type=_name_list, metavar="C,D", help="columns only observed in the past")
    g.add_argument("--static-features", metavar="DATA", help="file with one row of static features per series")
    g.add_argument("--hidden-channels", type=_positive_int, metavar="N", help="width of the denoising U-Net")
    g.add_argument("--batch-size", type=_positive_int, metavar="N", help="training batch size")
    g.add_argument("--diffusion-steps", type=_positive_int, metavar="T", help="number of diffusion steps")
    g.add_argument("--learning-rate", type=_positive_float, metavar="LR", help="AdamW learning rate")
    p.set_defaults(func=_cmd_backtest)

    # demo ------------------------------------------------------------------
    p = add("demo", "train on a built-in dataset, forecast, and write plots")
    p.add_argument("--quick", action="store_true", help="a short run (about 30 s of training)")
    p.add_argument("--max-time", type=parse_duration, metavar="DURATION", help="training budget (e.g. 2m)")
    p.add_argument("--out", metavar="DIR", help="output directory for the plots and tables (default: demo_output)")
    p.add_argument("--threads", type=_positive_int, metavar="N", help="CPU threads for torch (default: torch's)")
    p.set_defaults(func=_cmd_demo)

    # bench -----------------------------------------------------------------
    p = add("bench", "run a benchmark script from benchmarks/ (source checkout only)")
    p.add_argument("script", nargs="?", metavar="NAME", help="benchmark script name (default: list them)")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help="arguments passed to the script")
    p.set_defaults(func=_cmd_bench)
    return parser


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("tsdiff")
    except Exception:  # not installed (source tree): fall back to the package attribute
        try:
            from . import __version__  # type: ignore[attr-defined]

            return str(__version__)
        except Exception:
            return "unknown"


# ---------------------------------------------------------------------------
# errors and main
# ---------------------------------------------------------------------------
#: Exceptions that mean bad input (exit status 2); tsdiff's DataError and ModelFileError are ValueErrors.
_DATA_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, KeyError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError,
    FileExistsError)


def _one_line(exc: BaseException) -> str:
    """A one-line message for an exception."""
    if isinstance(exc, KeyError) and exc.args:
        msg = str(exc.args[0])
    elif isinstance(exc, OSError) and exc.strerror and exc.filename:
        msg = f"{exc.strerror}: {exc.filename}"
    else:
        msg = str(exc)
    msg = " ".join(msg.split())
    if not msg:
        msg = type(exc).__name__
    if len(msg) > 600:
        msg = msg[:597] + "..."
    return msg


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, CLIError):
        return exc.code
    return 2 if isinstance(exc, _DATA_ERRORS) else 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``tsdiff`` command line; returns the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    except CLIError as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return exc.code
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    debug = bool(args.debug)
    level = logging.DEBUG if (debug or args.verbose >= 2) else logging.INFO if args.verbose else \
        logging.ERROR if args.quiet else logging.WARNING
    pkg_logger = logging.getLogger("tsdiff")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s: %(message)s" if debug else
                                           f"{PROG}: %(message)s"))
    old_level, old_propagate = pkg_logger.level, pkg_logger.propagate
    pkg_logger.addHandler(handler)
    pkg_logger.setLevel(level)
    pkg_logger.propagate = False
    show_warnings_now = debug or args.verbose > 0
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=not show_warnings_now) as recorded:
            warnings.simplefilter("default")
            code = int(args.func(args) or 0)
            caught = list(recorded or [])
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        code = _exit_code(exc)
        if debug:
            traceback.print_exc(file=sys.stderr)
        hint = "" if debug or code == 2 else " (run with --debug for the traceback)"
        prefix = "" if code == 2 or isinstance(exc, CLIError) else f"{type(exc).__name__}: "
        print(f"{PROG}: error: {prefix}{_one_line(exc)}{hint}", file=sys.stderr)
        return code
    finally:
        pkg_logger.removeHandler(handler)
        pkg_logger.setLevel(old_level)
        pkg_logger.propagate = old_propagate
    if not args.quiet:
        seen = set()
        for w in caught:
            msg = _one_line(w.message) if isinstance(w.message, BaseException) else " ".join(str(w.message).split())
            if msg not in seen:
                seen.add(msg)
                print(f"{PROG}: warning: {msg}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
