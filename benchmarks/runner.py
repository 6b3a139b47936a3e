"""A resumable runner for benchmark plans: one process per job, N jobs at a time, one CSV row per job.

A *plan* is a list of jobs, one per line of a text file (``benchmarks/plans/final.txt``)::

    # protocol  dataset       model     seed  [extra arguments of the protocol's script]
    paper       m4_hourly     tsdiff    0
    paper       ett_small_1h  patchtst  1     --max-epochs 50
    paper       m4_hourly     autoets   0

or generated from ``--datasets / --models / --seeds`` (statistical models get seed 0 only).
Protocols: ``paper`` runs ``benchmarks/run_benchmarks.py`` (the last test window of every entry,
see its docstring); ``rolling`` runs ``benchmarks/rolling.py`` (tsdiff only; its own row format).

Usage::

    python benchmarks/runner.py benchmarks/plans/final.txt --jobs 2 --threads 1
    python benchmarks/runner.py benchmarks/plans/final.txt --dry-run          # what is done, what is left
    python benchmarks/runner.py --datasets ett_small_1h --models deepar tft --seeds 0 1 \\
        --quick --allow-dirty --out scratch/smoke.csv                               # a generated plan

Each job runs in its own process (``OMP_NUM_THREADS`` and ``--threads`` = ``--threads``) with its
stdout/stderr in ``--log-dir``; the job's script writes its rows to a scratch CSV there, and the
runner appends them to ``--out`` (one row per job; ``--also-raw`` style jobs may give more) with
its own columns: ``job``, ``protocol``, ``status``, ``error``, ``wall_seconds``, ``git_sha``
(:func:`tsdiff.provenance.git_sha`, ``+dirty`` on a modified tree), ``hardware``, ``date``,
``command``, ``log``. A job that already has an ``ok`` (or ``skipped``: the script decided not to
run, e.g. AutoARIMA over its time limit) row at the current SHA is skipped, so a killed run, or one
continued in a later session on the same commit, resumes where it stopped. A job that fails
(non-zero exit, no row, a row with status ``error``, or ``--timeout``) is recorded with its error and
does not stop the others. The runner refuses to start on a dirty tree unless ``--allow-dirty``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import datetime as _dt
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import git_sha, hardware, locked, read_rows  # noqa: E402

#: The runner's own columns, first in every results CSV it writes.
RUNNER_COLUMNS = ["job", "protocol", "dataset", "model", "seed", "status", "error", "wall_seconds", "git_sha",
                  "hardware", "threads", "date", "command", "log"]
#: Row statuses that mark a job as done (not run again at the same commit).
DONE = ("ok", "skipped")
#: Models that have no seed (one job, seed 0).
UNSEEDED = ("seasonal_naive", "autoets", "autoarima")


class PlanError(ValueError):
    """A plan line that cannot be read."""


@dataclasses.dataclass(frozen=True)
class Job:
    """One job of a plan: run ``model`` on ``dataset`` with ``seed`` under ``protocol``."""

    protocol: str
    dataset: str
    model: str
    seed: int
    args: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """The job's identity in the results CSV (protocol/dataset/model/seed and its extra arguments)."""
        base = f"{self.protocol}/{self.dataset}/{self.model}/seed{self.seed}"
        return base + (" " + shlex.join(self.args) if self.args else "")

    @property
    def slug(self) -> str:
        """A file-name-safe form of :attr:`id` (log and scratch files)."""
        keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.id.replace("/", "__"))
        return keep[:150]

    def line(self) -> str:
        """The job as a plan line."""
        return " ".join([self.protocol, self.dataset, self.model, str(self.seed)] + [shlex.quote(a) for a in self.args])


# --------------------------------------------------------------------------- protocols
def _paper_command(job: Job, rows_csv: Path, threads: int) -> list[str]:
    return [sys.executable, str(ROOT / "benchmarks" / "run_benchmarks.py"), "--datasets", job.dataset,
            "--models", job.model, "--seeds", str(job.seed), "--threads", str(threads), "--out", str(rows_csv),
            *job.args]


def _rolling_command(job: Job, rows_csv: Path, threads: int) -> list[str]:
    if job.model != "tsdiff":
        raise PlanError(f"protocol 'rolling' runs tsdiff only, not {job.model!r}")
    return [sys.executable, str(ROOT / "benchmarks" / "rolling.py"), "--datasets", job.dataset,
            "--seeds", str(job.seed), "--threads", str(threads), "--out", str(rows_csv), *job.args]


#: protocol -> function(job, scratch rows CSV, threads) -> argv of the job's process.
PROTOCOLS: dict[str, Callable[[Job, Path, int], list[str]]] = {"paper": _paper_command,
                                                               "rolling": _rolling_command}


