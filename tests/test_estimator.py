"""TSDiff end to end on small frames: formats, NaNs, long horizons, new histories, save/load, seeds."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_long_frame
from sklearn.base import clone

from tsdiff import DataError, Forecast, ModelFileError, NotFittedError, TSDiff


@pytest.fixture(scope="module")
def fitted():
    df = make_long_frame(n_series=3, length=150)
    from conftest import TINY

    return TSDiff(prediction_length=6, context_length=48, **TINY).fit(df), df


def test_sklearn_conventions(tiny_params):
    m = TSDiff(prediction_length=6, **tiny_params)
    assert m.get_params()["prediction_length"] == 6
    c = clone(m)
    assert c.get_params() == m.get_params() and not hasattr(c, "model_")
    with pytest.raises(NotFittedError, match="fit"):
        m.predict()


def test_fit_returns_self_and_predict_shapes(fitted):
    m, df = fitted
    assert isinstance(m.model_, object) and m.freq_ == "h"
    fc = m.predict(n_samples=7)
    assert isinstance(fc, Forecast)
    assert fc.samples.shape == (3, 7, 6) and np.isfinite(fc.samples).all()
    assert fc.item_ids == ["s0", "s1", "s2"]
    last = df.groupby("item_id")["timestamp"].max()
    for i, ts in zip(fc.item_ids, fc.timestamps):
        assert ts[0] == last[i] + pd.Timedelta(hours=1) and len(ts) == 6
    out = fc.to_dataframe()
    assert list(out.columns[:3]) == ["item_id", "timestamp", "mean"] and "0.1" in out and "0.9" in out
    assert len(out) == 18


def test_same_seed_same_samples_and_other_seed_differs(fitted):
    m, _ = fitted
    a = m.predict(n_samples=5, seed=3).samples
    b = m.predict(n_samples=5, seed=3).samples
    c = m.predict(n_samples=5, seed=4).samples
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_training_reproducible_from_seed(long_df, tiny_params):
    a = TSDiff(prediction_length=6, context_length=48, **tiny_params).fit(long_df).predict(n_samples=3)
    b = TSDiff(prediction_length=6, context_length=48, **tiny_params).fit(long_df).predict(n_samples=3)
    assert np.array_equal(a.samples, b.samples)


def test_wide_frame(tiny_params):
    long = make_long_frame(n_series=2, length=100)
    wide = long.pivot(index="timestamp", columns="item_id", values="target")
    fc = TSDiff(prediction_length=4, context_length=48, **tiny_params).fit(wide).predict(n_samples=3)
    assert fc.samples.shape == (2, 3, 4) and fc.item_ids == ["s0", "s1"]


def test_nixtla_columns_and_nans_in_history(tiny_params):
    df = make_long_frame(n_series=2, length=100).rename(columns={"item_id": "unique_id", "timestamp": "ds",
                                                               "target": "y"})
    df.loc[df.index[90:95], "y"] = np.nan  # NaN inside the last context window
    df.loc[df.index[10:30], "y"] = np.nan
    m = TSDiff(prediction_length=4, context_length=48, **tiny_params).fit(df)
    fc = m.predict(n_samples=3)
    assert np.isfinite(fc.samples).all()
    assert list(fc.to_dataframe().columns[:2]) == ["unique_id", "ds"]


def test_horizon_longer_than_prediction_length(fitted):
    m, _ = fitted
    fc = m.predict(horizon=12, n_samples=4)
    assert fc.samples.shape == (3, 4, 12) and np.isfinite(fc.samples).all()
    fc13 = m.predict(horizon=13, n_samples=4)
    assert fc13.samples.shape == (3, 4, 13)
    # The first block does not depend on the horizon.
    np.testing.assert_array_equal(fc.samples[:, :, :6], m.predict(horizon=6, n_samples=4).samples)
    # Blocks continue each path: timestamps are contiguous.
    assert (np.diff(fc.timestamps[0]) == np.timedelta64(1, "h")).all()


def test_predict_from_new_history(fitted):
    m, df = fitted
    new = make_long_frame(n_series=2, length=80, seed=5, start="2022-03-01")
    new["item_id"] = new["item_id"].map({"s0": "new_a", "s1": "new_b"})
    fc = m.predict(df=new, n_samples=3)
    assert fc.item_ids == ["new_a", "new_b"]
    assert fc.timestamps[0][0] == pd.Timestamp("2022-03-01") + pd.Timedelta(hours=80)
    # The forecast follows the new history's level (s1 level 20 vs fitted s0 level 10).
    assert fc.samples.shape == (2, 3, 6)


def test_predict_df_with_other_frequency_is_an_error(fitted):
    m, _ = fitted
    daily = make_long_frame(n_series=1, length=40, freq="D")
    with pytest.raises(ValueError, match="frequency"):
        m.predict(df=daily)


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", True])
def test_bad_horizon_and_n_samples(fitted, bad):
    m, _ = fitted
    with pytest.raises(ValueError, match="horizon"):
        m.predict(horizon=bad)
    with pytest.raises(ValueError, match="n_samples"):
        m.predict(n_samples=bad)


def test_save_load_round_trip_identical_samples(fitted, tmp_path):
    m, _ = fitted
    path = m.save(tmp_path / "model")
    assert path.name == "model.pt" and (tmp_path / "model" / "config.json").exists()
    loaded = TSDiff.load(tmp_path / "model", device="cpu")
    assert loaded.get_params()["prediction_length"] == 6 and loaded.config_ == m.config_
    np.testing.assert_array_equal(loaded.predict(n_samples=5, seed=1).samples, m.predict(n_samples=5, seed=1).samples)
    np.testing.assert_array_equal(loaded.predict(horizon=9, n_samples=2).samples,
                                  m.predict(horizon=9, n_samples=2).samples)


@pytest.mark.parametrize("patch_size,H", [(4, 5), (3, 7)])
def test_patched_model_fits_predicts_long_horizons_and_round_trips(patch_size, H, tiny_params, tmp_path):
    df = make_long_frame(n_series=2, length=90)
    m = TSDiff(prediction_length=H, context_length=24, patch_size=patch_size, **tiny_params).fit(df)
    assert m.config_.patch_size == patch_size and m.model_.denoiser.unet.patch_size == patch_size
    fc = m.predict(horizon=2 * H + 1, n_samples=3, seed=2)
    assert fc.samples.shape == (2, 3, 2 * H + 1) and np.isfinite(fc.samples).all()
    m.save(tmp_path / "p")
    loaded = TSDiff.load(tmp_path / "p", device="cpu")
    np.testing.assert_array_equal(loaded.predict(horizon=2 * H + 1, n_samples=3, seed=2).samples, fc.samples)


def test_load_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(ModelFileError, match="no tsdiff model"):
        TSDiff.load(tmp_path / "nothing")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.pt").write_bytes(b"not a model at all")
    with pytest.raises(ModelFileError, match="not a readable tsdiff model"):
        TSDiff.load(bad)


def test_samplers_selectable_at_predict_time(fitted):
    m, _ = fitted
    ddpm = m.predict(n_samples=3, sampler="ddpm")
    ddim = m.predict(n_samples=3, sampler="ddim", steps=5, eta=0.5)
    assert ddpm.samples.shape == ddim.samples.shape
    assert "DDPM" in ddpm.info["sampler"] and "DDIM" in ddim.info["sampler"]
    with pytest.raises(ValueError, match=r"sampler must be one of \['auto', 'dpmsolver'.*got 'euler'"):
        m.predict(sampler="euler")


def test_teacher_sampler_name_names_the_many_step_sampler():
    from tsdiff.estimator import teacher_sampler_name

    assert [teacher_sampler_name(s) for s in ("auto", "distilled", "dpmsolver", "ddim", "ddpm")] == [
        "dpmsolver", "dpmsolver", "dpmsolver", "ddim", "ddpm"]


def test_an_unknown_default_sampler_fails_before_training(tiny_params):
    m = TSDiff(prediction_length=4, context_length=24, sampler="euler", **tiny_params)
    with pytest.raises(ValueError, match=r"sampler must be one of .*'distilled'\], got 'euler'"):
        m.fit(make_long_frame(n_series=2, length=60))
    assert not hasattr(m, "model_")


def test_chunk_size_bounds_memory_without_changing_shapes(fitted):
    m, _ = fitted
    fc = m.predict(n_samples=20, chunk_size=7)
    assert fc.samples.shape == (3, 20, 6)


def test_constant_and_zero_series_forecast_finite(tiny_params):
    idx = pd.date_range("2021-01-01", periods=60, freq="h")
    df = pd.DataFrame({"zero": np.zeros(60), "const": np.full(60, 7.0), "big": np.linspace(1e9, 2e9, 60)}, index=idx)
    fc = TSDiff(prediction_length=4, context_length=24, **tiny_params).fit(df).predict(n_samples=3)
    assert np.isfinite(fc.samples).all()


def test_reverse_trajectory_goes_from_noise_to_the_forecast(fitted):
    m, _ = fitted
    traj, steps, ts = m.reverse_trajectory("s1", n_samples=4, sampler="ddim", steps=10, n_frames=4, seed=2)
    assert traj.shape == (4, 4, 6) and steps[0] == m.config_.diffusion_steps - 1 and steps[-1] == -1 and len(ts) == 6
    assert np.isfinite(traj).all()
    # Frame 0 is x_T ~ N(0, 1) mapped to the series' units: centred on its level with its spread.
    hist = m.series_[1].target
    assert abs(traj[0].mean() - hist.mean()) < 3 * hist.std()
    assert 0.2 * hist.std() < traj[0].std() < 5 * hist.std()


def test_bf16_autocast_and_precision_validation(fitted):
    m, _ = fitted
    fp32 = m.predict(n_samples=4, seed=0).samples
    np.testing.assert_array_equal(m.set_params(precision="fp32").predict(n_samples=4, seed=0).samples, fp32)
    m.set_params(precision="bf16")  # the default ("auto") keeps the teacher in float32: checked above
    try:
        bf16 = m.predict(n_samples=4, seed=0).samples
    finally:
        m.set_params(precision="auto")
    assert bf16.dtype == np.float32 and np.isfinite(bf16).all()
    assert not np.array_equal(bf16, fp32)  # autocast really ran in bfloat16 ...
    assert np.abs(bf16 - fp32).mean() < 0.5 * np.abs(fp32).mean()  # ... and stays close
    for bad, match in (("fp8", "precision"), ("fp16", "CUDA")):
        m.set_params(precision=bad)
        try:
            with pytest.raises(ValueError, match=match):
                m.predict(n_samples=2)
        finally:
            m.set_params(precision="auto")


def test_precision_auto_runs_only_the_student_in_bf16_and_only_on_a_native_bf16_cpu(distilled, monkeypatch):
    import tsdiff.prediction as prediction

    m, _ = distilled
    assert m.get_params()["precision"] == "auto"

    def draw(precision: str, **kw) -> np.ndarray:
        m.set_params(precision=precision)
        try:
            return m.predict(n_samples=4, seed=0, **kw).samples
        finally:
            m.set_params(precision="auto")

    student_fp32, student_bf16 = draw("fp32"), draw("bf16")
    teacher_fp32 = draw("fp32", sampler="dpmsolver")
    assert not np.array_equal(student_fp32, student_bf16)
    monkeypatch.setattr(prediction, "native_bf16_cpu", lambda: True)
    np.testing.assert_array_equal(draw("auto"), student_bf16)
    np.testing.assert_array_equal(draw("auto", sampler="dpmsolver"), teacher_fp32)  # the teacher stays float32
    monkeypatch.setattr(prediction, "native_bf16_cpu", lambda: False)
    np.testing.assert_array_equal(draw("auto"), student_fp32)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(prediction, "native_bf16_cpu", lambda: True)
    assert [prediction.precision_dtype("auto", d, student=s) for d, s in ((cpu, True), (cpu, False), (cuda, True))] \
        == [torch.bfloat16, None, None]
    with pytest.raises(ValueError, match=r"precision must be one of \['bf16', 'fp16', 'fp32', 'auto'\]"):
        prediction.precision_dtype("fp8", cpu)


def test_shard_predict_splits_series(fitted):
    m, _ = fitted
    parts = [m.predict(n_samples=2, shard=(r, 2)) for r in range(2)]
    assert [i for p in parts for i in p.item_ids] == ["s0", "s1", "s2"]
    empty = m.predict(n_samples=2, shard=(3, 4))
    assert empty.samples.shape == (0, 2, 6) and empty.to_dataframe().empty
    with pytest.raises(ValueError, match="shard"):
        m.predict(shard=(2, 2))


def test_device_selection_logic_on_cpu(monkeypatch):
    import torch

    from tsdiff.estimator import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="not a torch device"):
        resolve_device("tpu:7")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto").type == "cuda"  # no kernel runs: selection logic only


def test_default_chunk_depends_on_device(fitted, monkeypatch):
    import tsdiff.model as model_mod

    m, _ = fitted
    seen = []
    real = model_mod.TSDiffModel.sample
    monkeypatch.setattr(model_mod.TSDiffModel, "sample",
                        lambda self, *a, **k: seen.append(k["chunk_size"]) or real(self, *a, **k))
    m.predict(n_samples=2)
    cfg = m.config_
    positions = -(-cfg.window_length // cfg.patch_size)
    assert seen == [min(4096, max(64, 2**20 // (positions * cfg.hidden_channels)))]


def test_default_chunk_size_keeps_activations_cache_sized():
    from tsdiff.config import TSDiffConfig
    from tsdiff.prediction import default_chunk_size

    def cfg(**kw):
        args = dict(prediction_length=48, context_length=312, freq="h", tail_length=48, hidden_channels=32)
        args.update(kw)
        return TSDiffConfig(**args)

    assert default_chunk_size(cfg(), "cuda") == 65536
    assert default_chunk_size(cfg(), "cpu") == 2**20 // (96 * 32)             # 341 rows
    assert default_chunk_size(cfg(patch_size=4), "cpu") == 2**20 // (24 * 32)  # 1365 rows
    assert default_chunk_size(cfg(prediction_length=1, tail_length=1, patch_size=8), "cpu") == 4096
    assert default_chunk_size(cfg(prediction_length=2000, context_length=4000, tail_length=2000,
                                  hidden_channels=256), "cpu") == 64


@pytest.mark.parametrize("patch_size,H,expected_tail", [(1, 5, 16), (4, 5, 16), (4, 18, 20), (8, 13, 16), (3, 16, 18)])
def test_default_tail_is_a_whole_number_of_patches(patch_size, H, expected_tail):
    cfg = TSDiff(prediction_length=H, context_length=64, freq="h", patch_size=patch_size)._make_config("h", 0, 0, (), 0)
    assert cfg.patch_size == patch_size
    assert cfg.tail_length == expected_tail and cfg.tail_length % patch_size == 0


def test_patch_size_is_validated():
    with pytest.raises(ValueError, match="patch_size"):
        TSDiff(prediction_length=4, patch_size=0)._make_config("h", 0, 0, (), 0)


@pytest.mark.parametrize("freq", ["ME", "MS", "QE-DEC", "W-SUN", "B", "15min"])
def test_anchored_and_sub_hourly_frequencies(freq, tiny_params):
    df = make_long_frame(n_series=2, length=40, freq=freq, start="2020-01-31" if "E" in freq else "2020-01-06")
    fc = TSDiff(prediction_length=3, context_length=12, **tiny_params).fit(df).predict(n_samples=2)
    assert fc.samples.shape == (2, 2, 3) and np.isfinite(fc.samples).all()
    expected = pd.date_range(df["timestamp"].max(), periods=4, freq=freq)[1:]
    assert list(fc.timestamps[0]) == list(expected)


def test_samples_do_not_depend_on_cpu_threads(tiny_params):
    """On a CPU predict runs chunks in one worker thread per torch thread: 1 or 2 threads, same samples."""
    df = make_long_frame(n_series=5, length=80)
    m = TSDiff(prediction_length=4, context_length=16, chunk_size=6, **tiny_params).fit(df)
    one = m.predict(horizon=9, n_samples=4, seed=3).samples
    m.set_params(num_threads=2)
    two = m.predict(horizon=9, n_samples=4, seed=3).samples
    np.testing.assert_array_equal(one, two)


# -- calibration layer and held-out windows ---------------------------------------------

def test_calibrated_and_raw_ensembles(fitted, tmp_path, monkeypatch):
    m, _ = fitted
    assert m.calibrator_ is not None and m.calibrator_.horizon == 6
    with monkeypatch.context() as patch:
        patch.setattr(m, "nonnegative_", None)  # no clipping: compare the calibration alone
        cal = m.predict(n_samples=16, seed=1)
        raw = m.predict(n_samples=16, seed=1, calibrated=False)
    assert cal.info["calibrated"] and not raw.info["calibrated"]
    np.testing.assert_allclose(cal.samples, m.calibrator_.apply(raw.samples), rtol=1e-6)
    cal = m.predict(n_samples=16, seed=1)
    # The calibration widens or narrows around the median; each path keeps its rank (ties allowed).
    order = np.argsort(raw.samples, axis=1, kind="stable")
    assert (np.diff(np.take_along_axis(cal.samples, order, axis=1), axis=1) >= 0).all()
    m.save(tmp_path / "m")
    back = TSDiff.load(tmp_path / "m")
    np.testing.assert_array_equal(back.calibrator_.factors, m.calibrator_.factors)
    np.testing.assert_array_equal(back.predict(n_samples=16, seed=1).samples, cal.samples)
    with pytest.raises(ValueError, match="calibrated"):
        m.predict(calibrated="yes")


def test_uncalibrated_model_says_so(long_df, tiny_params):
    m = TSDiff(prediction_length=6, context_length=48, calibrate=False, **tiny_params).fit(long_df)
    assert m.calibrator_ is None and not m.predict(n_samples=3).info["calibrated"]
    with pytest.raises(ValueError, match="no calibration"):
        m.predict(n_samples=3, calibrated=True)


def test_held_out_windows_never_reach_gradient_steps(tiny_params):
    """Poisoning the last calibration_windows * H points changes the calibration, not the weights."""
    df = make_long_frame(n_series=3, length=150)
    poisoned = df.copy()
    last = poisoned.groupby("item_id").cumcount(ascending=False) < 3 * 6
    poisoned.loc[last, "target"] = 1e4
    kw = dict(tiny_params, validation=False, calibration_windows=3)
    a = TSDiff(prediction_length=6, context_length=48, **kw).fit(df)
    b = TSDiff(prediction_length=6, context_length=48, **kw).fit(poisoned)
    for (k, va), vb in zip(a.model_.state_dict().items(), b.model_.state_dict().values()):
        assert torch.equal(va, vb), k
    assert not np.allclose(a.calibrator_.factors, b.calibrator_.factors)


def test_checkpoint_chosen_by_forecast_skill(long_df, tiny_params):
    m = TSDiff(prediction_length=6, context_length=48, **tiny_params).fit(long_df)
    hist = m.train_result_.history
    assert hist and all("val_loss" in h for h in hist)
    best = min(hist, key=lambda h: h["val_loss"])
    assert m.train_result_.best_step == int(best["step"])
    # The score is a weighted quantile loss of sampled forecasts (finite, positive), not a denoising loss.
    assert 0 < m.train_result_.best_val_loss < np.inf


# -- robust inputs (issue 16 items 2 and 7) ------------------------------------------------------------
_V1 = Path(__file__).resolve().parent / "data" / "model_v1"


def test_version_1_model_file_loads_and_predicts_exactly_as_before():
    """tests/data/model_v1 was saved by tsdiff at format version 1 (tests/data/model_v1/make.py):
    it loads with the version-1 inputs, sampler and schedule, uncalibrated, and predicts as recorded.

    ``expected.npz`` holds version 0.2's own samples: they were reproduced bit for bit until the noise
    layout changed so that ``predict_iter`` equals ``predict`` (noise seeded per group of series,
    docs/user_guide.md "Reproducibility"). ``expected_v03.npz`` holds the same calls under that layout;
    since the conditioning channels' share of the first convolution is computed once per series (issue
    12), they are reproduced to float rounding (relative 1e-6), no longer bit for bit.
    """
    from conftest import make_long_frame as frame

    expected = np.load(_V1 / "expected_v03.npz")
    assert np.load(_V1 / "expected.npz")["predict"].shape == expected["predict"].shape
    m = TSDiff.load(_V1, device="cpu")
    cfg = m.config_
    assert (cfg.scale_floor, cfg.min_context_observed, cfg.level_input, cfg.horizon_mask) == (0.0, 0, False, False)
    assert m.nonnegative is False and m.nonnegative_ is None and m.scale_floors_ is None
    assert m.static_real_mean_ is None  # static reals enter as they did, unstandardized
    np.testing.assert_allclose(m.predict(n_samples=3, seed=1).samples, expected["predict"], rtol=1e-5,
                               atol=1e-5 * np.abs(expected["predict"]).max())
    new = frame(2, 50, seed=9)
    new["target"] -= 25.0
    static = pd.DataFrame({"item_id": ["s0", "s1"], "size": [10.0, 200.0], "kind": ["a", "b"]})
    np.testing.assert_allclose(m.predict(df=new, static_df=static, n_samples=3, seed=2, horizon=6).samples,
                               expected["predict_df"], rtol=1e-5, atol=1e-5 * np.abs(expected["predict_df"]).max())


def test_no_series_longer_than_the_horizon_is_an_error_naming_the_lengths(tiny_params):
    df = make_long_frame(n_series=2, length=6)
    with pytest.raises(DataError, match=r"prediction_length=6 observed points.*'s0': 6, 's1': 6"):
        TSDiff(prediction_length=6, context_length=24, **tiny_params).fit(df)
    df.loc[df.index[8:11], "target"] = np.nan  # observed points, not rows, count
    df2 = pd.concat([df, make_long_frame(n_series=1, length=9, seed=1).assign(item_id="s2")], ignore_index=True)
    df2.loc[df2.index[-3:], "target"] = np.nan
    with pytest.raises(DataError, match="'s1': 3, 's2': 6"):
        TSDiff(prediction_length=6, context_length=24, **tiny_params).fit(df2)


def test_many_short_series_log_one_warning_with_the_count(tiny_params, caplog):
    df = pd.concat([make_long_frame(n_series=3, length=20),
                    make_long_frame(n_series=1, length=100).assign(item_id="long")])
    with caplog.at_level("WARNING", logger="tsdiff"):
        TSDiff(prediction_length=4, context_length=48, **tiny_params).fit(df)
    msgs = [r.getMessage() for r in caplog.records if "shorter than context_length" in r.getMessage()]
    assert msgs == ["3 of 4 series are shorter than context_length=48: their training windows are partly left "
                    "padding (consider a smaller context_length)"]
    caplog.clear()
    with caplog.at_level("WARNING", logger="tsdiff"):
        TSDiff(prediction_length=4, context_length=16, **tiny_params).fit(df)
    assert "shorter than context_length" not in caplog.text


def _nonneg_frame():
    rng = np.random.default_rng(0)
    parts = []
    for i, shift in enumerate([0.0, 0.0, -1.0]):  # s2 has negative values
        y = np.maximum(rng.normal(0.3, 1.0, 120), 0.0) + shift
        parts.append(pd.DataFrame({"item_id": f"s{i}", "timestamp": pd.date_range("2021-01-01", periods=120,
                                                                                  freq="h"), "target": y}))
    return pd.concat(parts, ignore_index=True)


def test_nonnegative_series_get_nonnegative_samples_by_default(tiny_params, tmp_path):
    df = _nonneg_frame()
    kw = dict(prediction_length=4, context_length=24, **tiny_params)
    auto = TSDiff(**kw).fit(df)
    raw = TSDiff(nonnegative=False, **kw).fit(df)  # same training (clipping is a predict-time step)
    assert auto.nonnegative_.tolist() == [True, True, False] and raw.nonnegative_ is None
    a = auto.predict(horizon=10, n_samples=20).samples
    r = raw.predict(horizon=10, n_samples=20).samples
    assert (r[:2, :, :4] < 0).any()  # the test can fail: unclipped samples do go negative
    np.testing.assert_array_equal(a[:, :, :4], np.concatenate([np.maximum(r[:2, :, :4], 0), r[2:, :, :4]]))
    assert (a[:2] >= 0).all() and (a[2] < 0).any()
    # New histories are judged by their own values.
    new = df.copy()
    new.loc[new["item_id"] == "s0", "target"] -= 5.0
    new.loc[new["item_id"] == "s2", "target"] = np.abs(new.loc[new["item_id"] == "s2", "target"])
    fc = auto.predict(df=new, n_samples=20).samples
    assert (fc[0] < 0).any() and (fc[1:] >= 0).all()
    # The flags are part of the model file.
    auto.save(tmp_path / "m")
    again = TSDiff.load(tmp_path / "m", device="cpu")
    assert again.nonnegative_.tolist() == [True, True, False]
    np.testing.assert_array_equal(again.predict(horizon=10, n_samples=20).samples, a)
    everything = TSDiff(nonnegative=True, **kw).fit(df)
    assert (everything.predict(n_samples=20).samples >= 0).all()
    with pytest.raises(ValueError, match="nonnegative"):
        TSDiff(nonnegative="yes", **kw).fit(df)


def test_static_reals_are_standardized_with_training_statistics(tiny_params, tmp_path):
    df = make_long_frame(n_series=3, length=80)
    static = pd.DataFrame({"item_id": ["s0", "s1", "s2"], "size": [10.0, 200.0, 3000.0], "flat": [5.0] * 3})
    m = TSDiff(prediction_length=4, context_length=24, **tiny_params).fit(df, static_df=static)
    np.testing.assert_allclose(m.static_real_mean_, [1070.0, 5.0], rtol=1e-6)
    arrays = m._arrays(m.series_, static_real=m.static_reals_)
    reals = np.stack([a.static_real for a in arrays])
    np.testing.assert_allclose(reals.mean(axis=0), [0, 0], atol=1e-6)
    np.testing.assert_allclose(reals.std(axis=0), [1, 0], atol=1e-6)  # a constant column stays finite (0)
    m.save(tmp_path / "m")
    again = TSDiff.load(tmp_path / "m", device="cpu")
    np.testing.assert_array_equal(again.static_real_std_, m.static_real_std_)
    np.testing.assert_array_equal(again.predict(n_samples=2).samples, m.predict(n_samples=2).samples)


@pytest.mark.parametrize("n_samples, horizon, chunk_size", [(4, 9, 6), (2, 4, 5), (10, 9, 6), (3, 5, 12)])
def test_predict_iter_chunks_concatenate_to_predict(tiny_params, n_samples, horizon, chunk_size):
    """Seeds follow each seed group's place in the whole set: any batching gives predict's samples."""
    df = make_long_frame(n_series=7, length=80)
    m = TSDiff(prediction_length=4, context_length=16, **tiny_params).fit(df)
    full = m.predict(horizon=horizon, n_samples=n_samples, seed=3, chunk_size=chunk_size, steps=4)
    for per_batch in (1, 3, 7):
        chunks = list(m.predict_iter(series_per_batch=per_batch, horizon=horizon, n_samples=n_samples, seed=3,
                                     chunk_size=chunk_size, steps=4))
        assert len(chunks) > 1 or per_batch == 7
        np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks]), full.samples)
        assert [i for c in chunks for i in c.item_ids] == full.item_ids
        pd.testing.assert_frame_equal(pd.concat([c.to_dataframe() for c in chunks], ignore_index=True),
                                      full.to_dataframe())
    other = list(m.predict_iter(df=df[df["item_id"] == "s2"], horizon=horizon, n_samples=n_samples, steps=4))
    assert other[0].samples.shape == (1, n_samples, horizon)


# --------------------------------------------------------------------------- cross_validation
def test_cross_validation_never_sees_the_future(fitted):
    """Huge values after each cut-off change no sample; they equal predict on the truncated frame."""
    m, df = fitted
    end = df["item_id"].map(df.groupby("item_id")["timestamp"].max())
    _, clean = m.cross_validation(df, n_windows=3, n_samples=4, seed=7, return_samples="array")
    for k in range(3):
        cut = end - pd.Timedelta(hours=6 * (3 - k))  # cut-off of window k
        poisoned = df.assign(target=np.where(df["timestamp"] > cut, 1e9, df["target"]))
        _, dirty = m.cross_validation(poisoned, n_windows=3, n_samples=4, seed=7, return_samples="array")
        assert np.array_equal(dirty[:, k], clean[:, k])
    # one window: identical to predict(df=the frame truncated at its cut-off), same seed
    cut = end - pd.Timedelta(hours=6)
    poisoned = df.assign(target=np.where(df["timestamp"] > cut, 1e9, df["target"]))
    cv, one = m.cross_validation(poisoned, n_windows=1, n_samples=4, seed=7, return_samples="array")
    ref = m.predict(df=df[df["timestamp"] <= cut], n_samples=4, seed=7)
    assert np.array_equal(one[:, 0], ref.samples)
    assert (cv["actual"] == 1e9).all()  # the actuals are the (poisoned) values after the cut-off


def test_cross_validation_frame_actuals_cutoffs_and_one_predict_call(fitted, monkeypatch):
    m, df = fitted
    calls = []
    original = TSDiff._predict

    def spy(self, *a, **k):
        calls.append(k)
        return original(self, *a, **k)

    monkeypatch.setattr(TSDiff, "_predict", spy)
    cv, fcs = m.cross_validation(df, n_windows=4, step_size=3, n_samples=5, seed=1, return_samples="forecasts",
                                 sampler="ddim", eta=0.5)
    assert len(calls) == 1 and calls[0]["eta"] == 0.5  # all windows in one call; predict kwargs pass through
    assert list(cv.columns[:5]) == ["item_id", "timestamp", "cutoff", "actual", "mean"]
    assert len(cv) == 3 * 4 * 6 and len(fcs) == 4 and fcs[0].samples.shape == (3, 5, 6)
    merged = cv.merge(df, on=["item_id", "timestamp"], how="left")
    np.testing.assert_allclose(merged["actual"], merged["target"].astype(np.float32), rtol=0)
    for _, rows in cv.groupby("item_id"):
        cut = np.sort(rows["cutoff"].unique())
        assert (np.diff(cut) == np.timedelta64(3, "h")).all()
        assert rows["timestamp"].max() == df["timestamp"].max()
        first = rows.groupby("cutoff")["timestamp"].min()
        assert ((first - first.index) == pd.Timedelta(hours=1)).all()
    from tsdiff.metrics import sample_quantile
    np.testing.assert_allclose(cv["0.9"].to_numpy().reshape(3, 4, 6)[:, 1],
                               sample_quantile(fcs[1].samples, 0.9), rtol=1e-6)


def test_cross_validation_refit_and_errors(fitted):
    m, df = fitted
    cv = m.cross_validation(df, n_windows=2, n_samples=3, refit=True)
    assert len(cv) == 3 * 2 * 6 and np.isfinite(cv["mean"]).all()
    with pytest.raises(ValueError, match="n_windows"):
        m.cross_validation(df, n_windows=0)
    with pytest.raises(ValueError, match="need at least"):
        m.cross_validation(df, n_windows=40)
    with pytest.raises(ValueError, match="horizon"):
        m.cross_validation(df, n_windows=2, future_df=df)
    with pytest.raises(NotFittedError):
        TSDiff(prediction_length=6).cross_validation(df, n_windows=2)


def test_cross_validation_covariates_never_leak(tiny_params):
    """Past covariates stop at the cut-off; known covariates are read for the window's horizon only."""
    df = make_long_frame(n_series=2, length=150)
    df["hour"] = df["timestamp"].dt.hour.astype(float)
    df["lagged"] = np.random.default_rng(0).normal(size=len(df))
    m = TSDiff(prediction_length=6, context_length=48, **tiny_params).fit(
        df, known_covariates=["hour"], past_covariates=["lagged"])
    _, clean = m.cross_validation(df, 3, n_samples=4, return_samples="array")
    cut = df["item_id"].map(df.groupby("item_id")["timestamp"].max()) - pd.Timedelta(hours=18)  # window 0
    after, beyond = df["timestamp"] > cut, df["timestamp"] > cut + pd.Timedelta(hours=6)
    poisoned = df.assign(target=np.where(after, 1e9, df["target"]), lagged=np.where(after, 1e9, df["lagged"]),
                         hour=np.where(beyond, 1e9, df["hour"]))
    _, dirty = m.cross_validation(poisoned, 3, n_samples=4, return_samples="array")
    assert np.array_equal(dirty[:, 0], clean[:, 0]) and not np.array_equal(dirty[:, 2], clean[:, 2])


