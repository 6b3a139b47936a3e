"""Covariates and static features: does the model use them, and is bad input refused clearly?

Two small models are trained for real (a few hundred steps of a tiny net, one thread):

* ``known``: the target is a deterministic function of a known covariate that is unpredictable
  from the past (``y = 5 + 2 x``, ``x`` iid), and the same model without the covariate, with the
  same seed and budget. With the covariate the forecast must be far better, over every block
  of a horizon three times ``prediction_length`` too.
* ``static``: every context is flat noise, and the category alone says whether the next
  ``prediction_length`` steps jump up or down.

The other tests use models trained for a handful of steps: they check plumbing, not skill.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsdiff import TSDiff
from tsdiff.errors import DataError
from tsdiff.metrics import normalized_crps

#: Tiny network, one thread, no calendar features, no lags: fast and isolates the covariate.
NET = dict(hidden_channels=8, channel_mults=(1, 2), embedding_dim=16, encoder_channels=8, batch_size=32,
           lags=(), time_features=False, num_threads=1, progress=False, device="cpu")
#: Training for the models whose skill is asserted.
SKILL = dict(NET, max_steps=200, val_every=50, num_val_windows=8, learning_rate=5e-3)
#: A few steps: plumbing only.
PLUMBING = dict(NET, max_steps=4, val_every=2, num_val_windows=4)

H = 8           # prediction_length
T_TRAIN = 300   # training length of the covariate series
N_BLOCKS = 3    # horizon = N_BLOCKS * H in the long-horizon tests


def _known_cov_frames(seed: int = 0, n_series: int = 4):
    """``y = 5 + i + 2 x + small noise`` with ``x ~ N(0, 1)`` iid; returns (train, future, y_future, full)."""
    rng = np.random.default_rng(seed)
    n = T_TRAIN + N_BLOCKS * H
    parts = []
    for i in range(n_series):
        x = rng.normal(size=n)
        p = rng.normal(size=n)  # a past covariate (pure noise) for the plumbing tests
        y = 5.0 + i + 2.0 * x + 0.05 * rng.normal(size=n)
        parts.append(pd.DataFrame({"item_id": f"s{i}", "timestamp": pd.date_range("2021-01-01", periods=n, freq="h"),
                                   "target": y, "x": x, "p": p}))
    full = pd.concat(parts, ignore_index=True)
    step = full.groupby("item_id").cumcount()
    train = full[step < T_TRAIN].reset_index(drop=True)
    future = full[step >= T_TRAIN].reset_index(drop=True)
    y_future = np.stack([g["target"].to_numpy() for _, g in future.groupby("item_id", sort=True)])
    return train, future, y_future, full


@pytest.fixture(scope="module")
def known():
    """The with/without pair, trained with the same seed and budget, and their 3*H forecasts."""
    train, future, y_future, _ = _known_cov_frames()
    with_cov = TSDiff(prediction_length=H, context_length=16, seed=0, **SKILL).fit(
        train[["item_id", "timestamp", "target", "x"]], known_covariates=["x"])
    without = TSDiff(prediction_length=H, context_length=16, seed=0, **SKILL).fit(
        train[["item_id", "timestamp", "target"]])
    horizon = N_BLOCKS * H
    fc_with = with_cov.predict(horizon, n_samples=32, future_df=future[["item_id", "timestamp", "x"]])
    fc_without = without.predict(horizon, n_samples=32)
    return dict(model=with_cov, baseline=without, train=train, future=future, y=y_future,
                fc_with=fc_with, fc_without=fc_without)


def _block_crps(y: np.ndarray, samples: np.ndarray) -> list[float]:
    return [normalized_crps(y[:, b * H:(b + 1) * H], samples[:, :, b * H:(b + 1) * H]) for b in range(N_BLOCKS)]


# --------------------------------------------------------------------------- known covariates: skill


def test_known_covariate_is_used_first_block(known):
    assert known["model"].config_.num_known_covariates == 1
    assert known["baseline"].config_.num_known_covariates == 0
    with_cov = normalized_crps(known["y"][:, :H], known["fc_with"].samples[:, :, :H])
    without = normalized_crps(known["y"][:, :H], known["fc_without"].samples[:, :, :H])
    assert with_cov < 0.5 * without, (with_cov, without)


def test_long_horizon_every_block_tracks_its_covariates(known):
    """Blocks after the first read their own future covariates: each is far better than without."""
    with_cov = _block_crps(known["y"], known["fc_with"].samples)
    without = _block_crps(known["y"], known["fc_without"].samples)
    for b, (a, c) in enumerate(zip(with_cov, without)):
        assert a < 0.5 * c, f"block {b}: CRPS with covariate {a:.3f} vs without {c:.3f}"


def test_later_block_depends_only_on_its_own_and_earlier_covariates(known):
    """Changing x in the last block changes the last block's samples and nothing before it."""
    model, future = known["model"], known["future"][["item_id", "timestamp", "x"]]
    moved = future.copy()
    last_block = moved.groupby("item_id").cumcount() >= (N_BLOCKS - 1) * H
    moved.loc[last_block, "x"] += 3.0
    a = model.predict(N_BLOCKS * H, n_samples=8, future_df=future).samples
    b = model.predict(N_BLOCKS * H, n_samples=8, future_df=moved).samples
    cut = (N_BLOCKS - 1) * H
    np.testing.assert_array_equal(a[:, :, :cut], b[:, :, :cut])
    # y = 5 + 2x: the moved block must rise by about 2 * 3 = 6
    rise = (b[:, :, cut:] - a[:, :, cut:]).mean()
    assert rise > 3.0, rise


