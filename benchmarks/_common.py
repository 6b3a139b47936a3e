"""Helpers shared by the benchmark scripts (not part of the library): CSV result rows, forked workers, provenance.

``git_sha`` and ``hardware`` are the library's own (:mod:`tsdiff.provenance`, which ``tsdiff demo``
records with too), re-exported here so that every script takes its provenance from one place.
The scripts put the repository root on ``sys.path`` before importing this module.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from tsdiff.provenance import git_sha, hardware

__all__ = ["collect", "current_rss_mb", "git_sha", "hardware", "locked", "read_rows", "upsert_row"]


def current_rss_mb() -> float:
    """Resident set size now (Linux ``/proc/self/statm``), MiB; 0 where unavailable."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of the CSV at ``path`` (``[]`` when it does not exist)."""
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def upsert_row(path: Path, row: dict[str, Any], key: Sequence[str], columns: Sequence[str],
               fmt: Callable[[Any], str]) -> None:
    """Write ``row`` into the CSV at ``path``, replacing a row with the same ``key`` fields.

    Atomic (temporary file + rename) and serialized by a lock file, so several benchmark
    processes may write rows into the same CSV.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.parent / f".{path.name}.lock"):
        rows = read_rows(path)
        wanted = tuple(str(row[k]) for k in key)
        rows = [r for r in rows if tuple(r[k] for k in key) != wanted]
        rows.append({k: fmt(row.get(k, "")) for k in columns})
        tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
        with tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)


@contextlib.contextmanager
def locked(lock_path: Path):
    """Hold an exclusive ``flock`` on ``lock_path`` (created when missing) for the block."""
    with lock_path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def collect(proc: Any, recv: Any, send: Any) -> dict[str, Any]:
    """Start a forked worker, wait for the one dict it sends; a crashed worker becomes an error row."""
    proc.start()
    send.close()
    try:
        out = recv.recv()
    except EOFError:
        out = {"status": "error", "note": f"worker died (exit code {proc.exitcode})"}
    proc.join()
    return out
