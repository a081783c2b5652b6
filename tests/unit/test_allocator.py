"""The malloc settings a long-running server relies on take effect on this (glibc) machine."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from reidcam.runtime.allocator import AllocatorSettings, trim, tune_malloc

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_freed_frames_go_back_to_the_system() -> None:
    assert tune_malloc(AllocatorSettings()) is True
    frames = [np.ones((576, 768, 3), np.uint8) for _ in range(150)]  # 190 MB of video frames
    peak = _rss_mb()
    del frames
    trim()
    # every frame was mmapped and unmapped (or trimmed): none is left resident in an arena
    assert peak - _rss_mb() > 150