def _record_sample_batches(model: TSDiff, key: str, monkeypatch) -> list:
    """Spy on ``model.model_.sample``: the list receives ``batch[key]`` (numpy) of every call."""
    seen: list = []
    original = model.model_.sample

    def spy(batch, *args, **kwargs):
        seen.append(batch[key].detach().cpu().numpy().copy())
        return original(batch, *args, **kwargs)

    monkeypatch.setattr(model.model_, "sample", spy)
    return seen


def test_each_block_gets_its_own_future_covariates(known, monkeypatch):
    """White box: the batch of block k holds future_df's x for steps [kH, (k+1)H), unscaled."""
    model, future = known["model"], known["future"]
    seen = _record_sample_batches(model, "future_known_cov", monkeypatch)
    model.predict(N_BLOCKS * H, n_samples=2, future_df=future[["item_id", "timestamp", "x"]])
    x = np.stack([g["x"].to_numpy() for _, g in future.groupby("item_id", sort=True)])  # (N, 3H)
    assert len(seen) == N_BLOCKS
    np.testing.assert_allclose(seen[0][:, :, 0], x[:, :H], rtol=1e-6)
    for k in range(1, N_BLOCKS):  # rows are series x samples (2 samples per series)
        np.testing.assert_allclose(seen[k][:, :, 0], np.repeat(x[:, k * H:(k + 1) * H], 2, axis=0), rtol=1e-6)


def test_horizon_not_a_multiple_of_prediction_length(known):
    future = known["future"][["item_id", "timestamp", "x"]]
    short = future[future.groupby("item_id").cumcount() < H + 3]
    fc = known["model"].predict(H + 3, n_samples=4, future_df=short)
    assert fc.samples.shape == (4, 4, H + 3)
    assert np.isfinite(fc.samples).all()


# --------------------------------------------------------------------------- known covariates: errors


def test_future_df_none_names_future_df(known):
    with pytest.raises(DataError, match=r"future_df"):
        known["model"].predict()


def test_missing_future_rows_name_item_and_timestamps(known):
    future = known["future"][["item_id", "timestamp", "x"]]
    first = future[future.groupby("item_id").cumcount() < H]
    gap = first.drop(index=first[(first["item_id"] == "s2")].index[[2, 3]])
    missing = first[first["item_id"] == "s2"]["timestamp"].iloc[2]
    with pytest.raises(DataError) as err:
        known["model"].predict(H, future_df=gap)
    msg = str(err.value)
    assert "'s2'" in msg and str(missing) in msg and "future_df" in msg, msg


def test_future_df_shorter_than_horizon(known):
    future = known["future"][["item_id", "timestamp", "x"]]
    first = future[future.groupby("item_id").cumcount() < H]
    beyond = future[future.groupby("item_id").cumcount() == H]["timestamp"].iloc[0]
    with pytest.raises(DataError) as err:
        known["model"].predict(2 * H, future_df=first)
    assert "'s0'" in str(err.value) and str(beyond) in str(err.value), str(err.value)


def test_future_df_without_the_covariate_column(known):
    future = known["future"][["item_id", "timestamp"]]
    with pytest.raises(DataError, match=r"future_df.*'x'"):
        known["model"].predict(future_df=future)