# --------------------------------------------------------------------------- plans
def parse_plan(text: str, protocols: Sequence[str] = tuple(PROTOCOLS)) -> list[Job]:
    """The jobs of a plan file's text: ``protocol dataset model seed [args...]`` per line.

    ``#`` starts a comment; blank lines are skipped; the extra arguments are split like a shell
    does (``shlex``). Raises :class:`PlanError` naming the line for an unknown protocol, a missing
    field, a seed that is not an integer, or a job listed twice.
    """
    jobs: list[Job] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        try:
            tokens = shlex.split(raw, comments=True)
        except ValueError as exc:
            raise PlanError(f"line {number}: {exc}") from None
        if not tokens:
            continue
        if len(tokens) < 4:
            raise PlanError(f"line {number}: expected 'protocol dataset model seed [args...]', got {raw.strip()!r}")
        protocol, dataset, model, seed, *args = tokens
        if protocol not in protocols:
            raise PlanError(f"line {number}: unknown protocol {protocol!r} (known: {', '.join(protocols)})")
        try:
            seed_value = int(seed)
        except ValueError:
            raise PlanError(f"line {number}: seed must be an integer, got {seed!r}") from None
        job = Job(protocol, dataset, model, seed_value, tuple(args))
        if job.id in seen:
            raise PlanError(f"line {number}: job {job.id!r} already listed on line {seen[job.id]}")
        seen[job.id] = number
        jobs.append(job)
    return jobs


def generate_plan(datasets: Sequence[str], models: Sequence[str], seeds: Sequence[int], protocol: str = "paper",
                  args: Sequence[str] = ()) -> list[Job]:
    """Jobs for every dataset x model x seed (statistical models: seed 0 only), seed-major.

    Seed-major order (every dataset and model at the first seed, then the next seed) gives a
    complete one-seed table first when a long run is stopped early.
    """
    jobs: list[Job] = []
    for i, seed in enumerate(seeds):
        for dataset in datasets:
            for model in models:
                if model in UNSEEDED and i > 0:
                    continue
                jobs.append(Job(protocol, dataset, model, 0 if model in UNSEEDED else int(seed), tuple(args)))
    return jobs


# --------------------------------------------------------------------------- resume logic
def done_jobs(rows: Sequence[dict[str, str]], sha: str) -> set[str]:
    """Ids of the jobs with a row of status ``ok`` / ``skipped`` at commit ``sha`` (exactly: ``+dirty`` counts)."""
    return {r.get("job", "") for r in rows if r.get("git_sha") == sha and r.get("status") in DONE}


def pending(jobs: Sequence[Job], rows: Sequence[dict[str, str]], sha: str) -> list[Job]:
    """The jobs of the plan that are not done at ``sha``, in plan order."""
    done = done_jobs(rows, sha)
    return [j for j in jobs if j.id not in done]


def check_tree(sha: str, allow_dirty: bool) -> None:
    """Refuse a modified working tree (``+dirty``) or an unknown commit unless ``allow_dirty``."""
    if allow_dirty:
        return
    if sha.endswith("+dirty"):
        raise SystemExit(f"runner: the working tree is dirty ({sha}); commit first, or pass --allow-dirty for a "
                         "scratch run (rows are then marked +dirty and never enter the summary table)")
    if sha == "unknown":
        raise SystemExit("runner: not a git checkout (no commit to record); pass --allow-dirty for a scratch run")


# --------------------------------------------------------------------------- results CSV
def append_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Append ``rows`` to the CSV at ``path`` under a lock; the header grows when rows bring new columns.

    Columns: :data:`RUNNER_COLUMNS` first, then the others in the order first seen. The file is
    rewritten (temporary file + rename) only when the header changes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.parent / f".{path.name}.lock"):
        existing = read_rows(path)
        header = list(csv.DictReader(path.open(newline="")).fieldnames or []) if path.exists() else []
        columns = list(header) or list(RUNNER_COLUMNS)
        for row in rows:
            columns += [k for k in row if k not in columns]
        values = [{k: "" if row.get(k) is None else str(row.get(k, "")) for k in columns} for row in rows]
        if columns == header:
            with path.open("a", newline="") as fh:
                csv.DictWriter(fh, fieldnames=columns).writerows(values)
            return
        tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
        with tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(existing)
            writer.writerows(values)
        os.replace(tmp, path)


