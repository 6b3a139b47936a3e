"""Issue-4 guarantees of TSDiff: safe model files, atomic saves, and property-based input checks."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TINY, make_long_frame
from tsdiff import DataError, ModelFileError, NotFittedError, TrainingError, TSDiff
from tsdiff.config import FORMAT_VERSION
from tsdiff.estimator import _checksum

MARKER_ENV = "TSDIFF_PWNED_MARKER"


class _Exploit:
    """Unpickling this object calls os.system: a model file must never do that."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    model = TSDiff(prediction_length=4, context_length=24, **TINY).fit(make_long_frame(2, 80))
    path = tmp_path_factory.mktemp("m") / "model"
    model.save(path)
    return model, path


def test_malicious_pickle_is_rejected_without_running(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil"
    bad.mkdir()
    torch.save({"kind": "tsdiff.TSDiff", "format_version": 1, "payload": _Exploit(marker)}, bad / "model.pt")
    with pytest.raises(ModelFileError, match="not a readable tsdiff model"):
        TSDiff.load(bad)
    assert not marker.exists(), "loading a model file executed code"
    # A plain pickle (not a torch zip file) with the same payload: rejected too.
    (bad / "model.pt").write_bytes(pickle.dumps(_Exploit(marker)))
    with pytest.raises(ModelFileError):
        TSDiff.load(bad)
    assert not marker.exists()


def test_truncated_corrupt_and_newer_files(fitted, tmp_path):
    model, path = fitted
    data = (path / "model.pt").read_bytes()
    trunc = tmp_path / "trunc"
    trunc.mkdir()
    (trunc / "model.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated|not a readable"):
        TSDiff.load(trunc)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    flipped = bytearray(data)
    flipped[len(flipped) // 3: len(flipped) // 3 + 64] = b"\x00" * 64
    (corrupt / "model.pt").write_bytes(bytes(flipped))
    with pytest.raises(ModelFileError):
        TSDiff.load(corrupt)
    payload = torch.load(path / "model.pt", weights_only=True)
    payload["format_version"] = FORMAT_VERSION + 1
    newer = tmp_path / "newer"
    newer.mkdir()
    torch.save(payload, newer / "model.pt")
    with pytest.raises(ModelFileError, match="format version"):
        TSDiff.load(newer)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    torch.save({"weights": torch.zeros(3)}, foreign / "model.pt")
    with pytest.raises(ModelFileError, match="not a tsdiff model"):
        TSDiff.load(foreign)
    payload = torch.load(path / "model.pt", weights_only=True)
    payload["config"]["hiden"] = 1
    payload["checksum"] = _checksum(payload)  # a consistent file, but with a config key this version lacks
    unknown = tmp_path / "unknown"
    unknown.mkdir()
    torch.save(payload, unknown / "model.pt")
    with pytest.raises(ModelFileError, match="hiden"):
        TSDiff.load(unknown)
    payload = torch.load(path / "model.pt", weights_only=True)
    payload["state_dict"][next(iter(payload["state_dict"]))] += 1.0  # silently altered weights
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    torch.save(payload, tampered / "model.pt")
    with pytest.raises(ModelFileError, match="checksum"):
        TSDiff.load(tampered)


def test_interrupted_save_leaves_previous_model_loadable(fitted, tmp_path, monkeypatch):
    model, path = fitted
    target = tmp_path / "model"
    model.save(target)
    before = (target / "model.pt").read_bytes()

    real_save = torch.save

    def crash_midway(obj, f, *a, **k):
        f.write(b"partial bytes of a model file")
        raise KeyboardInterrupt  # e.g. Ctrl-C or a crash while writing

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        model.save(target)
    monkeypatch.setattr(torch, "save", real_save)
    assert (target / "model.pt").read_bytes() == before
    assert not [p for p in target.iterdir() if ".tmp" in p.name], "temporary file left behind"
    loaded = TSDiff.load(target)
    np.testing.assert_array_equal(loaded.predict(n_samples=2).samples, model.predict(n_samples=2).samples)


def test_model_file_holds_plain_data_and_a_version(fitted):
    _, path = fitted
    with zipfile.ZipFile(path / "model.pt") as zf:  # torch's zip format
        assert any(n.endswith("data.pkl") for n in zf.namelist())
    payload = torch.load(path / "model.pt", weights_only=True)
    assert payload["format_version"] == FORMAT_VERSION and isinstance(payload["config"], dict)
    assert all(isinstance(v, torch.Tensor) for v in payload["state_dict"].values())


def test_save_and_predict_before_fit():
    m = TSDiff()
    with pytest.raises(NotFittedError, match="fit"):
        m.save("never")
    with pytest.raises(NotFittedError, match="fit"):
        m.predict()


def test_non_finite_loss_names_the_step_and_keeps_a_usable_model(monkeypatch):
    from tsdiff.model import TSDiffModel

    real_loss = TSDiffModel.loss
    calls = {"n": 0}

    def flaky(self, batch, generator=None):
        value = real_loss(self, batch, generator)
        if self.training:  # the training copy, not the EMA copy used for validation
            calls["n"] += 1
            if calls["n"] > 6:
                return value * float("nan")
        return value

    monkeypatch.setattr(TSDiffModel, "loss", flaky)
    m = TSDiff(prediction_length=4, context_length=24, **{**TINY, "max_steps": 20, "val_every": 3})
    with pytest.raises(TrainingError, match="step 6"):
        m.fit(make_long_frame(2, 80))
    monkeypatch.setattr(TSDiffModel, "loss", real_loss)
    assert m.train_result_.best_step == 6
    assert np.isfinite(m.predict(n_samples=2).samples).all()


def test_keyboard_interrupt_during_fit_keeps_best_checkpoint(monkeypatch, caplog):
    from tsdiff.windows import TrainWindowSampler

    real = TrainWindowSampler.sample
    calls = {"n": 0}

    def interrupt(self, rng, batch_size):
        calls["n"] += 1
        if calls["n"] == 9:
            raise KeyboardInterrupt
        return real(self, rng, batch_size)

    monkeypatch.setattr(TrainWindowSampler, "sample", interrupt)
    m = TSDiff(prediction_length=4, context_length=24, **{**TINY, "max_steps": 50, "val_every": 4})
    with caplog.at_level("WARNING", logger="tsdiff"):
        m.fit(make_long_frame(2, 80))
    assert m.train_result_.stopped_reason == "interrupted" and m.train_result_.steps == 8
    assert "interrupted" in caplog.text
    assert np.isfinite(m.predict(n_samples=2).samples).all()


# -- property-based: generated frames give a clear error or finite forecasts of the right shape --------
_FREQS = ["h", "D", "15min", "W-SUN"]


@st.composite
def frames(draw):
    n_series = draw(st.integers(1, 3))
    freq = draw(st.sampled_from(_FREQS))
    scale = draw(st.sampled_from([1e-6, 1e-2, 1.0, 1e3, 1e9]))
    parts = []
    for i in range(n_series):
        length = draw(st.integers(1, 40))
        kind = draw(st.sampled_from(["noise", "constant", "zero"]))
        rng = np.random.default_rng(draw(st.integers(0, 2**16)))
        y = {"noise": rng.normal(1.0, 0.5, length), "constant": np.full(length, 3.0),
             "zero": np.zeros(length)}[kind] * scale
        nan_frac = draw(st.sampled_from([0.0, 0.0, 0.2, 0.9]))
        y[rng.random(length) < nan_frac] = np.nan
        parts.append(pd.DataFrame({"item_id": f"i{i}", "target": y,
                                   "timestamp": pd.date_range("2020-01-06", periods=length, freq=freq)}))
    return pd.concat(parts, ignore_index=True), freq


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(), st.integers(1, 7))
def test_generated_frames_clear_error_or_finite_forecasts(data, horizon):
    df, freq = data
    model = TSDiff(prediction_length=3, context_length=12, freq=freq,
                   **{**TINY, "max_steps": 2, "val_every": 2})
    try:
        model.fit(df)
    except DataError as exc:
        msg = str(exc)
        assert any(str(i) in msg for i in df["item_id"].unique()) or "df" in msg or "freq" in msg, msg
        return
    fc = model.predict(horizon=horizon, n_samples=2)
    assert fc.samples.shape == (df["item_id"].nunique(), 2, horizon)
    assert np.isfinite(fc.samples).all()


def test_model_errors_doc_is_current(fitted, tmp_path):
    """Every model-level message listed in docs/errors.md is still the one tsdiff produces."""
    model, _ = fitted
    doc = (Path(__file__).resolve().parents[1] / "docs" / "errors.md").read_text(encoding="utf-8")
    fresh = TSDiff(prediction_length=4, context_length=24, **TINY)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.pt").write_bytes(b"garbage")
    one_point = pd.DataFrame({"item_id": ["a"], "timestamp": [pd.Timestamp("2020-01-01")], "target": [1.0]})
    cases = [
        (lambda: fresh.predict(), NotFittedError),
        (lambda: fresh.save(tmp_path / "never"), NotFittedError),
        (lambda: model.predict(horizon=0), ValueError),
        (lambda: model.predict(horizon=2.5), ValueError),
        (lambda: model.predict(n_samples=-1), ValueError),
        (lambda: model.predict(df=make_long_frame(1, 40, freq="D")), DataError),
        (lambda: model.predict(sampler="euler"), ValueError),
        (lambda: model.predict(sampler="ddim", steps=5000), ValueError),
        (lambda: TSDiff(prediction_length=0).fit(make_long_frame(1, 30)), ValueError),
        (lambda: TSDiff(scaling="minmax").fit(make_long_frame(1, 30)), ValueError),
        (lambda: TSDiff(freq="h", **TINY).fit(one_point), DataError),
        (lambda: TSDiff(freq="h", **TINY).fit(make_long_frame(1, 20).assign(item_id="a")), DataError),
        (lambda: TSDiff(nonnegative="yes", **TINY).fit(make_long_frame(1, 60)), ValueError),
        (lambda: model.predict(shard=(2, 2)), ValueError),
        (lambda: TSDiff.load(tmp_path / "missing"), ModelFileError),
        (lambda: TSDiff.load(bad), ModelFileError),
    ]
    for fn, exc_type in cases:
        with pytest.raises(exc_type) as info:
            fn()
        message = str(info.value).replace(str(tmp_path / "missing"), "PATH").replace(
            repr(str(bad / "model.pt")), "'PATH/model.pt'")
        assert message in doc, f"docs/errors.md lacks: {message}"
