"""tsdiff.datasets: path resolution, the shipped datasets, frame <-> dataset round trips."""

from __future__ import annotations

import ast
import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsdiff import datasets as D

pytestmark = pytest.mark.filterwarnings("ignore:Using `json`-module:UserWarning")

REPO = Path(__file__).resolve().parents[1]


def _write_toy(root: Path, name: str = "toy", n_series: int = 2, length: int = 30, pred: int = 5) -> Path:
    """A minimal dataset in GluonTS's on-disk layout."""
    folder = root / name
    (folder / "train").mkdir(parents=True)
    (folder / "test").mkdir()
    meta = {"freq": "D", "target": None, "feat_static_cat": [], "feat_static_real": [],
            "feat_dynamic_real": [], "feat_dynamic_cat": [], "prediction_length": pred}
    (folder / "metadata.json").write_text(json.dumps(meta))
    for split, n in (("train", length - pred), ("test", length)):
        with gzip.open(folder / split / "data.json.gz", "wt") as fh:
            for i in range(n_series):
                fh.write(json.dumps({"start": "2021-01-01", "target": list(range(n)), "item_id": f"s{i}"}) + "\n")
    return folder


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """Four candidate folders, each holding 'toy'; project/shared folders patched to tmp ones."""
    out = {k: tmp_path / k for k in ("arg", "env", "project", "shared")}
    for folder in out.values():
        _write_toy(folder)
    monkeypatch.setattr(D, "project_data_dir", lambda: out["project"])
    monkeypatch.setattr(D, "shared_data_dir", lambda: out["shared"])
    monkeypatch.delenv(D.DATA_ENV_VAR, raising=False)
    return out


def test_resolution_order(dirs, monkeypatch):
    monkeypatch.setenv(D.DATA_ENV_VAR, str(dirs["env"]))
    assert D.resolve_data_path("toy", dirs["arg"]) == dirs["arg"]  # argument beats env var
    assert D.resolve_data_path("toy", str(dirs["arg"])) == dirs["arg"]
    assert D.resolve_data_path("toy") == dirs["env"]  # env var beats project data
    assert D.resolve_data_path("elsewhere") == dirs["env"]  # ... even when it lacks the name
    monkeypatch.delenv(D.DATA_ENV_VAR)
    assert D.resolve_data_path("toy") == dirs["project"]  # project data beats shared
    assert D.resolve_data_path("elsewhere") is None  # nobody holds it -> GluonTS default
    import shutil

    shutil.rmtree(dirs["project"] / "toy")
    assert D.resolve_data_path("toy") == dirs["shared"]  # project lacks it -> shared
    shutil.rmtree(dirs["shared"] / "toy")
    assert D.resolve_data_path("toy") is None


def test_load_custom_dataset_and_errors(dirs, monkeypatch):
    ds = D.load_dataset("toy", dirs["arg"])
    assert ds.metadata.prediction_length == 5
    assert [len(e["target"]) for e in ds.train] == [25, 25]
    assert [len(e["target"]) for e in ds.test] == [30, 30]
    monkeypatch.setenv(D.DATA_ENV_VAR, str(dirs["env"]))
    assert len(list(D.load_dataset("toy").test)) == 2
    with pytest.raises(FileNotFoundError, match="not_a_dataset"):
        D.load_dataset("not_a_dataset", dirs["arg"])
    monkeypatch.delenv(D.DATA_ENV_VAR)
    with pytest.raises(FileNotFoundError):
        D.load_dataset("not_a_dataset")  # no GluonTS recipe and nowhere on disk
    assert "toy" in D.list_datasets()
    assert D.list_datasets(dirs["arg"]) == ["toy"]


