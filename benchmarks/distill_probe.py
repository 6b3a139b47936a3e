"""Diagnostic probe of the distilled student (issue 12): distil a saved teacher with one setting, compare on a subset.

Usage::

    python benchmarks/distill_probe.py --model models/teachers/m4_hourly-tsdiff-seed1 --dataset m4_hourly \
        --set '{"LEARNING_RATE": 5e-4}' --name lr5e-4 --out scratch/probe.jsonl

``--set`` overrides module constants of :mod:`tsdiff.distillation` (``LEARNING_RATE``, ``EXAMPLES_PER_UPDATE``,
``REUSE``, ``WINDOWS_PER_BATCH``, ``PATHS_PER_WINDOW``, ``SPREAD``) and
takes ``max_steps`` and ``steps`` (student step counts). A quick look, not an acceptance figure (that is
``distill_eval.py``): every ``--every``-th test entry up to ``--n-entries``, ``--n-samples`` paths, one thread.

Writes one JSON line: the held-out distillation loss through training; the chosen student's squared miss of each
(t -> t_next) jump on the held-out trajectories, relative to the target's variance; and per step count, against
the teacher's default sampler from the same starting noise (same seed, uncalibrated): the median over series and
horizon steps of the paths' RMS miss / the teacher's spread (``path_rmse/sd``, and over horizon steps 0-7,
8-23, 24-47), of the spread ratio and of |median miss| / spread; plus the calibrated wQL (GluonTS mean weighted
quantile loss) relative to the teacher's and the coverage differences. With the git SHA, hardware and command.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import git_sha, hardware  # noqa: E402

CONSTANTS = ("LEARNING_RATE", "EXAMPLES_PER_UPDATE", "REUSE", "WINDOWS_PER_BATCH", "PATHS_PER_WINDOW", "SPREAD")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--set", default="{}", help="JSON overrides (see the module docstring)")
    p.add_argument("--name", required=True)
    p.add_argument("--n-entries", type=int, default=100)
    p.add_argument("--every", type=int, default=4)
    p.add_argument("--n-samples", type=int, default=50)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True, help="JSON-lines file to append to")
    args = p.parse_args(argv)
    wall0 = time.perf_counter()
    import numpy as np
    import torch
    from _peers import last_window_inputs, series_key
    from run_benchmarks import score

    import tsdiff.distillation as D
    from tsdiff import TSDiff
    from tsdiff.datasets import load_dataset
    from tsdiff.integrations.gluonts import TSDiffEstimator, TSDiffPredictor

    torch.set_num_threads(1)
    cfg = json.loads(args.set)
    for k in CONSTANTS:
        if k in cfg:
            setattr(D, k, cfg[k])
    val: dict = {}
    trajectories = D.TeacherTrajectories.from_inputs

    def keep_val(self, inputs):  # the held-out batch is the one built without `examples`
        batch = trajectories(self, inputs)
        if self.examples is None:
            val["batch"] = batch
        return batch

    D.TeacherTrajectories.from_inputs = keep_val
    m = TSDiff.load(args.model, device="cpu")
    m.set_params(progress=False, num_threads=1)
    ds = load_dataset(args.dataset)
    freq, H = ds.metadata.freq, int(ds.metadata.prediction_length)
    steps_k = tuple(cfg.get("steps", D.DEFAULT_STUDENT_STEPS))
    df, _, _, st = TSDiffEstimator(freq=freq, prediction_length=H).training_frames(ds.train)
    t0 = time.perf_counter()
    m.distill_student(df, static_df=st, max_steps=cfg.get("max_steps"), steps=steps_k)
    r = m.student_.train_result
    out = {"name": args.name, "set": cfg, "distill_s": round(time.perf_counter() - t0, 1), "best_step": r.best_step,
           "val_loss": [(int(h["step"]), round(h["val_loss"], 5)) for h in r.history if "val_loss" in h]}
    student = m.student_.module.eval()
    vb, per = val["batch"], {}
    with torch.no_grad():
        for t, tn in sorted({(int(a), int(b)) for a, b in zip(vb["t"], vb["t_next"])}, reverse=True):
            sel = (vb["t"] == t) & (vb["t_next"] == tn)
            b = {k: (v if k in ("seq", "emb") else v[sel]) for k, v in vb.items()}
            v = student(b["z"], b["t"], b["t_next"], b["seq"][b["group"]], b["emb"][b["group"]])
            z = D.jump(b["z"], v, b["a_t"][:, None], b["b_t"][:, None], b["a_next"][:, None], b["b_next"][:, None],
                       student.signal_floor, student.prediction)
            per[f"{t}->{tn}"] = round(float((z - b["target"]).pow(2).mean() / b["target"].var()), 5)
    out["jump_rel_mse"] = per
    inputs, tss = last_window_inputs(list(ds.test)[::args.every][:args.n_entries], H)
    keys = [series_key(e) for e in inputs]
    pred = TSDiffPredictor(m, H, freq)

    def run(sampler, k, calibrated):
        fc = list(pred.predict(inputs, num_samples=args.n_samples, seed=args.seed, sampler=sampler, steps=k,
                               calibrated=calibrated))
        return np.stack([f.samples for f in fc]), score(tss, fc, H, keys=keys)

    _, s_t = run(None, None, True)
    T, _ = run(None, None, False)  # (N, S, H)
    sd_t = T.std(1) + 1e-9
    out["teacher"] = {"wql": round(s_t["mean_wQuantileLoss"], 5), "cov50": round(s_t["coverage_50"], 3),
                      "cov90": round(s_t["coverage_90"], 3)}
    for k in steps_k:
        _, s = run("distilled", k, True)
        X, _ = run("distilled", k, False)
        rel = np.sqrt(((X - T) ** 2).mean(1)) / sd_t
        out[f"k{k}"] = {"wql_rel": round(s["mean_wQuantileLoss"] / s_t["mean_wQuantileLoss"] - 1, 4),
                        "cov50_d": round(s["coverage_50"] - s_t["coverage_50"], 3),
                        "cov90_d": round(s["coverage_90"] - s_t["coverage_90"], 3),
                        "path_rmse/sd": round(float(np.median(rel)), 3),
                        "path_rmse/sd_h": [round(float(np.median(rel[:, a:b])), 3) for a, b in ((0, 8), (8, 24),
                                                                                                  (24, H))],
                        "sd_ratio": round(float(np.median(X.std(1) / sd_t)), 3),
                        "median_bias/sd": round(float(np.median(np.abs(np.median(X, 1) - np.median(T, 1)) / sd_t)),
                                                3)}
    out.update(git_sha=git_sha(), torch=torch.__version__, hardware=hardware(), seed=args.seed,
               command="python benchmarks/distill_probe.py " + " ".join(shlex.quote(a) for a in argv),
               wall_seconds=round(time.perf_counter() - wall0, 1))
    with open(args.out, "a") as fh:
        fh.write(json.dumps(out) + "\n")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
