"""Tests of :mod:`tsdiff.memory`: available memory, limits and the error message."""

from __future__ import annotations

import pytest

from tsdiff import memory
from tsdiff.errors import MemoryLimitError


def test_available_memory_is_a_plausible_number() -> None:
    avail = memory.available_memory()
    assert avail is not None and 10 * 2**20 < avail < 2**50


def test_limits_fraction_bytes_and_off(monkeypatch) -> None:
    monkeypatch.setattr(memory, "available_memory", lambda: 8 * 2**30)
    assert memory.resolve_memory_limit(None) == (6 * 2**30, "75% of the 8.0 GiB available")
    assert memory.resolve_memory_limit(0.5)[0] == 4 * 2**30
    assert memory.resolve_memory_limit(1000)[0] == 1000
    assert memory.resolve_memory_limit(float("inf"))[0] == float("inf")
    for bad in (0, -1, True, "1G"):
        with pytest.raises(ValueError, match="memory_limit must be"):
            memory.resolve_memory_limit(bad)
    monkeypatch.setattr(memory, "available_memory", lambda: None)  # unknown: the check cannot refuse
    assert memory.resolve_memory_limit(None)[0] == float("inf")


def test_check_memory_names_the_figure_the_limit_and_the_way_out(monkeypatch) -> None:
    monkeypatch.setattr(memory, "available_memory", lambda: 4 * 2**30)
    memory.check_memory(2**30, what="x", detail="d", way_out="w")  # under 3 GiB: fine
    with pytest.raises(MemoryLimitError) as info:
        memory.check_memory(5 * 2**30, what="predict(...)", detail="1 x 2 x 4 bytes", way_out="Use fewer.")
    assert str(info.value).startswith("predict(...) would need about 5.0 GiB of memory (1 x 2 x 4 bytes), over "
                                      "the limit of 3.0 GiB (75% of the 4.0 GiB available). Use fewer.")


def test_format_bytes() -> None:
    assert [memory.format_bytes(n) for n in (5, 2048, 1.5 * 2**30)] == ["5 B", "2.0 KiB", "1.5 GiB"]
