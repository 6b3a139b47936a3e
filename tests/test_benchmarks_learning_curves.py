"""benchmarks/learning_curves.py: every tsdiff checkpoint is kept, and holds the weights predict uses (tiny fit)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from conftest import TINY, make_long_frame

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import learning_curves  # noqa: E402

from tsdiff import TSDiff  # noqa: E402
from tsdiff.serialization import _Checkpointer  # noqa: E402


def test_keep_checkpoints_copies_each_one_with_the_weights_predict_uses(tmp_path):
    df = make_long_frame(n_series=2, length=96)
    model = TSDiff(prediction_length=6, context_length=24, freq="h", seed=0, calibrate=False,
                   **{**TINY, "max_steps": 8, "val_every": 4})
    original = _Checkpointer.write
    with learning_curves.keep_checkpoints(tmp_path / "steps") as kept:
        model.fit(df, checkpoint_dir=tmp_path / "resume", checkpoint_every=2)
    assert _Checkpointer.write is original  # unpatched afterwards
    assert [p.name for p in kept] == [f"step{s:07d}.pt" for s in (2, 4, 6, 8)]
    last = TSDiff.load(kept[-1], device="cpu")
    assert last.train_result_.steps == 8 and last.train_result_.best_step == model.train_result_.best_step
    for name, tensor in model.model_.state_dict().items():
        assert torch.equal(tensor.cpu(), last.model_.state_dict()[name]), name
    # the earlier copies are other weights (the copies are snapshots, not links to one file)
    first = TSDiff.load(kept[0], device="cpu").model_.state_dict()
    assert any(not torch.equal(first[k], v.cpu()) for k, v in model.model_.state_dict().items())
    # the current EMA weights ride along for resuming (what --current-ema scores)
    ema = torch.load(kept[1], map_location="cpu", weights_only=True)["checkpoint"]["trainer"]["ema"]
    assert set(ema) == set(first)


def test_checkpoint_curves_pick_each_runs_commit(tmp_path):
    import csv

    path = tmp_path / "lc.csv"
    rows = []
    for sha, wql in (("aaa", 2.0), ("bbb", 1.0)):
        for variant, step in (("checkpoint", 10), ("checkpoint", 20), ("checkpoint_ema", 20), ("final", 20)):
            rows.append({"dataset": "d", "model": "tsdiff", "seed": "0", "variant": variant, "status": "ok",
                         "unit": "step", "checkpoint": str(step), "n_samples": "100", "git_sha": sha,
                         "wql_gluonts_mean_wQuantileLoss": str(wql * (2 if step == 10 else 1))})
    rows.append({**rows[0], "model": "deepar", "unit": "epoch", "git_sha": "aaa"})
    rows.append({**rows[3], "model": "deepar", "unit": "epoch", "git_sha": "aaa"})
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    curves = learning_curves.checkpoint_curves(path)
    assert curves[("tsdiff", "d", 0)]["points"] == [(10, 2.0), (20, 1.0)]  # bbb, the last final row
    assert curves[("tsdiff", "d", 0)]["ema"] == [(20, 1.0)] and curves[("tsdiff", "d", 0)]["final"] == 1.0
    assert curves[("deepar", "d", 0)]["sha"] == "aaa"
    assert learning_curves.checkpoint_curves(path, commit="aa")[("tsdiff", "d", 0)]["points"] == [(10, 4.0),
                                                                                                   (20, 2.0)]
    assert learning_curves.improvement_after([(10, 2.0), (20, 1.0)], 10) == 0.5