def test_nan_in_future_covariate_names_column_item_and_time(known):
    future = known["future"][["item_id", "timestamp", "x"]].copy()
    row = future.index[(future["item_id"] == "s1")][4]
    future.loc[row, "x"] = np.nan
    with pytest.raises(DataError) as err:
        known["model"].predict(future_df=future)
    msg = str(err.value)
    assert "future_df['x']" in msg and "'s1'" in msg and str(future.loc[row, "timestamp"]) in msg, msg


@pytest.mark.parametrize("role", ["known_covariates", "past_covariates"])
def test_nan_in_training_covariate_names_column(known, role):
    train = known["train"].copy()
    col = "x" if role == "known_covariates" else "p"
    train.loc[17, col] = np.nan
    with pytest.raises(DataError) as err:
        TSDiff(prediction_length=H, **PLUMBING).fit(train, **{role: [col]})
    assert repr(col) in str(err.value) and "NaN" in str(err.value), str(err.value)


def test_unknown_covariate_column_at_fit(known):
    with pytest.raises(DataError, match=r"'nope'"):
        TSDiff(prediction_length=H, **PLUMBING).fit(known["train"], known_covariates=["nope"])


def test_new_history_needs_its_own_covariates(known):
    """predict(df=...) with a history lacking the covariate column is refused, naming it."""
    hist = known["train"][["item_id", "timestamp", "target"]]
    with pytest.raises(DataError, match=r"'x'"):
        known["model"].predict(df=hist, future_df=known["future"])


# --------------------------------------------------------------------------- past covariates


@pytest.fixture(scope="module")
def past_model():
    train, _, _, _ = _known_cov_frames(seed=1, n_series=3)
    model = TSDiff(prediction_length=H, context_length=16, seed=0, **PLUMBING)
    return model.fit(train[["item_id", "timestamp", "target", "p"]], past_covariates=["p"]), train


def test_past_covariates_fit_predict_without_future_df(past_model):
    model, _ = past_model
    assert model.config_.num_past_covariates == 1 and model.config_.num_known_covariates == 0
    fc = model.predict(n_samples=4)
    assert fc.samples.shape == (3, 4, H) and np.isfinite(fc.samples).all()


def test_past_covariates_long_horizon(past_model):
    model, _ = past_model
    fc = model.predict(2 * H + 5, n_samples=4)
    assert fc.samples.shape == (3, 4, 2 * H + 5) and np.isfinite(fc.samples).all()


def test_past_covariates_held_at_last_value_over_generated_blocks(past_model, monkeypatch):
    """White box: in block k the context's last k*H covariate values are the last observed one."""
    model, train = past_model
    seen = _record_sample_batches(model, "past_past_cov", monkeypatch)
    model.predict(3 * H, n_samples=2)
    last = np.array([g["p"].iloc[-1] for _, g in train.groupby("item_id", sort=True)], dtype=np.float32)
    assert len(seen) == 3
    for k in (1, 2):
        held = seen[k][:, -k * H:, 0]                   # (series x samples, k*H)
        np.testing.assert_allclose(held, np.repeat(last, 2)[:, None].repeat(k * H, axis=1))


def test_covariate_reaches_the_model_where_the_target_is_missing(past_model):
    model, train = past_model
    hist = train[["item_id", "timestamp", "target", "p"]].copy()
    spot = hist.groupby("item_id").cumcount() == T_TRAIN - 3
    hist.loc[spot, "target"] = np.nan
    moved = hist.copy()
    moved.loc[spot, "p"] += 5.0
    a = model.predict(df=hist, n_samples=4).samples
    b = model.predict(df=moved, n_samples=4).samples
    assert not np.allclose(a, b)


def test_past_covariate_values_change_the_forecast(past_model):
    model, train = past_model
    hist = train[["item_id", "timestamp", "target", "p"]]
    moved = hist.copy()
    moved.loc[moved.groupby("item_id").cumcount() >= T_TRAIN - 4, "p"] += 5.0
    a = model.predict(df=hist, n_samples=4).samples
    b = model.predict(df=moved, n_samples=4).samples
    assert not np.allclose(a, b)


# --------------------------------------------------------------------------- static features