def test_held_out_blocks_default_rule():
    from tsdiff.estimator import _held_out_blocks

    # A small panel holds out more windows per series; a large one 4; a third of a series at most.
    K, n = _held_out_blocks(None, np.array([5000] * 14), 24)
    assert K == 14 and n.tolist() == [14] * 14
    K, n = _held_out_blocks(None, np.array([800] * 414), 48)
    assert K == 1 and n.tolist() == [1] * 414
    K, n = _held_out_blocks(None, np.array([800] * 100), 48)
    assert K == 3 and n.tolist() == [3] * 100
    K, n = _held_out_blocks(None, np.array([300, 100, 30, 10]), 24)
    assert K == 14 and n.tolist() == [4, 1, 0, 0]   # 300 // 72, 100 // 72, then too short
    K, n = _held_out_blocks(3, np.array([300, 50, 10]), 24)
    assert K == 3 and n.tolist() == [3, 1, 0]       # an explicit count: only one block of history is kept
    assert _held_out_blocks(0, np.array([300]), 24)[1].tolist() == [0]
    with pytest.raises(ValueError, match="calibration_windows"):
        _held_out_blocks(-2, np.array([300]), 24)


# -- the distilled student (issue 12) ------------------------------------------------------------------
_V2 = Path(__file__).resolve().parent / "data" / "model_v2"


