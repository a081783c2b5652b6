"""Rolling timing statistics of a run: per-stage ms, frame-to-match latency, ReID crops.

Bounded (the last ``window`` values of each series), so a server that runs for weeks does
not grow; ``summary()`` gives median and p95, the figures the bench and the UI report.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable

import numpy as np

from reidcam.core.events import FrameResult
from reidcam.pipeline.step import StepReport


def percentiles(values: Iterable[float]) -> dict[str, float]:
    """{'median', 'p95', 'mean', 'n'} of the values (zeros when empty), ms rounded to 0.01."""
    arr = np.asarray(list(values), np.float64)
    if arr.size == 0:
        return {"median": 0.0, "p95": 0.0, "mean": 0.0, "n": 0}
    return {
        "median": round(float(np.median(arr)), 2),
        "p95": round(float(np.percentile(arr, 95)), 2),
        "mean": round(float(arr.mean()), 2),
        "n": int(arr.size),
    }


class RunStats:
    """Collects what the runner measured; thread-safe, bounded to the last ``window`` values.

    ``frame_ms[stage]``: per frame (decode, track, crop, match are the frame's own;
    ``step_ms[stage]``: per step (detect and embed are one batch call for all cameras);
    ``latency_ms``: capture (``Frame.captured_at``) to the frame's result being published.
    """

    def __init__(self, window: int = 20000) -> None:
        self._lock = threading.Lock()
        self.window = window
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.frame_ms: dict[str, deque[float]] = {}
            self.step_ms: dict[str, deque[float]] = {}
            self.latency_ms: deque[float] = deque(maxlen=self.window)
            self.batch_frames: deque[int] = deque(maxlen=self.window)
            self.steps = 0
            self.frames = 0
            self.crops_embedded = 0
            self.crops_deferred = 0
            self.started = time.monotonic()

    def _push(self, table: dict[str, deque[float]], key: str, value: float) -> None:
        series = table.get(key)
        if series is None:
            series = table[key] = deque(maxlen=self.window)
        series.append(value)

    def add_step(self, report: StepReport, record_ms: float) -> None:
        with self._lock:
            self.steps += 1
            self.crops_embedded += report.crops_embedded
            self.crops_deferred += report.crops_deferred
            self.batch_frames.append(report.frames)
            for stage, ms in report.timings_ms.items():
                self._push(self.step_ms, stage, ms)
            self._push(self.step_ms, "record", record_ms)

    def add_frame(self, result: FrameResult, published_at: float) -> None:
        with self._lock:
            self.frames += 1
            for stage, ms in result.timings_ms.items():
                self._push(self.frame_ms, stage, ms)
            self.latency_ms.append((published_at - result.frame.captured_at) * 1000.0)

    def summary(self) -> dict[str, object]:
        """Median/p95 per stage (per frame and per step), latency, crops/s since ``reset``."""
        with self._lock:
            elapsed = max(time.monotonic() - self.started, 1e-9)
            return {
                "elapsed_s": round(elapsed, 2),
                "frames": self.frames,
                "steps": self.steps,
                "frames_per_step": round(self.frames / max(self.steps, 1), 2),
                "stage_ms_per_frame": {k: percentiles(v) for k, v in self.frame_ms.items()},
                "stage_ms_per_step": {k: percentiles(v) for k, v in self.step_ms.items()},
                "latency_ms": percentiles(self.latency_ms),
                "reid_crops": self.crops_embedded,
                "reid_crops_deferred": self.crops_deferred,
                "reid_crops_per_s": round(self.crops_embedded / elapsed, 1),
            }
