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
from conftest import TINY, make_long_frame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsdiff import DataError, ModelFileError, NotFittedError, TrainingError, TSDiff
from tsdiff.config import FORMAT_VERSION
from tsdiff.serialization import _checksum

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


# ---------------------------------------------------------------- issue 15: checkpoints, resume, full disk, memory
RESUME_PARAMS = dict(TINY, prediction_length=4, context_length=16, max_steps=30, val_every=6, dropout=0.1)
RESUME_DATA = dict(n_series=3, length=80)

_KILLED_FIT = r"""
import os, signal, sys
sys.path.insert(0, sys.argv[3])
import tsdiff.training as training
from conftest import make_long_frame
from tsdiff import TSDiff

params, data = eval(sys.argv[4]), eval(sys.argv[5])
kill_at = int(sys.argv[2])
validate = training.Trainer._checkpoint

def validate_then_die(self, step, train_loss):
    validate(self, step, train_loss)
    if step >= kill_at:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no atexit: as an OOM kill or a preempted node

training.Trainer._checkpoint = validate_then_die
TSDiff(**params).fit(make_long_frame(**data), checkpoint_dir=sys.argv[1], checkpoint_every=4)
"""


def test_killed_fit_resumes_to_bit_identical_weights(tmp_path, monkeypatch):
    """SIGKILL at step 18 (last checkpoint: step 16), resume: the same model as an uninterrupted run."""
    import signal
    import subprocess
    import sys

    ckpt = tmp_path / "ckpt"
    script = tmp_path / "killed_fit.py"
    script.write_text(_KILLED_FIT)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run([sys.executable, str(script), str(ckpt), "18", str(Path(__file__).parent),
                           repr(RESUME_PARAMS), repr(RESUME_DATA)], env=env, capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    saved = torch.load(ckpt / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert saved["checkpoint"]["trainer"]["step"] == 16
    assert not [p for p in ckpt.iterdir() if ".tmp" in p.name]

    df = make_long_frame(**RESUME_DATA)
    import tsdiff.serialization as est_mod

    written: list[int] = []
    write = est_mod._Checkpointer.write
    monkeypatch.setattr(est_mod._Checkpointer, "write",
                        lambda self, trainer, step: written.append(step) or write(self, trainer, step))
    resumed = TSDiff(**RESUME_PARAMS).fit(df, checkpoint_dir=ckpt, checkpoint_every=4, resume=True)
    assert written == [20, 24, 28]  # it continued after step 16 (a fresh run would write 4, 8, ...)
    straight = TSDiff(**RESUME_PARAMS).fit(df)
    assert resumed.train_result_.steps == straight.train_result_.steps == 30
    assert resumed.train_result_.history == straight.train_result_.history
    assert resumed.train_result_.best_step == straight.train_result_.best_step
    a, b = resumed.model_.state_dict(), straight.model_.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # The checkpoint is a loadable model too, and resuming a finished run changes nothing.
    assert TSDiff.load(ckpt / "checkpoint.pt").predict(n_samples=2).samples.shape == (3, 2, 4)
    again = TSDiff(**RESUME_PARAMS).fit(df, checkpoint_dir=ckpt, resume=True)
    c = again.model_.state_dict()
    assert all(torch.equal(a[k], c[k]) for k in a)


def test_resume_refuses_a_checkpoint_of_another_config_or_data(tmp_path):
    from tsdiff.errors import CheckpointError

    params = dict(RESUME_PARAMS, max_steps=4)
    df = make_long_frame(**RESUME_DATA)
    TSDiff(**params).fit(df, checkpoint_dir=tmp_path, checkpoint_every=2)
    with pytest.raises(CheckpointError, match=r"another config \(learning_rate: checkpoint 0.001 vs now 0.01"):
        TSDiff(**dict(params, learning_rate=0.01)).fit(df, checkpoint_dir=tmp_path, resume=True)
    other = df.assign(target=df["target"] + 1.0)
    with pytest.raises(CheckpointError, match="other data"):
        TSDiff(**params).fit(other, checkpoint_dir=tmp_path, resume=True)
    # max_time is a stop, not part of the fingerprint; no checkpoint yet means a fresh start.
    TSDiff(**dict(params, max_time=60.0)).fit(df, checkpoint_dir=tmp_path, resume=True)
    fresh = TSDiff(**params).fit(df, checkpoint_dir=tmp_path / "empty", resume=True)
    assert fresh.train_result_.steps == 4
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        TSDiff(**params).fit(df, resume=True)


def test_full_disk_save_raises_clear_error_and_keeps_previous_model(fitted, tmp_path, monkeypatch):
    import errno

    from tsdiff.errors import SaveError

    model, _ = fitted
    target = tmp_path / "model"
    model.save(target)
    before = (target / "model.pt").read_bytes()

    def disk_full(obj, f, *a, **k):
        f.write(b"the first bytes fit")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(SaveError, match=r"could not write .*model.pt.*No space left on device \[ENOSPC\]\. "
                                        r"Nothing was replaced.*Free some disk space") as info:
        model.save(target)
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    assert (target / "model.pt").read_bytes() == before
    assert not [p for p in target.iterdir() if ".tmp" in p.name], "temporary file left behind"
    # A checkpoint write hitting a full disk stops fit with the same error.
    with pytest.raises(SaveError, match="No space left"):
        TSDiff(**dict(RESUME_PARAMS, max_steps=2)).fit(make_long_frame(**RESUME_DATA),
                                                         checkpoint_dir=tmp_path / "ck", checkpoint_every=1)


@pytest.mark.parametrize("kwargs, figure", [
    (dict(horizon=10**8), r"x 100000000 steps x 4 bytes"),
    (dict(n_samples=10**9), r"x 1000000000 samples x"),
])
def test_absurd_forecast_sizes_fail_fast_with_the_figure_and_a_way_out(fitted, kwargs, figure):
    import time

    from tsdiff.errors import MemoryLimitError

    model, _ = fitted
    start = time.perf_counter()
    with pytest.raises(MemoryLimitError, match=figure) as info:
        model.predict(**kwargs)
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert "GiB" in message and "over the limit of" in message and "memory_limit=" in message
    assert "n_samples=" in message
    assert isinstance(info.value, MemoryError) and isinstance(info.value, ValueError)
    with pytest.raises(MemoryLimitError):
        model.predict_iter(**kwargs)  # checked at the call, before the first chunk


def test_memory_limit_is_settable(fitted):
    from tsdiff.errors import MemoryLimitError

    model, _ = fitted
    with pytest.raises(MemoryLimitError, match=r"over the limit of 1\.0 KiB \(memory_limit=1\.0 KiB\)"):
        model.predict(n_samples=2, memory_limit=1024)
    assert model.predict(n_samples=2, memory_limit=float("inf")).samples.shape[1] == 2


def test_memory_error_suggests_streaming_only_when_it_helps(fitted):
    from tsdiff.errors import MemoryLimitError

    model, _ = fitted  # chunk_size=50: one series per seed group, so batches of one series are possible
    plan = model._predict_plan(horizon=None, n_samples=50, df=None, future_df=None, static_df=None, sampler=None,
                               steps=None, eta=0.0, seed=None, chunk_size=50, shard=None, memory_limit=float("inf"))
    one, two = model._predict_bytes(plan, 1)[0], model._predict_bytes(plan, 2)[0]
    assert one < two
    limit = (one + two) / 2
    with pytest.raises(MemoryLimitError, match="predict_iter") as info:
        model.predict(n_samples=50, chunk_size=50, memory_limit=limit)
    assert "streaming cannot help" not in str(info.value)
    chunks = list(model.predict_iter(series_per_batch=1, n_samples=50, chunk_size=50, memory_limit=limit))
    assert [c.samples.shape for c in chunks] == [(1, 50, 4), (1, 50, 4)]
    with pytest.raises(MemoryLimitError, match="streaming cannot help"):
        model.predict(n_samples=50, chunk_size=50, memory_limit=0.5 * one)
