"""Keep a process that decodes video for weeks from growing: glibc malloc settings.

Every frame is a few hundred kB to a few MB of NumPy memory, allocated and freed dozens of
times a second from several threads. glibc serves such blocks with ``mmap`` and gives them
back at once, until the first one is freed: then it raises its mmap threshold (up to 32 MB)
and frames come from the heap arenas instead, where fragments stay mapped. With one arena per
thread (up to 8 per core) the resident size creeps up for hours. Fixing the mmap threshold
(which also turns that adjustment off), capping the arenas and trimming now and then keeps it
flat. Elsewhere than glibc (musl, macOS, Windows) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from dataclasses import dataclass
from functools import cache
from typing import Any

log = logging.getLogger(__name__)

# mallopt parameters from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


@dataclass(frozen=True)
class AllocatorSettings:
    """``mmap_threshold_bytes``: blocks this large or larger are mmapped (and unmapped when
    freed); ``arena_max``: malloc arenas shared by all threads; ``trim_threshold_bytes``: free
    memory at the top of the heap beyond this is returned at once."""

    mmap_threshold_bytes: int = 256 * 1024
    arena_max: int = 2
    trim_threshold_bytes: int = 8 * 1024 * 1024


@cache
def _libc() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt  # noqa: B018  (musl has no mallopt: AttributeError)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def tune_malloc(settings: AllocatorSettings | None = None) -> bool:
    """Apply ``settings`` to this process's glibc malloc; False where there is no glibc.

    Call it early, before the camera and inference threads start (arenas are made per thread).
    """
    libc = _libc()
    if libc is None:
        return False
    s = settings or AllocatorSettings()
    ok = all(
        libc.mallopt(param, value) == 1
        for param, value in (
            (M_MMAP_THRESHOLD, s.mmap_threshold_bytes),
            (M_ARENA_MAX, s.arena_max),
            (M_TRIM_THRESHOLD, s.trim_threshold_bytes),
        )
    )
    if not ok:
        log.warning("glibc refused a malloc setting (%s); memory may grow over long runs", s)
    return ok


def trim() -> bool:
    """Give free heap memory back to the system (glibc ``malloc_trim``); True if any was."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0))
