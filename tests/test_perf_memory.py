"""The per-method peak-memory counter of ``perf methods``."""

from __future__ import annotations

import pytest
import torch

from benchmark.perf.step_timing import _peak_memory_mb, _reset_peak_memory


def test_peak_counter_sees_an_allocation_and_resets():
    kind = _reset_peak_memory()
    if not kind:
        pytest.skip("no peak-memory counter on this platform")
    before = _peak_memory_mb(kind)
    block = torch.ones(64 * 2**20 // 4 * 4)  # 256 MB, touched
    grown = _peak_memory_mb(kind)
    assert grown - before >= 200
    del block
    _reset_peak_memory()
    assert _peak_memory_mb(kind) < grown - 100