@pytest.fixture(scope="module")
def distilled():
    from conftest import TINY

    df = make_long_frame(n_series=3, length=150)
    m = TSDiff(prediction_length=6, context_length=48, distill=True, distill_max_steps=6, calibration_samples=16,
               **TINY).fit(df)
    return m, df


def test_distilled_student_predicts_in_few_calls_and_round_trips(distilled, tmp_path):
    m, df = distilled
    student = m.student_
    assert student is not None and student.steps == (1, 2, 4) and student.train_result.steps == 6
    assert sorted(student.calibrators) == [1, 2, 4]  # its own calibration, one per step count
    calls = []
    real = m.model_.sample

    def counting(*args, **kwargs):
        calls.append(args[2].timesteps())
        return real(*args, **kwargs)

    m.model_.sample = counting
    try:
        fc = m.predict(n_samples=8, sampler="distilled", steps=2)
    finally:
        del m.model_.sample
    assert calls and all(len(ts) == 2 for ts in calls)
    assert fc.samples.shape == (3, 8, 6) and np.isfinite(fc.samples).all()
    assert fc.info["sampler"] == "DistilledSampler(num_steps=2)"
    teacher = m.predict(n_samples=8, sampler="dpmsolver")
    assert not np.allclose(fc.samples, teacher.samples)
    # The default sampler ("auto") of a model with a student is the student at 2 calls.
    default = m.predict(n_samples=8)
    assert default.info["sampler"] == "DistilledSampler(num_steps=2)"
    np.testing.assert_array_equal(default.samples, fc.samples)
    # Calibrated by default with the student's own factors; calibrated=False is its raw ensemble.
    raw = m.predict(n_samples=8, sampler="distilled", steps=2, calibrated=False).samples
    np.testing.assert_allclose(np.maximum(student.calibrators[2].apply(raw), 0), fc.samples, rtol=1e-5, atol=1e-6)
    m.save(tmp_path / "s")
    loaded = TSDiff.load(tmp_path / "s", device="cpu")
    assert loaded.student_.steps == (1, 2, 4) and loaded.student_.teacher_grid == student.teacher_grid
    assert loaded.student_.prediction == student.prediction == "v"
    saved_state, loaded_state = student.module.state_dict(), loaded.student_.module.state_dict()
    assert saved_state.keys() == loaded_state.keys()
    assert all(torch.equal(saved_state[k], loaded_state[k]) for k in saved_state)  # bit for bit
    assert all(np.array_equal(loaded.student_.calibrators[k].factors, student.calibrators[k].factors) for k in (1, 2, 4))
    for k in (1, 4):
        np.testing.assert_array_equal(loaded.predict(n_samples=5, sampler="distilled", steps=k, horizon=9).samples,
                                      m.predict(n_samples=5, sampler="distilled", steps=k, horizon=9).samples)
    # The teacher is untouched by distillation and by the round trip.
    np.testing.assert_array_equal(loaded.predict(n_samples=8, sampler="dpmsolver").samples, teacher.samples)
    # Distilled straight after fit (the teacher is the trainer's frozen average), every weight of the student
    # network trained, not only its target embedding.
    teacher_state = m.model_.denoiser.state_dict()
    assert all(not torch.equal(p, teacher_state[k]) for k, p in student.module.net.named_parameters())
    # The student lives in the checksummed file: a changed student weight is corruption.
    payload = torch.load(tmp_path / "s" / "model.pt", weights_only=True)
    payload["student"]["state_dict"]["target_mlp.2.bias"] += 1.0
    torch.save(payload, tmp_path / "s" / "model.pt")
    with pytest.raises(ModelFileError, match="checksum"):
        TSDiff.load(tmp_path / "s", device="cpu")