def job_rows(job: Job, produced: Sequence[dict[str, str]], *, returncode: Optional[int], wall: float, sha: str,
             hw: str, threads: int, command: str, log: Path, timed_out: bool = False,
             log_tail: str = "") -> list[dict[str, Any]]:
    """The rows a finished job adds to the results CSV: its script's rows, or one failure row.

    The script's rows keep their own columns; the runner's columns are set on each. A non-zero exit,
    no row, or a timeout gives one row of status ``failed`` with the reason in ``error`` (the script's
    rows, if any, are dropped: a job that crashed half-way is not trusted). A row the script marked
    ``error`` keeps that status and gets its ``note`` as ``error``.
    """
    common = {"job": job.id, "protocol": job.protocol, "dataset": job.dataset, "model": job.model,
              "seed": job.seed, "wall_seconds": round(wall, 1), "git_sha": sha, "hardware": hw,
              "threads": threads, "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "command": command, "log": str(log)}
    failure = None
    if timed_out:
        failure = f"timed out after {wall:.0f} s"
    elif returncode != 0:
        failure = f"exit code {returncode}"
    elif not produced:
        failure = "the job wrote no row"
    if failure is not None:
        tail = " | ".join(line.strip() for line in log_tail.strip().splitlines()[-3:])
        return [{**common, "status": "failed", "error": failure + (f": {tail}" if tail else "")[:500]}]
    out = []
    for r in produced:
        row = {**r, **common, "model": r.get("model") or job.model, "status": r.get("status", "")}
        if row["status"] not in DONE:
            row["error"] = (r.get("note") or r.get("error") or row["status"])[:500]
        out.append(row)
    return out


# --------------------------------------------------------------------------- running
@dataclasses.dataclass
class _Running:
    job: Job
    proc: subprocess.Popen
    rows_csv: Path
    log: Path
    command: str
    started: float


def _tail(path: Path, n: int = 4000) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - n))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def run_plan(jobs: Sequence[Job], out: Path, log_dir: Path, *, n_jobs: int = 2, threads: int = 1, sha: str,
             hw: str = "", timeout: Optional[float] = None, extra_argv: Callable[[Job], list[str]] = lambda j: [],
             protocols: Optional[dict[str, Callable[[Job, Path, int], list[str]]]] = None,
             poll: float = 1.0, echo: Callable[[str], None] = lambda s: print(s, flush=True)) -> dict[str, int]:
    """Run the jobs not yet done at ``sha``, ``n_jobs`` at a time; append each job's rows to ``out``.

    ``extra_argv(job)`` adds arguments that do not change the results (e.g. ``--save-model-dir``)
    and so are not part of the job's identity. Returns counts: ``done_before``, ``ok``, ``failed``.
    SIGINT / SIGTERM stop the running jobs (their process groups) and return: finished jobs are in
    ``out``, so the next call resumes.
    """
    protocols = dict(PROTOCOLS if protocols is None else protocols)
    out, log_dir = Path(out), Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    todo = pending(jobs, read_rows(out), sha)
    counts = {"done_before": len(jobs) - len(todo), "ok": 0, "failed": 0}
    echo(f"runner: {len(jobs)} jobs, {counts['done_before']} already done at {sha[:12]}, {len(todo)} to run, "
         f"{n_jobs} at a time, {threads} thread(s) each")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "OPENBLAS_NUM_THREADS": str(threads), "PYTHONPATH": os.pathsep.join(
               [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))}
    running: list[_Running] = []
    queue = list(todo)
    stop = {"flag": False}

    def _stop(signum: int, frame: Any) -> None:
        stop["flag"] = True

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while (queue or running) and not stop["flag"]:
            while queue and len(running) < n_jobs and not stop["flag"]:
                job = queue.pop(0)
                rows_csv = log_dir / f"{job.slug}.rows.csv"
                log = log_dir / f"{job.slug}.log"
                with contextlib.suppress(FileNotFoundError):
                    rows_csv.unlink()
                argv = protocols[job.protocol](job, rows_csv, threads) + list(extra_argv(job))
                command = _display(argv)
                with log.open("a") as fh:
                    fh.write(f"\n=== {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} "
                             f"{sha} job {job.id}\n$ {command}\n")
                    fh.flush()
                    proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, cwd=str(ROOT), env=env,
                                            start_new_session=True)
                running.append(_Running(job, proc, rows_csv, log, command, time.perf_counter()))
                echo(f"runner: started {job.id} (pid {proc.pid})")
            time.sleep(poll)
            for r in list(running):
                wall = time.perf_counter() - r.started
                timed_out = timeout is not None and wall > timeout and r.proc.poll() is None
                if timed_out:
                    _kill(r.proc)
                if r.proc.poll() is None:
                    continue
                running.remove(r)
                rows = job_rows(r.job, read_rows(r.rows_csv), returncode=r.proc.returncode, wall=wall, sha=sha,
                                hw=hw, threads=threads, command=r.command, log=r.log, timed_out=timed_out,
                                log_tail=_tail(r.log))
                append_rows(out, rows)
                ok = all(row["status"] in DONE for row in rows)
                counts["ok" if ok else "failed"] += 1
                echo(f"runner: {'finished' if ok else 'FAILED'} {r.job.id} in {wall:.0f} s: "
                     + ", ".join(f"{row['status']}" + (f" ({row.get('error', '')[:120]})" if row.get("error") else "")
                                 for row in rows))
    finally:
        for r in running:  # interrupted: stop what we started; those jobs stay pending
            _kill(r.proc)
            echo(f"runner: stopped {r.job.id}; it will run again next time")
        for s, handler in previous.items():
            signal.signal(s, handler)
    counts["left"] = len(pending(jobs, read_rows(out), sha))
    echo(f"runner: {counts['ok']} finished, {counts['failed']} failed, {counts['left']} left")
    return counts