def _static_frames(seed: int = 0, n_series: int = 32, context: int = 8, jump: float = 5.0):
    """Flat noisy contexts; the next H steps jump up for category 'up' and down for 'down'."""
    rng = np.random.default_rng(seed)
    parts, rows = [], []
    for i in range(n_series):
        kind = "up" if i % 2 == 0 else "down"
        y = rng.uniform(10, 50) + rng.normal(0, 1, context + H)
        y[context:] += jump if kind == "up" else -jump
        parts.append(pd.DataFrame({"item_id": f"s{i:02d}", "timestamp": pd.date_range("2021-01-01", periods=context + H,
                                                                                  freq="h"), "target": y}))
        rows.append({"item_id": f"s{i:02d}", "kind": kind})
    return pd.concat(parts, ignore_index=True), pd.DataFrame(rows)


@pytest.fixture(scope="module")
def static_model():
    df, static = _static_frames()
    # validation=False, calibrate=False: held-out windows at the end (the jumps) would never be trained on.
    model = TSDiff(prediction_length=H, context_length=8, seed=0, validation=False, calibrate=False,
                   **dict(SKILL, max_steps=250, learning_rate=1e-2))
    return model.fit(df, static_df=static), static


def _probe(kind: str, model: TSDiff, item: str = "probe", seed: int = 0):
    hist = pd.DataFrame({"item_id": item, "timestamp": pd.date_range("2021-03-01", periods=8, freq="h"),
                         "target": 30.0 + np.random.default_rng(5).normal(0, 1, 8)})
    fc = model.predict(df=hist, static_df=pd.DataFrame({"item_id": [item], "kind": [kind]}), n_samples=64, seed=seed)
    return fc.samples[0] - hist["target"].mean()


def test_static_category_sets_the_direction(static_model):
    model, _ = static_model
    assert model.config_.static_cardinalities == (3,)  # 'down', 'up' + the unknown code
    up, down = _probe("up", model).mean(), _probe("down", model).mean()
    # a jump of +-5; seeds 0-3 give up in [1.9, 2.7], down in [-2.4, -1.0], up - down >= 3.2
    assert up > 0.5 and down < -0.5 and up - down > 2.5, (up, down)


def test_unseen_category_maps_to_the_unknown_code(static_model):
    model, _ = static_model
    a, b = _probe("never-seen", model), _probe("also-new", model)
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)  # both unseen -> same code (0) -> same samples for the same seed
    assert not np.array_equal(a, _probe("up", model))


def test_fitted_items_keep_their_static_features(static_model):
    model, static = static_model
    default = model.predict(n_samples=4).samples
    explicit = model.predict(n_samples=4, static_df=static).samples
    np.testing.assert_array_equal(default, explicit)
    flipped = static.assign(kind=static["kind"].map({"up": "down", "down": "up"}))
    assert not np.allclose(default, model.predict(n_samples=4, static_df=flipped).samples)


def test_missing_item_in_static_df_names_it(static_model):
    model, static = static_model
    with pytest.raises(DataError, match=r"static_df.*'s05'"):
        model.predict(static_df=static[static["item_id"] != "s05"])


def test_new_item_without_static_df_names_it(static_model):
    model, _ = static_model
    hist = pd.DataFrame({"item_id": "newbie", "timestamp": pd.date_range("2021-03-01", periods=8, freq="h"),
                         "target": np.arange(8.0)})
    with pytest.raises(DataError, match=r"static_df.*'newbie'"):
        model.predict(df=hist)


def test_missing_category_value_is_an_error(static_model):
    model, static = static_model
    bad = static.astype({"kind": object})
    bad.loc[3, "kind"] = None
    with pytest.raises(DataError, match=r"static_df\['kind'\].*'s03'"):
        model.predict(static_df=bad)


# --------------------------------------------------------------------------- persistence, adapters, calendar


def test_save_load_round_trip_with_covariates_and_static(tmp_path):
    train, future, _, _ = _known_cov_frames(seed=2, n_series=3)
    static = pd.DataFrame({"item_id": ["s0", "s1", "s2"], "kind": ["a", "b", "a"], "size": [1.0, 2.5, -0.5]})
    model = TSDiff(prediction_length=H, context_length=16, seed=3, **PLUMBING).fit(
        train, known_covariates=["x"], past_covariates=["p"], static_df=static)
    cfg = model.config_
    assert (cfg.num_known_covariates, cfg.num_past_covariates, cfg.static_cardinalities, cfg.num_static_real) == \
        (1, 1, (3,), 1)
    model.save(tmp_path / "m")
    loaded = TSDiff.load(tmp_path / "m", device="cpu")
    assert loaded.known_covariates_ == ["x"] and loaded.past_covariates_ == ["p"]
    fut = future[["item_id", "timestamp", "x"]]
    np.testing.assert_array_equal(model.predict(2 * H, n_samples=6, future_df=fut).samples,
                                  loaded.predict(2 * H, n_samples=6, future_df=fut).samples)
    # a new history with a new static row (and an unseen category) too
    hist = train[train["item_id"] == "s1"].assign(item_id="new")
    new_static = pd.DataFrame({"item_id": ["new"], "kind": ["zzz"], "size": [0.0]})
    new_future = fut[fut["item_id"] == "s1"].assign(item_id="new")
    np.testing.assert_array_equal(
        model.predict(df=hist, future_df=new_future, static_df=new_static, n_samples=6).samples,
        loaded.predict(df=hist, future_df=new_future, static_df=new_static, n_samples=6).samples)