def test_distilled_sampler_errors_name_the_way_out(distilled, fitted):
    plain, _ = fitted
    with pytest.raises(ValueError, match=r"distill=True.*distill_student"):
        plain.predict(sampler="distilled")
    m, _ = distilled
    with pytest.raises(ValueError, match=r"trained for steps \[1, 2, 4\], got steps=3"):
        m.predict(sampler="distilled", steps=3)
    with pytest.raises(ValueError, match="do not apply to the distilled sampler.*sampler='dpmsolver' or 'ddim'"):
        m.predict(sampler="distilled", eta=0.5)
    with pytest.raises(ValueError, match="do not apply to the distilled sampler"):
        m.predict(eta=0.5)  # the default ("auto") is the student here


def test_distill_student_on_a_fitted_model_and_the_default_sampler(fitted, tmp_path):
    m, df = fitted
    m2 = TSDiff.load(m.save(tmp_path / "t"), device="cpu")
    assert m2.student_ is None
    m2.distill_student(df, max_steps=4, steps=[1])
    assert m2.student_.steps == (1,) and m2.student_.train_result.steps == 4
    # The teacher is kept; "auto" (the default) now picks the student, at its only step count (2 not trained).
    np.testing.assert_array_equal(m2.predict(n_samples=4, sampler="dpmsolver").samples, m.predict(n_samples=4).samples)
    assert m.get_params()["sampler"] == "auto" and m.predict(n_samples=4).info["sampler"].startswith("DPMSolver")
    np.testing.assert_array_equal(m2.predict(n_samples=4).samples,
                                  m2.predict(n_samples=4, sampler="distilled", steps=1).samples)
    m2.set_params(sampler="dpmsolver")
    np.testing.assert_array_equal(m2.predict(n_samples=4).samples, m.predict(n_samples=4).samples)


