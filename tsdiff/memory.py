"""Up-front memory checks: refuse a request that would not fit, before allocating it.

A forecast of ``n_series x n_samples x horizon`` float32 values is easy to ask
for and easy to get wrong by orders of magnitude (``n_samples=10**9``). The
functions here estimate what a request will hold and compare it with a limit:
by default a fraction of the memory available now, settable per call.
"""

from __future__ import annotations

import logging
import os
from typing import Optional, Union

from .errors import MemoryLimitError

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_MEMORY_FRACTION", "available_memory", "resolve_memory_limit", "check_memory", "format_bytes"]

#: Default share of the available memory one request may hold.
DEFAULT_MEMORY_FRACTION = 0.75

MemoryLimit = Union[None, int, float]


def format_bytes(n: float) -> str:
    """``1.9e9`` -> ``"1.8 GiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover - loop always returns


def available_memory() -> Optional[int]:
    """Bytes of memory available to a new allocation now, or None when unknown.

    Uses ``psutil`` when it is installed, else ``MemAvailable`` of ``/proc/meminfo``
    (Linux), else ``os.sysconf`` available pages.
    """
    try:
        import psutil  # optional: not a dependency of tsdiff
    except ImportError:
        pass
    else:
        return int(psutil.virtual_memory().available)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def resolve_memory_limit(memory_limit: MemoryLimit = None) -> tuple[float, str]:
    """The limit in bytes and a phrase saying where it comes from.

    Parameters
    ----------
    memory_limit : None, float or int
        None: ``DEFAULT_MEMORY_FRACTION`` of :func:`available_memory`. A float in
        ``(0, 1]``: that fraction of it. A number above 1: bytes.
        ``float("inf")`` disables the check.

    Returns
    -------
    (limit_bytes, description)
    """
    if memory_limit is not None:
        if isinstance(memory_limit, bool) or not isinstance(memory_limit, (int, float)) or not memory_limit > 0:
            raise ValueError(f"memory_limit must be a fraction in (0, 1], a number of bytes, or inf; "
                             f"got {memory_limit!r}")
        if memory_limit > 1:
            return float(memory_limit), f"memory_limit={format_bytes(memory_limit)}"
    fraction = DEFAULT_MEMORY_FRACTION if memory_limit is None else float(memory_limit)
    avail = available_memory()
    if avail is None:
        logger.debug("available memory unknown: memory check skipped")
        return float("inf"), "unknown available memory"
    return fraction * avail, f"{fraction:.0%} of the {format_bytes(avail)} available"


def check_memory(needed: float, memory_limit: MemoryLimit = None, *, what: str, detail: str,
                 way_out: str) -> None:
    """Raise :class:`~tsdiff.errors.MemoryLimitError` when ``needed`` bytes exceed the limit.

    Parameters
    ----------
    needed : float
        Estimated bytes the request will hold.
    memory_limit : None, float or int
        See :func:`resolve_memory_limit`.
    what : str
        The request, e.g. ``"predict(n_samples=1000000000)"``.
    detail : str
        How ``needed`` was computed, e.g. ``"3 series x 10^9 samples x 24 steps x 4 bytes"``.
    way_out : str
        What the user can do instead.
    """
    limit, source = resolve_memory_limit(memory_limit)
    if needed <= limit:
        return
    raise MemoryLimitError(
        f"{what} would need about {format_bytes(needed)} of memory ({detail}), over the limit of "
        f"{format_bytes(limit)} ({source}). {way_out} Or raise the limit with memory_limit= (bytes, or a "
        "fraction of the available memory; float('inf') turns the check off).")