def test_calendar_features_can_be_switched_off(known):
    train = known["train"][["item_id", "timestamp", "target"]]
    off = TSDiff(prediction_length=H, context_length=16, **PLUMBING).fit(train)  # NET has time_features=False
    on = TSDiff(prediction_length=H, context_length=16, **dict(PLUMBING, time_features=True)).fit(train)
    assert off.config_.num_time_features == 0
    assert on.config_.num_time_features > 0
    assert np.isfinite(off.predict(n_samples=2).samples).all()


def test_gluonts_adapter_passes_covariates_through():
    """TSDiffEstimator maps the GluonTS fields and its predictor gives the pandas API's samples."""
    import tsdiff.integrations.gluonts as adapter
    from tsdiff.integrations.gluonts import make_list_dataset

    _, _, _, full = _known_cov_frames(seed=4, n_series=3)
    start = pd.Period("2021-01-01 00:00", freq="h")
    train_entries, test_entries = [], []
    for i, (_, g) in enumerate(full.groupby("item_id", sort=True)):
        y, x, p = (g[c].to_numpy(np.float32) for c in ("target", "x", "p"))
        common = {"start": start, "item_id": f"s{i}", "feat_static_cat": [i % 2], "feat_static_real": [float(i)]}
        train_entries.append({**common, "target": y[:T_TRAIN], "feat_dynamic_real": x[None, :T_TRAIN],
                              "past_feat_dynamic_real": p[None, :T_TRAIN]})
        test_entries.append({**common, "target": y[:T_TRAIN], "feat_dynamic_real": x[None, :T_TRAIN + H],
                             "past_feat_dynamic_real": p[None, :T_TRAIN]})
    estimator = adapter.TSDiffEstimator(freq="h", prediction_length=H, context_length=16, seed=0, **PLUMBING)
    predictor = estimator.train(make_list_dataset(train_entries, "h"))
    model = predictor.model
    cfg = model.config_
    assert (cfg.num_known_covariates, cfg.num_past_covariates, cfg.static_cardinalities, cfg.num_static_real) == \
        (1, 1, (3,), 1)
    entry = test_entries[1]
    got = next(iter(predictor.predict(make_list_dataset([entry], "h"), num_samples=5, seed=7))).samples
    # the same forecast through the pandas API (the adapter names items by position in the batch)
    ts = pd.date_range("2021-01-01", periods=T_TRAIN + H, freq="h")
    df = pd.DataFrame({"item_id": 0, "timestamp": ts[:T_TRAIN], "target": entry["target"],
                       model.known_covariates_[0]: entry["feat_dynamic_real"][0, :T_TRAIN],
                       model.past_covariates_[0]: entry["past_feat_dynamic_real"][0]})
    future_df = pd.DataFrame({"item_id": 0, "timestamp": ts[T_TRAIN:],
                              model.known_covariates_[0]: entry["feat_dynamic_real"][0, T_TRAIN:]})
    static_df = pd.DataFrame({"item_id": [0], "feat_static_cat_0": ["1"], "feat_static_real_0": [1.0]})
    want = model.predict(H, n_samples=5, df=df, future_df=future_df, static_df=static_df, seed=7).samples[0]
    np.testing.assert_array_equal(got, want)
    # and the future part of feat_dynamic_real is what the model reads over the horizon
    moved = {**entry, "feat_dynamic_real": entry["feat_dynamic_real"].copy()}
    moved["feat_dynamic_real"][:, T_TRAIN:] += 10.0
    other = next(iter(predictor.predict(make_list_dataset([moved], "h"), num_samples=5, seed=7))).samples
    assert not np.allclose(got, other)