def _display(argv: Sequence[str]) -> str:
    """The command as recorded: ``python`` for this interpreter, paths inside the checkout relative to it."""
    root = str(ROOT) + os.sep
    words = ["python" if argv[0] == sys.executable else argv[0]]
    words += [a[len(root):] if a.startswith(root) else a for a in argv[1:]]
    return shlex.join(words)


def _kill(proc: subprocess.Popen) -> None:
    """Terminate a job's process group (it was started in its own session), then kill it if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# --------------------------------------------------------------------------- CLI
def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("plan", nargs="?", help="plan file (one job per line); or give --datasets/--models/--seeds")
    p.add_argument("--datasets", nargs="+", help="generate a plan: datasets")
    p.add_argument("--models", nargs="+", help="generate a plan: models")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="generate a plan: seeds of the learned models")
    p.add_argument("--protocol", default="paper", choices=sorted(PROTOCOLS), help="generate a plan: protocol")
    p.add_argument("--write-plan", help="write the generated plan to this file and exit")
    p.add_argument("--jobs", type=int, default=2, help="jobs at a time (default 2)")
    p.add_argument("--threads", type=int, default=1, help="torch/OpenMP threads per job (default 1)")
    p.add_argument("--out", help="results CSV (default: benchmarks/results/PLAN.csv, PLAN = the plan file's name)")
    p.add_argument("--log-dir", help="job logs and scratch rows (default: benchmarks/logs/PLAN/)")
    p.add_argument("--allow-dirty", action="store_true", help="run on a modified tree (rows marked +dirty)")
    p.add_argument("--timeout", type=float, default=None, help="kill a job after this many seconds (a failed row)")
    p.add_argument("--quick", action="store_true", help="add --quick to every job (smoke runs; part of the job id)")
    p.add_argument("--save-model-dir", help="tsdiff jobs of the paper protocol: save the fitted model under DIR "
                                            "(run_benchmarks.py --save-model-dir; not part of the job id)")
    p.add_argument("--dry-run", action="store_true", help="list the jobs and whether each is done; run nothing")
    args = p.parse_args(argv)

    if args.plan:
        jobs = parse_plan(Path(args.plan).read_text())
        name = Path(args.plan).stem
    elif args.datasets and args.models:
        jobs = generate_plan(args.datasets, args.models, args.seeds, args.protocol)
        name = "adhoc"
    else:
        p.error("give a plan file or --datasets and --models")
    if args.quick:
        jobs = [dataclasses.replace(j, args=j.args + ("--quick",)) for j in jobs]
    if args.write_plan:
        Path(args.write_plan).write_text("# protocol dataset model seed [args]\n"
                                         + "".join(j.line() + "\n" for j in jobs))
        print(f"wrote {len(jobs)} jobs to {args.write_plan}")
        return 0
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"{name}.csv")
    log_dir = Path(args.log_dir or ROOT / "benchmarks" / "logs" / name)
    sha = git_sha()
    if args.dry_run:
        done = done_jobs(read_rows(out), sha)
        for j in jobs:
            print(f"{'done' if j.id in done else 'todo'}  {j.id}")
        print(f"{sum(j.id in done for j in jobs)} of {len(jobs)} done at {sha} in {out}")
        return 0
    check_tree(sha, args.allow_dirty)
    hw = dict(hardware(), torch_threads=args.threads)

    def extra(job: Job) -> list[str]:
        if args.save_model_dir and job.protocol == "paper" and job.model.startswith("tsdiff"):
            return ["--save-model-dir", args.save_model_dir]
        return []

    counts = run_plan(jobs, out, log_dir, n_jobs=args.jobs, threads=args.threads, sha=sha,
                      hw=json.dumps(hw, sort_keys=True), timeout=args.timeout, extra_argv=extra)
    return 0 if counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