def test_distill_student_seed(fitted, tmp_path, monkeypatch):
    """``seed`` picks the student's windows and noises: the model's seed by default, reproducible, and checked
    before any training."""
    m, df = fitted
    path = m.save(tmp_path / "t")

    def student(**kwargs):
        m2 = TSDiff.load(path, device="cpu").distill_student(df, max_steps=3, steps=[1], **kwargs)
        return m2.predict(n_samples=4, seed=0, sampler="distilled", steps=1).samples

    default = student()
    np.testing.assert_array_equal(default, student(seed=m.config_.seed))
    # The seed is kept with the student, in the model file too: a student can be distilled again exactly.
    m7 = TSDiff.load(path, device="cpu").distill_student(df, max_steps=3, steps=[1], seed=7)
    assert m7.student_.seed == 7
    assert TSDiff.load(m7.save(tmp_path / "s7"), device="cpu").student_.seed == 7
    np.testing.assert_array_equal(student(seed=7), student(seed=np.int64(7)))
    assert not np.allclose(default, student(seed=7))
    monkeypatch.setattr(TSDiff, "_distill", lambda *a, **k: pytest.fail("trained with a bad seed"))
    for bad in (-1, 1.5, True, "0"):
        with pytest.raises(ValueError, match=r"seed must be a non-negative integer"):
            TSDiff.load(path, device="cpu").distill_student(df, max_steps=3, seed=bad)


