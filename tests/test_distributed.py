"""Data-parallel training: real 2-process DDP (gloo, CPU, loopback) launched by ``torchrun``.

The multi-process test runs this very file as the worker script::

    python -m torch.distributed.run --nproc_per_node 2 --master_addr 127.0.0.1 \
        --master_port PORT tests/test_distributed.py --worker OUT_DIR

Each worker runs four small scenarios in one launch (process start-up is the
expensive part on a 2-core machine) and saves what it saw to ``OUT_DIR``; the
test compares the ranks with each other and with a single-process run. The
launch runs in its own session with a hard timeout, and collectives time out
after ``TSDIFF_DIST_TIMEOUT`` seconds, so a broken run fails instead of hanging.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest
import torch
import torch.distributed as tdist
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # worker mode: the script's folder (tests/) is on sys.path, not the root
    sys.path.insert(0, str(ROOT))

from tsdiff.distributed import (  # noqa: E402
    DistContext,
    all_gather_object,
    all_reduce_mean,
    all_reduce_sum,
    barrier,
    broadcast_object,
    cleanup,
    current_context,
    init_from_env,
    launched_by_torchrun,
    rank_seed,
)
from tsdiff.errors import TrainingError  # noqa: E402
from tsdiff.training import Trainer  # noqa: E402

D = 4
GLOBAL_BATCH = 16
TOY_STEPS = 40
LAUNCH_TIMEOUT_S = 120
W_TRUE = np.array([1.5, -2.0, 0.5, 3.0], dtype=np.float32)


# ----------------------------------------------------------------------------- shared workloads
class Regression(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(D, 1)

    def loss(self, batch: dict[str, torch.Tensor], generator: Optional[torch.Generator] = None) -> torch.Tensor:
        return ((self.lin(batch["x"]).squeeze(-1) - batch["y"]) ** 2).mean()


def _global_batch(step: int, n: int = GLOBAL_BATCH, seed: int = 0) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng([seed, step])
    x = rng.normal(size=(n, D)).astype(np.float32)
    y = x @ W_TRUE + 0.5 + 0.1 * rng.normal(size=n).astype(np.float32)
    return {"x": torch.from_numpy(x), "y": torch.from_numpy(y.astype(np.float32))}


def toy_regression(ctx: DistContext) -> dict[str, Any]:
    """Rank r trains on its slice of the same global batch; 1 process on the whole batch."""
    r, w = ctx.rank, ctx.world_size
    lo, hi = GLOBAL_BATCH * r // w, GLOBAL_BATCH * (r + 1) // w

    def sample_batch(step: int) -> dict[str, torch.Tensor]:
        return {k: v[lo:hi] for k, v in _global_batch(step).items()}

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(100 + r)  # different init per rank: DDP must broadcast rank 0's
        model = Regression()
    trainer = Trainer(model, sample_batch, val_batches=[_global_batch(10_000, 64)], learning_rate=0.3,
                      max_steps=TOY_STEPS, val_every=10, warmup_steps=3, ema_decay=0.9, seed=0,
                      progress=False, dist=ctx)
    result = trainer.fit()
    with torch.no_grad():
        final_loss = float(model.loss(_global_batch(20_000, 256)))
    return {"model": {k: v.clone() for k, v in model.state_dict().items()},
            "best": {k: v.clone() for k, v in trainer.best_module().state_dict().items()},
            "history": result.history, "best_step": result.best_step, "steps": result.steps,
            "world_size": result.world_size, "final_loss": final_loss}


def tiny_tsdiff(ctx: DistContext, seed: int = 0) -> dict[str, Any]:
    """A tiny TSDiffModel on per-rank random windows of synthetic series, as the estimator does it."""
    from tsdiff.config import TSDiffConfig
    from tsdiff.model import TSDiffModel, batch_to_tensors
    from tsdiff.windows import SeriesArrays, TrainWindowSampler, make_batch

    C, H = 16, 4
    cfg = TSDiffConfig(prediction_length=H, context_length=C, freq="h", lags=(2,), tail_length=4,
                       hidden_channels=8, channel_mults=(1, 2), embedding_dim=8, encoder_channels=8,
                       diffusion_steps=10, beta_end=0.7, scaling="std")
    t = np.arange(80, dtype=np.float32)
    arrays = [SeriesArrays(target=(np.sin(t / (3 + i)) * (i + 1) + i).astype(np.float32),
                           time_feat=np.zeros((0, 80), np.float32)) for i in range(6)]
    lengths = np.array([len(a) for a in arrays])
    sampler = TrainWindowSampler(arrays, C, H, lengths - H)
    val = [batch_to_tensors(make_batch(arrays, np.arange(6), lengths - H, C, H), "cpu")]
    rng = np.random.default_rng([seed, ctx.rank]) if ctx.is_distributed else np.random.default_rng(seed)
    seen: list[float] = []

    def sample_batch(step: int) -> dict[str, torch.Tensor]:
        batch = batch_to_tensors(sampler.sample(rng, 8), "cpu")
        seen.append(float(batch["past_target"].sum()))
        return batch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TSDiffModel(cfg)
    trainer = Trainer(model, sample_batch, val_batches=val, max_steps=6, val_every=3, warmup_steps=2,
                      seed=seed, progress=False, dist=ctx)
    result = trainer.fit()
    return {"model": {k: v.clone() for k, v in model.state_dict().items()},
            "best": {k: v.clone() for k, v in trainer.best_module().state_dict().items()},
            "history": result.history, "best_step": result.best_step, "first_batch_sum": seen[0]}


def uneven_time(ctx: DistContext) -> dict[str, Any]:
    """Rank 1 is slower and starts later: both must stop at the same step on max_time."""
    base = _global_batch

    def sample_batch(step: int) -> dict[str, torch.Tensor]:
        if ctx.rank == 1:
            time.sleep(0.02)
        return base(step, 4)

    if ctx.rank == 1:
        time.sleep(0.2)
    trainer = Trainer(Regression(), sample_batch, max_steps=1_000_000, max_time=0.6, val_every=10_000,
                      progress=False, dist=ctx)
    result = trainer.fit()
    return {"steps": result.steps, "reason": result.stopped_reason, "best_step": result.best_step}


class NaNOnRank1(Regression):
    def loss(self, batch, generator=None):
        out = super().loss(batch, generator)
        return out * float("nan") if bool(batch["bad"]) else out


def nan_on_one_rank(ctx: DistContext, bad_step: int = 4) -> dict[str, Any]:
    def sample_batch(step: int) -> dict[str, torch.Tensor]:
        return {**_global_batch(step, 4), "bad": torch.tensor(ctx.rank == 1 and step == bad_step)}

    trainer = Trainer(NaNOnRank1(), sample_batch, max_steps=50, val_every=2, progress=False, dist=ctx)
    try:
        trainer.fit()
    except TrainingError as exc:
        finite = all(bool(torch.isfinite(v).all()) for v in trainer.best_module().state_dict().values())
        return {"raised": True, "step": exc.step, "best_step": trainer.result.best_step, "finite": finite}
    return {"raised": False}


def estimator_resume(ctx: DistContext, out_dir: str) -> dict[str, Any]:
    """TSDiff.fit with checkpoints under the process group; resume from the step-8 checkpoint on every rank."""
    import shutil

    from conftest import TINY, make_long_frame

    import tsdiff.serialization as est_mod
    from tsdiff import TSDiff

    params = dict(TINY, prediction_length=4, context_length=16, max_steps=12, val_every=6, dropout=0.1, device="cpu")
    df = make_long_frame(3, 80)
    ck, ck8 = Path(out_dir) / "ck", Path(out_dir) / "ck8"
    write = est_mod._Checkpointer.write

    def write_and_keep(self: Any, trainer: Trainer, step: int) -> None:
        write(self, trainer, step)
        if step == 8 and ctx.is_main:  # the checkpoint a run killed at steps 9-11 would resume from
            shutil.copytree(ck, ck8)

    est_mod._Checkpointer.write = write_and_keep
    try:
        straight = TSDiff(**params).fit(df, checkpoint_dir=ck, checkpoint_every=4)
    finally:
        est_mod._Checkpointer.write = write
    barrier(ctx)
    steps_written: list[int] = []

    def count(self: Any, trainer: Trainer, step: int) -> None:
        steps_written.append(step)
        write(self, trainer, step)

    est_mod._Checkpointer.write = count
    try:
        resumed = TSDiff(**params).fit(df, checkpoint_dir=ck8, resume=True)
    finally:
        est_mod._Checkpointer.write = write
    return {"steps_written": steps_written,"straight": {k: v.clone() for k, v in straight.model_.state_dict().items()},
            "resumed": {k: v.clone() for k, v in resumed.model_.state_dict().items()},
            "histories_equal": straight.train_result_.history == resumed.train_result_.history}


def worker(out_dir: str) -> None:
    ctx = init_from_env(device="cpu")
    assert ctx.is_distributed and ctx.backend == "gloo", ctx
    torch.set_num_threads(1)
    out: dict[str, Any] = {"rank": ctx.rank, "world_size": ctx.world_size, "env": launched_by_torchrun(),
                           "same_context": current_context("cpu") == ctx}
    out["broadcast"] = broadcast_object({"from": ctx.rank}, ctx)
    out["gathered"] = all_gather_object(ctx.rank * 10, ctx)
    out["mean"] = all_reduce_mean(float(ctx.rank), ctx)
    out["sum"] = all_reduce_sum([1.0, float(ctx.rank)], ctx)
    out["toy"] = toy_regression(ctx)
    out["tsdiff"] = tiny_tsdiff(ctx)
    out["tsdiff_again"] = tiny_tsdiff(ctx)
    out["time"] = uneven_time(ctx)
    out["nan"] = nan_on_one_rank(ctx)
    out["resume"] = estimator_resume(ctx, out_dir)
    barrier(ctx)
    torch.save(out, Path(out_dir) / f"rank{ctx.rank}.pt")
    cleanup(ctx)


# ----------------------------------------------------------------------------- launcher
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TSDIFF_DIST_TIMEOUT="60",
               PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    if Path("/sys/class/net/lo").exists():
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback only; never pick a real interface
    return env


def launch(nproc: int, out_dir: Path, timeout: float = LAUNCH_TIMEOUT_S, tries: int = 2) -> str:
    """Run this file's worker under torchrun; returns its output.

    Kills the whole process tree on timeout; retries once with another port if
    the free port picked was taken in the meantime.
    """
    for attempt in range(tries):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(nproc),
               "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(Path(__file__).resolve()),
               "--worker", str(out_dir)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=_child_env(), start_new_session=True, cwd=str(ROOT))
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            pytest.fail(f"torchrun did not finish within {timeout} s; output:\n{output[-4000:]}")
        if proc.returncode == 0:
            return output
        if "address already in use" not in output.lower() or attempt == tries - 1:
            break
    pytest.fail(f"torchrun exited with {proc.returncode}; output:\n{output[-6000:]}")


def _equal_states(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- tests
@pytest.mark.skipif(not (tdist.is_available() and tdist.is_gloo_available()), reason="needs gloo")
def test_two_process_ddp_training_matches_and_agrees(tmp_path: Path) -> None:
    launch(2, tmp_path)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=False)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=False)
    assert (r0["rank"], r1["rank"]) == (0, 1) and r0["world_size"] == r1["world_size"] == 2
    assert r0["env"] and r0["same_context"]
    # helpers
    assert r0["broadcast"] == r1["broadcast"] == {"from": 0}
    assert r0["gathered"] == r1["gathered"] == [0, 10]
    assert r0["mean"] == r1["mean"] == 0.5
    assert r0["sum"] == r1["sum"] == [2.0, 1.0]

    # toy regression: identical weights on both ranks, and the same run as one process on the global batch
    t0, t1 = r0["toy"], r1["toy"]
    assert _equal_states(t0["model"], t1["model"]) and _equal_states(t0["best"], t1["best"])
    assert t0["history"] == t1["history"] and t0["best_step"] == t1["best_step"]
    assert t0["steps"] == TOY_STEPS and t0["world_size"] == 2
    single = toy_regression(DistContext())
    for k, v in single["model"].items():
        torch.testing.assert_close(t0["model"][k], v, rtol=1e-4, atol=1e-5)
    for h2, h1 in zip(t0["history"], single["history"]):
        assert h2["step"] == h1["step"]
        assert h2["val_loss"] == pytest.approx(h1["val_loss"], rel=1e-3)
        assert h2["train_loss"] == pytest.approx(h1["train_loss"], rel=1e-3)
    assert t0["final_loss"] == pytest.approx(single["final_loss"], rel=1e-3)
    assert t0["final_loss"] < 0.1  # it actually learned (noise variance is 0.01)

    # tiny TSDiffModel: ranks see different windows but hold the same weights; reproducible per world size
    s0, s1 = r0["tsdiff"], r1["tsdiff"]
    assert s0["first_batch_sum"] != s1["first_batch_sum"]
    assert _equal_states(s0["model"], s1["model"]) and _equal_states(s0["best"], s1["best"])
    assert s0["history"] == s1["history"] and s0["best_step"] == s1["best_step"]
    assert all(math.isfinite(h["val_loss"]) for h in s0["history"])
    assert _equal_states(s0["model"], r0["tsdiff_again"]["model"])
    assert s0["history"] == r0["tsdiff_again"]["history"]

    # max_time: the stop step is agreed although rank 1 is slower and started later
    assert r0["time"] == r1["time"]
    assert r0["time"]["reason"] == "max_time" and r0["time"]["steps"] > 0

    # a non-finite loss on rank 1 only stops both ranks at the same step, with a finite best checkpoint
    assert r0["nan"] == r1["nan"] == {"raised": True, "step": 4, "best_step": 4, "finite": True}

    # checkpoints under torchrun: rank 0 writes every rank's streams, every rank resumes bit-identically
    for r in (r0, r1):
        assert _equal_states(r["resume"]["straight"], r["resume"]["resumed"]) and r["resume"]["histories_equal"]
        assert r["resume"]["steps_written"] == [12]  # it did resume at step 8 (a fresh run writes 4, 8, 12)
    assert _equal_states(r0["resume"]["resumed"], r1["resume"]["resumed"])


def test_init_from_env_without_torchrun_is_single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert not launched_by_torchrun()
    ctx = init_from_env(device="cpu")
    assert ctx == DistContext() and ctx.is_main and not ctx.is_distributed
    assert not tdist.is_initialized()
    assert current_context("cpu") == ctx
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    assert launched_by_torchrun()
    ctx = init_from_env(device="cpu")
    assert ctx.world_size == 1 and ctx.backend is None and not tdist.is_initialized()
    cleanup(ctx)  # nothing to destroy: no error


def test_init_from_env_rejects_bad_devices() -> None:
    with pytest.raises(ValueError, match="not a torch device"):
        init_from_env(device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            init_from_env(device="cuda")


def test_helpers_are_identities_for_one_process() -> None:
    ctx = DistContext()
    barrier(ctx)
    barrier(None)
    assert broadcast_object({"a": 1}, ctx) == {"a": 1}
    assert all_gather_object(3, ctx) == [3]
    assert all_reduce_mean(2.5, ctx) == 2.5
    assert all_reduce_sum([1.0, 2], None) == [1.0, 2.0]
    assert all_reduce_sum(torch.tensor([1.5, 2.5]), ctx) == [1.5, 2.5]


def test_rank_seed() -> None:
    assert rank_seed(7, 0, 1) == 7
    seeds = {rank_seed(7, r, 4) for r in range(4)}
    assert len(seeds) == 4
    assert rank_seed(7, 1, 4) == rank_seed(7, 1, 8)  # depends on (seed, rank) only
    assert rank_seed(7, 1) != rank_seed(8, 1)
    for s in seeds:
        torch.Generator().manual_seed(s)  # valid torch seeds


if __name__ == "__main__" and "--worker" in sys.argv:
    worker(sys.argv[sys.argv.index("--worker") + 1])
