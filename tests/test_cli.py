"""The ``tsdiff`` command line, driven in-process through ``main([...])``."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from tsdiff import cli, metrics  # noqa: E402
from tsdiff.cli import main, parse_duration  # noqa: E402
from tsdiff.forecast import Forecast  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
H = 12
COMMANDS = ["fit", "predict", "plot", "evaluate", "backtest", "demo", "bench"]


def _error_line(err: str) -> str:
    """The single stderr line of a failed command (asserts there is exactly one, no traceback)."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    assert lines[0].startswith("tsdiff: error: "), err
    return lines[0]


def _sine_frame(n_series: int = 3, length: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-01-01", periods=length, freq="h")
    t = np.arange(length)
    parts = []
    for i in range(n_series):
        y = 10 + 3 * np.sin(2 * np.pi * t / 24 + i) + rng.normal(scale=0.3, size=length)
        parts.append(pd.DataFrame({"item_id": f"s{i}", "timestamp": ts, "target": y}))
    return pd.concat(parts, ignore_index=True)


def _split(df: pd.DataFrame, horizon: int = H) -> tuple[pd.DataFrame, pd.DataFrame]:
    last = df.groupby("item_id")["timestamp"].transform("max")
    is_test = df["timestamp"] > last - pd.Timedelta(hours=horizon)
    return df[~is_test].reset_index(drop=True), df[is_test].reset_index(drop=True)


# ---------------------------------------------------------------------------
# parser, help, usage errors
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_exits_zero_with_example(command, capsys):
    argv = ["--help"] if command is None else [command, "--help"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Example" in out
    assert out.startswith("usage: tsdiff")


def test_root_help_lists_commands_and_global_flags(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for word in [*COMMANDS, "--quiet", "--debug", "--verbose"]:
        assert word in out


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: tsdiff" in capsys.readouterr().err


@pytest.mark.parametrize("argv, fragment", [
    (["fit", "data.csv", "--out", "m"], "--prediction-length"),
    (["fit", "data.csv", "--prediction-length", "0", "--out", "m"], "positive integer"),
    (["fit", "data.csv", "--prediction-length", "3", "--max-time", "ten", "--out", "m"], "duration"),
    (["predict", "m", "--out", "forecast.txt"], ".csv"),
    (["predict", "m", "--sampler", "euler", "--out", "f.csv"], "invalid choice"),
    (["nosuchcommand"], "invalid choice"),
    (["evaluate", "f.csv"], "--actuals"),
])
def test_usage_errors_are_one_line_exit_2(argv, fragment, capsys):
    assert main(argv) == 2
    line = _error_line(capsys.readouterr().err)
    assert fragment in line


@pytest.mark.parametrize("text, seconds", [
    ("90", 90), ("90s", 90), ("10m", 600), ("1h", 3600), ("1.5h", 5400), ("1h30m", 5400), ("2d", 172800),
    ("10min", 600), (" 45 s ", 45),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5m", "10x", "m", "1h 3", "90 90", "nan", "inf"])
def test_parse_duration_rejects(text):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_global_flags_accepted_before_and_after_command(tmp_path, capsys):
    for argv in (["--quiet", "fit", str(tmp_path / "x.csv"), "--prediction-length", "3", "--out", "m"],
                 ["fit", str(tmp_path / "x.csv"), "--prediction-length", "3", "--out", "m", "-q"]):
        assert main(argv) == 2
        assert "not found" in _error_line(capsys.readouterr().err)


# ---------------------------------------------------------------------------
# bad files
# ---------------------------------------------------------------------------
def test_missing_file_is_one_line_exit_2(tmp_path, capsys):
    code = main(["fit", str(tmp_path / "nope.csv"), "--prediction-length", "4", "--out", str(tmp_path / "m")])
    assert code == 2
    assert "nope.csv" in _error_line(capsys.readouterr().err)


def test_directory_and_unknown_suffix(tmp_path, capsys):
    assert main(["fit", str(tmp_path), "--prediction-length", "4", "--out", str(tmp_path / "m")]) == 2
    assert "directory" in _error_line(capsys.readouterr().err)
    bad = tmp_path / "data.xlsx"
    bad.write_text("a,b\n1,2\n")
    assert main(["fit", str(bad), "--prediction-length", "4", "--out", str(tmp_path / "m")]) == 2
    _error_line(capsys.readouterr().err)


def test_debug_shows_traceback(tmp_path, capsys):
    code = main(["--debug", "fit", str(tmp_path / "nope.csv"), "--prediction-length", "4", "--out", "m"])
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "tsdiff: error:" in err.splitlines()[-1]


def _malformed_files():
    ts = pd.date_range("2024-01-01", periods=60, freq="h").astype(str)
    good_ids = np.repeat(["a", "b"], 30)
    return {
        "garbage_text": ("csv", b"this is not a table\njust some words; and more words\n\x01\x02 ???\n"),
        "empty": ("csv", b""),
        "header_only": ("csv", b"item_id,timestamp,target\n"),
        "binary": ("csv", bytes(np.random.default_rng(0).integers(0, 256, 2048, dtype=np.uint8))),
        "binary_parquet": ("parquet", b"PAR1" + bytes(range(256)) * 4),
        "missing_columns": ("csv", pd.DataFrame({"item_id": good_ids, "value": np.arange(60.0)})
                            .to_csv(index=False).encode()),
        "strings_in_target": ("csv", pd.DataFrame({"item_id": good_ids, "timestamp": ts,
                                                   "target": ["x%d" % i for i in range(60)]})
                              .to_csv(index=False).encode()),
        "bad_timestamps": ("csv", pd.DataFrame({"item_id": good_ids, "timestamp": ["not a date"] * 60,
                                                "target": np.arange(60.0)}).to_csv(index=False).encode()),
        "all_nan_target": ("csv", pd.DataFrame({"item_id": good_ids, "timestamp": ts, "target": np.nan})
                           .to_csv(index=False).encode()),
    }


_READ_LEVEL = {"empty", "header_only", "binary", "binary_parquet"}


@pytest.mark.parametrize("name", [
    pytest.param(n) for n in _malformed_files()])
def test_fit_rejects_malformed_files(name, tmp_path, capsys):
    suffix, content = _malformed_files()[name]
    path = tmp_path / f"{name}.{suffix}"
    path.write_bytes(content)
    code = main(["--quiet", "fit", str(path), "--prediction-length", "4", "--max-steps", "2",
                 "--out", str(tmp_path / "model")])
    err = capsys.readouterr().err
    assert code == 2, err
    _error_line(err)
    assert not (tmp_path / "model").exists()


# ---------------------------------------------------------------------------
# exit codes and warnings
# ---------------------------------------------------------------------------
def test_unexpected_error_exit_1_with_hint(monkeypatch, tmp_path, capsys):
    def boom(args):
        raise RuntimeError("the GPU caught fire\nsecond line")

    monkeypatch.setattr(cli, "_cmd_demo", boom)
    assert main(["demo"]) == 1
    line = _error_line(capsys.readouterr().err)
    assert line == "tsdiff: error: RuntimeError: the GPU caught fire second line (run with --debug for the traceback)"


def test_warnings_printed_once_after_success(monkeypatch, capsys):
    def warn_twice(args):
        warnings.warn("series s1 is short", UserWarning, stacklevel=1)
        warnings.warn("series s1 is short", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(cli, "_cmd_demo", warn_twice)
    assert main(["demo"]) == 0
    assert capsys.readouterr().err.splitlines() == ["tsdiff: warning: series s1 is short"]
    assert main(["--quiet", "demo"]) == 0
    assert capsys.readouterr().err == ""


def test_demo_forwards_options(monkeypatch, tmp_path, capsys):
    import tsdiff.demo

    seen = {}

    def fake_run_demo(out_dir="demo_output", *, max_time=None, max_steps=2000, n_samples=100, progress=True,
                      echo=None, num_threads=None, **model_kwargs):
        seen.update(out_dir=out_dir, max_time=max_time, max_steps=max_steps, n_samples=n_samples,
                    progress=progress, echo=echo, num_threads=num_threads, extra=model_kwargs)
        return {}

    monkeypatch.setattr(tsdiff.demo, "run_demo", fake_run_demo)
    assert main(["--quiet", "demo", "--quick", "--out", str(tmp_path)]) == 0
    assert seen["out_dir"] == str(tmp_path) and seen["progress"] is False and seen["echo"] is None
    assert seen["max_steps"] <= 500 and seen["max_time"] is None and seen["extra"] == {}
    assert main(["demo", "--max-time", "2m", "--threads", "1"]) == 0
    assert seen["max_time"] == 120 and seen["progress"] is True and seen["echo"] is print
    assert seen["num_threads"] == 1


def test_bench_forwards_to_script(monkeypatch, tmp_path, capsys):
    (tmp_path / "hello.py").write_text(
        "import sys, pathlib\npathlib.Path(sys.argv[1]).write_text(' '.join(sys.argv[2:]))\nsys.exit(3)\n")
    monkeypatch.setattr(cli, "_benchmarks_dir", lambda: tmp_path)
    out = tmp_path / "args.txt"
    assert main(["bench", "hello", str(out), "--quick", "-n", "2"]) == 3
    assert out.read_text() == "--quick -n 2"
    assert main(["bench"]) == 0
    assert "hello" in capsys.readouterr().out
    assert main(["bench", "nope"]) == 2
    assert "hello" in _error_line(capsys.readouterr().err)
    monkeypatch.setattr(cli, "_benchmarks_dir", lambda: None)
    assert main(["bench", "hello"]) == 1
    assert "source checkout" in _error_line(capsys.readouterr().err)


def test_python_dash_m_entry_points():
    for module in ("tsdiff", "tsdiff.cli"):
        res = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                             timeout=120)
        assert res.returncode == 0, res.stderr
        assert "Example" in res.stdout


# ---------------------------------------------------------------------------
# plot and evaluate from files (no model needed)
# ---------------------------------------------------------------------------
@pytest.fixture
def forecast_files(tmp_path):
    """A forecast (with samples) written as CSV, plus history and actuals CSVs, ids as integers."""
    df = _sine_frame(n_series=3, length=100, seed=1)
    df["item_id"] = df["item_id"].str[1:].astype(int) + 100  # 100, 101, 102
    hist, act = _split(df)
    rng = np.random.default_rng(5)
    truth = act.pivot(index="item_id", columns="timestamp", values="target").to_numpy()
    samples = truth[:, None, :] + rng.normal(scale=0.5, size=(3, 40, H))
    ts = [pd.DatetimeIndex(sorted(act.timestamp.unique()))] * 3
    fc = Forecast(samples, [100, 101, 102], ts, "h")
    paths = {name: tmp_path / f"{name}.csv" for name in ("forecast", "history", "actuals")}
    fc.to_dataframe(include_samples=True).to_csv(paths["forecast"], index=False)
    hist.to_csv(paths["history"], index=False)
    act.to_csv(paths["actuals"], index=False)
    return fc, hist, act, paths


def test_plot_command(forecast_files, tmp_path, capsys):
    fc, hist, act, paths = forecast_files
    out = tmp_path / "img" / "fan.png"
    code = main(["plot", str(paths["forecast"]), "--history", str(paths["history"]), "--actuals",
                 str(paths["actuals"]), "--item", "101", "--n-paths", "3", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000
    assert "fan.png" in capsys.readouterr().out
    assert main(["--quiet", "plot", str(paths["forecast"]), "--item", "999", "--out", str(out)]) == 2
    assert "999" in _error_line(capsys.readouterr().err)
    assert main(["plot", str(paths["forecast"]), "--intervals", "0.95", "--out", str(out)]) == 2
    assert "95%" in _error_line(capsys.readouterr().err)
    assert main(["plot", str(paths["forecast"]), "--out", str(tmp_path / "fan.xyz")]) == 2
    _error_line(capsys.readouterr().err)


def test_evaluate_command_matches_metrics(forecast_files, capsys):
    fc, hist, act, paths = forecast_files
    code = main(["evaluate", str(paths["forecast"]), "--actuals", str(paths["actuals"]), "--history",
                 str(paths["history"]), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    res = json.loads(captured.out)
    y = act.pivot(index="item_id", columns="timestamp", values="target").loc[fc.item_ids].to_numpy()
    frame = fc.to_dataframe()
    # wQL from the quantile columns, written out independently
    losses = []
    for tau in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        q = fc.quantile(tau)
        losses.append(2 * np.sum(np.abs((y - q) * ((y <= q) - tau))) / np.sum(np.abs(y)))
    assert res["wql_mean"] == pytest.approx(np.mean(losses), rel=1e-9)
    lo, hi = fc.quantile(0.1), fc.quantile(0.9)
    assert res["coverage_80"] == pytest.approx(np.mean((y >= lo) & (y <= hi)))
    assert set(res) >= {"coverage_80", "coverage_60", "coverage_40", "coverage_20", "nd", "mase", "crps"}
    assert res["crps"] == pytest.approx(metrics.normalized_crps(y, fc.samples), rel=1e-9)
    insample = [hist[hist.item_id == i].target.to_numpy() for i in fc.item_ids]
    assert res["mase"] == pytest.approx(metrics.mase(y, fc.quantile(0.5), insample, season=24), rel=1e-9)
    assert res["n_points"] == 3 * H and res["n_series"] == 3
    assert len(frame) == 3 * H
    # --season changes MASE; the table form prints every metric
    assert main(["evaluate", str(paths["forecast"]), "--actuals", str(paths["actuals"]), "--history",
                 str(paths["history"]), "--season", "1"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["metric", "value", "note"]
    for key in ("wql_mean", "coverage_80", "mase", "crps", "n_points"):
        assert key in out
    assert "season 1" in out


def test_evaluate_wql_agrees_with_library_on_the_same_samples(forecast_files, capsys):
    fc, hist, act, paths = forecast_files
    assert main(["evaluate", str(paths["forecast"]), "--actuals", str(paths["actuals"]), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)["wql_mean"]
    y = act.pivot(index="item_id", columns="timestamp", values="target").loc[fc.item_ids].to_numpy()
    library = metrics.weighted_quantile_loss(y, fc.samples)
    assert abs(printed - library) <= 1e-12
    # the check is sharp: numpy's interpolated quantiles (the old rule) give another number
    interpolated = np.quantile(fc.samples, metrics.DEFAULT_QUANTILES, axis=1)
    losses = [2 * np.sum(np.abs((y - q) * ((y <= q) - tau))) / np.sum(np.abs(y))
              for tau, q in zip(metrics.DEFAULT_QUANTILES, interpolated)]
    assert abs(np.mean(losses) - library) > 1e-6


def test_evaluate_missing_actuals_and_no_overlap(forecast_files, tmp_path, capsys):
    fc, hist, act, paths = forecast_files
    partial = act.copy()
    partial.loc[partial.index[:5], "target"] = np.nan
    p = tmp_path / "partial.csv"
    partial.to_csv(p, index=False)
    assert main(["evaluate", str(paths["forecast"]), "--actuals", str(p), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n_points"] == 3 * H - 5 and "mase" not in res
    # actuals from another period: a clear error
    assert main(["evaluate", str(paths["forecast"]), "--actuals", str(paths["history"])]) == 2
    assert "actual value" in _error_line(capsys.readouterr().err)


# ---------------------------------------------------------------------------
# end to end: fit -> predict -> plot -> evaluate with a tiny model
# ---------------------------------------------------------------------------
TINY = ["--max-steps", "20", "--hidden-channels", "8", "--batch-size", "16",
        "--context-length", "48", "--device", "cpu"]


@pytest.fixture(scope="module")
def _one_torch_thread():
    """Tiny models run fastest on one thread (and do not fight other test processes for cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, _one_torch_thread):
    root = tmp_path_factory.mktemp("cli_e2e")
    train, test = _split(_sine_frame(n_series=3, length=200))
    paths = {"train": root / "train.csv", "test": root / "test.csv", "model": root / "model"}
    train.to_csv(paths["train"], index=False)
    test.to_csv(paths["test"], index=False)
    code = main(["--quiet", "fit", str(paths["train"]), "--prediction-length", str(H), "--freq", "h",
                 "--max-time", "2m", "--seed", "0", *TINY, "--out", str(paths["model"])])
    assert code == 0
    return paths, train, test


def test_end_to_end(trained, tmp_path, capsys):
    paths, train, test = trained
    assert paths["model"].is_dir()
    fc_path = tmp_path / "forecast.csv"
    code = main(["--quiet", "predict", str(paths["model"]), "--n-samples", "16", "--sampler", "ddim",
                 "--steps", "5", "--seed", "1", "--include-samples", "--out", str(fc_path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out == ""  # --quiet
    fc = pd.read_csv(fc_path)
    assert len(fc) == 3 * H
    assert list(fc.columns[:3]) == ["item_id", "timestamp", "mean"]
    assert [f"sample_{j}" for j in range(16)] == [c for c in fc.columns if c.startswith("sample_")]
    first = pd.to_datetime(fc.groupby("item_id")["timestamp"].min())
    assert (first == train.timestamp.max() + pd.Timedelta(hours=1)).all()
    q = fc[[f"{v:g}" for v in (0.1, 0.5, 0.9)]].to_numpy()
    assert np.isfinite(q).all() and (q[:, 0] <= q[:, 1]).all() and (q[:, 1] <= q[:, 2]).all()

    png = tmp_path / "fan.png"
    assert main(["--quiet", "plot", str(fc_path), "--history", str(paths["train"]), "--actuals",
                 str(paths["test"]), "--item", "s1", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == PNG_MAGIC

    assert main(["evaluate", str(fc_path), "--actuals", str(paths["test"]), "--history", str(paths["train"]),
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    for key in ("wql_mean", "coverage_80", "mase", "crps"):
        assert np.isfinite(res[key]), key
    assert res["n_points"] == 3 * H


def test_predict_from_history_parquet_and_long_horizon(trained, tmp_path, capsys):
    paths, train, test = trained
    out = tmp_path / "fc.parquet"
    code = main(["predict", str(paths["model"]), "--history", str(paths["train"]), "--horizon", str(2 * H),
                 "--n-samples", "8", "--steps", "5", "--quantiles", "0.05,0.5,0.95", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "wrote 3 series x 24 steps" in captured.out
    fc = pd.read_parquet(out)
    assert len(fc) == 3 * 2 * H
    assert [c for c in fc.columns if c not in ("item_id", "timestamp", "mean")] == ["0.05", "0.5", "0.95"]
    assert main(["evaluate", str(out), "--actuals", str(paths["test"]), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert "crps" not in res and res["n_points"] == 3 * H and "coverage_90" in res


def test_predict_bad_model_dir(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "nomodel"), "--out", str(tmp_path / "f.csv")]) == 2
    assert "nomodel" in _error_line(capsys.readouterr().err)
    (tmp_path / "empty_model").mkdir()
    assert main(["predict", str(tmp_path / "empty_model"), "--out", str(tmp_path / "f.csv")]) == 2
    _error_line(capsys.readouterr().err)


def test_data_errors_use_command_line_words(trained, tmp_path, capsys):
    paths, train, test = trained
    code = main(["--quiet", "fit", str(paths["train"]), "--prediction-length", "4", "--timestamp-col", "ts",
                 "--out", str(tmp_path / "m")])
    assert code == 2
    line = _error_line(capsys.readouterr().err)
    assert "--timestamp-col" in line and "train.csv" in line and "timestamp_col" not in line
    daily = train.assign(timestamp=pd.date_range("2020-01-01", periods=len(train), freq="D"))
    daily["timestamp"] = daily.groupby("item_id")["timestamp"].transform(
        lambda s: pd.date_range("2020-01-01", periods=len(s), freq="D"))
    p = tmp_path / "daily.csv"
    daily.to_csv(p, index=False)
    code = main(["--quiet", "predict", str(paths["model"]), "--history", str(p), "--out", str(tmp_path / "f.csv")])
    assert code == 2
    line = _error_line(capsys.readouterr().err)
    assert "daily.csv" in line and "frequency" in line
    bad = train.assign(target=["x"] * len(train))
    p = tmp_path / "text.csv"
    bad.to_csv(p, index=False)
    assert main(["--quiet", "fit", str(p), "--prediction-length", "4", "--out", str(tmp_path / "m2")]) == 2
    line = _error_line(capsys.readouterr().err)
    assert f"column 'target' of {p}" in line and "df[" not in line


def test_predict_streams_batches_identical_to_one_predict_call(trained, tmp_path, capsys):
    """--out is written batch by batch (here one series at a time) and holds what predict() returns."""
    from tsdiff import TSDiff

    paths, train, test = trained
    out = tmp_path / "fc.csv"
    code = main(["predict", str(paths["model"]), "--n-samples", "6", "--steps", "4", "--seed", "2",
                 "--series-per-batch", "1", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "wrote 3 series" in captured.out
    expected = TSDiff.load(paths["model"]).predict(n_samples=6, steps=4, seed=2).to_dataframe()
    got = pd.read_csv(out, parse_dates=["timestamp"])
    assert got.columns.tolist() == expected.columns.tolist()
    np.testing.assert_allclose(got.drop(columns=["item_id", "timestamp"]).to_numpy(),
                               expected.drop(columns=["item_id", "timestamp"]).to_numpy(), rtol=1e-6)
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_predict_absurd_sample_count_is_refused_quickly(trained, tmp_path, capsys):
    import time

    paths, _, _ = trained
    start = time.perf_counter()
    code = main(["predict", str(paths["model"]), "--n-samples", str(10**9), "--out", str(tmp_path / "f.csv")])
    err = _error_line(capsys.readouterr().err)
    assert code == 2 and time.perf_counter() - start < 10  # includes loading torch and the model
    assert "1000000000 samples" in err and "--memory-limit" in err and "--n-samples" in err
    assert not (tmp_path / "f.csv").exists()


def test_fit_checkpoint_dir_and_resume(trained, tmp_path, capsys):
    paths, _, _ = trained
    base = ["--quiet", "fit", str(paths["train"]), "--prediction-length", str(H), "--freq", "h",
            "--max-steps", "4", *TINY, "--out", str(tmp_path / "m")]
    assert main([*base, "--resume"]) == 2
    assert "--resume needs --checkpoint-dir" in _error_line(capsys.readouterr().err)
    assert main([*base, "--checkpoint-dir", str(tmp_path / "ck"), "--checkpoint-every", "2"]) == 0
    assert (tmp_path / "ck" / "checkpoint.pt").exists()
    assert main([*base, "--checkpoint-dir", str(tmp_path / "ck"), "--resume"]) == 0
    assert main([*base, "--checkpoint-dir", str(tmp_path / "ck"), "--resume", "--learning-rate", "0.5"]) == 2
    assert "another config" in _error_line(capsys.readouterr().err)


def test_backtest_matches_cross_validation(tmp_path, capsys, _one_torch_thread):
    """``tsdiff backtest`` = fit before the first cut-off + TSDiff.cross_validation, same seed, same numbers."""
    from tsdiff import TSDiff
    from tsdiff.estimator import history_before_windows
    from tsdiff.metrics import evaluate_backtest

    df = _sine_frame(n_series=2, length=160)
    data, out, png = tmp_path / "data.csv", tmp_path / "cv.csv", tmp_path / "report.png"
    df.to_csv(data, index=False)
    code = main(["backtest", str(data), "--prediction-length", "6", "--n-windows", "3", "--n-samples", "8",
                 "--seed", "2", "--threads", "1", "--json", *TINY, "--out", str(out), "--report", str(png)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    printed = json.loads(captured.out)["overall"]
    assert png.read_bytes()[:8] == PNG_MAGIC
    model = TSDiff(prediction_length=6, context_length=48, max_steps=20, hidden_channels=8, batch_size=16,
                   device="cpu", seed=2, progress=False, num_threads=1)
    model.fit(history_before_windows(df, 3, 6))
    cv = model.cross_validation(df, 3, n_samples=8, seed=2, include_samples=True)
    written = pd.read_csv(out, parse_dates=["timestamp", "cutoff"])
    assert len(written) == len(cv) == 2 * 3 * 6
    np.testing.assert_allclose(written[["actual", "mean", "0.1", "0.9"]].to_numpy(),
                               cv[["actual", "mean", "0.1", "0.9"]].to_numpy(), rtol=1e-6)
    report = evaluate_backtest(cv, history=df, seed=2).overall
    for key in ("wql_mean", "crps", "mase", "coverage_90", "coverage_90_low"):
        assert printed[key] == pytest.approx(report[key], rel=1e-6)
    # tsdiff evaluate prints the same report from the written frame (no samples there: no exact CRPS)
    assert main(["evaluate", str(out), "--history", str(data), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)["overall"]
    assert again["wql_mean"] == pytest.approx(printed["wql_mean"], rel=1e-6)
    assert again["mase"] == pytest.approx(printed["mase"], rel=1e-6)
    assert main(["backtest", str(data), "--n-windows", "3", "--out", str(out)]) == 2
    assert "--prediction-length" in _error_line(capsys.readouterr().err)


def test_fit_distill_and_predict_with_the_student(trained, tmp_path, capsys):
    paths, _, _ = trained
    plain_out = tmp_path / "plain.csv"
    assert main(["--quiet", "predict", str(paths["model"]), "--sampler", "distilled", "--out", str(plain_out)]) != 0
    assert "distill" in _error_line(capsys.readouterr().err)
    model = tmp_path / "student"
    code = main(["--quiet", "fit", str(paths["train"]), "--prediction-length", str(H), "--freq", "h", "--seed", "0",
                 *TINY, "--max-steps", "4", "--distill", "--distill-max-steps", "3", "--student-steps", "1,2",
                 "--student-tail-length", "0", "--out", str(model)])
    assert code == 0, capsys.readouterr().err
    from tsdiff import TSDiff

    student = TSDiff.load(model, device="cpu").student_
    assert student.steps == (1, 2) and student.train_result.steps == 3
    assert student.module.tail_cut == TSDiff.load(model, device="cpu").config_.tail_length > 0  # the whole tail cut
    fc_path = tmp_path / "fc.csv"
    assert main(["--quiet", "predict", str(model), "--sampler", "distilled", "--steps", "2", "--n-samples", "8",
                 "--out", str(fc_path)]) == 0
    assert len(pd.read_csv(fc_path)) == 3 * H
    assert main(["--quiet", "predict", str(model), "--sampler", "distilled", "--steps", "4",
                 "--out", str(fc_path)]) != 0
    err = _error_line(capsys.readouterr().err)
    assert "steps" in err and "[1, 2]" in err