def _student_contexts(m, df, monkeypatch, **fit_kwargs):
    """The context sampler ``distill_student`` hands to the distillation (not run)."""
    seen = {}
    monkeypatch.setattr(TSDiff, "_distill", lambda self, sampler, *a, **k: seen.setdefault("sampler", sampler))
    m.distill_student(df, max_steps=1)
    return seen["sampler"]


def test_student_contexts_reach_the_forecast_context(fitted, monkeypatch):
    """The student needs no future values: its contexts end anywhere up to each series' last point, half of
    them at it (the context predict forecasts from), with the time features of the horizon beyond it."""
    from tsdiff.distillation import LATEST_CONTEXT_SHARE
    from tsdiff.windows import ContextSampler

    m, df = fitted
    sampler = _student_contexts(m, df, monkeypatch)
    lengths = df.groupby("item_id", sort=False).size().to_numpy()
    assert isinstance(sampler, ContextSampler) and sampler.ends.tolist() == lengths.tolist()
    assert sampler.latest_share == LATEST_CONTEXT_SHARE == 0.5
    b = sampler.sample(np.random.default_rng(0), 300)
    last = {item: g["target"].to_numpy()[-48:] for item, g in df.groupby("item_id", sort=False)}
    latest = [any(np.allclose(row, v, atol=1e-5) for v in last.values()) for row in b["past_target"]]
    assert 0.4 < np.mean(latest) < 0.62  # about half the contexts are a series' latest
    # Beyond the last point the horizon's time features are real ones (not the zero padding).
    assert (np.abs(b["future_time_feat"]).sum(axis=(1, 2)) > 0).all()