def test_real_project_paths(monkeypatch):
    monkeypatch.delenv(D.DATA_ENV_VAR, raising=False)
    import tsdiff.datasets

    assert D.project_data_dir() == Path(tsdiff.datasets.__file__).resolve().parents[1] / "data" / "gluonts"
    assert D.project_data_dir() == REPO / "data" / "gluonts"
    assert D.resolve_data_path("ett_small_1h") == D.project_data_dir()
    assert D.resolve_data_path(D.WEATHER_JENA_NAME) == D.project_data_dir()
    assert {"ett_small_1h", D.WEATHER_JENA_NAME} <= set(D.list_datasets())
    if (D.shared_data_dir() / "m4_hourly" / "metadata.json").is_file():
        assert D.resolve_data_path("m4_hourly") == D.shared_data_dir()


def test_load_ett_small_1h(monkeypatch):
    monkeypatch.delenv(D.DATA_ENV_VAR, raising=False)
    ds = D.load_dataset("ett_small_1h")
    train, test = list(ds.train), list(ds.test)
    assert pd.tseries.frequencies.to_offset(ds.metadata.freq) == pd.tseries.frequencies.to_offset("h")
    assert ds.metadata.prediction_length == 24
    assert len(train) == len(test) == 14
    for tr, te in zip(train, test):
        assert len(te["target"]) - len(tr["target"]) == 24
        np.testing.assert_array_equal(te["target"][: len(tr["target"])], tr["target"])


def test_load_weather_jena(monkeypatch):
    monkeypatch.delenv(D.DATA_ENV_VAR, raising=False)
    ds = D.load_weather_jena()
    meta = ds.metadata
    assert meta.freq == "h" and meta.prediction_length == 24
    assert meta.feat_static_cat[0].cardinality == "21"
    train, test = list(ds.train), list(ds.test)
    assert len(train) == 21 and len(test) == 7 * 21
    ids = [e["item_id"] for e in train]
    assert len(set(ids)) == 21 and all(i.isascii() and i.replace("_", "").isalnum() for i in ids)
    assert all(e["start"] == pd.Period("2020-01-01 00:00", freq="h") for e in train + test)
    assert {len(e["target"]) for e in train} == {8616}
    windows = [test[21 * k: 21 * (k + 1)] for k in range(7)]
    lengths = [{len(e["target"]) for e in w} for w in windows]
    assert lengths == [{8616 + 24 * (k + 1)} for k in range(7)]  # 8640, 8664, ..., 8784
    for w in windows:
        assert [e["item_id"] for e in w] == ids
        assert [int(e["feat_static_cat"][0]) for e in w] == list(range(21))
    last = windows[-1]
    for tr, te in zip(train, last):  # train is a prefix of every test entry
        np.testing.assert_array_equal(te["target"][:8616], tr["target"])
        assert not np.isnan(te["target"][8616:]).any()  # the 7 forecast windows are complete
    temp = dict(zip(ids, [e["target"] for e in last]))["T_degC"]
    assert -20 < np.nanmin(temp) < np.nanmax(temp) < 40
    n_missing = sum(int(np.isnan(e["target"]).sum()) for e in last)
    assert 0 < n_missing < 50  # a handful of hours without any valid record
    variables = json.loads((D.project_data_dir() / D.WEATHER_JENA_NAME / "variables.json").read_text())
    assert [v["item_id"] for v in variables["variables"]] == ids


def _entries_with_features():
    rng = np.random.default_rng(0)
    out = []
    for i, (start, n) in enumerate((("2021-01-01 00:00", 10), ("2021-01-03 05:00", 7))):
        target = rng.normal(size=n).astype(np.float32)
        target[2] = np.nan
        out.append({
            "start": pd.Period(start, freq="h"),
            "target": target,
            "item_id": f"item{i}",
            "feat_dynamic_real": rng.normal(size=(2, n)).astype(np.float32),
            "past_feat_dynamic_real": rng.normal(size=(1, n)).astype(np.float32),
            "feat_static_cat": np.array([i, 3], dtype=np.int32),
            "feat_static_real": np.array([0.5 * i], dtype=np.float32),
        })
    return out


def test_dataset_frame_round_trip():
    from tsdiff.integrations.gluonts import make_list_dataset

    ds = make_list_dataset(_entries_with_features(), "h")
    frame, static = D.dataset_to_frame(ds)
    assert list(frame.columns) == ["item_id", "timestamp", "target", "feat_dynamic_real_0", "feat_dynamic_real_1",
                                   "past_feat_dynamic_real_0"]
    assert list(static.columns) == ["item_id", "feat_static_cat_0", "feat_static_cat_1", "feat_static_real_0"]
    assert len(frame) == 17 and frame["target"].isna().sum() == 2
    assert frame["timestamp"].iloc[10] == pd.Timestamp("2021-01-03 05:00")

    back = D.frame_to_dataset(frame, "h", static=static)
    assert len(back) == len(ds)
    for a, b in zip(ds, back):
        assert a["start"] == b["start"] and a["item_id"] == b["item_id"]
        for key in ("target", "feat_dynamic_real", "past_feat_dynamic_real", "feat_static_cat",
                    "feat_static_real"):
            np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)

    frame2, static2 = D.dataset_to_frame(back)
    pd.testing.assert_frame_equal(frame2, frame)
    pd.testing.assert_frame_equal(static2, static)


def test_frame_to_dataset_sorts_and_fills_gaps():
    ts = pd.date_range("2022-01-01", periods=6, freq="15min")
    df = pd.DataFrame({"item_id": ["a"] * 5 + ["b"], "timestamp": list(ts[[4, 0, 1, 3, 5]]) + [ts[2]],
                       "target": [4.0, 0.0, 1.0, 3.0, 5.0, 9.0]})
    ds = D.frame_to_dataset(df, "15min")
    a, b = ds
    assert a["item_id"] == "a" and a["start"] == pd.Period(ts[0], freq="15min")
    np.testing.assert_array_equal(a["target"], [0, 1, np.nan, 3, 4, 5])
    np.testing.assert_array_equal(b["target"], [9.0])
    with pytest.raises(ValueError, match="same"):
        D.frame_to_dataset(pd.concat([df, df.iloc[:1]]), "15min")
    with pytest.raises(ValueError, match="target"):
        D.frame_to_dataset(df.drop(columns="target"), "15min")


def test_duplicated_item_ids_from_rolling_windows(monkeypatch):
    monkeypatch.delenv(D.DATA_ENV_VAR, raising=False)
    test = D.load_weather_jena().test
    with pytest.raises(ValueError, match="duplicates='last'"):
        D.dataset_to_frame(test)
    frame, static = D.dataset_to_frame(test, duplicates="last")
    assert frame.groupby("item_id").size().eq(8784).all() and len(static) == 21
    assert frame["timestamp"].max() == pd.Timestamp("2020-12-31 23:00")


def test_no_top_level_gluonts_or_torch_imports():
    for mod, banned in (("metrics.py", {"gluonts", "torch"}), ("datasets.py", {"gluonts", "torch"})):
        tree = ast.parse((REPO / "tsdiff" / mod).read_text())
        for node in tree.body:  # module level only: imports inside functions are lazy
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] in banned for n in names), (mod, names)


@pytest.mark.slow
def test_weather_builder_reproduces_shipped_files(tmp_path):
    raw = REPO.parent / "shared" / "data" / "raw" / "ltsf_weather_jena2020.csv.gz"
    if not raw.is_file():
        pytest.skip("raw weather CSV not available")
    out = tmp_path / "weather"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "build_weather_dataset.py"), "--input", str(raw),
                    "--output", str(out)], check=True, capture_output=True)
    shipped = REPO / "data" / "gluonts" / D.WEATHER_JENA_NAME
    for rel in ("metadata.json", "variables.json", "train/data.json.gz", "test/data.json.gz"):
        assert (out / rel).read_bytes() == (shipped / rel).read_bytes(), rel