def test_student_contexts_stop_a_horizon_early_with_known_covariates(tiny_params, monkeypatch):
    df = make_long_frame(n_series=2, length=150)
    df["hour"] = df["timestamp"].dt.hour.astype(float)
    m = TSDiff(prediction_length=6, context_length=48, **tiny_params).fit(df, known_covariates=["hour"])
    sampler = _student_contexts(m, df, monkeypatch)
    assert sampler.ends.tolist() == [150 - 6, 150 - 6]  # future known values exist only inside the frame


def test_a_short_tail_student_round_trips_and_a_bad_tail_fails_before_training(fitted, tmp_path):
    m, df = fitted
    m2 = TSDiff.load(m.save(tmp_path / "t"), device="cpu").set_params(student_tail_length=0)
    m2.distill_student(df, max_steps=3, steps=[2])
    cut = m2.config_.tail_length
    assert cut > 0 and m2.student_.module.tail_cut == cut
    loaded = TSDiff.load(m2.save(tmp_path / "s"), device="cpu")
    assert loaded.student_.module.tail_cut == cut and loaded.get_params()["student_tail_length"] == 0
    np.testing.assert_array_equal(loaded.predict(n_samples=4, seed=3).samples, m2.predict(n_samples=4, seed=3).samples)
    params = {**m.get_params(), "distill": True, "student_tail_length": 1}
    with pytest.raises(ValueError, match=r"student_tail_length must be one of \[0, 2, .*got 1"):
        TSDiff(**{**params, "max_steps": 10 ** 6}).fit(df)  # raised before the teacher trains


_V3 = Path(__file__).resolve().parent / "data" / "model_v3"


def _close(got: np.ndarray, want: np.ndarray) -> None:
    """Samples of a saved model file against the recorded ones, up to float rounding."""
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_version_3_model_file_loads_with_its_student():
    """tests/data/model_v3 was saved at format version 3 (tests/data/model_v3/make.py, commit 3f18e72): its
    student, which ran on the teacher's whole window, loads as one (no ``tail_cut``) and draws the recorded
    ensembles; so does its teacher."""
    expected = np.load(_V3 / "expected.npz")
    m = TSDiff.load(_V3, device="cpu")
    assert m.student_ is not None and m.student_.module.tail_cut == 0 and m.student_.steps == (1, 2, 4)

    _close(m.predict(n_samples=3, seed=1, calibrated=False).samples, expected["student_raw"])
    _close(m.predict(n_samples=3, seed=1).samples, expected["student"])
    _close(m.predict(n_samples=3, seed=1, steps=1, calibrated=False).samples, expected["student_1_raw"])
    _close(m.predict(n_samples=3, seed=1, sampler="dpmsolver", calibrated=False).samples, expected["teacher_raw"])


def test_version_2_model_file_loads_and_predicts_as_before():
    """tests/data/model_v2 was saved by tsdiff at format version 2 (tests/data/model_v2/make.py): it loads
    with its calibration and no student, and its raw ensembles are the recorded ones (up to float rounding:
    the first convolution's conditioning share is now computed once per series).

    The calibrated ensembles are the stored factors applied to those raw ensembles under the current rule
    (the order statistics' plotting positions changed after version 2, so ``expected["predict"]``, written
    under the old rule, is no longer the target).
    """
    from conftest import make_long_frame as frame

    expected = np.load(_V2 / "expected.npz")
    m = TSDiff.load(_V2, device="cpu")
    assert m.student_ is None and m.calibrator_ is not None and m.nonnegative_.all()

    raw = m.predict(n_samples=3, seed=1, calibrated=False).samples
    _close(raw, expected["predict_raw"])
    m.nonnegative_ = np.zeros_like(m.nonnegative_)  # no clipping: the calibration's effect alone
    raw = m.predict(n_samples=3, seed=1, calibrated=False).samples
    calibrated = m.predict(n_samples=3, seed=1).samples
    _close(calibrated, m.calibrator_.apply(raw))
    assert not np.allclose(calibrated, raw)  # the calibration does act on these windows
    new = frame(2, 50, seed=9)
    new["target"] -= 25.0
    static = pd.DataFrame({"item_id": ["s0", "s1"], "size": [10.0, 200.0], "kind": ["a", "b"]})
    _close(m.predict(df=new, static_df=static, n_samples=3, seed=2, horizon=6, calibrated=False).samples,
          expected["predict_df_raw"])
    with pytest.raises(ValueError, match=r"distill=True.*distill_student"):
        m.predict(sampler="distilled")
